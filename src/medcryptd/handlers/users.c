/*
 * users.c: the user directory (API.md §16): GET /api/v1/users[?role=R], GET
 * /api/v1/users/{username} (public identities and fingerprints; disabled users are hidden
 * except from the admin, whose answers say which account is disabled, so that it can be enabled
 * again, and until when a locked-out account is locked) and PATCH /api/v1/users/{username}
 * (admin: role, disabled, unlock, email; the e-mail address of notice mails is shown to the admin
 * only, in the answers about one user). An admin cannot change or disable their own account here (their own email
 * apart), so the server cannot lose
 * its last admin by a slip; `medcryptd invite` is the way back in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth.h"
#include "../mailaddr.h"
#include "../rights.h"
#include "../util.h"
#include "handlers.h"

/* Whether the caller sees disabled accounts: who may enable them again (rights.c). */
static bool sees_disabled(const mcd_request *r)
{
	return mcd_role_has(r->user->role, MCD_RIGHT_MANAGE_USERS);
}

/* USER, with "disabled" and "locked_until" (the end of a lockout after failed logins, 0 when not
 * locked) for those who see disabled accounts: who may enable and unlock them. */
static json_t *user_json_for(const mcd_request *r, const mcd_user *u)
{
	json_t *o = mcd_user_json(u);
	if (!o || !sees_disabled(r))
		return o;
	mcd_throttle t;
	/* a store failure reads as not locked, as it does for the login itself */
	mcd_throttle_account(r->srv, u->username, &t);
	int64_t until = t.locked_until > mcd_now() ? t.locked_until : 0;
	if (json_object_set_new(o, "disabled", json_boolean(u->disabled)) != 0 ||
	    json_object_set_new(o, "locked_until", json_integer((json_int_t)until)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* user_json_for with the e-mail address of notice mails (string or null) for the admin: only
 * in the answers about one user, never in listings, never to anyone else. NULL on failure. */
static json_t *user_json_with_email(const mcd_request *r, const mcd_user *u)
{
	json_t *o = user_json_for(r, u);
	if (!o || !sees_disabled(r))
		return o;
	mcd_store *st = r->srv->store;
	char *email = NULL;
	if (st->ops->user_email_get(st, u->id, &email) != MCD_STORE_OK ||
	    json_object_set_new(o, "email", email ? json_string(email) : json_null()) != 0) {
		json_decref(o);
		o = NULL;
	}
	free(email);
	return o;
}

struct listing {
	const mcd_request *r;
	json_t *users;
};

static int add_user(void *ctx, const mcd_user *u)
{
	struct listing *l = ctx;
	json_t *o = user_json_for(l->r, u);
	return o ? json_array_append_new(l->users, o) : -1;
}

void mcd_h_users_list(mcd_request *r)
{
	mcd_role role = MCD_ROLE_NONE;
	const char *q = mcd_request_arg(r, "role");
	if (q && (role = mcd_role_parse(q)) == MCD_ROLE_NONE) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	struct listing l = {r, json_array()};
	mcd_store *st = r->srv->store;
	mcd_store_status s = l.users ? st->ops->users_list(st, role, sees_disabled(r), add_user, &l) : MCD_STORE_NOMEM;
	if (s != MCD_STORE_OK) {
		json_decref(l.users);
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 200, json_pack("{s:o}", "users", l.users));
}

void mcd_h_user_get(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *u = NULL;
	mcd_store_status s = st->ops->user_by_name(st, r->params[0], &u);
	if (s == MCD_STORE_OK && u->disabled && !sees_disabled(r))
		s = MCD_STORE_NOT_FOUND;
	if (s != MCD_STORE_OK) {
		mcd_user_free(u);
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 200, user_json_with_email(r, u));
	mcd_user_free(u);
}

void mcd_h_user_patch(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *u = NULL;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	json_t *role_v = json_object_get(body, "role"), *dis_v = json_object_get(body, "disabled");
	json_t *unlock_v = json_object_get(body, "unlock");
	json_t *email_v = json_object_get(body, "email"); /* a string sets, null clears */
	mcd_role role = MCD_ROLE_NONE;
	if ((!role_v && !dis_v && !unlock_v && !email_v) ||
	    (email_v && !json_is_null(email_v) && !mcd_mail_address_valid(json_string_value(email_v))) ||
	    (role_v &&
	     (!json_is_string(role_v) || (role = mcd_role_parse(json_string_value(role_v))) == MCD_ROLE_NONE)) ||
	    (dis_v && !json_is_boolean(dis_v)) || (unlock_v && !json_is_true(unlock_v))) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	mcd_store_status s = st->ops->user_by_name(st, r->params[0], &u);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	if (u->id == r->user->id && (role_v || dis_v || unlock_v)) { /* the admin's own address may change */
		mcd_reply_error(r, 409, "conflict");
		goto cleanup;
	}
	char detail[96];
	if (role_v) {
		snprintf(detail, sizeof detail, "{\"from\":\"%s\",\"to\":\"%s\"}", mcd_role_name(u->role),
		         mcd_role_name(role));
		mcd_audit_event ev = mcd_event(r, "role_change", u->username, "ok", detail);
		if ((s = st->ops->user_update(st, u->id, role, -1, &ev)) != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
	}
	if (dis_v) {
		bool disabled = json_is_true(dis_v);
		snprintf(detail, sizeof detail, "{\"disabled\":%s}", disabled ? "true" : "false");
		mcd_audit_event ev = mcd_event(r, "disable", u->username, "ok", detail);
		if ((s = st->ops->user_update(st, u->id, MCD_ROLE_NONE, disabled ? 1 : 0, &ev)) != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
	}
	if (unlock_v) {
		/* the lockout of failed logins, and their count, start again (the addresses' stay) */
		mcd_throttle t;
		if ((s = mcd_throttle_account(r->srv, u->username, &t)) != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
		snprintf(detail, sizeof detail, "{\"failures\":%d,\"locked_until\":%lld}", t.failures,
		         (long long)t.locked_until);
		mcd_audit_event ev = mcd_event(r, "unlock", u->username, "ok", detail);
		if ((s = mcd_throttle_unlock(r->srv, u->username, &ev)) != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
	}
	if (email_v) {
		/* the audit log says whether an address is set, never the address: the log is kept for
		 * good, an address can be corrected or removed */
		bool set = !json_is_null(email_v);
		snprintf(detail, sizeof detail, "{\"email\":\"%s\"}", set ? "set" : "cleared");
		mcd_audit_event ev = mcd_event(r, "email_change", u->username, "ok", detail);
		if ((s = st->ops->user_email_set(st, u->id, set ? json_string_value(email_v) : NULL, &ev)) !=
		    MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
	}
	int64_t id = u->id;
	mcd_user_free(u);
	u = NULL;
	if ((s = st->ops->user_by_id(st, id, &u)) != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_reply_json(r, 200, user_json_with_email(r, u));
cleanup:
	mcd_user_free(u);
	json_decref(body);
}
