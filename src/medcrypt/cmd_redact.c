/*
 * cmd_redact.c: `medcrypt redact` (hide rectangles of a PNG or JPEG, carrying their original
 * content sealed for recipients inside the image) and `medcrypt restore` (a recipient gets the
 * original back). Both read the whole image into memory (libmedcrypt's limits apply) and write
 * the result through out_begin/out_commit, so a failure leaves no output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <medcrypt/redact.h>

#include "cli.h"

#define MAX_RECIPIENTS 1024
#define MAX_TRUSTED    64

/* Reads a whole input ("-" for stdin) of at most MC_REDACT_MAX_INPUT bytes. */
static mc_status read_image(const char *cmd, const char *path, uint8_t **out, size_t *len, mc_err *err)
{
	int fd;
	long long size;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	if (size > (long long)MC_REDACT_MAX_INPUT) {
		in_close(fd);
		return usage_error(err, cmd, "%s is larger than the limit of %u bytes", path, MC_REDACT_MAX_INPUT);
	}
	size_t cap = size > 0 ? (size_t)size + 1 : 1 << 20, got = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		if (got == cap) {
			if (cap > MC_REDACT_MAX_INPUT) {
				st = MC_ERR_MISUSE;
				snprintf(err->msg, sizeof err->msg, "%s is larger than the limit of %u bytes", path,
				         MC_REDACT_MAX_INPUT);
				break;
			}
			/* one byte past the limit tells a file over it */
			size_t next =
			    cap * 2 > (size_t)MC_REDACT_MAX_INPUT + 1 ? (size_t)MC_REDACT_MAX_INPUT + 1 : cap * 2;
			uint8_t *bigger = realloc(buf, next);
			if (!bigger) {
				st = MC_ERR_NOMEM;
				snprintf(err->msg, sizeof err->msg, "out of memory reading %s", path);
				break;
			}
			buf = bigger;
			cap = next;
		}
		ssize_t n = read(fd, buf + got, cap - got);
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
	}
	in_close(fd);
	if (!buf && st == MC_OK) {
		st = MC_ERR_NOMEM;
		snprintf(err->msg, sizeof err->msg, "out of memory reading %s", path);
	}
	if (st != MC_OK) {
		err->status = st;
		free(buf);
		return st;
	}
	*out = buf;
	*len = got;
	return MC_OK;
}

static mc_status write_image(const char *path, const uint8_t *buf, size_t len, bool force, mode_t mode, mc_err *err)
{
	out_file o;
	mc_status st = out_begin(&o, path, force, mode, err);
	if (st != MC_OK)
		return st;
	if ((st = write_all(mc_output_fd(o.fd), buf, len, err)) == MC_OK)
		return out_commit(&o, err);
	out_abort(&o);
	return st;
}

/* "x,y,w,h" of non-negative decimal integers. */
static bool parse_region(const char *s, mc_region *g)
{
	uint32_t v[4];
	for (int i = 0; i < 4; i++) {
		char *end;
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		unsigned long n = strtoul(s, &end, 10);
		if (errno || n > UINT32_MAX || *end != (i < 3 ? ',' : '\0'))
			return false;
		v[i] = (uint32_t)n;
		s = end + 1;
	}
	*g = (mc_region){v[0], v[1], v[2], v[3]};
	return true;
}

static json_t *regions_json(const mc_redact_info *info)
{
	json_t *a = json_array();
	for (size_t i = 0; i < info->n_regions; i++) {
		const mc_region *g = &info->regions[i];
		json_array_append_new(a, json_pack("{s:I,s:I,s:I,s:I}", "x", (json_int_t)g->x, "y", (json_int_t)g->y,
		                                   "w", (json_int_t)g->w, "h", (json_int_t)g->h));
	}
	return a;
}

