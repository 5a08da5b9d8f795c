/*
 * test_format.c: the one parser of the container's layout (lib/format.c, docs/FORMAT.md §3-8)
 * and its three callers: libmedcrypt's reader (lib/file.c), the server's upload check
 * (src/medcryptd/sealed_check.c) and the server's share check (mcd_sealed_check_wrap, which
 * handlers/shares.c calls).
 *
 * 1. format.c alone: every parser at its limits, with the failure class of FORMAT.md §9.
 * 2. A corpus of containers written with format.c's writers and changed one field at a time
 *    (wrap type, wrap_len, recipient, wrap_count, core fields, section lengths, payload length,
 *    and every truncation): the library and the server give the same verdict on each, apart
 *    from the server's documented policy (API.md §15: at least one wrap, RSA-OAEP only); each
 *    wrap alone gets the same verdict from the library (mc_file_add_detached_wrap) and from the
 *    share check. A few verdicts are also checked outright, so that agreeing is not enough.
 * 3. Every vector that opens (expect: success) is laid out again by a transcoder written here
 *    from FORMAT.md §4 (literal offsets, not format.h's), emitting each wrap's fixed part with
 *    format.c's writer. The library opens the result with the vector's key to the same
 *    plaintext, the server accepts it with the same wraps and blob header, and the share check
 *    takes each of its wraps.
 *
 * The source is built twice (tests/meson.build). As test_format, against the real layout, the
 * transcoder must reproduce every vector byte for byte. As test_format_variant, format.c,
 * file.c, sealed_check.c and this file are all compiled with the wrap's fixed fields moved
 * (-DFMT_WRAP_LEN_OFF=0 -DFMT_WRAP_RECIPIENT_OFF=2 -DFMT_WRAP_TYPE_OFF=34): a layout changed in
 * format.h alone. There the vectors as stored (the real layout) must be refused by all three
 * callers, and the transcoded ones must still open, pass and share: a caller that kept an offset
 * of its own fails one of the two.
 *
 * usage: test_format VECTOR_DIR
 */
#include <dirent.h>
#include <medcrypt/container.h>
#include <medcrypt/key.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "format.h"
#include "sealed_check.h"
#include "testutil.h"

static const bool standard_layout = FMT_WRAP_TYPE_OFF == 0 && FMT_WRAP_RECIPIENT_OFF == 1 && FMT_WRAP_LEN_OFF == 33;

static void put(membuf *m, const void *p, size_t len)
{
	CHECK(membuf_write(m, p, len) == 0, "out of memory");
}

static void put_zeros(membuf *m, size_t len)
{
	uint8_t zero[4096] = {0};
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof zero ? len - done : sizeof zero;
		put(m, zero, n);
		done += n;
	}
}

/* ---- the three callers' verdicts ---- */

/* The library's structural verdict: mc_file_read, then mc_file_payload_size for the length. */
static mc_status lib_verdict(const uint8_t *p, size_t len, mc_file **out, mc_err *err)
{
	membuf in = membuf_view(p, len);
	in.max_read = 5; /* short reads: every field is gathered across calls */
	mc_file *f = NULL;
	uint64_t n, pt;
	mc_status st = mc_file_read(membuf_in(&in), &f, err);
	if (st == MC_OK)
		st = mc_file_payload_size(f, len, &n, &pt, err);
	if (out && st == MC_OK)
		*out = f;
	else
		mc_file_free(f);
	return st;
}

struct server_view {
	mcd_sealed_result result;
	char reason[96];
	membuf wraps;  /* the wraps it kept, one after the other */
	membuf header; /* the blob's header */
	size_t n_wraps;
};

static bool count_sink(void *ctx, const uint8_t *buf, size_t len)
{
	(void)buf;
	*(size_t *)ctx += len;
	return true;
}

/* The upload check on p fed in pieces of piece bytes (0: at once), with the true length. */
static void server_verdict(const uint8_t *p, size_t len, size_t piece, struct server_view *v)
{
	memset(v, 0, sizeof *v);
	mcd_sealed *s = mcd_sealed_new(len);
	size_t passed = 0;
	mcd_sealed_result r = MCD_SEALED_OK;
	for (size_t off = 0; off < len && r == MCD_SEALED_OK;) {
		size_t n = piece && len - off > piece ? piece : len - off;
		r = mcd_sealed_feed(s, p + off, n, count_sink, &passed);
		off += n;
	}
	if (r == MCD_SEALED_OK)
		r = mcd_sealed_finish(s);
	v->result = r;
	snprintf(v->reason, sizeof v->reason, "%s", mcd_sealed_reason(s));
	if (r == MCD_SEALED_OK) {
		v->n_wraps = mcd_sealed_n_wraps(s);
		for (size_t i = 0; i < v->n_wraps; i++) {
			size_t wl;
			const uint8_t *w = mcd_sealed_wrap(s, i, &wl);
			CHECK(mcd_sealed_wrap_recipient(s, i) == w + FMT_WRAP_RECIPIENT_OFF, "wrap %zu's recipient", i);
			put(&v->wraps, w, wl);
		}
		size_t hl;
		const uint8_t *h = mcd_sealed_header(s, &hl);
		put(&v->header, h, hl);
		CHECK(passed == len - v->wraps.len, "the blob is the upload without its wraps");
	}
	mcd_sealed_free(s);
}

static void server_view_free(struct server_view *v)
{
	membuf_free(&v->wraps);
	membuf_free(&v->header);
}

/* ---- 1. format.c alone ---- */

