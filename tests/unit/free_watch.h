/*
 * free_watch.h: finds secrets left in freed memory. A test program linked with free_watch.c and
 * the linker option -Wl,--wrap=free has every free() of its own code and of libmedcrypt (a
 * static library, so its objects are part of the link) pass through free_watch first. Between
 * free_watch_start and free_watch_stop, each freed block is searched, whole (its
 * malloc_usable_size bytes), for a marker, and the blocks that still hold it are counted.
 * Frees made inside shared libraries (OpenSSL, jansson's default allocator) are not seen.
 * Production code carries no hook for this: the wrapping exists only in these test links.
 */
#ifndef MC_TEST_FREE_WATCH_H
#define MC_TEST_FREE_WATCH_H

#include <stddef.h>

/* Starts counting freed blocks that contain marker[0..len) (the marker must stay valid). */
void free_watch_start(const void *marker, size_t len);
/* Stops; returns how many freed blocks held the marker, and in *seen (may be NULL) how many
 * blocks were freed while watching, so a test can tell that it watched anything at all. */
size_t free_watch_stop(size_t *seen);

#endif
