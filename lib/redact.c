/*
 * redact.c: the format-independent half of reversible region encryption (FORMAT.md §13): the
 * public entry points, which pick PNG or JPEG by the first bytes; region and size checks; the
 * region record that is sealed (§13.4) and the envelope around the sealed container (§13.1);
 * sealing and opening a record in memory with the container library; JPEG block geometry; and
 * the check every redaction ends with: its output restored in memory with the record it sealed.
 */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "redact_internal.h"

const char *mc_redact_fill_name(mc_redact_fill fill)
{
	switch (fill) {
	case MC_FILL_BLACK: return "black";
	case MC_FILL_NOISE: return "noise";
	case MC_FILL_PIXELATE: return "pixelate";
	}
	return NULL;
}

bool rd_is_png(const uint8_t *image, size_t len)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	return len >= 8 && memcmp(image, sig, 8) == 0;
}

bool rd_is_jpeg(const uint8_t *image, size_t len)
{
	return len >= 3 && image[0] == 0xff && image[1] == 0xd8 && image[2] == 0xff;
}

bool rd_is_dicom(const uint8_t *image, size_t len)
{
	return len >= 132 && memcmp(image + 128, "DICM", 4) == 0;
}

static mc_status not_an_image(mc_err *err)
{
	return mc_fail(err, MC_ERR_UNSUPPORTED, "the file is neither PNG, JPEG nor DICOM (judged by its first bytes)");
}

mc_status mc_redact(const uint8_t *image, size_t len, const mc_redact_params *params, uint8_t **out, size_t *out_len,
                    mc_redact_info *info, mc_err *err)
{
	mc_redact_info scratch;
	if (!out || !out_len)
		return mc_fail(err, MC_ERR_MISUSE, "mc_redact: no output");
	*out = NULL;
	*out_len = 0;
	if (!image || !params)
		return mc_fail(err, MC_ERR_MISUSE, "mc_redact: no image or no parameters");
	if (params->n_regions == 0 || !params->regions)
		return mc_fail(err, MC_ERR_MISUSE, "give at least one region");
	if (params->n_regions > MC_REDACT_MAX_REGIONS)
		return mc_fail(err, MC_ERR_MISUSE, "at most %u regions", MC_REDACT_MAX_REGIONS);
	if (params->fill != 0 && !mc_redact_fill_name(params->fill))
		return mc_fail(err, MC_ERR_MISUSE, "unknown fill %d", (int)params->fill);
	if (len > MC_REDACT_MAX_INPUT)
		return mc_fail(err, MC_ERR_HEADER, "the image is larger than %u bytes", MC_REDACT_MAX_INPUT);
	if (!info)
		info = &scratch;
	memset(info, 0, sizeof *info);
	mc_redact_params p = *params;
	if (p.fill == 0)
		p.fill = MC_FILL_BLACK;
	if (rd_is_png(image, len))
		return rd_png_redact(image, len, &p, out, out_len, info, err);
	if (rd_is_jpeg(image, len))
		return rd_jpeg_redact(image, len, &p, out, out_len, info, err);
	if (rd_is_dicom(image, len))
		return rd_dicom_redact(image, len, &p, out, out_len, info, err);
	return not_an_image(err);
}

mc_status mc_restore(const uint8_t *image, size_t len, const mc_identity *id, const mc_open_params *open, uint8_t **out,
                     size_t *out_len, mc_redact_info *info, mc_err *err)
{
	mc_redact_info scratch;
	if (!out || !out_len)
		return mc_fail(err, MC_ERR_MISUSE, "mc_restore: no output");
	*out = NULL;
	*out_len = 0;
	if (!image || !id)
		return mc_fail(err, MC_ERR_MISUSE, "mc_restore: no image or no identity");
	if (len > MC_REDACT_MAX_INPUT)
		return mc_fail(err, MC_ERR_HEADER, "the image is larger than %u bytes", MC_REDACT_MAX_INPUT);
	if (!info)
		info = &scratch;
	memset(info, 0, sizeof *info);
	rd_opener o = {.id = id, .open = open};
	if (rd_is_png(image, len))
		return rd_png_restore(image, len, &o, out, out_len, info, err);
	if (rd_is_jpeg(image, len))
		return rd_jpeg_restore(image, len, &o, out, out_len, info, err);
	if (rd_is_dicom(image, len))
		return rd_dicom_restore(image, len, &o, out, out_len, info, err);
	return not_an_image(err);
}

