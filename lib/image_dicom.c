/*
 * image_dicom.c: the first frame of a DICOM image as 8-bit display rows (for previews). The
 * streaming reader (lib/dicom.c, in its streaming mode, which reports the pixel data before
 * reading it) finds the image attributes of the top-level dataset and where the pixel data lies,
 * and stops there; the frame is then read with pread from the file, a band of rows at a time, so
 * neither memory nor reading grows with the number of frames. Native data: 8 or 16
 * bits allocated, monochrome (MONOCHROME1/2, signed or not, Bits Stored and High Bit, Rescale
 * Slope/Intercept, the first Window Center/Width or else a window from the frame's histogram)
 * or RGB (Planar Configuration 0 or 1). Encapsulated data: JPEG Baseline (and 8-bit Extended)
 * through libjpeg-turbo, from the fragments of the first frame; RLE Lossless (PS3.5 Annex G) and
 * JPEG Lossless (process 14, jpeg_lossless.c), whose first frame is decoded in memory (bounded)
 * and then read like native data; any other
 * compressed transfer syntax is refused as unsupported. PS3.3 C.7.6.3 (image pixel), C.11.2 (VOI
 * LUT) and PS3.5 A.4 (encapsulation) are the references.
 */
#include <errno.h>
#include <math.h>
#include <medcrypt/dicom.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"
#include "internal.h"

#define MAX_FRAGMENTS 65536u
#define MC_TS_RLE     "1.2.840.10008.1.2.5"
#define BAND_BYTES    (1u << 20) /* bytes of native pixel data read per pread */

typedef struct fragment {
	uint64_t offset;
	uint32_t length;
} fragment;

typedef struct dicom_image {
	int fd;
	const mc_image_limits *lim;
	char ts[65];
	char photometric[17];
	uint32_t rows, columns, samples, bits_allocated, bits_stored, high_bit, pixel_rep, planar;
	bool has_rows, has_columns, has_bits_stored, has_high_bit;
	long long frames;
	double slope, intercept, center, width;
	bool has_window;
	/* pixel data */
	bool found_pixels, encapsulated, big_endian;
	const uint8_t *mem; /* a decoded frame (RLE) that native_rows reads instead of the file */
	uint64_t pixel_offset;
	uint32_t pixel_length;
	/* encapsulated: the basic offset table and the first frame's fragments */
	bool have_bot;
	uint32_t bot_end;    /* offset of the second frame in the offset table, or 0 */
	uint64_t first_item; /* file offset of the first fragment's item tag */
	fragment *frags;
	size_t n_frags, frame_bytes;
	bool frame_done;
	mc_status st; /* set by a callback that stopped the parse on an error */
	mc_err *err;
} dicom_image;

/* pread-based input from the start of the file, whatever the descriptor's position. */
typedef struct pread_input {
	int fd;
	uint64_t pos;
} pread_input;

static long pread_read(void *ctx, uint8_t *buf, size_t len)
{
	pread_input *p = ctx;
	for (;;) {
		ssize_t n = pread(p->fd, buf, len, (off_t)p->pos);
		if (n >= 0) {
			p->pos += (uint64_t)n;
			return (long)n;
		}
		if (errno != EINTR)
			return -1;
	}
}

static mc_status pread_all(int fd, uint8_t *buf, size_t len, uint64_t off, mc_err *err)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mc_fail(err, MC_ERR_IO, "reading the pixel data failed: %s", strerror(errno));
		if (n == 0)
			return mc_fail(err, MC_ERR_HEADER, "truncated DICOM file: the pixel data ends early");
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return MC_OK;
}

static uint32_t value_us(const mc_dicom_element *el)
{
	if (!el->value || el->length < 2)
		return 0;
	const uint8_t *v = el->value;
	return el->big_endian ? (uint32_t)((v[0] << 8) | v[1]) : (uint32_t)(v[0] | (v[1] << 8));
}

