/*
 * test_image.c: unit tests of <medcrypt/image.h>: type detection by signature, the bomb limits
 * (refused before anything is allocated), PNG encode/decode round trips at every channel count
 * and depth, JPEG decoding of images made here with libjpeg, the side data (PNG tEXt/zTXt and
 * eXIf, JPEG COM and APP1 "Exif") and the edge cases of the EXIF (TIFF/IFD) parser, corrupt and
 * truncated files, and previews made from temporary files.
 */
#include <medcrypt/image.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* jpeglib.h needs size_t and FILE first. */
#include <jpeglib.h>

#include "check.h"
#include "testutil.h"

/* ---- building test files ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Appends a PNG chunk to m. */
static void png_chunk(membuf *m, const char *type, const uint8_t *data, uint32_t len)
{
	uint8_t *b = malloc(12 + len);
	put32(b, len);
	memcpy(b + 4, type, 4);
	if (len)
		memcpy(b + 8, data, len);
	put32(b + 8 + len, crc32_of(b + 4, 4 + len));
	membuf_write(m, b, 12 + len);
	free(b);
}

/* A PNG from mc_image_encode_png with extra chunks inserted after IHDR. */
static membuf png_with_chunks(const mc_pixels *px, const membuf *extra)
{
	uint8_t *png = NULL;
	size_t len = 0;
	mc_err err = {0};
	membuf m = {0};
	if (mc_image_encode_png(px, &png, &len, &err) != MC_OK)
		return m;
	membuf_write(&m, png, 33); /* signature + IHDR */
	if (extra && extra->len)
		membuf_write(&m, extra->p, extra->len);
	membuf_write(&m, png + 33, len - 33);
	mc_buf_free(png, len);
	return m;
}

static mc_pixels make_pixels(uint32_t w, uint32_t h, unsigned channels, unsigned depth, uint32_t seed)
{
	mc_pixels px = {.width = w, .height = h, .channels = channels, .bit_depth = depth};
	px.stride = (size_t)w * channels * depth / 8;
	px.data = malloc(px.stride * h);
	fill_pattern(px.data, px.stride * h, seed);
	return px;
}

/* A JPEG of w x h made by libjpeg (gray when channels is 1), with extra segments after SOI. */
static membuf make_jpeg(uint32_t w, uint32_t h, int channels, const uint8_t *segments, size_t seg_len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	unsigned char *buf = NULL;
	unsigned long len = 0;
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &len);
	c.image_width = w;
	c.image_height = h;
	c.input_components = channels;
	c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 95, TRUE);
	jpeg_start_compress(&c, TRUE);
	uint8_t *row = malloc((size_t)w * (size_t)channels);
	while (c.next_scanline < h) {
		for (uint32_t x = 0; x < w * (uint32_t)channels; x++)
			row[x] = (uint8_t)((x * 7 + c.next_scanline * 3) & 0xFF);
		JSAMPROW r = row;
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(row);
	membuf m = {0};
	membuf_write(&m, buf, 2); /* SOI */
	if (segments)
		membuf_write(&m, segments, seg_len);
	membuf_write(&m, buf + 2, len - 2);
	free(buf);
	return m;
}

/* A TIFF block: IFD0 with DateTime and a pointer to an Exif IFD with DateTimeOriginal. */
static size_t make_tiff(uint8_t *t, bool big_endian)
{
	memset(t, 0, 128);
#define P16(off, v)                                                                                                    \
	(big_endian ? (t[off] = (uint8_t)((v) >> 8), t[(off) + 1] = (uint8_t)(v))                                      \
	            : (t[off] = (uint8_t)(v), t[(off) + 1] = (uint8_t)((v) >> 8)))
#define P32(off, v)                                                                                                    \
	(big_endian ? (P16(off, (v) >> 16), P16((off) + 2, (v)&0xFFFF))                                                \
	            : (P16(off, (v)&0xFFFF), P16((off) + 2, (v) >> 16)))
	t[0] = t[1] = big_endian ? 'M' : 'I';
	P16(2, 42);
	P32(4, 8);
	/* IFD0 at 8: 2 entries, next IFD 0 */
	P16(8, 2);
	P16(10, 0x0132), P16(12, 2), P32(14, 20), P32(18, 64); /* DateTime -> 64 */
	P16(22, 0x8769), P16(24, 4), P32(26, 1), P32(30, 38);  /* Exif IFD -> 38 */
	P32(34, 0);
	/* Exif IFD at 38: 1 entry */
	P16(38, 1);
	P16(40, 0x9003), P16(42, 2), P32(44, 20), P32(48, 84); /* DateTimeOriginal -> 84 */
	P32(52, 0);
	memcpy(t + 64, "2024:01:02 03:04:05", 20);
	memcpy(t + 84, "2023:12:31 23:59:58", 20);
#undef P16
#undef P32
	return 104;
}

