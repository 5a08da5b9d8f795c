/*
 * image.c: PNG through libspng and JPEG through libjpeg-turbo, on untrusted bytes: telling the
 * type by signature, bomb limits checked against the declared dimensions before any pixel
 * buffer exists, the side data (PNG text chunks, tIME and eXIf; JPEG COM and APP1 "Exif"
 * segments, read by our own bounded marker processors and lib/exif.c), whole-image decoding
 * to mc_pixels, PNG encoding, and the row-by-row decoding that previews use (image_internal.h).
 * libjpeg reports errors through a longjmp out of our error manager (never exit()); its
 * warnings (a truncated or corrupt stream it would patch with grey) are errors here too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* jpeglib.h needs size_t and FILE first. */
#include <jerror.h>
#include <jpeglib.h>
#include <spng.h>

#include "image_internal.h"
#include "internal.h"

/* ---- detection and limits ---- */

mc_image_type mc_image_detect(const uint8_t *head, size_t len)
{
	static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
	if (!head)
		return MC_IMAGE_UNKNOWN;
	if (len >= 8 && memcmp(head, png_sig, 8) == 0)
		return MC_IMAGE_PNG;
	if (len >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF)
		return MC_IMAGE_JPEG;
	if (len >= 132 && memcmp(head + 128, "DICM", 4) == 0)
		return MC_IMAGE_DICOM;
	return MC_IMAGE_UNKNOWN;
}

const char *mc_image_type_name(mc_image_type type)
{
	switch (type) {
	case MC_IMAGE_DICOM: return "dicom";
	case MC_IMAGE_PNG: return "png";
	case MC_IMAGE_JPEG: return "jpeg";
	case MC_IMAGE_UNKNOWN: break;
	}
	return "unknown";
}

mc_image_limits mc_image_default_limits(void)
{
	return (mc_image_limits){.max_width = MC_IMAGE_MAX_SIDE,
	                         .max_height = MC_IMAGE_MAX_SIDE,
	                         .max_pixels = MC_IMAGE_MAX_PIXELS,
	                         .max_chunk = MC_IMAGE_MAX_CHUNK,
	                         .max_metadata = MC_IMAGE_MAX_METADATA};
}

mc_status mc_image_check_limits(const mc_image_limits *lim, const char *what, uint64_t width, uint64_t height,
                                mc_err *err)
{
	if (width == 0 || height == 0)
		return mc_fail(err, MC_ERR_HEADER, "%s declares an empty image (%llux%llu)", what,
		               (unsigned long long)width, (unsigned long long)height);
	if (width > lim->max_width || height > lim->max_height || width * height > lim->max_pixels)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "%s declares %llux%llu pixels, over the limit of %ux%u and %llu pixels (a decompression "
		               "bomb?)",
		               what, (unsigned long long)width, (unsigned long long)height, lim->max_width,
		               lim->max_height, (unsigned long long)lim->max_pixels);
	return MC_OK;
}

void mc_pixels_free(mc_pixels *px)
{
	if (!px)
		return;
	if (px->data)
		mc_buf_free(px->data, px->stride * px->height);
	memset(px, 0, sizeof *px);
}

long mc_mem_read(void *ctx, uint8_t *buf, size_t len)
{
	mc_mem_reader *m = ctx;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (long)n;
}

static const mc_image_limits *limits_or_default(const mc_image_limits *lim, mc_image_limits *storage)
{
	if (lim)
		return lim;
	*storage = mc_image_default_limits();
	return storage;
}

/* Keeps one text entry in info, cut to MC_IMAGE_TEXT_LEN - 1 bytes. */
static void add_text(mc_image_info *info, const char *keyword, const char *value, size_t len)
{
	if (info->n_text >= MC_IMAGE_MAX_TEXT)
		return;
	mc_image_text *t = &info->text[info->n_text++];
	snprintf(t->keyword, sizeof t->keyword, "%s", keyword);
	t->truncated = len >= sizeof t->value;
	if (t->truncated)
		len = sizeof t->value - 1;
	memcpy(t->value, value, len);
	t->value[len] = 0;
	t->len = len;
}

static void set_exif(mc_image_info *info, const uint8_t *tiff, size_t len)
{
	mc_err ignored;
	mc_exif_dates d;
	if (mc_exif_parse_dates(tiff, len, &d, &ignored) == MC_OK) {
		info->exif = d;
		info->has_exif = 1;
	}
}

/* ---- PNG ---- */

typedef struct png_source {
	mc_input in;
	int io_failed;
} png_source;

