/*
 * dicom_write.c: the streaming DICOM writer of dicom_write.h and mc_dicom_copy. Output goes
 * through a 64 KiB buffer; the nesting of sequences, items and encapsulated pixel data is kept
 * on a fixed stack of frames, each with its end (for defined lengths) so that every byte
 * written is checked against the lengths already promised in the file. Values read from an
 * explicit VR big endian file are swapped per VR on the way, with a carry of up to 7 bytes for
 * units split between pieces. References are to PS3.5 (encoding) and PS3.10 (file format).
 */
#include <errno.h>
#include <medcrypt/dicom_write.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deid_internal.h"
#include "internal.h"

#define OUT_BUF   65536u
#define NO_END    UINT64_MAX
#define MAX_STACK (2u * MC_DICOM_MAX_DEPTH + 3u)

typedef enum wframe_kind { W_ROOT, W_SEQ, W_ITEM, W_ENCAP } wframe_kind;

typedef struct wframe {
	wframe_kind kind;
	uint64_t end; /* offset just past its value, or NO_END */
	bool explicit_vr, swap;
} wframe;

struct mc_dicom_writer {
	mc_output out;
	uint64_t offset; /* bytes written, buffered included */
	size_t used;
	bool head_done, swap;
	/* the value being written: bytes still expected, and its swap unit */
	uint64_t value_left;
	unsigned unit;
	uint8_t carry[8];
	unsigned carried;
	wframe stack[MAX_STACK];
	unsigned top;
	uint8_t buf[OUT_BUF];
};

static mc_status flush(mc_dicom_writer *w, mc_err *err)
{
	if (w->used == 0)
		return MC_OK;
	if (w->out.write(w->out.ctx, w->buf, w->used) != 0)
		return mc_fail(err, MC_ERR_IO, "write failed: %s", strerror(errno));
	w->used = 0;
	return MC_OK;
}

static mc_status emit(mc_dicom_writer *w, const uint8_t *p, size_t n, mc_err *err)
{
	mc_status st;
	if (n >= OUT_BUF) {
		if ((st = flush(w, err)) != MC_OK)
			return st;
		if (w->out.write(w->out.ctx, p, n) != 0)
			return mc_fail(err, MC_ERR_IO, "write failed: %s", strerror(errno));
	} else {
		if (w->used + n > OUT_BUF && (st = flush(w, err)) != MC_OK)
			return st;
		memcpy(w->buf + w->used, p, n);
		w->used += n;
	}
	w->offset += n;
	return MC_OK;
}

static wframe *top(mc_dicom_writer *w)
{
	return &w->stack[w->top];
}

/* Refuses n more bytes that would cross the end of an enclosing frame with a defined length. */
static mc_status room(mc_dicom_writer *w, uint64_t n, mc_err *err)
{
	for (unsigned i = 0; i <= w->top; i++) {
		const wframe *f = &w->stack[i];
		if (f->end != NO_END && (w->offset > f->end || n > f->end - w->offset))
			return mc_fail(err, MC_ERR_MISUSE,
			               "DICOM writer: %llu bytes at offset %llu do not fit the defined length of the "
			               "enclosing %s",
			               (unsigned long long)n, (unsigned long long)w->offset,
			               f->kind == W_ITEM ? "item" : "sequence");
	}
	return MC_OK;
}

static mc_status ready(mc_dicom_writer *w, mc_err *err)
{
	if (!w)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: NULL writer");
	if (w->value_left > 0)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: %llu bytes of the previous value are missing",
		               (unsigned long long)w->value_left);
	return MC_OK;
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

/* VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2). */
static bool long_vr(const char *vr)
{
	static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
	                                    "SV", "UC", "UN", "UR", "UT", "UV"};
	for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
		if (memcmp(vr, longs[i], 2) == 0)
			return true;
	return false;
}

static bool valid_vr(const char *vr)
{
	return vr && vr[0] >= 'A' && vr[0] <= 'Z' && vr[1] >= 'A' && vr[1] <= 'Z';
}

