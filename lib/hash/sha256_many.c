/*
 * sha256_many.c: SHA-256 of up to 16 equal-length messages, one per 32-bit lane of AVX-512
 * registers (see sha256_many.h). Written from FIPS 180-4 §4.1.2, §4.2.2, §5.1.1, §6.2:
 * - each message block is loaded as 16 rows of 16 words (one row per message) and transposed,
 *   so register t holds word t of every message;
 * - the round functions are lane-wise: rotations with VPRORD, Ch, Maj and the three-way XORs
 *   of Σ and σ with one VPTERNLOGD each;
 * - the padding (0x80, zeros, the 64-bit bit length) is the same for every lane, since the
 *   lengths are equal, and is built in a small buffer per lane for the last one or two blocks.
 * Unused lanes repeat message 0 and their results are dropped. Nothing here is secret (chunks
 * are ciphertext), but the code has no data-dependent branch or index anyway.
 */
#include "sha256_many.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512_CODE 1
#endif

/* SHA-256 fetched once for the process, so hashing a chunk does no name lookup. */
static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static EVP_MD *fetched_sha256(void)
{
	pthread_once(&md_once, md_fetch);
	return sha256_md;
}

bool mc_sha256_many(const uint8_t *const msg[], size_t len, unsigned n, uint8_t out[][32])
{
	if (n == 0 || n > MC_SHA256_MANY_MAX)
		return false;
	if (n >= MC_SHA256_MANY_MIN && mc_sha256_many_simd()) {
		mc_sha256_many_avx512(msg, len, n, out);
		return true;
	}
	EVP_MD *md = fetched_sha256();
	for (unsigned i = 0; i < n; i++)
		if (!md || EVP_Digest(msg[i], len, out[i], NULL, md, NULL) != 1)
			return false;
	return true;
}

#ifdef HAVE_AVX512_CODE

static bool simd_ok;
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void simd_probe(void)
{
	const char *env = getenv("MEDCRYPT_SHA256_MANY");
	__builtin_cpu_init();
	/* GCC's and clang's probes also check that the OS saves the AVX-512 state (XCR0). */
	simd_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	          !(env && strcmp(env, "openssl") == 0);
}

bool mc_sha256_many_simd(void)
{
	pthread_once(&simd_once, simd_probe);
	return simd_ok;
}

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#define TARGET __attribute__((target("avx512f,avx512bw")))

/* VPTERNLOGD truth tables (bit index = a<<2 | b<<1 | c). */
#define XOR3 0x96 /* a ^ b ^ c */
#define CH   0xca /* a ? b : c */
#define MAJ  0xe8 /* at least two of a, b, c */

#define ROR(x, n)          _mm512_ror_epi32((x), (n))
#define TERN(a, b, c, imm) _mm512_ternarylogic_epi32((a), (b), (c), (imm))
#define ADD(a, b)          _mm512_add_epi32((a), (b))

/* Loads block b (64 bytes at offset) of all 16 messages, transposed and big-endian: w[t] holds
 * word t of every lane. */
