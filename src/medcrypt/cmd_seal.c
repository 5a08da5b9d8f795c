/*
 * cmd_seal.c: `medcrypt seal`: encrypts one input to OUT, or several into a directory, for a
 * set of recipients, optionally signed; the signing key's passphrase is asked once. For every
 * DICOM, PNG or JPEG input the attributes `medcrypt meta --json` shows are stored in the
 * encrypted metadata (merged under the members of --meta, which win; --no-meta turns it off),
 * and with --preview a pixelated preview of each input is stored encrypted too.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_RECIPIENTS 1024

/* Reads a small whole file (metadata, preview), at most limit bytes. */
static mc_status read_small(const char *path, size_t limit, uint8_t **out, size_t *len, mc_err *err)
{
	int fd;
	long long size;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	uint8_t *buf = malloc(limit + 1);
	size_t got = 0;
	if (!buf) {
		in_close(fd);
		return MC_ERR_NOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, limit + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = MC_ERR_IO;
			snprintf(err->msg, sizeof err->msg, "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > limit) {
			st = MC_ERR_MISUSE;
			snprintf(err->msg, sizeof err->msg, "%s is larger than the limit of %zu bytes", path, limit);
			break;
		}
	}
	in_close(fd);
	if (st != MC_OK) {
		err->status = st;
		mc_buf_free(buf, got);
		return st;
	}
	*out = buf;
	*len = got;
	return MC_OK;
}

/* --meta must hold one JSON object ([MC-CORE-5]). */
static mc_status load_metadata(const char *path, json_t **out, mc_err *err)
{
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_error_t jerr;
	mc_status st = read_small(path, MC_MAX_METADATA, &raw, &raw_len, err);
	if (st != MC_OK)
		return st;
	json_t *doc = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	mc_buf_free(raw, raw_len);
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return usage_error(err, "seal", "%s is not a JSON object (line %d: %s)", path, jerr.line,
		                   doc ? "not an object" : jerr.text);
	}
	*out = doc;
	return MC_OK;
}

/* The metadata stored for one input: what `meta` finds in it (unless --no-meta), with the
 * members of the --meta object over it; stored compactly. *out is NULL when there is none. */
static mc_status input_metadata(const char *in_path, const json_t *user, bool auto_meta, uint8_t **out, size_t *len,
                                mc_err *err)
{
	json_t *doc = NULL;
	*out = NULL;
	*len = 0;
	if (auto_meta && strcmp(in_path, "-") != 0) {
		mc_err why = {0};
		mc_status st = meta_of_file(in_path, &doc, &why);
		if (st == MC_ERR_NOMEM)
			return st;
		if (st != MC_OK && st != MC_ERR_UNSUPPORTED)
			fprintf(stderr, "medcrypt seal: warning: no metadata read from %s: %s\n", in_path, why.msg);
		if (st != MC_OK)
			doc = NULL;
	}
	if (user) {
		if (!doc)
			doc = json_object();
		if (!doc || json_object_update(doc, (json_t *)user) != 0) {
			json_decref(doc);
			return MC_ERR_NOMEM;
		}
	}
	if (!doc)
		return MC_OK;
	char *compact = json_text(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!compact)
		return MC_ERR_NOMEM;
	*len = strlen(compact);
	if (*len > MC_MAX_METADATA) {
		free(compact);
		*len = 0;
		return usage_error(err, "seal", "the metadata for %s is larger than 1 MiB", in_path);
	}
	*out = (uint8_t *)compact;
	return MC_OK;
}

static mc_status load_preview(const char *path, uint8_t **out, size_t *len, mc_err *err)
{
	mc_status st = read_small(path, MC_MAX_PREVIEW, out, len, err);
	if (st != MC_OK)
		return st;
	static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	bool is_png = *len >= 8 && memcmp(*out, png, 8) == 0;
	bool is_jpeg = *len >= 3 && (*out)[0] == 0xff && (*out)[1] == 0xd8 && (*out)[2] == 0xff;
	if (!is_png && !is_jpeg) {
		mc_buf_free(*out, *len);
		*out = NULL;
		return usage_error(err, "seal", "the preview %s is neither PNG nor JPEG", path);
	}
	return MC_OK;
}