static void test_parsers(void)
{
	uint8_t p[64], recipient[FMT_RECIPIENT_LEN];
	const char *why = NULL;
	unsigned version = 0;
	size_t n = 0;
	fill_pattern(recipient, sizeof recipient, 1);

	/* §3 */
	mc_format_put_prefix(p);
	CHECK(memcmp(p, "\x89MEDC\r\n\x1a\x01", 9) == 0 && FMT_PREFIX_LEN == 9, "the prefix of FORMAT.md §3");
	CHECK(mc_format_parse_prefix(p, FMT_PREFIX_LEN, &version, &why) == MC_FORMAT_OK && version == 1 && !why,
	      "a good prefix");
	CHECK(mc_format_parse_prefix(p, FMT_MAGIC_LEN, NULL, &why) == MC_FORMAT_HEADER && strstr(why, "truncated"),
	      "the magic without the version: truncated");
	CHECK(mc_format_parse_prefix(p, FMT_MAGIC_LEN - 1, NULL, &why) == MC_FORMAT_HEADER, "a short magic");
	CHECK(mc_format_parse_prefix(p, 0, NULL, NULL) == MC_FORMAT_HEADER, "an empty file");
	p[0] = 0x09; /* [MC-PRE-1]: the eighth bit stripped */
	CHECK(mc_format_parse_prefix(p, FMT_PREFIX_LEN, NULL, &why) == MC_FORMAT_HEADER && strstr(why, "magic"),
	      "bad magic");
	mc_format_put_prefix(p);
	p[FMT_VERSION_OFF] = 2; /* [MC-PRE-2] */
	CHECK(mc_format_parse_prefix(p, FMT_PREFIX_LEN, &version, &why) == MC_FORMAT_UNSUPPORTED && version == 2,
	      "version 2: unsupported");

	/* §4 wrap_count [MC-WRAP-1] */
	static const struct {
		uint16_t count;
		mc_format_verdict v;
	} counts[] = {{0, MC_FORMAT_OK}, {1024, MC_FORMAT_OK}, {1025, MC_FORMAT_HEADER}, {65535, MC_FORMAT_HEADER}};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		mc_format_put_wrap_count(p, counts[i].count);
		CHECK(p[0] == counts[i].count >> 8 && p[1] == (counts[i].count & 0xff), "wrap_count is big-endian");
		CHECK(mc_format_parse_wrap_count(p, &n, &why) == counts[i].v && n == counts[i].count, "wrap_count %u",
		      counts[i].count);
	}

	/* §4 wrap [MC-WRAP-2]: type 1 is 384..1024 bytes long, other types any length */
	static const struct {
		uint8_t type;
		uint16_t len;
		mc_format_verdict v;
	} heads[] = {{1, 0, MC_FORMAT_HEADER}, {1, 383, MC_FORMAT_HEADER},  {1, 384, MC_FORMAT_OK},
	             {1, 1024, MC_FORMAT_OK},  {1, 1025, MC_FORMAT_HEADER}, {0, 0, MC_FORMAT_OK},
	             {2, 65535, MC_FORMAT_OK}, {255, 1, MC_FORMAT_OK}};
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		mc_format_wrap w;
		mc_format_put_wrap_head(p, heads[i].type, recipient, heads[i].len);
		CHECK(p[FMT_WRAP_TYPE_OFF] == heads[i].type && p[FMT_WRAP_LEN_OFF] == heads[i].len >> 8 &&
		          p[FMT_WRAP_LEN_OFF + 1] == (heads[i].len & 0xff) &&
		          memcmp(p + FMT_WRAP_RECIPIENT_OFF, recipient, FMT_RECIPIENT_LEN) == 0,
		      "the writer puts each field at its offset");
		CHECK(mc_format_parse_wrap_head(p, &w, &why) == heads[i].v, "wrap type %u, wrap_len %u", heads[i].type,
		      heads[i].len);
		CHECK(w.type == heads[i].type && w.body_len == heads[i].len &&
		          w.recipient == p + FMT_WRAP_RECIPIENT_OFF &&
		          w.len == FMT_WRAP_FIXED_LEN + (size_t)heads[i].len && !w.body,
		      "the head's view");
	}
	uint8_t whole[FMT_WRAP_FIXED_LEN + 385];
	mc_format_wrap w, other;
	mc_format_put_wrap_head(whole, FMT_WRAP_RSA_OAEP, recipient, 384);
	fill_pattern(whole + FMT_WRAP_FIXED_LEN, 385, 2);
	CHECK(mc_format_parse_wrap(whole, FMT_WRAP_FIXED_LEN + 384, &w, &why) == MC_FORMAT_OK &&
	          w.body == whole + FMT_WRAP_FIXED_LEN && w.len == FMT_WRAP_FIXED_LEN + 384,
	      "one whole wrap");
	CHECK(mc_format_parse_wrap(whole, FMT_WRAP_FIXED_LEN + 383, &other, &why) == MC_FORMAT_HEADER &&
	          strstr(why, "truncated"),
	      "a wrap one byte short");
	CHECK(mc_format_parse_wrap(whole, FMT_WRAP_FIXED_LEN + 385, &other, &why) == MC_FORMAT_HEADER &&
	          strstr(why, "trailing"),
	      "a wrap one byte long");
	CHECK(mc_format_parse_wrap(whole, FMT_WRAP_FIXED_LEN - 1, &other, NULL) == MC_FORMAT_HEADER,
	      "less than a wrap's fixed part");
	/* [MC-WRAP-4] */
	uint8_t head2[FMT_WRAP_FIXED_LEN];
	mc_format_put_wrap_head(head2, 2, recipient, 0);
	mc_format_parse_wrap_head(head2, &other, NULL);
	CHECK(mc_format_wraps_conflict(&w, &w) && !mc_format_wraps_conflict(&w, &other),
	      "the same recipient conflicts within one type only");
	mc_format_put_wrap_head(head2, 2, recipient, 700);
	mc_format_wrap third;
	mc_format_parse_wrap_head(head2, &third, NULL);
	CHECK(mc_format_wraps_conflict(&other, &third), "unknown types conflict too, whatever their length");

	/* §5 fixed core [MC-CORE-1], [MC-CORE-2], [MC-CORE-4] */
	uint8_t file_id[FMT_FILE_ID_LEN];
	fill_pattern(file_id, sizeof file_id, 3);
	static const struct {
		unsigned cipher, chunk_log2, sig_alg;
		size_t signer_len;
		mc_format_verdict v;
	} cores[] = {
	    {1, 16, 0, 0, MC_FORMAT_OK},           {2, 16, 2, 2048, MC_FORMAT_OK},
	    {0, 16, 0, 0, MC_FORMAT_UNSUPPORTED},  {3, 16, 0, 0, MC_FORMAT_UNSUPPORTED},
	    {1, 15, 0, 0, MC_FORMAT_UNSUPPORTED},  {1, 17, 0, 0, MC_FORMAT_UNSUPPORTED},
	    {1, 16, 3, 44, MC_FORMAT_UNSUPPORTED}, {1, 16, 0, 1, MC_FORMAT_HEADER},
	    {1, 16, 1, 0, MC_FORMAT_HEADER},       {1, 16, 1, 2049, MC_FORMAT_HEADER},
	    {3, 16, 0, 1, MC_FORMAT_UNSUPPORTED},
	};
	for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
		mc_format_core c = {cores[i].cipher, cores[i].chunk_log2, cores[i].sig_alg, file_id,
		                    cores[i].signer_len};
		mc_format_core back;
		mc_format_put_core_fixed(p, &c);
		CHECK(p[0] == cores[i].cipher && p[1] == cores[i].chunk_log2 && memcmp(p + 2, file_id, 32) == 0 &&
		          p[34] == cores[i].sig_alg && (size_t)(p[35] << 8 | p[36]) == cores[i].signer_len,
		      "the core's fixed part as FORMAT.md §5 lays it out");
		CHECK(mc_format_parse_core_fixed(p, &back, &why) == cores[i].v, "core %zu", i);
		CHECK(back.cipher == c.cipher && back.chunk_log2 == c.chunk_log2 && back.sig_alg == c.sig_alg &&
		          back.signer_len == c.signer_len && back.file_id == p + FMT_CORE_FILE_ID_OFF,
		      "the core's view");
	}

	/* §5 sections [MC-CORE-5], [MC-CORE-6] */
	static const struct {
		mc_format_section section;
		uint32_t len;
		mc_format_verdict v;
	} sections[] = {
	    {MC_FORMAT_META, 0, MC_FORMAT_OK},
	    {MC_FORMAT_META, 1, MC_FORMAT_HEADER},
	    {MC_FORMAT_META, 15, MC_FORMAT_HEADER},
	    {MC_FORMAT_META, 16, MC_FORMAT_OK},
	    {MC_FORMAT_META, FMT_MAX_META + 16, MC_FORMAT_OK},
	    {MC_FORMAT_META, FMT_MAX_META + 17, MC_FORMAT_HEADER},
	    {MC_FORMAT_PREVIEW, 15, MC_FORMAT_HEADER},
	    {MC_FORMAT_PREVIEW, FMT_MAX_META + 17, MC_FORMAT_OK},
	    {MC_FORMAT_PREVIEW, FMT_MAX_PREVIEW + 16, MC_FORMAT_OK},
	    {MC_FORMAT_PREVIEW, FMT_MAX_PREVIEW + 17, MC_FORMAT_HEADER},
	    {MC_FORMAT_PREVIEW, 0xffffffffu, MC_FORMAT_HEADER},
	};
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		mc_format_put_section_len(p, sections[i].len);
		CHECK(mc_format_parse_section_len(p, sections[i].section, &n, &why) == sections[i].v &&
		          n == sections[i].len,
		      "section %zu", i);
	}

	/* §7 chunk arithmetic [MC-PAY-1..6] */
	const uint64_t ct = FMT_CHUNK_CT, max = FMT_MAX_CHUNKS;
	static const uint64_t none = 0;
	const struct {
		uint64_t after, sig;
		mc_format_verdict v;
		uint64_t n, last;
	} pays[] = {
	    {0, 0, MC_FORMAT_PAYLOAD, none, none},
	    {15, 0, MC_FORMAT_PAYLOAD, none, none},
	    {16, 0, MC_FORMAT_OK, 1, 16},
	    {17, 0, MC_FORMAT_OK, 1, 17},
	    {ct, 0, MC_FORMAT_OK, 1, ct},
	    {ct + 15, 0, MC_FORMAT_PAYLOAD, none, none}, /* a final chunk under a tag */
	    {ct + 16, 0, MC_FORMAT_PAYLOAD, none, none}, /* an empty final chunk after a full one */
	    {ct + 17, 0, MC_FORMAT_OK, 2, 17},
	    {2 * ct, 0, MC_FORMAT_OK, 2, ct},
	    {16 + 64, 64, MC_FORMAT_OK, 1, 16},
	    {15 + 64, 64, MC_FORMAT_PAYLOAD, none, none},
	    {63, 64, MC_FORMAT_PAYLOAD, none, none},
	    {max * ct + 512, 512, MC_FORMAT_OK, max, ct},
	    {max * ct + 17, 0, MC_FORMAT_PAYLOAD, none, none}, /* [MC-PAY-6] */
	    {UINT64_MAX, 0, MC_FORMAT_PAYLOAD, none, none},
	};
	for (size_t i = 0; i < sizeof pays / sizeof pays[0]; i++) {
		mc_format_payload pl;
		mc_format_verdict v = mc_format_payload_layout(pays[i].after, pays[i].sig, &pl, &why);
		CHECK(v == pays[i].v, "payload %zu: verdict %d", i, v);
		if (v == MC_FORMAT_OK)
			CHECK(pl.n_chunks == pays[i].n && pl.last_len == pays[i].last &&
			          pl.chunks_len == pays[i].after - pays[i].sig &&
			          pl.plaintext_len == pl.chunks_len - pl.n_chunks * FMT_TAG_LEN,
			      "payload %zu: %llu chunks, the last of %llu bytes", i, (unsigned long long)pl.n_chunks,
			      (unsigned long long)pl.last_len);
	}

	/* §8 M = "medcrypt/v1 signature" 00 header_digest n(u64) payload_digest */
	uint8_t hd[32], pd[32], msg[FMT_SIG_MSG_LEN];
	memset(hd, 0x11, sizeof hd);
	memset(pd, 0x22, sizeof pd);
	mc_format_sig_message(hd, 0x0102030405060708ull, pd, msg);
	CHECK(sizeof msg == 94 && memcmp(msg, "medcrypt/v1 signature", 22) == 0 && msg[32] == 0x11 &&
	          memcmp(msg + 54, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0 && msg[62] == 0x22 && msg[93] == 0x22,
	      "the signed message of FORMAT.md §8");
}

