/*
 * cli.h: what the medcrypt commands share: the error type of a command (a library status plus
 * a message), passphrase input, atomic output files, progress on stderr, and JSON output.
 */
#ifndef MEDCRYPT_CLI_H
#define MEDCRYPT_CLI_H

#include <jansson.h>
#include <medcrypt/container.h>
#include <medcrypt/image.h>
#include <medcrypt/key.h>
#include <medcrypt/medcrypt.h>
#include <stdbool.h>
#include <stdio.h>

#define SEALED_SUFFIX ".medcrypt"

/* Every command: returns an mc_status (MC_OK, or the failure class that main maps to an exit
 * code) and leaves a message in err. */
typedef mc_status (*cmd_fn)(int argc, char **argv, mc_err *err);

mc_status cmd_keygen(int argc, char **argv, mc_err *err);
mc_status cmd_seal(int argc, char **argv, mc_err *err);
mc_status cmd_open(int argc, char **argv, mc_err *err);
mc_status cmd_verify(int argc, char **argv, mc_err *err);
mc_status cmd_inspect(int argc, char **argv, mc_err *err);
mc_status cmd_share(int argc, char **argv, mc_err *err);
mc_status cmd_unshare(int argc, char **argv, mc_err *err);
mc_status cmd_fingerprint(int argc, char **argv, mc_err *err);
mc_status cmd_meta(int argc, char **argv, mc_err *err);
mc_status cmd_preview(int argc, char **argv, mc_err *err);
mc_status cmd_redact(int argc, char **argv, mc_err *err);  /* cmd_redact.c */
mc_status cmd_restore(int argc, char **argv, mc_err *err); /* cmd_redact.c */
mc_status cmd_deid(int argc, char **argv, mc_err *err);    /* cmd_deid.c */
mc_status cmd_reid(int argc, char **argv, mc_err *err);    /* cmd_deid.c */
/* The JSON object `medcrypt meta --json` prints for a DICOM, PNG or JPEG file, with "file" set
 * to the base name of path (cmd_meta.c). MC_ERR_UNSUPPORTED for any other type. The caller
 * json_decref()s *out. */
mc_status meta_of_file(const char *path, json_t **out, mc_err *err);
/* A preview of the file at path (cmd_preview.c): block and max_size 0 mean the defaults; the
 * PNG is released with mc_buf_free. info may be NULL. */
mc_status make_preview(const char *path, uint32_t block, uint32_t max_size, uint8_t **png, size_t *len,
                       mc_preview_info *info, mc_err *err);
/* Parses a decimal number from 1 to max. */
bool parse_preview_number(const char *s, uint32_t max, uint32_t *out);
/* The server client (issue 4): cmd_account.c and cmd_images.c. */
mc_status cmd_login(int argc, char **argv, mc_err *err);
mc_status cmd_logout(int argc, char **argv, mc_err *err);
mc_status cmd_whoami(int argc, char **argv, mc_err *err);
mc_status cmd_register(int argc, char **argv, mc_err *err);
mc_status cmd_invite(int argc, char **argv, mc_err *err);
mc_status cmd_users(int argc, char **argv, mc_err *err);
mc_status cmd_send(int argc, char **argv, mc_err *err);
mc_status cmd_ls(int argc, char **argv, mc_err *err);
mc_status cmd_get(int argc, char **argv, mc_err *err);
mc_status cmd_share_any(int argc, char **argv, mc_err *err); /* share ID --to USER, else cmd_share */
mc_status cmd_revoke(int argc, char **argv, mc_err *err);
mc_status cmd_rm(int argc, char **argv, mc_err *err);
mc_status cmd_admin(int argc, char **argv, mc_err *err); /* cmd_admin.c */

/* Failures of the server client beyond the library's classes (main.c maps them to exit codes
 * 10 to 15; a wrong account password is MC_ERR_KEY, exit 3, like a wrong key passphrase). */
#define CLI_ERR_SESSION ((mc_status)100) /* not logged in, or the session expired */
#define CLI_ERR_DENIED  ((mc_status)101) /* no such object, or not allowed (HTTP 403/404) */
#define CLI_ERR_RETRY   ((mc_status)102) /* account locked or server busy: try again later */
#define CLI_ERR_PIN     ((mc_status)103) /* server certificate changed, or a new server not accepted */
#define CLI_ERR_NETWORK ((mc_status)104) /* server unreachable, server error, or a malformed answer */
#define CLI_ERR_REFUSED ((mc_status)105) /* the server refused the request (name taken, bad input) */
/* The name of a status, including the CLI's own. */
const char *cli_status_name(mc_status st);

