/*
 * upload.c: the upload pipeline (API.md §15) and POST /api/v1/images, its first user; the
 * resumable uploads of tus.c (§15a) are its second, fed from their partial file once the last
 * byte is there. The bytes stream through the structural check (sealed_check.c) into a blob
 * writer: the header once the core is complete, then payload bytes straight from the caller's
 * buffer (for an upload of 1 MiB or more, through a ring to a writer thread that hashes and
 * writes while this thread reads on: blob_pipe.h). An upload names the patient account it is
 * about and may carry the de-identified mark (?patient=U&deidentified=1, or the tus
 * Upload-Metadata keys); the sender's rules (rules.h, 1 to 3) are checked before the body, the
 * recipients as soon as the wraps are read, before the payload: every wrap must name an enabled
 * user's current encryption key (400 unknown_recipient) allowed by rules.h (403 forbidden,
 * not_deidentified, not_appointed; 400 patient_not_recipient), except the sender's own; the
 * mark's signer (rule 7) once the core's signer field is read. Everything is checked again
 * after the last byte, since the world may have changed while it came. On any failure the
 * writer is aborted and nothing is stored; for POST the rest of the body is read and dropped
 * (or, when more than 64 MiB remain, the connection is closed). On success the blob is
 * committed, then the image row (with its patient and mark) with one wrap row per recipient,
 * and the upload is audited with it.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../blob_pipe.h"
#include "../events.h"
#include "../log.h"
#include "../metrics.h"
#include "../rules.h"
#include "../sealed_check.h"
#include "../util.h"
#include "handlers.h"

#define DISCARD_MAX (64ull << 20)
#define PIPE_MIN    (1ull << 20) /* uploads this large get a writer thread (blob_pipe.h) */

struct mcd_ingest {
	uint64_t total; /* the sealed file's size */
	mcd_sealed *check;
	mcd_blob_writer *writer;
	mcd_blob_pipe *pipe; /* NULL: the blob is written inline */
	bool recipients_checked;
	unsigned fail_status; /* 0 while all is well */
	const char *fail_code;
	char fail_user[72]; /* the user the refusal names, or "" */
	mcd_user *patient;  /* the patient named, or NULL */
	bool deidentified;
	bool signer_checked;
	mcd_wrap *rows;
	char **names; /* recipients' usernames, for the reply and the audit record */
	size_t n_rows;
};

/* POST /api/v1/images: the pipeline and how much of the body has come. */
struct mcd_upload {
	mcd_ingest *ingest;
	uint64_t received;
};

static void fail(mcd_ingest *up, mcd_request *r, unsigned status, const char *code)
{
	if (up->fail_status)
		return;
	up->fail_status = status;
	up->fail_code = code;
	up->fail_user[0] = 0;
	mcd_blob_pipe_close(up->pipe, false);
	up->pipe = NULL;
	if (up->writer) {
		r->srv->blobs->ops->abort(up->writer);
		up->writer = NULL;
	}
	mcd_metrics_add(MCD_M_UPLOADS_REJECTED, 1);
}

mcd_ingest *mcd_ingest_new(mcd_request *r, uint64_t total)
{
	mcd_ingest *up = calloc(1, sizeof *up);
	if (!up || !(up->check = mcd_sealed_new(total)) ||
	    r->srv->blobs->ops->begin(r->srv->blobs, &up->writer) != MCD_BLOB_OK) {
		mcd_ingest_free(up, r);
		mcd_reply_error(r, 500, "internal");
		return NULL;
	}
	up->total = total;
	/* A large upload is hashed and written by a thread of its own while this one decrypts and
	 * checks (and hashes the chunks of a signed file): two cores instead of one. */
	if (total >= PIPE_MIN)
		up->pipe = mcd_blob_pipe_start(r->srv->blobs, up->writer);
	return up;
}

bool mcd_ingest_failed(const mcd_ingest *up)
{
	return up->fail_status != 0;
}

static void fail_verdict(mcd_ingest *up, mcd_request *r, const mcd_verdict *v)
{
	fail(up, r, v->status ? v->status : 500, v->code ? v->code : "internal");
	snprintf(up->fail_user, sizeof up->fail_user, "%s", v->user);
}

