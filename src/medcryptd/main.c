/*
 * main.c: the medcryptd program: `serve` (the default) brings up the data directory (created
 * 0700 at first start with a self-signed certificate, the audit key, the server secret and one
 * admin invitation), the store, the blob store and the HTTPS daemon, prints how to reach it, and
 * stops cleanly on SIGTERM or SIGINT with a signed audit checkpoint. The offline commands
 * `audit verify`, `audit export` and `invite` work on a data directory directly, also while a
 * server runs on it. Only this file calls exit.
 */
#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "events.h"
#include "handlers/audit_log.h"
#include "handlers/invitations.h"
#include "handlers/tus.h"
#include "http.h"
#include "log.h"
#include "mailer.h"
#include "tlscert.h"
#include "util.h"
#include "webroot.h"

#define VERSION     "0.1.0"
#define DB_NAME     "medcryptd.db"
#define BLOB_DIR    "blobs"
#define SECRET_NAME "server.secret"
#define CERT_NAME   "tls.crt"
#define KEY_NAME    "tls.key"
#define WEB_DEFAULT "web/dist" /* the build's output, from the top of the source tree (make run) */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void usage(void)
{
	printf("medcryptd " VERSION ": the medcrypt server. It stores and routes sealed images; it never sees a\n"
	       "plaintext image, a private key or a password.\n\n"
	       "usage:\n"
	       "  medcryptd [serve] [OPTIONS]        run the HTTPS server (TLS 1.3 only)\n"
	       "  medcryptd invite --role ROLE [--expires-in SECONDS] [--data-dir DIR]\n"
	       "                                     make an invitation offline (e.g. a new admin)\n"
	       "  medcryptd audit verify [--data-dir DIR]   check the audit chain; exit 0 intact, 1 altered\n"
	       "  medcryptd audit export [--data-dir DIR]   print the audit log as JSON lines\n\n"
	       "options (each also MEDCRYPTD_NAME in the environment or `name = value` in the\n"
	       "configuration file; flags win over the environment, which wins over the file):\n");
	mcd_config_print_help();
	printf("\nOn first start with an empty data directory medcryptd creates it (mode 0700) with a\n"
	       "self-signed certificate for localhost, its audit signing key and server secret, and\n"
	       "prints the URL, the certificate's SHA-256 fingerprint and a one-time admin invitation.\n"
	       "Roles: admin, technician, doctor, patient, researcher. See docs/API.md, Part 2.\n"
	       "exit status: 0 ok, 1 failure (or an altered audit log), 2 usage.\n");
}

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Creates the data directory when missing; true in *created then. */
static bool ensure_data_dir(const char *dir, bool *created)
{
	*created = false;
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "medcryptd: %s is not a directory\n", dir);
			return false;
		}
		if (st.st_mode & 077)
			mcd_log(MCD_LOG_WARN, "main", "data directory %s is accessible to other users (mode %03o)", dir,
			        (unsigned)(st.st_mode & 0777));
		return true;
	}
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "medcryptd: cannot create the data directory %s: %s\n", dir, strerror(errno));
		return false;
	}
	*created = true;
	return true;
}

static bool load_secret(const char *dir, uint8_t secret[32])
{
	char *path = mcd_path_join(dir, SECRET_NAME);
	uint8_t *buf = NULL;
	size_t len = 0;
	bool ok = false;
	if (!path)
		return false;
	if (mcd_read_file(path, 64, &buf, &len)) {
		ok = len == 32;
		if (ok)
			memcpy(secret, buf, 32);
		else
			mcd_log(MCD_LOG_ERROR, "main", "%s is not 32 bytes", path);
		OPENSSL_cleanse(buf, len);
		free(buf);
	} else if (!is_file(path)) {
		ok = mcd_random(secret, 32) && mcd_write_new_file(path, secret, 32);
	} else {
		mcd_log(MCD_LOG_ERROR, "main", "cannot read %s", path);
	}
	free(path);
	return ok;
}

/* The certificate and key PEM: the configured files, or DATA_DIR/tls.crt and tls.key (made when
 * both are missing). */
