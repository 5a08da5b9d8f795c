/*
 * audit.c: the hash chain of the audit log (audit.h, API.md §17). A record's canonical form is
 * its JSON without the hash, keys sorted, compact (jansson JSON_COMPACT | JSON_SORT_KEYS), with
 * `detail` embedded as a JSON object; each hash covers the previous one, so altering, removing
 * or reordering a record breaks every later link. Every MCD_AUDIT_CHECKPOINT_EVERY records (and
 * at shutdown) the server signs (seq, hash) with its Ed25519 key, kept 0600 as DIR/audit.key
 * (PEM PKCS#8) beside DIR/audit.pub (PEM SubjectPublicKeyInfo). The private key lives only in
 * an EVP_PKEY; the PEM text it is read from or written to is wiped.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const char hash_domain[] = "medcrypt/v1 audit";                  /* followed by its NUL */
static const char checkpoint_domain[] = "medcrypt/v1 audit checkpoint"; /* followed by its NUL */

struct mcd_audit_signer {
	EVP_PKEY *key;
	char *public_pem;
};

/* ---- canonical form and hash ---- */

char *mcd_audit_canonical(const mcd_audit_record *r)
{
	if (!r)
		return NULL;
	json_t *detail = NULL;
	if (r->detail) {
		json_error_t jerr;
		detail = json_loads(r->detail, JSON_REJECT_DUPLICATES, &jerr);
		if (!detail || !json_is_object(detail)) {
			json_decref(detail);
			return NULL;
		}
	} else {
		detail = json_object();
	}
	json_t *o = json_object();
	const char *names[] = {"actor", "address", "action", "object", "outcome"};
	const char *values[] = {r->actor, r->address, r->action, r->object, r->outcome};
	bool ok = o && detail && json_object_set_new(o, "seq", json_integer(r->seq)) == 0 &&
	          json_object_set_new(o, "time", json_integer(r->time)) == 0 &&
	          json_object_set(o, "detail", detail) == 0;
	for (size_t i = 0; ok && i < sizeof names / sizeof names[0]; i++) {
		/* json_string refuses NULL and invalid UTF-8: such a record has no canonical form. */
		json_t *v = values[i] ? json_string(values[i]) : NULL;
		ok = v && json_object_set_new(o, names[i], v) == 0;
	}
	char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	json_decref(o);
	return text;
}

bool mcd_audit_hash(const uint8_t prev[32], const mcd_audit_record *r, uint8_t hash[32])
{
	char *canonical = mcd_audit_canonical(r);
	if (!canonical)
		return false;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	          EVP_DigestUpdate(md, hash_domain, sizeof hash_domain) == 1 && /* includes the NUL */
	          EVP_DigestUpdate(md, prev, 32) == 1 && EVP_DigestUpdate(md, canonical, strlen(canonical)) == 1 &&
	          EVP_DigestFinal_ex(md, hash, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	free(canonical);
	return ok;
}

/* "medcrypt/v1 audit checkpoint\0" || u64be(seq) || hash */
static void checkpoint_message(int64_t seq, const uint8_t hash[32], uint8_t msg[sizeof checkpoint_domain + 8 + 32])
{
	memcpy(msg, checkpoint_domain, sizeof checkpoint_domain);
	uint64_t u = (uint64_t)seq;
	for (int i = 0; i < 8; i++)
		msg[sizeof checkpoint_domain + i] = (uint8_t)(u >> (56 - 8 * i));
	memcpy(msg + sizeof checkpoint_domain + 8, hash, 32);
}

/* ---- the signing key ---- */

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *public_pem_of(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	if (b && PEM_write_bio_PUBKEY(b, key) == 1) {
		char *data;
		long n = BIO_get_mem_data(b, &data);
		pem = n > 0 ? strndup(data, (size_t)n) : NULL;
	}
	BIO_free(b);
	return pem;
}

/* Writes all of buf to fd. */
static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) != 0)
			mcd_log(MCD_LOG_WARN, "audit", "fsync of %s failed: %s", dir, strerror(errno));
		close(fd);
	}
}

