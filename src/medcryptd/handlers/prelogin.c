/*
 * prelogin.c: POST /api/v1/prelogin (API.md §13). Answers the salt and KDF parameters a client
 * needs to derive its keys. An unknown or disabled name gets an answer of the same shape that
 * stays the same on every call (an HMAC of the name under the server secret, the default
 * parameters), so the answer does not tell whether an account exists.
 */
#include <stdlib.h>
#include <string.h>

#include "../auth.h"
#include "../util.h"
#include "handlers.h"

void mcd_h_prelogin(mcd_request *r)
{
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *username = mcd_json_str(body, "username");
	if (!username || !mcd_valid_username(username)) {
		json_decref(body);
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	mcd_store *st = r->srv->store;
	mcd_user *u = NULL;
	uint8_t salt[16];
	uint32_t t = 3, m = 65536, p = 1; /* the client defaults of API.md §13 */
	/* The decoy salt is computed for every name, so that a failing MAC answers 500 for known
	 * and unknown names alike, and never a constant salt. */
	if (!mcd_auth_decoy_salt(r->srv, username, salt)) {
		json_decref(body);
		mcd_reply_error(r, 500, "internal");
		return;
	}
	mcd_store_status s = st->ops->user_by_name(st, username, &u);
	if (s == MCD_STORE_OK && !u->disabled) {
		memcpy(salt, u->kdf_salt, 16);
		t = u->kdf_t, m = u->kdf_m, p = u->kdf_p;
	} else if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND) {
		mcd_user_free(u);
		json_decref(body);
		mcd_reply_store(r, s);
		return;
	}
	mcd_user_free(u);
	mcd_gate g = mcd_throttle_check(r->srv, username, r->address);
	json_decref(body);
	json_t *pow = json_null();
	if (g.pow_required) {
		char challenge[48];
		if (!mcd_pow_challenge(r->srv, challenge)) {
			mcd_reply_error(r, 500, "internal");
			return;
		}
		pow = json_pack("{s:s, s:i}", "challenge", challenge, "bits", (int)r->srv->cfg.pow_bits);
	}
	char *salt_b64 = mcd_b64_encode(salt, sizeof salt);
	json_t *out = salt_b64 ? json_pack("{s:s, s:{s:s, s:i, s:i, s:i}, s:o}", "salt", salt_b64, "kdf", "alg",
	                                   "argon2id", "t", (int)t, "m", (int)m, "p", (int)p, "pow", pow)
	                       : NULL;
	free(salt_b64);
	if (!out) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	mcd_reply_json(r, 200, out);
}
