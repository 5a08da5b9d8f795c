/*
 * cmd_open.c: the commands that read a sealed file: `open` (decrypt to a file that appears
 * only once everything verified, and optionally the metadata and the preview beside it),
 * `verify` (signature, optionally every chunk) and `inspect` (the header, and with a key the
 * metadata).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_TRUSTED 64

struct read_opts {
	const char *key;
	const char *trust[MAX_TRUSTED];
	size_t n_trust;
	const char *out;
	const char *meta_out;
	const char *preview_out;
	int pfd;
	bool force, json;
};

static mc_status parse_read_opts(const char *cmd, int argc, char **argv, struct read_opts *o, mc_err *err)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
	                                     {"trust", required_argument, NULL, 't'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"meta-out", required_argument, NULL, 'm'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"preview-out", required_argument, NULL, 'v'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof *o);
	o->pfd = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o->key = optarg; break;
		case 't':
			if (o->n_trust == MAX_TRUSTED)
				return usage_error(err, cmd, "at most %d --trust keys", MAX_TRUSTED);
			o->trust[o->n_trust++] = optarg;
			break;
		case 'o': o->out = optarg; break;
		case 'm': o->meta_out = optarg; break;
		case 'v': o->preview_out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &o->pfd))
				return usage_error(err, cmd, "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': o->force = true; break;
		case 'j': o->json = true; break;
		default: return usage_error(err, cmd, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, cmd, "give exactly one input file (or - for stdin)");
	return MC_OK;
}

/* Loads the --trust keys. */
static mc_status load_trust(const struct read_opts *o, mc_pubkey **keys, mc_err *err)
{
	for (size_t i = 0; i < o->n_trust; i++) {
		mc_status st = mc_pubkey_load(o->trust[i], MC_ROLE_SIGNER, &keys[i], err);
		if (st != MC_OK)
			return st;
	}
	return MC_OK;
}

static void free_trust(mc_pubkey **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mc_pubkey_free(keys[i]);
}

/* Tells the user who signed (or that nobody did) when no --trust was given. */
static void report_signer(const mc_file *f, const mc_payload_info *info, size_t n_trust)
{
	char hex[MC_FP_HEX_LEN + 1];
	if (info->signed_ok) {
		mc_fp_hex(info->signer_fp, hex);
		if (n_trust)
			fprintf(stderr, "medcrypt: good signature by trusted key %s\n", hex);
		else
			fprintf(
			    stderr,
			    "medcrypt: good signature by %s, a key you did not --trust: compare it with the sender's\n",
			    hex);
	} else if (mc_file_sig_alg(f) == MC_SIG_NONE) {
		fprintf(stderr, "medcrypt: warning: the file is not signed: its sender is not authenticated\n");
	}
}

static json_t *payload_json(const mc_payload_info *info)
{
	json_t *o = json_object();
	json_object_set_new(o, "plaintext_bytes", json_integer((json_int_t)info->plaintext_len));
	json_object_set_new(o, "chunks", json_integer((json_int_t)info->n_chunks));
	json_object_set_new(o, "signed", json_boolean(info->signed_ok));
	json_object_set_new(o, "signer", info->signed_ok ? json_fp(info->signer_fp) : json_null());
	return o;
}

static mc_status write_small(const char *path, const uint8_t *buf, size_t len, bool force, mc_err *err)
{
	out_file o;
	mc_status st = out_begin(&o, path, force, 0600, err);
	if (st != MC_OK)
		return st;
	st = write_all(mc_output_fd(o.fd), buf, len, err);
	if (st == MC_OK)
		return out_commit(&o, err);
	out_abort(&o);
	return st;
}

/* Counts what reached the output, so a failure can say whether anything must be discarded. */
struct counting_out {
	mc_output inner;
	uint64_t written;
};

static int counting_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct counting_out *c = ctx;
	c->written += len;
	return c->inner.write(c->inner.ctx, buf, len);
}