/* ---- 2. a corpus, built with format.c's writers ---- */

#define MAX_SPEC_WRAPS 3

struct spec {
	size_t n_wraps; /* wraps written */
	long count;     /* the wrap_count field; -1: n_wraps */
	struct {
		uint8_t type, who; /* who: which recipient (0, 1, 2) */
		size_t body_len;   /* bytes of body written */
		long len_field;    /* the wrap_len field; -1: body_len */
	} wrap[MAX_SPEC_WRAPS];
	unsigned cipher, chunk_log2, sig_alg;
	size_t signer_len;
	uint32_t meta_len, preview_len; /* fields; the bytes written are capped for invalid ones */
	uint64_t payload_len;           /* bytes after the MAC */
};

static struct spec base_spec(void)
{
	struct spec s = {.n_wraps = 2, .count = -1, .cipher = 1, .chunk_log2 = 16, .payload_len = 16};
	for (size_t i = 0; i < MAX_SPEC_WRAPS; i++) {
		s.wrap[i].type = FMT_WRAP_RSA_OAEP;
		s.wrap[i].who = (uint8_t)i;
		s.wrap[i].body_len = 384 + 128 * i;
		s.wrap[i].len_field = -1;
	}
	return s;
}

static void recipient_of(uint8_t who, uint8_t out[FMT_RECIPIENT_LEN])
{
	fill_pattern(out, FMT_RECIPIENT_LEN, 100u + who);
}

