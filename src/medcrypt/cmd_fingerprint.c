/*
 * cmd_fingerprint.c: `medcrypt fingerprint`: the fingerprints of a public identity or key.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

mc_status cmd_fingerprint(int argc, char **argv, mc_err *err)
{
	bool json = false;
	const char *path = NULL;
	mc_status parsed = parse_json_and_file("fingerprint", argc, argv, &json, &path, err);
	if (parsed != MC_OK)
		return parsed;
	mc_pubkey *enc = NULL, *sig = NULL;
	mc_err enc_err = {0}, sig_err = {0};
	mc_status st_enc = mc_pubkey_load(path, MC_ROLE_RECIPIENT, &enc, &enc_err);
	mc_status st_sig = mc_pubkey_load(path, MC_ROLE_SIGNER, &sig, &sig_err);
	if (enc && sig && memcmp(mc_pubkey_fp(enc), mc_pubkey_fp(sig), MC_FP_LEN) == 0) {
		/* A single RSA key: it is listed once, as an encryption key. */
		mc_pubkey_free(sig);
		sig = NULL;
	}
	if (!enc && !sig) {
		*err = st_enc == MC_ERR_KEY && st_sig != MC_ERR_KEY ? sig_err : enc_err;
		mc_pubkey_free(enc);
		return err->status;
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(path));
		if (enc) {
			json_object_set_new(o, "encryption_fingerprint", json_fp(mc_pubkey_fp(enc)));
			json_object_set_new(o, "encryption_bits", json_integer(mc_pubkey_bits(enc)));
		}
		if (sig) {
			json_object_set_new(o, "signing_fingerprint", json_fp(mc_pubkey_fp(sig)));
			json_object_set_new(
			    o, "signing_algorithm",
			    json_string(mc_pubkey_sig_alg(sig) == MC_SIG_ED25519 ? "ed25519" : "rsa-pss"));
		}
		json_print(o);
	} else {
		char hex[MC_FP_HEX_LEN + 1];
		if (enc) {
			mc_fp_hex(mc_pubkey_fp(enc), hex);
			printf("encryption  rsa-%u   %s\n", mc_pubkey_bits(enc), hex);
		}
		if (sig) {
			mc_fp_hex(mc_pubkey_fp(sig), hex);
			printf("signing     %-9s %s\n",
			       mc_pubkey_sig_alg(sig) == MC_SIG_ED25519 ? "ed25519" : "rsa-pss", hex);
		}
	}
	mc_pubkey_free(enc);
	mc_pubkey_free(sig);
	return MC_OK;
}