static bool load_tls(const mcd_config *cfg, char **cert_pem, char **key_pem)
{
	char *cert = cfg->cert_file ? strdup(cfg->cert_file) : mcd_path_join(cfg->data_dir, CERT_NAME);
	char *key = cfg->key_file ? strdup(cfg->key_file) : mcd_path_join(cfg->data_dir, KEY_NAME);
	bool ok = cert && key;
	if (ok && !cfg->cert_file && !is_file(cert) && !is_file(key))
		ok = mcd_tls_make_self_signed(cert, key);
	size_t n;
	if (ok && !mcd_read_file(cert, 1 << 20, (uint8_t **)cert_pem, &n)) {
		fprintf(stderr, "medcryptd: cannot read the certificate %s\n", cert);
		ok = false;
	}
	if (ok && !mcd_read_file(key, 1 << 20, (uint8_t **)key_pem, &n)) {
		fprintf(stderr, "medcryptd: cannot read the private key %s\n", key);
		ok = false;
	}
	free(cert);
	free(key);
	return ok;
}

/* The web client's files (API.md §20): the configured directory, which must load, or
 * WEB_DEFAULT when it exists; "none", or no WEB_DEFAULT, serves the API alone. *source tells
 * which directory was read, or why there is none. False: a configured or present root failed
 * to load (said on stderr). */
static bool load_web(const mcd_config *cfg, mcd_webroot **web, const char **source)
{
	*web = NULL;
	const char *dir = cfg->web_root;
	if (dir && !strcmp(dir, "none")) {
		*source = "none (--web-root none)";
		return true;
	}
	struct stat st;
	if (!dir && stat(WEB_DEFAULT, &st) != 0) {
		*source = "none (no ./" WEB_DEFAULT "; build it with `make`, or name one with --web-root)";
		return true;
	}
	*source = dir ? dir : WEB_DEFAULT;
	char err[512];
	if (!(*web = mcd_webroot_load(*source, err, sizeof err))) {
		fprintf(stderr,
		        "medcryptd: web client: %s\n  (build it with `make` or `npm run build` in web/, or start with "
		        "--web-root none)\n",
		        err);
		return false;
	}
	return true;
}

static void url_of(const mcd_config *cfg, char *out, size_t cap)
{
	const char *h = cfg->listen_host;
	if (!strcmp(h, "127.0.0.1") || !strcmp(h, "::1") || !strcmp(h, "0.0.0.0") || !strcmp(h, "::"))
		snprintf(out, cap, "https://localhost:%u", cfg->port);
	else if (strchr(h, ':'))
		snprintf(out, cap, "https://[%s]:%u", h, cfg->port);
	else
		snprintf(out, cap, "https://%s:%u", h, cfg->port);
}

static void print_invitation(const char *url, const char *code, int64_t expires, const char *role, bool web)
{
	char when[64];
	time_t t = (time_t)expires;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
	printf("One-time %s invitation (valid until %s):\n"
	       "  invitation: %s\n",
	       role, when, code);
	if (web) /* the code rides in the fragment, which a browser never sends (API.md §20) */
		printf("Create the account in a browser:\n"
		       "  %s/register#code=%s\n"
		       "or from a terminal (compare the fingerprint above when asked):\n",
		       url, code);
	else
		printf("Create the account from a terminal (compare the fingerprint above when asked):\n");
	printf("  medcrypt register %s --user NAME --url %s\n"
	       "and sign in later with:\n"
	       "  medcrypt login %s --user NAME\n",
	       code, url, url);
}

/* A signed checkpoint at the current head of the chain (API.md §17: at shutdown). */
static void checkpoint_now(mcd_store *st, mcd_audit_signer *signer)
{
	int64_t seq = 0;
	uint8_t hash[32], *sig = NULL;
	size_t sig_len = 0;
	if (st->ops->audit_head(st, &seq, hash) != MCD_STORE_OK || seq == 0)
		return;
	if (!mcd_audit_sign(signer, seq, hash, &sig, &sig_len))
		return;
	mcd_store_status s = st->ops->checkpoint_add(st, seq, hash, sig, sig_len);
	if (s != MCD_STORE_OK && s != MCD_STORE_CONFLICT)
		mcd_log(MCD_LOG_WARN, "main", "shutdown checkpoint failed");
	free(sig);
}

