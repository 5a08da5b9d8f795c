/*
 * fuzz_sealed_check: the server's streaming check of an uploaded sealed file
 * (src/medcryptd/sealed_check.h) on untrusted bytes, fed in pieces, and checked against the
 * library's own parser (mc_file_read, mc_file_payload_size and, for a signed file, the key-less
 * mc_file_verify_payload), which medcryptd does not link.
 *
 * Input: a 16-byte control block, then the body of the upload.
 *   control[0..8)   seed of the split points (xorshift64*)
 *   control[8]      bits 0-1: the declared Content-Length ("total"): 0 and 3 the body's size,
 *                   1 the size plus E, 2 shorter than the body (size - 1 - E % size);
 *                   bit 2: a second run whose sink refuses once it would pass E % (size + 1)
 *                   bytes (exact total only)
 *   control[9..16)  E, 56 bits big-endian
 *
 * The body is checked several times: in one piece, at the seed's split points (pieces of 0 to
 * 70,000 bytes), and byte by byte when it is small. Besides the sanitizers, the target aborts
 * when one of these breaks:
 *   - split independence: every run gives the same result, reason, wraps, blob header and the
 *     same bytes to the sink; a result other than OK is sticky;
 *   - the blob: the sink receives the prefix with wrap_count 0, the core, then the payload, in
 *     order; the wraps are the input's wrap records byte for byte; the library parses the blob
 *     with no wrap, and with the detached wraps added writes back the input's header;
 *   - a refusing sink gives MCD_SEALED_SINK exactly when the blob is longer than it accepts;
 *   - differential: where the library defines the answer, the server agrees with it;
 *   - the share check (mcd_sealed_check_wrap, handlers/shares.c) takes every wrap the upload
 *     check kept, for its own recipient only; and on the body taken as one detached wrap it
 *     agrees with the library's mc_file_add_detached_wrap.
 * Both sides parse the layout with lib/format.c; what this target checks is everything around
 * it: the streaming, the sinks, the signature, and the callers' use of the parser.
 *
 * Intended differences (the server is stricter; API.md §15, FORMAT.md §4):
 *   - wrap_count 0 is refused: the server stores only what someone can open;
 *   - a wrap type other than 1 (RSA-OAEP) is refused: the server must match every wrap to a
 *     user's key, while [MC-WRAP-2] makes a reader skip unknown types.
 * Where the library stops at a truncated header the server may still be waiting (OK) or may
 * have refused for one of the reasons above; nothing else.
 */
#include <medcrypt/container.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/medcryptd/sealed_check.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: invariant broken at line %d: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#define CONTROL_LEN      16
#define BYTE_BY_BYTE_MAX 4096 /* bodies up to this size are also fed one byte at a time */

/* memcmp, for buffers that may be NULL when empty. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t len)
{
	return len == 0 || memcmp(a, b, len) == 0;
}

/* ---- what one run of the checker produced ---- */

struct run {
	mcd_sealed_result fed;  /* result of the last feed */
	mcd_sealed_result done; /* after mcd_sealed_finish */
	char reason[96];
	uint8_t *sink; /* every byte the sink accepted, in order */
	size_t sink_len, sink_cap;
	size_t sink_calls;
	size_t first_call_len; /* the header, handed over in one call */
	uint64_t refuse_after; /* the sink refuses a call that would pass this many bytes */
	bool refused;
	size_t n_wraps;
	bool wraps_done;
	uint8_t *wraps; /* the wraps, concatenated */
	size_t wraps_len;
	uint8_t *header; /* mcd_sealed_header after the last feed */
	size_t header_len;
};

static bool sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct run *r = ctx;
	CHECK(!r->refused); /* after a refusal the checker must not call again */
	if (r->sink_len + len > r->refuse_after) {
		r->refused = true;
		return false;
	}
	if (r->sink_calls++ == 0)
		r->first_call_len = len;
	if (r->sink_len + len > r->sink_cap) {
		size_t cap = r->sink_cap ? r->sink_cap : 4096;
		while (cap < r->sink_len + len)
			cap *= 2;
		uint8_t *grown = realloc(r->sink, cap);
		CHECK(grown != NULL);
		r->sink = grown;
		r->sink_cap = cap;
	}
	if (len)
		memcpy(r->sink + r->sink_len, buf, len);
	r->sink_len += len;
	return true;
}

