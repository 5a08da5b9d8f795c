/*
 * dicom_builder.h: builds DICOM byte streams element by element for the unit tests of the DICOM
 * reader and writer (test_dicom.c, test_dicom_write.c): a growing buffer with the encoding's
 * byte order and VR form, element headers and whole elements. Test code: allocation failures
 * are not handled.
 */
#ifndef MEDCRYPT_TEST_DICOM_BUILDER_H
#define MEDCRYPT_TEST_DICOM_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct file {
	uint8_t *d;
	size_t n, cap;
	bool explicit_vr, big_endian;
} file;

static inline file *file_new(bool explicit_vr, bool big_endian)
{
	file *f = calloc(1, sizeof *f);
	f->cap = 1 << 16;
	f->d = malloc(f->cap);
	f->explicit_vr = explicit_vr;
	f->big_endian = big_endian;
	return f;
}

static inline void file_free(file *f)
{
	if (f) {
		free(f->d);
		free(f);
	}
}

static inline void put(file *f, const void *p, size_t n)
{
	while (f->n + n > f->cap) {
		f->cap *= 2;
		f->d = realloc(f->d, f->cap);
	}
	memcpy(f->d + f->n, p, n);
	f->n += n;
}

static inline void put16(file *f, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	if (f->big_endian)
		b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
	put(f, b, 2);
}

static inline void put32(file *f, uint32_t v)
{
	put16(f, f->big_endian ? (uint16_t)(v >> 16) : (uint16_t)v);
	put16(f, f->big_endian ? (uint16_t)v : (uint16_t)(v >> 16));
}

static inline bool is_long_vr(const char *vr)
{
	return strstr("OB OD OF OL OV OW SQ SV UC UN UR UT UV", vr) != NULL;
}

/* An element header in the file's encoding. */
static inline void header(file *f, uint16_t g, uint16_t e, const char *vr, uint32_t len)
{
	put16(f, g);
	put16(f, e);
	if (!f->explicit_vr) {
		put32(f, len);
		return;
	}
	put(f, vr, 2);
	if (is_long_vr(vr)) {
		put16(f, 0);
		put32(f, len);
	} else {
		put16(f, (uint16_t)len);
	}
}

static inline void element(file *f, uint16_t g, uint16_t e, const char *vr, const void *value, uint32_t len)
{
	header(f, g, e, vr, len);
	put(f, value, len);
}

#endif
