/*
 * dicom.c: the streaming DICOM Part 10 reader of dicom.h. One pass over the input through a
 * 64 KiB read buffer; the nesting of sequences, items and encapsulated pixel data is kept on a
 * fixed explicit stack of frames, each with its end (for defined lengths) and the nearest end of
 * any enclosing frame (its limit), so that every length read from the file is checked against
 * what can still belong to it before anything is read or skipped. References are to PS3.5
 * (data encoding) and PS3.10 (file format).
 */
#include <errno.h>
#include <medcrypt/dicom.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define READ_BUF     65536u
#define NO_END       UINT64_MAX
#define PREAMBLE_LEN 128u
#define MAX_FRAMES   (2u * MC_DICOM_MAX_DEPTH + 3u)

#define TAG(g, e)           (((uint32_t)(g) << 16) | (uint32_t)(e))
#define TAG_ITEM            TAG(0xFFFE, 0xE000)
#define TAG_ITEM_END        TAG(0xFFFE, 0xE00D)
#define TAG_SEQ_END         TAG(0xFFFE, 0xE0DD)
#define TAG_PIXEL_DATA      TAG(0x7FE0, 0x0010)
#define TAG_TRANSFER_SYNTAX TAG(0x0002, 0x0010)

typedef enum frame_kind { F_ROOT, F_SEQ, F_ITEM, F_FRAGMENTS } frame_kind;

/* A dataset, sequence, item or run of pixel data fragments being read. */
typedef struct frame {
	frame_kind kind;
	uint64_t end;   /* offset just past its value, or NO_END for an undefined length */
	uint64_t limit; /* the nearest end of this frame or any enclosing one (NO_END if none) */
	bool explicit_vr, big_endian;
	unsigned depth; /* depth of the elements read in this frame (of the sequence, for F_SEQ) */
	unsigned fragments;
} frame;

typedef struct parser {
	mc_input in;
	const mc_dicom_visitor *v;
	mc_dicom_chunk_fn chunk; /* NULL: large values and fragments are skipped, not streamed */
	void *ctx;
	mc_err *err;
	uint64_t offset; /* file offset of buf[pos] */
	size_t pos, len;
	bool eof;
	frame stack[MAX_FRAMES];
	unsigned top;
	char transfer_syntax[65];
	uint8_t buf[READ_BUF];
	uint8_t value[MC_DICOM_VALUE_CAP];
} parser;

static mc_status truncated(parser *p, const char *what)
{
	return mc_fail(p->err, MC_ERR_HEADER, "truncated DICOM file: it ends at byte %llu, inside %s",
	               (unsigned long long)(p->offset + (p->len - p->pos)), what);
}

/* Makes at least want bytes (at most READ_BUF) available in buf, unless the input ends first. */
static mc_status fill(parser *p, size_t want)
{
	if (p->len - p->pos >= want || p->eof)
		return MC_OK;
	memmove(p->buf, p->buf + p->pos, p->len - p->pos);
	p->len -= p->pos;
	p->pos = 0;
	while (p->len < want && !p->eof) {
		long n = p->in.read(p->in.ctx, p->buf + p->len, READ_BUF - p->len);
		if (n < 0)
			return mc_fail(p->err, MC_ERR_IO, "read failed at byte %llu: %s",
			               (unsigned long long)(p->offset + p->len), strerror(errno));
		if (n == 0)
			p->eof = true;
		else
			p->len += (size_t)n;
	}
	return MC_OK;
}

/* Copies n bytes to dst (or discards them when dst is NULL); a short input is MC_ERR_HEADER. */
static mc_status take(parser *p, uint8_t *dst, uint64_t n, const char *what)
{
	while (n > 0) {
		size_t chunk = n < READ_BUF ? (size_t)n : READ_BUF;
		mc_status st = fill(p, chunk);
		if (st != MC_OK)
			return st;
		size_t have = p->len - p->pos;
		if (have == 0)
			return truncated(p, what);
		if (chunk > have)
			chunk = have;
		if (dst) {
			memcpy(dst, p->buf + p->pos, chunk);
			dst += chunk;
		}
		p->pos += chunk;
		p->offset += chunk;
		n -= chunk;
	}
	return MC_OK;
}

static mc_status stopped(parser *p);

