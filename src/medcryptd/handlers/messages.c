/*
 * messages.c: sealed messages (API.md §16b, issue 12). A message is a sealed container (FORMAT.md)
 * made on the sender's client with two wraps, one for the recipient and one for the sender, and
 * signed with the sender's key; the server checks its structure and signature as it checks an
 * upload (sealed_check.h), checks that its wraps name exactly the two parties' current keys and
 * that the two may talk (rights.c, mcd_may_message; a doctor and a patient only when the patient
 * appointed the doctor or approved a consent of theirs that stands), and stores the bytes with who, when, which thread,
 * the size and the read time: never the text, which only the two clients can open. A sealed message is at most
 * MCD_MESSAGE_MAX bytes, sent base64 in a small JSON object (the route's body limit bounds it),
 * so it is held in memory and in a database column. A message
 * is visible to its two parties only; to anyone else it does not exist (404).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../log.h"
#include "../rights.h"
#include "../sealed_check.h"
#include "../util.h"
#include "handlers.h"
#include "messages.h"

/* A message id or thread id as the API spells it: 32 lowercase hex digits. */
static bool valid_id(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool discard(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	return true;
}

bool mcd_sealed_for_pair(const mcd_user *sender, const mcd_user *to, const uint8_t *sealed, size_t sealed_len,
                         bool signed_by_sender, const char **why)
{
	mcd_sealed *chk = mcd_sealed_new(sealed_len);
	bool ok = false;
	*why = "bad_container";
	if (!chk) {
		*why = "internal";
		return false;
	}
	if (mcd_sealed_feed(chk, sealed, sealed_len, discard, NULL) != MCD_SEALED_OK ||
	    mcd_sealed_finish(chk) != MCD_SEALED_OK) {
		mcd_log(MCD_LOG_INFO, "messages", "refused: %s", mcd_sealed_reason(chk));
		goto cleanup;
	}
	if (signed_by_sender) {
		const uint8_t *fp = mcd_sealed_signer_fp(chk);
		if (!fp || memcmp(fp, sender->sign_fp, 32) != 0) {
			*why = "wrong_signer";
			goto cleanup;
		}
	}
	*why = "wrong_recipients";
	if (mcd_sealed_n_wraps(chk) != 2)
		goto cleanup;
	bool for_sender = false, for_recipient = false;
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *fp = mcd_sealed_wrap_recipient(chk, i);
		if (!memcmp(fp, sender->enc_fp, 32))
			for_sender = true;
		else if (!memcmp(fp, to->enc_fp, 32))
			for_recipient = true;
	}
	ok = for_sender && for_recipient;
cleanup:
	mcd_sealed_free(chk);
	return ok;
}

/* Whether the signed-in user and `to` may talk (API.md §14, "Messages"). */
static mcd_store_status may_talk(mcd_request *r, const mcd_user *to, bool *yes)
{
	mcd_store *st = r->srv->store;
	*yes = false;
	switch (mcd_may_message(r->user->role, to->role)) {
	case MCD_TALK_YES: *yes = true; return MCD_STORE_OK;
	case MCD_TALK_IF_APPOINTED: {
		/* an appointment, or an approved consent while it stands */
		bool patient = r->user->role == MCD_ROLE_PATIENT;
		int64_t patient_id = patient ? r->user->id : to->id, doctor_id = patient ? to->id : r->user->id;
		mcd_store_status s = st->ops->is_appointed(st, patient_id, doctor_id, yes, NULL);
		if (s == MCD_STORE_OK && !*yes)
			s = st->ops->has_consent(st, patient_id, doctor_id, yes);
		return s;
	}
	default: return MCD_STORE_OK;
	}
}