/* The first value of a string (DS, IS, CS, UI) into out, trimmed of padding. */
static void value_str(const mc_dicom_element *el, char *out, size_t cap)
{
	out[0] = 0;
	if (!el->value)
		return;
	size_t n = 0, i = 0;
	while (i < el->length && (el->value[i] == ' ' || el->value[i] == 0))
		i++;
	for (; i < el->length && el->value[i] != '\\' && el->value[i] != 0 && n + 1 < cap; i++)
		out[n++] = (char)el->value[i];
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = 0;
}

static bool value_double(const mc_dicom_element *el, double *out)
{
	char s[64];
	char *end;
	value_str(el, s, sizeof s);
	if (!s[0])
		return false;
	errno = 0;
	double d = strtod(s, &end);
	if (*end != 0 || errno || !isfinite(d))
		return false;
	*out = d;
	return true;
}

static int on_element(void *ctx, const mc_dicom_element *el)
{
	dicom_image *im = ctx;
	if (el->depth != 0)
		return 0;
	uint32_t tag = ((uint32_t)el->group << 16) | el->element;
	double d;
	char s[32];
	switch (tag) {
	case 0x00020010: value_str(el, im->ts, sizeof im->ts); break;
	case 0x00280002: im->samples = value_us(el); break;
	case 0x00280004: value_str(el, im->photometric, sizeof im->photometric); break;
	case 0x00280006: im->planar = value_us(el); break;
	case 0x00280008:
		value_str(el, s, sizeof s);
		im->frames = s[0] ? strtoll(s, NULL, 10) : 0;
		break;
	case 0x00280010: im->rows = value_us(el), im->has_rows = el->value != NULL; break;
	case 0x00280011: im->columns = value_us(el), im->has_columns = el->value != NULL; break;
	case 0x00280100: im->bits_allocated = value_us(el); break;
	case 0x00280101: im->bits_stored = value_us(el), im->has_bits_stored = true; break;
	case 0x00280102: im->high_bit = value_us(el), im->has_high_bit = true; break;
	case 0x00280103: im->pixel_rep = value_us(el); break;
	case 0x00281050:
		if (value_double(el, &d))
			im->center = d, im->has_window = true;
		break;
	case 0x00281051:
		if (value_double(el, &d))
			im->width = d;
		break;
	case 0x00281052:
		if (value_double(el, &d))
			im->intercept = d;
		break;
	case 0x00281053:
		if (value_double(el, &d) && d != 0)
			im->slope = d;
		break;
	case 0x7FE00010:
		im->found_pixels = true;
		im->big_endian = el->big_endian;
		if (el->length == MC_DICOM_UNDEFINED_LENGTH) {
			im->encapsulated = true;
			return 0; /* the fragments follow */
		}
		im->pixel_offset = el->value_offset;
		im->pixel_length = el->length;
		return 1; /* native: everything needed is known */
	default: break;
	}
	return 0;
}

/* The bytes of large values before the pixel data (private blobs, icons): not needed. */
static int skip_bytes(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	(void)bytes;
	(void)len;
	return 0;
}

/* Does the fragment end with the JPEG EOI marker (a trailing pad byte allowed)? */
static bool ends_with_eoi(dicom_image *im, uint64_t offset, uint32_t length)
{
	uint8_t b[3];
	if (length < 2)
		return false;
	size_t n = length >= 3 ? 3 : 2;
	if (pread_all(im->fd, b, n, offset + length - n, &(mc_err){0}) != MC_OK)
		return false;
	if (b[n - 2] == 0xFF && b[n - 1] == 0xD9)
		return true;
	return n == 3 && b[0] == 0xFF && b[1] == 0xD9 && b[2] == 0x00;
}

