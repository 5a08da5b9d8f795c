/*
 * deid.h: reversible de-identification of DICOM files (PS3.15 Annex E, Basic Application Level
 * Confidentiality Profile) and re-identification.
 *
 * mc_deid applies the action table of PS3.15 Table E.1-1 (remove, empty, dummy, new UID, and the
 * combined codes) to every attribute at every depth, removes every private attribute and group
 * length, replaces UIDs through a keyed mapping (HMAC-SHA-256 under a caller's key, as a 2.25
 * UID) so that files of one series stay one series, sets Patient Identity Removed (0012,0062),
 * De-identification Method (0012,0063) and its code sequence (0012,0064), and keeps the original
 * value of every changed top-level attribute (of a sequence: the whole original sequence) in the
 * Encrypted Attributes Sequence (0400,0500) as PS3.15 E.1.1 and C (Attribute Level
 * Confidentiality) describe: Encrypted Content Transfer Syntax UID (0400,0510) = explicit VR
 * little endian, Encrypted Content (0400,0520) = CMS EnvelopedData (RFC 5652; AES-256-CBC
 * content encryption, RSA-OAEP-SHA-256 key transport, one recipient per key, identified by
 * subject key identifier) of a dataset holding the Modified Attributes Sequence (0400,0550).
 * mc_reid decrypts that and puts every attribute back. Both read their input twice (the first
 * pass finds what changes, the second writes), through a rewind callback; the pixel data is
 * streamed, never held in memory. With regions (PS3.15 E.3.1, Clean Pixel Data), the rectangles
 * are blanked on every frame of native pixel data as it streams, and the original region pixels
 * travel in the same EnvelopedData (FORMAT.md §14), so that mc_reid restores them bit-exact.
 * mc_deid_check tells whether a file may be marked de-identified: nothing that the same table
 * takes out remains in it (FORMAT.md §15, `medcrypt send --deidentified`).
 */
#ifndef MEDCRYPT_DEID_H
#define MEDCRYPT_DEID_H

#include <medcrypt/key.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_DEID_UID_KEY_LEN 32
/* The original attributes (and region pixels) of one file are kept in memory to be encrypted:
 * at most this much. */
#define MC_DEID_MAX_ENCRYPTED (64u * 1024u * 1024u)
/* The regions blanked with --region. */
#define MC_DEID_MAX_REGIONS 64

/* A rectangle of pixels (columns x..x+w-1, rows y..y+h-1) blanked on every frame: non-empty and
 * inside Columns x Rows. Black is the lowest stored value (Bits Stored and Pixel Representation
 * decide it: the most negative for signed data), the highest for MONOCHROME1, 0 for 3 samples and
 * PALETTE COLOR. */
typedef struct mc_deid_region {
	uint32_t x, y, w, h;
} mc_deid_region;

typedef struct mc_deid_params {
	const mc_pubkey *const *recipients; /* RSA recipient keys who may re-identify: 1..1024 */
	size_t n_recipients;
	const uint8_t *uid_key;        /* MC_DEID_UID_KEY_LEN bytes: the UID mapping's key */
	const mc_deid_region *regions; /* native (uncompressed) pixel data only; may be NULL */
	size_t n_regions;
} mc_deid_params;

/* Puts the input back to its first byte: returns 0, or -1 with errno set. */
typedef int (*mc_rewind_fn)(void *input_ctx);

/*
 * De-identifies the DICOM Part 10 file read from in (total bytes, or MC_DICOM_SIZE_UNKNOWN) to
 * out. rewind is called once with in.ctx between the two passes. The output keeps the input's
 * transfer syntax (explicit VR big endian becomes explicit VR little endian), its preamble is
 * zeros, and its file meta group has the new Media Storage SOP Instance UID and medcrypt's
 * implementation UID and version name; (0002,0016) and private meta elements are dropped.
 * With params->regions, every region of every frame of the native Pixel Data is blanked, Burned
 * In Annotation (0028,0301) is set to "NO" (added when absent), and the code 113101 is added;
 * pixel data of Bits Allocated 8 or 16, 1 or 3 samples, planar configuration 0 or 1, any number
 * of frames, little or big endian input.
 * Errors: MC_ERR_HEADER (malformed input; top-level elements out of order; Pixel Data shorter
 * than its frames), MC_ERR_UNSUPPORTED (deflated; already de-identified: has (0400,0500);
 * originals and region pixels over MC_DEID_MAX_ENCRYPTED; regions on compressed pixel data, on
 * 1-bit or other depths, or on a file without Pixel Data), MC_ERR_MISUSE (no recipient or key;
 * a region not inside Columns x Rows; more than MC_DEID_MAX_REGIONS), MC_ERR_CRYPTO, MC_ERR_IO,
 * MC_ERR_NOMEM; the region errors come from the first pass, before out is written to. On error
 * out may hold a partial file: write to a temporary and discard.
 */
mc_status mc_deid(mc_input in, mc_rewind_fn rewind, uint64_t total, mc_output out, const mc_deid_params *params,
                  mc_err *err);

/*
 * Re-identifies a file de-identified by mc_deid or by GDCM (gdcmanon -e): decrypts the first
 * item of (0400,0500) with id's encryption key, puts every attribute of the Modified Attributes
 * Sequence back (replacing the dummies), and removes (0012,0062), (0012,0063), (0012,0064) and
 * (0400,0500); a region record (FORMAT.md §14) puts the original region pixels back into every
 * frame (and removes (0028,0301) when de-identification added it). The file meta group's
 * (0002,0003) becomes the restored SOP Instance UID.
 * Errors: MC_ERR_HEADER (malformed input or decrypted dataset; a region record that does not match
 * the file's pixel module), MC_ERR_UNSUPPORTED (no (0400,0500), compressed pixel data with regions,
 * an encrypted transfer syntax other than explicit or implicit VR little endian), MC_ERR_NO_MATCH
 * (not encrypted for this key), MC_ERR_KEY (id has no encryption key), MC_ERR_IO, MC_ERR_NOMEM.
 */