static int serve(mcd_config *cfg)
{
	mcd_server srv;
	memset(&srv, 0, sizeof srv);
	srv.cfg = *cfg;
	int rc = EXIT_FAIL;
	char *cert_pem = NULL, *key_pem = NULL, *db = NULL, *blobs = NULL;
	struct MHD_Daemon *daemon = NULL;
	bool created;
	if (!ensure_data_dir(cfg->data_dir, &created))
		return EXIT_FAIL;
	db = mcd_path_join(cfg->data_dir, DB_NAME);
	blobs = mcd_path_join(cfg->data_dir, BLOB_DIR);
	if (!db || !blobs)
		goto cleanup;
	bool first_start = !is_file(db);
	const char *web_source = NULL;
	if (!load_secret(cfg->data_dir, srv.secret) || !load_tls(cfg, &cert_pem, &key_pem) ||
	    !load_web(cfg, &srv.web, &web_source))
		goto cleanup;
	if (!(srv.signer = mcd_audit_signer_open(cfg->data_dir)) ||
	    !(srv.store = mcd_store_sqlite_open(db, srv.signer)) || !(srv.blobs = mcd_blobstore_fs_open(blobs)) ||
	    !mcd_auth_init(&srv) || !(srv.tus = mcd_tus_open(&srv)) || !(srv.events = mcd_events_open(&srv)))
		goto cleanup;
	mcd_tus_sweep(&srv);
	char url[128], fp[96];
	url_of(cfg, url, sizeof url);
	if (cfg->smtp_url) {
		if (!(srv.mailer = mcd_mailer_open(&srv, cfg->public_url ? cfg->public_url : url)))
			goto cleanup;
		srv.on_notice = mcd_mailer_notice;
	}
	if (!mcd_tls_fingerprint(cert_pem, fp)) {
		fprintf(stderr, "medcryptd: the certificate file holds no certificate\n");
		goto cleanup;
	}
	char code[33] = "";
	int64_t expires = 0;
	if (first_start) {
		mcd_audit_event ev = {
		    mcd_now(), "-", "-", "invite", "admin", "ok", "{\"first_start\":true,\"role\":\"admin\"}"};
		if (mcd_invitation_new(srv.store, MCD_ROLE_ADMIN, MCD_INVITE_DEFAULT_SECONDS, 0, &ev, code, &expires) !=
		    MCD_STORE_OK)
			goto cleanup;
	}
	/* Signals are taken synchronously by this thread; the daemon's threads never see them. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!(daemon = mcd_http_start(&srv, cert_pem, key_pem)))
		goto cleanup;
	OPENSSL_cleanse(key_pem, strlen(key_pem));
	printf("medcryptd %s is listening on %s\n", VERSION, url);
	printf("data directory: %s\n", cfg->data_dir);
	if (srv.web)
		printf("web client: %s/ (%zu files from %s)\n", url, mcd_webroot_count(srv.web), web_source);
	else
		printf("web client: %s\n", web_source);
	printf("TLS certificate SHA-256 fingerprint:\n  %s\n", fp);
	if (first_start) {
		print_invitation(url, code, expires, "admin", srv.web != NULL);
		OPENSSL_cleanse(code, sizeof code);
	}
	fflush(stdout);
	mcd_log(MCD_LOG_INFO, "main", "listening on %s port %u", cfg->listen_host, cfg->port);
	for (;;) {
		/* Housekeeping every minute, or sooner when uploads expire sooner. */
		struct timespec tick = {srv.cfg.upload_expiry < 60 ? (time_t)srv.cfg.upload_expiry : 60, 0};
		int sig = sigtimedwait(&stop_signals, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM) {
			mcd_log(MCD_LOG_INFO, "main", "stopping on signal %d", sig);
			break;
		}
		int64_t now = mcd_now();
		srv.store->ops->sessions_expire(srv.store, now - (int64_t)srv.cfg.session_idle_seconds, now);
		mcd_tus_sweep(&srv);
	}
	mcd_events_shutdown(srv.events); /* the daemon must find no suspended stream */
	mcd_http_stop(&srv, daemon);
	daemon = NULL;
	checkpoint_now(srv.store, srv.signer);
	rc = EXIT_OK;