/* Writes the container of s; wrap_at[i] and wrap_len[i] locate the wraps in it. */
static void build(const struct spec *s, membuf *out, size_t wrap_at[], size_t wrap_len[])
{
	uint8_t buf[FMT_CORE_FIXED_LEN], recipient[FMT_RECIPIENT_LEN], file_id[FMT_FILE_ID_LEN], body[1200];
	memset(out, 0, sizeof *out);
	mc_format_put_prefix(buf);
	put(out, buf, FMT_PREFIX_LEN);
	mc_format_put_wrap_count(buf, (uint16_t)(s->count < 0 ? (long)s->n_wraps : s->count));
	put(out, buf, FMT_WRAP_COUNT_LEN);
	for (size_t i = 0; i < s->n_wraps; i++) {
		recipient_of(s->wrap[i].who, recipient);
		long field = s->wrap[i].len_field < 0 ? (long)s->wrap[i].body_len : s->wrap[i].len_field;
		mc_format_put_wrap_head(buf, s->wrap[i].type, recipient, (uint16_t)field);
		fill_pattern(body, s->wrap[i].body_len, 200u + (uint32_t)i);
		wrap_at[i] = out->len;
		wrap_len[i] = FMT_WRAP_FIXED_LEN + s->wrap[i].body_len;
		put(out, buf, FMT_WRAP_FIXED_LEN);
		put(out, body, s->wrap[i].body_len);
	}
	fill_pattern(file_id, sizeof file_id, 7);
	mc_format_core core = {s->cipher, s->chunk_log2, s->sig_alg, file_id, s->signer_len};
	mc_format_put_core_fixed(buf, &core);
	put(out, buf, FMT_CORE_FIXED_LEN);
	fill_pattern(body, s->signer_len < sizeof body ? s->signer_len : sizeof body, 8); /* not a key */
	put(out, body, s->signer_len < sizeof body ? s->signer_len : sizeof body);
	const uint32_t lens[2] = {s->meta_len, s->preview_len}, caps[2] = {FMT_MAX_META, FMT_MAX_PREVIEW};
	for (int i = 0; i < 2; i++) {
		mc_format_put_section_len(buf, lens[i]);
		put(out, buf, FMT_SECTION_LEN_LEN);
		put_zeros(out, lens[i] <= caps[i] + FMT_TAG_LEN ? lens[i] : 64);
	}
	put_zeros(out, FMT_MAC_LEN + s->payload_len);
}

static int cases;

/* Feeds one container to the library and the server (and, when it has wraps, each of them to
 * the share check and to the library's detached-wrap parser) and checks that they agree.
 * Returns the library's verdict. */
