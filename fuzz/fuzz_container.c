/*
 * fuzz_container: the container reader (docs/FORMAT.md §3–8) on untrusted bytes.
 *
 * The input is a whole container. It is parsed from an in-memory mc_input (mc_file_read),
 * unlocked with a fixed identity (tests/vectors/keys/alice.key, embedded at build time, so the
 * seeds from tests/vectors get past the header MAC), its metadata and preview are decrypted,
 * and the payload is opened (one worker thread, output discarded) and read by random access;
 * a second parse of the same bytes checks the signature without the key, against a trust set
 * of the two test signers (keys/signer_ed25519.pub, keys/signer_pss.pub). The header is then
 * rewritten, a detached wrap cut from the input is added, a recipient removed, and the header
 * written again.
 *
 * Besides the sanitizers, the target checks invariants the API promises, and aborts (a finding)
 * when one breaks: the header is consumed and rewritten byte for byte, a rewritten header parses
 * again, an opened payload has the size mc_file_payload_size computes and its chunks open alone.
 */
#include <medcrypt/container.h>
#include <medcrypt/key.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format.h"
#include "fuzz_keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mc_identity *alice;
static const mc_pubkey *trusted[2];
static uint8_t *chunk_buf; /* exactly MC_CHUNK_SIZE, on the heap so ASan sees overruns */
static int memfd = -1;

static void die(const char *what, const mc_err *err)
{
	fprintf(stderr, "fuzz_container: %s: %s\n", what, err->msg);
	abort();
}

/* ---- in-memory streams ---- */

struct mem_in {
	const uint8_t *p;
	size_t left;
	size_t max_read; /* 0: no limit; else hand out at most this many bytes per call */
};

static long mem_read(void *ctx, uint8_t *buf, size_t len)
{
	struct mem_in *m = ctx;
	if (m->max_read && len > m->max_read)
		len = m->max_read;
	if (len > m->left)
		len = m->left;
	if (len)
		memcpy(buf, m->p, len);
	m->p += len;
	m->left -= len;
	return (long)len;
}

static mc_input mem_input(struct mem_in *m, const uint8_t *data, size_t size, size_t max_read)
{
	m->p = data;
	m->left = size;
	m->max_read = max_read;
	return (mc_input){mem_read, m};
}

/* Discards what it is given, counting the bytes. */
static int count_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)buf;
	*(uint64_t *)ctx += len;
	return 0;
}

/* Collects what it is given into a growing buffer. */
struct mem_out {
	uint8_t *buf;
	size_t len, cap;
};

static int mem_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct mem_out *m = ctx;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len)
			cap *= 2;
		uint8_t *grown = realloc(m->buf, cap);
		if (!grown)
			return -1;
		m->buf = grown;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

/* ---- setup ---- */

static mc_pubkey *load_pub(const char *pem, mc_key_role role)
{
	mc_pubkey *pk = NULL;
	mc_err err = {0};
	if (mc_pubkey_parse((const uint8_t *)pem, strlen(pem), role, &pk, &err) != MC_OK)
		die("cannot parse an embedded public key", &err);
	return pk;
}

