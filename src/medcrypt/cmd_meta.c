/*
 * cmd_meta.c: `medcrypt meta FILE [--json]`: the identifying and descriptive attributes of a
 * DICOM file (patient, study, series, image size, transfer syntax), read by the streaming
 * reader of <medcrypt/dicom.h> from the top-level dataset only, stopping at the pixel data. The
 * values come from the file and are untrusted: JSON output escapes them, plain output replaces
 * control characters and invalid UTF-8. PNG and JPEG, recognised by their signatures, get their
 * size, depth, colour type, text chunks and EXIF dates from <medcrypt/image.h>. meta_of_file
 * gives the same JSON to `medcrypt seal`, which stores it in the container's metadata.
 */
#include <getopt.h>
#include <libgen.h>
#include <medcrypt/dicom.h>
#include <medcrypt/image.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
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
	uint8_t charset[256]; /* Specific Character Set (0008,0005), which comes before the text */
	size_t charset_len;
	bool charset_unknown;
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
	if (el->group == 0x0008 && el->element == 0x0005 && el->value) {
		m->charset_len = el->length < sizeof m->charset ? el->length : 0; /* longer: no valid value */
		memcpy(m->charset, el->value, m->charset_len);
		return 0;
	}
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
		bool known = true;
		m->text[i] = dicom_text_utf8(m->charset, m->charset_len, v, n,
		                             el->element == 0x0010 && el->group == 0x0010, &m->len[i], &known);
		if (!m->text[i]) {
			m->st = MC_ERR_NOMEM;
			return 1;
		}
		m->charset_unknown |= !known;
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

/* The bytes of values over MC_DICOM_VALUE_CAP: not shown, dropped. */
static int skip_bytes(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	(void)bytes;
	(void)len;
	return 0;
}

/* What was read from a file: DICOM attributes or a PNG/JPEG description. */
typedef struct meta_result {
	mc_image_type type;
	meta dicom;
	mc_image_info *image;
} meta_result;

static void meta_result_free(meta_result *r)
{
	for (size_t i = 0; i < NFIELDS; i++)
		free(r->dicom.text[i]);
	free(r->image);
}

/* Reads the metadata of the file open on fd (path names it in messages). */
static mc_status read_meta(const char *path, int fd, long long size, meta_result *r, mc_err *err)
{
	memset(r, 0, sizeof *r);
	r->dicom.st = MC_OK;
	sniffed s = {.rest = mc_input_fd(fd)};
	while (s.len < sizeof s.head) {
		long n = s.rest.read(s.rest.ctx, s.head + s.len, sizeof s.head - s.len);
		if (n < 0) {
			snprintf(err->msg, sizeof err->msg, "cannot read %s", path);
			return MC_ERR_IO;
		}
		if (n == 0)
			break;
		s.len += (size_t)n;
	}
	mc_input in = {sniffed_read, &s};
	r->type = mc_image_detect(s.head, s.len);
	mc_status st;
	if (r->type == MC_IMAGE_PNG || r->type == MC_IMAGE_JPEG) {
		if (!(r->image = malloc(sizeof *r->image)))
			return MC_ERR_NOMEM;
		st = mc_image_probe(in, NULL, r->image, err);
		if (st != MC_OK) {
			char detail[sizeof err->msg];
			snprintf(detail, sizeof detail, "%s", err->msg);
			snprintf(err->msg, sizeof err->msg, "%s: %.300s", path, detail);
		}
		return st;
	}
	meta *m = &r->dicom;
	mc_dicom_visitor v = {.element = on_element};
	/* Streaming mode reports the pixel data before reading it: meta stops there, and never reads
	 * the pixel data of a large file. */
	st = mc_dicom_parse_chunked(in, size >= 0 ? (uint64_t)size : MC_DICOM_SIZE_UNKNOWN, &v, skip_bytes, m, err);
	if (st == MC_ERR_CANCELLED && m->st == MC_OK)
		st = MC_OK; /* stopped at the pixel data on purpose */
	if ((st == MC_OK) && m->charset_unknown) {
		char *cs = printable((const char *)m->charset, m->charset_len);
		fprintf(stderr,
		        "medcrypt meta: note: %s: Specific Character Set \"%s\" names a character set medcrypt does "
		        "not know: text outside ASCII is shown as U+FFFD\n",
		        path, cs ? cs : "?");
		free(cs);
	} else if (st == MC_ERR_CANCELLED)
		st = m->st, snprintf(err->msg, sizeof err->msg, "out of memory");
	if (st == MC_ERR_HEADER) {
		char detail[sizeof err->msg];
		snprintf(detail, sizeof detail, "%s", err->msg);
		snprintf(err->msg, sizeof err->msg, "%s: %.300s", path, detail);
	}
	return st;
}

