/*
 * handlers.h: one function per route of API.md Part 2, each in handlers/<route>.c. http.c has
 * already checked what the route table promises (session, right, CSRF, re-authentication,
 * body size) when a handler runs; the handler does the object-level checks (404 for anything
 * the caller may not see) and sets the reply.
 */
#ifndef MEDCRYPTD_HANDLERS_H
#define MEDCRYPTD_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "../http.h"

void mcd_h_prelogin(mcd_request *r);
void mcd_h_login(mcd_request *r);
void mcd_h_reauth(mcd_request *r);
void mcd_h_logout(mcd_request *r);
void mcd_h_logout_all(mcd_request *r);
void mcd_h_me(mcd_request *r);
void mcd_h_register(mcd_request *r);
void mcd_h_invitation_create(mcd_request *r);
void mcd_h_invitations_list(mcd_request *r);
void mcd_h_invitation_delete(mcd_request *r);
void mcd_h_users_list(mcd_request *r);
void mcd_h_user_get(mcd_request *r);
void mcd_h_user_patch(mcd_request *r);
void mcd_h_images_list(mcd_request *r);
void mcd_h_image_get(mcd_request *r);
void mcd_h_image_wrap(mcd_request *r);
void mcd_h_image_blob(mcd_request *r);
void mcd_h_image_delete(mcd_request *r);
void mcd_h_share_add(mcd_request *r);
void mcd_h_share_delete(mcd_request *r);
void mcd_h_audit_list(mcd_request *r);
void mcd_h_audit_verify(mcd_request *r);
void mcd_h_audit_key(mcd_request *r);
void mcd_h_healthz(mcd_request *r);
void mcd_h_metrics(mcd_request *r);
void mcd_h_static(mcd_request *r);

/* libmicrohttpd's unescape callback (http.c): decodes %HH in paths and query arguments, except
 * an encoded slash, backslash or NUL, which stay as the three characters "%2F", "%5C", "%00"
 * so that no decoded path can hold a separator or a NUL the client hid (handlers/static.c
 * refuses a '%'). Returns the new length. */
size_t mcd_unescape_uri(void *cls, struct MHD_Connection *conn, char *s);
/* A path the web root could hold (static.c; checked before the lookup): "/" alone, or "/" then
 * segments of [A-Za-z0-9._-], none empty, none starting with a dot (which covers "." and ".."),
 * 512 characters at most. So no "..", "//", '%', '\\' or control character, and no trailing
 * slash. */
bool mcd_static_path_ok(const char *path);

/* The upload route streams: begin runs once the headers passed every check (false: it replied
 * and the body is discarded), data for each piece of the body, then mcd_h_upload at the end.
 * mcd_upload_free runs when the request completes, whatever happened. */
bool mcd_upload_begin(mcd_request *r);
/* false: drop the connection (a refused upload too large to read to its end). */
bool mcd_upload_data(mcd_request *r, const uint8_t *buf, size_t len);
void mcd_h_upload(mcd_request *r);
void mcd_upload_free(mcd_request *r);

/* The upload pipeline (upload.c) that POST /api/v1/images and the last PATCH of a resumable
 * upload (tus.c) both feed: the structural check, the recipients check, the blob writer, then
 * the image and wrap rows with the audit record. Nothing is stored unless finish succeeds. */
typedef struct mcd_ingest mcd_ingest;
/* A pipeline for a sealed file of total bytes sent by r's user. NULL after replying 500. Free
 * with mcd_ingest_free. */
mcd_ingest *mcd_ingest_new(mcd_request *r, uint64_t total);
/* What the upload is about (API.md §15): patient (a username, NULL: none named) and
 * deidentified (NULL or "0": no mark, "1": the mark, anything else 400 bad_request), checked at
 * once against rules.h 1 to 3 (and again by finish). False: refused; finish then replies it. */
bool mcd_ingest_about(mcd_ingest *in, mcd_request *r, const char *patient, const char *deidentified);
/* The same check without a pipeline (a tus creation): *patient_out (freed with mcd_user_free)
 * and *deid_out on success; *v the refusal otherwise. */
struct mcd_verdict;
bool mcd_upload_marks(mcd_request *r, const char *patient, const char *deidentified, mcd_user **patient_out,
                      bool *deid_out, struct mcd_verdict *v);
