/*
 * events.c: GET /api/v1/events (API.md §17a): the signed-in user's Server-Sent Events stream.
 * http.c has loaded the session; the hub (../events.c) writes the stream. The connection is
 * exempt from the idle timeout, since a stream is idle by nature: it ends when the session
 * ends, when the client goes, or at shutdown, and the keepalives find a vanished client.
 */
#include "../events.h"
#include "handlers.h"

void mcd_h_events(mcd_request *r)
{
	bool busy = false;
	struct MHD_Response *resp =
	    r->srv->events ? mcd_events_stream(r->srv->events, r, mcd_request_header(r, "Last-Event-ID"), &busy) : NULL;
	if (!resp) {
		if (!r->srv->events || busy) {
			mcd_reply_error(r, 503, "busy");
			mcd_reply_header(r, "Retry-After", "10");
		} else {
			mcd_reply_error(r, 500, "internal");
		}
		return;
	}
	mcd_reply_response(r, 200, resp);
	mcd_reply_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	/* Proxies such as nginx would buffer the stream otherwise. */
	mcd_reply_header(r, "X-Accel-Buffering", "no");
	MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
}
