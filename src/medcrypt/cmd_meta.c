/*
 * cmd_meta.c: `medcrypt meta FILE [--json]`: the identifying and descriptive attributes of a
 * DICOM file (patient, study, series, image size, transfer syntax), read by the streaming
 * reader of <medcrypt/dicom.h> from the top-level dataset only, stopping at the pixel data. The
 * values come from the file and are untrusted: JSON output escapes them, plain output replaces
 * control characters and invalid UTF-8. PNG and JPEG are recognised by their signatures and
 * refused for now.
 */
#include <getopt.h>
#include <medcrypt/dicom.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The attributes shown, in output order. Strings are trimmed of DICOM padding. */
enum field_kind { TEXT, TEXT_LEADING, USHORT, INTSTR };
static const struct field {
	uint16_t group, element;
	const char *name;
	enum field_kind kind;
} fields[] = {
    {0x0010, 0x0020, "PatientID", TEXT},
    {0x0010, 0x0010, "PatientName", TEXT},
    {0x0010, 0x0030, "PatientBirthDate", TEXT_LEADING},
    {0x0010, 0x0040, "PatientSex", TEXT_LEADING},
    {0x0008, 0x0020, "StudyDate", TEXT_LEADING},
    {0x0008, 0x0030, "StudyTime", TEXT_LEADING},
    {0x0008, 0x0060, "Modality", TEXT_LEADING},
    {0x0008, 0x1030, "StudyDescription", TEXT},
    {0x0018, 0x0015, "BodyPartExamined", TEXT_LEADING},
    {0x0020, 0x000D, "StudyInstanceUID", TEXT_LEADING},
    {0x0020, 0x000E, "SeriesInstanceUID", TEXT_LEADING},
    {0x0008, 0x0018, "SOPInstanceUID", TEXT_LEADING},
    {0x0028, 0x0010, "Rows", USHORT},
    {0x0028, 0x0011, "Columns", USHORT},
    {0x0028, 0x0008, "NumberOfFrames", INTSTR},
    {0x0002, 0x0010, "TransferSyntax", TEXT_LEADING},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

typedef struct meta {
	char *text[NFIELDS];
	size_t len[NFIELDS];
	long long number[NFIELDS];
	bool present[NFIELDS];
	mc_status st;
} meta;

static int on_element(void *ctx, const mc_dicom_element *el)
{
	meta *m = ctx;
	if (el->depth != 0)
		return 0;
	if (el->group == 0x7FE0 && el->element == 0x0010)
		return 1; /* everything shown comes before the pixel data: stop reading */
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fd = &fields[i];
		if (fd->group != el->group || fd->element != el->element || !el->value)
			continue;
		const uint8_t *v = el->value;
		size_t n = el->length;
		if (fd->kind == USHORT) {
			if (n < 2)
				return 0;
			m->number[i] = el->big_endian ? (v[0] << 8) | v[1] : v[0] | (v[1] << 8);
			m->present[i] = true;
			return 0;
		}
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == 0))
			n--;
		if (fd->kind != TEXT)
			while (n > 0 && v[0] == ' ')
				v++, n--;
		if (fd->kind == INTSTR) {
			char num[24];
			char *end;
			if (n == 0 || n >= sizeof num)
				return 0;
			memcpy(num, v, n);
			num[n] = 0;
			long long x = strtoll(num, &end, 10);
			if (*end == 0 && x >= 0) {
				m->number[i] = x;
				m->present[i] = true;
			}
			return 0;
		}
		free(m->text[i]);
		if (!(m->text[i] = malloc(n + 1))) {
			m->st = MC_ERR_NOMEM;
			return 1;
		}
		memcpy(m->text[i], v, n);
		m->text[i][n] = 0;
		m->len[i] = n;
		m->present[i] = true;
		return 0;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t c;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		need = 2, c = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		need = 3, c = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		need = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (need == 4 && (c < 0x10000 || c > 0x10FFFF)))
		return 0;
	return need;
}

/* A printable copy of an untrusted value: control characters (C0, DEL, C1) and bytes that are
 * not UTF-8 become '?'. Never NULL unless out of memory; free() it. */
static char *printable(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		const unsigned char *c = (const unsigned char *)s + i;
		size_t k = utf8_char(c, n - i);
		bool control = k == 1 ? (c[0] < 0x20 || c[0] == 0x7F) : k == 2 && c[0] == 0xC2 && c[1] < 0xA0;
		if (k == 0 || control) {
			out[o++] = '?';
			i += k ? k : 1;
		} else {
			memcpy(out + o, c, k);
			o += k;
			i += k;
		}
	}
	out[o] = 0;
	return out;
}

