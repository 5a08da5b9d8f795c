/*
 * cmd_share.c: `share` and `unshare`: change the wraps of a sealed file and copy the rest
 * (core, payload, signature) byte for byte, so nothing is re-encrypted or re-signed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_KEYS 1024

/* Writes f's header and then everything left in fd to out_path, atomically. */
static mc_status rewrite(const mc_file *f, int fd, const char *out_path, bool force, mc_err *err)
{
	out_file out;
	mc_status st = out_begin(&out, out_path, force, 0644, err);
	if (st != MC_OK)
		return st;
	mc_output o = mc_output_fd(out.fd);
	st = mc_file_write_header(f, o, err);
	uint8_t *buf = malloc(1 << 20);
	if (!buf)
		st = MC_ERR_NOMEM;
	while (st == MC_OK) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err->status = st = MC_ERR_IO;
			snprintf(err->msg, sizeof err->msg, "read failed: %s", strerror(errno));
		} else if (n == 0) {
			break;
		} else {
			st = write_all(o, buf, (size_t)n, err);
		}
	}
	free(buf);
	if (st == MC_OK)
		return out_commit(&out, err);
	out_abort(&out);
	return st;
}

mc_status cmd_share(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
	                                     {"recipient", required_argument, NULL, 'r'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *key = NULL, *out = NULL, *paths[MAX_KEYS];
	size_t n = 0;
	int pfd = -1, c;
	bool force = false, json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:r:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'r':
			if (n == MAX_KEYS)
				return usage_error(err, "share", "too many recipients");
			paths[n++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "share", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "share", "unknown option");
		}
	}
	if (!key || !out || n == 0 || optind + 1 != argc)
		return usage_error(err, "share", "give -k NAME.key, at least one -r, -o OUT and one input");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "share", "--json prints to stdout: give -o a file");

	mc_pubkey *keys[MAX_KEYS] = {0};
	mc_identity *id = NULL;
	mc_file *f = NULL;
	int fd = -1;
	long long size;
	mc_status st = MC_OK;
	for (size_t i = 0; i < n && st == MC_OK; i++)
		st = mc_pubkey_load(paths[i], MC_ROLE_RECIPIENT, &keys[i], err);
	if (st == MC_OK)
		st = in_open(argv[optind], &fd, &size, err);
	if (st == MC_OK)
		st = mc_file_read(mc_input_fd(fd), &f, err);
	if (st == MC_OK)
		st = load_identity(key, pfd, MC_IDENTITY_ENC, &id, err);
	if (st == MC_OK)
		st = mc_file_unlock(f, id, err);
	for (size_t i = 0; i < n && st == MC_OK; i++)
		st = mc_file_add_recipient(f, keys[i], err);
	if (st == MC_OK)
		st = rewrite(f, fd, out, force, err);
	if (st == MC_OK && json) {
		json_t *o = json_object(), *added = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(added, json_fp(mc_pubkey_fp(keys[i])));
		json_object_set_new(o, "output", json_string(out));
		json_object_set_new(o, "added", added);
		json_object_set_new(o, "recipients", json_integer((json_int_t)mc_file_n_wraps(f)));
		json_print(o);
	}
	if (fd >= 0)
		in_close(fd);
	mc_file_free(f);
	mc_identity_free(id);
	for (size_t i = 0; i < n; i++)
		mc_pubkey_free(keys[i]);
	return st;
}

mc_status cmd_unshare(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"recipient", required_argument, NULL, 'r'},
	                                     {"fingerprint", required_argument, NULL, 'F'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	static uint8_t fps[MAX_KEYS][MC_FP_LEN];
	size_t n = 0;
	const char *out = NULL;
	bool force = false, json = false;
	int c;
	mc_status st = MC_OK;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:o:f", opts, NULL)) != -1) {
		if ((c == 'r' || c == 'F') && n == MAX_KEYS)
			return usage_error(err, "unshare", "too many recipients");
		switch (c) {
		case 'r': {
			mc_pubkey *pk = NULL;
			if ((st = mc_pubkey_load(optarg, MC_ROLE_RECIPIENT, &pk, err)) != MC_OK)
				return st;
			memcpy(fps[n++], mc_pubkey_fp(pk), MC_FP_LEN);
			mc_pubkey_free(pk);
			break;
		}
		case 'F':
			if (mc_fp_parse(optarg, fps[n++]) != 0)
				return usage_error(err, "unshare", "--fingerprint needs 64 hex digits");
			break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "unshare", "unknown option");
		}
	}
	if (!out || n == 0 || optind + 1 != argc)
		return usage_error(err, "unshare", "give at least one -r or --fingerprint, -o OUT and one input");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "unshare", "--json prints to stdout: give -o a file");
	mc_file *f = NULL;
	int fd = -1;
	long long size;
	if ((st = in_open(argv[optind], &fd, &size, err)) == MC_OK)
		st = mc_file_read(mc_input_fd(fd), &f, err);
	for (size_t i = 0; i < n && st == MC_OK; i++)
		st = mc_file_remove_recipient(f, fps[i], err);
	if (st == MC_OK && mc_file_n_wraps(f) == 0)
		st = usage_error(err, "unshare", "that would remove the last recipient: nobody could open the file");
	if (st == MC_OK)
		st = rewrite(f, fd, out, force, err);
	if (st == MC_OK && json) {
		json_t *o = json_object();
		json_object_set_new(o, "output", json_string(out));
		json_object_set_new(o, "recipients", json_integer((json_int_t)mc_file_n_wraps(f)));
		json_print(o);
	}
	if (fd >= 0)
		in_close(fd);
	mc_file_free(f);
	return st;
}
