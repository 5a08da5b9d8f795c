/*
 * test_container.c: the library end to end in memory: round trips of both ciphers across the
 * chunk and slot boundaries, several recipients, metadata and preview, random access by chunk,
 * share and unshare without re-encryption, detached wraps, and a flipped bit in every header
 * field, chunk and signature failing with the class docs/FORMAT.md gives it, and plaintext
 * wiped before it is freed when a read fails midway (free_watch.h).
 * usage: test_container VECTOR_DIR   (for its keys/)
 */
#include <errno.h>
#include <medcrypt/container.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "free_watch.h"
#include "testutil.h"

static mc_identity *alice, *bob, *signer_ed, *signer_pss;
static mc_pubkey *alice_pub, *bob_pub, *carol_pub;

static mc_identity *load_id(const char *dir, const char *name, int which)
{
	char path[1024];
	mc_identity *id = NULL;
	mc_err err;
	snprintf(path, sizeof path, "%s/keys/%s", dir, name);
	CHECK(mc_identity_load(path, NULL, 0, which, &id, &err) == MC_OK, "load %s: %s", name, err.msg);
	return id;
}

static mc_pubkey *load_pub(const char *dir, const char *name, mc_key_role role)
{
	char path[1024];
	mc_pubkey *pk = NULL;
	mc_err err;
	snprintf(path, sizeof path, "%s/keys/%s", dir, name);
	CHECK(mc_pubkey_load(path, role, &pk, &err) == MC_OK, "load %s: %s", name, err.msg);
	return pk;
}

struct sealed {
	membuf file;
	uint8_t *plain;
	size_t plain_len;
};

static mc_status seal(struct sealed *s, size_t len, mc_cipher cipher, const mc_pubkey **rcpts, size_t n,
                      const mc_identity *signer, const char *meta, const uint8_t *preview, size_t preview_len,
                      unsigned threads)
{
	mc_err err = {0};
	memset(s, 0, sizeof *s);
	s->plain = malloc(len + 1);
	s->plain_len = len;
	fill_pattern(s->plain, len, (uint32_t)len);
	membuf in = membuf_view(s->plain, len);
	in.max_read = 100000; /* short reads across slot boundaries */
	mc_seal_params p = {.cipher = cipher,
	                    .recipients = rcpts,
	                    .n_recipients = n,
	                    .signer = signer,
	                    .metadata = (const uint8_t *)meta,
	                    .metadata_len = meta ? strlen(meta) : 0,
	                    .preview = preview,
	                    .preview_len = preview_len,
	                    .threads = threads};
	mc_status st = mc_seal(&p, membuf_in(&in), membuf_out(&s->file), &err);
	CHECK(st == MC_OK, "seal %zu bytes: %s", len, err.msg);
	return st;
}

static void sealed_free(struct sealed *s)
{
	membuf_free(&s->file);
	free(s->plain);
}

/* Opens bytes with id, optionally requiring trust; returns the class and the plaintext. */
static mc_status open_bytes(const uint8_t *p, size_t len, const mc_identity *id, const mc_pubkey *trust, membuf *plain,
                            mc_payload_info *info, mc_err *err)
{
	membuf in = membuf_view(p, len);
	mc_file *f = NULL;
	const mc_pubkey *trusted[1] = {trust};
	mc_open_params params = {.trusted = trusted, .n_trusted = trust ? 1 : 0};
	mc_status st = mc_file_read(membuf_in(&in), &f, err);
	if (st == MC_OK)
		st = mc_file_unlock(f, id, err);
	if (st == MC_OK)
		st = mc_file_open_payload(f, membuf_in(&in), membuf_out(plain), &params, info, err);
	mc_file_free(f);
	return st;
}

