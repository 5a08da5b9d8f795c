/*
 * redact_internal.h: what the region-encryption modules share and the fuzz target reaches: the
 * region record (the plaintext sealed inside the image, FORMAT.md §13.4), the side-data
 * envelope around the sealed container (§13.1), JPEG block geometry, and sealing and opening a
 * record in memory. redact.c implements these; redact_png.c and redact_jpeg.c use them.
 */
#ifndef MC_REDACT_INTERNAL_H
#define MC_REDACT_INTERNAL_H

#include <medcrypt/redact.h>
#include <stdbool.h>

#include "internal.h"

#define RD_ENVELOPE_MAGIC "MCRG"
#define RD_RECORD_MAGIC   "MCRD"
#define RD_VERSION        1
#define RD_ENVELOPE_LEN   8                                    /* magic, version, kind, reserved u16 */
#define RD_MAX_CONTAINER  (MC_REDACT_MAX_SEALED + (64u << 20)) /* record + wraps, tags, signature */
#define RD_JPEG_ID        "medcrypt-region"                    /* + NUL: 16 bytes */
#define RD_JPEG_ID_LEN    16
#define RD_JPEG_PIECE_MAX (65533u - RD_JPEG_ID_LEN - 4u) /* APP11 payload after id, seq, count */
#define RD_PIXELATE_CELL  16u
#define RD_NOT_RESTORABLE "the redacted image would not restore" /* rd_check_restores' refusal */

/* Colour spaces of a JPEG record (FORMAT.md §13.4). */
enum { RD_JCS_GRAY = 1, RD_JCS_YCBCR = 2, RD_JCS_RGB = 3 };

typedef struct rd_record {
	mc_redact_kind kind;
	mc_redact_fill fill;
	uint32_t width, height;
	uint8_t color_type, bit_depth;           /* PNG */
	uint8_t n_components, color_space;       /* JPEG */
	uint8_t h_samp[4], v_samp[4];            /* JPEG, per component */
	uint8_t bits_allocated, samples, planar; /* DICOM */
	uint32_t frames;                         /* DICOM */
	size_t n_regions;
	mc_region regions[MC_REDACT_MAX_REGIONS];
	uint8_t original_digest[32];
	uint8_t redacted_digest[32];
	const uint8_t *data; /* rd_record_parse: points into the parsed bytes */
	size_t data_len;
} rd_record;

/* Checks the caller's regions against a width x height image: MC_ERR_MISUSE with the region's
 * number in the message. */
mc_status rd_regions_check(const mc_region *regions, size_t n, uint32_t width, uint32_t height, mc_err *err);
/* Checks width and height against the limits: MC_ERR_HEADER. */
mc_status rd_dims_check(uint32_t width, uint32_t height, mc_err *err);

/* Bytes per PNG pixel (channels * bit_depth / 8); 0 for an unsupported colour type or depth. */
unsigned rd_png_bpp(uint8_t color_type, uint8_t bit_depth);

/* JPEG geometry: blocks per row and column of component c, as libjpeg computes them. */
void rd_jpeg_blocks(const rd_record *r, unsigned c, uint32_t *width_in_blocks, uint32_t *height_in_blocks);
/* The iMCU grid and the mask of iMCUs the record's regions cover (1 byte per iMCU, row-major;
 * free with free()). */
mc_status rd_jpeg_mask(const rd_record *r, uint8_t **mask, uint32_t *cols, uint32_t *rows, mc_err *err);
/* Number of hidden blocks of component c under mask. */
uint64_t rd_jpeg_hidden_blocks(const rd_record *r, unsigned c, const uint8_t *mask, uint32_t cols);

/* Length of the data part the record's header implies; MC_ERR_HEADER past MC_REDACT_MAX_SEALED. */
mc_status rd_record_data_len(const rd_record *r, uint64_t *len, mc_err *err);
/* Length of the record's header (everything before the data). */
size_t rd_record_header_len(const rd_record *r);
/* Writes the header into buf (rd_record_header_len bytes). */
void rd_record_write_header(const rd_record *r, uint8_t *buf);
/* Parses and validates a record: every field, the regions and the exact data length. r->data
 * points into buf. MC_ERR_HEADER or MC_ERR_UNSUPPORTED (another version). */
