/*
 * fuzz_exif: the bounded TIFF/IFD reader of lib/exif.c on untrusted EXIF blocks (what follows
 * "Exif\0\0" in a JPEG APP1 segment, or a PNG eXIf chunk). The input is copied into a buffer of
 * exactly its size, so that ASan sees any read past the block.
 *
 * Invariants, or the target aborts: the three dates are NUL-terminated, at most 19 characters
 * of printable ASCII; a failure is MC_ERR_HEADER with a message and leaves the dates empty; the
 * same bytes give the same result twice (no hidden state).
 */
#include <medcrypt/image.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_date(const char d[20])
{
	size_t n = strnlen(d, 20);
	CHECK(n < 20);
	for (size_t i = 0; i < n; i++)
		CHECK(d[i] >= 0x20 && d[i] <= 0x7E);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	mc_exif_dates d, again;
	mc_err err = {0};
	mc_status st = mc_exif_parse_dates(copy, size, &d, &err);
	if (st == MC_OK) {
		check_date(d.date_time);
		check_date(d.date_time_original);
		check_date(d.date_time_digitized);
	} else {
		CHECK(st == MC_ERR_HEADER && err.status == st && err.msg[0] != 0);
		CHECK(d.date_time[0] == 0 && d.date_time_original[0] == 0 && d.date_time_digitized[0] == 0);
	}
	CHECK(mc_exif_parse_dates(copy, size, &again, NULL) == st);
	CHECK(memcmp(&d, &again, sizeof d) == 0);
	free(copy);
	return 0;
}
