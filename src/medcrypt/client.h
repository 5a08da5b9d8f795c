/*
 * client.h: the medcrypt CLI as a client of medcryptd (docs/API.md Part 2): the per-user
 * directory $MEDCRYPT_HOME, the session file, the known_servers file that pins each server's
 * certificate on first use (as SSH's known_hosts does), and HTTPS requests over libcurl (TLS 1.3
 * only, the pinned certificate checked during the handshake, before any request byte is sent).
 *
 * Ownership: a client, a session and an http_response are owned by their caller and released
 * with client_free, session_clear and http_response_clear (each accepts a zeroed or NULL value).
 * Strings handed in are copied.
 */
#ifndef MEDCRYPT_CLIENT_H
#define MEDCRYPT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* The fingerprint of a server certificate: SHA-256 of its DER encoding. */
#define CERT_FP_LEN 32

/* $MEDCRYPT_HOME, else $HOME/.config/medcrypt; created with mode 0700 when missing. Returns a
 * static string, or NULL with err set. */
const char *medcrypt_home(mc_err *err);

/* The session of the logged-in user, kept in $MEDCRYPT_HOME/session (mode 0600). token and
 * csrf are secrets: never printed. */
typedef struct session {
	char *url; /* https://host:port, without a trailing slash */
	char *username;
	char *token;    /* the __Host-medcrypt cookie */
	char *csrf;     /* the X-CSRF-Token */
	char *key_path; /* the user's NAME.key */
} session;

/* Reads the session file. CLI_ERR_SESSION (with a hint to run 'medcrypt login') when absent. */
mc_status session_load(session *s, mc_err *err);
/* Writes the session file atomically (temporary file created 0600 with O_EXCL, then rename). */
mc_status session_save(const session *s, mc_err *err);
/* The last session even after a logout (url, username and key_path; token and csrf may be
 * empty), for 'medcrypt login' without arguments. */
mc_status session_load_last(session *s, mc_err *err);
/* Wipes and frees the strings of s. */
void session_clear(session *s);

/* How a server never seen before is accepted (login and register only). */
typedef struct trust_opts {
	bool allow_new;          /* false: an unknown server is refused (CLI_ERR_PIN) */
	bool assume_yes;         /* --yes or MEDCRYPT_ASSUME_YES=1: accept without asking */
	const char *fingerprint; /* --fingerprint HEX: accept only this certificate */
} trust_opts;

typedef struct client client;

/* Connects to url's server and checks its certificate against known_servers: a known server
 * must present the pinned certificate (else CLI_ERR_PIN, naming both fingerprints and the file
 * to edit); an unknown one is accepted per trust (NULL: refused), then recorded. Free with
 * client_free. Errors: CLI_ERR_PIN, CLI_ERR_NETWORK, MC_ERR_MISUSE (bad URL). */
mc_status client_open(const char *url, const trust_opts *trust, client **out, mc_err *err);
void client_free(client *c);
/* The normalized URL (https://host:port) the client talks to; owned by c. */
const char *client_url(const client *c);
/* Sets (or with NULL clears) the session cookie and CSRF token sent with every request. */
mc_status client_set_session(client *c, const char *token, const char *csrf);
/* The session cookie the server set in the last response, or NULL; owned by c. */
const char *client_new_token(const client *c);
/* Limits download speed (bytes per second; 0 = none). */
void client_limit_rate(client *c, long long bytes_per_second);

/* A response: status, the JSON body when there is one, and the headers a caller needs. */
typedef struct http_response {
	long status;
	json_t *json;            /* parsed body (object), or NULL */
	long retry_after;        /* Retry-After in seconds, or -1 */
	char etag[128];          /* ETag, or "" */
	long long content_len;   /* Content-Length, or -1 */
	long long upload_offset; /* Upload-Offset (tus), or -1 */
	char location[256];      /* Location, or "" */
} http_response;
void http_response_clear(http_response *r);

