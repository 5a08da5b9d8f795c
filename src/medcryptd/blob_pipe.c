/*
 * blob_pipe.c: the writer thread of blob_pipe.h. A ring of RING bytes (mmap'd, so that it goes
 * back to the system when the upload ends) with two counters that only grow: head (bytes
 * queued, moved by the producer) and tail (bytes written, moved by the writer thread). The
 * producer copies into [head, tail + RING) outside the lock (no one else touches that part)
 * and the writer writes [tail, head) outside the lock likewise; the mutex guards only the
 * counters and the flags. The writer waits until BATCH bytes are queued (or the pipe closes), so
 * it makes few large writes however small the producer's pieces are.
 */
#include "blob_pipe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

#define RING      (2u << 20)
#define BATCH     (256u << 10)
#define MAX_WRITE (1u << 20)

struct mcd_blob_pipe {
	mcd_blobstore *bs;
	mcd_blob_writer *w;
	uint8_t *ring;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t queued;  /* head moved or closing was set: for the writer */
	pthread_cond_t written; /* tail moved or failed was set: for the producer */
	uint64_t head, tail;
	bool closing, drop, failed;
};

static void *writer_main(void *arg)
{
	mcd_blob_pipe *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->closing && p->head - p->tail < BATCH)
			pthread_cond_wait(&p->queued, &p->mu);
		uint64_t avail = p->head - p->tail;
		if (avail == 0 || p->drop)
			break;
		size_t at = (size_t)(p->tail % RING);
		size_t n = avail < RING - at ? (size_t)avail : RING - at;
		if (n > MAX_WRITE)
			n = MAX_WRITE;
		pthread_mutex_unlock(&p->mu);
		bool ok = p->bs->ops->write(p->w, p->ring + at, n) == MCD_BLOB_OK;
		pthread_mutex_lock(&p->mu);
		if (!ok) {
			p->failed = true;
			pthread_cond_signal(&p->written);
			break;
		}
		p->tail += n;
		pthread_cond_signal(&p->written);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Everything mcd_blob_pipe_start made, once its thread is gone (or never started). */
static void pipe_free(mcd_blob_pipe *p)
{
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->queued);
	pthread_cond_destroy(&p->written);
	munmap(p->ring, RING);
	free(p);
}

mcd_blob_pipe *mcd_blob_pipe_start(mcd_blobstore *bs, mcd_blob_writer *w)
{
	mcd_blob_pipe *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->bs = bs;
	p->w = w;
	p->ring = mmap(NULL, RING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->ring == MAP_FAILED) {
		mcd_log(MCD_LOG_WARN, "upload", "no memory for a writer thread's ring: writing inline");
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->queued, NULL);
	pthread_cond_init(&p->written, NULL);
	if (pthread_create(&p->thread, NULL, writer_main, p) != 0) {
		mcd_log(MCD_LOG_WARN, "upload", "cannot start a writer thread: writing inline");
		pipe_free(p);
		return NULL;
	}
	return p;
}

bool mcd_blob_pipe_write(mcd_blob_pipe *p, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&p->mu);
	while (len > 0) {
		while (!p->failed && p->head - p->tail == RING)
			pthread_cond_wait(&p->written, &p->mu);
		if (p->failed)
			break;
		size_t at = (size_t)(p->head % RING);
		size_t room = RING - (size_t)(p->head - p->tail);
		size_t n = len < room ? len : room;
		if (n > RING - at)
			n = RING - at;
		pthread_mutex_unlock(&p->mu);
		memcpy(p->ring + at, buf, n);
		pthread_mutex_lock(&p->mu);
		bool was_short = p->head - p->tail < BATCH;
		p->head += n;
		buf += n;
		len -= n;
		if (was_short && p->head - p->tail >= BATCH)
			pthread_cond_signal(&p->queued);
	}
	bool ok = !p->failed;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

bool mcd_blob_pipe_close(mcd_blob_pipe *p, bool write_rest)
{
	if (!p)
		return false;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	p->drop = !write_rest;
	pthread_cond_signal(&p->queued);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	bool ok = write_rest && !p->failed && p->head == p->tail;
	pipe_free(p);
	return ok;
}
