/*
 * tus.h: the life of resumable uploads outside a request (tus.c, API.md §15a): the directory
 * of partial files, the set of uploads a PATCH or DELETE holds, and the sweep that removes
 * expired uploads, which main.c runs at start and then periodically. Also the parsers of the
 * tus request headers, which the handlers call and fuzz/fuzz_tus.c fuzzes.
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

/* Upload-Offset and Upload-Length: 1 to 19 ASCII digits (leading zeros allowed), nothing else,
 * so the value cannot overflow. False for NULL or anything else; *out is set only on success. */
bool mcd_tus_parse_u64(const char *s, uint64_t *out);
/* Upload-Metadata (tus 1.0): at most 4096 characters of comma-separated pairs "key value" or a
 * lone "key", spaces allowed before a key; a key is printable ASCII without space or comma, a
 * value strict base64 (mcd_b64_decode accepts it). Reads m up to its NUL only. */
bool mcd_tus_metadata_ok(const char *m);
/* The value of key in an Upload-Metadata header m that mcd_tus_metadata_ok accepted, decoded
 * from base64: *out is NULL when the key is absent, "" for a lone key, else the decoded text
 * (malloc'd; free with free()). False (with *out NULL) when the key appears twice or its value
 * decodes to bytes holding a NUL, or when out of memory. */
bool mcd_tus_metadata_value(const char *m, const char *key, char **out);
/* Whether a Content-Type is application/offset+octet-stream (any case), alone or followed by
 * ';' and parameters. False for NULL. */
bool mcd_tus_is_octets(const char *type);

#endif