/*
 * The signing key is unlocked (600,000 PBKDF2 iterations) on its own thread while the first
 * input is sealed: the header needs only the public key, which the key file holds in clear;
 * the library asks for the private key after the last chunk and checks that it matches.
 */
struct unlocker {
	const char *path;
	passphrase pp;
	pthread_t thread;
	bool started, joined;
	int done; /* read with __atomic */
	mc_identity *id;
	mc_status st;
	mc_err err;
};

static void *unlock_main(void *arg)
{
	struct unlocker *u = arg;
	u->st = mc_identity_load(u->path, u->pp.buf, u->pp.len, MC_IDENTITY_SIGN, &u->id, &u->err);
	passphrase_free(&u->pp);
	__atomic_store_n(&u->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static mc_status unlock_join(struct unlocker *u, mc_err *err)
{
	if (!u->joined) {
		pthread_join(u->thread, NULL);
		u->joined = true;
		if (u->st == MC_OK)
			warn_unprotected(u->path, u->id);
	}
	if (u->st != MC_OK)
		*err = u->err;
	return u->st;
}

static mc_status unlock_wait(void *ctx, const mc_identity **signer, mc_err *err)
{
	struct unlocker *u = ctx;
	mc_status st = unlock_join(u, err);
	*signer = u->id;
	return st;
}

/* Polled by the progress callback: a wrong passphrase stops the seal at once. */
static bool unlock_failed(void *ctx)
{
	struct unlocker *u = ctx;
	return __atomic_load_n(&u->done, __ATOMIC_ACQUIRE) && u->st != MC_OK;
}

/* What is stored beside each input's payload. */
struct sections {
	const json_t *user_meta;      /* --meta, or NULL */
	bool auto_meta;               /* not --no-meta */
	bool make_preview;            /* --preview / --preview-block */
	uint32_t preview_block;       /* 0: the default */
	const uint8_t *fixed_preview; /* --preview-file, or NULL */
	size_t fixed_preview_len;
};

static mc_status seal_one(mc_seal_params *params, const struct sections *sec, const char *in_path, const char *out_path,
                          bool force, bool json, json_t *report, mc_err *err)
{
	int fd;
	long long size;
	out_file out;
	uint8_t *meta = NULL, *preview = NULL;
	size_t meta_len = 0, preview_len = 0;
	mc_status st = input_metadata(in_path, sec->user_meta, sec->auto_meta, &meta, &meta_len, err);
	if (st == MC_OK && sec->make_preview) {
		if (strcmp(in_path, "-") == 0)
			st = usage_error(err, "seal", "--preview needs the input as a file, not stdin");
		else
			st = make_preview(in_path, sec->preview_block, 0, &preview, &preview_len, NULL, err);
	}
	if (st != MC_OK) {
		mc_buf_free(meta, meta_len);
		return st;
	}
	params->metadata = meta;
	params->metadata_len = meta_len;
	params->preview = preview ? preview : sec->fixed_preview;
	params->preview_len = preview ? preview_len : sec->fixed_preview_len;
	if ((st = in_open(in_path, &fd, &size, err)) != MC_OK)
		goto done;
	if ((st = out_begin(&out, out_path, force, 0644, err)) != MC_OK) {
		in_close(fd);
		goto done;
	}
	progress pr;
	progress_init(&pr, "sealing", size);
	if (params->signer_wait) {
		pr.cancel = unlock_failed;
		pr.cancel_ctx = params->signer_wait_ctx;
	}
	params->progress = progress_cb;
	params->progress_ctx = &pr;
	st = mc_seal(params, mc_input_fd(fd), mc_output_fd(out.fd), err);
	if (st == MC_ERR_CANCELLED && params->signer_wait)
		st = unlock_join(params->signer_wait_ctx, err); /* report the key error itself */
	progress_end(&pr);
	in_close(fd);
	if (st == MC_OK)
		st = out_commit(&out, err);
	else
		out_abort(&out);
	if (st == MC_OK && json) {
		json_t *o = json_object();
		json_object_set_new(o, "input", json_string(in_path));
		json_object_set_new(o, "output", json_string(out_path));
		json_object_set_new(o, "metadata_bytes", json_integer((json_int_t)params->metadata_len));
		json_object_set_new(o, "preview_bytes", json_integer((json_int_t)params->preview_len));
		json_array_append_new(report, o);
	}
done:
	params->metadata = NULL;
	params->metadata_len = 0;
	params->preview = NULL;
	params->preview_len = 0;
	mc_buf_free(meta, meta_len);
	mc_buf_free(preview, preview_len);
	return st;
}

mc_status cmd_seal(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"recipient", required_argument, NULL, 'r'},
	                                     {"cipher", required_argument, NULL, 'c'},
	                                     {"sign", required_argument, NULL, 's'},
	                                     {"meta", required_argument, NULL, 'm'},
	                                     {"preview-file", required_argument, NULL, 'p'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"preview", no_argument, NULL, 'V'},
	                                     {"preview-block", required_argument, NULL, 'B'},
	                                     {"no-meta", no_argument, NULL, 'N'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *recipient_paths[MAX_RECIPIENTS];
	size_t n_recipients = 0;
	const char *out = NULL, *sign = NULL, *meta = NULL, *preview = NULL;
	mc_cipher cipher = MC_CIPHER_CHACHA20_POLY1305;
	int pfd = -1, c;
	bool force = false, json = false, make_preview_opt = false, no_meta = false;
	uint32_t preview_block = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (n_recipients == MAX_RECIPIENTS)
				return usage_error(err, "seal", "at most %d recipients", MAX_RECIPIENTS);
			recipient_paths[n_recipients++] = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "chacha20") == 0 || strcmp(optarg, "chacha20-poly1305") == 0)
				cipher = MC_CIPHER_CHACHA20_POLY1305;
			else if (strcmp(optarg, "aes") == 0 || strcmp(optarg, "aes-256-gcm") == 0)
				cipher = MC_CIPHER_AES_256_GCM;
			else
				return usage_error(err, "seal", "--cipher must be chacha20 or aes");
			break;
		case 's': sign = optarg; break;
		case 'm': meta = optarg; break;
		case 'p': preview = optarg; break;
		case 'V': make_preview_opt = true; break;
		case 'B':
			if (!parse_preview_number(optarg, MC_IMAGE_MAX_SIDE, &preview_block))
				return usage_error(err, "seal", "--preview-block must be 1 to %u", MC_IMAGE_MAX_SIDE);
			make_preview_opt = true;
			break;
		case 'N': no_meta = true; break;
		case 'o': out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "seal", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "seal", "unknown option");
		}
	}
	int n_inputs = argc - optind;
	if (!out)
		return usage_error(err, "seal", "give the output with -o");
	if (n_inputs < 1)
		return usage_error(err, "seal", "give the file to seal (or - for stdin)");
	if (n_recipients == 0)
		return usage_error(err, "seal", "give at least one recipient with -r");
	struct stat sb;
	bool out_is_dir = stat(out, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (n_inputs > 1 && !out_is_dir)
		return usage_error(err, "seal", "with several inputs, -o must be an existing directory");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "seal", "--json prints to stdout: give -o a file");
	if (make_preview_opt && preview)
		return usage_error(err, "seal", "--preview makes a preview; --preview-file gives one: not both");

	mc_pubkey *recipients[MAX_RECIPIENTS] = {0};
	mc_identity *signer = NULL;
	mc_pubkey *signer_public = NULL;
	struct unlocker unlock;
	memset(&unlock, 0, sizeof unlock);
	json_t *user_meta = NULL;
	uint8_t *preview_buf = NULL;
	size_t preview_len = 0;
	json_t *report = json ? json_array() : NULL;
	mc_status st = MC_OK;

	for (size_t i = 0; i < n_recipients && st == MC_OK; i++)
		st = mc_pubkey_load(recipient_paths[i], MC_ROLE_RECIPIENT, &recipients[i], err);
	if (st == MC_OK && meta)
		st = load_metadata(meta, &user_meta, err);
	if (st == MC_OK && preview)
		st = load_preview(preview, &preview_buf, &preview_len, err);
	/* One passphrase derivation for all inputs, overlapped with the first one when the key
	 * file names its public key; otherwise done first. */
	if (st == MC_OK && sign) {
		mc_err no_public;
		if (mc_identity_file_signer(sign, &signer_public, &no_public) == MC_OK &&
		    (st = identity_passphrase(sign, pfd, &unlock.pp, err)) == MC_OK) {
			unlock.path = sign;
			if (pthread_create(&unlock.thread, NULL, unlock_main, &unlock) == 0)
				unlock.started = true;
			else
				st = MC_ERR_NOMEM;
		} else if (st == MC_OK) {
			mc_pubkey_free(signer_public);
			signer_public = NULL;
			st = load_identity(sign, pfd, MC_IDENTITY_SIGN, &signer, err);
		}
	}

	mc_seal_params params = {
	    .cipher = cipher,
	    .recipients = (const mc_pubkey *const *)recipients,
	    .n_recipients = n_recipients,
	    .signer = signer,
	    .signer_public = unlock.started ? signer_public : NULL,
	    .signer_wait = unlock.started ? unlock_wait : NULL,
	    .signer_wait_ctx = unlock.started ? &unlock : NULL,
	};
	struct sections sec = {.user_meta = user_meta,
	                       .auto_meta = !no_meta,
	                       .make_preview = make_preview_opt,
	                       .preview_block = preview_block,
	                       .fixed_preview = preview_buf,
	                       .fixed_preview_len = preview_len};
	mc_status first_failure = MC_OK;
	mc_err first_err = {0};
	for (int i = 0; st == MC_OK && i < n_inputs; i++) {
		const char *in = argv[optind + i];
		char *path = NULL;
		if (out_is_dir) {
			if (strcmp(in, "-") == 0) {
				st = usage_error(err, "seal", "stdin cannot be sealed into a directory; give -o FILE");
				break;
			}
			char *copy = strdup(in);
			if (!copy || asprintf(&path, "%s/%s%s", out, basename(copy), SEALED_SUFFIX) < 0)
				path = NULL;
			free(copy);
			if (!path) {
				st = MC_ERR_NOMEM;
				break;
			}
		}
		mc_status one = seal_one(&params, &sec, in, path ? path : out, force, json, report, err);
		if (params.signer_wait && unlock.joined) {
			/* The key is unlocked now: the remaining inputs use it directly. */
			if (unlock.st != MC_OK) {
				st = unlock.st;
				*err = unlock.err;
				free(path);
				break;
			}
			params.signer = unlock.id;
			params.signer_public = NULL;
			params.signer_wait = NULL;
			params.signer_wait_ctx = NULL;
		}
		if (one != MC_OK && n_inputs > 1) {
			fprintf(stderr, "medcrypt seal: %s: %s: %s\n", in, mc_status_name(one), err->msg);
			if (first_failure == MC_OK) {
				first_failure = one;
				first_err = *err;
			}
		} else if (one != MC_OK) {
			st = one;
		}
		free(path);
	}
	if (st == MC_OK && first_failure != MC_OK) {
		st = first_failure;
		*err = first_err;
		snprintf(err->msg, sizeof err->msg, "some inputs were not sealed (see above)");
	}
	if (st == MC_OK && json)
		json_print(report);
	else
		json_decref(report);
	for (size_t i = 0; i < n_recipients; i++)
		mc_pubkey_free(recipients[i]);
	if (unlock.started && !unlock.joined)
		unlock_join(&unlock, &(mc_err){0});
	passphrase_free(&unlock.pp);
	mc_identity_free(unlock.id);
	mc_pubkey_free(signer_public);
	mc_identity_free(signer);
	json_decref(user_meta);
	mc_buf_free(preview_buf, preview_len);
	return st;
}
