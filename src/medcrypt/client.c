/*
 * client.c: HTTPS to medcryptd over libcurl, and the files that make it safe: known_servers
 * (each server's certificate fingerprint, pinned on first use) and the session file. The pin is
 * checked inside the TLS handshake by an OpenSSL certificate callback, so a changed certificate
 * fails the connection before a cookie, a CSRF token or an authentication key is sent. TLS 1.3
 * only. Answers are JSON (docs/API.md §12); error answers become a status and one clear sentence.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"

#define MAX_JSON_BODY (64L * 1024 * 1024)
#define COOKIE_NAME   "__Host-medcrypt"

/* ---- $MEDCRYPT_HOME ---- */

static mc_status mkdir_private(const char *path, mc_err *err)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return cli_fail(err, MC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	return MC_OK;
}

const char *medcrypt_home(mc_err *err)
{
	static char home[4096];
	if (home[0])
		return home;
	const char *env = getenv("MEDCRYPT_HOME");
	if (env && *env) {
		if (snprintf(home, sizeof home, "%s", env) >= (int)sizeof home)
			goto too_long;
	} else {
		const char *h = getenv("HOME");
		struct passwd *pw = (!h || !*h) ? getpwuid(getuid()) : NULL;
		if (pw)
			h = pw->pw_dir;
		if (!h || !*h) {
			cli_fail(err, MC_ERR_IO, "no home directory: set MEDCRYPT_HOME");
			return NULL;
		}
		char config[4096];
		if (snprintf(config, sizeof config, "%s/.config", h) >= (int)sizeof config ||
		    snprintf(home, sizeof home, "%s/.config/medcrypt", h) >= (int)sizeof home)
			goto too_long;
		if (mkdir(config, 0700) != 0 && errno != EEXIST) {
			cli_fail(err, MC_ERR_IO, "cannot create %s: %s", config, strerror(errno));
			home[0] = '\0';
			return NULL;
		}
	}
	if (mkdir_private(home, err) != MC_OK) {
		home[0] = '\0';
		return NULL;
	}
	return home;
too_long:
	home[0] = '\0';
	cli_fail(err, MC_ERR_MISUSE, "the MEDCRYPT_HOME path is too long");
	return NULL;
}

/* Writes data to dir/name atomically: a new file (O_EXCL, mode 0600) renamed over the old. */
static mc_status write_private_file(const char *path, const char *data, size_t len, mc_err *err)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
		return cli_fail(err, MC_ERR_MISUSE, "path too long");
	int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
	if (fd < 0)
		return cli_fail(err, MC_ERR_IO, "cannot create a file next to %s: %s", path, strerror(errno));
	mc_status st = fchmod(fd, 0600) == 0 ? write_all(mc_output_fd(fd), (const uint8_t *)data, len, err)
	                                     : cli_fail(err, MC_ERR_IO, "cannot set the mode of %s", tmp);
	if (st == MC_OK && fsync(fd) != 0)
		st = cli_fail(err, MC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (close(fd) != 0 && st == MC_OK)
		st = cli_fail(err, MC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (st == MC_OK && rename(tmp, path) != 0)
		st = cli_fail(err, MC_ERR_IO, "cannot rename into %s: %s", path, strerror(errno));
	if (st != MC_OK)
		unlink(tmp);
	return st;
}

const char *session_key_path(const session *s, mc_err *err)
{
	if (!s->key_path)
		cli_fail(err, MC_ERR_KEY, "the session names no key file: run 'medcrypt login --key NAME.key' again");
	return s->key_path;
}

#define PRIVATE_FILE_MAX (1u << 20) /* session, known_servers, known_users, known_kdf */

mc_status read_private_file(const char *path, size_t max, char **data, size_t *len, mc_err *err)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return MC_OK;
	if (fd < 0)
		return cli_fail(err, MC_ERR_IO, "cannot open %.300s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)max) {
		close(fd);
		return cli_fail(err, MC_ERR_IO, "%.300s is not a regular file of at most %zu MiB", path, max >> 20);
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	if (got != (size_t)sb.st_size) {
		mc_wipe(buf, got); /* the session file holds secrets */
		free(buf);
		return cli_fail(err, MC_ERR_IO, "cannot read %.300s", path);
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return MC_OK;
}

static mc_status home_path(const char *name, char *out, size_t out_size, mc_err *err)
{
	const char *home = medcrypt_home(err);
	if (!home)
		return err->status;
	if (snprintf(out, out_size, "%s/%s", home, name) >= (int)out_size)
		return cli_fail(err, MC_ERR_MISUSE, "the MEDCRYPT_HOME path is too long");
	return MC_OK;
}

/* ---- the session file ---- */

void session_clear(session *s)
{
	char **fields[] = {&s->url, &s->username, &s->token, &s->csrf, &s->key_path};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (*fields[i]) {
			mc_wipe(*fields[i], strlen(*fields[i]));
			free(*fields[i]);
			*fields[i] = NULL;
		}
	}
}

/* Reads the session file; with logged_out_ok, one without a token (after logout) is fine. */
static mc_status session_read(session *s, bool logged_out_ok, mc_err *err)
{
	char path[4200];
	char *data = NULL;
	size_t len = 0;
	memset(s, 0, sizeof *s);
	mc_status st = home_path("session", path, sizeof path, err);
	if (st == MC_OK)
		st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK)
		return st;
	if (!data)
		return cli_fail(err, CLI_ERR_SESSION, "not logged in: run 'medcrypt login URL --user NAME'");
	json_t *j = json_loadb(data, len, 0, NULL);
	mc_wipe(data, len);
	free(data);
	const char *keys[] = {"url", "username", "token", "csrf", "key"};
	char **fields[] = {&s->url, &s->username, &s->token, &s->csrf, &s->key_path};
	for (size_t i = 0; i < 5; i++) {
		const char *v = json_string_value(json_object_get(j, keys[i]));
		if (v && !(*fields[i] = strdup(v)))
			st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	json_decref(j); /* jansson's copies of the token and CSRF token are wiped as it frees them */
	if (st == MC_OK && (!s->url || !s->username))
		st = cli_fail(err, CLI_ERR_SESSION, "the session file %s is damaged: run 'medcrypt login' again", path);
	if (st == MC_OK && !logged_out_ok && (!s->token || !*s->token || !s->csrf || !*s->csrf))
		st = cli_fail(err, CLI_ERR_SESSION, "not logged in: run 'medcrypt login'");
	if (st != MC_OK)
		session_clear(s);
	return st;
}

mc_status session_load(session *s, mc_err *err)
{
	return session_read(s, false, err);
}

mc_status session_load_last(session *s, mc_err *err)
{
	return session_read(s, true, err);
}

mc_status session_save(const session *s, mc_err *err)
{
	char path[4200];
	mc_status st = home_path("session", path, sizeof path, err);
	if (st != MC_OK)
		return st;
	json_t *j = json_object();
	json_object_set_new(j, "url", json_string(s->url));
	json_object_set_new(j, "username", json_string(s->username));
	json_object_set_new(j, "token", json_string(s->token ? s->token : ""));
	json_object_set_new(j, "csrf", json_string(s->csrf ? s->csrf : ""));
	json_object_set_new(j, "key", s->key_path ? json_string(s->key_path) : json_null());
	char *text = json_text(j, JSON_INDENT(2));
	json_decref(j);
	if (!text)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	st = write_private_file(path, text, strlen(text), err);
	mc_wipe(text, strlen(text));
	free(text);
	return st;
}

/* ---- URLs ---- */

/* Splits https://host[:port][/] into "https://host:port" and "host:port" (lower case). */
static mc_status normalize_url(const char *url, char *norm, size_t norm_size, char *hostport, size_t hp_size,
                               mc_err *err)
{
	const char *p = url;
	if (strncasecmp(p, "https://", 8) != 0)
		return cli_fail(err, MC_ERR_MISUSE, "the server URL must start with https:// (got '%.100s')", url);
	p += 8;
	size_t n = strcspn(p, "/?#");
	if (n == 0 || n >= hp_size - 8 || (p[n] == '/' && p[n + 1] != '\0') || p[n] == '?' || p[n] == '#')
		return cli_fail(err, MC_ERR_MISUSE, "give the server as https://HOST[:PORT] (got '%.100s')", url);
	char host[512];
	memcpy(host, p, n);
	host[n] = '\0';
	for (char *q = host; *q; q++) {
		*q = (char)tolower((unsigned char)*q);
		if (!isalnum((unsigned char)*q) && !strchr(".-:[]_", *q))
			return cli_fail(err, MC_ERR_MISUSE, "bad character in the server name '%.100s'", url);
	}
	/* a port is the part after the last ':' outside brackets */
	const char *close_bracket = strrchr(host, ']');
	const char *colon = strrchr(close_bracket ? close_bracket : host, ':');
	if (colon)
		snprintf(hostport, hp_size, "%s", host);
	else
		snprintf(hostport, hp_size, "%s:443", host);
	if (snprintf(norm, norm_size, "https://%s", hostport) >= (int)norm_size)
		return cli_fail(err, MC_ERR_MISUSE, "the server URL is too long");
	return MC_OK;
}

bool url_segment(const char *s, char *out, size_t out_size)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o + 4 > out_size)
			return false;
		if (isalnum(*p) || *p == '.' || *p == '_' || *p == '-')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, 4, "%%%02X", *p);
	}
	if (o >= out_size)
		return false;
	out[o] = '\0';
	return o > 0;
}

