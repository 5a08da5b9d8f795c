/*
 * store.c: the parts of store.h that every backend shares: role names and the *_free functions
 * of the structs the operations fill. Byte buffers that are secrets at rest on the client's side
 * (wrapped key bundles, wraps, the auth hash) are wiped before they are freed: they are
 * ciphertext, but nothing is gained by leaving them in freed memory.
 */
#include "store.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[] = {NULL, "admin", "technician", "doctor", "patient", "researcher"};

const char *mcd_role_name(mcd_role r)
{
	if ((int)r <= (int)MCD_ROLE_NONE || (int)r > (int)MCD_ROLE_RESEARCHER)
		return NULL;
	return role_names[r];
}

mcd_role mcd_role_parse(const char *name)
{
	if (!name)
		return MCD_ROLE_NONE;
	for (int r = MCD_ROLE_ADMIN; r <= MCD_ROLE_RESEARCHER; r++)
		if (strcmp(name, role_names[r]) == 0)
			return (mcd_role)r;
	return MCD_ROLE_NONE;
}

static void free_wiped(void *p, size_t len)
{
	if (p)
		OPENSSL_clear_free(p, len);
}

void mcd_user_free(mcd_user *u)
{
	if (!u)
		return;
	free(u->username);
	free(u->display_name);
	free(u->enc_public_pem);
	free(u->sign_public_pem);
	if (u->auth_hash)
		free_wiped(u->auth_hash, strlen(u->auth_hash));
	free_wiped(u->wrapped_password, u->wrapped_password_len);
	free_wiped(u->wrapped_recovery, u->wrapped_recovery_len);
	free(u);
}

void mcd_image_free(mcd_image *im)
{
	if (!im)
		return;
	free(im->sender);
	free(im->patient);
	free(im->header);
	free(im);
}

void mcd_invitation_free(mcd_invitation *inv)
{
	if (!inv)
		return;
	free(inv->created_by_name);
	free(inv);
}

void mcd_partial_free(mcd_partial *p)
{
	if (!p)
		return;
	free(p->metadata);
	free(p);
}

void mcd_message_free(mcd_message *m)
{
	if (!m)
		return;
	free(m->sender);
	free(m->recipient);
	free(m->sealed);
	free(m);
}

void mcd_consent_free(mcd_consent *c)
{
	if (!c)
		return;
	free(c->patient);
	free(c->doctor);
	free(c->sealed);
	free(c);
}

const char *mcd_consent_status_at(const mcd_consent *c, int64_t now)
{
	if (!strcmp(c->status, "pending") && now >= c->expires)
		return "expired";
	return c->status;
}

void mcd_wrap_free(mcd_wrap *w)
{
	if (!w)
		return;
	free_wiped(w->wrap, w->wrap_len);
	free(w);
}

void mcd_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void mcd_audit_record_free(mcd_audit_record *r)
{
	if (!r)
		return;
	free(r->actor);
	free(r->address);
	free(r->action);
	free(r->object);
	free(r->outcome);
	free(r->detail);
	free(r);
}
