/*
 * auth.c: the authentication machinery of auth.h. Argon2id runs under a counting semaphore
 * (at most --max-hashes at once; a caller waits at most 5 s, then gets BUSY), so a flood of
 * logins costs bounded memory. Lockout state lives in the store (throttle rows "u:NAME" and
 * "a:ADDRESS") so it survives a restart; the proof-of-work challenge is stateless (time and
 * randomness under an HMAC of the server secret), and a small in-memory set remembers which
 * challenges were spent within their five minutes.
 */
#include "auth.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define ARGON_T      2
#define ARGON_M      19456
#define ARGON_P      1
#define ARGON_SALT   16
#define ARGON_LEN    32
#define POW_USED_MAX 8192
#define COOKIE_NAME  "__Host-medcrypt"

struct pow_used {
	uint8_t id[16];
	int64_t time;
};

struct mcd_auth {
	sem_t slots;
	char *decoy; /* Argon2id of a random key nobody knows */
	pthread_mutex_t pow_lock;
	struct pow_used used[POW_USED_MAX];
	size_t n_used;
};

/* One-shot HMAC-SHA-256 of the server secret over a || b. False when OpenSSL fails (logged, out
 * wiped): every caller refuses its request then, so a failure can never turn a CSRF token, a
 * proof-of-work MAC or a decoy salt into a constant. */
static bool hmac(const uint8_t key[32], const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	uint8_t stackbuf[256];
	uint8_t *msg = alen + blen <= sizeof stackbuf ? stackbuf : malloc(alen + blen);
	unsigned int len = 0;
	bool ok = false, nomem = !msg;
	if (msg) {
		memcpy(msg, a, alen);
		if (blen)
			memcpy(msg + alen, b, blen);
		ok = HMAC(EVP_sha256(), key, 32, msg, alen + blen, out, &len) != NULL && len == 32;
		OPENSSL_cleanse(msg, alen + blen);
		if (msg != stackbuf)
			free(msg);
	}
	if (!ok) {
		OPENSSL_cleanse(out, 32);
		unsigned long e = ERR_get_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		if (!why)
			why = nomem ? "out of memory" : "unknown";
		mcd_log(MCD_LOG_ERROR, "auth", "HMAC-SHA-256 failed: %s", why);
		ERR_clear_error();
	}
	return ok;
}

/* SHA-256 of len bytes; false when OpenSSL fails (logged). */
static bool sha256(const void *msg, size_t len, uint8_t out[32])
{
	if (EVP_Digest(msg, len, out, NULL, EVP_sha256(), NULL) == 1)
		return true;
	OPENSSL_cleanse(out, 32);
	mcd_log(MCD_LOG_ERROR, "auth", "SHA-256 failed");
	ERR_clear_error();
	return false;
}

static char *hash_encoded(const uint8_t key[32])
{
	uint8_t salt[ARGON_SALT];
	size_t enclen = argon2_encodedlen(ARGON_T, ARGON_M, ARGON_P, ARGON_SALT, ARGON_LEN, Argon2_id);
	char *enc = malloc(enclen);
	if (!enc || !mcd_random(salt, sizeof salt)) {
		free(enc);
		return NULL;
	}
	int rc = argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, key, 32, salt, sizeof salt, ARGON_LEN, enc, enclen);
	if (rc != ARGON2_OK) {
		mcd_log(MCD_LOG_ERROR, "auth", "argon2id_hash_encoded: %s", argon2_error_message(rc));
		free(enc);
		return NULL;
	}
	return enc;
}

bool mcd_auth_init(mcd_server *srv)
{
	struct mcd_auth *a = calloc(1, sizeof *a);
	if (!a)
		return false;
	if (sem_init(&a->slots, 0, srv->cfg.max_hashes) != 0) {
		free(a);
		return false;
	}
	pthread_mutex_init(&a->pow_lock, NULL);
	uint8_t key[32];
	if (mcd_random(key, sizeof key))
		a->decoy = hash_encoded(key);
	OPENSSL_cleanse(key, sizeof key);
	srv->auth = a;
	if (!a->decoy) {
		mcd_log(MCD_LOG_ERROR, "auth", "cannot compute the decoy hash");
		mcd_auth_fini(srv);
		return false;
	}
	return true;
}

void mcd_auth_fini(mcd_server *srv)
{
	struct mcd_auth *a = srv->auth;
	if (!a)
		return;
	sem_destroy(&a->slots);
	pthread_mutex_destroy(&a->pow_lock);
	free(a->decoy);
	free(a);
	srv->auth = NULL;
}

