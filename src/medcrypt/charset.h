/*
 * charset.h: DICOM text to UTF-8 (PS3.5 6.1), for what `medcrypt meta` shows. A file names its
 * character repertoires in Specific Character Set (0008,0005); without it, text is ASCII.
 */
#ifndef MEDCRYPT_CHARSET_H
#define MEDCRYPT_CHARSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the value v (n bytes, untrusted) of a text attribute to UTF-8, with the character
 * sets that the Specific Character Set value cs (cs_len bytes, untrusted; NULL or empty for the
 * default repertoire) names: single-byte sets (ISO_IR 100 ... 203, 13, 166), ISO_IR 192 (UTF-8),
 * GB18030, GBK, and the ISO 2022 code extensions (ISO 2022 IR 6, 100 ... 203, 13, 87, 159, 149,
 * 58, 166) with escape sequences that switch G0 and G1, back to the initial sets at each
 * delimiter (PS3.5 6.1.2.5.3; pn selects the person name delimiters ^ and =). A byte or
 * sequence that the sets do not define becomes U+FFFD. Returns a NUL-terminated malloc'd
 * string (its length in *out_len), or NULL when out of memory. *known is false when cs names
 * a set this decoder does not know (then ASCII is assumed and other bytes become U+FFFD). */
char *dicom_text_utf8(const uint8_t *cs, size_t cs_len, const uint8_t *v, size_t n, bool pn, size_t *out_len,
                      bool *known);

#endif
