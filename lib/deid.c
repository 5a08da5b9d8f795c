/*
 * deid.c: de-identification (PS3.15 Annex E.1.1) and re-identification (E.1.2) of DICOM files,
 * as deid.h describes. Two passes over the input, both streaming through the reader's chunked
 * mode. The first (collect) decides every attribute's action with the same function the second
 * uses, and encodes the original of every changed top-level attribute, and of every top-level
 * sequence with anything changed inside, into the Modified Attributes Sequence; that dataset is
 * sealed as CMS EnvelopedData for the recipients. The second (emit) writes the de-identified file
 * and inserts (0012,0062..0064) and (0400,0500) at their places in tag order. Sequences that
 * change are written with undefined lengths; everything else keeps its encoding byte for byte.
 * Re-identification decrypts the Encrypted Content, splits the Modified Attributes Sequence's
 * item into one encoded attribute each, and merges them back in tag order.
 */
#include <errno.h>
#include <medcrypt/deid.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid_internal.h"
#include "internal.h"

#define TAG(g, e)                    (((uint32_t)(g) << 16) | (uint32_t)(e))
#define TAG_PATIENT_IDENTITY_REMOVED TAG(0x0012, 0x0062)
#define TAG_DEID_METHOD              TAG(0x0012, 0x0063)
#define TAG_DEID_METHOD_CODES        TAG(0x0012, 0x0064)
#define TAG_ENCRYPTED_ATTRIBUTES     TAG(0x0400, 0x0500)
#define TAG_ENCRYPTED_TS             TAG(0x0400, 0x0510)
#define TAG_ENCRYPTED_CONTENT        TAG(0x0400, 0x0520)
#define TAG_MODIFIED_ATTRIBUTES      TAG(0x0400, 0x0550)
#define TAG_SOP_INSTANCE_UID         TAG(0x0008, 0x0018)
#define TAG_BURNED_IN_ANNOTATION     TAG(0x0028, 0x0301)
#define TAG_PIXEL_DATA               TAG(0x7FE0, 0x0010)
#define TAG_REGIONS_CREATOR          TAG(0x7FD1, 0x0010)
#define TAG_REGIONS_RECORD           TAG(0x7FD1, 0x1001)
#define UID_LABEL                    "medcrypt deid uid v1"

/* ---- growable buffers with a ceiling; wiped when freed (they hold patient data) */

typedef struct buf {
	uint8_t *p;
	size_t len, cap, max;
	bool over; /* a write was refused for crossing max */
} buf;

static int buf_write(void *ctx, const uint8_t *b, size_t n)
{
	buf *m = ctx;
	if (n > m->max - m->len) {
		m->over = true;
		errno = EFBIG;
		return -1;
	}
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + n)
			cap *= 2;
		uint8_t *p = malloc(cap);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		if (m->p) {
			memcpy(p, m->p, m->len);
			mc_wipe(m->p, m->cap);
			free(m->p);
		}
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, b, n);
	m->len += n;
	return 0;
}

static void buf_reset(buf *m)
{
	if (m->p)
		mc_wipe(m->p, m->cap);
	free(m->p);
	m->p = NULL;
	m->len = m->cap = 0;
	m->over = false;
}

typedef struct memin {
	const uint8_t *p;
	size_t len, pos;
} memin;

static long memin_read(void *ctx, uint8_t *b, size_t n)
{
	memin *m = ctx;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	memcpy(b, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

/* The status of a parse run with its own error record perr, whose callbacks may have stopped it
 * with an error of their own (already in err): that one wins; else the reader's is copied. */
static mc_status parse_result(mc_status st, mc_status callback_st, const mc_err *perr, mc_err *err)
{
	if (st == MC_ERR_CANCELLED && callback_st != MC_OK)
		return callback_st;
	if (st != MC_OK && err)
		*err = *perr;
	return st;
}

/* ---- UIDs */

mc_status mc_deid_map_uid(const uint8_t key[MC_DEID_UID_KEY_LEN], const char *uid, size_t len, char out[64],
                          mc_err *err)
{
	while (len > 0 && (uid[len - 1] == 0 || uid[len - 1] == ' '))
		len--;
	if (len == 0 || len > 64)
		return mc_fail(err, MC_ERR_MISUSE, "a UID to map is empty or longer than 64 characters");
	uint8_t msg[sizeof UID_LABEL + 64], mac[FMT_MAC_LEN];
	memcpy(msg, UID_LABEL, sizeof UID_LABEL); /* the label and its NUL */
	memcpy(msg + sizeof UID_LABEL, uid, len);
	mc_status st = mc_hmac(key, msg, sizeof UID_LABEL + len, mac, err);
	if (st != MC_OK)
		return st;
	/* the first 16 bytes as a big-endian integer, in decimal (PS3.5 B.2: 2.25.<UUID as integer>) */
	uint8_t n[16];
	memcpy(n, mac, 16);
	char digits[40];
	int nd = 0;
	bool zero;
	do {
		unsigned rem = 0;
		zero = true;
		for (int i = 0; i < 16; i++) {
			unsigned cur = (rem << 8) | n[i];
			n[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
			if (n[i])
				zero = false;
		}
		digits[nd++] = (char)('0' + rem);
	} while (!zero);
	memcpy(out, "2.25.", 5);
	for (int i = 0; i < nd; i++)
		out[5 + i] = digits[nd - 1 - i];
	out[5 + nd] = 0;
	mc_wipe(msg, sizeof msg);
	return MC_OK;
}

/* Maps a multi-valued UI value (values separated by '\\') into dst (at most cap bytes, padded
 * with a NUL to an even length); *dst_len gets the length. A value whose mapped form does not
 * fit, separators and pad included, is refused as malformed: UI values are at most 64 bytes
 * each (PS3.5 6.2), so a long run of them is not a real file. */
static mc_status map_uids(const uint8_t *key, const uint8_t *v, size_t len, uint8_t *dst, size_t cap, uint32_t *dst_len,
                          mc_err *err)
{
	mc_outbuf out = mc_outbuf_of(dst, cap);
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != '\\')
			continue;
		char mapped[64];
		size_t k = i - start;
		const char *u = (const char *)v + start;
		while (k > 0 && (u[0] == ' '))
			u++, k--;
		while (k > 0 && (u[k - 1] == ' ' || u[k - 1] == 0))
			k--;
		if (k > 64)
			return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: a UID of more than 64 characters");
		if (k > 0) {
			mc_status st = mc_deid_map_uid(key, u, k, mapped, err);
			if (st != MC_OK)
				return st;
			if (!mc_outbuf_put(&out, mapped, strlen(mapped)))
				goto too_long;
		}
		if (i < len && !mc_outbuf_byte(&out, '\\'))
			goto too_long;
		start = i + 1;
	}
	if (out.len % 2 && !mc_outbuf_byte(&out, 0))
		goto too_long;
	*dst_len = (uint32_t)out.len;
	return MC_OK;
too_long:
	return mc_fail(err, MC_ERR_HEADER, "malformed DICOM: a UID value holds more UIDs than fit in %zu bytes", cap);
}

/* ---- the action of PS3.15 Table E.1-1 for one attribute */

const mc_deid_rule *mc_deid_rule_for(uint32_t tag)
{
	size_t lo = 0, hi = mc_deid_n_rules;
	while (lo < hi) { /* the rows without a mask, by binary search */
		size_t mid = (lo + hi) / 2;
		if (mc_deid_rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < mc_deid_n_rules && mc_deid_rules[lo].tag == tag && mc_deid_rules[lo].mask == 0xFFFFFFFFu)
		return &mc_deid_rules[lo];
	for (size_t i = 0; i < mc_deid_n_rules; i++)
		if (mc_deid_rules[i].mask != 0xFFFFFFFFu && (tag & mc_deid_rules[i].mask) == mc_deid_rules[i].tag)
			return &mc_deid_rules[i];
	return NULL;
}

/* The combined codes are resolved toward conformance without an IOD table: X/Z and X/Z/U* to Z
 * (a Type 2 attribute stays present), X/D, Z/D and X/Z/D to D (a Type 1 attribute stays
 * valued); for sequences X/D is X and Z/D, X/Z/D are Z, X/Z/U* keeps the sequence and applies
 * the table to its items (U* is "replace the UIDs inside"). */
mc_deid_effect mc_deid_decide(uint16_t group, uint16_t element, unsigned depth, bool sequence, const char **vr)
{
	uint32_t tag = TAG(group, element);
	*vr = NULL;
	if (group % 2 == 1)
		return MC_DEID_REMOVE; /* private attributes and their creators (E.3.8 is an option, not used) */
	if (element == 0 && group != 0x0002)
		return MC_DEID_REMOVE; /* group lengths: retired, and wrong once anything in the group changes */
	if (group >= 0x6000 && group <= 0x60FF)
		return MC_DEID_REMOVE; /* overlays: the table removes (60xx,3000) and (60xx,4000); the rest of an
		                  overlay is useless without them */
	if (depth == 0 &&
	    (tag == TAG_PATIENT_IDENTITY_REMOVED || tag == TAG_DEID_METHOD || tag == TAG_DEID_METHOD_CODES))
		return MC_DEID_INSERTED;
	const mc_deid_rule *r = mc_deid_rule_for(tag);
	if (!r)
		return MC_DEID_KEEP;
	*vr = r->vr;
	switch (r->action) {
	case MC_DEID_X: return MC_DEID_REMOVE;
	case MC_DEID_Z:
	case MC_DEID_X_Z: return MC_DEID_EMPTY;
	case MC_DEID_D: return MC_DEID_DUMMY;
	case MC_DEID_U: return sequence ? MC_DEID_KEEP : MC_DEID_NEW_UID;
	case MC_DEID_X_D: return sequence ? MC_DEID_REMOVE : MC_DEID_DUMMY;
	case MC_DEID_Z_D:
	case MC_DEID_X_Z_D: return sequence ? MC_DEID_EMPTY : MC_DEID_DUMMY;
	case MC_DEID_X_Z_U: return sequence ? MC_DEID_KEEP : MC_DEID_EMPTY;
	}
	return MC_DEID_KEEP;
}

/* A dummy value for a VR: valid, non-empty, identifying nothing. */
void mc_deid_dummy(const char *vr, const uint8_t **v, uint32_t *len)
{
	static const struct {
		const char *vr, *value;
		uint32_t len;
	} dummies[] = {
	    {"DA", "19000101", 8},
	    {"DT", "19000101000000", 14},
	    {"TM", "000000", 6},
	    {"AS", "000Y", 4},
	    {"DS", "0 ", 2},
	    {"IS", "0 ", 2},
	    {"UR", "urn:anonymized", 14},
	    {"US", "\0\0", 2},
	    {"SS", "\0\0", 2},
	    {"UL", "\0\0\0\0", 4},
	    {"SL", "\0\0\0\0", 4},
	    {"FL", "\0\0\0\0", 4},
	    {"AT", "\0\0\0\0", 4},
	    {"FD", "\0\0\0\0\0\0\0\0", 8},
	    {"SV", "\0\0\0\0\0\0\0\0", 8},
	    {"UV", "\0\0\0\0\0\0\0\0", 8},
	    {"OB", "\0\0\0\0\0\0\0\0", 8},
	    {"OW", "\0\0\0\0\0\0\0\0", 8},
	    {"OD", "\0\0\0\0\0\0\0\0", 8},
	    {"OF", "\0\0\0\0\0\0\0\0", 8},
	    {"OL", "\0\0\0\0\0\0\0\0", 8},
	    {"OV", "\0\0\0\0\0\0\0\0", 8},
	};
	for (size_t i = 0; i < sizeof dummies / sizeof dummies[0]; i++)
		if (strcmp(vr, dummies[i].vr) == 0) {
			*v = (const uint8_t *)dummies[i].value;
			*len = dummies[i].len;
			return;
		}
	*v = (const uint8_t *)"ANONYMIZED"; /* AE CS LO LT PN SH ST UC UT, and UN */
	*len = 10;
}

/* The VR to write: the file's, or in implicit VR (where the reader says UN) the table's; never
 * SQ for an element the reader did not see as a sequence (its value is then bytes). */
const char *mc_deid_vr_of(const mc_dicom_element *el, const char *table_vr)
{
	if (strcmp(el->vr, "UN") == 0 && table_vr && strcmp(table_vr, "UN") != 0 && strcmp(table_vr, "SQ") != 0)
		return table_vr;
	return el->vr;
}

static bool is_implicit(const char *ts)
{
	return strcmp(ts, MC_DICOM_TS_IMPLICIT_LE) == 0;
}

/* VRs with a 2-byte length in explicit VR (PS3.5 7.1.2), which cannot hold more than 65535 bytes. */
static bool short_vr(const char *vr)
{
	static const char shorts[][3] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO",
	                                 "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
	for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++)
		if (memcmp(vr, shorts[i], 2) == 0)
			return true;
	return false;
}

/* The VR of an original of an implicit VR file in the Encrypted Content, which is always
 * explicit VR little endian (PS3.3 C.12.1.1.4.1): the table's, UL for a group length, LO for a
 * private creator, else UN (PS3.5 6.2.2), which is also what a value too long for its VR's
 * 2-byte length becomes. (An explicit VR file's originals keep their own VRs.) */
static const char *content_vr(const mc_dicom_element *el, const char *table_vr)
{
	const char *vr = mc_deid_vr_of(el, table_vr);
	if (strcmp(vr, "UN") == 0 && el->element == 0x0000)
		vr = "UL";
	else if (strcmp(vr, "UN") == 0 && el->group % 2 == 1 && el->element >= 0x0010 && el->element <= 0x00FF)
		vr = "LO";
	if (short_vr(vr) && el->length != MC_DICOM_UNDEFINED_LENGTH && el->length > 0xFFFF)
		vr = "UN";
	return vr;
}

/* The file meta group is copied into a new one, which must be in ascending order (PS3.5 7.1). */
static mc_status meta_disorder(mc_err *err, uint16_t element, uint16_t after)
{
	return mc_fail(err, MC_ERR_HEADER,
	               "malformed DICOM: (0002,%04X) is out of order in the file meta group (after (0002,%04X))",
	               (unsigned)element, (unsigned)after);
}

/* (0002,0010) without its padding. */
static void read_ts(const mc_dicom_element *el, char ts[65])
{
	size_t n = el->value ? el->length : 0;
	if (n > 64)
		n = 64;
	memcpy(ts, el->value ? (const char *)el->value : "", n);
	while (n > 0 && (ts[n - 1] == 0 || ts[n - 1] == ' '))
		n--;
	ts[n] = 0;
}

/* Is (0002,0002) the Media Storage Directory Storage SOP Class (PS3.10 8.6)? */
static bool is_dicomdir(const mc_dicom_element *el)
{
	static const char dicomdir[] = "1.2.840.10008.1.3.10";
	size_t n = el->value ? el->length : 0;
	while (n > 0 && (el->value[n - 1] == 0 || el->value[n - 1] == ' '))
		n--;
	return n == sizeof dicomdir - 1 && memcmp(el->value, dicomdir, n) == 0;
}

/* ---- pass 1: collect the originals */

typedef struct collect {
	mc_err *err;
	mc_status st;
	char ts[65];
	bool big_endian, dataset_started, has_regions;
	uint32_t last_tag;
	/* the top-level element being kept in case it changes */
	bool buffering, top_modified, top_sequence;
	uint32_t top_tag;
	buf elem;
	mc_fwd fwd;
	/* what goes into the Modified Attributes Sequence */
	buf mas;
	uint32_t *modified_sequences;
	size_t n_modified_sequences, cap_modified_sequences;
	/* --region: the pixel module, the walk and the original region pixels (FORMAT.md §14) */
	const mc_deid_params *params;
	mc_deid_pixels px;
	bool have_pixels, in_pixels, bia_present;
	uint8_t *saved; /* px.saved_len bytes; patient data, wiped when freed */
	/* the size of the input when known; pass 1 stops at native Pixel Data that ends the file */
	uint64_t total;
	bool stopped_at_pixels;
	uint8_t piece[MC_DICOM_VALUE_CAP + 2];
} collect;

static int c_fail(collect *c, mc_status st)
{
	if (c->st == MC_OK)
		c->st = st;
	return st != MC_OK;
}

/* Ends the top-level element being kept: into the originals if it changed. */
static int c_finish_top(collect *c)
{
	if (!c->buffering)
		return 0;
	c->buffering = false;
	mc_status st = mc_dicom_writer_finish(c->fwd.w, c->err);
	mc_dicom_writer_free(c->fwd.w);
	c->fwd.w = NULL;
	if (st != MC_OK)
		return c_fail(c, c->elem.over ? mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                                        "the original attributes to encrypt exceed %u MiB",
		                                        MC_DEID_MAX_ENCRYPTED >> 20)
		                              : st);
	if (c->top_modified) {
		if (buf_write(&c->mas, c->elem.p, c->elem.len) != 0)
			return c_fail(c, mc_fail(c->err, c->mas.over ? MC_ERR_UNSUPPORTED : MC_ERR_NOMEM,
			                         "the original attributes to encrypt exceed %u MiB",
			                         MC_DEID_MAX_ENCRYPTED >> 20));
		if (c->top_sequence) {
			if (c->n_modified_sequences == c->cap_modified_sequences) {
				size_t cap = c->cap_modified_sequences ? c->cap_modified_sequences * 2 : 16;
				uint32_t *p = realloc(c->modified_sequences, cap * sizeof *p);
				if (!p)
					return c_fail(c, mc_fail(c->err, MC_ERR_NOMEM, "out of memory"));
				c->modified_sequences = p;
				c->cap_modified_sequences = cap;
			}
			c->modified_sequences[c->n_modified_sequences++] = c->top_tag;
		}
	}
	buf_reset(&c->elem);
	c->elem.max = MC_DEID_MAX_ENCRYPTED;
	return 0;
}

