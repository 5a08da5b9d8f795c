/*
 * auth.h: accounts without passwords on the wire (API.md §13): Argon2id of the client's
 * auth_key under a bounded number of concurrent computations, sessions held by the SHA-256 of
 * a random token, CSRF tokens derived from the session, lockout per account and per address,
 * and a stateless proof-of-work challenge after repeated failures.
 *
 * Every secret a function here handles (auth keys, tokens, the server secret) is wiped after
 * use and compared with CRYPTO_memcmp. Nothing here writes a secret to a log.
 *
 * Every MAC, digest, KDF and random call here can fail, and each failure is logged and
 * reported to the caller, which refuses the request with 500 "internal": a token, salt or
 * challenge is never answered from a MAC that was not computed.
 */
#ifndef MEDCRYPTD_AUTH_H
#define MEDCRYPTD_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "server.h"

/* Sets up the hashing semaphore, the decoy hash for unknown users and the proof-of-work
 * replay set. False on failure (logged). mcd_auth_fini (NULL-safe state) frees them. */
bool mcd_auth_init(mcd_server *srv);
void mcd_auth_fini(mcd_server *srv);

/* The outcome of a check of a request: it passed; it failed (the request is refused as that
 * check says, e.g. 401 or 403); or it could not be made (a MAC or digest failed, logged: the
 * caller answers 500). */
typedef enum mcd_check { MCD_CHECK_PASS = 0, MCD_CHECK_FAIL = 1, MCD_CHECK_ERROR = 2 } mcd_check;

typedef enum mcd_hash_result { MCD_HASH_OK = 0, MCD_HASH_BUSY = 1, MCD_HASH_ERROR = 2 } mcd_hash_result;

/* Argon2id(auth_key) with a fresh salt and the server's parameters (t=2, m=19456 KiB, p=1), as
 * an encoded string in *encoded (malloc'd, free with free()). BUSY when no slot freed up within
 * 5 s. */
mcd_hash_result mcd_auth_hash(mcd_server *srv, const uint8_t auth_key[32], char **encoded);
/* Checks auth_key against encoded; encoded NULL checks against a decoy so that an unknown user
 * costs the same time and always fails. */
mcd_hash_result mcd_auth_verify(mcd_server *srv, const char *encoded, const uint8_t auth_key[32], bool *match);

/* The stable pre-login salt of an unknown username: HMAC(secret, "prelogin" || username)[:16].
 * False when the MAC failed (logged; salt is then zeros and must not be used). */
bool mcd_auth_decoy_salt(mcd_server *srv, const char *username, uint8_t salt[16]);

/* Starts a session for user_id (its audit event ev, e.g. "login", is appended with it). Fills
 * the Set-Cookie header value (cookie, 160 bytes) and the CSRF token (csrf, 48 bytes), and
 * r->session/r->token_hash. False (csrf wiped, no session stored) when the randomness, a
 * digest, the CSRF MAC or the store failed. */
bool mcd_session_start(mcd_request *r, int64_t user_id, const mcd_audit_event *ev, char cookie[160], char csrf[48]);
/* Loads the session named by the request's cookie and its user into r (r->user, r->session).
 * FAIL when there is none, it expired (it is deleted then) or the user is disabled; ERROR when
 * the cookie's digest could not be computed. */
mcd_check mcd_session_load(mcd_request *r);
/* The Set-Cookie value that clears the cookie. */
const char *mcd_session_clear_cookie(void);
/* The CSRF token of a session: base64url(HMAC(secret, "csrf" || token_hash)). False (out
 * wiped) when the MAC failed. */
bool mcd_csrf_token(mcd_server *srv, const uint8_t token_hash[32], char out[48]);
/* Whether the request carries its session's CSRF token (constant-time comparison): PASS or
 * FAIL; ERROR when the expected token could not be computed. */
mcd_check mcd_csrf_check(mcd_request *r);

/* Lockout and proof of work for one attempt by username from address. */
typedef struct mcd_gate {
	bool locked;
	int64_t retry_after; /* seconds, when locked */
	bool pow_required;
} mcd_gate;
/* The state before an attempt (store failures read as not locked, and are logged). */
mcd_gate mcd_throttle_check(mcd_server *srv, const char *username, const char *address);
/* Records a failed attempt (audited as login_failed, and lockout when it locks); returns the
 * state after it. action is "login_failed" for logins and re-authentications alike. */
mcd_gate mcd_throttle_fail(mcd_request *r, const char *username);
/* Records a success: the account's counters start again (not the address's). */
void mcd_throttle_success(mcd_server *srv, const char *username);
/* The lockout state of the account username (all zero when it has none) into *out; a store
 * failure is returned (and *out zeroed). */
mcd_store_status mcd_throttle_account(mcd_server *srv, const char *username, mcd_throttle *out);
/* Clears the account's counters and lockout (an admin's unlock, API.md §16), appending ev in the
 * same transaction. The counters of addresses are left alone: an address is not the account. */
mcd_store_status mcd_throttle_unlock(mcd_server *srv, const char *username, const mcd_audit_event *ev);

/* A new challenge (32 bytes: time, random, MAC), base64 into out (48 bytes). False (out empty)
 * when the randomness or the MAC failed. */
bool mcd_pow_challenge(mcd_server *srv, char out[48]);
/* PASS when challenge (base64) is ours, fresh, unused, and SHA-256(challenge || nonce) starts
 * with cfg.pow_bits zero bits (a good one is marked used); FAIL otherwise; ERROR when the MAC
 * or the digest could not be computed. */
mcd_check mcd_pow_check(mcd_server *srv, const char *challenge_b64, const char *nonce_b64);

#endif
