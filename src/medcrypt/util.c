/*
 * util.c: the pieces every medcrypt command uses: passphrases (never from argv), atomic
 * output files, inputs, the progress line, and JSON printing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

mc_status usage_error(mc_err *err, const char *command, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err->status = MC_ERR_MISUSE;
	snprintf(err->msg, sizeof err->msg, "%s (see 'medcrypt %s --help')", msg, command);
	return MC_ERR_MISUSE;
}

mc_status cli_fail(mc_err *err, mc_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->status = st;
	return st;
}

bool parse_fd(const char *s, int *fd)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20)
		return false;
	*fd = (int)v;
	return true;
}

mc_status common_option(const char *command, int c, const char *arg, int *pfd, bool *json, mc_err *err)
{
	if (c == 'j') {
		*json = true;
		return MC_OK;
	}
	if (c != 'P' || !pfd)
		return usage_error(err, command, "unknown option");
	if (!parse_fd(arg, pfd))
		return usage_error(err, command, "--passphrase-fd needs a file descriptor number");
	return MC_OK;
}

void passphrase_free(passphrase *pp)
{
	mc_wipe(pp, sizeof *pp);
}

/* Reads one line (without its newline) from fd into pp. */
static mc_status read_line(int fd, passphrase *pp, mc_err *err)
{
	pp->len = 0;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cli_fail(err, MC_ERR_IO, "cannot read the passphrase: %s", strerror(errno));
		if (n == 0 || c == '\n')
			break;
		if (pp->len + 1 >= sizeof pp->buf)
			return cli_fail(err, MC_ERR_MISUSE, "the passphrase is longer than 1024 bytes");
		pp->buf[pp->len++] = c;
	}
	if (pp->len && pp->buf[pp->len - 1] == '\r')
		pp->len--;
	pp->buf[pp->len] = '\0';
	return MC_OK;
}

static mc_status prompt_tty(passphrase *pp, const char *prompt, mc_err *err)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	struct termios old, quiet;
	if (fd < 0)
		return cli_fail(
		    err, MC_ERR_MISUSE,
		    "a passphrase is needed: no terminal to ask on; use --passphrase-fd N or MEDCRYPT_PASSPHRASE");
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	mc_status st = read_line(fd, pp, err);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
	}
	close(fd);
	return st;
}

mc_status passphrase_get(passphrase *pp, int fd, const char *prompt, bool confirm, mc_err *err)
{
	memset(pp, 0, sizeof *pp);
	if (fd >= 0)
		return read_line(fd, pp, err);
	char *env = getenv("MEDCRYPT_PASSPHRASE");
	if (env) {
		size_t len = strlen(env);
		if (len >= sizeof pp->buf)
			return cli_fail(err, MC_ERR_MISUSE, "MEDCRYPT_PASSPHRASE is longer than 1024 bytes");
		memcpy(pp->buf, env, len + 1);
		pp->len = len;
		/* Read once: wipe our copy of the environment so it is not left in memory. */
		mc_wipe(env, len);
		unsetenv("MEDCRYPT_PASSPHRASE");
		return MC_OK;
	}
	mc_status st = prompt_tty(pp, prompt, err);
	if (st != MC_OK || !confirm)
		return st;
	passphrase again;
	memset(&again, 0, sizeof again);
	st = prompt_tty(&again, "Repeat the passphrase: ", err);
	if (st == MC_OK && (again.len != pp->len || !mc_ct_equal(again.buf, pp->buf, pp->len)))
		st = cli_fail(err, MC_ERR_MISUSE, "the two passphrases differ");
	passphrase_free(&again);
	return st;
}

mc_status identity_passphrase(const char *path, int passphrase_fd, passphrase *pp, mc_err *err)
{
	/* Ask for a passphrase only when the file holds an encrypted key. The library reads the
	 * file (O_NOFOLLOW, wiped after): a symlinked or unreadable key is refused here, before
	 * anyone is asked. */
	mc_key_file_info info;
	memset(pp, 0, sizeof *pp);
	mc_status st = mc_key_file_kind(path, &info, err);
	if (st != MC_OK || !info.encrypted)
		return st;
	char prompt[300];
	snprintf(prompt, sizeof prompt, "Passphrase for %.250s: ", path);
	return passphrase_get(pp, passphrase_fd, prompt, false, err);
}

void warn_unprotected(const char *path, const mc_identity *id)
{
	if (id && !mc_identity_was_encrypted(id))
		fprintf(stderr,
		        "medcrypt: warning: %s is not passphrase-protected: anyone who can read it holds the key\n",
		        path);
}

