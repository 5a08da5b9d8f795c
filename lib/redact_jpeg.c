/*
 * redact_jpeg.c: region encryption for JPEG on the quantized DCT coefficients (FORMAT.md §13.3),
 * with libjpeg-turbo's transcoding API: jpeg_read_coefficients, change only the blocks of the
 * hidden iMCUs, jpeg_write_coefficients with the source's critical parameters, so every other
 * block keeps its exact coefficients. The original blocks go, sealed, into APP11 segments
 * ("medcrypt-region\0", sequence number, count); every other APPn and COM marker is copied.
 * libjpeg reports errors by longjmp: all state lives in one struct owned by the caller of the
 * function that calls setjmp, and a libjpeg warning (corrupt data) is an error here.
 */
#include <stdio.h> /* before jpeglib.h, which needs FILE and size_t */

#include <jpeglib.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "redact_internal.h"

#define MAX_SCANS          1000 /* a progressive JPEG with more is refused (CPU exhaustion) */
#define MAX_LIBJPEG_MEMORY (1792L << 20)

typedef struct jstate {
	struct jpeg_error_mgr jerr;
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
	bool too_many_scans;
	struct jpeg_progress_mgr progress;
	struct jpeg_decompress_struct d;
	struct jpeg_compress_struct c;
	bool d_init, c_init;
	struct jpeg_destination_mgr dest;
	rd_buf out;
	bool out_of_memory;
	uint8_t block[65536];
	jvirt_barray_ptr *coefs;
	/* the work of one call */
	bool restore, writing;
	const mc_redact_params *params;
	const rd_opener *opener;
	mc_redact_info *info;
	rd_record r;
	uint8_t *mask;
	uint32_t mask_cols, mask_rows;
	uint8_t *record, *side;
	size_t record_len, side_len;
	bool metadata;
	mc_err *err;
} jstate;

static void on_error(j_common_ptr cinfo)
{
	jstate *s = (jstate *)cinfo->client_data;
	if (s->too_many_scans)
		snprintf(s->msg, sizeof s->msg, "more than %d scans", MAX_SCANS);
	else
		(*cinfo->err->format_message)(cinfo, s->msg);
	longjmp(s->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
	jstate *s = (jstate *)cinfo->client_data;
	if (level < 0 && cinfo->err->num_warnings++ == 0)
		(*cinfo->err->format_message)(cinfo, s->msg);
}

static void on_progress(j_common_ptr cinfo)
{
	jstate *s = (jstate *)cinfo->client_data;
	if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
		s->too_many_scans = true;
		on_error(cinfo);
	}
}

/* The compressed output goes into s->out (jpeg_mem_dest leaves a dangling pointer when an
 * error interrupts it after its buffer grew). */
static void dest_init(j_compress_ptr c)
{
	jstate *s = (jstate *)c->client_data;
	s->dest.next_output_byte = s->block;
	s->dest.free_in_buffer = sizeof s->block;
}

static boolean dest_empty(j_compress_ptr c)
{
	jstate *s = (jstate *)c->client_data;
	rd_buf_put(&s->out, s->block, sizeof s->block);
	if (s->out.failed) {
		s->out_of_memory = true;
		snprintf(s->msg, sizeof s->msg, "out of memory");
		longjmp(s->jump, 1);
	}
	dest_init(c);
	return TRUE;
}

static void dest_term(j_compress_ptr c)
{
	jstate *s = (jstate *)c->client_data;
	rd_buf_put(&s->out, s->block, sizeof s->block - s->dest.free_in_buffer);
}

static bool is_our_segment(const jpeg_saved_marker_ptr m)
{
	return m->marker == JPEG_APP0 + 11 && m->data_length >= RD_JPEG_ID_LEN + 4 &&
	       memcmp(m->data, RD_JPEG_ID, RD_JPEG_ID_LEN) == 0;
}

static bool starts_with(const jpeg_saved_marker_ptr m, const char *id, size_t n)
{
	return m->data_length >= n && memcmp(m->data, id, n) == 0;
}

