/*
 * test_sse.c: the event-stream parser of `medcrypt inbox --follow` (src/medcrypt/sse.c,
 * docs/API.md §17a, the HTML standard's "event stream interpretation"). Every stream is fed
 * whole, in two pieces split at every byte, and byte by byte, and must give the same events each
 * way: line ends CRLF, LF and CR (a CRLF split between two feeds is one line end), comments,
 * multi-line data, an over-long line dropped whole (not cut), ids of digits only, retry bounds,
 * an event without data not dispatched, a partial line kept until its end, sse_reset between
 * connections, and a callback that stops the feed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sse.h"

/* The events a parser gave, as "type|data|id" joined with "#", and whether to stop. */
typedef struct event_log {
	char text[16384];
	size_t len;
	int events, stop_after; /* stop_after 0: never */
} event_log;

static bool record(void *ctx, const char *type, const char *data, const char *id)
{
	event_log *l = ctx;
	int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s|%s|%s", l->events ? "#" : "", type, data, id);
	if (n > 0 && (size_t)n < sizeof l->text - l->len)
		l->len += (size_t)n;
	l->events++;
	return l->stop_after == 0 || l->events < l->stop_after;
}

/* What a stream gives, fed in pieces of the sizes split() picks; the last id and retry too. */
typedef struct outcome {
	event_log events;
	char last_id[SSE_ID_MAX + 1];
	long retry_ms;
} outcome;

/* Feeds stream (n bytes) to a new parser: whole (step 0), in two pieces cut at `cut`
 * (step -1), or in pieces of `step` bytes. */
static void run(const char *stream, size_t n, long step, size_t cut, outcome *out)
{
	memset(out, 0, sizeof *out);
	sse *p = sse_new(record, &out->events);
	if (!p) {
		CHECK(p != NULL, "out of memory");
		return;
	}
	if (step == 0) {
		sse_feed(p, stream, n);
	} else if (step < 0) {
		sse_feed(p, stream, cut);
		sse_feed(p, stream + cut, n - cut);
	} else {
		for (size_t i = 0; i < n; i += (size_t)step)
			sse_feed(p, stream + i, n - i < (size_t)step ? n - i : (size_t)step);
	}
	snprintf(out->last_id, sizeof out->last_id, "%s", sse_last_id(p));
	out->retry_ms = sse_retry_ms(p);
	sse_free(p);
}

static bool same(const outcome *a, const outcome *b)
{
	return a->events.events == b->events.events && !strcmp(a->events.text, b->events.text) &&
	       !strcmp(a->last_id, b->last_id) && a->retry_ms == b->retry_ms;
}

/* The stream (n bytes) must give the events `want` ("type|data|id" joined with "#"), the last id
 * `id` and the retry `retry` (0: the default), however it is cut. */
static void expect_n(const char *what, const char *stream, size_t n, const char *want, const char *id, long retry)
{
	outcome whole, piece;
	run(stream, n, 0, 0, &whole);
	CHECK(!strcmp(whole.events.text, want), "%s: events '%s', want '%s'", what, whole.events.text, want);
	CHECK(!strcmp(whole.last_id, id), "%s: last id '%s', want '%s'", what, whole.last_id, id);
	CHECK(whole.retry_ms == (retry ? retry : SSE_RETRY_DEFAULT_MS), "%s: retry %ld, want %ld", what, whole.retry_ms,
	      retry ? retry : SSE_RETRY_DEFAULT_MS);
	size_t cut = 0;
	for (; cut <= n; cut++) {
		run(stream, n, -1, cut, &piece);
		if (!same(&whole, &piece))
			break;
	}
	CHECK(cut > n, "%s: cut at byte %zu gives '%s'", what, cut, piece.events.text);
	static const long steps[] = {1, 2, 3, 7};
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		run(stream, n, steps[s], 0, &piece);
		CHECK(same(&whole, &piece), "%s: pieces of %ld bytes give '%s'", what, steps[s], piece.events.text);
	}
}

static void expect(const char *what, const char *stream, const char *want, const char *id, long retry)
{
	expect_n(what, stream, strlen(stream), want, id, retry);
}