static int on_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	dicom_image *im = ctx;
	if (index == 0) { /* the basic offset table: where frame 2 starts, if it says */
		if (length >= 8) {
			uint8_t b[8];
			if ((im->st = pread_all(im->fd, b, 8, offset, im->err)) != MC_OK)
				return 1;
			im->bot_end = b[4] | ((uint32_t)b[5] << 8) | ((uint32_t)b[6] << 16) | ((uint32_t)b[7] << 24);
			im->have_bot = im->bot_end != 0;
		}
		return 0;
	}
	if (index == 1)
		im->first_item = offset - 8;
	if ((im->frames > 1 && im->have_bot && offset - 8 - im->first_item >= im->bot_end) ||
	    (strcmp(im->ts, MC_TS_RLE) == 0 && im->n_frags == 1)) { /* RLE: a frame is one fragment (PS3.5 A.4.2) */
		im->frame_done = true;
		return 1;
	}
	if (im->n_frags >= MAX_FRAGMENTS || length > im->lim->max_chunk - im->frame_bytes) {
		im->st =
		    mc_fail(im->err, MC_ERR_UNSUPPORTED,
		            "the first frame's compressed data is over the limit of %zu bytes", im->lim->max_chunk);
		return 1;
	}
	fragment *f = realloc(im->frags, (im->n_frags + 1) * sizeof *f);
	if (!f) {
		im->st = mc_fail(im->err, MC_ERR_NOMEM, "out of memory");
		return 1;
	}
	im->frags = f;
	im->frags[im->n_frags++] = (fragment){offset, length};
	im->frame_bytes += length;
	/* Several frames without an offset table: a JPEG frame ends with its EOI marker. */
	if (im->frames > 1 && !im->have_bot && ends_with_eoi(im, offset, length)) {
		im->frame_done = true;
		return 1;
	}
	return 0;
}

/* ---- native pixel data ---- */

/* Stored value v (BitsAllocated bits as read) to its signed or unsigned integer. */
static inline int32_t stored_value(const dicom_image *im, uint32_t raw)
{
	uint32_t shift = im->high_bit + 1 - im->bits_stored;
	uint32_t mask = im->bits_stored >= 32 ? 0xFFFFFFFFu : (1u << im->bits_stored) - 1;
	uint32_t v = (raw >> shift) & mask;
	if (im->pixel_rep == 1 && (v & (1u << (im->bits_stored - 1))))
		return (int32_t)v - (int32_t)(1u << im->bits_stored);
	return (int32_t)v;
}

static inline uint32_t raw_at(const dicom_image *im, const uint8_t *p)
{
	if (im->bits_allocated == 8)
		return p[0];
	return im->big_endian ? (uint32_t)((p[0] << 8) | p[1]) : (uint32_t)(p[0] | (p[1] << 8));
}

/* Pixel bytes at off: from the file, or from the decoded frame. */
static mc_status read_pixels(dicom_image *im, uint8_t *buf, size_t len, uint64_t off, mc_err *err)
{
	if (!im->mem)
		return pread_all(im->fd, buf, len, off, err);
	memcpy(buf, im->mem + off, len); /* within the frame: native_rows checked its size */
	return MC_OK;
}

/* Reads the frame band by band and calls fn for each row. */
typedef void (*row_fn)(dicom_image *im, void *ctx, uint32_t y, const uint8_t *row, const uint8_t *planes[3]);

