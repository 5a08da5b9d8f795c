/*
 * fuzz_server_text: the small parsers medcryptd runs on request text before any handler logic:
 * the route table's matcher (mcd_route_match: method and path, with the {id} and {username}
 * parameters), the base64 of JSON bodies (mcd_b64_decode), the base64url of the session cookie
 * (mcd_b64url_decode_exact, as mcd_session_load calls it), hex (mcd_unhex), invitation codes
 * (mcd_invitation_hash) and the name checks of API.md §12 (mcd_valid_username,
 * mcd_valid_display_name).
 *
 * Input: one selector byte, then the text (cut at the first NUL, as a C string from a header or
 * a JSON string would be). Besides the sanitizers, the target aborts when a result breaks what
 * the function promises: a matched route rebuilt from its pattern and parameters gives the path
 * back; decoded base64 re-encodes to a text that decodes to the same bytes; hex and invitation
 * codes agree with a reference written here; the name checks agree with a second,
 * independently written implementation of API.md §12 (RFC 3629 UTF-8, no C0/C1 controls, DEL,
 * U+2028 or U+2029).
 */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- references ---- */

static bool ref_username(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool lower_or_digit = strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[i]) != NULL;
		if (!lower_or_digit && (i == 0 || !strchr("._-", s[i])))
			return false;
	}
	return true;
}

/* RFC 3629 §4's byte ranges, one well-formed sequence at a time. */
static bool ref_display_name(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, n = strlen(text), chars = 0;
	while (i < n) {
		unsigned b0 = s[i], len;
		unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
		if (b0 <= 0x7f)
			len = 1;
		else if (b0 >= 0xc2 && b0 <= 0xdf)
			len = 2;
		else if (b0 == 0xe0)
			len = 3, lo = 0xa0;
		else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 == 0xee || b0 == 0xef)
			len = 3;
		else if (b0 == 0xed)
			len = 3, hi = 0x9f;
		else if (b0 == 0xf0)
			len = 4, lo = 0x90;
		else if (b0 >= 0xf1 && b0 <= 0xf3)
			len = 4;
		else if (b0 == 0xf4)
			len = 4, hi = 0x8f;
		else
			return false;
		if (n - i < len)
			return false;
		uint32_t cp = len == 1 ? b0 : b0 & (0xff >> (len + 1));
		for (unsigned k = 1; k < len; k++) {
			unsigned b = s[i + k];
			if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
				return false;
			cp = cp << 6 | (b & 0x3f);
		}
		if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			return false;
		i += len;
		chars++;
	}
	return chars >= 1 && chars <= 128;
}

static bool is_b64_alphabet(char c)
{
	return c && strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c) != NULL;
}

/* ---- one entry point each ---- */

static void fuzz_route(const char *text)
{
	/* "METHOD PATH" */
	const char *sp = strchr(text, ' ');
	if (!sp || (size_t)(sp - text) >= 16)
		return;
	char method[16];
	memcpy(method, text, (size_t)(sp - text));
	method[sp - text] = 0;
	const char *path = sp + 1;
	char params[2][72];
	memset(params, 0x5a, sizeof params);
	const mcd_route *r = mcd_route_match(method, path, params);
	if (!r)
		return;
	CHECK(strcmp(r->method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0));
	CHECK(r->handler != NULL && r->name != NULL);
	size_t n_routes = 0;
	const mcd_route *all = mcd_routes(&n_routes);
	CHECK(r >= all && r < all + n_routes);
	/* The web client's catch-all (router.c, API.md §20): every path outside /api, nothing in it;
	 * static.c checks the path itself. */
	if (!strcmp(r->pattern, "/*")) {
		CHECK(path[0] == '/' && strcmp(path, "/api") != 0 && strncmp(path, "/api/", 5) != 0);
		CHECK(!strcmp(r->name, "static"));
		return;
	}
	/* Any other: rebuild the path from the pattern and the parameters: it must be the path. */
	char rebuilt[512];
	size_t w = 0;
	int np = 0;
	for (const char *p = r->pattern; *p;) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			CHECK(end != NULL && np < 2);
			const char *v = params[np];
			CHECK(memchr(v, 0, 72) != NULL);
			if (!strncmp(p, "{id}", 4)) {
				CHECK(strlen(v) == 32);
				for (size_t i = 0; i < 32; i++)
					CHECK(strchr("0123456789abcdef", v[i]) != NULL);
			} else {
				CHECK(ref_username(v));
			}
			size_t vl = strlen(v);
			CHECK(w + vl < sizeof rebuilt);
			memcpy(rebuilt + w, v, vl);
			w += vl;
			np++;
			p = end + 1;
		} else {
			CHECK(w + 1 < sizeof rebuilt);
			rebuilt[w++] = *p++;
		}
	}
	rebuilt[w] = 0;
	CHECK(strcmp(rebuilt, path) == 0);
}

