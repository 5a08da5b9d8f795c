/*
 * test_blobstore.c: the filesystem blob store (src/medcryptd/blobstore_fs.c) through
 * blobstore.h: names are the SHA-256 of the final bytes (checked against an independent hash)
 * also after a pwrite of the prefix, inside the hashing window and after it; whole and range
 * reads; abort and failed commits leave nothing; files a crash left in tmp/ are removed at open;
 * the same blob committed twice is stored once; missing blobs are NOT_FOUND.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "blobstore.h"
#include "check.h"
#include "log.h"
#include "server_testutil.h"

static char root[512];

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Writes data in uneven pieces; if patch_at >= 0, first writes patch_after bytes, then pwrites
 * 3 bytes at patch_at, as the upload path rewrites the prefix. */
static mcd_blob_status store_blob(mcd_blobstore *bs, uint8_t *data, size_t n, long patch_at, size_t patch_after,
                                  uint8_t sha[32], uint64_t *size)
{
	mcd_blob_writer *w = NULL;
	mcd_blob_status r = bs->ops->begin(bs, &w);
	if (r != MCD_BLOB_OK)
		return r;
	size_t off = 0, step = 1;
	while (off < n) {
		size_t len = step;
		if (len > n - off)
			len = n - off;
		if (patch_at >= 0 && off < patch_after && off + len > patch_after)
			len = patch_after - off;
		if (bs->ops->write(w, data + off, len) != MCD_BLOB_OK) {
			bs->ops->abort(w);
			return MCD_BLOB_ERROR;
		}
		off += len;
		if (patch_at >= 0 && off == patch_after) {
			uint8_t patch[3] = {0, 0, 0x42};
			memcpy(data + patch_at, patch, 3); /* the expected final bytes */
			if (bs->ops->pwrite(w, patch, 3, (uint64_t)patch_at) != MCD_BLOB_OK) {
				bs->ops->abort(w);
				return MCD_BLOB_ERROR;
			}
		}
		step = step * 3 + 7; /* 1, 10, 37, 118, ... up to big writes */
		if (step > 300000)
			step = 4093;
	}
	return bs->ops->commit(w, sha, size);
}

static void blob_path(const uint8_t sha[32], char *out, size_t n)
{
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	snprintf(out, n, "%s/%.2s/%s", root, hex, hex + 2);
}

static bool read_all(mcd_blobstore *bs, const uint8_t sha[32], uint8_t *out, size_t cap, size_t *n)
{
	mcd_blob_reader *rd = NULL;
	uint64_t size = 0;
	if (bs->ops->open(bs, sha, &rd, &size) != MCD_BLOB_OK)
		return false;
	size_t total = 0;
	bool ok = size <= cap;
	while (ok) {
		size_t got = 0;
		if (bs->ops->read(rd, total, out + total, cap - total < 5000 ? cap - total : 5000, &got) !=
		    MCD_BLOB_OK) {
			ok = false;
			break;
		}
		if (got == 0)
			break;
		total += got;
	}
	bs->ops->close_reader(rd);
	*n = total;
	return ok && total == size;
}

