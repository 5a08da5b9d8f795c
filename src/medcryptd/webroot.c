/*
 * webroot.c: loads the browser client's build output into one sorted table (webroot.h). The
 * walk goes through directory file descriptors only: each entry is looked at with
 * fstatat(AT_SYMLINK_NOFOLLOW) and opened with openat(O_NOFOLLOW) relative to its directory, so
 * a symbolic link anywhere under the root (to a file or a directory outside it) is skipped, and
 * an entry swapped for a link between the look and the open fails to open.
 */
#include "webroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MAX_DEPTH      8
#define MAX_FILES      4096
#define MAX_FILE_BYTES ((size_t)64 << 20)
#define MAX_ALL_BYTES  ((size_t)512 << 20)
#define MAX_PATH_CHARS 512

struct mcd_webroot {
	mcd_webfile *files;
	size_t n, cap;
	size_t total;
};

static const struct {
	const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

const char *mcd_web_content_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash + 1 : name, '.');
	if (!dot)
		return NULL;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(dot + 1, types[i].ext))
			return types[i].type;
	return NULL;
}

bool mcd_web_is_hashed(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	const char *dot = strchr(base, '.');
	size_t stem = dot ? (size_t)(dot - base) : strlen(base);
	if (stem < 10 || base[stem - 9] != '-')
		return false;
	for (size_t i = stem - 8; i < stem; i++)
		if (!((base[i] >= 'A' && base[i] <= 'Z') || (base[i] >= '2' && base[i] <= '7')))
			return false;
	return true;
}

static void say(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t cap, const char *fmt, ...)
{
	if (!cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* Names the client's build writes: nothing to escape in a URL, nothing hidden. */
static bool plain_name(const char *name)
{
	if (name[0] == '.' || name[0] == 0)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Reads the whole regular file fd (closed here) into f. */
static bool read_whole(int fd, const char *path, mcd_webroot *w, mcd_webfile *f, char *err, size_t cap)
{
	struct stat st;
	bool ok = false;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		say(err, cap, "%s is not a regular file", path);
		goto done;
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES || w->total + (size_t)st.st_size > MAX_ALL_BYTES) {
		say(err, cap, "%s is too large (64 MiB a file, 512 MiB in all)", path);
		goto done;
	}
	f->len = (size_t)st.st_size;
	f->bytes = malloc(f->len ? f->len : 1);
	if (!f->bytes) {
		say(err, cap, "out of memory reading %s", path);
		goto done;
	}
	size_t got = 0;
	while (got < f->len) {
		ssize_t n = read(fd, f->bytes + got, f->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say(err, cap, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "it shrank");
			goto done;
		}
		got += (size_t)n;
	}
	uint8_t digest[32];
	char hex[33];
	if (EVP_Digest(f->bytes, f->len, digest, NULL, EVP_sha256(), NULL) != 1) {
		say(err, cap, "cannot hash %s", path);
		goto done;
	}
	mcd_hex(digest, 16, hex);
	snprintf(f->etag, sizeof f->etag, "\"%s\"", hex);
	w->total += f->len;
	ok = true;
done:
	close(fd);
	return ok;
}

/* Adds every file under the directory dfd (closed here), whose path from the root is prefix. */
static bool walk(mcd_webroot *w, int dfd, const char *prefix, int depth, char *err, size_t cap)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		say(err, cap, "cannot list %s: %s", *prefix ? prefix : "/", strerror(errno));
		close(dfd);
		return false;
	}
	bool ok = true;
	struct dirent *e;
	while (ok && (errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[MAX_PATH_CHARS];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", prefix, e->d_name) >= sizeof path) {
			mcd_log(MCD_LOG_WARN, "web", "skipping %s/...: path too long", prefix);
			continue;
		}
		if (!plain_name(e->d_name)) {
			mcd_log(MCD_LOG_WARN, "web", "skipping %s: hidden, or a character outside [A-Za-z0-9._-]",
			        path);
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			say(err, cap, "cannot look at %s: %s", path, strerror(errno));
			ok = false;
		} else if (S_ISLNK(st.st_mode)) {
			mcd_log(MCD_LOG_WARN, "web", "skipping %s: a symbolic link", path);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = depth < MAX_DEPTH
			              ? openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			              : -1;
			if (depth >= MAX_DEPTH)
				say(err, cap, "%s is nested too deep (8 levels at most)", path);
			else if (sub < 0)
				say(err, cap, "cannot open %s: %s", path, strerror(errno));
			ok = sub >= 0 && walk(w, sub, path, depth + 1, err, cap);
		} else if (S_ISREG(st.st_mode)) {
			if (w->n == MAX_FILES) {
				say(err, cap, "more than %d files", MAX_FILES);
				ok = false;
				break;
			}
			if (w->n == w->cap) {
				size_t ncap = w->cap ? w->cap * 2 : 64;
				mcd_webfile *grown = realloc(w->files, ncap * sizeof *grown);
				if (!grown) {
					say(err, cap, "out of memory");
					ok = false;
					break;
				}
				w->files = grown;
				w->cap = ncap;
			}
			mcd_webfile *f = &w->files[w->n];
			memset(f, 0, sizeof *f);
			int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				say(err, cap, "cannot open %s: %s", path, strerror(errno));
				ok = false;
			} else if (!(f->path = strdup(path))) {
				say(err, cap, "out of memory");
				close(fd);
				ok = false;
			} else if (!read_whole(fd, path, w, f, err, cap)) {
				ok = false;
			}
			if (!ok) {
				free(f->path);
				free(f->bytes);
				break;
			}
			const char *type = mcd_web_content_type(path);
			f->content_type = type ? type : "application/octet-stream";
			f->immutable = mcd_web_is_hashed(path);
			w->n++;
		}
		/* sockets, fifos, devices: never served */
	}
	if (ok && errno != 0 && !e) {
		say(err, cap, "cannot list %s: %s", *prefix ? prefix : "/", strerror(errno));
		ok = false;
	}
	closedir(d);
	return ok;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const mcd_webfile *)a)->path, ((const mcd_webfile *)b)->path);
}

mcd_webroot *mcd_webroot_load(const char *dir, char *err, size_t err_cap)
{
	say(err, err_cap, "cannot load the web root");
	mcd_webroot *w = calloc(1, sizeof *w);
	if (!w) {
		say(err, err_cap, "out of memory");
		return NULL;
	}
	/* The root itself may be a link (an operator's choice); nothing under it may. */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		say(err, err_cap, "cannot open the web root %s: %s", dir, strerror(errno));
		free(w);
		return NULL;
	}
	if (!walk(w, fd, "", 0, err, err_cap)) {
		mcd_webroot_free(w);
		return NULL;
	}
	if (w->n)
		qsort(w->files, w->n, sizeof *w->files, by_path);
	if (!mcd_webroot_find(w, "/index.html")) {
		say(err, err_cap, "the web root %s has no index.html (is it the output of web/build.mjs?)", dir);
		mcd_webroot_free(w);
		return NULL;
	}
	return w;
}

void mcd_webroot_free(mcd_webroot *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->files[i].path);
		free(w->files[i].bytes);
	}
	free(w->files);
	free(w);
}

const mcd_webfile *mcd_webroot_find(const mcd_webroot *w, const char *path)
{
	if (!w || !w->n)
		return NULL;
	mcd_webfile key = {.path = (char *)path};
	return bsearch(&key, w->files, w->n, sizeof *w->files, by_path);
}

size_t mcd_webroot_count(const mcd_webroot *w)
{
	return w ? w->n : 0;
}
