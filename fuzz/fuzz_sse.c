/*
 * fuzz_sse: the event-stream parser of `medcrypt inbox --follow` (src/medcrypt/sse.c, sse.h),
 * which reads the server's text/event-stream (docs/API.md §17a): bytes that come off the network.
 *
 * Input: the stream's bytes, as they are (the seeds are streams a server could send). Besides
 * the sanitizers, the target aborts when the parser breaks what sse.h promises:
 * - fed whole, byte by byte, and in pieces whose sizes the input picks (1 to 17 bytes), it gives
 *   the same events, last id and retry; and those of a reference written here from sse.h's
 *   rules, which splits the whole buffer into lines first (CRLF, LF, CR; a line past
 *   SSE_LINE_MAX dropped, a line cut at a NUL) and parses fields as counted strings;
 * - fed byte by byte, each event comes on the byte that ends its blank line;
 * - every event has a type of at most SSE_TYPE_MAX bytes without CR or LF, data of at most
 *   SSE_LINE_MAX bytes without CR, an id of at most SSE_ID_MAX digits; the retry is in its bounds;
 * - a callback that returns false stops the feed on that very byte (sse_feed returns false), and
 *   feeding the rest then gives the remaining events, so nothing is lost;
 * - sse_reset in the middle (at a byte the input picks) gives what the reference gives for the
 *   two halves read as two connections: the partial line and event dropped, id and retry kept.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/medcrypt/sse.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- what a run gives: the events as "type\0data\0id\0", the byte of each, id and retry ---- */

typedef struct events {
	char *text;
	size_t len, cap;
	size_t *at; /* the input offset of the byte that dispatched each event */
	size_t n, at_cap;
	size_t offset;  /* the offset being fed, set by the feeding loop (SIZE_MAX: unknown) */
	size_t stop_at; /* the callback returns false for this event number (SIZE_MAX: never) */
	char last_id[SSE_ID_MAX + 1];
	long retry_ms;
} events;

static void put(events *e, const char *s, size_t n)
{
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 256;
		while (cap < e->len + n + 1)
			cap *= 2;
		e->text = realloc(e->text, cap);
		CHECK(e->text != NULL);
		e->cap = cap;
	}
	memcpy(e->text + e->len, s, n);
	e->text[e->len + n] = 0;
	e->len += n + 1;
}

static void add_event(events *e, const char *type, size_t type_len, const char *d, size_t d_len, const char *id,
                      size_t at)
{
	put(e, type, type_len);
	put(e, d, d_len);
	put(e, id, strlen(id));
	if (e->n == e->at_cap) {
		e->at_cap = e->at_cap ? 2 * e->at_cap : 16;
		e->at = realloc(e->at, e->at_cap * sizeof *e->at);
		CHECK(e->at != NULL);
	}
	e->at[e->n++] = at;
}

static void events_init(events *e)
{
	memset(e, 0, sizeof *e);
	e->retry_ms = SSE_RETRY_DEFAULT_MS;
	e->stop_at = SIZE_MAX;
	e->offset = SIZE_MAX;
}

static void events_clear(events *e)
{
	free(e->text);
	free(e->at);
	events_init(e);
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool on_event(void *ctx, const char *type, const char *d, const char *id)
{
	events *e = ctx;
	size_t type_len = strlen(type), d_len = strlen(d), id_len = strlen(id);
	CHECK(type_len <= SSE_TYPE_MAX && !strpbrk(type, "\r\n"));
	CHECK(d_len <= SSE_LINE_MAX && !strchr(d, '\r'));
	CHECK(id_len <= SSE_ID_MAX && all_digits(id, id_len));
	add_event(e, type, type_len, d, d_len, id, e->offset);
	return e->n - 1 != e->stop_at;
}

/* ---- the reference: lines first, then fields as counted strings ---- */

typedef struct ref {
	char type[SSE_TYPE_MAX + 1];
	size_t type_len;
	char data[SSE_LINE_MAX + 1];
	size_t data_len;
	bool has_data;
} ref;

static bool field_is(const char *name, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(name, want, n) == 0;
}

static void ref_line(ref *r, events *e, const char *l, size_t n, size_t at)
{
	const char *nul = memchr(l, 0, n);
	if (nul)
		n = (size_t)(nul - l);
	if (n == 0) {
		if (r->has_data)
			add_event(e, r->type, r->type_len, r->data, r->data_len, e->last_id, at);
		r->type_len = 0;
		r->has_data = false;
		return;
	}
	if (l[0] == ':')
		return;
	const char *colon = memchr(l, ':', n);
	size_t name_len = colon ? (size_t)(colon - l) : n;
	const char *v = colon ? colon + 1 : l + n;
	size_t v_len = (size_t)(l + n - v);
	if (v_len > 0 && v[0] == ' ') {
		v++;
		v_len--;
	}
	if (field_is(l, name_len, "event")) {
		r->type_len = v_len < SSE_TYPE_MAX ? v_len : SSE_TYPE_MAX;
		memcpy(r->type, v, r->type_len);
	} else if (field_is(l, name_len, "data")) {
		size_t have = r->has_data ? r->data_len : 0;
		if (have + 1 + v_len <= SSE_LINE_MAX) {
			r->data_len = have;
			if (r->has_data)
				r->data[r->data_len++] = '\n';
			memcpy(r->data + r->data_len, v, v_len);
			r->data_len += v_len;
			r->has_data = true;
		}
	} else if (field_is(l, name_len, "id")) {
		if (v_len >= 1 && v_len <= SSE_ID_MAX && all_digits(v, v_len)) {
			memcpy(e->last_id, v, v_len);
			e->last_id[v_len] = 0;
		}
	} else if (field_is(l, name_len, "retry")) {
		if (v_len >= 1 && v_len <= 8 && all_digits(v, v_len)) {
			long ms = 0;
			for (size_t i = 0; i < v_len; i++)
				ms = ms * 10 + (v[i] - '0');
			e->retry_ms = ms < SSE_RETRY_MIN_MS   ? SSE_RETRY_MIN_MS
			              : ms > SSE_RETRY_MAX_MS ? SSE_RETRY_MAX_MS
			                                      : ms;
		}
	}
}

/* One connection: buf[0, n) at input offset base; a line without its end is not read. */
static void ref_connection(events *e, const char *buf, size_t n, size_t base)
{
	ref r = {0};
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && buf[j] != '\r' && buf[j] != '\n')
			j++;
		if (j == n)
			break;
		if (j - i <= SSE_LINE_MAX)
			ref_line(&r, e, buf + i, j - i, base + j);
		i = j + 1;
		if (buf[j] == '\r' && i < n && buf[i] == '\n')
			i++;
	}
}

