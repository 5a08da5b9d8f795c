/*
 * fuzz_client_answer: what the `medcrypt` client does with an answer from a medcryptd server,
 * which it does not trust (the server is trusted for availability, never for confidentiality:
 * PRODUCT.md). The entry points are those src/medcrypt/client.h and account.h expose:
 *
 *   - http_error: an error answer (status and {"error", "message"}) to a status and a message
 *     for the terminal;
 *   - user_pubkey: a USER record of the directory (API.md §13) to a recipient or signer key,
 *     checked against the record's fingerprint;
 *   - b64_decode: every base64 field;
 *   - an IMAGE record (API.md §15): the base64 "header" read with mc_file_read and the base64
 *     "wrap" added with mc_file_add_detached_wrap, as cmd_images.c's image_header does (that
 *     function is static; this is the same sequence of exposed calls);
 *   - account_unwrap of "wrapped_keys"."password" under a fixed key, and account_kdf_check of a
 *     pre-login "kdf";
 *   - account_pow_solve of a pre-login "pow" challenge (only for bits <= 12, to stay fast).
 *
 * Input: one byte that selects the HTTP status (see statuses[]), then the JSON body.
 * Besides the sanitizers, the target aborts when: http_error returns MC_OK or a message with a
 * byte that is not printable ASCII (a hostile server must not reach the terminal with escape
 * sequences); a key from user_pubkey does not have the record's fingerprint or breaks the
 * invariants of fuzz_check.h; a decoded base64 buffer is longer than its text allows or does
 * not re-encode to the same bytes; a parsed header is longer than its bytes; a proof of work
 * does not have its zero bits.
 */
#include <jansson.h>
#include <medcrypt/container.h>
#include <medcrypt/key.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/medcrypt/account.h"
#include "../src/medcrypt/client.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {200, 201, 204, 206, 400, 401, 403, 404, 409, 413, 416, 429, 500, 502, 503, 0};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])

/* The fixed account wrapping key the seeds' wrapped bundles are made with (gen_server_corpus.sh). */
static const uint8_t wrap_key[32] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                     0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                     0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

static void check_printable(const char *msg, size_t cap)
{
	CHECK(memchr(msg, 0, cap) != NULL);
	for (const char *p = msg; *p; p++)
		if (!(*p >= 0x20 && *p < 0x7f)) {
			fprintf(stderr, "fuzz_client_answer: byte 0x%02x of the message is not printable: %s\n",
			        (unsigned char)*p, msg);
			CHECK(*p >= 0x20 && *p < 0x7f);
		}
}

/* b64_decode of a string: the length its text allows, and a round trip to the same bytes. */
static uint8_t *decode(const char *text, size_t *len)
{
	uint8_t *buf = b64_decode(text, len);
	if (!buf) {
		CHECK(*len == 0);
		return NULL;
	}
	size_t n = strlen(text);
	CHECK(*len <= n / 4 * 3);
	char *again = b64_encode(buf, *len);
	CHECK(again != NULL);
	size_t back_len = 0;
	uint8_t *back = b64_decode(again, &back_len);
	CHECK(back != NULL && back_len == *len && (*len == 0 || memcmp(back, buf, *len) == 0));
	mc_buf_free(back, back_len);
	free(again);
	return buf;
}

/* IMAGE: the header and my wrap, as cmd_images.c reads them. */
static void image(json_t *im)
{
	const char *h64 = json_string_value(json_object_get(im, "header"));
	const char *w64 = json_string_value(json_object_get(im, "wrap"));
	size_t hlen = 0, wlen = 0;
	uint8_t *h = h64 ? decode(h64, &hlen) : NULL;
	uint8_t *w = w64 ? decode(w64, &wlen) : NULL;
	if (h) {
		mc_mem_source src = {h, hlen};
		mc_file *f = NULL;
		mc_err err = {0};
		if (mc_file_read(mc_input_mem(&src), &f, &err) == MC_OK) {
			CHECK(mc_file_header_len(f) <= hlen);
			size_t before = mc_file_n_wraps(f);
			if (w && mc_file_add_detached_wrap(f, w, wlen, &err) == MC_OK)
				CHECK(mc_file_n_wraps(f) == before + 1);
			mc_file_free(f);
		}
	}
	mc_buf_free(h, hlen);
	mc_buf_free(w, wlen);
}

