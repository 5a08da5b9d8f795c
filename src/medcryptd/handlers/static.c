/*
 * static.c: GET and HEAD of the browser client (API.md §20): `/` and `/index.html` are the page,
 * every other path names one file of the web root (webroot.h) exactly. Content-hashed names are
 * cached for a year as immutable, the rest revalidates (no-cache) against a strong ETag, and
 * If-None-Match answers 304. A path of the client's own routes (/inbox), asked for by a
 * browser navigating (Accept: text/html), gets the page too, so a reload lands in the app; a
 * path ending in an extension the build writes (.js, .css, .wasm, ...) never does: a missing
 * script must fail, not turn into HTML.
 * Anything else is the API's JSON 404, with the API's headers (only a file answer, 200 or 304,
 * is a page answer); /api/ paths never reach this handler (router.c).
 * Paths are checked before the lookup so that an attempt to leave the root is told apart in
 * the log as a 400, though the lookup alone could not leave it: a dot segment, an empty
 * segment, a backslash, a control character or anything outside [A-Za-z0-9._-/], including a
 * '%' left by mcd_unescape_uri for an encoded slash, backslash or NUL.
 */
#include <string.h>
#include <strings.h>

#include "../util.h"
#include "../webroot.h"
#include "handlers.h"

#define MAX_STATIC_PATH 512

#define CACHE_IMMUTABLE  "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"

size_t mcd_unescape_uri(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *w = s;
	for (const char *p = s; *p;) {
		int hi = p[0] == '%' ? mcd_hex_value(p[1]) : -1, lo = hi >= 0 ? mcd_hex_value(p[2]) : -1;
		int c = hi * 16 + lo;
		if (hi < 0 || lo < 0 || c == 0 || c == '/' || c == '\\') {
			*w++ = *p++; /* literal, malformed, or kept encoded */
			continue;
		}
		*w++ = (char)c;
		p += 3;
	}
	*w = 0;
	return (size_t)(w - s);
}

bool mcd_static_path_ok(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > MAX_STATIC_PATH || path[0] != '/')
		return false;
	if (n == 1)
		return true;
	for (const char *p = path; *p; p++) {
		if (*p == '/') {
			if (p[1] == '/' || p[1] == '.' || p[1] == 0)
				return false;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	}
	return true;
}

/* Whether the Accept header lists text/html (what a browser sends when it navigates). */
static bool accepts_html(const char *accept)
{
	for (const char *p = accept; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!strncasecmp(p, "text/html", 9) && (p[9] == 0 || p[9] == ',' || p[9] == ';' || p[9] == ' '))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* Whether If-None-Match names etag (or is "*"); weak validators compare by their opaque part. */
static bool etag_matches(const char *header, const char *etag)
{
	size_t elen = strlen(etag);
	for (const char *p = header; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, elen) && (p[elen] == 0 || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

static void serve_file(mcd_request *r, const mcd_webfile *f, bool fallback)
{
	const char *cache = f->immutable ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
	r->page = true; /* a file: the pages' CSP and this Cache-Control; errors stay API answers */
	const char *inm = mcd_request_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && etag_matches(inm, f->etag)) {
		mcd_reply_empty(r, 304);
	} else {
		/* The table outlives the daemon's connections (main.c frees it after the stop). */
		struct MHD_Response *resp =
		    MHD_create_response_from_buffer(f->len, (void *)f->bytes, MHD_RESPMEM_PERSISTENT);
		mcd_reply_response(r, 200, resp);
		mcd_reply_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type);
	}
	mcd_reply_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
	mcd_reply_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	if (fallback)
		mcd_reply_header(r, MHD_HTTP_HEADER_VARY, "Accept");
}

void mcd_h_static(mcd_request *r)
{
	const char *path = r->url ? r->url : "";
	if (!mcd_static_path_ok(path)) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	const mcd_webroot *web = r->srv->web;
	const mcd_webfile *f = mcd_webroot_find(web, strcmp(path, "/") ? path : "/index.html");
	if (f) {
		serve_file(r, f, false);
		return;
	}
	bool asset = mcd_web_content_type(path) != NULL;
	if (!asset && accepts_html(mcd_request_header(r, MHD_HTTP_HEADER_ACCEPT)) &&
	    (f = mcd_webroot_find(web, "/index.html"))) {
		serve_file(r, f, true);
		return;
	}
	mcd_reply_error(r, 404, "not_found");
}
