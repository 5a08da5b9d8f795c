/*
 * fuzz_check.h: what the fuzz targets share: CHECK, which aborts (so libFuzzer reports the
 * input) when an invariant of the API is broken, and the invariants every parsed public key
 * must keep, whichever parser produced it.
 */
#ifndef MC_FUZZ_CHECK_H
#define MC_FUZZ_CHECK_H

#include <medcrypt/key.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: invariant broken at line %d: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* An accepted type and size for its role; FP = SHA-256 of the DER SubjectPublicKeyInfo; that
 * DER parses back to a key with the same fingerprint, algorithm and size. */
static inline void check_pubkey_invariants(const mc_pubkey *pk, mc_key_role role)
{
	mc_err err = {0};
	unsigned bits = mc_pubkey_bits(pk);
	mc_sig_alg alg = mc_pubkey_sig_alg(pk);
	if (role == MC_ROLE_RECIPIENT || alg == MC_SIG_RSA_PSS)
		CHECK(bits >= MC_RSA_MIN_BITS && bits <= MC_RSA_MAX_BITS);
	if (role == MC_ROLE_RECIPIENT)
		CHECK(alg == MC_SIG_NONE);
	else
		CHECK(alg == MC_SIG_RSA_PSS || (alg == MC_SIG_ED25519 && bits == 256));
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
}

#endif