static mc_status for_each_row(dicom_image *im, row_fn fn, void *ctx, mc_err *err)
{
	size_t bps = im->bits_allocated / 8;
	size_t row_bytes = (size_t)im->columns * im->samples * bps;
	size_t plane_bytes = (size_t)im->columns * im->rows * bps;
	bool planar = im->samples == 3 && im->planar == 1;
	size_t band_rows = BAND_BYTES / row_bytes;
	if (band_rows == 0)
		band_rows = 1;
	if (band_rows > im->rows)
		band_rows = im->rows;
	uint8_t *band = malloc(band_rows * row_bytes);
	if (!band)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_status st = MC_OK;
	for (uint32_t y0 = 0; y0 < im->rows && st == MC_OK; y0 += (uint32_t)band_rows) {
		size_t n = im->rows - y0 < band_rows ? im->rows - y0 : band_rows;
		if (!planar) {
			st = read_pixels(im, band, n * row_bytes, im->pixel_offset + (uint64_t)y0 * row_bytes, err);
		} else {
			size_t plane_row = (size_t)im->columns * bps;
			for (int c = 0; c < 3 && st == MC_OK; c++)
				st = read_pixels(
				    im, band + (size_t)c * n * plane_row, n * plane_row,
				    im->pixel_offset + (uint64_t)c * plane_bytes + (uint64_t)y0 * plane_row, err);
		}
		for (size_t i = 0; i < n && st == MC_OK; i++) {
			if (!planar) {
				fn(im, ctx, y0 + (uint32_t)i, band + i * row_bytes, NULL);
			} else {
				size_t plane_row = (size_t)im->columns * bps;
				const uint8_t *planes[3] = {band + i * plane_row, band + n * plane_row + i * plane_row,
				                            band + 2 * n * plane_row + i * plane_row};
				fn(im, ctx, y0 + (uint32_t)i, NULL, planes);
			}
		}
	}
	free(band);
	return st;
}

typedef struct histogram {
	uint64_t *count; /* 2^bits_stored bins, indexed by the stored value as unsigned */
} histogram;

static void histogram_row(dicom_image *im, void *ctx, uint32_t y, const uint8_t *row, const uint8_t *planes[3])
{
	(void)y;
	(void)planes;
	histogram *h = ctx;
	uint32_t mask = (1u << im->bits_stored) - 1;
	size_t bps = im->bits_allocated / 8;
	for (uint32_t x = 0; x < im->columns; x++)
		h->count[(uint32_t)stored_value(im, raw_at(im, row + x * bps)) & mask]++;
}

typedef struct mono_out {
	mc_rows *r;
	uint8_t *lut; /* display value by stored value (as unsigned, masked) */
	uint8_t *line;
} mono_out;

static void mono_row(dicom_image *im, void *ctx, uint32_t y, const uint8_t *row, const uint8_t *planes[3])
{
	(void)planes;
	mono_out *m = ctx;
	uint32_t mask = (1u << im->bits_stored) - 1;
	size_t bps = im->bits_allocated / 8;
	for (uint32_t x = 0; x < im->columns; x++)
		m->line[x] = m->lut[(uint32_t)stored_value(im, raw_at(im, row + x * bps)) & mask];
	m->r->row(m->r, y, m->line, 0, 1);
}

static void rgb_row(dicom_image *im, void *ctx, uint32_t y, const uint8_t *row, const uint8_t *planes[3])
{
	mono_out *m = ctx;
	size_t bps = im->bits_allocated / 8;
	unsigned shift = im->bits_stored > 8 ? im->bits_stored - 8 : 0;
	for (uint32_t x = 0; x < im->columns; x++)
		for (int c = 0; c < 3; c++) {
			const uint8_t *p = planes ? planes[c] + x * bps : row + (x * 3 + (uint32_t)c) * bps;
			uint32_t v = raw_at(im, p) >> shift;
			m->line[x * 3 + (uint32_t)c] = (uint8_t)(v > 255 ? 255 : v);
		}
	m->r->row(m->r, y, m->line, 0, 1);
}