mc_status rd_check_restores(mc_redact_kind kind, const uint8_t *out, size_t out_len, const uint8_t *side,
                            size_t side_len, const uint8_t *record, size_t record_len, mc_err *err)
{
	rd_opener o = {.side = side, .side_len = side_len, .record = record, .record_len = record_len};
	uint8_t *back = NULL;
	size_t back_len = 0;
	mc_redact_info info;
	mc_err why = {0};
	mc_status st;
	memset(&info, 0, sizeof info);
	if (kind == MC_REDACT_PNG)
		st = rd_png_restore(out, out_len, &o, &back, &back_len, &info, &why);
	else if (kind == MC_REDACT_JPEG)
		st = rd_jpeg_restore(out, out_len, &o, &back, &back_len, &info, &why);
	else
		st = rd_dicom_restore(out, out_len, &o, &back, &back_len, &info, &why);
	mc_buf_free(back, back_len); /* the original, in clear */
	if (st == MC_OK)
		return MC_OK;
	if (st == MC_ERR_NOMEM || st == MC_ERR_CRYPTO)
		return mc_fail(err, st, "checking that the redacted image restores: %s", why.msg);
	return mc_fail(err, MC_ERR_UNSUPPORTED, RD_NOT_RESTORABLE " (%s): refused, its hidden regions would be lost",
	               why.msg);
}

mc_status rd_dims_check(uint32_t width, uint32_t height, mc_err *err)
{
	if (width == 0 || height == 0)
		return mc_fail(err, MC_ERR_HEADER, "the image has no pixels (%ux%u)", width, height);
	if (width > MC_REDACT_MAX_DIM || height > MC_REDACT_MAX_DIM || (uint64_t)width * height > MC_REDACT_MAX_PIXELS)
		return mc_fail(err, MC_ERR_HEADER,
		               "the image is %ux%u: over the limit of %u pixels a side and %u pixels in all", width,
		               height, MC_REDACT_MAX_DIM, MC_REDACT_MAX_PIXELS);
	return MC_OK;
}

mc_status rd_regions_check(const mc_region *regions, size_t n, uint32_t width, uint32_t height, mc_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const mc_region *g = &regions[i];
		if (g->w == 0 || g->h == 0)
			return mc_fail(err, MC_ERR_MISUSE, "region %zu (%u,%u,%u,%u) is empty", i + 1, g->x, g->y, g->w,
			               g->h);
		if ((uint64_t)g->x + g->w > width || (uint64_t)g->y + g->h > height)
			return mc_fail(err, MC_ERR_MISUSE, "region %zu (%u,%u,%u,%u) is not inside the %ux%u image",
			               i + 1, g->x, g->y, g->w, g->h, width, height);
	}
	return MC_OK;
}

unsigned rd_png_bpp(uint8_t color_type, uint8_t bit_depth)
{
	unsigned channels;
	switch (color_type) {
	case 0: channels = 1; break;
	case 2: channels = 3; break;
	case 3: channels = 1; break;
	case 4: channels = 2; break;
	case 6: channels = 4; break;
	default: return 0;
	}
	if (bit_depth == 8 || (bit_depth == 16 && color_type != 3))
		return channels * bit_depth / 8;
	return 0;
}

static unsigned max_samp(const uint8_t *s, unsigned n)
{
	unsigned m = 1;
	for (unsigned i = 0; i < n; i++)
		if (s[i] > m)
			m = s[i];
	return m;
}

