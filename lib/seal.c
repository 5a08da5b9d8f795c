/*
 * seal.c: writing a container (docs/FORMAT.md): a fresh file key and file id, the wraps, the
 * core with its encrypted sections and MAC, the chunk stream, and the signature.
 */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Appends to a growing buffer; the core is at most about 9 MiB. */
struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static uint8_t *buf_grow(struct buf *b, size_t len)
{
	if (b->oom)
		return NULL;
	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	uint8_t *at = b->p + b->len;
	b->len += len;
	return at;
}

static void buf_put(struct buf *b, const void *data, size_t len)
{
	uint8_t *at = buf_grow(b, len);
	if (at && len)
		memcpy(at, data, len);
}

/* Appends len(u32) || AEAD(section) under the key for label, or a zero length. */
static mc_status put_section(struct buf *core, const mc_seal_params *p, const uint8_t file_key[FMT_KEY_LEN],
                             const uint8_t file_id[FMT_FILE_ID_LEN], const char *label, const uint8_t *pt, size_t len,
                             mc_err *err)
{
	uint8_t lenbuf[FMT_SECTION_LEN_LEN], key[FMT_KEY_LEN];
	size_t ct_len = pt ? len + FMT_TAG_LEN : 0;
	mc_format_put_section_len(lenbuf, (uint32_t)ct_len);
	buf_put(core, lenbuf, sizeof lenbuf);
	if (!pt)
		return MC_OK;
	uint8_t *at = buf_grow(core, ct_len);
	if (!at)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_status st = mc_hkdf(file_key, file_id, label, p->cipher, key, err);
	if (st == MC_OK)
		st = mc_aead_once(p->cipher, key, 1, pt, len, at, err);
	mc_wipe(key, sizeof key);
	return st;
}

static mc_status check_params(const mc_seal_params *p, mc_err *err)
{
	if (!p || !p->recipients || p->n_recipients == 0)
		return mc_fail(err, MC_ERR_MISUSE, "at least one recipient is needed");
	if (p->n_recipients > MC_MAX_RECIPIENTS)
		return mc_fail(err, MC_ERR_MISUSE, "at most %u recipients", MC_MAX_RECIPIENTS);
	if (!mc_aead_cipher(p->cipher))
		return mc_fail(err, MC_ERR_MISUSE, "unknown cipher");
	for (size_t i = 0; i < p->n_recipients; i++) {
		if (!p->recipients[i])
			return mc_fail(err, MC_ERR_MISUSE, "recipient %zu is missing", i);
		for (size_t j = 0; j < i; j++)
			if (memcmp(mc_pubkey_fp(p->recipients[i]), mc_pubkey_fp(p->recipients[j]), MC_FP_LEN) == 0)
				return mc_fail(err, MC_ERR_MISUSE, "the same recipient is given twice");
	}
	if (p->signer && !mc_identity_has_sign(p->signer))
		return mc_fail(err, MC_ERR_MISUSE, "the signer's identity was loaded without its signing key");
	if ((p->signer_public != NULL) != (p->signer_wait != NULL) || (p->signer && p->signer_public))
		return mc_fail(err, MC_ERR_MISUSE, "give either signer, or signer_public with signer_wait");
	if (p->signer_public && mc_pubkey_sig_alg(p->signer_public) == MC_SIG_NONE)
		return mc_fail(err, MC_ERR_MISUSE, "signer_public is not a signing key");
	if (p->metadata && p->metadata_len > MC_MAX_METADATA)
		return mc_fail(err, MC_ERR_MISUSE, "metadata is larger than %u bytes", MC_MAX_METADATA);
	if (p->preview && p->preview_len > MC_MAX_PREVIEW)
		return mc_fail(err, MC_ERR_MISUSE, "the preview is larger than %u bytes", MC_MAX_PREVIEW);
	return MC_OK;
}

/* tmp holds each fixed field in turn: the wrap count and head, a fingerprint, the core's fixed part */
_Static_assert(FMT_WRAP_FIXED_LEN <= FMT_CORE_FIXED_LEN && MC_FP_LEN <= FMT_CORE_FIXED_LEN, "tmp too small");