/* Byte-swap unit of a VR's values (0: bytes or text). */
static unsigned swap_unit(const char *vr)
{
	static const struct {
		const char *vr;
		unsigned unit;
	} units[] = {{"US", 2}, {"SS", 2}, {"OW", 2}, {"AT", 2}, {"UL", 4}, {"SL", 4}, {"FL", 4},
	             {"OF", 4}, {"OL", 4}, {"FD", 8}, {"OD", 8}, {"SV", 8}, {"UV", 8}, {"OV", 8}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (memcmp(vr, units[i].vr, 2) == 0)
			return units[i].unit;
	return 0;
}

/* Writes a tag, VR and length in the current frame's encoding. */
static mc_status put_header(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, uint32_t length,
                            uint64_t value_bytes, mc_err *err)
{
	uint8_t h[12];
	size_t n;
	le16(h, group);
	le16(h + 2, element);
	if (!top(w)->explicit_vr || group == 0xFFFE) {
		le32(h + 4, length);
		n = 8;
	} else if (long_vr(vr)) {
		h[4] = (uint8_t)vr[0];
		h[5] = (uint8_t)vr[1];
		h[6] = h[7] = 0;
		le32(h + 8, length);
		n = 12;
	} else {
		if (length > 0xFFFF)
			return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: (%04X,%04X) of VR %s cannot hold %lu bytes",
			               (unsigned)group, (unsigned)element, vr, (unsigned long)length);
		h[4] = (uint8_t)vr[0];
		h[5] = (uint8_t)vr[1];
		le16(h + 6, (uint16_t)length);
		n = 8;
	}
	/* the header and what must follow it fit, or nothing is written */
	mc_status st = room(w, n + value_bytes, err);
	return st != MC_OK ? st : emit(w, h, n, err);
}

static mc_status push(mc_dicom_writer *w, wframe_kind kind, uint32_t length, bool explicit_vr, bool swap, mc_err *err)
{
	if (w->top + 1 >= MAX_STACK)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: nested deeper than %u sequences", MC_DICOM_MAX_DEPTH);
	if (length != MC_DICOM_UNDEFINED_LENGTH) {
		mc_status st = room(w, length, err);
		if (st != MC_OK)
			return st;
	}
	wframe *f = &w->stack[++w->top];
	f->kind = kind;
	f->end = length == MC_DICOM_UNDEFINED_LENGTH ? NO_END : w->offset + length;
	f->explicit_vr = explicit_vr;
	f->swap = swap;
	return MC_OK;
}

/* Leaves the current frame of kind, writing its delimiter when its length is undefined. */
static mc_status pop(mc_dicom_writer *w, wframe_kind kind, uint16_t delimiter, mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	wframe *f = top(w);
	if (f->kind != kind)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: closing a %s that is not open",
		               kind == W_ITEM ? "item" : "sequence");
	if (f->end == NO_END) {
		uint8_t d[8];
		le16(d, 0xFFFE);
		le16(d + 2, delimiter);
		le32(d + 4, 0);
		if ((st = room(w, 8, err)) != MC_OK || (st = emit(w, d, 8, err)) != MC_OK)
			return st;
	} else if (w->offset != f->end) {
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: the %s ends %llu bytes before its defined length",
		               kind == W_ITEM ? "item" : "sequence", (unsigned long long)(f->end - w->offset));
	}
	w->top--;
	return MC_OK;
}

mc_status mc_dicom_writer_new(mc_output out, mc_dicom_writer **w, mc_err *err)
{
	*w = NULL;
	if (!out.write)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: no output");
	mc_dicom_writer *d = malloc(sizeof *d);
	if (!d)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memset(d, 0, offsetof(mc_dicom_writer, buf));
	d->out = out;
	d->stack[0].kind = W_ROOT;
	d->stack[0].end = NO_END;
	d->stack[0].explicit_vr = true;
	*w = d;
	return MC_OK;
}

void mc_dicom_writer_free(mc_dicom_writer *w)
{
	free(w);
}

void mc_dicom_writer_set_explicit(mc_dicom_writer *w, int explicit_vr)
{
	w->stack[0].explicit_vr = explicit_vr != 0;
}

void mc_dicom_writer_swap(mc_dicom_writer *w, int from_big_endian)
{
	w->swap = from_big_endian != 0;
	w->stack[0].swap = w->swap;
}

uint64_t mc_dicom_writer_offset(const mc_dicom_writer *w)
{
	return w->offset;
}

