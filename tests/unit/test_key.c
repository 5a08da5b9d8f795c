/*
 * test_key.c: identities and key files (docs/FORMAT.md §11): generation, the encrypted PKCS#8
 * file and its modes, wrong passphrases, no overwriting, symlinks refused, the public identity
 * read in both roles, and RSA keys under 3072 bits refused with a reason.
 * usage: test_key VECTOR_DIR
 */
#include <medcrypt/key.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static const char pass[] = "a passphrase for tests only";

static void test_identity_files(const char *tmp, mc_sig_alg alg)
{
	char base[512], key[600], pub[600], link[600];
	mc_identity *id = NULL, *loaded = NULL;
	mc_pubkey *enc = NULL, *sig = NULL;
	mc_err err = {0};
	struct stat sb;
	snprintf(base, sizeof base, "%s/id%d", tmp, (int)alg);
	snprintf(key, sizeof key, "%s.key", base);
	snprintf(pub, sizeof pub, "%s.pub", base);
	snprintf(link, sizeof link, "%s/link%d.key", tmp, (int)alg);

	CHECK(mc_identity_generate(2048, alg, &id, &err) == MC_ERR_MISUSE, "2048-bit generation refused");
	CHECK(mc_identity_generate(3072, alg, &id, &err) == MC_OK, "generate: %s", err.msg);
	if (!id)
		return;
	CHECK(mc_identity_save(id, base, "tester\n<b>", pass, 0, &err) == MC_ERR_MISUSE, "empty passphrase refused");
	CHECK(mc_identity_save(id, base, "tester\n<b>", pass, strlen(pass), &err) == MC_OK, "save: %s", err.msg);
	CHECK(stat(key, &sb) == 0 && (sb.st_mode & 0777) == 0600, "key file mode 0600");
	CHECK(stat(pub, &sb) == 0 && (sb.st_mode & 0777) == 0644, "pub file mode 0644");
	CHECK(mc_identity_save(id, base, "x", pass, strlen(pass), &err) == MC_ERR_IO, "no overwrite");

	CHECK(mc_identity_load(key, "wrong", 5, MC_IDENTITY_BOTH, &loaded, &err) == MC_ERR_KEY && !loaded,
	      "wrong passphrase");
	CHECK(strstr(err.msg, "passphrase") != NULL && strstr(err.msg, "wrong") != NULL, "message: %s", err.msg);
	CHECK(mc_identity_load(key, pass, strlen(pass), MC_IDENTITY_BOTH, &loaded, &err) == MC_OK, "load: %s", err.msg);
	if (loaded) {
		CHECK(!memcmp(mc_identity_enc_fp(loaded), mc_identity_enc_fp(id), MC_FP_LEN), "enc fp survives");
		CHECK(!memcmp(mc_identity_sign_fp(loaded), mc_identity_sign_fp(id), MC_FP_LEN), "sign fp survives");
		CHECK(mc_identity_sig_alg(loaded) == alg, "sig alg survives");
	}
	mc_identity_free(loaded);
	loaded = NULL;
	/* Only what is asked for is decrypted. */
	CHECK(mc_identity_load(key, pass, strlen(pass), MC_IDENTITY_SIGN, &loaded, &err) == MC_OK &&
	          !mc_identity_has_enc(loaded) && mc_identity_has_sign(loaded),
	      "sign only");
	mc_identity_free(loaded);
	loaded = NULL;

	CHECK(symlink(key, link) == 0, "symlink");
	CHECK(mc_identity_load(link, pass, strlen(pass), MC_IDENTITY_BOTH, &loaded, &err) == MC_ERR_KEY && !loaded,
	      "symlinked key refused: %s", err.msg);

	CHECK(mc_pubkey_load(pub, MC_ROLE_RECIPIENT, &enc, &err) == MC_OK &&
	          !memcmp(mc_pubkey_fp(enc), mc_identity_enc_fp(id), MC_FP_LEN),
	      "pub as recipient");
	CHECK(mc_pubkey_load(pub, MC_ROLE_SIGNER, &sig, &err) == MC_OK &&
	          !memcmp(mc_pubkey_fp(sig), mc_identity_sign_fp(id), MC_FP_LEN) && mc_pubkey_sig_alg(sig) == alg,
	      "pub as signer");
	mc_pubkey_free(sig);
	sig = NULL;
	CHECK(mc_pubkey_load(key, MC_ROLE_RECIPIENT, &sig, &err) == MC_ERR_KEY && strstr(err.msg, "private"),
	      "private key given as public: %s", err.msg);
	/* The label in the .pub is printable ASCII only. */
	FILE *f = fopen(pub, "r");
	char text[8192] = {0};
	CHECK(f && fread(text, 1, sizeof text - 1, f) > 0, "read pub");
	if (f)
		fclose(f);
	CHECK(strstr(text, "# name: tester?<b>\n") != NULL, "label sanitised");
	mc_pubkey_free(enc);
	mc_identity_free(id);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_key VECTOR_DIR\n");
		return 2;
	}
	char tmp[] = "/tmp/mc-keytest-XXXXXX";
	CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
	test_identity_files(tmp, MC_SIG_ED25519);
	test_identity_files(tmp, MC_SIG_RSA_PSS);

	char path[1024];
	mc_pubkey *pk = NULL;
	mc_err err = {0};
	snprintf(path, sizeof path, "%s/keys/weak2048.pub", argv[1]);
	CHECK(mc_pubkey_load(path, MC_ROLE_RECIPIENT, &pk, &err) == MC_ERR_KEY && !pk, "RSA-2048 recipient refused");
	CHECK(strstr(err.msg, "RSA-2048") && strstr(err.msg, "3072"), "the reason is given: %s", err.msg);
	mc_identity *id = NULL;
	snprintf(path, sizeof path, "%s/keys/weak2048.key", argv[1]);
	CHECK(mc_identity_load(path, NULL, 0, MC_IDENTITY_ENC, &id, &err) == MC_ERR_KEY && !id, "RSA-2048 identity");
	snprintf(path, sizeof path, "%s/keys/signer_ed25519.pub", argv[1]);
	CHECK(mc_pubkey_load(path, MC_ROLE_RECIPIENT, &pk, &err) == MC_ERR_KEY, "Ed25519 is no recipient");
	CHECK(mc_pubkey_load("/nonexistent/x.pub", MC_ROLE_RECIPIENT, &pk, &err) == MC_ERR_IO, "missing file");
	uint8_t junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	CHECK(mc_pubkey_parse(junk, sizeof junk - 1, MC_ROLE_RECIPIENT, &pk, &err) == MC_ERR_KEY, "junk PEM");
	uint8_t fp[MC_FP_LEN];
	char hex[MC_FP_HEX_LEN + 1];
	memset(fp, 0xab, sizeof fp);
	mc_fp_hex(fp, hex);
	uint8_t back[MC_FP_LEN];
	CHECK(mc_fp_parse(hex, back) == 0 && !memcmp(fp, back, MC_FP_LEN), "fp hex round trip");
	CHECK(mc_fp_parse("abc", back) != 0, "short fp refused");

	char cmd[2100];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	CHECK(system(cmd) == 0, "cleanup");
	return check_summary("keys");
}
