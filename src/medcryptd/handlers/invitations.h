/*
 * invitations.h: making an invitation, shared by the admin route, the first start and
 * `medcryptd invite`.
 */
#ifndef MEDCRYPTD_INVITATIONS_H
#define MEDCRYPTD_INVITATIONS_H

#include <stdint.h>

#include "../store.h"

/* Makes a single-use invitation for role valid lifetime seconds: 20 random bytes shown as 32
 * base32 characters in code; only their SHA-256 is stored (with ev appended), with a random id
 * and the time it was made. *expires is the end. On failure code is wiped. */
mcd_store_status mcd_invitation_new(mcd_store *st, mcd_role role, int64_t lifetime, int64_t created_by,
                                    const mcd_audit_event *ev, char code[33], int64_t *expires);
/* mcd_invitation_new that also gives the invitation's id (32 hex digits and a terminator; the
 * name GET and DELETE /api/v1/invitations use), unless id is NULL. */
mcd_store_status mcd_invitation_make(mcd_store *st, mcd_role role, int64_t lifetime, int64_t created_by,
                                     const mcd_audit_event *ev, char code[33], char id[33], int64_t *expires);

#endif
