/*
 * file.c: reading, unlocking and rewriting a container's header (docs/FORMAT.md §3–6), and
 * the payload readers built on it: the streaming open with signature check (§7–8), the
 * key-less signature verification, and random access to one chunk.
 *
 * Parsing reads field by field with explicit big-endian loads and checks every length against
 * the limits of §10 before it allocates.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct wrap {
	uint8_t type;
	uint8_t recipient[32];
	uint16_t len;
	uint8_t *body;
};

struct mc_file {
	uint8_t prefix[FMT_PREFIX_LEN];
	struct wrap *wraps;
	size_t n_wraps;
	uint8_t *core; /* the core as read, header_mac included */
	size_t core_len;
	size_t header_len; /* prefix + wraps + core as read: where the payload starts */
	mc_cipher cipher;
	const uint8_t *file_id;
	mc_sig_alg sig_alg;
	mc_pubkey *signer;
	size_t meta_off, meta_len, preview_off, preview_len; /* ciphertext spans in core */
	bool unlocked;
	uint8_t file_key[FMT_KEY_LEN];
	uint8_t payload_key[FMT_KEY_LEN];
	uint8_t *meta_pt, *preview_pt; /* decrypted at unlock */
};

void mc_file_free(mc_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_wraps; i++)
		free(f->wraps[i].body);
	free(f->wraps);
	free(f->core);
	mc_pubkey_free(f->signer);
	mc_buf_free(f->meta_pt, f->meta_len ? f->meta_len - FMT_TAG_LEN : 0);
	mc_buf_free(f->preview_pt, f->preview_len ? f->preview_len - FMT_TAG_LEN : 0);
	mc_wipe(f->file_key, sizeof f->file_key);
	mc_wipe(f->payload_key, sizeof f->payload_key);
	free(f);
}

/* Reads exactly len bytes or reports a truncated header. */
static mc_status need(mc_input in, uint8_t *buf, size_t len, const char *what, mc_err *err)
{
	size_t got = 0;
	mc_status st = mc_read_full(in, buf, len, &got, err);
	if (st == MC_OK && got < len)
		st = mc_fail(err, MC_ERR_HEADER, "the header is truncated (in %s)", what);
	return st;
}

/* Grows the core buffer by len bytes read from in; returns a pointer to them. */
static mc_status core_read(mc_file *f, mc_input in, size_t len, const char *what, size_t *off, mc_err *err)
{
	uint8_t *grown = realloc(f->core, f->core_len + len + 1);
	if (!grown)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	f->core = grown;
	*off = f->core_len;
	mc_status st = need(in, f->core + f->core_len, len, what, err);
	if (st == MC_OK)
		f->core_len += len;
	return st;
}

static bool has_recipient(const mc_file *f, uint8_t type, const uint8_t fp[32])
{
	for (size_t i = 0; i < f->n_wraps; i++)
		if (f->wraps[i].type == type && memcmp(f->wraps[i].recipient, fp, 32) == 0)
			return true;
	return false;
}

/* Parses one wrap's fixed part and body (FORMAT.md §4) and appends it. */
static mc_status read_wrap(mc_file *f, mc_input in, mc_err *err)
{
	uint8_t fixed[FMT_WRAP_FIXED_LEN];
	mc_status st = need(in, fixed, sizeof fixed, "a wrap", err);
	if (st != MC_OK)
		return st;
	struct wrap w = {.type = fixed[0], .len = ld16(fixed + 33)};
	memcpy(w.recipient, fixed + 1, 32);
	if (w.type == FMT_WRAP_RSA_OAEP && (w.len < MC_RSA_MIN_BITS / 8 || w.len > MC_RSA_MAX_BITS / 8))
		return mc_fail(err, MC_ERR_HEADER, "an RSA-OAEP wrap of %u bytes does not fit a 3072..8192-bit key",
		               w.len);
	if (has_recipient(f, w.type, w.recipient)) /* [MC-WRAP-4] */
		return mc_fail(err, MC_ERR_HEADER, "two wraps name the same recipient");
	if (!(w.body = malloc(w.len + 1u)))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if ((st = need(in, w.body, w.len, "a wrap", err)) != MC_OK) {
		free(w.body);
		return st;
	}
	f->wraps[f->n_wraps++] = w;
	return MC_OK;
}

