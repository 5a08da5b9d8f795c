/*
 * events.h: the notices of GET /api/v1/events (API.md §17a, SECURITY.md §3.16). A handler that
 * commits something a user should hear of calls mcd_events_notify(srv, user_id, type, id); every
 * open event stream of that user gets `id: N`, `event: TYPE`, `data: {"id":"ID","at":UNIX}` and
 * nothing else: no file name, no patient, no metadata. The hub keeps a bounded ring of recent
 * notices so that a client reconnecting with Last-Event-ID gets what it missed while the ring
 * still holds it; clients re-read their lists on every (re)connect anyway.
 *
 * Ownership: main.c owns the hub (mcd_events_open / mcd_events_shutdown / mcd_events_close); a
 * stream is owned by its libmicrohttpd response and reaped by the hub's thread once the
 * response is gone. Every function here is thread-safe.
 */
#ifndef MEDCRYPTD_EVENTS_H
#define MEDCRYPTD_EVENTS_H

#include <stdint.h>

#include "http.h"

#define MCD_EVENTS_KEEPALIVE_SECONDS 15          /* a `: keepalive` comment after this much silence */
#define MCD_EVENTS_RETRY_MS          3000        /* the `retry:` a stream starts with */
#define MCD_EVENTS_RING              1024        /* recent notices kept for Last-Event-ID, all users */
#define MCD_EVENTS_MAX_PENDING       (64 * 1024) /* unsent bytes of one stream before it is closed */

typedef struct mcd_events mcd_events;

/* Starts the hub and its thread (keepalives, session checks, reaping) for srv, which it borrows.
 * At most srv->cfg.max_event_streams streams at once. NULL (logged) when out of memory or when
 * the thread cannot start. Free with mcd_events_close. */
mcd_events *mcd_events_open(mcd_server *srv);
/* Ends every stream and refuses new ones; call before the HTTP daemon stops, which must not
 * find a suspended connection. NULL is harmless. */
void mcd_events_shutdown(mcd_events *ev);
/* Stops the thread and frees the hub; after the HTTP daemon has stopped. NULL is harmless. */
void mcd_events_close(mcd_events *ev);

/* Tells user_id's open streams that something of type ("image", "revoked"; later "message",
 * "consent") with the given id concerns them. type is [a-z_]{1,24}, id [A-Za-z0-9_-]{1,64};
 * anything else is a programming error, logged and dropped. Never blocks on the network. A
 * srv without a hub (tests, tools) makes this a no-op. */
void mcd_events_notify(mcd_server *srv, int64_t user_id, const char *type, const char *id);

/* GET /api/v1/events (handlers/events.c): the stream of the signed-in user, 503 busy with
 * Retry-After over --max-event-streams. */
void mcd_h_events(mcd_request *r);

/* For the handler: a response streaming r's user's notices, the first bytes being `retry:` and
 * whatever the ring holds after last_event_id (NULL or not a number: nothing). NULL when the hub
 * is full, shut down or out of memory (*busy says which: true for the first two). */
struct MHD_Response *mcd_events_stream(mcd_events *ev, mcd_request *r, const char *last_event_id, bool *busy);

#endif
