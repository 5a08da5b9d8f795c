/*
 * jpeg_lossless.c: a decoder for lossless JPEG (ITU-T T.81 Annex H, process 14: Huffman coding,
 * predictors 1 to 7, point transform), the DICOM transfer syntaxes 1.2.840.10008.1.2.4.57 and
 * .70, which libjpeg-turbo 2.1 does not decode. It reads one frame held in memory (SOF3, DHT,
 * DRI and SOS; other markers are skipped) and writes the samples, shifted back by the point
 * transform, as native DICOM pixel data: little endian, 1 or 2 bytes a sample, one plane per
 * component. Untrusted input: every length and table is checked, a code that is not in its
 * table or data that ends early is a header failure, and the output is never written outside
 * its width × height × components samples.
 */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"
#include "internal.h"

typedef struct huff {
	bool defined;
	/* canonical codes: for each length 1..16, the first code and the index of its first value */
	int32_t maxcode[18];
	int32_t valptr[17];
	int32_t mincode[17];
	uint8_t vals[256];
} huff;

typedef struct bits {
	const uint8_t *p, *end;
	uint32_t acc;
	int n;
	bool marker;  /* a marker or the end was met: only zero bits follow */
	unsigned pad; /* zero bytes given since: more than the 4 of look-ahead means data was missing */
} bits;

/* Tops the accumulator up to at least 25 bits: data bytes (0xFF 0x00 is 0xFF), then, from a
 * marker or the end of the data on, zero bytes, counted in pad. */
static void fill_bits(bits *b)
{
	while (b->n <= 24) {
		uint32_t byte = 0;
		if (!b->marker) {
			if (b->p < b->end && (*b->p != 0xFF || (b->p + 1 < b->end && b->p[1] == 0x00))) {
				byte = *b->p;
				b->p += byte == 0xFF ? 2 : 1;
			} else {
				b->marker = true; /* a marker (left for the caller) or the end */
			}
		}
		if (b->marker)
			b->pad++;
		b->acc |= byte << (24 - b->n);
		b->n += 8;
	}
}

static uint32_t get_bits(bits *b, int k)
{
	if (k == 0)
		return 0;
	fill_bits(b);
	uint32_t v = b->acc >> (32 - k);
	b->acc <<= k;
	b->n -= k;
	return v;
}

