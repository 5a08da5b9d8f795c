/*
 * appointments.c: a patient appoints and dismisses doctors (API.md §16a, issue 12). An
 * appointment is a server-side record of two user ids, which the recipient rules read (rules.h:
 * who may send a patient's image to whom). Dismissal is honest revocation: in the same
 * transaction it deletes every wrap the doctor holds of an image about the patient (except
 * images the doctor sent) and withdraws the patient's approved consents to that doctor; what
 * the doctor downloaded before stays downloaded, which API.md §16a says. Appointing twice answers 200 with
 * the existing appointment and writes no second audit record; a dismissal of a doctor who is
 * not appointed (or no user at all) is 404 `not_appointed`. The route table has already checked
 * the role (patients appoint; patients and doctors list), CSRF and, for a dismissal, a fresh
 * re-authentication.
 */
#include <stdio.h>
#include <string.h>

#include "../util.h"
#include "appointments.h"
#include "handlers.h"

/* An appointment as the caller's list shows it: the other party and since when. */
static json_t *appointment_json(const char *username, const char *display_name, int64_t since, bool disabled)
{
	return json_pack("{s:s, s:s, s:I, s:b}", "username", username, "display_name", display_name ? display_name : "",
	                 "since", (json_int_t)since, "disabled", disabled);
}

void mcd_h_appointment_add(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *doctor = NULL;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *name = mcd_json_str(body, "doctor");
	if (!name || !mcd_valid_username(name)) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	mcd_store_status s = st->ops->user_by_name(st, name, &doctor);
	/* a disabled account is hidden from everyone but the admin (§16), so it is no user here */
	if (s == MCD_STORE_NOT_FOUND || (s == MCD_STORE_OK && doctor->disabled)) {
		mcd_reply_message(r, 404, "not_found", "no such user");
		goto cleanup;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	if (doctor->role != MCD_ROLE_DOCTOR) {
		mcd_reply_message(r, 409, "not_a_doctor", "only a doctor can be appointed");
		goto cleanup;
	}
	int64_t since = mcd_now();
	mcd_audit_event ev = mcd_event(r, "appoint", doctor->username, "ok", NULL);
	s = st->ops->appointment_add(st, r->user->id, doctor->id, since, &ev);
	unsigned status = 201;
	if (s == MCD_STORE_CONFLICT) {
		/* idempotent: the appointment stands, with its first time */
		bool yes = false;
		s = st->ops->is_appointed(st, r->user->id, doctor->id, &yes, &since);
		if (s == MCD_STORE_OK && !yes)
			s = MCD_STORE_CONFLICT; /* dismissed meanwhile: let the client try again */
		status = 200;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	mcd_reply_json(r, status, appointment_json(doctor->username, doctor->display_name, since, false));
cleanup:
	mcd_user_free(doctor);
	json_decref(body);
}

void mcd_h_appointment_delete(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *doctor = NULL;
	int64_t wraps_deleted = 0;
	mcd_store_status s = st->ops->user_by_name(st, r->params[0], &doctor);
	if (s == MCD_STORE_OK) {
		mcd_audit_event ev = mcd_event(r, "dismiss", doctor->username, "ok", NULL);
		s = st->ops->appointment_delete(st, r->user->id, doctor->id, &wraps_deleted, &ev);
	}
	if (s == MCD_STORE_NOT_FOUND) {
		mcd_user_free(doctor);
		mcd_reply_message(r, 404, "not_appointed", "that doctor is not appointed by you");
		return;
	}
	if (s != MCD_STORE_OK) {
		mcd_user_free(doctor);
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 200,
	               json_pack("{s:s, s:I}", "doctor", doctor->username, "wraps_deleted", (json_int_t)wraps_deleted));
	mcd_user_free(doctor);
}

static int add_appointment(void *ctx, const mcd_appointment *a)
{
	json_t *o = appointment_json(a->peer_username, a->peer_display_name, a->created, a->peer_disabled);
	return o ? json_array_append_new(ctx, o) : -1;
}

void mcd_h_appointments_list(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	bool patient = r->user->role == MCD_ROLE_PATIENT;
	if (!patient && r->user->role != MCD_ROLE_DOCTOR) {
		mcd_reply_error(r, 403, "forbidden"); /* the route's right says so already */
		return;
	}
	json_t *list = json_array();
	mcd_store_status s = !list     ? MCD_STORE_NOMEM
	                     : patient ? st->ops->appointments_for_patient(st, r->user->id, add_appointment, list)
	                               : st->ops->appointments_for_doctor(st, r->user->id, add_appointment, list);
	if (s != MCD_STORE_OK) {
		json_decref(list);
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_json(r, 200, json_pack("{s:s, s:o}", "as", patient ? "patient" : "doctor", "appointments", list));
}
