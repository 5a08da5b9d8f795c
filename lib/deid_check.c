/*
 * deid_check.c: may this DICOM file be marked de-identified? mc_deid_check walks the file once
 * through the streaming reader and asks, for every attribute at every depth, what mc_deid would
 * do with it (mc_deid_decide, over the table of deid_profile.c): what it removes must be absent,
 * what it empties must be empty, what it replaces by a dummy must hold that dummy or nothing.
 * Private attributes, identifying file meta elements, Patient Identity Removed and Burned In
 * Annotation are checked beside the table. The first finding stops the walk; the report names
 * the attribute by tag and keyword and never carries its value.
 */
#include <ctype.h>
#include <medcrypt/deid.h>
#include <medcrypt/dicom.h>
#include <stdio.h>
#include <string.h>

#include "deid_internal.h"
#include "internal.h"

#define TAG(g, e)                    (((uint32_t)(g) << 16) | (uint32_t)(e))
#define TAG_PATIENT_IDENTITY_REMOVED TAG(0x0012, 0x0062)
#define TAG_DEID_METHOD              TAG(0x0012, 0x0063)
#define TAG_DEID_METHOD_CODES        TAG(0x0012, 0x0064)
#define TAG_CODE_VALUE               TAG(0x0008, 0x0100)
#define TAG_BURNED_IN_ANNOTATION     TAG(0x0028, 0x0301)
#define TAG_PIXEL_DATA               TAG(0x7FE0, 0x0010)
#define CLEAN_PIXEL_DATA_CODE        "113101"

/* Keywords of what the check names beside the table's rows. */
static const struct {
	uint32_t tag;
	const char *keyword;
} extra_keywords[] = {
    {TAG(0x0002, 0x0016), "SourceApplicationEntityTitle"},
    {TAG(0x0002, 0x0017), "SendingApplicationEntityTitle"},
    {TAG(0x0002, 0x0018), "ReceivingApplicationEntityTitle"},
    {TAG(0x0002, 0x0100), "PrivateInformationCreatorUID"},
    {TAG(0x0002, 0x0102), "PrivateInformation"},
    {TAG_PATIENT_IDENTITY_REMOVED, "PatientIdentityRemoved"},
    {TAG_DEID_METHOD, "DeidentificationMethod"},
    {TAG_DEID_METHOD_CODES, "DeidentificationMethodCodeSequence"},
    {TAG_BURNED_IN_ANNOTATION, "BurnedInAnnotation"},
    {TAG(0x0400, 0x0500), "EncryptedAttributesSequence"},
    {TAG_PIXEL_DATA, "PixelData"},
};

const char *mc_deid_keyword(uint32_t tag)
{
	for (size_t i = 0; i < sizeof extra_keywords / sizeof extra_keywords[0]; i++)
		if (extra_keywords[i].tag == tag)
			return extra_keywords[i].keyword;
	const mc_deid_rule *r = mc_deid_rule_for(tag);
	return r ? r->keyword : NULL;
}

typedef struct check {
	mc_deid_report *report;
	uint64_t total;
	bool found, identity_seen, bia_no, regions_cleaned;
	/* the open sequences by depth: their tags and what the profile does with them */
	uint32_t seq_tag[MC_DICOM_MAX_DEPTH + 2];
	mc_deid_effect seq_effect[MC_DICOM_MAX_DEPTH + 2];
	/* inside a sequence found identifying (at this depth): its contents are not judged again */
	unsigned skip;
	bool stopped_at_pixels;
} check;

#define NO_SKIP UINT32_MAX

static bool skipped(const check *c, unsigned depth)
{
	return c->skip != NO_SKIP && depth > c->skip;
}

/* Records a finding for tag at depth (the enclosing top-level sequence is seq_tag[0]): the first
 * in full, the others counted and listed in report->also as far as it goes. Returns 1. */
