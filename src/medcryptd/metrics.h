/*
 * metrics.h: the counters behind GET /metrics (API.md §18), in Prometheus text format. Every
 * update is a relaxed atomic add, so the hot path takes no lock.
 */
#ifndef MEDCRYPTD_METRICS_H
#define MEDCRYPTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct mcd_route;

typedef enum mcd_counter {
	MCD_M_UPLOADS,
	MCD_M_UPLOAD_BYTES,
	MCD_M_UPLOADS_REJECTED,
	MCD_M_DOWNLOAD_BYTES,
	MCD_M_LOGINS_OK,
	MCD_M_LOGINS_FAILED,
	MCD_M_LOCKOUTS,
	MCD_M_SESSIONS_CREATED,
	MCD_M_COUNTERS
} mcd_counter;

typedef enum mcd_gauge { MCD_G_HASHES_RUNNING, MCD_G_HASHES_WAITING, MCD_G_GAUGES } mcd_gauge;

/* Counts one finished request of route (NULL: no route matched) with its status and duration. */
void mcd_metrics_request(const struct mcd_route *route, unsigned status, double seconds);
void mcd_metrics_add(mcd_counter c, uint64_t n);
void mcd_metrics_gauge(mcd_gauge g, int delta);
/* The whole exposition, malloc'd (free with free()); NULL when out of memory. */
char *mcd_metrics_render(size_t *len);

#endif