static int png_read(spng_ctx *ctx, void *user, void *dest, size_t length)
{
	(void)ctx;
	png_source *s = user;
	uint8_t *p = dest;
	while (length > 0) {
		long n = s->in.read(s->in.ctx, p, length);
		if (n < 0) {
			s->io_failed = 1;
			return SPNG_IO_ERROR;
		}
		if (n == 0)
			return SPNG_IO_EOF;
		p += n;
		length -= (size_t)n;
	}
	return 0;
}

static mc_status png_fail(int ret, const png_source *src, const mc_image_limits *lim, mc_err *err)
{
	if (src && src->io_failed)
		return mc_fail(err, MC_ERR_IO, "PNG: read failed");
	if (ret == SPNG_IO_EOF || ret == SPNG_EOF)
		return mc_fail(err, MC_ERR_HEADER, "truncated PNG file");
	if (ret == SPNG_EUSER_WIDTH || ret == SPNG_EUSER_HEIGHT)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "the PNG declares a %s over the limit of %ux%u pixels (a decompression bomb?)",
		               ret == SPNG_EUSER_WIDTH ? "width" : "height", lim->max_width, lim->max_height);
	if (ret == SPNG_ECHUNK_LIMITS)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "PNG: a chunk is larger than the limits");
	if (ret == SPNG_EMEM)
		return mc_fail(err, MC_ERR_NOMEM, "PNG: out of memory");
	return mc_fail(err, MC_ERR_HEADER, "malformed PNG: %s", spng_strerror(ret));
}

/* A decoder over src with the limits set; NULL when out of memory. */
static spng_ctx *png_open(png_source *src, const mc_image_limits *lim)
{
	spng_ctx *ctx = spng_ctx_new(0);
	if (!ctx)
		return NULL;
	uint32_t w = lim->max_width > 0x7FFFFFFFu ? 0x7FFFFFFFu : lim->max_width;
	uint32_t h = lim->max_height > 0x7FFFFFFFu ? 0x7FFFFFFFu : lim->max_height;
	/* libspng wants the chunk limit no larger than the cache limit. */
	size_t chunk = lim->max_chunk < lim->max_metadata ? lim->max_chunk : lim->max_metadata;
	if (spng_set_image_limits(ctx, w, h) || spng_set_chunk_limits(ctx, chunk, lim->max_metadata) ||
	    /* A corrupt chunk is an error, not something to skip over or trust. */
	    spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR) || spng_set_png_stream(ctx, png_read, src)) {
		spng_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

static const char *png_color_name(uint8_t color_type)
{
	switch (color_type) {
	case SPNG_COLOR_TYPE_GRAYSCALE: return "gray";
	case SPNG_COLOR_TYPE_TRUECOLOR: return "rgb";
	case SPNG_COLOR_TYPE_INDEXED: return "palette";
	case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return "gray+alpha";
	case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return "rgba";
	}
	return "unknown";
}

static unsigned png_components(uint8_t color_type)
{
	switch (color_type) {
	case SPNG_COLOR_TYPE_TRUECOLOR: return 3;
	case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return 2;
	case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return 4;
	}
	return 1;
}

/* Reads the chunks before the image data and fills info; checks the limits. */
static mc_status png_header(spng_ctx *ctx, const png_source *src, const mc_image_limits *lim, mc_image_info *info,
                            struct spng_ihdr *ihdr, mc_err *err)
{
	memset(info, 0, sizeof *info);
	info->type = MC_IMAGE_PNG;
	int ret = spng_get_ihdr(ctx, ihdr);
	if (ret)
		return png_fail(ret, src, lim, err);
	mc_status st = mc_image_check_limits(lim, "the PNG", ihdr->width, ihdr->height, err);
	if (st != MC_OK)
		return st;
	/* The rest of the chunks before IDAT: text, time, eXIf. */
	if ((ret = spng_decode_chunks(ctx)) != 0)
		return png_fail(ret, src, lim, err);
	info->width = ihdr->width;
	info->height = ihdr->height;
	info->bit_depth = ihdr->bit_depth;
	info->components = png_components(ihdr->color_type);
	snprintf(info->color_type, sizeof info->color_type, "%s", png_color_name(ihdr->color_type));
	info->interlaced = ihdr->interlace_method != 0;
	return MC_OK;
}

/* The text chunks, tIME and eXIf read so far (all of them once the image is decoded). */
static mc_status png_side_data(spng_ctx *ctx, mc_image_info *info, mc_err *err)
{
	info->n_text = 0;
	struct spng_time t;
	if (spng_get_time(ctx, &t) == 0)
		snprintf(info->png_time, sizeof info->png_time, "%04u-%02u-%02uT%02u:%02u:%02u",
		         (unsigned)t.year % 10000u, (unsigned)t.month % 100u, (unsigned)t.day % 100u,
		         (unsigned)t.hour % 100u, (unsigned)t.minute % 100u, (unsigned)t.second % 100u);
	uint32_t n_text = 0;
	if (spng_get_text(ctx, NULL, &n_text) == 0 && n_text > 0) {
		struct spng_text *text = calloc(n_text, sizeof *text);
		if (!text)
			return mc_fail(err, MC_ERR_NOMEM, "out of memory");
		if (spng_get_text(ctx, text, &n_text) == 0)
			for (uint32_t i = 0; i < n_text; i++)
				add_text(info, text[i].keyword, text[i].text ? text[i].text : "",
				         text[i].text ? text[i].length : 0);
		free(text);
	}
	struct spng_exif exif;
	if (spng_get_exif(ctx, &exif) == 0 && exif.data)
		set_exif(info, (const uint8_t *)exif.data, exif.length);
	return MC_OK;
}

/* Text chunks often follow the image data (ImageMagick writes them there), and libspng reads
 * past it only by decoding: the rows are decoded one at a time into a single row buffer and
 * dropped. This also checks the image data. */
static mc_status png_probe(mc_input in, const mc_image_limits *lim, mc_image_info *info, mc_err *err)
{
	png_source src = {in, 0};
	spng_ctx *ctx = png_open(&src, lim);
	if (!ctx)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	struct spng_ihdr ihdr;
	uint8_t *row = NULL;
	size_t size = 0;
	mc_status st = png_header(ctx, &src, lim, info, &ihdr, err);
	int ret = 0;
	if (st == MC_OK && (ret = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &size)) != 0)
		st = png_fail(ret, &src, lim, err);
	if (st == MC_OK && !(row = malloc(size / ihdr.height)))
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (st == MC_OK && (ret = spng_decode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_DECODE_PROGRESSIVE)) != 0)
		st = png_fail(ret, &src, lim, err);
	while (st == MC_OK && (ret = spng_decode_row(ctx, row, size / ihdr.height)) == 0)
		;
	if (st == MC_OK && ret != SPNG_EOI)
		st = png_fail(ret, &src, lim, err);
	if (st == MC_OK && (ret = spng_decode_chunks(ctx)) != 0)
		st = png_fail(ret, &src, lim, err);
	if (st == MC_OK)
		st = png_side_data(ctx, info, err);
	free(row);
	spng_ctx_free(ctx);
	return st;
}

