/*
 * logout.c: POST /api/v1/logout (this session) and POST /api/v1/logout-all (every session of
 * the user), API.md §13. Both clear the cookie.
 */
#include "../auth.h"
#include "handlers.h"

void mcd_h_logout(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_audit_event ev = mcd_event(r, "logout", r->user->username, "ok", NULL);
	mcd_store_status s = st->ops->session_delete(st, r->token_hash, &ev);
	if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_empty(r, 204);
	mcd_reply_header(r, "Set-Cookie", mcd_session_clear_cookie());
}

void mcd_h_logout_all(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_audit_event ev = mcd_event(r, "logout", r->user->username, "ok", "{\"all\":true}");
	mcd_store_status s = st->ops->sessions_delete_user(st, r->user->id, &ev);
	if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_empty(r, 204);
	mcd_reply_header(r, "Set-Cookie", mcd_session_clear_cookie());
}
