/*
 * fuzz_png: PNG files through libspng as medcrypt drives it (lib/image.c, lib/preview.c), the
 * way `medcrypt meta`, `preview` and `seal` meet an untrusted file; seeds in fuzz/corpus/fuzz_png
 * (PNG of every colour type and depth, interlaced, with text, zTXt, iTXt, eXIf and tIME chunks,
 * and native DICOM files for the DICOM pixel decoders). The checks are in fuzz_image.h.
 */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image_one(data, size);
}