mc_status mc_seal(const mc_seal_params *params, mc_input in, mc_output out, mc_err *err)
{
	mc_seal_params p;
	uint8_t file_key[FMT_KEY_LEN], file_id[FMT_FILE_ID_LEN], hkey[FMT_KEY_LEN], payload_key[FMT_KEY_LEN];
	uint8_t prefix[FMT_PREFIX_LEN], hdr_digest[32], msg[FMT_SIG_MSG_LEN], sig[1024], tmp[FMT_CORE_FIXED_LEN];
	struct buf core = {0}, wraps = {0};
	uint8_t *spki = NULL;
	size_t spki_len = 0, siglen = 0;
	mc_stream_result res;
	mc_status st;

	memset(&res, 0, sizeof res);
	if (params && params->cipher == 0) {
		p = *params;
		p.cipher = MC_CIPHER_CHACHA20_POLY1305;
		params = &p;
	}
	if ((st = check_params(params, err)) != MC_OK)
		return st;
	p = *params;
	EVP_PKEY *sign_key = p.signer ? mc_identity_sign_key(p.signer) : NULL;
	mc_sig_alg sig_alg = p.signer ? mc_identity_sig_alg(p.signer) : MC_SIG_NONE;
	if (p.signer_public)
		sig_alg = mc_pubkey_sig_alg(p.signer_public);
	bool signing = sig_alg != MC_SIG_NONE;

	/* [MC-KDF-1], [MC-CORE-3] */
	if (RAND_priv_bytes(file_key, sizeof file_key) != 1 || RAND_bytes(file_id, sizeof file_id) != 1)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "the random generator failed");

	/* every field through the writers of lib/format.c, which the readers share */
	mc_format_put_prefix(prefix);

	/* §4 wraps */
	mc_format_put_wrap_count(tmp, (uint16_t)p.n_recipients);
	buf_put(&wraps, tmp, FMT_WRAP_COUNT_LEN);
	for (size_t i = 0; i < p.n_recipients; i++) {
		uint8_t *w = NULL;
		size_t wlen = 0;
		if ((st = mc_oaep_wrap(mc_pubkey_evp(p.recipients[i]), file_key, &w, &wlen, err)) != MC_OK)
			goto cleanup;
		mc_format_put_wrap_head(tmp, FMT_WRAP_RSA_OAEP, mc_pubkey_fp(p.recipients[i]), (uint16_t)wlen);
		buf_put(&wraps, tmp, FMT_WRAP_FIXED_LEN);
		buf_put(&wraps, w, wlen);
		free(w);
	}

	/* §5 core, MAC input = prefix || core_without_mac */
	buf_put(&core, prefix, FMT_PREFIX_LEN);
	if (sign_key && (st = mc_spki_fp(sign_key, tmp, &spki, &spki_len, err)) != MC_OK)
		goto cleanup;
	if (p.signer_public) {
		size_t len = 0;
		const uint8_t *der = mc_pubkey_spki(p.signer_public, &len);
		if (!(spki = malloc(len))) {
			st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(spki, der, len);
		spki_len = len;
	}
	mc_format_core fixed = {.cipher = (unsigned)p.cipher,
	                        .chunk_log2 = FMT_CHUNK_LOG2,
	                        .sig_alg = (unsigned)sig_alg,
	                        .file_id = file_id,
	                        .signer_len = spki_len};
	mc_format_put_core_fixed(tmp, &fixed);
	buf_put(&core, tmp, FMT_CORE_FIXED_LEN);
	buf_put(&core, spki, spki_len);
	if ((st = put_section(&core, &p, file_key, file_id, FMT_INFO_META, p.metadata, p.metadata_len, err)) != MC_OK ||
	    (st = put_section(&core, &p, file_key, file_id, FMT_INFO_PREVIEW, p.preview, p.preview_len, err)) != MC_OK)
		goto cleanup;
	if (core.oom || wraps.oom) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	uint8_t mac[FMT_MAC_LEN];
	if ((st = mc_hkdf(file_key, file_id, FMT_INFO_HEADER, p.cipher, hkey, err)) != MC_OK ||
	    (st = mc_hmac(hkey, core.p, core.len, mac, err)) != MC_OK)
		goto cleanup;
	buf_put(&core, mac, sizeof mac);
	if (core.oom) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}

	/* prefix, wraps, core */
	if ((st = mc_write(out, core.p, FMT_PREFIX_LEN, err)) != MC_OK ||
	    (st = mc_write(out, wraps.p, wraps.len, err)) != MC_OK ||
	    (st = mc_write(out, core.p + FMT_PREFIX_LEN, core.len - FMT_PREFIX_LEN, err)) != MC_OK)
		goto cleanup;

	/* §7 payload */
	if ((st = mc_hkdf(file_key, file_id, FMT_INFO_PAYLOAD, p.cipher, payload_key, err)) != MC_OK)
		goto cleanup;
	mc_stream_params sp = {.cipher = p.cipher,
	                       .key = payload_key,
	                       .encrypt = 1,
	                       .hash = signing,
	                       .threads = p.threads,
	                       .progress = p.progress,
	                       .progress_ctx = p.progress_ctx};
	if ((st = mc_stream_run(&sp, in, &out, &res, err)) != MC_OK)
		goto cleanup;

	/* §8 signature; a deferred signer arrives now and must be the one the header names */
	if (p.signer_public) {
		const mc_identity *late = NULL;
		if ((st = p.signer_wait(p.signer_wait_ctx, &late, err)) != MC_OK)
			goto cleanup;
		if (!mc_identity_has_sign(late) ||
		    !mc_ct_equal(mc_identity_sign_fp(late), mc_pubkey_fp(p.signer_public), MC_FP_LEN)) {
			st = mc_fail(err, MC_ERR_KEY, "the signing key does not match the public key the header names");
			goto cleanup;
		}
		sign_key = mc_identity_sign_key(late);
	}
	if (signing) {
		if ((st = mc_sha256(core.p, core.len, hdr_digest, err)) != MC_OK)
			goto cleanup;
		mc_sig_message(hdr_digest, res.n_chunks, res.payload_digest, msg);
		siglen = sizeof sig;
		if ((st = mc_sign(sign_key, sig_alg, msg, sizeof msg, sig, &siglen, err)) != MC_OK)
			goto cleanup;
		if (siglen != mc_sig_len_for(sign_key, sig_alg)) {
			st = mc_fail(err, MC_ERR_CRYPTO, "unexpected signature length");
			goto cleanup;
		}
		st = mc_write(out, sig, siglen, err);
	}
cleanup:
	mc_wipe(file_key, sizeof file_key);
	mc_wipe(hkey, sizeof hkey);
	mc_wipe(payload_key, sizeof payload_key);
	mc_wipe(&res, sizeof res);
	free(core.p);
	free(wraps.p);
	free(spki);
	return st;
}
