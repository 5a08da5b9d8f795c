/*
 * sealed_check.h: the server's own streaming check of an uploaded sealed file against the
 * structure of FORMAT.md §3–8. The server links no code that can decrypt (CONVENTIONS.md), so it
 * checks what can be checked without a file key: prefix, wraps, core fields and lengths, the
 * signer's key type, that the payload is a whole number of chunks followed by a signature of
 * the right size, and for a signed file the signature itself (FORMAT.md §8 needs only the
 * signer's public key). It never sees a file key; a file that passes may still fail its MAC
 * for a recipient, and an unsigned file cut at an arbitrary byte still parses.
 *
 * The checker is fed the body in pieces of any size and hands the bytes of the blob (the file
 * with wrap_count 0, API.md §15) to a sink as they become final: the header once the core is
 * complete, then payload bytes straight from the caller's buffer, without a copy. The wraps are
 * kept in memory (at most 1024, each at most 1059 bytes); so is the header (at most ~9.1 MiB).
 *
 * Every field is parsed by lib/format.c (format.h), the parser libmedcrypt's reader uses, which
 * needs no crypto; this module adds only the server's policy, the signer key check and the
 * signature verification.
 */
#ifndef MEDCRYPTD_SEALED_CHECK_H
#define MEDCRYPTD_SEALED_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

typedef struct mcd_sealed mcd_sealed;

/* Receives blob bytes in order; false stops the check (an I/O failure, not a format error). */
typedef bool (*mcd_sealed_sink)(void *ctx, const uint8_t *buf, size_t len);

/* A checker for a body of exactly total bytes (its Content-Length). NULL when out of memory.
 * Free with mcd_sealed_free (NULL is harmless). */
mcd_sealed *mcd_sealed_new(uint64_t total);
void mcd_sealed_free(mcd_sealed *s);

typedef enum mcd_sealed_result {
	MCD_SEALED_OK = 0,  /* so far so good */
	MCD_SEALED_BAD = 1, /* not a well-formed sealed file: see mcd_sealed_reason */
	MCD_SEALED_SINK = 2 /* the sink refused */
} mcd_sealed_result;

/* Feeds the next len bytes. After a result other than OK, further feeds return it again. */
mcd_sealed_result mcd_sealed_feed(mcd_sealed *s, const uint8_t *buf, size_t len, mcd_sealed_sink sink, void *ctx);
/* After the last byte: OK when exactly total bytes made a whole sealed file. */
mcd_sealed_result mcd_sealed_finish(mcd_sealed *s);
/* Why the file was refused, for the log (never sent to a client). */
const char *mcd_sealed_reason(const mcd_sealed *s);

/* The wraps, once the core has been reached: wrap i as detached-wrap bytes (FORMAT.md §4, 35 +
 * wrap_len bytes, owned by s) and its recipient fingerprint (32 bytes). */
size_t mcd_sealed_n_wraps(const mcd_sealed *s);
const uint8_t *mcd_sealed_wrap(const mcd_sealed *s, size_t i, size_t *len);
const uint8_t *mcd_sealed_wrap_recipient(const mcd_sealed *s, size_t i);
/* True once every wrap has been read (so recipients can be checked before the payload). */
bool mcd_sealed_wraps_done(const mcd_sealed *s);
/* The blob's header (prefix, wrap_count 0, core), owned by s; valid once the core is complete. */
const uint8_t *mcd_sealed_header(const mcd_sealed *s, size_t *len);

/* True once the core's signer field has been read and judged (before the metadata and the
 * payload). mcd_sealed_signer_fp then gives the SHA-256 of the signer's DER SubjectPublicKeyInfo
 * (32 bytes, owned by s; what the directory calls sign_fp), or NULL for an unsigned file
 * (sig_alg 0). The signature itself is verified only by mcd_sealed_finish. */
bool mcd_sealed_signer_read(const mcd_sealed *s);
const uint8_t *mcd_sealed_signer_fp(const mcd_sealed *s);

typedef enum mcd_wrap_check {
	MCD_WRAP_OK = 0,             /* a wrap the server accepts, naming fp */
	MCD_WRAP_BAD = 1,            /* not exactly one wrap (FORMAT.md §4), or not one the server takes */
	MCD_WRAP_OTHER_RECIPIENT = 2 /* a wrap the server takes, naming another key */
} mcd_wrap_check;

/* One detached wrap of len bytes, as POST .../shares sends it, judged as an uploaded file's
 * wraps are: parsed by lib/format.c (mc_format_parse_wrap), then the server's policy (API.md §15:
 * RSA-OAEP only), then its recipient compared with fp. why (optional) gets a static reason for
 * the log, NULL for MCD_WRAP_OK. */
mcd_wrap_check mcd_sealed_check_wrap(const uint8_t *wrap, size_t len, const uint8_t fp[FMT_RECIPIENT_LEN],
                                     const char **why);

#endif