/* a literal with NUL bytes in it */
#define EXPECT_BYTES(what, literal, want, id, retry) expect_n(what, literal, sizeof literal - 1, want, id, retry)

static void test_line_ends(void)
{
	expect("LF", "event: message\ndata: {\"id\":1}\n\n", "message|{\"id\":1}|", "", 0);
	expect("CRLF", "event: message\r\ndata: {\"id\":1}\r\n\r\n", "message|{\"id\":1}|", "", 0);
	expect("CR", "event: message\rdata: {\"id\":1}\r\r", "message|{\"id\":1}|", "", 0);
	expect("mixed", "event: a\r\ndata: 1\rdata: 2\n\r\n", "a|1\n2|", "", 0);
	/* CR then LF is one line end, not a blank line: the event is not cut in two */
	expect("CRLF is one end", "data: a\r\ndata: b\r\n\r\n", "|a\nb|", "", 0);
	/* LF then CR is two */
	expect("LF CR is two", "data: a\n\rdata: b\n\n", "|a|#|b|", "", 0);
	expect("CR CR LF", "data: a\r\r\n", "|a|", "", 0);
	/* a line is read only once it ends */
	expect("no end yet", "data: a\n", "", "", 0);
	expect("no blank line yet", "data: a\ndata: b", "", "", 0);
	expect("empty", "", "", "", 0);
	expect("blank lines only", "\n\r\n\r\r\n\n", "", "", 0);
}

static void test_fields(void)
{
	expect("comments", ": keepalive\n\n:\ndata: x\n: between\ndata: y\n\n: after\n\n", "|x\ny|", "", 0);
	expect("comment is not data", ":data: x\n\n", "", "", 0);
	expect("multi-line data", "data: a\ndata: b\ndata\ndata:\ndata: c\n\n", "|a\nb\n\n\nc|", "", 0);
	expect("one space is dropped", "data:x\ndata:  two\ndata:\tt\n\n", "|x\n two\n\tt|", "", 0);
	expect("colon in the value", "event: a:b\ndata: {\"k\": 1}\n\n", "a:b|{\"k\": 1}|", "", 0);
	expect("field names are exact", "Data: x\ndata : y\nevent\ndatas: z\n\n", "", "", 0);
	expect("unknown fields", "foo: bar\nevent: e\nx\ndata: d\n\n", "e|d|", "", 0);
	expect("event without type", "data: d\n\n", "|d|", "", 0);
	expect("empty data is dispatched", "event: e\ndata\n\n", "e||", "", 0);
	expect("two events", "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", "a|1|#b|2|", "", 0);
	expect("the type does not carry over", "event: a\ndata: 1\n\ndata: 2\n\n", "a|1|#|2|", "", 0);
	expect("last event field wins", "event: a\nevent: b\ndata: 1\n\n", "b|1|", "", 0);
	EXPECT_BYTES("NUL cuts the line", "data: a\0b\nevent: c\0d\ndata: e\n\n", "c|a\ne|", "", 0);
	/* a line that starts with NUL is blank once cut: it dispatches */
	EXPECT_BYTES("NUL line", "data: a\n\0zz\ndata: b\n\n", "|a|#|b|", "", 0);
	char type[80];
	snprintf(type, sizeof type, "event: %.*s\ndata: 1\n\n", 40, "0123456789012345678901234567890123456789");
	expect("a long type is cut", type, "0123456789012345678901234567890|1|", "", 0);
	/* the server's own stream (docs/API.md §17a) */
	expect("server stream",
	       "retry: 3000\n\nid: 1796676537688123\nevent: image\ndata: "
	       "{\"id\":\"3f0c0123456789abcdef0123456789ab\",\"at\":1796676537}\n\n: keepalive\n\n",
	       "image|{\"id\":\"3f0c0123456789abcdef0123456789ab\",\"at\":1796676537}|1796676537688123",
	       "1796676537688123", 3000);
}

/* An event without data is not dispatched (HTML standard: "If the data buffer is an empty
 * string, set the data buffer and the event type buffer to the empty string and return"). */
