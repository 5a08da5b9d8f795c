/*
 * router.h: the route table: for each method and path pattern, the right it needs (rights.h),
 * whether it needs the CSRF token and a recent re-authentication, how large a body it takes, and
 * its handler. http.c enforces every column before the handler runs, so a handler can rely on
 * them.
 */
#ifndef MEDCRYPTD_ROUTER_H
#define MEDCRYPTD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "rights.h"

typedef void (*mcd_handler)(mcd_request *r);

typedef struct mcd_route {
	const char *method;
	const char *pattern; /* "/api/v1/images/{id}/blob"; {id} is 32 hex digits, {username} a username */
	const char *name;    /* route class in logs and metrics */
	mcd_right right;
	bool csrf;
	bool reauth;
	size_t body_limit; /* largest JSON body; 0: no body */
	bool stream;       /* the body is streamed to mcd_upload_* (handlers.h) */
	mcd_handler handler;
} mcd_route;

/* The route for method and path (query excluded), filling params; NULL when none. HEAD matches
 * the GET routes. */
const mcd_route *mcd_route_match(const char *method, const char *path, char params[2][72]);
/* The routes, for metrics: *n gets their number. */
const mcd_route *mcd_routes(size_t *n);

#endif
