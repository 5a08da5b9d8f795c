/*
 * test_dicom.c: unit tests of the streaming DICOM reader (lib/dicom.c) over files built byte by
 * byte here: one dataset (a defined-length sequence holding an undefined-length item with a
 * nested undefined-length sequence, private elements, a value over the load cap, encapsulated
 * pixel data) encoded in explicit VR little endian, implicit VR little endian and explicit VR big
 * endian must give the same events; then the refusals: every truncation of a valid file, 10,000
 * nested sequences, the nesting limit itself, wrong magic, odd lengths, lengths past the end,
 * misplaced delimiters, deflate, and a visitor that stops.
 * `test_dicom --write-corpus DIR` writes these files as the seed corpus of fuzz/fuzz_dicom.c.
 */
#include <medcrypt/dicom.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

/* ---- building files */

#include "dicom_builder.h"

static void delimiter(file *f, uint16_t e, uint32_t len)
{
	put16(f, 0xFFFE);
	put16(f, e);
	put32(f, len);
}

static void append(file *f, const file *g)
{
	put(f, g->d, g->n);
}

/* Preamble, DICM and the file meta group (always explicit VR little endian). */
static file *part10(const char *ts, bool explicit_vr, bool big_endian)
{
	file *f = file_new(true, false);
	uint8_t preamble[128] = {0};
	put(f, preamble, 128);
	put(f, "DICM", 4);
	element(f, 0x0002, 0x0001, "OB", "\0\1", 2);
	size_t n = strlen(ts);
	char uid[66] = {0};
	memcpy(uid, ts, n);
	element(f, 0x0002, 0x0010, "UI", uid, (uint32_t)(n + (n & 1)));
	f->explicit_vr = explicit_vr;
	f->big_endian = big_endian;
	return f;
}

#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_BIG      "1.2.840.10008.1.2.2"

/* The dataset every encoding carries. */
static file *sample(const char *ts, bool explicit_vr, bool big_endian)
{
	file *f = part10(ts, explicit_vr, big_endian);
	element(f, 0x0008, 0x0060, "CS", "OT", 2);
	element(f, 0x0010, 0x0010, "PN", "Test^Patient", 12);
	uint8_t rows[2] = {12, 0};
	if (big_endian)
		rows[0] = 0, rows[1] = 12;
	element(f, 0x0028, 0x0010, "US", rows, 2);

	/* (0008,1115) of defined length: a defined-length item, then an undefined-length item
	 * holding an undefined-length sequence. */
	file *items = file_new(explicit_vr, big_endian);
	file *item1 = file_new(explicit_vr, big_endian);
	element(item1, 0x0008, 0x1150, "UI", "1.2.3\0", 6);
	delimiter(items, 0xE000, (uint32_t)item1->n);
	append(items, item1);
	delimiter(items, 0xE000, 0xFFFFFFFF);
	element(items, 0x0008, 0x1155, "UI", "1.2.4\0", 6);
	header(items, 0x0008, 0x1140, "SQ", 0xFFFFFFFF);
	delimiter(items, 0xE000, 0xFFFFFFFF);
	element(items, 0x0008, 0x1150, "UI", "9\0", 2);
	delimiter(items, 0xE00D, 0);
	delimiter(items, 0xE0DD, 0);
	delimiter(items, 0xE00D, 0);
	header(f, 0x0008, 0x1115, "SQ", (uint32_t)items->n);
	append(f, items);
	file_free(items);
	file_free(item1);

	element(f, 0x0009, 0x0010, "LO", "PRIVATE CREATOR ", 16);
	element(f, 0x0009, 0x1001, "OB", "\1\2\3\4", 4);
	uint8_t *big = calloc(1, 70000);
	element(f, 0x0009, 0x1002, "OB", big, 70000);
	free(big);

	header(f, 0x7FE0, 0x0010, "OB", 0xFFFFFFFF);
	delimiter(f, 0xE000, 0);
	delimiter(f, 0xE000, 4);
	put(f, "\xFF\xD8\xFF\xD9", 4);
	delimiter(f, 0xE000, 6);
	put(f, "abcdef", 6);
	delimiter(f, 0xE0DD, 0);
	return f;
}

