/*
 * deid_pixels.c: the --region part of de-identification (deid.h, FORMAT.md §14). Native Pixel
 * Data is a run of lines: one row of one frame (planar configuration 0: every sample of each
 * pixel side by side), or one row of one sample's plane of a frame (planar configuration 1).
 * A region covers, on each of its rows, one byte range of that row's line in every frame and
 * plane. The walk keeps only its position in the value, so the value can stream through in
 * pieces of any size and any alignment: for each piece it computes which byte ranges fall inside
 * the union of the regions on the current line, and copies them out (save), overwrites them
 * with black (fill) or puts the saved bytes back (restore). The saved bytes are in the order of
 * the walk, each sample little endian (a big endian input's samples are swapped on the way).
 */
#include <string.h>

#include "deid_internal.h"
#include "internal.h"

#define RECORD_MAGIC   "MCDR"
#define RECORD_VERSION 1u

/* The merged byte ranges of the regions on row y, left to right. */
static void spans_of_row(mc_deid_pixels *p, uint32_t y)
{
	uint64_t s[MC_DEID_MAX_REGIONS][2];
	size_t n = 0;
	for (size_t i = 0; i < p->n_regions; i++) {
		const mc_deid_region *r = &p->regions[i];
		if (y < r->y || y - r->y >= r->h)
			continue;
		uint64_t a = (uint64_t)r->x * p->unit, b = (uint64_t)(r->x + r->w) * p->unit;
		size_t j = n++;
		while (j > 0 && s[j - 1][0] > a) { /* insertion sort by start: n <= 64 */
			s[j][0] = s[j - 1][0];
			s[j][1] = s[j - 1][1];
			j--;
		}
		s[j][0] = a;
		s[j][1] = b;
	}
	p->n_spans = 0;
	for (size_t i = 0; i < n; i++) {
		if (p->n_spans > 0 && s[i][0] <= p->spans[p->n_spans - 1][1]) {
			if (s[i][1] > p->spans[p->n_spans - 1][1])
				p->spans[p->n_spans - 1][1] = s[i][1];
			continue;
		}
		p->spans[p->n_spans][0] = s[i][0];
		p->spans[p->n_spans][1] = s[i][1];
		p->n_spans++;
	}
	p->row = y;
}

/* Line geometry and the size of the saved bytes, from rows, cols, frames, bits, samples, planar
 * and the regions (already checked to lie inside the image). */
static void derive(mc_deid_pixels *p)
{
	unsigned bps = p->bits_allocated / 8;
	p->unit = p->planar ? bps : bps * p->samples;
	p->line_len = (uint64_t)p->cols * p->unit;
	p->n_lines = (uint64_t)p->frames * (p->planar ? p->samples : 1) * p->rows;
	p->image_len = p->n_lines * p->line_len;
	/* bytes of the union of the regions on each row, summed over the rows */
	uint64_t per_image = 0;
	p->row = UINT32_MAX;
	for (uint32_t y = 0; y < p->rows; y++) {
		spans_of_row(p, y);
		for (size_t i = 0; i < p->n_spans; i++)
			per_image += p->spans[i][1] - p->spans[i][0];
	}
	p->saved_len = per_image * p->frames * (p->planar ? p->samples : 1);
	p->pos = p->saved = 0;
	p->n_spans = 0;
	p->row = UINT32_MAX;
}

typedef enum op { SAVE = MC_DEID_PIXELS_SAVE, FILL = MC_DEID_PIXELS_FILL, RESTORE = MC_DEID_PIXELS_RESTORE } op;

/* Moves len bytes between the value piece b (at offset off) and the saved data at the walk's
 * running index; with 2-byte samples walked big endian, saved byte k holds walked byte k ^ 1
 * (every span starts at an even index and has an even length, so this stays inside the span). */
static void move(mc_deid_pixels *p, op o, uint8_t *b, size_t off, size_t len, uint64_t in_line, unsigned plane,
                 uint8_t *save_to, const uint8_t *restore_from)
{
	bool swap = p->big_endian && p->bits_allocated == 16;
	uint64_t k = p->saved;
	if (o == FILL) {
		if (p->fill_zero) {
			memset(b + off, 0, len);
		} else {
			const uint8_t *f = p->fill[plane];
			for (size_t i = 0; i < len; i++)
				b[off + i] = f[(in_line + i) % p->unit];
		}
	} else if (!swap) {
		if (o == SAVE)
			memcpy(save_to + k, b + off, len);
		else
			memcpy(b + off, restore_from + k, len);
	} else {
		for (size_t i = 0; i < len; i++) {
			if (o == SAVE)
				save_to[(k + i) ^ 1] = b[off + i];
			else
				b[off + i] = restore_from[(k + i) ^ 1];
		}
	}
	if (o != FILL)
		p->saved += len;
}

