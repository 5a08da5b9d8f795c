/*
 * file.c: reading, unlocking and rewriting a container's header (docs/FORMAT.md §3–6), and
 * the payload readers built on it: the streaming open with signature check (§7–8), the
 * key-less signature verification, and random access to one chunk.
 *
 * Every field that needs no key is parsed by format.c, the parser the server shares, so the
 * library and the server cannot disagree on the layout; this file adds what needs keys or
 * OpenSSL (the signer key, the MAC, the AEADs). Lengths are checked against the limits of §10
 * before anything is allocated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* format.h spells the spec's values once; the public enums and limits must be the same. */
_Static_assert(MC_CIPHER_CHACHA20_POLY1305 == FMT_CIPHER_CHACHA20_POLY1305 &&
                   MC_CIPHER_AES_256_GCM == FMT_CIPHER_AES_256_GCM,
               "cipher numbers");
_Static_assert(MC_SIG_NONE == FMT_SIG_NONE && MC_SIG_ED25519 == FMT_SIG_ED25519 && MC_SIG_RSA_PSS == FMT_SIG_RSA_PSS,
               "signature algorithm numbers");
_Static_assert(MC_RSA_MIN_BITS == FMT_RSA_MIN_BITS && MC_RSA_MAX_BITS == FMT_RSA_MAX_BITS, "RSA key sizes");
_Static_assert(MC_FP_LEN == FMT_RECIPIENT_LEN && MC_CHUNK_SIZE == FMT_CHUNK_PT, "fingerprint and chunk sizes");

/* One wrap, kept as its bytes on the wire (a detached wrap, FORMAT.md §4) and the view
 * format.c parsed from them. */