static void test_round_trips(void)
{
	static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 8 * 65536, 8 * 65536 + 1, 48 * 65536 + 5, 3000000};
	const mc_pubkey *rcpts[] = {alice_pub};
	for (int cipher = 1; cipher <= 2; cipher++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			for (unsigned threads = 1; threads <= 3; threads += 2) {
				struct sealed s;
				if (seal(&s, sizes[i], (mc_cipher)cipher, rcpts, 1, NULL, NULL, NULL, 0, threads) !=
				    MC_OK)
					continue;
				size_t chunks = sizes[i] == 0 ? 1 : (sizes[i] + 65535) / 65536;
				CHECK(s.file.len > chunks * 16 + sizes[i], "size");
				membuf plain = {0};
				mc_payload_info info;
				mc_err err = {0};
				mc_status st = open_bytes(s.file.p, s.file.len, alice, NULL, &plain, &info, &err);
				CHECK(st == MC_OK, "open cipher %d size %zu: %s", cipher, sizes[i], err.msg);
				CHECK(plain.len == sizes[i] && (sizes[i] == 0 || !memcmp(plain.p, s.plain, sizes[i])),
				      "round trip cipher %d size %zu", cipher, sizes[i]);
				CHECK(info.n_chunks == chunks && info.plaintext_len == sizes[i] && !info.signed_ok,
				      "info size %zu", sizes[i]);
				membuf_free(&plain);
				sealed_free(&s);
			}
		}
	}
}

static void test_recipients_and_signers(void)
{
	const mc_pubkey *rcpts[] = {alice_pub, bob_pub, carol_pub};
	const char *meta = "{\"PatientID\":\"TEST-0001\",\"Modality\":\"CT\"}";
	const uint8_t preview[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
	for (int s_i = 0; s_i < 2; s_i++) {
		const mc_identity *signer = s_i ? signer_pss : signer_ed;
		struct sealed s;
		if (seal(&s, 200000, MC_CIPHER_AES_256_GCM, rcpts, 3, signer, meta, preview, sizeof preview, 0) !=
		    MC_OK)
			continue;
		for (int who = 0; who < 2; who++) {
			membuf plain = {0};
			mc_payload_info info;
			mc_err err = {0};
			mc_pubkey *trust = NULL;
			mc_pubkey_from_identity(signer, MC_ROLE_SIGNER, &trust, &err);
			mc_status st = open_bytes(s.file.p, s.file.len, who ? bob : alice, trust, &plain, &info, &err);
			CHECK(st == MC_OK && plain.len == 200000 && !memcmp(plain.p, s.plain, 200000),
			      "recipient %d: %s", who, err.msg);
			CHECK(info.signed_ok && !memcmp(info.signer_fp, mc_pubkey_fp(trust), MC_FP_LEN),
			      "signer reported");
			/* A different trusted key: the signature is good but the signer untrusted. */
			membuf_free(&plain);
			st = open_bytes(s.file.p, s.file.len, alice, alice_pub, &plain, &info, &err);
			CHECK(st == MC_ERR_SIGNATURE, "untrusted signer must fail: %s", mc_status_name(st));
			membuf_free(&plain);
			mc_pubkey_free(trust);
		}
		/* Metadata and preview come back exactly. */
		membuf in = membuf_view(s.file.p, s.file.len);
		mc_file *f = NULL;
		mc_err err;
		uint8_t *m = NULL, *pv = NULL;
		size_t ml = 0, pl = 0;
		CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK && mc_file_unlock(f, bob, &err) == MC_OK,
		      "unlock");
		CHECK(mc_file_metadata(f, &m, &ml, &err) == MC_OK && ml == strlen(meta) && !memcmp(m, meta, ml),
		      "meta");
		CHECK(mc_file_preview(f, &pv, &pl, &err) == MC_OK && pl == sizeof preview && !memcmp(pv, preview, pl),
		      "preview");
		CHECK(mc_file_n_wraps(f) == 3 && mc_file_sig_alg(f) == (s_i ? MC_SIG_RSA_PSS : MC_SIG_ED25519),
		      "header");
		mc_buf_free(m, ml);
		mc_buf_free(pv, pl);
		mc_file_free(f);
		/* The signature checks without any key. */
		in = membuf_view(s.file.p, s.file.len);
		mc_payload_info info;
		CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK &&
		          mc_file_verify_payload(f, membuf_in(&in), NULL, &info, &err) == MC_OK && info.signed_ok,
		      "verify without key: %s", err.msg);
		mc_file_free(f);
		sealed_free(&s);
	}
	/* Recipient given twice, and an unsigned file verified: misuse / signature failure. */
	const mc_pubkey *twice[] = {alice_pub, alice_pub};
	membuf out = {0}, in = membuf_view((const uint8_t *)"x", 1);
	mc_seal_params p = {.recipients = twice, .n_recipients = 2};
	mc_err err;
	CHECK(mc_seal(&p, membuf_in(&in), membuf_out(&out), &err) == MC_ERR_MISUSE && out.len == 0, "dup recipient");
	p.n_recipients = 0;
	CHECK(mc_seal(&p, membuf_in(&in), membuf_out(&out), &err) == MC_ERR_MISUSE, "no recipient");
	membuf_free(&out);
}