mc_status mc_file_read(mc_input in, mc_file **out, mc_err *err)
{
	uint8_t buf[4];
	size_t off;
	mc_status st;
	*out = NULL;
	mc_file *f = calloc(1, sizeof *f);
	if (!f)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");

	/* §3 prefix */
	size_t got = 0;
	if ((st = mc_read_full(in, f->prefix, FMT_PREFIX_LEN, &got, err)) != MC_OK)
		goto fail;
	if (got < FMT_MAGIC_LEN || memcmp(f->prefix, FMT_MAGIC, FMT_MAGIC_LEN) != 0) { /* [MC-PRE-1] */
		st = mc_fail(err, MC_ERR_HEADER, "not a medcrypt file (bad magic)");
		goto fail;
	}
	if (got < FMT_PREFIX_LEN) {
		st = mc_fail(err, MC_ERR_HEADER, "the header is truncated (in the prefix)");
		goto fail;
	}
	if (f->prefix[8] != FMT_VERSION) { /* [MC-PRE-2] */
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "container version %u is not supported (this reader knows 1)",
		             f->prefix[8]);
		goto fail;
	}

	/* §4 wraps */
	if ((st = need(in, buf, 2, "the wrap count", err)) != MC_OK)
		goto fail;
	size_t n_wraps = ld16(buf);
	if (n_wraps > FMT_MAX_WRAPS) { /* [MC-WRAP-1] */
		st = mc_fail(err, MC_ERR_HEADER, "%zu wraps: more than the limit of %d", n_wraps, FMT_MAX_WRAPS);
		goto fail;
	}
	f->wraps = calloc(FMT_MAX_WRAPS, sizeof *f->wraps);
	if (!f->wraps) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n_wraps; i++)
		if ((st = read_wrap(f, in, err)) != MC_OK)
			goto fail;

	/* §5 core */
	if ((st = core_read(f, in, 37, "the core", &off, err)) != MC_OK)
		goto fail;
	const uint8_t *c = f->core;
	f->cipher = (mc_cipher)c[0];
	if (!mc_aead_cipher(f->cipher)) { /* [MC-CORE-1] */
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "cipher %u is not supported", c[0]);
		goto fail;
	}
	if (c[1] != FMT_CHUNK_LOG2) { /* [MC-CORE-2] */
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "chunk size 2^%u is not supported", c[1]);
		goto fail;
	}
	f->sig_alg = (mc_sig_alg)c[34];
	size_t signer_len = ld16(c + 35);
	if (f->sig_alg != MC_SIG_NONE && f->sig_alg != MC_SIG_ED25519 && f->sig_alg != MC_SIG_RSA_PSS) {
		st = mc_fail(err, MC_ERR_UNSUPPORTED, "signature algorithm %u is not supported", c[34]);
		goto fail;
	}
	/* [MC-CORE-4] */
	if ((f->sig_alg == MC_SIG_NONE) != (signer_len == 0) || signer_len > FMT_MAX_SIGNER_LEN) {
		st = mc_fail(err, MC_ERR_HEADER, "the signer field does not match the signature algorithm");
		goto fail;
	}
	if (signer_len) {
		if ((st = core_read(f, in, signer_len, "the signer key", &off, err)) != MC_OK)
			goto fail;
		mc_err kerr;
		if (mc_pubkey_from_spki(f->core + off, signer_len, MC_ROLE_SIGNER, &f->signer, &kerr) != MC_OK ||
		    mc_pubkey_sig_alg(f->signer) != f->sig_alg) {
			st = mc_fail(err, MC_ERR_HEADER, "the signer key is invalid or does not match the algorithm");
			goto fail;
		}
	}
	/* [MC-CORE-5], [MC-CORE-6] */
	for (int section = 0; section < 2; section++) {
		size_t limit = section == 0 ? FMT_MAX_META : FMT_MAX_PREVIEW;
		if ((st = core_read(f, in, 4, "the core", &off, err)) != MC_OK)
			goto fail;
		size_t len = ld32(f->core + off);
		if (len != 0 && (len < FMT_TAG_LEN || len > limit + FMT_TAG_LEN)) {
			st = mc_fail(err, MC_ERR_HEADER, "the %s section has an invalid length (%zu)",
			             section == 0 ? "metadata" : "preview", len);
			goto fail;
		}
		if (len &&
		    (st = core_read(f, in, len, section == 0 ? "the metadata" : "the preview", &off, err)) != MC_OK)
			goto fail;
		if (section == 0) {
			f->meta_off = off;
			f->meta_len = len;
		} else {
			f->preview_off = off;
			f->preview_len = len;
		}
	}
	if ((st = core_read(f, in, FMT_MAC_LEN, "the header MAC", &off, err)) != MC_OK)
		goto fail;
	f->file_id = f->core + 2;
	f->header_len = FMT_PREFIX_LEN + 2 + f->core_len;
	for (size_t i = 0; i < f->n_wraps; i++)
		f->header_len += FMT_WRAP_FIXED_LEN + f->wraps[i].len;
	*out = f;
	return MC_OK;
