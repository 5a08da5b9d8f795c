/*
 * blob.c: GET /api/v1/images/{id}/blob (API.md §15): the sealed blob, whole or one byte range
 * (206), with its SHA-256 as a strong ETag so a client resumes with Range and If-Range. The
 * body is produced by a callback in 256 KiB blocks (one block of the blob's size when it is
 * smaller) straight from the blob store, so a download of any size costs one block of memory.
 * A download that starts at byte 0 is audited, and its bytes go out only once the record is
 * durable (mcd_reply_after_audit: the connection waits, its thread does not); range reads that
 * continue one are not audited, so random access to chunks does not flood the log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics.h"
#include "../util.h"
#include "handlers.h"

#define BLOCK (256 * 1024)

struct download {
	mcd_blobstore *bs;
	mcd_blob_reader *reader;
	uint64_t start;
};

static ssize_t produce(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct download *d = cls;
	size_t got = 0;
	if (d->bs->ops->read(d->reader, d->start + pos, (uint8_t *)buf, max, &got) != MCD_BLOB_OK)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (got == 0)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* shorter than its size: the store changed */
	mcd_metrics_add(MCD_M_DOWNLOAD_BYTES, got);
	return (ssize_t)got;
}

static void finish(void *cls)
{
	struct download *d = cls;
	d->bs->ops->close_reader(d->reader);
	free(d);
}

/* Parses a single "bytes=A-B", "bytes=A-" or "bytes=-N" against size. 1: a range, 0: ignore
 * (absent, several ranges or malformed: serve the whole blob), -1: not satisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		if (p[1] < '0' || p[1] > '9')
			return 0;
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (*end)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*first = n >= size ? 0 : size - n;
		*last = size - 1;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	unsigned long long a = strtoull(p, &end, 10);
	if (*end != '-')
		return 0;
	p = end + 1;
	unsigned long long b = size ? size - 1 : 0;
	if (*p) {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (*end || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

void mcd_h_image_blob(mcd_request *r)
{
	mcd_image *im = NULL;
	mcd_store_status s = mcd_image_visible(r, r->params[0], &im, NULL);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	mcd_blobstore *bs = r->srv->blobs;
	struct download *d = calloc(1, sizeof *d);
	uint64_t size = 0;
	if (!d || bs->ops->open(bs, im->blob_sha256, &d->reader, &size) != MCD_BLOB_OK) {
		free(d);
		mcd_image_free(im);
		mcd_reply_error(r, 500, "internal");
		return;
	}
	d->bs = bs;
	char etag[68], sha[65];
	mcd_hex(im->blob_sha256, 32, sha);
	snprintf(etag, sizeof etag, "\"%s\"", sha);
	uint64_t first = 0, last = size ? size - 1 : 0;
	int range = parse_range(mcd_request_header(r, "Range"), size, &first, &last);
	const char *if_range = mcd_request_header(r, "If-Range");
	if (range != 0 && if_range && strcmp(if_range, etag) != 0)
		range = 0; /* the client's copy is of another blob: send this one whole */
	if (range < 0) {
		finish(d);
		char cr[48];
		snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
		mcd_reply_error(r, 416, "range_not_satisfiable");
		mcd_reply_header(r, "Content-Range", cr);
		mcd_image_free(im);
		return;
	}
	uint64_t len = range ? last - first + 1 : size;
	d->start = range ? first : 0;
	/* MHD allocates (and zeroes) the block with every response: a small blob gets a block of
	 * its own size, not 256 KiB. */
	size_t block = len < BLOCK ? (size_t)(len ? len : 1) : BLOCK;
	struct MHD_Response *resp = MHD_create_response_from_callback(len, block, produce, d, finish);
	if (!resp) {
		finish(d);
		mcd_image_free(im);
		mcd_reply_error(r, 500, "internal");
		return;
	}
	mcd_reply_response(r, range ? 206 : 200, resp);
	mcd_reply_header(r, "Content-Type", "application/octet-stream");
	mcd_reply_header(r, "ETag", etag);
	mcd_reply_header(r, "Accept-Ranges", "bytes");
	if (range) {
		char cr[80];
		snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
		mcd_reply_header(r, "Content-Range", cr);
	}
	if (d->start == 0 && strcmp(r->method, "HEAD") != 0) {
		char detail[64];
		snprintf(detail, sizeof detail, "{\"bytes\":%" PRIu64 "}", len);
		mcd_audit_event ev = mcd_event(r, "download", im->id, "ok", detail);
		mcd_reply_after_audit(r, &ev); /* the bytes go out once the record is durable */
	}
	mcd_image_free(im);
}
