/*
 * webroot.h: the browser client's files (web/dist, made by web/build.mjs), read into memory once
 * at start. A request can only ever be answered with one of the files found then, looked up by
 * its exact path, so nothing a client sends reaches the file system: traversal, encoded
 * separators and symbolic links have nothing to act on. Symbolic links, names starting with a
 * dot and names with characters outside [A-Za-z0-9._-] are not loaded at all. Changing the
 * files needs a restart (the build writes new content-hashed names anyway).
 *
 * Ownership: mcd_webroot_load returns a table the caller frees with mcd_webroot_free (NULL is
 * harmless); the files it hands out live as long as the table.
 */
#ifndef MEDCRYPTD_WEBROOT_H
#define MEDCRYPTD_WEBROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mcd_webroot mcd_webroot;

typedef struct mcd_webfile {
	char *path;     /* from the root with a leading slash: "/app-ABCD2345.js" */
	uint8_t *bytes; /* the whole file */
	size_t len;
	const char *content_type; /* by extension (mcd_web_content_type) */
	char etag[40];            /* "\"" + hex of the first 16 bytes of its SHA-256 + "\"" */
	bool immutable;           /* a content-hashed name (mcd_web_is_hashed) */
} mcd_webfile;

/* Reads every regular file under dir (depth 8, 4096 files, 64 MiB each, 512 MiB in all; the
 * first beyond a limit is an error). dir must hold index.html. NULL on failure, with a
 * sentence for the operator in err (never NULL itself when err_cap > 0). */
mcd_webroot *mcd_webroot_load(const char *dir, char *err, size_t err_cap);
void mcd_webroot_free(mcd_webroot *w);
/* The file at exactly path ("/index.html"), or NULL. */
const mcd_webfile *mcd_webroot_find(const mcd_webroot *w, const char *path);
/* How many files were loaded. */
size_t mcd_webroot_count(const mcd_webroot *w);
/* The Content-Type for a file name by its last extension; NULL for an extension the client's
 * build never produces (such a file is still served, as application/octet-stream). */
const char *mcd_web_content_type(const char *name);
/* Whether a file name is content-hashed as web/build.mjs names them: the part before its first
 * dot ends in "-" and 8 characters of [A-Z2-7] (esbuild's [hash]), e.g. "app-3F2AC1QZ.js". */
bool mcd_web_is_hashed(const char *name);

#endif
