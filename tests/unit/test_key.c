/*
 * test_key.c: identities and key files (docs/FORMAT.md §11): generation, the encrypted PKCS#8
 * file and its modes, wrong passphrases, no overwriting, symlinks refused, the public identity
 * read in both roles, RSA keys under 3072 bits refused with a reason, what mc_key_file_kind
 * says of each kind of file, and a key file whose read fails midway wiped before it is freed
 * (read() is wrapped here, free() watched by free_watch.h).
 * usage: test_key VECTOR_DIR
 */
#include <errno.h>
#include <medcrypt/key.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "free_watch.h"

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
	/* Both keys handed out as PKCS#8 (the account key bundle), only with the passphrase. */
	uint8_t *pkcs8[2];
	size_t pkcs8_len[2];
	CHECK(mc_identity_load_pkcs8(key, "wrong", 5, &loaded, pkcs8, pkcs8_len, &err) == MC_ERR_KEY && !loaded &&
	          !pkcs8[0] && !pkcs8[1],
	      "pkcs8: wrong passphrase gives nothing");
	CHECK(mc_identity_load_pkcs8(key, pass, strlen(pass), &loaded, pkcs8, pkcs8_len, &err) == MC_OK && loaded &&
	          pkcs8[0] && pkcs8[1] && pkcs8_len[0] > 1000 && pkcs8_len[1] > 40,
	      "pkcs8: %s", err.msg);
	mc_identity *back = NULL;
	for (int i = 0; i < 2 && pkcs8[i]; i++) {
		/* the DER is a PKCS#8 key the library reads back as the same key */
		BIO *bio = BIO_new(BIO_s_secmem());
		char *pem = NULL;
		long pem_len = bio && PEM_write_bio(bio, "PRIVATE KEY", "", pkcs8[i], (long)pkcs8_len[i]) > 0
		                   ? BIO_get_mem_data(bio, &pem)
		                   : 0;
		CHECK(pem_len > 0 && mc_identity_parse((const uint8_t *)pem, (size_t)pem_len, NULL, 0,
		                                       i ? MC_IDENTITY_SIGN : MC_IDENTITY_ENC, &back, &err) == MC_OK,
		      "pkcs8 %d reads back: %s", i, err.msg);
		BIO_free(bio);
		const uint8_t *want = i ? mc_identity_sign_fp(id) : mc_identity_enc_fp(id);
		const uint8_t *got = back ? (i ? mc_identity_sign_fp(back) : mc_identity_enc_fp(back)) : NULL;
		CHECK(got && !memcmp(got, want, MC_FP_LEN), "pkcs8 %d is the identity's key", i);
		mc_identity_free(back);
		back = NULL;
		mc_buf_free(pkcs8[i], pkcs8_len[i]);
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
	/* The PEM of a public key reads back as the same key. */
	char *pem = mc_pubkey_pem(sig);
	mc_pubkey *again = NULL;
	CHECK(pem && strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0 &&
	          mc_pubkey_parse((const uint8_t *)pem, strlen(pem), MC_ROLE_SIGNER, &again, &err) == MC_OK &&
	          !memcmp(mc_pubkey_fp(again), mc_pubkey_fp(sig), MC_FP_LEN),
	      "mc_pubkey_pem round trip");
	CHECK(mc_pubkey_pem(NULL) == NULL, "mc_pubkey_pem(NULL)");
	free(pem);
	mc_pubkey_free(again);
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

/* ---- mc_key_file_kind ---- */

static void kind_of(const char *path, mc_key_file_info *info)
{
	mc_err err = {0};
	CHECK(mc_key_file_kind(path, info, &err) == MC_OK, "kind of %s: %s", path, err.msg);
}

static void test_key_file_kind(const char *tmp, const char *vectors)
{
	char path[1100];
	mc_key_file_info info;
	mc_err err = {0};
	/* a NAME.key of keygen: encrypted, its types shown by the clear public halves */
	snprintf(path, sizeof path, "%s/id%d.key", tmp, (int)MC_SIG_ED25519);
	kind_of(path, &info);
	CHECK(info.kind == MC_KEY_FILE_PRIVATE && info.encrypted && info.n_keys == 2, "NAME.key: private, encrypted");
	CHECK(info.type[0] == MC_KEY_TYPE_RSA && info.bits[0] == 3072 && info.type[1] == MC_KEY_TYPE_ED25519,
	      "NAME.key shows RSA-3072 then Ed25519: %d/%u %d", info.type[0], info.bits[0], info.type[1]);
	snprintf(path, sizeof path, "%s/id%d.key", tmp, (int)MC_SIG_RSA_PSS);
	kind_of(path, &info);
	CHECK(info.encrypted && info.type[0] == MC_KEY_TYPE_RSA && info.type[1] == MC_KEY_TYPE_RSA &&
	          info.bits[1] == 3072,
	      "NAME.key with an RSA signing key");
	/* its NAME.pub */
	snprintf(path, sizeof path, "%s/id%d.pub", tmp, (int)MC_SIG_ED25519);
	kind_of(path, &info);
	CHECK(info.kind == MC_KEY_FILE_PUBLIC && !info.encrypted && info.n_keys == 2 &&
	          info.type[0] == MC_KEY_TYPE_RSA && info.type[1] == MC_KEY_TYPE_ED25519,
	      "NAME.pub: two public keys");
	/* bare plain PKCS#8 keys: not encrypted, the type from the key's algorithm, no size */
	snprintf(path, sizeof path, "%s/keys/alice.key", vectors);
	kind_of(path, &info);
	CHECK(info.kind == MC_KEY_FILE_PRIVATE && !info.encrypted && info.n_keys == 1 &&
	          info.type[0] == MC_KEY_TYPE_RSA && info.bits[0] == 0 && info.type[1] == MC_KEY_TYPE_UNKNOWN,
	      "plain RSA PKCS#8");
	snprintf(path, sizeof path, "%s/keys/signer_ed25519.key", vectors);
	kind_of(path, &info);
	CHECK(info.kind == MC_KEY_FILE_PRIVATE && !info.encrypted && info.type[0] == MC_KEY_TYPE_ED25519,
	      "plain Ed25519 PKCS#8");
	/* text that only mentions an encrypted key is not one (the CLI used to grep for it) */
	static const char mention[] = "# not -----BEGIN ENCRYPTED PRIVATE KEY-----\n";
	CHECK(mc_key_file_kind_parse((const uint8_t *)mention, sizeof mention - 1, &info, &err) == MC_OK &&
	          info.kind == MC_KEY_FILE_NONE && !info.encrypted && info.n_keys == 0,
	      "a mention is no key");
	static const uint8_t junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	CHECK(mc_key_file_kind_parse(junk, sizeof junk - 1, &info, &err) == MC_OK && info.kind == MC_KEY_FILE_NONE,
	      "an unreadable public key block is no key");
	/* errors: as mc_identity_load's */
	CHECK(mc_key_file_kind("/nonexistent/x.key", &info, &err) == MC_ERR_IO && info.kind == MC_KEY_FILE_NONE,
	      "missing file");
	snprintf(path, sizeof path, "%s/link%d.key", tmp, (int)MC_SIG_ED25519);
	CHECK(mc_key_file_kind(path, &info, &err) == MC_ERR_KEY, "symlink refused: %s", err.msg);
	CHECK(mc_key_file_kind(tmp, &info, &err) == MC_ERR_KEY, "a directory is not a key file");
}

/* ---- a read that fails midway (issue 10) ---- */

ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len);
static long long read_budget = -1; /* >= 0: bytes left before reads fail with EIO */

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
	if (read_budget < 0)
		return __real_read(fd, buf, len);
	if (read_budget == 0) {
		errno = EIO;
		return -1;
	}
	if (len > (size_t)read_budget)
		len = (size_t)read_budget;
	ssize_t n = __real_read(fd, buf, len);
	if (n > 0)
		read_budget -= n;
	return n;
}