/* ---- reading from memory: testutil.h's membuf, a few bytes per read (max_read) to cross the
 * reader's buffer often */

/* ---- a visitor that logs every event as text */

typedef struct log {
	char text[8192];
	bool with_vr;
	unsigned stop_after, events;
	size_t boundaries[64];
	unsigned nboundaries;
} log;

static void logf_(log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void logf_(log *l, const char *fmt, ...)
{
	size_t n = strlen(l->text);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->text + n, sizeof l->text - n, fmt, ap);
	va_end(ap);
}

static int counted(log *l)
{
	return l->stop_after && ++l->events >= l->stop_after;
}

static int on_element(void *ctx, const mc_dicom_element *el)
{
	log *l = ctx;
	if (el->depth == 0 && l->nboundaries < 64)
		l->boundaries[l->nboundaries++] = (size_t)el->offset;
	logf_(l, "E(%04X,%04X)", el->group, el->element);
	/* The value starts right after the element's header: 8 bytes, or 12 for explicit VRs with
	 * a 4-byte length. Anything else breaks every expected log. */
	if (el->value_offset - el->offset != 8 && el->value_offset - el->offset != 12)
		logf_(l, "!value_offset+%llu", (unsigned long long)(el->value_offset - el->offset));
	if (l->with_vr)
		logf_(l, "%s", el->vr);
	logf_(l, " d%u len%lu ", el->depth, (unsigned long)el->length);
	if (!el->value)
		logf_(l, "-");
	else if (el->group == 0x0028 && el->element == 0x0010)
		logf_(l, "%u",
		      el->big_endian ? (el->value[0] << 8) | el->value[1] : el->value[0] | (el->value[1] << 8));
	else
		for (uint32_t i = 0; i < el->length && i < 16; i++)
			logf_(l, "%c", el->value[i] >= 0x20 && el->value[i] < 0x7F ? el->value[i] : '.');
	logf_(l, "\n");
	return counted(l);
}

static int on_seq_start(void *ctx, const mc_dicom_element *el)
{
	log *l = ctx;
	if (el->depth == 0 && l->nboundaries < 64)
		l->boundaries[l->nboundaries++] = (size_t)el->offset;
	logf_(l, "S(%04X,%04X) d%u len%s\n", el->group, el->element, el->depth,
	      el->length == MC_DICOM_UNDEFINED_LENGTH ? "u" : "def");
	return counted(l);
}

static int on_seq_end(void *ctx, unsigned depth)
{
	logf_(ctx, "/S d%u\n", depth);
	return counted(ctx);
}

static int on_item_start(void *ctx, uint32_t length, unsigned depth)
{
	logf_(ctx, "I d%u %s\n", depth, length == MC_DICOM_UNDEFINED_LENGTH ? "u" : "def");
	return counted(ctx);
}

static int on_item_end(void *ctx, unsigned depth)
{
	logf_(ctx, "/I d%u\n", depth);
	return counted(ctx);
}

static int on_fragment(void *ctx, unsigned index, uint64_t offset, uint32_t length)
{
	(void)offset;
	logf_(ctx, "F%u len%lu\n", index, (unsigned long)length);
	return counted(ctx);
}

static const mc_dicom_visitor visitor = {on_element, on_seq_start, on_seq_end, on_item_start, on_item_end, on_fragment};

static mc_status parse(const uint8_t *d, size_t n, uint64_t total, size_t step, log *l, mc_err *err)
{
	membuf m = membuf_view(d, n);
	m.max_read = step;
	mc_input in = membuf_in(&m);
	return mc_dicom_parse(in, total, l ? &visitor : NULL, l, err);
}

