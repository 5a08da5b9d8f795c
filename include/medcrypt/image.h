/*
 * image.h: the image layer of libmedcrypt for PNG (libspng) and JPEG (libjpeg-turbo), and what
 * it shares with DICOM: the type of a file told by its first bytes (never its name), limits
 * that stop decompression bombs before anything large is allocated, the descriptive metadata
 * of a PNG or JPEG (size, depth, colour type, text chunks, EXIF dates read by our own bounded
 * TIFF/IFD parser), whole-image decoding to a pixel buffer and PNG encoding from one (the base
 * of previews and of region redaction), and pixelated previews of all three formats.
 *
 * Every input is untrusted. Ownership: mc_pixels buffers are released with mc_pixels_free,
 * encoded images with mc_buf_free; nothing else is kept between calls.
 */
#ifndef MEDCRYPT_IMAGE_H
#define MEDCRYPT_IMAGE_H

#include <medcrypt/medcrypt.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_image_type {
	MC_IMAGE_UNKNOWN = 0,
	MC_IMAGE_DICOM = 1, /* 128-byte preamble, then "DICM" (PS3.10 7.1) */
	MC_IMAGE_PNG = 2,   /* the 8-byte PNG signature */
	MC_IMAGE_JPEG = 3   /* SOI (FF D8) followed by a marker (FF) */
} mc_image_type;

/* Bytes mc_image_detect needs to tell every type apart (DICOM's preamble and magic). */
#define MC_IMAGE_SNIFF_LEN 132u

/* The type of a file from its first len bytes (give MC_IMAGE_SNIFF_LEN, or all the file if it
 * is shorter). Never looks at a name. Returns MC_IMAGE_UNKNOWN for anything else. */
mc_image_type mc_image_detect(const uint8_t *head, size_t len);
/* "dicom", "png", "jpeg" or "unknown"; a static string. */
const char *mc_image_type_name(mc_image_type type);

/* Decompression-bomb limits, checked against the dimensions a file declares before any pixel
 * buffer is allocated or any image data is decoded. */
typedef struct mc_image_limits {
	uint32_t max_width, max_height; /* each side */
	uint64_t max_pixels;            /* width * height */
	size_t max_chunk;               /* one PNG ancillary chunk, one DICOM compressed frame, bytes */
	size_t max_metadata;            /* all cached PNG ancillary chunks (text, eXIf), bytes */
} mc_image_limits;

#define MC_IMAGE_MAX_SIDE     16384u
#define MC_IMAGE_MAX_PIXELS   (1ull << 28)
#define MC_IMAGE_MAX_CHUNK    (64u * 1024u * 1024u)
#define MC_IMAGE_MAX_METADATA (4u * 1024u * 1024u)

/* The defaults above: 16384 x 16384, 2^28 pixels, 64 MiB chunks, 4 MiB of metadata. */
mc_image_limits mc_image_default_limits(void);

/* Checks declared dimensions against lim before anything is allocated for them. what names the
 * image in the message ("the PNG"). Errors: MC_ERR_HEADER for a zero side, MC_ERR_UNSUPPORTED
 * over the limits (the message gives both sizes). */
mc_status mc_image_check_limits(const mc_image_limits *lim, const char *what, uint64_t width, uint64_t height,
                                mc_err *err);

/* Text found in a PNG (tEXt, zTXt, iTXt) or a JPEG comment (COM): at most MC_IMAGE_MAX_TEXT
 * entries, each value cut to MC_IMAGE_TEXT_LEN - 1 bytes (truncated is then 1). Values are as
 * in the file (Latin-1 for tEXt/zTXt, UTF-8 for iTXt): callers escape them before display. */
#define MC_IMAGE_MAX_TEXT 32u
#define MC_IMAGE_TEXT_LEN 512u
typedef struct mc_image_text {
	char keyword[80];
	char value[MC_IMAGE_TEXT_LEN];
	size_t len;
	int truncated;
} mc_image_text;

/* The date fields of an EXIF block, as "YYYY:MM:DD HH:MM:SS" (EXIF 2.3 4.6.4), or "" when
 * absent. Values that are not printable ASCII are left out. */
typedef struct mc_exif_dates {
	char date_time[20];           /* IFD0 DateTime (0x0132) */
	char date_time_original[20];  /* Exif IFD DateTimeOriginal (0x9003) */
	char date_time_digitized[20]; /* Exif IFD DateTimeDigitized (0x9004) */
} mc_exif_dates;

/* What mc_image_probe learns from a PNG or JPEG without decoding the image data. */
typedef struct mc_image_info {
	mc_image_type type;
	uint32_t width, height;
	unsigned bit_depth;  /* bits per sample in the file (PNG 1..16, JPEG 8 or 12) */
	unsigned components; /* samples per pixel in the file (a PNG palette image: 1) */
	char color_type[16]; /* "gray", "gray+alpha", "rgb", "rgba", "palette", "ycbcr", "cmyk", "ycck" */
	int interlaced;      /* PNG Adam7, or a progressive JPEG */
	char png_time[20];   /* PNG tIME as "YYYY-MM-DDTHH:MM:SS", or "" */
	int has_exif;        /* an eXIf chunk / APP1 "Exif" segment was found and parsed */
	mc_exif_dates exif;
	size_t n_text;
	mc_image_text text[MC_IMAGE_MAX_TEXT];
} mc_image_info;

/*
 * Reads the header and side data of a PNG or JPEG from in, stopping where the image data
 * starts (PNG: the first IDAT; JPEG: the first SOS), and fills info. limits may be NULL (the
 * defaults). Errors: MC_ERR_HEADER for a file that is not a well-formed PNG/JPEG up to there
 * (bad CRC, truncated, bad marker), MC_ERR_UNSUPPORTED when the declared dimensions exceed the
 * limits or for another type, MC_ERR_IO, MC_ERR_NOMEM. A malformed EXIF block is not an error:
 * has_exif stays 0.
 */
