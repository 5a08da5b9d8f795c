/*
 * test_vectors.c: runs every test vector of tests/vectors/ (docs/FORMAT.md §12) through the
 * library and checks the outcome class, and on success the plaintext and metadata digests.
 * usage: test_vectors VECTOR_DIR
 */
#include <dirent.h>
#include <medcrypt/container.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

static const struct {
	const char *name;
	mc_status status;
} classes[] = {
    {"success", MC_OK},
    {"header failure", MC_ERR_HEADER},
    {"unsupported", MC_ERR_UNSUPPORTED},
    {"no match", MC_ERR_NO_MATCH},
    {"MAC failure", MC_ERR_MAC},
    {"payload failure", MC_ERR_PAYLOAD},
    {"signature failure", MC_ERR_SIGNATURE},
};

struct vector {
	char expect[64], identity[128], trust[128], payload[80], metadata[80];
	const uint8_t *body;
	size_t body_len;
};

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Splits "key: value" lines up to the first empty line from the container bytes. */
static int parse_vector(uint8_t *data, size_t len, struct vector *v)
{
	memset(v, 0, sizeof *v);
	size_t pos = 0;
	while (pos < len) {
		uint8_t *nl = memchr(data + pos, '\n', len - pos);
		if (!nl)
			return -1;
		size_t line_len = (size_t)(nl - (data + pos));
		if (line_len == 0) {
			v->body = nl + 1;
			v->body_len = len - (pos + 1);
			return 0;
		}
		char line[512];
		if (line_len >= sizeof line)
			return -1;
		memcpy(line, data + pos, line_len);
		line[line_len] = 0;
		char *colon = strstr(line, ": ");
		if (colon) {
			*colon = 0;
			const char *val = colon + 2;
			if (!strcmp(line, "expect"))
				snprintf(v->expect, sizeof v->expect, "%s", val);
			else if (!strcmp(line, "identity"))
				snprintf(v->identity, sizeof v->identity, "%s", val);
			else if (!strcmp(line, "trust"))
				snprintf(v->trust, sizeof v->trust, "%s", val);
			else if (!strcmp(line, "payload"))
				snprintf(v->payload, sizeof v->payload, "%s", val);
			else if (!strcmp(line, "metadata"))
				snprintf(v->metadata, sizeof v->metadata, "%s", val);
		}
		pos += line_len + 1;
	}
	return -1;
}

static void hex_sha256(const uint8_t *p, size_t len, char out[65])
{
	uint8_t d[32];
	EVP_Digest(p, len, d, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static mc_status run_vector(const char *dir, const struct vector *v, membuf *plain, uint8_t **meta, size_t *meta_len,
                            mc_err *err)
{
	char path[1024];
	mc_identity *id = NULL;
	mc_pubkey *trust = NULL;
	mc_file *f = NULL;
	membuf in = membuf_view(v->body, v->body_len);
	in.max_read = 7000; /* exercise short reads */
	mc_status st = MC_OK;
	*meta = NULL;
	snprintf(path, sizeof path, "%s/keys/%s", dir, v->identity);
	if (mc_identity_load(path, NULL, 0, MC_IDENTITY_ENC, &id, err) != MC_OK) {
		fprintf(stderr, "cannot load %s: %s\n", path, err->msg);
		return MC_ERR_MISUSE;
	}
	if (v->trust[0]) {
		snprintf(path, sizeof path, "%s/keys/%s", dir, v->trust);
		if (mc_pubkey_load(path, MC_ROLE_SIGNER, &trust, err) != MC_OK) {
			mc_identity_free(id);
			return MC_ERR_MISUSE;
		}
	}
	const mc_pubkey *trusted[1] = {trust};
	mc_open_params params = {.trusted = trusted, .n_trusted = trust ? 1 : 0, .threads = 2};
	if ((st = mc_file_read(membuf_in(&in), &f, err)) == MC_OK && (st = mc_file_unlock(f, id, err)) == MC_OK &&
	    (st = mc_file_metadata(f, meta, meta_len, err)) == MC_OK)
		st = mc_file_open_payload(f, membuf_in(&in), membuf_out(plain), &params, NULL, err);
	mc_file_free(f);
	mc_identity_free(id);
	mc_pubkey_free(trust);
	return st;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_vectors VECTOR_DIR\n");
		return 2;
	}
	DIR *d = opendir(argv[1]);
	CHECK(d != NULL, "cannot open %s", argv[1]);
	if (!d)
		return check_summary("vectors");
	struct dirent *e;
	int count = 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".vec"))
			continue;
		char path[1024];
		size_t len;
		snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
		uint8_t *data = read_file(path, &len);
		struct vector v;
		CHECK(data && parse_vector(data, len, &v) == 0, "%s: unreadable vector", e->d_name);
		if (!data) {
			continue;
		}
		int expected = -1;
		for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
			if (!strcmp(classes[i].name, v.expect))
				expected = (int)classes[i].status;
		CHECK(expected >= 0, "%s: unknown expect '%s'", e->d_name, v.expect);
		membuf plain = {0};
		uint8_t *meta = NULL;
		size_t meta_len = 0;
		mc_err err = {0};
		mc_status st = run_vector(argv[1], &v, &plain, &meta, &meta_len, &err);
		CHECK((int)st == expected, "%s: expected %s, got %s (%s)", e->d_name, v.expect, mc_status_name(st),
		      err.msg);
		if (st == MC_OK && expected == MC_OK) {
			char hex[65];
			hex_sha256(plain.p ? plain.p : (const uint8_t *)"", plain.len, hex);
			CHECK(!strcmp(hex, v.payload), "%s: plaintext digest %s, expected %s", e->d_name, hex,
			      v.payload);
			if (v.metadata[0]) {
				hex_sha256(meta ? meta : (const uint8_t *)"", meta_len, hex);
				CHECK(meta && !strcmp(hex, v.metadata), "%s: metadata digest differs", e->d_name);
			} else {
				CHECK(meta == NULL, "%s: unexpected metadata", e->d_name);
			}
		}
		mc_buf_free(meta, meta_len);
		membuf_free(&plain);
		free(data);
		count++;
	}
	closedir(d);
	CHECK(count >= 100, "only %d vectors found", count);
	return check_summary("vectors");
}