mc_status cmd_open(int argc, char **argv, mc_err *err)
{
	struct read_opts o;
	mc_status st = parse_read_opts("open", argc, argv, &o, err);
	if (st != MC_OK)
		return st;
	if (!o.key || !o.out)
		return usage_error(err, "open", "give your key with -k and the output with -o");
	if (o.json && strcmp(o.out, "-") == 0)
		return usage_error(err, "open", "--json prints to stdout: give -o a file");

	mc_pubkey *trusted[MAX_TRUSTED] = {0};
	mc_identity *id = NULL;
	mc_file *f = NULL;
	uint8_t *meta = NULL, *preview = NULL;
	size_t meta_len = 0, preview_len = 0;
	int fd = -1;
	long long size;
	out_file out = {.fd = -1};
	bool out_started = false;
	mc_payload_info info;

	if ((st = load_trust(&o, trusted, err)) != MC_OK)
		goto cleanup;
	if ((st = in_open(argv[optind], &fd, &size, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_file_read(mc_input_fd(fd), &f, err)) != MC_OK)
		goto cleanup;
	if ((st = load_identity(o.key, o.pfd, MC_IDENTITY_ENC, &id, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_file_unlock(f, id, err)) != MC_OK)
		goto cleanup;
	if ((st = out_begin(&out, o.out, o.force, 0600, err)) != MC_OK)
		goto cleanup;
	out_started = true;
	progress pr;
	progress_init(&pr, "opening", size > 0 ? size - (long long)mc_file_header_len(f) : -1);
	mc_open_params params = {.trusted = (const mc_pubkey *const *)trusted,
	                         .n_trusted = o.n_trust,
	                         .progress = progress_cb,
	                         .progress_ctx = &pr};
	struct counting_out counted = {mc_output_fd(out.fd), 0};
	st = mc_file_open_payload(f, mc_input_fd(fd), (mc_output){counting_write, &counted}, &params, &info, err);
	progress_end(&pr);
	if (st != MC_OK) {
		if (out.is_stdout && counted.written > 0) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof err->msg - n, "; discard what was written to stdout");
		}
		goto cleanup;
	}
	if (o.meta_out && (st = mc_file_metadata(f, &meta, &meta_len, err)) == MC_OK) {
		json_t *doc = meta ? json_loadb((const char *)meta, meta_len, 0, NULL) : NULL;
		if (!meta)
			fprintf(stderr, "medcrypt: the file carries no metadata; %s not written\n", o.meta_out);
		else if (!json_is_object(doc)) /* [MC-CORE-10] */
			fprintf(stderr, "medcrypt: warning: the metadata is not a JSON object; %s not written\n",
			        o.meta_out);
		else
			st = write_small(o.meta_out, meta, meta_len, o.force, err);
		json_decref(doc);
	}
	if (st == MC_OK && o.preview_out && (st = mc_file_preview(f, &preview, &preview_len, err)) == MC_OK) {
		if (!preview)
			fprintf(stderr, "medcrypt: the file carries no preview; %s not written\n", o.preview_out);
		else if (mc_image_detect(preview, preview_len) != MC_IMAGE_PNG &&
		         mc_image_detect(preview, preview_len) != MC_IMAGE_JPEG) /* [MC-CORE-10] */
			fprintf(stderr, "medcrypt: warning: the preview is not a PNG or JPEG image; %s not written\n",
			        o.preview_out);
		else
			st = write_small(o.preview_out, preview, preview_len, o.force, err);
	}
	if (st != MC_OK)
		goto cleanup;
	st = out_commit(&out, err);
	out_started = false;
	if (st == MC_OK) {
		report_signer(f, &info, o.n_trust);
		if (o.json) {
			json_t *j = payload_json(&info);
			json_object_set_new(j, "output", json_string(o.out));
			json_print(j);
		}
	}
cleanup:
	if (out_started)
		out_abort(&out);
	if (fd >= 0)
		in_close(fd);
	mc_buf_free(meta, meta_len);
	mc_buf_free(preview, preview_len);
	mc_file_free(f);
	mc_identity_free(id);
	free_trust(trusted, o.n_trust);
	return st;
}

static int discard_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return 0;
}