/* The output format for whole decoding: the samples as stored, except that depths under 8 go
 * to 8 bits and palettes to RGB(A). */
static void png_decode_format(const struct spng_ihdr *ihdr, bool has_trns, int *fmt, unsigned *channels,
                              unsigned *depth)
{
	if (ihdr->color_type == SPNG_COLOR_TYPE_INDEXED) {
		*fmt = has_trns ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
		*channels = has_trns ? 4 : 3;
		*depth = 8;
	} else if (ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr->bit_depth < 8) {
		*fmt = SPNG_FMT_G8;
		*channels = 1;
		*depth = 8;
	} else {
		*fmt = SPNG_FMT_PNG; /* 8 or 16 bits, 16-bit samples in host order */
		*channels = png_components(ihdr->color_type);
		*depth = ihdr->bit_depth;
	}
}

static mc_status png_decode(const uint8_t *data, size_t len, const mc_image_limits *lim, mc_pixels *out,
                            mc_image_info *info, mc_err *err)
{
	mc_mem_reader mem = {data, len, 0};
	png_source src = {{mc_mem_read, &mem}, 0};
	spng_ctx *ctx = png_open(&src, lim);
	if (!ctx)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	struct spng_ihdr ihdr;
	mc_status st = png_header(ctx, &src, lim, info, &ihdr, err);
	struct spng_trns trns;
	int fmt = 0;
	size_t size = 0;
	unsigned channels = 0, depth = 0;
	if (st == MC_OK) {
		png_decode_format(&ihdr, spng_get_trns(ctx, &trns) == 0, &fmt, &channels, &depth);
		int ret = spng_decoded_image_size(ctx, fmt, &size);
		if (ret)
			st = png_fail(ret, &src, lim, err);
	}
	if (st == MC_OK) {
		out->width = ihdr.width;
		out->height = ihdr.height;
		out->channels = channels;
		out->bit_depth = depth;
		out->stride = (size_t)ihdr.width * channels * (depth / 8);
		if (out->stride * ihdr.height != size)
			st = mc_fail(err, MC_ERR_HEADER, "PNG: unexpected decoded size");
		else if (!(out->data = malloc(size)))
			st = mc_fail(err, MC_ERR_NOMEM, "out of memory (%zu bytes for the image)", size);
	}
	if (st == MC_OK) {
		int ret = spng_decode_image(ctx, out->data, size, fmt,
		                            ihdr.color_type == SPNG_COLOR_TYPE_INDEXED ? SPNG_DECODE_TRNS : 0);
		if (!ret)
			ret = spng_decode_chunks(ctx); /* up to IEND */
		if (ret)
			st = png_fail(ret, &src, lim, err);
		else
			st = png_side_data(ctx, info, err);
	}
	spng_ctx_free(ctx);
	if (st != MC_OK)
		mc_pixels_free(out);
	return st;
}

