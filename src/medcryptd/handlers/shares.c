/*
 * shares.c: POST /api/v1/images/{id}/shares and DELETE /api/v1/images/{id}/shares/{username}
 * (API.md §15; both need a re-authentication in the last 5 minutes, which the router checks).
 * Sharing needs a wrap of one's own (one shares what one can open), a recipient the rules of
 * rules.h allow for this image (its recorded patient and mark: the role table, researchers only
 * for de-identified items, a patient's image only to the doctors they appointed, or to any
 * doctor when the patient shares it), and a detached wrap that names the recipient's current
 * encryption key, checked as an upload's wraps are (sealed_check.h, lib/format.c).
 * Revoking is for the image's sender, or for whoever granted that wrap; to anyone else the
 * share does not exist (404).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../log.h"
#include "../rules.h"
#include "../sealed_check.h"
#include "handlers.h"

void mcd_h_share_add(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_image *im = NULL;
	mcd_wrap *mine = NULL;
	mcd_user *to = NULL;
	uint8_t *wrap = NULL;
	size_t wrap_len = 0;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *to_name = mcd_json_str(body, "to");
	if (!to_name || !mcd_json_b64(body, "wrap", FMT_WRAP_FIXED_LEN, FMT_OAEP_WRAP_MAX_LEN, &wrap, &wrap_len)) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	mcd_store_status s = mcd_image_visible(r, r->params[0], &im, &mine);
	if (s == MCD_STORE_OK && !mine)
		s = MCD_STORE_NOT_FOUND; /* a sender without a wrap cannot open it, so cannot share it */
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	s = st->ops->user_by_name(st, to_name, &to);
	if (s == MCD_STORE_OK && to->disabled)
		s = MCD_STORE_NOT_FOUND;
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_verdict v;
	if (!mcd_rules_recipient(st, r->user, im->patient_id, im->deidentified, to, &v)) {
		mcd_reply_verdict(r, &v);
		goto cleanup;
	}
	/* one RSA-OAEP wrap, exactly, naming the recipient's key: the check of uploaded wraps */
	const char *why = NULL;
	mcd_wrap_check c = mcd_sealed_check_wrap(wrap, wrap_len, to->enc_fp, &why);
	if (c != MCD_WRAP_OK) {
		mcd_log(MCD_LOG_INFO, "share", "refused: %s", why);
		mcd_reply_error(r, 400, c == MCD_WRAP_BAD ? "bad_container" : "unknown_recipient");
		goto cleanup;
	}
	mcd_wrap row = {.user_id = to->id, .granted_by = r->user->id, .wrap = wrap, .wrap_len = wrap_len};
	char detail[128];
	snprintf(detail, sizeof detail, "{\"to\":\"%s\"}", to->username);
	mcd_audit_event ev = mcd_event(r, "share", im->id, "ok", detail);
	if ((s = st->ops->wrap_add(st, im->id, &row, &ev)) != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_events_notify(r->srv, to->id, "image", im->id);
	mcd_reply_json(r, 201, json_pack("{s:s, s:s}", "id", im->id, "to", to->username));
cleanup:
	free(wrap);
	mcd_user_free(to);
	mcd_wrap_free(mine);
	mcd_image_free(im);
	json_decref(body);
}

void mcd_h_share_delete(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_image *im = NULL;
	mcd_user *from = NULL;
	mcd_wrap *theirs = NULL;
	mcd_store_status s = mcd_image_visible(r, r->params[0], &im, NULL);
	if (s == MCD_STORE_OK)
		s = st->ops->user_by_name(st, r->params[1], &from);
	if (s == MCD_STORE_OK)
		s = st->ops->wrap_get(st, im->id, from->id, &theirs);
	if (s == MCD_STORE_OK && im->sender_id != r->user->id && theirs->granted_by != r->user->id)
		s = MCD_STORE_NOT_FOUND;
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	char detail[128];
	snprintf(detail, sizeof detail, "{\"from\":\"%s\"}", from->username);
	mcd_audit_event ev = mcd_event(r, "revoke", im->id, "ok", detail);
	if ((s = st->ops->wrap_delete(st, im->id, from->id, &ev)) != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_events_notify(r->srv, from->id, "revoked", im->id);
	mcd_reply_empty(r, 204);
cleanup:
	mcd_wrap_free(theirs);
	mcd_user_free(from);
	mcd_image_free(im);
}
