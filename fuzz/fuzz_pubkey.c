/*
 * fuzz_pubkey: the DER public-key reader on untrusted bytes. mc_pubkey_from_spki parses the
 * `signer` field of every container's core (docs/FORMAT.md [MC-CORE-4]); fuzz_container reaches
 * it too, but only behind the header parse, and fuzz_keyfile only through base64. Here the input
 * is the DER itself, tried as a recipient and as a signer key. The same bytes, cut at the first
 * NUL, are also a hexadecimal fingerprint for mc_fp_parse (what the CLI does with --recipient
 * and remove arguments).
 *
 * Whatever parses must keep the API's promises, or the target aborts: an accepted type and size,
 * FP = SHA-256 of the DER, the DER kept is the input, and fingerprints survive hex round trips.
 */
#include <ctype.h>
#include <medcrypt/key.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spki(const uint8_t *data, size_t size, mc_key_role role)
{
	mc_err err = {0};
	mc_pubkey *pk = NULL;
	mc_status st = mc_pubkey_from_spki(data, size, role, &pk, &err);
	if (st != MC_OK) {
		CHECK(pk == NULL && err.status == st);
		return;
	}
	check_pubkey_invariants(pk, role);
	mc_pubkey_free(pk);
}

static void check_fp_text(const uint8_t *data, size_t size)
{
	char text[130];
	size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	uint8_t fp[MC_FP_LEN];
	char hex[MC_FP_HEX_LEN + 1];
	if (mc_fp_parse(text, fp) != 0)
		return;
	CHECK(strlen(text) == MC_FP_HEX_LEN);
	mc_fp_hex(fp, hex);
	for (size_t i = 0; i < MC_FP_HEX_LEN; i++)
		CHECK(hex[i] == (char)tolower((unsigned char)text[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_spki(data, size, MC_ROLE_RECIPIENT);
	check_spki(data, size, MC_ROLE_SIGNER);
	check_fp_text(data, size);
	return 0;
}