mc_status cmd_verify(int argc, char **argv, mc_err *err)
{
	struct read_opts o;
	mc_status st = parse_read_opts("verify", argc, argv, &o, err);
	if (st != MC_OK)
		return st;
	if (o.out || o.meta_out || o.preview_out)
		return usage_error(err, "verify", "verify writes no output");
	mc_pubkey *trusted[MAX_TRUSTED] = {0};
	mc_identity *id = NULL;
	mc_file *f = NULL;
	int fd = -1;
	long long size;
	mc_payload_info info;
	memset(&info, 0, sizeof info);
	if ((st = load_trust(&o, trusted, err)) != MC_OK || (st = in_open(argv[optind], &fd, &size, err)) != MC_OK ||
	    (st = mc_file_read(mc_input_fd(fd), &f, err)) != MC_OK)
		goto cleanup;
	if (mc_file_sig_alg(f) == MC_SIG_NONE) {
		st = MC_ERR_SIGNATURE;
		snprintf(err->msg, sizeof err->msg, "the file is not signed: its sender cannot be verified");
		goto cleanup;
	}
	progress pr;
	progress_init(&pr, "verifying", size);
	mc_open_params params = {.trusted = (const mc_pubkey *const *)trusted,
	                         .n_trusted = o.n_trust,
	                         .progress = progress_cb,
	                         .progress_ctx = &pr};
	if (o.key) {
		if ((st = load_identity(o.key, o.pfd, MC_IDENTITY_ENC, &id, err)) != MC_OK ||
		    (st = mc_file_unlock(f, id, err)) != MC_OK)
			goto cleanup;
		st = mc_file_open_payload(f, mc_input_fd(fd), (mc_output){discard_write, NULL}, &params, &info, err);
	} else {
		st = mc_file_verify_payload(f, mc_input_fd(fd), &params, &info, err);
	}
	progress_end(&pr);
	if (st == MC_OK) {
		if (o.json) {
			json_t *j = payload_json(&info);
			json_object_set_new(j, "decrypted", json_boolean(o.key != NULL));
			json_object_set_new(j, "trusted", json_boolean(o.n_trust > 0 && info.signed_ok));
			json_print(j);
		} else {
			char hex[MC_FP_HEX_LEN + 1] = "";
			if (info.signed_ok)
				mc_fp_hex(info.signer_fp, hex);
			printf("ok: %s%s%s\n", info.signed_ok ? "signed by " : "not signed", hex,
			       info.signed_ok
			           ? (o.n_trust ? " (trusted)" : " (not in --trust: compare the fingerprint)")
			           : "");
			if (o.key)
				printf("ok: every chunk decrypts and authenticates\n");
		}
	}
cleanup:
	if (fd >= 0)
		in_close(fd);
	mc_file_free(f);
	mc_identity_free(id);
	free_trust(trusted, o.n_trust);
	return st;
}

