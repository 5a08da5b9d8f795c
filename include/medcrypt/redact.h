/*
 * redact.h: reversible region encryption of PNG, JPEG and DICOM images (docs/FORMAT.md §13).
 * mc_redact hides rectangles of an image (black, noise or a coarse mosaic) and carries their
 * original content, sealed in a medcrypt container for a set of recipients, inside the image
 * itself (PNG: an `mcRG` chunk; JPEG: APP11 segments; DICOM: the private element (7FD1,1001)).
 * Any viewer shows the redacted image; mc_restore gives a recipient the original back: the same
 * decoded pixels for PNG, the same DCT coefficients (and so the same decoded pixels) for JPEG,
 * the same file for DICOM. Both work on whole files in memory, within the limits
 * below, which are checked before anything large is allocated.
 */
#ifndef MEDCRYPT_REDACT_H
#define MEDCRYPT_REDACT_H

#include <medcrypt/container.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_REDACT_MAX_REGIONS 64u
#define MC_REDACT_MAX_DIM     16384u                  /* width and height, each */
#define MC_REDACT_MAX_PIXELS  (1u << 28)              /* width * height */
#define MC_REDACT_MAX_SEALED  (1024u * 1024u * 1024u) /* original region data, before sealing */
#define MC_REDACT_MAX_INPUT   (1024u * 1024u * 1024u) /* the image file itself */

typedef enum mc_redact_fill {
	MC_FILL_BLACK = 1,   /* black, opaque (the default) */
	MC_FILL_NOISE = 2,   /* random samples (PNG) or random DCT coefficients (JPEG), from the CSPRNG */
	MC_FILL_PIXELATE = 3 /* 16x16-pixel cells set to their mean: leaks a coarse picture (SECURITY.md) */
} mc_redact_fill;

typedef enum mc_redact_kind {
	MC_REDACT_PNG = 1,  /* decoded samples of an 8- or 16-bit PNG */
	MC_REDACT_JPEG = 2, /* quantized DCT coefficients of a JPEG */
	MC_REDACT_DICOM = 3 /* native (uncompressed) 8- or 16-bit pixel data of a DICOM file, every frame */
} mc_redact_kind;

/* A rectangle in image pixels: columns x .. x+w-1, rows y .. y+h-1. */
typedef struct mc_region {
	uint32_t x, y, w, h;
} mc_region;

typedef struct mc_redact_params {
	const mc_region *regions; /* 1..MC_REDACT_MAX_REGIONS, each non-empty and inside the image */
	size_t n_regions;
	mc_redact_fill fill;                /* 0 means MC_FILL_BLACK */
	mc_cipher cipher;                   /* of the sealed data; 0 means ChaCha20-Poly1305 */
	const mc_pubkey *const *recipients; /* as for mc_seal: 1..MC_MAX_RECIPIENTS, distinct */
	size_t n_recipients;
	const mc_identity *signer; /* NULL: the sealed data is unsigned */
} mc_redact_params;

/* What was hidden (mc_redact) or restored (mc_restore). */
typedef struct mc_redact_info {
	mc_redact_kind kind;
	uint32_t width, height;
	size_t n_regions;
	/* The hidden rectangles, in the order given. For JPEG they are snapped outward to whole
	 * iMCUs (8 or 16 pixels, depending on the chroma subsampling) and clipped to the image. */
	mc_region regions[MC_REDACT_MAX_REGIONS];
	size_t sealed_len;            /* bytes of the sealed side data carried in the image */
	int metadata_kept;            /* mc_redact: 1 if text, EXIF, XMP, COM, APPn metadata or (always,
	                                 for DICOM) attributes were copied unchanged */
	int signed_ok;                /* mc_restore: 1 if the sealed data was signed and verified */
	uint8_t signer_fp[MC_FP_LEN]; /* valid when signed_ok */
} mc_redact_info;

/*
 * Redacts the PNG, JPEG or DICOM image in image[0..len) (the type is decided by its bytes) and returns
 * the redacted image in *out (free with mc_buf_free(*out, *out_len)). info may be NULL.
 *
 * PNG: 8- and 16-bit grey, grey+alpha, RGB, RGBA and 8-bit palette images; the output keeps the
 * colour type and bit depth, is not interlaced, and keeps the input's ancillary chunks listed in
 * FORMAT.md §13.2. JPEG: baseline, extended and progressive Huffman or arithmetic JPEGs in
 * greyscale, YCbCr or RGB; regions are snapped outward to iMCUs and every block outside them
 * keeps its exact coefficients; all APPn and COM markers are copied. DICOM: explicit or implicit
 * VR little endian with native 8- or 16-bit pixel data, 1 or 3 samples, every frame hidden alike.
 *
 * Before returning, the output is restored in memory with the record just sealed, exactly as
 * mc_restore would, and checked against the original: nothing is returned that mc_restore could
 * not undo.
 *
 * Errors: MC_ERR_MISUSE (no region, too many, empty, outside the image; bad params, as for
 * mc_seal), MC_ERR_UNSUPPORTED (not PNG, JPEG or DICOM, a bit depth, colour space, sampling or
 * transfer syntax that is not handled, an image that already carries sealed regions, an output
 * that would not restore), MC_ERR_HEADER (the image is malformed, a JPEG DCT coefficient beyond
 * the range of its precision included, or exceeds the limits above), MC_ERR_NOMEM, MC_ERR_CRYPTO.
 */
mc_status mc_redact(const uint8_t *image, size_t len, const mc_redact_params *params, uint8_t **out, size_t *out_len,
                    mc_redact_info *info, mc_err *err);

/*
 * Restores an image made by mc_redact: opens the sealed side data with id (which must hold its
 * encryption key), checks the signature when there is one (open may be NULL; its trusted list
 * applies as in mc_file_open_payload, its progress callback is ignored), checks that the image is
 * the one that was redacted, puts the original samples or coefficients back and checks the
 * result against the digest of the original. *out is the restored image without the side data
 * (free with mc_buf_free). info may be NULL.
 *
 * Errors: MC_ERR_HEADER (no sealed regions, malformed side data or image), MC_ERR_NO_MATCH (not
 * sealed for id), MC_ERR_MAC and MC_ERR_PAYLOAD (the sealed data was altered), MC_ERR_SIGNATURE,
 * MC_ERR_PAYLOAD also when the visible image was altered after redaction, MC_ERR_UNSUPPORTED,
 * MC_ERR_KEY, MC_ERR_NOMEM. Nothing is returned on failure.
 */
mc_status mc_restore(const uint8_t *image, size_t len, const mc_identity *id, const mc_open_params *open, uint8_t **out,
                     size_t *out_len, mc_redact_info *info, mc_err *err);

/* "black", "noise", "pixelate", or NULL for an unknown value. */
const char *mc_redact_fill_name(mc_redact_fill fill);

#ifdef __cplusplus
}
#endif
#endif