struct wrap {
	uint8_t *bytes;
	mc_format_wrap view; /* points into bytes */
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
		free(f->wraps[i].bytes);
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

/* A verdict of format.c as the library's status, with its reason as the message. */
static mc_status format_fail(mc_err *err, mc_format_verdict v, const char *why)
{
	mc_status st = v == MC_FORMAT_UNSUPPORTED ? MC_ERR_UNSUPPORTED
	               : v == MC_FORMAT_PAYLOAD   ? MC_ERR_PAYLOAD
	                                          : MC_ERR_HEADER;
	return mc_fail(err, st, "%s", why);
}

static bool has_conflict(const mc_file *f, const mc_format_wrap *w)
{
	for (size_t i = 0; i < f->n_wraps; i++)
		if (mc_format_wraps_conflict(&f->wraps[i].view, w))
			return true;
	return false;
}

/* Appends the len bytes of one wrap (malloc'd; owned by f from now on, freed on failure). */
static mc_status append_wrap(mc_file *f, uint8_t *bytes, size_t len, mc_err *err)
{
	struct wrap w = {.bytes = bytes};
	const char *why = NULL;
	mc_format_verdict v = mc_format_parse_wrap(bytes, len, &w.view, &why);
	mc_status st = MC_OK;
	if (v != MC_FORMAT_OK)
		st = format_fail(err, v, why);
	else if (has_conflict(f, &w.view)) /* [MC-WRAP-4] */
		st = mc_fail(err, MC_ERR_HEADER, "two wraps name the same recipient");
	if (st != MC_OK) {
		free(bytes);
		return st;
	}
	f->wraps[f->n_wraps++] = w;
	return MC_OK;
}

/* Reads one wrap (FORMAT.md §4): its fixed part is checked before its body is read. */
static mc_status read_wrap(mc_file *f, mc_input in, mc_err *err)
{
	uint8_t head[FMT_WRAP_FIXED_LEN];
	mc_format_wrap w;
	const char *why = NULL;
	mc_status st = need(in, head, sizeof head, "a wrap", err);
	if (st != MC_OK)
		return st;
	mc_format_verdict v = mc_format_parse_wrap_head(head, &w, &why);
	if (v != MC_FORMAT_OK)
		return format_fail(err, v, why);
	/* [MC-WRAP-4] is decided by the head: before the body, as the server's check decides it */
	if (has_conflict(f, &w))
		return mc_fail(err, MC_ERR_HEADER, "two wraps name the same recipient");
	uint8_t *bytes = malloc(w.len);
	if (!bytes)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memcpy(bytes, head, sizeof head);
	if ((st = need(in, bytes + sizeof head, w.body_len, "a wrap", err)) != MC_OK) {
		free(bytes);
		return st;
	}
	return append_wrap(f, bytes, w.len, err);
}

mc_status mc_file_read(mc_input in, mc_file **out, mc_err *err)
{
	uint8_t count[FMT_WRAP_COUNT_LEN];
	size_t off;
	mc_status st;
	mc_format_verdict v;
	const char *why = NULL;
	*out = NULL;
	mc_file *f = calloc(1, sizeof *f);
	if (!f)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");

	/* §3 prefix */
	size_t got = 0;
	unsigned version = 0;
	if ((st = mc_read_full(in, f->prefix, FMT_PREFIX_LEN, &got, err)) != MC_OK)
		goto fail;
	if ((v = mc_format_parse_prefix(f->prefix, got, &version, &why)) != MC_FORMAT_OK) { /* [MC-PRE-1], [MC-PRE-2] */
		st = v == MC_FORMAT_UNSUPPORTED
		         ? mc_fail(err, MC_ERR_UNSUPPORTED,
		                   "container version %u is not supported (this reader knows %d)", version, FMT_VERSION)
		         : format_fail(err, v, why);
		goto fail;
	}

	/* §4 wraps */
	size_t n_wraps;
	if ((st = need(in, count, sizeof count, "the wrap count", err)) != MC_OK)
		goto fail;
	if ((v = mc_format_parse_wrap_count(count, &n_wraps, &why)) != MC_FORMAT_OK) { /* [MC-WRAP-1] */
		st = format_fail(err, v, why);
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

	/* §5 core: the fixed part, [MC-CORE-1], [MC-CORE-2], [MC-CORE-4] */
	mc_format_core core;
	if ((st = core_read(f, in, FMT_CORE_FIXED_LEN, "the core", &off, err)) != MC_OK)
		goto fail;
	if ((v = mc_format_parse_core_fixed(f->core, &core, &why)) != MC_FORMAT_OK) {
		st = format_fail(err, v, why);
		goto fail;
	}
	f->cipher = (mc_cipher)core.cipher;
	f->sig_alg = (mc_sig_alg)core.sig_alg;
	size_t signer_len = core.signer_len;
	if (signer_len) { /* [MC-CORE-4]: a key of the type sig_alg names */
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
	for (int section = MC_FORMAT_META; section <= MC_FORMAT_PREVIEW; section++) {
		size_t len;
		if ((st = core_read(f, in, FMT_SECTION_LEN_LEN, "the core", &off, err)) != MC_OK)
			goto fail;
		if ((v = mc_format_parse_section_len(f->core + off, (mc_format_section)section, &len, &why)) !=
		    MC_FORMAT_OK) {
			st = format_fail(err, v, why);
			goto fail;
		}
		if (len && (st = core_read(f, in, len, section == MC_FORMAT_META ? "the metadata" : "the preview", &off,
		                           err)) != MC_OK)
			goto fail;
		if (section == MC_FORMAT_META) {
			f->meta_off = off;
			f->meta_len = len;
		} else {
			f->preview_off = off;
			f->preview_len = len;
		}
	}
	if ((st = core_read(f, in, FMT_MAC_LEN, "the header MAC", &off, err)) != MC_OK)
		goto fail;
	f->file_id = f->core + FMT_CORE_FILE_ID_OFF; /* the core has its final address now */
	f->header_len = FMT_WRAPS_OFF + f->core_len;
	for (size_t i = 0; i < f->n_wraps; i++)
		f->header_len += f->wraps[i].view.len;
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
		*type = f->wraps[i].view.type;
	return f->wraps[i].view.recipient;
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
	const mc_format_wrap *w = NULL;

	if (f->unlocked)
		return MC_OK;
	if (!mc_identity_has_enc(id))
		return mc_fail(err, MC_ERR_KEY, "the identity was loaded without its encryption key");
	for (size_t i = 0; i < f->n_wraps; i++) /* [MC-WRAP-5] only the wrap that names our key */
		if (f->wraps[i].view.type == FMT_WRAP_RSA_OAEP &&
		    memcmp(f->wraps[i].view.recipient, mc_identity_enc_fp(id), FMT_RECIPIENT_LEN) == 0)
			w = &f->wraps[i].view;
	if (!w)
		return mc_fail(err, MC_ERR_NO_MATCH, "this file has no wrap for your key (it was not shared with you)");
	if ((st = mc_oaep_unwrap(mc_identity_enc_key(id), w->body, w->body_len, f->file_key, err)) != MC_OK)
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
	mc_format_sig_message(header_digest, n_chunks, payload_digest, msg);
}

static mc_status header_digest(const mc_file *f, uint8_t out[FMT_DIGEST_LEN], mc_err *err)
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
	uint8_t hd[FMT_DIGEST_LEN], msg[FMT_SIG_MSG_LEN];
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

/* The chunks of a container of file_len bytes with this header (FORMAT.md §7). */
static mc_status payload_layout(const mc_file *f, uint64_t file_len, mc_format_payload *pl, mc_err *err)
{
	const char *why = NULL;
	if (file_len < f->header_len)
		return mc_fail(err, MC_ERR_PAYLOAD, "the file is truncated: no payload");
	mc_format_verdict v = mc_format_payload_layout(file_len - f->header_len, mc_file_sig_len(f), pl, &why);
	return v == MC_FORMAT_OK ? MC_OK : format_fail(err, v, why);
}

mc_status mc_file_payload_size(const mc_file *f, uint64_t file_len, uint64_t *n_chunks, uint64_t *plaintext_len,
                               mc_err *err)
{
	mc_format_payload pl;
	mc_status st = payload_layout(f, file_len, &pl, err);
	if (st == MC_OK) {
		*n_chunks = pl.n_chunks;
		*plaintext_len = pl.plaintext_len;
	}
	return st;
}

mc_status mc_file_read_chunk(const mc_file *f, int fd, uint64_t file_len, uint64_t index, uint8_t *out, size_t *out_len,
                             mc_err *err)
{
	mc_format_payload pl;
	uint8_t *ct = NULL;
	mc_chunk_ctx ctx;
	mc_status st;
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file is not unlocked");
	if ((st = payload_layout(f, file_len, &pl, err)) != MC_OK)
		return st;
	uint64_t n = pl.n_chunks;
	if (index >= n)
		return mc_fail(err, MC_ERR_MISUSE, "chunk %llu is past the end (the file has %llu)",
		               (unsigned long long)index, (unsigned long long)n);
	uint64_t off = f->header_len + index * FMT_CHUNK_CT; /* [MC-PAY-7] */
	size_t len = index + 1 == n ? (size_t)pl.last_len : FMT_CHUNK_CT;
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
	mc_format_wrap named = {.type = FMT_WRAP_RSA_OAEP, .recipient = mc_pubkey_fp(recipient)};
	uint8_t *body = NULL, *bytes;
	size_t len = 0;
	if (!f->unlocked)
		return mc_fail(err, MC_ERR_MISUSE, "the file must be unlocked to add a recipient");
	if (has_conflict(f, &named))
		return mc_fail(err, MC_ERR_MISUSE, "that key is already a recipient");
	if (f->n_wraps >= FMT_MAX_WRAPS)
		return mc_fail(err, MC_ERR_MISUSE, "the file already has %d recipients", FMT_MAX_WRAPS);
	mc_status st = mc_oaep_wrap(mc_pubkey_evp(recipient), f->file_key, &body, &len, err);
	if (st != MC_OK)
		return st;
	if (len > FMT_OAEP_MAX_LEN || !(bytes = malloc(FMT_WRAP_FIXED_LEN + len))) {
		free(body);
		return len > FMT_OAEP_MAX_LEN ? mc_fail(err, MC_ERR_MISUSE, "the recipient key is too large")
		                              : mc_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	mc_format_put_wrap_head(bytes, FMT_WRAP_RSA_OAEP, named.recipient, (uint16_t)len);
	memcpy(bytes + FMT_WRAP_FIXED_LEN, body, len);
	free(body);
	return append_wrap(f, bytes, FMT_WRAP_FIXED_LEN + len, err);
}

mc_status mc_file_remove_recipient(mc_file *f, const uint8_t fp[MC_FP_LEN], mc_err *err)
{
	for (size_t i = 0; i < f->n_wraps; i++) {
		if (memcmp(f->wraps[i].view.recipient, fp, FMT_RECIPIENT_LEN) == 0) {
			free(f->wraps[i].bytes);
			memmove(&f->wraps[i], &f->wraps[i + 1], (f->n_wraps - i - 1) * sizeof *f->wraps);
			f->n_wraps--;
			return MC_OK;
		}
	}
	return mc_fail(err, MC_ERR_MISUSE, "that key is not a recipient of this file");
}

mc_status mc_file_add_detached_wrap(mc_file *f, const uint8_t *wrap, size_t len, mc_err *err)
{
	if (f->n_wraps >= FMT_MAX_WRAPS)
		return mc_fail(err, MC_ERR_MISUSE, "the file already has %d recipients", FMT_MAX_WRAPS);
	/* The length is checked before the copy: a detached wrap is at most FMT_WRAP_FIXED_LEN +
	 * 65535 bytes. */
	mc_format_wrap w;
	const char *why = NULL;
	mc_format_verdict v = mc_format_parse_wrap(wrap, len, &w, &why);
	if (v != MC_FORMAT_OK)
		return format_fail(err, v, why);
	uint8_t *bytes = malloc(len);
	if (!bytes)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memcpy(bytes, wrap, len);
	return append_wrap(f, bytes, len, err);
}

mc_status mc_file_wrap_bytes(const mc_file *f, size_t i, uint8_t **out, size_t *len, mc_err *err)
{
	*out = NULL;
	*len = 0;
	if (i >= f->n_wraps)
		return mc_fail(err, MC_ERR_MISUSE, "no wrap %zu", i);
	const struct wrap *w = &f->wraps[i];
	uint8_t *buf = malloc(w->view.len);
	if (!buf)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	memcpy(buf, w->bytes, w->view.len);
	*out = buf;
	*len = w->view.len;
	return MC_OK;
}

mc_status mc_file_write_header(const mc_file *f, mc_output out, mc_err *err)
{
	uint8_t count[FMT_WRAP_COUNT_LEN];
	mc_status st = mc_write(out, f->prefix, FMT_PREFIX_LEN, err);
	mc_format_put_wrap_count(count, (uint16_t)f->n_wraps);
	if (st == MC_OK)
		st = mc_write(out, count, sizeof count, err);
	for (size_t i = 0; st == MC_OK && i < f->n_wraps; i++)
		st = mc_write(out, f->wraps[i].bytes, f->wraps[i].view.len, err);
	if (st == MC_OK)
		st = mc_write(out, f->core, f->core_len, err);
	return st;
}