fail:
	mc_file_free(f);
	return st;
}

mc_cipher mc_file_cipher(const mc_file *f)
{
	return f->cipher;
}
size_t mc_file_header_len(const mc_file *f)
{
	return f->header_len;
}
size_t mc_file_n_wraps(const mc_file *f)
{
	return f->n_wraps;
}
mc_sig_alg mc_file_sig_alg(const mc_file *f)
{
	return f->sig_alg;
}
const mc_pubkey *mc_file_signer(const mc_file *f)
{
	return f->signer;
}
size_t mc_file_metadata_len(const mc_file *f)
{
	return f->meta_len ? f->meta_len - FMT_TAG_LEN : 0;
}
size_t mc_file_preview_len(const mc_file *f)
{
	return f->preview_len ? f->preview_len - FMT_TAG_LEN : 0;
}
int mc_file_is_unlocked(const mc_file *f)
{
	return f->unlocked;
}

size_t mc_file_sig_len(const mc_file *f)
{
	return f->signer ? mc_sig_len_for(mc_pubkey_evp(f->signer), f->sig_alg) : 0;
}

const uint8_t *mc_file_wrap_recipient(const mc_file *f, size_t i, unsigned *type)
{
	if (i >= f->n_wraps)
		return NULL;
	if (type)
		*type = f->wraps[i].type;
	return f->wraps[i].recipient;
}

/* Decrypts one encrypted header section at unlock ([MC-CORE-9]). */
static mc_status open_section(mc_file *f, const char *label, size_t off, size_t len, uint8_t **pt, mc_err *err)
{
	uint8_t key[FMT_KEY_LEN];
	mc_status st;
	if (len == 0)
		return MC_OK;
	*pt = malloc(len - FMT_TAG_LEN + 1);
	if (!*pt)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	st = mc_hkdf(f->file_key, f->file_id, label, f->cipher, key, err);
	if (st == MC_OK)
		st = mc_aead_once(f->cipher, key, 0, f->core + off, len, *pt, err);
	mc_wipe(key, sizeof key);
	if (st != MC_OK) {
		free(*pt);
		*pt = NULL;
	}
	return st;
}