static void test_read_failure_wipes(const char *vectors)
{
	char path[1100];
	char text[200] = {0};
	snprintf(path, sizeof path, "%s/keys/alice.key", vectors); /* a plain private key */
	FILE *f = fopen(path, "r");
	CHECK(f && fread(text, 1, sizeof text - 1, f) > 100, "read %s", path);
	if (f)
		fclose(f);
	const char *marker = text + 28; /* the first line of the key's base64 */
	CHECK(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0, "a PEM private key");
	for (int budget = 80; budget <= 1000; budget += 920) {
		for (int which = 0; which < 4; which++) {
			mc_identity *id = NULL;
			mc_pubkey *pk = NULL;
			mc_key_file_info info;
			mc_err err = {0};
			mc_status st;
			size_t seen = 0;
			read_budget = budget;
			free_watch_start(marker, 32);
			if (which == 0)
				st = mc_identity_load(path, NULL, 0, MC_IDENTITY_ENC, &id, &err);
			else if (which == 1)
				st = mc_pubkey_load(path, MC_ROLE_RECIPIENT, &pk, &err);
			else if (which == 2)
				st = mc_identity_file_signer(path, &pk, &err);
			else
				st = mc_key_file_kind(path, &info, &err);
			size_t left = free_watch_stop(&seen);
			read_budget = -1;
			CHECK(st == MC_ERR_IO && !id && !pk, "call %d, read failing after %d bytes: %d %s", which,
			      budget, st, err.msg);
			CHECK(seen > 0 && left == 0,
			      "call %d, read failing after %d bytes: %zu of %zu freed blocks held key text", which,
			      budget, left, seen);
			mc_identity_free(id);
			mc_pubkey_free(pk);
		}
	}
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
	test_key_file_kind(tmp, argv[1]);
	test_read_failure_wipes(argv[1]);

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
