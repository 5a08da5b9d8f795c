/*
 * health.c: GET /healthz (the database and the blob store answer) and GET /metrics (Prometheus
 * text format), API.md §18. Neither needs a session and neither says anything about a user.
 */
#include <stdlib.h>

#include "../metrics.h"
#include "handlers.h"

void mcd_h_healthz(mcd_request *r)
{
	mcd_server *srv = r->srv;
	bool ok =
	    srv->store->ops->health(srv->store) == MCD_STORE_OK && srv->blobs->ops->health(srv->blobs) == MCD_BLOB_OK;
	mcd_reply_json(r, ok ? 200 : 503, json_pack("{s:s}", "status", ok ? "ok" : "unavailable"));
}

void mcd_h_metrics(mcd_request *r)
{
	size_t len = 0;
	char *text = mcd_metrics_render(&len);
	if (!text) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	mcd_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}