/* Passes n bytes to the chunk callback in the pieces the read buffer holds. */
static mc_status take_chunks(parser *p, uint64_t n, const char *what)
{
	while (n > 0) {
		size_t chunk = n < READ_BUF ? (size_t)n : READ_BUF;
		mc_status st = fill(p, chunk);
		if (st != MC_OK)
			return st;
		size_t have = p->len - p->pos;
		if (have == 0)
			return truncated(p, what);
		if (chunk > have)
			chunk = have;
		if (p->chunk(p->ctx, p->buf + p->pos, chunk))
			return stopped(p);
		p->pos += chunk;
		p->offset += chunk;
		n -= chunk;
	}
	return MC_OK;
}

static frame *top(parser *p)
{
	return &p->stack[p->top];
}

static uint16_t load16(const frame *f, const uint8_t *b)
{
	return f->big_endian ? (uint16_t)((b[0] << 8) | b[1]) : (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t load32(const frame *f, const uint8_t *b)
{
	return f->big_endian ? ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3]
	                     : ((uint32_t)b[3] << 24) | ((uint32_t)b[2] << 16) | ((uint32_t)b[1] << 8) | b[0];
}

/* Is the frame's limit the end of the file (so that crossing it means the file is short)? */
static bool file_end(const parser *p, const frame *f)
{
	return f->limit == p->stack[0].limit;
}

/* Reads n header bytes of the current frame, which must not cross its limit. */
static mc_status header(parser *p, uint8_t *dst, size_t n, uint64_t tag_offset)
{
	const frame *f = top(p);
	if (f->limit != NO_END && (p->offset > f->limit || n > f->limit - p->offset))
		return mc_fail(
		    p->err, MC_ERR_HEADER, "%s: the element header at byte %llu crosses the end of its %s at byte %llu",
		    file_end(p, f) ? "truncated DICOM file" : "malformed DICOM", (unsigned long long)tag_offset,
		    file_end(p, f) ? "file" : "enclosing item or sequence", (unsigned long long)f->limit);
	return take(p, dst, n, "an element header");
}

/* Checks that a value of length len, starting at the current offset, fits in the frame. */
static mc_status fits(parser *p, uint32_t len, uint32_t tag, uint64_t tag_offset)
{
	const frame *f = top(p);
	if (f->limit != NO_END && len > f->limit - p->offset)
		return mc_fail(
		    p->err, MC_ERR_HEADER,
		    "%s: the length %lu of (%04X,%04X) at byte %llu runs past the end of its %s at byte %llu",
		    file_end(p, f) ? "truncated DICOM file" : "malformed DICOM", (unsigned long)len,
		    (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF), (unsigned long long)tag_offset,
		    file_end(p, f) ? "file" : "enclosing item or sequence", (unsigned long long)f->limit);
	return MC_OK;
}

static mc_status push(parser *p, frame_kind kind, uint32_t len, bool explicit_vr, bool big_endian, unsigned depth)
{
	const frame *parent = top(p);
	if (p->top + 1 >= MAX_FRAMES) /* unreachable while the depth check holds; kept as a guard */
		return mc_fail(p->err, MC_ERR_HEADER, "malformed DICOM: nested too deep");
	frame *f = &p->stack[++p->top];
	memset(f, 0, sizeof *f);
	f->kind = kind;
	f->end = len == MC_DICOM_UNDEFINED_LENGTH ? NO_END : p->offset + len;
	f->limit = f->end != NO_END ? f->end : parent->limit;
	f->explicit_vr = explicit_vr;
	f->big_endian = big_endian;
	f->depth = depth;
	return MC_OK;
}

static mc_status stopped(parser *p)
{
	return mc_fail(p->err, MC_ERR_CANCELLED, "the DICOM reader was stopped by its caller");
}

/* Leaves the current frame, telling the visitor. */
static mc_status pop(parser *p)
{
	const frame *f = top(p);
	int stop = 0;
	if (f->kind == F_SEQ && p->v && p->v->sequence_end)
		stop = p->v->sequence_end(p->ctx, f->depth);
	else if (f->kind == F_ITEM && p->v && p->v->item_end)
		stop = p->v->item_end(p->ctx, f->depth);
	else if (f->kind == F_FRAGMENTS && p->chunk && p->v && p->v->sequence_end)
		stop = p->v->sequence_end(p->ctx, f->depth); /* streaming: the end of the fragments too */
	p->top--;
	return stop ? stopped(p) : MC_OK;
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

/* Chooses the dataset's encoding from (0002,0010), at the end of the file meta group. */
static mc_status start_dataset(parser *p, frame *root)
{
	const char *ts = p->transfer_syntax;
	if (!ts[0])
		return mc_fail(p->err, MC_ERR_HEADER,
		               "malformed DICOM: the file meta group has no transfer syntax (0002,0010)");
	if (strcmp(ts, "1.2.840.10008.1.2.1.99") == 0 || strcmp(ts, "1.2.840.10008.1.2.4.95") == 0)
		return mc_fail(p->err, MC_ERR_UNSUPPORTED,
		               "the deflated transfer syntax %s is not supported (dcmconv +te converts the file)", ts);
	root->explicit_vr = strcmp(ts, "1.2.840.10008.1.2") != 0;
	root->big_endian = strcmp(ts, "1.2.840.10008.1.2.2") == 0;
	return MC_OK;
}

/* Inside a sequence: an item, or the sequence delimiter. */
static mc_status sequence_step(parser *p, uint32_t tag, uint64_t tag_offset)
{
	uint8_t b[4];
	mc_status st = header(p, b, 4, tag_offset);
	if (st != MC_OK)
		return st;
	frame *f = top(p);
	uint32_t len = load32(f, b);
	if (tag == TAG_ITEM) {
		if (len != MC_DICOM_UNDEFINED_LENGTH && len % 2 != 0)
			return mc_fail(
			    p->err, MC_ERR_HEADER,
			    "malformed DICOM: the item at byte %llu has the odd length %lu (PS3.5 7.5 requires even)",
			    (unsigned long long)tag_offset, (unsigned long)len);
		if (len != MC_DICOM_UNDEFINED_LENGTH && (st = fits(p, len, tag, tag_offset)) != MC_OK)
			return st;
		unsigned depth = f->depth + 1;
		if ((st = push(p, F_ITEM, len, f->explicit_vr, f->big_endian, depth)) != MC_OK)
			return st;
		if (p->v && p->v->item_start && p->v->item_start(p->ctx, len, depth))
			return stopped(p);
		return MC_OK;
	}
	if (tag == TAG_SEQ_END && f->end == NO_END) {
		if (len != 0)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: sequence delimiter at byte %llu has length %lu, not 0",
			               (unsigned long long)tag_offset, (unsigned long)len);
		return pop(p);
	}
	return mc_fail(p->err, MC_ERR_HEADER, "malformed DICOM: expected an item at byte %llu, found (%04X,%04X)",
	               (unsigned long long)tag_offset, (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF));
}

/* Inside encapsulated pixel data: a fragment (skipped), or the sequence delimiter. */
static mc_status fragment_step(parser *p, uint32_t tag, uint64_t tag_offset)
{
	uint8_t b[4];
	mc_status st = header(p, b, 4, tag_offset);
	if (st != MC_OK)
		return st;
	frame *f = top(p);
	uint32_t len = load32(f, b);
	if (tag == TAG_ITEM) {
		if (len == MC_DICOM_UNDEFINED_LENGTH)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: the pixel data fragment at byte %llu has an undefined length",
			               (unsigned long long)tag_offset);
		if (len % 2 != 0)
			return mc_fail(
			    p->err, MC_ERR_HEADER,
			    "malformed DICOM: the pixel data fragment at byte %llu has the odd length %lu (PS3.5 "
			    "A.4 requires even)",
			    (unsigned long long)tag_offset, (unsigned long)len);
		if ((st = fits(p, len, tag, tag_offset)) != MC_OK)
			return st;
		uint64_t value_offset = p->offset;
		if (p->chunk) {
			/* Streaming: reported first, then its bytes. */
			if (p->v && p->v->fragment && p->v->fragment(p->ctx, f->fragments, value_offset, len))
				return stopped(p);
			f->fragments++;
			return take_chunks(p, len, "a pixel data fragment");
		}
		if ((st = take(p, NULL, len, "a pixel data fragment")) != MC_OK)
			return st;
		/* Reported once skipped, so that a fragment the visitor sees is all in the file. */
		if (p->v && p->v->fragment && p->v->fragment(p->ctx, f->fragments, value_offset, len))
			return stopped(p);
		f->fragments++;
		return MC_OK;
	}
	if (tag == TAG_SEQ_END) {
		if (len != 0)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: sequence delimiter at byte %llu has length %lu, not 0",
			               (unsigned long long)tag_offset, (unsigned long)len);
		return pop(p);
	}
	return mc_fail(p->err, MC_ERR_HEADER,
	               "malformed DICOM: expected a pixel data fragment at byte %llu, found (%04X,%04X)",
	               (unsigned long long)tag_offset, (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF));
}