void mcd_h_message_send(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_user *to = NULL;
	mcd_message *parent = NULL;
	char *detail = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	json_t *body = mcd_request_json(r);
	if (!body)
		return;
	const char *name = mcd_json_str(body, "to");
	json_t *reply_j = json_object_get(body, "reply_to");
	const char *reply_to = json_string_value(reply_j);
	if (!name || !mcd_valid_username(name) || (reply_j && !json_is_null(reply_j) && !valid_id(reply_to)) ||
	    !mcd_json_b64(body, "sealed", 1, MCD_MESSAGE_MAX, &sealed, &sealed_len)) {
		mcd_reply_error(r, 400, "bad_request");
		goto cleanup;
	}
	mcd_store_status s = st->ops->user_by_name(st, name, &to);
	if (s == MCD_STORE_NOT_FOUND || (s == MCD_STORE_OK && to->disabled)) {
		mcd_reply_message(r, 404, "not_found", "no such user");
		goto cleanup;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	if (to->id == r->user->id) {
		mcd_reply_message(r, 400, "bad_request", "a message needs another user");
		goto cleanup;
	}
	bool yes = false;
	if ((s = may_talk(r, to, &yes)) != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		goto cleanup;
	}
	if (!yes) {
		mcd_reply_message(r, 403, "may_not_message",
		                  "you may not message this user (doctor and patient: only an appointed doctor, or "
		                  "one with an approved consent)");
		goto cleanup;
	}
	mcd_message m = {.sender_id = r->user->id, .recipient_id = to->id, .created = mcd_now()};
	uint8_t id_bytes[16];
	if (!mcd_random(id_bytes, sizeof id_bytes)) {
		mcd_reply_error(r, 500, "internal");
		goto cleanup;
	}
	mcd_hex(id_bytes, sizeof id_bytes, m.id);
	if (reply_to) {
		/* a reply stays in its thread, between the same two users */
		s = st->ops->message_get(st, reply_to, &parent);
		bool same_pair =
		    s == MCD_STORE_OK && ((parent->sender_id == r->user->id && parent->recipient_id == to->id) ||
		                          (parent->sender_id == to->id && parent->recipient_id == r->user->id));
		if (s == MCD_STORE_NOT_FOUND || (s == MCD_STORE_OK && !same_pair)) {
			mcd_reply_message(r, 404, "not_found", "no such message between you and this user");
			goto cleanup;
		}
		if (s != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			goto cleanup;
		}
		memcpy(m.thread_id, parent->thread_id, sizeof m.thread_id);
	} else {
		memcpy(m.thread_id, m.id, sizeof m.thread_id);
	}
	const char *why = NULL;
	if (!mcd_sealed_for_pair(r->user, to, sealed, sealed_len, true, &why)) {
		if (!strcmp(why, "wrong_recipients"))
			mcd_reply_message(r, 400, why, "a message is wrapped for exactly its sender and its recipient");
		else if (!strcmp(why, "wrong_signer"))
			mcd_reply_message(r, 400, "bad_container", "a message is signed with its sender's current signing key");
		else
			mcd_reply_error(r, strcmp(why, "internal") ? 400 : 500, why);
		goto cleanup;
	}
	m.sealed = sealed;
	m.sealed_len = sealed_len;
	detail = mcd_audit_detail(json_pack("{s:s, s:s, s:I}", "thread", m.thread_id, "recipient", to->username, "size",
	                                    (json_int_t)sealed_len));
	mcd_audit_event ev = mcd_event(r, "message", m.id, "ok", detail);
	s = st->ops->message_create(st, &m, &ev);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s == MCD_STORE_CONFLICT ? MCD_STORE_ERROR : s);
		goto cleanup;
	}
	/* Committed: the recipient hears that a message came, and nothing about it. */
	mcd_events_notify(r->srv, to->id, "message", m.id);
	mcd_reply_json(r, 201,
	               json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", m.id, "thread", m.thread_id, "to", to->username,
	                         "created", (json_int_t)m.created, "size", (json_int_t)sealed_len));
cleanup:
	json_decref(body);
	free(sealed);
	free(detail);
	mcd_message_free(parent);
	mcd_user_free(to);
}

static json_t *message_json(const mcd_message *m, int64_t me)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "id", m->id, "thread", m->thread_id, "from",
	                 m->sender, "to", m->recipient, "direction", m->sender_id == me ? "sent" : "received",
	                 "created", (json_int_t)m->created, "size", (json_int_t)m->size, "read_at",
	                 m->read_at ? json_integer(m->read_at) : json_null());
}

static int add_message(void *ctx, const mcd_message *m)
{
	mcd_listing *l = ctx;
	return mcd_listing_add(l, message_json(m, l->r->user->id));
}

void mcd_h_messages_list(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	const char *limit_s = mcd_request_arg(r, "limit"), *before = mcd_request_arg(r, "before");
	const char *thread = mcd_request_arg(r, "thread"), *unread = mcd_request_arg(r, "unread");
	long limit = 100;
	if (limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*limit_s < '0' || *limit_s > '9' || *end || limit < 1 || limit > 1000) {
			mcd_reply_error(r, 400, "bad_request");
			return;
		}
	}
	if ((before && !valid_id(before)) || (thread && !valid_id(thread)) ||
	    (unread && strcmp(unread, "0") && strcmp(unread, "1"))) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	mcd_listing l = {.r = r, .list = json_array()};
	mcd_store_status s = !l.list
	                         ? MCD_STORE_NOMEM
	                         : st->ops->messages_for_user(st, r->user->id, thread, unread && !strcmp(unread, "1"),
	                                                      before, (int)limit, add_message, &l);
	mcd_reply_listing(&l, s, "messages");
}

/* The message r->params[0] when the caller is one of its parties; replies 404 otherwise. */
static mcd_message *message_of_caller(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_message *m = NULL;
	mcd_store_status s = st->ops->message_get(st, r->params[0], &m);
	if (s == MCD_STORE_OK && m->sender_id != r->user->id && m->recipient_id != r->user->id)
		s = MCD_STORE_NOT_FOUND; /* someone else's message does not exist for the caller */
	if (s != MCD_STORE_OK) {
		mcd_message_free(m);
		if (s == MCD_STORE_NOT_FOUND)
			mcd_reply_error(r, 404, "not_found");
		else
			mcd_reply_store(r, s);
		return NULL;
	}
	return m;
}

void mcd_h_message_get(mcd_request *r)
{
	mcd_message *m = message_of_caller(r);
	if (!m)
		return;
	json_t *o = message_json(m, r->user->id);
	char *b64 = mcd_b64_encode(m->sealed, m->sealed_len);
	if (!o || !b64 || json_object_set_new(o, "sealed", json_string(b64)) != 0) {
		json_decref(o);
		mcd_reply_error(r, 500, "internal");
	} else {
		mcd_reply_json(r, 200, o);
	}
	free(b64);
	mcd_message_free(m);
}

void mcd_h_message_read(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_message *m = message_of_caller(r);
	if (!m)
		return;
	bool recipient = m->recipient_id == r->user->id;
	mcd_message_free(m);
	if (!recipient) {
		mcd_reply_message(r, 403, "forbidden", "only the recipient marks a message read");
		return;
	}
	mcd_audit_event ev = mcd_event(r, "message_read", r->params[0], "ok", NULL);
	mcd_store_status s = st->ops->message_mark_read(st, r->params[0], r->user->id, mcd_now(), &ev);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_reply_empty(r, 204);
}