/* ---- known_servers ---- */

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Parses a certificate fingerprint: 64 hex digits, optionally with ':' between bytes. */
static bool parse_cert_fp(const char *s, uint8_t fp[CERT_FP_LEN])
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		if ((*s == ':' && hi < 0) || *s == ' ' || *s == '\t' || *s == '\n')
			continue;
		int v = isdigit((unsigned char)*s)    ? *s - '0'
		        : isxdigit((unsigned char)*s) ? tolower((unsigned char)*s) - 'a' + 10
		                                      : -1;
		if (v < 0 || n == CERT_FP_LEN)
			return false;
		if (hi < 0) {
			hi = v;
		} else {
			fp[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n == CERT_FP_LEN && hi < 0;
}

/* Looks up hostport in known_servers; *found says whether a line names it. */
static mc_status known_lookup(const char *path, const char *hostport, bool *found, uint8_t fp[CERT_FP_LEN], mc_err *err)
{
	char *data = NULL;
	size_t len = 0;
	*found = false;
	mc_status st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK || !data)
		return st;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[512], hex[200];
		if (line[0] == '#' || sscanf(line, "%511s %199s", name, hex) != 2 || strcmp(name, hostport) != 0)
			continue;
		if (!parse_cert_fp(hex, fp)) {
			st = cli_fail(err, CLI_ERR_PIN, "%s: the line for %s is damaged: fix or delete it", path,
			              hostport);
			break;
		}
		*found = true;
		break;
	}
	free(data);
	return st;
}

static mc_status known_add(const char *path, const char *hostport, const uint8_t fp[CERT_FP_LEN], mc_err *err)
{
	char *data = NULL;
	size_t len = 0;
	mc_status st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK)
		return st;
	char hex[2 * CERT_FP_LEN + 1];
	hex_of(fp, CERT_FP_LEN, hex);
	char *text = NULL;
	int n = asprintf(&text, "%s%s%s %s\n",
	                 data ? data : "# medcrypt known_servers: HOST:PORT SHA-256-of-the-certificate\n",
	                 data && len && data[len - 1] != '\n' ? "\n" : "", hostport, hex);
	free(data);
	if (n < 0)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	st = write_private_file(path, text, (size_t)n, err);
	free(text);
	return st;
}

/* ---- the client ---- */

struct pin {
	bool have_expected;
	uint8_t expected[CERT_FP_LEN];
	bool seen;
	uint8_t seen_fp[CERT_FP_LEN];
	bool mismatch;
};

struct client {
	CURL *curl;
	char url[600];
	char hostport[520];
	struct pin pin;
	char *token; /* cookie value, secret */
	char *csrf;
	char *new_token;
	struct curl_slist *headers;
	long long rate;
};

/* Called by OpenSSL with the server's chain instead of the usual verification: the leaf
 * certificate must be the pinned one. With no pin yet (the first-use probe) it records the
 * fingerprint and accepts; the probe sends no request. */