mc_status cmd_redact(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"region", required_argument, NULL, 'g'},
	                                     {"fill", required_argument, NULL, 'F'},
	                                     {"recipient", required_argument, NULL, 'r'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"sign", required_argument, NULL, 'k'},
	                                     {"cipher", required_argument, NULL, 'c'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	mc_region regions[MC_REDACT_MAX_REGIONS];
	size_t n_regions = 0, n_recipients = 0;
	const char *recipient_paths[MAX_RECIPIENTS];
	const char *out = NULL, *sign = NULL;
	mc_redact_fill fill = MC_FILL_BLACK;
	mc_cipher cipher = MC_CIPHER_CHACHA20_POLY1305;
	int pfd = -1, c;
	bool force = false, json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:k:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (n_regions == MC_REDACT_MAX_REGIONS)
				return usage_error(err, "redact", "at most %u regions", MC_REDACT_MAX_REGIONS);
			if (!parse_region(optarg, &regions[n_regions]))
				return usage_error(err, "redact",
				                   "--region takes x,y,w,h (non-negative integers), not '%.40s'",
				                   optarg);
			n_regions++;
			break;
		case 'F':
			if (strcmp(optarg, "black") == 0)
				fill = MC_FILL_BLACK;
			else if (strcmp(optarg, "noise") == 0)
				fill = MC_FILL_NOISE;
			else if (strcmp(optarg, "pixelate") == 0)
				fill = MC_FILL_PIXELATE;
			else
				return usage_error(err, "redact", "--fill must be black, noise or pixelate");
			break;
		case 'r':
			if (n_recipients == MAX_RECIPIENTS)
				return usage_error(err, "redact", "at most %d recipients", MAX_RECIPIENTS);
			recipient_paths[n_recipients++] = optarg;
			break;
		case 'k': sign = optarg; break;
		case 'c':
			if (strcmp(optarg, "chacha20") == 0 || strcmp(optarg, "chacha20-poly1305") == 0)
				cipher = MC_CIPHER_CHACHA20_POLY1305;
			else if (strcmp(optarg, "aes") == 0 || strcmp(optarg, "aes-256-gcm") == 0)
				cipher = MC_CIPHER_AES_256_GCM;
			else
				return usage_error(err, "redact", "--cipher must be chacha20 or aes");
			break;
		case 'o': out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "redact", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "redact", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "redact", "give exactly one image (or - for stdin)");
	if (!out)
		return usage_error(err, "redact", "give the output with -o");
	if (n_regions == 0)
		return usage_error(err, "redact", "give at least one --region x,y,w,h");
	if (n_recipients == 0)
		return usage_error(err, "redact", "give at least one recipient with -r");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "redact", "--json prints to stdout: give -o a file");

	mc_pubkey *recipients[MAX_RECIPIENTS] = {0};
	mc_identity *signer = NULL;
	uint8_t *image = NULL, *redacted = NULL;
	size_t image_len = 0, redacted_len = 0;
	mc_redact_info info;
	mc_status st = MC_OK;
	for (size_t i = 0; i < n_recipients && st == MC_OK; i++)
		st = mc_pubkey_load(recipient_paths[i], MC_ROLE_RECIPIENT, &recipients[i], err);
	if (st == MC_OK)
		st = read_image(argv[0], argv[optind], &image, &image_len, err);
	if (st == MC_OK && sign)
		st = load_identity(sign, pfd, MC_IDENTITY_SIGN, &signer, err);
	if (st != MC_OK)
		goto cleanup;
	mc_redact_params params = {
	    .regions = regions,
	    .n_regions = n_regions,
	    .fill = fill,
	    .cipher = cipher,
	    .recipients = (const mc_pubkey *const *)recipients,
	    .n_recipients = n_recipients,
	    .signer = signer,
	};
	if ((st = mc_redact(image, image_len, &params, &redacted, &redacted_len, &info, err)) != MC_OK) {
		if (st == MC_ERR_MISUSE) { /* a region the image cannot hold: a usage error */
			char why[sizeof err->msg];
			memcpy(why, err->msg, sizeof why);
			usage_error(err, "redact", "%s", why);
		}
		goto cleanup;
	}
	if ((st = write_image(out, redacted, redacted_len, force, 0644, err)) != MC_OK)
		goto cleanup;
	if (info.metadata_kept)
		fprintf(stderr,
		        "medcrypt: note: the image's metadata (text, EXIF, comments, DICOM attributes) was copied "
		        "unchanged and is not hidden; a thumbnail in it (EXIF, DICOM Icon Image Sequence) shows the "
		        "unredacted picture\n");
	for (size_t i = 0; i < info.n_regions; i++) {
		const mc_region *g = &info.regions[i];
		const mc_region *want = &regions[i];
		if (g->x != want->x || g->y != want->y || g->w != want->w || g->h != want->h)
			fprintf(stderr, "medcrypt: region %zu grew to %u,%u,%u,%u (whole JPEG blocks)\n", i + 1, g->x,
			        g->y, g->w, g->h);
	}
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "output", json_string(out));
		json_object_set_new(j, "format",
		                    json_string(info.kind == MC_REDACT_PNG    ? "png"
		                                : info.kind == MC_REDACT_JPEG ? "jpeg"
		                                                              : "dicom"));
		json_object_set_new(j, "width", json_integer(info.width));
		json_object_set_new(j, "height", json_integer(info.height));
		json_object_set_new(j, "fill", json_string(mc_redact_fill_name(fill)));
		json_object_set_new(j, "regions", regions_json(&info));
		json_object_set_new(j, "sealed_bytes", json_integer((json_int_t)info.sealed_len));
		json_object_set_new(j, "signed", json_boolean(signer != NULL));
		json_print(j);
	}
