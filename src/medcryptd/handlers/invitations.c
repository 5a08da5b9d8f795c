/*
 * invitations.c: the admin's invitations (API.md §13): POST /api/v1/invitations makes one,
 * GET /api/v1/invitations lists the pending ones and DELETE /api/v1/invitations/{id} cancels
 * one. The code is 20 random bytes in base32; the store keeps only its SHA-256, and the code
 * itself is never logged, audited or listed: an invitation is named by a separate random id.
 * mcd_invitation_new is shared with `medcryptd invite` and the first start.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "../util.h"
#include "handlers.h"
#include "invitations.h"

mcd_store_status mcd_invitation_make(mcd_store *st, mcd_role role, int64_t lifetime, int64_t created_by,
                                     const mcd_audit_event *ev, char code[33], char id[33], int64_t *expires)
{
	uint8_t raw[20], hash[32], id_raw[16];
	mcd_store_status s = MCD_STORE_ERROR;
	mcd_invitation inv = {.role = role, .created = mcd_now(), .created_by = created_by};
	if (!mcd_random(raw, sizeof raw) || !mcd_random(id_raw, sizeof id_raw))
		goto cleanup;
	mcd_base32_20(raw, code);
	mcd_hex(id_raw, sizeof id_raw, inv.id);
	if (!mcd_invitation_hash(code, hash))
		goto cleanup;
	inv.expires = *expires = inv.created + lifetime;
	s = st->ops->invitation_create(st, hash, &inv, ev);
	if (s == MCD_STORE_OK && id)
		memcpy(id, inv.id, sizeof inv.id);
cleanup:
	OPENSSL_cleanse(raw, sizeof raw);
	OPENSSL_cleanse(hash, sizeof hash);
	if (s != MCD_STORE_OK)
		OPENSSL_cleanse(code, 33);
	return s;
}

void mcd_h_invitation_create(mcd_request *r)
{
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *role_name = mcd_json_str(body, "role");
	mcd_role role = role_name ? mcd_role_parse(role_name) : MCD_ROLE_NONE;
	json_t *exp = json_object_get(body, "expires_in");
	int64_t lifetime = MCD_INVITE_DEFAULT_SECONDS;
	if (exp && !json_is_null(exp)) {
		lifetime = json_is_integer(exp) ? json_integer_value(exp) : -1;
		if (lifetime < 60 || lifetime > MCD_INVITE_MAX_SECONDS)
			role = MCD_ROLE_NONE;
	}
	if (role == MCD_ROLE_NONE) {
		json_decref(body);
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	char detail[64], code[33], id[33];
	int64_t expires = 0;
	snprintf(detail, sizeof detail, "{\"role\":\"%s\"}", mcd_role_name(role));
	mcd_audit_event ev = mcd_event(r, "invite", mcd_role_name(role), "ok", detail);
	mcd_store_status s = mcd_invitation_make(r->srv->store, role, lifetime, r->user->id, &ev, code, id, &expires);
	json_decref(body);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 201,
	               json_pack("{s:s, s:s, s:s, s:I}", "code", code, "id", id, "role", mcd_role_name(role), "expires",
	                         (json_int_t)expires));
	OPENSSL_cleanse(code, sizeof code);
}

mcd_store_status mcd_invitation_new(mcd_store *st, mcd_role role, int64_t lifetime, int64_t created_by,
                                    const mcd_audit_event *ev, char code[33], int64_t *expires)
{
	return mcd_invitation_make(st, role, lifetime, created_by, ev, code, NULL, expires);
}

/* INVITATION of API.md §13; created is null when unknown (made before the server kept it),
 * created_by null for the server itself. */
static json_t *invitation_json(const mcd_invitation *inv)
{
	const char *role = mcd_role_name(inv->role);
	return json_pack("{s:s, s:s, s:o, s:I, s:o}", "id", inv->id, "role", role ? role : "none", "created",
	                 inv->created > 0 ? json_integer(inv->created) : json_null(), "expires",
	                 (json_int_t)inv->expires, "created_by",
	                 inv->created_by_name ? json_string(inv->created_by_name) : json_null());
}

static int add_invitation(void *ctx, const mcd_invitation *inv)
{
	json_t *o = invitation_json(inv);
	return o ? json_array_append_new(ctx, o) : -1;
}

void mcd_h_invitations_list(mcd_request *r)
{
	json_t *list = json_array();
	mcd_store *st = r->srv->store;
	mcd_store_status s = list ? st->ops->invitations_pending(st, mcd_now(), add_invitation, list) : MCD_STORE_NOMEM;
	if (s != MCD_STORE_OK) {
		json_decref(list);
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 200, json_pack("{s:o}", "invitations", list));
}

void mcd_h_invitation_delete(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_invitation *inv = NULL;
	mcd_store_status s = st->ops->invitation_get(st, r->params[0], &inv);
	if (s == MCD_STORE_OK) {
		char detail[96];
		snprintf(detail, sizeof detail, "{\"role\":\"%s\",\"expires\":%lld}", mcd_role_name(inv->role),
		         (long long)inv->expires);
		mcd_audit_event ev = mcd_event(r, "invite_cancel", inv->id, "ok", detail);
		s = st->ops->invitation_delete(st, inv->id, &ev);
	}
	mcd_invitation_free(inv);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_empty(r, 204);
}