/* Does the value starting here look like a sequence's first item? Used for implicit VR, where
 * the dictionary would say; this reader keeps no dictionary. */
static bool starts_with_item(parser *p)
{
	if (fill(p, 4) != MC_OK || p->len - p->pos < 4)
		return false;
	const uint8_t *b = p->buf + p->pos;
	return b[0] == 0xFE && b[1] == 0xFF && b[2] == 0x00 && b[3] == 0xE0;
}

/* In a dataset or item: one element (or a sequence, which is entered), or the item delimiter. */
static mc_status element_step(parser *p, uint32_t tag, uint64_t tag_offset)
{
	frame *f = top(p);
	mc_status st;
	uint8_t b[6];
	mc_dicom_element el;
	memset(&el, 0, sizeof el);
	el.group = (uint16_t)(tag >> 16);
	el.element = (uint16_t)tag;
	el.offset = tag_offset;
	el.depth = f->depth;
	el.big_endian = f->big_endian;

	if (el.group == 0xFFFE) {
		if (tag == TAG_ITEM_END && f->kind == F_ITEM && f->end == NO_END) {
			if ((st = header(p, b, 4, tag_offset)) != MC_OK)
				return st;
			if (load32(f, b) != 0)
				return mc_fail(p->err, MC_ERR_HEADER,
				               "malformed DICOM: item delimiter at byte %llu has length %lu, not 0",
				               (unsigned long long)tag_offset, (unsigned long)load32(f, b));
			return pop(p);
		}
		return mc_fail(p->err, MC_ERR_HEADER, "malformed DICOM: unexpected delimiter (FFFE,%04X) at byte %llu",
		               (unsigned)el.element, (unsigned long long)tag_offset);
	}

	if (f->explicit_vr) {
		if ((st = header(p, b, 2, tag_offset)) != MC_OK)
			return st;
		if (b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z')
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: (%04X,%04X) at byte %llu has no valid VR (0x%02X 0x%02X)",
			               (unsigned)el.group, (unsigned)el.element, (unsigned long long)tag_offset, b[0],
			               b[1]);
		el.vr[0] = (char)b[0];
		el.vr[1] = (char)b[1];
		if (long_vr(el.vr)) {
			if ((st = header(p, b, 6, tag_offset)) != MC_OK)
				return st;
			el.length = load32(f, b + 2);
		} else {
			if ((st = header(p, b, 2, tag_offset)) != MC_OK)
				return st;
			el.length = load16(f, b);
		}
	} else {
		if ((st = header(p, b, 4, tag_offset)) != MC_OK)
			return st;
		memcpy(el.vr, "UN", 3);
		el.length = load32(f, b);
	}

	el.value_offset = p->offset;
	bool undefined = el.length == MC_DICOM_UNDEFINED_LENGTH;
	bool sequence;
	bool sub_explicit = f->explicit_vr, sub_big = f->big_endian;
	if (f->explicit_vr) {
		sequence = strcmp(el.vr, "SQ") == 0 || (undefined && strcmp(el.vr, "UN") == 0 && tag != TAG_PIXEL_DATA);
		if (sequence && strcmp(el.vr, "UN") == 0) {
			/* PS3.5 6.2.2: a UN of undefined length is a sequence in implicit VR little endian. */
			sub_explicit = false;
			sub_big = false;
		}
	} else {
		sequence = tag != TAG_PIXEL_DATA && (undefined || (el.length >= 8 && starts_with_item(p)));
		if (sequence)
			memcpy(el.vr, "SQ", 3);
	}

	if (undefined && !sequence) {
		if (tag != TAG_PIXEL_DATA ||
		    !(strcmp(el.vr, "OB") == 0 || strcmp(el.vr, "OW") == 0 || strcmp(el.vr, "UN") == 0))
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: (%04X,%04X) at byte %llu has an undefined length, which VR %s "
			               "does not allow",
			               (unsigned)el.group, (unsigned)el.element, (unsigned long long)tag_offset, el.vr);
		/* Encapsulated pixel data (PS3.5 A.4): reported once, then its fragments. */
		if (p->v && p->v->element && p->v->element(p->ctx, &el))
			return stopped(p);
		return push(p, F_FRAGMENTS, el.length, f->explicit_vr, f->big_endian, f->depth);
	}
	if (!undefined) {
		if (el.length % 2 != 0)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: (%04X,%04X) at byte %llu has the odd length %lu (PS3.5 7.1.1 "
			               "requires even)",
			               (unsigned)el.group, (unsigned)el.element, (unsigned long long)tag_offset,
			               (unsigned long)el.length);
		if ((st = fits(p, el.length, tag, tag_offset)) != MC_OK)
			return st;
	}
	if (sequence) {
		if (f->depth + 1 > MC_DICOM_MAX_DEPTH)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: sequences nested too deep (more than %u) at byte %llu",
			               MC_DICOM_MAX_DEPTH, (unsigned long long)tag_offset);
		if ((st = push(p, F_SEQ, el.length, sub_explicit, sub_big, f->depth)) != MC_OK)
			return st;
		if (p->v && p->v->sequence_start && p->v->sequence_start(p->ctx, &el))
			return stopped(p);
		return MC_OK;
	}
	if (el.length <= MC_DICOM_VALUE_CAP) {
		if ((st = take(p, p->value, el.length, "an element value")) != MC_OK)
			return st;
		el.value = p->value;
	} else if (p->chunk) {
		/* Streaming: the element first (value NULL), then its bytes in pieces. */
		if (p->v && p->v->element && p->v->element(p->ctx, &el))
			return stopped(p);
		return take_chunks(p, el.length, "an element value");
	} else if ((st = take(p, NULL, el.length, "an element value")) != MC_OK) {
		return st;
	}
	if (tag == TAG_TRANSFER_SYNTAX && f->kind == F_ROOT && el.value) {
		size_t n = el.length;
		while (n > 0 && (el.value[n - 1] == ' ' || el.value[n - 1] == 0))
			n--;
		if (n >= sizeof p->transfer_syntax)
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: the transfer syntax UID is %zu bytes long", n);
		memcpy(p->transfer_syntax, el.value, n);
		p->transfer_syntax[n] = 0;
	}
	if (p->v && p->v->element && p->v->element(p->ctx, &el))
		return stopped(p);
	return MC_OK;
}

