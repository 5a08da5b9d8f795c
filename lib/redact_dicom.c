/*
 * redact_dicom.c: region encryption for DICOM files with native (uncompressed) pixel data
 * (FORMAT.md §13.6). The file is held in memory and read once with the DICOM reader (lib/dicom.c)
 * to find the image attributes, the Pixel Data value and where the private block goes. Redacting
 * changes the region samples of every frame in place and inserts two top-level private elements,
 * (7FD1,0010) "MEDCRYPT REGIONS" and (7FD1,1001) OB holding the sealed side data, in tag order
 * before Pixel Data; nothing else in the file moves. Restoring removes exactly those two
 * elements and puts the samples back, so the restored file is the original byte for byte, which
 * the sealed SHA-256 of the whole original file proves.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include <medcrypt/dicom.h>

#include "redact_internal.h"

#define PRIVATE_GROUP 0x7FD1u
#define CREATOR       "MEDCRYPT REGIONS" /* 16 bytes: even, no padding */
#define CREATOR_LEN   16u
#define SIDE_ELEMENT  0x1001u

typedef struct dcm_scan {
	const uint8_t *file;
	size_t len;
	char ts[68];
	bool explicit_vr, big_endian;
	uint32_t rows, cols, bits_allocated, bits_stored, samples, planar, pixrep, frames;
	char photometric[20];
	bool have_pixels, encapsulated;
	uint64_t pixel_value_offset, pixel_len;
	bool have_insert;
	uint64_t insert_at;      /* offset of the first top-level element after (7FD1,1001) */
	bool have_creator, ours; /* (7FD1,0010), and whether it is ours */
	uint64_t creator_offset, creator_end;
	bool have_side, other_private;
	uint64_t side_offset, side_value_offset, side_len;
} dcm_scan;

/* A value as a trimmed string (padding spaces and NULs removed). */
static void value_string(const mc_dicom_element *el, char *out, size_t cap)
{
	size_t n = el->value ? el->length : 0;
	while (n > 0 && (el->value[n - 1] == ' ' || el->value[n - 1] == '\0'))
		n--;
	size_t start = 0;
	while (start < n && el->value[start] == ' ')
		start++;
	n -= start;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, el->value + start, n);
	out[n] = '\0';
}

static uint32_t value_us(const mc_dicom_element *el)
{
	if (!el->value || el->length < 2)
		return 0;
	return el->big_endian ? (uint32_t)(el->value[0] << 8 | el->value[1])
	                      : (uint32_t)(el->value[1] << 8 | el->value[0]);
}

static bool after_our_block(uint16_t group, uint16_t element)
{
	return group > PRIVATE_GROUP || (group == PRIVATE_GROUP && element > SIDE_ELEMENT);
}

static void note_position(dcm_scan *s, const mc_dicom_element *el)
{
	if (el->depth == 0 && !s->have_insert && after_our_block(el->group, el->element)) {
		s->have_insert = true;
		s->insert_at = el->offset;
	}
}

static int on_element(void *ctx, const mc_dicom_element *el)
{
	dcm_scan *s = ctx;
	note_position(s, el);
	if (el->depth != 0)
		return 0;
	uint32_t tag = (uint32_t)el->group << 16 | el->element;
	char text[68];
	switch (tag) {
	case 0x00020010: value_string(el, s->ts, sizeof s->ts); break;
	case 0x00280002: s->samples = value_us(el); break;
	case 0x00280004: value_string(el, s->photometric, sizeof s->photometric); break;
	case 0x00280006: s->planar = value_us(el); break;
	case 0x00280008:
		value_string(el, text, sizeof text);
		s->frames = 0;
		for (const char *p = text; *p; p++) {
			if (*p < '0' || *p > '9' || s->frames > 100000000u) {
				s->frames = UINT32_MAX; /* refused below */
				break;
			}
			s->frames = s->frames * 10 + (uint32_t)(*p - '0');
		}
		break;
	case 0x00280010: s->rows = value_us(el); break;
	case 0x00280011: s->cols = value_us(el); break;
	case 0x00280100: s->bits_allocated = value_us(el); break;
	case 0x00280101: s->bits_stored = value_us(el); break;
	case 0x00280103: s->pixrep = value_us(el); break;
	case 0x7FE00010:
		s->have_pixels = true;
		s->encapsulated = el->length == MC_DICOM_UNDEFINED_LENGTH;
		s->pixel_value_offset = el->value_offset;
		s->pixel_len = el->length;
		break;
	default:
		if (el->group != PRIVATE_GROUP)
			break;
		if (el->element == 0x0010) {
			value_string(el, text, sizeof text);
			s->have_creator = true;
			s->ours = strcmp(text, CREATOR) == 0;
			s->creator_offset = el->offset;
			s->creator_end = el->value_offset + el->length;
		} else if (el->element == SIDE_ELEMENT) {
			s->have_side = true;
			s->side_offset = el->offset;
			s->side_value_offset = el->value_offset;
			s->side_len = el->length;
		} else {
			s->other_private = true;
		}
	}
	if (el->big_endian)
		s->big_endian = true;
	return 0;
}

