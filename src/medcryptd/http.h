/*
 * http.h: the HTTPS front of medcryptd on libmicrohttpd (TLS 1.3 only through GnuTLS, a thread
 * pool on epoll), and what a handler sees of a request: its route and path parameters, its
 * body (JSON routes) or its stream (uploads), the signed-in user, and the reply helpers that
 * put API.md §12's error shape and security headers on every answer.
 *
 * Ownership: a request and everything in it belong to http.c and live until the connection
 * reports it complete. A handler sets exactly one reply with one of the mcd_reply_* calls; a
 * later call replaces an earlier one.
 */
#ifndef MEDCRYPTD_HTTP_H
#define MEDCRYPTD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"

struct mcd_route;
struct mcd_upload;
struct mcd_tus_patch;

typedef struct mcd_request {
	mcd_server *srv;
	struct MHD_Connection *conn;
	const struct mcd_route *route;
	const char *method;
	const char *url;    /* the decoded path (mcd_unescape_uri), query excluded; libmicrohttpd's */
	char params[2][72]; /* {id}, {username} in pattern order */
	char address[64];   /* the peer's numeric address */
	double started;
	unsigned status;
	struct MHD_Response *response;
	/* The body of a JSON route, NUL-terminated. */
	char *body;
	size_t body_len;
	bool body_too_large;
	bool has_content_length;
	uint64_t content_length;
	/* The signed-in user (routes other than PUBLIC). */
	mcd_user *user;
	mcd_session session;
	uint8_t token_hash[32];
	/* The upload route's parser and blob writer (handlers/upload.c). */
	struct mcd_upload *upload;
	/* A resumable upload's PATCH (handlers/tus.c). */
	struct mcd_tus_patch *tus_patch;
	bool queued; /* a reply went to libmicrohttpd */
	/* The web client's answer (handlers/static.c): the pages' CSP, and the handler's own
	 * Cache-Control instead of no-store. */
	bool page;
	/* mcd_reply_after_audit: the connection is suspended until the record is committed. */
	bool waiting;
	atomic_bool audit_done;
} mcd_request;

/* Starts the daemon on cfg's address with the PEM certificate and key. NULL (logged) on
 * failure. Stop with mcd_http_stop. */
struct MHD_Daemon *mcd_http_start(mcd_server *srv, const char *cert_pem, const char *key_pem);
/* Stops accepting, commits the queued audit records of waiting requests, finishes the
 * connections and frees the daemon (NULL is harmless). */
void mcd_http_stop(mcd_server *srv, struct MHD_Daemon *d);

/* Replies with body (stolen, may be NULL for `{}`) as JSON. */
void mcd_reply_json(mcd_request *r, unsigned status, json_t *body);
/* Replies {"error": code, "message": a generic text for code}. */
void mcd_reply_error(mcd_request *r, unsigned status, const char *code);
/* The same with extra fields merged into the body (stolen). */
void mcd_reply_error_with(mcd_request *r, unsigned status, const char *code, json_t *extra);
/* An empty reply (204, or a status with no body). */
void mcd_reply_empty(mcd_request *r, unsigned status);
/* Holds the reply the handler has set until ev is durably in the audit log: the connection is
 * suspended meanwhile (its thread serves others) and the record is committed with those of other
 * waiting requests (audit_queue.h). When the queue cannot take it, the record is appended
 * here and now. Either way the reply goes out whatever the append's result (a failure is
 * logged by the store), as when handlers append directly. */
void mcd_reply_after_audit(mcd_request *r, const mcd_audit_event *ev);
/* Bytes copied into the reply. */
void mcd_reply_bytes(mcd_request *r, unsigned status, const char *content_type, const void *buf, size_t len);
/* Takes resp (made by the caller, e.g. from a callback). */
void mcd_reply_response(mcd_request *r, unsigned status, struct MHD_Response *resp);
/* Adds a header to the reply set last (no-op without one). */
void mcd_reply_header(mcd_request *r, const char *name, const char *value);

/* The parsed JSON object body, or NULL after replying 400 bad_request. Free with json_decref. */
json_t *mcd_request_json(mcd_request *r);
/* A request header or query argument, or NULL. */
const char *mcd_request_header(mcd_request *r, const char *name);
const char *mcd_request_arg(mcd_request *r, const char *name);

/* An audit event for this request: time now, actor the signed-in user (or "-"), its address. */
mcd_audit_event mcd_event(const mcd_request *r, const char *action, const char *object, const char *outcome,
                          const char *detail);

/* JSON field helpers: a string member, or NULL when absent or not a string. */
const char *mcd_json_str(json_t *obj, const char *key);

#endif