mc_status mc_file_unlock(mc_file *f, const mc_identity *id, mc_err *err)
{
	uint8_t hkey[FMT_KEY_LEN], mac[FMT_MAC_LEN];
	uint8_t *mac_input = NULL;
	mc_status st;
	const struct wrap *w = NULL;

	if (f->unlocked)
		return MC_OK;
	if (!mc_identity_has_enc(id))
		return mc_fail(err, MC_ERR_KEY, "the identity was loaded without its encryption key");
	for (size_t i = 0; i < f->n_wraps; i++) /* [MC-WRAP-5] only the wrap that names our key */
		if (f->wraps[i].type == FMT_WRAP_RSA_OAEP &&
		    memcmp(f->wraps[i].recipient, mc_identity_enc_fp(id), 32) == 0)
			w = &f->wraps[i];
	if (!w)
		return mc_fail(err, MC_ERR_NO_MATCH, "this file has no wrap for your key (it was not shared with you)");
	if ((st = mc_oaep_unwrap(mc_identity_enc_key(id), w->body, w->len, f->file_key, err)) != MC_OK)
		return st;

	/* [MC-CORE-7], [MC-CORE-8] */
	size_t mac_input_len = FMT_PREFIX_LEN + f->core_len - FMT_MAC_LEN;
	if (!(mac_input = malloc(mac_input_len))) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(mac_input, f->prefix, FMT_PREFIX_LEN);
	memcpy(mac_input + FMT_PREFIX_LEN, f->core, f->core_len - FMT_MAC_LEN);
	if ((st = mc_hkdf(f->file_key, f->file_id, FMT_INFO_HEADER, f->cipher, hkey, err)) != MC_OK ||
	    (st = mc_hmac(hkey, mac_input, mac_input_len, mac, err)) != MC_OK)
		goto cleanup;
	if (!mc_ct_equal(mac, f->core + f->core_len - FMT_MAC_LEN, FMT_MAC_LEN)) {
		st = mc_fail(
		    err, MC_ERR_MAC,
		    "the header does not authenticate: it was altered, or the wrap holds a key from another file");
		goto cleanup;
	}
	if ((st = mc_hkdf(f->file_key, f->file_id, FMT_INFO_PAYLOAD, f->cipher, f->payload_key, err)) != MC_OK ||
	    (st = open_section(f, FMT_INFO_META, f->meta_off, f->meta_len, &f->meta_pt, err)) != MC_OK ||
	    (st = open_section(f, FMT_INFO_PREVIEW, f->preview_off, f->preview_len, &f->preview_pt, err)) != MC_OK)
		goto cleanup;
	f->unlocked = true;
cleanup:
	if (!f->unlocked) {
		mc_wipe(f->file_key, sizeof f->file_key);
		mc_wipe(f->payload_key, sizeof f->payload_key);
		mc_buf_free(f->meta_pt, mc_file_metadata_len(f));
		f->meta_pt = NULL;
	}
	mc_wipe(hkey, sizeof hkey);
	free(mac_input);
	return st;
}

static mc_status copy_section(const mc_file *f, const uint8_t *pt, size_t len, uint8_t **out, size_t *out_len,
                              mc_err *err)
{
	*out = NULL;
	*out_len = 0;
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file is not unlocked");
	if (!pt)
		return MC_OK;
	if (!(*out = malloc(len + 1)))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memcpy(*out, pt, len);
	(*out)[len] = 0;
	*out_len = len;
	return MC_OK;
}

mc_status mc_file_metadata(const mc_file *f, uint8_t **out, size_t *len, mc_err *err)
{
	return copy_section(f, f->meta_pt, mc_file_metadata_len(f), out, len, err);
}

mc_status mc_file_preview(const mc_file *f, uint8_t **out, size_t *len, mc_err *err)
{
	return copy_section(f, f->preview_pt, mc_file_preview_len(f), out, len, err);
}

