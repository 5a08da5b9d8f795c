/*
 * mcd_testkdf.c: the client side of API.md §13 for the server tests, written from the spec
 * alone: master = Argon2id(password, salt, t, m, p, 32), auth_key and wrap_key by HKDF-SHA-256.
 * Prints the base64 auth_key, then the base64 wrap_key, one a line. Test passwords only: the
 * password is an argument here, which a real client must never do.
 *
 * usage: mcd_testkdf PASSWORD SALT_BASE64 T M P
 */
#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int b64_decode(const char *text, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(text);
	if (n % 4 || n / 4 * 3 > cap)
		return 0;
	int got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
	if (got < 0)
		return 0;
	size_t pad = (n && text[n - 1] == '=') + (n > 1 && text[n - 2] == '=');
	*len = (size_t)got - pad;
	return 1;
}

static void b64_print(const unsigned char *buf, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	puts(out);
	free(out);
}

static int hkdf(const unsigned char *ikm, const char *info, unsigned char out[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t len = 32;
	int ok = ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
	         EVP_PKEY_CTX_set1_hkdf_salt(ctx, (const unsigned char *)"", 0) > 0 &&
	         EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm, 32) > 0 &&
	         EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)info, (int)strlen(info)) > 0 &&
	         EVP_PKEY_derive(ctx, out, &len) > 0 && len == 32;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: mcd_testkdf PASSWORD SALT_BASE64 T M P\n");
		return 2;
	}
	unsigned char salt[64], master[32], auth[32], wrap[32];
	size_t salt_len = 0;
	if (!b64_decode(argv[2], salt, sizeof salt, &salt_len))
		return 2;
	uint32_t t = (uint32_t)atoi(argv[3]), m = (uint32_t)atoi(argv[4]), p = (uint32_t)atoi(argv[5]);
	if (argon2id_hash_raw(t, m, p, argv[1], strlen(argv[1]), salt, salt_len, master, sizeof master) != ARGON2_OK)
		return 1;
	if (!hkdf(master, "medcrypt/v1 account auth", auth) || !hkdf(master, "medcrypt/v1 account wrap", wrap))
		return 1;
	b64_print(auth, 32);
	b64_print(wrap, 32);
	return 0;
}