static void reply_failure(mcd_ingest *up, mcd_request *r)
{
	mcd_verdict v = {.status = up->fail_status, .code = up->fail_code};
	snprintf(v.user, sizeof v.user, "%s", up->fail_user);
	mcd_reply_verdict(r, &v);
}

bool mcd_upload_marks(mcd_request *r, const char *patient, const char *deidentified, mcd_user **patient_out,
                      bool *deid_out, mcd_verdict *v)
{
	*patient_out = NULL;
	*deid_out = false;
	if (deidentified && strcmp(deidentified, "0") != 0 && strcmp(deidentified, "1") != 0)
		return mcd_verdict_deny(v, 400, "bad_request", NULL);
	*deid_out = deidentified && !strcmp(deidentified, "1");
	if (patient && !mcd_rules_patient(r->srv->store, patient, patient_out, v))
		return false;
	if (!mcd_rules_sender(r->srv->store, r->user, *patient_out, *deid_out, v)) {
		mcd_user_free(*patient_out);
		*patient_out = NULL;
		return false;
	}
	return true;
}

bool mcd_ingest_about(mcd_ingest *up, mcd_request *r, const char *patient, const char *deidentified)
{
	mcd_verdict v;
	mcd_user_free(up->patient);
	up->patient = NULL;
	if (!mcd_upload_marks(r, patient, deidentified, &up->patient, &up->deidentified, &v))
		fail_verdict(up, r, &v);
	return !up->fail_status;
}

/* Rules 1 to 3 again, after the last byte, with the patient read afresh. */
static void recheck_sender(mcd_ingest *up, mcd_request *r)
{
	mcd_verdict v;
	mcd_user *again = NULL;
	if (up->patient && !mcd_rules_patient(r->srv->store, up->patient->username, &again, &v)) {
		fail_verdict(up, r, &v);
		return;
	}
	if (again) {
		mcd_user_free(up->patient);
		up->patient = again;
	}
	if (!mcd_rules_sender(r->srv->store, r->user, up->patient, up->deidentified, &v))
		fail_verdict(up, r, &v);
}

/* Rule 7, once the signer is known. */
static void check_signer(mcd_ingest *up, mcd_request *r)
{
	up->signer_checked = true;
	mcd_verdict v;
	if (up->deidentified && !mcd_rules_signer(r->user, mcd_sealed_signer_fp(up->check), &v))
		fail_verdict(up, r, &v);
}

struct sink_ctx {
	mcd_ingest *up;
	mcd_request *r;
};

static bool sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct sink_ctx *sc = ctx;
	if (sc->up->pipe)
		return mcd_blob_pipe_write(sc->up->pipe, buf, len);
	return sc->r->srv->blobs->ops->write(sc->up->writer, buf, len) == MCD_BLOB_OK;
}

static void clear_rows(mcd_ingest *up)
{
	if (up->names)
		for (size_t i = 0; up->names[i]; i++)
			free(up->names[i]);
	free(up->names);
	free(up->rows);
	up->names = NULL;
	up->rows = NULL;
	up->n_rows = 0;
}

/* API.md §14 and rules.h: each wrap names a user the sender may give this item to, or the
 * sender; the named patient is among them. Runs when the wraps are read and again at the end. */
static void check_recipients(mcd_ingest *up, mcd_request *r)
{
	mcd_store *st = r->srv->store;
	size_t n = mcd_sealed_n_wraps(up->check);
	int64_t patient_id = up->patient ? up->patient->id : 0;
	bool patient_included = false;
	clear_rows(up);
	up->recipients_checked = true;
	up->rows = calloc(n, sizeof *up->rows);
	up->names = calloc(n + 1, sizeof *up->names);
	if (!up->rows || !up->names) {
		fail(up, r, 500, "internal");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		mcd_user *u = NULL;
		mcd_store_status s = st->ops->user_by_enc_fp(st, mcd_sealed_wrap_recipient(up->check, i), &u);
		if (s == MCD_STORE_NOT_FOUND) {
			fail(up, r, 400, "unknown_recipient");
			return;
		}
		if (s != MCD_STORE_OK) {
			fail(up, r, 500, "internal");
			return;
		}
		mcd_verdict v;
		bool allowed = mcd_rules_recipient(st, r->user, patient_id, up->deidentified, u, &v);
		if (allowed) {
			up->rows[i].user_id = u->id;
			up->rows[i].granted_by = r->user->id;
			/* The wrap bytes stay owned by the checker until the request ends. */
			up->rows[i].wrap = (uint8_t *)mcd_sealed_wrap(up->check, i, &up->rows[i].wrap_len);
			up->names[i] = strdup(u->username);
			up->n_rows++;
			patient_included |= u->id == patient_id;
		}
		mcd_user_free(u);
		if (!allowed) {
			fail_verdict(up, r, &v);
			return;
		}
		if (!up->names[i]) {
			fail(up, r, 500, "internal");
			return;
		}
	}
	if (up->patient && !patient_included) { /* rule 3: the patient can open every image about them */
		mcd_verdict v;
		mcd_verdict_deny(&v, 400, "patient_not_recipient", up->patient->username);
		fail_verdict(up, r, &v);
	}
}

