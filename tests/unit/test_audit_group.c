/*
 * test_audit_group.c: audit records committed together. First the group commit of audit_append
 * in src/medcryptd/store_sqlite.c: eight threads append 150 records each at once, every 25th of
 * them malformed: every good record is acknowledged OK and stored exactly once (its object names
 * thread and number), every bad one fails alone, seq has no gap, and the chain with its signed
 * checkpoints verifies. Then the same through the audit queue (src/medcryptd/audit_queue.c,
 * which downloads use): every callback is called once with its own status, in submission order
 * per thread, the event's strings may be freed right after submit, stop commits what is queued,
 * and a submission after stop is refused without a callback.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "audit.h"
#include "audit_queue.h"
#include "check.h"
#include "log.h"
#include "server_testutil.h"
#include "store.h"

#define THREADS 8
#define PER     150

struct worker {
	mcd_store *s;
	int index;
	int ok, refused, wrong;
};

static void *work(void *arg)
{
	struct worker *wk = arg;
	for (int i = 0; i < PER; i++) {
		char object[32];
		snprintf(object, sizeof object, "t%d-%d", wk->index, i);
		bool bad = i % 25 == 24;
		mcd_audit_event ev = {.time = 1700000000 + i,
		                      .actor = "doctor",
		                      .address = "127.0.0.1",
		                      .action = "download",
		                      .object = object,
		                      .outcome = "ok",
		                      .detail = bad ? "[\"not an object\"]" : "{\"bytes\":1}"};
		mcd_store_status r = wk->s->ops->audit_append(wk->s, &ev);
		if (bad && r == MCD_STORE_ERROR)
			wk->refused++;
		else if (!bad && r == MCD_STORE_OK)
			wk->ok++;
		else
			wk->wrong++;
	}
	return NULL;
}

/* The audit queue: each worker submits PER events and counts its callbacks. */
struct submitter {
	mcd_audit_queue *q;
	int index;
	atomic_int called, ok, refused, wrong, out_of_order, last;
};

struct ticket {
	struct submitter *by;
	int i;
};

static void committed(void *ctx, mcd_store_status status)
{
	struct ticket *t = ctx;
	struct submitter *sb = t->by;
	bool bad = t->i % 25 == 24;
	if (bad && status == MCD_STORE_ERROR)
		sb->refused++;
	else if (!bad && status == MCD_STORE_OK)
		sb->ok++;
	else
		sb->wrong++;
	if (t->i != sb->last + 1)
		sb->out_of_order++;
	sb->last = t->i;
	sb->called++;
	free(t);
}

static void *submit_work(void *arg)
{
	struct submitter *sb = arg;
	for (int i = 0; i < PER; i++) {
		char *object = malloc(32), *detail = strdup(i % 25 == 24 ? "[1]" : "{\"bytes\":2}");
		struct ticket *t = malloc(sizeof *t);
		if (!object || !detail || !t)
			exit(2);
		snprintf(object, 32, "q%d-%d", sb->index, i);
		*t = (struct ticket){sb, i};
		mcd_audit_event ev = {.time = 1700000000,
		                      .actor = "doctor",
		                      .address = "127.0.0.1",
		                      .action = "download",
		                      .object = object,
		                      .outcome = "ok",
		                      .detail = detail};
		if (!mcd_audit_queue_submit(sb->q, &ev, committed, t))
			exit(2);
		/* the queue holds its own copy */
		memset(object, 'X', 31);
		memset(detail, 'X', strlen(detail));
		free(object);
		free(detail);
	}
	return NULL;
}

static int queue_seen[THREADS][PER];

static int queue_record_cb(void *ctx, const mcd_audit_record *r)
{
	(void)ctx;
	int t, i;
	if (r->object && sscanf(r->object, "q%d-%d", &t, &i) == 2 && t >= 0 && t < THREADS && i >= 0 && i < PER)
		queue_seen[t][i] += r->detail && strcmp(r->detail, "{\"bytes\":2}") == 0 ? 1 : 100;
	return 0;
}

