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

#ifdef __cplusplus
}
#endif
#endif
