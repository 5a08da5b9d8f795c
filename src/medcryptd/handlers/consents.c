/*
 * consents.c: consent requests (API.md §16c, issue 12). A doctor asks a patient for access with
 * a sealed request (a sealed container signed by the doctor and wrapped for exactly the two of
 * them, checked like a message: mcd_sealed_for_pair) whose scope and reason the server never
 * sees. The patient approves by sending wraps their own client made, one per chosen image, for
 * the doctor's current key: consent is enforced by the patient's keys, the server only stores
 * the wraps (tagged with the consent, so a withdrawal deletes them) and checks that each is
 * about an image of that patient they can see and names the doctor's key. Every decision is one
 * transaction with its audit record (store.h); a pending request past its expiry reads as
 * "expired" and can no longer be decided. A consent is visible to its two parties only; to
 * anyone else it does not exist (404). Events tell the other party, with the consent's id only.
 */
#include "consents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../log.h"
#include "../sealed_check.h"
#include "../util.h"
#include "handlers.h"
#include "messages.h"

/* CONSENT of API.md §16c; NULL when out of memory. */
static json_t *consent_json(const mcd_consent *c, int64_t now)
{
	char *sealed = mcd_b64_encode(c->sealed, c->sealed_len);
	json_t *o = NULL;
	if (sealed)
		o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:I, s:s}", "id", c->id, "patient", c->patient,
		              "doctor", c->doctor, "created", (json_int_t)c->created, "expires", (json_int_t)c->expires,
		              "status", mcd_consent_status_at(c, now), "decided",
		              c->decided ? json_integer(c->decided) : json_null(), "images", (json_int_t)c->images,
		              "sealed", sealed);
	free(sealed);
	return o;
}

/* The consent r->params[0] when the caller is one of its parties; replies 404 otherwise. */
static mcd_consent *consent_of_caller(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = NULL;
	mcd_store_status s = st->ops->consent_get(st, r->params[0], &c);
	if (s == MCD_STORE_OK && c->patient_id != r->user->id && c->doctor_id != r->user->id)
		s = MCD_STORE_NOT_FOUND;
	if (s != MCD_STORE_OK) {
		mcd_consent_free(c);
		mcd_reply_store(r, s);
		return NULL;
	}
	return c;
}

/* Replies the consent as it now is (200), with "added" when added >= 0. */
static void reply_consent(mcd_request *r, int64_t added)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = NULL;
	mcd_store_status s = st->ops->consent_get(st, r->params[0], &c);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	json_t *o = consent_json(c, mcd_now());
	if (o && added >= 0)
		json_object_set_new(o, "added", json_integer(added));
	mcd_reply_json(r, o ? 200 : 500, o);
	mcd_consent_free(c);
}

/* 409 for a decision the consent's state does not allow: "expired" when it reads so. */
static void reply_state(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = NULL;
	bool expired = st->ops->consent_get(st, r->params[0], &c) == MCD_STORE_OK &&
	               !strcmp(mcd_consent_status_at(c, mcd_now()), "expired");
	mcd_consent_free(c);
	if (expired)
		mcd_reply_message(r, 409, "expired", "the consent request has expired");
	else
		mcd_reply_message(r, 409, "conflict", "the consent is not in a state that allows this");
}

