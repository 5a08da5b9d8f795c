/*
 * blobstore_fs.c: the blob store of blobstore.h on a local file system. DIR/tmp/ holds blobs
 * being written (created O_CREAT | O_EXCL | O_CLOEXEC, mode 0600, under random names); commit
 * fsyncs the file, renames it to DIR/ab/cdef… (the first two hex digits of its SHA-256 name a
 * subdirectory, mode 0700, the other 62 the file) without replacing an existing blob, and fsyncs
 * the directory. A blob is thus either absent or whole and durable under its final name; a crash
 * leaves only files in DIR/tmp/, which open() removes.
 *
 * Hashing: the writer hashes on the fly, so commit never reads a 4 GiB blob back. The one
 * complication is pwrite, which the upload path uses to rewrite the wrap count in the prefix
 * right after writing it. The writer keeps the first HASH_WINDOW bytes (64 KiB) in memory and
 * unhashed until more than that has been written (or commit comes); a pwrite into that window
 * while it is still open costs nothing. A pwrite anywhere else (which the contract allows but the
 * server does not do) marks the hash stale, and commit then hashes the file by reading it back
 * once: always correct, slow only on that path, and logged at debug level.
 *
 * Writeback: every 8 MiB written, sync_file_range starts writing them to disk, so the fsync at
 * commit finds little left to do (for a 1 GiB upload it waited most of a second otherwise).
 */
#include "blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define HASH_WINDOW    (64 * 1024)
#define READBACK_CHUNK (1024 * 1024)
#define FLUSH_EVERY    (8u << 20)

typedef struct fs_store {
	mcd_blobstore base;
	char *dir;
	int dir_fd;
	int tmp_fd;
} fs_store;

struct mcd_blob_writer {
	fs_store *bs;
	int fd;
	char tmp_name[40];
	uint64_t size;    /* bytes written so far */
	uint64_t flushed; /* bytes handed to writeback so far (sync_file_range) */
	EVP_MD_CTX *md;   /* SHA-256 of everything past the window, once the window is hashed */
	bool window_open; /* the first bytes are still in window[], not yet hashed */
	bool hash_stale;  /* a pwrite touched hashed bytes: commit reads the file back */
	bool failed;      /* a write failed: commit refuses */
	uint8_t window[HASH_WINDOW];
};

struct mcd_blob_reader {
	int fd;
	uint64_t size;
};

static fs_store *fs(mcd_blobstore *bs)
{
	return (fs_store *)bs;
}

static void to_hex(const uint8_t sha256[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[sha256[i] >> 4];
		hex[2 * i + 1] = digits[sha256[i] & 15];
	}
	hex[64] = '\0';
}

/* "ab" and "cdef…" of the blob's name. */
static void blob_names(const uint8_t sha256[32], char sub[3], char file[63])
{
	char hex[65];
	to_hex(sha256, hex);
	memcpy(sub, hex, 2);
	sub[2] = '\0';
	memcpy(file, hex + 2, 63);
}

static bool fsync_fd_logged(int fd, const char *what, const char *dir)
{
	if (fsync(fd) == 0)
		return true;
	mcd_log(MCD_LOG_ERROR, "blobstore", "fsync of %s in %s failed: %s", what, dir, strerror(errno));
	return false;
}

static bool write_all_at(int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return true;
}

/* Removes every file in DIR/tmp/: what a crash left behind. */
static void clean_tmp(fs_store *s)
{
	int fd = dup(s->tmp_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		mcd_log(MCD_LOG_WARN, "blobstore", "cannot list %s/tmp: %s", s->dir, strerror(errno));
		return;
	}
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(s->tmp_fd, e->d_name, 0) == 0)
			removed++;
		else
			mcd_log(MCD_LOG_WARN, "blobstore", "cannot remove %s/tmp/%s: %s", s->dir, e->d_name,
			        strerror(errno));
	}
	closedir(d);
	if (removed)
		mcd_log(MCD_LOG_INFO, "blobstore", "removed %d unfinished blob(s) from %s/tmp", removed, s->dir);
}

static void fs_close(mcd_blobstore *bs)
{
	if (!bs)
		return;
	fs_store *s = fs(bs);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	free(s);
}

static mcd_blob_status fs_health(mcd_blobstore *bs)
{
	fs_store *s = fs(bs);
	if (faccessat(s->dir_fd, "tmp", W_OK | X_OK, 0) != 0) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "%s/tmp is not writable: %s", s->dir, strerror(errno));
		return MCD_BLOB_ERROR;
	}
	return MCD_BLOB_OK;
}