static const char expected[] = "E(0002,0001) d0 len2 ..\n"
                               "E(0002,0010) d0 len20 1.2.840.10008.1.\n"
                               "E(0008,0060) d0 len2 OT\n"
                               "E(0010,0010) d0 len12 Test^Patient\n"
                               "E(0028,0010) d0 len2 12\n"
                               "S(0008,1115) d0 lendef\n"
                               "I d1 def\n"
                               "E(0008,1150) d1 len6 1.2.3.\n"
                               "/I d1\n"
                               "I d1 u\n"
                               "E(0008,1155) d1 len6 1.2.4.\n"
                               "S(0008,1140) d1 lenu\n"
                               "I d2 u\n"
                               "E(0008,1150) d2 len2 9.\n"
                               "/I d2\n"
                               "/S d1\n"
                               "/I d1\n"
                               "/S d0\n"
                               "E(0009,0010) d0 len16 PRIVATE CREATOR \n"
                               "E(0009,1001) d0 len4 ....\n"
                               "E(0009,1002) d0 len70000 -\n"
                               "E(7FE0,0010) d0 len4294967295 -\n"
                               "F0 len0\n"
                               "F1 len4\n"
                               "F2 len6\n";

static void test_encodings(void)
{
	static const struct {
		const char *name, *ts;
		bool explicit_vr, big_endian;
	} encodings[] = {{"explicit LE", TS_EXPLICIT, true, false},
	                 {"implicit LE", TS_IMPLICIT, false, false},
	                 {"explicit BE", TS_BIG, true, true}};
	for (size_t i = 0; i < 3; i++) {
		file *f = sample(encodings[i].ts, encodings[i].explicit_vr, encodings[i].big_endian);
		size_t steps[] = {0, 1, 7, 4096};
		for (size_t s = 0; s < 4; s++) {
			log l = {0};
			mc_err err = {0};
			mc_status st = parse(f->d, f->n, MC_DICOM_SIZE_UNKNOWN, steps[s], &l, &err);
			CHECK(st == MC_OK, "%s step %zu: %s", encodings[i].name, steps[s], err.msg);
			/* The transfer syntax UID differs in its last characters only. */
			const char *from = strstr(l.text, "E(0008,0060)");
			CHECK(strncmp(l.text, expected, 40) == 0 && from &&
			          strcmp(from, strstr(expected, "E(0008,0060)")) == 0,
			      "%s step %zu: events differ:\n%s", encodings[i].name, steps[s], l.text);
			st = parse(f->d, f->n, f->n, steps[s], NULL, &err);
			CHECK(st == MC_OK, "%s with the total known: %s", encodings[i].name, err.msg);
		}
		if (encodings[i].explicit_vr) {
			log l = {.with_vr = true};
			parse(f->d, f->n, f->n, 0, &l, NULL);
			CHECK(strstr(l.text, "E(0010,0010)PN d0") && strstr(l.text, "E(0009,1002)OB d0 len70000 -"),
			      "VRs: %s", l.text);
		}
		file_free(f);
	}
}

/* Every prefix of a valid file is refused, except those ending between top-level elements
 * (which are valid shorter files when the size is not known). */
static void test_truncation(void)
{
	file *f = sample(TS_EXPLICIT, true, false);
	log full = {0};
	parse(f->d, f->n, MC_DICOM_SIZE_UNKNOWN, 0, &full, NULL);
	unsigned wrong = 0, refused = 0;
	for (size_t cut = 0; cut < f->n; cut++) {
		mc_err err = {0};
		mc_status st = parse(f->d, cut, MC_DICOM_SIZE_UNKNOWN, 0, NULL, &err);
		bool boundary = false;
		for (unsigned b = 0; b < full.nboundaries; b++)
			boundary |= full.boundaries[b] == cut;
		if (st == MC_ERR_HEADER)
			refused++;
		if (boundary ? st != MC_OK && st != MC_ERR_HEADER : st != MC_ERR_HEADER)
			wrong++;
		/* With the claimed size larger than the bytes, every cut is a truncation. */
		st = parse(f->d, cut, f->n, 0, NULL, &err);
		if (st != MC_ERR_HEADER || (cut >= 132 && !strstr(err.msg, "truncated")))
			wrong++;
		if (cut == f->n - 3)
			CHECK(strstr(err.msg, "ends at byte") != NULL, "truncation message names the offset: %s",
			      err.msg);
	}
	CHECK(wrong == 0, "%u truncations of %zu gave an unexpected result", wrong, f->n);
	CHECK(refused > f->n - 20, "only %u of %zu truncations refused", refused, f->n);
	file_free(f);
}