static void test_queue(mcd_store *s, mcd_audit_signer *signer)
{
	mcd_audit_queue *q = mcd_audit_queue_start(s);
	CHECK(q != NULL, "start the queue");
	if (!q)
		return;
	pthread_t th[THREADS];
	static struct submitter sb[THREADS];
	for (int i = 0; i < THREADS; i++) {
		sb[i].q = q;
		sb[i].index = i;
		sb[i].last = -1;
		pthread_create(&th[i], NULL, submit_work, &sb[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	mcd_audit_queue_stop(q); /* commits what is still queued */
	int called = 0, ok = 0, refused = 0, wrong = 0, order = 0;
	for (int i = 0; i < THREADS; i++) {
		called += sb[i].called;
		ok += sb[i].ok;
		refused += sb[i].refused;
		wrong += sb[i].wrong;
		order += sb[i].out_of_order;
	}
	const int bad_per = PER / 25;
	CHECK(called == THREADS * PER, "every callback called once by stop: %d", called);
	CHECK(ok == THREADS * (PER - bad_per) && refused == THREADS * bad_per && wrong == 0,
	      "each its own status: %d ok, %d refused, %d wrong", ok, refused, wrong);
	CHECK(order == 0, "in submission order: %d out of order", order);
	int flag = 0;
	mcd_audit_event ev = {
	    .time = 1, .actor = "a", .address = "-", .action = "download", .object = "-", .outcome = "ok"};
	CHECK(!mcd_audit_queue_submit(q, &ev, committed, &flag), "refused after stop");
	mcd_audit_queue_free(q);
	mcd_audit_queue_free(NULL);
	CHECK(!mcd_audit_queue_submit(NULL, &ev, committed, &flag), "a NULL queue refuses");
	CHECK(s->ops->audit_list(s, 0, 0, queue_record_cb, NULL) == MCD_STORE_OK, "list the log");
	int missing = 0, twice = 0, stored_bad = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER; i++) {
			bool bad = i % 25 == 24;
			if (bad && queue_seen[t][i])
				stored_bad++;
			else if (!bad && queue_seen[t][i] != 1)
				queue_seen[t][i] ? twice++ : missing++;
		}
	CHECK(missing == 0 && twice == 0 && stored_bad == 0, "queue: missing %d, twice %d, malformed stored %d",
	      missing, twice, stored_bad);
	mcd_audit_verdict v;
	CHECK(mcd_audit_verify(s, mcd_audit_signer_public_pem(signer), &v) == MCD_STORE_OK && v.ok,
	      "the chain still verifies: %s", v.reason);
}

static int seen[THREADS][PER];
static int64_t records, last_seq;
static bool gap;

static int record_cb(void *ctx, const mcd_audit_record *r)
{
	(void)ctx;
	int t, i;
	if (r->seq != last_seq + 1)
		gap = true;
	last_seq = r->seq;
	records++;
	if (r->object && sscanf(r->object, "t%d-%d", &t, &i) == 2 && t >= 0 && t < THREADS && i >= 0 && i < PER)
		seen[t][i]++;
	return 0;
}

int main(void)
{
	mcd_log_set_level(MCD_LOG_ERROR + 1);
	char dir[256], db[300];
	scratch_dir(dir);
	snprintf(db, sizeof db, "%s/medcryptd.db", dir);
	mcd_audit_signer *signer = mcd_audit_signer_open(dir);
	mcd_store *s = signer ? mcd_store_sqlite_open(db, signer) : NULL;
	CHECK(s != NULL, "open a store with a signer");
	if (!s)
		return 1;
	pthread_t th[THREADS];
	struct worker wk[THREADS];
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){.s = s, .index = i};
		pthread_create(&th[i], NULL, work, &wk[i]);
	}
	int ok = 0, refused = 0, wrong = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += wk[i].ok;
		refused += wk[i].refused;
		wrong += wk[i].wrong;
	}
	const int bad_per = PER / 25;
	CHECK(ok == THREADS * (PER - bad_per), "every good record acknowledged: %d", ok);
	CHECK(refused == THREADS * bad_per, "every malformed record refused: %d", refused);
	CHECK(wrong == 0, "no record got another's status: %d", wrong);
	CHECK(s->ops->audit_list(s, 0, 0, record_cb, NULL) == MCD_STORE_OK, "list the log");
	CHECK(records == ok && !gap, "stored once each, seq without a gap: %lld records", (long long)records);
	int missing = 0, twice = 0, stored_bad = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER; i++) {
			bool bad = i % 25 == 24;
			if (bad && seen[t][i])
				stored_bad++;
			else if (!bad && seen[t][i] == 0)
				missing++;
			else if (seen[t][i] > 1)
				twice++;
		}
	CHECK(missing == 0 && twice == 0 && stored_bad == 0, "missing %d, twice %d, malformed stored %d", missing,
	      twice, stored_bad);
	mcd_audit_verdict v;
	CHECK(mcd_audit_verify(s, mcd_audit_signer_public_pem(signer), &v) == MCD_STORE_OK && v.ok,
	      "the chain verifies: %s", v.reason);
	CHECK(v.checkpoints == records / 64, "a signed checkpoint every 64 records: %lld", (long long)v.checkpoints);
	test_queue(s, signer);
	s->ops->close(s);
	mcd_audit_signer_free(signer);
	scratch_remove(dir);
	return check_summary("audit-group");
}
