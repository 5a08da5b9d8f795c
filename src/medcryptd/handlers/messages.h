/*
 * messages.h: the routes of API.md §16b (handlers/messages.c), sealed messages. Kept beside
 * handlers.h rather than in it so that the message routes land as one change.
 */
#ifndef MEDCRYPTD_MESSAGES_H
#define MEDCRYPTD_MESSAGES_H

#include "../http.h"

/* The largest sealed message the server takes (the route's body limit): 64 KiB of text in its
 * JSON envelope, two wraps of RSA-8192 keys, the signer key and signature, with room to spare. */
#define MCD_MESSAGE_MAX (192 * 1024)
/* The body of a send: the sealed bytes in base64 and a few short fields. */
#define MCD_MESSAGE_BODY (MCD_MESSAGE_MAX / 3 * 4 + 4096)

/* Whether sealed (sealed_len bytes) is a well-formed sealed file (signature verified when
 * signed) whose wraps name sender's and to's current encryption keys, each once, and nothing
 * else; with signed_by_sender, also signed with sender's current signing key. Messages use it,
 * and consent requests (handlers/consents.c), which must be signed. On false, *why is
 * "bad_container", "wrong_signer", "wrong_recipients" or "internal" (out of memory). */
bool mcd_sealed_for_pair(const mcd_user *sender, const mcd_user *to, const uint8_t *sealed, size_t sealed_len,
                         bool signed_by_sender, const char **why);

/* POST /api/v1/messages (CSRF): {"to": USER, "reply_to": ID or null, "sealed": base64 of the
 * sealed container}; reply_to names a message of the same two users whose thread this one
 * continues. */
void mcd_h_message_send(mcd_request *r);
/* GET /api/v1/messages[?thread=ID][&unread=1][&before=ID][&limit=N]: the caller's messages, both
 * directions, newest first. */
void mcd_h_messages_list(mcd_request *r);
/* GET /api/v1/messages/{id}: the listing's fields and the sealed bytes (base64), to the sender or
 * the recipient only. */
void mcd_h_message_get(mcd_request *r);
/* POST /api/v1/messages/{id}/read (recipient; CSRF). */
void mcd_h_message_read(mcd_request *r);

#endif
