/*
 * sse.c: the text/event-stream parser of sse.h. Bytes are split into lines in a bounded buffer,
 * each complete line is parsed as a field in place, and a blank line hands the event to the
 * callback. Nothing here reads the data: what an event means is the caller's business.
 */
#include <stdlib.h>
#include <string.h>

#include <medcrypt/medcrypt.h>

#include "sse.h"

struct sse {
	sse_event_fn on_event;
	void *ctx;
	/* the line being read: bounded; a longer one is dropped whole */
	char line[SSE_LINE_MAX + 1];
	size_t line_len;
	bool line_too_long, after_cr;
	/* the event being read */
	char type[SSE_TYPE_MAX + 1];
	char data[SSE_LINE_MAX + 1];
	bool has_data;
	/* across connections */
	char last_id[SSE_ID_MAX + 1];
	long retry_ms;
};

sse *sse_new(sse_event_fn on_event, void *ctx)
{
	sse *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->on_event = on_event;
	p->ctx = ctx;
	p->retry_ms = SSE_RETRY_DEFAULT_MS;
	return p;
}

void sse_free(sse *p)
{
	if (!p)
		return;
	mc_wipe(p, sizeof *p);
	free(p);
}

void sse_reset(sse *p)
{
	p->line_len = 0;
	p->line_too_long = p->after_cr = p->has_data = false;
	p->type[0] = 0;
}

const char *sse_last_id(const sse *p)
{
	return p->last_id;
}

long sse_retry_ms(const sse *p)
{
	return p->retry_ms;
}

/* A blank line: the event goes out if it had data; the type and the data start again either
 * way. Returns the callback's answer (true without an event). */
static bool dispatch(sse *p)
{
	bool has_data = p->has_data;
	p->has_data = false;
	if (!has_data) {
		p->type[0] = 0;
		return true;
	}
	bool go_on = p->on_event(p->ctx, p->type, p->data, p->last_id);
	p->type[0] = 0;
	return go_on;
}

/* One line of the stream, without its end and cut at a NUL. Returns false when the callback
 * asked to stop. */
static bool parse_line(sse *p, char *line)
{
	if (!*line)
		return dispatch(p);
	if (*line == ':')
		return true; /* a comment: the keepalive */
	char *value = strchr(line, ':');
	if (value) {
		*value++ = 0;
		if (*value == ' ')
			value++;
	} else {
		value = line + strlen(line);
	}
	if (!strcmp(line, "event")) {
		size_t n = strlen(value);
		if (n > SSE_TYPE_MAX)
			n = SSE_TYPE_MAX;
		memcpy(p->type, value, n);
		p->type[n] = 0;
	} else if (!strcmp(line, "data")) {
		/* several data lines join with LF; a notice has one, so more than fits is dropped */
		size_t have = p->has_data ? strlen(p->data) : 0;
		size_t n = strlen(value);
		if (have + 1 + n <= SSE_LINE_MAX) {
			if (p->has_data)
				p->data[have++] = '\n';
			memcpy(p->data + have, value, n + 1);
			p->has_data = true;
		}
	} else if (!strcmp(line, "id")) {
		/* it goes back to the server in a header: digits only */
		size_t n = strlen(value);
		if (n > 0 && n <= SSE_ID_MAX && strspn(value, "0123456789") == n)
			memcpy(p->last_id, value, n + 1);
	} else if (!strcmp(line, "retry")) {
		size_t n = strlen(value);
		if (n > 0 && n < 9 && strspn(value, "0123456789") == n) {
			long ms = strtol(value, NULL, 10);
			p->retry_ms = ms < SSE_RETRY_MIN_MS   ? SSE_RETRY_MIN_MS
			              : ms > SSE_RETRY_MAX_MS ? SSE_RETRY_MAX_MS
			                                      : ms;
		}
	}
	return true;
}

bool sse_feed(sse *p, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n' && p->after_cr) {
			p->after_cr = false; /* the LF of a CRLF: the CR ended the line */
			continue;
		}
		p->after_cr = ch == '\r';
		if (ch == '\n' || ch == '\r') {
			p->line[p->line_len] = 0;
			bool keep = !p->line_too_long;
			p->line_len = 0;
			p->line_too_long = false;
			if (keep && !parse_line(p, p->line))
				return false;
		} else if (p->line_len < SSE_LINE_MAX) {
			p->line[p->line_len++] = ch;
		} else {
			p->line_too_long = true;
		}
	}
	return true;
}