mc_status mc_dicom_write_head(mc_dicom_writer *w, const uint8_t *preamble, const mc_dicom_meta_element *els, size_t n,
                              mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	if (w->head_done || w->offset != 0)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: the head must come first, once");
	uint64_t group_len = 0;
	const mc_dicom_meta_element *ts = NULL;
	for (size_t i = 0; i < n; i++) {
		if (els[i].element == 0 || (i > 0 && els[i].element <= els[i - 1].element) || els[i].length % 2 ||
		    !valid_vr(els[i].vr))
			return mc_fail(err, MC_ERR_MISUSE,
			               "DICOM writer: file meta element (0002,%04X) is out of order, odd or has no VR",
			               (unsigned)els[i].element);
		if (els[i].element == 0x0010)
			ts = &els[i];
		group_len += (long_vr(els[i].vr) ? 12u : 8u) + els[i].length;
	}
	if (!ts)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: the file meta group needs (0002,0010)");
	if (group_len > UINT32_MAX)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: the file meta group is too long");
	char uid[65];
	size_t ul = ts->length < sizeof uid ? ts->length : sizeof uid - 1;
	memcpy(uid, ts->value, ul);
	while (ul > 0 && (uid[ul - 1] == 0 || uid[ul - 1] == ' '))
		ul--;
	uid[ul] = 0;
	if (strcmp(uid, MC_DICOM_TS_EXPLICIT_BE) == 0)
		return mc_fail(err, MC_ERR_UNSUPPORTED,
		               "DICOM writer: explicit VR big endian is not written (write explicit VR little endian)");

	static const uint8_t zeros[128];
	if ((st = emit(w, preamble ? preamble : zeros, 128, err)) != MC_OK ||
	    (st = emit(w, (const uint8_t *)"DICM", 4, err)) != MC_OK)
		return st;
	w->stack[0].explicit_vr = true; /* PS3.10 7.1: the meta group is explicit VR little endian */
	w->stack[0].swap = false;
	uint8_t gl[4];
	le32(gl, (uint32_t)group_len);
	if ((st = put_header(w, 0x0002, 0x0000, "UL", 4, 4, err)) != MC_OK || (st = emit(w, gl, 4, err)) != MC_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if ((st = put_header(w, 0x0002, els[i].element, els[i].vr, els[i].length, els[i].length, err)) !=
		        MC_OK ||
		    (st = emit(w, els[i].value, els[i].length, err)) != MC_OK)
			return st;
	w->stack[0].explicit_vr = strcmp(uid, MC_DICOM_TS_IMPLICIT_LE) != 0;
	w->stack[0].swap = w->swap;
	w->head_done = true;
	return MC_OK;
}

/* Writes value bytes, swapped when the value came big endian. */
static mc_status put_value(mc_dicom_writer *w, const uint8_t *p, size_t n, mc_err *err)
{
	mc_status st;
	if (w->unit == 0)
		return emit(w, p, n, err);
	uint8_t tmp[4096];
	while (n > 0) {
		/* fill the carry to a whole unit, or take whole units straight from p */
		if (w->carried > 0 || n < w->unit) {
			size_t k = w->unit - w->carried;
			if (k > n)
				k = n;
			memcpy(w->carry + w->carried, p, k);
			w->carried += (unsigned)k;
			p += k;
			n -= k;
			if (w->carried == w->unit) {
				for (unsigned i = 0; i < w->unit; i++)
					tmp[i] = w->carry[w->unit - 1 - i];
				w->carried = 0;
				if ((st = emit(w, tmp, w->unit, err)) != MC_OK)
					return st;
			}
			continue;
		}
		size_t whole = n - n % w->unit;
		if (whole > sizeof tmp)
			whole = sizeof tmp;
		for (size_t u = 0; u < whole; u += w->unit)
			for (unsigned i = 0; i < w->unit; i++)
				tmp[u + i] = p[u + w->unit - 1 - i];
		if ((st = emit(w, tmp, whole, err)) != MC_OK)
			return st;
		p += whole;
		n -= whole;
	}
	return MC_OK;
}

mc_status mc_dicom_write_header(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, uint32_t length,
                                mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	wframe *f = top(w);
	if (f->kind != W_ROOT && f->kind != W_ITEM)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: an element must be in the dataset or an item");
	if (!valid_vr(vr))
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: (%04X,%04X) has no valid VR", (unsigned)group,
		               (unsigned)element);
	if (length == MC_DICOM_UNDEFINED_LENGTH || length % 2)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: (%04X,%04X) has the length %lu (must be even)",
		               (unsigned)group, (unsigned)element, (unsigned long)length);
	if (group == 0xFFFE)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: delimiters are written by the writer itself");
	if ((st = put_header(w, group, element, vr, length, length, err)) != MC_OK)
		return st;
	w->value_left = length;
	w->unit = f->swap ? swap_unit(vr) : 0;
	w->carried = 0;
	return MC_OK;
}