/* Starts a top-level element: checks the order, and keeps it when it may change. */
static int c_start_top(collect *c, uint32_t tag, bool sequence, bool keep)
{
	if (c_finish_top(c))
		return 1;
	if (c->dataset_started && tag <= c->last_tag)
		return c_fail(c,
		              mc_fail(c->err, MC_ERR_HEADER,
		                      "malformed DICOM: (%04X,%04X) is out of order in the dataset (after (%04X,%04X))",
		                      (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF), (unsigned)(c->last_tag >> 16),
		                      (unsigned)(c->last_tag & 0xFFFF)));
	if (tag == TAG_ENCRYPTED_ATTRIBUTES)
		return c_fail(c, mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                         "the file already has an Encrypted Attributes Sequence (0400,0500): it was "
		                         "de-identified before (medcrypt reid restores it)"));
	c->dataset_started = true;
	c->last_tag = tag;
	c->top_tag = tag;
	c->top_sequence = sequence;
	c->top_modified = !keep;
	if (!sequence && keep)
		return 0; /* kept as it is: nothing to remember */
	mc_output o = {buf_write, &c->elem};
	mc_status st = mc_dicom_writer_new(o, &c->fwd.w, c->err);
	if (st != MC_OK)
		return c_fail(c, st);
	mc_dicom_writer_set_explicit(c->fwd.w, true); /* PS3.3 C.12.1.1.4.1: explicit VR little endian */
	mc_dicom_writer_swap(c->fwd.w, c->big_endian);
	c->fwd.st = MC_OK;
	c->fwd.open = 0;
	c->buffering = true;
	return 0;
}

static int c_forward(collect *c, int r)
{
	if (r)
		return c_fail(c, c->fwd.st);
	return 0;
}

/* A US value of the file's byte order. In a big endian file only with the VR US: the writer
 * swaps a value by its VR, so a US attribute with another VR would read differently once
 * written little endian. */
static bool us_value(const mc_dicom_element *el, unsigned *v)
{
	if (!el->value || el->length != 2 || (el->big_endian && strcmp(el->vr, "US") != 0))
		return false;
	*v = el->big_endian ? (unsigned)((el->value[0] << 8) | el->value[1])
	                    : (unsigned)(el->value[0] | (el->value[1] << 8));
	return true;
}

/* A string value without its padding, into out (cap bytes with the terminator). */
static void text_value(const mc_dicom_element *el, char *out, size_t cap)
{
	size_t n = el->value ? el->length : 0;
	if (n > cap - 1)
		n = cap - 1;
	memcpy(out, el->value ? (const char *)el->value : "", n);
	while (n > 0 && (out[n - 1] == 0 || out[n - 1] == ' '))
		n--;
	size_t start = 0;
	while (start < n && out[start] == ' ')
		start++;
	memmove(out, out + start, n - start);
	out[n - start] = 0;
}

/* Notes the top-level attributes of the Image Pixel module that --region needs. A value that
 * cannot be read leaves the field at 0, which mc_deid_pixels_plan refuses. */
