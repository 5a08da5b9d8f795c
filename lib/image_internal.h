/*
 * image_internal.h: what the image modules share inside the library and never export: the
 * row-by-row interface through which the PNG, JPEG and DICOM decoders feed the preview's block
 * averaging (lib/preview.c) without ever holding a whole image, and the limit checks.
 */
#ifndef MC_IMAGE_INTERNAL_H
#define MC_IMAGE_INTERNAL_H

#include <medcrypt/image.h>
#include <stdbool.h>

/*
 * A consumer of 8-bit rows. The decoder sets width, height (full resolution) and channels (1
 * gray or 3 RGB, alpha already laid over white), then calls begin, which returns the block the
 * consumer will average over; the decoder may then decode at 1/scale resolution for a scale
 * that divides the block (JPEG DCT scaling) and sets scale before the first row. Each row call
 * gives row y (at the decoded resolution) whose valid pixels are x0, x0 + dx, ... (an
 * interlaced PNG pass), pixel x at px[x * channels].
 */
typedef struct mc_rows {
	uint32_t width, height;
	unsigned channels;
	uint32_t scale;
	mc_status (*begin)(struct mc_rows *r, uint32_t *block, mc_err *err);
	void (*row)(struct mc_rows *r, uint32_t y, const uint8_t *px, uint32_t x0, uint32_t dx);
} mc_rows;

/* Decodes a PNG / JPEG from in row by row into r. */
mc_status mc_png_rows(mc_input in, const mc_image_limits *lim, mc_rows *r, mc_err *err);
mc_status mc_jpeg_rows(mc_input in, const mc_image_limits *lim, mc_rows *r, mc_err *err);

/* Decodes one lossless JPEG frame (T.81 process 14, jpeg_lossless.c) of width x height and
 * ncomp components into out: little endian samples of bytes_per_sample (1 for a precision of 8
 * bits or less, else 2) bytes, one plane per component (width * height * ncomp * bytes_per_sample
 * bytes). A frame that is not lossless Huffman JPEG, or does not match the sizes, is refused. */
mc_status mc_jpeg_lossless_decode(const uint8_t *data, size_t len, uint32_t width, uint32_t height, unsigned ncomp,
                                  unsigned bytes_per_sample, uint8_t *out, mc_err *err);
/* The first frame of the DICOM file on fd (seekable) row by row into r (lib/image_dicom.c). */
mc_status mc_dicom_rows(int fd, uint64_t file_size, const mc_image_limits *lim, mc_rows *r, mc_err *err);

/* An mc_input over a memory buffer. */
typedef struct mc_mem_reader {
	const uint8_t *data;
	size_t len, pos;
} mc_mem_reader;
long mc_mem_read(void *ctx, uint8_t *buf, size_t len);

#endif
