/*
 * fuzz_redact: the parsers of region encryption (lib/redact*.c, FORMAT.md §13) on untrusted
 * bytes. The same input goes to each of them:
 *   - the region record (the plaintext after decryption): rd_record_parse;
 *   - the side-data envelope (before decryption), for both image kinds, then mc_file_read on
 *     the container it carries;
 *   - a whole image: mc_restore with a fixed identity (tests/vectors/keys/alice.key, embedded),
 *     which walks the PNG chunks, JPEG markers or DICOM elements, takes the mcRG chunk, APP11
 *     segments or (7FD1,1001) element and opens it; and mc_redact of one pixel for alice (black
 *     fill for an odd input length, pixelate for an even one), whose output must restore.
 *
 * Invariants, or the target aborts: a parsed record is exactly its header plus the data length
 * its header implies, and writing its header again gives the input's bytes; its regions lie
 * inside the image; an envelope's container is the input after 8 bytes; anything mc_redact
 * accepts, mc_restore gives back (same image type; for DICOM the input byte for byte); mc_redact
 * never refuses because its own output failed to restore (its last check, rd_check_restores: that
 * refusal keeps the image safe but means an earlier check missed something, issue 10); failures
 * carry their class in err.
 */
#include <medcrypt/redact.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_keys.h"
#include "redact_internal.h"

#include "fuzz_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mc_identity *alice;
static mc_pubkey *alice_pub;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mc_err err = {0};
	const char *pem = FUZZ_KEY_ALICE;
	if (mc_identity_parse((const uint8_t *)pem, strlen(pem), "", 0, MC_IDENTITY_ENC, &alice, &err) != MC_OK ||
	    mc_pubkey_from_identity(alice, MC_ROLE_RECIPIENT, &alice_pub, &err) != MC_OK) {
		fprintf(stderr, "fuzz_redact: alice: %s\n", err.msg);
		abort();
	}
	return 0;
}

static void check_record(const uint8_t *data, size_t size)
{
	rd_record r;
	mc_err err = {0};
	mc_status st = rd_record_parse(data, size, &r, &err);
	if (st != MC_OK) {
		CHECK(err.status == st && (st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED || st == MC_ERR_NOMEM));
		return;
	}
	size_t header = rd_record_header_len(&r);
	uint64_t want = 0;
	CHECK(rd_record_data_len(&r, &want, &err) == MC_OK);
	CHECK(header + want == size && r.data == data + header && r.data_len == want);
	uint8_t *again = malloc(header);
	rd_record_write_header(&r, again);
	CHECK(memcmp(again, data, header) == 0);
	free(again);
	for (size_t i = 0; i < r.n_regions; i++) {
		CHECK(r.regions[i].w > 0 && r.regions[i].h > 0);
		CHECK((uint64_t)r.regions[i].x + r.regions[i].w <= r.width);
		CHECK((uint64_t)r.regions[i].y + r.regions[i].h <= r.height);
	}
}

static void check_envelope(const uint8_t *data, size_t size)
{
	for (int kind = MC_REDACT_PNG; kind <= MC_REDACT_DICOM; kind++) {
		const uint8_t *container = NULL;
		size_t container_len = 0;
		mc_err err = {0};
		mc_status st = rd_envelope_parse(data, size, (mc_redact_kind)kind, &container, &container_len, &err);
		if (st != MC_OK) {
			CHECK(err.status == st && (st == MC_ERR_HEADER || st == MC_ERR_UNSUPPORTED));
			continue;
		}
		CHECK(container == data + RD_ENVELOPE_LEN && container_len == size - RD_ENVELOPE_LEN);
		uint8_t *record = NULL;
		size_t record_len = 0;
		rd_record r;
		mc_redact_info info;
		memset(&info, 0, sizeof info);
		st = rd_open(data, size, (mc_redact_kind)kind, alice, NULL, &record, &record_len, &r, &info, &err);
		CHECK(st != MC_OK || (record && r.kind == (mc_redact_kind)kind));
		if (st != MC_OK)
			CHECK(record == NULL && err.status == st);
		mc_buf_free(record, record_len);
	}
}

/* The image type as mc_redact and mc_restore decide it: PNG, then JPEG, then DICOM ("DICM" at byte
 * 128 of a PNG or JPEG does not make it DICOM); 0 for none. */
static int kind_of(const uint8_t *data, size_t size)
{
	return rd_is_png(data, size)     ? MC_REDACT_PNG
	       : rd_is_jpeg(data, size)  ? MC_REDACT_JPEG
	       : rd_is_dicom(data, size) ? MC_REDACT_DICOM
	                                 : 0;
}

static void check_image(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL, *back = NULL;
	size_t out_len = 0, back_len = 0;
	mc_redact_info info;
	mc_err err = {0};
	mc_status st = mc_restore(data, size, alice, NULL, &out, &out_len, &info, &err);
	if (st == MC_OK) {
		CHECK(out && out_len > 0 && info.n_regions >= 1 && info.n_regions <= MC_REDACT_MAX_REGIONS);
		CHECK(kind_of(out, out_len) == kind_of(data, size));
	} else {
		CHECK(out == NULL && err.status == st);
	}
	mc_buf_free(out, out_len);
	out = NULL;
	if (!kind_of(data, size))
		return;
	const mc_pubkey *recipients[] = {alice_pub};
	mc_region pixel = {0, 0, 1, 1};
	mc_redact_params p = {.regions = &pixel,
	                      .n_regions = 1,
	                      .fill = size & 1 ? MC_FILL_BLACK : MC_FILL_PIXELATE,
	                      .recipients = recipients,
	                      .n_recipients = 1};
	st = mc_redact(data, size, &p, &out, &out_len, &info, &err);
	if (st != MC_OK) {
		if (strstr(err.msg, RD_NOT_RESTORABLE))
			fprintf(stderr, "fuzz_redact: mc_redact made an image it could not restore: %s\n", err.msg);
		CHECK(out == NULL && err.status == st && !strstr(err.msg, RD_NOT_RESTORABLE));
		return;
	}
	st = mc_restore(out, out_len, alice, NULL, &back, &back_len, &info, &err);
	if (st != MC_OK)
		fprintf(stderr, "fuzz_redact: restoring what was redacted failed: %s: %s\n", mc_status_name(st),
		        err.msg);
	CHECK(st == MC_OK);
	CHECK(kind_of(back, back_len) == kind_of(data, size));
	if (kind_of(data, size) == MC_REDACT_DICOM)
		CHECK(back_len == size && memcmp(back, data, size) == 0);
	mc_buf_free(back, back_len);
	mc_buf_free(out, out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_record(data, size);
	check_envelope(data, size);
	check_image(data, size);
	return 0;
}