static void pixel_module(mc_deid_pixels *px, const mc_dicom_element *el)
{
	unsigned v;
	char text[24];
	switch (TAG(el->group, el->element)) {
	case TAG(0x0028, 0x0002): px->samples = us_value(el, &v) ? v : 0; break;
	case TAG(0x0028, 0x0006): px->planar = us_value(el, &v) ? v : 2; break;
	case TAG(0x0028, 0x0010): px->rows = us_value(el, &v) ? v : 0; break;
	case TAG(0x0028, 0x0011): px->cols = us_value(el, &v) ? v : 0; break;
	case TAG(0x0028, 0x0100): px->bits_allocated = us_value(el, &v) ? v : 0; break;
	case TAG(0x0028, 0x0101): px->bits_stored = us_value(el, &v) ? v : 0; break;
	case TAG(0x0028, 0x0103): px->pixrep = us_value(el, &v) && v == 1; break;
	case TAG(0x0028, 0x0004): text_value(el, px->photometric, sizeof px->photometric); break;
	case TAG(0x0028, 0x0008): {
		text_value(el, text, sizeof text);
		char *end;
		unsigned long n = strtoul(text, &end, 10);
		px->frames = end != text && *end == 0 && text[0] != '-' && n <= UINT32_MAX ? (uint32_t)n : 0;
		break;
	}
	}
}

/* Pixel Data with --region: refuses what cannot be blanked, plans the walk, and saves the region
 * pixels of a value small enough to be loaded (larger ones through c_chunk). */
static int c_pixels(collect *c, const mc_dicom_element *el)
{
	if (el->length == MC_DICOM_UNDEFINED_LENGTH)
		return c_fail(c, mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                         "--region needs native (uncompressed) pixel data; this file's pixel data is "
		                         "compressed (dcmdjpeg or gdcmconv --raw decompresses it)"));
	/* big endian: 16-bit samples in OW words; 8-bit ones in OB, or in OW words (pairs swapped) */
	if (c->big_endian && strcmp(el->vr, "OW") != 0 && !(strcmp(el->vr, "OB") == 0 && c->px.bits_allocated == 8))
		return c_fail(c, mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                         "--region: big endian Pixel Data of VR %s with Bits Allocated %u is not "
		                         "supported (dcmconv +te converts it)",
		                         el->vr, c->px.bits_allocated));
	c->px.pair_swap = c->big_endian && c->px.bits_allocated == 8 && strcmp(el->vr, "OW") == 0;
	c->px.value_len = el->length;
	c->px.big_endian = c->big_endian;
	c->px.regions = c->params->regions;
	c->px.n_regions = c->params->n_regions;
	mc_status st = mc_deid_pixels_plan(&c->px, c->err);
	if (st != MC_OK)
		return c_fail(c, st);
	if (c->px.saved_len > MC_DEID_MAX_ENCRYPTED - c->mas.len)
		return c_fail(c, mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                         "the original pixels of the regions (%llu bytes in %lu frames) and attributes "
		                         "to encrypt exceed %u MiB",
		                         (unsigned long long)c->px.saved_len, (unsigned long)c->px.frames,
		                         MC_DEID_MAX_ENCRYPTED >> 20));
	if (!(c->saved = malloc(c->px.saved_len ? (size_t)c->px.saved_len : 1)))
		return c_fail(c, mc_fail(c->err, MC_ERR_NOMEM, "out of memory"));
	c->have_pixels = true;
	if (el->value) {
		size_t done;
		mc_deid_pixels_piece(&c->px, MC_DEID_PIXELS_SAVE, el->value, el->length, c->piece, &done, c->saved,
		                     NULL);
	} else {
		c->in_pixels = true;
	}
	return 0;
}

static int c_element(void *ctx, const mc_dicom_element *el)
{
	collect *c = ctx;
	if (el->depth == 0 && el->group == 0x0002 && !c->dataset_started) {
		if (el->element == 0x0010) {
			read_ts(el, c->ts);
			c->big_endian = strcmp(c->ts, MC_DICOM_TS_EXPLICIT_BE) == 0;
		}
		if (el->element == 0x0002 && is_dicomdir(el))
			return c_fail(c,
			              mc_fail(c->err, MC_ERR_UNSUPPORTED,
			                      "this is a DICOMDIR (Media Storage Directory), whose records hold byte "
			                      "offsets into the file itself: de-identify the image files it lists, "
			                      "then make a new DICOMDIR for them (dcmmkdir)"));
		return 0;
	}
	const char *table_vr;
	mc_deid_effect e = mc_deid_decide(el->group, el->element, el->depth, false, &table_vr);
	c->in_pixels = false;
	if (el->depth == 0) {
		uint32_t tag = TAG(el->group, el->element);
		bool keep = e == MC_DEID_KEEP;
		if (c->has_regions) {
			pixel_module(&c->px, el);
			if (tag == TAG_BURNED_IN_ANNOTATION) {
				keep = false; /* becomes "NO": the original is kept for reid */
				c->bia_present = true;
			}
		}
		if (c_start_top(c, tag, false, keep))
			return 1;
		if (c->has_regions && tag == TAG_PIXEL_DATA && c_pixels(c, el))
			return 1;
		if (!c->has_regions && tag == TAG_PIXEL_DATA && !c->buffering &&
		    el->length != MC_DICOM_UNDEFINED_LENGTH && c->total != MC_DICOM_SIZE_UNKNOWN &&
		    el->value_offset + el->length == c->total) {
			/* Nothing follows and nothing in it changes: reading it would only double the
			 * input read. Pass 2 reads and checks it all the same. */
			c->stopped_at_pixels = true;
			return 1;
		}
		if (!c->buffering)
			return 0;
	} else if (e != MC_DEID_KEEP) {
		c->top_modified = true;
	}
	if (!c->buffering)
		return 0;
	mc_dicom_element copy = *el;
	memcpy(copy.vr, is_implicit(c->ts) ? content_vr(el, table_vr) : el->vr, 2);
	return c_forward(c, mc_fwd_element(&c->fwd, &copy));
}

static int c_sequence_start(void *ctx, const mc_dicom_element *el)
{
	collect *c = ctx;
	c->in_pixels = false;
	const char *table_vr;
	mc_deid_effect e = mc_deid_decide(el->group, el->element, el->depth, true, &table_vr);
	if (el->depth == 0) {
		if (c_start_top(c, TAG(el->group, el->element), true, e == MC_DEID_KEEP))
			return 1;
	} else if (e != MC_DEID_KEEP) {
		c->top_modified = true;
	}
	if (!c->buffering)
		return 0;
	if (is_implicit(c->ts) && el->depth == 0) {
		/* An implicit VR sequence goes in as UN, whose value stays implicit VR (PS3.5 6.2.2):
		 * its defined lengths still hold, and reid gives back the very bytes. */
		mc_dicom_element un = *el;
		memcpy(un.vr, "UN", 3);
		return c_forward(c, mc_fwd_sequence_start(&c->fwd, &un));
	}
	return c_forward(c, mc_fwd_sequence_start(&c->fwd, el));
}

static int c_sequence_end(void *ctx, unsigned depth)
{
	collect *c = ctx;
	if (!c->buffering)
		return 0; /* the end of kept top-level encapsulated pixel data */
	if (c_forward(c, mc_fwd_sequence_end(&c->fwd, depth)))
		return 1;
	return depth == 0 && c->fwd.open == 0 ? c_finish_top(c) : 0;
}

static int c_item_start(void *ctx, uint32_t length, unsigned depth)
{
	collect *c = ctx;
	return c->buffering ? c_forward(c, mc_fwd_item_start(&c->fwd, length, depth)) : 0;
}

static int c_item_end(void *ctx, unsigned depth)
{
	collect *c = ctx;
	return c->buffering ? c_forward(c, mc_fwd_item_end(&c->fwd, depth)) : 0;
}

static int c_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	collect *c = ctx;
	c->in_pixels = false;
	if (c->has_regions && !c->buffering)
		return c_fail(c, mc_fail(c->err, MC_ERR_UNSUPPORTED,
		                         "--region needs native (uncompressed) pixel data; this file's pixel data is "
		                         "compressed (dcmdjpeg or gdcmconv --raw decompresses it)"));
	return c->buffering ? c_forward(c, mc_fwd_fragment(&c->fwd, index, offset, length)) : 0;
}

static int c_chunk(void *ctx, const uint8_t *b, size_t n)
{
	collect *c = ctx;
	for (size_t k, done; c->in_pixels && n > 0; b += k, n -= k) {
		k = n < MC_DICOM_VALUE_CAP ? n : MC_DICOM_VALUE_CAP;
		mc_deid_pixels_piece(&c->px, MC_DEID_PIXELS_SAVE, b, k, c->piece, &done, c->saved, NULL);
	}
	return c->buffering ? c_forward(c, mc_fwd_chunk(&c->fwd, b, n)) : 0;
}

/* ---- CMS EnvelopedData (RFC 5652) for the recipients */

/* A certificate carrying pub, signed by a throwaway issuer key: CMS names recipients by
 * certificate. Its subject key identifier is the SHA-1 of the public key (RFC 5280 4.2.1.2
 * method 1), the same that `openssl req -x509` puts in a certificate for that key. */
static X509 *recipient_cert(EVP_PKEY *pub, EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	X509_EXTENSION *ski = NULL;
	bool ok = c && name && serial;
	uint8_t rnd[8];
	ok = ok && RAND_bytes(rnd, sizeof rnd) == 1;
	uint64_t s = 0;
	for (size_t i = 0; ok && i < sizeof rnd; i++)
		s = (s << 8) | rnd[i];
	ok = ok && ASN1_INTEGER_set_uint64(serial, s >> 1) && X509_set_serialNumber(c, serial);
	ok = ok && X509_set_version(c, X509_VERSION_3);
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                      (const unsigned char *)"medcrypt deid recipient", -1, -1, 0);
	ok = ok && X509_set_subject_name(c, name) && X509_set_issuer_name(c, name);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(c), 0) && X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	ok = ok && X509_set_pubkey(c, pub);
	if (ok) {
		X509V3_CTX v3;
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, c, c, NULL, NULL, 0);
		ski = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
		ok = ski && X509_add_ext(c, ski, -1);
	}
	ok = ok && X509_sign(c, issuer_key, NULL) > 0;
	X509_EXTENSION_free(ski);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

/* Seals plain (len bytes, malloc'd; this function wipes and frees it as soon as it is encrypted,
 * on every path, so that the plaintext and the DER never coexist with the CMS structure's copy).
 * *out is freed with OPENSSL_free. */