/* ---- the parser, fed in pieces ---- */

/* Feeds buf[0, n) in pieces: whole (mode 0), one byte at a time (1), or sizes from the input (2).
 * Returns the offset of the byte on which sse_feed returned false, or n. */
static size_t feed(sse *p, events *e, const char *buf, size_t n, size_t base, int mode, const uint8_t *sizes,
                   size_t n_sizes)
{
	size_t i = 0, k = 0;
	while (i < n) {
		size_t piece = mode == 0 ? n - i : mode == 1 ? 1 : 1 + sizes[k++ % n_sizes] % 17;
		if (piece > n - i)
			piece = n - i;
		e->offset = piece == 1 ? base + i : SIZE_MAX;
		if (!sse_feed(p, buf + i, piece))
			return i + piece - 1; /* exact for single bytes only */
		i += piece;
	}
	return n;
}

static void finish(sse *p, events *e)
{
	snprintf(e->last_id, sizeof e->last_id, "%s", sse_last_id(p));
	e->retry_ms = sse_retry_ms(p);
	CHECK(e->retry_ms >= SSE_RETRY_MIN_MS && e->retry_ms <= SSE_RETRY_MAX_MS);
	CHECK(strlen(e->last_id) <= SSE_ID_MAX && all_digits(e->last_id, strlen(e->last_id)));
}

static bool same_events(const events *a, const events *b, bool offsets)
{
	if (a->n != b->n || a->len != b->len || (a->len && memcmp(a->text, b->text, a->len) != 0))
		return false;
	if (offsets)
		for (size_t i = 0; i < a->n; i++)
			if (a->at[i] != b->at[i])
				return false;
	return strcmp(a->last_id, b->last_id) == 0 && a->retry_ms == b->retry_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	events want, got;
	events_init(&want);
	events_init(&got);
	ref_connection(&want, buf, size, 0);

	for (int mode = 0; mode < 3; mode++) {
		if (mode == 2 && size == 0)
			break;
		sse *p = sse_new(on_event, &got);
		CHECK(p != NULL);
		CHECK(feed(p, &got, buf, size, 0, mode, data, size) == size);
		finish(p, &got);
		CHECK(same_events(&want, &got, mode == 1));
		sse_free(p);
		events_clear(&got);
	}

	/* a stop on the k-th event, byte by byte: on its byte; the rest then gives the others */
	if (want.n > 0) {
		size_t k = size % want.n;
		sse *p = sse_new(on_event, &got);
		CHECK(p != NULL);
		got.stop_at = k;
		size_t stopped = feed(p, &got, buf, size, 0, 1, NULL, 0);
		CHECK(stopped == want.at[k] && got.n == k + 1);
		got.stop_at = SIZE_MAX;
		CHECK(feed(p, &got, buf + stopped + 1, size - stopped - 1, stopped + 1, 1, NULL, 0) ==
		      size - stopped - 1);
		finish(p, &got);
		CHECK(same_events(&want, &got, true));
		sse_free(p);
		events_clear(&got);
		/* fed whole, the stop comes with exactly k + 1 events */
		p = sse_new(on_event, &got);
		CHECK(p != NULL);
		got.stop_at = k;
		CHECK(!sse_feed(p, buf, size) && got.n == k + 1);
		sse_free(p);
		events_clear(&got);
	}

	/* two connections: a reset at a byte the input picks */
	if (size > 0) {
		size_t cut = data[0] * size / 256;
		events_clear(&want);
		ref_connection(&want, buf, cut, 0);
		ref_connection(&want, buf + cut, size - cut, cut);
		sse *p = sse_new(on_event, &got);
		CHECK(p != NULL);
		feed(p, &got, buf, cut, 0, 2, data, size);
		sse_reset(p);
		feed(p, &got, buf + cut, size - cut, cut, 2, data, size);
		finish(p, &got);
		CHECK(same_events(&want, &got, false));
		sse_free(p);
		events_clear(&got);
	}
	events_clear(&want);
	return 0;
}