/* Quant table values of component c, in natural order. */
static const JQUANT_TBL *quant_of(const jstate *s, int c)
{
	const jpeg_component_info *ci = &s->d.comp_info[c];
	return ci->quant_table ? ci->quant_table : s->d.quant_tbl_ptrs[ci->quant_tbl_no];
}

/* [MC-RGN-5] SHA-256 over every component's quant table, then every block of every component. */
static void coef_digest(jstate *s, uint8_t digest[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t buf[128];
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (int c = 0; c < s->d.num_components; c++) {
		const JQUANT_TBL *q = quant_of(s, c);
		for (int k = 0; k < 64; k++)
			st16(buf + 2 * k, q ? q->quantval[k] : 0);
		EVP_DigestUpdate(md, buf, 128);
	}
	for (int c = 0; c < s->d.num_components; c++) {
		uint32_t wb, hb;
		rd_jpeg_blocks(&s->r, (unsigned)c, &wb, &hb);
		for (uint32_t by = 0; by < hb; by++) {
			JBLOCKARRAY row =
			    (*s->d.mem->access_virt_barray)((j_common_ptr)&s->d, s->coefs[c], by, 1, FALSE);
			for (uint32_t bx = 0; bx < wb; bx++) {
				for (int k = 0; k < 64; k++)
					st16(buf + 2 * k, (uint16_t)row[0][bx][k]);
				EVP_DigestUpdate(md, buf, 128);
			}
		}
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
}

/* T.81 F.1.2.1-2: with P-bit samples a quantized DC coefficient is an (P + 3)-bit signed value and
 * an AC coefficient has a magnitude of at most P + 2 bits (for 8-bit JPEG: DC -1024..1023, AC
 * -1023..1023, so that any two DCs differ by what a DC difference code holds). libjpeg's decoder
 * takes larger values from a Huffman table that codes them, but its Huffman encoder refuses them,
 * and restore runs that encoder over the original coefficients: one in a hidden block would be
 * sealed and could never be written back. So redact refuses the whole image before anything is
 * sealed. [MC-RGN-14] */
static mc_status coefs_check(jstate *s)
{
	int p = s->d.data_precision, lo = -(1 << (p + 2)), hi = (1 << (p + 2)) - 1;
	for (int c = 0; c < s->d.num_components; c++) {
		uint32_t wb, hb;
		rd_jpeg_blocks(&s->r, (unsigned)c, &wb, &hb);
		for (uint32_t by = 0; by < hb; by++) {
			JBLOCKARRAY row =
			    (*s->d.mem->access_virt_barray)((j_common_ptr)&s->d, s->coefs[c], by, 1, FALSE);
			for (uint32_t bx = 0; bx < wb; bx++)
				for (int k = 0; k < 64; k++) {
					int v = row[0][bx][k];
					if (v > hi || v < (k ? -hi : lo))
						return mc_fail(
						    s->err, MC_ERR_HEADER,
						    "the JPEG is malformed: block %u,%u of component %d holds the "
						    "%s coefficient %d, outside %d..%d, the range of %d-bit JPEG: it "
						    "cannot be written back, so the image is not redacted",
						    bx, by, c, k ? "AC" : "DC", v, k ? -hi : lo, hi, p);
				}
		}
	}
	return MC_OK;
}

/* Copies the hidden blocks out of (to_record) or back into the coefficient arrays, in the
 * record's order: component by component, block rows top to bottom, left to right. */
static void move_blocks(jstate *s, uint8_t *data, bool to_record)
{
	for (int c = 0; c < s->d.num_components; c++) {
		uint32_t wb, hb;
		unsigned h = s->r.h_samp[c], v = s->r.v_samp[c];
		rd_jpeg_blocks(&s->r, (unsigned)c, &wb, &hb);
		for (uint32_t by = 0; by < hb; by++) {
			const uint8_t *mrow = s->mask + (size_t)(by / v) * s->mask_cols;
			JBLOCKARRAY row = NULL;
			for (uint32_t bx = 0; bx < wb; bx++) {
				if (!mrow[bx / h])
					continue;
				if (!row)
					row = (*s->d.mem->access_virt_barray)((j_common_ptr)&s->d, s->coefs[c], by, 1,
					                                      TRUE);
				for (int k = 0; k < 64; k++, data += 2) {
					if (to_record)
						st16(data, (uint16_t)row[0][bx][k]);
					else
						row[0][bx][k] = (JCOEF)(int16_t)ld16(data);
				}
			}
		}
	}
}

static JCOEF div_round(int num, int den)
{
	return (JCOEF)(num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den));
}

/* [MC-RGN-8] */
static mc_status fill_blocks(jstate *s)
{
	unsigned hmax = (unsigned)s->d.max_h_samp_factor, vmax = (unsigned)s->d.max_v_samp_factor;
	for (int c = 0; c < s->d.num_components; c++) {
		uint32_t wb, hb;
		unsigned h = s->r.h_samp[c], v = s->r.v_samp[c];
		const JQUANT_TBL *qt = quant_of(s, c);
		int q0 = qt && qt->quantval[0] ? qt->quantval[0] : 1;
		bool chroma = s->r.color_space == RD_JCS_YCBCR && c > 0;
		rd_jpeg_blocks(&s->r, (unsigned)c, &wb, &hb);
		/* Pixelate cells: 16 image pixels, in this component's blocks (at least one); a cell
		 * takes the mean DC of its hidden blocks, which lose their AC coefficients. */
		uint32_t cw = 2 * h / hmax ? 2 * h / hmax : 1, ch = 2 * v / vmax ? 2 * v / vmax : 1;
		for (uint32_t cy = 0; cy < hb; cy += ch) {
			for (uint32_t cx = 0; cx < wb; cx += cw) {
				long sum = 0, count = 0;
				for (int pass = 0; pass < (s->r.fill == MC_FILL_PIXELATE ? 2 : 1); pass++) {
					JCOEF mean = count ? div_round((int)sum, (int)count) : 0;
					for (uint32_t by = cy; by < cy + ch && by < hb; by++) {
						for (uint32_t bx = cx; bx < cx + cw && bx < wb; bx++) {
							if (!s->mask[(size_t)(by / v) * s->mask_cols + bx / h])
								continue;
							JCOEF *blk = (*s->d.mem->access_virt_barray)(
							    (j_common_ptr)&s->d, s->coefs[c], by, 1, TRUE)[0][bx];
							if (s->r.fill == MC_FILL_PIXELATE && pass == 0) {
								sum += blk[0];
								count++;
							} else if (s->r.fill == MC_FILL_PIXELATE) {
								memset(blk, 0, 64 * sizeof(JCOEF));
								blk[0] = mean;
							} else if (s->r.fill == MC_FILL_BLACK) {
								memset(blk, 0, 64 * sizeof(JCOEF));
								blk[0] = chroma ? 0 : div_round(-1024, q0);
							} else {
								uint8_t rnd[66];
								mc_status st = rd_random(rnd, sizeof rnd, s->err);
								if (st != MC_OK)
									return st;
								int lo = div_round(-1024, q0), hi = div_round(1016, q0);
								blk[0] = (JCOEF)(lo + (int)(ld16(rnd) %
								                            (unsigned)(hi - lo + 1)));
								for (int k = 1; k < 64; k++)
									blk[k] = (JCOEF)(rnd[k + 2] % 5 - 2);
							}
						}
					}
				}
			}
		}
	}
	return MC_OK;
}

/* Joins our APP11 segments into *side (free with free()). [MC-RGN-12] */
static mc_status collect_segments(jstate *s, uint8_t **side, size_t *side_len)
{
	size_t total = 0, n = 0, count = 0;
	*side = NULL;
	*side_len = 0;
	for (jpeg_saved_marker_ptr m = s->d.marker_list; m; m = m->next) {
		if (!is_our_segment(m))
			continue;
		size_t seq = ld16(m->data + RD_JPEG_ID_LEN), cnt = ld16(m->data + RD_JPEG_ID_LEN + 2);
		if (n == 0)
			count = cnt;
		if (seq != n || cnt != count || cnt == 0 || m->data_length == RD_JPEG_ID_LEN + 4 ||
		    m->data_length != m->original_length)
			return mc_fail(s->err, MC_ERR_HEADER,
			               "the JPEG's sealed-region segments are out of order, incomplete or malformed");
		n++;
		total += m->data_length - RD_JPEG_ID_LEN - 4;
	}
	if (n == 0)
		return mc_fail(s->err, MC_ERR_HEADER,
		               "the JPEG carries no sealed regions (no APP11 " RD_JPEG_ID " segment)");
	if (n != count)
		return mc_fail(s->err, MC_ERR_HEADER, "the JPEG has %zu of its %zu sealed-region segments", n, count);
	if (!(*side = malloc(total)))
		return mc_fail(s->err, MC_ERR_NOMEM, "out of memory");
	for (jpeg_saved_marker_ptr m = s->d.marker_list; m; m = m->next)
		if (is_our_segment(m)) {
			memcpy(*side + *side_len, m->data + RD_JPEG_ID_LEN + 4, m->data_length - RD_JPEG_ID_LEN - 4);
			*side_len += m->data_length - RD_JPEG_ID_LEN - 4;
		}
	return MC_OK;
}

/* Reads the header and coefficients and fills in the image fields of s->r. Returns MC_OK or a
 * status with s->err set; libjpeg errors longjmp out to the caller of run(). */
static mc_status read_image(jstate *s, const uint8_t *image, size_t len)
{
	jpeg_create_decompress(&s->d);
	s->d_init = true;
	s->d.mem->max_memory_to_use = MAX_LIBJPEG_MEMORY;
	s->d.progress = &s->progress;
	jpeg_mem_src(&s->d, image, (unsigned long)len);
	for (int m = 0; m < 16; m++)
		jpeg_save_markers(&s->d, JPEG_APP0 + m, 0xffff);
	jpeg_save_markers(&s->d, JPEG_COM, 0xffff);
	if (jpeg_read_header(&s->d, TRUE) != JPEG_HEADER_OK)
		return mc_fail(s->err, MC_ERR_HEADER, "the JPEG holds no image");
	mc_status st = rd_dims_check(s->d.image_width, s->d.image_height, s->err);
	if (st != MC_OK)
		return st;
	rd_record *r = &s->r;
	r->kind = MC_REDACT_JPEG;
	r->width = s->d.image_width;
	r->height = s->d.image_height;
	r->n_components = (uint8_t)s->d.num_components;
	if (s->d.jpeg_color_space == JCS_GRAYSCALE && s->d.num_components == 1)
		r->color_space = RD_JCS_GRAY;
	else if (s->d.jpeg_color_space == JCS_YCbCr && s->d.num_components == 3)
		r->color_space = RD_JCS_YCBCR;
	else if (s->d.jpeg_color_space == JCS_RGB && s->d.num_components == 3)
		r->color_space = RD_JCS_RGB;
	else
		return mc_fail(s->err, MC_ERR_UNSUPPORTED,
		               "JPEGs with %d components in colour space %d (CMYK, YCCK, ...) are not supported: only "
		               "greyscale, YCbCr and RGB",
		               s->d.num_components, (int)s->d.jpeg_color_space);
	unsigned hmax = (unsigned)s->d.max_h_samp_factor, vmax = (unsigned)s->d.max_v_samp_factor;
	for (int c = 0; c < s->d.num_components; c++) {
		int h = s->d.comp_info[c].h_samp_factor, v = s->d.comp_info[c].v_samp_factor;
		if (hmax % (unsigned)h || vmax % (unsigned)v)
			return mc_fail(s->err, MC_ERR_UNSUPPORTED,
			               "JPEGs with fractional chroma subsampling are not supported");
		r->h_samp[c] = (uint8_t)h;
		r->v_samp[c] = (uint8_t)v;
	}
	s->coefs = jpeg_read_coefficients(&s->d);
	if (s->jerr.num_warnings)
		return mc_fail(s->err, MC_ERR_HEADER, "the JPEG data is corrupt (%s)", s->msg);
	for (int c = 0; c < s->d.num_components; c++) {
		uint32_t wb, hb;
		rd_jpeg_blocks(r, (unsigned)c, &wb, &hb);
		if (wb != s->d.comp_info[c].width_in_blocks || hb != s->d.comp_info[c].height_in_blocks)
			return mc_fail(s->err, MC_ERR_UNSUPPORTED, "the JPEG's block geometry is not the expected one");
	}
	return MC_OK;
}

/* Writes the coefficients with the source's parameters, its markers (not a JFIF or Adobe marker
 * libjpeg writes itself, not JFXX thumbnails, not our segments) and side as APP11 segments. */
static mc_status write_image(jstate *s, const uint8_t *side, size_t side_len)
{
	s->writing = true;
	jpeg_create_compress(&s->c);
	s->c_init = true;
	s->dest.init_destination = dest_init;
	s->dest.empty_output_buffer = dest_empty;
	s->dest.term_destination = dest_term;
	s->c.dest = &s->dest;
	jpeg_copy_critical_parameters(&s->d, &s->c);
	s->c.write_JFIF_header = s->c.write_JFIF_header && s->d.saw_JFIF_marker;
	s->c.optimize_coding = TRUE;
	if (s->d.progressive_mode)
		jpeg_simple_progression(&s->c);
	jpeg_write_coefficients(&s->c, s->coefs);
	for (jpeg_saved_marker_ptr m = s->d.marker_list; m; m = m->next) {
		if (is_our_segment(m))
			continue;
		if (m->marker == JPEG_APP0 &&
		    (starts_with(m, "JFXX", 5) || (s->c.write_JFIF_header && starts_with(m, "JFIF", 5))))
			continue;
		if (m->marker == JPEG_APP0 + 14 && s->c.write_Adobe_marker && starts_with(m, "Adobe", 5))
			continue;
		/* what may describe the patient or the picture: not JFIF, ICC profiles or Adobe */
		if (!(m->marker == JPEG_APP0 && starts_with(m, "JFIF", 5)) && !(m->marker == JPEG_APP0 + 14) &&
		    !(m->marker == JPEG_APP0 + 2 && starts_with(m, "ICC_PROFILE", 12)))
			s->metadata = true;
		jpeg_write_marker(&s->c, m->marker, m->data, m->data_length);
	}
	if (side) {
		size_t count = (side_len + RD_JPEG_PIECE_MAX - 1) / RD_JPEG_PIECE_MAX;
		if (count > 65535)
			return mc_fail(s->err, MC_ERR_MISUSE, "the sealed regions are too large for JPEG segments");
		uint8_t *seg = malloc(RD_JPEG_ID_LEN + 4 + RD_JPEG_PIECE_MAX);
		if (!seg)
			return mc_fail(s->err, MC_ERR_NOMEM, "out of memory");
		memcpy(seg, RD_JPEG_ID, RD_JPEG_ID_LEN); /* with its NUL */
		for (size_t i = 0; i < count; i++) {
			size_t piece = i + 1 < count ? RD_JPEG_PIECE_MAX : side_len - i * RD_JPEG_PIECE_MAX;
			st16(seg + RD_JPEG_ID_LEN, (uint16_t)i);
			st16(seg + RD_JPEG_ID_LEN + 2, (uint16_t)count);
			memcpy(seg + RD_JPEG_ID_LEN + 4, side + i * RD_JPEG_PIECE_MAX, piece);
			jpeg_write_marker(&s->c, JPEG_APP0 + 11, seg, (unsigned)(RD_JPEG_ID_LEN + 4 + piece));
		}
		free(seg);
	}
	jpeg_finish_compress(&s->c);
	jpeg_finish_decompress(&s->d);
	if (s->out.failed)
		return mc_fail(s->err, MC_ERR_NOMEM, "out of memory");
	if (s->jerr.num_warnings)
		return mc_fail(s->err, MC_ERR_HEADER, "the JPEG data is corrupt (%s)", s->msg);
	return MC_OK;
}

static mc_status snap_regions(jstate *s)
{
	const mc_redact_params *p = s->params;
	mc_status st = rd_regions_check(p->regions, p->n_regions, s->r.width, s->r.height, s->err);
	if (st != MC_OK)
		return st;
	uint32_t mw = 8 * (unsigned)s->d.max_h_samp_factor, mh = 8 * (unsigned)s->d.max_v_samp_factor;
	s->r.n_regions = p->n_regions;
	for (size_t i = 0; i < p->n_regions; i++) {
		const mc_region *g = &p->regions[i];
		uint32_t x0 = g->x / mw * mw, y0 = g->y / mh * mh;
		uint64_t x1 = ((uint64_t)g->x + g->w + mw - 1) / mw * mw,
		         y1 = ((uint64_t)g->y + g->h + mh - 1) / mh * mh;
		if (x1 > s->r.width)
			x1 = s->r.width;
		if (y1 > s->r.height)
			y1 = s->r.height;
		s->r.regions[i] = (mc_region){x0, y0, (uint32_t)x1 - x0, (uint32_t)y1 - y0};
	}
	return MC_OK;
}

static mc_status redact_body(jstate *s, const uint8_t *image, size_t len)
{
	mc_status st = read_image(s, image, len);
	if (st != MC_OK)
		return st;
	for (jpeg_saved_marker_ptr m = s->d.marker_list; m; m = m->next)
		if (is_our_segment(m))
			return mc_fail(s->err, MC_ERR_UNSUPPORTED,
			               "the JPEG already carries sealed regions (APP11 " RD_JPEG_ID
			               "): restore it first");
	if ((st = coefs_check(s)) != MC_OK)
		return st;
	s->r.fill = s->params->fill;
	if ((st = snap_regions(s)) != MC_OK)
		return st;
	uint64_t data_len;
	if (rd_record_data_len(&s->r, &data_len, NULL) != MC_OK)
		return mc_fail(s->err, MC_ERR_MISUSE,
		               "the regions hold more than %u bytes of coefficients: give smaller ones",
		               MC_REDACT_MAX_SEALED);
	if ((st = rd_jpeg_mask(&s->r, &s->mask, &s->mask_cols, &s->mask_rows, s->err)) != MC_OK)
		return st;
	size_t header = rd_record_header_len(&s->r);
	s->record_len = header + (size_t)data_len;
	if (!(s->record = malloc(s->record_len)))
		return mc_fail(s->err, MC_ERR_NOMEM, "out of memory");
	coef_digest(s, s->r.original_digest);
	move_blocks(s, s->record + header, true);
	if ((st = fill_blocks(s)) != MC_OK)
		return st;
	coef_digest(s, s->r.redacted_digest);
	rd_record_write_header(&s->r, s->record);
	if ((st = rd_seal(s->params, MC_REDACT_JPEG, s->record, s->record_len, &s->side, &s->side_len, s->err)) !=
	    MC_OK)
		return st;
	if ((st = write_image(s, s->side, s->side_len)) != MC_OK)
		return st;
	rd_info_fill(s->info, &s->r, s->side_len);
	s->info->metadata_kept = s->metadata;
	return MC_OK;
}

static mc_status restore_body(jstate *s, const uint8_t *image, size_t len)
{
	mc_status st = read_image(s, image, len);
	if (st != MC_OK)
		return st;
	if ((st = collect_segments(s, &s->side, &s->side_len)) != MC_OK)
		return st;
	rd_record image_r = s->r;
	if ((st = rd_unseal(s->opener, s->side, s->side_len, MC_REDACT_JPEG, &s->record, &s->record_len, &s->r, s->info,
	                    s->err)) != MC_OK)
		return st;
	/* [MC-RGN-9] */
	bool same = s->r.width == image_r.width && s->r.height == image_r.height &&
	            s->r.n_components == image_r.n_components && s->r.color_space == image_r.color_space &&
	            memcmp(s->r.h_samp, image_r.h_samp, 4) == 0 && memcmp(s->r.v_samp, image_r.v_samp, 4) == 0;
	uint8_t digest[32];
	if (same)
		coef_digest(s, digest);
	if (!same || !mc_ct_equal(digest, s->r.redacted_digest, 32))
		return mc_fail(s->err, MC_ERR_PAYLOAD,
		               "the image was altered after it was redacted (its coefficients are not those the sealed "
		               "regions were made for): not restored");
	if ((st = rd_jpeg_mask(&s->r, &s->mask, &s->mask_cols, &s->mask_rows, s->err)) != MC_OK)
		return st;
	move_blocks(s, (uint8_t *)s->r.data, false);
	coef_digest(s, digest);
	if (!mc_ct_equal(digest, s->r.original_digest, 32))
		return mc_fail(s->err, MC_ERR_PAYLOAD,
		               "the restored coefficients do not match the digest of the original: not restored");
	if ((st = write_image(s, NULL, 0)) != MC_OK)
		return st;
	rd_info_fill(s->info, &s->r, s->side_len);
	return MC_OK;
}

/* The only function with setjmp: a libjpeg error comes back here. */
static mc_status run(jstate *s, const uint8_t *image, size_t len)
{
	if (setjmp(s->jump)) {
		if (s->out_of_memory)
			return mc_fail(s->err, MC_ERR_NOMEM, "out of memory");
		return mc_fail(s->err, MC_ERR_HEADER, "the JPEG cannot be %s: %s",
		               s->restore   ? "restored"
		               : s->writing ? "written"
		                            : "read",
		               s->msg);
	}
	return s->restore ? restore_body(s, image, len) : redact_body(s, image, len);
}

/* Runs s (redact or restore) with libjpeg's handlers set, then destroys the libjpeg objects; on
 * success s->out holds the image. The caller frees the rest with jstate_free. */
static mc_status jpeg_call(jstate *s, const uint8_t *image, size_t len)
{
	s->d.err = jpeg_std_error(&s->jerr);
	s->c.err = &s->jerr;
	/* jpeg_create_* keep err and client_data: the callbacks find s even if creating fails */
	s->d.client_data = s;
	s->c.client_data = s;
	s->jerr.error_exit = on_error;
	s->jerr.emit_message = on_message;
	s->progress.progress_monitor = on_progress;
	mc_status st = run(s, image, len);
	if (s->c_init)
		jpeg_destroy_compress(&s->c);
	if (s->d_init)
		jpeg_destroy_decompress(&s->d);
	s->c_init = s->d_init = false;
	return st;
}

static void jstate_free(jstate *s)
{
	rd_buf_free(&s->out);
	free(s->mask);
	mc_buf_free(s->record, s->record_len);
	if (s->restore)
		free(s->side);
	else
		mc_buf_free(s->side, s->side_len);
	mc_wipe(s->block, sizeof s->block); /* the last output bytes: a restored image's */
	free(s);
}

/* Hands s->out to the caller. */
static void take_output(jstate *s, uint8_t **out, size_t *out_len)
{
	*out = s->out.p;
	*out_len = s->out.len;
	s->out = (rd_buf){0};
}

mc_status rd_jpeg_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                         mc_redact_info *info, mc_err *err)
{
	jstate *s = calloc(1, sizeof *s);
	if (!s)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	s->params = p;
	s->info = info;
	s->err = err;
	mc_status st = jpeg_call(s, image, len);
	if (st == MC_OK)
		st = rd_check_restores(MC_REDACT_JPEG, s->out.p, s->out.len, s->side, s->side_len, s->record,
		                       s->record_len, err);
	if (st == MC_OK)
		take_output(s, out, out_len);
	jstate_free(s);
	return st;
}

mc_status rd_jpeg_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                          mc_redact_info *info, mc_err *err)
{
	jstate *s = calloc(1, sizeof *s);
	if (!s)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	s->restore = true;
	s->opener = o;
	s->info = info;
	s->err = err;
	mc_status st = jpeg_call(s, image, len);
	if (st == MC_OK)
		take_output(s, out, out_len);
	jstate_free(s);
	return st;
}