void mcd_h_consent_create(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *patient = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	char *detail = NULL;
	json_t *body = NULL;
	if (r->user->role != MCD_ROLE_DOCTOR) {
		mcd_reply_message(r, 403, "forbidden", "only a doctor asks for consent");
		return;
	}
	if (!(body = mcd_request_json(r)))
		return;
	const char *name = mcd_json_str(body, "patient");
	json_t *expires_j = json_object_get(body, "expires_in");
	json_int_t expires_in = MCD_CONSENT_EXPIRES_DEFAULT;
	if (expires_j && !json_is_null(expires_j)) {
		expires_in = json_is_integer(expires_j) ? json_integer_value(expires_j) : 0;
		/* 1 second up (tests need short ones); 60 is the least a client should ask for */
		if (expires_in < 1 || expires_in > MCD_CONSENT_EXPIRES_MAX)
			expires_in = 0;
	}
	if (!name || !mcd_valid_username(name) || expires_in == 0 ||
	    !mcd_json_b64(body, "sealed", 1, MCD_MESSAGE_MAX, &sealed, &sealed_len)) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	mcd_store_status s = st->ops->user_by_name(st, name, &patient);
	if (s == MCD_STORE_NOT_FOUND ||
	    (s == MCD_STORE_OK && (patient->disabled || patient->role != MCD_ROLE_PATIENT))) {
		mcd_reply_message(r, 404, "not_found", "no such patient");
		goto cleanup;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	const char *why = NULL;
	if (!mcd_sealed_for_pair(r->user, patient, sealed, sealed_len, true, &why)) {
		if (!strcmp(why, "internal"))
			mcd_reply_error(r, 500, "internal");
		else if (!strcmp(why, "wrong_recipients"))
			mcd_reply_message(r, 400, why,
			                  "a consent request is wrapped for exactly its doctor and its patient");
		else if (!strcmp(why, "wrong_signer"))
			mcd_reply_message(r, 400, "bad_container",
			                  "a consent request is signed with the doctor's current signing key");
		else
			mcd_reply_error(r, 400, "bad_container");
		goto cleanup;
	}
	mcd_consent c = {.patient_id = patient->id,
	                 .doctor_id = r->user->id,
	                 .created = mcd_now(),
	                 .sealed = sealed,
	                 .sealed_len = sealed_len};
	c.expires = c.created + expires_in;
	uint8_t id_bytes[16];
	if (!mcd_random(id_bytes, sizeof id_bytes)) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	mcd_hex(id_bytes, sizeof id_bytes, c.id);
	detail =
	    mcd_audit_detail(json_pack("{s:s, s:I}", "patient", patient->username, "expires", (json_int_t)c.expires));
	mcd_audit_event ev = mcd_event(r, "consent_request", c.id, "ok", detail);
	s = st->ops->consent_create(st, &c, &ev);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s == MCD_STORE_CONFLICT ? MCD_STORE_ERROR : s);
		goto cleanup;
	}
	/* Committed: the patient hears that a request came, and nothing about it. */
	mcd_events_notify(r->srv, patient->id, "consent", c.id);
	mcd_consent *made = NULL;
	if ((s = st->ops->consent_get(st, c.id, &made)) != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	json_t *o = consent_json(made, mcd_now());
	mcd_reply_json(r, o ? 201 : 500, o);
	mcd_consent_free(made);
cleanup:
	free(detail);
	free(sealed);
	mcd_user_free(patient);
	json_decref(body);
}

static int add_consent(void *ctx, const mcd_consent *c)
{
	mcd_listing *l = ctx;
	return mcd_listing_add(l, consent_json(c, l->now));
}

void mcd_h_consents_list(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	static const char *const statuses[] = {"pending", "approved", "denied", "expired", "withdrawn"};
	const char *status = mcd_request_arg(r, "status");
	bool known = !status;
	for (size_t i = 0; status && i < sizeof statuses / sizeof statuses[0]; i++)
		known |= !strcmp(status, statuses[i]);
	if (!known) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	mcd_listing l = {.r = r, .list = json_array(), .now = mcd_now()};
	mcd_store_status s =
	    l.list ? st->ops->consents_for_user(st, r->user->id, status, l.now, add_consent, &l) : MCD_STORE_NOMEM;
	mcd_reply_listing(&l, s, "consents");
}

void mcd_h_consent_get(mcd_request *r)
{
	mcd_consent *c = consent_of_caller(r);
	if (!c)
		return;
	json_t *o = consent_json(c, mcd_now());
	mcd_reply_json(r, o ? 200 : 500, o);
	mcd_consent_free(c);
}

/* The consent for a decision of its patient: 404 to others, 403 to its doctor, 409 when it is
 * no longer pending. NULL: replied. */
static mcd_consent *pending_of_patient(mcd_request *r)
{
	mcd_consent *c = consent_of_caller(r);
	if (!c)
		return NULL;
	const char *status = mcd_consent_status_at(c, mcd_now());
	if (c->patient_id != r->user->id)
		mcd_reply_message(r, 403, "forbidden", "only the patient decides a consent request");
	else if (!strcmp(status, "expired"))
		mcd_reply_message(r, 409, "expired", "the consent request has expired");
	else if (strcmp(status, "pending") != 0)
		mcd_reply_message(r, 409, "conflict", "the consent request is decided already");
	else
		return c;
	mcd_consent_free(c);
	return NULL;
}

