/*
 * account.h: the client side of medcryptd accounts (docs/API.md §13): the password (NFC) and
 * Argon2id give a master key, HKDF-SHA-256 splits it into the authentication key (sent to the
 * server) and the wrapping key (never sent), which seals the private keys as a key bundle with
 * AES-256-GCM; a recovery code wraps the bundle a second time. Also the proof of work of a
 * login (§13 "Proof of work") and the password policy for new accounts (PRODUCT.md).
 *
 * Every key and bundle these functions return is a secret: the caller wipes it (mc_wipe, or
 * mc_buf_free for buffers returned as uint8_t **).
 */
#ifndef MEDCRYPT_ACCOUNT_H
#define MEDCRYPT_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

#define ACCOUNT_SALT_LEN  16
#define ACCOUNT_KEY_LEN   32
#define ACCOUNT_NONCE_LEN 12
#define ACCOUNT_TAG_LEN   16
/* The recovery code: 20 random bytes as 32 base32 characters in groups of four. */
#define RECOVERY_CODE_LEN 39

/* Argon2id parameters: t passes, m KiB, p lanes. */
typedef struct account_kdf {
	uint32_t t, m, p;
} account_kdf;

/* The defaults of §13 for new accounts. */
#define ACCOUNT_KDF_DEFAULT ((account_kdf){.t = 3, .m = 65536, .p = 1})

/* Checks kdf against the server's bounds (t >= 2, 19456 <= m <= 1048576, 1 <= p <= 16): a
 * malicious server must not make the client spend unbounded memory. MC_ERR_MISUSE otherwise. */
mc_status account_kdf_check(const account_kdf *kdf, mc_err *err);

/* Derives auth_key and wrap_key from a password (UTF-8, normalized here to NFC) per §13:
 * master = Argon2id(password, salt, t, m, p, 32), then HKDF-SHA-256 with info
 * "medcrypt/v1 account auth" / "medcrypt/v1 account wrap". Errors: MC_ERR_MISUSE (invalid
 * UTF-8, bad parameters), MC_ERR_NOMEM, MC_ERR_CRYPTO. */
mc_status account_derive(const char *password, size_t password_len, const uint8_t salt[ACCOUNT_SALT_LEN],
                         const account_kdf *kdf, uint8_t auth_key[ACCOUNT_KEY_LEN], uint8_t wrap_key[ACCOUNT_KEY_LEN],
                         mc_err *err);

/* The recovery wrapping key of §13 from a code (dashes and case ignored). */
mc_status account_recovery_key(const char *code, const uint8_t salt[ACCOUNT_SALT_LEN], const account_kdf *kdf,
                               uint8_t key[ACCOUNT_KEY_LEN], mc_err *err);

/* Makes a new recovery code: RECOVERY_CODE_LEN characters plus a terminator ("ABCD-EFGH-..."). */
mc_status account_new_recovery_code(char code[RECOVERY_CODE_LEN + 1], mc_err *err);

/* nonce(12) || AES-256-GCM(key, nonce, bundle, aad "medcrypt/v1 keys") || tag(16). Free *out
 * with mc_buf_free. */
mc_status account_wrap(const uint8_t key[ACCOUNT_KEY_LEN], const uint8_t *bundle, size_t bundle_len, uint8_t **out,
                       size_t *out_len, mc_err *err);
/* The inverse; MC_ERR_KEY when it does not authenticate (wrong password). */
mc_status account_unwrap(const uint8_t key[ACCOUNT_KEY_LEN], const uint8_t *wrapped, size_t wrapped_len,
                         uint8_t **bundle, size_t *bundle_len, mc_err *err);

/* The key bundle of a NAME.key (u32be len, DER PKCS#8 of the encryption key, u32be len, DER
 * PKCS#8 of the signing key), decrypting its two private key blocks with pass, and the PEM
 * SubjectPublicKeyInfo of both keys (free with free). MC_ERR_KEY: wrong passphrase or not a
 * two-key identity file. Free *bundle with mc_buf_free. */
mc_status account_bundle_from_key_file(const char *path, const char *pass, size_t pass_len, uint8_t **bundle,
                                       size_t *bundle_len, char **enc_pem, char **sign_pem, mc_err *err);

/* Writes PATH_BASE.key and PATH_BASE.pub from a key bundle, the private keys encrypted under
 * pass (the library's key file format; never overwrites). The identity's fingerprints must be
 * enc_fp and sign_fp (MC_ERR_KEY otherwise). */
mc_status account_key_file_from_bundle(const uint8_t *bundle, size_t bundle_len, const char *path_base,
                                       const char *name, const char *pass, size_t pass_len, const uint8_t *enc_fp,
                                       const uint8_t *sign_fp, mc_err *err);

/* Finds nonce (8 bytes) such that SHA-256(challenge || nonce) starts with bits zero bits.
 * MC_ERR_MISUSE when bits is over 32 (a server asking for more is refused). */
mc_status account_pow_solve(const uint8_t *challenge, size_t challenge_len, unsigned bits, uint8_t nonce[8],
                            mc_err *err);

/* PRODUCT.md's policy for a new password: 12 or more characters and a zxcvbn estimate of at
 * least 10^8 guesses (score 3), with the user name and "medcrypt" as user words. */
bool account_password_ok(const char *password, size_t len, const char *username);

/* Standard base64 with padding. b64_encode returns a malloc'd string (NULL when out of memory);
 * b64_decode a malloc'd buffer (free with mc_buf_free) or NULL when s is not base64. */
char *b64_encode(const uint8_t *buf, size_t len);
uint8_t *b64_decode(const char *s, size_t *len);

#endif
