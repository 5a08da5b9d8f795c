/*
 * account.c: the cryptography of medcryptd accounts on the client (docs/API.md §13): Argon2id
 * (libargon2) over the NFC password, HKDF-SHA-256 and AES-256-GCM (OpenSSL) for the key
 * bundle, base32 recovery codes, the login proof of work, and conversion between a NAME.key
 * file and the bundle. Secrets are wiped on every path (one cleanup label per function).
 */
#include <argon2.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <zxcvbn.h>

#include "account.h"

static const char KEYS_AAD[] = "medcrypt/v1 keys";

mc_status account_kdf_check(const account_kdf *kdf, mc_err *err)
{
	if (kdf->t < 2 || kdf->t > 64 || kdf->m < 19456 || kdf->m > 1048576 || kdf->p < 1 || kdf->p > 16)
		return cli_fail(
		    err, MC_ERR_MISUSE,
		    "the server asks for Argon2id parameters out of bounds (t=%u, m=%u KiB, p=%u): refusing them",
		    kdf->t, kdf->m, kdf->p);
	return MC_OK;
}

/* NFC of a UTF-8 string (docs/API.md §13), so that the same password typed on systems that
 * compose accents differently gives the same keys. ASCII is already NFC. Free *out with
 * mc_buf_free(*out, *out_len + 1). */
static mc_status nfc(const char *s, size_t len, uint8_t **out, size_t *out_len, mc_err *err)
{
	bool ascii = true;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			ascii = false;
	UChar *u16 = NULL, *norm = NULL;
	char *u8 = NULL;
	int32_t u16_len = 0, norm_len = 0, u8_len = 0;
	mc_status st = MC_OK;
	if (ascii) {
		u8 = malloc(len + 1);
		if (!u8)
			return cli_fail(err, MC_ERR_NOMEM, "out of memory");
		memcpy(u8, s, len);
		u8[len] = '\0';
		*out = (uint8_t *)u8;
		*out_len = len;
		return MC_OK;
	}
	if (len > 4096)
		return cli_fail(err, MC_ERR_MISUSE, "the password is too long");
	UErrorCode e = U_ZERO_ERROR;
	const UNormalizer2 *n2 = unorm2_getNFCInstance(&e);
	u16 = malloc((len + 1) * sizeof *u16);
	norm = malloc((4 * len + 4) * sizeof *norm);
	u8 = malloc(12 * len + 13);
	if (!u16 || !norm || !u8) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	u_strFromUTF8(u16, (int32_t)len + 1, &u16_len, s, (int32_t)len, &e);
	if (U_SUCCESS(e))
		norm_len = unorm2_normalize(n2, u16, u16_len, norm, (int32_t)(4 * len + 4), &e);
	if (U_SUCCESS(e))
		u_strToUTF8(u8, (int32_t)(12 * len + 13), &u8_len, norm, norm_len, &e);
	if (U_FAILURE(e)) {
		st = cli_fail(err, MC_ERR_MISUSE, "the password is not valid UTF-8");
		goto cleanup;
	}
	u8[u8_len] = '\0';
	*out = (uint8_t *)u8;
	*out_len = (size_t)u8_len;
	u8 = NULL;
cleanup:
	if (u16)
		mc_wipe(u16, (len + 1) * sizeof *u16);
	if (norm)
		mc_wipe(norm, (4 * len + 4) * sizeof *norm);
	free(u16);
	free(norm);
	if (u8)
		mc_buf_free((uint8_t *)u8, 12 * len + 13);
	return st;
}

static mc_status hkdf(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t out[ACCOUNT_KEY_LEN], mc_err *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	                       OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
	                       OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)"", 0),
	                       OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
	                       OSSL_PARAM_construct_end()};
	int ok = ctx && EVP_KDF_derive(ctx, out, ACCOUNT_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? MC_OK : cli_fail(err, MC_ERR_CRYPTO, "HKDF failed");
}

static mc_status argon2id(const uint8_t *secret, size_t len, const uint8_t salt[ACCOUNT_SALT_LEN],
                          const account_kdf *kdf, uint8_t master[ACCOUNT_KEY_LEN], mc_err *err)
{
	mc_status st = account_kdf_check(kdf, err);
	if (st != MC_OK)
		return st;
	int rc =
	    argon2id_hash_raw(kdf->t, kdf->m, kdf->p, secret, len, salt, ACCOUNT_SALT_LEN, master, ACCOUNT_KEY_LEN);
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return cli_fail(err, MC_ERR_NOMEM, "Argon2id: cannot allocate %u KiB", kdf->m);
	if (rc != ARGON2_OK)
		return cli_fail(err, MC_ERR_CRYPTO, "Argon2id failed: %s", argon2_error_message(rc));
	return MC_OK;
}