/* Writes DIR/audit.pub (0644) through a temporary name and a rename. */
static bool write_public(const char *dir, const char *pem)
{
	char *path = path_join(dir, "audit.pub");
	char *tmp = path_join(dir, "audit.pub.tmp-XXXXXX");
	bool ok = false;
	if (!path || !tmp)
		goto done;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot create %s: %s", tmp, strerror(errno));
		goto done;
	}
	ok = fchmod(fd, 0644) == 0 && write_all(fd, pem, strlen(pem)) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (ok)
		ok = rename(tmp, path) == 0;
	if (!ok) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	} else {
		fsync_dir(dir);
	}
done:
	free(path);
	free(tmp);
	return ok;
}

/* Makes a new key and stores it as DIR/audit.key: written to a temporary file created O_EXCL
 * 0600, fsynced, then linked to the final name (link refuses an existing name, so two servers
 * starting at once cannot replace each other's key). Returns 1 when created, 0 when another
 * process made audit.key first, -1 on failure. */
static int create_key(const char *dir, const char *key_path)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_secmem());
	char *tmp = path_join(dir, "audit.key.tmp-XXXXXX");
	int result = -1;
	int fd = -1;
	if (!key || !b || !tmp || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot make the audit signing key");
		goto cleanup;
	}
	/* mkostemp opens with O_CREAT | O_EXCL and mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot create %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	char *data;
	long n = BIO_get_mem_data(b, &data);
	bool ok = n > 0 && fchmod(fd, 0600) == 0 && write_all(fd, data, (size_t)n) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	fd = -1;
	if (!ok) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (link(tmp, key_path) != 0) {
		if (errno == EEXIST)
			result = 0;
		else
			mcd_log(MCD_LOG_ERROR, "audit", "cannot create %s: %s", key_path, strerror(errno));
		goto cleanup;
	}
	fsync_dir(dir);
	result = 1;
	mcd_log(MCD_LOG_INFO, "audit", "created the audit signing key %s", key_path);
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	BIO_free(b); /* a secure-heap BIO: its memory is cleared when freed */
	EVP_PKEY_free(key);
	return result;
}

/* Reads DIR/audit.key (no symlinks, owner-only mode) into an Ed25519 EVP_PKEY. */
static EVP_PKEY *load_key(const char *key_path)
{
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int fd = open(key_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot open %s: %s", key_path, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 || sb.st_size > 16384) {
		mcd_log(MCD_LOG_ERROR, "audit", "%s is not a key file", key_path);
		goto cleanup;
	}
	if (sb.st_mode & 077) {
		mcd_log(MCD_LOG_ERROR, "audit", "%s is readable by others (mode %03o): refusing it; chmod 600 it",
		        key_path, (unsigned)(sb.st_mode & 0777));
		goto cleanup;
	}
	pem = OPENSSL_secure_malloc((size_t)sb.st_size);
	if (!pem)
		goto cleanup;
	while (len < (size_t)sb.st_size) {
		ssize_t n = read(fd, pem + len, (size_t)sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	if (b)
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		mcd_log(MCD_LOG_ERROR, "audit", "%s does not hold an Ed25519 private key", key_path);
		EVP_PKEY_free(key);
		key = NULL;
	}
cleanup:
	BIO_free(b);
	if (pem)
		OPENSSL_secure_clear_free(pem, (size_t)sb.st_size);
	close(fd);
	return key;
}

mcd_audit_signer *mcd_audit_signer_open(const char *data_dir)
{
	if (!data_dir)
		return NULL;
	char *key_path = path_join(data_dir, "audit.key");
	char *pub_path = path_join(data_dir, "audit.pub");
	mcd_audit_signer *s = calloc(1, sizeof *s);
	if (!key_path || !pub_path || !s)
		goto fail;
	struct stat sb;
	bool created = false;
	if (lstat(key_path, &sb) != 0) {
		if (errno != ENOENT) {
			mcd_log(MCD_LOG_ERROR, "audit", "cannot read %s: %s", key_path, strerror(errno));
			goto fail;
		}
		int c = create_key(data_dir, key_path);
		if (c < 0)
			goto fail;
		created = c == 1;
	}
	s->key = load_key(key_path);
	if (!s->key)
		goto fail;
	s->public_pem = public_pem_of(s->key);
	if (!s->public_pem)
		goto fail;
	/* audit.pub follows the key: written when the key is new or the file is missing or differs. */
	bool write_pub = created;
	if (!write_pub) {
		FILE *f = fopen(pub_path, "re");
		char buf[1024];
		size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
		if (f)
			fclose(f);
		write_pub = n != strlen(s->public_pem) || memcmp(buf, s->public_pem, n) != 0;
	}
	if (write_pub && !write_public(data_dir, s->public_pem))
		goto fail;
	free(key_path);
	free(pub_path);
	return s;
fail:
	free(key_path);
	free(pub_path);
	mcd_audit_signer_free(s);
	return NULL;
}

void mcd_audit_signer_free(mcd_audit_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s->public_pem);
	free(s);
}