cleanup:
	mcd_events_shutdown(srv.events);
	mcd_http_stop(&srv, daemon);
	mcd_events_close(srv.events);
	mcd_mailer_close(srv.mailer); /* no request runs any more, so no notice comes */
	mcd_auth_fini(&srv);
	mcd_tus_close(srv.tus);
	mcd_webroot_free(srv.web); /* after the daemon: its answers point into it */
	if (srv.blobs)
		srv.blobs->ops->close(srv.blobs);
	if (srv.store)
		srv.store->ops->close(srv.store);
	mcd_audit_signer_free(srv.signer);
	OPENSSL_cleanse(srv.secret, sizeof srv.secret);
	if (key_pem) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	free(cert_pem);
	free(db);
	free(blobs);
	if (rc != EXIT_OK)
		fprintf(stderr, "medcryptd: could not start or run (see the log lines above)\n");
	return rc;
}

/* Opens the store of an existing data directory for the offline commands. */
static mcd_store *open_existing(const mcd_config *cfg, mcd_audit_signer *signer)
{
	char *db = mcd_path_join(cfg->data_dir, DB_NAME);
	mcd_store *st = NULL;
	if (db && is_file(db))
		st = mcd_store_sqlite_open(db, signer);
	else
		fprintf(stderr, "medcryptd: no database in %s (is it a medcryptd data directory?)\n", cfg->data_dir);
	free(db);
	return st;
}

static int audit_verify(const mcd_config *cfg)
{
	mcd_store *st = open_existing(cfg, NULL);
	char *pub_path = mcd_path_join(cfg->data_dir, "audit.pub");
	uint8_t *pub = NULL;
	size_t n = 0;
	int rc = EXIT_USAGE;
	if (st && pub_path && mcd_read_file(pub_path, 1 << 16, &pub, &n)) {
		mcd_audit_verdict v;
		memset(&v, 0, sizeof v);
		if (mcd_audit_verify(st, (const char *)pub, &v) != MCD_STORE_OK) {
			fprintf(stderr, "medcryptd: cannot read the audit log\n");
			rc = EXIT_FAIL;
		} else if (v.ok) {
			printf("audit log intact: %lld records, %lld signed checkpoints\n", (long long)v.records,
			       (long long)v.checkpoints);
			rc = EXIT_OK;
		} else {
			printf("audit log ALTERED: first bad record seq %lld: %s\n", (long long)v.first_bad, v.reason);
			rc = EXIT_FAIL;
		}
	} else if (st) {
		fprintf(stderr, "medcryptd: cannot read %s\n", pub_path ? pub_path : "audit.pub");
	}
	free(pub);
	free(pub_path);
	if (st)
		st->ops->close(st);
	return rc;
}

static int print_record(void *ctx, const mcd_audit_record *rec)
{
	(void)ctx;
	json_t *o = mcd_audit_record_json(rec);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -1;
	puts(text);
	free(text);
	return 0;
}