static int verify_pinned(X509_STORE_CTX *store, void *arg)
{
	struct pin *pin = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(store);
	unsigned int n = 0;
	if (!leaf || X509_digest(leaf, EVP_sha256(), pin->seen_fp, &n) != 1 || n != CERT_FP_LEN) {
		X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	pin->seen = true;
	if (!pin->have_expected)
		return 1;
	if (CRYPTO_memcmp(pin->seen_fp, pin->expected, CERT_FP_LEN) != 0) {
		pin->mismatch = true;
		X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	return 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	SSL_CTX *ctx = ssl_ctx;
	/* libcurl set SSL_VERIFY_NONE (the certificate is self-signed): a failed check must still
	 * abort the handshake, and the check is ours. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_pinned, arg);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		return CURLE_SSL_CIPHER;
	return CURLE_OK;
}

static mc_status setup_handle(client *c, mc_err *err)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return cli_fail(err, CLI_ERR_NETWORK, "cannot initialise libcurl");
		global_done = true;
	}
	c->curl = curl_easy_init();
	if (!c->curl)
		return cli_fail(err, MC_ERR_NOMEM, "cannot initialise libcurl");
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT));
	/* The certificate is self-signed: trust comes from the pin checked in verify_pinned. */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &c->pin);
	/* A resumed TLS session shows no certificate: always do a full handshake. */
	curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
	/* a stalled transfer (under 1 byte/s for 60 s) fails instead of hanging */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "medcrypt/" MC_VERSION_STRING);
	curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never send a session through a proxy variable */
	return MC_OK;
}