void mc_sig_message(const uint8_t header_digest[32], uint64_t n_chunks, const uint8_t payload_digest[32],
                    uint8_t msg[FMT_SIG_MSG_LEN])
{
	memcpy(msg, FMT_SIG_CONTEXT, FMT_SIG_CONTEXT_LEN); /* the literal's terminating zero is the 00 byte */
	memcpy(msg + FMT_SIG_CONTEXT_LEN, header_digest, 32);
	st64(msg + FMT_SIG_CONTEXT_LEN + 32, n_chunks);
	memcpy(msg + FMT_SIG_CONTEXT_LEN + 40, payload_digest, 32);
}

static mc_status header_digest(const mc_file *f, uint8_t out[32], mc_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool ok = md && EVP_DigestInit_ex2(md, EVP_sha256(), NULL) == 1 &&
	          EVP_DigestUpdate(md, f->prefix, FMT_PREFIX_LEN) == 1 &&
	          EVP_DigestUpdate(md, f->core, f->core_len) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1;
	EVP_MD_CTX_free(md);
	return ok ? MC_OK : mc_fail_ssl(err, MC_ERR_CRYPTO, "SHA-256 failed");
}

/* [MC-SIG-4], first half: the trust set is decided by the header alone, so a file from an
 * untrusted signer (or an unsigned one) is refused before a single chunk is released. */
static mc_status check_trust(const mc_file *f, const mc_open_params *params, mc_err *err)
{
	size_t n_trusted = params ? params->n_trusted : 0;
	if (!n_trusted)
		return MC_OK;
	if (f->sig_alg == MC_SIG_NONE)
		return mc_fail(err, MC_ERR_SIGNATURE, "the file is not signed, but a trusted signer was required");
	for (size_t i = 0; i < n_trusted; i++)
		if (mc_ct_equal(mc_pubkey_fp(params->trusted[i]), mc_pubkey_fp(f->signer), MC_FP_LEN))
			return MC_OK;
	char hex[MC_FP_HEX_LEN + 1];
	mc_fp_hex(mc_pubkey_fp(f->signer), hex);
	return mc_fail(err, MC_ERR_SIGNATURE, "signed by a key that is not trusted: %s", hex);
}

/* [MC-SIG-4], second half: the signature over the header and every chunk. */
static mc_status check_signature(const mc_file *f, const mc_stream_result *res, mc_payload_info *info, mc_err *err)
{
	if (f->sig_alg == MC_SIG_NONE)
		return MC_OK;
	uint8_t hd[32], msg[FMT_SIG_MSG_LEN];
	mc_status st = header_digest(f, hd, err);
	if (st != MC_OK)
		return st;
	mc_sig_message(hd, res->n_chunks, res->payload_digest, msg);
	if (!mc_verify(mc_pubkey_evp(f->signer), f->sig_alg, msg, sizeof msg, res->trailer, res->trailer_got))
		return mc_fail(err, MC_ERR_SIGNATURE,
		               "the signature does not verify: the file was altered after signing");
	if (info) {
		info->signed_ok = 1;
		memcpy(info->signer_fp, mc_pubkey_fp(f->signer), MC_FP_LEN);
	}
	return MC_OK;
}

static mc_status run_payload(mc_file *f, mc_input in, mc_output *out, const uint8_t *key, const mc_open_params *params,
                             mc_payload_info *info, mc_err *err)
{
	mc_stream_params sp = {
	    .cipher = f->cipher,
	    .key = key,
	    .encrypt = 0,
	    .hash = f->sig_alg != MC_SIG_NONE,
	    .trailer_len = mc_file_sig_len(f),
	    .threads = params ? params->threads : 0,
	    .progress = params ? params->progress : NULL,
	    .progress_ctx = params ? params->progress_ctx : NULL,
	};
	mc_stream_result res;
	mc_payload_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof *info);
	mc_status st = check_trust(f, params, err);
	if (st != MC_OK)
		return st;
	st = mc_stream_run(&sp, in, out, &res, err);
	if (st == MC_OK) {
		info->n_chunks = res.n_chunks;
		info->plaintext_len = res.plaintext_len;
		st = check_signature(f, &res, info, err);
	}
	mc_wipe(&res, sizeof res);
	return st;
}

