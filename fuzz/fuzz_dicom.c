/*
 * fuzz_dicom: the streaming DICOM Part 10 reader (lib/dicom.c) on untrusted bytes, the way
 * `medcrypt meta` and every later DICOM command meets a file. The bytes are parsed twice: in
 * 1021-byte reads with the size unknown (a pipe), and in one read with the size known. The
 * visitor reads every byte of every loaded value so that ASan sees any pointer past its end.
 *
 * Invariants, or the target aborts: a value is loaded exactly when it is at most
 * MC_DICOM_VALUE_CAP bytes and not a sequence or encapsulated pixel data; depths never exceed
 * MC_DICOM_MAX_DEPTH; sequence and item starts and ends balance when the parse succeeds; every
 * element lies inside the input; a failure carries its class in err.
 */
#include <medcrypt/dicom.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct source {
	const uint8_t *data;
	size_t size, pos, step;
} source;

static long source_read(void *ctx, uint8_t *buf, size_t len)
{
	source *s = ctx;
	size_t n = s->size - s->pos;
	if (n > len)
		n = len;
	if (n > s->step)
		n = s->step;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (long)n;
}

typedef struct tally {
	size_t size;
	long open_sequences, open_items;
	unsigned checksum;
} tally;

static int on_element(void *ctx, const mc_dicom_element *el)
{
	tally *t = ctx;
	CHECK(el->depth <= MC_DICOM_MAX_DEPTH);
	CHECK(el->offset < t->size);
	if (el->length == MC_DICOM_UNDEFINED_LENGTH) {
		CHECK(el->value == NULL && el->group == 0x7FE0 && el->element == 0x0010);
		return 0;
	}
	CHECK((el->value != NULL) == (el->length <= MC_DICOM_VALUE_CAP));
	CHECK(el->length <= t->size - el->offset);
	for (uint32_t i = 0; el->value && i < el->length; i++)
		t->checksum += el->value[i];
	return 0;
}

static int on_sequence_start(void *ctx, const mc_dicom_element *el)
{
	tally *t = ctx;
	CHECK(el->value == NULL && el->depth < MC_DICOM_MAX_DEPTH);
	CHECK(strcmp(el->vr, "SQ") == 0 || strcmp(el->vr, "UN") == 0);
	t->open_sequences++;
	return 0;
}

static int on_sequence_end(void *ctx, unsigned depth)
{
	tally *t = ctx;
	CHECK(depth < MC_DICOM_MAX_DEPTH && --t->open_sequences >= 0);
	return 0;
}

static int on_item_start(void *ctx, uint32_t length, unsigned depth)
{
	tally *t = ctx;
	(void)length;
	CHECK(depth >= 1 && depth <= MC_DICOM_MAX_DEPTH && t->open_sequences > 0);
	t->open_items++;
	return 0;
}

static int on_item_end(void *ctx, unsigned depth)
{
	tally *t = ctx;
	CHECK(depth >= 1 && --t->open_items >= 0);
	return 0;
}

static int on_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	tally *t = ctx;
	(void)index;
	CHECK(offset <= t->size && length <= t->size - offset);
	return 0;
}

static const mc_dicom_visitor visitor = {on_element,    on_sequence_start, on_sequence_end,
                                         on_item_start, on_item_end,       on_fragment};

static mc_status parse(const uint8_t *data, size_t size, size_t step, uint64_t total)
{
	source s = {data, size, 0, step};
	mc_input in = {source_read, &s};
	tally t = {.size = size};
	mc_err err = {0};
	mc_status st = mc_dicom_parse(in, total, &visitor, &t, &err);
	if (st == MC_OK) {
		CHECK(t.open_sequences == 0 && t.open_items == 0);
		CHECK(s.pos == size);
	} else {
		CHECK(err.status == st && err.msg[0] != 0);
		CHECK(st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED);
	}
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mc_status unknown = parse(data, size, 1021, MC_DICOM_SIZE_UNKNOWN);
	mc_status known = parse(data, size, size ? size : 1, size);
	/* Knowing the size only adds checks, and a file that parses to its end fits its size. */
	CHECK(unknown != MC_OK || known == MC_OK);
	return 0;
}