static void fuzz_b64(const char *text)
{
	uint8_t *out = NULL;
	size_t len = 0;
	bool ok = mcd_b64_decode(text, &out, &len);
	if (!ok) {
		CHECK(out == NULL && len == 0);
		return;
	}
	size_t n = strlen(text);
	size_t pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
	CHECK(n % 4 == 0 && len == n / 4 * 3 - pad);
	for (size_t i = 0; i < n - pad; i++)
		CHECK(is_b64_alphabet(text[i]));
	char *again = mcd_b64_encode(out, len);
	CHECK(again != NULL && strlen(again) == n);
	uint8_t *back = NULL;
	size_t back_len = 0;
	CHECK(mcd_b64_decode(again, &back, &back_len));
	CHECK(back_len == len && (len == 0 || memcmp(back, out, len) == 0));
	free(back);
	free(again);
	free(out);
}

static void fuzz_b64url(const char *text, size_t want)
{
	uint8_t *out = malloc(want ? want : 1); /* exactly want bytes: ASan sees an overrun */
	CHECK(out != NULL);
	if (mcd_b64url_decode_exact(text, out, want)) {
		size_t n = strlen(text);
		CHECK(n == (want * 4 + 2) / 3);
		for (size_t i = 0; i < n; i++)
			CHECK(text[i] == '-' || text[i] == '_' ||
			      (is_b64_alphabet(text[i]) && text[i] != '+' && text[i] != '/'));
		char enc[4 * 90 + 1];
		CHECK(want <= 256 * 3 / 4);
		mcd_b64url_encode(out, want, enc);
		CHECK(strlen(enc) == n);
		uint8_t *back = malloc(want ? want : 1);
		CHECK(back != NULL);
		CHECK(mcd_b64url_decode_exact(enc, back, want) && memcmp(back, out, want) == 0);
		free(back);
	}
	free(out);
}

static void fuzz_unhex(const char *text)
{
	size_t n = strlen(text);
	size_t len = n / 2;
	uint8_t *out = malloc(len ? len : 1);
	CHECK(out != NULL);
	bool ok = mcd_unhex(text, out, len);
	bool ref = n % 2 == 0;
	for (size_t i = 0; ref && i < n; i++)
		ref = strchr("0123456789abcdefABCDEF", text[i]) != NULL;
	CHECK(ok == ref);
	if (ok) {
		char *hex = malloc(2 * len + 1);
		CHECK(hex != NULL);
		mcd_hex(out, len, hex);
		for (size_t i = 0; i < n; i++)
			CHECK(hex[i] == (text[i] >= 'A' && text[i] <= 'F' ? text[i] - 'A' + 'a' : text[i]));
		free(hex);
	}
	free(out);
}

static void fuzz_invitation(const char *text)
{
	uint8_t hash[32];
	bool ok = mcd_invitation_hash(text, hash);
	char norm[64];
	size_t n = 0;
	bool ref = true;
	for (const char *p = text; *p && ref; p++) {
		if (*p == '-' || *p == ' ')
			continue;
		char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		ref = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", c) != NULL && n < 32;
		if (ref)
			norm[n++] = c;
	}
	ref = ref && n == 32;
	CHECK(ok == ref);
	if (ok) {
		uint8_t want[32];
		CHECK(EVP_Digest(norm, 32, want, NULL, EVP_sha256(), NULL) == 1);
		CHECK(memcmp(want, hash, 32) == 0);
		/* A generated code round-trips: base32 of 20 bytes is accepted. */
		uint8_t raw[20];
		char code[33];
		memcpy(raw, hash, 20);
		mcd_base32_20(raw, code);
		CHECK(mcd_invitation_hash(code, hash));
	}
}

static void fuzz_names(const char *text)
{
	CHECK(mcd_valid_username(text) == ref_username(text));
	CHECK(mcd_valid_display_name(text) == ref_display_name(text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *text = malloc(size);
	CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	switch (data[0] % 7) {
	case 0: fuzz_route(text); break;
	case 1: fuzz_b64(text); break;
	case 2:
		fuzz_b64url(text, 32); /* the session cookie */
		break;
	case 3: fuzz_b64url(text, (size_t)(data[0] / 7) % 64); break;
	case 4: fuzz_unhex(text); break;
	case 5: fuzz_invitation(text); break;
	default: fuzz_names(text); break;
	}
	free(text);
	return 0;
}
