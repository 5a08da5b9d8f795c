/*
 * sealed_check.c: a state machine over FORMAT.md §3–8, one state per field in the order the
 * spec defines them. Each state names how many bytes it needs; the feed loop gathers them
 * (into a small buffer, the current wrap, or the header) and steps to the next state. The
 * payload is never buffered: with the total length known from the first byte, its chunk
 * structure is checked arithmetically the moment the core ends, so a malformed upload is
 * refused before its payload is read. For a signed file the payload is hashed chunk by chunk
 * as it passes and the signature is verified at the end with the signer key from the header
 * (FORMAT.md §8: public-key verification, no file key involved), so a signed upload that was
 * truncated, extended or altered is refused too. Requirement IDs are cited where enforced.
 */
#include "sealed_check.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256_many.h"

#define MAGIC            "\x89MEDC\r\n\x1a"
#define PREFIX_LEN       9
#define BLOB_PREFIX_LEN  11 /* prefix and wrap_count */
#define MAX_WRAPS        1024
#define WRAP_FIXED       35
#define CORE_FIXED       37 /* cipher chunk_log2 file_id(32) sig_alg signer_len(2) */
#define MAX_SIGNER       2048
#define TAG              16
#define CHUNK_CT         65552ull
#define MAX_META         (1048576u + TAG)
#define MAX_PREVIEW      (8388608u + TAG)
#define MAC_LEN          32
#define BATCH_BYTES      (MC_SHA256_MANY_MAX * CHUNK_CT)
#define BATCH_MIN_CHUNKS 32 /* below 2 MiB the copy is not worth it */

enum state {
	S_PREFIX,
	S_WRAP_HEAD,
	S_WRAP_BODY,
	S_CORE,
	S_SIGNER,
	S_META_LEN,
	S_META,
	S_PREVIEW_LEN,
	S_PREVIEW,
	S_MAC,
	S_PAYLOAD,
	S_DONE_BAD
};

struct wrap {
	uint8_t *bytes;
	size_t len;
};

struct mcd_sealed {
	uint64_t total, consumed;
	/* Signed files: the payload's chunk hashes and the signature trailer (FORMAT.md §8). */
	EVP_PKEY *signer;
	uint64_t chunks_len, payload_pos, n_chunks;
	uint64_t chunk_fill;
	EVP_MD_CTX *chunk_md, *digest_md;
	/* With the 16-lane SHA-256 (sha256_many.h) and at least BATCH_MIN_CHUNKS chunks, the
	 * payload is gathered 16 chunks at a time and hashed together: a 1 MiB copy that halves
	 * the hashing time. Otherwise each chunk is hashed as it streams by. */
	uint8_t *batch;
	size_t batch_fill;
	uint8_t sig[1024];
	enum state state;
	size_t need, have;
	uint8_t small[WRAP_FIXED];
	unsigned wrap_count;
	struct wrap *wraps;
	size_t n_wraps;
	uint8_t *hdr;
	size_t hdr_len, hdr_cap;
	unsigned sig_alg;
	size_t signer_len, sig_len;
	mcd_sealed_result result;
	char reason[96];
};

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

mcd_sealed *mcd_sealed_new(uint64_t total)
{
	mcd_sealed *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->total = total;
	s->state = S_PREFIX;
	s->need = BLOB_PREFIX_LEN;
	return s;
}

void mcd_sealed_free(mcd_sealed *s)
{
	if (!s)
		return;
	/* wrap_count entries were allocated (zeroed); one being read may hold bytes too. */
	for (size_t i = 0; s->wraps && i < s->wrap_count; i++)
		free(s->wraps[i].bytes);
	free(s->wraps);
	free(s->hdr);
	EVP_PKEY_free(s->signer);
	EVP_MD_CTX_free(s->chunk_md);
	free(s->batch);
	EVP_MD_CTX_free(s->digest_md);
	free(s);
}