/* Lays a sample with alpha over white. */
static inline uint8_t over_white(unsigned v, unsigned a)
{
	return (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
}

mc_status mc_png_rows(mc_input in, const mc_image_limits *lim, mc_rows *r, mc_err *err)
{
	static const uint32_t adam7_x0[7] = {0, 4, 0, 2, 0, 1, 0};
	static const uint32_t adam7_dx[7] = {8, 8, 4, 4, 2, 2, 1};
	png_source src = {in, 0};
	spng_ctx *ctx = png_open(&src, lim);
	mc_image_info *info = malloc(sizeof *info);
	uint8_t *row = NULL, *out = NULL;
	mc_status st = MC_OK;
	struct spng_ihdr ihdr;
	if (!ctx || !info) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((st = png_header(ctx, &src, lim, info, &ihdr, err)) != MC_OK)
		goto done;
	int fmt;
	unsigned in_channels, depth;
	if (ihdr.color_type == SPNG_COLOR_TYPE_INDEXED) {
		fmt = SPNG_FMT_RGBA8;
		in_channels = 4;
		depth = 8;
	} else {
		png_decode_format(&ihdr, false, &fmt, &in_channels, &depth);
	}
	bool color = in_channels >= 3;
	r->width = ihdr.width;
	r->height = ihdr.height;
	r->channels = color ? 3 : 1;
	r->scale = 1;
	uint32_t block;
	if ((st = r->begin(r, &block, err)) != MC_OK)
		goto done;
	size_t size;
	int ret = spng_decoded_image_size(ctx, fmt, &size);
	if (ret) {
		st = png_fail(ret, &src, lim, err);
		goto done;
	}
	size_t row_len = size / ihdr.height;
	row = calloc(1, row_len);
	out = malloc((size_t)ihdr.width * r->channels);
	if (!row || !out) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto done;
	}
	ret = spng_decode_image(ctx, NULL, 0, fmt,
	                        SPNG_DECODE_PROGRESSIVE |
	                            (ihdr.color_type == SPNG_COLOR_TYPE_INDEXED ? SPNG_DECODE_TRNS : 0));
	if (ret) {
		st = png_fail(ret, &src, lim, err);
		goto done;
	}
	for (;;) {
		struct spng_row_info ri;
		if ((ret = spng_get_row_info(ctx, &ri)) != 0)
			break;
		if ((ret = spng_decode_row(ctx, row, row_len)) != 0 && ret != SPNG_EOI)
			break;
		uint32_t x0 = 0, dx = 1;
		if (ihdr.interlace_method && ri.pass >= 0 && ri.pass < 7) {
			x0 = adam7_x0[ri.pass];
			dx = adam7_dx[ri.pass];
		}
		if (ri.row_num < ihdr.height && x0 < ihdr.width) {
			/* To 8-bit gray or RGB, alpha over white. */
			const unsigned bps = depth / 8;
			for (uint32_t x = x0; x < ihdr.width; x += dx) {
				const uint8_t *p = row + (size_t)x * in_channels * bps;
				unsigned s[4];
				for (unsigned c = 0; c < in_channels; c++)
					s[c] = bps == 2 ? (unsigned)(*(const uint16_t *)(const void *)(p + 2 * c) >> 8)
					                : p[c];
				uint8_t *o = out + (size_t)x * r->channels;
				switch (in_channels) {
				case 1: o[0] = (uint8_t)s[0]; break;
				case 2: o[0] = over_white(s[0], s[1]); break;
				case 3: o[0] = (uint8_t)s[0], o[1] = (uint8_t)s[1], o[2] = (uint8_t)s[2]; break;
				default:
					o[0] = over_white(s[0], s[3]);
					o[1] = over_white(s[1], s[3]);
					o[2] = over_white(s[2], s[3]);
				}
			}
			r->row(r, ri.row_num, out, x0, dx);
		}
		if (ret == SPNG_EOI)
			break;
	}
	/* Read on to IEND: a file cut after its image data is truncated all the same. */
	if (ret == SPNG_EOI)
		ret = spng_decode_chunks(ctx);
	if (ret != 0)
		st = png_fail(ret, &src, lim, err);
done:
	spng_ctx_free(ctx);
	free(info);
	free(row);
	free(out);
	return st;
}