static int on_sequence_start(void *ctx, const mc_dicom_element *el)
{
	dcm_scan *s = ctx;
	note_position(s, el);
	if (el->depth == 0 && el->group == PRIVATE_GROUP)
		s->other_private = true;
	return 0;
}

/* Parses the file and checks that its pixel data can be handled. */
static mc_status dcm_load(const uint8_t *file, size_t len, dcm_scan *s, mc_err *err)
{
	memset(s, 0, sizeof *s);
	s->file = file;
	s->len = len;
	s->samples = 1;
	s->frames = 1;
	mc_mem_source src = {file, len};
	mc_dicom_visitor v = {.element = on_element, .sequence_start = on_sequence_start};
	mc_status st = mc_dicom_parse(mc_input_mem(&src), len, &v, s, err);
	if (st != MC_OK)
		return st;
	if (strcmp(s->ts, "1.2.840.10008.1.2.1") == 0)
		s->explicit_vr = true;
	else if (strcmp(s->ts, "1.2.840.10008.1.2") != 0)
		return mc_fail(
		    err, MC_ERR_UNSUPPORTED,
		    "DICOM transfer syntax %s is not supported: only native pixel data in explicit or implicit "
		    "VR little endian (convert with 'dcmconv +te' or 'dcmdjpeg')",
		    s->ts[0] ? s->ts : "(none)");
	if (!s->have_pixels)
		return mc_fail(err, MC_ERR_HEADER, "the DICOM file has no Pixel Data (7FE0,0010)");
	if (s->encapsulated || s->big_endian)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "the DICOM pixel data is not native little endian");
	if ((s->bits_allocated != 8 && s->bits_allocated != 16) || (s->samples != 1 && s->samples != 3) ||
	    s->planar > 1)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "DICOM pixels of %u bits allocated and %u samples are not supported: only 8 or 16 bits, "
		               "1 or 3 samples",
		               s->bits_allocated, s->samples);
	if (strncmp(s->photometric, "YBR_", 4) == 0 && strcmp(s->photometric, "YBR_FULL") != 0)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "DICOM pixels in %s are not supported: their chroma is subsampled (only MONOCHROME1/2, "
		               "PALETTE COLOR, RGB and YBR_FULL)",
		               s->photometric);
	if (s->samples == 1)
		s->planar = 0;
	if (s->bits_stored == 0 || s->bits_stored > s->bits_allocated)
		s->bits_stored = s->bits_allocated;
	if ((st = rd_dims_check(s->cols, s->rows, err)) != MC_OK)
		return st;
	if (s->frames == 0 || s->frames == UINT32_MAX)
		return mc_fail(err, MC_ERR_HEADER, "the DICOM file has a bad Number of Frames");
	uint64_t frame = (uint64_t)s->rows * s->cols * s->samples * (s->bits_allocated / 8);
	if (s->pixel_len / frame < s->frames)
		return mc_fail(err, MC_ERR_HEADER, "the DICOM Pixel Data holds %llu bytes, less than %u frames of %llu",
		               (unsigned long long)s->pixel_len, s->frames, (unsigned long long)frame);
	return MC_OK;
}

/* Byte offset of sample c of pixel (x, y) of frame f in the file. */
static size_t sample_at(const dcm_scan *s, uint32_t f, uint32_t x, uint32_t y, uint32_t c)
{
	size_t bps = s->bits_allocated / 8, plane = (size_t)s->rows * s->cols;
	size_t frame = plane * s->samples * bps;
	size_t index = s->planar ? c * plane + (size_t)y * s->cols + x : ((size_t)y * s->cols + x) * s->samples + c;
	return (size_t)s->pixel_value_offset + f * frame + index * bps;
}

