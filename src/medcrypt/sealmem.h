/*
 * sealmem.h: small sealed containers held in memory (the PatientID mapping, consent requests,
 * messages): sealing a buffer for a few recipients, signed, and opening one with my key, requiring
 * a trusted signer, before any plaintext is given out; and membuf, the growing buffer they read
 * and write through.
 *
 * Ownership: every buffer returned is released by the caller with mc_buf_free (which wipes it);
 * a membuf's storage with membuf_free.
 */
#ifndef MEDCRYPT_SEALMEM_H
#define MEDCRYPT_SEALMEM_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* A growing byte buffer, as an mc_input (membuf_read reads from pos) and an mc_output
 * (membuf_write appends, up to max bytes in all). Its bytes may be plaintext: when it grows the
 * old storage is wiped, and membuf_free wipes it. Start from {.max = LIMIT}; to read bytes held
 * elsewhere, {.p = bytes, .len = n} (not freed with membuf_free then). */
typedef struct membuf {
	uint8_t *p;
	size_t len, cap, pos, max;
} membuf;

/* mc_input's read (ctx: a membuf): copies up to len bytes from pos on into buf and advances pos.
 * Returns the number copied, 0 at the end. */
long membuf_read(void *ctx, uint8_t *buf, size_t len);

/* mc_output's write (ctx: a membuf): appends len bytes. Returns 0, or -1 with nothing appended
 * when the buffer would pass max bytes or memory runs out. */
int membuf_write(void *ctx, const uint8_t *buf, size_t len);

/* Wipes and frees m's storage and zeroes m (max too). Storage NULL is harmless. */
void membuf_free(membuf *m);

/* Seals plain (len bytes) for the n recipients, signed by signer, with the metadata text meta
 * (may be NULL), into *out (at most max bytes, else MC_ERR_MISUSE). One thread: these are small. */
mc_status sealmem_seal(const mc_pubkey *const *recipients, size_t n, const mc_identity *signer, const char *meta,
                       const uint8_t *plain, size_t len, size_t max, uint8_t **out, size_t *out_len, mc_err *err);

/* Opens sealed (len bytes) with id, every chunk and the signature verified against trusted; the
 * plaintext (at most max bytes, else MC_ERR_PAYLOAD) goes to *plain only when all verified.
 * signer_hex (may be NULL) gets the signer's fingerprint. Errors: those of the container (header,
 * no match, MAC, payload, signature). */
mc_status sealmem_open(const uint8_t *sealed, size_t len, const mc_identity *id, const mc_pubkey *trusted, size_t max,
                       uint8_t **plain, size_t *plain_len, char signer_hex[MC_FP_HEX_LEN + 1], mc_err *err);

#endif
