/*
 * test_dicom_write.c: unit tests of the DICOM writer and mc_dicom_copy (lib/dicom_write.c) and of
 * the reader's streaming mode (mc_dicom_parse_chunked, mc_dicom_parse_dataset). Files are built
 * byte by byte here: one dataset with a defined-length sequence holding an undefined-length item
 * with a nested undefined-length sequence, a UN sequence of undefined length (implicit VR
 * inside), private elements, values over the reader's load cap, binary values of every swapped
 * VR, and encapsulated pixel data with a basic offset table. Copying must give the same bytes
 * (explicit and implicit VR little endian, read in pieces of 1, 3 and 65536 bytes); the explicit
 * VR big endian encoding of the same dataset must copy to exactly the explicit little endian
 * file; a wrong (0002,0000) is corrected; every truncation fails; the writer refuses lengths
 * that do not add up.
 */
#include <medcrypt/dicom_write.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#include "dicom_builder.h"

/* A binary value of unit-byte numbers, in the file's byte order: numbers i * 0x0102... */
static void numbers(file *f, uint16_t g, uint16_t e, const char *vr, unsigned unit, uint32_t len)
{
	header(f, g, e, vr, len);
	for (uint32_t i = 0; i < len; i += unit) {
		uint8_t b[8];
		for (unsigned k = 0; k < unit; k++)
			b[k] = (uint8_t)(i * 7 + k * 13 + 1); /* little endian order */
		if (f->big_endian)
			for (unsigned k = 0; k < unit / 2; k++) {
				uint8_t t = b[k];
				b[k] = b[unit - 1 - k];
				b[unit - 1 - k] = t;
			}
		put(f, b, unit);
	}
}

static void delimiter(file *f, uint16_t e, uint32_t len)
{
	put16(f, 0xFFFE);
	put16(f, e);
	put32(f, len);
}

/* Preamble, DICM and the meta group; meta_len_delta spoils (0002,0000). */
static file *part10(const char *ts, bool explicit_vr, bool big_endian, int meta_len_delta)
{
	file *f = file_new(true, false);
	uint8_t preamble[128];
	for (int i = 0; i < 128; i++)
		preamble[i] = (uint8_t)(i * 3);
	put(f, preamble, 128);
	put(f, "DICM", 4);
	size_t n = strlen(ts);
	char uid[66] = {0};
	memcpy(uid, ts, n);
	uint32_t uid_len = (uint32_t)(n + (n & 1));
	uint32_t group_len = 14 + 8 + uid_len + 8 + 6;
	element(f, 0x0002, 0x0000, "UL", (uint8_t[]){(uint8_t)(group_len + meta_len_delta), 0, 0, 0}, 4);
	element(f, 0x0002, 0x0001, "OB", "\0\1", 2);
	element(f, 0x0002, 0x0010, "UI", uid, uid_len);
	element(f, 0x0002, 0x0013, "SH", "TEST  ", 6);
	f->explicit_vr = explicit_vr;
	f->big_endian = big_endian;
	return f;
}

#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_BIG      "1.2.840.10008.1.2.2"
#define TS_JPEG     "1.2.840.10008.1.2.4.50"

