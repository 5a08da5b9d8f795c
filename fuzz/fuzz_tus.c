/*
 * fuzz_tus: the parsers of medcryptd's resumable uploads (src/medcryptd/handlers/tus.c, API.md
 * §15a) for the request text a client controls: the numbers of Upload-Offset and Upload-Length
 * (mcd_tus_parse_u64), Upload-Metadata (mcd_tus_metadata_ok), the PATCH's Content-Type
 * (mcd_tus_is_octets), and the upload id in the path, which the route table takes apart
 * (mcd_route_match on /api/v1/uploads/{id}) and the handlers join to the directory of partial
 * files. Tus-Resumable is an exact comparison with "1.0.0" and has nothing to fuzz.
 *
 * Input: one selector byte, then the text (cut at the first NUL, as a header value is), copied
 * to a buffer of exactly its size so that ASan sees any read past the NUL. Besides the
 * sanitizers, the target aborts when a result breaks what tus.h promises: an accepted number is
 * 1 to 19 digits and prints back as the text without its leading zeros; an accepted metadata
 * header agrees with a reference written here from the tus 1.0 text (pairs of a key of printable
 * ASCII without space or comma and an optional strict base64 value) and every value decodes
 * with mcd_b64_decode to the length its text implies, and the keys the server reads (`patient`,
 * `deidentified`, issue 12) are found by mcd_tus_metadata_value exactly as a reference walk
 * finds them (absent, once with its decoded text, or refused when twice or holding a NUL); the media type check agrees
 * with a reference; an upload route's id is 32 lower-case hex digits, the path is rebuilt from it, and the partial
 * file's path is the uploads directory, a slash and the id.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/medcryptd/handlers/handlers.h"
#include "../src/medcryptd/handlers/tus.h"
#include "../src/medcryptd/router.h"
#include "../src/medcryptd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: invariant broken at line %d: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#define UPLOADS "/api/v1/uploads"

/* ---- references ---- */

static bool ref_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Strict base64 of [v, v + n): a multiple of 4 characters, '=' only as the last one or two. */
static bool ref_b64(const char *v, size_t n)
{
	if (n % 4 != 0)
		return false;
	size_t pad = (n >= 1 && v[n - 1] == '=') + (n >= 2 && v[n - 2] == '=');
	for (size_t i = 0; i < n - pad; i++)
		if (!ref_b64_char(v[i]))
			return false;
	return true;
}

/* tus 1.0 §Upload-Metadata: "key value" or "key" pairs separated by commas (spaces before a key
 * tolerated), a non-empty key without space or comma, printable ASCII; the value base64. */
static bool ref_metadata(const char *m)
{
	size_t n = strlen(m);
	if (n > 4096)
		return false;
	size_t i = 0;
	for (;;) {
		while (i < n && m[i] == ' ')
			i++;
		size_t key = i;
		while (i < n && m[i] >= 0x21 && m[i] <= 0x7e && m[i] != ',')
			i++;
		if (i == key)
			return false;
		if (i < n && m[i] == ' ') {
			size_t value = ++i;
			while (i < n && m[i] != ',')
				i++;
			if (!ref_b64(m + value, i - value))
				return false;
		}
		if (i == n)
			return true;
		if (m[i] != ',')
			return false;
		i++;
	}
}

static bool ref_octets(const char *t)
{
	static const char want[] = "application/offset+octet-stream";
	size_t n = sizeof want - 1;
	for (size_t i = 0; i < n; i++) {
		char c = t[i] >= 'A' && t[i] <= 'Z' ? (char)(t[i] - 'A' + 'a') : t[i];
		if (c != want[i])
			return false; /* also at the NUL of a shorter text */
	}
	return t[n] == 0 || t[n] == ';';
}

/* ---- one entry point each ---- */

static void fuzz_number(const char *text)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5a;
	bool ok = mcd_tus_parse_u64(text, &v);
	size_t n = strlen(text);
	bool ref = n >= 1 && n <= 19 && strspn(text, "0123456789") == n;
	CHECK(ok == ref);
	if (!ok) {
		CHECK(v == 0x5a5a5a5a5a5a5a5a); /* untouched */
		return;
	}
	/* Round trip: what add_u64_header would print is the text without its leading zeros. */
	char printed[24];
	snprintf(printed, sizeof printed, "%" PRIu64, v);
	const char *digits = text + strspn(text, "0");
	CHECK(strcmp(printed, *digits ? digits : "0") == 0);
	uint64_t again = 0;
	CHECK(mcd_tus_parse_u64(printed, &again) && again == v);
}

static void check_value(const char *text, const char *key);