mc_status load_identity(const char *path, int passphrase_fd, int which, mc_identity **out, mc_err *err)
{
	passphrase pp;
	mc_status st = identity_passphrase(path, passphrase_fd, &pp, err);
	if (st == MC_OK)
		st = mc_identity_load(path, pp.buf, pp.len, which, out, err);
	passphrase_free(&pp);
	if (st == MC_OK)
		warn_unprotected(path, *out);
	return st;
}

/* The temporary files being written, removed if a signal stops the program (they may hold
 * plaintext). A command has at most two outputs open at once (open --meta-out). */
#define MAX_PENDING 4
static char *volatile pending_tmp[MAX_PENDING];

static void pending_set(char *path, char *old)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending_tmp[i] == old) {
			pending_tmp[i] = path;
			return;
		}
}

static void on_signal(int sig)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		char *p = pending_tmp[i];
		if (p)
			unlink(p);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void watch_signals(void)
{
	static bool installed;
	if (installed)
		return;
	installed = true;
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

mc_status out_begin(out_file *o, const char *path, bool force, mode_t mode, mc_err *err)
{
	memset(o, 0, sizeof *o);
	o->fd = -1;
	o->force = force;
	if (strcmp(path, "-") == 0) {
		o->is_stdout = true;
		o->fd = STDOUT_FILENO;
		return MC_OK;
	}
	struct stat sb;
	if (!force && lstat(path, &sb) == 0)
		return cli_fail(err, MC_ERR_IO, "%s exists: not overwriting it (use --force)", path);
	o->path = strdup(path);
	size_t n = strlen(path) + 32;
	o->tmp_path = malloc(n);
	if (!o->path || !o->tmp_path) {
		out_abort(o);
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	snprintf(o->tmp_path, n, "%s.part-XXXXXX", path);
	o->fd = mkostemp(o->tmp_path, O_CLOEXEC);
	if (o->fd < 0) {
		int e = errno;
		free(o->tmp_path);
		o->tmp_path = NULL;
		out_abort(o);
		return cli_fail(err, MC_ERR_IO, "cannot create a file next to %s: %s", path, strerror(e));
	}
	watch_signals();
	pending_set(o->tmp_path, NULL);
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(o->fd, mode & ~mask) != 0) {
		out_abort(o);
		return cli_fail(err, MC_ERR_IO, "cannot set the mode of %s", path);
	}
	return MC_OK;
}

mc_status out_commit(out_file *o, mc_err *err)
{
	if (o->is_stdout)
		return MC_OK;
	if (fsync(o->fd) != 0 || close(o->fd) != 0) {
		int e = errno;
		o->fd = -1;
		cli_fail(err, MC_ERR_IO, "cannot write %s: %s", o->path, strerror(e));
		out_abort(o);
		return MC_ERR_IO;
	}
	o->fd = -1;
	/* Without --force, a file that appeared at the final name meanwhile is not replaced. */
	int r = o->force ? rename(o->tmp_path, o->path)
	                 : renameat2(AT_FDCWD, o->tmp_path, AT_FDCWD, o->path, RENAME_NOREPLACE);
	if (r != 0 && !o->force && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without no-replace renames: link(2) refuses an existing name too. */
		r = link(o->tmp_path, o->path);
		if (r == 0)
			unlink(o->tmp_path);
		else if (errno != EEXIST) {
			struct stat sb;
			r = lstat(o->path, &sb) == 0 ? (errno = EEXIST, -1) : rename(o->tmp_path, o->path);
		}
	}
	if (r != 0) {
		int e = errno;
		if (e == EEXIST)
			cli_fail(err, MC_ERR_IO, "%s exists: not overwriting it (use --force)", o->path);
		else
			cli_fail(err, MC_ERR_IO, "cannot rename into %s: %s", o->path, strerror(e));
		out_abort(o);
		return MC_ERR_IO;
	}
	pending_set(NULL, o->tmp_path);
	/* Make the rename durable. */
	char *dir = strdup(o->path);
	if (dir) {
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	free(o->path);
	free(o->tmp_path);
	memset(o, 0, sizeof *o);
	o->fd = -1;
	return MC_OK;
}

void out_abort(out_file *o)
{
	if (!o->is_stdout) {
		if (o->fd >= 0)
			close(o->fd);
		if (o->tmp_path)
			unlink(o->tmp_path);
		if (o->tmp_path)
			pending_set(NULL, o->tmp_path);
	}
	free(o->path);
	free(o->tmp_path);
	memset(o, 0, sizeof *o);
	o->fd = -1;
}

mc_status in_open(const char *path, int *fd, long long *size, mc_err *err)
{
	struct stat sb;
	*size = -1;
	if (strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
	} else if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return cli_fail(err, MC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(*fd, &sb) == 0) {
		if (S_ISDIR(sb.st_mode)) {
			in_close(*fd);
			return cli_fail(err, MC_ERR_IO, "%s is a directory", path);
		}
		if (S_ISREG(sb.st_mode))
			*size = (long long)sb.st_size;
	}
#ifdef POSIX_FADV_SEQUENTIAL
	posix_fadvise(*fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return MC_OK;
}

void in_close(int fd)
{
	if (fd > STDERR_FILENO)
		close(fd);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(progress *pr, const char *what, long long total)
{
	pr->enabled = isatty(STDERR_FILENO) && getenv("MEDCRYPT_NO_PROGRESS") == NULL;
	pr->what = what;
	pr->total = total;
	pr->cancel = NULL;
	pr->cancel_ctx = NULL;
	pr->start = pr->last = now();
}

int progress_cb(void *ctx, uint64_t done)
{
	progress *pr = ctx;
	if (pr->cancel && pr->cancel(pr->cancel_ctx))
		return 1;
	double t = now();
	if (!pr->enabled || t - pr->last < 0.2)
		return 0;
	pr->last = t;
	double mb = (double)done / 1e6, rate = mb / (t - pr->start + 1e-9);
	if (pr->total > 0)
		fprintf(stderr, "\r%s: %5.1f%%  %.0f of %.0f MB  %.0f MB/s ", pr->what,
		        100.0 * (double)done / (double)pr->total, mb, (double)pr->total / 1e6, rate);
	else
		fprintf(stderr, "\r%s: %.0f MB  %.0f MB/s ", pr->what, mb, rate);
	return 0;
}

void progress_end(progress *pr)
{
	if (pr->enabled && now() - pr->start >= 0.2)
		fprintf(stderr, "\r\033[K");
}

/* jansson's blocks carry their size in a header of their own, so that freeing one wipes it
 * whole: server answers and the session file hold session tokens, CSRF tokens and auth keys,
 * and jansson copies every string it parses or is given. */
static void *json_alloc_wiped(size_t size)
{
	if (size > SIZE_MAX - sizeof(max_align_t))
		return NULL;
	max_align_t *block = malloc(sizeof *block + size);
	if (!block)
		return NULL;
	memcpy(block, &size, sizeof size);
	return block + 1;
}

static void json_free_wiped(void *p)
{
	if (!p)
		return;
	max_align_t *block = (max_align_t *)p - 1;
	size_t size;
	memcpy(&size, block, sizeof size);
	mc_wipe(p, size);
	free(block);
}

void json_use_wiping_alloc(void)
{
	json_set_alloc_funcs(json_alloc_wiped, json_free_wiped);
}

char *json_text(const json_t *json, size_t flags)
{
	size_t n = json_dumpb(json, NULL, 0, flags);
	char *text = n ? malloc(n + 1) : NULL;
	if (!text)
		return NULL;
	if (json_dumpb(json, text, n, flags) != n) {
		mc_wipe(text, n);
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

void json_print(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(obj);
}

json_t *json_fp(const uint8_t *fp)
{
	char hex[MC_FP_HEX_LEN + 1];
	if (!fp)
		return json_null();
	mc_fp_hex(fp, hex);
	return json_string(hex);
}

mc_status write_all(mc_output o, const uint8_t *buf, size_t len, mc_err *err)
{
	if (len && o.write(o.ctx, buf, len) != 0)
		return cli_fail(err, MC_ERR_IO, "write failed: %s", strerror(errno));
	return MC_OK;
}

mc_status parse_json_and_file(const char *command, int argc, char **argv, bool *json, const char **path, mc_err *err)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(err, command, "unknown option");
		*json = true;
	}
	if (optind + 1 != argc)
		return usage_error(err, command, "give one file");
	*path = argv[optind];
	return MC_OK;
}

bool cli_valid_id(const char *id)
{
	if (strlen(id) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

mc_status cli_bad_answer(mc_err *err, const char *what)
{
	return cli_fail(err, CLI_ERR_NETWORK, "%.200s: malformed answer from the server", what);
}

void cli_local_time(json_t *t, char *out, size_t size)
{
	time_t v = json_is_integer(t) ? (time_t)json_integer_value(t) : 0;
	struct tm tm;
	if (v <= 0 || !localtime_r(&v, &tm) || strftime(out, size, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, size, "-");
}