static const char *transfer_syntax_uid(const meta *m)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].group == 0x0002 && m->text[i])
			return m->text[i];
	return NULL;
}

/* A JSON string of an untrusted value: as is when UTF-8, else with '?' for what is not. */
static json_t *untrusted_string(const char *v, size_t n)
{
	json_t *str = json_stringn(v, n);
	if (!str) {
		char *p = printable(v, n);
		str = p ? json_string(p) : NULL;
		free(p);
	}
	return str ? str : json_null();
}

static json_t *dicom_json(const char *file, const meta *m)
{
	const char *ts_name = mc_dicom_transfer_syntax_name(transfer_syntax_uid(m));
	json_t *o = json_object();
	json_t *name = file ? json_string(file) : NULL; /* NULL when the path is not UTF-8 */
	json_object_set_new(o, "file", name ? name : json_null());
	json_object_set_new(o, "format", json_string("dicom"));
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!m->present[i])
			continue;
		if (fields[i].kind == USHORT || fields[i].kind == INTSTR) {
			json_object_set_new(o, fields[i].name, json_integer(m->number[i]));
			continue;
		}
		/* not UTF-8 (another Specific Character Set): shown with '?' */
		json_object_set_new(o, fields[i].name, untrusted_string(m->text[i], m->len[i]));
	}
	if (ts_name)
		json_object_set_new(o, "TransferSyntaxName", json_string(ts_name));
	return o;
}

/* The PNG/JPEG description, keys in output order. Dates are only shown when present. */
static json_t *image_json(const char *file, const mc_image_info *info)
{
	json_t *o = json_object();
	json_t *name = file ? json_string(file) : NULL;
	json_object_set_new(o, "file", name ? name : json_null());
	json_object_set_new(o, "format", json_string(mc_image_type_name(info->type)));
	json_object_set_new(o, "Width", json_integer(info->width));
	json_object_set_new(o, "Height", json_integer(info->height));
	json_object_set_new(o, "BitDepth", json_integer(info->bit_depth));
	json_object_set_new(o, "Components", json_integer(info->components));
	json_object_set_new(o, "ColorType", json_string(info->color_type));
	json_object_set_new(o, info->type == MC_IMAGE_PNG ? "Interlaced" : "Progressive",
	                    json_boolean(info->interlaced));
	for (size_t i = 0; i < info->n_text; i++) /* PNG's registered keyword for the time of creation */
		if (strcmp(info->text[i].keyword, "Creation Time") == 0 && !json_object_get(o, "CreationTime"))
			json_object_set_new(o, "CreationTime",
			                    untrusted_string(info->text[i].value, info->text[i].len));
	if (info->png_time[0])
		json_object_set_new(o, "ModificationTime", json_string(info->png_time));
	if (info->exif.date_time_original[0])
		json_object_set_new(o, "DateTimeOriginal", json_string(info->exif.date_time_original));
	if (info->exif.date_time_digitized[0])
		json_object_set_new(o, "DateTimeDigitized", json_string(info->exif.date_time_digitized));
	if (info->exif.date_time[0])
		json_object_set_new(o, "DateTime", json_string(info->exif.date_time));
	if (info->n_text > 0) {
		json_t *text = json_object();
		for (size_t i = 0; i < info->n_text; i++) {
			/* keywords are Latin-1 printable by the PNG spec, but only checked by libspng */
			char *key = printable(info->text[i].keyword, strlen(info->text[i].keyword));
			if (key && !json_object_get(text, key))
				json_object_set_new(text, key,
				                    untrusted_string(info->text[i].value, info->text[i].len));
			free(key);
		}
		json_object_set_new(o, "Text", text);
	}
	return o;
}

