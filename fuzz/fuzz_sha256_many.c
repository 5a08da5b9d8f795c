/*
 * fuzz_sha256_many: a differential target for lib/hash/sha256_many.c, the 16-lane SHA-256 that
 * the signature of every sealed file rests on (FORMAT.md §8). Not a parser; a hash that gave
 * two chunks the same H_i by a bug would let a recipient forge a signed payload, so its
 * agreement with OpenSSL is fuzzed like a parser.
 *
 * Input: one byte n (1..16 lanes, from its low 4 bits), then the lanes' bytes: the rest is cut
 * into n messages of equal length (len = rest / n), each shifted by its lane number when the
 * high bit of the first byte is set (unaligned, overlapping). Every lane must equal OpenSSL's
 * SHA-256, through mc_sha256_many and, on a CPU with AVX-512, the 16-lane code directly.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256_many.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_sha256_many: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned n = (data[0] & 15) + 1;
	int shifted = data[0] & 0x80;
	const uint8_t *rest = data + 1;
	size_t rest_len = size - 1;
	size_t len = rest_len / n;
	if (shifted && len >= n)
		len -= n; /* room for the shifts */
	const uint8_t *msgs[MC_SHA256_MANY_MAX];
	for (unsigned i = 0; i < n; i++)
		msgs[i] = shifted ? rest + i : rest + (size_t)i * len;
	uint8_t want[MC_SHA256_MANY_MAX][32], got[MC_SHA256_MANY_MAX][32];
	for (unsigned i = 0; i < n; i++)
		must(EVP_Digest(msgs[i], len, want[i], NULL, EVP_sha256(), NULL) == 1, "OpenSSL failed");
	must(mc_sha256_many(msgs, len, n, got), "mc_sha256_many failed");
	must(memcmp(got, want, 32 * (size_t)n) == 0, "mc_sha256_many differs from OpenSSL");
	if (mc_sha256_many_simd()) {
		mc_sha256_many_avx512(msgs, len, n, got);
		must(memcmp(got, want, 32 * (size_t)n) == 0, "the 16-lane code differs from OpenSSL");
	}
	return 0;
}
