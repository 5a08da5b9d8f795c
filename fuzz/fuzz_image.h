/*
 * fuzz_image.h: the body shared by fuzz_png and fuzz_jpeg. Both run every image entry point on
 * the input, whatever its type (the library decides by signature); they differ in their seed
 * corpora, so that each explores its own format: mc_image_probe (in 1021-byte reads), the whole
 * mc_image_decode, and mc_preview_make through a memfd (which also reaches the DICOM pixel
 * decoders of lib/image_dicom.c for DICOM seeds). Smaller limits than the defaults keep each run
 * fast; they are part of what is checked.
 *
 * Invariants, or the target aborts: a decoded image respects the limits and its buffer is
 * stride * height with stride = width * channels * depth / 8; what decodes also probes, with the
 * same size; text entries are NUL-terminated and at most MC_IMAGE_MAX_TEXT; a preview fits its
 * max_size, its grid times its cell is its size, and it is itself a PNG that decodes to that
 * size; every failure carries its class and a message, and is one of the documented classes.
 */
#ifndef MC_FUZZ_IMAGE_H
#define MC_FUZZ_IMAGE_H

#include <medcrypt/image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.h"

typedef struct source {
	const uint8_t *data;
	size_t size, pos;
} source;

static long source_read(void *ctx, uint8_t *buf, size_t len)
{
	source *s = ctx;
	size_t n = s->size - s->pos;
	if (n > len)
		n = len;
	if (n > 1021)
		n = 1021;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (long)n;
}

static mc_image_limits fuzz_limits(void)
{
	mc_image_limits lim = mc_image_default_limits();
	lim.max_width = lim.max_height = 2048;
	lim.max_pixels = 1u << 20;
	lim.max_chunk = 1u << 20;
	lim.max_metadata = 1u << 20;
	return lim;
}

static void check_failure(mc_status st, const mc_err *err)
{
	CHECK(err->status == st && err->msg[0] != 0);
	CHECK(st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED || st == MC_ERR_NOMEM);
}

static void check_info(const mc_image_info *info, const mc_image_limits *lim)
{
	CHECK(info->width >= 1 && info->width <= lim->max_width && info->height >= 1 &&
	      info->height <= lim->max_height);
	CHECK((uint64_t)info->width * info->height <= lim->max_pixels);
	CHECK(info->n_text <= MC_IMAGE_MAX_TEXT);
	for (size_t i = 0; i < info->n_text; i++) {
		CHECK(memchr(info->text[i].keyword, 0, sizeof info->text[i].keyword) != NULL);
		CHECK(info->text[i].len < MC_IMAGE_TEXT_LEN && info->text[i].value[info->text[i].len] == 0);
	}
	CHECK(strlen(info->exif.date_time) < 20 && strlen(info->png_time) < 20);
}

/* The preview through a memfd, as the CLI gives it a file descriptor. */
static void fuzz_preview(const uint8_t *data, size_t size, const mc_image_limits *lim)
{
	int fd = memfd_create("fuzz", 0);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	mc_preview_params p;
	mc_preview_params_default(&p);
	p.limits = *lim;
	p.max_size = 64;
	p.block = size > 0 ? data[size - 1] % 16 : 0; /* 0 (the default) to 15 */
	uint8_t *png = NULL;
	size_t len = 0;
	mc_preview_info info;
	mc_err err = {0};
	mc_status st = mc_preview_make(fd, &p, &png, &len, &info, &err);
	close(fd);
	if (st != MC_OK) {
		CHECK(png == NULL);
		CHECK(err.status == st && err.msg[0] != 0);
		CHECK(st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED || st == MC_ERR_NOMEM || st == MC_ERR_MISUSE);
		return;
	}
	CHECK(info.out_width <= 64 && info.out_height <= 64 && info.out_width >= 1 && info.out_height >= 1);
	CHECK(info.grid_width * info.cell == info.out_width && info.grid_height * info.cell == info.out_height);
	mc_pixels back;
	CHECK(mc_image_decode(png, len, NULL, &back, NULL, &err) == MC_OK);
	CHECK(back.width == info.out_width && back.height == info.out_height && back.channels == info.channels);
	mc_pixels_free(&back);
	mc_buf_free(png, len);
}

static int fuzz_image_one(const uint8_t *data, size_t size)
{
	mc_image_limits lim = fuzz_limits();
	mc_image_info *info = malloc(sizeof *info);
	mc_err err = {0};
	source s = {data, size, 0};
	mc_status probed = mc_image_probe((mc_input){source_read, &s}, &lim, info, &err);
	if (probed == MC_OK)
		check_info(info, &lim);
	else
		check_failure(probed, &err);

	mc_pixels px;
	mc_status decoded = mc_image_decode(data, size, &lim, &px, info, &err);
	if (decoded == MC_OK) {
		check_info(info, &lim);
		CHECK(px.width == info->width && px.height == info->height);
		CHECK(px.channels >= 1 && px.channels <= 4 && (px.bit_depth == 8 || px.bit_depth == 16));
		CHECK(px.stride == (size_t)px.width * px.channels * px.bit_depth / 8);
		unsigned sum = 0;
		for (size_t i = 0; i < px.stride * px.height; i += 61)
			sum += px.data[i];
		(void)sum;
		/* what decodes also probes (same limits, same reader) */
		CHECK(probed == MC_OK);
		mc_pixels_free(&px);
	} else {
		CHECK(px.data == NULL);
		check_failure(decoded, &err);
	}
	free(info);
	fuzz_preview(data, size, &lim);
	return 0;
}

#endif
