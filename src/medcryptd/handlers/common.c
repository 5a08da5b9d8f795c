/*
 * common.c: what several handlers share: the public JSON forms of a user and an image, the
 * reply for a failed store call, error replies with a message, audit details, listings, base64
 * fields, the object-level visibility check of an image,
 * and the lock that keeps blob removal and image creation apart.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "handlers.h"

json_t *mcd_user_json(const mcd_user *u)
{
	char enc[65], sign[65];
	mcd_hex(u->enc_fp, 32, enc);
	mcd_hex(u->sign_fp, 32, sign);
	const char *role = mcd_role_name(u->role);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "username", u->username, "display_name",
	                 u->display_name ? u->display_name : "", "role", role ? role : "none", "enc_public_key",
	                 u->enc_public_pem ? u->enc_public_pem : "", "sign_public_key",
	                 u->sign_public_pem ? u->sign_public_pem : "", "enc_fingerprint", enc, "sign_fingerprint", sign,
	                 "created", (json_int_t)u->created);
}

void mcd_reply_store(mcd_request *r, mcd_store_status st)
{
	if (st == MCD_STORE_NOT_FOUND)
		mcd_reply_error(r, 404, "not_found");
	else if (st == MCD_STORE_CONFLICT)
		mcd_reply_error(r, 409, "conflict");
	else
		mcd_reply_error(r, 500, "internal");
}

void mcd_reply_message(mcd_request *r, unsigned status, const char *code, const char *message)
{
	mcd_reply_error_with(r, status, code, json_pack("{s:s}", "message", message));
}

char *mcd_audit_detail(json_t *d)
{
	char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	return text;
}

int mcd_listing_add(mcd_listing *l, json_t *o)
{
	return o ? json_array_append_new(l->list, o) : -1;
}

void mcd_reply_listing(mcd_listing *l, mcd_store_status s, const char *key)
{
	if (s != MCD_STORE_OK) {
		json_decref(l->list);
		mcd_reply_store(l->r, s);
		return;
	}
	mcd_reply_json(l->r, 200, json_pack("{s:o}", key, l->list));
}

bool mcd_json_b64(json_t *obj, const char *key, size_t min, size_t max, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	const char *text = mcd_json_str(obj, key);
	if (!text || strlen(text) > 4 * (max / 3 + 1))
		return false;
	if (!mcd_b64_decode(text, out, len))
		return false;
	if (*len < min || *len > max) {
		free(*out);
		*out = NULL;
		*len = 0;
		return false;
	}
	return true;
}

mcd_store_status mcd_image_visible(mcd_request *r, const char *id, mcd_image **im, mcd_wrap **my_wrap)
{
	mcd_store *st = r->srv->store;
	*im = NULL;
	if (my_wrap)
		*my_wrap = NULL;
	mcd_store_status s = st->ops->image_get(st, id, im);
	if (s != MCD_STORE_OK)
		return s;
	mcd_wrap *w = NULL;
	s = st->ops->wrap_get(st, id, r->user->id, &w);
	if (s == MCD_STORE_NOT_FOUND && (*im)->sender_id == r->user->id)
		s = MCD_STORE_OK; /* the sender sees it without a wrap */
	if (s != MCD_STORE_OK) {
		mcd_image_free(*im);
		*im = NULL;
		return s;
	}
	if (my_wrap)
		*my_wrap = w;
	else
		mcd_wrap_free(w);
	return MCD_STORE_OK;
}

json_t *mcd_image_json(const mcd_image *im, const mcd_wrap *my_wrap)
{
	char sha[65];
	mcd_hex(im->blob_sha256, 32, sha);
	char *header = mcd_b64_encode(im->header, im->header_len);
	char *wrap = my_wrap ? mcd_b64_encode(my_wrap->wrap, my_wrap->wrap_len) : NULL;
	json_t *o = NULL;
	if (header && (wrap || !my_wrap))
		o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:o, s:o, s:b}", "id", im->id, "sender",
		              im->sender ? im->sender : "", "created", (json_int_t)im->created, "size",
		              (json_int_t)im->size, "sha256", sha, "header", header, "wrap",
		              wrap ? json_string(wrap) : json_null(), "patient",
		              im->patient ? json_string(im->patient) : json_null(), "deidentified", im->deidentified);
	free(header);
	free(wrap);
	return o;
}

static pthread_mutex_t blob_lock = PTHREAD_MUTEX_INITIALIZER;

void mcd_blob_lock(void)
{
	pthread_mutex_lock(&blob_lock);
}

void mcd_blob_unlock(void)
{
	pthread_mutex_unlock(&blob_lock);
}