void rd_jpeg_blocks(const rd_record *r, unsigned c, uint32_t *wb, uint32_t *hb)
{
	uint64_t hmax = max_samp(r->h_samp, r->n_components), vmax = max_samp(r->v_samp, r->n_components);
	/* jdinput.c: width_in_blocks = ceil(image_width * h / (hmax * 8)) */
	*wb = (uint32_t)(((uint64_t)r->width * r->h_samp[c] + hmax * 8 - 1) / (hmax * 8));
	*hb = (uint32_t)(((uint64_t)r->height * r->v_samp[c] + vmax * 8 - 1) / (vmax * 8));
}

static void imcu_size(const rd_record *r, uint32_t *w, uint32_t *h)
{
	*w = 8 * max_samp(r->h_samp, r->n_components);
	*h = 8 * max_samp(r->v_samp, r->n_components);
}

mc_status rd_jpeg_mask(const rd_record *r, uint8_t **mask, uint32_t *cols, uint32_t *rows, mc_err *err)
{
	uint32_t mw, mh;
	imcu_size(r, &mw, &mh);
	*cols = (r->width + mw - 1) / mw;
	*rows = (r->height + mh - 1) / mh;
	*mask = calloc((size_t)*cols * *rows, 1);
	if (!*mask)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < r->n_regions; i++) {
		const mc_region *g = &r->regions[i];
		uint32_t x0 = g->x / mw, x1 = (g->x + g->w + mw - 1) / mw;
		uint32_t y0 = g->y / mh, y1 = (g->y + g->h + mh - 1) / mh;
		for (uint32_t y = y0; y < y1; y++)
			memset(*mask + (size_t)y * *cols + x0, 1, x1 - x0);
	}
	return MC_OK;
}

uint64_t rd_jpeg_hidden_blocks(const rd_record *r, unsigned c, const uint8_t *mask, uint32_t cols)
{
	uint32_t wb, hb;
	uint64_t n = 0;
	rd_jpeg_blocks(r, c, &wb, &hb);
	for (uint32_t by = 0; by < hb; by++) {
		const uint8_t *row = mask + (size_t)(by / r->v_samp[c]) * cols;
		for (uint32_t bx = 0; bx < wb; bx++)
			n += row[bx / r->h_samp[c]];
	}
	return n;
}

mc_status rd_record_data_len(const rd_record *r, uint64_t *len, mc_err *err)
{
	uint64_t n = 0;
	if (r->kind == MC_REDACT_PNG) {
		unsigned bpp = rd_png_bpp(r->color_type, r->bit_depth);
		for (size_t i = 0; i < r->n_regions; i++)
			n += (uint64_t)r->regions[i].w * r->regions[i].h * bpp;
	} else if (r->kind == MC_REDACT_DICOM) {
		uint64_t frame = 0;
		for (size_t i = 0; i < r->n_regions; i++)
			frame += (uint64_t)r->regions[i].w * r->regions[i].h * r->samples * (r->bits_allocated / 8u);
		n = frame && r->frames > MC_REDACT_MAX_SEALED / frame ? (uint64_t)MC_REDACT_MAX_SEALED + 1
		                                                      : frame * r->frames;
	} else {
		uint8_t *mask;
		uint32_t cols, rows;
		mc_status st = rd_jpeg_mask(r, &mask, &cols, &rows, err);
		if (st != MC_OK)
			return st;
		for (unsigned c = 0; c < r->n_components; c++)
			n += rd_jpeg_hidden_blocks(r, c, mask, cols) * 128;
		free(mask);
	}
	if (n > MC_REDACT_MAX_SEALED)
		return mc_fail(err, MC_ERR_HEADER, "the regions hold %llu bytes, over the limit of %u",
		               (unsigned long long)n, MC_REDACT_MAX_SEALED);
	*len = n;
	return MC_OK;
}

size_t rd_record_header_len(const rd_record *r)
{
	return 20 +
	       (r->kind == MC_REDACT_JPEG    ? 2u * r->n_components
	        : r->kind == MC_REDACT_DICOM ? 4u
	                                     : 0) +
	       16 * r->n_regions + 64;
}