static int found(check *c, mc_deid_finding what, uint32_t tag, unsigned depth, const char *why)
{
	mc_deid_report *r = c->report;
	const char *kw = mc_deid_keyword(tag);
	r->n_findings++;
	if (c->found) {
		char one[100];
		size_t n = strlen(r->also);
		int k = snprintf(one, sizeof one, "%s(%04X,%04X)%s%s", n ? ", " : "", (unsigned)(tag >> 16),
		                 (unsigned)(tag & 0xFFFF), kw ? " " : "", kw ? kw : "");
		if (k > 0 && (size_t)k < sizeof r->also - n)
			memcpy(r->also + n, one, (size_t)k + 1);
		return 1;
	}
	c->found = true;
	r->finding = what;
	r->tag = tag;
	r->depth = depth;
	snprintf(r->keyword, sizeof r->keyword, "%s", kw ? kw : "");
	char where[160] = "";
	if (depth > 0) {
		const char *top = mc_deid_keyword(c->seq_tag[0]);
		r->top_tag = c->seq_tag[0];
		snprintf(r->top_keyword, sizeof r->top_keyword, "%s", top ? top : "");
		snprintf(where, sizeof where, " inside (%04X,%04X)%s%s", (unsigned)(r->top_tag >> 16),
		         (unsigned)(r->top_tag & 0xFFFF), top ? " " : "", top ? top : "");
	}
	snprintf(r->message, sizeof r->message, "(%04X,%04X)%s%s%s %s", (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF),
	         kw ? " " : "", kw ? kw : "", where, why);
	return 1;
}

/* VRs whose values are text, padded with spaces (UI: with a NUL). */
static bool text_vr(const char *vr)
{
	static const char texts[][3] = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT",
	                                "PN", "SH", "ST", "TM", "UC", "UI", "UN", "UR", "UT"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (memcmp(vr, texts[i], 2) == 0)
			return true;
	return false;
}

/* The value of el without leading and trailing padding (spaces, NULs): *start and *len. */
static void trimmed(const mc_dicom_element *el, size_t *start, size_t *len)
{
	size_t a = 0, b = el->value ? el->length : 0;
	while (a < b && (el->value[a] == ' ' || el->value[a] == 0))
		a++;
	while (b > a && (el->value[b - 1] == ' ' || el->value[b - 1] == 0))
		b--;
	*start = a;
	*len = b - a;
}

/* No value: zero length, or (text) nothing but padding. */
static bool is_empty(const mc_dicom_element *el, const char *vr)
{
	if (el->length == 0)
		return true;
	if (!el->value || !text_vr(vr))
		return false;
	size_t a, n;
	trimmed(el, &a, &n);
	return n == 0;
}

/* Every value of a UI element is a 2.25 UID (the form of mc_deid's mapped UIDs). */
static bool mapped_uids(const mc_dicom_element *el)
{
	if (!el->value)
		return false;
	size_t a, n;
	trimmed(el, &a, &n);
	const uint8_t *v = el->value + a;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != '\\')
			continue;
		const uint8_t *u = v + start;
		size_t k = i - start;
		while (k > 0 && u[0] == ' ')
			u++, k--;
		while (k > 0 && (u[k - 1] == ' ' || u[k - 1] == 0))
			k--;
		if (k > 0 && (k <= 5 || memcmp(u, "2.25.", 5) != 0)) /* an empty value stays empty */
			return false;
		for (size_t j = 5; j < k; j++)
			if (!isdigit(u[j]))
				return false;
		start = i + 1;
	}
	return true;
}

/* The value is mc_deid's dummy for vr. */
static bool is_dummy(const mc_dicom_element *el, const char *vr)
{
	if (!el->value)
		return false;
	if (memcmp(vr, "UI", 2) == 0)
		return mapped_uids(el);
	const uint8_t *d;
	uint32_t dlen;
	mc_deid_dummy(vr, &d, &dlen);
	if (!text_vr(vr))
		return el->length == dlen && memcmp(el->value, d, dlen) == 0;
	size_t a, n;
	trimmed(el, &a, &n);
	while (dlen > 0 && d[dlen - 1] == ' ')
		dlen--;
	return n == dlen && memcmp(el->value + a, d, n) == 0;
}

/* The value, trimmed, equals word (ASCII case-insensitive when fold). */
static bool value_is(const mc_dicom_element *el, const char *word, bool fold)
{
	if (!el->value)
		return false;
	size_t a, n;
	trimmed(el, &a, &n);
	if (n != strlen(word))
		return false;
	for (size_t i = 0; i < n; i++) {
		int x = el->value[a + i], y = (unsigned char)word[i];
		if (fold ? toupper(x) != toupper(y) : x != y)
			return false;
	}
	return true;
}

