/*
 * rules.h: who may hold a wrap of an image, by the image's patient and its de-identified mark
 * (API.md §14 "Recipients", issue 12), in one place for the two routes that make wraps: the
 * upload pipeline (handlers/upload.c, for POST /api/v1/images and the tus uploads) and shares
 * (handlers/shares.c). The role table of rights.c applies first; these rules narrow it:
 *   1. a technician names the patient (400 patient_required);
 *   2. a doctor names the patient unless the item is de-identified (400 patient_required), and
 *      when naming one is appointed by that patient or holds an approved consent of theirs (403
 *      not_appointed, user = the patient);
 *   3. the named patient is an enabled patient account (400 unknown_patient) and one of the
 *      recipients (400 patient_not_recipient);
 *   4. with a patient named, every other recipient is a doctor the patient appointed (403
 *      not_appointed), or a researcher when the item is de-identified; the patient sharing their
 *      own image may give it to any doctor;
 *   5. a researcher only for an item marked de-identified (403 not_deidentified);
 *   6. the role table (rights.c, mcd_may_send) first (403 forbidden);
 *   7. a de-identified mark needs the file signed with the sender's current signing key (400
 *      unsigned_claim): the claim is inside the signed, encrypted metadata; the server records
 *      only the mark.
 * A refusal is a verdict naming the first offending user, which the handler replies as
 * {"error": CODE, "user": U}.
 */
#ifndef MEDCRYPTD_RULES_H
#define MEDCRYPTD_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "store.h"

typedef struct mcd_verdict {
	unsigned status;  /* 0: allowed; else the HTTP status of the refusal */
	const char *code; /* the error code (static) */
	char user[72];    /* the offending user, "" when there is none to name */
} mcd_verdict;

/* Sets *v to the refusal (status, code, user may be NULL); returns false, for `return deny(...)`. */
bool mcd_verdict_deny(mcd_verdict *v, unsigned status, const char *code, const char *user);

/* Rule 3, first half: the patient named by an upload, as an enabled user of role patient. *out
 * (freed with mcd_user_free) is NULL on refusal (400 unknown_patient, naming the name when it
 * is a well-formed username) or on a store failure (500 internal). */
bool mcd_rules_patient(mcd_store *st, const char *name, mcd_user **out, mcd_verdict *v);

/* Rules 1 and 2 for the sender of an upload about patient (NULL: none named) with the mark. */
bool mcd_rules_sender(mcd_store *st, const mcd_user *sender, const mcd_user *patient, bool deidentified,
                      mcd_verdict *v);

/* Rules 6, 5 and 4 for one recipient `to` of a wrap given by `sender` (the uploader or the
 * sharer) of an item about patient_id (0: none) with the mark. A wrap for the sender is always
 * allowed. */
bool mcd_rules_recipient(mcd_store *st, const mcd_user *sender, int64_t patient_id, bool deidentified,
                         const mcd_user *to, mcd_verdict *v);

/* Rule 7: signer_fp is the SHA-256 of the file's signer key (NULL: unsigned). Only asked when
 * the item is marked de-identified. */
bool mcd_rules_signer(const mcd_user *sender, const uint8_t *signer_fp, mcd_verdict *v);

/* Replies the refusal v: {"error": code, "message", "user": U when named}. */
void mcd_reply_verdict(mcd_request *r, const mcd_verdict *v);

#endif
