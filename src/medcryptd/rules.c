/*
 * rules.c: the recipient rules of rules.h (API.md §14, issue 12). They read the store
 * (appointments, consents, users) and decide; they never write. Each check returns true to
 * allow and fills a verdict otherwise, so the upload pipeline, which checks at the wraps and
 * again at the last byte, and the share handler give the same answer for the same case.
 */
#include "rules.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "rights.h"
#include "util.h"

bool mcd_verdict_deny(mcd_verdict *v, unsigned status, const char *code, const char *user)
{
	v->status = status;
	v->code = code;
	snprintf(v->user, sizeof v->user, "%s", user ? user : "");
	return false;
}

static void allow(mcd_verdict *v)
{
	v->status = 0;
	v->code = NULL;
	v->user[0] = 0;
}

bool mcd_rules_patient(mcd_store *st, const char *name, mcd_user **out, mcd_verdict *v)
{
	*out = NULL;
	allow(v);
	bool well_formed = name && mcd_valid_username(name);
	if (!well_formed)
		return mcd_verdict_deny(v, 400, "unknown_patient", NULL);
	mcd_user *u = NULL;
	mcd_store_status s = st->ops->user_by_name(st, name, &u);
	if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND)
		return mcd_verdict_deny(v, 500, "internal", NULL);
	if (s == MCD_STORE_NOT_FOUND || u->disabled || u->role != MCD_ROLE_PATIENT) {
		mcd_user_free(u);
		return mcd_verdict_deny(v, 400, "unknown_patient", name);
	}
	*out = u;
	return true;
}

/* Whether the patient appointed the doctor or approved a consent of theirs that stands. */
static mcd_store_status may_treat(mcd_store *st, int64_t patient_id, int64_t doctor_id, bool *yes)
{
	mcd_store_status s = st->ops->is_appointed(st, patient_id, doctor_id, yes, NULL);
	if (s == MCD_STORE_OK && !*yes)
		s = st->ops->has_consent(st, patient_id, doctor_id, yes);
	return s;
}

bool mcd_rules_sender(mcd_store *st, const mcd_user *sender, const mcd_user *patient, bool deidentified, mcd_verdict *v)
{
	allow(v);
	if (!patient) {
		if (sender->role == MCD_ROLE_TECHNICIAN || (sender->role == MCD_ROLE_DOCTOR && !deidentified))
			return mcd_verdict_deny(v, 400, "patient_required", NULL); /* rules 1 and 2 */
		return true;
	}
	if (sender->role == MCD_ROLE_DOCTOR) { /* rule 2 */
		bool yes = false;
		if (may_treat(st, patient->id, sender->id, &yes) != MCD_STORE_OK)
			return mcd_verdict_deny(v, 500, "internal", NULL);
		if (!yes)
			return mcd_verdict_deny(v, 403, "not_appointed", patient->username);
	}
	return true;
}

bool mcd_rules_recipient(mcd_store *st, const mcd_user *sender, int64_t patient_id, bool deidentified,
                         const mcd_user *to, mcd_verdict *v)
{
	allow(v);
	if (to->id == sender->id)
		return true;
	if (!mcd_may_send(sender->role, to->role)) /* rule 6 */
		return mcd_verdict_deny(v, 403, "forbidden", to->username);
	if (to->role == MCD_ROLE_RESEARCHER && !deidentified) /* rule 5 */
		return mcd_verdict_deny(v, 403, "not_deidentified", to->username);
	if (patient_id <= 0 || to->id == patient_id || sender->id == patient_id)
		return true; /* no patient; the patient themself; the patient's own choice of doctor */
	if (to->role == MCD_ROLE_RESEARCHER)
		return true; /* de-identified, by rule 5 */
	bool appointed = false;
	if (to->role == MCD_ROLE_DOCTOR &&
	    st->ops->is_appointed(st, patient_id, to->id, &appointed, NULL) != MCD_STORE_OK)
		return mcd_verdict_deny(v, 500, "internal", NULL);
	if (!appointed) /* rule 4 */
		return mcd_verdict_deny(v, 403, "not_appointed", to->username);
	return true;
}

bool mcd_rules_signer(const mcd_user *sender, const uint8_t *signer_fp, mcd_verdict *v)
{
	allow(v);
	if (!signer_fp || CRYPTO_memcmp(signer_fp, sender->sign_fp, 32) != 0)
		return mcd_verdict_deny(v, 400, "unsigned_claim", NULL);
	return true;
}

void mcd_reply_verdict(mcd_request *r, const mcd_verdict *v)
{
	json_t *extra = v->user[0] ? json_pack("{s:s}", "user", v->user) : NULL;
	mcd_reply_error_with(r, v->status ? v->status : 500, v->code ? v->code : "internal", extra);
}