static mc_status network_error(client *c, CURLcode rc, const char *errbuf, mc_err *err)
{
	char home_file[4200] = "known_servers";
	mc_err ignore;
	home_path("known_servers", home_file, sizeof home_file, &ignore);
	if (c->pin.mismatch) {
		char was[65], now[65];
		hex_of(c->pin.expected, CERT_FP_LEN, was);
		hex_of(c->pin.seen_fp, CERT_FP_LEN, now);
		return cli_fail(err, CLI_ERR_PIN,
		                "the certificate of %.100s CHANGED: pinned %s, now %s; someone may be intercepting the "
		                "connection. If it was replaced on purpose, delete its line in %.120s and log in again",
		                c->hostport, was, now, home_file);
	}
	return cli_fail(err, CLI_ERR_NETWORK, "cannot reach %s: %s", c->url,
	                errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* The first-use probe: a TLS handshake that sends no request, to learn the certificate. */
static mc_status probe_certificate(client *c, mc_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	c->pin.have_expected = false;
	c->pin.seen = false;
	curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	/* forget the probe's connection: the real requests make a new, pinned one */
	curl_easy_reset(c->curl);
	curl_easy_cleanup(c->curl);
	c->curl = NULL;
	mc_status st = setup_handle(c, err);
	if (st != MC_OK)
		return st;
	if (rc != CURLE_OK || !c->pin.seen)
		return network_error(c, rc, errbuf, err);
	return MC_OK;
}

static bool ask_yes(const char *question)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return false;
	fputs(question, tty);
	fflush(tty);
	char answer[16] = "";
	bool yes =
	    fgets(answer, sizeof answer, tty) && (strcasecmp(answer, "yes\n") == 0 || strcasecmp(answer, "y\n") == 0);
	fclose(tty);
	return yes;
}

mc_status client_open(const char *url, const trust_opts *trust, client **out, mc_err *err)
{
	*out = NULL;
	client *c = calloc(1, sizeof *c);
	if (!c)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	char known[4200];
	mc_status st = normalize_url(url, c->url, sizeof c->url, c->hostport, sizeof c->hostport, err);
	if (st == MC_OK)
		st = setup_handle(c, err);
	if (st == MC_OK)
		st = home_path("known_servers", known, sizeof known, err);
	bool found = false;
	if (st == MC_OK)
		st = known_lookup(known, c->hostport, &found, c->pin.expected, err);
	if (st == MC_OK && !found) {
		if (!trust || !trust->allow_new) {
			st = cli_fail(err, CLI_ERR_PIN, "%s is not in %s: run 'medcrypt login %s' first", c->hostport,
			              known, c->url);
		} else if ((st = probe_certificate(c, err)) == MC_OK) {
			char hex[65];
			hex_of(c->pin.seen_fp, CERT_FP_LEN, hex);
			uint8_t given[CERT_FP_LEN];
			const char *env = getenv("MEDCRYPT_ASSUME_YES");
			bool yes = trust->assume_yes || (env && strcmp(env, "1") == 0);
			if (trust->fingerprint) {
				if (!parse_cert_fp(trust->fingerprint, given))
					st = cli_fail(err, MC_ERR_MISUSE,
					              "--fingerprint needs 64 hex digits (colons allowed)");
				else if (CRYPTO_memcmp(given, c->pin.seen_fp, CERT_FP_LEN) != 0)
					st = cli_fail(
					    err, CLI_ERR_PIN,
					    "%s presents certificate %s, not the --fingerprint given: refusing it",
					    c->hostport, hex);
			} else if (!yes) {
				fprintf(
				    stderr,
				    "The server %s is not known yet. Its certificate's SHA-256 fingerprint is\n  %s\n"
				    "Compare it with the fingerprint medcryptd printed when it started.\n",
				    c->hostport, hex);
				if (!ask_yes("Trust this server? (yes/no) "))
					st = cli_fail(
					    err, CLI_ERR_PIN,
					    "the server %s was not accepted (confirm on a terminal, or pass --yes or "
					    "--fingerprint HEX)",
					    c->hostport);
			}
			if (st == MC_OK) {
				memcpy(c->pin.expected, c->pin.seen_fp, CERT_FP_LEN);
				st = known_add(known, c->hostport, c->pin.expected, err);
				if (st == MC_OK)
					fprintf(stderr, "medcrypt: pinned %s's certificate %s in %s\n", c->hostport,
					        hex, known);
			}
		}
	}
	if (st != MC_OK) {
		client_free(c);
		return st;
	}
	c->pin.have_expected = true;
	*out = c;
	return MC_OK;
}

void client_free(client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	client_set_session(c, NULL, NULL);
	if (c->new_token) {
		mc_wipe(c->new_token, strlen(c->new_token));
		free(c->new_token);
	}
	free(c);
}

const char *client_url(const client *c)
{
	return c->url;
}

const char *client_new_token(const client *c)
{
	return c->new_token;
}

void client_limit_rate(client *c, long long bytes_per_second)
{
	c->rate = bytes_per_second;
}

static void free_secret(char **s)
{
	if (*s) {
		mc_wipe(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

mc_status client_set_session(client *c, const char *token, const char *csrf)
{
	free_secret(&c->token);
	free_secret(&c->csrf);
	if (token && !(c->token = strdup(token)))
		return MC_ERR_NOMEM;
	if (csrf && !(c->csrf = strdup(csrf)))
		return MC_ERR_NOMEM;
	return MC_OK;
}

void http_response_clear(http_response *r)
{
	json_decref(r->json);
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	r->content_len = -1;
	r->upload_offset = -1;
}

/* ---- one exchange ---- */

struct exchange {
	client *c;
	http_response *r;
	/* body in memory (JSON or an error) */
	char *body;
	size_t body_len;
	bool too_big;
	/* body to a file (downloads) */
	int fd;
	bool to_file;           /* decided when the headers end */
	long long file_written; /* bytes written to fd in this exchange */
	bool write_failed;
	int write_errno;
	long long offset; /* bytes the file had before */
	bool truncate_on_200;
	bool *restarted;
	void (*on_etag)(void *ctx, const char *etag);
	void *etag_ctx;
	bool headers_done;
	/* upload */
	int in_fd;
	long long in_left; /* bytes still to send from in_fd, or -1: until its end */
	bool read_failed;
	int read_errno;
	/* progress */
	progress *pr;
	long long pr_base;
	/* a stream (client_stream): the body of a 200 goes to sink as it arrives */
	bool (*sink)(void *ctx, const char *buf, size_t len);
	bool (*stop)(void *ctx);
	void *sink_ctx;
	bool to_sink, sink_ended; /* sink_ended: the sink or stop ended the transfer */
	bool idle_expired;
	double last_byte; /* when the last byte arrived (monotonic seconds) */
	long idle_seconds;
};

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	size_t len = size * n;
	char line[1024];
	size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
	memcpy(line, buf, l);
	line[l] = '\0';
	while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
		line[--l] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (also after a 100 Continue): forget the previous one's headers */
		x->r->etag[0] = '\0';
		x->r->retry_after = -1;
		x->r->content_len = -1;
		x->r->upload_offset = -1;
		x->r->location[0] = '\0';
		return len;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = '\0';
	char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strcasecmp(line, "ETag") == 0) {
		snprintf(x->r->etag, sizeof x->r->etag, "%s", value);
	} else if (strcasecmp(line, "Retry-After") == 0) {
		x->r->retry_after = strtol(value, NULL, 10);
	} else if (strcasecmp(line, "Upload-Offset") == 0) {
		char *end;
		long long v = strtoll(value, &end, 10);
		x->r->upload_offset = *value >= '0' && *value <= '9' && !*end ? v : -1;
	} else if (strcasecmp(line, "Location") == 0) {
		snprintf(x->r->location, sizeof x->r->location, "%s", value);
	} else if (strcasecmp(line, "Content-Length") == 0) {
		x->r->content_len = strtoll(value, NULL, 10);
	} else if (strcasecmp(line, "Set-Cookie") == 0 && strncmp(value, COOKIE_NAME "=", sizeof COOKIE_NAME) == 0) {
		const char *v = value + sizeof COOKIE_NAME;
		size_t vl = strcspn(v, ";");
		free_secret(&x->c->new_token);
		x->c->new_token = strndup(v, vl);
	}
	mc_wipe(line, sizeof line);
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	size_t len = size * n;
	if (!x->headers_done) {
		x->headers_done = true;
		long status = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		x->to_file = x->fd >= 0 && (status == 200 || status == 206);
		x->to_sink = x->sink && status == 200;
		if (x->to_file) {
			if (status == 200 && x->offset > 0) {
				if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
					x->write_failed = true;
					x->write_errno = errno;
					return 0;
				}
				if (x->restarted)
					*x->restarted = true;
				x->pr_base = 0;
			}
			if (x->on_etag)
				x->on_etag(x->etag_ctx, x->r->etag);
		}
	}
	if (x->to_sink) {
		x->last_byte = mono_seconds();
		if (!x->sink(x->sink_ctx, buf, len)) {
			x->sink_ended = true;
			return 0;
		}
		return len;
	}
	if (x->to_file) {
		mc_output o = mc_output_fd(x->fd);
		if (o.write(o.ctx, (const uint8_t *)buf, len) != 0) {
			x->write_failed = true;
			x->write_errno = errno;
			return 0;
		}
		x->file_written += (long long)len;
		if (x->pr)
			progress_cb(x->pr, (uint64_t)(x->pr_base + x->file_written));
		return len;
	}
	if (x->body_len + len > (size_t)MAX_JSON_BODY) {
		x->too_big = true;
		return 0;
	}
	char *nb = realloc(x->body, x->body_len + len + 1);
	if (!nb)
		return 0;
	x->body = nb;
	memcpy(x->body + x->body_len, buf, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return len;
}

static size_t on_upload_read(char *buf, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	size_t want = size * n;
	if (x->in_left >= 0 && (long long)want > x->in_left)
		want = (size_t)x->in_left;
	if (want == 0)
		return 0;
	for (;;) {
		ssize_t got = read(x->in_fd, buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			x->read_failed = true;
			x->read_errno = errno;
			return CURL_READFUNC_ABORT;
		}
		x->file_written += got;
		if (x->in_left >= 0)
			x->in_left -= got;
		if (x->pr)
			progress_cb(x->pr, (uint64_t)(x->pr_base + x->file_written));
		return (size_t)got;
	}
}

static mc_status perform(client *c, const char *method, const char *path, struct exchange *x, struct curl_slist *extra,
                         mc_err *err)
{
	CURL *h = c->curl;
	char url[1200];
	char errbuf[CURL_ERROR_SIZE] = "";
	if (snprintf(url, sizeof url, "%s%s", c->url, path) >= (int)sizeof url)
		return cli_fail(err, MC_ERR_MISUSE, "request path too long");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
	                 strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? NULL : method);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)c->rate);

	struct curl_slist *headers = extra;
	char *cookie = NULL, *csrf = NULL;
	if (c->token && asprintf(&cookie, "%s=%s", COOKIE_NAME, c->token) < 0)
		cookie = NULL;
	if (c->csrf && asprintf(&csrf, "X-CSRF-Token: %s", c->csrf) < 0)
		csrf = NULL;
	curl_easy_setopt(h, CURLOPT_COOKIE, cookie);
	if (csrf && strcmp(method, "GET") != 0)
		headers = curl_slist_append(headers, csrf);
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

	c->pin.mismatch = false;
	CURLcode rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_COOKIE, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	if (cookie) {
		mc_wipe(cookie, strlen(cookie));
		free(cookie);
	}
	if (csrf) {
		mc_wipe(csrf, strlen(csrf));
		free(csrf);
	}
	if (x->write_failed)
		return cli_fail(err, MC_ERR_IO, "cannot write the download: %s", strerror(x->write_errno));
	if (x->read_failed)
		return cli_fail(err, MC_ERR_IO, "cannot read the file to upload: %s", strerror(x->read_errno));
	if (x->too_big)
		return cli_fail(err, CLI_ERR_NETWORK, "the server's answer is larger than %ld bytes", MAX_JSON_BODY);
	if (x->sink_ended)
		return MC_OK;
	if (x->idle_expired)
		return cli_fail(err, CLI_ERR_NETWORK, "%s sent nothing for %ld seconds", c->url, x->idle_seconds);
	if (rc != CURLE_OK)
		return network_error(c, rc, errbuf, err);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->r->status);
	if (x->body_len) {
		x->r->json = json_loadb(x->body, x->body_len, 0, NULL);
		if (x->r->json && !json_is_object(x->r->json)) {
			json_decref(x->r->json);
			x->r->json = NULL;
		}
	}
	return MC_OK;
}