bool mcd_ingest_feed(mcd_ingest *up, mcd_request *r, const uint8_t *buf, size_t len)
{
	if (up->fail_status)
		return false;
	struct sink_ctx sc = {up, r};
	mcd_sealed_result res = mcd_sealed_feed(up->check, buf, len, sink, &sc);
	if (res == MCD_SEALED_BAD) {
		mcd_log(MCD_LOG_INFO, "upload", "refused: %s", mcd_sealed_reason(up->check));
		fail(up, r, 400, "bad_container");
	} else if (res == MCD_SEALED_SINK) {
		fail(up, r, 500, "internal");
	} else if (!up->recipients_checked && mcd_sealed_wraps_done(up->check)) {
		check_recipients(up, r);
	}
	if (!up->fail_status && up->recipients_checked && !up->signer_checked && mcd_sealed_signer_read(up->check))
		check_signer(up, r);
	return !up->fail_status;
}

unsigned mcd_ingest_finish(mcd_ingest *up, mcd_request *r)
{
	mcd_store *st = r->srv->store;
	if (!up->fail_status && mcd_sealed_finish(up->check) != MCD_SEALED_OK) {
		mcd_log(MCD_LOG_INFO, "upload", "refused: %s", mcd_sealed_reason(up->check));
		fail(up, r, 400, "bad_container");
	}
	/* The world may have changed while the bytes came: every rule again, before the commit. */
	if (!up->fail_status)
		recheck_sender(up, r);
	if (!up->fail_status)
		check_recipients(up, r);
	if (!up->fail_status)
		check_signer(up, r);
	if (!up->fail_status && up->pipe) {
		bool written = mcd_blob_pipe_close(up->pipe, true);
		up->pipe = NULL;
		if (!written)
			fail(up, r, 500, "internal");
	}
	if (up->fail_status) {
		reply_failure(up, r);
		return up->fail_status;
	}
	mcd_image im = {0};
	uint8_t id_bytes[16];
	uint64_t size = 0;
	if (!mcd_random(id_bytes, sizeof id_bytes)) {
		fail(up, r, 500, "internal");
		mcd_reply_error(r, 500, "internal");
		return 500;
	}
	mcd_hex(id_bytes, sizeof id_bytes, im.id);
	im.sender_id = r->user->id;
	im.sender = r->user->username;
	im.header = (uint8_t *)mcd_sealed_header(up->check, &im.header_len);
	im.created = mcd_now();
	im.patient_id = up->patient ? up->patient->id : 0;
	im.patient = up->patient ? up->patient->username : NULL;
	im.deidentified = up->deidentified;
	json_t *names = json_array();
	for (size_t i = 0; names && i < up->n_rows; i++)
		json_array_append_new(names, json_string(up->names[i]));
	/* The patient's account name, as every recipient's: the server knows it anyway. */
	json_t *detail_obj =
	    json_pack("{s:I, s:O, s:o, s:b}", "size", (json_int_t)up->total, "recipients", names, "patient",
	              im.patient ? json_string(im.patient) : json_null(), "deidentified", im.deidentified);
	char *detail = detail_obj ? json_dumps(detail_obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail_obj);
	mcd_audit_event ev = mcd_event(r, "upload", im.id, "ok", detail);
	/* The commit (fsync of what may be gigabytes) runs outside the lock; only the step that
	 * makes the blob referenced is serialised with deletion. A delete that removed the same
	 * blob in between (it was stored already, so this commit kept the existing file) shows as
	 * a missing blob here, and the upload fails cleanly instead of naming a removed blob. */
	mcd_blob_status bst = r->srv->blobs->ops->commit(up->writer, im.blob_sha256, &size);
	up->writer = NULL; /* commit frees it */
	mcd_store_status s = MCD_STORE_ERROR;
	if (bst == MCD_BLOB_OK) {
		im.size = (int64_t)size;
		mcd_blob_lock();
		mcd_blob_reader *still = NULL;
		uint64_t still_size = 0;
		if (r->srv->blobs->ops->open(r->srv->blobs, im.blob_sha256, &still, &still_size) == MCD_BLOB_OK) {
			r->srv->blobs->ops->close_reader(still);
			s = st->ops->image_create(st, &im, up->rows, up->n_rows, &ev);
		} else {
			mcd_log(MCD_LOG_WARN, "upload", "the blob was removed by a concurrent delete; upload refused");
		}
		bool used = true;
		if (s != MCD_STORE_OK && st->ops->blob_referenced(st, im.blob_sha256, &used) == MCD_STORE_OK && !used)
			r->srv->blobs->ops->remove(r->srv->blobs, im.blob_sha256);
		mcd_blob_unlock();
	}
	free(detail);
	if (s != MCD_STORE_OK) {
		json_decref(names);
		mcd_reply_store(r, s == MCD_STORE_CONFLICT ? MCD_STORE_ERROR : s);
		return r->status;
	}
	mcd_metrics_add(MCD_M_UPLOADS, 1);
	mcd_metrics_add(MCD_M_UPLOAD_BYTES, size);
	/* Committed: each recipient hears that an image arrived, and nothing about it. */
	for (size_t i = 0; i < up->n_rows; i++)
		mcd_events_notify(r->srv, up->rows[i].user_id, "image", im.id);
	char sha[65];
	mcd_hex(im.blob_sha256, 32, sha);
	mcd_reply_json(r, 201,
	               json_pack("{s:s, s:I, s:s, s:o, s:o, s:b}", "id", im.id, "size", (json_int_t)size, "sha256", sha,
	                         "recipients", names ? names : json_array(), "patient",
	                         im.patient ? json_string(im.patient) : json_null(), "deidentified", im.deidentified));
	return r->status;
}