/* Sends a request with an optional JSON body (borrowed) and reads the JSON answer. MC_OK when
 * an HTTP answer arrived, whatever its status; CLI_ERR_NETWORK or CLI_ERR_PIN otherwise. */
mc_status client_request(client *c, const char *method, const char *path, json_t *body, http_response *r, mc_err *err);

/* client_request, then: MC_OK when the status is expect (the JSON body, if any, goes to *out,
 * which may be NULL), else the error of http_error. what names the action for messages. */
mc_status client_call(client *c, const char *method, const char *path, json_t *body, long expect, json_t **out,
                      const char *what, mc_err *err);

/* Maps an error answer (docs/API.md §12) to a status and a clear message starting with what. */
mc_status http_error(const http_response *r, const char *what, mc_err *err);

/* GETs a small binary answer (at most max bytes) into *out (free with mc_buf_free) on 200;
 * any other status is mapped by http_error. */
mc_status client_get_bytes(client *c, const char *path, size_t max, uint8_t **out, size_t *len, const char *what,
                           mc_err *err);

/* Uploads size bytes read from fd as an application/octet-stream POST with Content-Length,
 * with progress on stderr. */
mc_status client_upload(client *c, const char *path, int fd, long long size, const char *what, http_response *r,
                        mc_err *err);

/* What the server learns of an upload besides its bytes (docs/API.md §15, "Naming the patient on
 * upload"): the patient account the image is about, and the sender's de-identification mark.
 * They travel as the query parameters patient=U and deidentified=1 of POST /api/v1/images, and
 * as the keys "patient" and "deidentified" of the tus Upload-Metadata. */
typedef struct upload_params {
	const char *patient; /* a user name, or NULL: no patient */
	bool deidentified;   /* set by 'medcrypt send --deidentified' (deidclaim.c) */
} upload_params;

/* The query string of POST /api/v1/images for up ("" or "?patient=U&deidentified=1") into out;
 * false when it does not fit. up may be NULL. */
bool upload_query(const upload_params *up, char *out, size_t out_size);

/* Uploads size bytes read from fd (from its start) with the tus 1.0 protocol of API.md §15a:
 * creates an upload at endpoint, PATCHes it in pieces of 16 MiB, and when a connection drops,
 * or the server answers 5xx or 409, waits (1 s, doubling to 30 s), asks HEAD for the offset and
 * resumes there; at most 6 failures in a row. Progress with time left on stderr. MC_OK when the
 * server gave a final answer, which is in r: 201 with the image's JSON when the upload was
 * stored, else the error (the creation's 404 from a server without resumable uploads, a 400 or
 * 403 refusal of the completed file, ...), for http_error. Otherwise the error of the last
 * attempt (CLI_ERR_NETWORK), or MC_ERR_IO when fd cannot be read. up (may be NULL) goes into the
 * creation's Upload-Metadata. */
mc_status client_tus_upload(client *c, const char *endpoint, int fd, long long size, const upload_params *up,
                            const char *what, http_response *r, mc_err *err);

/* Downloads path into fd (positioned at its end) starting at offset: with offset > 0 it sends
 * Range: bytes=offset- and If-Range: if_range. On 200 fd is truncated to 0 first, on 206 bytes
 * are appended; *restarted tells which. Any other status leaves fd untouched and is returned in
 * r (with its JSON error). on_etag is called with the answer's ETag before the first byte is
 * written, so the caller can record it. */
mc_status client_download(client *c, const char *path, int fd, long long offset, const char *if_range, long long total,
                          void (*on_etag)(void *ctx, const char *etag), void *ctx, bool *restarted, http_response *r,
                          mc_err *err);

/* A long-lived GET (the event stream of docs/API.md §17a): on a 200 every body byte goes to sink
 * as it arrives, and the transfer lasts until the server closes it or sink returns false. It also
 * ends when stop(ctx) returns true (polled about once a second; stop may be NULL), and with
 * CLI_ERR_NETWORK when no byte arrived for idle_seconds (0: no limit). extra_headers: a
 * NULL-terminated list of "Name: value" lines, or NULL. MC_OK when an HTTP answer arrived and
 * ended (normally, or by sink or stop), with its status in r; any status but 200 brings its JSON
 * error in r, for http_error. CLI_ERR_NETWORK or CLI_ERR_PIN otherwise. */