static mc_status run_frames(parser *p, bool in_meta);

static mc_status run(parser *p, uint64_t total, bool dataset_only)
{
	mc_status st;
	if (dataset_only) {
		frame *root = &p->stack[0];
		memset(root, 0, sizeof *root);
		root->kind = F_ROOT;
		root->end = root->limit = total == MC_DICOM_SIZE_UNKNOWN ? NO_END : total;
		if ((st = start_dataset(p, root)) != MC_OK)
			return st;
		return run_frames(p, false);
	}
	st = fill(p, PREAMBLE_LEN + 4);
	if (st != MC_OK)
		return st;
	if (p->len < PREAMBLE_LEN + 4)
		return mc_fail(p->err, MC_ERR_HEADER,
		               "not a DICOM file: %zu bytes is shorter than the 128-byte preamble and \"DICM\"",
		               p->len);
	if (memcmp(p->buf + PREAMBLE_LEN, "DICM", 4) != 0) {
		/* A dataset without preamble and meta group starts with a tag of group 0008 (either
		 * byte order): a network dump or an ACR-NEMA style file, which dcmconv rewrites. */
		bool bare = (p->buf[0] == 0x08 && p->buf[1] == 0x00) || (p->buf[0] == 0x00 && p->buf[1] == 0x08);
		return mc_fail(p->err, MC_ERR_HEADER, "not a DICOM Part 10 file: no \"DICM\" at byte 128%s",
		               bare ? " (it looks like a bare dataset without the preamble and file meta group; "
		                      "'dcmconv IN OUT' writes it as a Part 10 file)"
		                    : "");
	}
	if ((st = take(p, NULL, PREAMBLE_LEN + 4, "the preamble")) != MC_OK)
		return st;

	frame *root = &p->stack[0];
	memset(root, 0, sizeof *root);
	root->kind = F_ROOT;
	root->end = root->limit = total == MC_DICOM_SIZE_UNKNOWN ? NO_END : total;
	root->explicit_vr = true; /* the file meta group: explicit VR little endian (PS3.10 7.1) */
	return run_frames(p, true);
}

