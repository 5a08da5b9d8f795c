/*
 * free_watch.c: the free() wrapper of free_watch.h. The linker sends every call to free from
 * the objects of the link here (--wrap=free); __real_free is the C library's (or the
 * sanitizer's) free.
 */
#include "free_watch.h"

#include <malloc.h>
#include <stdatomic.h>
#include <string.h>

void __real_free(void *p);
void __wrap_free(void *p);

static _Atomic(const void *) watched;
static size_t watched_len;
static atomic_size_t hits, seen_blocks;

void __wrap_free(void *p)
{
	const void *marker = atomic_load(&watched);
	if (p && marker) {
		atomic_fetch_add(&seen_blocks, 1);
		if (memmem(p, malloc_usable_size(p), marker, watched_len))
			atomic_fetch_add(&hits, 1);
	}
	__real_free(p);
}

void free_watch_start(const void *marker, size_t len)
{
	atomic_store(&hits, 0);
	atomic_store(&seen_blocks, 0);
	watched_len = len;
	atomic_store(&watched, marker);
}

size_t free_watch_stop(size_t *seen)
{
	atomic_store(&watched, NULL);
	if (seen)
		*seen = atomic_load(&seen_blocks);
	return atomic_load(&hits);
}