static void test_random_access(void)
{
	const mc_pubkey *rcpts[] = {alice_pub};
	struct sealed s;
	if (seal(&s, 5 * 65536 + 777, MC_CIPHER_CHACHA20_POLY1305, rcpts, 1, signer_ed, NULL, NULL, 0, 0) != MC_OK)
		return;
	char path[] = "/tmp/mc-test-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, s.file.p, s.file.len) == (ssize_t)s.file.len, "temp file");
	unlink(path);
	membuf in = membuf_view(s.file.p, s.file.len);
	mc_file *f = NULL;
	mc_err err;
	CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK && mc_file_unlock(f, alice, &err) == MC_OK, "unlock");
	uint64_t n = 0, pt = 0;
	CHECK(mc_file_payload_size(f, s.file.len, &n, &pt, &err) == MC_OK && n == 6 && pt == s.plain_len, "sizes");
	uint8_t *chunk = malloc(MC_CHUNK_SIZE);
	for (uint64_t i = n; i-- > 0;) {
		size_t got = 0;
		CHECK(mc_file_read_chunk(f, fd, s.file.len, i, chunk, &got, &err) == MC_OK, "chunk %llu: %s",
		      (unsigned long long)i, err.msg);
		size_t want = i + 1 == n ? 777 : 65536;
		CHECK(got == want && !memcmp(chunk, s.plain + i * 65536, want), "chunk %llu content",
		      (unsigned long long)i);
	}
	size_t got;
	CHECK(mc_file_read_chunk(f, fd, s.file.len, n, chunk, &got, &err) == MC_ERR_MISUSE, "past the end");
	/* The last chunk read as if the file were one chunk shorter: its flag no longer fits. */
	CHECK(mc_file_read_chunk(f, fd, s.file.len - 777 - 16, 4, chunk, &got, &err) == MC_ERR_PAYLOAD,
	      "truncated random access");
	free(chunk);
	close(fd);
	mc_file_free(f);
	sealed_free(&s);
}

/* Writes f's header followed by the original payload and signature. */
static void rewrite(const mc_file *f, const struct sealed *s, size_t orig_header_len, membuf *out)
{
	mc_err err;
	CHECK(mc_file_write_header(f, membuf_out(out), &err) == MC_OK, "write header");
	membuf_write(out, s->file.p + orig_header_len, s->file.len - orig_header_len);
}

