/*
 * blobstore.h: where the server keeps sealed blobs, behind a table of operations so that an
 * S3-compatible store can sit beside the filesystem one (blobstore_fs.c). Blobs are named by
 * the SHA-256 of their bytes and written once: a writer streams into a temporary object and
 * commit makes it visible under its name durably (file: fsync, rename, fsync of the directory)
 * or not at all. A reader serves byte ranges. A crash leaves at most temporary objects, which
 * open() removes.
 */
#ifndef MEDCRYPTD_BLOBSTORE_H
#define MEDCRYPTD_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mcd_blob_status {
	MCD_BLOB_OK = 0,
	MCD_BLOB_NOT_FOUND = 1,
	MCD_BLOB_ERROR = 2, /* I/O failure: logged with its detail by the store */
	MCD_BLOB_NOMEM = 3
} mcd_blob_status;

typedef struct mcd_blobstore mcd_blobstore;
typedef struct mcd_blob_writer mcd_blob_writer;
typedef struct mcd_blob_reader mcd_blob_reader;

typedef struct mcd_blobstore_ops {
	void (*close)(mcd_blobstore *bs);
	mcd_blob_status (*health)(mcd_blobstore *bs);
	/* Starts a new blob. The writer hashes what it is given. */
	mcd_blob_status (*begin)(mcd_blobstore *bs, mcd_blob_writer **out);
	mcd_blob_status (*write)(mcd_blob_writer *w, const uint8_t *buf, size_t len);
	/* Overwrites bytes already written (the upload path rewrites the wrap count of the
	 * prefix). Only before commit, only within what was written; the hash is computed at
	 * commit from the final bytes. */
	mcd_blob_status (*pwrite)(mcd_blob_writer *w, const uint8_t *buf, size_t len, uint64_t offset);
	/* Makes the blob durable under its SHA-256, which fills sha256 (and size). If a blob of
	 * that name exists already the new one is discarded: blobs are stored once. Frees w. */
	mcd_blob_status (*commit)(mcd_blob_writer *w, uint8_t sha256[32], uint64_t *size);
	/* Discards the temporary object and frees w (NULL is harmless). */
	void (*abort)(mcd_blob_writer *w);
	mcd_blob_status (*open)(mcd_blobstore *bs, const uint8_t sha256[32], mcd_blob_reader **out, uint64_t *size);
	/* Reads up to len bytes at offset into buf; *got is 0 only at the end. */
	mcd_blob_status (*read)(mcd_blob_reader *r, uint64_t offset, uint8_t *buf, size_t len, size_t *got);
	void (*close_reader)(mcd_blob_reader *r);
	mcd_blob_status (*remove)(mcd_blobstore *bs, const uint8_t sha256[32]);
} mcd_blobstore_ops;

struct mcd_blobstore {
	const mcd_blobstore_ops *ops;
};

/* Opens the filesystem blob store rooted at dir (created 0700 when missing), removing temporary
 * files a crash left behind. NULL on failure, logged. */
mcd_blobstore *mcd_blobstore_fs_open(const char *dir);

#endif