TARGET static void load_block(const uint8_t *const p[16], size_t offset, __m512i w[16])
{
	const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
	__m512i r[16], t[16];
	for (int i = 0; i < 16; i++)
		r[i] = _mm512_loadu_si512((const void *)(p[i] + offset));
	/* 2x2 blocks of words, then of word pairs: within each 128-bit lane k, t[4q+m] holds word
	 * 4k+m of rows 4q..4q+3. */
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
	}
	for (int q = 0; q < 4; q++) {
		__m512i a = t[4 * q], b = t[4 * q + 1], c = t[4 * q + 2], d = t[4 * q + 3];
		r[4 * q + 0] = _mm512_unpacklo_epi64(a, c);
		r[4 * q + 1] = _mm512_unpackhi_epi64(a, c);
		r[4 * q + 2] = _mm512_unpacklo_epi64(b, d);
		r[4 * q + 3] = _mm512_unpackhi_epi64(b, d);
	}
	/* Then the 128-bit lanes: word 4k+m of all rows = lane k of r[m], r[4+m], r[8+m], r[12+m]. */
	for (int m = 0; m < 4; m++) {
		__m512i xlo = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x44);
		__m512i xhi = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xee);
		__m512i ylo = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x44);
		__m512i yhi = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xee);
		t[m] = _mm512_shuffle_i32x4(xlo, ylo, 0x88);
		t[4 + m] = _mm512_shuffle_i32x4(xlo, ylo, 0xdd);
		t[8 + m] = _mm512_shuffle_i32x4(xhi, yhi, 0x88);
		t[12 + m] = _mm512_shuffle_i32x4(xhi, yhi, 0xdd);
	}
	for (int i = 0; i < 16; i++)
		w[i] = _mm512_shuffle_epi8(t[i], bswap);
}

/* One round (FIPS 180-4 §6.2.2 step 3) with the state held in eight named variables; the
 * caller rotates the names instead of moving values. */
#define ROUND(a, b, c, d, e, f, g, h, kw)                                                                              \
	do {                                                                                                           \
		__m512i t1 = ADD(ADD(h, TERN(ROR(e, 6), ROR(e, 11), ROR(e, 25), XOR3)), ADD(TERN(e, f, g, CH), (kw))); \
		__m512i t2 = ADD(TERN(ROR(a, 2), ROR(a, 13), ROR(a, 22), XOR3), TERN(a, b, c, MAJ));                   \
		d = ADD(d, t1);                                                                                        \
		h = ADD(t1, t2);                                                                                       \
	} while (0)

/* W[t] for t >= 16, kept in a 16-entry ring w[t mod 16] (§6.2.2 step 1). The index i is a
 * constant in every use below, so the ring lives in registers. */
#define SCHEDULE(i)                                                                                                    \
	(w[i] = ADD(ADD(w[i], TERN(ROR(w[((i) + 1) & 15], 7), ROR(w[((i) + 1) & 15], 18),                              \
	                           _mm512_srli_epi32(w[((i) + 1) & 15], 3), XOR3)),                                    \
	            ADD(w[((i) + 9) & 15], TERN(ROR(w[((i) + 14) & 15], 17), ROR(w[((i) + 14) & 15], 19),              \
	                                        _mm512_srli_epi32(w[((i) + 14) & 15], 10), XOR3))))

/* Sixteen rounds from round t0; W from w[] as it is (t0 = 0) or scheduled first. */
#define KW(t0, i, sched) ADD(kv[(t0) + (i)], (sched) ? SCHEDULE(i) : w[i])
#define ROUNDS16(t0, sched)                                                                                            \
	do {                                                                                                           \
		ROUND(a, b, c, d, e, f, g, h, KW(t0, 0, sched));                                                       \
		ROUND(h, a, b, c, d, e, f, g, KW(t0, 1, sched));                                                       \
		ROUND(g, h, a, b, c, d, e, f, KW(t0, 2, sched));                                                       \
		ROUND(f, g, h, a, b, c, d, e, KW(t0, 3, sched));                                                       \
		ROUND(e, f, g, h, a, b, c, d, KW(t0, 4, sched));                                                       \
		ROUND(d, e, f, g, h, a, b, c, KW(t0, 5, sched));                                                       \
		ROUND(c, d, e, f, g, h, a, b, KW(t0, 6, sched));                                                       \
		ROUND(b, c, d, e, f, g, h, a, KW(t0, 7, sched));                                                       \
		ROUND(a, b, c, d, e, f, g, h, KW(t0, 8, sched));                                                       \
		ROUND(h, a, b, c, d, e, f, g, KW(t0, 9, sched));                                                       \
		ROUND(g, h, a, b, c, d, e, f, KW(t0, 10, sched));                                                      \
		ROUND(f, g, h, a, b, c, d, e, KW(t0, 11, sched));                                                      \
		ROUND(e, f, g, h, a, b, c, d, KW(t0, 12, sched));                                                      \
		ROUND(d, e, f, g, h, a, b, c, KW(t0, 13, sched));                                                      \
		ROUND(c, d, e, f, g, h, a, b, KW(t0, 14, sched));                                                      \
		ROUND(b, c, d, e, f, g, h, a, KW(t0, 15, sched));                                                      \
	} while (0)