/* Offers the bytes read while sniffing the file type to the DICOM reader, then the rest. */
typedef struct sniffed {
	uint8_t head[132];
	size_t len, pos;
	mc_input rest;
} sniffed;

static long sniffed_read(void *ctx, uint8_t *buf, size_t len)
{
	sniffed *s = ctx;
	if (s->pos < s->len) {
		size_t n = s->len - s->pos < len ? s->len - s->pos : len;
		memcpy(buf, s->head + s->pos, n);
		s->pos += n;
		return (long)n;
	}
	return s->rest.read(s->rest.ctx, buf, len);
}

mc_status cmd_meta(int argc, char **argv, mc_err *err)
{
	bool json = false;
	const char *path = NULL;
	mc_status parsed = parse_json_and_file("meta", argc, argv, &json, &path, err);
	if (parsed != MC_OK)
		return parsed;
	int fd;
	long long size;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;

	sniffed s = {.rest = mc_input_fd(fd)};
	while (s.len < sizeof s.head) {
		long n = s.rest.read(s.rest.ctx, s.head + s.len, sizeof s.head - s.len);
		if (n < 0) {
			in_close(fd);
			snprintf(err->msg, sizeof err->msg, "cannot read %s", path);
			return MC_ERR_IO;
		}
		if (n == 0)
			break;
		s.len += (size_t)n;
	}
	static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
	if ((s.len >= 8 && memcmp(s.head, png_sig, 8) == 0) ||
	    (s.len >= 3 && s.head[0] == 0xFF && s.head[1] == 0xD8 && s.head[2] == 0xFF)) {
		in_close(fd);
		snprintf(err->msg, sizeof err->msg, "%s: PNG/JPEG metadata is not supported yet", path);
		return MC_ERR_UNSUPPORTED;
	}

	meta m = {.st = MC_OK};
	mc_dicom_visitor v = {.element = on_element};
	mc_input in = {sniffed_read, &s};
	st = mc_dicom_parse(in, size >= 0 ? (uint64_t)size : MC_DICOM_SIZE_UNKNOWN, &v, &m, err);
	in_close(fd);
	if (st == MC_ERR_CANCELLED && m.st == MC_OK)
		st = MC_OK; /* stopped at the pixel data on purpose */
	else if (st == MC_ERR_CANCELLED)
		st = m.st, snprintf(err->msg, sizeof err->msg, "out of memory");
	if (st == MC_ERR_HEADER) {
		char detail[sizeof err->msg];
		snprintf(detail, sizeof detail, "%s", err->msg);
		snprintf(err->msg, sizeof err->msg, "%s: %.300s", path, detail);
	}

	const char *ts_uid = NULL;
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].group == 0x0002 && m.text[i])
			ts_uid = m.text[i];
	const char *ts_name = mc_dicom_transfer_syntax_name(ts_uid);

	if (st == MC_OK && json) {
		json_t *o = json_object();
		json_t *file = json_string(path); /* NULL when the path is not UTF-8 */
		json_object_set_new(o, "file", file ? file : json_null());
		json_object_set_new(o, "format", json_string("dicom"));
		for (size_t i = 0; i < NFIELDS; i++) {
			if (!m.present[i])
				continue;
			if (fields[i].kind == USHORT || fields[i].kind == INTSTR) {
				json_object_set_new(o, fields[i].name, json_integer(m.number[i]));
				continue;
			}
			json_t *str = json_stringn(m.text[i], m.len[i]);
			if (!str) { /* not UTF-8 (another Specific Character Set): shown with '?' */
				char *p = printable(m.text[i], m.len[i]);
				str = p ? json_string(p) : NULL;
				free(p);
			}
			json_object_set_new(o, fields[i].name, str ? str : json_null());
		}
		if (ts_name)
			json_object_set_new(o, "TransferSyntaxName", json_string(ts_name));
		json_print(o);
	} else if (st == MC_OK) {
		for (size_t i = 0; i < NFIELDS; i++) {
			if (!m.present[i])
				continue;
			if (fields[i].kind == USHORT || fields[i].kind == INTSTR) {
				printf("%-18s %lld\n", fields[i].name, m.number[i]);
				continue;
			}
			char *p = printable(m.text[i], m.len[i]);
			printf("%-18s %s", fields[i].name, p ? p : "?");
			if (fields[i].group == 0x0002 && ts_name)
				printf(" (%s)", ts_name);
			putchar('\n');
			free(p);
		}
	}
	for (size_t i = 0; i < NFIELDS; i++)
		free(m.text[i]);
	return st;
}