/* Reads elements until the end of the input (or of the root's stated size). */
static mc_status run_frames(parser *p, bool in_meta)
{
	frame *root = &p->stack[0];
	mc_status st;
	for (;;) {
		frame *f = top(p);
		if (f->end != NO_END && p->offset == f->end) {
			if (f->kind == F_ROOT)
				break;
			if ((st = pop(p)) != MC_OK)
				return st;
			continue;
		}
		uint64_t tag_offset = p->offset;
		if ((st = fill(p, 4)) != MC_OK)
			return st;
		if (p->len == p->pos) {
			if (f->kind != F_ROOT || f->end != NO_END)
				return truncated(p, f->kind == F_FRAGMENTS ? "encapsulated pixel data"
				                    : f->kind == F_ROOT ? "the dataset (shorter than its stated size)"
				                                        : "a sequence or item");
			break;
		}
		uint8_t t[4];
		if ((st = header(p, t, 4, tag_offset)) != MC_OK)
			return st;
		if (in_meta && (t[0] | (t[1] << 8)) != 0x0002) {
			in_meta = false;
			if ((st = start_dataset(p, root)) != MC_OK)
				return st;
		}
		uint32_t tag = ((uint32_t)load16(f, t) << 16) | load16(f, t + 2);
		if (!in_meta && f->kind == F_ROOT &&
		    tag >> 16 == 0x0002) /* PS3.10 7.1: group 0002 is the meta group's */
			return mc_fail(p->err, MC_ERR_HEADER,
			               "malformed DICOM: (0002,%04X) at offset %llu, after the file meta group ended",
			               tag & 0xFFFF, (unsigned long long)tag_offset);
		if (f->kind == F_SEQ)
			st = sequence_step(p, tag, tag_offset);
		else if (f->kind == F_FRAGMENTS)
			st = fragment_step(p, tag, tag_offset);
		else
			st = element_step(p, tag, tag_offset);
		if (st != MC_OK)
			return st;
	}
	if (in_meta)
		return start_dataset(p, root); /* a file with no dataset still needs a valid meta group */
	return MC_OK;
}