static mc_status agree(const char *what, const uint8_t *p, size_t len, const struct spec *s, const size_t wrap_at[],
                       const size_t wrap_len[])
{
	mc_err err = {0};
	mc_file *f = NULL;
	mc_status lib = lib_verdict(p, len, &f, &err);
	bool policy_ok = true; /* API.md §15: at least one wrap, RSA-OAEP only */
	if (lib == MC_OK) {
		policy_ok = mc_file_n_wraps(f) > 0;
		for (size_t i = 0; i < mc_file_n_wraps(f); i++) {
			unsigned type = 0;
			mc_file_wrap_recipient(f, i, &type);
			policy_ok = policy_ok && type == FMT_WRAP_RSA_OAEP;
		}
	}
	static const size_t pieces[] = {0, 1, 4093};
	for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
		if (pieces[k] == 1 && len > 20000)
			continue;
		struct server_view sv;
		server_verdict(p, len, pieces[k], &sv);
		bool server_ok = sv.result == MCD_SEALED_OK;
		CHECK(server_ok == (lib == MC_OK && policy_ok), "%s (pieces of %zu): library %s (%s), server %s (%s)",
		      what, pieces[k], mc_status_name(lib), err.msg, server_ok ? "accepts" : "refuses", sv.reason);
		if (lib == MC_OK && !policy_ok)
			CHECK(!strcmp(sv.reason, "no wrap") || !strcmp(sv.reason, "wrap type other than RSA-OAEP"),
			      "%s: the server refuses for its policy only (%s)", what, sv.reason);
		if (server_ok && f) {
			/* the same wraps, the same header without them */
			membuf lw = {0};
			for (size_t i = 0; i < mc_file_n_wraps(f); i++) {
				uint8_t *w = NULL;
				size_t wl = 0;
				CHECK(mc_file_wrap_bytes(f, i, &w, &wl, &err) == MC_OK, "wrap bytes");
				put(&lw, w, wl);
				mc_buf_free(w, wl);
			}
			CHECK(sv.n_wraps == mc_file_n_wraps(f) && sv.wraps.len == lw.len &&
			          memcmp(sv.wraps.p, lw.p, lw.len) == 0,
			      "%s: the server's wraps are the library's", what);
			CHECK(sv.header.len + lw.len == mc_file_header_len(f) &&
			          memcmp(sv.header.p, p, FMT_PREFIX_LEN) == 0 &&
			          memcmp(sv.header.p + FMT_WRAPS_OFF, p + FMT_WRAPS_OFF + lw.len,
			                 sv.header.len - FMT_WRAPS_OFF) == 0,
			      "%s: the blob's header is the file's without its wraps", what);
			membuf_free(&lw);
		}
		server_view_free(&sv);
	}
	mc_file_free(f);

	/* Each wrap as written, detached: the library's parser against the share check. */
	struct spec blob_spec = base_spec();
	blob_spec.n_wraps = 0;
	membuf blob;
	build(&blob_spec, &blob, NULL, NULL);
	for (size_t i = 0; s && i < s->n_wraps; i++) {
		uint8_t fp[FMT_RECIPIENT_LEN], stranger[FMT_RECIPIENT_LEN];
		recipient_of(s->wrap[i].who, fp);
		recipient_of(9, stranger);
		for (int delta = -1; delta <= 1; delta++) {
			size_t wl = wrap_len[i] + (size_t)delta;
			if (delta > 0 && wrap_at[i] + wl > len)
				continue;
			mc_file *b = NULL;
			mc_status lib_w = lib_verdict(blob.p, blob.len, &b, &err);
			CHECK(lib_w == MC_OK, "the blob parses");
			if (lib_w == MC_OK)
				lib_w = mc_file_add_detached_wrap(b, p + wrap_at[i], wl, &err);
			mc_file_free(b);
			const char *why = NULL;
			mcd_wrap_check share = mcd_sealed_check_wrap(p + wrap_at[i], wl, fp, &why);
			bool oaep = s->wrap[i].type == FMT_WRAP_RSA_OAEP;
			CHECK((share == MCD_WRAP_OK) == (lib_w == MC_OK && oaep),
			      "%s, wrap %zu%+d alone: library %s (%s), share check %d (%s)", what, i, delta,
			      mc_status_name(lib_w), err.msg, share, why ? why : "ok");
			if (share == MCD_WRAP_OK)
				CHECK(mcd_sealed_check_wrap(p + wrap_at[i], wl, stranger, NULL) ==
				          MCD_WRAP_OTHER_RECIPIENT,
				      "%s: a wrap for someone else", what);
		}
	}
	membuf_free(&blob);
	cases++;
	return lib;
}

static mc_status agree_spec(const char *what, const struct spec *s)
{
	membuf m;
	size_t at[MAX_SPEC_WRAPS], wl[MAX_SPEC_WRAPS];
	build(s, &m, at, wl);
	mc_status st = agree(what, m.p, m.len, s, at, wl);
	membuf_free(&m);
	return st;
}

