/*
 * sha256_many.h: SHA-256 (FIPS 180-4) of up to 16 messages of one length at once.
 *
 * The signature of a sealed file covers H_i = SHA-256(chunk_i) of every 65,552-byte chunk
 * (FORMAT.md §8, [MC-SIG-2]). One SHA-256 stream is serial: one core, whatever the instruction
 * set. Chunks are independent messages of the same length, so on a CPU with AVX-512 sixteen of
 * them are hashed together, one message per 32-bit lane of a 512-bit register, at about twice
 * the speed of a single SHA-NI stream. Elsewhere, and for fewer than MC_SHA256_MANY_MIN
 * messages, each message is hashed by OpenSSL. The result is the same either way; the tests
 * check it against OpenSSL.
 *
 * This file links with no decryption code: the server (medcryptd) uses it to check the
 * signature of uploads, and libmedcrypt for sealing, opening and verifying.
 */
#ifndef MC_SHA256_MANY_H
#define MC_SHA256_MANY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_SHA256_MANY_MAX 16 /* messages per call */
#define MC_SHA256_MANY_MIN 4  /* fewer than this: one OpenSSL call per message */

/* out[i] = SHA-256(msg[i][0 .. len-1]) for i < n, 1 <= n <= MC_SHA256_MANY_MAX. Returns false
 * only if OpenSSL fails (the out entries are then unspecified). Thread-safe. */
bool mc_sha256_many(const uint8_t *const msg[], size_t len, unsigned n, uint8_t out[][32]);

/* Whether mc_sha256_many uses the 16-lane AVX-512 code on this CPU. The environment variable
 * MEDCRYPT_SHA256_MANY=openssl turns it off (for comparisons), read once. */
bool mc_sha256_many_simd(void);

/* The 16-lane code itself, whatever the CPU claims: the tests compare it with OpenSSL. Only
 * call it when mc_sha256_many_simd() is true. n as above, without the MC_SHA256_MANY_MIN rule. */
void mc_sha256_many_avx512(const uint8_t *const msg[], size_t len, unsigned n, uint8_t out[][32]);

#endif
