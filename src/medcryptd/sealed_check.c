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
 *
 * The states only gather bytes: each field is parsed and judged by lib/format.c, the parser
 * libmedcrypt's reader uses too, with the sizes and limits of lib/format.h. What is the server's
 * own is its policy on top (API.md §15: at least one wrap, RSA-OAEP wraps only), the signer key
 * check and the signature, which need OpenSSL's public-key code only.
 */
#include "sealed_check.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "sha256_many.h"

#define BATCH_BYTES      ((size_t)MC_SHA256_MANY_MAX * FMT_CHUNK_CT)
#define BATCH_MIN_CHUNKS 32 /* below 2 MiB the copy is not worth it */
/* The small fields gathered before they are parsed: prefix and wrap_count, or a wrap's head. */
#define SMALL_LEN (FMT_WRAP_FIXED_LEN > FMT_WRAPS_OFF ? FMT_WRAP_FIXED_LEN : FMT_WRAPS_OFF)

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

/* A wrap as received (a detached wrap, FORMAT.md §4) and its fields, pointing into bytes. */
struct wrap {
	uint8_t *bytes;
	mc_format_wrap view;
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
	uint8_t sig[FMT_MAX_SIG_LEN];
	enum state state;
	size_t need, have;
	uint8_t small[SMALL_LEN];
	unsigned wrap_count;
	struct wrap *wraps;
	size_t n_wraps;
	uint8_t *hdr;
	size_t hdr_len, hdr_cap;
	unsigned sig_alg;
	size_t signer_len, sig_len;
	uint8_t signer_fp[32]; /* SHA-256 of the signer's DER SPKI, once read (signed files) */
	bool signer_read;      /* the signer field is behind us (signed or not) */
	mcd_sealed_result result;
	char reason[96];
};

