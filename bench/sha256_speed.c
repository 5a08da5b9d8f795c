/*
 * sha256_speed: what bench/run reports as the chunk-hash ceiling (one core): MB/s of SHA-256
 * over 65,552-byte chunks (FORMAT.md §8), hashed one by one with OpenSSL and sixteen at a time
 * with lib/hash/sha256_many.c. Prints "openssl MBPS" and "many MBPS" (0 when the CPU has no
 * AVX-512), each the best of three runs of about a second. A benchmark, not a test.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sha256_many.h"

#define CHUNK 65552

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* MB/s of one way of hashing 16 chunks, best of three runs of about a second each. */
static double speed(const uint8_t *const msgs[16], int simd)
{
	uint8_t out[16][32];
	double best = 0;
	for (int run = 0; run < 3; run++) {
		double t0 = now(), t;
		long rounds = 0;
		do {
			if (simd) {
				mc_sha256_many_avx512(msgs, CHUNK, 16, out);
			} else {
				for (int i = 0; i < 16; i++)
					if (EVP_Digest(msgs[i], CHUNK, out[i], NULL, EVP_sha256(), NULL) != 1)
						return 0;
			}
			rounds++;
		} while ((t = now() - t0) < 1.0);
		double mbps = (double)rounds * 16 * CHUNK / t / 1e6;
		if (mbps > best)
			best = mbps;
	}
	return best;
}

int main(void)
{
	uint8_t *buf = malloc(16 * (size_t)CHUNK);
	if (!buf)
		return 1;
	for (size_t i = 0; i < 16 * (size_t)CHUNK; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	const uint8_t *msgs[16];
	for (int i = 0; i < 16; i++)
		msgs[i] = buf + (size_t)i * CHUNK;
	printf("openssl %.0f\n", speed(msgs, 0));
	printf("many %.0f\n", mc_sha256_many_simd() ? speed(msgs, 1) : 0.0);
	free(buf);
	return 0;
}
