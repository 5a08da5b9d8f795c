/*
 * audit_queue.c: the committing thread of audit_queue.h. Submissions are a singly linked list
 * under one mutex; each holds its event with the strings copied into the same allocation, so
 * the submitter's buffers may go away at once. The thread takes the whole list (at most
 * MAX_BATCH at a time), commits it with one audit_append_batch, and reports.
 */
#include "audit_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_BATCH 512

struct item {
	struct item *next;
	mcd_audit_event ev;
	mcd_audit_done done;
	void *ctx;
	char text[]; /* the event's strings */
};

struct mcd_audit_queue {
	mcd_store *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct item *head, **tail;
	bool stopping;
};

static void *committer(void *arg)
{
	mcd_audit_queue *q = arg;
	const mcd_audit_event **evs = malloc(MAX_BATCH * sizeof *evs);
	mcd_store_status *status = malloc(MAX_BATCH * sizeof *status);
	struct item *batch[MAX_BATCH];
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->wake, &q->mu);
		if (!q->head)
			break;
		size_t n = 0;
		while (q->head && n < MAX_BATCH) {
			batch[n++] = q->head;
			q->head = q->head->next;
		}
		if (!q->head)
			q->tail = &q->head;
		pthread_mutex_unlock(&q->mu);
		for (size_t i = 0; i < n; i++) {
			if (evs && status) {
				evs[i] = &batch[i]->ev;
			} else {
				/* No memory for the batch arrays: one at a time. */
				mcd_store_status one = q->st->ops->audit_append(q->st, &batch[i]->ev);
				batch[i]->done(batch[i]->ctx, one);
			}
		}
		if (evs && status) {
			q->st->ops->audit_append_batch(q->st, evs, n, status);
			for (size_t i = 0; i < n; i++)
				batch[i]->done(batch[i]->ctx, status[i]);
		}
		for (size_t i = 0; i < n; i++)
			free(batch[i]);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	free(evs);
	free(status);
	return NULL;
}

mcd_audit_queue *mcd_audit_queue_start(mcd_store *st)
{
	mcd_audit_queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->st = st;
	q->tail = &q->head;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->wake, NULL);
	if (pthread_create(&q->thread, NULL, committer, q) != 0) {
		mcd_log(MCD_LOG_ERROR, "audit", "cannot start the audit queue's thread");
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->wake);
		free(q);
		return NULL;
	}
	return q;
}

static char *put(char **at, const char *s)
{
	if (!s)
		return NULL;
	char *start = *at;
	size_t n = strlen(s) + 1;
	memcpy(start, s, n);
	*at += n;
	return start;
}

static size_t len0(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

bool mcd_audit_queue_submit(mcd_audit_queue *q, const mcd_audit_event *ev, mcd_audit_done done, void *ctx)
{
	if (!q || !ev || !done)
		return false;
	size_t n = len0(ev->actor) + len0(ev->address) + len0(ev->action) + len0(ev->object) + len0(ev->outcome) +
	           len0(ev->detail);
	struct item *it = malloc(sizeof *it + n);
	if (!it)
		return false;
	char *at = it->text;
	it->next = NULL;
	it->done = done;
	it->ctx = ctx;
	it->ev.time = ev->time;
	it->ev.actor = put(&at, ev->actor);
	it->ev.address = put(&at, ev->address);
	it->ev.action = put(&at, ev->action);
	it->ev.object = put(&at, ev->object);
	it->ev.outcome = put(&at, ev->outcome);
	it->ev.detail = put(&at, ev->detail);
	pthread_mutex_lock(&q->mu);
	bool open = !q->stopping;
	if (open) {
		*q->tail = it;
		q->tail = &it->next;
		pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->mu);
	if (!open)
		free(it);
	return open;
}

void mcd_audit_queue_stop(mcd_audit_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	bool running = !q->stopping;
	q->stopping = true;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->mu);
	if (running)
		pthread_join(q->thread, NULL);
}

void mcd_audit_queue_free(mcd_audit_queue *q)
{
	if (!q)
		return;
	mcd_audit_queue_stop(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->wake);
	free(q);
}
