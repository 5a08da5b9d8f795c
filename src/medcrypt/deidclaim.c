/*
 * deidclaim.c: the de-identification claim (deidclaim.h, docs/FORMAT.md "The de-identification
 * claim"). A DICOM file is checked by the library's mc_deid_check, the same table `medcrypt deid`
 * applies; a PNG or JPEG has no attributes that say what was removed, so only the sender can
 * vouch for it, and says so with --confirm-deidentified; this file only looks whether it carries
 * medcrypt region encryption (an mcRG chunk, APP11 "medcrypt-region" segments, FORMAT.md §13).
 */
#include <errno.h>
#include <fcntl.h>
#include <medcrypt/deid.h>
#include <medcrypt/image.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deidclaim.h"
#include "printable.h"

#define MAX_CHUNKS 1000000 /* as the PNG reader of lib/redact_png.c */

/* n bytes at off, all of them. */
static bool read_at(int fd, uint64_t off, uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t k = pread(fd, b, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return true;
}

/* A PNG with an mcRG chunk (FORMAT.md [MC-RGN-3]): the chunks are walked up to IEND. */
static bool png_has_regions(int fd, uint64_t size)
{
	uint64_t pos = 8;
	for (int i = 0; i < MAX_CHUNKS && pos + 12 <= size; i++) {
		uint8_t h[8];
		if (!read_at(fd, pos, h, sizeof h))
			return false;
		uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (memcmp(h + 4, "mcRG", 4) == 0)
			return true;
		if (memcmp(h + 4, "IEND", 4) == 0)
			return false;
		pos += 12 + (uint64_t)len;
	}
	return false;
}

/* A JPEG with an APP11 "medcrypt-region" segment (FORMAT.md [MC-RGN-4]), before its first scan. */
static bool jpeg_has_regions(int fd, uint64_t size)
{
	static const uint8_t id[16] = "medcrypt-region";
	uint64_t pos = 2;
	for (int i = 0; i < MAX_CHUNKS && pos + 4 <= size; i++) {
		uint8_t m[4];
		if (!read_at(fd, pos, m, sizeof m) || m[0] != 0xFF)
			return false;
		if (m[1] == 0xFF) { /* a fill byte */
			pos++;
			continue;
		}
		if (m[1] == 0xDA || m[1] == 0xD9)
			return false; /* the segments come before the frame and its scans */
		if ((m[1] >= 0xD0 && m[1] <= 0xD7) || m[1] == 0x01) {
			pos += 2;
			continue;
		}
		unsigned len = (unsigned)m[2] << 8 | m[3];
		uint8_t head[16];
		if (m[1] == 0xEB && len >= 2 + sizeof id && pos + 4 + sizeof id <= size &&
		    read_at(fd, pos + 4, head, 16) && memcmp(head, id, sizeof id) == 0)
			return true;
		if (len < 2)
			return false;
		pos += 2 + len;
	}
	return false;
}

static json_t *claim_object(const char *profile, json_t *checked, const char *pixels)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s, s:o, s:s, s:s, s:s}", "profile", profile, "checked", checked, "pixels", pixels, "tool",
	                 "medcrypt " MC_VERSION_STRING, "time", when);
}

/* What to do about a finding, after the library's sentence. */
static const char *advice(const mc_deid_report *r)
{
	switch (r->finding) {
	case MC_DEID_FOUND_BURNED_IN:
		return "de-identify it with 'medcrypt deid --region x,y,w,h ...' over the burned-in text (the "
		       "regions are blanked, BurnedInAnnotation becomes NO) and send that copy";
	case MC_DEID_FOUND_NOT_REMOVED:
		return "de-identify it with 'medcrypt deid -r RECIPIENT.pub -o OUT.dcm FILE' (which sets "
		       "PatientIdentityRemoved) and send OUT.dcm";
	default: return "de-identify it with 'medcrypt deid -r RECIPIENT.pub -o OUT.dcm FILE' and send OUT.dcm";
	}
}