mc_status rd_record_parse(const uint8_t *buf, size_t len, rd_record *r, mc_err *err);

/* Seals a record (plaintext) for the params' recipients and wraps it in the side-data envelope
 * of this kind. *side is freed with mc_buf_free. */
mc_status rd_seal(const mc_redact_params *p, mc_redact_kind kind, const uint8_t *record, size_t record_len,
                  uint8_t **side, size_t *side_len, mc_err *err);
/* Parses an envelope: *container and *container_len point into side. MC_ERR_HEADER,
 * MC_ERR_UNSUPPORTED (another version). */
mc_status rd_envelope_parse(const uint8_t *side, size_t len, mc_redact_kind kind, const uint8_t **container,
                            size_t *container_len, mc_err *err);
/* Envelope parse, then opens the container with id into *record (free with mc_buf_free), then
 * parses the record and checks its kind; fills info's signature fields. */
mc_status rd_open(const uint8_t *side, size_t side_len, mc_redact_kind kind, const mc_identity *id,
                  const mc_open_params *open, uint8_t **record, size_t *record_len, rd_record *r, mc_redact_info *info,
                  mc_err *err);

/* Where a restore gets the region record from. mc_restore: opens the side data with id (rd_open).
 * mc_redact's check of its own output (id NULL): the side data it has just written and the record
 * sealed in it, which it holds in clear; the side data read back from the output must be those
 * bytes, carry a container whose payload is record_len bytes, and the record must parse. */
typedef struct rd_opener {
	const mc_identity *id;
	const mc_open_params *open;
	const uint8_t *side, *record; /* id NULL: what mc_redact sealed */
	size_t side_len, record_len;
} rd_opener;
/* Gets the record of side[0..side_len) as o says, as rd_open does: *record (free with
 * mc_buf_free) and its parse in *r. */
mc_status rd_unseal(const rd_opener *o, const uint8_t *side, size_t side_len, mc_redact_kind kind, uint8_t **record,
                    size_t *record_len, rd_record *r, mc_redact_info *info, mc_err *err);
/* mc_redact's last step before it returns an image: restores out[0..out_len) in memory with the
 * record it sealed (no key needed) exactly as mc_restore would, checks the result, and wipes it.
 * Redaction must never return what restore cannot undo: on any failure it returns that failure's
 * status (MC_ERR_UNSUPPORTED for what is not a resource failure) with the reason. */
mc_status rd_check_restores(mc_redact_kind kind, const uint8_t *out, size_t out_len, const uint8_t *side,
                            size_t side_len, const uint8_t *record, size_t record_len, mc_err *err);

/* Copies the record's regions and dimensions into info. */
void rd_info_fill(mc_redact_info *info, const rd_record *r, size_t sealed_len);

/* An append-only output buffer. An allocation failure is remembered in failed and later appends
 * do nothing; rd_buf_free wipes (the buffer may hold restored pixels). */
typedef struct rd_buf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
} rd_buf;
void rd_buf_put(rd_buf *b, const void *data, size_t len);
void rd_buf_free(rd_buf *b);

/* Fills buf with random bytes (the CSPRNG): MC_ERR_CRYPTO on failure. */
mc_status rd_random(uint8_t *buf, size_t len, mc_err *err);

/* Format-specific halves (redact_png.c, redact_jpeg.c, redact_dicom.c). Each *_redact ends with
 * rd_check_restores on its output; each *_restore gets its record through an rd_opener. */
bool rd_is_png(const uint8_t *image, size_t len);
bool rd_is_jpeg(const uint8_t *image, size_t len);
mc_status rd_png_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                        mc_redact_info *info, mc_err *err);
mc_status rd_png_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                         mc_redact_info *info, mc_err *err);
mc_status rd_jpeg_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                         mc_redact_info *info, mc_err *err);
mc_status rd_jpeg_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                          mc_redact_info *info, mc_err *err);
bool rd_is_dicom(const uint8_t *image, size_t len);
mc_status rd_dicom_redact(const uint8_t *image, size_t len, const mc_redact_params *p, uint8_t **out, size_t *out_len,
                          mc_redact_info *info, mc_err *err);
mc_status rd_dicom_restore(const uint8_t *image, size_t len, const rd_opener *o, uint8_t **out, size_t *out_len,
                           mc_redact_info *info, mc_err *err);

#endif