static void exchange_init(struct exchange *x, client *c, http_response *r)
{
	memset(x, 0, sizeof *x);
	x->c = c;
	x->r = r;
	x->fd = -1;
	x->in_fd = -1;
	x->in_left = -1;
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	r->content_len = -1;
	r->upload_offset = -1;
}

static void exchange_done(struct exchange *x)
{
	if (x->body) {
		mc_wipe(x->body, x->body_len);
		free(x->body);
	}
}

mc_status client_request(client *c, const char *method, const char *path, json_t *body, http_response *r, mc_err *err)
{
	struct exchange x;
	exchange_init(&x, c, r);
	char *text = NULL;
	struct curl_slist *extra = NULL;
	if (body) {
		text = json_text(body, JSON_COMPACT);
		if (!text)
			return cli_fail(err, MC_ERR_NOMEM, "out of memory");
		extra = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	}
	if (strcmp(method, "DELETE") == 0 && !body) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	}
	mc_status st = perform(c, method, path, &x, extra, err);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	if (text) {
		/* may hold an authentication key */
		mc_wipe(text, strlen(text));
		free(text);
	}
	exchange_done(&x);
	return st;
}

mc_status client_call(client *c, const char *method, const char *path, json_t *body, long expect, json_t **out,
                      const char *what, mc_err *err)
{
	http_response r;
	if (out)
		*out = NULL;
	mc_status st = client_request(c, method, path, body, &r, err);
	if (st == MC_OK && r.status != expect)
		st = http_error(&r, what, err);
	if (st == MC_OK && out) {
		*out = r.json;
		r.json = NULL;
	}
	http_response_clear(&r);
	return st;
}

/* Copies the printable ASCII of s (NULL: nothing) into out, other bytes as '?'. */
static void printable(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = s; p && *p && n + 1 < size; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

mc_status http_error(const http_response *r, const char *what, mc_err *err)
{
	const char *raw_code = json_string_value(json_object_get(r->json, "error"));
	const char *message = json_string_value(json_object_get(r->json, "message"));
	/* The server's words reach the terminal: only printable ASCII of them, so a hostile server
	 * cannot send escape sequences. */
	char detail[200] = "", code[64] = "";
	printable(message, detail, sizeof detail);
	printable(raw_code, code, sizeof code);
	long s = r->status;
	if (s == 401 && strcmp(code, "bad_credentials") == 0)
		return cli_fail(err, MC_ERR_KEY, "%s: wrong user name or password", what);
	if (s == 401 && strcmp(code, "reauth_required") == 0)
		return cli_fail(err, CLI_ERR_SESSION,
		                "%s: the server wants the password again (re-authentication expired)", what);
	if (s == 401)
		return cli_fail(err, CLI_ERR_SESSION, "%s: not logged in, or the session expired: run 'medcrypt login'",
		                what);
	if (s == 429) {
		long wait = r->retry_after;
		json_t *ra = json_object_get(r->json, "retry_after");
		if (json_is_integer(ra))
			wait = (long)json_integer_value(ra);
		return cli_fail(
		    err, CLI_ERR_RETRY,
		    "%s: too many failed logins: the account or this address is locked for %ld more second%s", what,
		    wait, wait == 1 ? "" : "s");
	}
	if (s == 503)
		return cli_fail(err, CLI_ERR_RETRY, "%s: the server is busy; try again in %ld seconds", what,
		                r->retry_after > 0 ? r->retry_after : 5);
	if (s == 403 && strcmp(code, "csrf") == 0)
		return cli_fail(err, CLI_ERR_SESSION,
		                "%s: the server refused the session's CSRF token: run 'medcrypt login'", what);
	if (s == 403 && strcmp(code, "pow_required") == 0)
		return cli_fail(err, CLI_ERR_RETRY, "%s: the server asks for a proof of work", what);
	if (s == 403)
		return cli_fail(err, CLI_ERR_DENIED, "%s: your role may not do this%s%s", what, detail[0] ? ": " : "",
		                detail);
	if (s == 404)
		return cli_fail(err, CLI_ERR_DENIED, "%s: no such object, or it is not shared with you", what);
	if (s == 409)
		return cli_fail(err, CLI_ERR_REFUSED, "%s: conflict: %s", what,
		                detail[0] ? detail : "it exists already, or the invitation was used");
	if (s == 413)
		return cli_fail(err, CLI_ERR_REFUSED, "%s: too large for the server", what);
	if (s == 400 && strcmp(code, "unknown_recipient") == 0)
		return cli_fail(err, CLI_ERR_REFUSED, "%s: a recipient's key is not their current key on the server",
		                what);
	if (s == 400 && strcmp(code, "bad_container") == 0)
		return cli_fail(err, CLI_ERR_REFUSED, "%s: the server says this is not a well-formed sealed file",
		                what);
	if (s >= 400 && s < 500)
		return cli_fail(err, CLI_ERR_REFUSED, "%s: the server refused the request (HTTP %ld %s%s%s)", what, s,
		                code, detail[0] ? ": " : "", detail);
	return cli_fail(err, CLI_ERR_NETWORK, "%s: unexpected answer from the server (HTTP %ld%s%s)", what, s,
	                code[0] ? " " : "", code);
}

mc_status client_get_bytes(client *c, const char *path, size_t max, uint8_t **out, size_t *len, const char *what,
                           mc_err *err)
{
	http_response r;
	struct exchange x;
	*out = NULL;
	*len = 0;
	exchange_init(&x, c, &r);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	mc_status st = perform(c, "GET", path, &x, NULL, err);
	if (st == MC_OK && r.status != 200)
		st = http_error(&r, what, err);
	else if (st == MC_OK && x.body_len > max)
		st = cli_fail(err, CLI_ERR_NETWORK, "%s: the answer is larger than %zu bytes", what, max);
	if (st == MC_OK) {
		*out = (uint8_t *)x.body;
		*len = x.body_len;
		x.body = NULL;
		if (!*out && (*out = malloc(1)) == NULL)
			st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	exchange_done(&x);
	http_response_clear(&r);
	return st;
}

mc_status client_upload(client *c, const char *path, int fd, long long size, const char *what, http_response *r,
                        mc_err *err)
{
	struct exchange x;
	exchange_init(&x, c, r);
	progress pr;
	progress_init(&pr, what, size);
	x.pr = &pr;
	x.in_fd = fd;
	struct curl_slist *extra = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, on_upload_read);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	mc_status st = perform(c, "POST", path, &x, extra, err);
	progress_end(&pr);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, NULL);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, NULL);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	exchange_done(&x);
	return st;
}

