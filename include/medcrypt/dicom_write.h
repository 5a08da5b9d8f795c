/*
 * dicom_write.h: a streaming writer of DICOM Part 10 files (PS3.10) and bare datasets, and
 * mc_dicom_copy, which reads a file with the reader of <medcrypt/dicom.h> and writes it again.
 *
 * The writer is called in the order of the file: the head (preamble, "DICM", file meta group),
 * then elements, sequences, items and encapsulated pixel data with its fragments, exactly the
 * events the reader reports. Values are given whole (mc_dicom_write_element) or as a header
 * followed by any number of pieces (mc_dicom_write_header + mc_dicom_write_value), so that a
 * value of any size passes through in constant memory. The writer writes little endian only:
 * explicit VR, or implicit VR when the file meta group names Implicit VR Little Endian; inside a
 * sequence of VR UN it writes implicit VR little endian (PS3.5 6.2.2; with a defined length, a
 * reader sees the value as bytes).
 * Every defined length (of a value, an item, a sequence) is checked against what is then
 * written into it: a mismatch is MC_ERR_MISUSE, never a malformed file.
 *
 * Ownership: the writer owns only itself (free with mc_dicom_writer_free); it borrows the
 * mc_output and never keeps a pointer to a value after the call that passed it.
 */
#ifndef MEDCRYPT_DICOM_WRITE_H
#define MEDCRYPT_DICOM_WRITE_H

#include <medcrypt/dicom.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_DICOM_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define MC_DICOM_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define MC_DICOM_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"
/* (0002,0012) and (0002,0013) of the files medcrypt writes itself (deid, reid): a UUID-derived
 * UID (PS3.5 B.2) and the version name. */
#define MC_DICOM_IMPLEMENTATION_UID     "2.25.295604367069337105329296553428385187381"
#define MC_DICOM_IMPLEMENTATION_VERSION "MEDCRYPT_0_1"

typedef struct mc_dicom_writer mc_dicom_writer;

/* One element of the file meta group, group 0x0002. value holds length bytes (even). */
typedef struct mc_dicom_meta_element {
	uint16_t element;
	char vr[3];
	const uint8_t *value;
	uint32_t length;
} mc_dicom_meta_element;

/* Makes a writer to out. Free with mc_dicom_writer_free. Errors: MC_ERR_NOMEM. */
mc_status mc_dicom_writer_new(mc_output out, mc_dicom_writer **w, mc_err *err);
/* Frees the writer (without flushing: call mc_dicom_writer_finish first). NULL is harmless. */
void mc_dicom_writer_free(mc_dicom_writer *w);

/*
 * Writes the Part 10 head: the 128-byte preamble (zeros when preamble is NULL), "DICM", the
 * group length (0002,0000) computed here, and the n meta elements in ascending order (none may
 * be (0002,0000)). (0002,0010) must be among them; it sets the dataset's encoding: implicit VR
 * little endian for 1.2.840.10008.1.2, explicit VR little endian for every other syntax except
 * explicit VR big endian, which is refused (MC_ERR_UNSUPPORTED: write explicit VR little endian
 * and use mc_dicom_writer_swap). Odd lengths, disorder or a second head: MC_ERR_MISUSE.
 */
mc_status mc_dicom_write_head(mc_dicom_writer *w, const uint8_t *preamble, const mc_dicom_meta_element *els, size_t n,
                              mc_err *err);

/* For a bare dataset (no head): chooses explicit (1) or implicit (0) VR little endian. */
void mc_dicom_writer_set_explicit(mc_dicom_writer *w, int explicit_vr);

/* From now on the values given are big endian (read from an explicit VR big endian file): the
 * writer swaps them to little endian per VR (2-byte units for US SS OW AT, 4 for UL SL FL OF OL,
 * 8 for FD OD SV UV OV; OB UN and text as they are), also across pieces of any size. */
void mc_dicom_writer_swap(mc_dicom_writer *w, int from_big_endian);

/* One element with its whole value (length bytes, even, never MC_DICOM_UNDEFINED_LENGTH).
 * vr is the two-letter VR (ignored in implicit VR, but a VR that needs swapping is swapped). */
mc_status mc_dicom_write_element(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr,
                                 const uint8_t *value, uint32_t length, mc_err *err);
/* An element header; exactly length bytes must follow through mc_dicom_write_value. */
mc_status mc_dicom_write_header(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, uint32_t length,
                                mc_err *err);
/* The next len bytes of the value announced by mc_dicom_write_header or mc_dicom_write_fragment. */
mc_status mc_dicom_write_value(mc_dicom_writer *w, const uint8_t *bytes, size_t len, mc_err *err);

/* A sequence: vr "SQ" (or "UN": its items are then implicit VR little endian), length defined
 * or MC_DICOM_UNDEFINED_LENGTH; items follow, then mc_dicom_write_sequence_end. */
mc_status mc_dicom_write_sequence(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, uint32_t length,
                                  mc_err *err);
mc_status mc_dicom_write_item(mc_dicom_writer *w, uint32_t length, mc_err *err);
mc_status mc_dicom_write_item_end(mc_dicom_writer *w, mc_err *err);
mc_status mc_dicom_write_sequence_end(mc_dicom_writer *w, mc_err *err);

/* Encapsulated pixel data (PS3.5 A.4): the element with an undefined length, then fragments
 * (the first is the basic offset table), each announced with its length and followed by its
 * bytes through mc_dicom_write_value, then mc_dicom_write_encapsulated_end. */
mc_status mc_dicom_write_encapsulated(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr,
                                      mc_err *err);
mc_status mc_dicom_write_fragment(mc_dicom_writer *w, uint32_t length, mc_err *err);
mc_status mc_dicom_write_encapsulated_end(mc_dicom_writer *w, mc_err *err);

/* Checks that every sequence, item and value was completed and flushes the output.
 * MC_ERR_MISUSE when something is open; MC_ERR_IO when a write failed. */
mc_status mc_dicom_writer_finish(mc_dicom_writer *w, mc_err *err);

/* Bytes written so far (flushed or buffered). */
uint64_t mc_dicom_writer_offset(const mc_dicom_writer *w);

/*
 * Reads a DICOM Part 10 file from in and writes it to out unchanged: the same preamble, the
 * file meta group with (0002,0000) recomputed, and the dataset byte for byte, defined and
 * undefined lengths, private elements and encapsulated pixel data (offset table and fragments)
 * included. An explicit VR big endian file is written as explicit VR little endian, (0002,0010)
 * changed to 1.2.840.10008.1.2.1 and the values swapped per VR (see mc_dicom_writer_swap);
 * values of VR UN are copied as they are (their encoding is unknown). Memory does not depend on
 * the file. total as for mc_dicom_parse. Errors: those of the reader (MC_ERR_HEADER for a
 * malformed file), MC_ERR_IO. On error out has received a partial file: write to a temporary
 * file and discard it.
 */
mc_status mc_dicom_copy(mc_input in, uint64_t total, mc_output out, mc_err *err);

#ifdef __cplusplus
}
#endif
#endif