/* PS3.3 C.11.2.1.2.1: the linear VOI function, to 0..255. */
static uint8_t window_value(double x, double c, double w)
{
	if (w < 1)
		w = 1;
	double lo = c - 0.5 - (w - 1) / 2, hi = c - 0.5 + (w - 1) / 2;
	if (x <= lo)
		return 0;
	if (x > hi)
		return 255;
	double v = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

static mc_status native_rows(dicom_image *im, mc_rows *r, mc_err *err)
{
	const char *pi = im->photometric;
	bool mono = strcmp(pi, "MONOCHROME1") == 0 || strcmp(pi, "MONOCHROME2") == 0;
	bool rgb = strcmp(pi, "RGB") == 0;
	if (im->samples == 0)
		im->samples = 1;
	if (!(mono && im->samples == 1) && !(rgb && im->samples == 3))
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "DICOM previews support MONOCHROME1/2 and RGB pixel data, not %s with %u samples",
		               pi[0] ? pi : "(no Photometric Interpretation)", im->samples);
	if (im->bits_allocated != 8 && im->bits_allocated != 16)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "DICOM previews support 8 or 16 bits allocated, not %u",
		               im->bits_allocated);
	if (!im->has_bits_stored || im->bits_stored == 0 || im->bits_stored > im->bits_allocated)
		im->bits_stored = im->bits_allocated;
	if (!im->has_high_bit || im->high_bit + 1 < im->bits_stored || im->high_bit >= im->bits_allocated)
		im->high_bit = im->bits_stored - 1;
	uint64_t frame = (uint64_t)im->rows * im->columns * im->samples * (im->bits_allocated / 8);
	if (frame > im->pixel_length)
		return mc_fail(
		    err, MC_ERR_HEADER,
		    "malformed DICOM: the pixel data holds %lu bytes, less than one %ux%u frame (%llu bytes)",
		    (unsigned long)im->pixel_length, im->columns, im->rows, (unsigned long long)frame);
	r->width = im->columns;
	r->height = im->rows;
	r->channels = mono ? 1 : 3;
	r->scale = 1;
	uint32_t block;
	mc_status st = r->begin(r, &block, err);
	if (st != MC_OK)
		return st;
	mono_out m = {r, NULL, malloc((size_t)im->columns * 3)};
	if (!m.line)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (rgb) {
		st = for_each_row(im, rgb_row, &m, err);
		free(m.line);
		return st;
	}
	uint32_t n_values = 1u << im->bits_stored;
	m.lut = malloc(n_values);
	histogram h = {NULL};
	if (!m.lut) {
		free(m.line);
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	double c = im->center, w = im->width;
	bool window = im->has_window && im->width >= 1;
	if (!window && im->bits_stored > 8) {
		/* No usable window: the 1st to 99th percentile of the frame's modality values. */
		h.count = calloc(n_values, sizeof *h.count);
		if (!h.count)
			st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		if (st == MC_OK)
			st = for_each_row(im, histogram_row, &h, err);
		if (st == MC_OK) {
			uint64_t total = (uint64_t)im->rows * im->columns, seen = 0;
			double lo = 0, hi = 0;
			bool have_lo = false;
			/* Walk stored values in increasing order (signed ones start at the negative half). */
			for (uint32_t k = 0; k < n_values; k++) {
				uint32_t idx = im->pixel_rep == 1 ? (k + n_values / 2) & (n_values - 1) : k;
				seen += h.count[idx];
				int32_t v = im->pixel_rep == 1 ? (int32_t)k - (int32_t)(n_values / 2) : (int32_t)k;
				double mv = v * im->slope + im->intercept;
				if (!have_lo && seen * 100 > total) {
					lo = mv;
					have_lo = true;
				}
				if (seen * 100 >= total * 99) {
					hi = mv;
					break;
				}
			}
			if (hi < lo) {
				double t = lo;
				lo = hi;
				hi = t;
			}
			w = hi - lo + 1;
			c = lo + w / 2;
			window = true;
		}
		free(h.count);
	}
	bool invert = strcmp(pi, "MONOCHROME1") == 0;
	for (uint32_t k = 0; st == MC_OK && k < n_values; k++) {
		int32_t v = im->pixel_rep == 1 && (k & (n_values >> 1)) ? (int32_t)k - (int32_t)n_values : (int32_t)k;
		uint8_t d;
		if (window) {
			d = window_value(v * im->slope + im->intercept, c, w);
		} else { /* 8 bits stored, no window: the stored values as they are */
			int32_t u = im->pixel_rep == 1 ? v + 128 : v;
			d = (uint8_t)(u < 0 ? 0 : u > 255 ? 255 : u);
		}
		m.lut[k] = invert ? (uint8_t)(255 - d) : d;
	}
	if (st == MC_OK)
		st = for_each_row(im, mono_row, &m, err);
	free(m.lut);
	free(m.line);
	return st;
}