/* ---- resumable uploads (tus 1.0, API.md §15a) ---- */

#define TUS_PIECE    (16LL << 20)
#define TUS_FAILURES 6  /* in a row, before giving up */
#define TUS_WAIT_MAX 30 /* seconds between attempts, at most */

/* One tus request: POST (creation, extra carries Upload-Length), HEAD, or PATCH with len bytes
 * of fd from offset (fd >= 0). extra is consumed. */
static mc_status tus_exchange(client *c, const char *method, const char *path, struct curl_slist *extra, int fd,
                              long long offset, long long len, progress *pr, http_response *r, mc_err *err)
{
	struct exchange x;
	exchange_init(&x, c, r);
	extra = curl_slist_append(extra, "Tus-Resumable: 1.0.0");
	if (fd >= 0) {
		if (lseek(fd, (off_t)offset, SEEK_SET) != (off_t)offset) {
			curl_slist_free_all(extra);
			return cli_fail(err, MC_ERR_IO, "cannot read the file to upload: %s", strerror(errno));
		}
		char offset_header[64];
		snprintf(offset_header, sizeof offset_header, "Upload-Offset: %lld", offset);
		extra = curl_slist_append(extra, offset_header);
		x.in_fd = fd;
		x.in_left = len;
		x.pr = pr;
		x.pr_base = offset;
		extra = curl_slist_append(extra, "Content-Type: application/offset+octet-stream");
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, on_upload_read);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, &x);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	mc_status st = perform(c, method, path, &x, extra, err);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, NULL);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, NULL);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L); /* also clears NOBODY */
	exchange_done(&x);
	return st;
}

/* A Location the client follows: a path under endpoint, printable, without a query. */
static bool upload_location(const char *endpoint, const char *location, char *out, size_t out_size)
{
	size_t n = strlen(endpoint);
	if (strncmp(location, endpoint, n) != 0 || location[n] != '/' || strlen(location) >= out_size)
		return false;
	for (const char *p = location + n + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' ||
		      *p == '_'))
			return false;
	snprintf(out, out_size, "%s", location);
	return location[n + 1] != '\0';
}

bool upload_query(const upload_params *up, char *out, size_t out_size)
{
	char seg[300] = "";
	if (up && up->patient && !url_segment(up->patient, seg, sizeof seg))
		return false;
	int n = snprintf(out, out_size, "%s%s%s%s", seg[0] ? "?patient=" : "", seg,
	                 up && up->deidentified ? (seg[0] ? "&" : "?") : "",
	                 up && up->deidentified ? "deidentified=1" : "");
	return n >= 0 && (size_t)n < out_size;
}

/* The Upload-Metadata header of a creation (tus 1.0: "key base64,key base64"), or NULL when
 * there is nothing to say. Free with free(). */
static char *upload_metadata(const upload_params *up)
{
	if (!up || (!up->patient && !up->deidentified))
		return NULL;
	char *patient = up->patient ? b64_encode((const uint8_t *)up->patient, strlen(up->patient)) : NULL;
	char *deid = up->deidentified ? b64_encode((const uint8_t *)"1", 1) : NULL;
	char *header = NULL;
	if ((!up->patient || patient) && (!up->deidentified || deid) &&
	    asprintf(&header, "Upload-Metadata: %s%s%s%s%s", patient ? "patient " : "", patient ? patient : "",
	             patient && deid ? "," : "", deid ? "deidentified " : "", deid ? deid : "") < 0)
		header = NULL;
	free(patient);
	free(deid);
	return header;
}

