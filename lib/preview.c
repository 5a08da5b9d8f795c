/*
 * preview.c: pixelated previews. The decoders of image.c and image_dicom.c hand over 8-bit rows
 * one at a time (image_internal.h); each row is added into per-block sums at once, so only the
 * grid of block sums (at most max_size x max_size cells) is held, never the image. At the end
 * every block becomes its mean, drawn as a cell x cell square, and the result is encoded as an
 * 8-bit gray or RGB PNG. The default block (mc_preview_default_block) and the reasons for it
 * are in docs/SECURITY.md, "Previews".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"
#include "internal.h"

typedef struct accumulator {
	mc_rows rows; /* first: the decoders see only this */
	const mc_preview_params *params;
	uint32_t max_size;
	uint32_t block, grid_w, grid_h;
	uint64_t *sum;   /* grid_w * grid_h * channels */
	uint64_t *count; /* grid_w * grid_h */
} accumulator;

void mc_preview_params_default(mc_preview_params *p)
{
	memset(p, 0, sizeof *p);
	p->limits = mc_image_default_limits();
}

uint32_t mc_preview_default_block(uint32_t width, uint32_t height)
{
	uint32_t shorter = width < height ? width : height;
	uint32_t block = (shorter + 15) / 16;
	if (block < 8)
		block = 8;
	return (block + 7) / 8 * 8;
}

static mc_status acc_begin(mc_rows *r, uint32_t *block_out, mc_err *err)
{
	accumulator *a = (accumulator *)r;
	uint32_t longer = r->width > r->height ? r->width : r->height;
	uint32_t block = a->params->block ? a->params->block : mc_preview_default_block(r->width, r->height);
	/* The grid must fit the output: a larger block when it would not. */
	if ((longer + block - 1) / block > a->max_size)
		block = (longer + a->max_size - 1) / a->max_size;
	a->block = block;
	a->grid_w = (r->width + block - 1) / block;
	a->grid_h = (r->height + block - 1) / block;
	size_t cells = (size_t)a->grid_w * a->grid_h;
	a->sum = calloc(cells * r->channels, sizeof *a->sum);
	a->count = calloc(cells, sizeof *a->count);
	if (!a->sum || !a->count)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	*block_out = block;
	return MC_OK;
}

static void acc_row(mc_rows *r, uint32_t y, const uint8_t *px, uint32_t x0, uint32_t dx)
{
	accumulator *a = (accumulator *)r;
	uint32_t scale = r->scale ? r->scale : 1;
	uint32_t b = a->block / scale; /* the block at the decoded resolution */
	if (b == 0)
		b = 1;
	uint32_t width = (r->width + scale - 1) / scale;
	uint32_t cy = y / b;
	if (cy >= a->grid_h || dx == 0)
		return;
	const unsigned ch = r->channels;
	uint64_t *sum = a->sum + (size_t)cy * a->grid_w * ch;
	uint64_t *count = a->count + (size_t)cy * a->grid_w;
	for (uint32_t cx = 0; cx < a->grid_w; cx++) {
		uint32_t start = cx * b, end = start + b < width ? start + b : width;
		if (start >= width)
			break;
		/* the first valid pixel at or after start */
		uint32_t x = start <= x0 ? x0 : x0 + (start - x0 + dx - 1) / dx * dx;
		uint64_t n = 0;
		if (ch == 1) {
			uint64_t s = 0;
			for (; x < end; x += dx, n++)
				s += px[x];
			sum[cx] += s;
		} else {
			uint64_t s0 = 0, s1 = 0, s2 = 0;
			for (; x < end; x += dx, n++) {
				const uint8_t *p = px + (size_t)x * 3;
				s0 += p[0];
				s1 += p[1];
				s2 += p[2];
			}
			sum[cx * 3] += s0;
			sum[cx * 3 + 1] += s1;
			sum[cx * 3 + 2] += s2;
		}
		count[cx] += n;
	}
}

