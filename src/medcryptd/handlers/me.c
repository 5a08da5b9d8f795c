/*
 * me.c: GET /api/v1/me (API.md §13): the signed-in user, the session's CSRF token and when the
 * session and its re-authentication window end.
 */
#include <openssl/crypto.h>

#include "../auth.h"
#include "handlers.h"

void mcd_h_me(mcd_request *r)
{
	char csrf[48];
	if (!mcd_csrf_token(r->srv, r->token_hash, csrf)) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	int64_t idle = r->session.last_seen + MCD_SESSION_IDLE_SECONDS;
	if (idle > r->session.expires)
		idle = r->session.expires;
	json_t *out =
	    json_pack("{s:o, s:s, s:{s:I, s:I, s:I}}", "user", mcd_user_json(r->user), "csrf_token", csrf, "session",
	              "idle_expires", (json_int_t)idle, "expires", (json_int_t)r->session.expires, "reauth_expires",
	              (json_int_t)(r->session.reauth_at ? r->session.reauth_at + MCD_REAUTH_SECONDS : 0));
	OPENSSL_cleanse(csrf, sizeof csrf);
	if (!out)
		mcd_reply_error(r, 500, "internal");
	else
		mcd_reply_json(r, 200, out);
}