static void run_free(struct run *r)
{
	free(r->sink);
	free(r->wraps);
	free(r->header);
	memset(r, 0, sizeof *r);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* The next piece: mostly small (the fields are small), sometimes empty, sometimes large. */
static size_t piece_len(uint64_t *s)
{
	uint64_t v = xorshift(s);
	switch (v & 7) {
	case 0: return 0;
	case 1:
	case 2:
	case 3: return 1 + (size_t)((v >> 8) % 16);
	case 4:
	case 5: return 1 + (size_t)((v >> 8) % 400);
	default: return 1 + (size_t)((v >> 8) % 70000);
	}
}

/* Feeds body to a new checker of total bytes: split 0 = one piece, 1 = at the seed's points,
 * 2 = one byte at a time. */
static void run_checker(struct run *r, const uint8_t *body, size_t n, uint64_t total, int split, uint64_t seed,
                        uint64_t refuse_after)
{
	memset(r, 0, sizeof *r);
	r->refuse_after = refuse_after;
	mcd_sealed *s = mcd_sealed_new(total);
	CHECK(s != NULL);
	CHECK(strcmp(mcd_sealed_reason(s), "ok") == 0);
	uint64_t state = seed | 1;
	size_t off = 0;
	mcd_sealed_result prev = MCD_SEALED_OK;
	r->fed = MCD_SEALED_OK;
	do {
		size_t len = split == 0 ? n : split == 2 ? 1 : piece_len(&state);
		if (len > n - off)
			len = n - off;
		/* A piece of its own heap block, so ASan sees any read past its end. */
		uint8_t *piece = malloc(len ? len : 1);
		CHECK(piece != NULL);
		memcpy(piece, body + off, len);
		r->fed = mcd_sealed_feed(s, piece, len, sink, r);
		free(piece);
		CHECK(r->fed == MCD_SEALED_OK || r->fed == MCD_SEALED_BAD || r->fed == MCD_SEALED_SINK);
		if (prev != MCD_SEALED_OK)
			CHECK(r->fed == prev); /* sticky */
		CHECK((r->fed == MCD_SEALED_SINK) == r->refused);
		prev = r->fed;
		off += len;
	} while (off < n);
	r->n_wraps = mcd_sealed_n_wraps(s);
	r->wraps_done = mcd_sealed_wraps_done(s);
	for (size_t i = 0; i < r->n_wraps; i++) {
		size_t wl = 0;
		const uint8_t *w = mcd_sealed_wrap(s, i, &wl);
		mc_format_wrap view;
		CHECK(w != NULL && wl >= FMT_WRAP_FIXED_LEN + FMT_OAEP_MIN_LEN && wl <= FMT_OAEP_WRAP_MAX_LEN);
		CHECK(mc_format_parse_wrap(w, wl, &view, NULL) == MC_FORMAT_OK && view.type == FMT_WRAP_RSA_OAEP);
		CHECK(mcd_sealed_wrap_recipient(s, i) == view.recipient);
		/* what an upload may carry, a share may too, and for that recipient only */
		CHECK(mcd_sealed_check_wrap(w, wl, view.recipient, NULL) == MCD_WRAP_OK);
		uint8_t other[FMT_RECIPIENT_LEN];
		memcpy(other, view.recipient, sizeof other);
		other[0] ^= 1;
		CHECK(mcd_sealed_check_wrap(w, wl, other, NULL) == MCD_WRAP_OTHER_RECIPIENT);
		uint8_t *grown = realloc(r->wraps, r->wraps_len + wl);
		CHECK(grown != NULL);
		r->wraps = grown;
		memcpy(r->wraps + r->wraps_len, w, wl);
		r->wraps_len += wl;
	}
	size_t hl = 0;
	const uint8_t *h = mcd_sealed_header(s, &hl);
	if (hl) {
		r->header = malloc(hl);
		CHECK(r->header != NULL);
		memcpy(r->header, h, hl);
		r->header_len = hl;
	}
	r->done = mcd_sealed_finish(s);
	snprintf(r->reason, sizeof r->reason, "%s", mcd_sealed_reason(s));
	CHECK(r->fed == MCD_SEALED_OK || r->done == r->fed); /* finish keeps an earlier verdict */
	/* A refusal is sticky. (A second finish after OK is not promised by sealed_check.h: for a
	 * signed file it verifies again with a digest already finalized, and says BAD.) */
	if (r->done != MCD_SEALED_OK)
		CHECK(mcd_sealed_finish(s) == r->done);
	if (r->done == MCD_SEALED_OK)
		CHECK(strcmp(mcd_sealed_reason(s), "ok") == 0);
	else if (r->done == MCD_SEALED_BAD)
		CHECK(strcmp(mcd_sealed_reason(s), "ok") != 0);
	/* Feeding after the end changes nothing. */
	if (r->done != MCD_SEALED_OK) {
		uint8_t zero = 0;
		CHECK(mcd_sealed_feed(s, &zero, 1, sink, r) == r->done);
	}
	mcd_sealed_free(s);
}

/* Runs that fed the same bytes with the same total and sink limit agree, however they were cut. */
static void check_same(const struct run *a, const struct run *b, bool same_reason)
{
	CHECK(a->fed == b->fed && a->done == b->done);
	if (!same_reason)
		return;
	CHECK(strcmp(a->reason, b->reason) == 0);
	CHECK(a->sink_len == b->sink_len && same_bytes(a->sink, b->sink, a->sink_len));
	CHECK((a->sink_calls == 0) == (b->sink_calls == 0));
	if (a->sink_calls && b->sink_calls)
		CHECK(a->first_call_len == b->first_call_len);
	CHECK(a->n_wraps == b->n_wraps && a->wraps_done == b->wraps_done);
	CHECK(a->wraps_len == b->wraps_len && same_bytes(a->wraps, b->wraps, a->wraps_len));
	if (a->sink_calls) /* the header is final once handed over */
		CHECK(a->header_len == b->header_len && same_bytes(a->header, b->header, a->header_len));
}

/* ---- the library's view ---- */

static mc_status lib_read(const uint8_t *buf, size_t len, mc_file **f, mc_err *err)
{
	mc_mem_source m = {buf, len};
	return mc_file_read(mc_input_mem(&m), f, err);
}

struct mem_out {
	uint8_t *buf;
	size_t len, cap;
};

static int mem_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct mem_out *m = ctx;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len)
			cap *= 2;
		uint8_t *grown = realloc(m->buf, cap);
		if (!grown)
			return -1;
		m->buf = grown;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