static mc_status cms_seal(const mc_pubkey *const *recipients, size_t n, uint8_t *plain, size_t len, uint8_t **out,
                          size_t *out_len, mc_err *err)
{
	mc_status st = MC_ERR_CRYPTO;
	EVP_PKEY *issuer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *in = BIO_new_mem_buf(plain, (int)len);
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	*out = NULL;
	if (!issuer || !in || len > INT32_MAX)
		goto cleanup;
	cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), CMS_BINARY | CMS_PARTIAL);
	if (!cms)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		X509 *cert = recipient_cert(mc_pubkey_evp(recipients[i]), issuer);
		if (!cert)
			goto cleanup;
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, CMS_USE_KEYID | CMS_KEY_PARAM);
		X509_free(cert);
		EVP_PKEY_CTX *pctx = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
		if (!pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
			goto cleanup;
	}
	if (CMS_final(cms, in, NULL, CMS_BINARY) != 1)
		goto cleanup;
	BIO_free(in);
	in = NULL;
	mc_wipe(plain, len);
	free(plain);
	plain = NULL;
	int dl = i2d_CMS_ContentInfo(cms, &der);
	if (dl <= 0)
		goto cleanup;
	*out = der;
	der = NULL;
	*out_len = (size_t)dl;
	st = MC_OK;
cleanup:
	if (plain) {
		mc_wipe(plain, len);
		free(plain);
	}
	if (st == MC_ERR_CRYPTO)
		mc_fail_ssl(err, MC_ERR_CRYPTO, "CMS encryption of the original attributes failed");
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	EVP_PKEY_free(issuer);
	return st;
}

/* Decrypts with the identity's key; the plaintext (free with mc_buf_free) holds patient data. */
static mc_status cms_open(const mc_identity *id, const uint8_t *der, size_t len, uint8_t **out, size_t *out_len,
                          bool *guessed, mc_err *err)
{
	*guessed = false;
	mc_status st = MC_ERR_NO_MATCH;
	EVP_PKEY *key = mc_identity_enc_key(id);
	mc_pubkey *pub = NULL;
	EVP_PKEY *issuer = NULL;
	X509 *mine = NULL;
	BIO *in = BIO_new_mem_buf(der, (int)len), *plain = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms = NULL;
	*out = NULL;
	if (!key) {
		st = mc_fail(err, MC_ERR_KEY, "the identity has no encryption key");
		goto cleanup;
	}
	if (!in || !plain || len > INT32_MAX) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	cms = d2i_CMS_bio(in, NULL);
	if (!cms || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
		st = mc_fail(err, MC_ERR_HEADER, "the Encrypted Content (0400,0520) is not CMS EnvelopedData");
		goto cleanup;
	}
	/* Our files name the recipient by subject key identifier: a certificate for our own key
	 * finds the right RecipientInfo. Others (gdcmanon -e) name it by issuer and serial number
	 * of a certificate we do not have: then every RecipientInfo is tried with the key. */
	if ((st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &pub, err)) != MC_OK)
		goto cleanup;
	issuer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	mine = issuer ? recipient_cert(mc_pubkey_evp(pub), issuer) : NULL;
	st = MC_ERR_NO_MATCH;
	ERR_set_mark();
	int ok = mine && CMS_decrypt(cms, key, mine, NULL, plain, CMS_BINARY) == 1;
	ERR_pop_to_mark();
	if (!ok) {
		/* Only when some recipient is named by issuer and serial: with a key that is no
		 * recipient, OpenSSL decrypts with a random key (against Bleichenbacher's attack),
		 * which may give garbage instead of an error; the caller treats a parse failure of
		 * what this gives as "not for this key" (*guessed). */
		STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
		bool by_issuer = false;
		for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
			CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
			ASN1_OCTET_STRING *keyid = NULL;
			X509_NAME *iss = NULL;
			ASN1_INTEGER *sno = NULL;
			if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
			    CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &iss, &sno) == 1 && !keyid)
				by_issuer = true;
		}
		if (by_issuer) {
			(void)BIO_reset(plain);
			ok = CMS_decrypt(cms, key, NULL, NULL, plain, CMS_BINARY) == 1;
			*guessed = true;
		}
	}
	if (!ok) {
		mc_fail_ssl(err, MC_ERR_NO_MATCH, "the encrypted attributes are not encrypted for this key");
		goto cleanup;
	}
	BUF_MEM *bm;
	BIO_get_mem_ptr(plain, &bm);
	if (!(*out = malloc(bm->length ? bm->length : 1))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(*out, bm->data, bm->length);
	*out_len = bm->length;
	mc_wipe(bm->data, bm->length);
	st = MC_OK;
cleanup:
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(plain);
	X509_free(mine);
	EVP_PKEY_free(issuer);
	mc_pubkey_free(pub);
	ERR_clear_error();
	return st;
}

/* ---- pass 2: emit the de-identified file */

/* (0012,0062), (0012,0063), (0012,0064), (0028,0301) with --region, (0400,0500) */
#define N_INSERTIONS 5

typedef struct insertion {
	uint32_t tag;
	bool done;
} insertion;

#define SOP_MAPPED_CAP 64 /* (0002,0003) is one UID: 64 bytes at most (PS3.5 6.2) */

typedef struct emit {
	mc_err *err;
	mc_status st;
	const mc_deid_params *params;
	const collect *c;
	mc_fwd fwd;
	bool head_written, big_endian, explicit_vr;
	char ts[65];
	/* Its own allocation of SOP_MAPPED_CAP bytes, not an array in this struct: an overflow of it
	 * then reaches memory ASan guards, where one into the next field would go unseen. */
	uint8_t *sop_mapped;
	uint32_t sop_mapped_len;
	mc_dicom_meta_element meta[8];
	uint8_t meta_values[8][66];
	size_t n_meta;
	bool meta_seen;
	uint16_t last_meta;
	unsigned skip_open; /* > 0: inside a sequence (or pixel data) being left out */
	bool drop_chunks;   /* the current large value is left out */
	const uint8_t *cms;
	size_t cms_len;
	insertion ins[N_INSERTIONS];
	/* --region: the walk over Pixel Data (a copy of pass 1's plan), and a piece being blanked */
	mc_deid_pixels px;
	bool in_pixels;
	uint8_t piece[MC_DICOM_VALUE_CAP + 2];
} emit;

static int e_fail(emit *e, mc_status st)
{
	if (e->st == MC_OK)
		e->st = st;
	return st != MC_OK;
}

static int e_head(emit *e)
{
	if (e->head_written)
		return 0;
	e->head_written = true;
	static const uint8_t explicit_le[] = MC_DICOM_TS_EXPLICIT_LE;          /* and its NUL pad */
	static const uint8_t impl_uid[] = MC_DICOM_IMPLEMENTATION_UID;         /* 44 characters and a NUL */
	static const uint8_t impl_version[] = MC_DICOM_IMPLEMENTATION_VERSION; /* 12 characters */
	mc_dicom_meta_element m[8];
	size_t n = 0;
	for (size_t i = 0; i < e->n_meta; i++) {
		mc_dicom_meta_element x = e->meta[i];
		if (x.element == 0x0003) {
			x.value = e->sop_mapped;
			x.length = e->sop_mapped_len;
		} else if (x.element == 0x0010 && e->big_endian) {
			x.value = explicit_le;
			x.length = sizeof explicit_le;
		} else if (x.element != 0x0001 && x.element != 0x0002 && x.element != 0x0010) {
			continue; /* (0002,0012..0016), private meta: replaced or dropped */
		}
		m[n++] = x;
	}
	m[n++] = (mc_dicom_meta_element){0x0012, "UI", impl_uid, (uint32_t)sizeof impl_uid & ~1u};
	m[n++] = (mc_dicom_meta_element){0x0013, "SH", impl_version, (uint32_t)(sizeof impl_version - 1)};
	mc_dicom_writer_swap(e->fwd.w, e->big_endian);
	return e_fail(e, mc_dicom_write_head(e->fwd.w, NULL, m, n, e->err));
}

static mc_status put(emit *e, uint16_t g, uint16_t el, const char *vr, const void *v, uint32_t len)
{
	return mc_dicom_write_element(e->fwd.w, g, el, vr, v, len, e->err);
}

/* Writes what de-identification adds at tag. */
static mc_status insert(emit *e, uint32_t tag)
{
	mc_dicom_writer *w = e->fwd.w;
	mc_status st = MC_OK;
	if (tag == TAG_PATIENT_IDENTITY_REMOVED)
		return put(e, 0x0012, 0x0062, "CS", "YES ", 4);
	if (tag == TAG_BURNED_IN_ANNOTATION) /* PS3.15 E.3.1 Clean Pixel Data Option */
		return put(e, 0x0028, 0x0301, "CS", "NO", 2);
	if (tag == TAG_DEID_METHOD) {
		static const char method[] = "PS3.15 E.1 Basic Profile (medcrypt deid)"; /* 40 characters */
		return put(e, 0x0012, 0x0063, "LO", method, sizeof method - 1);
	}
	if (tag == TAG_DEID_METHOD_CODES) {
		static const struct {
			const char *value, *meaning;
		} codes[] = {{"113100", "Basic Application Confidentiality Profile "},
		             {"113101", "Clean Pixel Data Option "}};
		size_t n = e->params->n_regions ? 2 : 1;
		st = mc_dicom_write_sequence(w, 0x0012, 0x0064, "SQ", MC_DICOM_UNDEFINED_LENGTH, e->err);
		for (size_t i = 0; i < n && st == MC_OK; i++) {
			if ((st = mc_dicom_write_item(w, MC_DICOM_UNDEFINED_LENGTH, e->err)) == MC_OK &&
			    (st = put(e, 0x0008, 0x0100, "SH", codes[i].value, 6)) == MC_OK &&
			    (st = put(e, 0x0008, 0x0102, "SH", "DCM ", 4)) == MC_OK &&
			    (st = put(e, 0x0008, 0x0104, "LO", codes[i].meaning, (uint32_t)strlen(codes[i].meaning))) ==
			        MC_OK)
				st = mc_dicom_write_item_end(w, e->err);
		}
		return st == MC_OK ? mc_dicom_write_sequence_end(w, e->err) : st;
	}
	/* (0400,0500): one item, the encrypted transfer syntax and the EnvelopedData (padded) */
	static const uint8_t ts[] = MC_DICOM_TS_EXPLICIT_LE; /* the Encrypted Content's, whatever the file's */
	if ((st = mc_dicom_write_sequence(w, 0x0400, 0x0500, "SQ", MC_DICOM_UNDEFINED_LENGTH, e->err)) != MC_OK ||
	    (st = mc_dicom_write_item(w, MC_DICOM_UNDEFINED_LENGTH, e->err)) != MC_OK ||
	    (st = put(e, 0x0400, 0x0510, "UI", ts, 20)) != MC_OK ||
	    (st = mc_dicom_write_header(w, 0x0400, 0x0520, "OB", (uint32_t)((e->cms_len + 1) & ~(size_t)1), e->err)) !=
	        MC_OK ||
	    (st = mc_dicom_write_value(w, e->cms, e->cms_len, e->err)) != MC_OK)
		return st;
	if (e->cms_len % 2 && (st = mc_dicom_write_value(w, (const uint8_t *)"", 1, e->err)) != MC_OK)
		return st;
	if ((st = mc_dicom_write_item_end(w, e->err)) != MC_OK)
		return st;
	return mc_dicom_write_sequence_end(w, e->err);
}