static void fuzz_metadata(const char *text)
{
	bool ok = mcd_tus_metadata_ok(text);
	CHECK(ok == ref_metadata(text));
	if (!ok)
		return;
	/* Every value decodes, to the length its text implies. */
	for (const char *p = text;;) {
		p += strspn(p, " ");
		const char *end = strchr(p, ',');
		size_t pair = end ? (size_t)(end - p) : strlen(p);
		const char *sp = memchr(p, ' ', pair);
		CHECK(sp != p);
		if (sp) {
			size_t vlen = pair - (size_t)(sp + 1 - p);
			char *value = malloc(vlen + 1);
			CHECK(value != NULL);
			memcpy(value, sp + 1, vlen);
			value[vlen] = 0;
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			CHECK(mcd_b64_decode(value, &raw, &raw_len));
			size_t pad = (vlen >= 1 && value[vlen - 1] == '=') + (vlen >= 2 && value[vlen - 2] == '=');
			CHECK(raw_len == vlen / 4 * 3 - pad);
			free(raw);
			free(value);
		}
		if (!end)
			break;
		p = end + 1;
	}
	check_value(text, "patient");
	check_value(text, "deidentified");
}

/* Reference for mcd_tus_metadata_value on an accepted header: the pairs whose key is key. */
static void check_value(const char *text, const char *key)
{
	size_t found = 0;
	uint8_t *want = NULL;
	size_t want_len = 0;
	for (const char *p = text;;) {
		p += strspn(p, " ");
		const char *end = strchr(p, ',');
		size_t pair = end ? (size_t)(end - p) : strlen(p);
		const char *sp = memchr(p, ' ', pair);
		size_t klen = sp ? (size_t)(sp - p) : pair;
		if (klen == strlen(key) && !memcmp(p, key, klen)) {
			found++;
			free(want);
			want = NULL;
			want_len = 0;
			size_t vlen = sp ? pair - klen - 1 : 0;
			if (vlen) {
				char *value = malloc(vlen + 1);
				CHECK(value != NULL);
				memcpy(value, sp + 1, vlen);
				value[vlen] = 0;
				CHECK(mcd_b64_decode(value, &want, &want_len));
				free(value);
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	char *got = (char *)0x1;
	bool ok = mcd_tus_metadata_value(text, key, &got);
	bool has_nul = want_len && memchr(want, 0, want_len);
	if (found == 0)
		CHECK(ok && got == NULL);
	else if (found > 1 || has_nul)
		CHECK(!ok && got == NULL);
	else
		CHECK(ok && got && strlen(got) == want_len && !memcmp(got, want ? (char *)want : "", want_len));
	free(got);
	free(want);
}

static void fuzz_content_type(const char *text)
{
	CHECK(mcd_tus_is_octets(text) == ref_octets(text));
}

/* The upload id in the path: METHOD (from the selector) on UPLOADS followed by the text. */
static void fuzz_upload_path(uint8_t sel, const char *text)
{
	static const char *const methods[] = {"OPTIONS", "POST", "GET", "HEAD", "PATCH", "DELETE"};
	const char *method = methods[(sel >> 2) % 6];
	size_t n = strlen(text);
	char *path = malloc(sizeof UPLOADS + n);
	CHECK(path != NULL);
	memcpy(path, UPLOADS, sizeof UPLOADS - 1);
	memcpy(path + sizeof UPLOADS - 1, text, n + 1);
	char params[2][72];
	memset(params, 0x5a, sizeof params);
	const mcd_route *r = mcd_route_match(method, path, params);
	if (!r || !mcd_tus_route(r)) {
		free(path);
		return;
	}
	CHECK(!strncmp(r->pattern, UPLOADS, sizeof UPLOADS - 1));
	if (!strcmp(r->pattern, UPLOADS)) {
		CHECK(!strcmp(path, UPLOADS) && (!strcmp(method, "OPTIONS") || !strcmp(method, "POST")));
		free(path);
		return;
	}
	CHECK(!strcmp(r->pattern, UPLOADS "/{id}"));
	const char *id = params[0];
	CHECK(memchr(id, 0, sizeof params[0]) != NULL && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32);
	CHECK(path[sizeof UPLOADS - 1] == '/' && !strcmp(path + sizeof UPLOADS, id));
	/* partial_path: the uploads directory, one slash, the id: never a file elsewhere. */
	char *file = mcd_path_join("/data/uploads", id);
	CHECK(file != NULL && !strncmp(file, "/data/uploads/", 14) && !strcmp(file + 14, id));
	free(file);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	/* A header value is a C string: cut at the first NUL, in a buffer of exactly that size. */
	const uint8_t *nul = memchr(data + 1, 0, size - 1);
	size_t n = nul ? (size_t)(nul - (data + 1)) : size - 1;
	char *text = malloc(n + 1);
	CHECK(text != NULL);
	memcpy(text, data + 1, n);
	text[n] = 0;
	switch (data[0] & 3) {
	case 0: fuzz_number(text); break;
	case 1: fuzz_metadata(text); break;
	case 2: fuzz_content_type(text); break;
	default: fuzz_upload_path(data[0], text); break;
	}
	uint64_t v = 7;
	CHECK(!mcd_tus_parse_u64(NULL, &v) && v == 7 && !mcd_tus_is_octets(NULL));
	free(text);
	return 0;
}