static file *sample(const char *ts, bool explicit_vr, bool big_endian, int meta_len_delta, bool encapsulated)
{
	file *f = part10(ts, explicit_vr, big_endian, meta_len_delta);
	element(f, 0x0008, 0x0005, "CS", "ISO_IR 100", 10);
	element(f, 0x0008, 0x0060, "CS", "OT", 2);
	element(f, 0x0010, 0x0010, "PN", "Test^Patient", 12);
	numbers(f, 0x0018, 0x1310, "US", 2, 8);
	numbers(f, 0x0018, 0x9219, "SS", 2, 2);
	numbers(f, 0x0020, 0x9165, "AT", 2, 8);
	numbers(f, 0x0028, 0x0010, "US", 2, 2);
	numbers(f, 0x0028, 0x1052, "FL", 4, 8);
	numbers(f, 0x0028, 0x1053, "FD", 8, 16);
	numbers(f, 0x0028, 0x9099, "UL", 4, 4);

	/* a defined-length sequence: defined item, then an undefined item with a nested sequence */
	file *items = file_new(explicit_vr, big_endian);
	file *item1 = file_new(explicit_vr, big_endian);
	element(item1, 0x0008, 0x1150, "UI", "1.2.3\0", 6);
	numbers(item1, 0x0008, 0x1160, "IS", 1, 2);
	delimiter(items, 0xE000, (uint32_t)item1->n);
	put(items, item1->d, item1->n);
	delimiter(items, 0xE000, 0xFFFFFFFF);
	element(items, 0x0008, 0x1155, "UI", "1.2.4\0", 6);
	header(items, 0x0008, 0x1140, "SQ", 0xFFFFFFFF);
	delimiter(items, 0xE000, 0xFFFFFFFF);
	element(items, 0x0008, 0x1150, "UI", "9\0", 2);
	delimiter(items, 0xE00D, 0);
	delimiter(items, 0xE0DD, 0);
	delimiter(items, 0xE00D, 0);
	header(f, 0x0008, 0x1115, "SQ", (uint32_t)items->n);
	put(f, items->d, items->n);
	file_free(items);
	file_free(item1);

	/* private elements, one over the load cap */
	element(f, 0x0009, 0x0010, "LO", "PRIVATE CREATOR ", 16);
	element(f, 0x0009, 0x1001, "OB", "\1\2\3\4", 4);
	numbers(f, 0x0009, 0x1002, "OW", 2, 70002);
	if (explicit_vr) {
		/* PS3.5 6.2.2: a UN sequence of undefined length, implicit VR little endian inside */
		header(f, 0x0011, 0x0010, "LO", 8);
		put(f, "ACME 1.0", 8);
		header(f, 0x0011, 0x1001, "UN", 0xFFFFFFFF);
		bool save = f->big_endian;
		f->big_endian = false;
		delimiter(f, 0xE000, 0xFFFFFFFF);
		f->explicit_vr = false;
		element(f, 0x0011, 0x1002, "UN", "ab", 2);
		f->explicit_vr = true;
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
		f->big_endian = save;
	}
	numbers(f, 0x0028, 0x1201, "OW", 2, 6);

	if (encapsulated) {
		header(f, 0x7FE0, 0x0010, "OB", 0xFFFFFFFF);
		delimiter(f, 0xE000, 8);
		put(f, "\0\0\0\0\x0C\0\0\0", 8);
		delimiter(f, 0xE000, 4);
		put(f, "\xFF\xD8\xFF\xD9", 4);
		uint8_t *frag = malloc(100000);
		fill_pattern(frag, 100000, 9);
		delimiter(f, 0xE000, 100000);
		put(f, frag, 100000);
		free(frag);
		delimiter(f, 0xE0DD, 0);
	} else {
		numbers(f, 0x7FE0, 0x0010, "OW", 2, 200000);
	}
	element(f, 0xFFFC, 0xFFFC, "OB", "\0\0\0\0", 4);
	return f;
}

static mc_status copy(const file *f, size_t max_read, membuf *out, mc_err *err)
{
	membuf in = membuf_view(f->d, f->n);
	in.max_read = max_read;
	memset(out, 0, sizeof *out);
	return mc_dicom_copy(membuf_in(&in), f->n, membuf_out(out), err);
}

static bool same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && memcmp(a, b, an) == 0;
}

static void test_round_trips(void)
{
	static const size_t reads[] = {1, 3, 65536};
	struct {
		const char *ts;
		bool explicit_vr, encapsulated;
	} cases[] = {{TS_EXPLICIT, true, false}, {TS_IMPLICIT, false, false}, {TS_JPEG, true, true}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		file *f = sample(cases[c].ts, cases[c].explicit_vr, false, 0, cases[c].encapsulated);
		for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
			if (reads[r] == 1 && c != 0)
				continue; /* byte by byte once is enough */
			membuf out;
			mc_err err = {0};
			mc_status st = copy(f, reads[r], &out, &err);
			CHECK(st == MC_OK, "%s read %zu: %s", cases[c].ts, reads[r], err.msg);
			CHECK(same_bytes(out.p, out.len, f->d, f->n), "%s read %zu: copy differs (%zu vs %zu bytes)",
			      cases[c].ts, reads[r], out.len, f->n);
			membuf_free(&out);
		}
		file_free(f);
	}
}

static void test_big_endian(void)
{
	file *be = sample(TS_BIG, true, true, 0, false);
	file *le = sample(TS_EXPLICIT, true, false, 0, false);
	static const size_t reads[] = {1, 3, 7, 65536};
	for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
		membuf out;
		mc_err err = {0};
		mc_status st = copy(be, reads[r], &out, &err);
		CHECK(st == MC_OK, "big endian read %zu: %s", reads[r], err.msg);
		CHECK(same_bytes(out.p, out.len, le->d, le->n),
		      "big endian read %zu: not the explicit little endian file (%zu vs %zu bytes)", reads[r], out.len,
		      le->n);
		membuf_free(&out);
	}
	file_free(be);
	file_free(le);
}

static void test_group_length_fixed(void)
{
	file *bad = sample(TS_EXPLICIT, true, false, 2, false);
	file *good = sample(TS_EXPLICIT, true, false, 0, false);
	/* the reader takes the meta group as what starts with group 0002, so a wrong length is read */
	membuf out;
	mc_err err = {0};
	CHECK(copy(bad, 65536, &out, &err) == MC_OK, "%s", err.msg);
	CHECK(same_bytes(out.p, out.len, good->d, good->n), "(0002,0000) not recomputed");
	membuf_free(&out);
	file_free(bad);
	file_free(good);
}