static bool take_slot(struct mcd_auth *a, unsigned wait_seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_seconds;
	mcd_metrics_gauge(MCD_G_HASHES_WAITING, 1);
	int rc;
	while ((rc = sem_timedwait(&a->slots, &until)) != 0 && errno == EINTR)
		;
	mcd_metrics_gauge(MCD_G_HASHES_WAITING, -1);
	if (rc != 0)
		return false;
	mcd_metrics_gauge(MCD_G_HASHES_RUNNING, 1);
	return true;
}

static void give_slot(struct mcd_auth *a)
{
	mcd_metrics_gauge(MCD_G_HASHES_RUNNING, -1);
	sem_post(&a->slots);
}

mcd_hash_result mcd_auth_hash(mcd_server *srv, const uint8_t auth_key[32], char **encoded)
{
	*encoded = NULL;
	if (!take_slot(srv->auth, srv->cfg.hash_wait_seconds))
		return MCD_HASH_BUSY;
	*encoded = hash_encoded(auth_key);
	give_slot(srv->auth);
	return *encoded ? MCD_HASH_OK : MCD_HASH_ERROR;
}

mcd_hash_result mcd_auth_verify(mcd_server *srv, const char *encoded, const uint8_t auth_key[32], bool *match)
{
	*match = false;
	if (!take_slot(srv->auth, srv->cfg.hash_wait_seconds))
		return MCD_HASH_BUSY;
	int rc = argon2id_verify(encoded ? encoded : srv->auth->decoy, auth_key, 32);
	give_slot(srv->auth);
	*match = encoded != NULL && rc == ARGON2_OK;
	if (rc != ARGON2_OK && rc != ARGON2_VERIFY_MISMATCH) {
		mcd_log(MCD_LOG_ERROR, "auth", "argon2id_verify: %s", argon2_error_message(rc));
		return MCD_HASH_ERROR;
	}
	return MCD_HASH_OK;
}

