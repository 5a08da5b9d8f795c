/*
 * fuzz_jpeg: JPEG files through libjpeg-turbo as medcrypt drives it (lib/image.c: our error
 * manager, source manager and APP1/COM marker processors; lib/preview.c: scaled decoding), the
 * way `medcrypt meta`, `preview` and `seal` meet an untrusted file; seeds in
 * fuzz/corpus/fuzz_jpeg (baseline, progressive, gray, CMYK, with EXIF and comments, and JPEG
 * Baseline DICOM files for the encapsulated-frame path). The checks are in fuzz_image.h.
 */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image_one(data, size);
}