static mc_status dicom_claim(int fd, uint64_t size, const char *path, json_t **claim, mc_err *err)
{
	mc_deid_report r;
	mc_err why = {0};
	if (lseek(fd, 0, SEEK_SET) != 0)
		return cli_fail(err, MC_ERR_IO, "cannot read %.300s: %s", path, strerror(errno));
	mc_status st = mc_deid_check(mc_input_fd(fd), size, &r, &why);
	if (st != MC_OK)
		return cli_fail(err, st, "--deidentified: cannot check %.300s: %s", path, why.msg);
	if (r.finding != MC_DEID_CLEAN && r.n_findings > 1) {
		unsigned listed = 0; /* one "(gggg,eeee)" each */
		for (const char *p = r.also; *p; p++)
			listed += *p == '(';
		fprintf(stderr, "medcrypt send: %s also identifies the patient in %u more attribute%s: %s%s\n", path,
		        r.n_findings - 1, r.n_findings > 2 ? "s" : "", r.also,
		        listed + 1 < r.n_findings ? ", ..." : "");
	}
	if (r.finding != MC_DEID_CLEAN)
		return cli_fail(err, MC_ERR_MISUSE,
		                "--deidentified refused: %.300s still identifies the patient: %s; %s", path, r.message,
		                advice(&r));
	const char *pixels = "burned-in annotation NO";
	if (r.pixels == MC_DEID_PIXELS_REGIONS_CLEANED) {
		pixels = "regions cleaned";
	} else if (r.pixels == MC_DEID_PIXELS_NOT_STATED) {
		pixels = "burned-in annotation not stated";
		fprintf(stderr,
		        "medcrypt send: note: %s does not state BurnedInAnnotation (0028,0301): make sure its pixels "
		        "show no name, date or other identifying text\n",
		        path);
	}
	json_t *checked =
	    json_pack("[s, s, s, s, s]", "PS3.15 Table E.1-1 attributes removed, emptied or dummy at every depth",
	              "no private attributes", "no AE title or private information in the file meta group",
	              "PatientIdentityRemoved (0012,0062) YES", "BurnedInAnnotation (0028,0301) not YES");
	*claim = checked ? claim_object(DEID_PROFILE_BASIC, checked, pixels) : NULL;
	return *claim ? MC_OK : cli_fail(err, MC_ERR_NOMEM, "out of memory");
}

static mc_status picture_claim(int fd, uint64_t size, mc_image_type type, const char *path, bool confirmed,
                               json_t **claim, mc_err *err)
{
	const char *name = type == MC_IMAGE_PNG ? "PNG" : "JPEG";
	bool regions = type == MC_IMAGE_PNG ? png_has_regions(fd, size) : jpeg_has_regions(fd, size);
	mc_image_info info;
	mc_err why = {0};
	bool text = false;
	if (lseek(fd, 0, SEEK_SET) == 0 && mc_image_probe(mc_input_fd(fd), NULL, &info, &why) == MC_OK)
		text = info.n_text > 0 || info.has_exif;
	if (text)
		fprintf(stderr,
		        "medcrypt send: note: %s carries %s, which is sent as it is: make sure it names no one\n", path,
		        type == MC_IMAGE_PNG ? "text chunks or EXIF data" : "EXIF data or comments");
	fprintf(stderr, "medcrypt send: %s %s medcrypt region encryption%s\n", path,
	        regions ? "carries" : "does not carry", regions ? " (regions cleaned)" : "");
	if (!confirmed)
		return cli_fail(err, MC_ERR_MISUSE,
		                "--deidentified refused: a %s cannot be checked the way a DICOM file is (nothing in it "
		                "says what was removed). Look at %.300s: if nothing in its pixels%s identifies the "
		                "patient, confirm with --confirm-deidentified (the claim then says \"%s\")",
		                name, path, text ? " or text" : "", DEID_PROFILE_SENDER);
	json_t *checked = json_array();
	if (checked &&
	    json_array_append_new(checked, json_string("the sender confirmed that nothing in the image "
	                                               "identifies the patient (--confirm-deidentified)")) != 0)
		checked = (json_decref(checked), NULL);
	if (checked && regions &&
	    json_array_append_new(checked, json_string("medcrypt region encryption present (FORMAT.md §13)")) != 0)
		checked = (json_decref(checked), NULL);
	*claim = checked
	             ? claim_object(DEID_PROFILE_SENDER, checked, regions ? "regions cleaned" : "confirmed by sender")
	             : NULL;
	return *claim ? MC_OK : cli_fail(err, MC_ERR_NOMEM, "out of memory");
}