void rd_record_write_header(const rd_record *r, uint8_t *buf)
{
	memcpy(buf, RD_RECORD_MAGIC, 4);
	buf[4] = RD_VERSION;
	buf[5] = (uint8_t)r->kind;
	buf[6] = (uint8_t)r->fill;
	buf[7] = (uint8_t)r->n_regions;
	st32(buf + 8, r->width);
	st32(buf + 12, r->height);
	uint8_t *p = buf + 16;
	if (r->kind == MC_REDACT_PNG) {
		p[0] = r->color_type;
		p[1] = r->bit_depth;
		p[2] = p[3] = 0;
		p += 4;
	} else if (r->kind == MC_REDACT_DICOM) {
		p[0] = r->bits_allocated;
		p[1] = r->samples;
		p[2] = r->planar;
		p[3] = 0;
		st32(p + 4, r->frames);
		p += 8;
	} else {
		p[0] = r->n_components;
		p[1] = r->color_space;
		p[2] = p[3] = 0;
		p += 4;
		for (unsigned c = 0; c < r->n_components; c++) {
			*p++ = r->h_samp[c];
			*p++ = r->v_samp[c];
		}
	}
	for (size_t i = 0; i < r->n_regions; i++, p += 16) {
		st32(p, r->regions[i].x);
		st32(p + 4, r->regions[i].y);
		st32(p + 8, r->regions[i].w);
		st32(p + 12, r->regions[i].h);
	}
	memcpy(p, r->original_digest, 32);
	memcpy(p + 32, r->redacted_digest, 32);
}