/* The blob the server passed on is a container the library reads, with no wrap; with the
 * server's detached wraps added it has the header of the upload. */
static void check_blob(const struct run *r, const uint8_t *body, size_t header_len, uint64_t total)
{
	mc_err err = {0};
	mc_file *blob = NULL;
	CHECK(lib_read(r->sink, r->sink_len, &blob, &err) == MC_OK);
	CHECK(mc_file_n_wraps(blob) == 0 && mc_file_header_len(blob) == r->first_call_len);
	uint64_t n1, p1, n2, p2;
	mc_err e1 = {0}, e2 = {0};
	mc_file *orig = NULL;
	CHECK(lib_read(body, header_len, &orig, &err) == MC_OK);
	mc_status s1 = mc_file_payload_size(orig, total, &n1, &p1, &e1);
	mc_status s2 = mc_file_payload_size(blob, total - (header_len - r->first_call_len), &n2, &p2, &e2);
	CHECK(s1 == s2 && (s1 != MC_OK || (n1 == n2 && p1 == p2)));
	const uint8_t *w = r->wraps;
	for (size_t i = 0; i < r->n_wraps; i++) {
		mc_format_wrap view;
		CHECK(mc_format_parse_wrap_head(w, &view, NULL) == MC_FORMAT_OK);
		CHECK(mc_file_add_detached_wrap(blob, w, view.len, &err) == MC_OK);
		w += view.len;
	}
	struct mem_out out = {0};
	CHECK(mc_file_write_header(blob, (mc_output){mem_write, &out}, &err) == MC_OK);
	CHECK(out.len == header_len && memcmp(out.buf, body, header_len) == 0);
	free(out.buf);
	mc_file_free(orig);
	mc_file_free(blob);
}

/* The body taken as one detached wrap, as POST .../shares receives it: the share check agrees
 * with the library's mc_file_add_detached_wrap (on a blob with no wrap), apart from the server's
 * RSA-OAEP-only policy. */
