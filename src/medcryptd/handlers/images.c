/*
 * images.c: the image routes that are not streams (API.md §15): list, get, fetch my wrap, and
 * delete. Every one starts with the object-level check (mcd_image_visible): an image the caller
 * neither sent nor holds a wrap of answers 404 exactly like one that does not exist.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "handlers.h"

/* ---- the listing's JSON, written directly ----
 * The listing is the hot read path (every client polls it), and its bulk is base64 (the header
 * and the wrap of every image). Building it as a jansson tree and dumping it cost more than all
 * else the request does (UTF-8 validation of each string on creation, escaping on output), so
 * it is written straight into a buffer here, in the same form mcd_image_json gives: base64 and
 * hex need no escaping, and text (user names) goes through text() below, which escapes what RFC
 * 8259 requires and refuses invalid UTF-8 like jansson does. */

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static bool out_reserve(struct out *o, size_t more)
{
	if (o->failed)
		return false;
	if (o->len + more <= o->cap)
		return true;
	size_t cap = o->cap ? o->cap : 4096;
	while (cap < o->len + more)
		cap *= 2;
	char *grown = realloc(o->buf, cap);
	if (!grown) {
		o->failed = true;
		return false;
	}
	o->buf = grown;
	o->cap = cap;
	return true;
}

static void raw(struct out *o, const char *s, size_t n)
{
	if (out_reserve(o, n)) {
		memcpy(o->buf + o->len, s, n);
		o->len += n;
	}
}

static void lit(struct out *o, const char *s)
{
	raw(o, s, strlen(s));
}

static void integer(struct out *o, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRId64, v);
	raw(o, num, (size_t)n);
}

/* Length of the UTF-8 sequence at p (at most left bytes), 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	unsigned c = p[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || n > left)
		return 0;
	uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return n;
}

/* A JSON string of the UTF-8 text s. */
static void text(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	lit(o, "\"");
	while (left > 0 && !o->failed) {
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			raw(o, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			raw(o, esc, 6);
		} else {
			size_t n = utf8_len(p, left);
			if (n == 0) {
				o->failed = true;
				return;
			}
			raw(o, (const char *)p, n);
			p += n;
			left -= n;
			continue;
		}
		p++;
		left--;
	}
	lit(o, "\"");
}

/* A JSON string holding the standard base64 (with padding) of buf. */
static void base64(struct out *o, const uint8_t *buf, size_t len)
{
	size_t n = 4 * ((len + 2) / 3);
	if (len > INT32_MAX / 2 || !out_reserve(o, n + 3)) {
		o->failed = true;
		return;
	}
	o->buf[o->len++] = '"';
	if (len)
		EVP_EncodeBlock((unsigned char *)o->buf + o->len, buf, (int)len);
	o->len += n;
	o->buf[o->len++] = '"';
}

/* IMAGE of API.md §15 without its closing brace (the sender's "recipients" may follow). */
static void image_open(struct out *o, const mcd_image *im, const mcd_wrap *my_wrap)
{
	char sha[65];
	mcd_hex(im->blob_sha256, 32, sha);
	lit(o, "{\"id\":");
	text(o, im->id);
	lit(o, ",\"sender\":");
	text(o, im->sender ? im->sender : "");
	lit(o, ",\"created\":");
	integer(o, im->created);
	lit(o, ",\"size\":");
	integer(o, im->size);
	lit(o, ",\"sha256\":\"");
	lit(o, sha);
	lit(o, "\",\"header\":");
	base64(o, im->header, im->header_len);
	lit(o, ",\"wrap\":");
	if (my_wrap)
		base64(o, my_wrap->wrap, my_wrap->wrap_len);
	else
		lit(o, "null");
	lit(o, ",\"patient\":");
	if (im->patient)
		text(o, im->patient);
	else
		lit(o, "null");
	lit(o, im->deidentified ? ",\"deidentified\":true" : ",\"deidentified\":false");
}

struct item {
	size_t start, end; /* of its text in listing.items */
	char id[33];
	bool sent; /* by the caller: "recipients" follow */
};

struct listing {
	struct out items;
	struct item *v;
	size_t n, cap;
	int64_t me;
};

static int add_image(void *ctx, const mcd_image *im, const mcd_wrap *my_wrap)
{
	struct listing *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct item *grown = realloc(l->v, cap * sizeof *grown);
		if (!grown) {
			l->items.failed = true;
			return -1;
		}
		l->v = grown;
		l->cap = cap;
	}
	struct item *it = &l->v[l->n];
	it->start = l->items.len;
	image_open(&l->items, im, my_wrap);
	it->end = l->items.len;
	snprintf(it->id, sizeof it->id, "%s", im->id);
	it->sent = im->sender_id == l->me;
	if (l->items.failed)
		return -1;
	l->n++;
	return 0;
}

/* ,"recipients":[names] of image id, for its sender. */
static void recipients_text(struct out *o, mcd_store *st, const char *id)
{
	char **names = NULL;
	mcd_store_status s = st->ops->image_recipients(st, id, &names);
	lit(o, ",\"recipients\":");
	if (s != MCD_STORE_OK) {
		lit(o, "null"); /* as before: an image deleted meanwhile lists no recipients */
		return;
	}
	lit(o, "[");
	for (size_t i = 0; names && names[i]; i++) {
		if (i)
			lit(o, ",");
		text(o, names[i]);
	}
	lit(o, "]");
	mcd_strv_free(names);
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
	/* ?patient=U: only images about U; an unknown name lists nothing, as a patient the caller
	 * holds no image of does. */
	const char *patient = mcd_request_arg(r, "patient");
	if (patient && !mcd_valid_username(patient)) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	struct listing l = {.me = r->user->id};
	mcd_store_status s;
	if (patient) {
		mcd_user *about = NULL;
		s = st->ops->user_by_name(st, patient, &about);
		if (s == MCD_STORE_OK)
			s = st->ops->images_for_user_about(st, r->user->id, about->id, before, (int)limit, add_image,
			                                   &l);
		else if (s == MCD_STORE_NOT_FOUND)
			s = MCD_STORE_OK;
		mcd_user_free(about);
	} else {
		s = st->ops->images_for_user(st, r->user->id, before, (int)limit, add_image, &l);
	}
	/* The store is not re-entered from its own callback: recipients are added afterwards. */
	struct out body = {0};
	lit(&body, "{\"images\":[");
	for (size_t i = 0; s == MCD_STORE_OK && i < l.n && !body.failed; i++) {
		if (i)
			lit(&body, ",");
		raw(&body, l.items.buf + l.v[i].start, l.v[i].end - l.v[i].start);
		if (l.v[i].sent)
			recipients_text(&body, st, l.v[i].id);
		lit(&body, "}");
	}
	lit(&body, "]}");
	if (s != MCD_STORE_OK)
		mcd_reply_store(r, s);
	else if (l.items.failed || body.failed)
		mcd_reply_error(r, 500, "internal");
	else
		mcd_reply_bytes(r, 200, "application/json", body.buf, body.len);
	free(l.items.buf);
	free(l.v);
	free(body.buf);
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