static void walk(mc_deid_pixels *p, op o, uint8_t *b, size_t n, uint8_t *save_to, const uint8_t *restore_from)
{
	size_t i = 0;
	do {
		if (p->pos >= p->image_len && n > 0)
			return; /* past the frames: padding or extra bytes, left alone */
		uint64_t line = p->pos / p->line_len, in_line = p->pos % p->line_len;
		uint32_t y = (uint32_t)(line % p->rows);
		unsigned plane = p->planar ? (unsigned)((line / p->rows) % p->samples) : 0;
		if (y != p->row)
			spans_of_row(p, y);
		uint64_t avail = p->line_len - in_line;
		if (avail > n - i)
			avail = n - i;
		for (size_t s = 0; s < p->n_spans; s++) {
			uint64_t lo = p->spans[s][0] > in_line ? p->spans[s][0] : in_line;
			uint64_t hi = p->spans[s][1] < in_line + avail ? p->spans[s][1] : in_line + avail;
			if (lo < hi)
				move(p, o, b, i + (size_t)(lo - in_line), (size_t)(hi - lo), lo, plane, save_to,
				     restore_from);
		}
		p->pos += avail;
		i += (size_t)avail;
	} while (i < n);
}

void mc_deid_pixels_piece(mc_deid_pixels *p, mc_deid_pixels_op o, const uint8_t *in, size_t n, uint8_t *out,
                          size_t *out_n, uint8_t *save_to, const uint8_t *restore_from)
{
	size_t m = 0;
	if (p->pair_swap && p->carried)
		out[m++] = p->carry;
	memcpy(out + m, in, n);
	m += n;
	p->carried = false;
	if (p->pair_swap && m % 2) { /* the odd byte waits for its pair */
		p->carry = out[--m];
		p->carried = true;
	}
	if (p->pair_swap)
		for (size_t i = 0; i < m; i += 2) {
			uint8_t t = out[i];
			out[i] = out[i + 1], out[i + 1] = t;
		}
	walk(p, (op)o, out, m, save_to, restore_from);
	if (p->pair_swap)
		for (size_t i = 0; i < m; i += 2) {
			uint8_t t = out[i];
			out[i] = out[i + 1], out[i + 1] = t;
		}
	*out_n = m;
}

/* [MC-DRG-3] black, as redaction's (FORMAT.md 13.5): the lowest stored value (Bits Stored and
 * Pixel Representation decide it), the highest for MONOCHROME1, 0 for 3 samples and PALETTE
 * COLOR; signed values are two's complement sign-extended into the allocated bits. */
static void make_fill(mc_deid_pixels *p)
{
	unsigned bs = p->bits_stored;
	int32_t lo = p->pixrep ? -(int32_t)(1u << (bs - 1)) : 0;
	int32_t hi = p->pixrep ? (int32_t)(1u << (bs - 1)) - 1 : (int32_t)((1u << bs) - 1);
	int32_t black = strcmp(p->photometric, "MONOCHROME1") == 0 ? hi : lo;
	if (p->samples == 3 || strcmp(p->photometric, "PALETTE COLOR") == 0)
		black = 0;
	uint32_t u = (uint32_t)black;
	uint8_t sample[2];
	unsigned bps = p->bits_allocated / 8;
	if (bps == 1)
		sample[0] = (uint8_t)u;
	else if (p->big_endian)
		sample[0] = (uint8_t)(u >> 8), sample[1] = (uint8_t)u;
	else
		sample[0] = (uint8_t)u, sample[1] = (uint8_t)(u >> 8);
	for (unsigned plane = 0; plane < 3; plane++)
		for (unsigned i = 0; i < p->unit; i++)
			p->fill[plane][i] = sample[i % bps];
	p->fill_zero = black == 0;
}

static mc_status check_regions(const mc_deid_pixels *p, mc_status status, mc_err *err)
{
	for (size_t i = 0; i < p->n_regions; i++) {
		const mc_deid_region *r = &p->regions[i];
		if (r->w == 0 || r->h == 0 || r->x >= p->cols || r->w > p->cols - r->x || r->y >= p->rows ||
		    r->h > p->rows - r->y)
			return mc_fail(err, status,
			               "region %lu,%lu,%lu,%lu is not inside the %lu x %lu image (Columns x Rows)",
			               (unsigned long)r->x, (unsigned long)r->y, (unsigned long)r->w,
			               (unsigned long)r->h, (unsigned long)p->cols, (unsigned long)p->rows);
	}
	return MC_OK;
}

