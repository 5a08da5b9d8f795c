/*
 * tus.h: the life of resumable uploads outside a request (tus.c, API.md §15a): the directory
 * of partial files, the set of uploads a PATCH or DELETE holds, and the sweep that removes
 * expired uploads, which main.c runs at start and then periodically.
 */
#ifndef MEDCRYPTD_HANDLERS_TUS_H
#define MEDCRYPTD_HANDLERS_TUS_H

#include "../server.h"

/* Creates DATA_DIR/uploads (0700) when missing, removes partial files that no upload row names
 * (a crash between the two) and expired uploads. NULL on failure, logged. Close with
 * mcd_tus_close (NULL is harmless) after the HTTP daemon has stopped. */
struct mcd_tus *mcd_tus_open(const mcd_server *srv);
void mcd_tus_close(struct mcd_tus *t);
/* Removes every upload whose expiry has passed (row, then file), except one a request holds. */
void mcd_tus_sweep(mcd_server *srv);

#endif