mc_status mc_file_open_payload(mc_file *f, mc_input in, mc_output out, const mc_open_params *params,
                               mc_payload_info *info, mc_err *err)
{
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file is not unlocked");
	return run_payload(f, in, &out, f->payload_key, params, info, err);
}

mc_status mc_file_verify_payload(mc_file *f, mc_input in, const mc_open_params *params, mc_payload_info *info,
                                 mc_err *err)
{
	if (f->sig_alg == MC_SIG_NONE)
		return mc_fail(err, MC_ERR_SIGNATURE, "the file is not signed: its sender cannot be verified");
	return run_payload(f, in, NULL, NULL, params, info, err);
}

mc_status mc_file_payload_size(const mc_file *f, uint64_t file_len, uint64_t *n_chunks, uint64_t *plaintext_len,
                               mc_err *err)
{
	uint64_t fixed = f->header_len + mc_file_sig_len(f);
	if (file_len < fixed + FMT_TAG_LEN)
		return mc_fail(err, MC_ERR_PAYLOAD, "the file is truncated: no payload");
	uint64_t payload = file_len - fixed;
	uint64_t n = (payload + FMT_CHUNK_CT - 1) / FMT_CHUNK_CT;
	uint64_t last = payload - (n - 1) * FMT_CHUNK_CT;
	if (last < FMT_TAG_LEN || n > FMT_MAX_CHUNKS)
		return mc_fail(err, MC_ERR_PAYLOAD, "the payload length is not a valid chunk sequence");
	*n_chunks = n;
	*plaintext_len = payload - n * FMT_TAG_LEN;
	return MC_OK;
}

mc_status mc_file_read_chunk(const mc_file *f, int fd, uint64_t file_len, uint64_t index, uint8_t *out, size_t *out_len,
                             mc_err *err)
{
	uint64_t n, pt_len;
	uint8_t *ct = NULL;
	mc_chunk_ctx ctx;
	mc_status st;
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file is not unlocked");
	if ((st = mc_file_payload_size(f, file_len, &n, &pt_len, err)) != MC_OK)
		return st;
	if (index >= n)
		return mc_fail(err, MC_ERR_MISUSE, "chunk %llu is past the end (the file has %llu)",
		               (unsigned long long)index, (unsigned long long)n);
	uint64_t off = f->header_len + index * FMT_CHUNK_CT;
	size_t len = index + 1 == n ? (size_t)(file_len - mc_file_sig_len(f) - off) : FMT_CHUNK_CT;
	if (!(ct = malloc(len)))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, ct + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(ct);
			return r < 0 ? mc_fail(err, MC_ERR_IO, "read failed: %s", strerror(errno))
			             : mc_fail(err, MC_ERR_PAYLOAD, "the file is shorter than its size said");
		}
		done += (size_t)r;
	}
	if ((st = mc_chunk_ctx_init(&ctx, f->cipher, f->payload_key, 0, err)) == MC_OK) {
		if (!mc_chunk_crypt(&ctx, index, index + 1 == n, ct, len, out))
			st =
			    mc_fail(err, MC_ERR_PAYLOAD, "chunk %llu does not authenticate", (unsigned long long)index);
		else
			*out_len = len - FMT_TAG_LEN;
		mc_chunk_ctx_free(&ctx);
	}
	free(ct);
	return st;
}

mc_status mc_file_add_recipient(mc_file *f, const mc_pubkey *recipient, mc_err *err)
{
	struct wrap w = {.type = FMT_WRAP_RSA_OAEP};
	size_t len = 0;
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file must be unlocked to add a recipient");
	if (has_recipient(f, FMT_WRAP_RSA_OAEP, mc_pubkey_fp(recipient)))
		return mc_fail(err, MC_ERR_MISUSE, "that key is already a recipient");
	if (f->n_wraps >= FMT_MAX_WRAPS)
		return mc_fail(err, MC_ERR_MISUSE, "the file already has %d recipients", FMT_MAX_WRAPS);
	mc_status st = mc_oaep_wrap(mc_pubkey_evp(recipient), f->file_key, &w.body, &len, err);
	if (st != MC_OK)
		return st;
	w.len = (uint16_t)len;
	memcpy(w.recipient, mc_pubkey_fp(recipient), 32);
	f->wraps[f->n_wraps++] = w;
	return MC_OK;
}