/* The means, drawn cell x cell, as a PNG. */
static mc_status acc_finish(accumulator *a, uint8_t **png, size_t *png_len, mc_preview_info *info, mc_err *err)
{
	uint32_t longest_grid = a->grid_w > a->grid_h ? a->grid_w : a->grid_h;
	uint32_t cell = a->max_size / longest_grid;
	if (cell == 0)
		cell = 1;
	const unsigned ch = a->rows.channels;
	mc_pixels px = {.width = a->grid_w * cell, .height = a->grid_h * cell, .channels = ch, .bit_depth = 8};
	px.stride = (size_t)px.width * ch;
	px.data = malloc(px.stride * px.height);
	if (!px.data)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	for (uint32_t cy = 0; cy < a->grid_h; cy++) {
		uint8_t *line = px.data + (size_t)cy * cell * px.stride;
		for (uint32_t cx = 0; cx < a->grid_w; cx++) {
			size_t i = (size_t)cy * a->grid_w + cx;
			uint64_t n = a->count[i];
			for (unsigned c = 0; c < ch; c++) {
				uint8_t v = n ? (uint8_t)((a->sum[i * ch + c] + n / 2) / n) : 255;
				for (uint32_t k = 0; k < cell; k++)
					line[((size_t)cx * cell + k) * ch + c] = v;
			}
		}
		for (uint32_t k = 1; k < cell; k++)
			memcpy(line + k * px.stride, line, px.stride);
	}
	mc_status st = mc_image_encode_png(&px, png, png_len, err);
	if (st == MC_OK && info) {
		info->width = a->rows.width;
		info->height = a->rows.height;
		info->block = a->block;
		info->grid_width = a->grid_w;
		info->grid_height = a->grid_h;
		info->cell = cell;
		info->out_width = px.width;
		info->out_height = px.height;
		info->channels = ch;
	}
	mc_pixels_free(&px);
	return st;
}

/* Reads through a descriptor: pread from a position of our own when it is seekable (so the
 * sniffed bytes are read again), plain read after the sniffed head when it is a pipe. */
typedef struct fd_source {
	int fd;
	bool seekable;
	uint64_t pos;
	mc_mem_reader head;
} fd_source;

static long fd_source_read(void *ctx, uint8_t *buf, size_t len)
{
	fd_source *s = ctx;
	if (!s->seekable && s->head.pos < s->head.len)
		return mc_mem_read(&s->head, buf, len);
	for (;;) {
		ssize_t n = s->seekable ? pread(s->fd, buf, len, (off_t)s->pos) : read(s->fd, buf, len);
		if (n >= 0) {
			s->pos += (uint64_t)n;
			return (long)n;
		}
		if (errno != EINTR)
			return -1;
	}
}

mc_status mc_preview_make(int fd, const mc_preview_params *params, uint8_t **png, size_t *png_len,
                          mc_preview_info *info, mc_err *err)
{
	mc_preview_params defaults;
	if (!params) {
		mc_preview_params_default(&defaults);
		params = &defaults;
	}
	if (!png || !png_len || fd < 0)
		return mc_fail(err, MC_ERR_MISUSE, "mc_preview_make: no output or no file");
	*png = NULL;
	*png_len = 0;
	uint32_t max_size = params->max_size ? params->max_size : MC_PREVIEW_DEFAULT_SIZE;
	if (max_size > MC_PREVIEW_MAX_SIZE)
		return mc_fail(err, MC_ERR_MISUSE, "the preview size must be 1 to %u pixels", MC_PREVIEW_MAX_SIZE);
	if (params->block > MC_IMAGE_MAX_SIDE)
		return mc_fail(err, MC_ERR_MISUSE, "the block must be 1 to %u pixels", MC_IMAGE_MAX_SIDE);
	if (info)
		memset(info, 0, sizeof *info);

	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return mc_fail(err, MC_ERR_IO, "cannot stat the input: %s", strerror(errno));
	uint8_t head[MC_IMAGE_SNIFF_LEN];
	fd_source src = {fd, S_ISREG(sb.st_mode), 0, {head, 0, 0}};
	size_t got = 0;
	mc_status st = mc_read_full((mc_input){fd_source_read, &src}, head, sizeof head, &got, err);
	if (st != MC_OK)
		return st;
	src.head.len = got;
	if (src.seekable)
		src.pos = 0;
	mc_image_type type = mc_image_detect(head, got);
	if (info)
		info->type = type;

	accumulator a;
	memset(&a, 0, sizeof a);
	a.rows.begin = acc_begin;
	a.rows.row = acc_row;
	a.params = params;
	a.max_size = max_size;
	mc_input in = {fd_source_read, &src};
	switch (type) {
	case MC_IMAGE_PNG: st = mc_png_rows(in, &params->limits, &a.rows, err); break;
	case MC_IMAGE_JPEG: st = mc_jpeg_rows(in, &params->limits, &a.rows, err); break;
	case MC_IMAGE_DICOM:
		if (!src.seekable)
			st = mc_fail(err, MC_ERR_MISUSE, "a DICOM preview needs a regular file, not a pipe");
		else
			st = mc_dicom_rows(fd, (uint64_t)sb.st_size, &params->limits, &a.rows, err);
		break;
	default: st = mc_fail(err, MC_ERR_UNSUPPORTED, "not a DICOM, PNG or JPEG file"); break;
	}
	if (st == MC_OK && !a.sum)
		st = mc_fail(err, MC_ERR_HEADER, "the image has no pixels");
	if (st == MC_OK)
		st = acc_finish(&a, png, png_len, info, err);
	free(a.sum);
	free(a.count);
	return st;
}