mc_status mc_dicom_write_value(mc_dicom_writer *w, const uint8_t *bytes, size_t len, mc_err *err)
{
	if (!w)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: NULL writer");
	if (len > w->value_left)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: %zu value bytes given, %llu expected", len,
		               (unsigned long long)w->value_left);
	if (len == 0)
		return MC_OK;
	mc_status st = put_value(w, bytes, len, err);
	if (st != MC_OK)
		return st;
	w->value_left -= len;
	if (w->value_left == 0 && w->carried > 0) {
		/* a malformed value whose length is not a whole number of units: the tail that
		 * makes no unit is copied as it is, so the lengths around it still hold */
		unsigned k = w->carried;
		w->carried = 0;
		return emit(w, w->carry, k, err);
	}
	return MC_OK;
}

mc_status mc_dicom_write_element(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr,
                                 const uint8_t *value, uint32_t length, mc_err *err)
{
	mc_status st = mc_dicom_write_header(w, group, element, vr, length, err);
	return st != MC_OK ? st : mc_dicom_write_value(w, value, length, err);
}

mc_status mc_dicom_write_sequence(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, uint32_t length,
                                  mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	wframe *f = top(w);
	if (f->kind != W_ROOT && f->kind != W_ITEM)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: a sequence must be in the dataset or an item");
	bool un = vr && strcmp(vr, "UN") == 0;
	if (!vr || (!un && strcmp(vr, "SQ") != 0))
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: a sequence has VR SQ or UN");
	if ((st = put_header(w, group, element, vr, length, length == MC_DICOM_UNDEFINED_LENGTH ? 0 : length, err)) !=
	    MC_OK)
		return st;
	bool explicit_vr = un ? false : f->explicit_vr;
	return push(w, W_SEQ, length, explicit_vr, un ? false : f->swap, err);
}

mc_status mc_dicom_write_item(mc_dicom_writer *w, uint32_t length, mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	wframe *f = top(w);
	if (f->kind != W_SEQ)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: an item must be in a sequence");
	if (length != MC_DICOM_UNDEFINED_LENGTH && length % 2)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: an item has an odd length");
	if ((st = put_header(w, 0xFFFE, 0xE000, NULL, length, length == MC_DICOM_UNDEFINED_LENGTH ? 0 : length, err)) !=
	    MC_OK)
		return st;
	return push(w, W_ITEM, length, f->explicit_vr, f->swap, err);
}

mc_status mc_dicom_write_item_end(mc_dicom_writer *w, mc_err *err)
{
	return pop(w, W_ITEM, 0xE00D, err);
}

mc_status mc_dicom_write_sequence_end(mc_dicom_writer *w, mc_err *err)
{
	return pop(w, W_SEQ, 0xE0DD, err);
}

mc_status mc_dicom_write_encapsulated(mc_dicom_writer *w, uint16_t group, uint16_t element, const char *vr, mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	wframe *f = top(w);
	if (f->kind != W_ROOT && f->kind != W_ITEM)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: pixel data must be in the dataset or an item");
	if (!valid_vr(vr))
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: encapsulated pixel data has no valid VR");
	if ((st = put_header(w, group, element, vr, MC_DICOM_UNDEFINED_LENGTH, 0, err)) != MC_OK)
		return st;
	return push(w, W_ENCAP, MC_DICOM_UNDEFINED_LENGTH, f->explicit_vr, false, err);
}

mc_status mc_dicom_write_fragment(mc_dicom_writer *w, uint32_t length, mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	if (top(w)->kind != W_ENCAP)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: a fragment must be in encapsulated pixel data");
	if (length == MC_DICOM_UNDEFINED_LENGTH || length % 2)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: a fragment has an even, defined length");
	if ((st = put_header(w, 0xFFFE, 0xE000, NULL, length, length, err)) != MC_OK)
		return st;
	w->value_left = length;
	w->unit = 0;
	w->carried = 0;
	return MC_OK;
}