/* Inside a sequence the profile empties or replaces by an empty item: the first thing in it is a
 * finding on the sequence, and the rest of it is skipped. 1 when found. */
static int inside(check *c, unsigned depth, bool item)
{
	if (depth == 0)
		return 0;
	mc_deid_effect e = c->seq_effect[depth - 1];
	uint32_t tag = c->seq_tag[depth - 1];
	int f = 0;
	if (e == MC_DEID_EMPTY && item)
		f = found(c, MC_DEID_FOUND_NOT_EMPTY, tag, depth - 1,
		          "has items: the de-identification profile empties this sequence");
	if (e == MC_DEID_DUMMY && !item)
		f = found(c, MC_DEID_FOUND_NOT_DUMMY, tag, depth - 1,
		          "has items with attributes: the de-identification profile leaves at most one empty item "
		          "in this sequence");
	if (f)
		c->skip = depth - 1;
	return f;
}

/* The file meta group: only its AE titles and private information identify anything. */
static int meta_element(check *c, const mc_dicom_element *el)
{
	uint32_t tag = TAG(el->group, el->element);
	bool identifying =
	    (el->element >= 0x0016 && el->element <= 0x0018) || el->element == 0x0100 || el->element == 0x0102;
	if (identifying && !is_empty(el, el->vr))
		return found(c, MC_DEID_FOUND_META, tag, 0,
		             "is present in the file meta group: it names a station or carries private information");
	return 0;
}

/* The effect for an attribute: mc_deid's, except where removing is about something else than
 * identification (group lengths; overlay attributes other than those the table lists). */
static mc_deid_effect effect_of(uint16_t group, uint16_t element, unsigned depth, bool sequence, const char **vr)
{
	*vr = NULL;
	if (group % 2 == 0 && element == 0)
		return MC_DEID_KEEP;
	if (group >= 0x6000 && group <= 0x60FF) {
		const mc_deid_rule *r = mc_deid_rule_for(TAG(group, element));
		if (!r)
			return MC_DEID_KEEP;
		*vr = r->vr;
		return MC_DEID_REMOVE; /* (60xx,3000) and (60xx,4000) are X */
	}
	return mc_deid_decide(group, element, depth, sequence, vr);
}

/* Judges an element or a sequence: 0, or 1 when it is a finding itself, 2 when the sequence it is
 * in is. */
static int judge(check *c, const mc_dicom_element *el, bool sequence)
{
	uint32_t tag = TAG(el->group, el->element);
	if (inside(c, el->depth, false))
		return 2;
	if (el->group % 2 == 1)
		return found(c, MC_DEID_FOUND_PRIVATE, tag, el->depth,
		             "is a private attribute: the de-identification profile removes every private attribute");
	const char *table_vr;
	mc_deid_effect e = effect_of(el->group, el->element, el->depth, sequence, &table_vr);
	if (sequence) {
		c->seq_tag[el->depth] = tag;
		c->seq_effect[el->depth] = e;
	}
	const char *vr = sequence ? "SQ" : mc_deid_vr_of(el, table_vr);
	switch (e) {
	case MC_DEID_KEEP:
	case MC_DEID_NEW_UID:
	case MC_DEID_INSERTED: return 0;
	case MC_DEID_REMOVE:
		return found(c, MC_DEID_FOUND_PRESENT, tag, el->depth,
		             "is present: the de-identification profile removes it (PS3.15 Table E.1-1)");
	case MC_DEID_EMPTY:
		if (sequence || is_empty(el, vr))
			return 0; /* a sequence's items are judged as they come (inside) */
		return found(c, MC_DEID_FOUND_NOT_EMPTY, tag, el->depth,
		             "holds a value: the de-identification profile empties it (PS3.15 Table E.1-1)");
	case MC_DEID_DUMMY:
		if (sequence || is_empty(el, vr) || is_dummy(el, vr))
			return 0;
		return found(c, MC_DEID_FOUND_NOT_DUMMY, tag, el->depth,
		             "holds a value other than a dummy: the de-identification profile replaces it "
		             "(PS3.15 Table E.1-1)");
	}
	return 0;
}