void mcd_ingest_free(mcd_ingest *up, mcd_request *r)
{
	if (!up)
		return;
	mcd_blob_pipe_close(up->pipe, false);
	if (up->writer)
		r->srv->blobs->ops->abort(up->writer);
	clear_rows(up);
	mcd_user_free(up->patient);
	mcd_sealed_free(up->check);
	free(up);
}

/* ---- POST /api/v1/images: the whole file in one body ---- */

bool mcd_upload_begin(mcd_request *r)
{
	struct mcd_upload *up = calloc(1, sizeof *up);
	if (!up) {
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	r->upload = up;
	if (!(up->ingest = mcd_ingest_new(r, r->content_length)))
		return false;
	/* The patient and the mark are in the query: checked before a byte of the body is read. A
	 * refusal is answered once the body has been read and dropped (a client still sending would
	 * otherwise see the connection reset, not the answer), or at once when more than DISCARD_MAX
	 * bytes would have to be read for nothing. */
	if (!mcd_ingest_about(up->ingest, r, mcd_request_arg(r, "patient"), mcd_request_arg(r, "deidentified")) &&
	    r->content_length > DISCARD_MAX) {
		reply_failure(up->ingest, r);
		return false;
	}
	return true;
}

bool mcd_upload_data(mcd_request *r, const uint8_t *buf, size_t len)
{
	struct mcd_upload *up = r->upload;
	if (!up || !up->ingest)
		return false;
	up->received += len;
	if (!mcd_ingest_failed(up->ingest))
		mcd_ingest_feed(up->ingest, r, buf, len);
	/* A refused upload is read to its end (so the client sees the answer) unless too much is left. */
	return !mcd_ingest_failed(up->ingest) || r->content_length - up->received <= DISCARD_MAX ||
	       up->received >= r->content_length;
}

void mcd_h_upload(mcd_request *r)
{
	mcd_ingest_finish(r->upload->ingest, r);
}

void mcd_upload_free(mcd_request *r)
{
	struct mcd_upload *up = r->upload;
	if (!up)
		return;
	mcd_ingest_free(up->ingest, r);
	free(up);
	r->upload = NULL;
}
