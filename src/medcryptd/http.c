/*
 * http.c: libmicrohttpd in front of the route table. The access callback runs several times per
 * request: on the first call (headers only) it finds the route and enforces everything the
 * table promises — session, right, CSRF, re-authentication, body size, Content-Length for
 * uploads — so a refused upload is refused before its body is read; on the next calls it
 * collects a JSON body or streams an upload; on the last it runs the handler. Every reply goes
 * out through queue(), which adds the security headers of API.md §12. A handler whose reply
 * must wait for an audit record to be durable (a download) suspends the connection instead
 * (mcd_reply_after_audit); the audit queue's thread resumes it and the next call queues the
 * reply, so no HTTP thread sits in an fsync. The completion callback
 * logs one line per request (method, route class, status, duration; never a token or a body)
 * and counts it.
 */
#include "http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "audit_queue.h"
#include "auth.h"
#include "handlers/handlers.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "util.h"

#define TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define MAX_HEADER_BYTES (16 * 1024)
/* libmicrohttpd's per-connection pool holds the request headers (16 KiB at most, above), the
 * reply's headers and the read buffer (half the pool; a TLS record is 16 KiB, so an upload is
 * read a record at a time whatever the size). MHD zeroes the whole pool after every request
 * on a kept-alive connection, so a bigger pool costs a memset per request and buys nothing. */
#define CONNECTION_MEMORY    (64 * 1024)
#define CONNECTION_INCREMENT (16 * 1024)

static const struct {
	const char *code, *message;
} messages[] = {
    {"bad_request", "the request is malformed"},
    {"bad_container", "the upload is not a well-formed sealed file"},
    {"unknown_recipient", "a key wrap names no user's current encryption key"},
    {"unauthenticated", "sign in first"},
    {"bad_credentials", "wrong user name or password"},
    {"reauth_required", "confirm your password first"},
    {"forbidden", "not allowed"},
    {"csrf", "missing or wrong CSRF token"},
    {"pow_required", "a proof of work is needed"},
    {"not_found", "not found"},
    {"conflict", "conflicts with the current state"},
    {"length_required", "Content-Length is required"},
    {"too_large", "too large"},
    {"tus_version", "this server speaks Tus-Resumable 1.0.0"},
    {"unsupported_media_type", "PATCH takes Content-Type: application/offset+octet-stream"},
    {"too_many_uploads", "too many unfinished uploads: finish or delete one"},
    {"range_not_satisfiable", "the range is outside the resource"},
    {"locked", "too many failed logins; try again later"},
    {"busy", "the server is busy; try again shortly"},
    {"patient_required", "name the patient this image is about (or mark a doctor's item de-identified)"},
    {"unknown_patient", "the named patient is no enabled patient account"},
    {"patient_not_recipient", "the patient an image is about must be one of its recipients"},
    {"not_appointed", "the patient has not appointed this doctor"},
    {"not_deidentified", "a researcher receives only items marked de-identified"},
    {"unsigned_claim", "a de-identified mark needs the file signed with the sender's current key"},
    {"expired", "the consent request has expired"},
    {"internal", "internal error"},
};

static const char *message_for(const char *code)
{
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
		if (!strcmp(messages[i].code, code))
			return messages[i].message;
	return "error";
}

/* ---- replies ---- */

static void set_reply(mcd_request *r, unsigned status, struct MHD_Response *resp)
{
	if (r->response)
		MHD_destroy_response(r->response);
	r->response = resp;
	r->status = resp ? status : 500;
}

void mcd_reply_response(mcd_request *r, unsigned status, struct MHD_Response *resp)
{
	set_reply(r, status, resp);
}

void mcd_reply_header(mcd_request *r, const char *name, const char *value)
{
	if (r->response)
		MHD_add_response_header(r->response, name, value);
}