/* [MC-RGN-6] */
mc_status rd_record_parse(const uint8_t *buf, size_t len, rd_record *r, mc_err *err)
{
	memset(r, 0, sizeof *r);
	if (len < 20 || memcmp(buf, RD_RECORD_MAGIC, 4) != 0)
		return mc_fail(err, MC_ERR_HEADER, "the sealed region record does not start with " RD_RECORD_MAGIC);
	if (buf[4] != RD_VERSION)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "region record version %u is not supported", buf[4]);
	r->kind = (mc_redact_kind)buf[5];
	r->fill = (mc_redact_fill)buf[6];
	r->n_regions = buf[7];
	r->width = ld32(buf + 8);
	r->height = ld32(buf + 12);
	if (r->kind != MC_REDACT_PNG && r->kind != MC_REDACT_JPEG && r->kind != MC_REDACT_DICOM)
		return mc_fail(err, MC_ERR_HEADER, "the region record has an unknown kind %u", buf[5]);
	if (!mc_redact_fill_name(r->fill))
		return mc_fail(err, MC_ERR_HEADER, "the region record has an unknown fill %u", buf[6]);
	if (r->n_regions == 0 || r->n_regions > MC_REDACT_MAX_REGIONS)
		return mc_fail(err, MC_ERR_HEADER, "the region record has %zu regions", r->n_regions);
	mc_status st = rd_dims_check(r->width, r->height, err);
	if (st != MC_OK)
		return st;
	const uint8_t *p = buf + 16;
	if ((r->kind != MC_REDACT_DICOM && buf[18] != 0) || buf[19] != 0)
		return mc_fail(err, MC_ERR_HEADER, "the region record's reserved bytes are not zero");
	if (r->kind == MC_REDACT_DICOM) {
		r->bits_allocated = p[0];
		r->samples = p[1];
		r->planar = p[2];
		if ((r->bits_allocated != 8 && r->bits_allocated != 16) || (r->samples != 1 && r->samples != 3) ||
		    r->planar > 1 || (r->planar && r->samples == 1))
			return mc_fail(err, MC_ERR_HEADER,
			               "the region record names %u-bit DICOM pixels of %u samples, planar %u",
			               r->bits_allocated, r->samples, r->planar);
	} else if (r->kind == MC_REDACT_PNG) {
		r->color_type = p[0];
		r->bit_depth = p[1];
		if (!rd_png_bpp(r->color_type, r->bit_depth))
			return mc_fail(err, MC_ERR_HEADER, "the region record names PNG colour type %u, depth %u",
			               r->color_type, r->bit_depth);
	} else {
		r->n_components = p[0];
		r->color_space = p[1];
		bool ok = (r->color_space == RD_JCS_GRAY && r->n_components == 1) ||
		          ((r->color_space == RD_JCS_YCBCR || r->color_space == RD_JCS_RGB) && r->n_components == 3);
		if (!ok)
			return mc_fail(err, MC_ERR_HEADER,
			               "the region record names %u JPEG components in colour space %u", r->n_components,
			               r->color_space);
	}
	p += 4;
	size_t header = rd_record_header_len(r);
	if (len < header)
		return mc_fail(err, MC_ERR_HEADER, "the region record is truncated (%zu bytes)", len);
	if (r->kind == MC_REDACT_DICOM) {
		r->frames = ld32(p);
		p += 4;
		if (r->frames == 0)
			return mc_fail(err, MC_ERR_HEADER, "the region record has no frames");
	}
	if (r->kind == MC_REDACT_JPEG) {
		for (unsigned c = 0; c < r->n_components; c++) {
			r->h_samp[c] = *p++;
			r->v_samp[c] = *p++;
			if (r->h_samp[c] < 1 || r->h_samp[c] > 4 || r->v_samp[c] < 1 || r->v_samp[c] > 4)
				return mc_fail(err, MC_ERR_HEADER, "the region record has a bad sampling factor");
		}
		unsigned hmax = max_samp(r->h_samp, r->n_components), vmax = max_samp(r->v_samp, r->n_components);
		for (unsigned c = 0; c < r->n_components; c++)
			if (hmax % r->h_samp[c] || vmax % r->v_samp[c])
				return mc_fail(err, MC_ERR_HEADER, "the region record has fractional sampling factors");
	}
	for (size_t i = 0; i < r->n_regions; i++, p += 16) {
		r->regions[i] = (mc_region){ld32(p), ld32(p + 4), ld32(p + 8), ld32(p + 12)};
	}
	mc_err why = {0};
	if (rd_regions_check(r->regions, r->n_regions, r->width, r->height, &why) != MC_OK)
		return mc_fail(err, MC_ERR_HEADER, "in the sealed region record: %s", why.msg);
	if (r->kind == MC_REDACT_JPEG) {
		/* [MC-RGN-7] JPEG regions are whole iMCUs, or end at the image's edge. */
		uint32_t mw, mh;
		imcu_size(r, &mw, &mh);
		for (size_t i = 0; i < r->n_regions; i++) {
			const mc_region *g = &r->regions[i];
			if (g->x % mw || g->y % mh || ((g->x + g->w) % mw && g->x + g->w != r->width) ||
			    ((g->y + g->h) % mh && g->y + g->h != r->height))
				return mc_fail(err, MC_ERR_HEADER,
				               "region %zu of the record is not aligned to %ux%u iMCUs", i + 1, mw, mh);
		}
	}
	memcpy(r->original_digest, p, 32);
	memcpy(r->redacted_digest, p + 32, 32);
	uint64_t want;
	if ((st = rd_record_data_len(r, &want, err)) != MC_OK)
		return st;
	if (len - header != want)
		return mc_fail(err, MC_ERR_HEADER,
		               "the region record holds %zu bytes of data where its header implies %llu", len - header,
		               (unsigned long long)want);
	r->data = buf + header;
	r->data_len = len - header;
	return MC_OK;
}

void rd_info_fill(mc_redact_info *info, const rd_record *r, size_t sealed_len)
{
	info->kind = r->kind;
	info->width = r->width;
	info->height = r->height;
	info->n_regions = r->n_regions;
	memcpy(info->regions, r->regions, r->n_regions * sizeof r->regions[0]);
	info->sealed_len = sealed_len;
}

mc_status rd_random(uint8_t *buf, size_t len, mc_err *err)
{
	while (len > 0) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		if (RAND_bytes(buf, n) != 1)
			return mc_fail_ssl(err, MC_ERR_CRYPTO, "the random generator failed");
		buf += n;
		len -= (size_t)n;
	}
	return MC_OK;
}

