/*
 * format.c: the one parser and writer of the container fields that need no key (format.h):
 * the prefix (FORMAT.md §3), the wraps (§4), the fixed part and the section lengths of the core
 * (§5), the payload's chunk arithmetic (§7) and the layout of the signed message (§8). Every
 * field is read with an explicit big-endian load at the offset format.h gives it, and every
 * limit is the one format.h defines, so a change of layout is made in format.h alone.
 *
 * No crypto and no allocation: the server links this file (the static library mcformat) to
 * check uploads and shares without linking anything that can decrypt.
 */
#include "format.h"

#include <string.h>

static uint32_t load16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void store32(uint8_t *p, uint32_t v)
{
	store16(p, (uint16_t)(v >> 16));
	store16(p + 2, (uint16_t)v);
}

static mc_format_verdict fail(mc_format_verdict v, const char *reason, const char **why)
{
	if (why)
		*why = reason;
	return v;
}

static mc_format_verdict ok(const char **why)
{
	if (why)
		*why = NULL;
	return MC_FORMAT_OK;
}

mc_format_verdict mc_format_parse_prefix(const uint8_t *p, size_t len, unsigned *version, const char **why)
{
	if (len < FMT_MAGIC_LEN || memcmp(p, FMT_MAGIC, FMT_MAGIC_LEN) != 0) /* [MC-PRE-1] */
		return fail(MC_FORMAT_HEADER, "not a medcrypt file (bad magic)", why);
	if (len < FMT_PREFIX_LEN)
		return fail(MC_FORMAT_HEADER, "the header is truncated (in the prefix)", why);
	if (version)
		*version = p[FMT_VERSION_OFF];
	if (p[FMT_VERSION_OFF] != FMT_VERSION) /* [MC-PRE-2] */
		return fail(MC_FORMAT_UNSUPPORTED, "the container version is not supported (this reader knows 1)", why);
	return ok(why);
}

mc_format_verdict mc_format_parse_wrap_count(const uint8_t p[FMT_WRAP_COUNT_LEN], size_t *count, const char **why)
{
	*count = load16(p);
	if (*count > FMT_MAX_WRAPS) /* [MC-WRAP-1] */
		return fail(MC_FORMAT_HEADER, "more than 1024 wraps", why);
	return ok(why);
}

mc_format_verdict mc_format_parse_wrap_head(const uint8_t p[FMT_WRAP_FIXED_LEN], mc_format_wrap *w, const char **why)
{
	w->type = p[FMT_WRAP_TYPE_OFF];
	w->recipient = p + FMT_WRAP_RECIPIENT_OFF;
	w->body_len = load16(p + FMT_WRAP_LEN_OFF);
	w->body = NULL;
	w->len = FMT_WRAP_FIXED_LEN + w->body_len;
	/* [MC-WRAP-2]: a type-1 wrap is as long as a 3072..8192-bit modulus; unknown types are
	 * skipped by a reader, whatever their length. */
	if (w->type == FMT_WRAP_RSA_OAEP && (w->body_len < FMT_OAEP_MIN_LEN || w->body_len > FMT_OAEP_MAX_LEN))
		return fail(MC_FORMAT_HEADER, "an RSA-OAEP wrap's length does not fit a 3072..8192-bit key", why);
	return ok(why);
}

mc_format_verdict mc_format_parse_wrap(const uint8_t *p, size_t len, mc_format_wrap *w, const char **why)
{
	memset(w, 0, sizeof *w);
	if (len < FMT_WRAP_FIXED_LEN)
		return fail(MC_FORMAT_HEADER, "the wrap is truncated", why);
	mc_format_verdict v = mc_format_parse_wrap_head(p, w, why);
	if (v != MC_FORMAT_OK)
		return v;
	if (len < w->len)
		return fail(MC_FORMAT_HEADER, "the wrap is truncated", why);
	if (len > w->len)
		return fail(MC_FORMAT_HEADER, "trailing bytes after the wrap", why);
	w->body = p + FMT_WRAP_FIXED_LEN;
	return ok(why);
}

bool mc_format_wraps_conflict(const mc_format_wrap *a, const mc_format_wrap *b)
{
	/* [MC-WRAP-4] holds for unknown types too: it needs only these two fields. */
	return a->type == b->type && memcmp(a->recipient, b->recipient, FMT_RECIPIENT_LEN) == 0;
}

mc_format_verdict mc_format_parse_core_fixed(const uint8_t p[FMT_CORE_FIXED_LEN], mc_format_core *c, const char **why)
{
	c->cipher = p[FMT_CORE_CIPHER_OFF];
	c->chunk_log2 = p[FMT_CORE_CHUNK_LOG2_OFF];
	c->file_id = p + FMT_CORE_FILE_ID_OFF;
	c->sig_alg = p[FMT_CORE_SIG_ALG_OFF];
	c->signer_len = load16(p + FMT_CORE_SIGNER_LEN_OFF);
	if (c->cipher != FMT_CIPHER_CHACHA20_POLY1305 && c->cipher != FMT_CIPHER_AES_256_GCM) /* [MC-CORE-1] */
		return fail(MC_FORMAT_UNSUPPORTED, "the cipher is not supported", why);
	if (c->chunk_log2 != FMT_CHUNK_LOG2) /* [MC-CORE-2] */
		return fail(MC_FORMAT_UNSUPPORTED, "the chunk size is not supported", why);
	if (c->sig_alg != FMT_SIG_NONE && c->sig_alg != FMT_SIG_ED25519 && c->sig_alg != FMT_SIG_RSA_PSS)
		return fail(MC_FORMAT_UNSUPPORTED, "the signature algorithm is not supported", why); /* [MC-CORE-4] */
	if ((c->sig_alg == FMT_SIG_NONE) != (c->signer_len == 0) || c->signer_len > FMT_MAX_SIGNER_LEN)
		return fail(MC_FORMAT_HEADER, "the signer field does not match the signature algorithm", why);
	return ok(why);
}