static void nested(file *f, unsigned levels)
{
	for (unsigned i = 0; i < levels; i++) {
		header(f, 0x0008, 0x1115, "SQ", 0xFFFFFFFF);
		delimiter(f, 0xE000, 0xFFFFFFFF);
	}
	for (unsigned i = 0; i < levels; i++) {
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
	}
}

static void test_depth(void)
{
	mc_err err = {0};
	file *f = part10(TS_EXPLICIT, true, false);
	nested(f, 10000);
	CHECK(parse(f->d, f->n, f->n, 0, NULL, &err) == MC_ERR_HEADER && strstr(err.msg, "nested too deep"),
	      "10000 deep: %s", err.msg);
	file_free(f);

	f = part10(TS_IMPLICIT, false, false);
	nested(f, 10000);
	CHECK(parse(f->d, f->n, MC_DICOM_SIZE_UNKNOWN, 0, NULL, &err) == MC_ERR_HEADER &&
	          strstr(err.msg, "nested too deep"),
	      "10000 deep, implicit: %s", err.msg);
	file_free(f);

	f = part10(TS_EXPLICIT, true, false);
	nested(f, MC_DICOM_MAX_DEPTH);
	CHECK(parse(f->d, f->n, f->n, 0, NULL, &err) == MC_OK, "%u deep is allowed: %s", MC_DICOM_MAX_DEPTH, err.msg);
	file_free(f);

	f = part10(TS_EXPLICIT, true, false);
	nested(f, MC_DICOM_MAX_DEPTH + 1);
	CHECK(parse(f->d, f->n, f->n, 0, NULL, &err) == MC_ERR_HEADER, "%u deep is refused", MC_DICOM_MAX_DEPTH + 1);
	file_free(f);
}

/* A file whose dataset is built by fn; returns the status of parsing it with the size known. */
static mc_status try(const char *ts, void (*fn)(file *), mc_err *err)
{
	file *f = part10(ts, strcmp(ts, TS_IMPLICIT) != 0, strcmp(ts, TS_BIG) == 0);
	fn(f);
	mc_status st = parse(f->d, f->n, f->n, 0, NULL, err);
	file_free(f);
	return st;
}

static void odd_length(file *f)
{
	element(f, 0x0010, 0x0020, "LO", "ABC", 3);
}
static void past_end(file *f)
{
	header(f, 0x0010, 0x0020, "LO", 100);
	put(f, "AB", 2);
}
static void huge_past_end(file *f)
{
	header(f, 0x7FE0, 0x0010, "OB", 0xFFFFFFF0);
	put(f, "AB", 2);
}
static void stray_item_end(file *f)
{
	delimiter(f, 0xE00D, 0);
}
static void stray_seq_end(file *f)
{
	delimiter(f, 0xE0DD, 0);
}
static void undefined_ob(file *f)
{
	header(f, 0x0009, 0x1001, "OB", 0xFFFFFFFF);
	delimiter(f, 0xE0DD, 0);
}
static void bad_vr(file *f)
{
	element(f, 0x0010, 0x0020, "l0", "AB", 2);
}
static void not_item_in_seq(file *f)
{
	header(f, 0x0008, 0x1115, "SQ", 0xFFFFFFFF);
	element(f, 0x0010, 0x0020, "LO", "AB", 2);
}
static void item_past_seq(file *f)
{
	header(f, 0x0008, 0x1115, "SQ", 8);
	delimiter(f, 0xE000, 20);
	element(f, 0x0010, 0x0020, "LO", "ABCDEFGHIJKL", 12);
}
static void undefined_fragment(file *f)
{
	header(f, 0x7FE0, 0x0010, "OB", 0xFFFFFFFF);
	delimiter(f, 0xE000, 0xFFFFFFFF);
}
static void unterminated_seq(file *f)
{
	header(f, 0x0008, 0x1115, "SQ", 0xFFFFFFFF);
	delimiter(f, 0xE000, 0xFFFFFFFF);
	element(f, 0x0010, 0x0020, "LO", "AB", 2);
}
static void empty_sequences(file *f)
{
	header(f, 0x0008, 0x1115, "SQ", 0);
	header(f, 0x0008, 0x1140, "SQ", 0xFFFFFFFF);
	delimiter(f, 0xE0DD, 0);
	header(f, 0x0008, 0x1141, "SQ", 8);
	delimiter(f, 0xE000, 0);
	element(f, 0x0010, 0x0020, "LO", "", 0);
}
static void un_undefined(file *f)
{
	/* PS3.5 6.2.2: UN of undefined length holds an implicit VR little endian sequence. */
	header(f, 0x0009, 0x1010, "UN", 0xFFFFFFFF);
	file *implicit = file_new(false, false);
	delimiter(implicit, 0xE000, 0xFFFFFFFF);
	element(implicit, 0x0009, 0x1011, "", "AB", 2);
	delimiter(implicit, 0xE00D, 0);
	delimiter(implicit, 0xE0DD, 0);
	append(f, implicit);
	file_free(implicit);
}

