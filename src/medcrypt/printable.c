/*
 * printable.c: cli_printable (printable.h), the terminal-safe copy of untrusted text that
 * cmd_admin.c introduced as a static helper, shared so that every command shows server text
 * the same way.
 */
#include "printable.h"

#include <stdbool.h>
#include <string.h>

/* The length of the UTF-8 character at s (at most n bytes) and its code point, or 0 when the
 * bytes are not one (overlong forms and surrogates included). */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t need = s[0] < 0x80             ? 1
	              : (s[0] & 0xE0) == 0xC0 ? 2
	              : (s[0] & 0xF0) == 0xE0 ? 3
	              : (s[0] & 0xF8) == 0xF0 ? 4
	                                      : 0;
	if (need == 0 || need > n)
		return 0;
	unsigned long c = need == 1 ? s[0] : need == 2 ? s[0] & 0x1Fu : need == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3Fu);
	}
	if ((need == 2 && c < 0x80) || (need == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
	    (need == 4 && (c < 0x10000 || c > 0x10FFFF)))
		return 0;
	*cp = c;
	return need;
}

const char *cli_printable(const char *s, char *out, size_t size)
{
	size_t o = 0, n = s ? strlen(s) : 1;
	if (!s)
		s = "-";
	for (size_t i = 0; i < n;) {
		const unsigned char *c = (const unsigned char *)s + i;
		unsigned long cp = 0;
		size_t k = utf8_char(c, n - i, &cp);
		bool hide = k == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || (cp >= 0x202A && cp <= 0x202E) ||
		            (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F;
		size_t w = hide ? 1 : k;
		if (o + w + 1 > size)
			break;
		if (hide)
			out[o++] = '?';
		else
			memcpy(out + o, c, k), o += k;
		i += k ? k : 1;
	}
	out[o] = '\0';
	return out;
}