/* Writes the insertions that come before tag; 1 if one of them has this very tag. */
static int insert_before(emit *e, uint32_t tag, bool *replaced)
{
	*replaced = false;
	for (size_t i = 0; i < N_INSERTIONS; i++) {
		if (e->ins[i].done || e->ins[i].tag > tag)
			continue;
		e->ins[i].done = true;
		if (e_fail(e, insert(e, e->ins[i].tag)))
			return 1;
		if (e->ins[i].tag == tag)
			*replaced = true;
	}
	return 0;
}

static bool modified_sequence(const emit *e, uint32_t tag)
{
	for (size_t i = 0; i < e->c->n_modified_sequences; i++)
		if (e->c->modified_sequences[i] == tag)
			return true;
	return false;
}

static int e_element(void *ctx, const mc_dicom_element *el)
{
	emit *e = ctx;
	e->drop_chunks = false;
	e->in_pixels = false;
	if (el->depth == 0 && el->group == 0x0002 && !e->head_written) {
		if (el->element == 0x0010) {
			read_ts(el, e->ts);
			e->big_endian = strcmp(e->ts, MC_DICOM_TS_EXPLICIT_BE) == 0;
			e->explicit_vr = !is_implicit(e->ts);
		}
		if (el->element == 0x0003 && el->value) {
			mc_status st = map_uids(e->params->uid_key, el->value, el->length, e->sop_mapped,
			                        SOP_MAPPED_CAP, &e->sop_mapped_len, e->err);
			if (st != MC_OK)
				return e_fail(e, st);
		}
		if (e->meta_seen && el->element <= e->last_meta)
			return e_fail(e, meta_disorder(e->err, el->element, e->last_meta));
		e->meta_seen = true;
		e->last_meta = el->element;
		if (el->element == 0x0000 || !el->value || el->length > 64 || e->n_meta == 8)
			return 0;
		memcpy(e->meta_values[e->n_meta], el->value, el->length);
		e->meta[e->n_meta] = (mc_dicom_meta_element){
		    el->element, {el->vr[0], el->vr[1], 0}, e->meta_values[e->n_meta], el->length};
		e->n_meta++;
		return 0;
	}
	if (e->skip_open > 0) {
		if (el->length == MC_DICOM_UNDEFINED_LENGTH)
			e->skip_open++;
		e->drop_chunks = true;
		return 0;
	}
	if (e_head(e))
		return 1;
	if (el->depth == 0) {
		bool replaced;
		if (insert_before(e, TAG(el->group, el->element), &replaced))
			return 1;
		if (replaced) {
			e->drop_chunks = true;
			return 0;
		}
	}
	const char *table_vr;
	mc_deid_effect eff = mc_deid_decide(el->group, el->element, el->depth, false, &table_vr);
	const char *vr = mc_deid_vr_of(el, table_vr);
	const uint8_t *v;
	uint32_t len;
	uint8_t uids[4096];
	if (el->depth == 0 && TAG(el->group, el->element) == TAG_PIXEL_DATA && e->c->have_pixels) {
		e->px = e->c->px; /* pass 1's plan, walked again from the start of the value */
		e->px.pos = e->px.saved = 0;
		e->px.row = UINT32_MAX;
		e->px.carried = false;
		if (!el->value) {
			e->in_pixels = true;
			return mc_fwd_element(&e->fwd, el) ? e_fail(e, e->fwd.st) : 0;
		}
		mc_dicom_element blanked = *el;
		size_t done; /* a loaded value (at most MC_DICOM_VALUE_CAP) of even length: all done */
		mc_deid_pixels_piece(&e->px, MC_DEID_PIXELS_FILL, el->value, el->length, e->piece, &done, NULL, NULL);
		blanked.value = e->piece;
		return mc_fwd_element(&e->fwd, &blanked) ? e_fail(e, e->fwd.st) : 0;
	}
	switch (eff) {
	case MC_DEID_KEEP: return mc_fwd_element(&e->fwd, el) ? e_fail(e, e->fwd.st) : 0;
	case MC_DEID_REMOVE:
	case MC_DEID_INSERTED: e->drop_chunks = true; return 0;
	case MC_DEID_EMPTY: e->drop_chunks = true; return e_fail(e, put(e, el->group, el->element, vr, "", 0));
	case MC_DEID_NEW_UID:
	case MC_DEID_DUMMY:
		e->drop_chunks = true;
		if (strcmp(vr, "UI") == 0) {
			if (!el->value || el->length == 0) /* a dummy for a UID without one */
				return e_fail(e, put(e, el->group, el->element, vr, e->sop_mapped, e->sop_mapped_len));
			mc_status st =
			    map_uids(e->params->uid_key, el->value, el->length, uids, sizeof uids, &len, e->err);
			if (st != MC_OK)
				return e_fail(e, st);
			return e_fail(e, put(e, el->group, el->element, vr, uids, len));
		}
		mc_deid_dummy(vr, &v, &len);
		return e_fail(e, put(e, el->group, el->element, vr, v, len));
	}
	return 0;
}

static int e_sequence_start(void *ctx, const mc_dicom_element *el)
{
	emit *e = ctx;
	e->drop_chunks = false;
	e->in_pixels = false;
	if (e->skip_open > 0) {
		e->skip_open++;
		return 0;
	}
	if (e_head(e))
		return 1;
	uint32_t tag = TAG(el->group, el->element);
	if (el->depth == 0) {
		bool replaced;
		if (insert_before(e, tag, &replaced))
			return 1;
		if (replaced) {
			e->skip_open = 1;
			return 0;
		}
		e->fwd.undefined_lengths = modified_sequence(e, tag);
	}
	const char *table_vr;
	mc_status st;
	switch (mc_deid_decide(el->group, el->element, el->depth, true, &table_vr)) {
	case MC_DEID_KEEP:
	case MC_DEID_NEW_UID: return mc_fwd_sequence_start(&e->fwd, el) ? e_fail(e, e->fwd.st) : 0;
	case MC_DEID_REMOVE:
	case MC_DEID_INSERTED: e->skip_open = 1; return 0;
	case MC_DEID_EMPTY:
		e->skip_open = 1;
		if ((st = mc_dicom_write_sequence(e->fwd.w, el->group, el->element, el->vr, 0, e->err)) != MC_OK)
			return e_fail(e, st);
		return e_fail(e, mc_dicom_write_sequence_end(e->fwd.w, e->err));
	case MC_DEID_DUMMY:
		e->skip_open = 1;
		if ((st = mc_dicom_write_sequence(e->fwd.w, el->group, el->element, el->vr, MC_DICOM_UNDEFINED_LENGTH,
		                                  e->err)) != MC_OK ||
		    (st = mc_dicom_write_item(e->fwd.w, MC_DICOM_UNDEFINED_LENGTH, e->err)) != MC_OK ||
		    (st = mc_dicom_write_item_end(e->fwd.w, e->err)) != MC_OK)
			return e_fail(e, st);
		return e_fail(e, mc_dicom_write_sequence_end(e->fwd.w, e->err));
	}
	return 0;
}

static int e_sequence_end(void *ctx, unsigned depth)
{
	emit *e = ctx;
	if (e->skip_open > 0) {
		e->skip_open--;
		return 0;
	}
	if (mc_fwd_sequence_end(&e->fwd, depth))
		return e_fail(e, e->fwd.st);
	if (depth == 0 && e->fwd.open == 0)
		e->fwd.undefined_lengths = false;
	return 0;
}

static int e_item_start(void *ctx, uint32_t length, unsigned depth)
{
	emit *e = ctx;
	if (e->skip_open > 0)
		return 0;
	return mc_fwd_item_start(&e->fwd, length, depth) ? e_fail(e, e->fwd.st) : 0;
}

static int e_item_end(void *ctx, unsigned depth)
{
	emit *e = ctx;
	if (e->skip_open > 0)
		return 0;
	return mc_fwd_item_end(&e->fwd, depth) ? e_fail(e, e->fwd.st) : 0;
}

static int e_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	emit *e = ctx;
	e->drop_chunks = false;
	e->in_pixels = false;
	if (e->skip_open > 0) {
		e->drop_chunks = true;
		return 0;
	}
	return mc_fwd_fragment(&e->fwd, index, offset, length) ? e_fail(e, e->fwd.st) : 0;
}

static int e_chunk(void *ctx, const uint8_t *b, size_t n)
{
	emit *e = ctx;
	if (e->skip_open > 0 || e->drop_chunks)
		return 0;
	while (e->in_pixels && n > 0) { /* blanked in a copy: the reader's buffer is not ours */
		size_t k = n < MC_DICOM_VALUE_CAP ? n : MC_DICOM_VALUE_CAP, done;
		mc_deid_pixels_piece(&e->px, MC_DEID_PIXELS_FILL, b, k, e->piece, &done, NULL, NULL);
		if (done > 0 && mc_fwd_chunk(&e->fwd, e->piece, done))
			return e_fail(e, e->fwd.st);
		b += k;
		n -= k;
	}
	return n > 0 && mc_fwd_chunk(&e->fwd, b, n) ? e_fail(e, e->fwd.st) : 0;
}

/* The status of a parse whose callbacks may have stopped it with their own error. */

/* The plaintext of the Encrypted Content (FORMAT.md §14): (0400,0550) with one item holding the
 * originals; with --region, then the private block (7FD1,0010) creator and (7FD1,1001) region
 * record. Explicit VR little endian, whatever the file's encoding. *plain is malloc'd. */
