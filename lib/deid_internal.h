/*
 * deid_internal.h: what deid.c, deid_profile.c and dicom_write.c share and do not export: the
 * rows of PS3.15 Table E.1-1 and the forwarder, a visitor that copies the reader's events to a
 * writer (used to copy files, to keep original attributes, and to put them back).
 */
#ifndef MC_DEID_INTERNAL_H
#define MC_DEID_INTERNAL_H

#include <medcrypt/deid.h>
#include <medcrypt/dicom_write.h>
#include <stdbool.h>

typedef enum mc_deid_action {
	MC_DEID_X = 1, /* remove */
	MC_DEID_Z,     /* zero length */
	MC_DEID_D,     /* dummy value */
	MC_DEID_U,     /* consistent new UID */
	MC_DEID_X_Z,
	MC_DEID_X_D,
	MC_DEID_Z_D,
	MC_DEID_X_Z_D,
	MC_DEID_X_Z_U /* X/Z/U*: keep the sequence, replace the UIDs inside */
} mc_deid_action;

typedef struct mc_deid_rule {
	uint32_t tag, mask; /* the rule applies when (tag of element & mask) == tag */
	mc_deid_action action;
	char vr[3];
	const char *keyword; /* PS3.6 keyword (retired ones without "RETIRED_") */
} mc_deid_rule;

extern const mc_deid_rule mc_deid_rules[];
extern const size_t mc_deid_n_rules;

/* What mc_deid does with one attribute (deid.c); mc_deid_check (deid_check.c) asks the same. */
typedef enum mc_deid_effect {
	MC_DEID_KEEP,    /* copy (a sequence: copy and apply the table inside) */
	MC_DEID_REMOVE,  /* X */
	MC_DEID_EMPTY,   /* Z: zero length (a sequence: no items) */
	MC_DEID_DUMMY,   /* D: a dummy value of the VR (a sequence: one empty item) */
	MC_DEID_NEW_UID, /* U */
	MC_DEID_INSERTED /* replaced by what de-identification adds: (0012,0062..0064) at the top */
} mc_deid_effect;

/* The row of Table E.1-1 for a tag, or NULL (kept). */
const mc_deid_rule *mc_deid_rule_for(uint32_t tag);
/* The effect for an attribute at depth (0: top level); *vr gets the table's VR, or NULL for an
 * attribute the table does not list. sequence: the reader reported it as a sequence. */
mc_deid_effect mc_deid_decide(uint16_t group, uint16_t element, unsigned depth, bool sequence, const char **vr);
/* The dummy value mc_deid writes for a VR (not UI: a UID gets a mapped UID). Static storage. */
void mc_deid_dummy(const char *vr, const uint8_t **v, uint32_t *len);
/* The VR of el to go by: the file's, or in implicit VR (where the reader says UN) the table's. */
const char *mc_deid_vr_of(const mc_dicom_element *el, const char *table_vr);

#define MC_FWD_STACK (2u * MC_DICOM_MAX_DEPTH + 3u)

/* Forwards events to w. After a callback returns non-zero, st holds the error. */
typedef struct mc_fwd {
	mc_dicom_writer *w;
	mc_err *err;
	mc_status st;
	bool encapsulated[MC_FWD_STACK];
	unsigned open;
	bool undefined_lengths; /* write every sequence and item with an undefined length */
} mc_fwd;

int mc_fwd_element(void *ctx, const mc_dicom_element *el);
int mc_fwd_sequence_start(void *ctx, const mc_dicom_element *el);
int mc_fwd_sequence_end(void *ctx, unsigned depth);
int mc_fwd_item_start(void *ctx, uint32_t length, unsigned depth);
int mc_fwd_item_end(void *ctx, unsigned depth);
int mc_fwd_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length);
int mc_fwd_chunk(void *ctx, const uint8_t *bytes, size_t len);
/* Records st (returns 1 when it is an error). */
int mc_fwd_fail(mc_fwd *f, mc_status st);

/* ---- --region: blanking rectangles of native pixel data while it streams (deid_pixels.c) */

/* The private block of the Encrypted Content dataset that holds the region record (after the
 * Modified Attributes Sequence): (7FD1,0010) LO creator, (7FD1,1001) OB record. */
