/*
 * primitives.c: the primitives of docs/FORMAT.md §2 on OpenSSL 3: HKDF, HMAC, SHA-256, the
 * one-shot and per-chunk AEADs, RSA-OAEP wrapping, and Ed25519 / RSA-PSS signatures. Each
 * function fixes every parameter the spec fixes, so callers cannot get one wrong.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <string.h>

#include "internal.h"

const EVP_CIPHER *mc_aead_cipher(mc_cipher cipher)
{
	switch (cipher) {
	case MC_CIPHER_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
	case MC_CIPHER_AES_256_GCM: return EVP_aes_256_gcm();
	}
	return NULL;
}

const char *mc_cipher_name(mc_cipher cipher)
{
	switch (cipher) {
	case MC_CIPHER_CHACHA20_POLY1305: return "chacha20-poly1305";
	case MC_CIPHER_AES_256_GCM: return "aes-256-gcm";
	}
	return "unknown";
}

/* [MC-KDF-2] info = label || cipher byte */
mc_status mc_hkdf(const uint8_t file_key[FMT_KEY_LEN], const uint8_t file_id[FMT_FILE_ID_LEN], const char *label,
                  mc_cipher cipher, uint8_t out[FMT_KEY_LEN], mc_err *err)
{
	uint8_t info[64];
	size_t label_len = strlen(label);
	mc_status st = MC_OK;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "HKDF unavailable");
	memcpy(info, label, label_len);
	info[label_len] = (uint8_t)cipher;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)file_key, FMT_KEY_LEN),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)file_id, FMT_FILE_ID_LEN),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, label_len + 1),
	    OSSL_PARAM_construct_end(),
	};
	if (EVP_KDF_derive(kctx, out, FMT_KEY_LEN, params) != 1)
		st = mc_fail_ssl(err, MC_ERR_CRYPTO, "HKDF failed");
	EVP_KDF_CTX_free(kctx);
	return st;
}

mc_status mc_hmac(const uint8_t key[FMT_KEY_LEN], const uint8_t *msg, size_t len, uint8_t out[FMT_MAC_LEN], mc_err *err)
{
	size_t outlen = 0;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, FMT_KEY_LEN, msg, len, out, FMT_MAC_LEN, &outlen) ||
	    outlen != FMT_MAC_LEN)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "HMAC failed");
	return MC_OK;
}

mc_status mc_sha256(const uint8_t *msg, size_t len, uint8_t out[32], mc_err *err)
{
	if (EVP_Digest(msg, len, out, NULL, EVP_sha256(), NULL) != 1)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "SHA-256 failed");
	return MC_OK;
}

mc_status mc_chunk_ctx_init(mc_chunk_ctx *c, mc_cipher cipher, const uint8_t key[FMT_KEY_LEN], int encrypt, mc_err *err)
{
	const EVP_CIPHER *evp = mc_aead_cipher(cipher);
	c->cipher = cipher;
	c->encrypt = encrypt;
	c->ctx = EVP_CIPHER_CTX_new();
	if (!evp || !c->ctx || EVP_CipherInit_ex(c->ctx, evp, NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_IVLEN, FMT_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c->ctx, NULL, NULL, key, NULL, encrypt) != 1) {
		EVP_CIPHER_CTX_free(c->ctx);
		c->ctx = NULL;
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "cipher setup failed");
	}
	return MC_OK;
}

void mc_chunk_ctx_free(mc_chunk_ctx *c)
{
	EVP_CIPHER_CTX_free(c->ctx); /* clears the key schedule */
	c->ctx = NULL;
}

bool mc_chunk_crypt(mc_chunk_ctx *c, uint64_t index, bool last, const uint8_t *in, size_t len, uint8_t *out)
{
	/* [MC-PAY-1] nonce = 11-byte big-endian counter || last flag */
	uint8_t nonce[FMT_NONCE_LEN] = {0};
	int n = 0, fin = 0;
	for (int i = 0; i < 8; i++)
		nonce[10 - i] = (uint8_t)(index >> (8 * i));
	nonce[11] = last ? 1 : 0;
	if (EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, nonce, c->encrypt) != 1)
		return false;
	if (c->encrypt) {
		if (len > 0 && EVP_CipherUpdate(c->ctx, out, &n, in, (int)len) != 1)
			return false;
		if (EVP_CipherFinal_ex(c->ctx, out + n, &fin) != 1)
			return false;
		return EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_GET_TAG, FMT_TAG_LEN, out + len) == 1;
	}
	if (len < FMT_TAG_LEN)
		return false;
	size_t ct_len = len - FMT_TAG_LEN;
	if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_TAG, FMT_TAG_LEN, (void *)(in + ct_len)) != 1)
		return false;
	if (ct_len > 0 && EVP_CipherUpdate(c->ctx, out, &n, in, (int)ct_len) != 1)
		return false;
	if (EVP_CipherFinal_ex(c->ctx, out + n, &fin) != 1) {
		mc_wipe(out, ct_len); /* [MC-PAY-5] nothing of a failed chunk is released */
		ERR_clear_error();
		return false;
	}
	return true;
}