static int ck_element(void *ctx, const mc_dicom_element *el)
{
	check *c = ctx;
	uint32_t tag = TAG(el->group, el->element);
	if (skipped(c, el->depth))
		return 0;
	if (el->depth == 0 && el->group == 0x0002) {
		meta_element(c, el);
		return 0;
	}
	if (judge(c, el, false))
		return 0;
	if (el->depth == 0 && tag == TAG_PATIENT_IDENTITY_REMOVED) {
		c->identity_seen = true;
		if (!value_is(el, "YES", false))
			found(c, MC_DEID_FOUND_NOT_REMOVED, tag, 0,
			      "is not YES: the file does not say that the patient's identity was removed");
	}
	if (el->depth == 0 && tag == TAG_BURNED_IN_ANNOTATION) {
		if (value_is(el, "YES", true))
			found(c, MC_DEID_FOUND_BURNED_IN, tag, 0,
			      "is YES: the pixels show identifying text; blank those regions first");
		c->bia_no = value_is(el, "NO", true);
	}
	if (el->depth == 1 && c->seq_tag[0] == TAG_DEID_METHOD_CODES && tag == TAG_CODE_VALUE &&
	    value_is(el, CLEAN_PIXEL_DATA_CODE, false))
		c->regions_cleaned = true;
	/* Native Pixel Data that ends the file: nothing after it to check, and its bytes need not be
	 * read (the reader has checked the length against the file's size). */
	if (el->depth == 0 && tag == TAG_PIXEL_DATA && el->length != MC_DICOM_UNDEFINED_LENGTH &&
	    c->total != MC_DICOM_SIZE_UNKNOWN && el->value_offset + el->length == c->total) {
		c->stopped_at_pixels = true;
		return 1;
	}
	return 0;
}

static int ck_sequence_start(void *ctx, const mc_dicom_element *el)
{
	check *c = ctx;
	if (!skipped(c, el->depth) && judge(c, el, true) == 1)
		c->skip = el->depth; /* what is inside a sequence found is not listed again */
	return 0;
}

static int ck_sequence_end(void *ctx, unsigned depth)
{
	check *c = ctx;
	if (c->skip == depth)
		c->skip = NO_SKIP;
	return 0;
}

static int ck_item_start(void *ctx, uint32_t length, unsigned depth)
{
	check *c = ctx;
	(void)length;
	if (!skipped(c, depth))
		inside(c, depth, true);
	return 0;
}

static int ck_chunk(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx, (void)bytes, (void)len;
	return 0; /* large values are only read past */
}

mc_status mc_deid_check(mc_input in, uint64_t total, mc_deid_report *report, mc_err *err)
{
	if (!report)
		return mc_fail(err, MC_ERR_MISUSE, "deid check: no report");
	memset(report, 0, sizeof *report);
	check *c = calloc(1, sizeof *c);
	if (!c)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	c->report = report;
	c->total = total;
	c->skip = NO_SKIP;
	mc_dicom_visitor v = {ck_element, ck_sequence_start, ck_sequence_end, ck_item_start, NULL, NULL};
	/* chunked: a large value is reported before it is read, so the walk can stop at Pixel Data */
	mc_status st = mc_dicom_parse_chunked(in, total, &v, ck_chunk, c, err);
	if (st == MC_ERR_CANCELLED && c->stopped_at_pixels)
		st = MC_OK;
	if (st == MC_OK && !c->identity_seen)
		found(c, MC_DEID_FOUND_NOT_REMOVED, TAG_PATIENT_IDENTITY_REMOVED, 0,
		      "is absent: the file does not say that the patient's identity was removed");
	if (st == MC_OK && !c->found)
		report->pixels = c->regions_cleaned ? MC_DEID_PIXELS_REGIONS_CLEANED
		                 : c->bia_no        ? MC_DEID_PIXELS_NO_BURNED_IN
		                                    : MC_DEID_PIXELS_NOT_STATED;
	if (st != MC_OK)
		memset(report, 0, sizeof *report);
	free(c);
	return st == MC_OK ? mc_ok(err) : st;
}