static mcd_blob_status fs_begin(mcd_blobstore *bs, mcd_blob_writer **out)
{
	fs_store *s = fs(bs);
	*out = NULL;
	mcd_blob_writer *w = calloc(1, sizeof *w);
	if (!w)
		return MCD_BLOB_NOMEM;
	w->bs = s;
	w->fd = -1;
	w->window_open = true;
	w->md = EVP_MD_CTX_new();
	if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(w->md);
		free(w);
		return MCD_BLOB_NOMEM;
	}
	for (int attempt = 0; attempt < 16 && w->fd < 0; attempt++) {
		uint8_t rnd[12];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			break;
		char *p = w->tmp_name;
		for (size_t i = 0; i < sizeof rnd; i++)
			p += sprintf(p, "%02x", rnd[i]);
		strcpy(p, ".part");
		w->fd = openat(s->tmp_fd, w->tmp_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (w->fd < 0 && errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot create a file in %s/tmp: %s", s->dir, strerror(errno));
		EVP_MD_CTX_free(w->md);
		free(w);
		return MCD_BLOB_ERROR;
	}
	*out = w;
	return MCD_BLOB_OK;
}

/* Hashes the window and closes it: from now on bytes are hashed as they come. */
static bool close_window(mcd_blob_writer *w)
{
	size_t n = w->size < HASH_WINDOW ? (size_t)w->size : HASH_WINDOW;
	w->window_open = false;
	return EVP_DigestUpdate(w->md, w->window, n) == 1;
}

static mcd_blob_status fs_write(mcd_blob_writer *w, const uint8_t *buf, size_t len)
{
	if (!w || w->failed)
		return MCD_BLOB_ERROR;
	if (len == 0)
		return MCD_BLOB_OK;
	if (!write_all_at(w->fd, buf, len, w->size)) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot write %s/tmp/%s: %s", w->bs->dir, w->tmp_name,
		        strerror(errno ? errno : EIO));
		w->failed = true;
		return MCD_BLOB_ERROR;
	}
	const uint8_t *rest = buf;
	size_t rest_len = len;
	if (w->window_open && w->size < HASH_WINDOW) {
		size_t take = HASH_WINDOW - (size_t)w->size;
		if (take > len)
			take = len;
		memcpy(w->window + w->size, buf, take);
		rest += take;
		rest_len -= take;
	}
	w->size += len;
	/* Writeback starts every 8 MiB instead of at commit: the disk writes while the rest
	 * arrives, commit's fsync waits for the last few MiB only, and a big upload does not pile
	 * up dirty pages. Only a hint (it does not wait for the disk): fsync at commit is what counts. */
	if (w->size - w->flushed >= FLUSH_EVERY) {
		(void)sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->size - w->flushed), SYNC_FILE_RANGE_WRITE);
		w->flushed = w->size;
	}
	bool ok = true;
	if (rest_len && w->window_open)
		ok = close_window(w);
	if (ok && rest_len && !w->window_open)
		ok = EVP_DigestUpdate(w->md, rest, rest_len) == 1;
	if (!ok) {
		w->failed = true;
		return MCD_BLOB_ERROR;
	}
	return MCD_BLOB_OK;
}

static mcd_blob_status fs_pwrite(mcd_blob_writer *w, const uint8_t *buf, size_t len, uint64_t offset)
{
	if (!w || w->failed)
		return MCD_BLOB_ERROR;
	if (offset > w->size || len > w->size - offset) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "pwrite past what was written (a caller's bug)");
		return MCD_BLOB_ERROR;
	}
	if (len == 0)
		return MCD_BLOB_OK;
	if (!write_all_at(w->fd, buf, len, offset)) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot write %s/tmp/%s: %s", w->bs->dir, w->tmp_name,
		        strerror(errno ? errno : EIO));
		w->failed = true;
		return MCD_BLOB_ERROR;
	}
	if (w->window_open) {
		/* Everything written so far is in the window (it is still open). */
		memcpy(w->window + offset, buf, len);
	} else if (!w->hash_stale) {
		w->hash_stale = true;
		mcd_log(MCD_LOG_DEBUG, "blobstore", "pwrite into hashed bytes: the blob is hashed again at commit");
	}
	return MCD_BLOB_OK;
}

