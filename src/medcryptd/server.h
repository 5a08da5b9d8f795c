/*
 * server.h: the state one running medcryptd shares between its threads: the configuration
 * (config.c fills it from flags, environment and file), the store, the blob store, the audit
 * signer, the server secret and the authentication state (auth.c). main.c owns it; everything
 * else borrows it for the life of the daemon.
 */
#ifndef MEDCRYPTD_SERVER_H
#define MEDCRYPTD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "blobstore.h"
#include "log.h"
#include "store.h"

#define MCD_SESSION_IDLE_SECONDS   1800        /* API.md §12: 30 minutes without a request */
#define MCD_SESSION_MAX_SECONDS    (12 * 3600) /* 12 hours after login */
#define MCD_SESSION_TOUCH_SECONDS  60          /* last_seen is written at most once a minute */
#define MCD_REAUTH_SECONDS         300         /* API.md §13: re-authentication window */
#define MCD_LOCKOUT_AFTER          5           /* failures that lock an account or address */
#define MCD_POW_AFTER              3           /* failures from which a proof of work is asked */
#define MCD_LOCKOUT_CAP_SECONDS    (24 * 3600)
#define MCD_POW_MAX_AGE            300
#define MCD_INVITE_DEFAULT_SECONDS (7 * 24 * 3600)
#define MCD_INVITE_MAX_SECONDS     (30 * 24 * 3600)

typedef struct mcd_config {
	char *config_file;
	char *listen_host; /* numeric address: 127.0.0.1, ::1, 0.0.0.0, :: */
	unsigned port;
	char *data_dir;
	char *cert_file; /* NULL: DATA_DIR/tls.crt, made at first start */
	char *key_file;
	char *web_root; /* NULL: ./web/dist when it exists; "none": no web client */
	uint64_t max_upload;
	unsigned upload_expiry;    /* seconds a resumable upload lives after its last PATCH */
	unsigned max_open_uploads; /* unfinished resumable uploads per user */
	unsigned max_hashes;
	unsigned threads;
	bool allow_patient_signup;
	mcd_log_level log_level;
	unsigned connection_limit;
	unsigned per_ip_limit;
	unsigned connection_timeout;
	unsigned max_event_streams; /* open GET /api/v1/events streams at most */
	/* Notice mails (mailer.h): all NULL when no --smtp-url. The password is in a file, never
	 * here. */
	char *smtp_url; /* smtp://HOST:PORT or smtps://HOST:PORT */
	bool smtp_starttls;
	char *smtp_from;
	char *smtp_user;
	char *smtp_password_file;
	char *smtp_ca_file;         /* PEM CA certificates that verify the SMTP server; NULL: the system's */
	unsigned smtp_min_interval; /* seconds between two mails to one user */
	char *public_url;           /* the link in a mail; NULL: the listen URL */
	/* Hidden, for tests: the first lockout's length, the proof-of-work difficulty, the session
	 * lifetimes (MCD_SESSION_IDLE_SECONDS, MCD_SESSION_MAX_SECONDS) and how long a login waits
	 * for a free Argon2id slot before 503. */
	unsigned lockout_base_seconds;
	unsigned pow_bits;
	unsigned session_idle_seconds;
	unsigned session_max_seconds;
	unsigned hash_wait_seconds;
} mcd_config;

struct mcd_auth;
struct mcd_webroot;
typedef struct mcd_server {
	mcd_config cfg;
	mcd_store *store;
	mcd_blobstore *blobs;
	mcd_audit_signer *signer;
	uint8_t secret[32]; /* DATA_DIR/server.secret: CSRF, pre-login salts, proof-of-work MACs */
	struct mcd_auth *auth;
	struct mcd_audit_queue *audit_queue; /* http.c: downloads' records (audit_queue.h) */
	struct mcd_tus *tus;                 /* resumable uploads (handlers/tus.h) */
	struct mcd_events *events;           /* GET /api/v1/events (events.h); NULL: none */
	struct mcd_webroot *web;             /* the web client's files (webroot.h); NULL: none */
	struct mcd_mailer *mailer;           /* notice mails (mailer.h); NULL: none */
	/* Called by mcd_events_notify for every notice, on the request's thread; must not block.
	 * main.c sets it to mcd_mailer_notice when mail is configured. NULL: none. */
	void (*on_notice)(struct mcd_server *srv, int64_t user_id, const char *type);
} mcd_server;

#endif