/* ---- tests ---- */

static void test_detect(void)
{
	static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
	uint8_t dicom[132] = {0};
	memcpy(dicom + 128, "DICM", 4);
	uint8_t jpeg[3] = {0xFF, 0xD8, 0xFF};
	CHECK(mc_image_detect(png, 8) == MC_IMAGE_PNG, "PNG signature");
	CHECK(mc_image_detect(png, 7) == MC_IMAGE_UNKNOWN, "7 bytes of the PNG signature");
	CHECK(mc_image_detect(jpeg, 3) == MC_IMAGE_JPEG, "JPEG SOI");
	CHECK(mc_image_detect(jpeg, 2) == MC_IMAGE_UNKNOWN, "SOI alone");
	CHECK(mc_image_detect(dicom, 132) == MC_IMAGE_DICOM, "DICOM preamble + DICM");
	CHECK(mc_image_detect(dicom, 131) == MC_IMAGE_UNKNOWN, "DICM cut short");
	CHECK(mc_image_detect((const uint8_t *)"DICM", 4) == MC_IMAGE_UNKNOWN, "DICM without a preamble");
	CHECK(mc_image_detect(NULL, 0) == MC_IMAGE_UNKNOWN, "NULL");
	uint8_t text[132];
	memset(text, 'a', sizeof text);
	CHECK(mc_image_detect(text, sizeof text) == MC_IMAGE_UNKNOWN, "text");
	CHECK(strcmp(mc_image_type_name(MC_IMAGE_PNG), "png") == 0, "name");
	CHECK(strcmp(mc_image_type_name((mc_image_type)99), "unknown") == 0, "unknown name");
}

static void test_png_roundtrip(void)
{
	static const unsigned channels[4] = {1, 2, 3, 4};
	for (int d = 8; d <= 16; d += 8)
		for (int i = 0; i < 4; i++) {
			mc_pixels px = make_pixels(13, 7, channels[i], (unsigned)d, (uint32_t)(i + d));
			uint8_t *png = NULL;
			size_t len = 0;
			mc_err err = {0};
			CHECK(mc_image_encode_png(&px, &png, &len, &err) == MC_OK, "encode %u ch %d bit: %s",
			      channels[i], d, err.msg);
			mc_pixels back;
			mc_image_info info;
			CHECK(mc_image_decode(png, len, NULL, &back, &info, &err) == MC_OK, "decode: %s", err.msg);
			CHECK(back.width == 13 && back.height == 7 && back.channels == channels[i] &&
			          back.bit_depth == (unsigned)d,
			      "format kept (%u x %u, %u ch, %u bit)", back.width, back.height, back.channels,
			      back.bit_depth);
			CHECK(back.data && memcmp(back.data, px.data, px.stride * px.height) == 0,
			      "pixels kept exactly");
			CHECK(info.type == MC_IMAGE_PNG && info.bit_depth == (unsigned)d &&
			          info.components == channels[i],
			      "info");
			mc_pixels_free(&back);
			mc_buf_free(png, len);
			mc_pixels_free(&px);
		}
	mc_pixels bad = {.width = 0, .height = 1, .channels = 1, .bit_depth = 8};
	uint8_t *png = NULL;
	size_t len = 0;
	CHECK(mc_image_encode_png(&bad, &png, &len, NULL) == MC_ERR_MISUSE && !png, "empty image refused");
	mc_pixels_free(NULL);
}