mc_status account_derive(const char *password, size_t password_len, const uint8_t salt[ACCOUNT_SALT_LEN],
                         const account_kdf *kdf, uint8_t auth_key[ACCOUNT_KEY_LEN], uint8_t wrap_key[ACCOUNT_KEY_LEN],
                         mc_err *err)
{
	uint8_t master[ACCOUNT_KEY_LEN];
	uint8_t *norm = NULL;
	size_t norm_len = 0;
	mc_status st = nfc(password, password_len, &norm, &norm_len, err);
	if (st == MC_OK)
		st = argon2id(norm, norm_len, salt, kdf, master, err);
	if (st == MC_OK)
		st = hkdf(master, sizeof master, "medcrypt/v1 account auth", auth_key, err);
	if (st == MC_OK)
		st = hkdf(master, sizeof master, "medcrypt/v1 account wrap", wrap_key, err);
	mc_wipe(master, sizeof master);
	if (norm)
		mc_buf_free(norm, norm_len + 1);
	if (st != MC_OK) {
		mc_wipe(auth_key, ACCOUNT_KEY_LEN);
		mc_wipe(wrap_key, ACCOUNT_KEY_LEN);
	}
	return st;
}

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

mc_status account_new_recovery_code(char code[RECOVERY_CODE_LEN + 1], mc_err *err)
{
	uint8_t raw[20];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return cli_fail(err, MC_ERR_CRYPTO, "no randomness");
	size_t o = 0;
	unsigned bits = 0, acc = 0, chars = 0;
	for (size_t i = 0; i < sizeof raw; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			if (chars && chars % 4 == 0)
				code[o++] = '-';
			code[o++] = B32[(acc >> (bits - 5)) & 31];
			bits -= 5;
			chars++;
		}
	}
	code[o] = '\0';
	mc_wipe(raw, sizeof raw);
	mc_wipe(&acc, sizeof acc);
	return MC_OK;
}

mc_status account_recovery_key(const char *code, const uint8_t salt[ACCOUNT_SALT_LEN], const account_kdf *kdf,
                               uint8_t key[ACCOUNT_KEY_LEN], mc_err *err)
{
	char clean[64];
	size_t n = 0;
	mc_status st = MC_OK;
	for (const char *p = code; *p; p++) {
		if (*p == '-' || *p == ' ')
			continue;
		char ch = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
		if (!strchr(B32, ch) || n == 32) {
			st = cli_fail(err, MC_ERR_MISUSE,
			              "a recovery code is 32 characters of A-Z and 2-7, in groups of four");
			goto cleanup;
		}
		clean[n++] = ch;
	}
	if (n != 32) {
		st = cli_fail(err, MC_ERR_MISUSE, "a recovery code is 32 characters of A-Z and 2-7, in groups of four");
		goto cleanup;
	}
	uint8_t master[ACCOUNT_KEY_LEN];
	st = argon2id((const uint8_t *)clean, n, salt, kdf, master, err);
	if (st == MC_OK)
		st = hkdf(master, sizeof master, "medcrypt/v1 recovery wrap", key, err);
	mc_wipe(master, sizeof master);
cleanup:
	mc_wipe(clean, sizeof clean);
	return st;
}

mc_status account_wrap(const uint8_t key[ACCOUNT_KEY_LEN], const uint8_t *bundle, size_t bundle_len, uint8_t **out,
                       size_t *out_len, mc_err *err)
{
	*out = NULL;
	*out_len = 0;
	if (bundle_len > 1 << 20)
		return cli_fail(err, MC_ERR_MISUSE, "key bundle too large");
	size_t len = ACCOUNT_NONCE_LEN + bundle_len + ACCOUNT_TAG_LEN;
	uint8_t *buf = malloc(len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ok = buf && ctx && RAND_bytes(buf, ACCOUNT_NONCE_LEN) == 1 &&
	                EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
	                EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)KEYS_AAD, (int)strlen(KEYS_AAD)) == 1 &&
	                EVP_EncryptUpdate(ctx, buf + ACCOUNT_NONCE_LEN, &n, bundle, (int)bundle_len) == 1 &&
	                EVP_EncryptFinal_ex(ctx, buf + ACCOUNT_NONCE_LEN + n, &n) == 1 &&
	                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ACCOUNT_TAG_LEN,
	                                    buf + ACCOUNT_NONCE_LEN + bundle_len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(buf);
		return cli_fail(err, buf ? MC_ERR_CRYPTO : MC_ERR_NOMEM, "cannot wrap the key bundle");
	}
	*out = buf;
	*out_len = len;
	return MC_OK;
}