mc_status client_stream(client *c, const char *path, const char *const *extra_headers, long idle_seconds,
                        bool (*sink)(void *ctx, const char *buf, size_t len), bool (*stop)(void *ctx), void *ctx,
                        http_response *r, mc_err *err);

/* "host:port" of the server; owned by c. */
const char *client_hostport(const client *c);

/* Trust on first use for other users' keys: $MEDCRYPT_HOME/known_users keeps the fingerprints
 * (hex) each user of each server had when first used. A user seen before must still have them
 * (CLI_ERR_PIN otherwise, naming the file); one never seen is recorded. */
mc_status known_user_check(const char *hostport, const char *username, const char *enc_hex, const char *sign_hex,
                           mc_err *err);

/* Trust on first use for each account's Argon2id parameters (SECURITY.md §3.13): the file
 * $MEDCRYPT_HOME/known_kdf keeps, per server and user, the salt and the parameters of the last
 * successful login or registration, one line "HOST:PORT/USER t m p SALT-HEX". A pre-login answer
 * is refused (CLI_ERR_PIN, the message saying what it may mean and which line to delete) when
 * its t or m is lower than the recorded ones, or its salt is recorded for another account (one
 * salt for many accounts lets one precomputed dictionary serve them all). A damaged line
 * protects nothing and is replaced at the next success. */
struct account_kdf;
mc_status known_kdf_check(const char *hostport, const char *username, const uint8_t salt[16],
                          const struct account_kdf *kdf, mc_err *err);
/* Records salt and kdf for the account (replacing its line), after a login or registration
 * succeeded with them. Written to a new file of mode 0600 and renamed into place. */
mc_status known_kdf_remember(const char *hostport, const char *username, const uint8_t salt[16],
                             const struct account_kdf *kdf, mc_err *err);

/* ---- shared by the commands (cmd_account.c) ---- */

/* Loads the session and connects to its server (which must be pinned already) with it. */
mc_status session_connect(session *s, client **c, mc_err *err);

/* Asks the server for the password again (POST /api/v1/reauth, §13), with the password from
 * the usual sources (pp is filled and left for the caller to reuse and wipe), or the one pp
 * holds already when pp->len > 0. */
mc_status session_reauth(client *c, const session *s, int passphrase_fd, passphrase *pp, mc_err *err);

/* Fetches a user's directory entry (GET /api/v1/users/NAME). Free with json_decref. */
mc_status fetch_user(client *c, const char *username, json_t **user, mc_err *err);

/* The public key of a directory entry (field "enc_public_key" or "sign_public_key"), checked
 * against the entry's fingerprint. Free with mc_pubkey_free. */
mc_status user_pubkey(const json_t *user, mc_key_role role, mc_pubkey **pk, mc_err *err);

/* MC_ERR_MISUSE: not a user name of §12. */
mc_status fail_usage_name(mc_err *err, const char *username);

/* Percent-encodes a path segment (usernames, ids) into out; false if it does not fit. */
bool url_segment(const char *s, char *out, size_t out_size);

/* The session's key file (NAME.key); NULL with MC_ERR_KEY in err when the session names none. */
const char *session_key_path(const session *s, mc_err *err);

/* Reads a small private file (the session, known_*, a PatientID mapping) whole, refusing a
 * symbolic link (O_NOFOLLOW): *data (*len bytes and a terminating NUL; free with free(), after
 * mc_wipe when it may hold a secret). MC_OK with *data NULL when the file does not exist;
 * MC_ERR_IO when it is not a regular file of at most max bytes (a whole number of MiB) or cannot
 * be read whole. */
mc_status read_private_file(const char *path, size_t max, char **data, size_t *len, mc_err *err);

#endif
