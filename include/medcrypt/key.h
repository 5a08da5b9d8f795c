/*
 * key.h: identities and public keys (docs/FORMAT.md §11).
 *
 * An identity is a user's two private keys: an RSA key that receives file keys (wraps) and a
 * signing key (Ed25519, or RSA-PSS). A public key (mc_pubkey) is one key of someone else's,
 * loaded from a NAME.pub identity, a bare PEM key or an X.509 certificate.
 * The private keys live in OpenSSL EVP_PKEY objects; only mc_identity_load_pkcs8 hands them
 * out, for a program that keeps them wrapped under a key of its own.
 *
 * Key files are parsed here only: a program that needs to know what a file holds before it
 * loads it (whether to ask for a passphrase) asks mc_key_file_kind.
 */
#ifndef MEDCRYPT_KEY_H
#define MEDCRYPT_KEY_H

#include <medcrypt/medcrypt.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_FP_LEN       32 /* SHA-256 of the SubjectPublicKeyInfo */
#define MC_FP_HEX_LEN   64 /* lowercase hex, without terminator */
#define MC_RSA_MIN_BITS 3072
#define MC_RSA_MAX_BITS 8192

typedef enum mc_sig_alg { MC_SIG_NONE = 0, MC_SIG_ED25519 = 1, MC_SIG_RSA_PSS = 2 } mc_sig_alg;

/* Which private keys mc_identity_load decrypts: each costs one passphrase derivation. */
enum { MC_IDENTITY_ENC = 1, MC_IDENTITY_SIGN = 2, MC_IDENTITY_BOTH = 3 };

typedef struct mc_identity mc_identity;
typedef struct mc_pubkey mc_pubkey;

/* What a public key is expected to be when loaded from a file. */
typedef enum mc_key_role {
	MC_ROLE_RECIPIENT = 1, /* an RSA encryption key: first key of a NAME.pub, a bare RSA key, a certificate */
	MC_ROLE_SIGNER = 2     /* a signing key: second key of a NAME.pub, or a bare Ed25519/RSA key */
} mc_key_role;

/* Generates a new identity: an RSA key of rsa_bits (3072 to 8192) and a signing key of
 * sig_alg (Ed25519, or RSA-PSS of rsa_bits). Free with mc_identity_free. */
mc_status mc_identity_generate(unsigned rsa_bits, mc_sig_alg sig_alg, mc_identity **out, mc_err *err);

/* Writes PATH_BASE.key (both private keys as encrypted PKCS#8 PEM, mode 0600) and
 * PATH_BASE.pub (public identity, mode 0644). Refuses to overwrite either file (MC_ERR_IO);
 * on failure neither file is left behind. name goes into the .pub comment (printable ASCII
 * only; other bytes are replaced by '?'). The passphrase must not be empty. */
mc_status mc_identity_save(const mc_identity *id, const char *path_base, const char *name, const char *passphrase,
                           size_t passphrase_len, mc_err *err);

/* Loads the private keys named by which (MC_IDENTITY_ENC, _SIGN or _BOTH) from a NAME.key.
 * A file with a single PEM private key is taken as the encryption key, or as the signing key
 * when only MC_IDENTITY_SIGN is asked for. The file is opened with O_NOFOLLOW. Wrong passphrase
 * or damaged file: MC_ERR_KEY. Unencrypted PKCS#8 is accepted (test keys, keys from a PKI);
 * mc_identity_was_encrypted tells whether every loaded key was encrypted, so a program can warn. */
mc_status mc_identity_load(const char *path, const char *passphrase, size_t passphrase_len, int which,
                           mc_identity **out, mc_err *err);

/* The same from the bytes of a key file already in memory (file_len at most 256 KiB). */
mc_status mc_identity_parse(const uint8_t *file, size_t file_len, const char *passphrase, size_t passphrase_len,
                            int which, mc_identity **out, mc_err *err);

/* The signing public key written in clear in a NAME.key ([MC-KEY-2]), read without the
 * passphrase, so a program can start sealing while it unlocks the key. MC_ERR_KEY if the file
 * holds no public keys. Whether it matches the private key is checked when the key is loaded. */
mc_status mc_identity_file_signer(const char *path, mc_pubkey **out, mc_err *err);

/* What a key file holds, as mc_key_file_kind reads it without a passphrase. */
typedef enum mc_key_file_contents {
	MC_KEY_FILE_NONE = 0,    /* no PEM key block: not a key file */
	MC_KEY_FILE_PRIVATE = 1, /* private keys: a NAME.key, or a bare PKCS#8 private key */
	MC_KEY_FILE_PUBLIC = 2   /* public keys only: a NAME.pub, a bare public key, a certificate */
} mc_key_file_contents;

/* The algorithm of a key as a file shows it. */
typedef enum mc_key_type {
	MC_KEY_TYPE_UNKNOWN = 0, /* not shown without the passphrase (an encrypted key without its clear public half) */
	MC_KEY_TYPE_RSA = 1,
	MC_KEY_TYPE_ED25519 = 2,
	MC_KEY_TYPE_OTHER = 3 /* a key medcrypt does not use (EC, DSA, ...) */
} mc_key_type;

