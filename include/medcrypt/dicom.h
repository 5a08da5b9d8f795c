/*
 * dicom.h: a streaming reader of DICOM Part 10 files (PS3.10 file format, PS3.5 encoding). It
 * reads from an mc_input once, front to back, and reports what it finds to a visitor: elements,
 * the start and end of sequences and items, and the fragments of encapsulated pixel data. Values
 * up to MC_DICOM_VALUE_CAP bytes are handed to the visitor; larger ones (Pixel Data, big private
 * blobs) are read and discarded, and reported by length only, so memory use does not depend on
 * the file. Every length is checked against the enclosing sequence or item and, when the caller
 * gives it, the size of the file; nesting is limited to MC_DICOM_MAX_DEPTH sequences and is kept
 * on an explicit stack, never on the C stack.
 *
 * Ownership: the reader allocates only its own working buffers and frees them before returning.
 * The value pointers given to a callback are valid only during that call.
 */
#ifndef MEDCRYPT_DICOM_H
#define MEDCRYPT_DICOM_H

#include <medcrypt/medcrypt.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values longer than this are not loaded: the visitor gets their length and a NULL value. */
#define MC_DICOM_VALUE_CAP 65536u
/* Sequences nested deeper than this are refused with MC_ERR_HEADER ("nested too deep"). */
#define MC_DICOM_MAX_DEPTH 64u
/* The length of sequences, items and encapsulated pixel data that end with a delimiter. */
#define MC_DICOM_UNDEFINED_LENGTH 0xFFFFFFFFu
/* Passed as the total size when the size of the input is not known (a pipe). */
#define MC_DICOM_SIZE_UNKNOWN UINT64_MAX

/* One data element as found in the file. */
typedef struct mc_dicom_element {
	uint16_t group, element;
	/* The two-letter VR; in implicit VR files "UN", except "SQ" for what parses as a sequence. */
	char vr[3];
	/* The value length, or MC_DICOM_UNDEFINED_LENGTH (sequences, encapsulated pixel data). */
	uint32_t length;
	/* The value bytes exactly as in the file (padding included, in the file's byte order), or
	 * NULL for sequences, encapsulated pixel data and values longer than MC_DICOM_VALUE_CAP. */
	const uint8_t *value;
	/* Byte offset of the element's tag from the start of the file. */
	uint64_t offset;
	/* Byte offset of the first byte of the value (for encapsulated pixel data: of its first item
	 * tag), so that a caller holding a seekable file can read a value that was not loaded. */
	uint64_t value_offset;
	/* Number of enclosing sequences: 0 for the top-level dataset and the file meta group. */
	unsigned depth;
	/* 1 when the element is encoded big endian (explicit VR big endian transfer syntax). */
	int big_endian;
} mc_dicom_element;

/* The callbacks; any of them may be NULL. Each returns 0 to go on, or non-zero to stop the
 * parse, which then returns MC_ERR_CANCELLED. depth is that of the elements inside the item for
 * item_start/item_end, and that of the sequence element for sequence_end. */
typedef struct mc_dicom_visitor {
	/* Every element that is not a sequence, including the file meta group (0002,xxxx) and
	 * encapsulated Pixel Data (then length is MC_DICOM_UNDEFINED_LENGTH and value NULL). */
	int (*element)(void *ctx, const mc_dicom_element *el);
	/* A sequence (VR SQ, or an undefined length in implicit VR or as UN): its items follow. */
	int (*sequence_start)(void *ctx, const mc_dicom_element *el);
	int (*sequence_end)(void *ctx, unsigned depth);
	/* An item of a sequence; length may be MC_DICOM_UNDEFINED_LENGTH. */
	int (*item_start)(void *ctx, uint32_t length, unsigned depth);
	int (*item_end)(void *ctx, unsigned depth);
	/* A fragment of encapsulated pixel data (the first is the basic offset table), reported
	 * after it was read past. Fragments are never loaded: only their index, the offset of
	 * their first byte and their length are reported. */
	int (*fragment)(void *ctx, unsigned index, uint64_t offset, uint32_t length);
} mc_dicom_visitor;

/*
 * Parses a DICOM Part 10 file from in: the 128-byte preamble, "DICM", the file meta group
 * (always explicit VR little endian) and the dataset in the transfer syntax named by
 * (0002,0010): explicit VR little endian, implicit VR little endian, explicit VR big endian, or
 * any encapsulated (compressed) syntax, whose dataset is explicit VR little endian.
 * total is the size of the input in bytes when known (lengths are checked against it), else
 * MC_DICOM_SIZE_UNKNOWN. v and ctx may be NULL (the file is then only checked).
 * Returns MC_OK after the whole file parsed. Errors: MC_ERR_HEADER when the input is not a
 * DICOM Part 10 file or is malformed or truncated (the message names the byte offset);
 * MC_ERR_UNSUPPORTED for a deflated transfer syntax; MC_ERR_IO when a read fails;
 * MC_ERR_NOMEM; MC_ERR_CANCELLED when a callback stopped the parse; MC_ERR_MISUSE when in has
 * no read function.
 */
mc_status mc_dicom_parse(mc_input in, uint64_t total, const mc_dicom_visitor *v, void *ctx, mc_err *err);

/* Receives the bytes of a large value or of a fragment, in order, in pieces of any size (see
 * mc_dicom_parse_chunked). Returns 0 to go on, non-zero to stop (MC_ERR_CANCELLED). */
typedef int (*mc_dicom_chunk_fn)(void *ctx, const uint8_t *bytes, size_t len);

/*
 * Like mc_dicom_parse, but values longer than MC_DICOM_VALUE_CAP and the fragments of
 * encapsulated pixel data are streamed instead of skipped: the element (value NULL) or the
 * fragment is reported first, before its bytes were read, and then chunk receives the bytes in
 * pieces. A later MC_ERR_HEADER (a truncated value) means what the visitor received must be
 * discarded. The end of encapsulated pixel data (its sequence delimiter) is reported through
 * sequence_end, with the depth of the Pixel Data element. This is how a file is copied without
 * holding its pixel data: memory stays at the reader's fixed buffers. chunk may be NULL (then
 * this is mc_dicom_parse, and the end of encapsulated pixel data is not reported).
 */
mc_status mc_dicom_parse_chunked(mc_input in, uint64_t total, const mc_dicom_visitor *v, mc_dicom_chunk_fn chunk,
                                 void *ctx, mc_err *err);

/*
 * Parses a bare dataset (no preamble, "DICM" or file meta group) encoded in transfer_syntax (a
 * UID without padding), as found inside the Encrypted Content (0400,0520) of PS3.15. Otherwise
 * as mc_dicom_parse_chunked; total bounds the dataset. MC_ERR_MISUSE without a transfer syntax.
 */
mc_status mc_dicom_parse_dataset(mc_input in, uint64_t total, const char *transfer_syntax, const mc_dicom_visitor *v,
                                 mc_dicom_chunk_fn chunk, void *ctx, mc_err *err);

/* The name of a transfer syntax UID ("Explicit VR Little Endian", "JPEG Baseline (Process 1)",
 * ...) for the common ones, else NULL. uid has no padding. The result is a static string. */
const char *mc_dicom_transfer_syntax_name(const char *uid);

#ifdef __cplusplus
}
#endif
#endif
