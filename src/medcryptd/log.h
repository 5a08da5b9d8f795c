/*
 * log.h: the server's structured log: one JSON object a line on stderr, with the time, the
 * level, the module and a message, plus optional fields. Messages are for operators: they may
 * name paths and SQL errors, never a secret (token, key, auth key, password) or patient data.
 */
#ifndef MEDCRYPTD_LOG_H
#define MEDCRYPTD_LOG_H

#include <stdbool.h>

typedef enum mcd_log_level { MCD_LOG_DEBUG = 0, MCD_LOG_INFO = 1, MCD_LOG_WARN = 2, MCD_LOG_ERROR = 3 } mcd_log_level;

/* Lines below this level are dropped (default MCD_LOG_INFO). */
void mcd_log_set_level(mcd_log_level level);
/* Parses "debug", "info", "warn", "error"; false for anything else. */
bool mcd_log_parse_level(const char *name, mcd_log_level *out);

/* Logs {"time": ISO-8601 UTC, "level", "module", "msg"} with msg formatted from fmt. Thread-safe:
 * each line is written with a single write(2). */
void mcd_log(mcd_log_level level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same with extra fields: a NULL-terminated list of key, value string pairs, e.g.
 * mcd_logf(MCD_LOG_INFO, "http", "request", "method", "GET", "status", "200", NULL). */
void mcd_logf(mcd_log_level level, const char *module, const char *msg, ...) __attribute__((sentinel));

#endif
