/*
 * config.c: one table of settings (name, kind, where it lands, help), read in order of
 * precedence from defaults, the configuration file, the environment and the flags. The table
 * is also the --help text, so the two cannot drift.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailaddr.h"

enum kind { K_STRING, K_LISTEN, K_UINT, K_U64, K_FLAG, K_LEVEL };

struct setting {
	const char *name;
	enum kind kind;
	size_t offset;
	unsigned long long min, max;
	const char *arg;
	const char *help; /* NULL: hidden (for tests) */
};

#define AT(field) offsetof(mcd_config, field)

static const struct setting settings[] = {
    {"config", K_STRING, AT(config_file), 0, 0, "FILE", "read settings from FILE (key = value lines)"},
    {"listen", K_LISTEN, 0, 0, 0, "ADDR:PORT", "address to listen on (default 127.0.0.1:8443; [::1]:PORT for IPv6)"},
    {"data-dir", K_STRING, AT(data_dir), 0, 0, "DIR",
     "where the database, blobs and keys live (default ./medcryptd-data)"},
    {"cert", K_STRING, AT(cert_file), 0, 0, "PEM",
     "TLS certificate (default: DATA_DIR/tls.crt, self-signed at first start)"},
    {"key", K_STRING, AT(key_file), 0, 0, "PEM", "TLS private key (with --cert)"},
    {"web-root", K_STRING, AT(web_root), 0, 0, "DIR",
     "the web client's files, web/build.mjs's output (default ./web/dist if it exists; none: API only)"},
    {"max-upload", K_U64, AT(max_upload), 1024, UINT64_MAX, "BYTES", "largest sealed upload (default 4294967296)"},
    {"upload-expiry", K_UINT, AT(upload_expiry), 1, 30 * 24 * 3600, "SECONDS",
     "an unfinished resumable upload is removed this long after its last PATCH (default 86400)"},
    {"max-open-uploads", K_UINT, AT(max_open_uploads), 1, 1024, "N",
     "unfinished resumable uploads per user (default 16)"},
    {"max-hashes", K_UINT, AT(max_hashes), 1, 64, "N", "Argon2id computations at once (default 2)"},
    {"threads", K_UINT, AT(threads), 1, 256, "N", "HTTP worker threads (default 4)"},
    {"allow-patient-signup", K_FLAG, AT(allow_patient_signup), 0, 0, NULL,
     "let patients register without an invitation"},
    {"log-level", K_LEVEL, AT(log_level), 0, 0, "L", "debug, info, warn or error (default info)"},
    {"connection-limit", K_UINT, AT(connection_limit), 1, 100000, "N", "open connections at most (default 1024)"},
    {"per-ip-limit", K_UINT, AT(per_ip_limit), 1, 100000, "N", "open connections per client address (default 128)"},
    {"max-event-streams", K_UINT, AT(max_event_streams), 1, 100000, "N",
     "open GET /api/v1/events streams at most (default 1000)"},
    {"connection-timeout", K_UINT, AT(connection_timeout), 1, 86400, "SECONDS", "idle connection timeout (default 60)"},
    {"smtp-url", K_STRING, AT(smtp_url), 0, 0, "URL",
     "e-mail notices through this server: smtp://HOST:PORT or smtps://HOST:PORT (default: none, no mail)"},
    {"smtp-starttls", K_FLAG, AT(smtp_starttls), 0, 0, NULL,
     "with smtp://, require STARTTLS (default: use it when the server offers it); certificates are verified"},
    {"smtp-from", K_STRING, AT(smtp_from), 0, 0, "ADDR", "the notices' sender address (needed with --smtp-url)"},
    {"smtp-user", K_STRING, AT(smtp_user), 0, 0, "NAME", "SMTP login name (default: none)"},
    {"smtp-password-file", K_STRING, AT(smtp_password_file), 0, 0, "FILE",
     "SMTP password, read from FILE (first line); never given as a flag"},
    {"smtp-ca-file", K_STRING, AT(smtp_ca_file), 0, 0, "FILE",
     "verify the SMTP server's certificate with these PEM CA certificates only (default: the system's)"},
    {"smtp-min-interval", K_UINT, AT(smtp_min_interval), 1, 7 * 24 * 3600, "SECONDS",
     "at most one notice mail per user this often (default 900)"},
    {"public-url", K_STRING, AT(public_url), 0, 0, "URL",
     "the link in notice mails (default: the listen URL, https://localhost:PORT)"},
    {"lockout-base-seconds", K_UINT, AT(lockout_base_seconds), 1, 86400, "S", NULL},
    {"pow-bits", K_UINT, AT(pow_bits), 1, 32, "N", NULL},
    {"session-idle-seconds", K_UINT, AT(session_idle_seconds), 1, MCD_SESSION_IDLE_SECONDS, "S", NULL},
    {"session-max-seconds", K_UINT, AT(session_max_seconds), 1, MCD_SESSION_MAX_SECONDS, "S", NULL},
    {"hash-wait-seconds", K_UINT, AT(hash_wait_seconds), 0, 60, "S", NULL},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static void set_defaults(mcd_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->listen_host = strdup("127.0.0.1");
	cfg->port = 8443;
	cfg->data_dir = strdup("./medcryptd-data");
	cfg->max_upload = 4ull << 30;
	cfg->upload_expiry = 24 * 3600;
	cfg->max_open_uploads = 16;
	cfg->max_hashes = 2;
	cfg->threads = 4;
	cfg->log_level = MCD_LOG_INFO;
	cfg->connection_limit = 1024;
	cfg->per_ip_limit = 128;
	cfg->connection_timeout = 60;
	cfg->max_event_streams = 1000;
	cfg->smtp_min_interval = 15 * 60;
	cfg->lockout_base_seconds = 60;
	cfg->pow_bits = 20;
	cfg->session_idle_seconds = MCD_SESSION_IDLE_SECONDS;
	cfg->session_max_seconds = MCD_SESSION_MAX_SECONDS;
	cfg->hash_wait_seconds = 5;
}

static bool parse_listen(mcd_config *cfg, const char *v)
{
	char host[64];
	const char *port;
	if (v[0] == '[') {
		const char *end = strchr(v, ']');
		if (!end || end[1] != ':' || (size_t)(end - v - 1) >= sizeof host)
			return false;
		memcpy(host, v + 1, (size_t)(end - v - 1));
		host[end - v - 1] = 0;
		port = end + 2;
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon || (size_t)(colon - v) >= sizeof host)
			return false;
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = 0;
		port = colon + 1;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	unsigned char addr[16];
	if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
		return false;
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || *port == 0 || *end || p < 1 || p > 65535)
		return false;
	free(cfg->listen_host);
	cfg->listen_host = strdup(host);
	cfg->port = (unsigned)p;
	return cfg->listen_host != NULL;
}