static void test_share_unshare_detached(void)
{
	const mc_pubkey *rcpts[] = {alice_pub};
	struct sealed s;
	if (seal(&s, 150000, MC_CIPHER_AES_256_GCM, rcpts, 1, signer_ed, "{}", NULL, 0, 0) != MC_OK)
		return;
	membuf in = membuf_view(s.file.p, s.file.len), shared = {0}, plain = {0}, unshared = {0};
	mc_file *f = NULL;
	mc_err err;
	mc_payload_info info;
	mc_pubkey *trust = NULL;
	mc_pubkey_from_identity(signer_ed, MC_ROLE_SIGNER, &trust, &err);
	CHECK(open_bytes(s.file.p, s.file.len, bob, NULL, &plain, &info, &err) == MC_ERR_NO_MATCH, "bob not yet");
	membuf_free(&plain);
	CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK, "read");
	size_t hl = mc_file_header_len(f);
	CHECK(mc_file_add_recipient(f, bob_pub, &err) == MC_ERR_MISUSE, "share needs unlock");
	CHECK(mc_file_unlock(f, alice, &err) == MC_OK && mc_file_add_recipient(f, bob_pub, &err) == MC_OK, "share");
	CHECK(mc_file_add_recipient(f, bob_pub, &err) == MC_ERR_MISUSE, "share twice");
	rewrite(f, &s, hl, &shared);
	mc_file_free(f);
	/* Bob opens the re-shared file; the original signature still verifies. */
	CHECK(open_bytes(shared.p, shared.len, bob, trust, &plain, &info, &err) == MC_OK && plain.len == 150000 &&
	          !memcmp(plain.p, s.plain, 150000) && info.signed_ok,
	      "bob opens shared: %s", err.msg);
	membuf_free(&plain);
	/* The payload bytes are the same: nothing was re-encrypted. */
	CHECK(!memcmp(shared.p + shared.len - (s.file.len - hl), s.file.p + hl, s.file.len - hl), "payload unchanged");

	/* Unshare alice: she no longer matches, bob still opens. */
	in = membuf_view(shared.p, shared.len);
	CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK, "read shared");
	size_t hl2 = mc_file_header_len(f);
	CHECK(mc_file_remove_recipient(f, mc_pubkey_fp(alice_pub), &err) == MC_OK, "unshare");
	CHECK(mc_file_remove_recipient(f, mc_pubkey_fp(alice_pub), &err) == MC_ERR_MISUSE, "unshare twice");
	struct sealed s2 = {.file = shared};
	rewrite(f, &s2, hl2, &unshared);
	mc_file_free(f);
	CHECK(open_bytes(unshared.p, unshared.len, alice, NULL, &plain, &info, &err) == MC_ERR_NO_MATCH, "alice gone");
	membuf_free(&plain);
	CHECK(open_bytes(unshared.p, unshared.len, bob, trust, &plain, &info, &err) == MC_OK, "bob stays");
	membuf_free(&plain);

	/* Detached: a blob (no wraps) plus alice's wrap taken out of the original file. */
	in = membuf_view(s.file.p, s.file.len);
	CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK, "read");
	const uint8_t *wrap = s.file.p + 11; /* prefix (9) and wrap_count (2) */
	size_t one_wrap = 35 + ((size_t)wrap[33] << 8 | wrap[34]);
	CHECK(mc_file_remove_recipient(f, mc_pubkey_fp(alice_pub), &err) == MC_OK, "strip");
	membuf blob = {0};
	rewrite(f, &s, hl, &blob);
	mc_file_free(f);
	in = membuf_view(blob.p, blob.len);
	CHECK(mc_file_read(membuf_in(&in), &f, &err) == MC_OK && mc_file_n_wraps(f) == 0, "blob parses");
	CHECK(mc_file_unlock(f, alice, &err) == MC_ERR_NO_MATCH, "blob alone: no match");
	CHECK(mc_file_add_detached_wrap(f, wrap, one_wrap - 1, &err) == MC_ERR_HEADER, "short detached wrap");
	CHECK(mc_file_add_detached_wrap(f, wrap, one_wrap, &err) == MC_OK && mc_file_unlock(f, alice, &err) == MC_OK,
	      "detached wrap unlocks: %s", err.msg);
	CHECK(mc_file_open_payload(f, membuf_in(&in), membuf_out(&plain), NULL, &info, &err) == MC_OK &&
	          plain.len == 150000,
	      "blob + detached wrap opens");
	mc_file_free(f);
	membuf_free(&plain);
	membuf_free(&blob);
	membuf_free(&shared);
	membuf_free(&unshared);
	mc_pubkey_free(trust);
	sealed_free(&s);
}

struct flip {
	const char *what;
	size_t offset;
	uint8_t mask;
	mc_status expect;
};