static void cleanup(void)
{
	mc_identity_free(alice);
	mc_pubkey_free((mc_pubkey *)trusted[0]);
	mc_pubkey_free((mc_pubkey *)trusted[1]);
	free(chunk_buf);
	if (memfd >= 0)
		close(memfd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mc_err err = {0};
	if (mc_identity_parse((const uint8_t *)FUZZ_KEY_ALICE, strlen(FUZZ_KEY_ALICE), NULL, 0, MC_IDENTITY_ENC, &alice,
	                      &err) != MC_OK)
		die("cannot parse the embedded alice.key", &err);
	trusted[0] = load_pub(FUZZ_PUB_SIGNER_ED25519, MC_ROLE_SIGNER);
	trusted[1] = load_pub(FUZZ_PUB_SIGNER_PSS, MC_ROLE_SIGNER);
	chunk_buf = malloc(MC_CHUNK_SIZE);
	memfd = memfd_create("fuzz_container", MFD_CLOEXEC);
	if (!chunk_buf || memfd < 0) {
		perror("fuzz_container: setup");
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* ---- the target ---- */

/* Reads the header-level accessors, which must hold for any parsed file. */
static void inspect(const mc_file *f, size_t size)
{
	size_t n = mc_file_n_wraps(f);
	CHECK(n <= MC_MAX_RECIPIENTS);
	for (size_t i = 0; i < n; i++) {
		unsigned type = 0;
		CHECK(mc_file_wrap_recipient(f, i, &type) != NULL);
		CHECK(type <= 255);
	}
	CHECK(mc_file_wrap_recipient(f, n, NULL) == NULL);
	mc_cipher c = mc_file_cipher(f);
	CHECK(c == MC_CIPHER_CHACHA20_POLY1305 || c == MC_CIPHER_AES_256_GCM);
	(void)mc_cipher_name(c);
	CHECK(mc_file_header_len(f) <= size);
	CHECK(mc_file_metadata_len(f) <= MC_MAX_METADATA);
	CHECK(mc_file_preview_len(f) <= MC_MAX_PREVIEW);
	mc_sig_alg alg = mc_file_sig_alg(f);
	const mc_pubkey *signer = mc_file_signer(f);
	CHECK((alg == MC_SIG_NONE) == (signer == NULL));
	if (signer) {
		CHECK(mc_pubkey_sig_alg(signer) == alg);
		CHECK(mc_file_sig_len(f) > 0 && mc_file_sig_len(f) <= 1024);
		char hex[MC_FP_HEX_LEN + 1];
		mc_fp_hex(mc_pubkey_fp(signer), hex);
	} else {
		CHECK(mc_file_sig_len(f) == 0);
	}
	CHECK(!mc_file_is_unlocked(f));
}

/* Random access to chunks 0 and n-1 (FORMAT.md [MC-PAY-7]) of an unlocked file. */
static void random_access(const mc_file *f, const uint8_t *data, size_t size, const mc_payload_info *opened)
{
	uint64_t n = 0, pt_len = 0;
	mc_err err = {0};
	mc_status st = mc_file_payload_size(f, size, &n, &pt_len, &err);
	if (opened) { /* a payload that streamed open has the size the arithmetic gives */
		CHECK(st == MC_OK);
		CHECK(n == opened->n_chunks);
		CHECK(pt_len == opened->plaintext_len);
	}
	if (st != MC_OK)
		return;
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_container: memfd");
		abort();
	}
	uint64_t idx[2] = {0, n - 1};
	for (int i = 0; i < (n > 1 ? 2 : 1); i++) {
		size_t out_len = 0;
		st = mc_file_read_chunk(f, memfd, size, idx[i], chunk_buf, &out_len, &err);
		if (opened) {
			CHECK(st == MC_OK);
			CHECK(out_len == (idx[i] + 1 < n ? MC_CHUNK_SIZE : pt_len - (n - 1) * MC_CHUNK_SIZE));
		}
		if (st == MC_OK)
			CHECK(out_len <= MC_CHUNK_SIZE);
	}
	size_t out_len = 0;
	CHECK(mc_file_read_chunk(f, memfd, size, n, chunk_buf, &out_len, &err) == MC_ERR_MISUSE);
}

/* Unlocks with alice and reads everything the key opens. Returns 1 if the payload opened. */
static int open_all(mc_file *f, struct mem_in *pos, const uint8_t *data, size_t size)
{
	mc_err err = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	if (mc_file_unlock(f, alice, &err) != MC_OK) {
		CHECK(!mc_file_is_unlocked(f));
		CHECK(mc_file_metadata(f, &buf, &len, &err) == MC_ERR_MISUSE && buf == NULL);
		return 0;
	}
	CHECK(mc_file_is_unlocked(f));
	CHECK(mc_file_unlock(f, alice, &err) == MC_OK); /* idempotent */

	if (mc_file_metadata(f, &buf, &len, &err) == MC_OK) {
		CHECK(len == mc_file_metadata_len(f));
		CHECK((buf == NULL) == (len == 0));
		mc_buf_free(buf, len);
	}
	if (mc_file_preview(f, &buf, &len, &err) == MC_OK) {
		CHECK(len == mc_file_preview_len(f));
		CHECK((buf == NULL) == (len == 0));
		mc_buf_free(buf, len);
	}

	uint64_t written = 0;
	mc_payload_info info;
	mc_open_params op = {.threads = 1};
	mc_status st =
	    mc_file_open_payload(f, (mc_input){mem_read, pos}, (mc_output){count_write, &written}, &op, &info, &err);
	if (st == MC_OK) {
		CHECK(written == info.plaintext_len);
		CHECK(info.signed_ok == (mc_file_sig_alg(f) != MC_SIG_NONE));
		CHECK(info.n_chunks >= 1);
	}
	random_access(f, data, size, st == MC_OK ? &info : NULL);
	return st == MC_OK;
}

/* The header rewrite of sharing: byte-exact, and what it writes parses again. */
static void rewrite(mc_file *f, const uint8_t *data, size_t size)
{
	mc_err err = {0};
	size_t hlen = mc_file_header_len(f);
	struct mem_out out = {0};
	CHECK(mc_file_write_header(f, (mc_output){mem_write, &out}, &err) == MC_OK);
	CHECK(out.len == hlen && memcmp(out.buf, data, hlen) == 0);
	out.len = 0;

	/* A detached wrap cut from the bytes after the header: first all of them (at most the
	 * largest wrap and one byte), then exactly the length the slice's wrap_len field gives. */
	const uint8_t *tail = data + hlen;
	size_t rest = size - hlen, n0 = mc_file_n_wraps(f);
	size_t added = 0;
	const size_t max_wrap = FMT_WRAP_FIXED_LEN + 65535;
	if (mc_file_add_detached_wrap(f, tail, rest < max_wrap + 1 ? rest : max_wrap + 1, &err) == MC_OK)
		added++;
	mc_format_wrap head;
	if (rest >= FMT_WRAP_FIXED_LEN && mc_format_parse_wrap_head(tail, &head, NULL) == MC_FORMAT_OK) {
		if (head.len <= rest && mc_file_add_detached_wrap(f, tail, head.len, &err) == MC_OK)
			added++;
	}
	CHECK(mc_file_n_wraps(f) == n0 + added);
	if (added) {
		CHECK(mc_file_write_header(f, (mc_output){mem_write, &out}, &err) == MC_OK);
		struct mem_in m;
		mc_file *again = NULL;
		if (mc_file_read(mem_input(&m, out.buf, out.len, 0), &again, &err) != MC_OK)
			die("a header with a detached wrap added does not parse again", &err);
		CHECK(mc_file_n_wraps(again) == n0 + added && m.left == 0);
		mc_file_free(again);
	}
	free(out.buf);

	if (mc_file_n_wraps(f) > 0) {
		uint8_t fp[MC_FP_LEN];
		memcpy(fp, mc_file_wrap_recipient(f, 0, NULL), MC_FP_LEN);
		CHECK(mc_file_remove_recipient(f, fp, &err) == MC_OK);
	}
	uint64_t written = 0;
	CHECK(mc_file_write_header(f, (mc_output){count_write, &written}, &err) == MC_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mc_err err = {0};
	struct mem_in m;
	mc_file *f = NULL;

	if (mc_file_read(mem_input(&m, data, size, 0), &f, &err) != MC_OK) {
		CHECK(f == NULL && err.status != MC_OK);
		return 0;
	}
	CHECK(size - m.left == mc_file_header_len(f)); /* positioned at the first payload byte */
	inspect(f, size);
	int opened = open_all(f, &m, data, size);

	/* A fresh parse for the key-less signature check, read in small pieces this time. */
	mc_file *g = NULL;
	if (mc_file_read(mem_input(&m, data, size, 1021), &g, &err) != MC_OK)
		die("the same bytes parsed once and then not", &err);
	mc_payload_info info;
	mc_open_params vp = {.trusted = trusted, .n_trusted = 2, .threads = 1};
	mc_status st = mc_file_verify_payload(g, (mc_input){mem_read, &m}, &vp, &info, &err);
	if (opened && mc_file_sig_alg(g) != MC_SIG_NONE) { /* the open checked this signature already */
		const uint8_t *fp = mc_pubkey_fp(mc_file_signer(g));
		int is_trusted = memcmp(fp, mc_pubkey_fp(trusted[0]), MC_FP_LEN) == 0 ||
		                 memcmp(fp, mc_pubkey_fp(trusted[1]), MC_FP_LEN) == 0;
		CHECK(st == (is_trusted ? MC_OK : MC_ERR_SIGNATURE));
	}
	if (st == MC_OK)
		CHECK(info.signed_ok && memcmp(info.signer_fp, mc_pubkey_fp(mc_file_signer(g)), MC_FP_LEN) == 0);
	mc_file_free(g);

	rewrite(f, data, size);
	mc_file_free(f);
	return 0;
}
