/*
 * container.h: sealing and opening medcrypt containers (docs/FORMAT.md).
 *
 * Sealing streams a plaintext into a container in constant memory. Opening is two steps: read
 * and parse the header (mc_file_read), then unlock it with an identity (mc_file_unlock: unwrap
 * the file key, check the header MAC), after which the metadata, the preview, the payload and
 * single chunks can be read. The payload work is spread over one thread per CPU (the caller's
 * and worker threads).
 */
#ifndef MEDCRYPT_CONTAINER_H
#define MEDCRYPT_CONTAINER_H

#include <medcrypt/key.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_cipher { MC_CIPHER_CHACHA20_POLY1305 = 1, MC_CIPHER_AES_256_GCM = 2 } mc_cipher;

#define MC_CHUNK_SIZE     65536u
#define MC_MAX_RECIPIENTS 1024u
#define MC_MAX_METADATA   (1024u * 1024u)
#define MC_MAX_PREVIEW    (8u * 1024u * 1024u)

/* "chacha20-poly1305" / "aes-256-gcm", or "unknown". */
const char *mc_cipher_name(mc_cipher cipher);

typedef struct mc_seal_params {
	mc_cipher cipher;                   /* 0 means ChaCha20-Poly1305 */
	const mc_pubkey *const *recipients; /* RSA recipient keys, 1..MC_MAX_RECIPIENTS, distinct */
	size_t n_recipients;
	const mc_identity *signer; /* NULL: unsigned; else must hold its signing key */
	/* Instead of signer: the signer's public key now, and a function called once, after the
	 * last chunk, that hands over the identity holding the matching private key. A caller uses
	 * it to unlock the key (a slow passphrase derivation) while the payload is sealed. An
	 * identity that does not match signer_public fails with MC_ERR_KEY. */
	const mc_pubkey *signer_public;
	mc_status (*signer_wait)(void *ctx, const mc_identity **signer, mc_err *err);
	void *signer_wait_ctx;
	const uint8_t *metadata; /* UTF-8 JSON object, or NULL */
	size_t metadata_len;
	const uint8_t *preview; /* preview image bytes, or NULL */
	size_t preview_len;
	unsigned threads;        /* threads in all, the caller's included; 0 = one per online CPU */
	mc_progress_fn progress; /* optional */
	void *progress_ctx;
} mc_seal_params;

/* Seals everything read from in into a container written to out. On error some bytes may
 * already have been written: the caller writes to a temporary file and discards it. */
mc_status mc_seal(const mc_seal_params *params, mc_input in, mc_output out, mc_err *err);

/* A parsed container header. */
typedef struct mc_file mc_file;

/* Reads the prefix, wraps and core from in, leaving in positioned at the first payload byte.
 * Free with mc_file_free. Errors: MC_ERR_HEADER, MC_ERR_UNSUPPORTED, MC_ERR_IO. */
mc_status mc_file_read(mc_input in, mc_file **out, mc_err *err);
void mc_file_free(mc_file *f);

mc_cipher mc_file_cipher(const mc_file *f);
size_t mc_file_header_len(const mc_file *f); /* bytes before the payload, wraps included */
size_t mc_file_n_wraps(const mc_file *f);
/* Recipient fingerprint of wrap i (NULL if i is out of range); *type gets the wrap type. */
const uint8_t *mc_file_wrap_recipient(const mc_file *f, size_t i, unsigned *type);
mc_sig_alg mc_file_sig_alg(const mc_file *f);
size_t mc_file_sig_len(const mc_file *f); /* bytes of signature after the payload */
/* The signer's public key (owned by f), or NULL when unsigned. */
const mc_pubkey *mc_file_signer(const mc_file *f);
size_t mc_file_metadata_len(const mc_file *f); /* plaintext length, 0 when absent */
size_t mc_file_preview_len(const mc_file *f);

/* Finds the wrap for id's encryption key, unwraps the file key and checks the header MAC.
 * Errors: MC_ERR_NO_MATCH, MC_ERR_MAC, MC_ERR_KEY (identity lacks its encryption key). */
