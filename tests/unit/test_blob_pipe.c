/*
 * test_blob_pipe.c: the writer thread of src/medcryptd/blob_pipe.c in front of the filesystem
 * blob store. Bytes given in pieces of every size (1 byte to past the ring's 2 MiB) come out
 * whole and in order: the blob's name is the SHA-256 of the input, checked independently, and
 * its bytes read back equal the input. Closing without writing the rest drops the bytes and
 * reports false; a writer that fails part-way makes the producer's next write fail (it does not
 * hang on a full ring), and close reports false; the writer gets batches of at least 256 KiB
 * except where the ring wraps and at the end.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "blob_pipe.h"
#include "blobstore.h"
#include "check.h"
#include "log.h"
#include "server_testutil.h"

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Feeds data to the pipe in uneven pieces; false when a write failed. */
static bool feed(mcd_blob_pipe *p, const uint8_t *data, size_t n)
{
	size_t off = 0, step = 1;
	while (off < n) {
		size_t len = step < n - off ? step : n - off;
		if (!mcd_blob_pipe_write(p, data + off, len))
			return false;
		off += len;
		step = step * 3 + 5; /* 1, 8, 29, ... past 2 MiB, then small again */
		if (step > (3u << 20))
			step = 16384;
	}
	return true;
}

static void test_round_trip(mcd_blobstore *bs, const char *dir)
{
	const size_t n = 11u << 20; /* several ring turns */
	uint8_t *data = malloc(n), *back = malloc(n);
	if (!data || !back)
		exit(2);
	fill(data, n, 7);
	mcd_blob_writer *w = NULL;
	CHECK(bs->ops->begin(bs, &w) == MCD_BLOB_OK, "begin");
	mcd_blob_pipe *p = mcd_blob_pipe_start(bs, w);
	CHECK(p != NULL, "the pipe starts");
	CHECK(feed(p, data, n), "every piece queued");
	CHECK(mcd_blob_pipe_close(p, true), "every byte written");
	uint8_t sha[32], want[32];
	uint64_t size = 0;
	CHECK(bs->ops->commit(w, sha, &size) == MCD_BLOB_OK && size == n, "commit: %llu bytes",
	      (unsigned long long)size);
	sha256_of(data, n, want);
	CHECK(memcmp(sha, want, 32) == 0, "named by the SHA-256 of the input");
	mcd_blob_reader *rd = NULL;
	uint64_t have = 0, off = 0;
	CHECK(bs->ops->open(bs, sha, &rd, &have) == MCD_BLOB_OK && have == n, "open the blob");
	while (rd && off < n) {
		size_t got = 0;
		if (bs->ops->read(rd, off, back + off, n - off, &got) != MCD_BLOB_OK || got == 0)
			break;
		off += got;
	}
	bs->ops->close_reader(rd);
	CHECK(off == n && memcmp(back, data, n) == 0, "the bytes read back are the input");

	/* Closing without the rest: nothing promised, nothing left once the writer is aborted. */
	CHECK(bs->ops->begin(bs, &w) == MCD_BLOB_OK, "begin again");
	p = mcd_blob_pipe_start(bs, w);
	CHECK(p != NULL && feed(p, data, 3u << 20), "3 MiB queued");
	CHECK(!mcd_blob_pipe_close(p, false), "close without the rest reports false");
	bs->ops->abort(w);
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	CHECK(count_files(tmp) == 0, "the aborted blob left no file");
	CHECK(!mcd_blob_pipe_close(NULL, true), "closing NULL is harmless");
	free(data);
	free(back);
}

/* A blob store whose writer fails after limit bytes and records its write sizes. */
struct fake_state {
	size_t limit, written, writes, small_writes, last;
	bool out_of_order;
};
static struct fake_state fake;
static uint8_t fake_next;

static mcd_blob_status fake_write(mcd_blob_writer *w, const uint8_t *buf, size_t len)
{
	(void)w;
	if (fake.written + len > fake.limit)
		return MCD_BLOB_ERROR;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != fake_next++)
			fake.out_of_order = true;
	if (fake.writes && fake.last < (256u << 10))
		fake.small_writes++; /* a short write that was not the last */
	fake.last = len;
	fake.written += len;
	fake.writes++;
	return MCD_BLOB_OK;
}

static const mcd_blobstore_ops fake_ops = {.write = fake_write};

static void test_fake(void)
{
	mcd_blobstore bs = {.ops = &fake_ops};
	const size_t n = 9u << 20;
	uint8_t *data = malloc(n);
	if (!data)
		exit(2);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)i;

	fake = (struct fake_state){.limit = SIZE_MAX};
	fake_next = 0;
	mcd_blob_pipe *p = mcd_blob_pipe_start(&bs, (mcd_blob_writer *)&fake);
	CHECK(p && feed(p, data, n) && mcd_blob_pipe_close(p, true), "9 MiB through a fake writer");
	CHECK(fake.written == n && !fake.out_of_order, "in order, whole: %zu bytes", fake.written);
	/* A batch is cut short only where the ring wraps (once per 2 MiB) and at the end. */
	CHECK(fake.small_writes <= n / (2u << 20) + 1, "batches of 256 KiB or more: %zu short", fake.small_writes);
	CHECK(fake.writes <= 2 * (n / (256u << 10)) + 1, "few writes: %zu", fake.writes);

	fake = (struct fake_state){.limit = 5u << 20};
	fake_next = 0;
	p = mcd_blob_pipe_start(&bs, (mcd_blob_writer *)&fake);
	CHECK(p != NULL, "start");
	CHECK(!feed(p, data, n), "a failed write fails the producer (no hang on the full ring)");
	CHECK(!mcd_blob_pipe_close(p, true), "and close");
	CHECK(fake.written <= fake.limit, "nothing past the failure");
	free(data);
}

int main(void)
{
	mcd_log_set_level(MCD_LOG_ERROR);
	char dir[256];
	scratch_dir(dir);
	mcd_blobstore *bs = mcd_blobstore_fs_open(dir);
	CHECK(bs != NULL, "open the blob store");
	if (!bs)
		return 1;
	test_round_trip(bs, dir);
	bs->ops->close(bs);
	test_fake();
	scratch_remove(dir);
	return check_summary("blob-pipe");
}
