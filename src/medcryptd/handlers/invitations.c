/*
 * invitations.c: POST /api/v1/invitations (admin; API.md §13). The code is 20 random bytes in
 * base32; the store keeps only its SHA-256, and the code itself is never logged or audited.
 * mcd_invitation_new is shared with `medcryptd invite` and the first start.
 */
#include <openssl/crypto.h>
#include <stdio.h>

#include "../util.h"
#include "handlers.h"
#include "invitations.h"

mcd_store_status mcd_invitation_new(mcd_store *st, mcd_role role, int64_t lifetime, int64_t created_by,
                                    const mcd_audit_event *ev, char code[33], int64_t *expires)
{
	uint8_t raw[20], hash[32];
	mcd_store_status s = MCD_STORE_ERROR;
	if (!mcd_random(raw, sizeof raw))
		goto cleanup;
	mcd_base32_20(raw, code);
	if (!mcd_invitation_hash(code, hash))
		goto cleanup;
	*expires = mcd_now() + lifetime;
	s = st->ops->invitation_create(st, hash, role, *expires, created_by, ev);
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
	char detail[64], code[33];
	int64_t expires = 0;
	snprintf(detail, sizeof detail, "{\"role\":\"%s\"}", mcd_role_name(role));
	mcd_audit_event ev = mcd_event(r, "invite", mcd_role_name(role), "ok", detail);
	mcd_store_status s = mcd_invitation_new(r->srv->store, role, lifetime, r->user->id, &ev, code, &expires);
	json_decref(body);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(
	    r, 201,
	    json_pack("{s:s, s:s, s:I}", "code", code, "role", mcd_role_name(role), "expires", (json_int_t)expires));
	OPENSSL_cleanse(code, sizeof code);
}
