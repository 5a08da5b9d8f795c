/*
 * testutil.h: in-memory streams and key loading shared by the unit tests.
 */
#ifndef MC_TEST_UTIL_H
#define MC_TEST_UTIL_H

#include <medcrypt/container.h>
#include <stdlib.h>
#include <string.h>

typedef struct membuf {
	uint8_t *p;
	size_t len, cap, pos;
	size_t max_read; /* if non-zero, reads return at most this many bytes (short reads) */
} membuf;

static long membuf_read(void *ctx, uint8_t *buf, size_t len)
{
	membuf *m = ctx;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (m->max_read && n > m->max_read)
		n = m->max_read;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

static int membuf_write(void *ctx, const uint8_t *buf, size_t len)
{
	membuf *m = ctx;
	if (m->len + len > m->cap) {
		size_t cap = (m->len + len) * 2 + 1024;
		uint8_t *p = realloc(m->p, cap);
		if (!p)
			return -1;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static inline mc_input membuf_in(membuf *m)
{
	return (mc_input){membuf_read, m};
}
static inline mc_output membuf_out(membuf *m)
{
	return (mc_output){membuf_write, m};
}
static inline void membuf_free(membuf *m)
{
	free(m->p);
	memset(m, 0, sizeof *m);
}

static inline membuf membuf_view(const uint8_t *p, size_t len)
{
	membuf m = {0};
	m.p = (uint8_t *)p;
	m.len = len;
	return m;
}

/* Deterministic filler so failures reproduce. */
static inline void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

#endif
