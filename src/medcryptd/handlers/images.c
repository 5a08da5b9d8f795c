/*
 * images.c: the image routes that are not streams (API.md §15): list, get, fetch my wrap, and
 * delete. Every one starts with the object-level check (mcd_image_visible): an image the caller
 * neither sent nor holds a wrap of answers 404 exactly like one that does not exist.
 */
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "handlers.h"

struct listing {
	json_t *images;
	int64_t me;
};

static int add_image(void *ctx, const mcd_image *im, const mcd_wrap *my_wrap)
{
	struct listing *l = ctx;
	json_t *o = mcd_image_json(im, my_wrap);
	if (!o)
		return -1;
	if (im->sender_id == l->me)
		json_object_set_new(o, "recipients", json_null()); /* filled after the walk */
	return json_array_append_new(l->images, o);
}

/* The recipients' names of image id, for its sender. */
static json_t *recipients_json(mcd_store *st, const char *id)
{
	char **names = NULL;
	if (st->ops->image_recipients(st, id, &names) != MCD_STORE_OK)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; a && names && names[i]; i++)
		json_array_append_new(a, json_string(names[i]));
	mcd_strv_free(names);
	return a;
}

void mcd_h_images_list(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	const char *limit_s = mcd_request_arg(r, "limit"), *before = mcd_request_arg(r, "before");
	long limit = 100;
	if (limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*limit_s < '0' || *limit_s > '9' || *end || limit < 1 || limit > 1000) {
			mcd_reply_error(r, 400, "bad_request");
			return;
		}
	}
	uint8_t id_bytes[16];
	char canonical[33];
	if (before && (strlen(before) != 32 || !mcd_unhex(before, id_bytes, 16) ||
	               (mcd_hex(id_bytes, 16, canonical), strcmp(canonical, before) != 0))) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	struct listing l = {json_array(), r->user->id};
	mcd_store_status s =
	    l.images ? st->ops->images_for_user(st, r->user->id, before, (int)limit, add_image, &l) : MCD_STORE_NOMEM;
	if (s != MCD_STORE_OK) {
		json_decref(l.images);
		mcd_reply_store(r, s);
		return;
	}
	/* The store is not re-entered from its own callback: recipients are added afterwards. */
	size_t i;
	json_t *o;
	json_array_foreach(l.images, i, o)
	{
		if (json_object_get(o, "recipients"))
			json_object_set_new(o, "recipients", recipients_json(st, mcd_json_str(o, "id")));
	}
	mcd_reply_json(r, 200, json_pack("{s:o}", "images", l.images));
}

void mcd_h_image_get(mcd_request *r)
{
	mcd_image *im = NULL;
	mcd_wrap *w = NULL;
	mcd_store_status s = mcd_image_visible(r, r->params[0], &im, &w);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	json_t *o = mcd_image_json(im, w);
	if (o && im->sender_id == r->user->id)
		json_object_set_new(o, "recipients", recipients_json(r->srv->store, im->id));
	mcd_reply_json(r, o ? 200 : 500, o);
	mcd_image_free(im);
	mcd_wrap_free(w);
}

void mcd_h_image_wrap(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_wrap *w = NULL;
	mcd_store_status s = st->ops->wrap_get(st, r->params[0], r->user->id, &w);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_bytes(r, 200, "application/octet-stream", w->wrap, w->wrap_len);
	mcd_wrap_free(w);
}

void mcd_h_image_delete(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_image *im = NULL;
	mcd_store_status s = mcd_image_visible(r, r->params[0], &im, NULL);
	if (s == MCD_STORE_OK && im->sender_id != r->user->id)
		s = MCD_STORE_NOT_FOUND; /* only its sender deletes an image */
	if (s != MCD_STORE_OK) {
		mcd_image_free(im);
		mcd_reply_store(r, s);
		return;
	}
	mcd_audit_event ev = mcd_event(r, "delete", im->id, "ok", NULL);
	bool unreferenced = false;
	mcd_blob_lock();
	s = st->ops->image_delete(st, im->id, &unreferenced, &ev);
	if (s == MCD_STORE_OK && unreferenced)
		r->srv->blobs->ops->remove(r->srv->blobs, im->blob_sha256);
	mcd_blob_unlock();
	mcd_image_free(im);
	if (s != MCD_STORE_OK)
		mcd_reply_store(r, s);
	else
		mcd_reply_empty(r, 204);
}