static mc_status encrypted_content(collect *c, uint8_t **plain, size_t *len, mc_err *err)
{
	/* (0400,0550) and its one item, both of undefined length, open the encrypted dataset */
	static const uint8_t mas_open[] = {0x00, 0x04, 0x50, 0x05, 'S',  'Q',  0,    0,    0xFF, 0xFF,
	                                   0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF};
	static const uint8_t mas_close[] = {0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0};
	static const char creator[] = MC_DEID_REGIONS_CREATOR " "; /* even: 22 */
	size_t total = sizeof mas_open + c->mas.len + sizeof mas_close, record_len = 0, rec_at = 0;
	uint64_t saved = c->has_regions ? c->px.saved_len : 0;
	if (saved > MC_DEID_MAX_ENCRYPTED - c->mas.len)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "the original pixels of the regions and attributes to encrypt exceed %u MiB",
		               MC_DEID_MAX_ENCRYPTED >> 20);
	if (c->has_regions) {
		record_len = MC_DEID_REGIONS_HEADER + 16 * c->px.n_regions + (size_t)saved;
		total += 8 + (sizeof creator - 1) + 12;
		rec_at = total;
		total += record_len + record_len % 2;
	}
	uint8_t *p = malloc(total);
	if (!p)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_outbuf o = mc_outbuf_of(p, total);
	bool fits = mc_outbuf_put(&o, mas_open, sizeof mas_open) && mc_outbuf_put(&o, c->mas.p, c->mas.len) &&
	            mc_outbuf_put(&o, mas_close, sizeof mas_close);
	if (c->has_regions) {
		uint32_t rlen = (uint32_t)(record_len + record_len % 2);
		const uint8_t creator_head[8] = {0xD1, 0x7F, 0x10, 0x00, 'L', 'O', (uint8_t)(sizeof creator - 1), 0};
		uint8_t record_head[12] = {0xD1, 0x7F, 0x01, 0x10, 'O', 'B', 0, 0}; /* and the length, little endian */
		for (int i = 0; i < 4; i++)
			record_head[8 + i] = (uint8_t)(rlen >> (8 * i));
		uint8_t record[MC_DEID_REGIONS_HEADER + 16 * MC_DEID_MAX_REGIONS];
		mc_deid_pixels_record(&c->px, c->bia_present ? 0 : MC_DEID_REGIONS_ABSENT_BIA, record);
		fits = fits && mc_outbuf_put(&o, creator_head, sizeof creator_head) &&
		       mc_outbuf_put(&o, creator, sizeof creator - 1) &&
		       mc_outbuf_put(&o, record_head, sizeof record_head) && o.len == rec_at &&
		       mc_outbuf_put(&o, record, MC_DEID_REGIONS_HEADER + 16 * c->px.n_regions) &&
		       mc_outbuf_put(&o, c->saved, (size_t)saved) && (record_len % 2 == 0 || mc_outbuf_byte(&o, 0));
		mc_wipe(c->saved, (size_t)saved);
		free(c->saved);
		c->saved = NULL;
	}
	if (!fits || o.len != total) { /* the sizes above and the pieces disagree: our bug, not the file's */
		mc_wipe(p, total);
		free(p);
		return mc_fail(err, MC_ERR_MISUSE, "deid: the Encrypted Content was not laid out as sized");
	}
	*plain = p;
	*len = total;
	return MC_OK;
}

static mc_status do_rewind(mc_rewind_fn rewind, mc_input in, mc_err *err)
{
	if (rewind(in.ctx) != 0)
		return mc_fail(err, MC_ERR_IO, "cannot read the input a second time: %s", strerror(errno));
	return MC_OK;
}

mc_status mc_deid(mc_input in, mc_rewind_fn rewind, uint64_t total, mc_output out, const mc_deid_params *params,
                  mc_err *err)
{
	if (!params || !params->uid_key || !params->recipients || params->n_recipients == 0 || !rewind)
		return mc_fail(err, MC_ERR_MISUSE, "deid: recipients, a UID key and a rewindable input are needed");
	if (params->n_regions > MC_DEID_MAX_REGIONS || (params->n_regions && !params->regions))
		return mc_fail(err, MC_ERR_MISUSE, "deid: at most %u regions", MC_DEID_MAX_REGIONS);
	collect *c = calloc(1, sizeof *c);
	emit *e = calloc(1, sizeof *e);
	uint8_t *cms = NULL;
	size_t cms_len = 0;
	mc_status st = MC_ERR_NOMEM;
	if (e && !(e->sop_mapped = calloc(1, SOP_MAPPED_CAP))) {
		free(e);
		e = NULL;
	}
	if (!c || !e) {
		mc_fail(err, st, "out of memory");
		goto cleanup;
	}
	c->err = err;
	c->elem.max = c->mas.max = MC_DEID_MAX_ENCRYPTED;
	c->fwd.err = err;
	c->has_regions = params->n_regions > 0;
	c->params = params;
	c->px.frames = 1; /* when (0028,0008) is absent */
	c->px.samples = 1;
	mc_dicom_visitor cv = {c_element, c_sequence_start, c_sequence_end, c_item_start, c_item_end, c_fragment};
	mc_err perr = {0};
	c->total = total;
	st = mc_dicom_parse_chunked(in, total, &cv, c_chunk, c, &perr);
	if (st == MC_ERR_CANCELLED && c->stopped_at_pixels && c->st == MC_OK)
		st = MC_OK;
	st = parse_result(st, c->st, &perr, err);
	if (st == MC_OK && c_finish_top(c))
		st = c->st;
	if (st != MC_OK)
		goto cleanup;
	if (c->has_regions && !c->have_pixels) {
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "--region: the file has no Pixel Data (7FE0,0010)");
		goto cleanup;
	}
	if (c->has_regions && c->px.saved != c->px.saved_len) {
		st = mc_fail(err, MC_ERR_HEADER, "malformed DICOM: Pixel Data ended before its last frame");
		goto cleanup;
	}
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	if ((st = encrypted_content(c, &plain, &plain_len, err)) != MC_OK)
		goto cleanup;
	st = cms_seal(params->recipients, params->n_recipients, plain, plain_len, &cms, &cms_len, err);
	if (st != MC_OK || (st = do_rewind(rewind, in, err)) != MC_OK)
		goto cleanup;

	e->err = err;
	e->params = params;
	e->c = c;
	e->fwd.err = err;
	e->cms = cms;
	e->cms_len = cms_len;
	e->explicit_vr = true;
	e->ins[0].tag = TAG_PATIENT_IDENTITY_REMOVED;
	e->ins[1].tag = TAG_DEID_METHOD;
	e->ins[2].tag = TAG_DEID_METHOD_CODES;
	e->ins[3].tag = TAG_BURNED_IN_ANNOTATION;
	e->ins[3].done = !c->has_regions;
	e->ins[4].tag = TAG_ENCRYPTED_ATTRIBUTES;
	if ((st = mc_dicom_writer_new(out, &e->fwd.w, err)) != MC_OK)
		goto cleanup;
	mc_dicom_visitor ev = {e_element, e_sequence_start, e_sequence_end, e_item_start, e_item_end, e_fragment};
	st = mc_dicom_parse_chunked(in, total, &ev, e_chunk, e, &perr);
	st = parse_result(st, e->st, &perr, err);
	bool replaced;
	if (st == MC_OK && (e_head(e) || insert_before(e, UINT32_MAX, &replaced)))
		st = e->st;
	if (st == MC_OK)
		st = mc_dicom_writer_finish(e->fwd.w, err);
cleanup:
	if (c) {
		if (c->fwd.w)
			mc_dicom_writer_free(c->fwd.w);
		buf_reset(&c->elem);
		buf_reset(&c->mas);
		free(c->modified_sequences);
		if (c->saved) {
			mc_wipe(c->saved, (size_t)c->px.saved_len);
			free(c->saved);
		}
		free(c);
	}
	if (e) {
		mc_dicom_writer_free(e->fwd.w);
		if (e->sop_mapped)
			mc_wipe(e->sop_mapped, SOP_MAPPED_CAP);
		free(e->sop_mapped);
		mc_wipe(e, sizeof *e);
		free(e);
	}
	OPENSSL_free(cms);
	return st == MC_OK ? mc_ok(err) : st;
}

/* ---- re-identification */

typedef struct blob {
	uint32_t tag;
	buf bytes;
} blob;

typedef struct reid {
	mc_err *err;
	mc_status st;
	/* pass A: the first item of (0400,0500) */
	bool in_eas, eas_seen, collecting;
	unsigned eas_items;
	char enc_ts[65];
	buf content;
	/* the originals, one encoded attribute each, in tag order */
	blob *blobs;
	size_t n_blobs, cap_blobs;
	bool splitting;
	mc_fwd split;
	buf sop;
	char blob_ts[65];
	/* pass B */
	mc_fwd fwd;
	bool head_written, big_endian;
	size_t next_blob;
	unsigned skip_open;
	bool drop_chunks;
	mc_dicom_meta_element meta[16];
	uint8_t meta_values[16][66];
	size_t n_meta;
	bool meta_seen;
	uint16_t last_meta;
	/* --region: the region record of the decrypted content (points into it), and pass B's walk */
	const uint8_t *plain;
	bool regions_creator, skip_split_chunks, have_regions, pixels_done, in_pixels;
	const uint8_t *record, *region_data;
	size_t record_len;
	unsigned region_flags;
	mc_deid_region regions[MC_DEID_MAX_REGIONS];
	mc_deid_pixels px, file_px; /* the record's geometry; the file's pixel module */
	uint8_t piece[MC_DICOM_VALUE_CAP + 2];
} reid;

static int r_fail(reid *r, mc_status st)
{
	if (r->st == MC_OK)
		r->st = st;
	return st != MC_OK;
}

static int a_element(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->collecting = false;
	if (!r->in_eas || el->depth != 1 || r->eas_items != 1)
		return 0;
	uint32_t tag = TAG(el->group, el->element);
	if (tag == TAG_ENCRYPTED_TS) {
		read_ts(el, r->enc_ts);
	} else if (tag == TAG_ENCRYPTED_CONTENT) {
		if (el->value) {
			if (buf_write(&r->content, el->value, el->length) != 0)
				return r_fail(
				    r, mc_fail(r->err, MC_ERR_UNSUPPORTED, "the Encrypted Content is too large"));
		} else {
			r->collecting = true;
		}
	}
	return 0;
}

static int a_chunk(void *ctx, const uint8_t *b, size_t n)
{
	reid *r = ctx;
	if (r->collecting && buf_write(&r->content, b, n) != 0)
		return r_fail(r, mc_fail(r->err, MC_ERR_UNSUPPORTED, "the Encrypted Content is too large"));
	return 0;
}

static int a_sequence_start(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->collecting = false;
	if (el->depth == 0 && TAG(el->group, el->element) == TAG_ENCRYPTED_ATTRIBUTES) {
		r->in_eas = true;
		r->eas_seen = true;
	}
	return 0;
}

static int a_sequence_end(void *ctx, unsigned depth)
{
	reid *r = ctx;
	if (r->in_eas && depth == 0) {
		r->in_eas = false;
		return 1; /* everything needed was read */
	}
	return 0;
}

static int a_item_start(void *ctx, uint32_t length, unsigned depth)
{
	reid *r = ctx;
	(void)length;
	if (r->in_eas && depth == 1)
		r->eas_items++;
	return 0;
}