/* The next Huffman-coded value, or -1 for a code that is not in the table. */
static int decode_huff(bits *b, const huff *h)
{
	fill_bits(b);
	int32_t code = 0;
	for (int len = 1; len <= 16; len++) {
		code = (code << 1) | (int32_t)(b->acc >> 31);
		b->acc <<= 1;
		b->n--;
		if (h->maxcode[len] >= 0 && code <= h->maxcode[len] && code >= h->mincode[len])
			return h->vals[h->valptr[len] + code - h->mincode[len]];
	}
	return -1;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static mc_status bad(mc_err *err, const char *what)
{
	return mc_fail(err, MC_ERR_HEADER, "malformed lossless JPEG: %s", what);
}

static mc_status read_dht(const uint8_t *p, size_t len, huff tables[4], mc_err *err)
{
	while (len > 0) {
		if (len < 17)
			return bad(err, "a short Huffman table");
		unsigned cls = p[0] >> 4, id = p[0] & 15;
		if (id > 3)
			return bad(err, "a Huffman table id over 3");
		size_t total = 0;
		for (int i = 1; i <= 16; i++)
			total += p[i];
		if (total > 256 || len < 17 + total)
			return bad(err, "a Huffman table longer than its segment");
		if (cls == 0) { /* lossless uses the DC tables; AC tables are skipped */
			huff *h = &tables[id];
			memset(h, 0, sizeof *h);
			int32_t code = 0, k = 0;
			for (int l = 1; l <= 16; l++) {
				h->valptr[l] = k;
				h->mincode[l] = code;
				code += p[l];
				k += p[l];
				h->maxcode[l] = p[l] ? code - 1 : -1;
				if (code > (1 << l))
					return bad(err, "a Huffman table with more codes than bits allow");
				code <<= 1;
			}
			h->maxcode[17] = INT32_MAX;
			memcpy(h->vals, p + 17, total);
			h->defined = true;
		}
		p += 17 + total;
		len -= 17 + total;
	}
	return MC_OK;
}

mc_status mc_jpeg_lossless_decode(const uint8_t *data, size_t len, uint32_t width, uint32_t height, unsigned ncomp,
                                  unsigned bytes_per_sample, uint8_t *out, mc_err *err)
{
	huff *tables = calloc(4, sizeof *tables);
	if (!tables)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_status st = MC_OK;
	unsigned precision = 0, nf = 0, restart = 0;
	uint8_t comp_id[4] = {0};
	bool sof = false;
	size_t pos = 2;
	if (len < 4 || data[0] != 0xFF || data[1] != 0xD8) {
		free(tables);
		return bad(err, "no SOI marker");
	}
	for (;;) {
		if (pos + 4 > len) {
			st = bad(err, "no SOS segment");
			break;
		}
		if (data[pos] != 0xFF) {
			st = bad(err, "a segment does not start with a marker");
			break;
		}
		uint8_t m = data[pos + 1];
		if (m == 0xFF) { /* fill byte */
			pos++;
			continue;
		}
		size_t seg = be16(data + pos + 2);
		if (seg < 2 || pos + 2 + seg > len) {
			st = bad(err, "a segment longer than the frame");
			break;
		}
		const uint8_t *s = data + pos + 4;
		size_t slen = seg - 2;
		if (m == 0xC3) { /* SOF3 */
			if (slen < 6 || (nf = s[5]) == 0 || slen < 6 + 3u * nf) {
				st = bad(err, "a short SOF3");
				break;
			}
			precision = s[0];
			if (precision < 2 || precision > 16 || be16(s + 1) != height || be16(s + 3) != width ||
			    nf != ncomp) {
				st = mc_fail(
				    err, MC_ERR_HEADER,
				    "the lossless JPEG frame (%u bits, %ux%u, %u components) does not match the "
				    "DICOM image (%ux%u, %u samples)",
				    precision, be16(s + 3), be16(s + 1), nf, width, height, ncomp);
				break;
			}
			if ((precision > 8) != (bytes_per_sample == 2)) {
				st = mc_fail(err, MC_ERR_UNSUPPORTED, "%u-bit lossless JPEG in %u-byte samples",
				             precision, bytes_per_sample);
				break;
			}
			for (unsigned c = 0; c < nf; c++) {
				comp_id[c] = s[6 + 3 * c];
				if (s[7 + 3 * c] != 0x11) {
					st = mc_fail(err, MC_ERR_UNSUPPORTED, "subsampled lossless JPEG components");
					break;
				}
			}
			if (st != MC_OK)
				break;
			sof = true;
		} else if ((m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			st =
			    mc_fail(err, MC_ERR_UNSUPPORTED,
			            "a JPEG frame of process SOF%u, not lossless Huffman (SOF3)", (unsigned)(m - 0xC0));
			break;
		} else if (m == 0xC4) {
			if ((st = read_dht(s, slen, tables, err)) != MC_OK)
				break;
		} else if (m == 0xDD) {
			if (slen < 2) {
				st = bad(err, "a short DRI");
				break;
			}
			restart = be16(s);
		} else if (m == 0xDA) {
			if (!sof) {
				st = bad(err, "SOS before SOF3");
				break;
			}
			unsigned ns = slen >= 1 ? s[0] : 0;
			if (ns != nf || slen < 1 + 2u * ns + 3) {
				st = mc_fail(err, MC_ERR_UNSUPPORTED, "a lossless JPEG scan of %u of %u components", ns,
				             nf);
				break;
			}
			const huff *tab[4];
			for (unsigned c = 0; c < ns; c++) {
				unsigned td = s[2 + 2 * c] >> 4;
				if (s[1 + 2 * c] != comp_id[c] || td > 3 || !tables[td].defined) {
					st = bad(err, "a scan component without its Huffman table");
					break;
				}
				tab[c] = &tables[td];
			}
			if (st != MC_OK)
				break;
			unsigned predictor = s[1 + 2 * ns], pt = s[3 + 2 * ns] & 15;
			if (predictor < 1 || predictor > 7 || pt >= precision) {
				st = bad(err, "a predictor outside 1-7 or a point transform over the precision");
				break;
			}
			bits b = {data + pos + 2 + seg, data + len, 0, 0, false, 0};
			size_t plane = (size_t)width * height;
			uint32_t mask = (1u << precision) - 1;
			uint32_t *prev = calloc((size_t)width * ncomp, sizeof *prev),
			         *cur = calloc((size_t)width * ncomp, sizeof *cur);
			if (!prev || !cur) {
				free(prev);
				free(cur);
				st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
				break;
			}
			uint32_t left_in_interval = restart;
			bool first_line = true, restarted = false;
			for (uint32_t y = 0; y < height && st == MC_OK; y++) {
				for (uint32_t x = 0; x < width && st == MC_OK; x++) {
					if (restart && left_in_interval == 0) { /* RSTn: byte-align, skip the marker */
						if (!b.marker || b.p + 1 >= b.end || b.p[1] < 0xD0 || b.p[1] > 0xD7) {
							st = bad(err, "a restart marker is missing");
							break;
						}
						b.p += 2;
						b.acc = 0, b.n = 0, b.marker = false, b.pad = 0;
						left_in_interval = restart;
						restarted = true;
					}
					for (unsigned c = 0; c < ncomp; c++) {
						uint32_t *row = cur + (size_t)c * width, *up = prev + (size_t)c * width;
						int32_t pred;
						if ((first_line || restarted) && x == 0)
							pred = 1 << (precision - pt - 1);
						else if (first_line || restarted)
							pred = (int32_t)row[x - 1];
						else if (x == 0)
							pred = (int32_t)up[0];
						else {
							int32_t ra = (int32_t)row[x - 1], rb = (int32_t)up[x],
							        rc = (int32_t)up[x - 1];
							switch (predictor) {
							case 1: pred = ra; break;
							case 2: pred = rb; break;
							case 3: pred = rc; break;
							case 4: pred = ra + rb - rc; break;
							case 5: pred = ra + ((rb - rc) >> 1); break;
							case 6: pred = rb + ((ra - rc) >> 1); break;
							default: pred = (ra + rb) >> 1; break;
							}
						}
						int ssss = decode_huff(&b, tab[c]);
						if (ssss < 0 || ssss > 16) {
							st = bad(err, "a Huffman code that is not in its table");
							break;
						}
						int32_t diff;
						if (ssss == 16) {
							diff = 32768;
						} else {
							uint32_t v = get_bits(&b, ssss);
							diff = ssss && v < (1u << (ssss - 1))
							           ? (int32_t)v - (int32_t)((1u << ssss) - 1)
							           : (int32_t)v;
						}
						row[x] = (uint32_t)(pred + diff) & mask;
						uint32_t sample = row[x] << pt;
						uint8_t *o = out + ((size_t)c * plane + (size_t)y * width + x) *
						                       bytes_per_sample;
						o[0] = (uint8_t)sample;
						if (bytes_per_sample == 2)
							o[1] = (uint8_t)(sample >> 8);
					}
					if (restart)
						left_in_interval--;
				}
				if (st != MC_OK)
					break;
				if (b.pad > 4) {
					st = bad(err, "the scan ends before the image");
					break;
				}
				uint32_t *t = prev;
				prev = cur;
				cur = t;
				first_line = false;
				restarted = false;
			}
			free(prev);
			free(cur);
			break;
		} else if (m == 0xD9) {
			st = bad(err, "EOI before the scan");
			break;
		}
		pos += 2 + seg;
	}
	free(tables);
	return st;
}