static void test_corpus(void)
{
	struct spec s = base_spec();
	char what[128];
	CHECK(agree_spec("the base container", &s) == MC_OK, "the base container opens its header");

	/* wrap types and lengths [MC-WRAP-2] */
	static const uint8_t types[] = {0, 1, 2, 255};
	static const size_t lens[] = {0, 383, 384, 512, 1024, 1025};
	for (size_t t = 0; t < sizeof types; t++)
		for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
			s = base_spec();
			s.wrap[1].type = types[t];
			s.wrap[1].body_len = lens[l];
			snprintf(what, sizeof what, "wrap type %u of %zu bytes", types[t], lens[l]);
			mc_status st = agree_spec(what, &s);
			bool valid = types[t] != 1 || (lens[l] >= 384 && lens[l] <= 1024);
			CHECK((st == MC_OK) == valid, "%s: %s", what, mc_status_name(st));
		}
	/* a wrap_len field that disagrees with the body */
	static const long fields[] = {0, 383, 385, 1024, 65535};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		s = base_spec();
		s.wrap[0].len_field = fields[i];
		snprintf(what, sizeof what, "a wrap_len of %ld over 384 bytes", fields[i]);
		CHECK(agree_spec(what, &s) != MC_OK, "%s is refused", what);
	}
	/* [MC-WRAP-4] */
	s = base_spec();
	s.wrap[1].who = 0;
	CHECK(agree_spec("two wraps for one recipient", &s) == MC_ERR_HEADER, "duplicate recipient");
	s.wrap[1].type = 2;
	CHECK(agree_spec("one recipient, two wrap types", &s) == MC_OK, "the same recipient in another type");
	s = base_spec();
	s.n_wraps = 3;
	s.wrap[2].who = 1;
	s.wrap[2].body_len = 384;
	CHECK(agree_spec("the third wrap repeats the second's recipient", &s) == MC_ERR_HEADER, "duplicate recipient");
	/* A duplicate cut short in its body: both name the duplicate, not the truncation (the
	 * library once read the body first; fuzz_sealed_check found the two disagreeing). */
	s = base_spec();
	s.wrap[1].who = 0;
	{
		membuf m;
		size_t at[MAX_SPEC_WRAPS], wl[MAX_SPEC_WRAPS];
		mc_err err = {0};
		struct server_view sv;
		build(&s, &m, at, wl);
		size_t cut = at[1] + FMT_WRAP_FIXED_LEN + 10;
		CHECK(lib_verdict(m.p, cut, NULL, &err) == MC_ERR_HEADER && strstr(err.msg, "same recipient"),
		      "the library names the duplicate: %s", err.msg);
		server_verdict(m.p, cut, 0, &sv);
		CHECK(sv.result == MCD_SEALED_BAD && strstr(sv.reason, "same recipient"), "the server names it: %s",
		      sv.reason);
		server_view_free(&sv);
		membuf_free(&m);
	}
	/* wrap_count [MC-WRAP-1] */
	static const long counts[] = {0, 1, 3, 1024, 1025};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		s = base_spec();
		s.count = counts[i];
		snprintf(what, sizeof what, "wrap_count %ld over 2 wraps", counts[i]);
		CHECK(agree_spec(what, &s) != MC_OK, "%s is refused", what);
	}
	s = base_spec();
	s.n_wraps = 0;
	CHECK(agree_spec("a blob (no wraps)", &s) == MC_OK, "a blob parses");
	s.n_wraps = 1;
	CHECK(agree_spec("one wrap", &s) == MC_OK, "one wrap");

	/* the core [MC-CORE-1], [MC-CORE-2], [MC-CORE-4] */
	static const struct {
		unsigned cipher, chunk_log2, sig_alg;
		size_t signer_len;
		mc_status st;
	} cores[] = {
	    {2, 16, 0, 0, MC_OK},
	    {0, 16, 0, 0, MC_ERR_UNSUPPORTED},
	    {3, 16, 0, 0, MC_ERR_UNSUPPORTED},
	    {1, 15, 0, 0, MC_ERR_UNSUPPORTED},
	    {1, 17, 0, 0, MC_ERR_UNSUPPORTED},
	    {1, 16, 3, 44, MC_ERR_UNSUPPORTED},
	    {1, 16, 0, 1, MC_ERR_HEADER},
	    {1, 16, 1, 0, MC_ERR_HEADER},
	    {1, 16, 1, 44, MC_ERR_HEADER}, /* not a key */
	    {1, 16, 2, 300, MC_ERR_HEADER},
	    {1, 16, 2, 2049, MC_ERR_HEADER},
	};
	for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
		s = base_spec();
		s.cipher = cores[i].cipher;
		s.chunk_log2 = cores[i].chunk_log2;
		s.sig_alg = cores[i].sig_alg;
		s.signer_len = cores[i].signer_len;
		snprintf(what, sizeof what, "cipher %u, chunk_log2 %u, sig_alg %u, signer_len %zu", cores[i].cipher,
		         cores[i].chunk_log2, cores[i].sig_alg, cores[i].signer_len);
		mc_status st = agree_spec(what, &s);
		CHECK(st == cores[i].st, "%s: %s", what, mc_status_name(st));
	}
	/* the sections [MC-CORE-5], [MC-CORE-6] */
	static const struct {
		uint32_t meta, preview;
		mc_status st;
	} sections[] = {
	    {1, 0, MC_ERR_HEADER},  {15, 0, MC_ERR_HEADER},           {16, 0, MC_OK},
	    {17, 16, MC_OK},        {FMT_MAX_META + 16, 0, MC_OK},    {FMT_MAX_META + 17, 0, MC_ERR_HEADER},
	    {0, 15, MC_ERR_HEADER}, {0, FMT_MAX_PREVIEW + 16, MC_OK}, {0, FMT_MAX_PREVIEW + 17, MC_ERR_HEADER},
	};
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		s = base_spec();
		s.meta_len = sections[i].meta;
		s.preview_len = sections[i].preview;
		snprintf(what, sizeof what, "meta_len %u, preview_len %u", sections[i].meta, sections[i].preview);
		mc_status st = agree_spec(what, &s);
		CHECK(st == sections[i].st, "%s: %s", what, mc_status_name(st));
	}
	/* the payload [MC-PAY-1..4]; an empty final chunk after a full one was accepted by
	 * mc_file_payload_size (and so by random access) while the server refused it */
	const uint64_t ct = FMT_CHUNK_CT;
	const struct {
		uint64_t len;
		mc_status st;
	} pays[] = {{0, MC_ERR_PAYLOAD},
	            {15, MC_ERR_PAYLOAD},
	            {16, MC_OK},
	            {17, MC_OK},
	            {ct, MC_OK},
	            {ct + 15, MC_ERR_PAYLOAD},
	            {ct + 16, MC_ERR_PAYLOAD},
	            {ct + 17, MC_OK},
	            {2 * ct + 16, MC_ERR_PAYLOAD}};
	for (size_t i = 0; i < sizeof pays / sizeof pays[0]; i++) {
		s = base_spec();
		s.payload_len = pays[i].len;
		snprintf(what, sizeof what, "a payload of %llu bytes", (unsigned long long)pays[i].len);
		mc_status st = agree_spec(what, &s);
		CHECK(st == pays[i].st, "%s: %s", what, mc_status_name(st));
	}
	/* every truncation of a container with metadata and a preview */
	s = base_spec();
	s.meta_len = 40;
	s.preview_len = 20;
	s.payload_len = 100;
	membuf m;
	size_t at[MAX_SPEC_WRAPS], wl[MAX_SPEC_WRAPS];
	build(&s, &m, at, wl);
	for (size_t cut = 0; cut < m.len; cut++) {
		snprintf(what, sizeof what, "cut at %zu of %zu", cut, m.len);
		CHECK(agree(what, m.p, cut, NULL, at, wl) != MC_OK || cut >= m.len - 100 + 16, "%s is refused", what);
	}
	membuf_free(&m);
}

/* ---- 3. the vectors, laid out again ---- */

/* FORMAT.md §4 as the spec writes it: type(1) recipient(32) wrap_len(u16). Spelled out here on
 * purpose, and not taken from format.h: the layout the variant build is measured against. */
enum { SPEC_TYPE = 0, SPEC_RECIPIENT = 1, SPEC_LEN = 33, SPEC_FIXED = 35, SPEC_WRAPS = 11 };