mc_status account_unwrap(const uint8_t key[ACCOUNT_KEY_LEN], const uint8_t *wrapped, size_t wrapped_len,
                         uint8_t **bundle, size_t *bundle_len, mc_err *err)
{
	*bundle = NULL;
	*bundle_len = 0;
	if (wrapped_len < ACCOUNT_NONCE_LEN + ACCOUNT_TAG_LEN || wrapped_len > (1 << 20) + 28)
		return cli_fail(err, MC_ERR_KEY, "the wrapped keys from the server are malformed");
	size_t len = wrapped_len - ACCOUNT_NONCE_LEN - ACCOUNT_TAG_LEN;
	uint8_t *buf = malloc(len + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ok = buf && ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, wrapped) == 1 &&
	                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ACCOUNT_TAG_LEN,
	                                    (void *)(wrapped + wrapped_len - ACCOUNT_TAG_LEN)) == 1 &&
	                EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)KEYS_AAD, (int)strlen(KEYS_AAD)) == 1 &&
	                EVP_DecryptUpdate(ctx, buf, &n, wrapped + ACCOUNT_NONCE_LEN, (int)len) == 1 &&
	                EVP_DecryptFinal_ex(ctx, buf + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		if (buf)
			mc_buf_free(buf, len + 1);
		return cli_fail(err, buf ? MC_ERR_KEY : MC_ERR_NOMEM,
		                "the wrapped keys do not decrypt with this password (or were altered)");
	}
	*bundle = buf;
	*bundle_len = len;
	return MC_OK;
}

static void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The public key of one of the identity's keys as PEM (free with free()), NULL on failure. */
static char *public_pem(const mc_identity *id, mc_key_role role)
{
	mc_pubkey *pk = NULL;
	mc_err ignored;
	char *pem = mc_pubkey_from_identity(id, role, &pk, &ignored) == MC_OK ? mc_pubkey_pem(pk) : NULL;
	mc_pubkey_free(pk);
	return pem;
}

