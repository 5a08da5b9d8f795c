/*
 * charset.c: DICOM text to UTF-8 (PS3.5 6.1 and Annex H/I/J/K). Specific Character Set
 * (0008,0005) is parsed into its defined terms. Without code extensions the value is decoded
 * whole (ASCII, an ISO 8859 part or TIS-620 above 0x7F, JIS X 0201, UTF-8, GB18030, GBK). With
 * "ISO 2022 ..." terms the bytes are walked: escape sequences designate G0 (ASCII, JIS X 0201
 * Roman, JIS X 0208, JIS X 0212) and G1 (an ISO 8859 upper half, TIS-620, JIS X 0201 katakana,
 * KS X 1001, GB 2312), and at every delimiter the initial sets return (PS3.5 6.1.2.5.3). The
 * multi-byte sets are converted by ICU from their EUC form. Every byte the sets do not define
 * becomes U+FFFD: the result is always valid UTF-8, whatever the input.
 */
#include "charset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucnv.h>

enum set {
	SET_NONE,     /* G1 unset: bytes above 0x7F are undefined */
	SET_ASCII,    /* G0 */
	SET_8BIT,     /* G1: the upper half of a single-byte set, through ICU */
	SET_KATAKANA, /* G1: JIS X 0201 katakana, 0xA1-0xDF */
	SET_JIS0208,  /* G0: two bytes 0x21-0x7E */
	SET_JIS0212,  /* G0: two bytes 0x21-0x7E */
	SET_KSX1001,  /* G1: two bytes 0xA1-0xFE */
	SET_GB2312,   /* G1: two bytes 0xA1-0xFE */
};

typedef struct state {
	enum set g0, g1;
	const char *g1_icu; /* for SET_8BIT */
} state;

/* The defined terms of PS3.3 C.12.1.1.2. whole: decoded by ICU in one piece (no code extensions). */
static const struct term {
	const char *name;
	enum set g1;
	const char *icu;
	bool whole;
} terms[] = {
    {"ISO_IR 6", SET_NONE, NULL, false},
    {"ISO_IR 100", SET_8BIT, "ISO-8859-1", false},
    {"ISO_IR 101", SET_8BIT, "ISO-8859-2", false},
    {"ISO_IR 109", SET_8BIT, "ISO-8859-3", false},
    {"ISO_IR 110", SET_8BIT, "ISO-8859-4", false},
    {"ISO_IR 144", SET_8BIT, "ISO-8859-5", false},
    {"ISO_IR 127", SET_8BIT, "ISO-8859-6", false},
    {"ISO_IR 126", SET_8BIT, "ISO-8859-7", false},
    {"ISO_IR 138", SET_8BIT, "ISO-8859-8", false},
    {"ISO_IR 148", SET_8BIT, "ISO-8859-9", false},
    {"ISO_IR 203", SET_8BIT, "ISO-8859-15", false},
    {"ISO_IR 166", SET_8BIT, "TIS-620", false},
    {"ISO_IR 13", SET_KATAKANA, NULL, false},
    {"ISO_IR 192", SET_NONE, "UTF-8", true},
    {"GB18030", SET_NONE, "GB18030", true},
    {"GBK", SET_NONE, "GBK", true},
};

/* ISO 2022 escape sequences (PS3.3 Tables C.12-3 and C.12-4) and the set each designates. */
static const struct escape {
	const char *seq; /* after ESC */
	bool g0;
	enum set set;
	const char *icu;
} escapes[] = {
    {"(B", true, SET_ASCII, NULL},         {"(J", true, SET_ASCII, NULL}, /* JIS X 0201 Roman, read as ASCII */
    {"$B", true, SET_JIS0208, NULL},       {"$@", true, SET_JIS0208, NULL},
    {"$(D", true, SET_JIS0212, NULL},      {")I", false, SET_KATAKANA, NULL},
    {"$)C", false, SET_KSX1001, NULL},     {"$)A", false, SET_GB2312, NULL},
    {"-A", false, SET_8BIT, "ISO-8859-1"}, {"-B", false, SET_8BIT, "ISO-8859-2"},
    {"-C", false, SET_8BIT, "ISO-8859-3"}, {"-D", false, SET_8BIT, "ISO-8859-4"},
    {"-L", false, SET_8BIT, "ISO-8859-5"}, {"-G", false, SET_8BIT, "ISO-8859-6"},
    {"-F", false, SET_8BIT, "ISO-8859-7"}, {"-H", false, SET_8BIT, "ISO-8859-8"},
    {"-M", false, SET_8BIT, "ISO-8859-9"}, {"-b", false, SET_8BIT, "ISO-8859-15"},
    {"-T", false, SET_8BIT, "TIS-620"},
};