mc_format_verdict mc_format_parse_section_len(const uint8_t p[FMT_SECTION_LEN_LEN], mc_format_section section,
                                              size_t *len, const char **why)
{
	uint32_t n = load32(p);
	uint32_t limit = section == MC_FORMAT_META ? FMT_MAX_META : FMT_MAX_PREVIEW;
	*len = n;
	if (n != 0 && (n < FMT_TAG_LEN || n > limit + FMT_TAG_LEN)) /* [MC-CORE-5], [MC-CORE-6] */
		return fail(MC_FORMAT_HEADER,
		            section == MC_FORMAT_META ? "the metadata section has an invalid length"
		                                      : "the preview section has an invalid length",
		            why);
	return ok(why);
}

mc_format_verdict mc_format_payload_layout(uint64_t after_header, uint64_t sig_len, mc_format_payload *out,
                                           const char **why)
{
	memset(out, 0, sizeof *out);
	/* [MC-PAY-3], [MC-PAY-4]: at least the one chunk of the empty plaintext, then the signature */
	if (after_header < sig_len || after_header - sig_len < FMT_TAG_LEN)
		return fail(MC_FORMAT_PAYLOAD, "the file is truncated: no payload", why);
	uint64_t chunks_len = after_header - sig_len;
	uint64_t n = chunks_len / FMT_CHUNK_CT + (chunks_len % FMT_CHUNK_CT != 0);
	uint64_t last = chunks_len - (n - 1) * FMT_CHUNK_CT;
	if (last < FMT_TAG_LEN) /* [MC-PAY-2] */
		return fail(MC_FORMAT_PAYLOAD, "the final chunk is shorter than a tag", why);
	if (n > 1 && last == FMT_TAG_LEN) /* [MC-PAY-1], [MC-PAY-4] */
		return fail(MC_FORMAT_PAYLOAD, "an empty final chunk after a full one", why);
	if (n > FMT_MAX_CHUNKS) /* [MC-PAY-6] */
		return fail(MC_FORMAT_PAYLOAD, "more than 2^32 - 1 chunks", why);
	out->n_chunks = n;
	out->chunks_len = chunks_len;
	out->last_len = last;
	out->plaintext_len = chunks_len - n * FMT_TAG_LEN;
	return ok(why);
}

void mc_format_put_prefix(uint8_t out[FMT_PREFIX_LEN])
{
	memcpy(out, FMT_MAGIC, FMT_MAGIC_LEN);
	out[FMT_VERSION_OFF] = FMT_VERSION;
}

void mc_format_put_wrap_count(uint8_t out[FMT_WRAP_COUNT_LEN], uint16_t count)
{
	store16(out, count);
}

void mc_format_put_wrap_head(uint8_t out[FMT_WRAP_FIXED_LEN], uint8_t type, const uint8_t recipient[FMT_RECIPIENT_LEN],
                             uint16_t body_len)
{
	out[FMT_WRAP_TYPE_OFF] = type;
	memcpy(out + FMT_WRAP_RECIPIENT_OFF, recipient, FMT_RECIPIENT_LEN);
	store16(out + FMT_WRAP_LEN_OFF, body_len);
}

void mc_format_put_core_fixed(uint8_t out[FMT_CORE_FIXED_LEN], const mc_format_core *c)
{
	out[FMT_CORE_CIPHER_OFF] = (uint8_t)c->cipher;
	out[FMT_CORE_CHUNK_LOG2_OFF] = (uint8_t)c->chunk_log2;
	memcpy(out + FMT_CORE_FILE_ID_OFF, c->file_id, FMT_FILE_ID_LEN);
	out[FMT_CORE_SIG_ALG_OFF] = (uint8_t)c->sig_alg;
	store16(out + FMT_CORE_SIGNER_LEN_OFF, (uint16_t)c->signer_len);
}

void mc_format_put_section_len(uint8_t out[FMT_SECTION_LEN_LEN], uint32_t len)
{
	store32(out, len);
}

void mc_format_sig_message(const uint8_t header_digest[FMT_DIGEST_LEN], uint64_t n_chunks,
                           const uint8_t payload_digest[FMT_DIGEST_LEN], uint8_t msg[FMT_SIG_MSG_LEN])
{
	uint8_t *p = msg;
	memcpy(p, FMT_SIG_CONTEXT, FMT_SIG_CONTEXT_LEN); /* the literal's terminating zero is the 00 byte */
	p += FMT_SIG_CONTEXT_LEN;
	memcpy(p, header_digest, FMT_DIGEST_LEN);
	p += FMT_DIGEST_LEN;
	store32(p, (uint32_t)(n_chunks >> 32));
	store32(p + 4, (uint32_t)n_chunks);
	p += 8;
	memcpy(p, payload_digest, FMT_DIGEST_LEN);
}