static void check_detached(const uint8_t *w, size_t len)
{
	uint8_t blob[FMT_WRAPS_OFF + FMT_CORE_FIXED_LEN + 2 * FMT_SECTION_LEN_LEN + FMT_MAC_LEN] = {0};
	static const uint8_t file_id[FMT_FILE_ID_LEN];
	mc_format_core core = {FMT_CIPHER_CHACHA20_POLY1305, FMT_CHUNK_LOG2, FMT_SIG_NONE, file_id, 0};
	mc_format_put_prefix(blob);
	mc_format_put_core_fixed(blob + FMT_WRAPS_OFF, &core);
	mc_err err = {0};
	mc_file *f = NULL;
	CHECK(lib_read(blob, sizeof blob, &f, &err) == MC_OK && mc_file_n_wraps(f) == 0);
	bool lib_ok = mc_file_add_detached_wrap(f, w, len, &err) == MC_OK;
	unsigned type = 0;
	const uint8_t *fp = lib_ok ? mc_file_wrap_recipient(f, 0, &type) : NULL;
	static const uint8_t nobody[FMT_RECIPIENT_LEN];
	const char *why = NULL;
	mcd_wrap_check c = mcd_sealed_check_wrap(w, len, fp ? fp : nobody, &why);
	if (lib_ok && type == FMT_WRAP_RSA_OAEP) {
		CHECK(c == MCD_WRAP_OK && why == NULL);
	} else {
		if (c != MCD_WRAP_BAD)
			fprintf(stderr, "fuzz_sealed_check: the library %s the wrap (%s), the share check %d\n",
			        lib_ok ? "takes" : "refuses", lib_ok ? "" : err.msg, c);
		CHECK(c == MCD_WRAP_BAD && why != NULL);
	}
	mc_file_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < CONTROL_LEN)
		return 0;
	uint64_t seed = 0, extra = 0;
	for (int i = 0; i < 8; i++)
		seed = seed << 8 | data[i];
	for (int i = 9; i < 16; i++)
		extra = extra << 8 | data[i];
	unsigned total_mode = data[8] & 3;
	bool refusing = (data[8] & 4) != 0;
	const uint8_t *body = data + CONTROL_LEN;
	size_t n = size - CONTROL_LEN;
	uint64_t total = n;
	if (total_mode == 1)
		total = (uint64_t)n + extra;
	else if (total_mode == 2)
		total = n ? (uint64_t)n - 1 - extra % n : 0;
	bool longer = total < n; /* the body runs past its Content-Length */
	check_detached(body, n);

	/* ---- split independence ---- */
	struct run one, cut, bytes = {0};
	run_checker(&one, body, n, total, 0, 0, UINT64_MAX);
	run_checker(&cut, body, n, total, 1, seed, UINT64_MAX);
	check_same(&one, &cut, !longer);
	if (n <= BYTE_BY_BYTE_MAX) {
		run_checker(&bytes, body, n, total, 2, 0, UINT64_MAX);
		check_same(&one, &bytes, !longer);
		run_free(&bytes);
	}
	run_free(&cut);
	if (longer) {
		/* Refused, whatever the bytes: never more than total bytes reach the sink. */
		CHECK(one.done == MCD_SEALED_BAD);
		run_checker(&cut, body, n, total, 1, seed, UINT64_MAX);
		CHECK(cut.done == MCD_SEALED_BAD && cut.sink_len <= total);
		run_free(&cut);
		run_free(&one);
		return 0;
	}
	CHECK(one.sink_len <= total);
	if (total > n && one.fed == MCD_SEALED_OK)
		CHECK(one.done == MCD_SEALED_BAD && strcmp(one.reason, "truncated") == 0);

	/* ---- a sink that refuses ---- */
	if (refusing && total_mode != 1) {
		uint64_t limit = extra % ((uint64_t)n + 1);
		struct run lim;
		run_checker(&lim, body, n, total, 1, seed ^ 0x5eed, limit);
		if (one.sink_len > limit) {
			CHECK(lim.fed == MCD_SEALED_SINK && lim.done == MCD_SEALED_SINK);
			CHECK(lim.sink_len <= limit && same_bytes(lim.sink, one.sink, lim.sink_len));
		} else {
			check_same(&one, &lim, true);
		}
		run_free(&lim);
	}

	/* ---- the blob's layout, from the input alone ---- */
	bool header_out = one.sink_calls > 0;
	size_t wraps_end = FMT_WRAPS_OFF + one.wraps_len;
	size_t header_len = 0;
	if (header_out) {
		size_t count = 0;
		CHECK(one.wraps_done && n >= FMT_WRAPS_OFF && one.first_call_len == one.header_len);
		CHECK(mc_format_parse_wrap_count(body + FMT_PREFIX_LEN, &count, NULL) == MC_FORMAT_OK &&
		      one.n_wraps == count);
		header_len = wraps_end + one.header_len - FMT_WRAPS_OFF;
		CHECK(header_len <= n);
		CHECK(memcmp(one.header, body, FMT_PREFIX_LEN) == 0 && one.header[FMT_PREFIX_LEN] == 0 &&
		      one.header[FMT_PREFIX_LEN + 1] == 0);
		CHECK(same_bytes(one.wraps, body + FMT_WRAPS_OFF, one.wraps_len));
		CHECK(memcmp(one.header + FMT_WRAPS_OFF, body + wraps_end, one.header_len - FMT_WRAPS_OFF) == 0);
		CHECK(one.sink_len == one.header_len + (n - header_len));
		CHECK(same_bytes(one.sink + one.header_len, body + header_len, n - header_len));
	} else {
		CHECK(one.sink_len == 0);
	}

	/* ---- differential: the library's parse ---- */
	mc_err err = {0};
	mc_file *f = NULL;
	mc_status st = lib_read(body, n, &f, &err);
	if (st == MC_OK) {
		bool all_oaep = true;
		for (size_t i = 0; i < mc_file_n_wraps(f); i++) {
			unsigned type = 0;
			mc_file_wrap_recipient(f, i, &type);
			all_oaep = all_oaep && type == 1;
		}
		if (mc_file_n_wraps(f) == 0) {
			CHECK(one.fed == MCD_SEALED_BAD && strcmp(one.reason, "no wrap") == 0);
		} else if (!all_oaep) {
			CHECK(one.fed == MCD_SEALED_BAD && strcmp(one.reason, "wrap type other than RSA-OAEP") == 0);
		} else {
			/* The same header, the same wraps. */
			CHECK(header_out || one.fed == MCD_SEALED_BAD);
			CHECK(one.n_wraps == mc_file_n_wraps(f) && (one.wraps_done || one.fed == MCD_SEALED_BAD));
			uint64_t chunks = 0, pt_len = 0;
			mc_err perr = {0};
			bool lib_ok = mc_file_payload_size(f, total, &chunks, &pt_len, &perr) == MC_OK;
			/* A signed file whose every byte arrived: the signature, checked by both without a
			 * key (the server at finish, the library with mc_file_verify_payload). */
			bool sig_ok = true;
			if (lib_ok && total == n && mc_file_sig_alg(f) != MC_SIG_NONE) {
				mc_mem_source m = {body, n};
				mc_file *again = NULL;
				mc_payload_info info;
				mc_open_params params = {.threads = 1};
				CHECK(mc_file_read(mc_input_mem(&m), &again, &err) == MC_OK);
				sig_ok =
				    mc_file_verify_payload(again, mc_input_mem(&m), &params, &info, &perr) == MC_OK;
				mc_file_free(again);
			}
			/* The verdict on everything that arrived: after finish when it all did, else after
			 * the last feed (finish then says truncated, checked above). */
			bool server_ok = (total == n ? one.done : one.fed) == MCD_SEALED_OK;
			bool lib_says = lib_ok && sig_ok;
			if (server_ok)
				CHECK(header_out && header_len == mc_file_header_len(f));
			if (server_ok != lib_says) {
				fprintf(stderr,
				        "fuzz_sealed_check: server says %s (%s), library says %s (%s), total %llu, "
				        "header %zu, sig %zu, chunks %llu\n",
				        server_ok ? "ok" : "bad", one.reason, lib_says ? "ok" : "bad",
				        lib_says ? "" : perr.msg, (unsigned long long)total, mc_file_header_len(f),
				        mc_file_sig_len(f), (unsigned long long)chunks);
				CHECK(server_ok == lib_says);
			}
			if (server_ok && total == n)
				check_blob(&one, body, header_len, total);
		}
		/* Recipients, in order. */
		if (header_out)
			for (size_t i = 0, off = 0; i < one.n_wraps; i++) {
				mc_format_wrap view;
				CHECK(mc_format_parse_wrap_head(one.wraps + off, &view, NULL) == MC_FORMAT_OK);
				CHECK(memcmp(mc_file_wrap_recipient(f, i, NULL), view.recipient, FMT_RECIPIENT_LEN) ==
				      0);
				off += view.len;
			}
		mc_file_free(f);
	} else if (st != MC_ERR_NOMEM && n >= FMT_WRAPS_OFF) {
		/* Nothing the library refuses gets past the server's header check. */
		CHECK(!header_out);
		if (!strstr(err.msg, "truncated")) {
			if (one.fed != MCD_SEALED_BAD)
				fprintf(stderr, "fuzz_sealed_check: the library refuses (%s), the server does not\n",
				        err.msg);
			CHECK(one.fed == MCD_SEALED_BAD);
		} else if (one.fed == MCD_SEALED_BAD) {
			/* The library saw valid fields up to the end: only the intended differences. */
			if (strcmp(one.reason, "no wrap") != 0 &&
			    strcmp(one.reason, "wrap type other than RSA-OAEP") != 0)
				fprintf(stderr,
				        "fuzz_sealed_check: the server refuses (%s) a header the library reads up to "
				        "its end\n",
				        one.reason);
			CHECK(strcmp(one.reason, "no wrap") == 0 ||
			      strcmp(one.reason, "wrap type other than RSA-OAEP") == 0);
		}
	}
	run_free(&one);
	return 0;
}