#define MC_DEID_REGIONS_CREATOR    "MEDCRYPT DEID REGIONS" /* 21 characters, padded with a space */
#define MC_DEID_REGIONS_HEADER     24u                     /* the record before its regions */
#define MC_DEID_REGIONS_ABSENT_BIA 0x01u                   /* flag: (0028,0301) was absent */

/* The pixel module of one file and the regions, and where a walk over its Pixel Data is. */
typedef struct mc_deid_pixels {
	/* from the dataset (mc_deid_pixels_plan checks them) */
	uint32_t rows, cols, frames;
	unsigned bits_allocated, bits_stored, samples, planar, pixrep;
	char photometric[17];
	bool big_endian;    /* the Pixel Data bytes walked are big endian (swapped to the record) */
	uint64_t value_len; /* the Pixel Data value length */
	const mc_deid_region *regions;
	size_t n_regions;
	/* derived */
	unsigned unit;      /* bytes of one pixel in one line: a sample, or all samples (planar 0) */
	uint64_t line_len;  /* bytes of one line: a row of a frame, or of one plane of it */
	uint64_t n_lines;   /* lines in all frames */
	uint64_t image_len; /* bytes of all frames: the rest of the value is left alone */
	uint64_t saved_len; /* bytes of region pixels in all frames (the record's data) */
	uint8_t fill[3][6]; /* per plane, the unit bytes of black in the walked byte order */
	/* 8-bit samples in an OW value of a big endian file (as dcmconv +tb writes them): the bytes
	 * of each pair are swapped in the file; mc_deid_pixels_piece swaps them for the walk */
	bool pair_swap, carried;
	uint8_t carry;
	bool fill_zero;
	/* the walk */
	uint64_t pos, saved;
	uint32_t row; /* the row whose spans are below; UINT32_MAX: none yet */
	size_t n_spans;
	uint64_t spans[MC_DEID_MAX_REGIONS][2]; /* byte ranges [a, b) of that row, merged, in order */
} mc_deid_pixels;

/* Checks the pixel module and the regions (MC_ERR_MISUSE for a region outside Columns x Rows;
 * MC_ERR_UNSUPPORTED for a depth, sample count or photometric interpretation not handled;
 * MC_ERR_HEADER when the value is shorter than the frames) and computes the derived fields. */
mc_status mc_deid_pixels_plan(mc_deid_pixels *p, mc_err *err);
typedef enum mc_deid_pixels_op { MC_DEID_PIXELS_SAVE, MC_DEID_PIXELS_FILL, MC_DEID_PIXELS_RESTORE } mc_deid_pixels_op;
/* The next n bytes of the Pixel Data value in file order, from in: copied to out (room for n + 1
 * bytes), where the op is applied (save: region bytes copied to save_to; fill: black; restore:
 * from restore_from); *out_n gets the bytes of out that are done, in file order. With pair_swap
 * an odd last byte is held back and comes first in the next call's out (the value's length is
 * even, so none is left at its end). */
void mc_deid_pixels_piece(mc_deid_pixels *p, mc_deid_pixels_op o, const uint8_t *in, size_t n, uint8_t *out,
                          size_t *out_n, uint8_t *save_to, const uint8_t *restore_from);
/* Writes the record header and regions (MC_DEID_REGIONS_HEADER + 16 n bytes) for p. */
void mc_deid_pixels_record(const mc_deid_pixels *p, unsigned flags, uint8_t *out);
/* Parses a record into p (regions point into rec, which must outlive p) and *data; *flags gets
 * the flags. MC_ERR_HEADER when it is malformed (its data length must be exact, plus at most one
 * zero pad byte). The pixel module fields other than those of the record are left to the caller. */
mc_status mc_deid_pixels_parse(const uint8_t *rec, size_t len, mc_deid_pixels *p, mc_deid_region *regions,
                               const uint8_t **data, unsigned *flags, mc_err *err);

/* Parses a decrypted Encrypted Content (a dataset in transfer syntax ts holding one Modified
 * Attributes Sequence item) as mc_reid does; *n_attributes gets the number of attributes in it.
 * For the fuzz target. */
mc_status mc_deid_parse_modified(const uint8_t *plain, size_t len, const char *ts, size_t *n_attributes, mc_err *err);

#endif