mc_status account_bundle_from_key_file(const char *path, const char *pass, size_t pass_len, uint8_t **bundle,
                                       size_t *bundle_len, char **enc_pem, char **sign_pem, mc_err *err)
{
	*bundle = NULL;
	*bundle_len = 0;
	*enc_pem = *sign_pem = NULL;
	/* The library reads the file (O_NOFOLLOW, size, key kinds and sizes) and hands over the two
	 * private keys as it decrypted them; the file is parsed nowhere else. */
	mc_identity *id = NULL;
	uint8_t *der[2];
	size_t der_len[2];
	mc_status st = mc_identity_load_pkcs8(path, pass, pass_len, &id, der, der_len, err);
	if (st != MC_OK)
		return st;
	size_t total = 8 + der_len[0] + der_len[1];
	uint8_t *b = malloc(total); /* key files are at most 256 KiB: the lengths fit 32 bits */
	*enc_pem = public_pem(id, MC_ROLE_RECIPIENT);
	*sign_pem = public_pem(id, MC_ROLE_SIGNER);
	if (!b || !*enc_pem || !*sign_pem) {
		free(b);
		free(*enc_pem);
		free(*sign_pem);
		*enc_pem = *sign_pem = NULL;
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	put_u32be(b, (uint32_t)der_len[0]);
	memcpy(b + 4, der[0], der_len[0]);
	put_u32be(b + 4 + der_len[0], (uint32_t)der_len[1]);
	memcpy(b + 8 + der_len[0], der[1], der_len[1]);
	*bundle = b;
	*bundle_len = total;
cleanup:
	mc_buf_free(der[0], der_len[0]);
	mc_buf_free(der[1], der_len[1]);
	mc_identity_free(id);
	return st;
}

/* Appends one PEM "PRIVATE KEY" block of der to the secure-memory BIO b. */
static bool pem_private(BIO *b, const uint8_t *der, size_t len)
{
	return PEM_write_bio(b, "PRIVATE KEY", "", der, (long)len) > 0;
}

mc_status account_key_file_from_bundle(const uint8_t *bundle, size_t bundle_len, const char *path_base,
                                       const char *name, const char *pass, size_t pass_len, const uint8_t *enc_fp,
                                       const uint8_t *sign_fp, mc_err *err)
{
	mc_identity *id = NULL;
	mc_status st = MC_OK;
	uint32_t l1 = 0, l2 = 0;
	if (bundle_len >= 4)
		l1 = (uint32_t)bundle[0] << 24 | (uint32_t)bundle[1] << 16 | (uint32_t)bundle[2] << 8 | bundle[3];
	if (bundle_len < 8 || l1 > bundle_len - 8)
		return cli_fail(err, MC_ERR_KEY, "the key bundle is malformed");
	const uint8_t *p = bundle + 4 + l1;
	l2 = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (l2 != bundle_len - 8 - l1)
		return cli_fail(err, MC_ERR_KEY, "the key bundle is malformed");
	/* The library reads plain PKCS#8 blocks too: hand it the bundle as PEM (in secure memory),
	 * then let it write the key file in its own format, encrypted under pass. */
	BIO *b = BIO_new(BIO_s_secmem());
	char *pem = NULL;
	long pem_len;
	if (!b || !pem_private(b, bundle + 4, l1) || !pem_private(b, p + 4, l2) ||
	    (pem_len = BIO_get_mem_data(b, &pem)) <= 0) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((st = mc_identity_parse((const uint8_t *)pem, (size_t)pem_len, "", 0, MC_IDENTITY_BOTH, &id, err)) != MC_OK)
		goto cleanup;
	if ((enc_fp && !mc_ct_equal(mc_identity_enc_fp(id), enc_fp, MC_FP_LEN)) ||
	    (sign_fp && !mc_ct_equal(mc_identity_sign_fp(id), sign_fp, MC_FP_LEN))) {
		st = cli_fail(err, MC_ERR_KEY,
		              "the keys stored on the server do not match your public keys in the directory");
		goto cleanup;
	}
	st = mc_identity_save(id, path_base, name, pass, pass_len, err);
cleanup:
	BIO_free(b);
	mc_identity_free(id);
	return st;
}

mc_status account_pow_solve(const uint8_t *challenge, size_t challenge_len, unsigned bits, uint8_t nonce[8],
                            mc_err *err)
{
	if (bits > 32 || challenge_len > 1024)
		return cli_fail(err, MC_ERR_MISUSE, "the server asks for an unreasonable proof of work (%u bits)",
		                bits);
	EVP_MD_CTX *base = EVP_MD_CTX_new(), *ctx = EVP_MD_CTX_new();
	if (!base || !ctx || EVP_DigestInit_ex(base, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(base, challenge, challenge_len) != 1) {
		EVP_MD_CTX_free(base);
		EVP_MD_CTX_free(ctx);
		return cli_fail(err, MC_ERR_CRYPTO, "SHA-256 failed");
	}
	mc_status st = cli_fail(err, MC_ERR_CRYPTO, "no proof of work found");
	for (uint64_t i = 0; i < (1ull << 40); i++) {
		uint8_t md[32];
		for (int k = 0; k < 8; k++)
			nonce[k] = (uint8_t)(i >> (56 - 8 * k));
		if (EVP_MD_CTX_copy_ex(ctx, base) != 1 || EVP_DigestUpdate(ctx, nonce, 8) != 1 ||
		    EVP_DigestFinal_ex(ctx, md, NULL) != 1)
			break;
		unsigned zero = 0;
		for (int k = 0; k < 32 && zero < bits; k++) {
			if (md[k] == 0) {
				zero += 8;
				continue;
			}
			zero += (unsigned)__builtin_clz(md[k]) - 24;
			break;
		}
		if (zero >= bits) {
			st = MC_OK;
			break;
		}
	}
	EVP_MD_CTX_free(base);
	EVP_MD_CTX_free(ctx);
	return st;
}

bool account_password_ok(const char *password, size_t len, const char *username)
{
	size_t chars = 0; /* characters, not bytes */
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)password[i] & 0xc0) != 0x80)
			chars++;
	if (chars < 12)
		return false;
	const char *user_words[] = {username, "medcrypt", NULL};
	return ZxcvbnMatch(password, user_words, NULL) >= 26.6; /* log2(10^8): zxcvbn score 3 */
}

char *b64_encode(const uint8_t *buf, size_t len)
{
	size_t n = 4 * ((len + 2) / 3);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	int w = EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	out[w] = '\0';
	return out;
}

uint8_t *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	*len = 0;
	if (n % 4 != 0 || n > (size_t)1 << 30)
		return NULL;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	int w = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
	if (w < 0) {
		free(out);
		return NULL;
	}
	size_t pad = (n >= 1 && s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
	*len = (size_t)w - pad;
	/* only canonical base64: no whitespace, no stray bits in the last character */
	char *again = b64_encode(out, *len);
	if (!again || strcmp(again, s) != 0) {
		free(again);
		mc_buf_free(out, *len);
		*len = 0;
		return NULL;
	}
	free(again);
	return out;
}