mcd_sealed *mcd_sealed_new(uint64_t total)
{
	mcd_sealed *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->total = total;
	s->state = S_PREFIX;
	s->need = FMT_WRAPS_OFF;
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
	if (ok) { /* canonical DER only, as the library reads it (lib/key.c mc_pubkey_from_spki) */
		unsigned char *canonical = NULL;
		int clen = i2d_PUBKEY(key, &canonical);
		ok = clen > 0 && (size_t)clen == len && memcmp(canonical, der, len) == 0;
		OPENSSL_free(canonical);
	}
	if (ok && s->sig_alg == FMT_SIG_ED25519) {
		ok = EVP_PKEY_is_a(key, "ED25519");
		s->sig_len = FMT_ED25519_SIG_LEN;
	} else if (ok && s->sig_alg == FMT_SIG_RSA_PSS) {
		int bits = EVP_PKEY_get_bits(key);
		ok = EVP_PKEY_is_a(key, "RSA") && bits >= FMT_RSA_MIN_BITS && bits <= FMT_RSA_MAX_BITS;
		s->sig_len = ok ? (size_t)EVP_PKEY_get_size(key) : 0;
	}
	if (ok && s->sig_len > sizeof s->sig)
		ok = false;
	if (ok) /* the directory names signing keys by this fingerprint (API.md §13) */
		ok = EVP_Digest(der, len, s->signer_fp, NULL, EVP_sha256(), NULL) == 1;
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

/* [MC-PAY-1..4], [MC-PAY-6]: the payload_len bytes after the core are a chunk sequence and
 * sig_len bytes of signature ([MC-PAY-3]), as format.c lays them out. */
static bool check_payload(mcd_sealed *s, uint64_t payload_len)
{
	mc_format_payload pl;
	const char *why = NULL;
	if (mc_format_payload_layout(payload_len, s->sig_len, &pl, &why) != MC_FORMAT_OK)
		return bad(s, why);
	s->chunks_len = pl.chunks_len;
	if (s->signer && pl.n_chunks >= BATCH_MIN_CHUNKS && mc_sha256_many_simd() && !(s->batch = malloc(BATCH_BYTES)))
		return bad(s, "out of memory");
	return true;
}

/* API.md §15, on top of FORMAT.md §4: a wrap the server cannot map to a user's key (any type
 * but RSA-OAEP) cannot be checked against the recipient table, so it is refused. */
static const char *wrap_policy(const mc_format_wrap *w)
{
	return w->type == FMT_WRAP_RSA_OAEP ? NULL : "wrap type other than RSA-OAEP";
}

mcd_wrap_check mcd_sealed_check_wrap(const uint8_t *wrap, size_t len, const uint8_t fp[FMT_RECIPIENT_LEN],
                                     const char **why)
{
	mc_format_wrap w;
	const char *reason = NULL;
	mcd_wrap_check c = MCD_WRAP_OK;
	if (mc_format_parse_wrap(wrap, len, &w, &reason) != MC_FORMAT_OK || (reason = wrap_policy(&w))) {
		c = MCD_WRAP_BAD;
	} else if (memcmp(w.recipient, fp, FMT_RECIPIENT_LEN) != 0) {
		c = MCD_WRAP_OTHER_RECIPIENT;
		reason = "the wrap names another key";
	}
	if (why)
		*why = reason;
	return c;
}

static bool start_core(mcd_sealed *s)
{
	s->state = S_CORE;
	s->need = FMT_CORE_FIXED_LEN;
	return reserve(s, FMT_CORE_FIXED_LEN + FMT_MAX_SIGNER_LEN + FMT_SECTION_LEN_LEN) || bad(s, "out of memory");
}

static bool in_header(enum state st)
{
	return st >= S_CORE && st <= S_MAC;
}

/* The field of the current state is complete: check it and name the next. */
static bool step(mcd_sealed *s)
{
	const uint8_t *field = in_header(s->state) ? s->hdr + s->hdr_len - s->need : NULL;
	const char *why = NULL;
	switch (s->state) {
	case S_PREFIX: {
		size_t count;
		/* [MC-PRE-1], [MC-PRE-2], [MC-WRAP-1] */
		if (mc_format_parse_prefix(s->small, FMT_PREFIX_LEN, NULL, &why) != MC_FORMAT_OK ||
		    mc_format_parse_wrap_count(s->small + FMT_PREFIX_LEN, &count, &why) != MC_FORMAT_OK)
			return bad(s, why);
		if (count == 0)
			return bad(s, "no wrap"); /* the server stores what someone can open */
		s->wrap_count = (unsigned)count;
		if (!(s->wraps = calloc(s->wrap_count, sizeof *s->wraps)) || !reserve(s, FMT_WRAPS_OFF))
			return bad(s, "out of memory");
		memcpy(s->hdr, s->small, FMT_PREFIX_LEN);
		mc_format_put_wrap_count(s->hdr + FMT_PREFIX_LEN, 0); /* the blob has no wraps */
		s->hdr_len = FMT_WRAPS_OFF;
		s->state = S_WRAP_HEAD;
		s->need = FMT_WRAP_FIXED_LEN;
		return true;
	}
	case S_WRAP_HEAD: {
		mc_format_wrap head;
		if (mc_format_parse_wrap_head(s->small, &head, &why) != MC_FORMAT_OK) /* [MC-WRAP-2] */
			return bad(s, why);
		if ((why = wrap_policy(&head)))
			return bad(s, why);
		for (size_t i = 0; i < s->n_wraps; i++)
			if (mc_format_wraps_conflict(&s->wraps[i].view, &head))
				return bad(s, "two wraps name the same recipient"); /* [MC-WRAP-4] */
		struct wrap *w = &s->wraps[s->n_wraps];
		if (!(w->bytes = malloc(head.len)))
			return bad(s, "out of memory");
		memcpy(w->bytes, s->small, FMT_WRAP_FIXED_LEN);
		w->view.len = head.len;
		s->state = S_WRAP_BODY;
		s->need = head.body_len;
		return true;
	}
	case S_WRAP_BODY: {
		/* The whole wrap, parsed as the share handler parses a detached one. */
		struct wrap *w = &s->wraps[s->n_wraps];
		if (mc_format_parse_wrap(w->bytes, w->view.len, &w->view, &why) != MC_FORMAT_OK)
			return bad(s, why);
		s->n_wraps++;
		if (s->n_wraps < s->wrap_count) {
			s->state = S_WRAP_HEAD;
			s->need = FMT_WRAP_FIXED_LEN;
			return true;
		}
		return start_core(s);
	}
	case S_CORE: {
		mc_format_core core; /* [MC-CORE-1], [MC-CORE-2], [MC-CORE-4] */
		if (mc_format_parse_core_fixed(field, &core, &why) != MC_FORMAT_OK)
			return bad(s, why);
		s->sig_alg = core.sig_alg;
		s->signer_len = core.signer_len;
		s->state = S_SIGNER;
		s->need = s->signer_len;
		return true;
	}
	case S_SIGNER:
		if (s->signer_len && !check_signer(s, field, s->signer_len))
			return bad(s, "signer key does not fit sig_alg");
		s->signer_read = true;
		s->state = S_META_LEN;
		s->need = FMT_SECTION_LEN_LEN;
		return true;
	case S_META_LEN: {
		size_t n;
		if (mc_format_parse_section_len(field, MC_FORMAT_META, &n, &why) != MC_FORMAT_OK) /* [MC-CORE-5] */
			return bad(s, why);
		if (!reserve(s, n + FMT_SECTION_LEN_LEN))
			return bad(s, "out of memory");
		s->state = S_META;
		s->need = n;
		return true;
	}
	case S_META:
		s->state = S_PREVIEW_LEN;
		s->need = FMT_SECTION_LEN_LEN;
		return true;
	case S_PREVIEW_LEN: {
		size_t n;
		if (mc_format_parse_section_len(field, MC_FORMAT_PREVIEW, &n, &why) != MC_FORMAT_OK) /* [MC-CORE-6] */
			return bad(s, why);
		if (!reserve(s, n + FMT_MAC_LEN))
			return bad(s, "out of memory");
		s->state = S_PREVIEW;
		s->need = n;
		return true;
	}
	case S_PREVIEW:
		s->state = S_MAC;
		s->need = FMT_MAC_LEN;
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
	uint8_t h[MC_SHA256_MANY_MAX][FMT_DIGEST_LEN];
	unsigned full = (unsigned)(s->batch_fill / FMT_CHUNK_CT);
	size_t rest = s->batch_fill % FMT_CHUNK_CT;
	for (unsigned i = 0; i <= full && i < MC_SHA256_MANY_MAX; i++)
		msgs[i] = s->batch + (size_t)i * FMT_CHUNK_CT;
	bool ok = (full == 0 || mc_sha256_many(msgs, FMT_CHUNK_CT, full, h)) &&
	          (rest == 0 || mc_sha256_many(msgs + full, rest, 1, h + full));
	unsigned n = full + (rest != 0);
	ok = ok && EVP_DigestUpdate(s->digest_md, h, FMT_DIGEST_LEN * (size_t)n) == 1;
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
		uint64_t room = FMT_CHUNK_CT - s->chunk_fill, left = s->chunks_len - s->payload_pos;
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
		if (s->chunk_fill == FMT_CHUNK_CT || s->payload_pos == s->chunks_len) {
			uint8_t h[FMT_DIGEST_LEN];
			unsigned int hl = 0;
			if (EVP_DigestFinal_ex(s->chunk_md, h, &hl) != 1 ||
			    EVP_DigestUpdate(s->digest_md, h, FMT_DIGEST_LEN) != 1 ||
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
	uint8_t header_digest[FMT_DIGEST_LEN], payload_digest[FMT_DIGEST_LEN], msg[FMT_SIG_MSG_LEN];
	unsigned int n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	/* header_digest = SHA256(prefix || core): the blob's header without its wrap count */
	bool ok = md && EVP_DigestInit_ex2(md, EVP_sha256(), NULL) == 1 &&
	          EVP_DigestUpdate(md, s->hdr, FMT_PREFIX_LEN) == 1 &&
	          EVP_DigestUpdate(md, s->hdr + FMT_WRAPS_OFF, s->hdr_len - FMT_WRAPS_OFF) == 1 &&
	          EVP_DigestFinal_ex(md, header_digest, &n) == 1 &&
	          EVP_DigestFinal_ex(s->digest_md, payload_digest, &n) == 1;
	mc_format_sig_message(header_digest, s->n_chunks, payload_digest, msg);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX_reset(md);
	ok = ok &&
	     EVP_DigestVerifyInit(md, &pctx, s->sig_alg == FMT_SIG_RSA_PSS ? EVP_sha256() : NULL, NULL, s->signer) == 1;
	if (ok && s->sig_alg == FMT_SIG_RSA_PSS) /* FORMAT.md §2 */
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, FMT_PSS_SALT_LEN) == 1 &&
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
			dest = s->wraps[s->n_wraps].bytes + FMT_WRAP_FIXED_LEN + s->have;
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
	*len = s->wraps[i].view.len;
	return s->wraps[i].bytes;
}

const uint8_t *mcd_sealed_wrap_recipient(const mcd_sealed *s, size_t i)
{
	return s->wraps[i].view.recipient;
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

bool mcd_sealed_signer_read(const mcd_sealed *s)
{
	return s->signer_read && s->result == MCD_SEALED_OK;
}

const uint8_t *mcd_sealed_signer_fp(const mcd_sealed *s)
{
	return s->signer_read && s->signer ? s->signer_fp : NULL;
}
