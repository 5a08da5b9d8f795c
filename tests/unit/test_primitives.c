/*
 * test_primitives.c: the worked example of docs/FORMAT.md §12.1, read from the document
 * itself, checked value by value against the library's HKDF and chunk AEAD, so the spec's
 * example and the code cannot drift apart.
 * usage: test_primitives FORMAT.md
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	while (hex[0] && hex[1] && n < max && sscanf(hex, "%2hhx", &out[n]) == 1) {
		n++;
		hex += 2;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_primitives FORMAT.md\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	CHECK(f != NULL, "cannot open %s", argv[1]);
	if (!f)
		return check_summary("primitives");
	uint8_t file_key[32] = {0}, file_id[32] = {0}, plaintext[64], want[128], got[128];
	size_t pt_len = 0;
	int cipher = 0, values = 0;
	char line[512], name[64], hex[300];
	bool in_block = false;
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, "### 12.1"))
			in_block = true;
		if (!in_block)
			continue;
		if (strncmp(line, "```", 3) == 0 && values > 0)
			break;
		if (sscanf(line, "cipher %d", &cipher) == 1)
			continue;
		if (sscanf(line, "%63s = %299s", name, hex) != 2)
			continue;
		size_t n = unhex(hex, want, sizeof want);
		mc_err err;
		if (!strcmp(name, "file_key"))
			memcpy(file_key, want, 32);
		else if (!strcmp(name, "file_id"))
			memcpy(file_id, want, 32);
		else if (!strcmp(name, "plaintext"))
			memcpy(plaintext, want, pt_len = n);
		else if (!strncmp(name, "K_", 2)) {
			const char *label = !strcmp(name, "K_header")    ? FMT_INFO_HEADER
			                    : !strcmp(name, "K_payload") ? FMT_INFO_PAYLOAD
			                    : !strcmp(name, "K_meta")    ? FMT_INFO_META
			                                                 : FMT_INFO_PREVIEW;
			CHECK(mc_hkdf(file_key, file_id, label, (mc_cipher)cipher, got, &err) == MC_OK, "hkdf");
			CHECK(n == 32 && !memcmp(got, want, 32), "%s for cipher %d differs", name, cipher);
			values++;
		} else if (!strcmp(name, "chunk_0")) {
			uint8_t kp[32];
			mc_chunk_ctx ctx;
			mc_hkdf(file_key, file_id, FMT_INFO_PAYLOAD, (mc_cipher)cipher, kp, &err);
			CHECK(mc_chunk_ctx_init(&ctx, (mc_cipher)cipher, kp, 1, &err) == MC_OK, "ctx");
			CHECK(mc_chunk_crypt(&ctx, 0, true, plaintext, pt_len, got), "seal chunk");
			mc_chunk_ctx_free(&ctx);
			CHECK(n == pt_len + 16 && !memcmp(got, want, n), "chunk_0 for cipher %d differs", cipher);
			values++;
		}
	}
	fclose(f);
	CHECK(values == 10, "found %d of the 10 values of §12.1", values);
	return check_summary("primitives");
}
