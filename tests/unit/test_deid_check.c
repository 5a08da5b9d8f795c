/*
 * test_deid_check.c: unit tests of mc_deid_check (lib/deid_check.c), the check behind `medcrypt
 * send --deidentified`. Files are built byte by byte (dicom_builder.h): an identified secondary
 * capture with a patient's name and ID, Burned In Annotation YES or absent, and variants. What
 * mc_deid makes of it passes; the original fails naming PatientName; an identifying attribute in
 * a sequence, a private attribute at any depth, an AE title in the file meta group, a missing
 * Patient Identity Removed and Burned In Annotation YES fail; YES cleaned by mc_deid with a
 * region passes as "regions cleaned"; a file de-identified in another tool's style (values
 * emptied instead of dummies, implicit VR) passes; no report ever carries a value; the walk
 * stops at native Pixel Data that ends the file. Argument: the vector directory (keys/alice.pub).
 */
#include <medcrypt/deid.h>
#include <medcrypt/dicom.h>
#include <medcrypt/key.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#include "dicom_builder.h"

#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"

static mc_pubkey *alice;

static void delimiter(file *f, uint16_t e, uint32_t len)
{
	put16(f, 0xFFFE);
	put16(f, e);
	put32(f, len);
}

/* Preamble, DICM and a file meta group; ae adds a Source Application Entity Title. */
static file *part10(const char *ts, bool explicit_vr, bool ae)
{
	file *f = file_new(true, false);
	uint8_t preamble[128] = {0};
	put(f, preamble, 128);
	put(f, "DICM", 4);
	size_t n = strlen(ts);
	char uid[66] = {0};
	memcpy(uid, ts, n);
	uint32_t uid_len = (uint32_t)(n + (n & 1));
	uint32_t group_len = 14 + 8 + 26 + 8 + 24 + 8 + uid_len + (ae ? 8 + 8 : 0);
	element(f, 0x0002, 0x0000, "UL", (uint8_t[]){(uint8_t)group_len, 0, 0, 0}, 4);
	element(f, 0x0002, 0x0001, "OB", "\0\1", 2);
	element(f, 0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7\0", 26);
	element(f, 0x0002, 0x0003, "UI", "1.2.826.0.1.3680043.2.1\0", 24);
	element(f, 0x0002, 0x0010, "UI", uid, uid_len);
	if (ae)
		element(f, 0x0002, 0x0016, "AE", "SCANNER1", 8);
	f->explicit_vr = explicit_vr;
	return f;
}

typedef struct variant {
	bool implicit, meta_ae;
	const char *patient_name; /* NULL: absent */
	const char *patient_id;
	const char *identity_removed; /* (0012,0062), NULL: absent */
	const char *bia;              /* (0028,0301), NULL: absent */
	bool private_top, nested_name, nested_private, content_item, referenced_study_item;
	const char *annotation_uids; /* (006A,0003), NULL: absent */
	uint32_t pixel_len;
} variant;

/* A secondary capture of 8 x 8 pixels, 8 bits (pixel_len bytes of Pixel Data, 64 when 0). */
static file *build(const variant *v)
{
	file *f = part10(v->implicit ? TS_IMPLICIT : TS_EXPLICIT, !v->implicit, v->meta_ae);
	element(f, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7\0", 26);
	element(f, 0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.2.1\0", 24);
	element(f, 0x0008, 0x0060, "CS", "OT", 2);
	if (v->referenced_study_item) { /* (0008,1110) X/Z: emptied, no items */
		header(f, 0x0008, 0x1110, "SQ", 0xFFFFFFFF);
		delimiter(f, 0xE000, 0xFFFFFFFF);
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
	}
	if (v->private_top) {
		element(f, 0x0009, 0x0010, "LO", "ACME 1.0", 8);
		element(f, 0x0009, 0x1001, "LO", "Jane Doe", 8);
	}
	if (v->patient_name)
		element(f, 0x0010, 0x0010, "PN", v->patient_name, (uint32_t)strlen(v->patient_name));
	if (v->patient_id)
		element(f, 0x0010, 0x0020, "LO", v->patient_id, (uint32_t)strlen(v->patient_id));
	if (v->identity_removed)
		element(f, 0x0012, 0x0062, "CS", v->identity_removed, (uint32_t)strlen(v->identity_removed));
	element(f, 0x0028, 0x0002, "US", "\1\0", 2);
	element(f, 0x0028, 0x0004, "CS", "MONOCHROME2 ", 12);
	element(f, 0x0028, 0x0010, "US", "\x08\0", 2);
	element(f, 0x0028, 0x0011, "US", "\x08\0", 2);
	element(f, 0x0028, 0x0100, "US", "\x08\0", 2);
	element(f, 0x0028, 0x0101, "US", "\x08\0", 2);
	element(f, 0x0028, 0x0102, "US", "\x07\0", 2);
	element(f, 0x0028, 0x0103, "US", "\0\0", 2);
	if (v->bia)
		element(f, 0x0028, 0x0301, "CS", v->bia, (uint32_t)strlen(v->bia));
	if (v->annotation_uids) /* (006A,0003) D on a UI: mc_deid's mapped UIDs, empty values stay */
		element(f, 0x006A, 0x0003, "UI", v->annotation_uids, (uint32_t)strlen(v->annotation_uids));
	if (v->content_item) { /* (0040,A730) D: at most one empty item */
		header(f, 0x0040, 0xA730, "SQ", 0xFFFFFFFF);
		delimiter(f, 0xE000, 0xFFFFFFFF);
		element(f, 0x0040, 0xA160, "UT", "seen by Dr House", 16);
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
	}
	if (v->nested_name || v->nested_private) {
		/* (0054,0016) Radiopharmaceutical Information Sequence (kept), an item holding a
		 * kept sequence (0054,0300) whose item holds the identifying attribute */
		header(f, 0x0054, 0x0016, "SQ", 0xFFFFFFFF);
		delimiter(f, 0xE000, 0xFFFFFFFF);
		header(f, 0x0054, 0x0300, "SQ", 0xFFFFFFFF);
		delimiter(f, 0xE000, 0xFFFFFFFF);
		element(f, 0x0008, 0x0100, "SH", "C-111A1 ", 8);
		if (v->nested_name)
			element(f, 0x0008, 0x0090, "PN", "House^Gregory ", 14);
		if (v->nested_private)
			element(f, 0x0055, 0x0010, "LO", "ACME 1.0", 8);
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
		delimiter(f, 0xE00D, 0);
		delimiter(f, 0xE0DD, 0);
	}
	uint32_t n = v->pixel_len ? v->pixel_len : 64;
	header(f, 0x7FE0, 0x0010, "OB", n);
	for (uint32_t i = 0; i < n; i++)
		put(f, (uint8_t[]){(uint8_t)i}, 1);
	return f;
}

static mc_status run_check(const uint8_t *d, size_t n, mc_deid_report *r, mc_err *err)
{
	membuf m = membuf_view(d, n);
	m.max_read = 7; /* short reads cross the reader's buffers */
	return mc_deid_check(membuf_in(&m), n, r, err);
}

static int rewind_mem(void *ctx)
{
	((membuf *)ctx)->pos = 0;
	return 0;
}

/* mc_deid of f for alice, with regions when n_regions > 0; the output in *out. */
static mc_status deid(const file *f, const mc_deid_region *regions, size_t n_regions, membuf *out)
{
	static const uint8_t uid_key[MC_DEID_UID_KEY_LEN] = {7, 7, 7};
	const mc_pubkey *rcpt[] = {alice};
	mc_deid_params p = {rcpt, 1, uid_key, regions, n_regions};
	membuf in = membuf_view(f->d, f->n);
	mc_err err = {0};
	memset(out, 0, sizeof *out);
	mc_status st = mc_deid(membuf_in(&in), rewind_mem, f->n, membuf_out(out), &p, &err);
	if (st != MC_OK)
		fprintf(stderr, "deid: %s\n", err.msg);
	return st;
}

/* The check's verdict on v, with its message free of every value the file holds. */
static mc_deid_report verdict(const variant *v)
{
	file *f = build(v);
	mc_deid_report r;
	mc_err err = {0};
	mc_status st = run_check(f->d, f->n, &r, &err);
	CHECK(st == MC_OK, "check: %s", err.msg);
	static const char *values[] = {"Doe", "Jane", "PID", "SCANNER1", "House", "ACME"};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		CHECK(!strstr(r.message, values[i]), "the report carries a value: %s", r.message);
	file_free(f);
	return r;
}

static void test_identified(void)
{
	variant v = {.patient_name = "Doe^Jane", .patient_id = "PID12345"};
	mc_deid_report r = verdict(&v);
	CHECK(r.finding == MC_DEID_FOUND_NOT_EMPTY, "finding %d", r.finding);
	CHECK(r.tag == 0x00100010u && strcmp(r.keyword, "PatientName") == 0, "%08x %s", r.tag, r.keyword);
	CHECK(r.depth == 0, "depth %u", r.depth);
	CHECK(strstr(r.message, "(0010,0010) PatientName") == r.message, "%s", r.message);
	/* the walk goes on: the ID and the missing (0012,0062) are counted and listed */
	CHECK(r.n_findings == 3, "%u findings", r.n_findings);
	CHECK(strcmp(r.also, "(0010,0020) PatientID, (0012,0062) PatientIdentityRemoved") == 0, "also: %s", r.also);
	/* the ID alone: Z/D, neither empty nor medcrypt's dummy */
	v.patient_name = "";
	v.identity_removed = "YES ";
	r = verdict(&v);
	CHECK(r.finding == MC_DEID_FOUND_NOT_DUMMY && strcmp(r.keyword, "PatientID") == 0, "%d %s", r.finding,
	      r.keyword);
	/* another tool's dummy is not ours */
	v.patient_id = "ANONYMOUS ";
	r = verdict(&v);
	CHECK(r.finding == MC_DEID_FOUND_NOT_DUMMY, "%s", r.message);
	/* implicit VR: the keyword from the table all the same */
	v.implicit = true;
	v.patient_name = "Doe^Jane";
	r = verdict(&v);
	CHECK(r.finding == MC_DEID_FOUND_NOT_EMPTY && strcmp(r.keyword, "PatientName") == 0, "%s", r.message);
}

static void test_deid_output(void)
{
	for (int implicit = 0; implicit < 2; implicit++) {
		variant v = {.implicit = implicit,
		             .patient_name = "Doe^Jane",
		             .patient_id = "PID12345",
		             .private_top = true,
		             .meta_ae = true,
		             .nested_name = true,
		             .content_item = true,
		             .referenced_study_item = true};
		file *f = build(&v);
		membuf out;
		CHECK(deid(f, NULL, 0, &out) == MC_OK, "deid");
		mc_deid_report r;
		mc_err err = {0};
		CHECK(run_check(out.p, out.len, &r, &err) == MC_OK, "%s", err.msg);
		CHECK(r.finding == MC_DEID_CLEAN, "implicit %d: %s", implicit, r.message);
		CHECK(r.pixels == MC_DEID_PIXELS_NOT_STATED, "pixels %d", r.pixels);
		CHECK(r.message[0] == 0 && r.n_findings == 0 && r.also[0] == 0, "%s", r.message);
		/* the original fails, naming its first identifying attribute: the AE title */
		CHECK(run_check(f->d, f->n, &r, &err) == MC_OK, "%s", err.msg);
		CHECK(r.finding == MC_DEID_FOUND_META && strcmp(r.keyword, "SourceApplicationEntityTitle") == 0, "%s",
		      r.message);
		membuf_free(&out);
		file_free(f);
	}
}

static void test_burned_in(void)
{
	variant v = {.patient_name = "Doe^Jane", .patient_id = "PID12345", .bia = "YES "};
	file *f = build(&v);
	/* de-identified without regions: the annotation is still there */
	membuf out;
	CHECK(deid(f, NULL, 0, &out) == MC_OK, "deid");
	mc_deid_report r;
	mc_err err = {0};
	CHECK(run_check(out.p, out.len, &r, &err) == MC_OK, "%s", err.msg);
	CHECK(r.finding == MC_DEID_FOUND_BURNED_IN && strcmp(r.keyword, "BurnedInAnnotation") == 0, "%s", r.message);
	membuf_free(&out);
	/* with a region (deid --region): NO and code 113101 */
	static const mc_deid_region band = {0, 0, 8, 2};
	CHECK(deid(f, &band, 1, &out) == MC_OK, "deid --region");
	CHECK(run_check(out.p, out.len, &r, &err) == MC_OK, "%s", err.msg);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	CHECK(r.pixels == MC_DEID_PIXELS_REGIONS_CLEANED, "pixels %d", r.pixels);
	membuf_free(&out);
	file_free(f);
	/* lower case counts too */
	variant w = {.patient_name = "", .identity_removed = "YES ", .bia = "yes "};
	r = verdict(&w);
	CHECK(r.finding == MC_DEID_FOUND_BURNED_IN, "%s", r.message);
	/* NO */
	w.bia = "NO";
	r = verdict(&w);
	CHECK(r.finding == MC_DEID_CLEAN && r.pixels == MC_DEID_PIXELS_NO_BURNED_IN, "%s", r.message);
}

static void test_other_tool(void)
{
	/* values emptied rather than dummies, identity removed, no private attributes */
	variant v = {.patient_name = "", .patient_id = "", .identity_removed = "YES ", .bia = "NO"};
	mc_deid_report r = verdict(&v);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	CHECK(r.pixels == MC_DEID_PIXELS_NO_BURNED_IN, "pixels %d", r.pixels);
	v.implicit = true;
	v.patient_id = "  "; /* nothing but padding */
	r = verdict(&v);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	/* the attributes removed altogether */
	variant w = {.identity_removed = "YES "};
	r = verdict(&w);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	/* but not without saying so */
	w.identity_removed = NULL;
	r = verdict(&w);
	CHECK(r.finding == MC_DEID_FOUND_NOT_REMOVED && r.tag == 0x00120062u, "%s", r.message);
	CHECK(strcmp(r.keyword, "PatientIdentityRemoved") == 0, "%s", r.keyword);
	w.identity_removed = "NO";
	r = verdict(&w);
	CHECK(r.finding == MC_DEID_FOUND_NOT_REMOVED, "%s", r.message);
	/* a UID the profile replaces by a dummy: mc_deid's 2.25 UIDs, an empty value among them
	 * (as mc_deid leaves it: fuzz_deid found the check refusing it), but not the original */
	variant u = {.identity_removed = "YES ", .annotation_uids = "2.25.1234\\\\2.25.99"};
	r = verdict(&u);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	u.annotation_uids = "2.25.1234\\1.2.3.4 ";
	r = verdict(&u);
	CHECK(r.finding == MC_DEID_FOUND_NOT_DUMMY && r.tag == 0x006A0003u, "%s", r.message);
}

static void test_nested_and_private(void)
{
	variant v = {.patient_name = "", .identity_removed = "YES ", .nested_name = true};
	mc_deid_report r = verdict(&v);
	CHECK(r.finding == MC_DEID_FOUND_NOT_EMPTY, "%s", r.message);
	CHECK(r.tag == 0x00080090u && strcmp(r.keyword, "ReferringPhysicianName") == 0, "%s", r.message);
	CHECK(r.depth == 2 && r.top_tag == 0x00540016u, "depth %u top %08x", r.depth, r.top_tag);
	CHECK(strstr(r.message, "inside (0054,0016)") != NULL, "%s", r.message);
	variant p = {.patient_name = "", .identity_removed = "YES ", .nested_private = true};
	r = verdict(&p);
	CHECK(r.finding == MC_DEID_FOUND_PRIVATE && r.tag == 0x00550010u && r.depth == 2, "%s", r.message);
	variant t = {.patient_name = "", .identity_removed = "YES ", .private_top = true};
	r = verdict(&t);
	CHECK(r.finding == MC_DEID_FOUND_PRIVATE && r.tag == 0x00090010u && r.depth == 0, "%s", r.message);
	CHECK(strstr(r.message, "(0009,0010) is a private attribute") == r.message, "%s", r.message);
	/* a sequence the profile empties, with an item */
	variant s = {.patient_name = "", .identity_removed = "YES ", .referenced_study_item = true};
	r = verdict(&s);
	CHECK(r.finding == MC_DEID_FOUND_NOT_EMPTY && strcmp(r.keyword, "ReferencedStudySequence") == 0, "%s",
	      r.message);
	/* a sequence the profile replaces by one empty item, with content */
	variant c = {.patient_name = "", .identity_removed = "YES ", .content_item = true};
	r = verdict(&c);
	CHECK(r.finding == MC_DEID_FOUND_NOT_DUMMY && strcmp(r.keyword, "ContentSequence") == 0, "%s", r.message);
	CHECK(r.n_findings == 1 && r.also[0] == 0, "what is inside is not listed again: %u %s", r.n_findings, r.also);
	variant m = {.patient_name = "", .identity_removed = "YES ", .meta_ae = true};
	r = verdict(&m);
	CHECK(r.finding == MC_DEID_FOUND_META && r.tag == 0x00020016u, "%s", r.message);
}

/* Counts what the check reads. */
typedef struct counted {
	membuf m;
	size_t read;
} counted;

static long counted_read(void *ctx, uint8_t *b, size_t n)
{
	counted *c = ctx;
	long k = membuf_read(&c->m, b, n);
	if (k > 0)
		c->read += (size_t)k;
	return k;
}

static void test_stream(void)
{
	variant v = {.patient_name = "", .identity_removed = "YES ", .pixel_len = 4u << 20};
	file *f = build(&v);
	counted c = {membuf_view(f->d, f->n), 0};
	mc_deid_report r;
	mc_err err = {0};
	CHECK(mc_deid_check((mc_input){counted_read, &c}, f->n, &r, &err) == MC_OK, "%s", err.msg);
	CHECK(r.finding == MC_DEID_CLEAN, "%s", r.message);
	CHECK(c.read < (1u << 20), "read %zu of %zu bytes", c.read, f->n);
	/* size unknown: read to the end, same verdict */
	c = (counted){membuf_view(f->d, f->n), 0};
	CHECK(mc_deid_check((mc_input){counted_read, &c}, MC_DICOM_SIZE_UNKNOWN, &r, &err) == MC_OK, "%s", err.msg);
	CHECK(r.finding == MC_DEID_CLEAN && c.read == f->n, "%s", r.message);
	/* truncated: a header error (or, cut between elements, a shorter file), and on error the
	 * report says nothing */
	for (size_t cut = 0; cut < f->n; cut += cut < 400 ? 1 : 65536) {
		membuf m = membuf_view(f->d, cut);
		mc_status st = mc_deid_check(membuf_in(&m), cut, &r, &err);
		CHECK(st == MC_OK || (st == MC_ERR_HEADER && r.finding == MC_DEID_CLEAN && r.message[0] == 0),
		      "cut %zu: %s %s", cut, mc_status_name(st), err.msg);
		if (cut < 132 || cut > 400)
			CHECK(st == MC_ERR_HEADER, "cut %zu: %s", cut, mc_status_name(st));
	}
	CHECK(mc_deid_check(membuf_in(&c.m), f->n, NULL, &err) == MC_ERR_MISUSE, "no report");
	file_free(f);
	CHECK(mc_deid_keyword(0x00100010u) && strcmp(mc_deid_keyword(0x00100010u), "PatientName") == 0, "keyword");
	CHECK(mc_deid_keyword(0x00280301u) && strcmp(mc_deid_keyword(0x00280301u), "BurnedInAnnotation") == 0,
	      "keyword");
	CHECK(mc_deid_keyword(0x00280010u) == NULL, "Rows is not the profile's");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_deid_check VECTOR_DIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/keys/alice.pub", argv[1]);
	mc_err err = {0};
	if (mc_pubkey_load(path, MC_ROLE_RECIPIENT, &alice, &err) != MC_OK) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return 2;
	}
	test_identified();
	test_deid_output();
	test_burned_in();
	test_other_tool();
	test_nested_and_private();
	test_stream();
	mc_pubkey_free(alice);
	return check_summary("deid-check");
}
