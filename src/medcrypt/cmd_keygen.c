/*
 * cmd_keygen.c: `medcrypt keygen`: makes an identity and writes NAME.key and NAME.pub.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include <zxcvbn.h>

#include "cli.h"

/* PRODUCT.md's policy for new passphrases: at least 12 characters and a zxcvbn score of 3 or
 * more, i.e. an estimated 10^8 guesses (log2 10^8 = 26.6 bits); no composition rules. */
#define MIN_PASSPHRASE_CHARS 12
#define MIN_PASSPHRASE_BITS  26.6

static bool strong_enough(const passphrase *pp, const char *name)
{
	size_t chars = 0; /* characters, not bytes: UTF-8 continuation bytes do not count */
	for (size_t i = 0; i < pp->len; i++)
		if (((unsigned char)pp->buf[i] & 0xc0) != 0x80)
			chars++;
	if (chars < MIN_PASSPHRASE_CHARS)
		return false;
	const char *user_words[] = {name, "medcrypt", NULL};
	return ZxcvbnMatch(pp->buf, user_words, NULL) >= MIN_PASSPHRASE_BITS;
}

mc_status cmd_keygen(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"rsa-bits", required_argument, NULL, 'b'},
	                                     {"sign", required_argument, NULL, 's'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *out = NULL, *name = NULL;
	unsigned bits = 3072;
	mc_sig_alg alg = MC_SIG_ED25519;
	int pfd = -1, c;
	bool json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n': name = optarg; break;
		case 'b':
			if (strcmp(optarg, "3072") == 0)
				bits = 3072;
			else if (strcmp(optarg, "4096") == 0)
				bits = 4096;
			else
				return usage_error(err, "keygen", "--rsa-bits must be 3072 or 4096");
			break;
		case 's':
			if (strcmp(optarg, "ed25519") == 0)
				alg = MC_SIG_ED25519;
			else if (strcmp(optarg, "rsa-pss") == 0)
				alg = MC_SIG_RSA_PSS;
			else
				return usage_error(err, "keygen", "--sign must be ed25519 or rsa-pss");
			break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "keygen", "--passphrase-fd needs a file descriptor number");
			break;
		case 'j': json = true; break;
		default: return usage_error(err, "keygen", "unknown option");
		}
	}
	if (!out || optind != argc)
		return usage_error(err, "keygen", "give -o NAME and nothing else");

	char *base_copy = strdup(out);
	if (!base_copy)
		return MC_ERR_NOMEM;
	if (!name)
		name = basename(base_copy);

	passphrase pp;
	mc_identity *id = NULL;
	mc_status st = passphrase_get(&pp, pfd, "Passphrase for the new key: ", true, err);
	if (st == MC_OK && !strong_enough(&pp, name))
		st = usage_error(err, "keygen",
		                 "the passphrase is too weak: use %d or more characters that are hard to guess "
		                 "(a few unrelated words work well)",
		                 MIN_PASSPHRASE_CHARS);
	if (st == MC_OK)
		st = mc_identity_generate(bits, alg, &id, err);
	if (st == MC_OK)
		st = mc_identity_save(id, out, name, pp.buf, pp.len, err);
	passphrase_free(&pp);
	if (st == MC_OK) {
		char h1[MC_FP_HEX_LEN + 1], h2[MC_FP_HEX_LEN + 1];
		mc_fp_hex(mc_identity_enc_fp(id), h1);
		mc_fp_hex(mc_identity_sign_fp(id), h2);
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "private", json_sprintf("%s.key", out));
			json_object_set_new(o, "public", json_sprintf("%s.pub", out));
			json_object_set_new(o, "encryption_fingerprint", json_string(h1));
			json_object_set_new(o, "signing_fingerprint", json_string(h2));
			json_object_set_new(o, "signing_algorithm",
			                    json_string(alg == MC_SIG_ED25519 ? "ed25519" : "rsa-pss"));
			json_print(o);
		} else {
			printf("wrote %s.key (private: keep it) and %s.pub (public: share it)\n", out, out);
			printf("encryption key  rsa-%u  %s\n", bits, h1);
			printf("signing key     %-7s %s\n", alg == MC_SIG_ED25519 ? "ed25519" : "rsa-pss", h2);
		}
	}
	mc_identity_free(id);
	free(base_copy);
	return st;
}