const char *mcd_audit_signer_public_pem(const mcd_audit_signer *s)
{
	return s ? s->public_pem : NULL;
}

bool mcd_audit_sign(mcd_audit_signer *s, int64_t seq, const uint8_t hash[32], uint8_t **sig, size_t *sig_len)
{
	if (!s || !hash || !sig || !sig_len)
		return false;
	*sig = NULL;
	*sig_len = 0;
	uint8_t msg[sizeof checkpoint_domain + 8 + 32];
	checkpoint_message(seq, hash, msg);
	uint8_t *out = malloc(64);
	size_t out_len = 64;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = out && md && EVP_DigestSignInit(md, NULL, NULL, NULL, s->key) == 1 &&
	          EVP_DigestSign(md, out, &out_len, msg, sizeof msg) == 1 && out_len == 64;
	EVP_MD_CTX_free(md);
	if (!ok) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot sign the checkpoint at seq %lld", (long long)seq);
		free(out);
		return false;
	}
	*sig = out;
	*sig_len = out_len;
	return true;
}

/* ---- verification ---- */

typedef struct checkpoint {
	int64_t seq;
	uint8_t hash[32];
	uint8_t sig[64];
	size_t sig_len; /* as stored; anything but 64 fails */
} checkpoint;

typedef struct verify_ctx {
	EVP_PKEY *pub;
	checkpoint *cps;
	size_t n_cps, cap_cps, next_cp;
	int64_t last_seq;
	uint8_t chain[32]; /* hash of the last record that held */
	mcd_audit_verdict *v;
	bool failed_internal;
} verify_ctx;

static int collect_checkpoint(void *ctx_, int64_t seq, const uint8_t hash[32], const uint8_t *sig, size_t sig_len)
{
	verify_ctx *ctx = ctx_;
	if (ctx->n_cps == ctx->cap_cps) {
		size_t cap = ctx->cap_cps ? ctx->cap_cps * 2 : 64;
		checkpoint *p = realloc(ctx->cps, cap * sizeof *p);
		if (!p) {
			ctx->failed_internal = true;
			return 1;
		}
		ctx->cps = p;
		ctx->cap_cps = cap;
	}
	checkpoint *c = &ctx->cps[ctx->n_cps++];
	memset(c, 0, sizeof *c);
	c->seq = seq;
	memcpy(c->hash, hash, 32);
	c->sig_len = sig_len;
	if (sig_len == 64)
		memcpy(c->sig, sig, 64);
	return 0;
}

static void verdict_bad(mcd_audit_verdict *v, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void verdict_bad(mcd_audit_verdict *v, int64_t seq, const char *fmt, ...)
{
	va_list ap;
	v->ok = false;
	v->first_bad = seq;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof v->reason, fmt, ap);
	va_end(ap);
}