mc_status mc_image_encode_png(const mc_pixels *px, uint8_t **out, size_t *len, mc_err *err)
{
	static const uint8_t color_of[5] = {0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
	                                    SPNG_COLOR_TYPE_TRUECOLOR, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
	if (!px || !out || !len || !px->data || px->width == 0 || px->height == 0 || px->channels < 1 ||
	    px->channels > 4 || (px->bit_depth != 8 && px->bit_depth != 16) || px->width > 0x7FFFFFFFu ||
	    px->height > 0x7FFFFFFFu || px->stride != (size_t)px->width * px->channels * (px->bit_depth / 8))
		return mc_fail(err, MC_ERR_MISUSE, "mc_image_encode_png: invalid image");
	*out = NULL;
	*len = 0;
	spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
	if (!ctx)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	struct spng_ihdr ihdr = {.width = px->width,
	                         .height = px->height,
	                         .bit_depth = (uint8_t)px->bit_depth,
	                         .color_type = color_of[px->channels]};
	int ret = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
	if (!ret)
		ret = spng_set_ihdr(ctx, &ihdr);
	if (!ret)
		ret = spng_encode_image(ctx, px->data, px->stride * px->height, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
	size_t n = 0;
	void *buf = NULL;
	if (!ret)
		buf = spng_get_png_buffer(ctx, &n, &ret);
	spng_ctx_free(ctx);
	if (ret || !buf) {
		free(buf);
		return mc_fail(err, ret == SPNG_EMEM ? MC_ERR_NOMEM : MC_ERR_MISUSE, "PNG encoding failed: %s",
		               spng_strerror(ret));
	}
	*out = buf;
	*len = n;
	return MC_OK;
}

/* ---- JPEG ---- */

#define JPEG_MAX_SCANS  500 /* a progressive JPEG with more scans is refused (CPU bomb) */
#define JPEG_MAX_MEMORY (512L * 1024 * 1024)

typedef struct jpeg_client {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	mc_status status;
	char msg[JMSG_LENGTH_MAX + 64];
	/* source */
	struct jpeg_source_mgr src;
	mc_input in;
	uint8_t buf[65536];
	int eof;
	/* side data */
	mc_image_info *info;
	uint8_t *exif;
	size_t exif_len;
	struct jpeg_progress_mgr progress;
} jpeg_client;

static void jpeg_stop(j_common_ptr c, mc_status status, const char *msg)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	jc->status = status;
	snprintf(jc->msg, sizeof jc->msg, "%s", msg);
	longjmp(jc->jump, 1);
}

static void jpeg_error_exit(j_common_ptr c)
{
	char text[JMSG_LENGTH_MAX];
	c->err->format_message(c, text);
	mc_status st = MC_ERR_HEADER;
	if (c->err->msg_code == JERR_OUT_OF_MEMORY)
		st = MC_ERR_NOMEM;
	else if (c->err->msg_code == JERR_BAD_PRECISION) /* a 12-bit JPEG: this libjpeg has 8 bits */
		st = MC_ERR_UNSUPPORTED;
	jpeg_stop(c, st, text);
}

/* Warnings (level -1) mean corrupt data that libjpeg would patch over: an error here. */
static void jpeg_emit(j_common_ptr c, int level)
{
	if (level < 0)
		jpeg_error_exit(c);
}

static void jpeg_progress(j_common_ptr c)
{
	if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS)
		jpeg_stop(c, MC_ERR_UNSUPPORTED, "the JPEG has more than 500 scans");
}

static void src_init(j_decompress_ptr c)
{
	(void)c;
}
static void src_term(j_decompress_ptr c)
{
	(void)c;
}

static boolean src_fill(j_decompress_ptr c)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	long n = jc->in.read(jc->in.ctx, jc->buf, sizeof jc->buf);
	if (n < 0)
		jpeg_stop((j_common_ptr)c, MC_ERR_IO, "read failed");
	if (n == 0)
		jpeg_stop((j_common_ptr)c, MC_ERR_HEADER, "truncated JPEG file");
	jc->src.next_input_byte = jc->buf;
	jc->src.bytes_in_buffer = (size_t)n;
	return TRUE;
}

static void src_skip(j_decompress_ptr c, long n)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	while (n > 0) {
		if (jc->src.bytes_in_buffer == 0)
			src_fill(c);
		size_t k = jc->src.bytes_in_buffer;
		if (k > (size_t)n)
			k = (size_t)n;
		jc->src.next_input_byte += k;
		jc->src.bytes_in_buffer -= k;
		n -= (long)k;
	}
}