static void user(json_t *u)
{
	static const mc_key_role roles[] = {MC_ROLE_RECIPIENT, MC_ROLE_SIGNER};
	static const char *fp_fields[] = {"enc_fingerprint", "sign_fingerprint"};
	for (int i = 0; i < 2; i++) {
		mc_pubkey *pk = NULL;
		mc_err err = {0};
		mc_status st = user_pubkey(u, roles[i], &pk, &err);
		CHECK((st == MC_OK) == (pk != NULL));
		if (st != MC_OK) {
			CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
			continue;
		}
		uint8_t fp[MC_FP_LEN];
		CHECK(mc_fp_parse(json_string_value(json_object_get(u, fp_fields[i])), fp) == 0);
		CHECK(memcmp(mc_pubkey_fp(pk), fp, MC_FP_LEN) == 0);
		check_pubkey_invariants(pk, roles[i]);
		mc_pubkey_free(pk);
	}
}

static void account(json_t *body)
{
	const char *wrapped = json_string_value(json_object_get(json_object_get(body, "wrapped_keys"), "password"));
	if (wrapped) {
		size_t len = 0, bundle_len = 0;
		uint8_t *buf = decode(wrapped, &len), *bundle = NULL;
		mc_err err = {0};
		if (buf && account_unwrap(wrap_key, buf, len, &bundle, &bundle_len, &err) == MC_OK)
			CHECK(bundle != NULL && bundle_len + 28 == len);
		else
			CHECK(bundle == NULL);
		mc_buf_free(bundle, bundle_len);
		mc_buf_free(buf, len);
	}
	json_t *kdf = json_object_get(body, "kdf");
	json_t *t = json_object_get(kdf, "t"), *m = json_object_get(kdf, "m"), *p = json_object_get(kdf, "p");
	if (json_is_integer(t) && json_is_integer(m) && json_is_integer(p)) {
		json_int_t tv = json_integer_value(t), mv = json_integer_value(m), pv = json_integer_value(p);
		if (tv >= 0 && tv <= UINT32_MAX && mv >= 0 && mv <= UINT32_MAX && pv >= 0 && pv <= UINT32_MAX) {
			account_kdf k = {(uint32_t)tv, (uint32_t)mv, (uint32_t)pv};
			mc_err err = {0};
			if (account_kdf_check(&k, &err) == MC_OK)
				CHECK(k.t >= 2 && k.m >= 19456 && k.m <= 1048576 && k.p >= 1 && k.p <= 16);
		}
	}
	json_t *pow = json_object_get(body, "pow");
	const char *c64 = json_string_value(json_object_get(pow, "challenge"));
	json_t *bits = json_object_get(pow, "bits");
	if (c64 && json_is_integer(bits) && json_integer_value(bits) >= 0 && json_integer_value(bits) <= 12) {
		size_t clen = 0;
		uint8_t *c = decode(c64, &clen);
		if (c) {
			unsigned b = (unsigned)json_integer_value(bits);
			uint8_t nonce[8], h[32];
			mc_err err = {0};
			if (account_pow_solve(c, clen, b, nonce, &err) == MC_OK) {
				EVP_MD_CTX *md = EVP_MD_CTX_new();
				CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
				      EVP_DigestUpdate(md, c, clen) == 1 && EVP_DigestUpdate(md, nonce, 8) == 1 &&
				      EVP_DigestFinal_ex(md, h, NULL) == 1);
				EVP_MD_CTX_free(md);
				for (unsigned i = 0; i < b; i++)
					CHECK((h[i / 8] & (0x80 >> (i % 8))) == 0);
			}
			mc_buf_free(c, clen);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	json_error_t jerr;
	json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);

	/* The error path, whatever the body. */
	http_response r = {
	    .status = statuses[data[0] % N_STATUSES], .json = body, .retry_after = -1, .content_len = -1};
	if (data[0] / N_STATUSES & 1)
		r.retry_after = (long)(data[0] * 37) - 1000;
	mc_err err = {0};
	if (r.status >= 400 || r.status == 0) {
		mc_status st = http_error(&r, "fuzz", &err);
		CHECK(st != MC_OK && err.status == st);
		check_printable(err.msg, sizeof err.msg);
	}

	if (json_is_object(body)) {
		user(body);
		user(json_object_get(body, "user"));
		image(body);
		json_t *list = json_object_get(body, "images");
		for (size_t i = 0; i < json_array_size(list) && i < 8; i++)
			image(json_array_get(list, i));
		list = json_object_get(body, "users");
		for (size_t i = 0; i < json_array_size(list) && i < 8; i++)
			user(json_array_get(list, i));
		account(body);
	}
	json_decref(body);
	return 0;
}