mc_status mc_aead_once(mc_cipher cipher, const uint8_t key[FMT_KEY_LEN], int encrypt, const uint8_t *in, size_t len,
                       uint8_t *out, mc_err *err)
{
	mc_chunk_ctx c;
	mc_status st = mc_chunk_ctx_init(&c, cipher, key, encrypt, err);
	if (st != MC_OK)
		return st;
	/* The zero nonce of [MC-CORE-5]: counter 0, flag 0. */
	bool ok = mc_chunk_crypt(&c, 0, false, in, len, out);
	mc_chunk_ctx_free(&c);
	if (!ok)
		return encrypt ? mc_fail(err, MC_ERR_CRYPTO, "AEAD encryption failed")
		               : mc_fail(err, MC_ERR_MAC, "encrypted header section does not authenticate");
	return MC_OK;
}

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *key, int encrypt, mc_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	unsigned char *label = OPENSSL_memdup(FMT_OAEP_LABEL, FMT_OAEP_LABEL_LEN);
	if (!ctx || !label || (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, FMT_OAEP_LABEL_LEN) != 1) {
		OPENSSL_free(label);
		EVP_PKEY_CTX_free(ctx);
		mc_fail_ssl(err, MC_ERR_CRYPTO, "RSA-OAEP setup failed");
		return NULL;
	}
	return ctx;
}

mc_status mc_oaep_wrap(EVP_PKEY *pub, const uint8_t file_key[FMT_KEY_LEN], uint8_t **out, size_t *outlen, mc_err *err)
{
	EVP_PKEY_CTX *ctx = oaep_ctx(pub, 1, err);
	size_t len = 0;
	uint8_t *buf = NULL;
	if (!ctx)
		return err ? err->status : MC_ERR_CRYPTO;
	if (EVP_PKEY_encrypt(ctx, NULL, &len, file_key, FMT_KEY_LEN) != 1 || !(buf = malloc(len)) ||
	    EVP_PKEY_encrypt(ctx, buf, &len, file_key, FMT_KEY_LEN) != 1) {
		free(buf);
		EVP_PKEY_CTX_free(ctx);
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "RSA-OAEP wrap failed");
	}
	EVP_PKEY_CTX_free(ctx);
	*out = buf;
	*outlen = len;
	return MC_OK;
}

mc_status mc_oaep_unwrap(EVP_PKEY *priv, const uint8_t *wrap, size_t len, uint8_t file_key[FMT_KEY_LEN], mc_err *err)
{
	EVP_PKEY_CTX *ctx = oaep_ctx(priv, 0, err);
	uint8_t buf[1024];
	size_t outlen = sizeof buf;
	mc_status st = MC_OK;
	if (!ctx)
		return err ? err->status : MC_ERR_CRYPTO;
	if ((size_t)EVP_PKEY_get_size(priv) != len || len > sizeof buf ||
	    EVP_PKEY_decrypt(ctx, buf, &outlen, wrap, len) != 1 || outlen != FMT_KEY_LEN) {
		ERR_clear_error();
		/* [MC-WRAP-5] */
		st = mc_fail(err, MC_ERR_NO_MATCH, "the wrap addressed to this key does not decrypt with it");
	} else {
		memcpy(file_key, buf, FMT_KEY_LEN);
	}
	mc_wipe(buf, sizeof buf);
	EVP_PKEY_CTX_free(ctx);
	return st;
}

static int set_pss(EVP_PKEY_CTX *pctx)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
}

mc_status mc_sign(EVP_PKEY *key, mc_sig_alg alg, const uint8_t *msg, size_t len, uint8_t *sig, size_t *siglen,
                  mc_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	mc_status st = MC_OK;
	const EVP_MD *digest = alg == MC_SIG_RSA_PSS ? EVP_sha256() : NULL;
	if (!md || EVP_DigestSignInit(md, &pctx, digest, NULL, key) != 1 || (alg == MC_SIG_RSA_PSS && !set_pss(pctx)) ||
	    EVP_DigestSign(md, sig, siglen, msg, len) != 1)
		st = mc_fail_ssl(err, MC_ERR_CRYPTO, "signing failed");
	EVP_MD_CTX_free(md);
	return st;
}

bool mc_verify(EVP_PKEY *key, mc_sig_alg alg, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *digest = alg == MC_SIG_RSA_PSS ? EVP_sha256() : NULL;
	bool ok = md && EVP_DigestVerifyInit(md, &pctx, digest, NULL, key) == 1 &&
	          (alg != MC_SIG_RSA_PSS || set_pss(pctx)) && EVP_DigestVerify(md, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}