mc_status mc_file_remove_recipient(mc_file *f, const uint8_t fp[MC_FP_LEN], mc_err *err)
{
	for (size_t i = 0; i < f->n_wraps; i++) {
		if (memcmp(f->wraps[i].recipient, fp, 32) == 0) {
			free(f->wraps[i].body);
			memmove(&f->wraps[i], &f->wraps[i + 1], (f->n_wraps - i - 1) * sizeof *f->wraps);
			f->n_wraps--;
			return MC_OK;
		}
	}
	return mc_fail(err, MC_ERR_MISUSE, "that key is not a recipient of this file");
}

struct mem_in {
	const uint8_t *p;
	size_t left;
};

static long mem_read(void *ctx, uint8_t *buf, size_t len)
{
	struct mem_in *m = ctx;
	if (len > m->left)
		len = m->left;
	memcpy(buf, m->p, len);
	m->p += len;
	m->left -= len;
	return (long)len;
}

mc_status mc_file_add_detached_wrap(mc_file *f, const uint8_t *wrap, size_t len, mc_err *err)
{
	struct mem_in m = {wrap, len};
	if (f->n_wraps >= FMT_MAX_WRAPS)
		return mc_fail(err, MC_ERR_MISUSE, "the file already has %d recipients", FMT_MAX_WRAPS);
	size_t before = f->n_wraps;
	mc_status st = read_wrap(f, (mc_input){mem_read, &m}, err);
	if (st == MC_OK && m.left != 0) {
		free(f->wraps[--f->n_wraps].body);
		st = mc_fail(err, MC_ERR_HEADER, "trailing bytes after the detached wrap");
	}
	(void)before;
	return st;
}

mc_status mc_file_wrap_bytes(const mc_file *f, size_t i, uint8_t **out, size_t *len, mc_err *err)
{
	*out = NULL;
	*len = 0;
	if (i >= f->n_wraps)
		return mc_fail(err, MC_ERR_MISUSE, "no wrap %zu", i);
	const struct wrap *w = &f->wraps[i];
	uint8_t *buf = malloc(FMT_WRAP_FIXED_LEN + (size_t)w->len);
	if (!buf)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	buf[0] = w->type;
	memcpy(buf + 1, w->recipient, 32);
	st16(buf + 33, w->len);
	memcpy(buf + FMT_WRAP_FIXED_LEN, w->body, w->len);
	*out = buf;
	*len = FMT_WRAP_FIXED_LEN + (size_t)w->len;
	return MC_OK;
}

mc_status mc_file_write_header(const mc_file *f, mc_output out, mc_err *err)
{
	uint8_t buf[FMT_WRAP_FIXED_LEN];
	mc_status st = mc_write(out, f->prefix, FMT_PREFIX_LEN, err);
	st16(buf, (uint16_t)f->n_wraps);
	if (st == MC_OK)
		st = mc_write(out, buf, 2, err);
	for (size_t i = 0; st == MC_OK && i < f->n_wraps; i++) {
		buf[0] = f->wraps[i].type;
		memcpy(buf + 1, f->wraps[i].recipient, 32);
		st16(buf + 33, f->wraps[i].len);
		if ((st = mc_write(out, buf, sizeof buf, err)) == MC_OK)
			st = mc_write(out, f->wraps[i].body, f->wraps[i].len, err);
	}
	if (st == MC_OK)
		st = mc_write(out, f->core, f->core_len, err);
	return st;
}