bool mcd_auth_decoy_salt(mcd_server *srv, const char *username, uint8_t salt[16])
{
	uint8_t mac[32];
	bool ok = hmac(srv->secret, "prelogin", 8, username, strlen(username), mac);
	memcpy(salt, mac, 16);
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

/* ---- sessions ---- */

bool mcd_csrf_token(mcd_server *srv, const uint8_t token_hash[32], char out[48])
{
	uint8_t mac[32];
	bool ok = hmac(srv->secret, "csrf", 4, token_hash, 32, mac);
	if (ok)
		mcd_b64url_encode(mac, sizeof mac, out);
	else
		OPENSSL_cleanse(out, 48);
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

bool mcd_session_start(mcd_request *r, int64_t user_id, const mcd_audit_event *ev, char cookie[160], char csrf[48])
{
	uint8_t token[32];
	char token_text[48];
	bool ok = false;
	if (!mcd_random(token, sizeof token))
		goto cleanup;
	mcd_session se = {0};
	/* The CSRF token before the session: no session is stored that could not be given one. */
	if (!sha256(token, sizeof token, se.token_hash) || !mcd_csrf_token(r->srv, se.token_hash, csrf))
		goto cleanup;
	int64_t now = mcd_now();
	se.user_id = user_id;
	se.created = now;
	se.last_seen = now;
	se.expires = now + r->srv->cfg.session_max_seconds;
	se.reauth_at = 0; /* share, revoke and key changes need an explicit POST /reauth */
	if (r->srv->store->ops->session_create(r->srv->store, &se, ev) != MCD_STORE_OK)
		goto cleanup;
	mcd_b64url_encode(token, sizeof token, token_text);
	snprintf(cookie, 160, COOKIE_NAME "=%s; Path=/; Secure; HttpOnly; SameSite=Strict", token_text);
	r->session = se;
	memcpy(r->token_hash, se.token_hash, 32);
	mcd_metrics_add(MCD_M_SESSIONS_CREATED, 1);
	ok = true;
cleanup:
	if (!ok)
		OPENSSL_cleanse(csrf, 48);
	OPENSSL_cleanse(token, sizeof token);
	OPENSSL_cleanse(token_text, sizeof token_text);
	return ok;
}

const char *mcd_session_clear_cookie(void)
{
	return COOKIE_NAME "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";
}

mcd_check mcd_session_load(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE_NAME);
	uint8_t token[32];
	if (!cookie || !mcd_b64url_decode_exact(cookie, token, sizeof token))
		return MCD_CHECK_FAIL;
	uint8_t hash[32];
	bool ok = sha256(token, sizeof token, hash);
	OPENSSL_cleanse(token, sizeof token);
	if (!ok)
		return MCD_CHECK_ERROR;
	mcd_session se;
	if (st->ops->session_get(st, hash, &se) != MCD_STORE_OK)
		return MCD_CHECK_FAIL;
	int64_t now = mcd_now();
	int64_t idle = r->srv->cfg.session_idle_seconds;
	if (now - se.last_seen > idle || now >= se.expires) {
		st->ops->session_delete(st, hash, NULL);
		return MCD_CHECK_FAIL;
	}
	mcd_user *u = NULL;
	if (st->ops->user_by_id(st, se.user_id, &u) != MCD_STORE_OK || u->disabled) {
		mcd_user_free(u);
		return MCD_CHECK_FAIL;
	}
	/* Reads must not write on every request: last_seen moves at most once a minute (or a
	 * thirtieth of the idle time, when tests make it short). */
	int64_t touch = idle / 30 < MCD_SESSION_TOUCH_SECONDS ? idle / 30 : MCD_SESSION_TOUCH_SECONDS;
	if (now - se.last_seen >= touch && st->ops->session_touch(st, hash, now) == MCD_STORE_OK)
		se.last_seen = now;
	r->user = u;
	r->session = se;
	memcpy(r->token_hash, hash, 32);
	return MCD_CHECK_PASS;
}

mcd_check mcd_csrf_check(mcd_request *r)
{
	const char *got = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
	char want[48];
	if (!mcd_csrf_token(r->srv, r->token_hash, want))
		return MCD_CHECK_ERROR;
	size_t n = strlen(want);
	bool ok = got && strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
	OPENSSL_cleanse(want, sizeof want);
	return ok ? MCD_CHECK_PASS : MCD_CHECK_FAIL;
}

/* ---- lockout ---- */

static void throttle_key(char *out, size_t cap, char kind, const char *name)
{
	snprintf(out, cap, "%c:%s", kind, name);
}

static void gate_from(const mcd_throttle *t, int64_t now, mcd_gate *g)
{
	if (t->locked_until > now) {
		g->locked = true;
		if (t->locked_until - now > g->retry_after)
			g->retry_after = t->locked_until - now;
	}
	if (t->failures >= MCD_POW_AFTER)
		g->pow_required = true;
}

mcd_gate mcd_throttle_check(mcd_server *srv, const char *username, const char *address)
{
	mcd_gate g = {0};
	mcd_store *st = srv->store;
	char key[160];
	int64_t now = mcd_now();
	mcd_throttle t;
	throttle_key(key, sizeof key, 'u', username);
	if (st->ops->throttle_get(st, key, &t) == MCD_STORE_OK)
		gate_from(&t, now, &g);
	throttle_key(key, sizeof key, 'a', address);
	if (st->ops->throttle_get(st, key, &t) == MCD_STORE_OK)
		gate_from(&t, now, &g);
	return g;
}

/* One more failure on t; true when it locks now. */
static bool count_failure(mcd_server *srv, mcd_throttle *t, int64_t now)
{
	t->failures++;
	if (t->failures % MCD_LOCKOUT_AFTER != 0)
		return false;
	int64_t seconds = srv->cfg.lockout_base_seconds;
	for (int i = 0; i < t->lockouts && seconds < MCD_LOCKOUT_CAP_SECONDS; i++)
		seconds *= 2;
	if (seconds > MCD_LOCKOUT_CAP_SECONDS)
		seconds = MCD_LOCKOUT_CAP_SECONDS;
	t->locked_until = now + seconds;
	t->lockouts++;
	return true;
}

mcd_gate mcd_throttle_fail(mcd_request *r, const char *username)
{
	mcd_gate g = {0};
	mcd_store *st = r->srv->store;
	int64_t now = mcd_now();
	char ukey[160], akey[160];
	throttle_key(ukey, sizeof ukey, 'u', username);
	throttle_key(akey, sizeof akey, 'a', r->address);
	mcd_throttle tu = {0}, ta = {0};
	if (st->ops->throttle_get(st, ukey, &tu) != MCD_STORE_OK)
		memset(&tu, 0, sizeof tu);
	if (st->ops->throttle_get(st, akey, &ta) != MCD_STORE_OK)
		memset(&ta, 0, sizeof ta);
	bool ulock = count_failure(r->srv, &tu, now), alock = count_failure(r->srv, &ta, now);
	mcd_audit_event failed = mcd_event(r, "login_failed", username, "failed", NULL);
	failed.actor = "-";
	char detail[96];
	snprintf(detail, sizeof detail, "{\"account\":%s,\"address\":%s}", ulock ? "true" : "false",
	         alock ? "true" : "false");
	mcd_audit_event lock = mcd_event(r, "lockout", username, "denied", detail);
	lock.actor = "-";
	st->ops->throttle_put(st, ukey, &tu, &failed);
	st->ops->throttle_put(st, akey, &ta, ulock || alock ? &lock : NULL);
	mcd_metrics_add(MCD_M_LOGINS_FAILED, 1);
	if (ulock || alock)
		mcd_metrics_add(MCD_M_LOCKOUTS, 1);
	gate_from(&tu, now, &g);
	gate_from(&ta, now, &g);
	return g;
}

void mcd_throttle_success(mcd_server *srv, const char *username)
{
	char key[160];
	throttle_key(key, sizeof key, 'u', username);
	mcd_throttle t = {0};
	srv->store->ops->throttle_put(srv->store, key, &t, NULL);
	mcd_metrics_add(MCD_M_LOGINS_OK, 1);
}

mcd_store_status mcd_throttle_account(mcd_server *srv, const char *username, mcd_throttle *out)
{
	char key[160];
	throttle_key(key, sizeof key, 'u', username);
	mcd_store_status s = srv->store->ops->throttle_get(srv->store, key, out);
	if (s != MCD_STORE_OK)
		memset(out, 0, sizeof *out);
	return s;
}

mcd_store_status mcd_throttle_unlock(mcd_server *srv, const char *username, const mcd_audit_event *ev)
{
	char key[160];
	throttle_key(key, sizeof key, 'u', username);
	mcd_throttle t = {0};
	return srv->store->ops->throttle_put(srv->store, key, &t, ev);
}

/* ---- proof of work ---- */

static bool pow_mac(mcd_server *srv, const uint8_t head[16], uint8_t mac[16])
{
	uint8_t full[32];
	bool ok = hmac(srv->secret, "pow", 3, head, 16, full);
	memcpy(mac, full, 16);
	OPENSSL_cleanse(full, sizeof full);
	return ok;
}

bool mcd_pow_challenge(mcd_server *srv, char out[48])
{
	uint8_t c[32];
	uint64_t now = (uint64_t)mcd_now();
	for (int i = 0; i < 8; i++)
		c[i] = (uint8_t)(now >> (56 - 8 * i));
	char *b64 = NULL;
	if (mcd_random(c + 8, 8) && pow_mac(srv, c, c + 16))
		b64 = mcd_b64_encode(c, sizeof c);
	bool ok = b64 != NULL;
	snprintf(out, 48, "%s", ok ? b64 : "");
	free(b64);
	return ok;
}

static bool leading_zero_bits(const uint8_t *h, unsigned bits)
{
	for (unsigned i = 0; i < bits; i++)
		if (h[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

/* Marks the challenge used; false when it was already. Drops entries past their lifetime. */
static bool pow_spend(struct mcd_auth *a, const uint8_t id[16], int64_t now)
{
	bool fresh = true;
	pthread_mutex_lock(&a->pow_lock);
	size_t w = 0;
	for (size_t i = 0; i < a->n_used; i++) {
		if (now - a->used[i].time > MCD_POW_MAX_AGE + 10)
			continue;
		if (CRYPTO_memcmp(a->used[i].id, id, 16) == 0)
			fresh = false;
		a->used[w++] = a->used[i];
	}
	a->n_used = w;
	if (fresh && a->n_used == POW_USED_MAX)
		fresh = false; /* under a flood of valid solutions, refuse rather than forget */
	if (fresh) {
		memcpy(a->used[a->n_used].id, id, 16);
		a->used[a->n_used].time = now;
		a->n_used++;
	}
	pthread_mutex_unlock(&a->pow_lock);
	return fresh;
}

mcd_check mcd_pow_check(mcd_server *srv, const char *challenge_b64, const char *nonce_b64)
{
	uint8_t *c = NULL, *nonce = NULL;
	size_t clen = 0, nlen = 0;
	mcd_check result = MCD_CHECK_FAIL;
	if (!challenge_b64 || !nonce_b64 || !mcd_b64_decode(challenge_b64, &c, &clen) || clen != 32 ||
	    !mcd_b64_decode(nonce_b64, &nonce, &nlen) || nlen < 1 || nlen > 64)
		goto cleanup;
	uint8_t mac[16];
	if (!pow_mac(srv, c, mac)) {
		result = MCD_CHECK_ERROR;
		goto cleanup;
	}
	if (CRYPTO_memcmp(mac, c + 16, 16) != 0)
		goto cleanup;
	uint64_t when = 0;
	for (int i = 0; i < 8; i++)
		when = when << 8 | c[i];
	int64_t now = mcd_now();
	if ((int64_t)when > now + 5 || now - (int64_t)when > MCD_POW_MAX_AGE)
		goto cleanup;
	uint8_t msg[96], h[32];
	memcpy(msg, c, 32);
	memcpy(msg + 32, nonce, nlen);
	if (!sha256(msg, 32 + nlen, h)) {
		result = MCD_CHECK_ERROR;
		goto cleanup;
	}
	if (leading_zero_bits(h, srv->cfg.pow_bits) && pow_spend(srv->auth, c, now))
		result = MCD_CHECK_PASS;
cleanup:
	free(c);
	free(nonce);
	return result;
}