static void test_no_data(void)
{
	expect("event without data", "event: message\n\n", "", "", 0);
	expect("id without data", "id: 5\n\n", "", "5", 0);
	expect("type cleared without data", "event: message\n\ndata: x\n\n", "|x|", "", 0);
	expect("comment only", ": x\n\n", "", "", 0);
}

static void test_long_lines(void)
{
	static char stream[3 * SSE_LINE_MAX + 200], want[SSE_LINE_MAX + 8];
	char *x = malloc(SSE_LINE_MAX + 2);
	if (!x)
		return;
	/* a line of exactly SSE_LINE_MAX bytes is kept */
	memset(x, 'x', SSE_LINE_MAX + 1);
	x[SSE_LINE_MAX - 6] = 0;
	snprintf(stream, sizeof stream, "data: %s\n\n", x);
	snprintf(want, sizeof want, "|%s|", x);
	expect("line of SSE_LINE_MAX bytes", stream, want, "", 0);
	/* one byte more and it is dropped whole: not cut to fit, and the next line is read */
	x[SSE_LINE_MAX - 6] = 'x';
	x[SSE_LINE_MAX - 5] = 0;
	snprintf(stream, sizeof stream, "data: ok\ndata: %s\ndata: after\n\n", x);
	expect("over-long line dropped whole", stream, "|ok\nafter|", "", 0);
	snprintf(stream, sizeof stream, "data: %s\n\n", x);
	expect("over-long data only", stream, "", "", 0);
	/* an over-long id or event line is dropped too; a blank line after it still dispatches */
	snprintf(stream, sizeof stream, "id: 1\nid: 2%s\nevent: %s\r\ndata: d\r\rdata: e\r\r", x, x);
	expect("over-long id and event", stream, "|d|1#|e|1", "1", 0);
	/* an over-long comment ending in CR, then LF: still one line end */
	snprintf(stream, sizeof stream, ":%s%s\r\ndata: z\n\n", x, x);
	expect("over-long comment CRLF", stream, "|z|", "", 0);
	/* data lines join up to SSE_LINE_MAX bytes; a line that would go past is dropped */
	memset(x, 'y', 1500);
	x[1500] = 0;
	snprintf(stream, sizeof stream, "data: %s\ndata: %s\ndata: %.500s\ndata: end\n\n", x, x, x);
	snprintf(want, sizeof want, "|%s\n%.500s\nend|", x, x);
	expect("data past the bound", stream, want, "", 0);
	free(x);
}

static void test_ids(void)
{
	expect("id digits", "id: 123\ndata: a\n\n", "|a|123", "123", 0);
	expect("id kept across events", "id: 7\ndata: a\n\ndata: b\n\n", "|a|7#|b|7", "7", 0);
	expect("id not digits", "id: 7\nid: 12a\nid: -1\nid: 1 \nid:  2\nid: +3\nid: ٣\ndata: a\n\n", "|a|7", "7", 0);
	expect("empty id ignored", "id: 7\nid:\nid\nid: \ndata: a\n\n", "|a|7", "7", 0);
	expect("id no space", "id:42\ndata: a\n\n", "|a|42", "42", 0);
	expect("id 40 digits", "id: 1234567890123456789012345678901234567890\ndata: a\n\n",
	       "|a|1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890", 0);
	expect("id 41 digits", "id: 9\nid: 12345678901234567890123456789012345678901\ndata: a\n\n", "|a|9", "9", 0);
	/* taken when its line is read, before the blank line */
	expect("id before dispatch", "data: a\nid: 5\n\n", "|a|5", "5", 0);
	expect("id after last event", "data: a\n\nid: 6\n", "|a|", "6", 0);
}

