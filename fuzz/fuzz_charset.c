/*
 * fuzz_charset: dicom_text_utf8 (src/medcrypt/charset.c), which `medcrypt meta` runs on the
 * untrusted Specific Character Set (0008,0005) and text values of a DICOM file.
 *
 * Input: one byte n, then n bytes (at most the rest) of Specific Character Set value, then
 * the text value; the low bit of the first byte also selects person name delimiters.
 * Invariants, or the target aborts: the result is not NULL, is NUL-terminated at *out_len,
 * and is valid UTF-8 (no overlong form, surrogate or code point above U+10FFFF), whatever the
 * bytes and the character sets they name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/medcrypt/charset.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t need;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xC2 && s[i] <= 0xDF)
			need = 2, c = s[i] & 0x1F;
		else if (s[i] >= 0xE0 && s[i] <= 0xEF)
			need = 3, c = s[i] & 0x0F;
		else if (s[i] >= 0xF0 && s[i] <= 0xF4)
			need = 4, c = s[i] & 0x07;
		else
			return false;
		if (n - i < need)
			return false;
		for (size_t k = 1; k < need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3F);
		}
		if ((need == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
		    (need == 4 && (c < 0x10000 || c > 0x10FFFF)))
			return false;
		i += need;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cs_len = data[0];
	if (cs_len > size - 1)
		cs_len = size - 1;
	const uint8_t *cs = data + 1, *v = cs + cs_len;
	size_t n = size - 1 - cs_len, out_len = 0;
	bool known;
	char *s = dicom_text_utf8(cs, cs_len, v, n, data[0] & 1, &out_len, &known);
	CHECK(s != NULL);
	CHECK(strlen(s) == out_len || memchr(s, 0, out_len) != NULL); /* a NUL in the value stays one */
	CHECK(s[out_len] == 0);
	CHECK(valid_utf8((const unsigned char *)s, out_len));
	free(s);
	return 0;
}