/* Splitting the decrypted Modified Attributes Sequence: each attribute of its item (depth 1)
 * is encoded alone into a blob. */
static int s_begin(reid *r, uint32_t tag)
{
	if (r->n_blobs > 0 && tag <= r->blobs[r->n_blobs - 1].tag)
		return r_fail(r, mc_fail(r->err, MC_ERR_HEADER,
		                         "malformed encrypted attributes: (%04X,%04X) is out of order",
		                         (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF)));
	if (r->n_blobs == r->cap_blobs) {
		size_t cap = r->cap_blobs ? 2 * r->cap_blobs : 16;
		blob *p = realloc(r->blobs, cap * sizeof *p);
		if (!p)
			return r_fail(r, mc_fail(r->err, MC_ERR_NOMEM, "out of memory"));
		r->blobs = p;
		r->cap_blobs = cap;
	}
	blob *b = &r->blobs[r->n_blobs++];
	memset(b, 0, sizeof *b);
	b->tag = tag;
	b->bytes.max = MC_DEID_MAX_ENCRYPTED + 64;
	mc_output o = {buf_write, &b->bytes};
	mc_status st = mc_dicom_writer_new(o, &r->split.w, r->err);
	if (st != MC_OK)
		return r_fail(r, st);
	mc_dicom_writer_set_explicit(r->split.w, !is_implicit(r->blob_ts));
	r->split.st = MC_OK;
	r->split.open = 0;
	r->splitting = true;
	return 0;
}

static int s_end(reid *r)
{
	if (!r->splitting)
		return 0;
	r->splitting = false;
	mc_status st = mc_dicom_writer_finish(r->split.w, r->err);
	mc_dicom_writer_free(r->split.w);
	r->split.w = NULL;
	return r_fail(r, st);
}

static int s_forward(reid *r, int ret)
{
	return ret ? r_fail(r, r->split.st) : 0;
}

static int s_element(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->skip_split_chunks = false;
	if (el->depth == 0 && !r->splitting && r->eas_items == 1) {
		/* after (0400,0550): our private block with the region record, nothing else */
		uint32_t tag = TAG(el->group, el->element);
		char creator[32];
		if (tag == TAG_REGIONS_CREATOR && !r->regions_creator) {
			text_value(el, creator, sizeof creator);
			if (strcmp(creator, MC_DEID_REGIONS_CREATOR) == 0) {
				r->regions_creator = true;
				return 0;
			}
		} else if (tag == TAG_REGIONS_RECORD && r->regions_creator && !r->record) {
			r->record = r->plain + el->value_offset; /* the reader checked it lies inside */
			r->record_len = el->length;
			r->skip_split_chunks = true;
			return 0;
		}
	}
	if (el->depth == 0)
		return r_fail(r, mc_fail(r->err, MC_ERR_HEADER,
		                         "malformed encrypted attributes: (%04X,%04X) outside the Modified Attributes "
		                         "Sequence",
		                         (unsigned)el->group, (unsigned)el->element));
	if (el->depth == 1) {
		if (s_end(r) || s_begin(r, TAG(el->group, el->element)))
			return 1;
		if (TAG(el->group, el->element) == TAG_SOP_INSTANCE_UID && el->value && el->length <= 64 &&
		    buf_write(&r->sop, el->value, el->length) != 0)
			return r_fail(r, mc_fail(r->err, MC_ERR_NOMEM, "out of memory"));
	}
	return s_forward(r, mc_fwd_element(&r->split, el));
}

static int s_sequence_start(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->skip_split_chunks = false;
	if (el->depth == 0) {
		if (TAG(el->group, el->element) != TAG_MODIFIED_ATTRIBUTES)
			return r_fail(
			    r, mc_fail(r->err, MC_ERR_HEADER,
			               "malformed encrypted attributes: no Modified Attributes Sequence (0400,0550)"));
		return 0;
	}
	if (el->depth == 1 && (s_end(r) || s_begin(r, TAG(el->group, el->element))))
		return 1;
	return s_forward(r, mc_fwd_sequence_start(&r->split, el));
}

static int s_sequence_end(void *ctx, unsigned depth)
{
	reid *r = ctx;
	if (depth == 0 && !r->splitting)
		return 0; /* the end of (0400,0550) */
	if (s_forward(r, mc_fwd_sequence_end(&r->split, depth)))
		return 1;
	return depth == 1 && r->split.open == 0 ? s_end(r) : 0;
}

static int s_item_start(void *ctx, uint32_t length, unsigned depth)
{
	reid *r = ctx;
	(void)length;
	if (depth == 1) {
		if (r->eas_items++ > 0)
			return r_fail(
			    r, mc_fail(r->err, MC_ERR_HEADER,
			               "malformed encrypted attributes: more than one Modified Attributes item"));
		return 0;
	}
	return s_forward(r, mc_fwd_item_start(&r->split, length, depth));
}

static int s_item_end(void *ctx, unsigned depth)
{
	reid *r = ctx;
	if (depth == 1)
		return s_end(r);
	return s_forward(r, mc_fwd_item_end(&r->split, depth));
}

static int s_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	reid *r = ctx;
	return s_forward(r, mc_fwd_fragment(&r->split, index, offset, length));
}

static int s_chunk(void *ctx, const uint8_t *b, size_t n)
{
	reid *r = ctx;
	if (r->skip_split_chunks)
		return 0;
	return s_forward(r, mc_fwd_chunk(&r->split, b, n));
}

/* Pass B: the file with the originals merged back. */
static int b_head(reid *r)
{
	if (r->head_written)
		return 0;
	r->head_written = true;
	static const uint8_t explicit_le[] = MC_DICOM_TS_EXPLICIT_LE;
	static const uint8_t impl_uid[] = MC_DICOM_IMPLEMENTATION_UID;
	static const uint8_t impl_version[] = MC_DICOM_IMPLEMENTATION_VERSION;
	mc_dicom_meta_element m[18];
	size_t n = 0;
	for (size_t i = 0; i < r->n_meta; i++) {
		mc_dicom_meta_element x = r->meta[i];
		if (x.element == 0x0003 && r->sop.len > 0) {
			x.value = r->sop.p;
			x.length = (uint32_t)r->sop.len;
		} else if (x.element == 0x0010 && r->big_endian) {
			x.value = explicit_le;
			x.length = sizeof explicit_le;
		} else if (x.element == 0x0012 || x.element == 0x0013) {
			continue;
		}
		if (x.element > 0x0013 && (n == 0 || m[n - 1].element < 0x0012)) {
			m[n++] = (mc_dicom_meta_element){0x0012, "UI", impl_uid, (uint32_t)sizeof impl_uid & ~1u};
			m[n++] =
			    (mc_dicom_meta_element){0x0013, "SH", impl_version, (uint32_t)(sizeof impl_version - 1)};
		}
		m[n++] = x;
	}
	if (n == 0 || m[n - 1].element < 0x0012) {
		m[n++] = (mc_dicom_meta_element){0x0012, "UI", impl_uid, (uint32_t)sizeof impl_uid & ~1u};
		m[n++] = (mc_dicom_meta_element){0x0013, "SH", impl_version, (uint32_t)(sizeof impl_version - 1)};
	}
	mc_dicom_writer_swap(r->fwd.w, r->big_endian);
	return r_fail(r, mc_dicom_write_head(r->fwd.w, NULL, m, n, r->err));
}

/* Writes one original attribute back through a reader over its encoding. */
static int b_put_blob(reid *r, const blob *b)
{
	mc_fwd f;
	memset(&f, 0, sizeof f);
	f.w = r->fwd.w;
	f.err = r->err;
	memin mi = {b->bytes.p, b->bytes.len, 0};
	mc_input in = {memin_read, &mi};
	mc_dicom_visitor v = {mc_fwd_element,    mc_fwd_sequence_start, mc_fwd_sequence_end,
	                      mc_fwd_item_start, mc_fwd_item_end,       mc_fwd_fragment};
	mc_err perr = {0};
	mc_status st = mc_dicom_parse_dataset(in, b->bytes.len, r->blob_ts, &v, mc_fwd_chunk, &f, &perr);
	return r_fail(r, parse_result(st, f.st, &perr, r->err));
}

/* Before a top-level tag: the originals that come first; 1 in *replaces if one has this tag. */
static int b_blobs_before(reid *r, uint32_t tag, bool *replaces)
{
	*replaces = false;
	while (r->next_blob < r->n_blobs && r->blobs[r->next_blob].tag <= tag) {
		if (r->blobs[r->next_blob].tag == tag)
			*replaces = true;
		if (b_put_blob(r, &r->blobs[r->next_blob++]))
			return 1;
	}
	return 0;
}

static bool added_by_deid(uint32_t tag)
{
	return tag == TAG_PATIENT_IDENTITY_REMOVED || tag == TAG_DEID_METHOD || tag == TAG_DEID_METHOD_CODES ||
	       tag == TAG_ENCRYPTED_ATTRIBUTES;
}

/* Pixel Data with a region record: checks that the file's pixel module is the record's, and puts
 * the original region pixels back into a loaded value (a larger one through b_chunk). */
static int b_pixels(reid *r, const mc_dicom_element *el)
{
	const mc_deid_pixels *f = &r->file_px;
	mc_deid_pixels *p = &r->px;
	unsigned samples = f->samples ? f->samples : 1, planar = samples == 1 ? 0 : f->planar;
	if (el->length == MC_DICOM_UNDEFINED_LENGTH)
		return r_fail(r, mc_fail(r->err, MC_ERR_UNSUPPORTED,
		                         "the regions cannot be restored: the pixel data was compressed after "
		                         "de-identification"));
	if (f->rows != p->rows || f->cols != p->cols || (f->frames ? f->frames : 1) != p->frames ||
	    f->bits_allocated != p->bits_allocated || samples != p->samples || planar != p->planar ||
	    el->length / (p->image_len / p->frames) < p->frames)
		return r_fail(r, mc_fail(r->err, MC_ERR_HEADER,
		                         "the region record does not match the file's Pixel Data (Rows, Columns, "
		                         "Number of Frames, Bits Allocated, Samples per Pixel or its length)"));
	p->big_endian = r->big_endian;
	p->pair_swap = r->big_endian && p->bits_allocated == 8 && strcmp(el->vr, "OW") == 0;
	r->pixels_done = true;
	if (el->value) {
		mc_dicom_element restored = *el;
		size_t done;
		mc_deid_pixels_piece(p, MC_DEID_PIXELS_RESTORE, el->value, el->length, r->piece, &done, NULL,
		                     r->region_data);
		restored.value = r->piece;
		return mc_fwd_element(&r->fwd, &restored) ? r_fail(r, r->fwd.st) : 0;
	}
	r->in_pixels = true;
	return mc_fwd_element(&r->fwd, el) ? r_fail(r, r->fwd.st) : 0;
}

