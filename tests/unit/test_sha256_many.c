/*
 * test_sha256_many.c: lib/hash/sha256_many.c against OpenSSL and against FIPS 180-2's examples.
 * - the FIPS examples ("abc", the 448-bit message, a million 'a') in every lane;
 * - every length from 0 to 300 bytes (each padding case: the length field in the same block or
 *   in a block of its own, and every boundary at 55, 56, 63, 64, 119, 120, 128) and the chunk
 *   lengths of FORMAT.md §7 (65,552 and a short last chunk), with 1 to 16 messages whose bytes
 *   differ in every lane, through mc_sha256_many and, on a CPU with AVX-512, the 16-lane code
 *   directly (so a count below MC_SHA256_MANY_MIN is checked on it too);
 * - messages that are not 64-byte aligned and overlap;
 * - the switch MEDCRYPT_SHA256_MANY=openssl (checked in a child with the variable set).
 * On a CPU without AVX-512 the 16-lane code is never called; the test then checks that
 * mc_sha256_many_simd() says so, and the OpenSSL path is checked the same way.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sha256_many.h"

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void ref(const uint8_t *m, size_t len, uint8_t out[32])
{
	if (EVP_Digest(m, len, out, NULL, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "OpenSSL SHA-256 failed\n");
		exit(2);
	}
}

static int hexeq(const uint8_t d[32], const char *hex)
{
	char buf[65];
	for (int i = 0; i < 32; i++)
		snprintf(buf + 2 * i, 3, "%02x", d[i]);
	return strcmp(buf, hex) == 0;
}

/* n messages of len bytes at msgs[i]: both entry points against OpenSSL. */
static void check_set(const uint8_t *const msgs[], size_t len, unsigned n, const char *what)
{
	uint8_t got[MC_SHA256_MANY_MAX][32], want[MC_SHA256_MANY_MAX][32];
	for (unsigned i = 0; i < n; i++)
		ref(msgs[i], len, want[i]);
	memset(got, 0, sizeof got);
	CHECK(mc_sha256_many(msgs, len, n, got), "%s: mc_sha256_many failed", what);
	CHECK(memcmp(got, want, 32 * (size_t)n) == 0, "%s: len %zu, n %u: mc_sha256_many differs from OpenSSL", what,
	      len, n);
	if (mc_sha256_many_simd()) {
		memset(got, 0, sizeof got);
		mc_sha256_many_avx512(msgs, len, n, got);
		CHECK(memcmp(got, want, 32 * (size_t)n) == 0, "%s: len %zu, n %u: 16-lane code differs from OpenSSL",
		      what, len, n);
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *mode = getenv("MEDCRYPT_SHA256_MANY");
	if (mode && strcmp(mode, "openssl") == 0) {
		/* the child of the last check below */
		return mc_sha256_many_simd() ? 1 : 0;
	}
	printf("16-lane AVX-512 code: %s\n", mc_sha256_many_simd() ? "in use" : "not available on this CPU");
	if (!mc_sha256_many_simd()) {
		__builtin_cpu_init();
		CHECK(!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")),
		      "the CPU has AVX-512F and BW but the 16-lane code is off");
	}

	/* FIPS 180-2 appendix B examples, the same message in all 16 lanes. */
	{
		static const struct {
			const char *msg;
			size_t repeat;
			const char *hex;
		} ex[] = {
		    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
		};
		for (size_t e = 0; e < sizeof ex / sizeof ex[0]; e++) {
			size_t l = strlen(ex[e].msg), len = l * ex[e].repeat;
			uint8_t *m = malloc(len ? len : 1);
			for (size_t r = 0; r < ex[e].repeat; r++)
				memcpy(m + r * l, ex[e].msg, l);
			const uint8_t *msgs[MC_SHA256_MANY_MAX];
			for (int i = 0; i < MC_SHA256_MANY_MAX; i++)
				msgs[i] = m;
			uint8_t got[MC_SHA256_MANY_MAX][32];
			CHECK(mc_sha256_many(msgs, len, MC_SHA256_MANY_MAX, got), "FIPS example %zu", e);
			for (int i = 0; i < MC_SHA256_MANY_MAX; i++)
				CHECK(hexeq(got[i], ex[e].hex), "FIPS example %zu, lane %d", e, i);
			free(m);
		}
	}

	/* Every short length, every count; the lanes' bytes all differ. */
	{
		enum { MAXLEN = 300 };
		uint8_t *buf = malloc(MC_SHA256_MANY_MAX * (MAXLEN + 7));
		fill(buf, MC_SHA256_MANY_MAX * (MAXLEN + 7), 7);
		const uint8_t *msgs[MC_SHA256_MANY_MAX];
		for (int i = 0; i < MC_SHA256_MANY_MAX; i++)
			msgs[i] = buf + i * (MAXLEN + 7) + (i % 7); /* unaligned, lane by lane */
		for (size_t len = 0; len <= MAXLEN; len++)
			for (unsigned n = 1; n <= MC_SHA256_MANY_MAX; n++)
				check_set(msgs, len, n, "short");
		free(buf);
	}

	/* Chunk lengths (FORMAT.md §7): full wire chunks and a short last one, as a slot holds them. */
	{
		const size_t lens[] = {65552, 65536, 65537, 4096 + 16, 17};
		uint8_t *slot = malloc(MC_SHA256_MANY_MAX * 65552);
		fill(slot, MC_SHA256_MANY_MAX * 65552, 99);
		for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
			const uint8_t *msgs[MC_SHA256_MANY_MAX];
			for (int i = 0; i < MC_SHA256_MANY_MAX; i++)
				msgs[i] = slot + (size_t)i * lens[k];
			for (unsigned n = 1; n <= MC_SHA256_MANY_MAX; n++)
				check_set(msgs, lens[k], n, "chunk");
		}
		/* Overlapping messages: each starts one byte after the previous. */
		const uint8_t *msgs[MC_SHA256_MANY_MAX];
		for (int i = 0; i < MC_SHA256_MANY_MAX; i++)
			msgs[i] = slot + i;
		check_set(msgs, 65552, MC_SHA256_MANY_MAX, "overlapping");
		free(slot);
	}

	/* Out-of-range counts are refused, not read past. */
	{
		const uint8_t *msgs[1] = {(const uint8_t *)"x"};
		uint8_t got[1][32];
		CHECK(!mc_sha256_many(msgs, 1, 0, got), "n = 0 refused");
	}

	/* MEDCRYPT_SHA256_MANY=openssl turns the 16-lane code off (the child exits 0 when it is off). */
	{
		pid_t pid = fork();
		if (pid == 0) {
			setenv("MEDCRYPT_SHA256_MANY", "openssl", 1);
			execl("/proc/self/exe", argv[0], (char *)NULL);
			_exit(3);
		}
		int status = 0;
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "MEDCRYPT_SHA256_MANY=openssl turns the 16-lane code off (status %d)", status);
	}
	return check_summary("sha256-many");
}
