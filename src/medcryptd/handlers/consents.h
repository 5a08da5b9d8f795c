/*
 * consents.h: the routes of API.md §16c (handlers/consents.c), consent requests: a doctor asks a
 * patient for access to their images; the patient's client approves by wrapping the chosen
 * images' file keys for the doctor, or denies; either may withdraw.
 */
#ifndef MEDCRYPTD_CONSENTS_H
#define MEDCRYPTD_CONSENTS_H

#include "../http.h"

#define MCD_CONSENT_EXPIRES_DEFAULT (7 * 86400)
#define MCD_CONSENT_EXPIRES_MAX     (90 * 86400)
/* An approval carries at most this many wraps. */
#define MCD_CONSENT_MAX_WRAPS 10000
/* Its body: that many {"image": ID, "wrap": base64 of an RSA-8192 wrap (35 + 1024 bytes)}. */
#define MCD_CONSENT_APPROVE_BODY ((size_t)MCD_CONSENT_MAX_WRAPS * 1536 + 4096)

/* POST /api/v1/consents (doctor; CSRF): {"patient": U, "sealed": B64, "expires_in": S} → 201
 * CONSENT. */
void mcd_h_consent_create(mcd_request *r);
/* GET /api/v1/consents[?status=S]: the caller's consents, as patient or doctor, newest first. */
void mcd_h_consents_list(mcd_request *r);
/* GET /api/v1/consents/{id}: one, to its two parties (404 to anyone else). */
void mcd_h_consent_get(mcd_request *r);
/* POST /api/v1/consents/{id}/approve (its patient; CSRF; re-authenticated): {"wraps": [{"image":
 * ID, "wrap": B64}, ...]} → 200 CONSENT with "added". */
void mcd_h_consent_approve(mcd_request *r);
/* POST /api/v1/consents/{id}/deny (its patient; CSRF) → 200 CONSENT. */
void mcd_h_consent_deny(mcd_request *r);
/* POST /api/v1/consents/{id}/withdraw (CSRF): the patient an approval, the doctor a pending
 * request → 200 CONSENT. */
void mcd_h_consent_withdraw(mcd_request *r);

#endif