mc_status client_tus_upload(client *c, const char *endpoint, int fd, long long size, const upload_params *up,
                            const char *what, http_response *r, mc_err *err)
{
	char len_header[64], path[256];
	snprintf(len_header, sizeof len_header, "Upload-Length: %lld", size);
	struct curl_slist *creation = curl_slist_append(NULL, len_header);
	char *metadata = upload_metadata(up);
	bool missing = !metadata && up && (up->patient || up->deidentified);
	if (metadata && creation)
		creation = curl_slist_append(creation, metadata);
	free(metadata);
	if (!creation || missing) {
		curl_slist_free_all(creation);
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	mc_status st = tus_exchange(c, "POST", endpoint, creation, -1, 0, 0, NULL, r, err);
	if (st != MC_OK || r->status != 201)
		return st; /* the caller maps the answer (404: a server without resumable uploads) */
	if (!upload_location(endpoint, r->location, path, sizeof path))
		return cli_fail(err, CLI_ERR_NETWORK, "%s: the server gave no usable Location for the upload", what);
	progress pr;
	progress_init(&pr, what, size);
	long long offset = 0;
	int failures = 0;
	long wait = 1;
	for (;;) {
		long long len = size - offset < TUS_PIECE ? size - offset : TUS_PIECE;
		http_response_clear(r);
		st = tus_exchange(c, "PATCH", path, NULL, fd, offset, len, &pr, r, err);
		if (st == MC_OK && r->status == 204) {
			if (r->upload_offset != offset + len || r->upload_offset >= size) {
				st = cli_fail(err, CLI_ERR_NETWORK, "%s: the server reported an unexpected offset",
				              what);
				break;
			}
			offset = r->upload_offset;
			failures = 0;
			wait = 1;
			continue;
		}
		if (st == MC_OK && r->status == 404) {
			st = cli_fail(err, CLI_ERR_NETWORK, "%s: the server no longer has this upload (it expired)",
			              what);
			break;
		}
		bool retriable = st == CLI_ERR_NETWORK || (st == MC_OK && (r->status == 409 || r->status >= 500));
		if (!retriable || ++failures > TUS_FAILURES)
			break; /* the final answer (201 or a refusal), or out of attempts */
		if (st == MC_OK && r->status == 503 && r->retry_after > wait)
			wait = r->retry_after < TUS_WAIT_MAX ? r->retry_after : TUS_WAIT_MAX;
		char why[160];
		if (st == MC_OK)
			snprintf(why, sizeof why, "HTTP %ld", r->status);
		else
			snprintf(why, sizeof why, "%.150s", err->msg);
		fprintf(stderr, "medcrypt: the upload was interrupted (%s); resuming in %ld s (attempt %d of %d)\n",
		        why, wait, failures, TUS_FAILURES);
		sleep((unsigned)wait);
		wait = wait * 2 < TUS_WAIT_MAX ? wait * 2 : TUS_WAIT_MAX;
		/* Where the server is: the bytes it holds durably. */
		http_response head;
		mc_err head_err = {0};
		mc_status hs = tus_exchange(c, "HEAD", path, NULL, -1, 0, 0, NULL, &head, &head_err);
		if (hs == MC_OK && head.status == 404) {
			http_response_clear(&head);
			st = cli_fail(err, CLI_ERR_NETWORK,
			              "%s: the server no longer has this upload (it expired, or it completed while the "
			              "connection was down: see 'medcrypt ls')",
			              what);
			break;
		}
		if (hs == MC_OK && head.status == 200 && head.upload_offset >= 0 && head.upload_offset < size)
			offset = head.upload_offset;
		/* Otherwise the next PATCH tries the old offset; a 409 brings us back here. */
		http_response_clear(&head);
	}
	progress_end(&pr);
	return st;
}

mc_status client_download(client *c, const char *path, int fd, long long offset, const char *if_range, long long total,
                          void (*on_etag)(void *ctx, const char *etag), void *ctx, bool *restarted, http_response *r,
                          mc_err *err)
{
	struct exchange x;
	exchange_init(&x, c, r);
	progress pr;
	progress_init(&pr, "downloading", total);
	x.pr = &pr;
	x.pr_base = offset;
	x.fd = fd;
	x.offset = offset;
	x.restarted = restarted;
	x.on_etag = on_etag;
	x.etag_ctx = ctx;
	if (restarted)
		*restarted = false;
	struct curl_slist *extra = NULL;
	char range[80], ifr[200];
	if (offset > 0) {
		snprintf(range, sizeof range, "Range: bytes=%lld-", offset);
		extra = curl_slist_append(extra, range);
		if (if_range && *if_range && snprintf(ifr, sizeof ifr, "If-Range: %s", if_range) < (int)sizeof ifr)
			extra = curl_slist_append(extra, ifr);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	mc_status st = perform(c, "GET", path, &x, extra, err);
	progress_end(&pr);
	exchange_done(&x);
	return st;
}

/* Polled by libcurl about once a second while a stream is open: ends it when the caller says
 * stop, or when the server has been silent for too long (a dead connection can stay open). */
static int on_stream_tick(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	struct exchange *x = arg;
	if (x->stop && x->stop(x->sink_ctx)) {
		x->sink_ended = true;
		return 1;
	}
	if (x->idle_seconds > 0 && mono_seconds() - x->last_byte > (double)x->idle_seconds) {
		x->idle_expired = true;
		return 1;
	}
	return 0;
}

mc_status client_stream(client *c, const char *path, const char *const *extra_headers, long idle_seconds,
                        bool (*sink)(void *ctx, const char *buf, size_t len), bool (*stop)(void *ctx), void *ctx,
                        http_response *r, mc_err *err)
{
	struct exchange x;
	exchange_init(&x, c, r);
	x.sink = sink;
	x.stop = stop;
	x.sink_ctx = ctx;
	x.idle_seconds = idle_seconds;
	x.last_byte = mono_seconds();
	struct curl_slist *extra = NULL;
	for (size_t i = 0; extra_headers && extra_headers[i]; i++)
		extra = curl_slist_append(extra, extra_headers[i]);
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	/* a stream is quiet between notices: its own idle limit replaces the low-speed one */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 0L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 0L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_stream_tick);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	mc_status st = perform(c, "GET", path, &x, extra, err);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, NULL);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	exchange_done(&x);
	return st;
}

/* ---- known_users: each user's key fingerprints as first seen ---- */

