/*
 * router.c: the one table of routes (API.md §13–18). Each row states the right the route needs
 * (rights.c decides which roles have it), whether it takes the CSRF token and a fresh
 * re-authentication, and its body limit. Path parameters are checked for shape here, so an
 * ill-formed id answers 404 exactly like an unknown one.
 */
#include "router.h"

#include <string.h>

#include "events.h"
#include "handlers/appointments.h"
#include "handlers/consents.h"
#include "handlers/handlers.h"
#include "handlers/messages.h"
#include "util.h"

#define KIB          1024
#define ACCOUNT_BODY (64 * KIB) /* PEM keys and wrapped PKCS#8 key bundles of RSA-8192 fit */
/* Matches every path but /api and what is under it (handlers/static.c checks the rest). */
#define STATIC_PATTERN "/*"

static const mcd_route routes[] = {
    /* method, pattern, name, right, csrf, reauth, body limit, stream, handler */
    {"POST", "/api/v1/prelogin", "prelogin", MCD_RIGHT_PUBLIC, false, false, 4 * KIB, false, mcd_h_prelogin},
    {"POST", "/api/v1/login", "login", MCD_RIGHT_PUBLIC, false, false, 4 * KIB, false, mcd_h_login},
    {"POST", "/api/v1/register", "register", MCD_RIGHT_PUBLIC, false, false, ACCOUNT_BODY, false, mcd_h_register},
    {"POST", "/api/v1/reauth", "reauth", MCD_RIGHT_SESSION, true, false, 4 * KIB, false, mcd_h_reauth},
    {"POST", "/api/v1/logout", "logout", MCD_RIGHT_SESSION, true, false, 4 * KIB, false, mcd_h_logout},
    {"POST", "/api/v1/logout-all", "logout_all", MCD_RIGHT_SESSION, true, false, 4 * KIB, false, mcd_h_logout_all},
    {"GET", "/api/v1/me", "me", MCD_RIGHT_SESSION, false, false, 0, false, mcd_h_me},
    {"POST", "/api/v1/invitations", "invitations", MCD_RIGHT_MANAGE_USERS, true, false, 4 * KIB, false,
     mcd_h_invitation_create},
    {"GET", "/api/v1/invitations", "invitations_list", MCD_RIGHT_MANAGE_USERS, false, false, 0, false,
     mcd_h_invitations_list},
    /* {id} is an invitation id (16 random bytes in hex, shaped like an image id), never its code. */
    {"DELETE", "/api/v1/invitations/{id}", "invitation_delete", MCD_RIGHT_MANAGE_USERS, true, false, 0, false,
     mcd_h_invitation_delete},
    {"GET", "/api/v1/users", "users", MCD_RIGHT_DIRECTORY, false, false, 0, false, mcd_h_users_list},
    {"GET", "/api/v1/users/{username}", "user", MCD_RIGHT_DIRECTORY, false, false, 0, false, mcd_h_user_get},
    {"PATCH", "/api/v1/users/{username}", "user_patch", MCD_RIGHT_MANAGE_USERS, true, false, 4 * KIB, false,
     mcd_h_user_patch},
    /* Appointments (API.md §16a); {username} is the doctor. Dismissal re-authenticates, as a
     * revocation does: it is the act that will delete the doctor's wraps (issue 12). */
    {"POST", "/api/v1/appointments", "appoint", MCD_RIGHT_APPOINT, true, false, 4 * KIB, false, mcd_h_appointment_add},
    {"GET", "/api/v1/appointments", "appointments", MCD_RIGHT_APPOINTMENTS, false, false, 0, false,
     mcd_h_appointments_list},
    {"DELETE", "/api/v1/appointments/{username}", "dismiss", MCD_RIGHT_APPOINT, true, true, 0, false,
     mcd_h_appointment_delete},
    {"POST", "/api/v1/images", "upload", MCD_RIGHT_UPLOAD, true, false, 0, true, mcd_h_upload},
    /* Resumable uploads (tus 1.0, API.md §15a); {id} is an upload id, shaped like an image id. */
    {"OPTIONS", "/api/v1/uploads", "tus_options", MCD_RIGHT_PUBLIC, false, false, 0, false, mcd_h_tus_options},
    {"POST", "/api/v1/uploads", "tus_create", MCD_RIGHT_UPLOAD, true, false, 0, false, mcd_h_tus_create},
    {"GET", "/api/v1/uploads/{id}", "tus_head", MCD_RIGHT_UPLOAD, true, false, 0, false, mcd_h_tus_head},
    {"PATCH", "/api/v1/uploads/{id}", "tus_patch", MCD_RIGHT_UPLOAD, true, false, 0, true, mcd_h_tus_patch},
    {"DELETE", "/api/v1/uploads/{id}", "tus_delete", MCD_RIGHT_UPLOAD, true, false, 0, false, mcd_h_tus_delete},
    {"GET", "/api/v1/images", "images", MCD_RIGHT_READ_IMAGES, false, false, 0, false, mcd_h_images_list},
    {"GET", "/api/v1/images/{id}", "image", MCD_RIGHT_READ_IMAGES, false, false, 0, false, mcd_h_image_get},
    {"DELETE", "/api/v1/images/{id}", "image_delete", MCD_RIGHT_DELETE, true, false, 0, false, mcd_h_image_delete},
    {"GET", "/api/v1/images/{id}/wrap", "wrap", MCD_RIGHT_READ_IMAGES, false, false, 0, false, mcd_h_image_wrap},
    {"GET", "/api/v1/images/{id}/blob", "blob", MCD_RIGHT_READ_IMAGES, false, false, 0, false, mcd_h_image_blob},
    {"POST", "/api/v1/images/{id}/shares", "share", MCD_RIGHT_SHARE, true, true, 8 * KIB, false, mcd_h_share_add},
    {"DELETE", "/api/v1/images/{id}/shares/{username}", "revoke", MCD_RIGHT_REVOKE, true, true, 0, false,
     mcd_h_share_delete},
    /* Sealed messages (API.md §16b); {id} is a message id. A send carries the sealed container
     * (at most MCD_MESSAGE_MAX bytes) in base64 in its JSON body. */
    {"POST", "/api/v1/messages", "message_send", MCD_RIGHT_MESSAGE, true, false, MCD_MESSAGE_BODY, false,
     mcd_h_message_send},
    {"GET", "/api/v1/messages", "messages", MCD_RIGHT_MESSAGE, false, false, 0, false, mcd_h_messages_list},
    {"GET", "/api/v1/messages/{id}", "message", MCD_RIGHT_MESSAGE, false, false, 0, false, mcd_h_message_get},
    {"POST", "/api/v1/messages/{id}/read", "message_read", MCD_RIGHT_MESSAGE, true, false, 0, false,
     mcd_h_message_read},
    /* Consent requests (API.md §16c); {id} is a consent id. A request carries a sealed container
     * like a message; an approval up to 10000 wraps; approving re-authenticates, as sharing does. */
    {"POST", "/api/v1/consents", "consent_request", MCD_RIGHT_CONSENT, true, false, MCD_MESSAGE_BODY, false,
     mcd_h_consent_create},
    {"GET", "/api/v1/consents", "consents", MCD_RIGHT_CONSENT, false, false, 0, false, mcd_h_consents_list},
    {"GET", "/api/v1/consents/{id}", "consent", MCD_RIGHT_CONSENT, false, false, 0, false, mcd_h_consent_get},
    {"POST", "/api/v1/consents/{id}/approve", "consent_approve", MCD_RIGHT_CONSENT, true, true,
     MCD_CONSENT_APPROVE_BODY, false, mcd_h_consent_approve},
    {"POST", "/api/v1/consents/{id}/deny", "consent_deny", MCD_RIGHT_CONSENT, true, false, 4 * KIB, false,
     mcd_h_consent_deny},
    {"POST", "/api/v1/consents/{id}/withdraw", "consent_withdraw", MCD_RIGHT_CONSENT, true, false, 4 * KIB, false,
     mcd_h_consent_withdraw},
    /* Server-Sent Events (API.md §17a): a long-lived stream of notices without PHI. */
    {"GET", "/api/v1/events", "events", MCD_RIGHT_SESSION, false, false, 0, false, mcd_h_events},
    {"GET", "/api/v1/audit", "audit", MCD_RIGHT_AUDIT, false, false, 0, false, mcd_h_audit_list},
    {"GET", "/api/v1/audit/verify", "audit_verify", MCD_RIGHT_AUDIT, false, false, 0, false, mcd_h_audit_verify},
    {"GET", "/api/v1/audit/key", "audit_key", MCD_RIGHT_PUBLIC, false, false, 0, false, mcd_h_audit_key},
    {"GET", "/healthz", "healthz", MCD_RIGHT_PUBLIC, false, false, 0, false, mcd_h_healthz},
    {"GET", "/metrics", "metrics", MCD_RIGHT_PUBLIC, false, false, 0, false, mcd_h_metrics},
    /* The web client (API.md §20): any other path outside /api/; keep it the last row. */
    {"GET", STATIC_PATTERN, "static", MCD_RIGHT_PUBLIC, false, false, 0, false, mcd_h_static},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static bool is_image_id(const char *s, size_t n)
{
	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Matches one pattern segment by segment; a parameter segment is checked for its shape. */
static bool match(const char *pattern, const char *path, char params[2][72])
{
	if (!strcmp(pattern, STATIC_PATTERN))
		return path[0] == '/' && strcmp(path, "/api") != 0 && strncmp(path, "/api/", 5) != 0;
	int np = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++, u++;
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p), ul = ue ? (size_t)(ue - u) : strlen(u);
		if (*p == '{') {
			if (ul == 0 || ul >= 72 || np >= 2)
				return false;
			memcpy(params[np], u, ul);
			params[np][ul] = 0;
			bool ok = !strncmp(p, "{id}", pl) ? is_image_id(u, ul) : mcd_valid_username(params[np]);
			if (!ok)
				return false;
			np++;
		} else if (pl != ul || strncmp(p, u, pl) != 0) {
			return false;
		}
		p += pl, u += ul;
	}
	return *p == 0 && *u == 0;
}

const mcd_route *mcd_route_match(const char *method, const char *path, char params[2][72])
{
	if (!strcmp(method, "HEAD"))
		method = "GET";
	for (size_t i = 0; i < N_ROUTES; i++)
		if (!strcmp(routes[i].method, method) && match(routes[i].pattern, path, params))
			return &routes[i];
	return NULL;
}

const mcd_route *mcd_routes(size_t *n)
{
	*n = N_ROUTES;
	return routes;
}
