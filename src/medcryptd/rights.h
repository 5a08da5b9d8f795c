/*
 * rights.h: who may do what (API.md §14), in one place: the rights of each role, and to which
 * roles a sender of each role may give a key wrap. The router checks the route's right before
 * any handler runs; upload and share check recipients with mcd_may_send (through rules.h, which
 * adds the rules of an image's patient and de-identified mark).
 */
#ifndef MEDCRYPTD_RIGHTS_H
#define MEDCRYPTD_RIGHTS_H

#include <stdbool.h>

#include "store.h"

typedef enum mcd_right {
	MCD_RIGHT_PUBLIC = 0,   /* no session needed */
	MCD_RIGHT_SESSION,      /* any signed-in user (me, logout, reauth) */
	MCD_RIGHT_DIRECTORY,    /* read the user directory */
	MCD_RIGHT_MANAGE_USERS, /* invite users (list, cancel invitations), change roles, disable users */
	MCD_RIGHT_AUDIT,        /* read and verify the audit log */
	MCD_RIGHT_UPLOAD,       /* upload a sealed image */
	MCD_RIGHT_READ_IMAGES,  /* list, fetch wrap and blob of images shared with me */
	MCD_RIGHT_SHARE,        /* share an image I can open */
	MCD_RIGHT_REVOKE,       /* revoke a share I granted, or any share of an image I sent */
	MCD_RIGHT_DELETE,       /* delete an image I sent */
	MCD_RIGHT_APPOINT,      /* appoint and dismiss my doctors */
	MCD_RIGHT_APPOINTMENTS, /* list my appointments (a patient's doctors, a doctor's patients) */
	MCD_RIGHT_MESSAGE,      /* send, list and read sealed messages (to whom: mcd_may_message) */
	MCD_RIGHT_CONSENT       /* consent requests: a doctor asks, a patient decides (API.md §16c) */
} mcd_right;

/* Whether role has right (PUBLIC and SESSION: every valid role). */
bool mcd_role_has(mcd_role role, mcd_right right);
/* Whether a user of role sender may hold a wrap made for a user of role recipient (upload and
 * share). A wrap for the sender's own key is always allowed and not asked here. */
bool mcd_may_send(mcd_role sender, mcd_role recipient);

/* Whether users of these roles may exchange messages (API.md §14, "Messages"), either way:
 * MCD_TALK_NO, MCD_TALK_YES, or MCD_TALK_IF_APPOINTED (a doctor and a patient: only when the
 * patient appointed the doctor or an approved consent between them stands, which the caller
 * checks in the store). */
typedef enum mcd_talk { MCD_TALK_NO = 0, MCD_TALK_YES = 1, MCD_TALK_IF_APPOINTED = 2 } mcd_talk;
mcd_talk mcd_may_message(mcd_role a, mcd_role b);
/* "upload", "share", ... for logs. */
const char *mcd_right_name(mcd_right right);

#endif
