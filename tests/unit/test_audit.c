/*
 * test_audit.c: the audit chain (src/medcryptd/audit.c) with the SQLite store: the signing key
 * files, the canonical form and hash of API.md §17 recomputed independently, checkpoint
 * signatures checked with OpenSSL directly, checkpoints every 64 records, and verification that
 * names exactly the first record or checkpoint an attacker with write access to the database
 * altered, removed, truncated, forged or re-signed, plus the documented limit (records after the
 * last checkpoint can be cut off unseen).
 */
#include <fcntl.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "audit.h"
#include "check.h"
#include "log.h"
#include "server_testutil.h"
#include "store.h"

static char db_path[512];

static void raw_exec(const char *sql)
{
	sqlite3 *db;
	CHECK(sqlite3_open(db_path, &db) == SQLITE_OK, "raw open");
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	CHECK(rc == SQLITE_OK, "raw exec %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void raw_set_checkpoint(int64_t seq, const uint8_t hash[32], const uint8_t *sig, size_t sig_len)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	CHECK(sqlite3_open(db_path, &db) == SQLITE_OK, "raw open");
	sqlite3_prepare_v2(db, "UPDATE checkpoints SET hash = ?2, sig = ?3 WHERE seq = ?1", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, sig, (int)sig_len, SQLITE_TRANSIENT);
	CHECK(sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1, "raw checkpoint update");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void raw_set_hash(int64_t seq, const uint8_t hash[32])
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	sqlite3_open(db_path, &db);
	sqlite3_prepare_v2(db, "UPDATE audit SET hash = ?2 WHERE seq = ?1", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_TRANSIENT);
	CHECK(sqlite3_step(st) == SQLITE_DONE, "raw hash update");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static mcd_audit_verdict verify(mcd_store *s, const char *pem)
{
	mcd_audit_verdict v;
	mcd_store_status st = mcd_audit_verify(s, pem, &v);
	CHECK(st == MCD_STORE_OK, "verify ran: %d", st);
	return v;
}

static void test_signer(const char *dir)
{
	mcd_audit_signer *a = mcd_audit_signer_open(dir);
	CHECK(a != NULL, "signer created");
	if (!a)
		exit(1);
	char path[600];
	struct stat sb;
	snprintf(path, sizeof path, "%s/audit.key", dir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "audit.key is 0600");
	FILE *f = fopen(path, "r");
	char text[512] = {0};
	if (f) {
		CHECK(fread(text, 1, sizeof text - 1, f) > 0, "read audit.key");
		fclose(f);
	}
	CHECK(strstr(text, "-----BEGIN PRIVATE KEY-----") != NULL, "PKCS#8 PEM");
	snprintf(path, sizeof path, "%s/audit.pub", dir);
	f = fopen(path, "r");
	memset(text, 0, sizeof text);
	if (f) {
		CHECK(fread(text, 1, sizeof text - 1, f) > 0, "read audit.pub");
		fclose(f);
	}
	const char *pem = mcd_audit_signer_public_pem(a);
	CHECK(pem && strcmp(text, pem) == 0, "audit.pub holds the public key");
	CHECK(strstr(text, "-----BEGIN PUBLIC KEY-----") != NULL, "SPKI PEM");
	/* Reopening loads the same key; a lost audit.pub is written again. */
	unlink(path);
	mcd_audit_signer *b = mcd_audit_signer_open(dir);
	CHECK(b && strcmp(mcd_audit_signer_public_pem(b), pem) == 0, "same key on reopen");
	CHECK(access(path, F_OK) == 0, "audit.pub restored");
	mcd_audit_signer_free(b);
	/* A key readable by others is refused. */
	snprintf(path, sizeof path, "%s/audit.key", dir);
	chmod(path, 0644);
	fprintf(stderr, "(an error about audit.key's mode is expected next)\n");
	b = mcd_audit_signer_open(dir);
	CHECK(b == NULL, "a group/world-readable key is refused");
	mcd_audit_signer_free(b);
	chmod(path, 0600);

	/* Signatures: Ed25519 over "medcrypt/v1 audit checkpoint\0" || u64be(seq) || hash, checked
	 * here with OpenSSL directly. */
	uint8_t hash[32];
	sha256_of("some chain hash", 15, hash);
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	CHECK(mcd_audit_sign(a, 0x0102030405060708LL, hash, &sig, &sig_len) && sig_len == 64, "sign");
	uint8_t msg[29 + 8 + 32];
	memcpy(msg, "medcrypt/v1 audit checkpoint", 29); /* with its NUL */
	for (int i = 0; i < 8; i++)
		msg[29 + i] = (uint8_t)(i + 1);
	memcpy(msg + 37, hash, 32);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	CHECK(pub && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	          EVP_DigestVerify(md, sig, sig_len, msg, sizeof msg) == 1,
	      "the signature verifies independently");
	EVP_MD_CTX_free(md);
	msg[36] ^= 1; /* another seq */
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	          EVP_DigestVerify(md, sig, sig_len, msg, sizeof msg) != 1,
	      "and covers the seq");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	free(sig);
	mcd_audit_signer_free(a);
}

static void test_canonical(void)
{
	mcd_audit_record r = {
	    .seq = 1,
	    .time = 1700000000,
	    .actor = (char *)"alice",
	    .address = (char *)"192.0.2.7",
	    .action = (char *)"register",
	    .object = (char *)"alice",
	    .outcome = (char *)"ok",
	    .detail = (char *)"{\"sign_fp\": \"bb\", \"enc_fp\": \"aa\", \"n\": {\"z\": 1, \"a\": \"\\u00e9\"}}"};
	const char *expected = "{\"action\":\"register\",\"actor\":\"alice\",\"address\":\"192.0.2.7\","
	                       "\"detail\":{\"enc_fp\":\"aa\",\"n\":{\"a\":\"\xc3\xa9\",\"z\":1},\"sign_fp\":\"bb\"},"
	                       "\"object\":\"alice\",\"outcome\":\"ok\",\"seq\":1,\"time\":1700000000}";
	char *c = mcd_audit_canonical(&r);
	CHECK(c && strcmp(c, expected) == 0, "canonical form: %s", c ? c : "(null)");
	/* hash_1 = SHA-256("medcrypt/v1 audit\0" || 32 zero bytes || canonical) */
	size_t n = strlen(expected);
	uint8_t *buf = calloc(1, 18 + 32 + n);
	memcpy(buf, "medcrypt/v1 audit", 18);
	memcpy(buf + 50, expected, n);
	uint8_t want[32], got[32], prev[32] = {0};
	sha256_of(buf, 18 + 32 + n, want);
	CHECK(mcd_audit_hash(prev, &r, got) && memcmp(got, want, 32) == 0, "hash as API.md §17 says");
	prev[0] = 1;
	CHECK(mcd_audit_hash(prev, &r, got) && memcmp(got, want, 32) != 0, "the hash covers the previous one");
	free(buf);
	free(c);
	r.detail = NULL;
	c = mcd_audit_canonical(&r);
	CHECK(c && strstr(c, "\"detail\":{}") != NULL, "no detail is {}");
	free(c);
	r.detail = (char *)"[1]";
	CHECK(mcd_audit_canonical(&r) == NULL, "detail must be an object");
	r.detail = (char *)"{\"a\":1,\"a\":2}";
	CHECK(mcd_audit_canonical(&r) == NULL, "duplicate keys refused");
	r.detail = (char *)"{";
	CHECK(mcd_audit_canonical(&r) == NULL, "not JSON");
	r.detail = NULL;
	r.object = (char *)"\xc3";
	CHECK(mcd_audit_canonical(&r) == NULL, "invalid UTF-8");
	r.object = NULL;
	CHECK(mcd_audit_canonical(&r) == NULL, "a missing field");
}

typedef struct cps {
	int64_t seq[16];
	int n;
} cps;

static int collect_cp(void *ctx, int64_t seq, const uint8_t hash[32], const uint8_t *sig, size_t sig_len)
{
	(void)hash;
	(void)sig;
	(void)sig_len;
	cps *c = ctx;
	if (c->n < 16)
		c->seq[c->n++] = seq;
	return 0;
}

typedef struct records {
	mcd_audit_record r[200];
	int n;
} records;

static int collect_record(void *ctx, const mcd_audit_record *r)
{
	records *rs = ctx;
	if (rs->n < 200) {
		mcd_audit_record *d = &rs->r[rs->n++];
		*d = *r;
		d->actor = strdup(r->actor);
		d->address = strdup(r->address);
		d->action = strdup(r->action);
		d->object = strdup(r->object);
		d->outcome = strdup(r->outcome);
		d->detail = strdup(r->detail);
	}
	return 0;
}

static void records_free(records *rs)
{
	for (int i = 0; i < rs->n; i++) {
		mcd_audit_record *r = &rs->r[i];
		free(r->actor);
		free(r->address);
		free(r->action);
		free(r->object);
		free(r->outcome);
		free(r->detail);
	}
	rs->n = 0;
}

static void append(mcd_store *s, int i)
{
	char object[40], detail[80];
	snprintf(object, sizeof object, "%032x", i);
	snprintf(detail, sizeof detail, "{\"size\": %d, \"to\": [\"doc\", \"pat\"], \"note\": \"\\\"quoted\\\"\"}", i);
	mcd_audit_event ev = {.time = 1700000000 + i,
	                      .actor = i % 2 ? "tech" : "-",
	                      .address = "198.51.100.9",
	                      .action = i % 3 ? "upload" : "login_failed",
	                      .object = object,
	                      .outcome = i % 3 ? "ok" : "failed",
	                      .detail = i % 7 ? detail : NULL};
	CHECK(s->ops->audit_append(s, &ev) == MCD_STORE_OK, "append %d", i);
}

static void test_chain(const char *dir)
{
	mcd_audit_signer *signer = mcd_audit_signer_open(dir);
	mcd_store *s = signer ? mcd_store_sqlite_open(db_path, signer) : NULL;
	CHECK(s != NULL, "store with a signer");
	if (!s)
		exit(1);
	const char *pem = mcd_audit_signer_public_pem(signer);
	mcd_audit_verdict v = verify(s, pem);
	CHECK(v.ok && v.records == 0 && v.checkpoints == 0, "an empty log verifies");

	for (int i = 1; i <= 140; i++)
		append(s, i);
	cps c = {0};
	CHECK(s->ops->checkpoints_list(s, collect_cp, &c) == MCD_STORE_OK, "list checkpoints");
	CHECK(c.n == 2 && c.seq[0] == 64 && c.seq[1] == 128, "checkpoints at 64 and 128: %d", c.n);
	v = verify(s, pem);
	CHECK(v.ok && v.records == 140 && v.checkpoints == 2, "140 records verify: %s", v.reason);

	/* The checkpoint the server writes at shutdown. */
	int64_t head;
	uint8_t head_hash[32], *sig = NULL;
	size_t sig_len;
	CHECK(s->ops->audit_head(s, &head, head_hash) == MCD_STORE_OK && head == 140, "head");
	CHECK(mcd_audit_sign(signer, head, head_hash, &sig, &sig_len), "sign the head");
	CHECK(s->ops->checkpoint_add(s, head, head_hash, sig, sig_len) == MCD_STORE_OK, "shutdown checkpoint");
	free(sig);
	v = verify(s, pem);
	CHECK(v.ok && v.checkpoints == 3, "three checkpoints");

	records rs = {0};
	CHECK(s->ops->audit_list(s, 100, 5, collect_record, &rs) == MCD_STORE_OK, "list a page");
	CHECK(rs.n == 5 && rs.r[0].seq == 101 && rs.r[4].seq == 105, "after and limit");
	CHECK(strcmp(rs.r[0].action, "upload") == 0 && rs.r[0].time == 1700000101, "fields back");
	records_free(&rs);

	/* One field of one row altered: named exactly. */
	raw_exec("UPDATE audit SET object = 'forged' WHERE seq = 77");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 77, "altered row 77 named: %lld %s", (long long)v.first_bad, v.reason);
	raw_exec("UPDATE audit SET object = printf('%032x', 77) WHERE seq = 77");
	CHECK(verify(s, pem).ok, "restored");
	raw_exec("UPDATE audit SET time = time + 1 WHERE seq = 1");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 1, "altered time of row 1 named");
	raw_exec("UPDATE audit SET time = time - 1 WHERE seq = 1");
	raw_exec("UPDATE audit SET outcome = 'ok' WHERE seq = 99");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 99, "outcome of a failed login turned to ok: named 99");
	raw_exec("UPDATE audit SET outcome = 'failed' WHERE seq = 99");
	/* The same detail with its keys in another order and other spacing is the same record. */
	raw_exec("UPDATE audit SET detail = '{ \"to\" : [\"doc\",\"pat\"], \"note\":\"\\\"quoted\\\"\", \"size\":78 }' "
	         "WHERE seq = 78");
	v = verify(s, pem);
	CHECK(v.ok, "canonical form ignores key order and spacing: %s", v.reason);
	raw_exec("UPDATE audit SET detail = '{\"size\":78,\"to\":[\"pat\",\"doc\"],\"note\":\"\\\"quoted\\\"\"}' "
	         "WHERE seq = 78");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 78, "but not the order of an array");
	raw_exec("UPDATE audit SET detail = '{\"size\":78,\"to\":[\"doc\",\"pat\"],\"note\":\"\\\"quoted\\\"\"}' "
	         "WHERE seq = 78");
	raw_exec("UPDATE audit SET detail = 'not json' WHERE seq = 80");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 80, "a row with no canonical form named");
	raw_exec("UPDATE audit SET detail = '{\"size\":80,\"to\":[\"doc\",\"pat\"],\"note\":\"\\\"quoted\\\"\"}' "
	         "WHERE seq = 80");
	CHECK(verify(s, pem).ok, "restored again");

	/* A middle row deleted: the gap is named. */
	raw_exec("CREATE TABLE keep AS SELECT * FROM audit WHERE seq = 50; DELETE FROM audit WHERE seq = 50");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 50 && strstr(v.reason, "missing"), "deleted row 50 named: %lld %s",
	      (long long)v.first_bad, v.reason);
	raw_exec("INSERT INTO audit SELECT * FROM keep; DROP TABLE keep");
	/* Two rows swapped (content and hash moved together). */
	raw_exec("CREATE TABLE keep AS SELECT * FROM audit WHERE seq IN (20, 21);"
	         "UPDATE audit SET seq = -1 WHERE seq = 20; UPDATE audit SET seq = 20 WHERE seq = 21;"
	         "UPDATE audit SET seq = 21 WHERE seq = -1");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 20, "reordered rows named at 20: %lld", (long long)v.first_bad);
	raw_exec("DELETE FROM audit WHERE seq IN (20, 21); INSERT INTO audit SELECT * FROM keep; DROP TABLE keep");
	CHECK(verify(s, pem).ok, "restored after the swap");

	/* A checkpoint's signature corrupted. */
	raw_exec("CREATE TABLE keep AS SELECT * FROM checkpoints WHERE seq = 64;"
	         "UPDATE checkpoints SET sig = zeroblob(64) WHERE seq = 64");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 64 && strstr(v.reason, "signature"), "bad signature at 64 named: %s", v.reason);
	raw_exec("UPDATE checkpoints SET sig = substr(sig, 1, 63) WHERE seq = 64");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 64, "a short signature too");
	raw_exec("DELETE FROM checkpoints WHERE seq = 64; INSERT INTO checkpoints SELECT * FROM keep; DROP TABLE keep");
	/* A validly signed checkpoint whose hash is not the chain's. */
	uint8_t wrong[32], *wsig = NULL;
	size_t wsig_len;
	sha256_of("wrong", 5, wrong);
	mcd_audit_sign(signer, 128, wrong, &wsig, &wsig_len);
	raw_exec("CREATE TABLE keep AS SELECT * FROM checkpoints WHERE seq = 128");
	raw_set_checkpoint(128, wrong, wsig, wsig_len);
	free(wsig);
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 128 && strstr(v.reason, "does not match"), "checkpoint mismatch at 128: %s",
	      v.reason);
	raw_exec(
	    "DELETE FROM checkpoints WHERE seq = 128; INSERT INTO checkpoints SELECT * FROM keep; DROP TABLE keep");
	CHECK(verify(s, pem).ok, "checkpoints restored");
	/* Another key. */
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(b, other);
	char *other_pem = NULL;
	long n = BIO_get_mem_data(b, &other_pem);
	char *copy = strndup(other_pem, (size_t)n);
	v = verify(s, copy);
	CHECK(!v.ok && v.first_bad == 64, "checkpoints under another key fail at the first one");
	free(copy);
	BIO_free(b);
	EVP_PKEY_free(other);

	/* Truncation below a checkpoint is seen; after the last one it is not (SECURITY.md). */
	raw_exec("CREATE TABLE keep AS SELECT * FROM audit WHERE seq >= 130; DELETE FROM audit WHERE seq >= 130");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 130 && strstr(v.reason, "missing"), "truncated log named at 130: %lld %s",
	      (long long)v.first_bad, v.reason);
	raw_exec("INSERT INTO audit SELECT * FROM keep; DROP TABLE keep");
	for (int i = 141; i <= 143; i++)
		append(s, i);
	CHECK(verify(s, pem).ok, "143 records");
	raw_exec("DELETE FROM audit WHERE seq >= 142");
	v = verify(s, pem);
	CHECK(v.ok && v.records == 141, "the limit: records after the last checkpoint can vanish unseen");
	/* A forged row appended at the end. */
	raw_exec("INSERT INTO audit SELECT seq + 1, time, actor, address, action, object, outcome, detail, hash "
	         "FROM audit WHERE seq = 141");
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 142, "forged row named");
	raw_exec("DELETE FROM audit WHERE seq = 142");

	/* A forger without the key rewrites row 77 and recomputes every later hash: the chain holds
	 * up to the next checkpoint, which names the damage. */
	raw_exec("UPDATE audit SET object = 'forged' WHERE seq = 77");
	records all = {0};
	s->ops->audit_list(s, 76, 0, collect_record, &all);
	uint8_t prev[32];
	memset(prev, 0, 32);
	{
		records one = {0};
		s->ops->audit_list(s, 75, 1, collect_record, &one);
		memcpy(prev, one.r[0].hash, 32);
		records_free(&one);
	}
	for (int i = 0; i < all.n; i++) {
		uint8_t h[32];
		mcd_audit_hash(prev, &all.r[i], h);
		raw_set_hash(all.r[i].seq, h);
		memcpy(prev, h, 32);
	}
	records_free(&all);
	v = verify(s, pem);
	CHECK(!v.ok && v.first_bad == 128 && strstr(v.reason, "rewritten"), "rewritten chain caught at 128: %lld %s",
	      (long long)v.first_bad, v.reason);
	bool ok = false;
	CHECK(s->ops->integrity_check(s, &ok) == MCD_STORE_OK && ok, "integrity_check");
	s->ops->close(s);
	mcd_audit_signer_free(signer);
}

int main(void)
{
	mcd_log_set_level(MCD_LOG_ERROR);
	char dir[256];
	scratch_dir(dir);
	snprintf(db_path, sizeof db_path, "%s/medcryptd.db", dir);
	test_signer(dir);
	test_canonical();
	test_chain(dir);
	scratch_remove(dir);
	return check_summary("audit");
}
