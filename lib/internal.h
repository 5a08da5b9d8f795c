/*
 * internal.h: helpers shared by the library's modules and never exported: error reporting,
 * secret wiping and constant-time comparison, big-endian loads and stores, and the crypto
 * primitives of FORMAT.md §2 (primitives.c).
 */
#ifndef MC_INTERNAL_H
#define MC_INTERNAL_H

#include <medcrypt/container.h>
#include <medcrypt/key.h>
#include <medcrypt/medcrypt.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <string.h>

#include "format.h"

/* Fills err (if any) and returns status. The message is printf-formatted; never pass secrets. */
mc_status mc_fail(mc_err *err, mc_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like mc_fail, appending the first OpenSSL error's reason, and clearing OpenSSL's queue. */
mc_status mc_fail_ssl(mc_err *err, mc_status status, const char *what);
mc_status mc_ok(mc_err *err);

/* A fixed-size output buffer filled front to back. Every append is checked against the
 * capacity, so no caller counts offsets by hand: the first append that does not fit writes
 * nothing, returns false and leaves the buffer as it was. */
typedef struct mc_outbuf {
	uint8_t *p;
	size_t len, cap;
} mc_outbuf;

static inline mc_outbuf mc_outbuf_of(void *p, size_t cap)
{
	return (mc_outbuf){(uint8_t *)p, 0, cap};
}
static inline bool mc_outbuf_put(mc_outbuf *b, const void *src, size_t n)
{
	if (n > b->cap - b->len)
		return false;
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
	return true;
}
static inline bool mc_outbuf_byte(mc_outbuf *b, uint8_t c)
{
	return mc_outbuf_put(b, &c, 1);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)(v >> 32));
	st32(p + 4, (uint32_t)v);
}
static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t ld32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads exactly len bytes; MC_ERR_IO on error, *got < len at end of stream. */
mc_status mc_read_full(mc_input in, uint8_t *buf, size_t len, size_t *got, mc_err *err);
mc_status mc_write(mc_output out, const uint8_t *buf, size_t len, mc_err *err);

/* ---- primitives.c: FORMAT.md §2 ---- */
const EVP_CIPHER *mc_aead_cipher(mc_cipher cipher); /* NULL if unknown */
mc_status mc_hkdf(const uint8_t file_key[FMT_KEY_LEN], const uint8_t file_id[FMT_FILE_ID_LEN], const char *label,
                  mc_cipher cipher, uint8_t out[FMT_KEY_LEN], mc_err *err);
mc_status mc_hmac(const uint8_t key[FMT_KEY_LEN], const uint8_t *msg, size_t len, uint8_t out[FMT_MAC_LEN],
                  mc_err *err);
mc_status mc_sha256(const uint8_t *msg, size_t len, uint8_t out[32], mc_err *err);
/* One-shot AEAD with the all-zero nonce (metadata, preview). out holds len + 16 bytes when
 * sealing, len - 16 when opening. Opening failure: MC_ERR_MAC. */
mc_status mc_aead_once(mc_cipher cipher, const uint8_t key[FMT_KEY_LEN], int encrypt, const uint8_t *in, size_t len,
                       uint8_t *out, mc_err *err);

/* A reusable per-thread chunk AEAD context. */
typedef struct mc_chunk_ctx {
	EVP_CIPHER_CTX *ctx;
	mc_cipher cipher;
	int encrypt;
} mc_chunk_ctx;
mc_status mc_chunk_ctx_init(mc_chunk_ctx *c, mc_cipher cipher, const uint8_t key[FMT_KEY_LEN], int encrypt,
                            mc_err *err);
void mc_chunk_ctx_free(mc_chunk_ctx *c);
/* Seals or opens chunk index (FORMAT.md §7). Sealing writes len + 16 bytes; opening reads len
 * (>= 16) bytes and writes len - 16. Returns false on a failed tag. */
bool mc_chunk_crypt(mc_chunk_ctx *c, uint64_t index, bool last, const uint8_t *in, size_t len, uint8_t *out);

/* RSA-OAEP wrap and unwrap of a file key (FORMAT.md §4). out/outlen of the wrap: the modulus size. */
mc_status mc_oaep_wrap(EVP_PKEY *pub, const uint8_t file_key[FMT_KEY_LEN], uint8_t **out, size_t *outlen, mc_err *err);
mc_status mc_oaep_unwrap(EVP_PKEY *priv, const uint8_t *wrap, size_t len, uint8_t file_key[FMT_KEY_LEN], mc_err *err);

/* Signature over the message M of FORMAT.md §8. */
mc_status mc_sign(EVP_PKEY *key, mc_sig_alg alg, const uint8_t *msg, size_t len, uint8_t *sig, size_t *siglen,
                  mc_err *err);
bool mc_verify(EVP_PKEY *key, mc_sig_alg alg, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen);

/* ---- key.c internals ---- */
EVP_PKEY *mc_identity_enc_key(const mc_identity *id);
EVP_PKEY *mc_identity_sign_key(const mc_identity *id);
EVP_PKEY *mc_pubkey_evp(const mc_pubkey *pk);
/* DER SubjectPublicKeyInfo of a public key, owned by pk. */
const uint8_t *mc_pubkey_spki(const mc_pubkey *pk, size_t *len);
/* Signature length the key produces. */
size_t mc_sig_len_for(EVP_PKEY *key, mc_sig_alg alg);
mc_status mc_spki_fp(EVP_PKEY *key, uint8_t fp[MC_FP_LEN], uint8_t **spki, size_t *spki_len, mc_err *err);

/* ---- stream.c: the parallel chunk pipeline ---- */
typedef struct mc_stream_params {
	mc_cipher cipher;
	const uint8_t *key; /* K_payload; NULL for verify-only (hash without decrypting) */
	int encrypt;        /* 1: plaintext in, chunks out; 0: chunks in, plaintext out */
	bool hash;          /* compute the payload digest of FORMAT.md §8 (signed files only) */
	size_t trailer_len; /* bytes held back after the payload when reading chunks */
	unsigned threads;
	mc_progress_fn progress;
	void *progress_ctx;
} mc_stream_params;

typedef struct mc_stream_result {
	uint64_t n_chunks;
	uint64_t plaintext_len;
	uint8_t payload_digest[32]; /* FORMAT.md §8 */
	uint8_t trailer[1024];      /* the held-back bytes (the signature) */
	size_t trailer_got;
} mc_stream_result;

mc_status mc_stream_run(const mc_stream_params *p, mc_input in, mc_output *out, mc_stream_result *res, mc_err *err);

/* ---- container internals shared by seal.c and file.c ---- */
size_t mc_sig_len_of_alg(mc_sig_alg alg, const mc_pubkey *signer);
void mc_sig_message(const uint8_t header_digest[32], uint64_t n_chunks, const uint8_t payload_digest[32],
                    uint8_t msg[FMT_SIG_MSG_LEN]);

#endif
