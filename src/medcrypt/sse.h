/*
 * sse.h: the parser of a text/event-stream (Server-Sent Events, as the HTML standard's "event
 * stream interpretation" reads it) for `medcrypt inbox --follow` (docs/API.md §17a). It turns the
 * server's bytes, fed in pieces of any size, into complete events (type, data, id), keeps the
 * last event id and the reconnection delay, and does nothing else: no I/O, no allocation after
 * sse_new. The bytes are untrusted: every buffer is bounded (fuzz/fuzz_sse.c).
 *
 * What it reads:
 * - lines end with CRLF, LF or CR, also when a CRLF is split across two feeds; a line longer
 *   than SSE_LINE_MAX bytes is dropped whole, and the line is cut at a NUL byte;
 * - a line starting with ':' is a comment (the server's keepalive);
 * - "field: value" (one space after the colon is dropped; a line without a colon is a field with
 *   an empty value): `event` sets the type (at most SSE_TYPE_MAX bytes, longer is cut), `data`
 *   appends a line to the data (joined with LF; a line that would take the data past
 *   SSE_LINE_MAX bytes is dropped), `id` sets the last event id at once if it is 1 to SSE_ID_MAX
 *   ASCII digits (it goes back to the server in a Last-Event-ID header), `retry` sets the delay if
 *   it is 1 to 8 ASCII digits, clamped to SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS; other fields are
 *   ignored;
 * - a blank line dispatches the event when it had a data field (even an empty one), and clears
 *   the type and the data either way: an event without data is not dispatched, as the HTML
 *   standard says.
 * Where this differs from the standard, on purpose: the id is taken when its line is read, not at
 * dispatch, and only as digits; a leading byte order mark is not skipped (the server sends none).
 *
 * Ownership: sse_new returns a parser freed with sse_free. The strings given to the callback
 * belong to the parser and are valid only during the call.
 */
#ifndef MEDCRYPT_SSE_H
#define MEDCRYPT_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_LINE_MAX         2048 /* a notice line is ~100 bytes; longer lines are dropped */
#define SSE_TYPE_MAX         31   /* bytes of an event type; a longer one is cut */
#define SSE_ID_MAX           40   /* an event id: decimal digits */
#define SSE_RETRY_DEFAULT_MS 3000 /* until the server says "retry:" */
#define SSE_RETRY_MIN_MS     200
#define SSE_RETRY_MAX_MS     60000

typedef struct sse sse;

/* Called for each complete event: type ("" when the event had no `event` field), data (its data
 * lines joined with LF, without a final LF; may be ""), id (the last event id, "" when there was
 * none yet). Returning false stops sse_feed at once: the rest of its bytes are not read. */
typedef bool (*sse_event_fn)(void *ctx, const char *type, const char *data, const char *id);

/* A parser that calls on_event(ctx, ...) for each event; no last id yet, a retry of
 * SSE_RETRY_DEFAULT_MS. Returns NULL when out of memory. Free with sse_free. */
sse *sse_new(sse_event_fn on_event, void *ctx);

/* Wipes and frees p. NULL is harmless. */
void sse_free(sse *p);

/* Starts a new connection: the partial line and the event being read are dropped; the last event
 * id and the retry delay are kept (they are what a reconnection uses). */
void sse_reset(sse *p);

/* Reads len bytes of the stream (buf may be NULL when len is 0), calling the callback for each
 * event they complete. Returns false when the callback asked to stop, else true. */
bool sse_feed(sse *p, const char *buf, size_t len);

/* The last valid event id ("" if none): at most SSE_ID_MAX ASCII digits. Valid until the next
 * sse_feed or sse_free. */
const char *sse_last_id(const sse *p);

/* The reconnection delay in milliseconds: SSE_RETRY_DEFAULT_MS, or the last valid `retry`
 * clamped to SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS. */
long sse_retry_ms(const sse *p);

#endif