/* A PNG whose IHDR declares w x h, with one tiny IDAT (never reached). */
static membuf png_declaring(uint32_t w, uint32_t h)
{
	membuf m = {0};
	membuf_write(&m, (const uint8_t *)"\x89PNG\r\n\x1a\n", 8);
	uint8_t ihdr[13] = {0};
	put32(ihdr, w);
	put32(ihdr + 4, h);
	ihdr[8] = 8;
	png_chunk(&m, "IHDR", ihdr, 13);
	png_chunk(&m, "IDAT", (const uint8_t *)"\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
	png_chunk(&m, "IEND", NULL, 0);
	return m;
}

static void test_limits(void)
{
	mc_image_limits def = mc_image_default_limits();
	CHECK(def.max_width == 16384 && def.max_pixels == (1ull << 28), "defaults");
	mc_err err = {0};
	CHECK(mc_image_check_limits(&def, "x", 16384, 16384, &err) == MC_OK, "16384^2 = 2^28 allowed");
	CHECK(mc_image_check_limits(&def, "x", 16385, 1, &err) == MC_ERR_UNSUPPORTED, "too wide");
	CHECK(mc_image_check_limits(&def, "x", 0, 5, &err) == MC_ERR_HEADER, "empty");
	mc_image_limits few = def;
	few.max_pixels = 100;
	CHECK(mc_image_check_limits(&few, "x", 11, 10, &err) == MC_ERR_UNSUPPORTED, "pixel count");

	membuf bomb = png_declaring(100000, 100000);
	mc_pixels px;
	mc_image_info info;
	CHECK(mc_image_decode(bomb.p, bomb.len, NULL, &px, &info, &err) == MC_ERR_UNSUPPORTED && px.data == NULL,
	      "100000^2 PNG refused: %s", err.msg);
	CHECK(strstr(err.msg, "limit of 16384x16384") != NULL, "message names the limit: %s", err.msg);
	membuf in = membuf_view(bomb.p, bomb.len);
	CHECK(mc_image_probe(membuf_in(&in), NULL, &info, &err) == MC_ERR_UNSUPPORTED, "probe refuses it too");
	membuf_free(&bomb);

	membuf wide = png_declaring(20000, 2);
	CHECK(mc_image_decode(wide.p, wide.len, NULL, &px, NULL, &err) == MC_ERR_UNSUPPORTED, "20000 wide refused");
	membuf_free(&wide);

	mc_pixels small = make_pixels(16, 16, 1, 8, 5);
	uint8_t *png = NULL;
	size_t len = 0;
	mc_image_encode_png(&small, &png, &len, &err);
	mc_image_limits eight = def;
	eight.max_width = eight.max_height = 8;
	CHECK(mc_image_decode(png, len, &eight, &px, NULL, &err) == MC_ERR_UNSUPPORTED, "configurable limit");
	CHECK(mc_image_decode(png, len, NULL, &px, NULL, &err) == MC_OK, "default limit");
	mc_pixels_free(&px);
	mc_buf_free(png, len);
	mc_pixels_free(&small);

	/* A JPEG SOF declaring 60000 x 60000 (the 1x1 image's SOF patched). */
	membuf j = make_jpeg(1, 1, 1, NULL, 0);
	for (size_t i = 0; i + 9 < j.len; i++)
		if (j.p[i] == 0xFF && j.p[i + 1] == 0xC0) {
			j.p[i + 5] = 0xEA, j.p[i + 6] = 0x60; /* height */
			j.p[i + 7] = 0xEA, j.p[i + 8] = 0x60; /* width */
			break;
		}
	CHECK(mc_image_decode(j.p, j.len, NULL, &px, &info, &err) == MC_ERR_UNSUPPORTED && px.data == NULL,
	      "60000^2 JPEG refused: %s", err.msg);
	membuf_free(&j);

	/* A 12-bit JPEG (precision patched in the SOF): this libjpeg has 8 bits, so unsupported. */
	membuf j12 = make_jpeg(8, 8, 1, NULL, 0);
	for (size_t i = 0; i + 9 < j12.len; i++)
		if (j12.p[i] == 0xFF && j12.p[i + 1] == 0xC0) {
			j12.p[i + 4] = 12;
			break;
		}
	CHECK(mc_image_decode(j12.p, j12.len, NULL, &px, &info, &err) == MC_ERR_UNSUPPORTED && px.data == NULL,
	      "12-bit JPEG: %s", err.msg);
	membuf_free(&j12);
}

static void test_png_side_data(void)
{
	mc_pixels px = make_pixels(4, 3, 3, 8, 9);
	membuf extra = {0};
	const char text[] = "Creation Time\0"
	                    "2024-01-02T03:04:05";
	png_chunk(&extra, "tEXt", (const uint8_t *)text, sizeof text - 1);
	const char comment[] = "Comment\0"
	                       "fake \x01 comment";
	png_chunk(&extra, "tEXt", (const uint8_t *)comment, sizeof comment - 1);
	uint8_t tiff[128];
	size_t tl = make_tiff(tiff, true);
	png_chunk(&extra, "eXIf", tiff, (uint32_t)tl);
	uint8_t time[7] = {0x07, 0xE8, 2, 29, 12, 30, 45};
	png_chunk(&extra, "tIME", time, 7);
	membuf png = png_with_chunks(&px, &extra);
	mc_image_info info;
	mc_err err = {0};
	membuf in = membuf_view(png.p, png.len);
	in.max_read = 5; /* short reads */
	CHECK(mc_image_probe(membuf_in(&in), NULL, &info, &err) == MC_OK, "probe: %s", err.msg);
	CHECK(info.width == 4 && info.height == 3 && strcmp(info.color_type, "rgb") == 0, "size and colour");
	CHECK(info.n_text == 2 && strcmp(info.text[0].keyword, "Creation Time") == 0 &&
	          strcmp(info.text[0].value, "2024-01-02T03:04:05") == 0,
	      "tEXt Creation Time (%zu entries)", info.n_text);
	CHECK(info.has_exif && strcmp(info.exif.date_time_original, "2023:12:31 23:59:58") == 0 &&
	          strcmp(info.exif.date_time, "2024:01:02 03:04:05") == 0,
	      "eXIf dates");
	CHECK(strcmp(info.png_time, "2024-02-29T12:30:45") == 0, "tIME: %s", info.png_time);
	mc_pixels back;
	CHECK(mc_image_decode(png.p, png.len, NULL, &back, NULL, &err) == MC_OK &&
	          memcmp(back.data, px.data, px.stride * px.height) == 0,
	      "pixels decode beside the chunks");
	mc_pixels_free(&back);

	/* A flipped bit in a text chunk: the CRC fails, the file is refused. */
	png.p[33 + 10] ^= 1;
	CHECK(mc_image_decode(png.p, png.len, NULL, &back, NULL, &err) == MC_ERR_HEADER, "ancillary CRC: %s", err.msg);
	png.p[33 + 10] ^= 1;
	/* Truncated inside the image data. */
	CHECK(mc_image_decode(png.p, png.len - 20, NULL, &back, NULL, &err) == MC_ERR_HEADER && !back.data,
	      "truncated PNG: %s", err.msg);
	/* Too much text for the metadata limit. */
	mc_image_limits tight = mc_image_default_limits();
	tight.max_metadata = 16;
	in = membuf_view(png.p, png.len);
	mc_status st = mc_image_probe(membuf_in(&in), &tight, &info, &err);
	CHECK(st == MC_ERR_UNSUPPORTED, "chunk cache limit: %d %s", st, err.msg);
	membuf_free(&png);
	membuf_free(&extra);
	mc_pixels_free(&px);

	/* Over MC_IMAGE_MAX_TEXT entries: the first 32 are kept. */
	mc_pixels one = make_pixels(1, 1, 1, 8, 1);
	membuf many = {0};
	for (int i = 0; i < 40; i++) {
		char t[32];
		int n = snprintf(t, sizeof t, "Key%d", i);
		memcpy(t + n + 1, "v", 1);
		png_chunk(&many, "tEXt", (const uint8_t *)t, (uint32_t)n + 2);
	}
	membuf p2 = png_with_chunks(&one, &many);
	in = membuf_view(p2.p, p2.len);
	CHECK(mc_image_probe(membuf_in(&in), NULL, &info, &err) == MC_OK && info.n_text == MC_IMAGE_MAX_TEXT,
	      "text entries capped: %zu", info.n_text);
	membuf_free(&p2);
	membuf_free(&many);
	mc_pixels_free(&one);
}

static void test_jpeg(void)
{
	mc_err err = {0};
	mc_pixels px;
	mc_image_info info;
	membuf rgb = make_jpeg(32, 24, 3, NULL, 0);
	CHECK(mc_image_decode(rgb.p, rgb.len, NULL, &px, &info, &err) == MC_OK, "decode RGB JPEG: %s", err.msg);
	CHECK(px.width == 32 && px.height == 24 && px.channels == 3 && px.bit_depth == 8, "RGB JPEG format");
	CHECK(info.type == MC_IMAGE_JPEG && info.components == 3 && strcmp(info.color_type, "ycbcr") == 0, "info");
	/* lossy, but close to the pattern */
	int far = 0;
	for (uint32_t x = 0; x < 32 * 3; x++)
		if (abs((int)px.data[5 * px.stride + x] - (int)((x * 7 + 5 * 3) & 0xFF)) > 40)
			far++;
	CHECK(far < 20, "decoded values near the source (%d far)", far);
	mc_pixels_free(&px);
	/* Truncated: an error, not a grey-filled image. */
	CHECK(mc_image_decode(rgb.p, rgb.len - 40, NULL, &px, NULL, &err) == MC_ERR_HEADER && !px.data,
	      "truncated JPEG: %s", err.msg);
	CHECK(mc_image_decode(rgb.p, 2, NULL, &px, NULL, &err) != MC_OK, "SOI only");
	/* Corrupt entropy data is an error too (libjpeg would warn and go on). */
	membuf bad = {0};
	membuf_write(&bad, rgb.p, rgb.len);
	for (size_t i = rgb.len / 2; i < rgb.len / 2 + 40; i++)
		bad.p[i] = 0xFF;
	CHECK(mc_image_decode(bad.p, bad.len, NULL, &px, NULL, &err) == MC_ERR_HEADER && !px.data, "corrupt JPEG: %s",
	      err.msg);
	membuf_free(&bad);
	membuf_free(&rgb);

	/* Gray, with an APP1 Exif segment and a comment. */
	uint8_t seg[256];
	size_t n = 0;
	uint8_t tiff[128];
	size_t tl = make_tiff(tiff, false);
	seg[n++] = 0xFF, seg[n++] = 0xE1;
	seg[n++] = (uint8_t)((tl + 8) >> 8), seg[n++] = (uint8_t)(tl + 8);
	memcpy(seg + n, "Exif\0\0", 6), n += 6;
	memcpy(seg + n, tiff, tl), n += tl;
	const char com[] = "fake comment";
	seg[n++] = 0xFF, seg[n++] = 0xFE, seg[n++] = 0, seg[n++] = (uint8_t)(sizeof com - 1 + 2);
	memcpy(seg + n, com, sizeof com - 1), n += sizeof com - 1;
	membuf gray = make_jpeg(9, 17, 1, seg, n);
	membuf in = membuf_view(gray.p, gray.len);
	in.max_read = 7;
	CHECK(mc_image_probe(membuf_in(&in), NULL, &info, &err) == MC_OK, "probe gray JPEG: %s", err.msg);
	CHECK(info.width == 9 && info.height == 17 && info.components == 1 && strcmp(info.color_type, "gray") == 0,
	      "gray JPEG info");
	CHECK(info.has_exif && strcmp(info.exif.date_time_original, "2023:12:31 23:59:58") == 0, "APP1 Exif date");
	CHECK(info.n_text == 1 && strcmp(info.text[0].value, "fake comment") == 0, "COM");
	CHECK(mc_image_decode(gray.p, gray.len, NULL, &px, NULL, &err) == MC_OK && px.channels == 1, "gray decode");
	mc_pixels_free(&px);
	membuf_free(&gray);

	/* A segment length under 2 is malformed. */
	uint8_t short_seg[4] = {0xFF, 0xE1, 0x00, 0x01};
	membuf sh = make_jpeg(4, 4, 1, short_seg, sizeof short_seg);
	in = membuf_view(sh.p, sh.len);
	CHECK(mc_image_probe(membuf_in(&in), NULL, &info, &err) == MC_ERR_HEADER, "APP1 length 1: %s", err.msg);
	membuf_free(&sh);
}

static void test_exif(void)
{
	uint8_t t[128];
	mc_exif_dates d;
	mc_err err = {0};
	size_t len = make_tiff(t, false);
	CHECK(mc_exif_parse_dates(t, len, &d, &err) == MC_OK && strcmp(d.date_time, "2024:01:02 03:04:05") == 0 &&
	          strcmp(d.date_time_original, "2023:12:31 23:59:58") == 0 && d.date_time_digitized[0] == 0,
	      "little endian");
	len = make_tiff(t, true);
	CHECK(mc_exif_parse_dates(t, len, &d, &err) == MC_OK &&
	          strcmp(d.date_time_original, "2023:12:31 23:59:58") == 0,
	      "big endian");
	/* Every truncation fails cleanly or parses what is left. */
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, t, n);
		mc_status st = mc_exif_parse_dates(copy, n, &d, &err);
		CHECK(st == MC_OK || st == MC_ERR_HEADER, "truncated at %zu", n);
		if (n < 84 + 20)
			CHECK(strcmp(d.date_time_original, "2023:12:31 23:59:58") != 0, "no value past the end (%zu)",
			      n);
		free(copy);
	}
	CHECK(mc_exif_parse_dates(t, 7, &d, &err) == MC_ERR_HEADER, "shorter than a header");
	CHECK(mc_exif_parse_dates(NULL, 0, &d, &err) == MC_ERR_HEADER, "NULL");
	CHECK(mc_exif_parse_dates(t, len, NULL, &err) == MC_ERR_MISUSE, "no output");
	uint8_t b[128];
	memcpy(b, t, len);
	b[0] = 'X';
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_ERR_HEADER, "bad byte order");
	memcpy(b, t, len);
	b[3] = 43;
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_ERR_HEADER, "not 42");
	memcpy(b, t, len);
	b[4] = b[5] = b[6] = 0xFF, b[7] = 0xF0; /* IFD0 far past the end */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_ERR_HEADER, "IFD0 offset past the end");
	memcpy(b, t, len);
	b[8] = 0x03, b[9] = 0xE9; /* 1001 entries (big endian) */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_ERR_HEADER, "too many entries");
	memcpy(b, t, len);
	b[8] = 0x00, b[9] = 0x20; /* 32 entries: past the end */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_ERR_HEADER, "entries past the end");
	memcpy(b, t, len);
	b[18] = 0x7F; /* DateTime's offset far out */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && d.date_time[0] == 0, "value offset past the end");
	memcpy(b, t, len);
	b[14] = 0x7F; /* DateTime count 0x7F000014 */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && d.date_time[0] == 0, "huge count");
	memcpy(b, t, len);
	b[33] = 8, b[32] = b[31] = b[30] = 0; /* Exif IFD pointing back at IFD0 */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && d.date_time_original[0] == 0 &&
	          strcmp(d.date_time, "2024:01:02 03:04:05") == 0,
	      "loop to IFD0 not followed");
	memcpy(b, t, len);
	b[33] = 200; /* Exif IFD out of range: IFD0's values stay */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && strcmp(d.date_time, "2024:01:02 03:04:05") == 0,
	      "bad Exif IFD ignored");
	memcpy(b, t, len);
	b[90] = 0x07; /* a control character in DateTimeOriginal */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && d.date_time_original[0] == 0, "control character");
	memcpy(b, t, len);
	b[13] = 3; /* DateTime typed SHORT */
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && d.date_time[0] == 0, "wrong type");
	/* An inline ASCII value (count <= 4). */
	memcpy(b, t, len);
	b[17] = 4, b[18] = 'a', b[19] = 'b', b[20] = 'c', b[21] = 0;
	CHECK(mc_exif_parse_dates(b, len, &d, &err) == MC_OK && strcmp(d.date_time, "abc") == 0, "inline value");
}

