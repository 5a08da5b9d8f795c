/*
 * redact_png.c: region encryption for PNG (FORMAT.md §13.2). The file's chunk sequence is walked
 * here (lengths, CRCs, order); libspng only ever sees IHDR, PLTE and the IDATs, decodes them to
 * the PNG's own sample format (SPNG_FMT_RAW: big-endian 16-bit samples, palette indices) and
 * encodes the changed samples again. The output is the input's chunk sequence with new IHDR and
 * IDATs, the ancillary chunks that stay valid when pixels change, and one `mcRG` chunk before
 * IEND carrying the sealed original samples.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>

#include "redact_internal.h"

#define PNG_MAX_CHUNKS 1000000u

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

/* CRC-32 of ISO 3309 / PNG: crc_update(0, ...) over the chunk type and data. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, crc_init);
	uint32_t c = crc ^ 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

typedef struct chunk {
	const uint8_t *start; /* the length field */
	uint32_t len;
	char type[5];
	const uint8_t *data;
} chunk;

typedef struct walker {
	const uint8_t *png;
	size_t len, pos, count;
	bool done;
} walker;

/* Next chunk: 1, or 0 after IEND, or -1 with err set ([MC-RGN-10]). */
static int png_next(walker *w, chunk *c, mc_err *err)
{
	if (w->done)
		return 0;
	if (w->len - w->pos < 12) {
		mc_fail(err, MC_ERR_HEADER, "the PNG is truncated at byte %zu (no IEND)", w->pos);
		return -1;
	}
	const uint8_t *p = w->png + w->pos;
	c->start = p;
	c->len = ld32(p);
	memcpy(c->type, p + 4, 4);
	c->type[4] = '\0';
	c->data = p + 8;
	for (int i = 0; i < 4; i++) {
		uint8_t b = (uint8_t)c->type[i];
		if (!((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'))) {
			mc_fail(err, MC_ERR_HEADER, "the PNG has a malformed chunk type at byte %zu", w->pos);
			return -1;
		}
	}
	if (c->len > 0x7fffffffu || c->len > w->len - w->pos - 12) {
		mc_fail(err, MC_ERR_HEADER, "the PNG's %s chunk at byte %zu runs past the end of the file", c->type,
		        w->pos);
		return -1;
	}
	if (crc_update(0, p + 4, 4 + (size_t)c->len) != ld32(p + 8 + c->len)) {
		mc_fail(err, MC_ERR_HEADER,
		        "the PNG's %s chunk at byte %zu fails its CRC: the file is damaged or was altered", c->type,
		        w->pos);
		return -1;
	}
	if (++w->count > PNG_MAX_CHUNKS) {
		mc_fail(err, MC_ERR_HEADER, "the PNG has more than %u chunks", PNG_MAX_CHUNKS);
		return -1;
	}
	if (w->count == 1 && (strcmp(c->type, "IHDR") != 0 || c->len != 13)) {
		mc_fail(err, MC_ERR_HEADER, "the PNG does not start with an IHDR chunk");
		return -1;
	}
	w->pos += 12 + (size_t)c->len;
	if (strcmp(c->type, "IEND") == 0)
		w->done = true;
	return 1;
}

static bool is_type(const chunk *c, const char *t)
{
	return memcmp(c->type, t, 4) == 0;
}

/* Ancillary chunks whose meaning does not depend on the pixel values, copied unchanged
 * ([MC-RGN-11]); hIST (a histogram of the pixels) is not among them. Any other ancillary chunk
 * is copied only when its safe-to-copy bit (lowercase 4th letter) is set. */
static bool keep_ancillary(const chunk *c, bool *metadata)
{
	static const char *colour[] = {"cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCv", "cLLi",
	                               "bKGD", "tRNS", "pHYs", "sPLT", "oFFs", "pCAL", "sCAL", "sTER"};
	static const char *meta[] = {"tEXt", "zTXt", "iTXt", "eXIf", "tIME"};
	for (size_t i = 0; i < sizeof colour / sizeof colour[0]; i++)
		if (is_type(c, colour[i]))
			return true;
	for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
		if (is_type(c, meta[i])) {
			*metadata = true;
			return true;
		}
	if (is_type(c, "hIST"))
		return false;
	if (c->type[3] >= 'a' && c->type[3] <= 'z') {
		*metadata = true;
		return true;
	}
	return false;
}

typedef struct png_image {
	uint32_t width, height;
	uint8_t bit_depth, color_type;
	unsigned bpp, n_palette;
	const uint8_t *palette; /* PLTE data */
	chunk ihdr, plte;
	bool has_plte;
	const uint8_t *side; /* mcRG data */
	size_t side_len;
	uint8_t *pixels; /* rows of width * bpp bytes */
	size_t pixels_len;
} png_image;

static void png_image_free(png_image *im)
{
	mc_buf_free(im->pixels, im->pixels_len);
	im->pixels = NULL;
}

static void put_chunk(rd_buf *b, const char *type, const uint8_t *data, size_t len)
{
	uint8_t head[8], tail[4];
	st32(head, (uint32_t)len);
	memcpy(head + 4, type, 4);
	uint32_t crc = crc_update(crc_update(0, head + 4, 4), data, len);
	st32(tail, crc);
	rd_buf_put(b, head, 8);
	rd_buf_put(b, data, len);
	rd_buf_put(b, tail, 4);
}

static void put_raw_chunk(rd_buf *b, const chunk *c)
{
	rd_buf_put(b, c->start, 12 + (size_t)c->len);
}

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/*
 * Walks the file, checks IHDR against the limits, and decodes the pixels: libspng reads a copy
 * made of IHDR, PLTE and the IDATs only. want_side: the mcRG chunk must be there (restore) or
 * must not (redact).
 */
static mc_status png_load(const uint8_t *png, size_t len, bool want_side, png_image *im, mc_err *err)
{
	walker w = {.png = png, .len = len, .pos = 8};
	chunk c;
	int r;
	bool seen_idat = false, idat_ended = false;
	mc_status st;
	memset(im, 0, sizeof *im);
	while ((r = png_next(&w, &c, err)) == 1) {
		if (w.count == 1) {
			im->ihdr = c;
			im->width = ld32(c.data);
			im->height = ld32(c.data + 4);
			im->bit_depth = c.data[8];
			im->color_type = c.data[9];
			if ((st = rd_dims_check(im->width, im->height, err)) != MC_OK)
				return st;
			im->bpp = rd_png_bpp(im->color_type, im->bit_depth);
			if (!im->bpp)
				return mc_fail(
				    err, MC_ERR_UNSUPPORTED,
				    "PNG colour type %u with bit depth %u is not supported: only 8- and 16-bit "
				    "images (8-bit for palettes)",
				    im->color_type, im->bit_depth);
			continue;
		}
		if (is_type(&c, "IDAT")) {
			if (idat_ended)
				return mc_fail(err, MC_ERR_HEADER, "the PNG's IDAT chunks are not consecutive");
			seen_idat = true;
		} else if (seen_idat) {
			idat_ended = true;
		}
		if (is_type(&c, "PLTE")) {
			if (im->has_plte || seen_idat)
				return mc_fail(err, MC_ERR_HEADER, "the PNG has a misplaced or second PLTE chunk");
			if (c.len == 0 || c.len % 3 || c.len > 768)
				return mc_fail(err, MC_ERR_HEADER, "the PNG's PLTE chunk has a bad length");
			im->plte = c;
			im->has_plte = true;
			im->palette = c.data;
			im->n_palette = c.len / 3;
		} else if (is_type(&c, "mcRG")) {
			if (!want_side)
				return mc_fail(
				    err, MC_ERR_UNSUPPORTED,
				    "the PNG already carries sealed regions (an mcRG chunk): restore it first");
			if (im->side)
				return mc_fail(err, MC_ERR_HEADER, "the PNG has more than one mcRG chunk");
			im->side = c.data;
			im->side_len = c.len;
		} else if (is_type(&c, "IHDR") ||
		           (!(c.type[0] & 0x20) && !is_type(&c, "IDAT") && !is_type(&c, "IEND"))) {
			return mc_fail(err, MC_ERR_UNSUPPORTED, "the PNG has a %s chunk that cannot be handled",
			               c.type);
		}
	}
	if (r < 0)
		return err ? err->status : MC_ERR_HEADER;
	if (!seen_idat)
		return mc_fail(err, MC_ERR_HEADER, "the PNG has no IDAT chunk");
	if (im->color_type == 3 && !im->has_plte)
		return mc_fail(err, MC_ERR_HEADER, "the palette PNG has no PLTE chunk");
	if (want_side && !im->side)
		return mc_fail(err, MC_ERR_HEADER, "the PNG carries no sealed regions (no mcRG chunk)");

	/* The copy libspng decodes: signature, IHDR, PLTE, IDATs, IEND. */
	rd_buf b = {0};
	rd_buf_put(&b, png_sig, 8);
	put_raw_chunk(&b, &im->ihdr);
	if (im->has_plte)
		put_raw_chunk(&b, &im->plte);
	w = (walker){.png = png, .len = len, .pos = 8};
	while (png_next(&w, &c, NULL) == 1)
		if (is_type(&c, "IDAT"))
			put_raw_chunk(&b, &c);
	put_chunk(&b, "IEND", NULL, 0);
	if (b.failed) {
		rd_buf_free(&b);
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	spng_ctx *ctx = spng_ctx_new(0);
	size_t want = (size_t)im->width * im->height * im->bpp, got = 0;
	int e = ctx ? 0 : SPNG_EMEM;
	if (!e)
		e = spng_set_image_limits(ctx, MC_REDACT_MAX_DIM, MC_REDACT_MAX_DIM);
	if (!e)
		e = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
	if (!e)
		e = spng_set_png_buffer(ctx, b.p, b.len);
	if (!e)
		e = spng_decoded_image_size(ctx, SPNG_FMT_RAW, &got);
	if (!e && got != want)
		e = SPNG_EINTERNAL;
	if (!e) {
		im->pixels = malloc(want);
		im->pixels_len = want;
		e = im->pixels ? spng_decode_image(ctx, im->pixels, want, SPNG_FMT_RAW, 0) : SPNG_EMEM;
	}
	spng_ctx_free(ctx);
	rd_buf_free(&b);
	if (e) {
		png_image_free(im);
		if (e == SPNG_EMEM)
			return mc_fail(err, MC_ERR_NOMEM, "out of memory decoding the PNG");
		return mc_fail(err, MC_ERR_HEADER, "the PNG's image data does not decode: %s", spng_strerror(e));
	}
	return MC_OK;
}

/* Encodes im's pixels and writes the output: the input's chunks in order, with the new IHDR and
 * IDATs, the kept ancillary chunks, and side (if any) as mcRG before IEND. */
static mc_status png_write(const uint8_t *png, size_t len, const png_image *im, const uint8_t *side, size_t side_len,
                           uint8_t **out, size_t *out_len, bool *metadata, mc_err *err)
{
	spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
	struct spng_ihdr ihdr = {
	    .width = im->width, .height = im->height, .bit_depth = im->bit_depth, .color_type = im->color_type};
	int e = ctx ? 0 : SPNG_EMEM;
	if (!e)
		e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
	if (!e)
		e = spng_set_ihdr(ctx, &ihdr);
	if (!e && im->has_plte) {
		struct spng_plte plte = {.n_entries = im->n_palette};
		for (unsigned i = 0; i < im->n_palette; i++)
			plte.entries[i] = (struct spng_plte_entry){im->palette[3 * i], im->palette[3 * i + 1],
			                                           im->palette[3 * i + 2], 255};
		e = spng_set_plte(ctx, &plte);
	}
	if (!e)
		e = spng_encode_image(ctx, im->pixels, im->pixels_len, SPNG_FMT_RAW, SPNG_ENCODE_FINALIZE);
	size_t enc_len = 0;
	uint8_t *enc = e ? NULL : spng_get_png_buffer(ctx, &enc_len, &e);
	spng_ctx_free(ctx);
	if (e || !enc) {
		free(enc);
		return mc_fail(err, e == SPNG_EMEM ? MC_ERR_NOMEM : MC_ERR_HEADER, "encoding the PNG failed: %s",
		               spng_strerror(e));
	}

	rd_buf b = {0};
	walker we = {.png = enc, .len = enc_len, .pos = 8}, wi = {.png = png, .len = len, .pos = 8};
	chunk c;
	mc_status st = MC_OK;
	rd_buf_put(&b, png_sig, 8);
	if (png_next(&we, &c, err) != 1) {
		st = MC_ERR_HEADER;
		goto done;
	}
	put_chunk(&b, "IHDR", c.data, c.len);
	bool idat_done = false;
	while (png_next(&wi, &c, NULL) == 1) {
		if (is_type(&c, "IHDR") || is_type(&c, "mcRG"))
			continue;
		if (is_type(&c, "PLTE")) {
			put_raw_chunk(&b, &c);
		} else if (is_type(&c, "IDAT")) {
			if (idat_done)
				continue;
			idat_done = true;
			walker w2 = {.png = enc, .len = enc_len, .pos = 8};
			chunk ec;
			while (png_next(&w2, &ec, NULL) == 1)
				if (is_type(&ec, "IDAT"))
					put_raw_chunk(&b, &ec);
		} else if (is_type(&c, "IEND")) {
			if (side)
				put_chunk(&b, "mcRG", side, side_len);
			put_chunk(&b, "IEND", NULL, 0);
		} else if (keep_ancillary(&c, metadata)) {
			put_raw_chunk(&b, &c);
		}
	}
	if (b.failed)
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
done:
	free(enc);
	if (st != MC_OK) {
		rd_buf_free(&b);
		return st;
	}
	*out = b.p;
	*out_len = b.len;
	return MC_OK;
}

static void sha256_pixels(const png_image *im, uint8_t digest[32])
{
	unsigned int n = 32;
	EVP_Digest(im->pixels, im->pixels_len, digest, &n, EVP_sha256(), NULL);
}

static unsigned darkest_index(const png_image *im)
{
	unsigned best = 0, best_sum = 1000;
	for (unsigned i = 0; i < im->n_palette; i++) {
		unsigned s = (unsigned)im->palette[3 * i] + im->palette[3 * i + 1] + im->palette[3 * i + 2];
		if (s < best_sum) {
			best_sum = s;
			best = i;
		}
	}
	return best;
}

static bool has_alpha(const png_image *im)
{
	return im->color_type == 4 || im->color_type == 6;
}

/* Makes every pixel of g opaque (the last channel of grey+alpha and RGBA). */
static void set_opaque(png_image *im, const mc_region *g)
{
	if (!has_alpha(im))
		return;
	unsigned sb = im->bit_depth / 8;
	for (uint32_t y = g->y; y < g->y + g->h; y++) {
		uint8_t *row = im->pixels + ((size_t)y * im->width + g->x) * im->bpp;
		for (uint32_t x = 0; x < g->w; x++)
			memset(row + (size_t)x * im->bpp + im->bpp - sb, 0xff, sb);
	}
}

/* [MC-RGN-8] */
static mc_status png_fill(png_image *im, const mc_region *g, mc_redact_fill fill, mc_err *err)
{
	size_t row_bytes = (size_t)g->w * im->bpp;
	if (fill == MC_FILL_BLACK) {
		unsigned idx = im->color_type == 3 ? darkest_index(im) : 0;
		for (uint32_t y = g->y; y < g->y + g->h; y++)
			memset(im->pixels + ((size_t)y * im->width + g->x) * im->bpp, (int)idx, row_bytes);
		set_opaque(im, g);
		return MC_OK;
	}
	if (fill == MC_FILL_NOISE) {
		for (uint32_t y = g->y; y < g->y + g->h; y++) {
			uint8_t *row = im->pixels + ((size_t)y * im->width + g->x) * im->bpp;
			mc_status st = rd_random(row, row_bytes, err);
			if (st != MC_OK)
				return st;
			if (im->color_type == 3)
				for (size_t i = 0; i < row_bytes; i++)
					row[i] = (uint8_t)(row[i] % im->n_palette);
		}
		set_opaque(im, g);
		return MC_OK;
	}
	/* Pixelate: each 16x16 cell (clipped to the region) takes the mean of every sample; a
	 * palette image takes the cell's first index. */
	unsigned sb = im->bit_depth / 8, ns = im->bpp / sb;
	for (uint32_t cy = g->y; cy < g->y + g->h; cy += RD_PIXELATE_CELL) {
		uint32_t ch = g->y + g->h - cy < RD_PIXELATE_CELL ? g->y + g->h - cy : RD_PIXELATE_CELL;
		for (uint32_t cx = g->x; cx < g->x + g->w; cx += RD_PIXELATE_CELL) {
			uint32_t cw = g->x + g->w - cx < RD_PIXELATE_CELL ? g->x + g->w - cx : RD_PIXELATE_CELL;
			uint8_t value[8];
			uint8_t *first = im->pixels + ((size_t)cy * im->width + cx) * im->bpp;
			if (im->color_type == 3) {
				value[0] = first[0];
			} else {
				for (unsigned s = 0; s < ns; s++) {
					uint64_t sum = 0;
					for (uint32_t y = cy; y < cy + ch; y++)
						for (uint32_t x = cx; x < cx + cw; x++) {
							const uint8_t *p =
							    im->pixels + ((size_t)y * im->width + x) * im->bpp + s * sb;
							sum += sb == 2 ? (uint32_t)(p[0] << 8 | p[1]) : p[0];
						}
					uint64_t mean = (sum + (uint64_t)cw * ch / 2) / ((uint64_t)cw * ch);
					if (sb == 2) {
						value[2 * s] = (uint8_t)(mean >> 8);
						value[2 * s + 1] = (uint8_t)mean;
					} else {
						value[s] = (uint8_t)mean;
					}
				}
			}
			for (uint32_t y = cy; y < cy + ch; y++)
				for (uint32_t x = cx; x < cx + cw; x++)
					memcpy(im->pixels + ((size_t)y * im->width + x) * im->bpp, value, im->bpp);
		}
	}
	return MC_OK;
}

mc_status rd_png_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                        mc_redact_info *info, mc_err *err)
{
	png_image im;
	rd_record r;
	uint8_t *record = NULL, *side = NULL;
	size_t record_len = 0, side_len = 0;
	uint64_t data_len;
	bool metadata = false;
	mc_status st = png_load(image, len, false, &im, err);
	if (st != MC_OK)
		return st;
	if ((st = rd_regions_check(p->regions, p->n_regions, im.width, im.height, err)) != MC_OK)
		goto cleanup;
	memset(&r, 0, sizeof r);
	r.kind = MC_REDACT_PNG;
	r.fill = p->fill;
	r.width = im.width;
	r.height = im.height;
	r.color_type = im.color_type;
	r.bit_depth = im.bit_depth;
	r.n_regions = p->n_regions;
	memcpy(r.regions, p->regions, p->n_regions * sizeof *p->regions);
	if (rd_record_data_len(&r, &data_len, NULL) != MC_OK) {
		st = mc_fail(err, MC_ERR_MISUSE, "the regions hold more than %u bytes of samples: give smaller ones",
		             MC_REDACT_MAX_SEALED);
		goto cleanup;
	}
	size_t header = rd_record_header_len(&r);
	record_len = header + (size_t)data_len;
	if (!(record = malloc(record_len))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* [MC-RGN-5] the original samples of every region, before any is filled */
	sha256_pixels(&im, r.original_digest);
	uint8_t *d = record + header;
	for (size_t i = 0; i < r.n_regions; i++) {
		const mc_region *g = &r.regions[i];
		for (uint32_t y = g->y; y < g->y + g->h; y++, d += (size_t)g->w * im.bpp)
			memcpy(d, im.pixels + ((size_t)y * im.width + g->x) * im.bpp, (size_t)g->w * im.bpp);
	}
	for (size_t i = 0; i < r.n_regions && st == MC_OK; i++)
		st = png_fill(&im, &r.regions[i], p->fill, err);
	if (st != MC_OK)
		goto cleanup;
	sha256_pixels(&im, r.redacted_digest);
	rd_record_write_header(&r, record);
	if ((st = rd_seal(p, MC_REDACT_PNG, record, record_len, &side, &side_len, err)) != MC_OK)
		goto cleanup;
	if ((st = png_write(image, len, &im, side, side_len, out, out_len, &metadata, err)) != MC_OK)
		goto cleanup;
	png_image_free(&im); /* the check decodes the output again */
	if ((st = rd_check_restores(MC_REDACT_PNG, *out, *out_len, side, side_len, record, record_len, err)) != MC_OK) {
		mc_buf_free(*out, *out_len);
		*out = NULL;
		*out_len = 0;
		goto cleanup;
	}
	rd_info_fill(info, &r, side_len);
	info->metadata_kept = metadata;
cleanup:
	mc_buf_free(record, record_len);
	mc_buf_free(side, side_len);
	png_image_free(&im);
	return st;
}

mc_status rd_png_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                         mc_redact_info *info, mc_err *err)
{
	png_image im;
	rd_record r;
	uint8_t *record = NULL;
	size_t record_len = 0;
	uint8_t digest[32];
	bool metadata = false;
	mc_status st = png_load(image, len, true, &im, err);
	if (st != MC_OK)
		return st;
	if ((st = rd_unseal(o, im.side, im.side_len, MC_REDACT_PNG, &record, &record_len, &r, info, err)) != MC_OK)
		goto cleanup;
	/* [MC-RGN-9] the visible image must be the one the record was made from */
	sha256_pixels(&im, digest);
	if (r.width != im.width || r.height != im.height || r.color_type != im.color_type ||
	    r.bit_depth != im.bit_depth || !mc_ct_equal(digest, r.redacted_digest, 32)) {
		st = mc_fail(err, MC_ERR_PAYLOAD,
		             "the image was altered after it was redacted (its pixels are not those the sealed regions "
		             "were made for): not restored");
		goto cleanup;
	}
	const uint8_t *d = r.data;
	for (size_t i = 0; i < r.n_regions; i++) {
		const mc_region *g = &r.regions[i];
		for (uint32_t y = g->y; y < g->y + g->h; y++, d += (size_t)g->w * im.bpp)
			memcpy(im.pixels + ((size_t)y * im.width + g->x) * im.bpp, d, (size_t)g->w * im.bpp);
	}
	sha256_pixels(&im, digest);
	if (!mc_ct_equal(digest, r.original_digest, 32)) {
		st = mc_fail(err, MC_ERR_PAYLOAD,
		             "the restored pixels do not match the digest of the original: not restored");
		goto cleanup;
	}
	if ((st = png_write(image, len, &im, NULL, 0, out, out_len, &metadata, err)) != MC_OK)
		goto cleanup;
	rd_info_fill(info, &r, im.side_len);
cleanup:
	mc_buf_free(record, record_len);
	png_image_free(&im);
	return st;
}