struct laid_out {
	membuf bytes;
	size_t n_wraps, core_at; /* where the core starts (the same in both layouts) */
	size_t at[FMT_MAX_WRAPS], len[FMT_MAX_WRAPS];
	uint8_t type[FMT_MAX_WRAPS];
	size_t spec_at[FMT_MAX_WRAPS]; /* the wraps in the original */
};

/* Rewrites the wraps of the container v through format.c's writer; false if v does not parse. */
static bool transcode(const uint8_t *v, size_t len, struct laid_out *o)
{
	memset(&o->bytes, 0, sizeof o->bytes);
	if (len < SPEC_WRAPS)
		return false;
	size_t n = (size_t)(v[9] << 8 | v[10]), off = SPEC_WRAPS;
	if (n > FMT_MAX_WRAPS)
		return false;
	put(&o->bytes, v, SPEC_WRAPS);
	for (size_t i = 0; i < n; i++) {
		if (len - off < SPEC_FIXED)
			return false;
		size_t body = (size_t)(v[off + SPEC_LEN] << 8 | v[off + SPEC_LEN + 1]);
		if (len - off - SPEC_FIXED < body)
			return false;
		uint8_t head[FMT_WRAP_FIXED_LEN];
		mc_format_put_wrap_head(head, v[off + SPEC_TYPE], v + off + SPEC_RECIPIENT, (uint16_t)body);
		o->at[i] = o->bytes.len;
		o->len[i] = FMT_WRAP_FIXED_LEN + body;
		o->type[i] = v[off + SPEC_TYPE];
		o->spec_at[i] = off;
		put(&o->bytes, head, sizeof head);
		put(&o->bytes, v + off + SPEC_FIXED, body);
		off += SPEC_FIXED + body;
	}
	o->n_wraps = n;
	o->core_at = off;
	put(&o->bytes, v + off, len - off);
	return true;
}

static mc_status open_all(const uint8_t *p, size_t len, const mc_identity *id, membuf *plain, mc_err *err)
{
	membuf in = membuf_view(p, len);
	in.max_read = 3000;
	mc_file *f = NULL;
	mc_open_params params = {.threads = 1};
	mc_status st = mc_file_read(membuf_in(&in), &f, err);
	if (st == MC_OK && (st = mc_file_unlock(f, id, err)) == MC_OK)
		st = mc_file_open_payload(f, membuf_in(&in), membuf_out(plain), &params, NULL, err);
	mc_file_free(f);
	return st;
}

static void sha256_hex(const uint8_t *p, size_t len, char out[65])
{
	uint8_t d[32];
	EVP_Digest(p ? p : (const uint8_t *)"", len, d, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static uint8_t *read_vector(const char *path, char *expect, char *identity, char *payload, const uint8_t **body,
                            size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, fp) != (size_t)n) {
		free(data);
		data = NULL;
	}
	fclose(fp);
	if (!data)
		return NULL;
	expect[0] = identity[0] = payload[0] = 0;
	size_t pos = 0;
	while (pos < (size_t)n) {
		uint8_t *nl = memchr(data + pos, '\n', (size_t)n - pos);
		if (!nl)
			break;
		size_t line = (size_t)(nl - data) - pos;
		if (line == 0) {
			*body = nl + 1;
			*len = (size_t)n - pos - 1;
			return data;
		}
		const char *l = (const char *)data + pos;
		if (line > 8 && !strncmp(l, "expect: ", 8))
			snprintf(expect, 64, "%.*s", (int)(line - 8), l + 8);
		else if (line > 10 && !strncmp(l, "identity: ", 10))
			snprintf(identity, 128, "%.*s", (int)(line - 10), l + 10);
		else if (line > 9 && !strncmp(l, "payload: ", 9))
			snprintf(payload, 80, "%.*s", (int)(line - 9), l + 9);
		pos += line + 1;
	}
	free(data);
	return NULL;
}