static bool apply(mcd_config *cfg, const struct setting *s, const char *value, const char *source)
{
	char *base = (char *)cfg;
	bool ok = true;
	switch (s->kind) {
	case K_STRING: {
		char **slot = (char **)(base + s->offset);
		free(*slot);
		*slot = strdup(value);
		ok = *slot && *value;
		break;
	}
	case K_LISTEN: ok = parse_listen(cfg, value); break;
	case K_UINT:
	case K_U64: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		ok = !errno && *value && isdigit((unsigned char)value[0]) && !*end && v >= s->min && v <= s->max;
		if (ok && s->kind == K_UINT)
			*(unsigned *)(base + s->offset) = (unsigned)v;
		else if (ok)
			*(uint64_t *)(base + s->offset) = v;
		break;
	}
	case K_FLAG:
		if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
			*(bool *)(base + s->offset) = true;
		else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no"))
			*(bool *)(base + s->offset) = false;
		else
			ok = false;
		break;
	case K_LEVEL: ok = mcd_log_parse_level(value, (mcd_log_level *)(base + s->offset)); break;
	}
	if (!ok)
		fprintf(stderr, "medcryptd: %s: bad value for %s\n", source, s->name);
	return ok;
}

static const struct setting *find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strlen(settings[i].name) == len && !strncmp(settings[i].name, name, len))
			return &settings[i];
	return NULL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static bool load_file(mcd_config *cfg, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "medcryptd: cannot read configuration file %s: %s\n", path, strerror(errno));
		return false;
	}
	char line[4096];
	int lineno = 0;
	bool ok = true;
	while (ok && fgets(line, sizeof line, f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		char source[64];
		snprintf(source, sizeof source, "%s line %d", path, lineno);
		if (!eq) {
			fprintf(stderr, "medcryptd: %s: expected key = value\n", source);
			ok = false;
			break;
		}
		*eq = 0;
		char *key = trim(s), *value = trim(eq + 1);
		const struct setting *st = find(key, strlen(key));
		if (!st || !strcmp(st->name, "config")) {
			fprintf(stderr, "medcryptd: %s: unknown setting\n", source);
			ok = false;
			break;
		}
		ok = apply(cfg, st, value, source);
	}
	fclose(f);
	return ok;
}