static int audit_export(const mcd_config *cfg)
{
	mcd_store *st = open_existing(cfg, NULL);
	if (!st)
		return EXIT_USAGE;
	mcd_store_status s = st->ops->audit_list(st, 0, 0, print_record, NULL);
	st->ops->close(st);
	return s == MCD_STORE_OK && fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int invite(const mcd_config *cfg, const char *role_name, const char *expires_in)
{
	mcd_role role = role_name ? mcd_role_parse(role_name) : MCD_ROLE_NONE;
	long long lifetime = MCD_INVITE_DEFAULT_SECONDS;
	if (expires_in) {
		char *end;
		lifetime = strtoll(expires_in, &end, 10);
		if (*end || lifetime < 60 || lifetime > MCD_INVITE_MAX_SECONDS) {
			fprintf(stderr, "medcryptd: --expires-in must be 60 to %d seconds\n", MCD_INVITE_MAX_SECONDS);
			return EXIT_USAGE;
		}
	}
	if (role == MCD_ROLE_NONE) {
		fprintf(stderr, "medcryptd: invite needs --role admin|technician|doctor|patient|researcher\n");
		return EXIT_USAGE;
	}
	mcd_audit_signer *signer = mcd_audit_signer_open(cfg->data_dir);
	mcd_store *st = signer ? open_existing(cfg, signer) : NULL;
	int rc = EXIT_FAIL;
	if (st) {
		char code[33], detail[80], url[128];
		int64_t expires = 0;
		snprintf(detail, sizeof detail, "{\"offline\":true,\"role\":\"%s\"}", mcd_role_name(role));
		mcd_audit_event ev = {mcd_now(), "-", "-", "invite", mcd_role_name(role), "ok", detail};
		if (mcd_invitation_new(st, role, lifetime, 0, &ev, code, &expires) == MCD_STORE_OK) {
			url_of(cfg, url, sizeof url);
			print_invitation(url, code, expires, mcd_role_name(role), true);
			OPENSSL_cleanse(code, sizeof code);
			rc = EXIT_OK;
		}
		st->ops->close(st);
	}
	mcd_audit_signer_free(signer);
	return rc;
}

/* Takes "--NAME VALUE" or "--NAME=VALUE" out of argv (for options only one command has). */
static const char *take_option(int *argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	for (int i = 1; i < *argc; i++) {
		if (strncmp(argv[i], name, n) != 0)
			continue;
		const char *value = NULL;
		int used = 0;
		if (argv[i][n] == '=') {
			value = argv[i] + n + 1;
			used = 1;
		} else if (argv[i][n] == 0 && i + 1 < *argc) {
			value = argv[i + 1];
			used = 2;
		} else {
			continue;
		}
		memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used) * sizeof *argv);
		*argc -= used;
		return value;
	}
	return NULL;
}

/* jansson's memory is wiped when freed: request bodies carry auth keys, answers CSRF tokens. */
static void json_free_wiped(void *p)
{
	if (p) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

int main(int argc, char **argv)
{
	json_set_alloc_funcs(malloc, json_free_wiped);
	/* Large blocks (Argon2id's 19 MiB per login, upload rings) come from mmap and go back to
	 * the system when freed. Left to glibc, the threshold rises after the first such free, and
	 * each worker thread's arena then keeps its last 19 MiB for good: 4 threads, 76 MiB. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage();
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("medcryptd %s\n", VERSION);
			return EXIT_OK;
		}
	}
	int first = 1;
	const char *command = "serve", *sub = NULL, *role = NULL, *expires_in = NULL;
	if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
		command = argv[1];
		first = 2;
		if (!strcmp(command, "audit")) {
			sub = argc > 2 ? argv[2] : NULL;
			first = 3;
			if (!sub || (strcmp(sub, "verify") != 0 && strcmp(sub, "export") != 0)) {
				fprintf(stderr, "medcryptd: audit needs verify or export (see medcryptd --help)\n");
				return EXIT_USAGE;
			}
		} else if (!strcmp(command, "invite")) {
			role = take_option(&argc, argv, "--role");
			expires_in = take_option(&argc, argv, "--expires-in");
		} else if (strcmp(command, "serve") != 0) {
			fprintf(stderr, "medcryptd: unknown command '%s' (see medcryptd --help)\n", command);
			return EXIT_USAGE;
		}
	}
	mcd_config cfg;
	if (!mcd_config_load(&cfg, argc, argv, first)) {
		mcd_config_free(&cfg);
		return EXIT_USAGE;
	}
	mcd_log_set_level(cfg.log_level);
	int rc;
	if (!strcmp(command, "audit"))
		rc = !strcmp(sub, "verify") ? audit_verify(&cfg) : audit_export(&cfg);
	else if (!strcmp(command, "invite"))
		rc = invite(&cfg, role, expires_in);
	else
		rc = serve(&cfg);
	mcd_config_free(&cfg);
	return rc;
}
