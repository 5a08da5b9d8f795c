/*
 * mcd_faults.c: failure injection for tests/server/fault_test.sh. It is linked only into
 * medcryptd_faults, a test build of the server made from medcryptd's own compiled objects with
 * the linker options --wrap=HMAC and --wrap=RAND_bytes, so the server's calls to HMAC() and
 * RAND_bytes() land here. Each fails, as OpenSSL would, while the file named by
 * $MCD_TEST_FAIL_HMAC (resp. $MCD_TEST_FAIL_RAND) exists, and otherwise calls OpenSSL's.
 * The installed medcryptd is linked without this file and has no such switch.
 */
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

unsigned char *__real_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t data_len,
                           unsigned char *out, unsigned int *out_len);
unsigned char *__wrap_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t data_len,
                           unsigned char *out, unsigned int *out_len);
int __real_RAND_bytes(unsigned char *buf, int num);
int __wrap_RAND_bytes(unsigned char *buf, int num);

/* Whether the switch file named by the environment variable exists. */
static bool failing(const char *variable)
{
	const char *path = getenv(variable);
	return path && *path && access(path, F_OK) == 0;
}

unsigned char *__wrap_HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data, size_t data_len,
                           unsigned char *out, unsigned int *out_len)
{
	if (failing("MCD_TEST_FAIL_HMAC"))
		return NULL; /* out untouched: whatever the caller had there stays */
	return __real_HMAC(md, key, key_len, data, data_len, out, out_len);
}

int __wrap_RAND_bytes(unsigned char *buf, int num)
{
	if (failing("MCD_TEST_FAIL_RAND"))
		return 0;
	return __real_RAND_bytes(buf, num);
}