/* Writes m to a temporary file and returns its descriptor (unlinked). */
static int temp_file(const membuf *m)
{
	char path[] = "/tmp/medcrypt-test-image-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, m->p, m->len) != (ssize_t)m->len) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_preview(void)
{
	CHECK(mc_preview_default_block(512, 512) == 32, "512: %u", mc_preview_default_block(512, 512));
	CHECK(mc_preview_default_block(4096, 4096) == 256, "4096");
	CHECK(mc_preview_default_block(64, 48) == 8, "small images: 8");
	CHECK(mc_preview_default_block(1000, 200) == 16, "200 / 16 -> 13 -> 16");

	/* A 100 x 60 gray image: left half 0, right half 200. */
	mc_pixels px = {.width = 100, .height = 60, .channels = 1, .bit_depth = 8, .stride = 100};
	px.data = malloc(100 * 60);
	for (int y = 0; y < 60; y++)
		for (int x = 0; x < 100; x++)
			px.data[y * 100 + x] = x < 50 ? 0 : 200;
	uint8_t *png = NULL;
	size_t len = 0;
	mc_err err = {0};
	mc_image_encode_png(&px, &png, &len, &err);
	membuf file = membuf_view(png, len);
	int fd = temp_file(&file);
	mc_preview_params p;
	mc_preview_params_default(&p);
	p.block = 10;
	uint8_t *out = NULL;
	size_t out_len = 0;
	mc_preview_info info;
	CHECK(mc_preview_make(fd, &p, &out, &out_len, &info, &err) == MC_OK, "preview: %s", err.msg);
	CHECK(info.type == MC_IMAGE_PNG && info.block == 10 && info.grid_width == 10 && info.grid_height == 6 &&
	          info.cell == 25 && info.out_width == 250 && info.out_height == 150,
	      "geometry %u %ux%u cell %u", info.block, info.grid_width, info.grid_height, info.cell);
	mc_pixels pv;
	CHECK(mc_image_decode(out, out_len, NULL, &pv, NULL, &err) == MC_OK && pv.width == 250 && pv.channels == 1,
	      "preview decodes");
	if (pv.data) {
		CHECK(pv.data[0] == 0 && pv.data[249] == 200, "block means");
		CHECK(pv.data[5 * 25] == 200 && pv.data[4 * 25 + 24] == 0, "cells drawn 25 px wide");
	}
	mc_pixels_free(&pv);
	mc_buf_free(out, out_len);
	/* A block that does not fit 8 output pixels grows. */
	p.block = 1;
	p.max_size = 8;
	CHECK(mc_preview_make(fd, &p, &out, &out_len, &info, &err) == MC_OK && info.block == 13 &&
	          info.grid_width == 8 && info.out_width <= 8,
	      "block grows to fit: %u", info.block);
	mc_buf_free(out, out_len);
	p.max_size = MC_PREVIEW_MAX_SIZE + 1;
	CHECK(mc_preview_make(fd, &p, &out, &out_len, &info, &err) == MC_ERR_MISUSE && !out, "max size checked");
	close(fd);
	mc_buf_free(png, len);
	mc_pixels_free(&px);

	/* A JPEG, decoded at 1/8 scale for a block of 16. */
	membuf j = make_jpeg(64, 32, 3, NULL, 0);
	fd = temp_file(&j);
	mc_preview_params_default(&p);
	p.block = 16;
	CHECK(mc_preview_make(fd, &p, &out, &out_len, &info, &err) == MC_OK && info.grid_width == 4 &&
	          info.grid_height == 2 && info.channels == 3,
	      "JPEG preview: %s", err.msg);
	mc_buf_free(out, out_len);
	close(fd);
	membuf_free(&j);

	/* Refusals: a bomb, not an image. */
	membuf bomb = png_declaring(100000, 100000);
	fd = temp_file(&bomb);
	out = NULL;
	CHECK(mc_preview_make(fd, NULL, &out, &out_len, &info, &err) == MC_ERR_UNSUPPORTED && !out, "bomb: %s",
	      err.msg);
	close(fd);
	membuf_free(&bomb);
	membuf text = {0};
	membuf_write(&text, (const uint8_t *)"hello, not an image", 19);
	fd = temp_file(&text);
	CHECK(mc_preview_make(fd, NULL, &out, &out_len, &info, &err) == MC_ERR_UNSUPPORTED && !out, "not an image");
	close(fd);
	membuf_free(&text);
}

int main(void)
{
	test_detect();
	test_png_roundtrip();
	test_limits();
	test_png_side_data();
	test_jpeg();
	test_exif();
	test_preview();
	return check_summary("image");
}