mc_status cmd_inspect(int argc, char **argv, mc_err *err)
{
	struct read_opts o;
	mc_status st = parse_read_opts("inspect", argc, argv, &o, err);
	if (st != MC_OK)
		return st;
	if (o.out || o.meta_out || o.preview_out || o.n_trust)
		return usage_error(err, "inspect", "inspect takes only -k, --passphrase-fd and --json");
	mc_identity *id = NULL;
	mc_file *f = NULL;
	uint8_t *meta = NULL;
	size_t meta_len = 0;
	int fd = -1;
	long long size;
	uint64_t n_chunks = 0, pt_len = 0;
	bool sizes = false;
	if ((st = in_open(argv[optind], &fd, &size, err)) != MC_OK ||
	    (st = mc_file_read(mc_input_fd(fd), &f, err)) != MC_OK)
		goto cleanup;
	if (size >= 0) {
		mc_err ignore;
		sizes = mc_file_payload_size(f, (uint64_t)size, &n_chunks, &pt_len, &ignore) == MC_OK;
	}
	if (o.key) {
		if ((st = load_identity(o.key, o.pfd, MC_IDENTITY_ENC, &id, err)) != MC_OK ||
		    (st = mc_file_unlock(f, id, err)) != MC_OK ||
		    (st = mc_file_metadata(f, &meta, &meta_len, err)) != MC_OK)
			goto cleanup;
	}
	json_t *j = json_object();
	json_object_set_new(j, "format", json_string("medcrypt/v1"));
	json_object_set_new(j, "cipher", json_string(mc_cipher_name(mc_file_cipher(f))));
	json_object_set_new(j, "header_bytes", json_integer((json_int_t)mc_file_header_len(f)));
	json_object_set_new(j, "file_bytes", size >= 0 ? json_integer(size) : json_null());
	json_object_set_new(j, "plaintext_bytes", sizes ? json_integer((json_int_t)pt_len) : json_null());
	json_object_set_new(j, "chunks", sizes ? json_integer((json_int_t)n_chunks) : json_null());
	json_t *rs = json_array();
	for (size_t i = 0; i < mc_file_n_wraps(f); i++) {
		unsigned type = 0;
		const uint8_t *fp = mc_file_wrap_recipient(f, i, &type);
		json_t *r = json_object();
		json_object_set_new(r, "type", json_string(type == 1 ? "rsa-oaep-sha256" : "unknown"));
		json_object_set_new(r, "fingerprint", json_fp(fp));
		json_array_append_new(rs, r);
	}
	json_object_set_new(j, "recipients", rs);
	mc_sig_alg alg = mc_file_sig_alg(f);
	json_object_set_new(j, "signature",
	                    json_string(alg == MC_SIG_NONE      ? "none"
	                                : alg == MC_SIG_ED25519 ? "ed25519"
	                                                        : "rsa-pss"));
	json_object_set_new(j, "signer", alg == MC_SIG_NONE ? json_null() : json_fp(mc_pubkey_fp(mc_file_signer(f))));
	json_object_set_new(j, "metadata_bytes", json_integer((json_int_t)mc_file_metadata_len(f)));
	json_object_set_new(j, "preview_bytes", json_integer((json_int_t)mc_file_preview_len(f)));
	if (o.key) {
		json_object_set_new(j, "header_mac", json_string("ok"));
		json_t *m = meta ? json_loadb((const char *)meta, meta_len, 0, NULL) : NULL;
		if (m && !json_is_object(m)) { /* [MC-CORE-10] */
			json_decref(m);
			m = NULL;
		}
		if (meta && !m)
			json_object_set_new(j, "metadata_error", json_string("not a JSON object: not shown"));
		json_object_set_new(j, "metadata", m ? m : json_null());
	}
	if (o.json) {
		json_print(j);
	} else {
		printf("format      medcrypt/v1\ncipher      %s\n", mc_cipher_name(mc_file_cipher(f)));
		if (sizes)
			printf("plaintext   %llu bytes in %llu chunks\n", (unsigned long long)pt_len,
			       (unsigned long long)n_chunks);
		printf("header      %zu bytes; metadata %zu bytes, preview %zu bytes (encrypted)\n",
		       mc_file_header_len(f), mc_file_metadata_len(f), mc_file_preview_len(f));
		printf("recipients  %zu\n", mc_file_n_wraps(f));
		for (size_t i = 0; i < json_array_size(rs); i++) {
			json_t *r = json_array_get(rs, i);
			printf("  %s %s\n", json_string_value(json_object_get(r, "fingerprint")),
			       json_string_value(json_object_get(r, "type")));
		}
		if (alg == MC_SIG_NONE)
			printf("signature   none\n");
		else
			printf("signature   %s by %s (checked by 'medcrypt verify')\n",
			       json_string_value(json_object_get(j, "signature")),
			       json_string_value(json_object_get(j, "signer")));
		if (o.key) {
			printf("header MAC  ok\n");
			json_t *mj = json_object_get(j, "metadata");
			char *dump = json_is_object(mj) ? json_text(mj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
			printf("metadata    %s\n", dump ? dump : meta ? "(not a JSON object: not shown)" : "(none)");
			if (dump)
				mc_wipe(dump, strlen(dump)); /* patient data */
			free(dump);
		}
		json_decref(j);
	}
cleanup:
	if (fd >= 0)
		in_close(fd);
	mc_buf_free(meta, meta_len);
	mc_file_free(f);
	mc_identity_free(id);
	return st;
}
