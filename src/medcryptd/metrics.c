/*
 * metrics.c: fixed arrays of atomic counters (routes × a short list of statuses, a latency
 * histogram) rendered on demand. Route classes come from the route table, so a label never
 * carries anything a client chose.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define MAX_ROUTES 64 /* above the route table's length (router.c: 42 with the consent routes) */
static const unsigned statuses[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405,
                                    409, 411, 413, 416, 429, 431, 500, 503, 0 /* other */};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])
static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static _Atomic uint64_t requests[MAX_ROUTES + 1][N_STATUSES];
static _Atomic uint64_t histogram[N_BUCKETS + 1];
static _Atomic uint64_t duration_us;
static _Atomic uint64_t counters[MCD_M_COUNTERS];
static _Atomic int64_t gauges[MCD_G_GAUGES];

void mcd_metrics_request(const struct mcd_route *route, unsigned status, double seconds)
{
	size_t n;
	const mcd_route *all = mcd_routes(&n);
	size_t ri = route ? (size_t)(route - all) : MAX_ROUTES;
	if (ri > MAX_ROUTES)
		ri = MAX_ROUTES;
	size_t si = N_STATUSES - 1;
	for (size_t i = 0; i + 1 < N_STATUSES; i++)
		if (statuses[i] == status)
			si = i;
	atomic_fetch_add_explicit(&requests[ri][si], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < N_BUCKETS && seconds > buckets[b])
		b++;
	atomic_fetch_add_explicit(&histogram[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&duration_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

void mcd_metrics_add(mcd_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void mcd_metrics_gauge(mcd_gauge g, int delta)
{
	atomic_fetch_add_explicit(&gauges[g], delta, memory_order_relaxed);
}

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

char *mcd_metrics_render(size_t *len)
{
	struct out o = {malloc(8192), 0, 8192, 0};
	if (!o.buf)
		return NULL;
	size_t n;
	const mcd_route *all = mcd_routes(&n);
	put(&o, "# HELP medcryptd_requests_total Requests by route class and status.\n"
	        "# TYPE medcryptd_requests_total counter\n");
	for (size_t r = 0; r <= MAX_ROUTES; r++) {
		if (r < MAX_ROUTES && r >= n)
			continue;
		const char *name = r < n ? all[r].name : "unmatched";
		for (size_t s = 0; s < N_STATUSES; s++) {
			uint64_t v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
			if (!v)
				continue;
			if (statuses[s])
				put(&o, "medcryptd_requests_total{route=\"%s\",status=\"%u\"} %llu\n", name,
				    statuses[s], (unsigned long long)v);
			else
				put(&o, "medcryptd_requests_total{route=\"%s\",status=\"other\"} %llu\n", name,
				    (unsigned long long)v);
		}
	}
	put(&o, "# HELP medcryptd_request_duration_seconds Time from the request line to the last byte queued.\n"
	        "# TYPE medcryptd_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t b = 0; b <= N_BUCKETS; b++) {
		cum += atomic_load_explicit(&histogram[b], memory_order_relaxed);
		if (b < N_BUCKETS)
			put(&o, "medcryptd_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
			    (unsigned long long)cum);
		else
			put(&o, "medcryptd_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	put(&o, "medcryptd_request_duration_seconds_sum %.6f\n",
	    (double)atomic_load_explicit(&duration_us, memory_order_relaxed) / 1e6);
	put(&o, "medcryptd_request_duration_seconds_count %llu\n", (unsigned long long)cum);
	static const struct {
		const char *name, *help;
	} cn[MCD_M_COUNTERS] = {
	    {"medcryptd_uploads_total", "Sealed images stored."},
	    {"medcryptd_upload_bytes_total", "Bytes of sealed images stored."},
	    {"medcryptd_uploads_rejected_total", "Uploads refused (malformed, too large, not allowed)."},
	    {"medcryptd_download_bytes_total", "Blob bytes sent."},
	    {"medcryptd_logins_total{outcome=\"ok\"}", NULL},
	    {"medcryptd_logins_total{outcome=\"failed\"}", NULL},
	    {"medcryptd_lockouts_total", "Accounts or addresses locked after repeated failures."},
	    {"medcryptd_sessions_created_total", "Sessions started by login or registration."},
	};
	for (int c = 0; c < MCD_M_COUNTERS; c++) {
		char base[64];
		snprintf(base, sizeof base, "%s", cn[c].name);
		char *brace = strchr(base, '{');
		if (brace)
			*brace = 0;
		if (c == MCD_M_LOGINS_OK)
			put(&o, "# HELP %s Logins and re-authentications by outcome.\n# TYPE %s counter\n", base, base);
		else if (cn[c].help)
			put(&o, "# HELP %s %s\n# TYPE %s counter\n", base, cn[c].help, base);
		put(&o, "%s %llu\n", cn[c].name,
		    (unsigned long long)atomic_load_explicit(&counters[c], memory_order_relaxed));
	}
	put(&o,
	    "# HELP medcryptd_argon2_running Argon2id computations in progress.\n"
	    "# TYPE medcryptd_argon2_running gauge\nmedcryptd_argon2_running %lld\n",
	    (long long)atomic_load_explicit(&gauges[MCD_G_HASHES_RUNNING], memory_order_relaxed));
	put(&o,
	    "# HELP medcryptd_argon2_waiting Argon2id computations waiting for a slot.\n"
	    "# TYPE medcryptd_argon2_waiting gauge\nmedcryptd_argon2_waiting %lld\n",
	    (long long)atomic_load_explicit(&gauges[MCD_G_HASHES_WAITING], memory_order_relaxed));
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