mc_status known_user_check(const char *hostport, const char *username, const char *enc_hex, const char *sign_hex,
                           mc_err *err)
{
	char path[4200], key[700];
	char *data = NULL;
	size_t len = 0;
	mc_status st = home_path("known_users", path, sizeof path, err);
	if (st == MC_OK)
		st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK)
		return st;
	snprintf(key, sizeof key, "%s/%s", hostport, username);
	char *save = NULL;
	bool found = false;
	for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[700], e[80], g[80];
		if (line[0] == '#' || sscanf(line, "%699s %79s %79s", name, e, g) != 3 || strcmp(name, key) != 0)
			continue;
		found = true;
		if (strcmp(e, enc_hex) != 0 || strcmp(g, sign_hex) != 0)
			st = cli_fail(
			    err, CLI_ERR_PIN,
			    "the keys of %.64s CHANGED since you first used them (encryption %.16s... now %.16s..., "
			    "signing %.16s... now %.16s...): the server may be substituting keys. Check the new "
			    "fingerprints with %.64s, then delete the line %.100s in %.120s",
			    username, e, enc_hex, g, sign_hex, username, key, path);
	}
	if (st == MC_OK && !found) {
		char *text = NULL;
		/* re-read: data was cut up by strtok_r */
		free(data);
		data = NULL;
		if ((st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err)) != MC_OK)
			return st;
		int n = asprintf(&text, "%s%s%s %s %s\n",
		                 data ? data
		                      : "# medcrypt known_users: SERVER/USER encryption-fp signing-fp as first seen\n",
		                 data && len && data[len - 1] != '\n' ? "\n" : "", key, enc_hex, sign_hex);
		if (n < 0)
			st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		else
			st = write_private_file(path, text, (size_t)n, err);
		free(text);
	}
	free(data);
	return st;
}

/* ---- known_kdf: each account's Argon2id parameters and salt as last used ---- */

#define KNOWN_KDF_HEAD "# medcrypt known_kdf: SERVER/USER t m(KiB) p salt, as last logged in with\n"

/* One parsed line of known_kdf: false for a comment or a damaged line. */
static bool kdf_line(const char *line, char *name, size_t name_size, account_kdf *kdf, uint8_t salt[16])
{
	char n[700], hex[80];
	unsigned long t, m, p;
	if (line[0] == '#' || sscanf(line, "%699s %lu %lu %lu %79s", n, &t, &m, &p, hex) != 5 || strlen(hex) != 32 ||
	    t > UINT32_MAX || m > UINT32_MAX || p > UINT32_MAX)
		return false;
	for (size_t i = 0; i < 16; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]))
			return false;
		salt[i] = (uint8_t)v;
	}
	snprintf(name, name_size, "%s", n);
	kdf->t = (uint32_t)t;
	kdf->m = (uint32_t)m;
	kdf->p = (uint32_t)p;
	return true;
}

/* The USER of a known_kdf name HOST:PORT/USER. */
static const char *user_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	return slash ? slash + 1 : name;
}

mc_status known_kdf_check(const char *hostport, const char *username, const uint8_t salt[16], const account_kdf *kdf,
                          mc_err *err)
{
	char path[4200], key[700];
	char *data = NULL;
	size_t len = 0;
	mc_status st = home_path("known_kdf", path, sizeof path, err);
	if (st == MC_OK)
		st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK || !data)
		return st;
	snprintf(key, sizeof key, "%s/%s", hostport, username);
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line && st == MC_OK; line = strtok_r(NULL, "\n", &save)) {
		char name[700];
		account_kdf known;
		uint8_t known_salt[16];
		if (!kdf_line(line, name, sizeof name, &known, known_salt))
			continue;
		if (strcmp(name, key) == 0 && (kdf->t < known.t || kdf->m < known.m))
			st = cli_fail(
			    err, CLI_ERR_PIN,
			    "the server offers WEAKER Argon2id parameters for %.64s than you last logged in with "
			    "(t=%u m=%u KiB, was t=%u m=%u KiB): it may be impersonated or downgraded to make your "
			    "password cheaper to guess; nothing was sent. Ask your administrator; only if they lowered "
			    "them, delete the line %.80s in %.100s",
			    username, (unsigned)kdf->t, (unsigned)kdf->m, (unsigned)known.t, (unsigned)known.m, key,
			    path);
		/* Another user name with this salt, on any server; the same user reached through
		 * another address (a proxy, a second name of the host) shares its salt legitimately. */
		else if (strcmp(user_of(name), username) != 0 && mc_ct_equal(known_salt, salt, 16))
			st = cli_fail(
			    err, CLI_ERR_PIN,
			    "the server sent %.64s the salt of another account (%.80s): a server that reuses salts "
			    "may be impersonated or trying to make passwords cheaper to guess; nothing was sent. "
			    "Tell your administrator (%.100s)",
			    username, name, path);
	}
	mc_wipe(data, len);
	free(data);
	return st;
}

mc_status known_kdf_remember(const char *hostport, const char *username, const uint8_t salt[16], const account_kdf *kdf,
                             mc_err *err)
{
	char path[4200], key[700], hex[33];
	char *data = NULL, *text = NULL;
	size_t len = 0, used = 0;
	mc_status st = home_path("known_kdf", path, sizeof path, err);
	if (st == MC_OK)
		st = read_private_file(path, PRIVATE_FILE_MAX, &data, &len, err);
	if (st != MC_OK)
		return st;
	snprintf(key, sizeof key, "%s/%s", hostport, username);
	hex_of(salt, 16, hex);
	/* every other account's line as it was, this account's line replaced */
	size_t cap = len + sizeof KNOWN_KDF_HEAD + strlen(key) + 100;
	if (!(text = malloc(cap))) {
		free(data);
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	used = (size_t)snprintf(text, cap, "%s", KNOWN_KDF_HEAD);
	char *save = NULL;
	for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char name[700];
		account_kdf known;
		uint8_t known_salt[16];
		if (!kdf_line(line, name, sizeof name, &known, known_salt) || strcmp(name, key) == 0)
			continue; /* comments, damaged lines and this account's old line */
		used += (size_t)snprintf(text + used, cap - used, "%s\n", line);
	}
	used += (size_t)snprintf(text + used, cap - used, "%s %u %u %u %s\n", key, (unsigned)kdf->t, (unsigned)kdf->m,
	                         (unsigned)kdf->p, hex);
	st = used < cap ? write_private_file(path, text, used, err) : cli_fail(err, MC_ERR_NOMEM, "known_kdf too long");
	free(data);
	free(text);
	return st;
}

const char *client_hostport(const client *c)
{
	return c->hostport;
}

const char *cli_status_name(mc_status st)
{
	switch ((int)st) {
	case CLI_ERR_SESSION: return "not logged in";
	case CLI_ERR_DENIED: return "denied";
	case CLI_ERR_RETRY: return "try later";
	case CLI_ERR_PIN: return "server not trusted";
	case CLI_ERR_NETWORK: return "server error";
	case CLI_ERR_REFUSED: return "refused";
	default: return mc_status_name(st);
	}
}