mc_status mc_dicom_write_encapsulated_end(mc_dicom_writer *w, mc_err *err)
{
	return pop(w, W_ENCAP, 0xE0DD, err);
}

mc_status mc_dicom_writer_finish(mc_dicom_writer *w, mc_err *err)
{
	mc_status st = ready(w, err);
	if (st != MC_OK)
		return st;
	if (w->top != 0)
		return mc_fail(err, MC_ERR_MISUSE, "DICOM writer: %u sequences, items or pixel data still open",
		               w->top);
	return flush(w, err);
}

/* ---- the forwarder of deid_internal.h */

int mc_fwd_fail(mc_fwd *f, mc_status st)
{
	if (f->st == MC_OK)
		f->st = st;
	return st != MC_OK;
}

static int fwd_push(mc_fwd *f, bool encapsulated)
{
	if (f->open >= MC_FWD_STACK)
		return mc_fwd_fail(f, mc_fail(f->err, MC_ERR_HEADER, "malformed DICOM: nested too deep"));
	f->encapsulated[f->open++] = encapsulated;
	return 0;
}

int mc_fwd_element(void *ctx, const mc_dicom_element *el)
{
	mc_fwd *f = ctx;
	if (el->length == MC_DICOM_UNDEFINED_LENGTH) {
		if (fwd_push(f, true))
			return 1;
		return mc_fwd_fail(f, mc_dicom_write_encapsulated(f->w, el->group, el->element, el->vr, f->err));
	}
	if (el->value)
		return mc_fwd_fail(
		    f, mc_dicom_write_element(f->w, el->group, el->element, el->vr, el->value, el->length, f->err));
	return mc_fwd_fail(f, mc_dicom_write_header(f->w, el->group, el->element, el->vr, el->length, f->err));
}

int mc_fwd_chunk(void *ctx, const uint8_t *bytes, size_t len)
{
	mc_fwd *f = ctx;
	return mc_fwd_fail(f, mc_dicom_write_value(f->w, bytes, len, f->err));
}

int mc_fwd_sequence_start(void *ctx, const mc_dicom_element *el)
{
	mc_fwd *f = ctx;
	if (fwd_push(f, false))
		return 1;
	uint32_t len = f->undefined_lengths ? MC_DICOM_UNDEFINED_LENGTH : el->length;
	return mc_fwd_fail(f, mc_dicom_write_sequence(f->w, el->group, el->element, el->vr, len, f->err));
}

int mc_fwd_sequence_end(void *ctx, unsigned depth)
{
	mc_fwd *f = ctx;
	(void)depth;
	if (f->open == 0)
		return mc_fwd_fail(f, mc_fail(f->err, MC_ERR_MISUSE, "DICOM copy: unbalanced sequence end"));
	if (f->encapsulated[--f->open])
		return mc_fwd_fail(f, mc_dicom_write_encapsulated_end(f->w, f->err));
	return mc_fwd_fail(f, mc_dicom_write_sequence_end(f->w, f->err));
}

int mc_fwd_item_start(void *ctx, uint32_t length, unsigned depth)
{
	mc_fwd *f = ctx;
	(void)depth;
	return mc_fwd_fail(
	    f, mc_dicom_write_item(f->w, f->undefined_lengths ? MC_DICOM_UNDEFINED_LENGTH : length, f->err));
}

int mc_fwd_item_end(void *ctx, unsigned depth)
{
	mc_fwd *f = ctx;
	(void)depth;
	return mc_fwd_fail(f, mc_dicom_write_item_end(f->w, f->err));
}

int mc_fwd_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	mc_fwd *f = ctx;
	(void)index;
	(void)offset;
	return mc_fwd_fail(f, mc_dicom_write_fragment(f->w, length, f->err));
}

/* ---- mc_dicom_copy */

#define MAX_META 32

typedef struct copier {
	mc_fwd fwd; /* first: the callbacks below get a copier as their mc_fwd */
	bool head_written, big_endian;
	uint8_t preamble[128];
	size_t preamble_got;
	mc_input in;
	mc_dicom_meta_element meta[MAX_META];
	uint8_t *meta_values[MAX_META];
	size_t n_meta;
} copier;