void rd_buf_put(rd_buf *b, const void *data, size_t len)
{
	if (b->failed || len == 0)
		return;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap - b->len < len && cap < SIZE_MAX / 2)
			cap *= 2;
		uint8_t *p = cap - b->len >= len ? malloc(cap) : NULL;
		if (!p) {
			b->failed = true;
			return;
		}
		if (b->len)
			memcpy(p, b->p, b->len);
		mc_buf_free(b->p, b->cap);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void rd_buf_free(rd_buf *b)
{
	mc_buf_free(b->p, b->cap);
	memset(b, 0, sizeof *b);
}

/* A growing buffer as an mc_output, with a ceiling. */
typedef struct growbuf {
	uint8_t *p;
	size_t len, cap, limit;
} growbuf;

static int growbuf_write(void *ctx, const uint8_t *buf, size_t len)
{
	growbuf *g = ctx;
	if (len > g->limit - g->len)
		return -1;
	if (g->len + len > g->cap) {
		size_t cap = g->cap ? g->cap : 4096;
		while (cap < g->len + len)
			cap = cap > g->limit / 2 ? g->limit : cap * 2;
		uint8_t *p = malloc(cap);
		if (!p)
			return -1;
		if (g->len)
			memcpy(p, g->p, g->len);
		mc_buf_free(g->p, g->cap); /* it may hold plaintext */
		g->p = p;
		g->cap = cap;
	}
	memcpy(g->p + g->len, buf, len);
	g->len += len;
	return 0;
}

/* [MC-RGN-1] */
mc_status rd_seal(const mc_redact_params *p, mc_redact_kind kind, const uint8_t *record, size_t record_len,
                  uint8_t **side, size_t *side_len, mc_err *err)
{
	growbuf g = {.limit = RD_ENVELOPE_LEN + (size_t)RD_MAX_CONTAINER};
	uint8_t head[RD_ENVELOPE_LEN] = {'M', 'C', 'R', 'G', RD_VERSION, (uint8_t)kind, 0, 0};
	*side = NULL;
	*side_len = 0;
	if (growbuf_write(&g, head, sizeof head) != 0)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_seal_params sp = {
	    .cipher = p->cipher,
	    .recipients = p->recipients,
	    .n_recipients = p->n_recipients,
	    .signer = p->signer,
	};
	mc_mem_source src = {record, record_len};
	mc_status st = mc_seal(&sp, mc_input_mem(&src), (mc_output){growbuf_write, &g}, err);
	if (st != MC_OK) {
		mc_buf_free(g.p, g.cap);
		return st;
	}
	*side = g.p;
	*side_len = g.len;
	return MC_OK;
}

/* [MC-RGN-2] */
mc_status rd_envelope_parse(const uint8_t *side, size_t len, mc_redact_kind kind, const uint8_t **container,
                            size_t *container_len, mc_err *err)
{
	if (len < RD_ENVELOPE_LEN || memcmp(side, RD_ENVELOPE_MAGIC, 4) != 0)
		return mc_fail(err, MC_ERR_HEADER, "the sealed regions do not start with " RD_ENVELOPE_MAGIC);
	if (side[4] != RD_VERSION)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "sealed-region version %u is not supported", side[4]);
	if (side[5] != (uint8_t)kind)
		return mc_fail(err, MC_ERR_HEADER, "the sealed regions were made for another image type (%u)", side[5]);
	if (side[6] != 0 || side[7] != 0)
		return mc_fail(err, MC_ERR_HEADER, "the sealed regions' reserved bytes are not zero");
	if (len - RD_ENVELOPE_LEN > RD_MAX_CONTAINER)
		return mc_fail(err, MC_ERR_HEADER, "the sealed regions are larger than the limit");
	*container = side + RD_ENVELOPE_LEN;
	*container_len = len - RD_ENVELOPE_LEN;
	return MC_OK;
}

