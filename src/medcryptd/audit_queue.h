/*
 * audit_queue.h: audit records committed by a thread of their own, for requests that must not
 * answer before their record is durable but need not hold an HTTP thread while it becomes so
 * (a download: API.md §15). A caller submits a copy of its event with a callback; the queue's
 * thread commits everything submitted since its last commit in one transaction
 * (store.h audit_append_batch: one fsync for the lot), then calls each callback with that
 * event's status, in submission order. HTTP threads thus never wait for an fsync, and the more
 * requests wait, the more share one.
 */
#ifndef MEDCRYPTD_AUDIT_QUEUE_H
#define MEDCRYPTD_AUDIT_QUEUE_H

#include <stdbool.h>

#include "store.h"

typedef struct mcd_audit_queue mcd_audit_queue;

/* Called on the queue's thread once the record is committed (or failed, logged by the store). */
typedef void (*mcd_audit_done)(void *ctx, mcd_store_status status);

/* Starts the queue's thread over st. NULL (logged) when it cannot. */
mcd_audit_queue *mcd_audit_queue_start(mcd_store *st);

/* Queues a copy of ev. False when the queue is NULL, stopping, or out of memory: then nothing
 * was queued, done will not be called, and the caller appends the record itself. */
bool mcd_audit_queue_submit(mcd_audit_queue *q, const mcd_audit_event *ev, mcd_audit_done done, void *ctx);

/* Refuses new submissions (submit answers false from now on), commits what is queued
 * (calling every callback) and ends the thread. q stays valid, so threads that may still call
 * submit do not race with its end; free it with mcd_audit_queue_free once they are gone. NULL
 * is harmless; stopping twice too. */
void mcd_audit_queue_stop(mcd_audit_queue *q);
/* Stops q if needed and frees it (NULL is harmless). */
void mcd_audit_queue_free(mcd_audit_queue *q);

#endif