void mcd_reply_bytes(mcd_request *r, unsigned status, const char *content_type, const void *buf, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
	set_reply(r, status, resp);
	if (resp && content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
}

void mcd_reply_json(mcd_request *r, unsigned status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
	json_decref(body);
	if (!text) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(text);
	set_reply(r, status, resp);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
}

void mcd_reply_error_with(mcd_request *r, unsigned status, const char *code, json_t *extra)
{
	json_t *body = json_pack("{s:s, s:s}", "error", code, "message", message_for(code));
	if (body && extra)
		json_object_update(body, extra);
	json_decref(extra);
	if (!body) {
		static const char fallback[] = "{\"error\":\"internal\",\"message\":\"internal error\"}";
		mcd_reply_bytes(r, 500, "application/json", fallback, sizeof fallback - 1);
		return;
	}
	mcd_reply_json(r, status, body);
}

void mcd_reply_error(mcd_request *r, unsigned status, const char *code)
{
	mcd_reply_error_with(r, status, code, NULL);
}

void mcd_reply_empty(mcd_request *r, unsigned status)
{
	set_reply(r, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

const char *mcd_request_header(mcd_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *mcd_request_arg(mcd_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *mcd_request_json(mcd_request *r)
{
	json_error_t err;
	json_t *v = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err) : NULL;
	if (!v || !json_is_object(v)) {
		json_decref(v);
		mcd_reply_error(r, 400, "bad_request");
		return NULL;
	}
	return v;
}

const char *mcd_json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

mcd_audit_event mcd_event(const mcd_request *r, const char *action, const char *object, const char *outcome,
                          const char *detail)
{
	mcd_audit_event ev = {
	    .time = mcd_now(),
	    .actor = r->user ? r->user->username : "-",
	    .address = r->address,
	    .action = action,
	    .object = object ? object : "-",
	    .outcome = outcome,
	    .detail = detail,
	};
	return ev;
}

/* Runs on the audit queue's thread once the record is committed. */
static void audit_committed(void *ctx, mcd_store_status status)
{
	(void)status; /* a failed append was logged by the store; the reply goes out as before */
	mcd_request *r = ctx;
	atomic_store(&r->audit_done, true);
	MHD_resume_connection(r->conn);
}

void mcd_reply_after_audit(mcd_request *r, const mcd_audit_event *ev)
{
	if (r->srv->audit_queue) {
		/* Suspended before it is queued, so the resume cannot come first. */
		MHD_suspend_connection(r->conn);
		r->waiting = true;
		if (mcd_audit_queue_submit(r->srv->audit_queue, ev, audit_committed, r))
			return;
		r->waiting = false;
		MHD_resume_connection(r->conn);
	}
	r->srv->store->ops->audit_append(r->srv->store, ev);
}

/* ---- the request cycle ---- */

#define CSP_API "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
/* The web client's pages (API.md §20, SECURITY.md §3.14): WebAssembly may be compiled
 * ('wasm-unsafe-eval': hash-wasm's Argon2id, the DICOM codecs), workers may start from blob:
 * URLs, images may be blob: or data: URLs (decrypted in the page); never inline script or
 * style, never eval. */
#define CSP_PAGE                                                                                                       \
	"default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; "        \
	"img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "                         \
	"frame-ancestors 'none'; form-action 'self'"

/* API.md §12 on every answer; a page answer keeps the Cache-Control its handler chose. */
static void add_security_headers(struct MHD_Response *resp, bool page)
{
	MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=63072000; includeSubDomains");
	MHD_add_response_header(resp, "Content-Security-Policy", page ? CSP_PAGE : CSP_API);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (!page || !MHD_get_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static enum MHD_Result queue(mcd_request *r)
{
	if (!r->response)
		mcd_reply_error(r, 500, "internal");
	if (!r->response)
		return MHD_NO;
	add_security_headers(r->response, r->page);
	if (mcd_tus_route(r->route))
		MHD_add_response_header(r->response, "Tus-Resumable", "1.0.0");
	enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->response);
	MHD_destroy_response(r->response);
	r->response = NULL;
	r->queued = true;
	return rc;
}

static void peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, cap, "-");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)cap);
	}
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	size_t *sum = cls;
	*sum += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* Everything the route table promises, checked with the headers alone. False: replied. */
static bool admit(mcd_request *r)
{
	const mcd_route *rt = r->route;
	if (rt->right != MCD_RIGHT_PUBLIC) {
		mcd_check session = mcd_session_load(r);
		if (session != MCD_CHECK_PASS) {
			if (session == MCD_CHECK_ERROR)
				mcd_reply_error(r, 500, "internal");
			else
				mcd_reply_error(r, 401, "unauthenticated");
			return false;
		}
		if (!mcd_role_has(r->user->role, rt->right)) {
			mcd_reply_error(r, 403, "forbidden");
			return false;
		}
		mcd_check csrf = rt->csrf ? mcd_csrf_check(r) : MCD_CHECK_PASS;
		if (csrf != MCD_CHECK_PASS) {
			if (csrf == MCD_CHECK_ERROR)
				mcd_reply_error(r, 500, "internal"); /* never 403: the MAC was not computed */
			else
				mcd_reply_error(r, 403, "csrf");
			return false;
		}
		if (rt->reauth && r->session.reauth_at + MCD_REAUTH_SECONDS < mcd_now()) {
			mcd_reply_error(r, 401, "reauth_required");
			return false;
		}
	}
	if (rt->stream) {
		if (!r->has_content_length) {
			mcd_reply_error(r, 411, "length_required");
			return false;
		}
		if (r->content_length > r->srv->cfg.max_upload) {
			mcd_metrics_add(MCD_M_UPLOADS_REJECTED, 1);
			mcd_reply_error(r, 413, "too_large");
			return false;
		}
		return rt->handler == mcd_h_tus_patch ? mcd_tus_patch_begin(r) : mcd_upload_begin(r);
	}
	if (r->has_content_length && r->content_length > rt->body_limit) {
		mcd_reply_error(r, 413, "too_large");
		return false;
	}
	return true;
}

/* A JSON body must say so: a cross-site form can send text/plain without a CORS preflight,
 * application/json it cannot, so login and registration (which have no CSRF token) cannot be
 * driven from another site. */
static bool is_json_type(const char *type)
{
	static const char json_type[] = "application/json";
	return type && strncasecmp(type, json_type, sizeof json_type - 1) == 0 &&
	       (type[sizeof json_type - 1] == 0 || type[sizeof json_type - 1] == ';');
}

static mcd_request *request_new(mcd_server *srv, struct MHD_Connection *conn, const char *url, const char *method)
{
	mcd_request *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->method = method;
	r->url = url;
	r->started = mcd_monotonic();
	peer_address(conn, r->address, sizeof r->address);
	r->route = mcd_route_match(method, url, r->params);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);
		if (*cl >= '0' && *cl <= '9' && !*end) {
			r->has_content_length = true;
			r->content_length = v;
		}
	}
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	mcd_server *srv = cls;
	mcd_request *r = *con_cls;
	if (!r) {
		if (!(r = request_new(srv, conn, url, method)))
			return MHD_NO;
		*con_cls = r;
		size_t header_bytes = 0;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &header_bytes);
		if (header_bytes > MAX_HEADER_BYTES) {
			mcd_reply_error(r, 431, "too_large");
			return queue(r);
		}
		if (!r->route) {
			mcd_reply_error(r, 404, "not_found");
			return queue(r);
		}
		if (!admit(r))
			return queue(r);
		return MHD_YES;
	}
	if (r->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->waiting) {
		/* Resumed: the audit record is durable, the reply can go. */
		*upload_data_size = 0;
		if (!atomic_load(&r->audit_done))
			return MHD_YES;
		r->waiting = false;
		return queue(r);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->route->stream && r->tus_patch)
			return mcd_tus_patch_data(r, (const uint8_t *)upload_data, n) ? MHD_YES : MHD_NO;
		if (r->route->stream)
			return mcd_upload_data(r, (const uint8_t *)upload_data, n) ? MHD_YES : MHD_NO;
		if (r->body_too_large || r->body_len + n > r->route->body_limit) {
			r->body_too_large = true;
			return MHD_YES;
		}
		char *grown = realloc(r->body, r->body_len + n + 1);
		if (!grown)
			return MHD_NO;
		r->body = grown;
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		r->body[r->body_len] = 0;
		return MHD_YES;
	}
	if (r->body_too_large)
		mcd_reply_error(r, 413, "too_large");
	else if (r->body_len > 0 && !is_json_type(mcd_request_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
		mcd_reply_error(r, 400, "bad_request");
	else
		r->route->handler(r);
	if (r->waiting)
		return MHD_YES; /* mcd_reply_after_audit: queued on resumption */
	return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	mcd_request *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	double seconds = mcd_monotonic() - r->started;
	char status[16], ms[32];
	snprintf(status, sizeof status, "%u", r->queued ? r->status : 0);
	snprintf(ms, sizeof ms, "%.1f", seconds * 1000);
	mcd_logf(MCD_LOG_INFO, "http", "request", "method", r->method ? r->method : "-", "route",
	         r->route ? r->route->name : "unmatched", "status", status, "ms", ms, "address", r->address,
	         "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "yes" : "no", NULL);
	mcd_metrics_request(r->route, r->queued ? r->status : 0, seconds);
	mcd_upload_free(r);
	mcd_tus_patch_free(r);
	if (r->response)
		MHD_destroy_response(r->response);
	mcd_user_free(r->user);
	if (r->body) {
		OPENSSL_cleanse(r->body, r->body_len);
		free(r->body);
	}
	free(r);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	mcd_log(MCD_LOG_WARN, "microhttpd", "%s", msg);
}

struct MHD_Daemon *mcd_http_start(mcd_server *srv, const char *cert_pem, const char *key_pem)
{
	const mcd_config *cfg = &srv->cfg;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cfg->listen_host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)cfg->port);
	} else if (inet_pton(AF_INET6, cfg->listen_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		mcd_log(MCD_LOG_ERROR, "http", "bad listen address %s", cfg->listen_host);
		return NULL;
	}
	struct MHD_Daemon *d = MHD_start_daemon(
	    flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_MEM_CERT,
	    cert_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)cfg->per_ip_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	    MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)CONNECTION_INCREMENT, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
	    MHD_OPTION_UNESCAPE_CALLBACK, mcd_unescape_uri, NULL, MHD_OPTION_END);
	if (!d)
		mcd_log(MCD_LOG_ERROR, "http",
		        "cannot start the HTTPS daemon on %s port %u (address in use, or a bad "
		        "certificate or key?)",
		        cfg->listen_host, cfg->port);
	else
		srv->audit_queue = mcd_audit_queue_start(srv->store); /* NULL: downloads append inline */
	return d;
}

void mcd_http_stop(mcd_server *srv, struct MHD_Daemon *d)
{
	if (!d)
		return;
	MHD_quiesce_daemon(d);
	/* Every suspended request is resumed before the daemon closes its connections; requests
	 * still running append their records inline (the queue refuses them). */
	mcd_audit_queue_stop(srv->audit_queue);
	MHD_stop_daemon(d);
	mcd_audit_queue_free(srv->audit_queue);
	srv->audit_queue = NULL;
}