/* Feeds the next len bytes. False once the upload has been refused (further feeds do nothing). */
bool mcd_ingest_feed(mcd_ingest *in, mcd_request *r, const uint8_t *buf, size_t len);
bool mcd_ingest_failed(const mcd_ingest *in);
/* After the last byte: checks every rule again, stores the image and replies 201 {"id", "size",
 * "sha256", "recipients", "patient", "deidentified"}, or replies the refusal (400 bad_container,
 * unknown_recipient, patient_required, unknown_patient, patient_not_recipient, unsigned_claim;
 * 403 forbidden, not_appointed, not_deidentified; with "user" naming whom where there is one) or
 * 500. Returns the status it replied with. */
unsigned mcd_ingest_finish(mcd_ingest *in, mcd_request *r);
/* Aborts what was not committed and frees in (NULL is harmless). */
void mcd_ingest_free(mcd_ingest *in, mcd_request *r);

/* Resumable uploads, tus 1.0 (tus.c, API.md §15a). The PATCH route streams like POST
 * /api/v1/images: begin once the headers passed http.c's checks (false: it replied), data per
 * piece of the body (false: drop the connection), mcd_h_tus_patch at the end, and
 * mcd_tus_patch_free when the request completes, whatever happened. */
void mcd_h_tus_options(mcd_request *r);
void mcd_h_tus_create(mcd_request *r);
void mcd_h_tus_head(mcd_request *r);
void mcd_h_tus_delete(mcd_request *r);
bool mcd_tus_patch_begin(mcd_request *r);
bool mcd_tus_patch_data(mcd_request *r, const uint8_t *buf, size_t len);
void mcd_h_tus_patch(mcd_request *r);
void mcd_tus_patch_free(mcd_request *r);
/* Whether the route is one of the above (every answer of theirs carries Tus-Resumable). */
bool mcd_tus_route(const struct mcd_route *rt);

/* Shared by the handlers (handlers/common.c). */

/* USER of API.md §13 as JSON (public fields only); NULL when out of memory. */
json_t *mcd_user_json(const mcd_user *u);
/* Replies for a failed store call: NOT_FOUND 404, CONFLICT 409, anything else 500. */
void mcd_reply_store(mcd_request *r, mcd_store_status st);
/* Replies an error of API.md §12 with a sentence for the user in "message". */
void mcd_reply_message(mcd_request *r, unsigned status, const char *code, const char *message);
/* The detail of an audit record: d as compact JSON with sorted keys (free with free()). Takes
 * d (which may be NULL); NULL when d is NULL or out of memory. */
char *mcd_audit_detail(json_t *d);

/* A listing handler's JSON array, filled by its store callback: the request and the time the
 * rows are read at, for what a row's JSON depends on (the caller, a consent's status). */
typedef struct mcd_listing {
	mcd_request *r;
	json_t *list;
	int64_t now;
} mcd_listing;
/* Appends o (a row's JSON; NULL when it could not be made) to l->list. Returns what a store
 * callback returns: 0 to go on, -1 (stop the listing) when o is NULL or cannot be appended. */
int mcd_listing_add(mcd_listing *l, json_t *o);
/* Ends a listing handler: replies 200 {key: the list} when s is OK, else frees the list and
 * replies for s as mcd_reply_store does. */
void mcd_reply_listing(mcd_listing *l, mcd_store_status s, const char *key);
/* Decodes the base64 string member key of obj into *out (malloc'd; free with free() after
 * wiping if secret) of min..max bytes. False when absent, not a string, not base64 or out of
 * bounds. */
bool mcd_json_b64(json_t *obj, const char *key, size_t min, size_t max, uint8_t **out, size_t *len);
/* The object-level check of API.md §14: the image id as the caller may see it (its sender, or
 * a holder of a wrap). NOT_FOUND for anyone else, as for an id that does not exist. *im is
 * freed with mcd_image_free, *my_wrap (NULL for a sender without a wrap; may be passed NULL)
 * with mcd_wrap_free. */
mcd_store_status mcd_image_visible(mcd_request *r, const char *id, mcd_image **im, mcd_wrap **my_wrap);
/* IMAGE of API.md §15 for the caller. */
json_t *mcd_image_json(const mcd_image *im, const mcd_wrap *my_wrap);
/* Serialises making a committed blob referenced (its image row) against deleting an image and
 * its blob, so a blob is never removed under an image that is being created. */
void mcd_blob_lock(void);
void mcd_blob_unlock(void);

#endif
