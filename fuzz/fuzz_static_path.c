/*
 * fuzz_static_path: what medcryptd does with the path of a request for the web client
 * (src/medcryptd/handlers/static.c, webroot.c, API.md §20), in the order mcd_h_static does it:
 * libmicrohttpd's unescape callback (mcd_unescape_uri), the path check (mcd_static_path_ok), the
 * lookup in the web root (mcd_webroot_find, "/" meaning "/index.html"), and the two name rules
 * applied to the path (mcd_web_content_type, which decides the client-routing fallback, and
 * mcd_web_is_hashed). The web root is a real one, loaded once by mcd_webroot_load from a
 * temporary directory with files at several depths, a hidden file, a name outside
 * [A-Za-z0-9._-] and symbolic links to a file and a directory outside it; the directory is
 * removed once loaded (the table is in memory).
 *
 * Input: the raw path as libmicrohttpd hands it over (cut at the first NUL), in a buffer of
 * exactly its size. Besides the sanitizers, the target aborts when: the decoded path is not what
 * a reference decoder gives, is longer than the raw one, or holds more slashes or backslashes
 * than it (an encoded separator must stay encoded); the path check disagrees with a reference
 * written from its contract; an accepted path has a dot segment, an empty segment, a '%', a
 * backslash or a control character, or a lexical normalisation against the root would change
 * it or leave the root; a lookup (of any string, checked or not) returns anything but the
 * loaded file of exactly that path with the bytes written for it; a path of a loaded file is
 * not found; the name rules disagree with their references.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/medcryptd/handlers/handlers.h"
#include "../src/medcryptd/webroot.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: invariant broken at line %d: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* The files the web root serves, each holding its own path as its bytes. */
static const char *const served[] = {
    "/index.html",
    "/app-ABCDEFGH.js",
    "/app-ABCDEFGH.js.map",
    "/style-ZZZZ2345.css",
    "/favicon.svg",
    "/notes.txt",
    "/sub/probe-AAAAAAAA.json",
    "/a/b/c/deep-7777AAAA.wasm",
    "/a/b/c/d.e.f",
    "/UPPER_case-1.0.tar.txt",
};
#define N_SERVED (sizeof served / sizeof served[0])

static mcd_webroot *web;

static void write_file(const char *root, const char *rel, const char *bytes)
{
	char path[512];
	CHECK((size_t)snprintf(path, sizeof path, "%s%s", root, rel) < sizeof path);
	for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		CHECK(mkdir(path, 0700) == 0 || access(path, F_OK) == 0);
		*s = '/';
	}
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL && fputs(bytes, f) >= 0 && fclose(f) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char base[] = "/tmp/medcrypt-fuzz-web.XXXXXX";
	CHECK(mkdtemp(base) != NULL);
	char root[64], outside[64], cmd[160];
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(outside, sizeof outside, "%s/outside", base);
	CHECK(mkdir(root, 0700) == 0 && mkdir(outside, 0700) == 0);
	for (size_t i = 0; i < N_SERVED; i++)
		write_file(root, served[i], served[i]);
	/* Never loaded: hidden, a character outside [A-Za-z0-9._-], links out of the root. */
	write_file(root, "/.hidden.txt", "secret");
	write_file(root, "/sub/.git/config", "secret");
	write_file(root, "/with space.txt", "secret");
	write_file(root, "/pct%2e.txt", "secret");
	write_file(outside, "/secret.txt", "secret");
	char target[96], link[96];
	snprintf(target, sizeof target, "%s/secret.txt", outside);
	snprintf(link, sizeof link, "%s/leak.txt", root);
	CHECK(symlink(target, link) == 0);
	snprintf(link, sizeof link, "%s/outdir", root);
	CHECK(symlink(outside, link) == 0);
	char err[256];
	web = mcd_webroot_load(root, err, sizeof err);
	CHECK(web != NULL && mcd_webroot_count(web) == N_SERVED);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	return 0;
}

/* ---- references ---- */

static int ref_hex(char c)
{
	const char *digits = "0123456789abcdef";
	char lower = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
	const char *p = c ? strchr(digits, lower) : NULL;
	return p ? (int)(p - digits) : -1;
}

/* %HH decoded, except %00, %2F and %5C (either case), which stay as they are. */
static void ref_unescape(const char *in, char *out)
{
	size_t w = 0;
	for (size_t i = 0; in[i];) {
		if (in[i] == '%' && ref_hex(in[i + 1]) >= 0 && ref_hex(in[i + 2]) >= 0) {
			int c = ref_hex(in[i + 1]) * 16 + ref_hex(in[i + 2]);
			if (c != 0 && c != '/' && c != '\\') {
				out[w++] = (char)c;
				i += 3;
				continue;
			}
		}
		out[w++] = in[i++];
	}
	out[w] = 0;
}

static bool segment_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