/* Records the preamble while passing the bytes through. */
static long tee_read(void *ctx, uint8_t *buf, size_t len)
{
	copier *c = ctx;
	long n = c->in.read(c->in.ctx, buf, len);
	if (n > 0 && c->preamble_got < sizeof c->preamble) {
		size_t k = sizeof c->preamble - c->preamble_got;
		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(c->preamble + c->preamble_got, buf, k);
		c->preamble_got += k;
	}
	return n;
}

static int write_head(copier *c)
{
	if (c->head_written)
		return 0;
	c->head_written = true;
	static const uint8_t explicit_le[] = "1.2.840.10008.1.2.1"; /* 19 characters and the NUL pad */
	for (size_t i = 0; i < c->n_meta; i++) {
		mc_dicom_meta_element *m = &c->meta[i];
		if (m->element != 0x0010)
			continue;
		char uid[65] = {0};
		memcpy(uid, m->value, m->length < 64 ? m->length : 64);
		for (size_t k = strlen(uid); k > 0 && uid[k - 1] == ' '; k--)
			uid[k - 1] = 0;
		if (strcmp(uid, MC_DICOM_TS_EXPLICIT_BE) == 0) {
			c->big_endian = true;
			m->value = explicit_le;
			m->length = sizeof explicit_le;
		}
	}
	mc_dicom_writer_swap(c->fwd.w, c->big_endian);
	return mc_fwd_fail(&c->fwd, mc_dicom_write_head(c->fwd.w, c->preamble, c->meta, c->n_meta, c->fwd.err));
}

static int copy_element(void *ctx, const mc_dicom_element *el)
{
	copier *c = ctx;
	if (el->group == 0x0002 && el->depth == 0 && !c->head_written) {
		if (el->element == 0x0000)
			return 0; /* recomputed */
		if (!el->value || c->n_meta == MAX_META)
			return mc_fwd_fail(&c->fwd,
			                   mc_fail(c->fwd.err, MC_ERR_UNSUPPORTED,
			                           "the file meta group has more than %u elements or one over %u bytes",
			                           MAX_META, MC_DICOM_VALUE_CAP));
		uint8_t *copy = malloc(el->length ? el->length : 1);
		if (!copy)
			return mc_fwd_fail(&c->fwd, mc_fail(c->fwd.err, MC_ERR_NOMEM, "out of memory"));
		memcpy(copy, el->value, el->length);
		c->meta_values[c->n_meta] = copy;
		mc_dicom_meta_element *m = &c->meta[c->n_meta++];
		m->element = el->element;
		memcpy(m->vr, el->vr, 3);
		m->value = copy;
		m->length = el->length;
		return 0;
	}
	if (write_head(c))
		return 1;
	return mc_fwd_element(&c->fwd, el);
}

static int copy_sequence_start(void *ctx, const mc_dicom_element *el)
{
	copier *c = ctx;
	if (write_head(c))
		return 1;
	return mc_fwd_sequence_start(&c->fwd, el);
}

mc_status mc_dicom_copy(mc_input in, uint64_t total, mc_output out, mc_err *err)
{
	copier c;
	memset(&c, 0, sizeof c);
	c.fwd.err = err;
	c.in = in;
	mc_status st = mc_dicom_writer_new(out, &c.fwd.w, err);
	if (st != MC_OK)
		return st;
	mc_dicom_visitor v = {copy_element,      copy_sequence_start, mc_fwd_sequence_end,
	                      mc_fwd_item_start, mc_fwd_item_end,     mc_fwd_fragment};
	mc_input tee = {tee_read, &c};
	st = mc_dicom_parse_chunked(tee, total, &v, mc_fwd_chunk, &c, err);
	if (st == MC_ERR_CANCELLED && c.fwd.st != MC_OK)
		st = c.fwd.st;
	if (st == MC_OK && !write_head(&c))
		st = mc_dicom_writer_finish(c.fwd.w, err);
	else if (st == MC_OK)
		st = c.fwd.st;
	for (size_t i = 0; i < c.n_meta; i++)
		free(c.meta_values[i]);
	mc_dicom_writer_free(c.fwd.w);
	return st;
}