static void test_refusals(void)
{
	mc_err err = {0};
	CHECK(try(TS_EXPLICIT, odd_length, &err) == MC_ERR_HEADER && strstr(err.msg, "odd length"), "odd: %s", err.msg);
	CHECK(try(TS_EXPLICIT, past_end, &err) == MC_ERR_HEADER && strstr(err.msg, "past the end"), "past end: %s",
	      err.msg);
	CHECK(try(TS_EXPLICIT, huge_past_end, &err) == MC_ERR_HEADER, "huge length: %s", err.msg);
	CHECK(try(TS_EXPLICIT, stray_item_end, &err) == MC_ERR_HEADER, "stray item delimiter: %s", err.msg);
	CHECK(try(TS_IMPLICIT, stray_seq_end, &err) == MC_ERR_HEADER, "stray sequence delimiter: %s", err.msg);
	CHECK(try(TS_EXPLICIT, undefined_ob, &err) == MC_ERR_HEADER && strstr(err.msg, "undefined length"),
	      "u/l OB: %s", err.msg);
	CHECK(try(TS_EXPLICIT, bad_vr, &err) == MC_ERR_HEADER && strstr(err.msg, "VR"), "bad VR: %s", err.msg);
	CHECK(try(TS_BIG, not_item_in_seq, &err) == MC_ERR_HEADER && strstr(err.msg, "expected an item"), "no item: %s",
	      err.msg);
	CHECK(try(TS_EXPLICIT, item_past_seq, &err) == MC_ERR_HEADER, "item past its sequence: %s", err.msg);
	CHECK(try(TS_EXPLICIT, undefined_fragment, &err) == MC_ERR_HEADER, "u/l fragment: %s", err.msg);
	CHECK(try(TS_EXPLICIT, unterminated_seq, &err) == MC_ERR_HEADER && strstr(err.msg, "truncated"),
	      "no delimiter: %s", err.msg);
	CHECK(try(TS_EXPLICIT, empty_sequences, &err) == MC_OK, "empty sequences: %s", err.msg);
	CHECK(try(TS_EXPLICIT, un_undefined, &err) == MC_OK, "UN sequence: %s", err.msg);
	CHECK(try("1.2.840.10008.1.2.1.99", odd_length, &err) == MC_ERR_UNSUPPORTED && strstr(err.msg, "deflate"),
	      "deflate: %s", err.msg);

	file *f = part10(TS_EXPLICIT, true, false);
	memcpy(f->d + 128, "DICN", 4);
	CHECK(parse(f->d, f->n, f->n, 0, NULL, &err) == MC_ERR_HEADER && strstr(err.msg, "DICM"), "magic: %s", err.msg);
	CHECK(parse(f->d, 100, 100, 0, NULL, &err) == MC_ERR_HEADER && strstr(err.msg, "preamble"), "short: %s",
	      err.msg);
	CHECK(parse(f->d, 0, 0, 0, NULL, &err) == MC_ERR_HEADER, "empty: %s", err.msg);
	file_free(f);

	/* A meta group with no transfer syntax. */
	f = file_new(true, false);
	uint8_t preamble[128] = {0};
	put(f, preamble, 128);
	put(f, "DICM", 4);
	element(f, 0x0002, 0x0001, "OB", "\0\1", 2);
	element(f, 0x0008, 0x0060, "CS", "OT", 2);
	CHECK(parse(f->d, f->n, f->n, 0, NULL, &err) == MC_ERR_HEADER && strstr(err.msg, "transfer syntax"),
	      "no TS: %s", err.msg);
	file_free(f);

	/* A visitor that stops. */
	f = sample(TS_EXPLICIT, true, false);
	log l = {.stop_after = 3};
	CHECK(parse(f->d, f->n, f->n, 0, &l, &err) == MC_ERR_CANCELLED, "stop: %s", err.msg);
	mc_input none = {0};
	CHECK(mc_dicom_parse(none, 0, NULL, NULL, NULL) == MC_ERR_MISUSE, "no input");
	file_free(f);

	CHECK(strcmp(mc_dicom_transfer_syntax_name("1.2.840.10008.1.2.2"), "Explicit VR Big Endian") == 0, "ts name");
	CHECK(mc_dicom_transfer_syntax_name("1.2.3") == NULL && mc_dicom_transfer_syntax_name(NULL) == NULL,
	      "unknown ts");
}