static void test_round_trips(mcd_blobstore *bs)
{
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *data = malloc(n), *back = malloc(n);
	fill(data, n, 1);
	uint8_t sha[32], want[32];
	uint64_t size = 0;
	/* The server's case: pwrite of the prefix right after writing it (inside the window). */
	CHECK(store_blob(bs, data, n, 8, 11, sha, &size) == MCD_BLOB_OK, "commit with an early pwrite");
	sha256_of(data, n, want);
	CHECK(memcmp(sha, want, 32) == 0, "named by the SHA-256 of the final bytes");
	CHECK(size == n, "size");
	char path[700];
	blob_path(sha, path, sizeof path);
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == n && (sb.st_mode & 0777) == 0600, "stored at ab/cdef…");
	char sub[700];
	snprintf(sub, sizeof sub, "%.*s", (int)(strlen(path) - 63), path);
	CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700, "fan-out directory 0700");
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	CHECK(count_files(tmp) == 0, "tmp/ empty after commit");

	size_t got_n = 0;
	CHECK(read_all(bs, sha, back, n, &got_n) && got_n == n && memcmp(back, data, n) == 0, "read back");
	/* Ranges. */
	mcd_blob_reader *rd = NULL;
	uint64_t rsize = 0;
	CHECK(bs->ops->open(bs, sha, &rd, &rsize) == MCD_BLOB_OK && rsize == n, "open");
	long offsets[] = {0, 8, 65535, 65536, 65537, (long)n - 1};
	for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
		uint8_t buf[100];
		size_t got = 0;
		CHECK(bs->ops->read(rd, (uint64_t)offsets[i], buf, sizeof buf, &got) == MCD_BLOB_OK, "range read");
		size_t expect = n - (size_t)offsets[i] < 100 ? n - (size_t)offsets[i] : 100;
		CHECK(got >= 1 && got <= expect && memcmp(buf, data + offsets[i], got) == 0, "range at %ld",
		      offsets[i]);
	}
	size_t got = 7;
	uint8_t one;
	CHECK(bs->ops->read(rd, n, &one, 1, &got) == MCD_BLOB_OK && got == 0, "0 at the end");
	CHECK(bs->ops->read(rd, n + 1000, &one, 1, &got) == MCD_BLOB_OK && got == 0, "0 past the end");
	bs->ops->close_reader(rd);

	/* A pwrite after the window was hashed: the contract allows it; commit hashes again. */
	fill(data, n, 2);
	CHECK(store_blob(bs, data, n, 5, 200000, sha, &size) == MCD_BLOB_OK, "commit with a late pwrite");
	sha256_of(data, n, want);
	CHECK(memcmp(sha, want, 32) == 0, "late pwrite: the name is still the final bytes' hash");
	CHECK(read_all(bs, sha, back, n, &got_n) && memcmp(back, data, n) == 0, "late pwrite: read back");

	/* Small blobs: under the window, and empty. */
	fill(data, 100, 3);
	CHECK(store_blob(bs, data, 100, 0, 50, sha, &size) == MCD_BLOB_OK && size == 100, "small blob");
	sha256_of(data, 100, want);
	CHECK(memcmp(sha, want, 32) == 0, "small blob name");
	CHECK(store_blob(bs, data, 0, -1, 0, sha, &size) == MCD_BLOB_OK && size == 0, "empty blob");
	static const uint8_t empty_sha[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	                                      0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	                                      0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
	CHECK(memcmp(sha, empty_sha, 32) == 0, "SHA-256 of nothing");
	/* Exactly the window, then one more byte. */
	fill(data, 65537, 4);
	CHECK(store_blob(bs, data, 65536, 1, 65536, sha, &size) == MCD_BLOB_OK, "window-sized blob, pwrite at its end");
	sha256_of(data, 65536, want);
	CHECK(memcmp(sha, want, 32) == 0, "window-sized name");
	free(data);
	free(back);
}

static void test_refusals(mcd_blobstore *bs)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	int before = count_files(root);
	mcd_blob_writer *w = NULL;
	uint8_t buf[10] = {1, 2, 3};
	CHECK(bs->ops->begin(bs, &w) == MCD_BLOB_OK, "begin");
	CHECK(bs->ops->write(w, buf, 10) == MCD_BLOB_OK, "write");
	CHECK(count_files(tmp) == 1, "one temporary file while writing");
	fprintf(stderr, "(an error about a pwrite past what was written is expected next)\n");
	CHECK(bs->ops->pwrite(w, buf, 3, 8) == MCD_BLOB_ERROR, "pwrite past the end refused");
	CHECK(bs->ops->pwrite(w, buf, 2, 8) == MCD_BLOB_OK, "pwrite up to the end");
	bs->ops->abort(w);
	CHECK(count_files(tmp) == 0, "abort leaves nothing in tmp/");
	CHECK(count_files(root) == before, "abort stores nothing");
	bs->ops->abort(NULL);

	uint8_t sha[32];
	sha256_of("never stored", 12, sha);
	mcd_blob_reader *rd = (mcd_blob_reader *)1;
	uint64_t size;
	CHECK(bs->ops->open(bs, sha, &rd, &size) == MCD_BLOB_NOT_FOUND && rd == NULL, "missing blob: NOT_FOUND");
	CHECK(bs->ops->remove(bs, sha) == MCD_BLOB_NOT_FOUND, "remove of a missing blob");
	CHECK(bs->ops->health(bs) == MCD_BLOB_OK, "health");
}