static int b_element(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->drop_chunks = false;
	r->in_pixels = false;
	if (el->depth == 0 && el->group == 0x0002 && !r->head_written) {
		if (el->element == 0x0010) {
			char ts[65];
			read_ts(el, ts);
			r->big_endian = strcmp(ts, MC_DICOM_TS_EXPLICIT_BE) == 0;
		}
		if (r->meta_seen && el->element <= r->last_meta)
			return r_fail(r, meta_disorder(r->err, el->element, r->last_meta));
		r->meta_seen = true;
		r->last_meta = el->element;
		if (el->element == 0x0000 || !el->value || el->length > 64 || r->n_meta == 16)
			return 0;
		memcpy(r->meta_values[r->n_meta], el->value, el->length);
		r->meta[r->n_meta] = (mc_dicom_meta_element){
		    el->element, {el->vr[0], el->vr[1], 0}, r->meta_values[r->n_meta], el->length};
		r->n_meta++;
		return 0;
	}
	if (r->skip_open > 0) {
		if (el->length == MC_DICOM_UNDEFINED_LENGTH)
			r->skip_open++;
		r->drop_chunks = true;
		return 0;
	}
	if (b_head(r))
		return 1;
	if (el->depth == 0) {
		bool replaces;
		uint32_t tag = TAG(el->group, el->element);
		if (b_blobs_before(r, tag, &replaces))
			return 1;
		bool bia_added = r->have_regions && tag == TAG_BURNED_IN_ANNOTATION &&
		                 (r->region_flags & MC_DEID_REGIONS_ABSENT_BIA);
		if (replaces || added_by_deid(tag) || bia_added) {
			r->drop_chunks = true;
			if (el->length == MC_DICOM_UNDEFINED_LENGTH)
				r->skip_open = 1;
			return 0;
		}
		if (r->have_regions) {
			pixel_module(&r->file_px, el);
			if (tag == TAG_PIXEL_DATA)
				return b_pixels(r, el);
		}
	}
	return mc_fwd_element(&r->fwd, el) ? r_fail(r, r->fwd.st) : 0;
}

static int b_sequence_start(void *ctx, const mc_dicom_element *el)
{
	reid *r = ctx;
	r->drop_chunks = false;
	r->in_pixels = false;
	if (r->skip_open > 0) {
		r->skip_open++;
		return 0;
	}
	if (b_head(r))
		return 1;
	if (el->depth == 0) {
		bool replaces;
		uint32_t tag = TAG(el->group, el->element);
		if (b_blobs_before(r, tag, &replaces))
			return 1;
		if (replaces || added_by_deid(tag)) {
			r->skip_open = 1;
			return 0;
		}
	}
	return mc_fwd_sequence_start(&r->fwd, el) ? r_fail(r, r->fwd.st) : 0;
}

static int b_sequence_end(void *ctx, unsigned depth)
{
	reid *r = ctx;
	if (r->skip_open > 0) {
		r->skip_open--;
		return 0;
	}
	return mc_fwd_sequence_end(&r->fwd, depth) ? r_fail(r, r->fwd.st) : 0;
}

static int b_item_start(void *ctx, uint32_t length, unsigned depth)
{
	reid *r = ctx;
	if (r->skip_open > 0)
		return 0;
	return mc_fwd_item_start(&r->fwd, length, depth) ? r_fail(r, r->fwd.st) : 0;
}

static int b_item_end(void *ctx, unsigned depth)
{
	reid *r = ctx;
	if (r->skip_open > 0)
		return 0;
	return mc_fwd_item_end(&r->fwd, depth) ? r_fail(r, r->fwd.st) : 0;
}

static int b_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	reid *r = ctx;
	r->drop_chunks = false;
	r->in_pixels = false;
	if (r->skip_open > 0) {
		r->drop_chunks = true;
		return 0;
	}
	return mc_fwd_fragment(&r->fwd, index, offset, length) ? r_fail(r, r->fwd.st) : 0;
}

static int b_chunk(void *ctx, const uint8_t *b, size_t n)
{
	reid *r = ctx;
	if (r->skip_open > 0 || r->drop_chunks)
		return 0;
	while (r->in_pixels && n > 0) { /* restored in a copy: the reader's buffer is not ours */
		size_t k = n < MC_DICOM_VALUE_CAP ? n : MC_DICOM_VALUE_CAP, done;
		mc_deid_pixels_piece(&r->px, MC_DEID_PIXELS_RESTORE, b, k, r->piece, &done, NULL, r->region_data);
		if (done > 0 && mc_fwd_chunk(&r->fwd, r->piece, done))
			return r_fail(r, r->fwd.st);
		b += k;
		n -= k;
	}
	return n > 0 && mc_fwd_chunk(&r->fwd, b, n) ? r_fail(r, r->fwd.st) : 0;
}

/* Splits a decrypted Encrypted Content (a dataset in r->blob_ts) into r->blobs. */
static mc_status reid_split(reid *r, const uint8_t *plain, size_t len)
{
	memin mi = {plain, len, 0};
	mc_input in = {memin_read, &mi};
	mc_dicom_visitor v = {s_element, s_sequence_start, s_sequence_end, s_item_start, s_item_end, s_fragment};
	r->plain = plain;
	r->eas_items = 0;
	r->split.err = r->err;
	mc_err perr = {0};
	mc_status st = mc_dicom_parse_dataset(in, len, r->blob_ts, &v, s_chunk, r, &perr);
	st = parse_result(st, r->st, &perr, r->err);
	if (st == MC_OK && r->splitting)
		st = mc_fail(r->err, MC_ERR_HEADER, "malformed encrypted attributes: an attribute is not complete");
	if (st == MC_OK && r->eas_items != 1)
		st = mc_fail(r->err, MC_ERR_HEADER, "malformed encrypted attributes: no Modified Attributes item");
	if (st == MC_OK && r->regions_creator && !r->record)
		st =
		    mc_fail(r->err, MC_ERR_HEADER, "malformed encrypted attributes: a region creator without a record");
	if (st == MC_OK && r->record) {
		st = mc_deid_pixels_parse(r->record, r->record_len, &r->px, r->regions, &r->region_data,
		                          &r->region_flags, r->err);
		r->have_regions = st == MC_OK;
	}
	return st;
}

static void reid_free(reid *r)
{
	mc_dicom_writer_free(r->fwd.w);
	mc_dicom_writer_free(r->split.w);
	for (size_t i = 0; i < r->n_blobs; i++)
		buf_reset(&r->blobs[i].bytes);
	free(r->blobs);
	buf_reset(&r->content);
	buf_reset(&r->sop);
	mc_wipe(r, sizeof *r);
	free(r);
}

mc_status mc_deid_parse_modified(const uint8_t *plain, size_t len, const char *ts, size_t *n_attributes, mc_err *err)
{
	reid *r = calloc(1, sizeof *r);
	if (!r)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	r->err = err;
	r->sop.max = 64;
	snprintf(r->blob_ts, sizeof r->blob_ts, "%s", ts);
	mc_status st = reid_split(r, plain, len);
	*n_attributes = r->n_blobs;
	reid_free(r);
	return st;
}

mc_status mc_reid(mc_input in, mc_rewind_fn rewind, uint64_t total, mc_output out, const mc_identity *id, mc_err *err)
{
	if (!id || !rewind)
		return mc_fail(err, MC_ERR_MISUSE, "reid: an identity and a rewindable input are needed");
	reid *r = calloc(1, sizeof *r);
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	mc_status st;
	if (!r)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	r->err = err;
	r->content.max = MC_DEID_MAX_ENCRYPTED + (1u << 20);
	r->sop.max = 64;
	mc_dicom_visitor av = {a_element, a_sequence_start, a_sequence_end, a_item_start, NULL, NULL};
	mc_err aerr = {0};
	st = mc_dicom_parse_chunked(in, total, &av, a_chunk, r, &aerr);
	if (st == MC_ERR_CANCELLED && r->st == MC_OK && !r->in_eas)
		st = MC_OK; /* stopped after (0400,0500) */
	st = parse_result(st, r->st, &aerr, err);
	if (st != MC_OK)
		goto cleanup;
	if (!r->eas_seen || r->content.len == 0) {
		st = mc_fail(err, MC_ERR_UNSUPPORTED,
		             "the file has no Encrypted Attributes Sequence (0400,0500) with Encrypted Content: it "
		             "was not de-identified reversibly");
		goto cleanup;
	}
	if (strcmp(r->enc_ts, MC_DICOM_TS_EXPLICIT_LE) != 0 && strcmp(r->enc_ts, MC_DICOM_TS_IMPLICIT_LE) != 0) {
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "the encrypted attributes use the transfer syntax '%.64s'",
		             r->enc_ts);
		goto cleanup;
	}
	bool guessed;
	if ((st = cms_open(id, r->content.p, r->content.len, &plain, &plain_len, &guessed, err)) != MC_OK)
		goto cleanup;
	memcpy(r->blob_ts, r->enc_ts, sizeof r->blob_ts);
	if ((st = reid_split(r, plain, plain_len)) != MC_OK) {
		if (guessed)
			st = mc_fail(err, MC_ERR_NO_MATCH, "the encrypted attributes are not encrypted for this key");
		goto cleanup;
	}
	if ((st = do_rewind(rewind, in, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_dicom_writer_new(out, &r->fwd.w, err)) != MC_OK)
		goto cleanup;
	r->fwd.err = err;
	r->st = MC_OK;
	mc_dicom_visitor bv = {b_element, b_sequence_start, b_sequence_end, b_item_start, b_item_end, b_fragment};
	mc_err perr = {0};
	st = mc_dicom_parse_chunked(in, total, &bv, b_chunk, r, &perr);
	st = parse_result(st, r->st, &perr, err);
	bool replaces;
	if (st == MC_OK && (b_head(r) || b_blobs_before(r, UINT32_MAX, &replaces)))
		st = r->st;
	if (st == MC_OK && r->have_regions && (!r->pixels_done || r->px.saved != r->px.saved_len))
		st = mc_fail(err, MC_ERR_HEADER, "the file has a region record but its Pixel Data %s",
		             r->pixels_done ? "ended early" : "is missing");
	if (st == MC_OK)
		st = mc_dicom_writer_finish(r->fwd.w, err);
cleanup:
	if (plain) {
		mc_wipe(plain, plain_len);
		free(plain);
	}
	reid_free(r);
	return st == MC_OK ? mc_ok(err) : st;
}