static bool checkpoint_signature_ok(EVP_PKEY *pub, const checkpoint *c)
{
	if (c->sig_len != 64)
		return false;
	uint8_t msg[sizeof checkpoint_domain + 8 + 32];
	checkpoint_message(c->seq, c->hash, msg);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	          EVP_DigestVerify(md, c->sig, 64, msg, sizeof msg) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* Checks the checkpoint c against the chain hash at its seq; false (with the verdict) if bad. */
static bool check_checkpoint(verify_ctx *ctx, const checkpoint *c, const uint8_t chain_at_seq[32])
{
	if (!checkpoint_signature_ok(ctx->pub, c)) {
		verdict_bad(ctx->v, c->seq, "the checkpoint at seq %lld has a bad signature", (long long)c->seq);
		return false;
	}
	if (CRYPTO_memcmp(c->hash, chain_at_seq, 32) != 0) {
		verdict_bad(ctx->v, c->seq,
		            "the checkpoint at seq %lld does not match the chain: records up to it were rewritten",
		            (long long)c->seq);
		return false;
	}
	ctx->v->checkpoints++;
	return true;
}

static int verify_record(void *ctx_, const mcd_audit_record *r)
{
	verify_ctx *ctx = ctx_;
	mcd_audit_verdict *v = ctx->v;
	int64_t expected = ctx->last_seq + 1;
	/* A checkpoint at a seq that has no record (the rows it covers were removed). */
	if (ctx->next_cp < ctx->n_cps && ctx->cps[ctx->next_cp].seq < r->seq) {
		int64_t cs = ctx->cps[ctx->next_cp].seq;
		if (cs < expected) /* duplicate or out-of-order checkpoint rows */
			verdict_bad(v, cs, "the checkpoint at seq %lld is out of order", (long long)cs);
		else
			verdict_bad(v, expected, "record %lld is missing (the checkpoint at %lld covers it)",
			            (long long)expected, (long long)cs);
		return 1;
	}
	if (r->seq != expected) {
		if (r->seq > expected)
			verdict_bad(v, expected, "record %lld is missing (the next record is %lld)",
			            (long long)expected, (long long)r->seq);
		else
			verdict_bad(v, r->seq, "record %lld is out of order", (long long)r->seq);
		return 1;
	}
	uint8_t h[32];
	if (!mcd_audit_hash(ctx->chain, r, h)) {
		verdict_bad(v, r->seq, "record %lld is malformed (no canonical form)", (long long)r->seq);
		return 1;
	}
	if (CRYPTO_memcmp(h, r->hash, 32) != 0) {
		verdict_bad(v, r->seq, "record %lld was altered (its hash does not match)", (long long)r->seq);
		return 1;
	}
	memcpy(ctx->chain, h, 32);
	ctx->last_seq = r->seq;
	v->records++;
	while (ctx->next_cp < ctx->n_cps && ctx->cps[ctx->next_cp].seq == r->seq) {
		if (!check_checkpoint(ctx, &ctx->cps[ctx->next_cp], h))
			return 1;
		ctx->next_cp++;
	}
	return 0;
}

mcd_store_status mcd_audit_verify(mcd_store *s, const char *public_pem, mcd_audit_verdict *v)
{
	if (!s || !public_pem || !v)
		return MCD_STORE_ERROR;
	memset(v, 0, sizeof *v);
	v->ok = true;
	verify_ctx ctx = {0};
	ctx.v = v;
	BIO *b = BIO_new_mem_buf(public_pem, -1);
	ctx.pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!ctx.pub || EVP_PKEY_get_id(ctx.pub) != EVP_PKEY_ED25519) {
		mcd_log(MCD_LOG_ERROR, "audit", "the audit public key is not an Ed25519 PEM public key");
		EVP_PKEY_free(ctx.pub);
		return MCD_STORE_ERROR;
	}
	mcd_store_status st = s->ops->checkpoints_list(s, collect_checkpoint, &ctx);
	if (st == MCD_STORE_OK && ctx.failed_internal)
		st = MCD_STORE_NOMEM;
	if (st == MCD_STORE_OK)
		st = s->ops->audit_list(s, 0, 0, verify_record, &ctx);
	if (st == MCD_STORE_OK && v->ok && ctx.next_cp < ctx.n_cps) {
		/* Checkpoints past the last record: the log was truncated. */
		int64_t cs = ctx.cps[ctx.next_cp].seq;
		if (cs <= ctx.last_seq)
			verdict_bad(v, cs, "the checkpoint at seq %lld is out of order", (long long)cs);
		else
			verdict_bad(v, ctx.last_seq + 1,
			            "record %lld is missing: the log ends at %lld but a checkpoint covers %lld",
			            (long long)(ctx.last_seq + 1), (long long)ctx.last_seq, (long long)cs);
	}
	if (st != MCD_STORE_OK) {
		v->ok = false;
		snprintf(v->reason, sizeof v->reason, "the log could not be read");
	}
	EVP_PKEY_free(ctx.pub);
	free(ctx.cps);
	return st;
}