static void test_retry(void)
{
	expect("retry default", "data: a\n\n", "|a|", "", SSE_RETRY_DEFAULT_MS);
	expect("retry", "retry: 5000\n", "", "", 5000);
	expect("retry minimum", "retry: 200\n", "", "", 200);
	expect("retry below", "retry: 199\n", "", "", SSE_RETRY_MIN_MS);
	expect("retry zero", "retry: 0\n", "", "", SSE_RETRY_MIN_MS);
	expect("retry maximum", "retry: 60000\n", "", "", 60000);
	expect("retry above", "retry: 60001\n", "", "", SSE_RETRY_MAX_MS);
	expect("retry 8 digits", "retry: 99999999\n", "", "", SSE_RETRY_MAX_MS);
	expect("retry leading zeros", "retry: 00001000\n", "", "", 1000);
	expect("retry 9 digits", "retry: 1000\nretry: 100000000\n", "", "", 1000);
	expect("retry not digits", "retry: 1000\nretry: -5\nretry: 1e3\nretry: 5 \nretry:  5\nretry: +7\n", "", "",
	       1000);
	expect("retry empty", "retry: 1000\nretry:\nretry\n", "", "", 1000);
	expect("retry no space", "retry:700\n", "", "", 700);
	expect("retry last wins", "retry: 700\nretry: 800\n", "", "", 800);
}

static void test_reset(void)
{
	event_log l = {0};
	sse *p = sse_new(record, &l);
	if (!p) {
		CHECK(p != NULL, "out of memory");
		return;
	}
	const char *first = "id: 7\nretry: 1000\nevent: message\ndata: half\ndata: more";
	sse_feed(p, first, strlen(first));
	sse_reset(p); /* the connection dropped */
	CHECK(!strcmp(sse_last_id(p), "7") && sse_retry_ms(p) == 1000, "reset keeps id and retry: '%s' %ld",
	      sse_last_id(p), sse_retry_ms(p));
	sse_feed(p, "\n\n", 2);
	CHECK(l.events == 0, "reset drops the partial line and the event: '%s'", l.text);
	sse_feed(p, "data: b\n\n", 9);
	CHECK(!strcmp(l.text, "|b|7"), "after reset: '%s'", l.text);
	/* an event whose blank line did not come before the reset is dropped */
	sse_feed(p, "data: c\r", 8);
	sse_reset(p);
	sse_feed(p, "\ndata: d\n\n", 10);
	CHECK(!strcmp(l.text, "|b|7#|d|7"), "event cut by the reset: '%s'", l.text);
	/* a partial over-long line before the reset does not drop the next connection's first line */
	static char big[SSE_LINE_MAX + 10];
	memset(big, 'z', sizeof big);
	sse_feed(p, big, sizeof big);
	sse_reset(p);
	sse_feed(p, "data: e\n\n", 9);
	CHECK(!strcmp(l.text, "|b|7#|d|7#|e|7"), "long line before reset: '%s'", l.text);
	sse_free(p);
	sse_free(NULL);
}

static void test_stop(void)
{
	const char *stream = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	event_log l = {.stop_after = 1};
	sse *p = sse_new(record, &l);
	if (!p) {
		CHECK(p != NULL, "out of memory");
		return;
	}
	CHECK(!sse_feed(p, stream, strlen(stream)), "a callback returning false stops sse_feed");
	CHECK(l.events == 1 && !strcmp(l.text, "|1|"), "the rest is not read: '%s'", l.text);
	l.stop_after = 0;
	CHECK(sse_feed(p, "data: 4\n\n", 9), "a later feed goes on");
	CHECK(!strcmp(l.text, "|1|#|4|"), "after the stop: '%s'", l.text);
	CHECK(sse_feed(p, NULL, 0), "an empty feed");
	sse_free(p);
	/* byte by byte, the stop comes on the byte that ends the blank line */
	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	p = sse_new(record, &l);
	if (!p)
		return;
	size_t i = 0;
	while (i < strlen(stream) && sse_feed(p, stream + i, 1))
		i++;
	CHECK(i == 17 && l.events == 2, "stopped at byte %zu after %d events", i, l.events);
	sse_free(p);
}

int main(void)
{
	test_line_ends();
	test_fields();
	test_no_data();
	test_long_lines();
	test_ids();
	test_retry();
	test_reset();
	test_stop();
	return check_summary("unit-sse");
}