static void test_duplicates_and_remove(mcd_blobstore *bs)
{
	uint8_t data[5000];
	fill(data, sizeof data, 9);
	int before = count_files(root);
	uint8_t a[32], b[32];
	uint64_t size;
	CHECK(store_blob(bs, data, sizeof data, -1, 0, a, &size) == MCD_BLOB_OK, "first copy");
	CHECK(store_blob(bs, data, sizeof data, -1, 0, b, &size) == MCD_BLOB_OK, "second copy");
	CHECK(memcmp(a, b, 32) == 0, "same name");
	CHECK(count_files(root) == before + 1, "stored once: %d", count_files(root) - before);
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	CHECK(count_files(tmp) == 0, "the second copy was discarded");
	CHECK(bs->ops->remove(bs, a) == MCD_BLOB_OK, "remove");
	mcd_blob_reader *rd = NULL;
	CHECK(bs->ops->open(bs, a, &rd, &size) == MCD_BLOB_NOT_FOUND, "gone");
	CHECK(bs->ops->remove(bs, a) == MCD_BLOB_NOT_FOUND, "remove twice");
	CHECK(count_files(root) == before, "nothing left");
}

static void test_crash_cleanup(void)
{
	mcd_blobstore *bs = mcd_blobstore_fs_open(root);
	CHECK(bs != NULL, "open");
	if (!bs)
		return;
	/* A crash mid-upload: the writer's temporary file stays, as do files of a killed process. */
	mcd_blob_writer *w = NULL;
	uint8_t buf[1000] = {5};
	bs->ops->begin(bs, &w);
	bs->ops->write(w, buf, sizeof buf);
	char stray[700];
	snprintf(stray, sizeof stray, "%s/tmp/0123456789abcdef01234567.part", root);
	int fd = open(stray, O_CREAT | O_WRONLY | O_EXCL, 0600);
	CHECK(fd >= 0 && write(fd, buf, 100) == 100, "a stray temporary file");
	if (fd >= 0)
		close(fd);
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	CHECK(count_files(tmp) == 2, "two unfinished files");
	int blobs = count_files(root) - 2;
	mcd_blobstore *again = mcd_blobstore_fs_open(root); /* the restarted server */
	CHECK(again != NULL, "reopen");
	CHECK(count_files(tmp) == 0, "open removed what the crash left");
	CHECK(count_files(root) == blobs, "no blob appeared or vanished");
	bs->ops->abort(w); /* its file is gone already: harmless */
	if (again)
		again->ops->close(again);
	bs->ops->close(bs);
}

int main(void)
{
	mcd_log_set_level(MCD_LOG_ERROR);
	char dir[256];
	scratch_dir(dir);
	snprintf(root, sizeof root, "%s/blobs", dir);
	mcd_blobstore *bs = mcd_blobstore_fs_open(root);
	CHECK(bs != NULL, "open creates the store");
	if (!bs)
		return check_summary("blobstore");
	struct stat sb;
	CHECK(stat(root, &sb) == 0 && (sb.st_mode & 0777) == 0700, "store directory 0700");
	test_round_trips(bs);
	test_refusals(bs);
	test_duplicates_and_remove(bs);
	bs->ops->close(bs);
	test_crash_cleanup();
	CHECK(mcd_blobstore_fs_open("/proc/definitely/not/here") == NULL, "an impossible directory fails");
	scratch_remove(dir);
	return check_summary("blobstore");
}
