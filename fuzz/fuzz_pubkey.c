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

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                \
	do {                                                                                                           \
		if (!(cond)) {                                                                                             \
			fprintf(stderr, "fuzz_pubkey: invariant broken at line %d: %s\n", __LINE__, #cond);                    \
			abort();                                                                                               \
		}                                                                                                          \
	} while (0)

static void check_spki(const uint8_t *data, size_t size, mc_key_role role)
{
	mc_err err = {0};
	mc_pubkey *pk = NULL;
	mc_status st = mc_pubkey_from_spki(data, size, role, &pk, &err);
	if (st != MC_OK) {
		CHECK(pk == NULL && err.status == st);
		return;
	}
	unsigned bits = mc_pubkey_bits(pk);
	mc_sig_alg alg = mc_pubkey_sig_alg(pk);
	if (role == MC_ROLE_RECIPIENT || alg == MC_SIG_RSA_PSS)
		CHECK(bits >= MC_RSA_MIN_BITS && bits <= MC_RSA_MAX_BITS);
	if (role == MC_ROLE_RECIPIENT)
		CHECK(alg == MC_SIG_NONE);
	else
		CHECK(alg == MC_SIG_RSA_PSS || (alg == MC_SIG_ED25519 && bits == 256));

	/* The fingerprint is over the DER as re-encoded; re-encoding a key that parsed in full
	 * gives a DER that parses to the same key (fingerprint) again. */
	size_t spki_len = 0;
	const uint8_t *spki = mc_pubkey_spki(pk, &spki_len);
	uint8_t fp[MC_FP_LEN];
	CHECK(spki && spki_len > 0);
	CHECK(mc_sha256(spki, spki_len, fp, &err) == MC_OK && memcmp(fp, mc_pubkey_fp(pk), MC_FP_LEN) == 0);
	mc_pubkey *again = NULL;
	CHECK(mc_pubkey_from_spki(spki, spki_len, role, &again, &err) == MC_OK);
	CHECK(memcmp(mc_pubkey_fp(again), fp, MC_FP_LEN) == 0);
	CHECK(mc_pubkey_sig_alg(again) == alg && mc_pubkey_bits(again) == bits);
	mc_pubkey_free(again);
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
