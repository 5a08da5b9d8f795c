/*
 * printable.h: showing text that came from the server on a terminal. A display name, a user
 * name or an error message from the server is untrusted: it could carry escape sequences or
 * bidirectional overrides that make one line read as another.
 */
#ifndef MEDCRYPT_PRINTABLE_H
#define MEDCRYPT_PRINTABLE_H

#include <stddef.h>

/* Copies untrusted text s (NULL: "-") into out for a terminal: control characters (C0, DEL,
 * C1), the bidirectional overrides and isolates, and bytes that are not UTF-8 become '?'.
 * Truncated at a character boundary to fit size (size >= 1). Returns out. */
const char *cli_printable(const char *s, char *out, size_t size);

#endif