mc_status mc_image_probe(mc_input in, const mc_image_limits *limits, mc_image_info *info, mc_err *err);

/*
 * Parses the TIFF structure of an EXIF block (what follows "Exif\0\0" in a JPEG APP1 segment,
 * or a PNG eXIf chunk): the byte order mark, IFD0 and the Exif sub-IFD, and fills out with the
 * three date fields. Every offset is checked against len; at most 1000 entries per IFD are read
 * and no IFD is visited twice. Errors: MC_ERR_HEADER (message names the problem).
 */
mc_status mc_exif_parse_dates(const uint8_t *tiff, size_t len, mc_exif_dates *out, mc_err *err);

/* A decoded image: rows of width * channels samples of bit_depth bits, top to bottom. */
typedef struct mc_pixels {
	uint32_t width, height;
	unsigned channels;  /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
	unsigned bit_depth; /* 8 or 16; 16-bit samples are in host byte order */
	size_t stride;      /* bytes per row: width * channels * bit_depth / 8 */
	uint8_t *data;      /* height * stride bytes, owned: release with mc_pixels_free */
} mc_pixels;

/* Releases px->data (wiping it) and zeroes *px. NULL is harmless. */
void mc_pixels_free(mc_pixels *px);

/*
 * Decodes a whole PNG or JPEG held in memory into *out, checking the limits (NULL: defaults)
 * before allocating. PNG keeps its samples exactly: gray, gray+alpha, RGB and RGBA at 8 or 16
 * bits as stored (depths below 8 scaled to 8 bits, palettes expanded to RGB, or RGBA when the
 * palette has transparency). JPEG gives 8-bit gray or RGB (CMYK/YCCK converted to RGB).
 * info may be NULL; else it is filled as by mc_image_probe. Release *out with mc_pixels_free.
 * Errors as mc_image_probe; a truncated or corrupt image (libjpeg warnings included) is
 * MC_ERR_HEADER, never a partly grey image.
 */
mc_status mc_image_decode(const uint8_t *data, size_t len, const mc_image_limits *limits, mc_pixels *out,
                          mc_image_info *info, mc_err *err);

/*
 * Encodes px as a PNG (the same channels and bit depth) into a new buffer *out of *len bytes;
 * release it with mc_buf_free. Errors: MC_ERR_MISUSE (bad dimensions or format), MC_ERR_NOMEM.
 */
mc_status mc_image_encode_png(const mc_pixels *px, uint8_t **out, size_t *len, mc_err *err);

/* ---- previews ---- */

/* Output long side when none is given, and the largest allowed. */
#define MC_PREVIEW_DEFAULT_SIZE 256u
#define MC_PREVIEW_MAX_SIZE     4096u

typedef struct mc_preview_params {
	uint32_t block;    /* side of the averaged square in source pixels; 0: the default (see below) */
	uint32_t max_size; /* longest side of the output in pixels; 0: MC_PREVIEW_DEFAULT_SIZE */
	mc_image_limits limits;
} mc_preview_params;

/* Fills p with the defaults (block 0, max_size 0, default limits). */
void mc_preview_params_default(mc_preview_params *p);

/* The default block for an image: max(8, ceil(min(width, height) / 16)), rounded up to a
 * multiple of 8 (docs/SECURITY.md, "Previews", gives the reasoning). */
uint32_t mc_preview_default_block(uint32_t width, uint32_t height);

/* What a preview was made from and how. */
typedef struct mc_preview_info {
	mc_image_type type;
	uint32_t width, height;           /* of the source image (DICOM: of the first frame) */
	uint32_t block;                   /* the block actually used (>= the one asked for) */
	uint32_t grid_width, grid_height; /* blocks across and down: ceil(width / block), ... */
	uint32_t cell;                    /* output pixels per block side */
	uint32_t out_width, out_height;   /* grid * cell */
	unsigned channels;                /* 1 (gray) or 3 (RGB) */
} mc_preview_info;

/*
 * Makes a pixelated preview of the DICOM, PNG or JPEG file open on fd: the image is cut into
 * block x block squares, each replaced by its mean, and drawn with cell x cell output pixels
 * per block so that the output's longest side is at most max_size (the block grows when the
 * grid would not fit). The output is an 8-bit gray or RGB PNG in a new buffer (mc_buf_free).
 * PNG and JPEG are decoded row by row and never held whole (JPEG decoded at 1/2 to 1/8 scale
 * when the block allows it); alpha is laid over white. DICOM: the first frame of native
 * monochrome (8/16 bit, signed or not, MONOCHROME1/2, Rescale Slope/Intercept, the file's
 * first Window Center/Width or else one computed from the frame's histogram) or RGB (planar
 * configuration 0 or 1) pixel data, or JPEG Baseline encapsulated data; DICOM needs fd to be
 * seekable (the pixel data is read with pread). info may be NULL.
 * Errors: MC_ERR_UNSUPPORTED (another type, other compressed transfer syntaxes, over the
 * limits), MC_ERR_HEADER (malformed or truncated), MC_ERR_MISUSE (a bad parameter, a DICOM on
 * a pipe), MC_ERR_IO, MC_ERR_NOMEM.
 */
mc_status mc_preview_make(int fd, const mc_preview_params *params, uint8_t **png, size_t *png_len,
                          mc_preview_info *info, mc_err *err);

#ifdef __cplusplus
}
#endif
#endif