/* ---- encapsulated JPEG ---- */

typedef struct inverting_rows {
	mc_rows base;
	mc_rows *inner;
	bool invert;
	uint8_t *line;
	size_t line_cap;
} inverting_rows;

static mc_status inv_begin(mc_rows *r, uint32_t *block, mc_err *err)
{
	inverting_rows *ir = (inverting_rows *)r;
	ir->inner->width = r->width;
	ir->inner->height = r->height;
	ir->inner->channels = r->channels;
	ir->inner->scale = 1;
	ir->line_cap = (size_t)r->width * r->channels;
	if (ir->invert && !(ir->line = malloc(ir->line_cap)))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	return ir->inner->begin(ir->inner, block, err);
}

static void inv_row(mc_rows *r, uint32_t y, const uint8_t *px, uint32_t x0, uint32_t dx)
{
	inverting_rows *ir = (inverting_rows *)r;
	ir->inner->scale = r->scale;
	if (!ir->invert) {
		ir->inner->row(ir->inner, y, px, x0, dx);
		return;
	}
	/* rows at 1/scale resolution are shorter than the full-width buffer */
	size_t n = ((size_t)r->width + r->scale - 1) / r->scale * r->channels;
	for (size_t i = 0; i < n && i < ir->line_cap; i++)
		ir->line[i] = (uint8_t)(255 - px[i]);
	ir->inner->row(ir->inner, y, ir->line, x0, dx);
}

/* The first frame's fragments, one after the other, into *data (malloc'd, *len bytes). */
static mc_status read_first_frame(dicom_image *im, uint8_t **data, size_t *len, mc_err *err)
{
	mc_outbuf o = mc_outbuf_of(malloc(im->frame_bytes ? im->frame_bytes : 1), im->frame_bytes);
	if (!o.p)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < im->n_frags; i++) {
		size_t n = im->frags[i].length;
		mc_status st = n <= o.cap - o.len ? pread_all(im->fd, o.p + o.len, n, im->frags[i].offset, err)
		                                  : mc_fail(err, MC_ERR_MISUSE,
		                                            "the fragments outgrow the frame they were counted for");
		if (st != MC_OK) {
			free(o.p);
			return st;
		}
		o.len += n;
	}
	*data = o.p;
	*len = o.len;
	return MC_OK;
}

static mc_status jpeg_frame_rows(dicom_image *im, mc_rows *r, mc_err *err)
{
	if (im->n_frags == 0)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: the encapsulated pixel data has no fragment");
	uint8_t *data = NULL;
	size_t at = 0;
	mc_status st = read_first_frame(im, &data, &at, err);
	if (st == MC_OK) {
		inverting_rows ir = {.base = {.begin = inv_begin, .row = inv_row},
		                     .inner = r,
		                     .invert = strcmp(im->photometric, "MONOCHROME1") == 0};
		mc_mem_reader mem = {data, at, 0};
		st = mc_jpeg_rows((mc_input){mc_mem_read, &mem}, im->lim, &ir.base, err);
		if (st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED) {
			char detail[sizeof err->msg];
			snprintf(detail, sizeof detail, "%s", err ? err->msg : "");
			mc_fail(err, st, "the first frame (JPEG): %.300s", detail);
		}
		free(ir.line);
	}
	free(data);
	return st;
}

/* The first frame decoded into memory (little endian samples, planar with three samples) goes
 * through the native path. */
static mc_status decoded_rows(dicom_image *im, const uint8_t *frame, size_t len, mc_rows *r, mc_err *err)
{
	im->mem = frame;
	im->pixel_offset = 0;
	im->pixel_length = (uint32_t)len;
	im->big_endian = false;
	im->planar = im->samples == 3 ? 1 : 0;
	mc_status st = native_rows(im, r, err);
	im->mem = NULL;
	return st;
}

