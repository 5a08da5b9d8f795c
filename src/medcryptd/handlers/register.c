/*
 * register.c: POST /api/v1/register (API.md §13). Validates every field before anything is
 * stored: the names, the client's KDF salt and parameters, the public keys (RSA 3072–8192 for
 * encryption; Ed25519 or RSA 3072–8192 for signing), the wrapped key bundles. The keys are
 * stored re-encoded from their parsed form, with their fingerprints (SHA-256 of the DER
 * SubjectPublicKeyInfo), and the fingerprints enter the audit chain with the registration.
 * The invitation is consumed atomically with the insert by the store.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth.h"
#include "../util.h"
#include "handlers.h"

#define WRAPPED_MIN (12 + 16 + 8)
#define WRAPPED_MAX (24 * 1024)
#define PEM_MAX     (16 * 1024)

/* Parses one PEM public key; for_signing allows Ed25519 too. Fills the canonical PEM (malloc'd)
 * and fingerprint. */
static bool parse_key(const char *pem, bool for_signing, char **canonical, uint8_t fp[32])
{
	*canonical = NULL;
	if (!pem || strlen(pem) > PEM_MAX)
		return false;
	BIO *in = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = in ? PEM_read_bio_PUBKEY(in, NULL, NULL, NULL) : NULL;
	BIO_free(in);
	if (!key)
		return false;
	bool ok;
	if (EVP_PKEY_is_a(key, "RSA")) {
		int bits = EVP_PKEY_get_bits(key);
		ok = bits >= 3072 && bits <= 8192;
	} else {
		ok = for_signing && EVP_PKEY_is_a(key, "ED25519");
	}
	unsigned char *der = NULL;
	int der_len = ok ? i2d_PUBKEY(key, &der) : -1;
	ok = der_len > 0 && EVP_Digest(der, (size_t)der_len, fp, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	BIO *out = ok ? BIO_new(BIO_s_mem()) : NULL;
	if (out && PEM_write_bio_PUBKEY(out, key) == 1) {
		char *data;
		long n = BIO_get_mem_data(out, &data);
		if (n > 0 && (*canonical = malloc((size_t)n + 1))) {
			memcpy(*canonical, data, (size_t)n);
			(*canonical)[n] = 0;
		}
	}
	BIO_free(out);
	EVP_PKEY_free(key);
	return *canonical != NULL;
}

/* API.md §13: argon2id with t >= 2, 19456 <= m <= 1048576 KiB, p >= 1; the server also caps
 * t <= 64 and p <= 16 (as the CLI does), so a stored parameter set never makes a client work for hours. */
static bool parse_kdf(json_t *kdf, mcd_user *u)
{
	if (!json_is_object(kdf))
		return false;
	const char *alg = mcd_json_str(kdf, "alg");
	json_t *t = json_object_get(kdf, "t"), *m = json_object_get(kdf, "m"), *p = json_object_get(kdf, "p");
	if (!alg || strcmp(alg, "argon2id") != 0 || !json_is_integer(t) || !json_is_integer(m) || !json_is_integer(p))
		return false;
	json_int_t tv = json_integer_value(t), mv = json_integer_value(m), pv = json_integer_value(p);
	if (tv < 2 || tv > 64 || mv < 19456 || mv > 1048576 || pv < 1 || pv > 16)
		return false;
	u->kdf_t = (uint32_t)tv, u->kdf_m = (uint32_t)mv, u->kdf_p = (uint32_t)pv;
	return true;
}

void mcd_h_register(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user u = {0};
	mcd_user *other = NULL;
	uint8_t key[32] = {0}, inv_hash[32];
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	bool have_inv = false;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *invitation = mcd_json_str(body, "invitation");
	json_t *inv_member = json_object_get(body, "invitation");
	if (inv_member && !json_is_null(inv_member)) {
		if (!invitation || !mcd_invitation_hash(invitation, inv_hash)) {
			mcd_reply_error(r, 400, "bad_request");
			goto cleanup;
		}
		have_inv = true;
	} else if (!r->srv->cfg.allow_patient_signup) {
		mcd_reply_error(r, 403, "forbidden");
		goto cleanup;
	}
	const char *username = mcd_json_str(body, "username"), *display = mcd_json_str(body, "display_name");
	json_t *wrapped = json_object_get(body, "wrapped_keys");
	bool ok = username && mcd_valid_username(username) && display && mcd_valid_display_name(display) &&
	          parse_kdf(json_object_get(body, "kdf"), &u) && json_is_object(wrapped);
	if (ok && (ok = mcd_json_b64(body, "salt", 16, 16, &raw, &raw_len)))
		memcpy(u.kdf_salt, raw, 16);
	free(raw);
	raw = NULL;
	if (ok && (ok = mcd_json_b64(body, "auth_key", 32, 32, &raw, &raw_len)))
		memcpy(key, raw, 32);
	if (raw)
		OPENSSL_cleanse(raw, raw_len);
	free(raw);
	ok =
	    ok && parse_key(mcd_json_str(body, "enc_public_key"), false, &u.enc_public_pem, u.enc_fp) &&
	    parse_key(mcd_json_str(body, "sign_public_key"), true, &u.sign_public_pem, u.sign_fp) &&
	    mcd_json_b64(wrapped, "password", WRAPPED_MIN, WRAPPED_MAX, &u.wrapped_password, &u.wrapped_password_len) &&
	    mcd_json_b64(wrapped, "recovery", WRAPPED_MIN, WRAPPED_MAX, &u.wrapped_recovery, &u.wrapped_recovery_len);
	if (!ok) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	/* One encryption key, one user: a wrap must name exactly one account. */
	mcd_store_status s = st->ops->user_by_enc_fp(st, u.enc_fp, &other);
	if (s != MCD_STORE_NOT_FOUND) {
		mcd_reply_store(r, s == MCD_STORE_OK ? MCD_STORE_CONFLICT : s);
		goto cleanup;
	}
	mcd_hash_result h = mcd_auth_hash(r->srv, key, &u.auth_hash);
	if (h != MCD_HASH_OK) {
		if (h == MCD_HASH_BUSY) {
			mcd_reply_error(r, 503, "busy");
			mcd_reply_header(r, "Retry-After", "1");
		} else {
			mcd_reply_error(r, 500, "internal");
		}
		goto cleanup;
	}
	u.username = strdup(username);
	u.display_name = strdup(display);
	u.role = MCD_ROLE_PATIENT; /* self-registration; an invitation's role wins in the store */
	u.created = mcd_now();
	if (!u.username || !u.display_name) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	char enc_hex[65], sign_hex[65], detail[200];
	mcd_hex(u.enc_fp, 32, enc_hex);
	mcd_hex(u.sign_fp, 32, sign_hex);
	snprintf(detail, sizeof detail, "{\"enc_fingerprint\":\"%s\",\"sign_fingerprint\":\"%s\"}", enc_hex, sign_hex);
	mcd_audit_event ev = mcd_event(r, "register", username, "ok", detail);
	ev.actor = username;
	s = st->ops->user_create(st, &u, have_inv ? inv_hash : NULL, u.created, &ev);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	char cookie[160], csrf[48];
	if (!mcd_session_start(r, u.id, NULL, cookie, csrf)) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	json_t *out = json_pack("{s:o, s:s}", "user", mcd_user_json(&u), "csrf_token", csrf);
	if (!out) {
		mcd_reply_error(r, 500, "internal");
	} else {
		mcd_reply_json(r, 201, out);
		mcd_reply_header(r, "Set-Cookie", cookie);
	}
	OPENSSL_cleanse(cookie, sizeof cookie);
	OPENSSL_cleanse(csrf, sizeof csrf);
cleanup:
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(inv_hash, sizeof inv_hash);
	mcd_user_free(other);
	free(u.username);
	free(u.display_name);
	free(u.enc_public_pem);
	free(u.sign_public_pem);
	free(u.auth_hash);
	free(u.wrapped_password);
	free(u.wrapped_recovery);
	json_decref(body);
}