static void test_vector(const char *name, const uint8_t *v, size_t len, const mc_identity *id, const char *payload)
{
	static struct laid_out o;
	char hex[65];
	mc_err err = {0};
	CHECK(transcode(v, len, &o), "%s: the transcoder reads it", name);
	if (standard_layout)
		CHECK(o.bytes.len == len && memcmp(o.bytes.p, v, len) == 0, "%s: format.c writes FORMAT.md §4's wraps",
		      name);

	/* the library: opens it to the same plaintext, with the same wraps */
	membuf plain = {0};
	mc_status st = open_all(o.bytes.p, o.bytes.len, id, &plain, &err);
	sha256_hex(plain.p, plain.len, hex);
	CHECK(st == MC_OK && !strcmp(hex, payload), "%s: the library opens it (%s)", name, err.msg);
	membuf_free(&plain);
	mc_file *f = NULL;
	membuf in = membuf_view(o.bytes.p, o.bytes.len);
	bool all_oaep = o.n_wraps > 0;
	size_t header_len = 0;
	if (mc_file_read(membuf_in(&in), &f, &err) == MC_OK) {
		header_len = mc_file_header_len(f);
		CHECK(mc_file_n_wraps(f) == o.n_wraps && header_len > o.core_at && in.pos == header_len, "%s: header",
		      name);
		for (size_t i = 0; i < o.n_wraps && i < mc_file_n_wraps(f); i++) {
			unsigned type = 0;
			const uint8_t *r = mc_file_wrap_recipient(f, i, &type);
			uint8_t *w = NULL;
			size_t wl = 0;
			CHECK(type == o.type[i] && memcmp(r, v + o.spec_at[i] + SPEC_RECIPIENT, FMT_RECIPIENT_LEN) == 0,
			      "%s: wrap %zu's type and recipient", name, i);
			CHECK(mc_file_wrap_bytes(f, i, &w, &wl, &err) == MC_OK && wl == o.len[i] &&
			          memcmp(w, o.bytes.p + o.at[i], wl) == 0,
			      "%s: wrap %zu's bytes", name, i);
			mc_buf_free(w, wl);
			all_oaep = all_oaep && type == FMT_WRAP_RSA_OAEP;
		}
		membuf hdr = {0};
		CHECK(mc_file_write_header(f, membuf_out(&hdr), &err) == MC_OK && hdr.len == header_len &&
		          memcmp(hdr.p, o.bytes.p, hdr.len) == 0,
		      "%s: the header is written back as read", name);
		membuf_free(&hdr);
	} else {
		CHECK(0, "%s: does not parse: %s", name, err.msg);
	}
	mc_file_free(f);

	/* the server: accepts it when its wraps are all RSA-OAEP, keeping those wraps */
	struct server_view sv;
	server_verdict(o.bytes.p, o.bytes.len, 4093, &sv);
	CHECK((sv.result == MCD_SEALED_OK) == all_oaep, "%s: the server %s it (%s)", name,
	      sv.result == MCD_SEALED_OK ? "accepts" : "refuses", sv.reason);
	if (sv.result == MCD_SEALED_OK)
		CHECK(sv.wraps.len == o.core_at - FMT_WRAPS_OFF &&
		          memcmp(sv.wraps.p, o.bytes.p + FMT_WRAPS_OFF, sv.wraps.len) == 0 &&
		          sv.header.len == FMT_WRAPS_OFF + header_len - o.core_at &&
		          memcmp(sv.header.p, v, FMT_PREFIX_LEN) == 0 && sv.header.p[FMT_PREFIX_LEN] == 0 &&
		          sv.header.p[FMT_PREFIX_LEN + 1] == 0 &&
		          memcmp(sv.header.p + FMT_WRAPS_OFF, v + o.core_at, header_len - o.core_at) == 0,
		      "%s: the server's wraps and blob header", name);
	server_view_free(&sv);

	/* the share check: takes each RSA-OAEP wrap for its own recipient only */
	for (size_t i = 0; i < o.n_wraps; i++) {
		const uint8_t *w = o.bytes.p + o.at[i], *fp = v + o.spec_at[i] + SPEC_RECIPIENT;
		uint8_t stranger[FMT_RECIPIENT_LEN];
		memset(stranger, 0xa5, sizeof stranger);
		mcd_wrap_check want = o.type[i] == FMT_WRAP_RSA_OAEP ? MCD_WRAP_OK : MCD_WRAP_BAD;
		CHECK(mcd_sealed_check_wrap(w, o.len[i], fp, NULL) == want, "%s: share check of wrap %zu", name, i);
		if (want == MCD_WRAP_OK)
			CHECK(mcd_sealed_check_wrap(w, o.len[i], stranger, NULL) == MCD_WRAP_OTHER_RECIPIENT &&
			          mcd_sealed_check_wrap(w, o.len[i] - 1, fp, NULL) == MCD_WRAP_BAD,
			      "%s: share check of wrap %zu for someone else, or cut short", name, i);
		if (i >= 4)
			break; /* the 1024-wrap vector: a few are enough */
	}

	/* with the wrap's fields moved, the stored layout is a different layout: all refuse it */
	if (!standard_layout) {
		st = open_all(v, len, id, &plain, &err);
		membuf_free(&plain);
		CHECK(st != MC_OK, "%s: the variant library refuses the standard layout", name);
		server_verdict(v, len, 0, &sv);
		CHECK(sv.result == MCD_SEALED_BAD, "%s: the variant server refuses the standard layout", name);
		server_view_free(&sv);
		size_t wl = SPEC_FIXED + (size_t)(v[SPEC_WRAPS + SPEC_LEN] << 8 | v[SPEC_WRAPS + SPEC_LEN + 1]);
		CHECK(o.n_wraps == 0 || mcd_sealed_check_wrap(v + SPEC_WRAPS, wl, v + SPEC_WRAPS + SPEC_RECIPIENT,
		                                              NULL) != MCD_WRAP_OK,
		      "%s: the variant share check refuses a wrap in the standard layout", name);
	}
	membuf_free(&o.bytes);
}

static void test_vectors(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL, "cannot open %s", dir);
	if (!d)
		return;
	struct {
		char name[128];
		mc_identity *id;
	} ids[8] = {{{0}, NULL}};
	size_t n_ids = 0;
	int opened = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".vec") != 0)
			continue;
		char path[1024], expect[64], identity[128], payload[80];
		const uint8_t *body = NULL;
		size_t len = 0;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		uint8_t *data = read_vector(path, expect, identity, payload, &body, &len);
		CHECK(data != NULL, "%s: unreadable", path);
		if (!data || strcmp(expect, "success") != 0 || !identity[0]) {
			free(data);
			continue;
		}
		mc_identity *id = NULL;
		for (size_t i = 0; i < n_ids && !id; i++)
			if (!strcmp(ids[i].name, identity))
				id = ids[i].id;
		if (!id && n_ids < sizeof ids / sizeof ids[0]) {
			mc_err err = {0};
			snprintf(path, sizeof path, "%s/keys/%s", dir, identity);
			CHECK(mc_identity_load(path, NULL, 0, MC_IDENTITY_ENC, &id, &err) == MC_OK, "%s: %s", path,
			      err.msg);
			snprintf(ids[n_ids].name, sizeof ids[n_ids].name, "%s", identity);
			ids[n_ids++].id = id;
		}
		if (id) {
			test_vector(e->d_name, body, len, id, payload);
			opened++;
		}
		free(data);
	}
	closedir(d);
	for (size_t i = 0; i < n_ids; i++)
		mc_identity_free(ids[i].id);
	CHECK(opened >= 20, "only %d vectors that open found in %s", opened, dir);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_format VECTOR_DIR\n");
		return 2;
	}
	printf("wrap layout: type at %d, recipient at %d, wrap_len at %d (%s)\n", FMT_WRAP_TYPE_OFF,
	       FMT_WRAP_RECIPIENT_OFF, FMT_WRAP_LEN_OFF, standard_layout ? "FORMAT.md" : "moved, for this test");
	test_parsers();
	test_corpus();
	test_vectors(argv[1]);
	printf("%d containers checked by the library and the server\n", cases);
	return check_summary(standard_layout ? "format" : "format-variant");
}