typedef struct out {
	char *p;
	size_t len, cap;
} out;

static void put_utf8(out *o, uint32_t c)
{
	if (o->len + 5 > o->cap) /* never with the capacity dicom_text_utf8 gives; a guard only */
		return;
	if (c < 0x80) {
		o->p[o->len++] = (char)c;
	} else if (c < 0x800) {
		o->p[o->len++] = (char)(0xC0 | (c >> 6));
		o->p[o->len++] = (char)(0x80 | (c & 0x3F));
	} else if (c < 0x10000) {
		o->p[o->len++] = (char)(0xE0 | (c >> 12));
		o->p[o->len++] = (char)(0x80 | ((c >> 6) & 0x3F));
		o->p[o->len++] = (char)(0x80 | (c & 0x3F));
	} else {
		o->p[o->len++] = (char)(0xF0 | (c >> 18));
		o->p[o->len++] = (char)(0x80 | ((c >> 12) & 0x3F));
		o->p[o->len++] = (char)(0x80 | ((c >> 6) & 0x3F));
		o->p[o->len++] = (char)(0x80 | (c & 0x3F));
	}
}

#define REPLACEMENT 0xFFFDu

/* Appends the decoding of n bytes in the ICU converter name; U+FFFD for what it cannot map. At
 * most 3 output bytes per input byte plus 4, which the caller's capacity allows. */
static void put_icu(out *o, const char *name, const uint8_t *b, size_t n)
{
	UErrorCode ec = U_ZERO_ERROR;
	UConverter *cv = ucnv_open(name, &ec);
	UChar buf[512];
	if (U_FAILURE(ec) || !cv) {
		for (size_t i = 0; i < n; i++)
			put_utf8(o, REPLACEMENT);
		return;
	}
	const char *src = (const char *)b, *end = src + n;
	while (src < end) {
		UChar *t = buf;
		ec = U_ZERO_ERROR;
		ucnv_toUnicode(cv, &t, buf + sizeof buf / sizeof buf[0], &src, end, NULL, true, &ec);
		if (U_FAILURE(ec) && ec != U_BUFFER_OVERFLOW_ERROR)
			break;
		for (UChar *u = buf; u < t; u++) {
			uint32_t c = *u;
			if (c >= 0xD800 && c <= 0xDBFF && u + 1 < t && u[1] >= 0xDC00 && u[1] <= 0xDFFF) {
				c = 0x10000 + ((c - 0xD800) << 10) + (u[1] - 0xDC00);
				u++;
			} else if (c >= 0xD800 && c <= 0xDFFF) {
				c = REPLACEMENT;
			}
			if (c == 0x1A) /* ICU's substitute for an unmapped single byte */
				c = REPLACEMENT;
			put_utf8(o, c);
		}
	}
	if (src < end) /* a conversion error ICU did not substitute */
		put_utf8(o, REPLACEMENT);
	ucnv_close(cv);
}

/* One term of the Specific Character Set value, without its padding; NULL when unknown. */
static const struct term *find_term(const uint8_t *t, size_t n, bool *iso2022)
{
	char name[32];
	while (n > 0 && t[0] == ' ')
		t++, n--;
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == 0))
		n--;
	*iso2022 = false;
	if (n == 0)
		return &terms[0];
	if (n >= sizeof name)
		return NULL;
	memcpy(name, t, n);
	name[n] = 0;
	if (strncmp(name, "ISO 2022 IR ", 12) == 0) {
		/* "ISO 2022 IR nnn" is "ISO_IR nnn" with code extensions; 87, 159, 149 and 58 are
		 * designated by escape sequences only */
		*iso2022 = true;
		static const char *const extension_only[] = {"87", "159", "149", "58"};
		for (size_t i = 0; i < sizeof extension_only / sizeof extension_only[0]; i++)
			if (strcmp(name + 12, extension_only[i]) == 0)
				return &terms[0];
		char plain[32];
		size_t k = (size_t)snprintf(plain, sizeof plain, "ISO_IR %s", name + 12);
		if (k >= sizeof plain)
			return NULL;
		for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++)
			if (!terms[i].whole && strcmp(plain, terms[i].name) == 0)
				return &terms[i];
		return NULL;
	}
	for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++)
		if (strcmp(name, terms[i].name) == 0)
			return &terms[i];
	return NULL;
}