static unsigned src_byte(j_decompress_ptr c)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	if (jc->src.bytes_in_buffer == 0)
		src_fill(c);
	jc->src.bytes_in_buffer--;
	return *jc->src.next_input_byte++;
}

/* Reads a marker segment's payload (at most cap bytes kept in buf; the rest skipped). */
static size_t marker_payload(j_decompress_ptr c, uint8_t *buf, size_t cap, size_t *total)
{
	unsigned len = src_byte(c) << 8;
	len |= src_byte(c);
	if (len < 2)
		jpeg_stop((j_common_ptr)c, MC_ERR_HEADER, "malformed JPEG: a marker segment shorter than its length");
	size_t n = len - 2, kept = 0;
	*total = n;
	for (; kept < n && kept < cap; kept++)
		buf[kept] = (uint8_t)src_byte(c);
	if (n > kept)
		src_skip(c, (long)(n - kept));
	return kept;
}

/* APP1: the first "Exif\0\0" segment is kept (at most 64 KiB by construction). */
static boolean on_app1(j_decompress_ptr c)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	unsigned len = src_byte(c) << 8;
	len |= src_byte(c);
	if (len < 2)
		jpeg_stop((j_common_ptr)c, MC_ERR_HEADER, "malformed JPEG: a marker segment shorter than its length");
	size_t n = len - 2, k = 0;
	uint8_t head[6];
	for (; k < n && k < sizeof head; k++)
		head[k] = (uint8_t)src_byte(c);
	if (k == sizeof head && memcmp(head, "Exif\0\0", 6) == 0 && !jc->exif && jc->info) {
		jc->exif = malloc(n - k + 1);
		if (!jc->exif)
			jpeg_stop((j_common_ptr)c, MC_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < n - k; i++)
			jc->exif[i] = (uint8_t)src_byte(c);
		jc->exif_len = n - k;
		return TRUE;
	}
	if (n > k)
		src_skip(c, (long)(n - k));
	return TRUE;
}

static boolean on_com(j_decompress_ptr c)
{
	jpeg_client *jc = (jpeg_client *)c->err;
	uint8_t text[MC_IMAGE_TEXT_LEN];
	size_t total;
	size_t kept = marker_payload(c, text, sizeof text, &total);
	if (jc->info) {
		add_text(jc->info, "Comment", (const char *)text, kept);
		if (total > kept && jc->info->n_text > 0)
			jc->info->text[jc->info->n_text - 1].truncated = 1;
	}
	return TRUE;
}

static void jpeg_client_init(jpeg_client *jc, struct jpeg_decompress_struct *c, mc_input in, mc_image_info *info)
{
	memset(c, 0, sizeof *c);
	c->err = jpeg_std_error(&jc->pub);
	jc->pub.error_exit = jpeg_error_exit;
	jc->pub.emit_message = jpeg_emit;
	jc->status = MC_OK;
	jc->msg[0] = 0;
	jc->in = in;
	jc->info = info;
	jc->exif = NULL;
	jc->exif_len = 0;
	jc->src.init_source = src_init;
	jc->src.fill_input_buffer = src_fill;
	jc->src.skip_input_data = src_skip;
	jc->src.resync_to_restart = jpeg_resync_to_restart;
	jc->src.term_source = src_term;
	jc->src.bytes_in_buffer = 0;
	jc->src.next_input_byte = NULL;
	jc->progress.progress_monitor = jpeg_progress;
}

/* After jpeg_create_decompress: our source, marker processors, limits. */
static void jpeg_setup(jpeg_client *jc, struct jpeg_decompress_struct *c)
{
	c->src = &jc->src;
	c->progress = &jc->progress;
	c->mem->max_memory_to_use = JPEG_MAX_MEMORY;
	jpeg_set_marker_processor(c, JPEG_APP0 + 1, on_app1);
	jpeg_set_marker_processor(c, JPEG_COM, on_com);
}

static const char *jpeg_color_name(J_COLOR_SPACE cs)
{
	switch (cs) {
	case JCS_GRAYSCALE: return "gray";
	case JCS_RGB: return "rgb";
	case JCS_YCbCr: return "ycbcr";
	case JCS_CMYK: return "cmyk";
	case JCS_YCCK: return "ycck";
	default: return "unknown";
	}
}

