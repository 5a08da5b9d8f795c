/*
 * fuzz_deid: de-identification (lib/deid.c, with the DICOM writer of lib/dicom_write.c) on
 * untrusted bytes, the way `medcrypt deid` meets a file: mc_deid from memory into memory for the
 * fixed recipient alice (tests/vectors/keys/alice.key). When it succeeds, the output must parse,
 * mc_reid with alice's key must restore it, and the restored file must parse. The same bytes also
 * go to mc_deid_parse_modified, the parser reid runs on a decrypted Encrypted Content, in explicit
 * and implicit VR little endian.
 *
 * Each input is de-identified twice: without regions and with two small --region rectangles
 * (the streaming blanking walk, the region record in the Encrypted Content, and its restore).
 *
 * mc_deid_check (`medcrypt send --deidentified`) runs on the input and on every file mc_deid
 * writes: on the input it gives a verdict or a header/unsupported error, and a finding names a
 * tag in a printable message; on mc_deid's output it must agree with mc_deid, which applies the
 * same table: the output is clean, except for Burned In Annotation YES when no region was
 * blanked, and with regions it is clean with "regions cleaned".
 *
 * Invariants, or the target aborts: a failure carries its class in err and is a header,
 * unsupported, or (for inputs over the size of the originals) unsupported error, never a crypto
 * or misuse error (with regions: misuse for a region outside the image); what deid writes parses
 * and re-identifies.
 */
#include <medcrypt/deid.h>
#include <medcrypt/dicom.h>
#include <stdlib.h>
#include <string.h>

#include "deid_internal.h"
#include "fuzz_check.h"
#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct mem {
	const uint8_t *p;
	size_t len, pos;
} mem;

static long mem_read(void *ctx, uint8_t *b, size_t n)
{
	mem *m = ctx;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	if (n > 4093)
		n = 4093; /* odd-sized reads cross the reader's and the writer's buffers */
	memcpy(b, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

static int mem_rewind(void *ctx)
{
	((mem *)ctx)->pos = 0;
	return 0;
}

typedef struct sink {
	uint8_t *p;
	size_t len, cap;
} sink;

static int sink_write(void *ctx, const uint8_t *b, size_t n)
{
	sink *s = ctx;
	if (s->len + n > s->cap) {
		size_t cap = (s->len + n) * 2 + 4096;
		uint8_t *p = realloc(s->p, cap);
		if (!p)
			return -1;
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->len, b, n);
	s->len += n;
	return 0;
}

/* mc_deid_check on bytes (read in odd pieces): its verdict, or a header/unsupported error. */
static mc_status check_of(const uint8_t *data, size_t size, mc_deid_report *r)
{
	mem m = {data, size, 0};
	mc_err err = {0};
	mc_status st = mc_deid_check((mc_input){mem_read, &m}, size, r, &err);
	CHECK(st == MC_OK || st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED);
	if (st != MC_OK) {
		CHECK(err.status == st && err.msg[0] != 0);
		CHECK(r->finding == MC_DEID_CLEAN && r->message[0] == 0);
		return st;
	}
	CHECK((r->finding == MC_DEID_CLEAN) == (r->message[0] == 0));
	CHECK((r->finding == MC_DEID_CLEAN) == (r->n_findings == 0));
	CHECK(memchr(r->also, 0, sizeof r->also) != NULL && (r->n_findings > 1 || r->also[0] == 0));
	CHECK(memchr(r->message, 0, sizeof r->message) != NULL && memchr(r->keyword, 0, sizeof r->keyword) != NULL);
	if (r->finding != MC_DEID_CLEAN)
		CHECK(r->message[0] == '(' && r->message[5] == ',' && r->message[10] == ')');
	for (const char *p = r->message; *p; p++)
		CHECK(*p >= 0x20 && *p < 0x7F);
	return st;
}

static mc_identity *alice;
static mc_pubkey *alice_pub;

static mc_status parses(const sink *s)
{
	mem m = {s->p, s->len, 0};
	mc_err err = {0};
	return mc_dicom_parse((mc_input){mem_read, &m}, s->len, NULL, NULL, &err);
}

/* deid with params, then (when it succeeds) parse and reid; the allowed failure classes: */
static void deid_reid(const uint8_t *data, size_t size, const mc_deid_params *p, bool regions)
{
	mem in = {data, size, 0};
	sink out = {0};
	mc_err err = {0};
	mc_status st = mc_deid((mc_input){mem_read, &in}, mem_rewind, size, (mc_output){sink_write, &out}, p, &err);
	if (st == MC_OK) {
		CHECK(parses(&out) == MC_OK);
		mc_deid_report r;
		CHECK(check_of(out.p, out.len, &r) == MC_OK);
		if (r.finding != MC_DEID_CLEAN && !(r.finding == MC_DEID_FOUND_BURNED_IN && !regions))
			fprintf(stderr, "check after deid: %s\n", r.message);
		CHECK(r.finding == MC_DEID_CLEAN || (r.finding == MC_DEID_FOUND_BURNED_IN && !regions));
		CHECK(!regions || r.pixels == MC_DEID_PIXELS_REGIONS_CLEANED);
		mem din = {out.p, out.len, 0};
		sink back = {0};
		mc_err rerr = {0};
		mc_status rst = mc_reid((mc_input){mem_read, &din}, mem_rewind, out.len, (mc_output){sink_write, &back},
		                        alice, &rerr);
		if (rst != MC_OK)
			fprintf(stderr, "reid: %s\n", rerr.msg);
		CHECK(rst == MC_OK);
		CHECK(parses(&back) == MC_OK);
		free(back.p);
	} else {
		/* with regions, a region outside the image is the caller's misuse */
		bool allowed = st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED || (regions && st == MC_ERR_MISUSE);
		if (!allowed)
			fprintf(stderr, "deid: %s: %s\n", mc_status_name(st), err.msg);
		CHECK(err.status == st && err.msg[0] != 0);
		CHECK(allowed);
	}
	free(out.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!alice) {
		mc_err err = {0};
		CHECK(mc_identity_parse((const uint8_t *)FUZZ_KEY_ALICE, strlen(FUZZ_KEY_ALICE), "", 0, MC_IDENTITY_ENC,
		                        &alice, &err) == MC_OK);
		CHECK(mc_pubkey_from_identity(alice, MC_ROLE_RECIPIENT, &alice_pub, &err) == MC_OK);
	}
	mc_deid_report report;
	check_of(data, size, &report);
	static const uint8_t uid_key[MC_DEID_UID_KEY_LEN] = {1, 2, 3};
	const mc_pubkey *rcpt[1] = {alice_pub};
	mc_deid_params p = {rcpt, 1, uid_key, NULL, 0};
	deid_reid(data, size, &p, false);
	/* --region on the same bytes: the blanking walk, the region record and its restore */
	static const mc_deid_region regions[2] = {{0, 0, 3, 2}, {1, 1, 2, 5}};
	p.regions = regions;
	p.n_regions = 2;
	deid_reid(data, size, &p, true);

	size_t n;
	mc_err perr = {0};
	mc_status pst = mc_deid_parse_modified(data, size, MC_DICOM_TS_EXPLICIT_LE, &n, &perr);
	CHECK(pst == MC_OK || pst == MC_ERR_HEADER || pst == MC_ERR_UNSUPPORTED);
	pst = mc_deid_parse_modified(data, size, MC_DICOM_TS_IMPLICIT_LE, &n, &perr);
	CHECK(pst == MC_OK || pst == MC_ERR_HEADER || pst == MC_ERR_UNSUPPORTED);
	return 0;
}