/* Copies the region samples between the image and the record's data: every frame, every
 * region, rows top to bottom, pixels left to right, samples in order, little endian. */
static void move_samples(const dcm_scan *s, uint8_t *image, const rd_record *r, uint8_t *data, bool to_record)
{
	size_t bps = s->bits_allocated / 8;
	for (uint32_t f = 0; f < s->frames; f++)
		for (size_t i = 0; i < r->n_regions; i++) {
			const mc_region *g = &r->regions[i];
			for (uint32_t y = g->y; y < g->y + g->h; y++)
				for (uint32_t x = g->x; x < g->x + g->w; x++)
					for (uint32_t c = 0; c < s->samples; c++, data += bps) {
						uint8_t *px = image + sample_at(s, f, x, y, c);
						if (to_record)
							memcpy(data, px, bps);
						else
							memcpy(px, data, bps);
					}
		}
}

static int32_t read_sample(const dcm_scan *s, const uint8_t *p)
{
	uint32_t v = s->bits_allocated == 16 ? (uint32_t)(p[0] | p[1] << 8) : p[0];
	uint32_t mask = (1u << s->bits_stored) - 1;
	v &= mask;
	if (s->pixrep && (v >> (s->bits_stored - 1)) & 1)
		return (int32_t)v - (int32_t)(1u << s->bits_stored);
	return (int32_t)v;
}

static void write_sample(const dcm_scan *s, uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v; /* two's complement, sign-extended into the allocated bits */
	p[0] = (uint8_t)u;
	if (s->bits_allocated == 16)
		p[1] = (uint8_t)(u >> 8);
}

/* [MC-RGN-8] for DICOM: black is the darkest stored value for the photometric interpretation. */
static mc_status dcm_fill(const dcm_scan *s, uint8_t *image, const mc_region *g, mc_redact_fill fill, mc_err *err)
{
	int32_t lo = s->pixrep ? -(int32_t)(1u << (s->bits_stored - 1)) : 0;
	int32_t hi = s->pixrep ? (int32_t)(1u << (s->bits_stored - 1)) - 1 : (int32_t)((1u << s->bits_stored) - 1);
	int32_t black = strcmp(s->photometric, "MONOCHROME1") == 0 ? hi : lo;
	if (s->samples == 3 || strcmp(s->photometric, "PALETTE COLOR") == 0)
		black = 0;
	for (uint32_t f = 0; f < s->frames; f++) {
		if (fill == MC_FILL_PIXELATE) {
			for (uint32_t cy = g->y; cy < g->y + g->h; cy += RD_PIXELATE_CELL)
				for (uint32_t cx = g->x; cx < g->x + g->w; cx += RD_PIXELATE_CELL) {
					uint32_t ch =
					    g->y + g->h - cy < RD_PIXELATE_CELL ? g->y + g->h - cy : RD_PIXELATE_CELL;
					uint32_t cw =
					    g->x + g->w - cx < RD_PIXELATE_CELL ? g->x + g->w - cx : RD_PIXELATE_CELL;
					for (uint32_t c = 0; c < s->samples; c++) {
						int64_t sum = 0;
						for (uint32_t y = cy; y < cy + ch; y++)
							for (uint32_t x = cx; x < cx + cw; x++)
								sum += read_sample(s, image + sample_at(s, f, x, y, c));
						int64_t n = (int64_t)cw * ch;
						int32_t mean =
						    (int32_t)(sum >= 0 ? (sum + n / 2) / n : -((-sum + n / 2) / n));
						for (uint32_t y = cy; y < cy + ch; y++)
							for (uint32_t x = cx; x < cx + cw; x++)
								write_sample(s, image + sample_at(s, f, x, y, c), mean);
					}
				}
			continue;
		}
		for (uint32_t y = g->y; y < g->y + g->h; y++)
			for (uint32_t x = g->x; x < g->x + g->w; x++)
				for (uint32_t c = 0; c < s->samples; c++) {
					int32_t v = black;
					if (fill == MC_FILL_NOISE) {
						uint8_t rnd[4];
						mc_status st = rd_random(rnd, sizeof rnd, err);
						if (st != MC_OK)
							return st;
						v = lo + (int32_t)(ld32(rnd) % (uint32_t)(hi - lo + 1));
					}
					write_sample(s, image + sample_at(s, f, x, y, c), v);
				}
	}
	return MC_OK;
}