/* ---- encapsulated RLE (PS3.5 Annex G) ---- */

static uint32_t le32_at(const uint8_t *p)
{
	return p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* One RLE segment (a PackBits byte stream) into out, exactly n bytes; false when it does not
 * decode to n bytes (a run past the end or too short). */
static bool rle_segment(const uint8_t *in, size_t len, uint8_t *out, size_t n)
{
	size_t i = 0, o = 0;
	while (o < n && i < len) {
		int8_t h = (int8_t)in[i++];
		if (h >= 0) {
			size_t k = (size_t)h + 1;
			if (k > len - i || k > n - o)
				return false;
			memcpy(out + o, in + i, k);
			i += k, o += k;
		} else if (h != -128) {
			size_t k = (size_t)(1 - h);
			if (i >= len || k > n - o)
				return false;
			memset(out + o, in[i++], k);
			o += k;
		}
	}
	return o == n;
}

/* The bytes of a frame decoded in memory, which must be 8 or 16 bits and 1 or 3 samples, and
 * is bounded like four compressed frames. */
static mc_status decoded_frame_size(dicom_image *im, size_t *frame, mc_err *err)
{
	if (im->samples == 0)
		im->samples = 1;
	if ((im->bits_allocated != 8 && im->bits_allocated != 16) || (im->samples != 1 && im->samples != 3))
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "DICOM previews support 8 or 16 bits allocated and 1 or 3 samples, not %u and %u",
		               im->bits_allocated, im->samples);
	*frame = (size_t)im->rows * im->columns * im->samples * (im->bits_allocated / 8);
	if (*frame > 4 * im->lim->max_chunk)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "the decoded frame of %zu bytes is over the limit of %zu bytes",
		               *frame, 4 * im->lim->max_chunk);
	return MC_OK;
}

/* Decodes the first frame into a buffer laid out as native little endian pixel data, planar
 * when there are three samples, which native_rows then reads. */
static mc_status rle_frame_rows(dicom_image *im, mc_rows *r, mc_err *err)
{
	if (im->n_frags != 1)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: the RLE pixel data has no fragment");
	size_t frame;
	mc_status st = decoded_frame_size(im, &frame, err);
	if (st != MC_OK)
		return st;
	size_t bps = im->bits_allocated / 8, plane = (size_t)im->rows * im->columns, segments = im->samples * bps;
	size_t len = im->frags[0].length;
	if (len < 64)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: an RLE fragment of %zu bytes has no header", len);
	uint8_t *data = malloc(len), *out = malloc(frame);
	st = data && out ? pread_all(im->fd, data, len, im->frags[0].offset, err)
	                 : mc_fail(err, MC_ERR_NOMEM, "out of memory");
	uint8_t *seg = st == MC_OK ? malloc(plane) : NULL;
	if (st == MC_OK && !seg)
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (st == MC_OK && le32_at(data) != segments)
		st =
		    mc_fail(err, MC_ERR_HEADER, "malformed DICOM: the RLE header has %lu segments, the image needs %zu",
		            (unsigned long)le32_at(data), segments);
	/* segment k holds byte k % bps (most significant first) of sample k / bps of every pixel */
	for (size_t k = 0; st == MC_OK && k < segments; k++) {
		uint32_t from = le32_at(data + 4 + 4 * k),
		         to = k + 1 < segments ? le32_at(data + 8 + 4 * k) : (uint32_t)len;
		if (from < 64 || to < from || to > len || !rle_segment(data + from, to - from, seg, plane)) {
			st = mc_fail(err, MC_ERR_HEADER,
			             "malformed DICOM: RLE segment %zu of the first frame is corrupt", k + 1);
			break;
		}
		size_t sample = k / bps, byte = bps - 1 - k % bps; /* little endian position */
		uint8_t *dst = out + sample * plane * bps + byte;
		for (size_t i = 0; i < plane; i++)
			dst[i * bps] = seg[i];
	}
	if (st == MC_OK)
		st = decoded_rows(im, out, frame, r, err);
	free(seg);
	free(data);
	free(out);
	return st;
}