typedef struct mc_key_file_info {
	mc_key_file_contents kind;
	/* PRIVATE: 1 when a private key is passphrase-encrypted, so loading it needs the passphrase
	 * (mc_identity_load); 0 when every private key is plain PKCS#8. Always 0 for PUBLIC and NONE. */
	int encrypted;
	/* PRIVATE: the PEM private key blocks; PUBLIC: the public keys and certificates. */
	unsigned n_keys;
	/* The first two keys in file order (for a NAME.key or NAME.pub: the encryption key, then the
	 * signing key), as the file shows them in clear: a NAME.key by its public halves
	 * ([MC-KEY-2]), a plain private key by its algorithm, a public key by itself. bits is the
	 * RSA modulus size, 256 for Ed25519, 0 when not shown. */
	mc_key_type type[2];
	unsigned bits[2];
} mc_key_file_info;

/* Says what the key file at path holds, without a passphrase and without decrypting anything:
 * private or only public keys, whether a private key is encrypted, and the key types the file
 * shows in clear. The file is read as mc_identity_load reads it (O_NOFOLLOW, a regular file of
 * at most 256 KiB) and its bytes are wiped before this returns. The keys themselves are not
 * checked (sizes, matching halves): mc_identity_load and mc_pubkey_load do that.
 * Errors: MC_ERR_IO when the file cannot be opened or read; MC_ERR_KEY for a symbolic link, or a
 * file that is not regular or too large. A file without a PEM key block is MC_OK with kind
 * MC_KEY_FILE_NONE. info is zeroed first. */
mc_status mc_key_file_kind(const char *path, mc_key_file_info *info, mc_err *err);

/* The same from the bytes of a key file in memory (file_len at most 256 KiB, else MC_ERR_KEY). */
mc_status mc_key_file_kind_parse(const uint8_t *file, size_t file_len, mc_key_file_info *info, mc_err *err);

/* mc_identity_load(path, passphrase, passphrase_len, MC_IDENTITY_BOTH, out, err), which also
 * gives the two private keys as the file holds them, as unencrypted PKCS#8 DER: pkcs8[0] the
 * encryption key, pkcs8[1] the signing key. For a program that keeps them wrapped under a key
 * of its own (the account key bundle of docs/API.md §13). Each is key material: release it with
 * mc_buf_free(pkcs8[i], pkcs8_len[i]). On failure both are NULL. */
mc_status mc_identity_load_pkcs8(const char *path, const char *passphrase, size_t passphrase_len, mc_identity **out,
                                 uint8_t *pkcs8[2], size_t pkcs8_len[2], mc_err *err);

/* Frees the identity and its keys. NULL is harmless. */
void mc_identity_free(mc_identity *id);

/* Whether the identity holds the encryption / signing private key. */
int mc_identity_has_enc(const mc_identity *id);
int mc_identity_has_sign(const mc_identity *id);
/* 1 if every key loaded from the file was passphrase-encrypted (and for generated identities);
 * 0 if one was plain PKCS#8, which a program should warn about. */
int mc_identity_was_encrypted(const mc_identity *id);
mc_sig_alg mc_identity_sig_alg(const mc_identity *id);

/* Fingerprint of the identity's encryption / signing public key (MC_FP_LEN bytes, owned by
 * the identity), or NULL if that key was not loaded. */
const uint8_t *mc_identity_enc_fp(const mc_identity *id);
const uint8_t *mc_identity_sign_fp(const mc_identity *id);

/* Loads one public key of the given role from a file (see mc_key_role). An RSA recipient
 * outside 3072..8192 bits is refused with MC_ERR_KEY and a message that says why. */
mc_status mc_pubkey_load(const char *path, mc_key_role role, mc_pubkey **out, mc_err *err);

/* The same from the bytes of a key file in memory; messages do not name a path. */
mc_status mc_pubkey_parse(const uint8_t *file, size_t file_len, mc_key_role role, mc_pubkey **out, mc_err *err);

/* Parses a public key from a DER SubjectPublicKeyInfo. */
mc_status mc_pubkey_from_spki(const uint8_t *der, size_t len, mc_key_role role, mc_pubkey **out, mc_err *err);

/* The public key matching an identity's encryption or signing key. */
mc_status mc_pubkey_from_identity(const mc_identity *id, mc_key_role role, mc_pubkey **out, mc_err *err);

void mc_pubkey_free(mc_pubkey *pk);
/* The key as PEM text ("PUBLIC KEY", SubjectPublicKeyInfo), NUL-terminated: free with free().
 * NULL when pk is NULL or out of memory. */
char *mc_pubkey_pem(const mc_pubkey *pk);
const uint8_t *mc_pubkey_fp(const mc_pubkey *pk);
/* For a signer key: the algorithm it signs with (Ed25519 or RSA-PSS); MC_SIG_NONE otherwise. */
mc_sig_alg mc_pubkey_sig_alg(const mc_pubkey *pk);
/* Key size in bits (RSA modulus, 256 for Ed25519). */
unsigned mc_pubkey_bits(const mc_pubkey *pk);

/* Writes the lowercase hex of a fingerprint into hex (MC_FP_HEX_LEN + 1 bytes, terminated). */
void mc_fp_hex(const uint8_t fp[MC_FP_LEN], char hex[MC_FP_HEX_LEN + 1]);
/* Parses 64 hex digits (either case); returns 0 on success, -1 otherwise. */
int mc_fp_parse(const char *hex, uint8_t fp[MC_FP_LEN]);

#ifdef __cplusplus
}
#endif
#endif