/* Prints the help of a command to f. */
void usage_of(const char *command, FILE *f);
/* Reports a usage error: MC_ERR_MISUSE with the message, and a pointer to --help. */
mc_status usage_error(mc_err *err, const char *command, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats the message into err, sets err->status = st and returns st. */
mc_status cli_fail(mc_err *err, mc_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A user name of API.md §12: 1 to 64 of [a-z0-9._-], starting with a letter or digit. */
bool cli_valid_username(const char *u);
/* An id as the server makes them (images, messages, consents): 32 lowercase hex digits. */
bool cli_valid_id(const char *id);
/* "WHAT: malformed answer from the server" as CLI_ERR_NETWORK. */
mc_status cli_bad_answer(mc_err *err, const char *what);
/* A time of the server's JSON (seconds since the epoch) as local "YYYY-MM-DD HH:MM" ("-" if none). */
void cli_local_time(json_t *t, char *out, size_t size);

/* Passphrase sources, in order: --passphrase-fd N, $MEDCRYPT_PASSPHRASE, a prompt on the
 * terminal (twice when confirm). The result is wiped by passphrase_free. */
typedef struct passphrase {
	char buf[1025];
	size_t len;
} passphrase;
mc_status passphrase_get(passphrase *pp, int fd, const char *prompt, bool confirm, mc_err *err);
void passphrase_free(passphrase *pp);
/* The passphrase for a key file: asked for only when the file holds an encrypted key, as
 * mc_key_file_kind says (pp is left empty otherwise). A file that cannot be read (missing, a
 * symbolic link, too large) is an error before anyone is asked. */
mc_status identity_passphrase(const char *path, int passphrase_fd, passphrase *pp, mc_err *err);
/* Warns on stderr when a loaded identity was not passphrase-protected on disk. */
void warn_unprotected(const char *path, const mc_identity *id);
/* Loads an identity, asking for the passphrase when the file is encrypted. */
mc_status load_identity(const char *path, int passphrase_fd, int which, mc_identity **out, mc_err *err);

/* An output that appears under its final name only when committed: a temporary file in the
 * same directory, renamed into place; or stdout for "-". */
typedef struct out_file {
	char *path;
	char *tmp_path;
	int fd;
	bool is_stdout;
	bool force;
} out_file;
mc_status out_begin(out_file *o, const char *path, bool force, mode_t mode, mc_err *err);
mc_status out_commit(out_file *o, mc_err *err);
void out_abort(out_file *o);

/* Opens an input ("-" for stdin). *size gets the size of a regular file, or -1. */
mc_status in_open(const char *path, int *fd, long long *size, mc_err *err);
void in_close(int fd);

/* Progress on stderr when it is a terminal. */
typedef struct progress {
	bool enabled;
	const char *what;
	long long total;
	double start, last;
	bool (*cancel)(void *ctx); /* polled with every update: true stops the work */
	void *cancel_ctx;
} progress;
void progress_init(progress *pr, const char *what, long long total);
int progress_cb(void *ctx, uint64_t done);
void progress_end(progress *pr);

/* Makes jansson wipe every block it frees (the size is kept in a header of each block). main()
 * calls it before any other jansson call: blocks allocated before would be freed wrongly. */
void json_use_wiping_alloc(void);
/* The text of json as json_dumps gives it, in memory from malloc: release it with free()
 * (after mc_wipe when it may hold a secret). NULL when out of memory or not dumpable.
 * json_dumps itself must not be used: its text comes from the wiping allocator. */
char *json_text(const json_t *json, size_t flags);

/* JSON output helpers. */
void json_print(json_t *obj);
json_t *json_fp(const uint8_t *fp);

/* Writes all of buf to o; MC_ERR_IO with a message on failure. */
mc_status write_all(mc_output o, const uint8_t *buf, size_t len, mc_err *err);

/* The arguments of a command that takes only --json and one file ("meta", "fingerprint"). */
mc_status parse_json_and_file(const char *command, int argc, char **argv, bool *json, const char **path, mc_err *err);

/* Parses an --passphrase-fd value. */
bool parse_fd(const char *s, int *fd);

/* The options the server commands share, for the default branch of a getopt_long loop (c and
 * its argument arg): 'P' (--passphrase-fd N) sets *pfd, 'j' (--json) sets *json. Any other c,
 * or 'P' when pfd is NULL (a command without the option), is the usage error "unknown option"
 * of command; a bad descriptor is a usage error too (MC_ERR_MISUSE, also in err->status). */
mc_status common_option(const char *command, int c, const char *arg, int *pfd, bool *json, mc_err *err);
/* The end of the getopt_long options table of a command that takes those options. */
#define COMMON_OPTIONS                                                                                                 \
	{"passphrase-fd", required_argument, NULL, 'P'}, {"json", no_argument, NULL, 'j'},                             \
	{                                                                                                              \
		NULL, 0, NULL, 0                                                                                       \
	}

#endif
