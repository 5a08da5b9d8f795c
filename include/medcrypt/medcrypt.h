/*
 * medcrypt.h: the common part of libmedcrypt's public interface: result codes, the error
 * out-parameter every function fills, and the byte-stream callbacks the streaming functions
 * read from and write to. Include <medcrypt/key.h> and <medcrypt/container.h> for the rest.
 *
 * Ownership rule for the whole library: a function that returns an object through an
 * out-parameter transfers it to the caller, who releases it with the matching _free (which
 * accepts NULL). Buffers returned as uint8_t ** are released with mc_buf_free.
 */
#ifndef MEDCRYPT_MEDCRYPT_H
#define MEDCRYPT_MEDCRYPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_VERSION_STRING "0.1.0"

/* Result of every library call. The classes from "header" to "signature" are the failure
 * classes of docs/FORMAT.md §9; the rest describe the environment. MC_OK is 0. */
typedef enum mc_status {
	MC_OK = 0,
	MC_ERR_HEADER = 1,      /* the container's header does not parse */
	MC_ERR_UNSUPPORTED = 2, /* unknown version, cipher or algorithm */
	MC_ERR_NO_MATCH = 3,    /* no wrap for this key, or it did not decrypt */
	MC_ERR_MAC = 4,         /* header MAC (or metadata/preview AEAD) failed */
	MC_ERR_PAYLOAD = 5,     /* a chunk failed, or the payload is truncated/extended */
	MC_ERR_SIGNATURE = 6,   /* bad signature, unsigned where one is required, untrusted signer */
	MC_ERR_IO = 7,          /* read or write failed */
	MC_ERR_NOMEM = 8,       /* out of memory */
	MC_ERR_MISUSE = 9,      /* invalid argument or call order */
	MC_ERR_KEY = 10,        /* key file unreadable, wrong passphrase, key refused (e.g. too small) */
	MC_ERR_CRYPTO = 11,     /* an OpenSSL primitive failed unexpectedly */
	MC_ERR_CANCELLED = 12   /* the caller's progress callback asked to stop */
} mc_status;

/* Optional error detail. Every function taking an mc_err * accepts NULL. The message never
 * holds key material or passphrases. */
typedef struct mc_err {
	mc_status status;
	char msg[400];
} mc_err;

/* The short name of a status ("MAC failure", "no match", ...). Never NULL. */
const char *mc_status_name(mc_status status);

/* A source of bytes. read returns the number of bytes placed in buf (0 < n <= len), 0 at the
 * end of the stream, or -1 on error (with errno set). */
typedef struct mc_input {
	long (*read)(void *ctx, uint8_t *buf, size_t len);
	void *ctx;
} mc_input;

/* A sink of bytes. write writes all len bytes and returns 0, or -1 on error (errno set). */
typedef struct mc_output {
	int (*write)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx;
} mc_output;

/* Streams over a file descriptor (retrying on EINTR and short transfers). The descriptor is
 * borrowed: it is neither closed nor owned. The returned structs point at a static function
 * and carry the descriptor in ctx; they need no freeing. */
mc_input mc_input_fd(int fd);
mc_output mc_output_fd(int fd);

/* A buffer as a stream: the bytes from p, left of them. The struct is the position: the input
 * mc_input_mem returns reads through it, so it must outlive the reads, and the bytes are
 * borrowed, not copied. Nothing to free. */
typedef struct mc_mem_source {
	const uint8_t *p;
	size_t left;
} mc_mem_source;
mc_input mc_input_mem(mc_mem_source *src);

/* Progress callback: called from the caller's thread with the plaintext bytes done so far.
 * Returning non-zero stops the operation with MC_ERR_CANCELLED. */
typedef int (*mc_progress_fn)(void *ctx, uint64_t bytes_done);

/* The library's one wipe (OPENSSL_cleanse) and one constant-time comparison (CRYPTO_memcmp;
 * returns 1 when equal). Programs use them for their own secrets too. */
void mc_wipe(void *p, size_t len);
int mc_ct_equal(const void *a, const void *b, size_t len);

/* Releases a buffer returned by the library, wiping it first. NULL is harmless. */
void mc_buf_free(uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
