/*
 * exif.c: a bounded reader of the TIFF structure inside EXIF blocks (EXIF 2.3 §4.5, TIFF 6.0
 * §2), enough to find the three date fields: the byte order mark and the offset of IFD0, the
 * entries of IFD0 (DateTime, and the pointer to the Exif IFD), and the entries of the Exif IFD
 * (DateTimeOriginal, DateTimeDigitized). The block is untrusted side data: every offset and
 * count is checked against its length before it is used, at most MAX_ENTRIES entries of an IFD
 * are read, and only these two IFDs are visited, once each, so no input loops or recurses.
 */
#include <string.h>

#include "image_internal.h"
#include "internal.h"

#define MAX_ENTRIES             1000u
#define TIFF_ASCII              2u
#define TIFF_LONG               4u
#define TIFF_IFD                13u
#define TAG_DATE_TIME           0x0132u
#define TAG_EXIF_IFD            0x8769u
#define TAG_DATE_TIME_ORIGINAL  0x9003u
#define TAG_DATE_TIME_DIGITIZED 0x9004u

typedef struct tiff {
	const uint8_t *p;
	size_t len;
	bool big_endian;
} tiff;

static uint16_t get16(const tiff *t, size_t off)
{
	const uint8_t *b = t->p + off;
	return t->big_endian ? (uint16_t)((b[0] << 8) | b[1]) : (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t get32(const tiff *t, size_t off)
{
	const uint8_t *b = t->p + off;
	if (t->big_endian)
		return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
	return b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* An ASCII entry's value into out (19 characters and a NUL at most): printable ASCII up to
 * the first NUL, else left empty. entry is the offset of the 12-byte entry. */
static void ascii_value(const tiff *t, size_t entry, char out[20])
{
	uint16_t type = get16(t, entry + 2);
	uint32_t count = get32(t, entry + 4);
	out[0] = 0;
	if (type != TIFF_ASCII || count == 0)
		return;
	size_t at = entry + 8;
	if (count > 4) {
		uint32_t off = get32(t, entry + 8);
		if (off > t->len || count > t->len - off)
			return;
		at = off;
	}
	size_t n = 0;
	while (n < count && n < 19 && t->p[at + n] != 0) {
		if (t->p[at + n] < 0x20 || t->p[at + n] > 0x7E)
			return;
		n++;
	}
	memcpy(out, t->p + at, n);
	out[n] = 0;
}

/* Visits the IFD at off: the date tags go to out, the Exif IFD pointer to *exif_ifd. */
static mc_status read_ifd(const tiff *t, uint32_t off, mc_exif_dates *out, uint32_t *exif_ifd, mc_err *err)
{
	if (off < 8 || off > t->len || t->len - off < 2)
		return mc_fail(err, MC_ERR_HEADER, "EXIF: IFD offset %lu is outside the %zu-byte block",
		               (unsigned long)off, t->len);
	uint32_t n = get16(t, off);
	if (n > MAX_ENTRIES)
		return mc_fail(err, MC_ERR_HEADER, "EXIF: an IFD with %lu entries (at most %u)", (unsigned long)n,
		               MAX_ENTRIES);
	if ((t->len - off - 2) / 12 < n)
		return mc_fail(err, MC_ERR_HEADER, "EXIF: the IFD at %lu runs past the end of the block",
		               (unsigned long)off);
	for (uint32_t i = 0; i < n; i++) {
		size_t e = (size_t)off + 2 + (size_t)i * 12;
		uint16_t tag = get16(t, e);
		switch (tag) {
		case TAG_DATE_TIME: ascii_value(t, e, out->date_time); break;
		case TAG_DATE_TIME_ORIGINAL: ascii_value(t, e, out->date_time_original); break;
		case TAG_DATE_TIME_DIGITIZED: ascii_value(t, e, out->date_time_digitized); break;
		case TAG_EXIF_IFD:
			if (exif_ifd && (get16(t, e + 2) == TIFF_LONG || get16(t, e + 2) == TIFF_IFD) &&
			    get32(t, e + 4) == 1)
				*exif_ifd = get32(t, e + 8);
			break;
		default: break;
		}
	}
	return MC_OK;
}

mc_status mc_exif_parse_dates(const uint8_t *data, size_t len, mc_exif_dates *out, mc_err *err)
{
	if (!out)
		return mc_fail(err, MC_ERR_MISUSE, "mc_exif_parse_dates: no output");
	memset(out, 0, sizeof *out);
	if (!data || len < 8)
		return mc_fail(err, MC_ERR_HEADER, "EXIF: shorter than a TIFF header");
	tiff t = {data, len, false};
	if (data[0] == 'I' && data[1] == 'I')
		t.big_endian = false;
	else if (data[0] == 'M' && data[1] == 'M')
		t.big_endian = true;
	else
		return mc_fail(err, MC_ERR_HEADER, "EXIF: no TIFF byte order mark");
	if (get16(&t, 2) != 42)
		return mc_fail(err, MC_ERR_HEADER, "EXIF: not a TIFF structure (no 42)");
	uint32_t ifd0 = get32(&t, 4), exif_ifd = 0;
	mc_status st = read_ifd(&t, ifd0, out, &exif_ifd, err);
	if (st != MC_OK)
		return st;
	/* The Exif IFD, once; a pointer back to IFD0 would visit nothing new. */
	if (exif_ifd != 0 && exif_ifd != ifd0) {
		mc_exif_dates sub = *out;
		if (read_ifd(&t, exif_ifd, &sub, NULL, err) == MC_OK) {
			/* IFD0's DateTime stays IFD0's. */
			memcpy(sub.date_time, out->date_time, sizeof sub.date_time);
			*out = sub;
		}
	}
	return mc_ok(err);
}
