/*
 * rights.c: the two tables of API.md §14. Changing who may do what is a change to these
 * tables and to that section, nothing else: every route names its right in router.c, and the
 * handlers of upload and share ask mcd_may_send.
 */
#include "rights.h"

#define R(x) (1u << (x))

/* Rows: roles in mcd_role order. Columns: the rights of API.md §14. */
static const unsigned role_rights[] = {
    [MCD_ROLE_NONE] = 0,
    [MCD_ROLE_ADMIN] = R(MCD_RIGHT_DIRECTORY) | R(MCD_RIGHT_MANAGE_USERS) | R(MCD_RIGHT_AUDIT),
    [MCD_ROLE_TECHNICIAN] = R(MCD_RIGHT_DIRECTORY) | R(MCD_RIGHT_UPLOAD) | R(MCD_RIGHT_READ_IMAGES) |
                            R(MCD_RIGHT_REVOKE) | R(MCD_RIGHT_DELETE) | R(MCD_RIGHT_MESSAGE),
    [MCD_ROLE_DOCTOR] = R(MCD_RIGHT_DIRECTORY) | R(MCD_RIGHT_UPLOAD) | R(MCD_RIGHT_READ_IMAGES) | R(MCD_RIGHT_SHARE) |
                        R(MCD_RIGHT_REVOKE) | R(MCD_RIGHT_DELETE) | R(MCD_RIGHT_APPOINTMENTS) | R(MCD_RIGHT_MESSAGE) |
                        R(MCD_RIGHT_CONSENT),
    [MCD_ROLE_PATIENT] = R(MCD_RIGHT_DIRECTORY) | R(MCD_RIGHT_READ_IMAGES) | R(MCD_RIGHT_SHARE) | R(MCD_RIGHT_REVOKE) |
                         R(MCD_RIGHT_APPOINT) | R(MCD_RIGHT_APPOINTMENTS) | R(MCD_RIGHT_MESSAGE) | R(MCD_RIGHT_CONSENT),
    [MCD_ROLE_RESEARCHER] = R(MCD_RIGHT_DIRECTORY) | R(MCD_RIGHT_READ_IMAGES),
};

#define TO(x) (1u << (x))

/* Rows: the sender's role; bits: the recipients' roles (API.md §14, "Recipients"). */
static const unsigned may_send_to[] = {
    [MCD_ROLE_NONE] = 0,
    [MCD_ROLE_ADMIN] = 0,
    [MCD_ROLE_TECHNICIAN] = TO(MCD_ROLE_PATIENT) | TO(MCD_ROLE_DOCTOR),
    [MCD_ROLE_DOCTOR] = TO(MCD_ROLE_DOCTOR) | TO(MCD_ROLE_PATIENT) | TO(MCD_ROLE_RESEARCHER),
    [MCD_ROLE_PATIENT] = TO(MCD_ROLE_DOCTOR),
    [MCD_ROLE_RESEARCHER] = 0,
};

static bool valid_role(mcd_role r)
{
	return r >= MCD_ROLE_ADMIN && r <= MCD_ROLE_RESEARCHER;
}

bool mcd_role_has(mcd_role role, mcd_right right)
{
	if (!valid_role(role))
		return false;
	if (right == MCD_RIGHT_PUBLIC || right == MCD_RIGHT_SESSION)
		return true;
	return (role_rights[role] & R(right)) != 0;
}

bool mcd_may_send(mcd_role sender, mcd_role recipient)
{
	return valid_role(sender) && valid_role(recipient) && (may_send_to[sender] & TO(recipient)) != 0;
}

/* Who may message whom (API.md §14, "Messages"); symmetric, so one row per unordered pair. */
mcd_talk mcd_may_message(mcd_role a, mcd_role b)
{
	if (!valid_role(a) || !valid_role(b))
		return MCD_TALK_NO;
	if (a == MCD_ROLE_DOCTOR && (b == MCD_ROLE_DOCTOR || b == MCD_ROLE_TECHNICIAN))
		return MCD_TALK_YES;
	if (b == MCD_ROLE_DOCTOR && a == MCD_ROLE_TECHNICIAN)
		return MCD_TALK_YES;
	if ((a == MCD_ROLE_DOCTOR && b == MCD_ROLE_PATIENT) || (a == MCD_ROLE_PATIENT && b == MCD_ROLE_DOCTOR))
		return MCD_TALK_IF_APPOINTED;
	return MCD_TALK_NO;
}

const char *mcd_right_name(mcd_right right)
{
	static const char *const names[] = {"public",  "session",      "directory", "manage_users", "audit",
	                                    "upload",  "read_images",  "share",     "revoke",       "delete",
	                                    "appoint", "appointments", "message",   "consent"};
	return (unsigned)right < sizeof names / sizeof names[0] ? names[right] : "?";
}