mc_status meta_of_file(const char *path, json_t **out, mc_err *err)
{
	*out = NULL;
	int fd;
	long long size;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	meta_result r;
	st = read_meta(path, fd, size, &r, err);
	in_close(fd);
	if (r.type == MC_IMAGE_UNKNOWN && (st == MC_OK || st == MC_ERR_HEADER))
		st = MC_ERR_UNSUPPORTED, snprintf(err->msg, sizeof err->msg, "%s is not DICOM, PNG or JPEG", path);
	if (st == MC_OK) {
		char *copy = strdup(path);
		const char *base = copy ? basename(copy) : NULL;
		*out = r.image ? image_json(base, r.image) : dicom_json(base, &r.dicom);
		free(copy);
	}
	meta_result_free(&r);
	return st;
}

/* Plain text: one "Name  value" line per JSON member, values made printable. */
static void print_plain_json(json_t *o)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "file") == 0 || strcmp(key, "format") == 0)
			continue;
		if (json_is_object(v)) {
			const char *k2;
			json_t *v2;
			json_object_foreach(v, k2, v2)
			{
				char name[128];
				snprintf(name, sizeof name, "%s[%s]", key, k2);
				char *p = json_is_string(v2) ? printable(json_string_value(v2), json_string_length(v2))
				                             : NULL;
				printf("%-18s %s\n", name, p ? p : "?");
				free(p);
			}
		} else if (json_is_string(v)) {
			char *p = printable(json_string_value(v), json_string_length(v));
			printf("%-18s %s\n", key, p ? p : "?");
			free(p);
		} else if (json_is_boolean(v)) {
			printf("%-18s %s\n", key, json_is_true(v) ? "yes" : "no");
		} else if (json_is_integer(v)) {
			printf("%-18s %lld\n", key, (long long)json_integer_value(v));
		}
	}
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
	meta_result r;
	st = read_meta(path, fd, size, &r, err);
	in_close(fd);

	if (st == MC_OK && r.image) {
		json_t *o = image_json(path, r.image);
		if (json) {
			json_print(o);
		} else {
			printf("%-18s %s\n", "Format", r.image->type == MC_IMAGE_PNG ? "PNG" : "JPEG");
			print_plain_json(o);
			json_decref(o);
		}
		meta_result_free(&r);
		return st;
	}
	meta *mp = &r.dicom;
	const char *ts_name = mc_dicom_transfer_syntax_name(transfer_syntax_uid(mp));
	if (st == MC_OK && json) {
		json_print(dicom_json(path, mp));
	} else if (st == MC_OK) {
		for (size_t i = 0; i < NFIELDS; i++) {
			if (!mp->present[i])
				continue;
			if (fields[i].kind == USHORT || fields[i].kind == INTSTR) {
				printf("%-18s %lld\n", fields[i].name, mp->number[i]);
				continue;
			}
			char *p = printable(mp->text[i], mp->len[i]);
			printf("%-18s %s", fields[i].name, p ? p : "?");
			if (fields[i].group == 0x0002 && ts_name)
				printf(" (%s)", ts_name);
			putchar('\n');
			free(p);
		}
	}
	meta_result_free(&r);
	return st;
}