static void sha256_parts(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, uint8_t digest[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, a, a_len);
	EVP_DigestUpdate(md, b, b_len);
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *p, uint32_t v)
{
	put16le(p, (uint16_t)v);
	put16le(p + 2, (uint16_t)(v >> 16));
}

/* The two private elements, in the file's VR encoding. The (7FD1,1001) value is
 * length(u32, big-endian) side_data [00 if needed to make it even]. *len gets the size. */
static uint8_t *private_block(bool explicit_vr, const uint8_t *side, size_t side_len, size_t *len)
{
	size_t value = 4 + side_len + ((4 + side_len) & 1);
	size_t creator = 8 + CREATOR_LEN, data = (explicit_vr ? 12 : 8) + value; /* LO has a 2-byte length */
	uint8_t *b = calloc(1, creator + data);
	if (!b)
		return NULL;
	put16le(b, PRIVATE_GROUP);
	put16le(b + 2, 0x0010);
	if (explicit_vr) {
		memcpy(b + 4, "LO", 2);
		put16le(b + 6, CREATOR_LEN);
	} else {
		put32le(b + 4, CREATOR_LEN);
	}
	memcpy(b + 8, CREATOR, CREATOR_LEN);
	uint8_t *d = b + creator;
	put16le(d, PRIVATE_GROUP);
	put16le(d + 2, SIDE_ELEMENT);
	if (explicit_vr) {
		memcpy(d + 4, "OB", 2);
		put32le(d + 8, (uint32_t)value);
		d += 12;
	} else {
		put32le(d + 4, (uint32_t)value);
		d += 8;
	}
	st32(d, (uint32_t)side_len);
	memcpy(d + 4, side, side_len);
	*len = creator + data;
	return b;
}