/* kv[t] holds K[t] in every lane: an operand read from memory, where a constant built in each
 * round would cost a broadcast on the port the rotations need. */
TARGET static void compress(__m512i st[8], __m512i w[16], const __m512i kv[64])
{
	__m512i a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
	ROUNDS16(0, 0);
	ROUNDS16(16, 1);
	ROUNDS16(32, 1);
	ROUNDS16(48, 1);
	st[0] = ADD(st[0], a);
	st[1] = ADD(st[1], b);
	st[2] = ADD(st[2], c);
	st[3] = ADD(st[3], d);
	st[4] = ADD(st[4], e);
	st[5] = ADD(st[5], f);
	st[6] = ADD(st[6], g);
	st[7] = ADD(st[7], h);
}

TARGET void mc_sha256_many_avx512(const uint8_t *const msg[], size_t len, unsigned n, uint8_t out[][32])
{
	const uint8_t *p[16];
	for (unsigned i = 0; i < 16; i++)
		p[i] = msg[i < n ? i : 0];
	__m512i st[8], w[16], kv[64];
	for (int t = 0; t < 64; t++)
		kv[t] = _mm512_set1_epi32((int)K[t]);
	for (int j = 0; j < 8; j++)
		st[j] = _mm512_set1_epi32((int)H0[j]);
	size_t full = len / 64;
	for (size_t blk = 0; blk < full; blk++) {
		load_block(p, blk * 64, w);
		compress(st, w, kv);
	}
	/* §5.1.1: the rest, 0x80, zeros, and the length in bits, big-endian, in one or two blocks. */
	size_t rest = len % 64;
	unsigned tail_blocks = rest + 9 <= 64 ? 1 : 2;
	uint8_t tail[16][128];
	uint64_t bits = (uint64_t)len * 8;
	for (unsigned i = 0; i < 16; i++) {
		memset(tail[i], 0, sizeof tail[i]);
		memcpy(tail[i], p[i] + full * 64, rest);
		tail[i][rest] = 0x80;
		for (int b = 0; b < 8; b++)
			tail[i][tail_blocks * 64 - 1 - b] = (uint8_t)(bits >> (8 * b));
	}
	const uint8_t *tp[16];
	for (unsigned i = 0; i < 16; i++)
		tp[i] = tail[i];
	for (unsigned blk = 0; blk < tail_blocks; blk++) {
		load_block(tp, blk * 64, w);
		compress(st, w, kv);
	}
	uint32_t words[8][16];
	for (int j = 0; j < 8; j++)
		_mm512_storeu_si512((void *)words[j], st[j]);
	for (unsigned i = 0; i < n; i++)
		for (int j = 0; j < 8; j++) {
			out[i][4 * j] = (uint8_t)(words[j][i] >> 24);
			out[i][4 * j + 1] = (uint8_t)(words[j][i] >> 16);
			out[i][4 * j + 2] = (uint8_t)(words[j][i] >> 8);
			out[i][4 * j + 3] = (uint8_t)words[j][i];
		}
}

#else /* no AVX-512 code for this target */

bool mc_sha256_many_simd(void)
{
	return false;
}

void mc_sha256_many_avx512(const uint8_t *const msg[], size_t len, unsigned n, uint8_t out[][32])
{
	(void)msg;
	(void)len;
	(void)n;
	(void)out;
	abort(); /* unreachable: mc_sha256_many_simd() is false */
}

#endif
