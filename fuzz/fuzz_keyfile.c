/*
 * fuzz_keyfile: the key-file readers (docs/FORMAT.md §11) on untrusted bytes.
 *
 * The input is a whole key file. It goes through mc_identity_parse with a fixed passphrase
 * (FUZZ_PASSPHRASE; the encrypted seeds in fuzz/corpus/fuzz_keyfile use it, with a low PBKDF2
 * iteration count) for both private keys, for the encryption key alone and for the signing key
 * alone, and through mc_pubkey_parse for both roles.
 *
 * Whatever parses must keep the API's promises, or the target aborts: the requested keys are
 * there and of an accepted type and size, fingerprints are SHA-256 of the SubjectPublicKeyInfo,
 * and a public key rebuilt from its DER (or from the identity) has the same fingerprint.
 */
#include <medcrypt/key.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "internal.h"

#define FUZZ_PASSPHRASE "medcrypt fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pubkey(const mc_pubkey *pk, mc_key_role role)
{
	check_pubkey_invariants(pk, role);
	uint8_t fp[MC_FP_LEN];
	char hex[MC_FP_HEX_LEN + 1];
	mc_fp_hex(mc_pubkey_fp(pk), hex);
	CHECK(mc_fp_parse(hex, fp) == 0 && memcmp(fp, mc_pubkey_fp(pk), MC_FP_LEN) == 0);
}

static void check_identity(const mc_identity *id, int which)
{
	mc_err err = {0};
	mc_pubkey *pk = NULL;
	CHECK(mc_identity_has_enc(id) == !!(which & MC_IDENTITY_ENC));
	CHECK(mc_identity_has_sign(id) == !!(which & MC_IDENTITY_SIGN));
	CHECK((mc_identity_enc_fp(id) != NULL) == mc_identity_has_enc(id));
	CHECK((mc_identity_sign_fp(id) != NULL) == mc_identity_has_sign(id));
	mc_sig_alg alg = mc_identity_sig_alg(id);
	CHECK(mc_identity_has_sign(id) ? (alg == MC_SIG_ED25519 || alg == MC_SIG_RSA_PSS) : alg == MC_SIG_NONE);

	mc_status st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &pk, &err);
	if (mc_identity_has_enc(id)) {
		CHECK(st == MC_OK && memcmp(mc_pubkey_fp(pk), mc_identity_enc_fp(id), MC_FP_LEN) == 0);
		check_pubkey(pk, MC_ROLE_RECIPIENT);
	} else {
		CHECK(st != MC_OK && pk == NULL);
	}
	mc_pubkey_free(pk);
	pk = NULL;

	st = mc_pubkey_from_identity(id, MC_ROLE_SIGNER, &pk, &err);
	if (mc_identity_has_sign(id)) {
		CHECK(st == MC_OK && memcmp(mc_pubkey_fp(pk), mc_identity_sign_fp(id), MC_FP_LEN) == 0);
		CHECK(mc_pubkey_sig_alg(pk) == alg);
		check_pubkey(pk, MC_ROLE_SIGNER);
	} else {
		CHECK(st != MC_OK && pk == NULL);
	}
	mc_pubkey_free(pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int which[] = {MC_IDENTITY_BOTH, MC_IDENTITY_ENC, MC_IDENTITY_SIGN};
	static const mc_key_role roles[] = {MC_ROLE_RECIPIENT, MC_ROLE_SIGNER};
	mc_err err = {0};

	for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
		mc_identity *id = NULL;
		mc_status st =
		    mc_identity_parse(data, size, FUZZ_PASSPHRASE, strlen(FUZZ_PASSPHRASE), which[i], &id, &err);
		if (st == MC_OK)
			check_identity(id, which[i]);
		else
			CHECK(id == NULL && err.status == st);
		mc_identity_free(id);
	}
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		mc_pubkey *pk = NULL;
		mc_status st = mc_pubkey_parse(data, size, roles[i], &pk, &err);
		if (st == MC_OK)
			check_pubkey(pk, roles[i]);
		else
			CHECK(pk == NULL && err.status == st);
		mc_pubkey_free(pk);
	}
	return 0;
}