static bool bad(mcd_sealed *s, const char *why)
{
	snprintf(s->reason, sizeof s->reason, "%s", why);
	s->state = S_DONE_BAD;
	s->result = MCD_SEALED_BAD;
	return false;
}

static bool reserve(mcd_sealed *s, size_t more)
{
	if (s->hdr_len + more <= s->hdr_cap)
		return true;
	size_t cap = s->hdr_len + more;
	uint8_t *p = realloc(s->hdr, cap);
	if (!p)
		return false;
	s->hdr = p;
	s->hdr_cap = cap;
	return true;
}

/* [MC-CORE-4]: the signer is a DER SubjectPublicKeyInfo of the type sig_alg names. */
static bool check_signer(mcd_sealed *s, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
	bool ok = key && (size_t)(p - der) == len;
	if (ok && s->sig_alg == 1) {
		ok = EVP_PKEY_is_a(key, "ED25519");
		s->sig_len = 64;
	} else if (ok && s->sig_alg == 2) {
		int bits = EVP_PKEY_get_bits(key);
		ok = EVP_PKEY_is_a(key, "RSA") && bits >= 3072 && bits <= 8192;
		s->sig_len = ok ? (size_t)EVP_PKEY_get_size(key) : 0;
	}
	if (ok && s->sig_len > sizeof s->sig)
		ok = false;
	if (ok) {
		s->signer = key;
		key = NULL;
		s->chunk_md = EVP_MD_CTX_new();
		s->digest_md = EVP_MD_CTX_new();
		ok = s->chunk_md && s->digest_md && EVP_DigestInit_ex2(s->chunk_md, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestInit_ex2(s->digest_md, EVP_sha256(), NULL) == 1;
	}
	EVP_PKEY_free(key);
	return ok;
}

/* [MC-PAY-1..4], [MC-PAY-6]: payload_len bytes after the core hold chunks of 65552 bytes, a
 * last chunk of 16..65552 (16, the empty chunk, only when it is the only one), and sig_len
 * bytes of signature ([MC-PAY-3]). */
static bool check_payload(mcd_sealed *s, uint64_t payload_len)
{
	if (payload_len < s->sig_len)
		return bad(s, "payload shorter than the signature");
	uint64_t l = payload_len - s->sig_len;
	if (l < TAG)
		return bad(s, "payload missing or shorter than one tag");
	uint64_t n = (l + CHUNK_CT - 1) / CHUNK_CT;
	uint64_t last = l - (n - 1) * CHUNK_CT;
	if (last < TAG)
		return bad(s, "final chunk shorter than a tag");
	if (n > 1 && last == TAG)
		return bad(s, "empty final chunk after a full one");
	if (n > 0xffffffffull) /* [MC-PAY-6]: at most 2^32 - 1 chunks */
		return bad(s, "too many chunks");
	s->chunks_len = l;
	if (s->signer && n >= BATCH_MIN_CHUNKS && mc_sha256_many_simd() && !(s->batch = malloc(BATCH_BYTES)))
		return bad(s, "out of memory");
	return true;
}

static bool has_recipient(const mcd_sealed *s, const uint8_t *fp)
{
	for (size_t i = 0; i < s->n_wraps; i++)
		if (memcmp(s->wraps[i].bytes + 1, fp, 32) == 0)
			return true;
	return false;
}

static bool start_core(mcd_sealed *s)
{
	s->state = S_CORE;
	s->need = CORE_FIXED;
	return reserve(s, CORE_FIXED + MAX_SIGNER + 4) || bad(s, "out of memory");
}

static bool in_header(enum state st)
{
	return st >= S_CORE && st <= S_MAC;
}

/* The field of the current state is complete: check it and name the next. */
static bool step(mcd_sealed *s)
{
	const uint8_t *field = in_header(s->state) ? s->hdr + s->hdr_len - s->need : NULL;
	switch (s->state) {
	case S_PREFIX:
		if (memcmp(s->small, MAGIC, 8) != 0)
			return bad(s, "bad magic"); /* [MC-PRE-1] */
		if (s->small[8] != 1)
			return bad(s, "unsupported version"); /* [MC-PRE-2] */
		s->wrap_count = be16(s->small + PREFIX_LEN);
		if (s->wrap_count > MAX_WRAPS)
			return bad(s, "more than 1024 wraps"); /* [MC-WRAP-1] */
		if (s->wrap_count == 0)
			return bad(s, "no wrap"); /* the server stores what someone can open */
		if (!(s->wraps = calloc(s->wrap_count, sizeof *s->wraps)) || !reserve(s, BLOB_PREFIX_LEN))
			return bad(s, "out of memory");
		memcpy(s->hdr, s->small, PREFIX_LEN);
		s->hdr[9] = s->hdr[10] = 0; /* the blob has wrap_count 0 */
		s->hdr_len = BLOB_PREFIX_LEN;
		s->state = S_WRAP_HEAD;
		s->need = WRAP_FIXED;
		return true;
	case S_WRAP_HEAD: {
		unsigned type = s->small[0], wrap_len = be16(s->small + 33);
		/* A type the server cannot map to a user's key cannot be checked against the
		 * recipient table, so only RSA-OAEP wraps are accepted (API.md §15). */
		if (type != 1)
			return bad(s, "wrap type other than RSA-OAEP");
		if (wrap_len < 384 || wrap_len > 1024)
			return bad(s, "wrap_len outside 384..1024"); /* [MC-WRAP-2] */
		if (has_recipient(s, s->small + 1))
			return bad(s, "two wraps for one recipient"); /* [MC-WRAP-4] */
		struct wrap *w = &s->wraps[s->n_wraps];
		if (!(w->bytes = malloc(WRAP_FIXED + wrap_len)))
			return bad(s, "out of memory");
		memcpy(w->bytes, s->small, WRAP_FIXED);
		w->len = WRAP_FIXED + wrap_len;
		s->state = S_WRAP_BODY;
		s->need = wrap_len;
		return true;
	}
	case S_WRAP_BODY:
		s->n_wraps++;
		if (s->n_wraps < s->wrap_count) {
			s->state = S_WRAP_HEAD;
			s->need = WRAP_FIXED;
			return true;
		}
		return start_core(s);
	case S_CORE: {
		unsigned cipher = field[0], chunk_log2 = field[1];
		s->sig_alg = field[34];
		s->signer_len = be16(field + 35);
		if (cipher != 1 && cipher != 2)
			return bad(s, "unsupported cipher"); /* [MC-CORE-1] */
		if (chunk_log2 != 16)
			return bad(s, "unsupported chunk size"); /* [MC-CORE-2] */
		if (s->sig_alg > 2)
			return bad(s, "unsupported signature algorithm"); /* [MC-CORE-4] */
		if ((s->sig_alg == 0) != (s->signer_len == 0) || s->signer_len > MAX_SIGNER)
			return bad(s, "signer length does not fit sig_alg");
		s->state = S_SIGNER;
		s->need = s->signer_len;
		return true;
	}
	case S_SIGNER:
		if (s->signer_len && !check_signer(s, field, s->signer_len))
			return bad(s, "signer key does not fit sig_alg");
		s->state = S_META_LEN;
		s->need = 4;
		return true;
	case S_META_LEN: {
		uint32_t n = be32(field);
		if (n != 0 && (n < TAG || n > MAX_META))
			return bad(s, "meta_len out of range"); /* [MC-CORE-5] */
		if (!reserve(s, (size_t)n + 4))
			return bad(s, "out of memory");
		s->state = S_META;
		s->need = n;
		return true;
	}
	case S_META:
		s->state = S_PREVIEW_LEN;
		s->need = 4;
		return true;
	case S_PREVIEW_LEN: {
		uint32_t n = be32(field);
		if (n != 0 && (n < TAG || n > MAX_PREVIEW))
			return bad(s, "preview_len out of range"); /* [MC-CORE-6] */
		if (!reserve(s, (size_t)n + MAC_LEN))
			return bad(s, "out of memory");
		s->state = S_PREVIEW;
		s->need = n;
		return true;
	}
	case S_PREVIEW:
		s->state = S_MAC;
		s->need = MAC_LEN;
		return true;
	case S_MAC:
		if (!check_payload(s, s->total - s->consumed))
			return false;
		s->state = S_PAYLOAD;
		s->need = 0;
		return true;
	default: return false;
	}
}

/* Hashes the gathered chunks (the last one may be short) and folds them into the digest. */
static bool hash_batch(mcd_sealed *s)
{
	const uint8_t *msgs[MC_SHA256_MANY_MAX];
	uint8_t h[MC_SHA256_MANY_MAX][32];
	unsigned full = (unsigned)(s->batch_fill / CHUNK_CT);
	size_t rest = s->batch_fill % CHUNK_CT;
	for (unsigned i = 0; i <= full && i < MC_SHA256_MANY_MAX; i++)
		msgs[i] = s->batch + (size_t)i * CHUNK_CT;
	bool ok = (full == 0 || mc_sha256_many(msgs, CHUNK_CT, full, h)) &&
	          (rest == 0 || mc_sha256_many(msgs + full, rest, 1, h + full));
	unsigned n = full + (rest != 0);
	ok = ok && EVP_DigestUpdate(s->digest_md, h, 32 * (size_t)n) == 1;
	s->n_chunks += n;
	s->batch_fill = 0;
	return ok || bad(s, "SHA-256 failed");
}

/* [MC-SIG-2]: H_i = SHA-256 of each chunk, folded into the payload digest; the bytes after the
 * chunks are the signature. */
static bool hash_payload(mcd_sealed *s, const uint8_t *buf, size_t len)
{
	while (s->batch && len > 0 && s->payload_pos < s->chunks_len) {
		size_t take = BATCH_BYTES - s->batch_fill;
		if (take > len)
			take = len;
		if (take > s->chunks_len - s->payload_pos)
			take = (size_t)(s->chunks_len - s->payload_pos);
		memcpy(s->batch + s->batch_fill, buf, take);
		s->batch_fill += take;
		s->payload_pos += take;
		buf += take;
		len -= take;
		if ((s->batch_fill == BATCH_BYTES || s->payload_pos == s->chunks_len) && !hash_batch(s))
			return false;
	}
	while (len > 0) {
		if (s->payload_pos >= s->chunks_len) {
			size_t at = (size_t)(s->payload_pos - s->chunks_len);
			if (at + len > s->sig_len)
				return bad(s, "longer than its signature");
			memcpy(s->sig + at, buf, len);
			s->payload_pos += len;
			return true;
		}
		uint64_t room = CHUNK_CT - s->chunk_fill, left = s->chunks_len - s->payload_pos;
		size_t take = len;
		if (take > room)
			take = (size_t)room;
		if (take > left)
			take = (size_t)left;
		if (EVP_DigestUpdate(s->chunk_md, buf, take) != 1)
			return bad(s, "SHA-256 failed");
		s->chunk_fill += take;
		s->payload_pos += take;
		buf += take;
		len -= take;
		if (s->chunk_fill == CHUNK_CT || s->payload_pos == s->chunks_len) {
			uint8_t h[32];
			unsigned int hl = 0;
			if (EVP_DigestFinal_ex(s->chunk_md, h, &hl) != 1 ||
			    EVP_DigestUpdate(s->digest_md, h, 32) != 1 ||
			    EVP_DigestInit_ex2(s->chunk_md, EVP_sha256(), NULL) != 1)
				return bad(s, "SHA-256 failed");
			s->n_chunks++;
			s->chunk_fill = 0;
		}
	}
	return true;
}

/* [MC-SIG-4], without trust: the signature verifies under the signer key of the header. */
static bool verify_signature(mcd_sealed *s)
{
	uint8_t header_digest[32], payload_digest[32], msg[22 + 32 + 8 + 32];
	unsigned int n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok =
	    md && EVP_DigestInit_ex2(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, s->hdr, PREFIX_LEN) == 1 &&
	    EVP_DigestUpdate(md, s->hdr + BLOB_PREFIX_LEN, s->hdr_len - BLOB_PREFIX_LEN) == 1 &&
	    EVP_DigestFinal_ex(md, header_digest, &n) == 1 && EVP_DigestFinal_ex(s->digest_md, payload_digest, &n) == 1;
	memcpy(msg, "medcrypt/v1 signature", 22); /* with its terminating zero: the 00 byte */
	memcpy(msg + 22, header_digest, 32);
	for (int i = 0; i < 8; i++)
		msg[54 + i] = (uint8_t)(s->n_chunks >> (56 - 8 * i));
	memcpy(msg + 62, payload_digest, 32);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX_reset(md);
	ok = ok && EVP_DigestVerifyInit(md, &pctx, s->sig_alg == 2 ? EVP_sha256() : NULL, NULL, s->signer) == 1;
	if (ok && s->sig_alg == 2)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
	ok = ok && EVP_DigestVerify(md, s->sig, s->sig_len, msg, sizeof msg) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok || bad(s, "signature does not verify");
}

mcd_sealed_result mcd_sealed_feed(mcd_sealed *s, const uint8_t *buf, size_t len, mcd_sealed_sink sink, void *ctx)
{
	if (s->result != MCD_SEALED_OK)
		return s->result;
	if (len > s->total - s->consumed) {
		bad(s, "longer than its Content-Length");
		return s->result;
	}
	while (len > 0 && s->state != S_PAYLOAD) {
		size_t take = s->need - s->have;
		if (take > len)
			take = len;
		uint8_t *dest;
		if (s->state == S_PREFIX || s->state == S_WRAP_HEAD)
			dest = s->small + s->have;
		else if (s->state == S_WRAP_BODY)
			dest = s->wraps[s->n_wraps].bytes + WRAP_FIXED + s->have;
		else
			dest = s->hdr + s->hdr_len;
		memcpy(dest, buf, take);
		if (in_header(s->state))
			s->hdr_len += take;
		s->have += take;
		s->consumed += take;
		buf += take;
		len -= take;
		/* Step through every complete field, including empty ones (no signer, no meta). */
		while (s->state != S_PAYLOAD && s->have == s->need) {
			s->have = 0;
			if (!step(s))
				return s->result;
			if (s->state == S_PAYLOAD && !sink(ctx, s->hdr, s->hdr_len)) {
				s->result = MCD_SEALED_SINK;
				return s->result;
			}
		}
	}
	if (len > 0) {
		s->consumed += len;
		if (s->signer && !hash_payload(s, buf, len))
			return s->result;
		if (!sink(ctx, buf, len))
			s->result = MCD_SEALED_SINK;
	}
	return s->result;
}

mcd_sealed_result mcd_sealed_finish(mcd_sealed *s)
{
	if (s->result == MCD_SEALED_OK && (s->state != S_PAYLOAD || s->consumed != s->total))
		bad(s, "truncated");
	if (s->result == MCD_SEALED_OK && s->signer)
		verify_signature(s);
	return s->result;
}

const char *mcd_sealed_reason(const mcd_sealed *s)
{
	return s->reason[0] ? s->reason : "ok";
}

size_t mcd_sealed_n_wraps(const mcd_sealed *s)
{
	return s->n_wraps;
}

const uint8_t *mcd_sealed_wrap(const mcd_sealed *s, size_t i, size_t *len)
{
	*len = s->wraps[i].len;
	return s->wraps[i].bytes;
}

const uint8_t *mcd_sealed_wrap_recipient(const mcd_sealed *s, size_t i)
{
	return s->wraps[i].bytes + 1;
}

bool mcd_sealed_wraps_done(const mcd_sealed *s)
{
	return s->state >= S_CORE && s->state != S_DONE_BAD;
}

const uint8_t *mcd_sealed_header(const mcd_sealed *s, size_t *len)
{
	*len = s->hdr_len;
	return s->hdr;
}