/* An escape sequence at b (n bytes, b[0] == ESC): its length, or 0 when it is unknown. */
static size_t apply_escape(state *s, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
		size_t k = strlen(escapes[i].seq);
		if (n >= 1 + k && memcmp(b + 1, escapes[i].seq, k) == 0) {
			if (escapes[i].g0) {
				s->g0 = escapes[i].set;
			} else {
				s->g1 = escapes[i].set;
				s->g1_icu = escapes[i].icu;
			}
			return 1 + k;
		}
	}
	return 0;
}

/* Is c a delimiter before which the initial sets return (PS3.5 6.1.2.5.3)? */
static bool delimiter(uint8_t c, bool pn)
{
	return (c < 0x20 && c != 0x1B) || c == '\\' || (pn && (c == '^' || c == '='));
}

/* Two bytes of a 94x94 set, as EUC bytes for ICU (JIS X 0212 takes the 0x8F prefix). */
static void put_double(out *o, enum set set, uint8_t b1, uint8_t b2)
{
	uint8_t euc[3];
	size_t k = 0;
	if (set == SET_JIS0212)
		euc[k++] = 0x8F;
	euc[k++] = (uint8_t)(b1 | 0x80);
	euc[k++] = (uint8_t)(b2 | 0x80);
	const char *name = set == SET_KSX1001 ? "EUC-KR" : set == SET_GB2312 ? "EUC-CN" : "EUC-JP";
	put_icu(o, name, euc, k);
}

static void walk(out *o, const state *initial, bool extensions, const uint8_t *v, size_t n, bool pn)
{
	state s = *initial;
	size_t i = 0;
	while (i < n) {
		uint8_t c = v[i];
		if (c == 0x1B && extensions) {
			size_t k = apply_escape(&s, v + i, n - i);
			if (k == 0) {
				put_utf8(o, REPLACEMENT);
				k = 1;
			}
			i += k;
			continue;
		}
		bool two_byte_g0 = s.g0 == SET_JIS0208 || s.g0 == SET_JIS0212;
		if (c < 0x80 && (!two_byte_g0 || c < 0x21 || c == 0x7F)) {
			if (extensions && delimiter(c, pn))
				s = *initial;
			put_utf8(o, c);
			i++;
		} else if (c < 0x80) { /* a 94x94 character in G0 */
			if (i + 1 < n && v[i + 1] >= 0x21 && v[i + 1] <= 0x7E)
				put_double(o, s.g0, c, v[i + 1]), i += 2;
			else
				put_utf8(o, REPLACEMENT), i++;
		} else if (s.g1 == SET_8BIT) {
			put_icu(o, s.g1_icu, v + i, 1);
			i++;
		} else if (s.g1 == SET_KATAKANA) {
			put_utf8(o, c >= 0xA1 && c <= 0xDF ? 0xFF61u + (c - 0xA1u) : REPLACEMENT);
			i++;
		} else if ((s.g1 == SET_KSX1001 || s.g1 == SET_GB2312) && c >= 0xA1 && c <= 0xFE && i + 1 < n &&
		           v[i + 1] >= 0xA1 && v[i + 1] <= 0xFE) {
			put_double(o, s.g1, c & 0x7F, v[i + 1] & 0x7F);
			i += 2;
		} else {
			put_utf8(o, REPLACEMENT);
			i++;
		}
	}
}

char *dicom_text_utf8(const uint8_t *cs, size_t cs_len, const uint8_t *v, size_t n, bool pn, size_t *out_len,
                      bool *known)
{
	*known = true;
	state initial = {SET_ASCII, SET_NONE, NULL};
	const struct term *whole = NULL;
	bool extensions = false;
	/* value 1 gives the initial sets; later values only name what escapes may designate */
	for (size_t start = 0, k = 0, index = 0; cs && k <= cs_len; k++) {
		if (k < cs_len && cs[k] != '\\')
			continue;
		bool iso2022;
		const struct term *t = find_term(cs + start, k - start, &iso2022);
		if (!t)
			*known = false;
		extensions |= iso2022;
		if (t && index == 0) {
			if (t->whole)
				whole = t;
			else
				initial.g1 = t->g1, initial.g1_icu = t->icu;
		}
		if (t && t->whole && index > 0)
			*known = false; /* UTF-8, GB18030 and GBK allow no other value (PS3.3 C.12.1.1.2) */
		start = k + 1;
		index++;
	}
	if (n > (SIZE_MAX - 8) / 4)
		return NULL;
	out o = {malloc(4 * n + 8), 0, 4 * n + 8};
	if (!o.p)
		return NULL;
	if (whole && !extensions)
		put_icu(&o, whole->icu, v, n);
	else
		walk(&o, &initial, extensions, v, n, pn);
	o.p[o.len] = 0;
	*out_len = o.len;
	return o.p;
}