cleanup:
	for (size_t i = 0; i < n_recipients; i++)
		mc_pubkey_free(recipients[i]);
	mc_identity_free(signer);
	free(image);
	mc_buf_free(redacted, redacted_len);
	return st;
}

mc_status cmd_restore(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
	                                     {"trust", required_argument, NULL, 't'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *key = NULL, *out = NULL, *trust_paths[MAX_TRUSTED];
	size_t n_trust = 0;
	int pfd = -1, c;
	bool force = false, json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 't':
			if (n_trust == MAX_TRUSTED)
				return usage_error(err, "restore", "at most %d --trust keys", MAX_TRUSTED);
			trust_paths[n_trust++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "restore", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "restore", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "restore", "give exactly one redacted image (or - for stdin)");
	if (!key || !out)
		return usage_error(err, "restore", "give your key with -k and the output with -o");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "restore", "--json prints to stdout: give -o a file");

	mc_pubkey *trusted[MAX_TRUSTED] = {0};
	mc_identity *id = NULL;
	uint8_t *image = NULL, *restored = NULL;
	size_t image_len = 0, restored_len = 0;
	mc_redact_info info;
	mc_status st = MC_OK;
	for (size_t i = 0; i < n_trust && st == MC_OK; i++)
		st = mc_pubkey_load(trust_paths[i], MC_ROLE_SIGNER, &trusted[i], err);
	if (st == MC_OK)
		st = read_image(argv[0], argv[optind], &image, &image_len, err);
	if (st == MC_OK)
		st = load_identity(key, pfd, MC_IDENTITY_ENC, &id, err);
	if (st != MC_OK)
		goto cleanup;
	mc_open_params open = {.trusted = (const mc_pubkey *const *)trusted, .n_trusted = n_trust};
	if ((st = mc_restore(image, image_len, id, &open, &restored, &restored_len, &info, err)) != MC_OK)
		goto cleanup;
	if ((st = write_image(out, restored, restored_len, force, 0600, err)) != MC_OK)
		goto cleanup;
	char hex[MC_FP_HEX_LEN + 1] = "";
	if (info.signed_ok) {
		mc_fp_hex(info.signer_fp, hex);
		fprintf(stderr, "medcrypt: good signature by %s%s\n", hex,
		        n_trust ? " (trusted)" : ", a key you did not --trust: compare it with the sender's");
	} else {
		fprintf(stderr,
		        "medcrypt: warning: the sealed regions are not signed: their sender is not authenticated\n");
	}
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "output", json_string(out));
		json_object_set_new(j, "format",
		                    json_string(info.kind == MC_REDACT_PNG    ? "png"
		                                : info.kind == MC_REDACT_JPEG ? "jpeg"
		                                                              : "dicom"));
		json_object_set_new(j, "regions", regions_json(&info));
		json_object_set_new(j, "signed", json_boolean(info.signed_ok));
		json_object_set_new(j, "signer", info.signed_ok ? json_fp(info.signer_fp) : json_null());
		json_print(j);
	}
cleanup:
	for (size_t i = 0; i < n_trust; i++)
		mc_pubkey_free(trusted[i]);
	mc_identity_free(id);
	free(image);
	mc_buf_free(restored, restored_len);
	return st;
}