static void test_truncations(void)
{
	file *f = sample(TS_JPEG, true, false, 0, true);
	unsigned bad = 0, tried = 0;
	/* every cut inside the dataset (cutting at an element boundary leaves a valid file) */
	for (size_t cut = 200; cut < f->n; cut += (cut < 2000 ? 1 : 997)) {
		membuf in = membuf_view(f->d, cut);
		membuf out = {0};
		mc_err err = {0};
		mc_status st = mc_dicom_copy(membuf_in(&in), cut, membuf_out(&out), &err);
		tried++;
		if (st == MC_OK) {
			/* only a cut between top-level elements can parse; then the copy equals the cut */
			if (!same_bytes(out.p, out.len, f->d, cut))
				bad++, fprintf(stderr, "cut %zu: copied %zu bytes\n", cut, out.len);
		} else if (st != MC_ERR_HEADER || err.msg[0] == 0) {
			bad++, fprintf(stderr, "cut %zu: %s\n", cut, err.msg);
		}
		membuf_free(&out);
	}
	CHECK(bad == 0, "%u of %u truncations misbehaved", bad, tried);
	file_free(f);
}

static int fail_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return -1;
}

static void test_writer_refusals(void)
{
	membuf out = {0};
	mc_dicom_writer *w;
	mc_err err = {0};
	CHECK(mc_dicom_writer_new(membuf_out(&out), &w, &err) == MC_OK, "new");
	mc_dicom_meta_element meta[] = {{0x0010, "UI", (const uint8_t *)"1.2.840.10008.1.2.1\0", 20}};
	CHECK(mc_dicom_write_head(w, NULL, meta, 1, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_head(w, NULL, meta, 1, &err) == MC_ERR_MISUSE, "second head");
	CHECK(mc_dicom_write_element(w, 0x0010, 0x0010, "PN", (const uint8_t *)"abc", 3, &err) == MC_ERR_MISUSE,
	      "odd length accepted");
	CHECK(mc_dicom_write_sequence(w, 0x0008, 0x1115, "SQ", 20, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_item(w, 12, &err) == MC_OK, "%s", err.msg);
	/* an element of 8 + 6 bytes does not fit the 12-byte item */
	CHECK(mc_dicom_write_element(w, 0x0008, 0x1150, "UI", (const uint8_t *)"1.2.3\0", 6, &err) == MC_ERR_MISUSE,
	      "overflowing element accepted");
	CHECK(mc_dicom_write_element(w, 0x0008, 0x1150, "UI", (const uint8_t *)"1\0", 2, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_item_end(w, &err) == MC_ERR_MISUSE, "short item closed");
	CHECK(strstr(err.msg, "before its defined length") != NULL, "%s", err.msg);
	CHECK(mc_dicom_writer_finish(w, &err) == MC_ERR_MISUSE, "finish with open sequence");
	mc_dicom_writer_free(w);
	membuf_free(&out);

	CHECK(mc_dicom_writer_new(membuf_out(&out), &w, &err) == MC_OK, "new");
	CHECK(mc_dicom_write_header(w, 0x7FE0, 0x0010, "OW", 4, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_value(w, (const uint8_t *)"abcdef", 6, &err) == MC_ERR_MISUSE, "too many bytes");
	CHECK(mc_dicom_write_value(w, (const uint8_t *)"ab", 2, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_writer_finish(w, &err) == MC_ERR_MISUSE, "finish with a value half written");
	CHECK(mc_dicom_write_item(w, 0, &err) == MC_ERR_MISUSE, "item outside a sequence");
	mc_dicom_writer_free(w);
	membuf_free(&out);

	mc_dicom_meta_element be[] = {{0x0010, "UI", (const uint8_t *)"1.2.840.10008.1.2.2\0", 20}};
	CHECK(mc_dicom_writer_new(membuf_out(&out), &w, &err) == MC_OK, "new");
	CHECK(mc_dicom_write_head(w, NULL, be, 1, &err) == MC_ERR_UNSUPPORTED, "big endian written");
	mc_dicom_writer_free(w);
	membuf_free(&out);

	CHECK(mc_dicom_writer_new((mc_output){fail_write, NULL}, &w, &err) == MC_OK, "new");
	CHECK(mc_dicom_write_head(w, NULL, meta, 1, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_writer_finish(w, &err) == MC_ERR_IO, "write failure not reported");
	mc_dicom_writer_free(w);
	mc_dicom_writer_free(NULL);
}

/* A bare dataset written by the writer parses back with mc_dicom_parse_dataset. */
typedef struct events {
	char text[2048];
	size_t chunked;
} events;

static int ev_element(void *ctx, const mc_dicom_element *el)
{
	events *e = ctx;
	size_t n = strlen(e->text);
	snprintf(e->text + n, sizeof e->text - n, "E%04X%04X%s%lu;", el->group, el->element, el->vr,
	         (unsigned long)el->length);
	return 0;
}

static int ev_seq(void *ctx, const mc_dicom_element *el)
{
	events *e = ctx;
	size_t n = strlen(e->text);
	snprintf(e->text + n, sizeof e->text - n, "S%04X%04X;", el->group, el->element);
	return 0;
}

static int ev_seq_end(void *ctx, unsigned depth)
{
	events *e = ctx;
	size_t n = strlen(e->text);
	snprintf(e->text + n, sizeof e->text - n, "/S%u;", depth);
	return 0;
}

static int ev_item(void *ctx, uint32_t len, unsigned depth)
{
	events *e = ctx;
	size_t n = strlen(e->text);
	snprintf(e->text + n, sizeof e->text - n, "I%u%s;", depth, len == MC_DICOM_UNDEFINED_LENGTH ? "u" : "");
	return 0;
}

static int ev_item_end(void *ctx, unsigned depth)
{
	events *e = ctx;
	size_t n = strlen(e->text);
	snprintf(e->text + n, sizeof e->text - n, "/I%u;", depth);
	return 0;
}

static int ev_chunk(void *ctx, const uint8_t *b, size_t len)
{
	(void)b;
	((events *)ctx)->chunked += len;
	return 0;
}

static void test_bare_dataset(void)
{
	membuf out = {0};
	mc_dicom_writer *w;
	mc_err err = {0};
	CHECK(mc_dicom_writer_new(membuf_out(&out), &w, &err) == MC_OK, "new");
	mc_dicom_writer_set_explicit(w, 1);
	CHECK(mc_dicom_write_sequence(w, 0x0400, 0x0550, "SQ", MC_DICOM_UNDEFINED_LENGTH, &err) == MC_OK, "%s",
	      err.msg);
	CHECK(mc_dicom_write_item(w, MC_DICOM_UNDEFINED_LENGTH, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_element(w, 0x0010, 0x0010, "PN", (const uint8_t *)"Doe^J ", 6, &err) == MC_OK, "%s",
	      err.msg);
	uint8_t *big = calloc(1, 80000);
	CHECK(mc_dicom_write_element(w, 0x0011, 0x1010, "OB", big, 80000, &err) == MC_OK, "%s", err.msg);
	free(big);
	CHECK(mc_dicom_write_item_end(w, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_write_sequence_end(w, &err) == MC_OK, "%s", err.msg);
	CHECK(mc_dicom_writer_finish(w, &err) == MC_OK, "%s", err.msg);
	mc_dicom_writer_free(w);

	events e = {{0}, 0};
	mc_dicom_visitor v = {ev_element, ev_seq, ev_seq_end, ev_item, ev_item_end, NULL};
	membuf in = membuf_view(out.p, out.len);
	CHECK(mc_dicom_parse_dataset(membuf_in(&in), out.len, TS_EXPLICIT, &v, ev_chunk, &e, &err) == MC_OK, "%s",
	      err.msg);
	CHECK(strcmp(e.text, "S04000550;I1u;E00100010PN6;E00111010OB80000;/I1;/S0;") == 0, "events: %s", e.text);
	CHECK(e.chunked == 80000, "chunked %zu", e.chunked);
	membuf_view(NULL, 0);
	membuf in2 = membuf_view(out.p, out.len);
	CHECK(mc_dicom_parse_dataset(membuf_in(&in2), out.len, NULL, &v, NULL, &e, &err) == MC_ERR_MISUSE,
	      "no transfer syntax accepted");
	membuf_free(&out);
}

/* test_dicom_write IN OUT: copies a file with mc_dicom_copy (for tests/cli/deid_test.sh). */
static int copy_file(const char *in_path, const char *out_path)
{
	FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
	membuf src = {0}, dst = {0};
	uint8_t b[65536];
	size_t n;
	int rc = 1;
	if (!in || !out)
		goto done;
	while ((n = fread(b, 1, sizeof b, in)) > 0)
		membuf_write(&src, b, n);
	mc_err err = {0};
	if (mc_dicom_copy(membuf_in(&src), src.len, membuf_out(&dst), &err) != MC_OK) {
		fprintf(stderr, "copy failed: %s\n", err.msg);
		goto done;
	}
	rc = fwrite(dst.p, 1, dst.len, out) == dst.len ? 0 : 1;
done:
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	membuf_free(&src);
	membuf_free(&dst);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return copy_file(argv[1], argv[2]);
	test_round_trips();
	test_big_endian();
	test_group_length_fixed();
	test_truncations();
	test_writer_refusals();
	test_bare_dataset();
	return check_summary("dicom-write");
}
