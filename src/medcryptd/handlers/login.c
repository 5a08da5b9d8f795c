/*
 * login.c: POST /api/v1/login and POST /api/v1/reauth (API.md §13). Both check an auth_key
 * against the stored Argon2id hash, and both count failures toward the lockout of the account
 * and of the address. The order matters: a locked account or address is refused before any
 * hash is computed, then a proof of work is demanded once there were 3 failures, then the
 * hash runs under the concurrency limit. An unknown user costs the same hash as a known one
 * (a decoy) and gets the same answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../auth.h"
#include "../util.h"
#include "handlers.h"

static void reply_locked(mcd_request *r, int64_t retry_after)
{
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)retry_after);
	mcd_reply_error_with(r, 429, "locked", json_pack("{s:I}", "retry_after", (json_int_t)retry_after));
	mcd_reply_header(r, "Retry-After", secs);
}

static void reply_pow(mcd_request *r)
{
	char challenge[48];
	if (!mcd_pow_challenge(r->srv, challenge)) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	mcd_reply_error_with(
	    r, 403, "pow_required",
	    json_pack("{s:{s:s, s:i}}", "pow", "challenge", challenge, "bits", (int)r->srv->cfg.pow_bits));
}

static void reply_busy(mcd_request *r)
{
	mcd_reply_error(r, 503, "busy");
	mcd_reply_header(r, "Retry-After", "1");
}

/* Reads the 32-byte auth_key member; false after replying 400. */
static bool read_auth_key(mcd_request *r, json_t *body, uint8_t key[32])
{
	uint8_t *raw = NULL;
	size_t len = 0;
	bool ok = mcd_json_b64(body, "auth_key", 32, 32, &raw, &len);
	if (ok)
		memcpy(key, raw, 32);
	if (raw) {
		OPENSSL_cleanse(raw, len);
		free(raw);
	}
	if (!ok)
		mcd_reply_error(r, 400, "bad_request");
	return ok;
}

/* Checks key for username (u NULL when unknown). Replies on failure; true on a match. */
static bool check_key(mcd_request *r, const char *username, const mcd_user *u, const uint8_t key[32])
{
	bool match = false;
	mcd_hash_result h = mcd_auth_verify(r->srv, u ? u->auth_hash : NULL, key, &match);
	if (h == MCD_HASH_BUSY) {
		reply_busy(r);
		return false;
	}
	if (h == MCD_HASH_ERROR) {
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	if (match)
		return true;
	mcd_gate g = mcd_throttle_fail(r, username);
	if (g.locked)
		reply_locked(r, g.retry_after);
	else
		mcd_reply_error(r, 401, "bad_credentials");
	return false;
}

void mcd_h_login(mcd_request *r)
{
	uint8_t key[32] = {0};
	mcd_user *u = NULL;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *username = mcd_json_str(body, "username");
	if (!username || !mcd_valid_username(username)) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	if (!read_auth_key(r, body, key))
		goto cleanup;
	mcd_gate g = mcd_throttle_check(r->srv, username, r->address);
	if (g.locked) {
		reply_locked(r, g.retry_after);
		goto cleanup;
	}
	if (g.pow_required) {
		json_t *pow = json_object_get(body, "pow");
		mcd_check solved = json_is_object(pow) ? mcd_pow_check(r->srv, mcd_json_str(pow, "challenge"),
		                                                       mcd_json_str(pow, "nonce"))
		                                       : MCD_CHECK_FAIL;
		if (solved == MCD_CHECK_ERROR) {
			mcd_reply_error(r, 500, "internal");
			goto cleanup;
		}
		if (solved != MCD_CHECK_PASS) {
			reply_pow(r);
			goto cleanup;
		}
	}
	mcd_store *st = r->srv->store;
	mcd_store_status s = st->ops->user_by_name(st, username, &u);
	if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	if (u && u->disabled) {
		mcd_user_free(u);
		u = NULL;
	}
	if (!check_key(r, username, u, key))
		goto cleanup;
	mcd_throttle_success(r->srv, username);
	mcd_audit_event ev = mcd_event(r, "login", username, "ok", NULL);
	ev.actor = u->username;
	char cookie[160], csrf[48];
	if (!mcd_session_start(r, u->id, &ev, cookie, csrf)) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	char *wrapped = mcd_b64_encode(u->wrapped_password, u->wrapped_password_len);
	json_t *out = wrapped ? json_pack("{s:o, s:s, s:{s:s}}", "user", mcd_user_json(u), "csrf_token", csrf,
	                                  "wrapped_keys", "password", wrapped)
	                      : NULL;
	free(wrapped);
	OPENSSL_cleanse(csrf, sizeof csrf);
	if (!out) {
		mcd_reply_error(r, 500, "internal");
	} else {
		mcd_reply_json(r, 200, out);
		mcd_reply_header(r, "Set-Cookie", cookie);
	}
	OPENSSL_cleanse(cookie, sizeof cookie);
cleanup:
	OPENSSL_cleanse(key, sizeof key);
	mcd_user_free(u);
	json_decref(body);
}

void mcd_h_reauth(mcd_request *r)
{
	uint8_t key[32] = {0};
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	if (!read_auth_key(r, body, key))
		goto cleanup;
	const char *username = r->user->username;
	mcd_gate g = mcd_throttle_check(r->srv, username, r->address);
	if (g.locked) {
		reply_locked(r, g.retry_after);
		goto cleanup;
	}
	if (!check_key(r, username, r->user, key))
		goto cleanup;
	mcd_throttle_success(r->srv, username);
	mcd_store *st = r->srv->store;
	int64_t now = mcd_now();
	mcd_store_status s = st->ops->session_set_reauth(st, r->token_hash, now);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	r->session.reauth_at = now;
	mcd_reply_empty(r, 204);
cleanup:
	OPENSSL_cleanse(key, sizeof key);
	json_decref(body);
}