/* Writes the sample files and the malformed ones as the seed corpus of fuzz/fuzz_dicom.c. */
static int write_corpus(const char *dir)
{
	static const struct {
		const char *name, *ts;
		void (*fn)(file *);
	} cases[] = {
	    {"odd_length", TS_EXPLICIT, odd_length},
	    {"past_end", TS_EXPLICIT, past_end},
	    {"stray_item_end", TS_EXPLICIT, stray_item_end},
	    {"undefined_ob", TS_EXPLICIT, undefined_ob},
	    {"not_item_in_seq", TS_BIG, not_item_in_seq},
	    {"item_past_seq", TS_EXPLICIT, item_past_seq},
	    {"unterminated_seq", TS_IMPLICIT, unterminated_seq},
	    {"empty_sequences", TS_EXPLICIT, empty_sequences},
	    {"un_undefined", TS_EXPLICIT, un_undefined},
	    {"deflate", "1.2.840.10008.1.2.1.99", odd_length},
	};
	char path[4096];
	int rc = 0;
	for (int i = 0; i < 3 + (int)(sizeof cases / sizeof cases[0]) + 1; i++) {
		file *f;
		if (i < 3) {
			const char *ts[] = {TS_EXPLICIT, TS_IMPLICIT, TS_BIG};
			f = sample(ts[i], i != 1, i == 2);
			snprintf(path, sizeof path, "%s/sample_%s.dcm", dir,
			         (const char *[]){"explicit_le", "implicit_le", "explicit_be"}[i]);
		} else if (i < 3 + (int)(sizeof cases / sizeof cases[0])) {
			f = part10(cases[i - 3].ts, strcmp(cases[i - 3].ts, TS_IMPLICIT) != 0,
			           strcmp(cases[i - 3].ts, TS_BIG) == 0);
			cases[i - 3].fn(f);
			snprintf(path, sizeof path, "%s/%s.dcm", dir, cases[i - 3].name);
		} else {
			f = part10(TS_EXPLICIT, true, false);
			nested(f, MC_DICOM_MAX_DEPTH + 2);
			snprintf(path, sizeof path, "%s/nested_66.dcm", dir);
		}
		FILE *out = fopen(path, "wb");
		if (!out || fwrite(f->d, 1, f->n, out) != f->n || fclose(out) != 0) {
			fprintf(stderr, "cannot write %s\n", path);
			rc = 1;
		}
		file_free(f);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	test_encodings();
	test_truncation();
	test_depth();
	test_refusals();
	return check_summary("dicom");
}