mc_status mc_deid_pixels_plan(mc_deid_pixels *p, mc_err *err)
{
	if (p->n_regions == 0 || p->n_regions > MC_DEID_MAX_REGIONS)
		return mc_fail(err, MC_ERR_MISUSE, "deid: 1 to %u regions", MC_DEID_MAX_REGIONS);
	if (p->bits_allocated == 1)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "--region: 1-bit pixel data (Bits Allocated 1) is not supported, only 8 and 16 bits");
	if (p->bits_allocated != 8 && p->bits_allocated != 16)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "--region: pixel data of Bits Allocated %u is not supported, only 8 and 16 bits",
		               p->bits_allocated);
	if (p->samples != 1 && p->samples != 3)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "--region: %u Samples per Pixel are not supported, only 1 and 3", p->samples);
	if (p->samples == 1)
		p->planar = 0;
	if (p->planar > 1)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: Planar Configuration %u", p->planar);
	if (strncmp(p->photometric, "YBR_", 4) == 0 && strcmp(p->photometric, "YBR_FULL") != 0)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "--region: the photometric interpretation %s is not supported in native pixel data",
		               p->photometric);
	if (p->rows == 0 || p->cols == 0)
		return mc_fail(err, MC_ERR_HEADER,
		               "malformed DICOM: Rows or Columns missing or 0 in a file with Pixel "
		               "Data");
	if (p->frames == 0)
		return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: Number of Frames is 0 or not a number");
	if (p->bits_stored == 0 || p->bits_stored > p->bits_allocated)
		p->bits_stored = p->bits_allocated;
	mc_status st = check_regions(p, MC_ERR_MISUSE, err);
	if (st != MC_OK)
		return st;
	uint64_t frame = (uint64_t)p->rows * p->cols * p->samples * (p->bits_allocated / 8);
	if (p->value_len / frame < p->frames)
		return mc_fail(err, MC_ERR_HEADER,
		               "malformed DICOM: Pixel Data holds %llu bytes, less than %lu frames of %llu",
		               (unsigned long long)p->value_len, (unsigned long)p->frames, (unsigned long long)frame);
	derive(p);
	make_fill(p);
	return MC_OK;
}

void mc_deid_pixels_record(const mc_deid_pixels *p, unsigned flags, uint8_t *out)
{
	memcpy(out, RECORD_MAGIC, 4);
	out[4] = RECORD_VERSION;
	out[5] = (uint8_t)flags;
	st16(out + 6, (uint16_t)p->n_regions);
	st32(out + 8, p->cols);
	st32(out + 12, p->rows);
	st32(out + 16, p->frames);
	out[20] = (uint8_t)p->bits_allocated;
	out[21] = (uint8_t)p->samples;
	out[22] = (uint8_t)p->planar;
	out[23] = 0;
	for (size_t i = 0; i < p->n_regions; i++) {
		uint8_t *r = out + MC_DEID_REGIONS_HEADER + 16 * i;
		st32(r, p->regions[i].x);
		st32(r + 4, p->regions[i].y);
		st32(r + 8, p->regions[i].w);
		st32(r + 12, p->regions[i].h);
	}
}

mc_status mc_deid_pixels_parse(const uint8_t *rec, size_t len, mc_deid_pixels *p, mc_deid_region *regions,
                               const uint8_t **data, unsigned *flags, mc_err *err)
{
	memset(p, 0, sizeof *p);
	if (len < MC_DEID_REGIONS_HEADER || memcmp(rec, RECORD_MAGIC, 4) != 0)
		return mc_fail(err, MC_ERR_HEADER, "malformed encrypted attributes: not a region record");
	if (rec[4] != RECORD_VERSION)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "the region record has the unknown version %u", rec[4]);
	size_t n = ld16(rec + 6);
	p->cols = ld32(rec + 8);
	p->rows = ld32(rec + 12);
	p->frames = ld32(rec + 16);
	p->bits_allocated = rec[20];
	p->samples = rec[21];
	p->planar = rec[22];
	if ((rec[5] & ~MC_DEID_REGIONS_ABSENT_BIA) != 0 || rec[23] != 0 || n == 0 || n > MC_DEID_MAX_REGIONS ||
	    (p->bits_allocated != 8 && p->bits_allocated != 16) || (p->samples != 1 && p->samples != 3) ||
	    p->planar > 1 || (p->samples == 1 && p->planar != 0) || p->frames == 0 || p->cols == 0 || p->rows == 0 ||
	    p->cols > 65535 || p->rows > 65535 || len - MC_DEID_REGIONS_HEADER < 16 * n)
		return mc_fail(err, MC_ERR_HEADER, "malformed encrypted attributes: a bad region record header");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *r = rec + MC_DEID_REGIONS_HEADER + 16 * i;
		regions[i] = (mc_deid_region){ld32(r), ld32(r + 4), ld32(r + 8), ld32(r + 12)};
	}
	p->regions = regions;
	p->n_regions = n;
	uint64_t frame = (uint64_t)p->rows * p->cols * p->samples * (p->bits_allocated / 8);
	if (UINT32_MAX / frame < p->frames)
		return mc_fail(err, MC_ERR_HEADER,
		               "malformed encrypted attributes: the region record's frames "
		               "exceed any Pixel Data");
	mc_status st = check_regions(p, MC_ERR_HEADER, err);
	if (st != MC_OK)
		return st;
	derive(p);
	size_t head = MC_DEID_REGIONS_HEADER + 16 * n, have = len - head;
	if (!(have == p->saved_len || (have == p->saved_len + 1 && rec[len - 1] == 0)))
		return mc_fail(err, MC_ERR_HEADER,
		               "malformed encrypted attributes: the region record holds %zu bytes of pixels, not %llu",
		               have, (unsigned long long)p->saved_len);
	*data = rec + head;
	*flags = rec[5];
	p->fill_zero = true;
	return MC_OK;
}