mc_status mc_file_unlock(mc_file *f, const mc_identity *id, mc_err *err);
int mc_file_is_unlocked(const mc_file *f);

/* Decrypts the metadata / preview of an unlocked file into a new buffer (free with
 * mc_buf_free). *out is NULL and *len 0 when the section is absent. */
mc_status mc_file_metadata(const mc_file *f, uint8_t **out, size_t *len, mc_err *err);
mc_status mc_file_preview(const mc_file *f, uint8_t **out, size_t *len, mc_err *err);

/* Result of reading a payload. */
typedef struct mc_payload_info {
	uint64_t plaintext_len;
	uint64_t n_chunks;
	int signed_ok;                /* 1 if a signature was present and verified */
	uint8_t signer_fp[MC_FP_LEN]; /* valid when signed_ok */
} mc_payload_info;

typedef struct mc_open_params {
	/* If n_trusted > 0, the file must be signed by one of these keys (MC_ERR_SIGNATURE
	 * otherwise). A bad signature is always MC_ERR_SIGNATURE. */
	const mc_pubkey *const *trusted;
	size_t n_trusted;
	unsigned threads; /* 0 = one per online CPU */
	mc_progress_fn progress;
	void *progress_ctx;
} mc_open_params;

/* Decrypts the payload of an unlocked file from in (positioned as mc_file_read left it) to
 * out, checking every chunk and then the signature. out receives only verified chunks, but a
 * later failure means the output must be discarded. params may be NULL. info may be NULL. */
mc_status mc_file_open_payload(mc_file *f, mc_input in, mc_output out, const mc_open_params *params,
                               mc_payload_info *info, mc_err *err);

/* Checks the signature over the header and every ciphertext chunk without the file key (the
 * file need not be unlocked). MC_ERR_SIGNATURE if the file is unsigned or the signature bad. */
mc_status mc_file_verify_payload(mc_file *f, mc_input in, const mc_open_params *params, mc_payload_info *info,
                                 mc_err *err);

/* Random access (FORMAT.md [MC-PAY-7]): decrypts chunk index of an unlocked file from a
 * seekable fd holding the whole container. out must hold MC_CHUNK_SIZE bytes; *out_len gets
 * the plaintext length. file_len is the container's total size. Authenticates against the
 * file key only, not the signature. */
mc_status mc_file_read_chunk(const mc_file *f, int fd, uint64_t file_len, uint64_t index, uint8_t *out, size_t *out_len,
                             mc_err *err);

/* Number of chunks and plaintext length of a container of file_len bytes with this header. */
mc_status mc_file_payload_size(const mc_file *f, uint64_t file_len, uint64_t *n_chunks, uint64_t *plaintext_len,
                               mc_err *err);

/* Adds a wrap of the (unlocked) file key for recipient. MC_ERR_MISUSE if already a recipient. */
mc_status mc_file_add_recipient(mc_file *f, const mc_pubkey *recipient, mc_err *err);
/* Removes the wrap naming fp. MC_ERR_MISUSE if there is none. */
mc_status mc_file_remove_recipient(mc_file *f, const uint8_t fp[MC_FP_LEN], mc_err *err);
/* Adds a detached wrap (FORMAT.md §4, the wrap production alone) read from bytes. */
mc_status mc_file_add_detached_wrap(mc_file *f, const uint8_t *wrap, size_t len, mc_err *err);

/* Serializes wrap i as a detached wrap (FORMAT.md §4), as a server stores it apart from the
 * blob. Free with mc_buf_free. */
mc_status mc_file_wrap_bytes(const mc_file *f, size_t i, uint8_t **out, size_t *len, mc_err *err);

/* Writes the header (prefix, current wraps, core) to out. Copying the rest of the original
 * container after it gives the re-shared file: nothing is re-encrypted or re-signed. */
mc_status mc_file_write_header(const mc_file *f, mc_output out, mc_err *err);

#ifdef __cplusplus
}
#endif
#endif
