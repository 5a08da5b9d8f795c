/*
 * deid_internal.h: what deid.c, deid_profile.c and dicom_write.c share and do not export: the
 * rows of PS3.15 Table E.1-1 and the forwarder, a visitor that copies the reader's events to a
 * writer (used to copy files, to keep original attributes, and to put them back).
 */
#ifndef MC_DEID_INTERNAL_H
#define MC_DEID_INTERNAL_H

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
} mc_deid_rule;

extern const mc_deid_rule mc_deid_rules[];
extern const size_t mc_deid_n_rules;

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

/* Parses a decrypted Encrypted Content (a dataset in transfer syntax ts holding one Modified
 * Attributes Sequence item) as mc_reid does; *n_attributes gets the number of attributes in it.
 * For the fuzz target. */
mc_status mc_deid_parse_modified(const uint8_t *plain, size_t len, const char *ts, size_t *n_attributes, mc_err *err);

#endif