void mcd_h_consent_approve(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = NULL;
	mcd_user *doctor = NULL;
	mcd_consent_wrap *wraps = NULL;
	uint8_t **bytes = NULL;
	size_t n = 0;
	json_t *body = mcd_request_json(r);
	if (!body || !(c = pending_of_patient(r)))
		goto cleanup;
	json_t *list = json_object_get(body, "wraps");
	if (!json_is_array(list) || json_array_size(list) > MCD_CONSENT_MAX_WRAPS) {
		mcd_reply_message(r, 400, "bad_request", "wraps: an array of at most 10000 {\"image\", \"wrap\"}");
		goto cleanup;
	}
	mcd_store_status s = st->ops->user_by_id(st, c->doctor_id, &doctor);
	if (s == MCD_STORE_OK && doctor->disabled)
		s = MCD_STORE_CONFLICT; /* a disabled account receives nothing */
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	size_t count = json_array_size(list);
	wraps = calloc(count ? count : 1, sizeof *wraps);
	bytes = calloc(count ? count : 1, sizeof *bytes);
	if (!wraps || !bytes) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	for (n = 0; n < count; n++) {
		json_t *item = json_array_get(list, n);
		const char *image = json_is_object(item) ? mcd_json_str(item, "image") : NULL;
		size_t len = 0;
		if (!image || strlen(image) != 32 || strspn(image, "0123456789abcdef") != 32 ||
		    !mcd_json_b64(item, "wrap", FMT_WRAP_FIXED_LEN, FMT_OAEP_WRAP_MAX_LEN, &bytes[n], &len)) {
			mcd_reply_message(r, 400, "bad_request", "each entry is {\"image\": ID, \"wrap\": base64}");
			goto cleanup;
		}
		wraps[n] = (mcd_consent_wrap){.image_id = image, .wrap = bytes[n], .wrap_len = len};
		/* one RSA-OAEP wrap, exactly, naming the doctor's current key: the check of shares */
		const char *why = NULL;
		mcd_wrap_check chk = mcd_sealed_check_wrap(bytes[n], len, doctor->enc_fp, &why);
		if (chk != MCD_WRAP_OK) {
			mcd_log(MCD_LOG_INFO, "consents", "approval refused: %s", why);
			n++;
			mcd_reply_error_with(r, 400, chk == MCD_WRAP_BAD ? "bad_container" : "unknown_recipient",
			                     json_pack("{s:s}", "image", image));
			goto cleanup;
		}
	}
	size_t bad_index = 0;
	int64_t added = 0;
	mcd_audit_event ev = mcd_event(r, "consent_approve", c->id, "ok", NULL);
	s = st->ops->consent_approve(st, c->id, r->user->id, mcd_now(), wraps, n, &bad_index, &added, &ev);
	if (s == MCD_STORE_NOT_FOUND && bad_index < n) {
		mcd_reply_error_with(r, 404, "not_found", json_pack("{s:s}", "image", wraps[bad_index].image_id));
		goto cleanup;
	}
	if (s == MCD_STORE_CONFLICT) {
		reply_state(r);
		goto cleanup;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_events_notify(r->srv, c->doctor_id, "consent", c->id);
	reply_consent(r, added);
cleanup:
	for (size_t i = 0; bytes && i < n; i++)
		free(bytes[i]);
	free(bytes);
	free(wraps);
	mcd_user_free(doctor);
	mcd_consent_free(c);
	json_decref(body);
}

void mcd_h_consent_deny(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = pending_of_patient(r);
	if (!c)
		return;
	mcd_audit_event ev = mcd_event(r, "consent_deny", c->id, "ok", NULL);
	mcd_store_status s = st->ops->consent_deny(st, c->id, r->user->id, mcd_now(), &ev);
	if (s == MCD_STORE_CONFLICT)
		reply_state(r);
	else if (s != MCD_STORE_OK)
		mcd_reply_store(r, s);
	else {
		mcd_events_notify(r->srv, c->doctor_id, "consent", c->id);
		reply_consent(r, -1);
	}
	mcd_consent_free(c);
}

void mcd_h_consent_withdraw(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_consent *c = consent_of_caller(r);
	if (!c)
		return;
	int64_t deleted = 0;
	mcd_audit_event ev = mcd_event(r, "consent_withdraw", c->id, "ok", NULL);
	mcd_store_status s = st->ops->consent_withdraw(st, c->id, r->user->id, mcd_now(), &deleted, &ev);
	if (s == MCD_STORE_CONFLICT)
		reply_state(r);
	else if (s != MCD_STORE_OK)
		mcd_reply_store(r, s);
	else {
		/* the other party hears of it */
		mcd_events_notify(r->srv, c->patient_id == r->user->id ? c->doctor_id : c->patient_id, "consent",
		                  c->id);
		reply_consent(r, -1);
	}
	mcd_consent_free(c);
}
