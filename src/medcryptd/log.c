/*
 * log.c: structured JSON-lines logging to stderr (log.h). jansson escapes every string, so a
 * hostile value in a field cannot forge a second line or break the JSON.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mcd_log_level min_level = MCD_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mcd_log_set_level(mcd_log_level level)
{
	min_level = level;
}

bool mcd_log_parse_level(const char *name, mcd_log_level *out)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (mcd_log_level)i;
			return true;
		}
	return false;
}

static void emit(json_t *line)
{
	char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (!text)
		return;
	size_t n = strlen(text);
	char *withnl = malloc(n + 2);
	if (withnl) {
		memcpy(withnl, text, n);
		withnl[n] = '\n';
		/* One write per line so lines from several threads do not interleave. */
		ssize_t w = write(STDERR_FILENO, withnl, n + 1);
		(void)w;
		free(withnl);
	}
	free(text);
}

static json_t *start(mcd_log_level level, const char *module)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	json_t *line = json_object();
	if (!line)
		return NULL;
	json_object_set_new(line, "time", json_string(when));
	json_object_set_new(line, "level", json_string(level_names[level]));
	json_object_set_new(line, "module", json_string(module ? module : "-"));
	return line;
}

/* jansson refuses invalid UTF-8; a message that is not valid is logged with its bytes replaced. */
static json_t *text_value(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t n = strlen(s);
	char *copy = malloc(n + 1);
	if (!copy)
		return json_string("?");
	for (size_t i = 0; i <= n; i++)
		copy[i] = (s[i] & 0x80) ? '?' : s[i];
	v = json_string(copy);
	free(copy);
	return v;
}

void mcd_log(mcd_log_level level, const char *module, const char *fmt, ...)
{
	if (level < min_level)
		return;
	json_t *line = start(level, module);
	if (!line)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_set_new(line, "msg", text_value(msg));
	emit(line);
}

void mcd_logf(mcd_log_level level, const char *module, const char *msg, ...)
{
	if (level < min_level)
		return;
	json_t *line = start(level, module);
	if (!line)
		return;
	json_object_set_new(line, "msg", text_value(msg));
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		json_object_set_new(line, key, text_value(value ? value : ""));
	}
	va_end(ap);
	emit(line);
}