/* Fills info from a read header and checks the limits (longjmps on failure). */
static void jpeg_header_info(jpeg_client *jc, struct jpeg_decompress_struct *c, const mc_image_limits *lim)
{
	mc_err e = {0};
	if (mc_image_check_limits(lim, "the JPEG", c->image_width, c->image_height, &e) != MC_OK)
		jpeg_stop((j_common_ptr)c, e.status, e.msg);
	if (c->num_components != 1 && c->num_components != 3 && c->num_components != 4)
		jpeg_stop((j_common_ptr)c, MC_ERR_UNSUPPORTED, "the JPEG has an unsupported number of components");
	mc_image_info *info = jc->info;
	if (!info)
		return;
	info->type = MC_IMAGE_JPEG;
	info->width = c->image_width;
	info->height = c->image_height;
	info->bit_depth = (unsigned)c->data_precision;
	info->components = (unsigned)c->num_components;
	snprintf(info->color_type, sizeof info->color_type, "%s", jpeg_color_name(c->jpeg_color_space));
	info->interlaced = c->progressive_mode ? 1 : 0;
	if (jc->exif)
		set_exif(info, jc->exif, jc->exif_len);
}

static mc_status jpeg_result(jpeg_client *jc, mc_err *err)
{
	if (jc->status == MC_ERR_HEADER && strncmp(jc->msg, "truncated", 9) != 0 &&
	    strncmp(jc->msg, "malformed", 9) != 0)
		return mc_fail(err, MC_ERR_HEADER, "malformed JPEG: %s", jc->msg);
	return mc_fail(err, jc->status, "%s", jc->msg);
}

static mc_status jpeg_probe(mc_input in, const mc_image_limits *lim, mc_image_info *info, mc_err *err)
{
	struct jpeg_decompress_struct c;
	jpeg_client *jc = malloc(sizeof *jc);
	if (!jc)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memset(info, 0, sizeof *info);
	jpeg_client_init(jc, &c, in, info);
	mc_status st = MC_OK;
	if (setjmp(jc->jump)) {
		st = jpeg_result(jc, err);
	} else {
		jpeg_create_decompress(&c);
		jpeg_setup(jc, &c);
		jpeg_read_header(&c, TRUE);
		jpeg_header_info(jc, &c, lim);
	}
	jpeg_destroy_decompress(&c);
	free(jc->exif);
	free(jc);
	return st;
}

