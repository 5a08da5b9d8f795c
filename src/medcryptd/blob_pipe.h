/*
 * blob_pipe.h: a blob writer run on a thread of its own, so that a large upload is hashed for
 * its name and written to disk (blobstore.h) while the HTTP thread goes on decrypting TLS and
 * checking the next bytes (sealed_check.c). Bytes pass through a fixed ring of 2 MiB and reach
 * the writer in order, in batches of 256 KiB to 1 MiB (fewer, larger writes than TLS records
 * give). One producer thread, one consumer thread per pipe.
 *
 * Ownership: the pipe borrows the writer; the caller commits or aborts it only after
 * mcd_blob_pipe_close has returned (the writer thread has ended by then).
 */
#ifndef MEDCRYPTD_BLOB_PIPE_H
#define MEDCRYPTD_BLOB_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"

typedef struct mcd_blob_pipe mcd_blob_pipe;

/* Starts the thread that writes into w. NULL when memory or a thread is not available
 * (logged): the caller then writes to w itself. */
mcd_blob_pipe *mcd_blob_pipe_start(mcd_blobstore *bs, mcd_blob_writer *w);

/* Queues a copy of len bytes, waiting while the ring is full. False when a write failed (the
 * writer thread has logged it); nothing more can be written then. */
bool mcd_blob_pipe_write(mcd_blob_pipe *p, const uint8_t *buf, size_t len);

/* Ends the pipe and frees it (NULL is harmless). With write_rest, the bytes still queued are
 * written first and the result tells whether every byte given was written; without it they are
 * dropped (the caller is aborting) and the result is false. */
bool mcd_blob_pipe_close(mcd_blob_pipe *p, bool write_rest);

#endif