mc_status deid_claim_make(const char *path, bool confirmed, json_t **claim, mc_err *err)
{
	*claim = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return cli_fail(err, MC_ERR_IO, "cannot open %.300s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cli_fail(err, MC_ERR_MISUSE, "%.300s is not a regular file", path);
	}
	uint8_t head[MC_IMAGE_SNIFF_LEN];
	size_t n = (uint64_t)sb.st_size < sizeof head ? (size_t)sb.st_size : sizeof head;
	mc_image_type type = read_at(fd, 0, head, n) ? mc_image_detect(head, n) : MC_IMAGE_UNKNOWN;
	mc_status st;
	if (type == MC_IMAGE_DICOM && confirmed)
		fprintf(stderr,
		        "medcrypt send: note: a DICOM file is checked, not confirmed: --confirm-deidentified "
		        "changes nothing for %s\n",
		        path);
	if (type == MC_IMAGE_DICOM)
		st = dicom_claim(fd, (uint64_t)sb.st_size, path, claim, err);
	else if (type == MC_IMAGE_PNG || type == MC_IMAGE_JPEG)
		st = picture_claim(fd, (uint64_t)sb.st_size, type, path, confirmed, claim, err);
	else
		st = cli_fail(err, MC_ERR_MISUSE,
		              "--deidentified refused: only a DICOM, PNG or JPEG file can be marked de-identified, and "
		              "%.300s is none of them",
		              path);
	close(fd);
	return st;
}

bool deid_claim_well_formed(const json_t *claim)
{
	return json_is_object(claim) && json_is_string(json_object_get(claim, "profile")) &&
	       json_is_string(json_object_get(claim, "pixels"));
}

static void print_member(FILE *out, const char *indent, const char *label, const json_t *v)
{
	char safe[600];
	fprintf(out, "%s  %-9s %s\n", indent, label, cli_printable(json_string_value(v), safe, sizeof safe));
}

void deid_claim_print(FILE *out, const json_t *claim, const char *signer, const char *signer_fp, const char *indent)
{
	char who[200];
	cli_printable(signer, who, sizeof who);
	if (!deid_claim_well_formed(claim)) {
		fprintf(out, "%sde-identified: the claim in the metadata is malformed (from %s): do not rely on it\n",
		        indent, who);
		return;
	}
	fprintf(out, "%sde-identified, as claimed by %s:\n", indent, who);
	print_member(out, indent, "profile:", json_object_get(claim, "profile"));
	print_member(out, indent, "pixels:", json_object_get(claim, "pixels"));
	const json_t *checked = json_object_get(claim, "checked"), *item;
	size_t i;
	if (json_is_array(checked))
		json_array_foreach(checked, i, item) print_member(out, indent, i == 0 ? "checked:" : "", item);
	if (json_object_get(claim, "tool"))
		print_member(out, indent, "tool:", json_object_get(claim, "tool"));
	if (json_object_get(claim, "time"))
		print_member(out, indent, "time:", json_object_get(claim, "time"));
	if (signer_fp)
		fprintf(out, "%s  signed:   by %s, signing key %s (the file's signature, verified)\n", indent, who,
		        signer_fp);
	else
		fprintf(out, "%s  signed:   by the sender %s; 'medcrypt get' verifies the signature\n", indent, who);
}

json_t *deid_claim_of_file(const mc_file *f)
{
	uint8_t *meta = NULL;
	size_t len = 0;
	mc_err err = {0};
	json_t *claim = NULL;
	if (mc_file_metadata(f, &meta, &len, &err) == MC_OK && meta) {
		json_t *doc = json_loadb((const char *)meta, len, 0, NULL);
		if (json_is_object(doc))
			claim = json_incref(json_object_get(doc, "deidentified"));
		json_decref(doc);
	}
	mc_buf_free(meta, len);
	return claim;
}

void deid_claim_compare_mark(const json_t *image, const json_t *claim, const char *prefix)
{
	const json_t *mark = json_object_get(image, "deidentified");
	if (json_is_true(mark) && !claim)
		fprintf(stderr,
		        "%sWARNING: the server lists this image as de-identified, but its sealed metadata carries "
		        "no de-identification claim from the sender. The server's mark is not the sender's claim: "
		        "treat the image as identified.\n",
		        prefix);
	else if (json_is_false(mark) && claim)
		fprintf(stderr,
		        "%snote: the metadata carries a de-identification claim, but the server did not record the "
		        "mark for this image\n",
		        prefix);
}