static mc_status parse(mc_input in, uint64_t total, const char *transfer_syntax, const mc_dicom_visitor *v,
                       mc_dicom_chunk_fn chunk, void *ctx, mc_err *err)
{
	if (!in.read)
		return mc_fail(err, MC_ERR_MISUSE, "mc_dicom_parse: no input");
	if (transfer_syntax && strlen(transfer_syntax) >= sizeof((parser *)0)->transfer_syntax)
		return mc_fail(err, MC_ERR_MISUSE, "mc_dicom_parse_dataset: transfer syntax UID too long");
	parser *p = malloc(sizeof *p);
	if (!p)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memset(p, 0, offsetof(parser, buf));
	p->in = in;
	p->v = v;
	p->chunk = chunk;
	p->ctx = ctx;
	p->err = err;
	if (transfer_syntax)
		strcpy(p->transfer_syntax, transfer_syntax);
	mc_status st = run(p, total, transfer_syntax != NULL);
	free(p);
	return st == MC_OK ? mc_ok(err) : st;
}

mc_status mc_dicom_parse(mc_input in, uint64_t total, const mc_dicom_visitor *v, void *ctx, mc_err *err)
{
	return parse(in, total, NULL, v, NULL, ctx, err);
}

mc_status mc_dicom_parse_chunked(mc_input in, uint64_t total, const mc_dicom_visitor *v, mc_dicom_chunk_fn chunk,
                                 void *ctx, mc_err *err)
{
	return parse(in, total, NULL, v, chunk, ctx, err);
}

mc_status mc_dicom_parse_dataset(mc_input in, uint64_t total, const char *transfer_syntax, const mc_dicom_visitor *v,
                                 mc_dicom_chunk_fn chunk, void *ctx, mc_err *err)
{
	if (!transfer_syntax)
		return mc_fail(err, MC_ERR_MISUSE, "mc_dicom_parse_dataset: no transfer syntax");
	return parse(in, total, transfer_syntax, v, chunk, ctx, err);
}

const char *mc_dicom_transfer_syntax_name(const char *uid)
{
	static const struct {
		const char *uid, *name;
	} names[] = {
	    {"1.2.840.10008.1.2", "Implicit VR Little Endian"},
	    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian"},
	    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"},
	    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian"},
	    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"},
	    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"},
	    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"},
	    {"1.2.840.10008.1.2.4.70",
	     "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])"},
	    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"},
	    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)"},
	    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)"},
	    {"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression"},
	    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"},
	    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"},
	    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)"},
	    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression"},
	    {"1.2.840.10008.1.2.5", "RLE Lossless"},
	};
	if (!uid)
		return NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(uid, names[i].uid) == 0)
			return names[i].name;
	return NULL;
}