/* Hashes the whole temporary file by reading it back (after a pwrite into hashed bytes). */
static bool hash_file(mcd_blob_writer *w, uint8_t sha256[32])
{
	uint8_t *buf = malloc(READBACK_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = buf && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	uint64_t off = 0;
	while (ok && off < w->size) {
		ssize_t n = pread(w->fd, buf, READBACK_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = false;
			break;
		}
		ok = EVP_DigestUpdate(md, buf, (size_t)n) == 1;
		off += (uint64_t)n;
	}
	unsigned int len = 0;
	ok = ok && EVP_DigestFinal_ex(md, sha256, &len) == 1 && len == 32;
	EVP_MD_CTX_free(md);
	free(buf);
	return ok;
}

static void writer_free(mcd_blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_name[0])
		unlinkat(w->bs->tmp_fd, w->tmp_name, 0);
	EVP_MD_CTX_free(w->md);
	free(w);
}

/* Opens DIR/ab, creating it (0700) and making its entry durable when it is new. -1 on failure. */
static int subdir_open(fs_store *s, const char *sub)
{
	if (mkdirat(s->dir_fd, sub, 0700) == 0) {
		if (!fsync_fd_logged(s->dir_fd, "the blob directory", s->dir))
			return -1;
	} else if (errno != EEXIST) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot create %s/%s: %s", s->dir, sub, strerror(errno));
		return -1;
	}
	int fd = openat(s->dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot open %s/%s: %s", s->dir, sub, strerror(errno));
	return fd;
}

/* Moves tmp/NAME to ab/cdef… unless a blob has that name: 1 renamed, 2 linked (the temporary
 * name is still there), 0 a blob of that name exists already, -1 failed. */
static int place(fs_store *s, const char *tmp_name, int sub_fd, const char *file)
{
	if (renameat2(s->tmp_fd, tmp_name, sub_fd, file, RENAME_NOREPLACE) == 0)
		return 1;
	if (errno == EEXIST)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without no-replace renames: link(2) refuses an existing name too. */
	if (linkat(s->tmp_fd, tmp_name, sub_fd, file, 0) == 0)
		return 2;
	return errno == EEXIST ? 0 : -1;
}

static mcd_blob_status fs_commit(mcd_blob_writer *w, uint8_t sha256[32], uint64_t *size)
{
	if (!w)
		return MCD_BLOB_ERROR;
	fs_store *s = w->bs;
	mcd_blob_status r = MCD_BLOB_ERROR;
	int sub_fd = -1;
	if (w->failed)
		goto done;
	bool hashed;
	if (w->hash_stale) {
		hashed = hash_file(w, sha256);
	} else {
		unsigned int len = 0;
		hashed =
		    (!w->window_open || close_window(w)) && EVP_DigestFinal_ex(w->md, sha256, &len) == 1 && len == 32;
	}
	if (!hashed) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot hash %s/tmp/%s", s->dir, w->tmp_name);
		goto done;
	}
	/* The bytes reach the disk before the name does. */
	if (!fsync_fd_logged(w->fd, w->tmp_name, s->dir))
		goto done;
	char sub[3], file[63];
	blob_names(sha256, sub, file);
	sub_fd = subdir_open(s, sub);
	if (sub_fd < 0)
		goto done;
	int placed = place(s, w->tmp_name, sub_fd, file);
	if (placed < 0) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot move a blob into %s/%s: %s", s->dir, sub, strerror(errno));
		goto done;
	}
	if (placed == 0)
		mcd_log(MCD_LOG_DEBUG, "blobstore", "blob %s%s is stored already: the new copy is discarded", sub,
		        file);
	if (placed == 1)
		w->tmp_name[0] = '\0'; /* renamed away: nothing left to remove */
	/* The final name must be durable before the caller acknowledges, also when another writer
	 * placed the same blob a moment ago and may not have synced its directory yet. (The link
	 * fallback leaves the temporary name, which writer_free removes.) */
	if (!fsync_fd_logged(sub_fd, "a blob's directory", s->dir))
		goto done;
	*size = w->size;
	r = MCD_BLOB_OK;
done:
	if (sub_fd >= 0)
		close(sub_fd);
	writer_free(w);
	return r;
}

static void fs_abort(mcd_blob_writer *w)
{
	if (w)
		writer_free(w);
}