/* A flipped bit in every field, chunk and the signature, and structural damage. */
static void test_tampering(void)
{
	const mc_pubkey *rcpts[] = {alice_pub};
	const uint8_t preview[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 9};
	struct sealed s, other;
	if (seal(&s, 3 * 65536 + 1000, MC_CIPHER_CHACHA20_POLY1305, rcpts, 1, signer_ed, "{\"a\":1}", preview,
	         sizeof preview, 0) != MC_OK ||
	    seal(&other, 1000, MC_CIPHER_CHACHA20_POLY1305, rcpts, 1, NULL, NULL, NULL, 0, 0) != MC_OK)
		return;
	const uint8_t *p = s.file.p;
	size_t wrap_len = (size_t)p[44] << 8 | p[45];
	size_t cs = 11 + 35 + wrap_len; /* core start */
	size_t signer_len = (size_t)p[cs + 35] << 8 | p[cs + 36];
	size_t ml_off = cs + 37 + signer_len;
	size_t meta_len =
	    (size_t)p[ml_off] << 24 | (size_t)p[ml_off + 1] << 16 | (size_t)p[ml_off + 2] << 8 | p[ml_off + 3];
	size_t pl_off = ml_off + 4 + meta_len;
	size_t pv_len = (size_t)p[pl_off + 2] << 8 | p[pl_off + 3];
	size_t mac_off = pl_off + 4 + pv_len;
	size_t payload = mac_off + 32, sig = s.file.len - 64;
	CHECK(wrap_len == 384 && signer_len == 44 && meta_len == 7 + 16 && pv_len == sizeof preview + 16, "layout");
	const struct flip flips[] = {
	    {"magic", 0, 0x01, MC_ERR_HEADER},
	    {"version", 8, 0x02, MC_ERR_UNSUPPORTED},
	    {"wrap_count", 9, 0x80, MC_ERR_HEADER},
	    {"wrap_type", 11, 0x02, MC_ERR_NO_MATCH},
	    {"wrap recipient", 20, 0x10, MC_ERR_NO_MATCH},
	    {"wrap_len", 44, 0x80, MC_ERR_HEADER},
	    {"wrap body", 200, 0x04, MC_ERR_NO_MATCH},
	    {"cipher 1->2", cs, 0x03, MC_ERR_MAC},
	    {"cipher 1->5", cs, 0x04, MC_ERR_UNSUPPORTED},
	    {"chunk_log2", cs + 1, 0x01, MC_ERR_UNSUPPORTED},
	    {"file_id", cs + 10, 0x01, MC_ERR_MAC},
	    {"sig_alg 1->2", cs + 34, 0x03, MC_ERR_HEADER},
	    {"sig_alg 1->9", cs + 34, 0x08, MC_ERR_UNSUPPORTED},
	    {"signer_len", cs + 35, 0x80, MC_ERR_HEADER},
	    {"signer key", cs + 37 + signer_len - 1, 0x01, MC_ERR_MAC},
	    {"meta_len", ml_off, 0x80, MC_ERR_HEADER},
	    {"meta", ml_off + 5, 0x01, MC_ERR_MAC},
	    {"preview_len", pl_off, 0x80, MC_ERR_HEADER},
	    {"preview", pl_off + 6, 0x01, MC_ERR_MAC},
	    {"header_mac", mac_off + 31, 0x01, MC_ERR_MAC},
	    {"first chunk", payload + 5, 0x01, MC_ERR_PAYLOAD},
	    {"middle chunk", payload + 65552 + 100, 0x01, MC_ERR_PAYLOAD},
	    {"last chunk", payload + 3 * 65552 + 10, 0x01, MC_ERR_PAYLOAD},
	    {"last chunk tag", sig - 1, 0x01, MC_ERR_PAYLOAD},
	    {"signature", sig + 10, 0x01, MC_ERR_SIGNATURE},
	};
	uint8_t *copy = malloc(s.file.len + 70000);
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		memcpy(copy, p, s.file.len);
		copy[flips[i].offset] ^= flips[i].mask;
		membuf plain = {0};
		mc_err err = {0};
		mc_status st = open_bytes(copy, s.file.len, alice, NULL, &plain, NULL, &err);
		CHECK(st == flips[i].expect, "%s: expected %s, got %s (%s)", flips[i].what,
		      mc_status_name(flips[i].expect), mc_status_name(st), err.msg);
		membuf_free(&plain);
	}
	membuf plain = {0};
	mc_err err;
	/* Truncation at a chunk boundary (the final chunk dropped, the signature kept). */
	memcpy(copy, p, payload + 3 * 65552);
	memcpy(copy + payload + 3 * 65552, p + sig, 64);
	CHECK(open_bytes(copy, payload + 3 * 65552 + 64, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD,
	      "truncated at boundary");
	membuf_free(&plain);
	/* Truncation between boundaries, and of the signature. */
	for (size_t cut = 1; cut < 70000; cut += 7919) {
		CHECK(open_bytes(p, s.file.len - cut, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD, "cut %zu",
		      cut);
		membuf_free(&plain);
	}
	/* Two chunks swapped. */
	memcpy(copy, p, s.file.len);
	memcpy(copy + payload, p + payload + 65552, 65552);
	memcpy(copy + payload + 65552, p + payload, 65552);
	CHECK(open_bytes(copy, s.file.len, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD, "swapped");
	membuf_free(&plain);
	/* A duplicated chunk. */
	memcpy(copy, p, payload + 65552);
	memcpy(copy + payload + 65552, p + payload, s.file.len - payload);
	CHECK(open_bytes(copy, s.file.len + 65552, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD, "duplicated");
	membuf_free(&plain);
	/* Appended bytes. */
	memcpy(copy, p, s.file.len);
	memset(copy + s.file.len, 0, 100);
	CHECK(open_bytes(copy, s.file.len + 1, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD, "appended 1");
	membuf_free(&plain);
	CHECK(open_bytes(copy, s.file.len + 100, alice, NULL, &plain, NULL, &err) == MC_ERR_PAYLOAD, "appended 100");
	membuf_free(&plain);
	/* A wrap for another file (same recipient) in place of the real one: the MAC catches it. */
	memcpy(copy, p, s.file.len);
	memcpy(copy + 11, other.file.p + 11, 35 + 384);
	CHECK(open_bytes(copy, s.file.len, alice, NULL, &plain, NULL, &err) == MC_ERR_MAC, "wrap of another file: %s",
	      err.msg);
	membuf_free(&plain);
	/* Not shared with bob; no truncated plaintext was produced on any failure above. */
	CHECK(open_bytes(p, s.file.len, bob, NULL, &plain, NULL, &err) == MC_ERR_NO_MATCH && plain.len == 0, "bob");
	membuf_free(&plain);
	free(copy);
	sealed_free(&s);
	sealed_free(&other);
}

/* ---- a read that fails midway: no plaintext is left in freed memory (issue 10) ---- */

static const char MARKER[] = "plaintext-marker"; /* its 16 letters, repeated, are the plaintext */

/* A source of len bytes that fails with EIO once fail_at bytes were read; data NULL: the
 * plaintext marker repeated. Reads are short (at most 100000 bytes), as from a pipe. */
struct failing_input {
	const uint8_t *data;
	size_t len, pos, fail_at;
};

static long failing_read(void *ctx, uint8_t *buf, size_t len)
{
	struct failing_input *in = ctx;
	if (in->pos >= in->fail_at) {
		errno = EIO;
		return -1;
	}
	size_t n = in->len - in->pos;
	if (n > len)
		n = len;
	if (n > 100000)
		n = 100000;
	if (n > in->fail_at - in->pos)
		n = in->fail_at - in->pos;
	for (size_t i = 0; i < n; i++)
		buf[i] = in->data ? in->data[in->pos + i] : (uint8_t)MARKER[(in->pos + i) % 16];
	in->pos += n;
	return (long)n;
}

static int discard_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	return 0;
}

static void test_read_failure_wipes(void)
{
	/* in the first slot; in the second, with the first one at the workers; after the ring of
	 * four slots came round */
	static const size_t fail_at[] = {300000, 1500000, 5000000};
	const mc_pubkey *rcpts[] = {alice_pub};
	for (size_t i = 0; i < sizeof fail_at / sizeof fail_at[0]; i++) {
		for (unsigned threads = 1; threads <= 3; threads += 2) {
			struct failing_input in = {.len = SIZE_MAX, .fail_at = fail_at[i]};
			membuf file = {0};
			mc_seal_params p = {.cipher = MC_CIPHER_AES_256_GCM,
			                    .recipients = rcpts,
			                    .n_recipients = 1,
			                    .threads = threads};
			mc_err err = {0};
			size_t seen = 0;
			free_watch_start(MARKER, 16);
			mc_status st = mc_seal(&p, (mc_input){failing_read, &in}, membuf_out(&file), &err);
			size_t left = free_watch_stop(&seen);
			CHECK(st == MC_ERR_IO, "seal with a read failing after %zu bytes: %d %s", fail_at[i], st,
			      err.msg);
			CHECK(seen > 0, "the watch saw the frees of the seal");
			CHECK(left == 0,
			      "seal, read failing after %zu bytes, %u threads: %zu freed blocks held plaintext",
			      fail_at[i], threads, left);
			membuf_free(&file);
		}
	}

	/* Opening: the plaintext of the chunks opened before the failing read is wiped too. */
	struct failing_input plain = {.len = 3000000, .fail_at = SIZE_MAX};
	membuf file = {0};
	mc_seal_params p = {.cipher = MC_CIPHER_CHACHA20_POLY1305, .recipients = rcpts, .n_recipients = 1};
	mc_err err = {0};
	CHECK(mc_seal(&p, (mc_input){failing_read, &plain}, membuf_out(&file), &err) == MC_OK, "seal: %s", err.msg);
	for (size_t at = 1000000; at < file.len; at += 900000) {
		struct failing_input in = {.data = file.p, .len = file.len, .fail_at = at};
		mc_file *f = NULL;
		size_t seen = 0;
		free_watch_start(MARKER, 16);
		mc_status st = mc_file_read((mc_input){failing_read, &in}, &f, &err);
		if (st == MC_OK)
			st = mc_file_unlock(f, alice, &err);
		if (st == MC_OK)
			st = mc_file_open_payload(f, (mc_input){failing_read, &in}, (mc_output){discard_write, NULL},
			                          NULL, NULL, &err);
		mc_file_free(f);
		size_t left = free_watch_stop(&seen);
		CHECK(st == MC_ERR_IO, "open with a read failing after %zu bytes: %d %s", at, st, err.msg);
		CHECK(seen > 0 && left == 0,
		      "open, read failing after %zu bytes: %zu of %zu freed blocks held plaintext", at, left, seen);
	}
	membuf_free(&file);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_container VECTOR_DIR\n");
		return 2;
	}
	alice = load_id(argv[1], "alice.key", MC_IDENTITY_ENC);
	bob = load_id(argv[1], "bob.key", MC_IDENTITY_ENC);
	signer_ed = load_id(argv[1], "signer_ed25519.key", MC_IDENTITY_SIGN);
	signer_pss = load_id(argv[1], "signer_pss.key", MC_IDENTITY_SIGN);
	alice_pub = load_pub(argv[1], "alice.pub", MC_ROLE_RECIPIENT);
	bob_pub = load_pub(argv[1], "bob.pub", MC_ROLE_RECIPIENT);
	carol_pub = load_pub(argv[1], "carol4096.pub", MC_ROLE_RECIPIENT);
	if (alice && bob && signer_ed && signer_pss && alice_pub && bob_pub && carol_pub) {
		test_round_trips();
		test_recipients_and_signers();
		test_random_access();
		test_share_unshare_detached();
		test_tampering();
		test_read_failure_wipes();
	}
	mc_identity_free(alice);
	mc_identity_free(bob);
	mc_identity_free(signer_ed);
	mc_identity_free(signer_pss);
	mc_pubkey_free(alice_pub);
	mc_pubkey_free(bob_pub);
	mc_pubkey_free(carol_pub);
	return check_summary("container");
}