/* The contract of mcd_static_path_ok, segment by segment. */
static bool ref_path_ok(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > 512 || path[0] != '/')
		return false;
	if (n == 1)
		return true;
	for (const char *seg = path + 1;;) {
		size_t len = strcspn(seg, "/");
		if (len == 0 || seg[0] == '.')
			return false;
		for (size_t i = 0; i < len; i++)
			if (!segment_char(seg[i]))
				return false;
		if (!seg[len])
			return true;
		seg += len + 1;
	}
}

static size_t count(const char *s, char c)
{
	size_t k = 0;
	for (; *s; s++)
		k += *s == c;
	return k;
}

static const char *ref_content_type(const char *name)
{
	static const char *const types[][2] = {{"html", "text/html; charset=utf-8"},
	                                       {"js", "text/javascript; charset=utf-8"},
	                                       {"mjs", "text/javascript; charset=utf-8"},
	                                       {"css", "text/css; charset=utf-8"},
	                                       {"wasm", "application/wasm"},
	                                       {"json", "application/json"},
	                                       {"map", "application/json"},
	                                       {"svg", "image/svg+xml"},
	                                       {"png", "image/png"},
	                                       {"ico", "image/x-icon"},
	                                       {"woff2", "font/woff2"},
	                                       {"txt", "text/plain; charset=utf-8"}};
	const char *base = name + strlen(name);
	while (base > name && base[-1] != '/')
		base--;
	const char *dot = NULL;
	for (const char *p = base; *p; p++)
		if (*p == '.')
			dot = p;
	if (!dot)
		return NULL;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(dot + 1, types[i][0]))
			return types[i][1];
	return NULL;
}

static bool ref_hashed(const char *name)
{
	const char *base = name + strlen(name);
	while (base > name && base[-1] != '/')
		base--;
	size_t stem = strcspn(base, ".");
	if (stem < 10 || base[stem - 9] != '-')
		return false;
	for (size_t i = stem - 8; i < stem; i++)
		if (!base[i] || !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", base[i]))
			return false;
	return true;
}

/* ---- the checks ---- */

/* Whatever string is looked up, the answer is the loaded file of exactly that path, or none. */
static void check_lookup(const char *path)
{
	const mcd_webfile *f = mcd_webroot_find(web, path);
	bool listed = false;
	for (size_t i = 0; i < N_SERVED; i++)
		listed |= !strcmp(served[i], path);
	CHECK((f != NULL) == listed);
	if (f) {
		CHECK(!strcmp(f->path, path));
		CHECK(f->len == strlen(path) && !memcmp(f->bytes, path, f->len));
		CHECK(f->content_type != NULL && f->etag[0] == '"');
	}
}

/* An accepted path, taken apart as a file system would resolve it under the root: segments
 * pushed, "." skipped, ".." popped. It must stay as it is, and never climb above the root. */
static void check_confined(const char *path)
{
	CHECK(path[0] == '/' && path[1] != '/');
	CHECK(!strstr(path, "/.") && !strstr(path, "//") && !strchr(path, '%') && !strchr(path, '\\'));
	for (const char *p = path; *p; p++)
		CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
	size_t depth = 0, n = strlen(path);
	char *norm = malloc(n + 2);
	CHECK(norm != NULL);
	size_t w = 0;
	for (const char *seg = path + 1; *seg;) {
		size_t len = strcspn(seg, "/");
		if (len == 1 && seg[0] == '.') {
			/* stays */
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			CHECK(depth > 0); /* would climb above the root */
			depth--;
			while (w > 0 && norm[--w] != '/')
				;
		} else {
			norm[w++] = '/';
			memcpy(norm + w, seg, len);
			w += len;
			depth++;
		}
		seg += len + (seg[len] == '/');
	}
	norm[w] = 0;
	CHECK(w == 0 ? !strcmp(path, "/") : !strcmp(norm, path));
	free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *raw = malloc(n + 1), *path = malloc(n + 1), *want = malloc(n + 1);
	CHECK(raw && path && want);
	memcpy(raw, data, n);
	raw[n] = 0;
	memcpy(path, raw, n + 1);

	size_t len = mcd_unescape_uri(NULL, NULL, path);
	CHECK(len == strlen(path) && len <= n);
	ref_unescape(raw, want);
	CHECK(!strcmp(path, want));
	CHECK(count(path, '/') == count(raw, '/') && count(path, '\\') == count(raw, '\\'));

	bool ok = mcd_static_path_ok(path);
	CHECK(ok == ref_path_ok(path));
	if (ok) {
		check_confined(path);
		check_lookup(strcmp(path, "/") ? path : "/index.html");
	}
	/* The lookup alone cannot leave the table either, checked path or not (static.c). */
	check_lookup(path);
	check_lookup(raw);

	const char *type = mcd_web_content_type(path), *ref_type = ref_content_type(path);
	CHECK((type == NULL) == (ref_type == NULL) && (!type || !strcmp(type, ref_type)));
	CHECK(mcd_web_is_hashed(path) == ref_hashed(path));

	free(want);
	free(path);
	free(raw);
	return 0;
}