/* Converts a CMYK / YCCK scanline (as libjpeg gives it, JCS_CMYK) to RGB in place order. */
static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, uint32_t width, bool adobe_inverted)
{
	for (uint32_t x = 0; x < width; x++) {
		unsigned cc = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
		if (!adobe_inverted)
			cc = 255 - cc, m = 255 - m, y = 255 - y, k = 255 - k;
		out[3 * x] = (uint8_t)((cc * k + 127) / 255);
		out[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
		out[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
	}
}

/* Starts decompression to 8-bit gray or RGB (CMYK kept for conversion); returns channels. */
static unsigned jpeg_choose_output(struct jpeg_decompress_struct *c, bool *cmyk)
{
	*cmyk = false;
	if (c->jpeg_color_space == JCS_GRAYSCALE) {
		c->out_color_space = JCS_GRAYSCALE;
		return 1;
	}
	if (c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK) {
		c->out_color_space = JCS_CMYK;
		*cmyk = true;
		return 3;
	}
	c->out_color_space = JCS_RGB;
	return 3;
}

typedef struct jpeg_job {
	/* whole decode */
	mc_pixels *out;
	/* rows */
	mc_rows *rows;
} jpeg_job;

static mc_status jpeg_run(mc_input in, const mc_image_limits *lim, mc_image_info *info, jpeg_job *job, mc_err *err)
{
	struct jpeg_decompress_struct c;
	jpeg_client *jc = malloc(sizeof *jc);
	if (!jc)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (info)
		memset(info, 0, sizeof *info);
	jpeg_client_init(jc, &c, in, info);
	uint8_t *volatile line = NULL;
	uint8_t *volatile conv = NULL;
	mc_status st = MC_OK;
	if (setjmp(jc->jump)) {
		st = jpeg_result(jc, err);
		if (job->out)
			mc_pixels_free(job->out);
	} else {
		jpeg_create_decompress(&c);
		jpeg_setup(jc, &c);
		jpeg_read_header(&c, TRUE);
		jpeg_header_info(jc, &c, lim);
		bool cmyk;
		unsigned channels = jpeg_choose_output(&c, &cmyk);
		uint32_t scale = 1;
		if (job->rows) {
			mc_rows *r = job->rows;
			r->width = c.image_width;
			r->height = c.image_height;
			r->channels = channels;
			uint32_t block = 1;
			mc_err e = {0};
			if (r->begin(r, &block, &e) != MC_OK)
				jpeg_stop((j_common_ptr)&c, e.status, e.msg);
			for (uint32_t s = 8; s >= 2; s /= 2)
				if (block % s == 0) {
					scale = s;
					break;
				}
			r->scale = scale;
			c.scale_num = 1;
			c.scale_denom = scale;
			c.do_fancy_upsampling = FALSE; /* the blocks average it away */
		}
		jpeg_start_decompress(&c);
		size_t line_len = (size_t)c.output_width * (size_t)c.output_components;
		line = malloc(line_len);
		if (cmyk)
			conv = malloc((size_t)c.output_width * 3);
		if (!line || (cmyk && !conv))
			jpeg_stop((j_common_ptr)&c, MC_ERR_NOMEM, "out of memory");
		if (job->out) {
			mc_pixels *px = job->out;
			px->width = c.output_width;
			px->height = c.output_height;
			px->channels = channels;
			px->bit_depth = 8;
			px->stride = (size_t)c.output_width * channels;
			if (!(px->data = malloc(px->stride * px->height)))
				jpeg_stop((j_common_ptr)&c, MC_ERR_NOMEM, "out of memory for the image");
		}
		while (c.output_scanline < c.output_height) {
			uint32_t y = c.output_scanline;
			JSAMPROW rowp = line;
			if (jpeg_read_scanlines(&c, &rowp, 1) != 1)
				jpeg_stop((j_common_ptr)&c, MC_ERR_HEADER, "truncated JPEG file");
			const uint8_t *px = line;
			if (cmyk) {
				cmyk_to_rgb(line, conv, c.output_width, c.saw_Adobe_marker);
				px = conv;
			}
			if (job->out)
				memcpy(job->out->data + (size_t)y * job->out->stride, px, job->out->stride);
			else
				job->rows->row(job->rows, y, px, 0, 1);
		}
		jpeg_finish_decompress(&c);
	}
	jpeg_destroy_decompress(&c);
	free(line);
	free(conv);
	free(jc->exif);
	free(jc);
	return st;
}

mc_status mc_jpeg_rows(mc_input in, const mc_image_limits *lim, mc_rows *r, mc_err *err)
{
	jpeg_job job = {.rows = r};
	return jpeg_run(in, lim, NULL, &job, err);
}

/* ---- public entry points ---- */

/* The sniffed head of an input, then the rest of it. */
typedef struct chain {
	mc_mem_reader head;
	mc_input rest;
} chain;

static long chain_read(void *ctx, uint8_t *buf, size_t len)
{
	chain *ch = ctx;
	if (ch->head.pos < ch->head.len)
		return mc_mem_read(&ch->head, buf, len);
	return ch->rest.read(ch->rest.ctx, buf, len);
}

mc_status mc_image_probe(mc_input in, const mc_image_limits *limits, mc_image_info *info, mc_err *err)
{
	mc_image_limits storage;
	const mc_image_limits *lim = limits_or_default(limits, &storage);
	if (!in.read || !info)
		return mc_fail(err, MC_ERR_MISUSE, "mc_image_probe: no input or no info");
	/* Eight bytes tell PNG from JPEG; they are then given back to the decoder. */
	uint8_t head[8];
	size_t got = 0;
	mc_status st = mc_read_full(in, head, sizeof head, &got, err);
	if (st != MC_OK)
		return st;
	mc_image_type type = mc_image_detect(head, got);
	if (type != MC_IMAGE_PNG && type != MC_IMAGE_JPEG)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "not a PNG or JPEG file");
	chain ch = {{head, got, 0}, in};
	mc_input both = {chain_read, &ch};
	if (type == MC_IMAGE_PNG)
		return png_probe(both, lim, info, err);
	return jpeg_probe(both, lim, info, err);
}

mc_status mc_image_decode(const uint8_t *data, size_t len, const mc_image_limits *limits, mc_pixels *out,
                          mc_image_info *info, mc_err *err)
{
	mc_image_limits storage;
	const mc_image_limits *lim = limits_or_default(limits, &storage);
	if (!data || !out)
		return mc_fail(err, MC_ERR_MISUSE, "mc_image_decode: no data or no output");
	memset(out, 0, sizeof *out);
	mc_image_type type = mc_image_detect(data, len);
	if (type == MC_IMAGE_PNG) {
		mc_image_info *tmp = info ? info : malloc(sizeof *tmp);
		if (!tmp)
			return mc_fail(err, MC_ERR_NOMEM, "out of memory");
		mc_status st = png_decode(data, len, lim, out, tmp, err);
		if (!info)
			free(tmp);
		return st;
	}
	if (type == MC_IMAGE_JPEG) {
		mc_mem_reader mem = {data, len, 0};
		jpeg_job job = {.out = out};
		return jpeg_run((mc_input){mc_mem_read, &mem}, lim, info, &job, err);
	}
	return mc_fail(err, MC_ERR_UNSUPPORTED, "not a PNG or JPEG image");
}