/* ---- encapsulated lossless JPEG (T.81 process 14: .57, .70) ---- */

static mc_status lossless_frame_rows(dicom_image *im, mc_rows *r, mc_err *err)
{
	if (im->n_frags == 0)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: the encapsulated pixel data has no fragment");
	size_t frame;
	mc_status st = decoded_frame_size(im, &frame, err);
	if (st != MC_OK)
		return st;
	size_t bps = im->bits_allocated / 8;
	uint8_t *data = NULL, *out = malloc(frame);
	size_t at = 0;
	st = out ? read_first_frame(im, &data, &at, err) : mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (st == MC_OK)
		st = mc_jpeg_lossless_decode(data, at, im->columns, im->rows, im->samples, (unsigned)bps, out, err);
	if (st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED) {
		char detail[sizeof err->msg];
		snprintf(detail, sizeof detail, "%s", err->msg);
		mc_fail(err, st, "the first frame: %.300s", detail);
	}
	if (st == MC_OK)
		st = decoded_rows(im, out, frame, r, err);
	free(data);
	free(out);
	return st;
}

mc_status mc_dicom_rows(int fd, uint64_t file_size, const mc_image_limits *lim, mc_rows *r, mc_err *err)
{
	dicom_image im;
	memset(&im, 0, sizeof im);
	im.fd = fd;
	im.lim = lim;
	im.slope = 1;
	im.err = err;
	im.st = MC_OK;
	pread_input pin = {fd, 0};
	mc_dicom_visitor v = {.element = on_element, .fragment = on_fragment};
	/* Streaming mode reports the pixel data (and each fragment) before reading it, so the parse
	 * stops there and the frame is read with pread: the rest of the file is never read. */
	mc_status st = mc_dicom_parse_chunked((mc_input){pread_read, &pin}, file_size, &v, skip_bytes, &im, err);
	if (st == MC_ERR_CANCELLED && im.st != MC_OK)
		st = im.st;
	else if (st == MC_ERR_CANCELLED)
		st = MC_OK; /* stopped on purpose: the frame is located */
	if (st == MC_OK && !im.found_pixels)
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "the DICOM file has no pixel data (7FE0,0010)");
	if (st == MC_OK && (!im.has_rows || !im.has_columns))
		st = mc_fail(err, MC_ERR_HEADER, "malformed DICOM image: no Rows or Columns");
	if (st == MC_OK)
		st = mc_image_check_limits(lim, "the DICOM image", im.columns, im.rows, err);
	if (st == MC_OK && im.encapsulated) {
		bool jpeg8 =
		    strcmp(im.ts, "1.2.840.10008.1.2.4.50") == 0 || strcmp(im.ts, "1.2.840.10008.1.2.4.51") == 0;
		if (strcmp(im.ts, MC_TS_RLE) == 0) {
			st = rle_frame_rows(&im, r, err);
		} else if (strcmp(im.ts, "1.2.840.10008.1.2.4.57") == 0 ||
		           strcmp(im.ts, "1.2.840.10008.1.2.4.70") == 0) {
			st = lossless_frame_rows(&im, r, err);
		} else if (!jpeg8) {
			const char *name = mc_dicom_transfer_syntax_name(im.ts);
			st = mc_fail(err, MC_ERR_UNSUPPORTED,
			             "previews of %s%s%s%s pixel data are not supported (only native, RLE, JPEG "
			             "Baseline and JPEG Lossless)",
			             im.ts[0] ? im.ts : "compressed", name ? " (" : "", name ? name : "",
			             name ? ")" : "");
		} else {
			st = jpeg_frame_rows(&im, r, err);
		}
	} else if (st == MC_OK) {
		st = native_rows(&im, r, err);
	}
	free(im.frags);
	return st;
}