mc_status mc_reid(mc_input in, mc_rewind_fn rewind, uint64_t total, mc_output out, const mc_identity *id, mc_err *err);

/*
 * The UID that uid (len bytes, trailing NUL or space padding ignored) maps to under key: "2.25."
 * and the decimal value of the first 128 bits of HMAC-SHA-256(key, "medcrypt deid uid v1" NUL
 * uid). out gets at most 44 characters and a terminator. MC_ERR_MISUSE for an empty UID or one of more than 64
 * characters.
 */
mc_status mc_deid_map_uid(const uint8_t key[MC_DEID_UID_KEY_LEN], const char *uid, size_t len, char out[64],
                          mc_err *err);

/* ---- checking that a file may be called de-identified (mc_deid_check) */

/* What mc_deid_check found first, in the order of the file. */
typedef enum mc_deid_finding {
	MC_DEID_CLEAN = 0,         /* nothing identifying: the file may be marked de-identified */
	MC_DEID_FOUND_PRESENT,     /* an attribute the profile removes (X) is present */
	MC_DEID_FOUND_NOT_EMPTY,   /* an attribute the profile empties (Z) holds a value (a sequence: items) */
	MC_DEID_FOUND_NOT_DUMMY,   /* an attribute the profile replaces by a dummy (D) holds another value */
	MC_DEID_FOUND_PRIVATE,     /* a private attribute (odd group), which the profile removes */
	MC_DEID_FOUND_META,        /* an identifying file meta element: an AE title or private information */
	MC_DEID_FOUND_NOT_REMOVED, /* Patient Identity Removed (0012,0062) is absent or not YES */
	MC_DEID_FOUND_BURNED_IN    /* Burned In Annotation (0028,0301) is YES */
} mc_deid_finding;

/* What the file says of its pixels (Burned In Annotation and the Clean Pixel Data code). */
typedef enum mc_deid_pixels_state {
	MC_DEID_PIXELS_NOT_STATED = 0, /* (0028,0301) absent or empty, no code 113101 */
	MC_DEID_PIXELS_NO_BURNED_IN,   /* (0028,0301) is NO */
	MC_DEID_PIXELS_REGIONS_CLEANED /* code 113101 (Clean Pixel Data Option) in (0012,0064), and (0028,0301) not YES
	                                */
} mc_deid_pixels_state;

typedef struct mc_deid_report {
	mc_deid_finding finding;
	/* The attribute found ((group << 16) | element) and its PS3.6 keyword ("" when the profile
	 * does not name it); inside a sequence, depth > 0 and the top-level sequence it is in. Never
	 * its value. */
	uint32_t tag;
	char keyword[80];
	unsigned depth;
	uint32_t top_tag;
	char top_keyword[80];
	mc_deid_pixels_state pixels;
	/* One sentence for a person: the attribute by tag and keyword, and what the profile does with
	 * it; "" when clean. */
	char message[320];
	/* How many attributes were found in all (0 when clean; inside a sequence found, nothing more
	 * is counted), and the ones after the first, "(0010,0010) PatientName, ...", as many as fit. */
	unsigned n_findings;
	char also[400];
} mc_deid_report;

/*
 * Checks whether the DICOM Part 10 file read from in (total bytes, or MC_DICOM_SIZE_UNKNOWN) still
 * carries anything that the Basic Application Level Confidentiality Profile (PS3.15 Table E.1-1,
 * the table mc_deid applies) takes out, at every depth: an attribute it removes must be absent,
 * one it empties must be empty (a sequence: no items), one it replaces by a dummy must be absent,
 * empty or hold mc_deid's dummy (a UID: a 2.25 UID; a sequence: no items or empty ones), private
 * attributes must be absent (the profile keeps none), the file meta group must have no AE title
 * (0002,0016..0018) or private information (0002,0100), (0002,0102); Patient Identity Removed
 * (0012,0062) must be YES and Burned In Annotation (0028,0301) must not be YES. UIDs the profile
 * replaces (U) cannot be told from originals and are not checked; group lengths, overlay
 * attributes other than (60xx,3000) and (60xx,4000), and the pixels themselves are not either.
 * A file of another tool passes when nothing identifying remains (values emptied instead of
 * dummies, for example).
 * Streams through the reader (bounded memory, its limits) to the end, or to a native Pixel Data
 * that ends the file (its bytes are not read). report gets the first finding in the order of the
 * file (MC_DEID_CLEAN when none), the number of findings and the names of the next ones, and,
 * when clean, report->pixels.
 * Returns MC_OK when the verdict is in report, whatever it is. Errors: the reader's
 * (MC_ERR_HEADER for malformed input, MC_ERR_UNSUPPORTED for a deflated transfer syntax,
 * MC_ERR_IO, MC_ERR_NOMEM); MC_ERR_MISUSE without report. On error report says nothing.
 */
mc_status mc_deid_check(mc_input in, uint64_t total, mc_deid_report *report, mc_err *err);

/* The PS3.6 keyword of a tag the check or the profile knows ("PatientName"), else NULL. */
const char *mc_deid_keyword(uint32_t tag);

#ifdef __cplusplus
}
#endif
#endif