mc_status rd_dicom_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                          mc_redact_info *info, mc_err *err)
{
	dcm_scan s;
	rd_record r;
	uint8_t *work = NULL, *record = NULL, *side = NULL, *block = NULL;
	size_t record_len = 0, side_len = 0, block_len = 0;
	uint64_t data_len;
	mc_status st = dcm_load(image, len, &s, err);
	if (st != MC_OK)
		return st;
	if (s.have_creator && s.ours)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "the DICOM file already carries sealed regions: restore it first");
	if (s.have_creator || s.have_side || s.other_private)
		return mc_fail(err, MC_ERR_UNSUPPORTED, "the DICOM file already uses private group 7FD1");
	if ((st = rd_regions_check(p->regions, p->n_regions, s.cols, s.rows, err)) != MC_OK)
		return st;
	memset(&r, 0, sizeof r);
	r.kind = MC_REDACT_DICOM;
	r.fill = p->fill;
	r.width = s.cols;
	r.height = s.rows;
	r.bits_allocated = (uint8_t)s.bits_allocated;
	r.samples = (uint8_t)s.samples;
	r.planar = (uint8_t)s.planar;
	r.frames = s.frames;
	r.n_regions = p->n_regions;
	memcpy(r.regions, p->regions, p->n_regions * sizeof *p->regions);
	if (rd_record_data_len(&r, &data_len, NULL) != MC_OK)
		return mc_fail(err, MC_ERR_MISUSE,
		               "the regions of all frames hold more than %u bytes: give smaller ones",
		               MC_REDACT_MAX_SEALED);
	size_t header = rd_record_header_len(&r);
	record_len = header + (size_t)data_len;
	if (!(record = malloc(record_len)) || !(work = malloc(len))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(work, image, len);
	/* [MC-RGN-5] DICOM: the whole original file; the redacted file without the private block */
	sha256_parts(image, len, NULL, 0, r.original_digest);
	move_samples(&s, work, &r, record + header, true);
	for (size_t i = 0; i < r.n_regions && st == MC_OK; i++)
		st = dcm_fill(&s, work, &r.regions[i], p->fill, err);
	if (st != MC_OK)
		goto cleanup;
	sha256_parts(work, len, NULL, 0, r.redacted_digest);
	rd_record_write_header(&r, record);
	if ((st = rd_seal(p, MC_REDACT_DICOM, record, record_len, &side, &side_len, err)) != MC_OK)
		goto cleanup;
	if (side_len > 0xFFFFFFF0u - 8 || !(block = private_block(s.explicit_vr, side, side_len, &block_len))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	size_t at = s.have_insert ? (size_t)s.insert_at : len;
	rd_buf b = {0};
	rd_buf_put(&b, work, at);
	rd_buf_put(&b, block, block_len);
	rd_buf_put(&b, work + at, len - at);
	if (b.failed) {
		rd_buf_free(&b);
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	mc_buf_free(work, len); /* the check makes its own copy */
	work = NULL;
	if ((st = rd_check_restores(MC_REDACT_DICOM, b.p, b.len, side, side_len, record, record_len, err)) != MC_OK) {
		rd_buf_free(&b);
		goto cleanup;
	}
	*out = b.p;
	*out_len = b.len;
	rd_info_fill(info, &r, side_len);
	info->metadata_kept = 1; /* every attribute, an Icon Image Sequence included */
cleanup:
	free(block);
	mc_buf_free(side, side_len);
	mc_buf_free(record, record_len);
	mc_buf_free(work, len);
	return st;
}

mc_status rd_dicom_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                           mc_redact_info *info, mc_err *err)
{
	dcm_scan s;
	rd_record r;
	uint8_t *record = NULL, *work = NULL;
	size_t record_len = 0, work_len = 0;
	uint8_t digest[32];
	mc_status st = dcm_load(image, len, &s, err);
	if (st != MC_OK)
		return st;
	/* [MC-RGN-13] our creator, then our data element right after it, nothing else in 7FD1 */
	if (!s.have_creator || !s.ours || !s.have_side)
		return mc_fail(err, MC_ERR_HEADER,
		               "the DICOM file carries no sealed regions (no (7FD1,1001) of " CREATOR ")");
	if (s.other_private || s.side_offset != s.creator_end || s.side_len < 4 ||
	    s.side_value_offset + s.side_len > len)
		return mc_fail(err, MC_ERR_HEADER, "the DICOM file's sealed-region elements are malformed");
	const uint8_t *value = image + s.side_value_offset;
	uint32_t side_len = ld32(value);
	if ((uint64_t)side_len + 4 > s.side_len || s.side_len - 4 - side_len > 1)
		return mc_fail(err, MC_ERR_HEADER, "the DICOM file's sealed-region element has a bad length");
	if ((st = rd_unseal(o, value + 4, side_len, MC_REDACT_DICOM, &record, &record_len, &r, info, err)) != MC_OK)
		return st;
	/* The file without the private block; its pixel data moves back by the block's size. */
	size_t cut = (size_t)s.creator_offset, cut_end = (size_t)(s.side_value_offset + s.side_len);
	work_len = len - (cut_end - cut);
	if (!(work = malloc(work_len ? work_len : 1))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(work, image, cut);
	memcpy(work + cut, image + cut_end, len - cut_end);
	if (s.pixel_value_offset >= cut_end)
		s.pixel_value_offset -= cut_end - cut;
	sha256_parts(work, work_len, NULL, 0, digest);
	/* [MC-RGN-9] */
	if (r.width != s.cols || r.height != s.rows || r.bits_allocated != s.bits_allocated || r.samples != s.samples ||
	    r.planar != s.planar || r.frames != s.frames || !mc_ct_equal(digest, r.redacted_digest, 32)) {
		st = mc_fail(
		    err, MC_ERR_PAYLOAD,
		    "the DICOM file was altered after it was redacted (it is not the file the sealed regions were "
		    "made for): not restored");
		goto cleanup;
	}
	move_samples(&s, work, &r, (uint8_t *)r.data, false);
	sha256_parts(work, work_len, NULL, 0, digest);
	if (!mc_ct_equal(digest, r.original_digest, 32)) {
		st = mc_fail(err, MC_ERR_PAYLOAD,
		             "the restored file does not match the digest of the original: not restored");
		goto cleanup;
	}
	*out = work;
	*out_len = work_len;
	work = NULL;
	rd_info_fill(info, &r, side_len);
cleanup:
	mc_buf_free(work, work_len);
	mc_buf_free(record, record_len);
	return st;
}