static void env_name(const char *name, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "MEDCRYPTD_");
	for (const char *p = name; *p && n + 1 < cap; p++)
		out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	out[n] = 0;
}

/* The notice mail's settings go together and are checked here, so a typo stops the start
 * rather than every mail later (API.md §18). */
static bool mail_settings_valid(const mcd_config *cfg)
{
	if (cfg->public_url && !mcd_mail_url_valid(cfg->public_url)) {
		fprintf(stderr, "medcryptd: --public-url must be an http:// or https:// URL without spaces\n");
		return false;
	}
	if (!cfg->smtp_url) {
		if (cfg->smtp_from || cfg->smtp_user || cfg->smtp_password_file || cfg->smtp_starttls ||
		    cfg->smtp_ca_file) {
			fprintf(stderr, "medcryptd: the --smtp-* settings need --smtp-url\n");
			return false;
		}
		return true;
	}
	const char *u = cfg->smtp_url;
	bool smtps = !strncmp(u, "smtps://", 8);
	/* no USER:PASSWORD@ in the URL: it is logged, and the password belongs in its file */
	if ((!smtps && strncmp(u, "smtp://", 7) != 0) || !u[smtps ? 8 : 7] || strpbrk(u, " \t\r\n@")) {
		fprintf(stderr, "medcryptd: --smtp-url must be smtp://HOST[:PORT] or smtps://HOST[:PORT], without a "
		                "login (--smtp-user, --smtp-password-file)\n");
		return false;
	}
	if (smtps && cfg->smtp_starttls) {
		fprintf(stderr, "medcryptd: --smtp-starttls goes with smtp://, not smtps://\n");
		return false;
	}
	if (!mcd_mail_address_valid(cfg->smtp_from)) {
		fprintf(stderr, "medcryptd: --smtp-url needs --smtp-from ADDR, a plain address (name@example.org)\n");
		return false;
	}
	if (cfg->smtp_ca_file && access(cfg->smtp_ca_file, R_OK) != 0) {
		fprintf(stderr, "medcryptd: --smtp-ca-file %s: %s\n", cfg->smtp_ca_file, strerror(errno));
		return false;
	}
	if ((cfg->smtp_user == NULL) != (cfg->smtp_password_file == NULL)) {
		fprintf(stderr, "medcryptd: --smtp-user and --smtp-password-file go together\n");
		return false;
	}
	return true;
}

bool mcd_config_load(mcd_config *cfg, int argc, char **argv, int first)
{
	set_defaults(cfg);
	if (!cfg->listen_host || !cfg->data_dir)
		return false;
	/* The configuration file is named by a flag or the environment; read it first. */
	const char *file = getenv("MEDCRYPTD_CONFIG");
	for (int i = first; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			file = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
	}
	if (file && *file) {
		free(cfg->config_file);
		cfg->config_file = strdup(file);
		if (!load_file(cfg, file))
			return false;
	}
	for (size_t i = 0; i < N_SETTINGS; i++) {
		char name[64];
		env_name(settings[i].name, name, sizeof name);
		const char *v = getenv(name);
		if (v && strcmp(settings[i].name, "config") != 0 && !apply(cfg, &settings[i], v, name))
			return false;
	}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "medcryptd: unexpected argument '%s' (see medcryptd --help)\n", a);
			return false;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct setting *st = find(name, len);
		if (!st) {
			fprintf(stderr, "medcryptd: unknown option '%.*s' (see medcryptd --help)\n", (int)len + 2, a);
			return false;
		}
		const char *value;
		if (st->kind == K_FLAG && !eq) {
			value = "true";
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "medcryptd: %s needs a value\n", a);
			return false;
		}
		if (!strcmp(st->name, "config"))
			continue; /* already read */
		if (!apply(cfg, st, value, a))
			return false;
	}
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		fprintf(stderr, "medcryptd: --cert and --key go together\n");
		return false;
	}
	return mail_settings_valid(cfg);
}

void mcd_config_free(mcd_config *cfg)
{
	free(cfg->config_file);
	free(cfg->listen_host);
	free(cfg->data_dir);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->web_root);
	free(cfg->smtp_url);
	free(cfg->smtp_from);
	free(cfg->smtp_user);
	free(cfg->smtp_password_file);
	free(cfg->smtp_ca_file);
	free(cfg->public_url);
	memset(cfg, 0, sizeof *cfg);
}

void mcd_config_print_help(void)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (!s->help)
			continue;
		char flag[64];
		snprintf(flag, sizeof flag, "--%s%s%s", s->name, s->arg ? " " : "", s->arg ? s->arg : "");
		printf("  %-30s %s\n", flag, s->help);
	}
}