mc_status rd_unseal(const rd_opener *o, const uint8_t *side, size_t side_len, mc_redact_kind kind, uint8_t **record,
                    size_t *record_len, rd_record *r, mc_redact_info *info, mc_err *err)
{
	if (o->id)
		return rd_open(side, side_len, kind, o->id, o->open, record, record_len, r, info, err);
	*record = NULL;
	*record_len = 0;
	/* mc_redact's self-check: the bytes the image carries are the ones sealed, their container
	 * parses and holds the record, whose copy then goes where an opened one would */
	if (side_len != o->side_len || memcmp(side, o->side, side_len) != 0)
		return mc_fail(err, MC_ERR_HEADER, "the sealed regions read back differ from those written");
	const uint8_t *container;
	size_t container_len;
	mc_status st = rd_envelope_parse(side, side_len, kind, &container, &container_len, err);
	if (st != MC_OK)
		return st;
	mc_file *f = NULL;
	uint64_t n_chunks, plaintext_len;
	mc_mem_source src = {container, container_len};
	if ((st = mc_file_read(mc_input_mem(&src), &f, err)) == MC_OK &&
	    (st = mc_file_payload_size(f, container_len, &n_chunks, &plaintext_len, err)) == MC_OK &&
	    plaintext_len != o->record_len)
		st = mc_fail(err, MC_ERR_HEADER, "the sealed container holds %llu bytes where the record has %zu",
		             (unsigned long long)plaintext_len, o->record_len);
	mc_file_free(f);
	if (st != MC_OK)
		return st;
	uint8_t *copy = malloc(o->record_len ? o->record_len : 1);
	if (!copy)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memcpy(copy, o->record, o->record_len);
	if ((st = rd_record_parse(copy, o->record_len, r, err)) == MC_OK && r->kind != kind)
		st = mc_fail(err, MC_ERR_HEADER, "the sealed record was made for another image type");
	if (st != MC_OK) {
		mc_buf_free(copy, o->record_len);
		return st;
	}
	*record = copy;
	*record_len = o->record_len;
	return MC_OK;
}

mc_status rd_open(const uint8_t *side, size_t side_len, mc_redact_kind kind, const mc_identity *id,
                  const mc_open_params *open, uint8_t **record, size_t *record_len, rd_record *r, mc_redact_info *info,
                  mc_err *err)
{
	const uint8_t *container;
	size_t container_len;
	mc_file *f = NULL;
	uint64_t n_chunks, plaintext_len;
	growbuf g = {0};
	mc_payload_info pinfo;
	*record = NULL;
	*record_len = 0;
	mc_status st = rd_envelope_parse(side, side_len, kind, &container, &container_len, err);
	if (st != MC_OK)
		return st;
	mc_mem_source src = {container, container_len};
	if ((st = mc_file_read(mc_input_mem(&src), &f, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_file_payload_size(f, container_len, &n_chunks, &plaintext_len, err)) != MC_OK)
		goto cleanup;
	if (plaintext_len > MC_REDACT_MAX_SEALED) {
		st = mc_fail(err, MC_ERR_HEADER, "the sealed regions are larger than the limit");
		goto cleanup;
	}
	if ((st = mc_file_unlock(f, id, err)) != MC_OK)
		goto cleanup;
	g.limit = g.cap = (size_t)plaintext_len;
	if (!(g.p = malloc(g.cap ? g.cap : 1))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	mc_open_params params = {0};
	if (open) {
		params.trusted = open->trusted;
		params.n_trusted = open->n_trusted;
		params.threads = open->threads;
	}
	if ((st = mc_file_open_payload(f, mc_input_mem(&src), (mc_output){growbuf_write, &g}, &params, &pinfo, err)) !=
	    MC_OK)
		goto cleanup;
	if ((st = rd_record_parse(g.p, g.len, r, err)) != MC_OK)
		goto cleanup;
	if (r->kind != kind) {
		st = mc_fail(err, MC_ERR_HEADER, "the sealed record was made for another image type");
		goto cleanup;
	}
	info->signed_ok = pinfo.signed_ok;
	if (pinfo.signed_ok)
		memcpy(info->signer_fp, pinfo.signer_fp, MC_FP_LEN);
	*record = g.p;
	*record_len = g.len;
	g.p = NULL;
cleanup:
	mc_buf_free(g.p, g.cap);
	mc_file_free(f);
	return st;
}