static mcd_blob_status fs_open_reader(mcd_blobstore *bs, const uint8_t sha256[32], mcd_blob_reader **out,
                                      uint64_t *size)
{
	fs_store *s = fs(bs);
	*out = NULL;
	char sub[3], file[63], path[3 + 63];
	blob_names(sha256, sub, file);
	snprintf(path, sizeof path, "%s/%s", sub, file);
	int fd = openat(s->dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return MCD_BLOB_NOT_FOUND;
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot open %s/%s: %s", s->dir, path, strerror(errno));
		return MCD_BLOB_ERROR;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "%s/%s is not a regular file", s->dir, path);
		close(fd);
		return MCD_BLOB_ERROR;
	}
	mcd_blob_reader *rd = malloc(sizeof *rd);
	if (!rd) {
		close(fd);
		return MCD_BLOB_NOMEM;
	}
	rd->fd = fd;
	rd->size = (uint64_t)sb.st_size;
	*out = rd;
	if (size)
		*size = rd->size;
	return MCD_BLOB_OK;
}

static mcd_blob_status fs_read(mcd_blob_reader *rd, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
	*got = 0;
	if (!rd)
		return MCD_BLOB_ERROR;
	if (offset >= rd->size || len == 0)
		return MCD_BLOB_OK;
	if (len > rd->size - offset)
		len = (size_t)(rd->size - offset);
	for (;;) {
		ssize_t n = pread(rd->fd, buf, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mcd_log(MCD_LOG_ERROR, "blobstore", "cannot read a blob: %s", strerror(errno));
			return MCD_BLOB_ERROR;
		}
		if (n == 0) {
			/* The file is shorter than when it was opened: only a damaged store does that. */
			mcd_log(MCD_LOG_ERROR, "blobstore", "a blob ended early at offset %llu",
			        (unsigned long long)offset);
			return MCD_BLOB_ERROR;
		}
		*got = (size_t)n;
		return MCD_BLOB_OK;
	}
}

static void fs_close_reader(mcd_blob_reader *rd)
{
	if (!rd)
		return;
	close(rd->fd);
	free(rd);
}

static mcd_blob_status fs_remove(mcd_blobstore *bs, const uint8_t sha256[32])
{
	fs_store *s = fs(bs);
	char sub[3], file[63];
	blob_names(sha256, sub, file);
	int sub_fd = openat(s->dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sub_fd < 0) {
		if (errno == ENOENT)
			return MCD_BLOB_NOT_FOUND;
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot open %s/%s: %s", s->dir, sub, strerror(errno));
		return MCD_BLOB_ERROR;
	}
	mcd_blob_status r = MCD_BLOB_OK;
	if (unlinkat(sub_fd, file, 0) != 0) {
		if (errno == ENOENT) {
			r = MCD_BLOB_NOT_FOUND;
		} else {
			mcd_log(MCD_LOG_ERROR, "blobstore", "cannot remove %s/%s/%s: %s", s->dir, sub, file,
			        strerror(errno));
			r = MCD_BLOB_ERROR;
		}
	} else if (!fsync_fd_logged(sub_fd, "a blob's directory", s->dir)) {
		r = MCD_BLOB_ERROR;
	}
	close(sub_fd);
	return r;
}

static const mcd_blobstore_ops fs_ops = {
    .close = fs_close,
    .health = fs_health,
    .begin = fs_begin,
    .write = fs_write,
    .pwrite = fs_pwrite,
    .commit = fs_commit,
    .abort = fs_abort,
    .open = fs_open_reader,
    .read = fs_read,
    .close_reader = fs_close_reader,
    .remove = fs_remove,
};

/* mkdir dir 0700 unless it exists; then open it as a directory (no symlink). */
static int dir_open(int at_fd, const char *name, const char *shown)
{
	if (mkdirat(at_fd, name, 0700) != 0 && errno != EEXIST) {
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot create %s: %s", shown, strerror(errno));
		return -1;
	}
	int fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		mcd_log(MCD_LOG_ERROR, "blobstore", "cannot open %s: %s", shown, strerror(errno));
	return fd;
}

mcd_blobstore *mcd_blobstore_fs_open(const char *dir)
{
	if (!dir)
		return NULL;
	fs_store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->base.ops = &fs_ops;
	s->dir_fd = s->tmp_fd = -1;
	s->dir = strdup(dir);
	if (!s->dir)
		goto fail;
	s->dir_fd = dir_open(AT_FDCWD, dir, dir);
	if (s->dir_fd < 0)
		goto fail;
	s->tmp_fd = dir_open(s->dir_fd, "tmp", "the blob store's tmp directory");
	if (s->tmp_fd < 0)
		goto fail;
	clean_tmp(s);
	return &s->base;
fail:
	fs_close(&s->base);
	return NULL;
}
