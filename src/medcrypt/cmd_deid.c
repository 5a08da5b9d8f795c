/*
 * cmd_deid.c: `medcrypt deid` and `medcrypt reid`. deid de-identifies one DICOM file, or every
 * regular file of a directory into an output directory, with <medcrypt/deid.h>; the originals
 * are sealed (CMS) for the -r recipients inside each output. The UID mapping's key is random
 * per run, shared by all files of the run (a series stays a series), and with --key-map it is
 * kept in a medcrypt container sealed for the same recipients, so that later runs (which open it
 * with -k) map UIDs the same way. reid restores a de-identified file with the holder's key.
 * Every output is written to a temporary file and renamed into place only when complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <medcrypt/deid.h>
#include <medcrypt/dicom.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_RECIPIENTS 1024

static int rewind_fd(void *ctx)
{
	/* mc_input_fd keeps the descriptor in ctx (cli.h: borrowed, carried in ctx) */
	int fd = (int)(intptr_t)ctx;
	return lseek(fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

/* Opens a regular file for two passes. */
static mc_status open_seekable(const char *path, int *fd, uint64_t *size, mc_err *err)
{
	struct stat sb;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err->status = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot open %s: %s", path, strerror(errno));
		return MC_ERR_IO;
	}
	if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(*fd);
		err->status = MC_ERR_MISUSE;
		snprintf(err->msg, sizeof err->msg, "%s is not a regular file (it is read twice)", path);
		return MC_ERR_MISUSE;
	}
	*size = (uint64_t)sb.st_size;
	return MC_OK;
}

/* Prefixes a library message with the file it concerns. */
static void name_file(mc_err *err, const char *path)
{
	char detail[sizeof err->msg];
	snprintf(detail, sizeof detail, "%s", err->msg);
	snprintf(err->msg, sizeof err->msg, "%.120s: %.270s", path, detail);
}

typedef struct memsrc {
	const uint8_t *p;
	size_t len, pos;
} memsrc;

static long memsrc_read(void *ctx, uint8_t *b, size_t n)
{
	memsrc *m = ctx;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	memcpy(b, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

typedef struct memsink {
	uint8_t buf[MC_DEID_UID_KEY_LEN + 1];
	size_t len;
} memsink;

static int memsink_write(void *ctx, const uint8_t *b, size_t n)
{
	memsink *m = ctx;
	if (n > sizeof m->buf - m->len) {
		errno = EFBIG;
		return -1;
	}
	memcpy(m->buf + m->len, b, n);
	m->len += n;
	return 0;
}

/* The UID key: from --key-map (opened with -k) when it exists, else new (and sealed into it). */
static mc_status uid_key_get(const char *map, const char *key_path, int pfd, mc_pubkey **rcpt, size_t n_rcpt,
                             bool force, uint8_t key[MC_DEID_UID_KEY_LEN], mc_err *err)
{
	struct stat sb;
	if (map && lstat(map, &sb) == 0 && !force) {
		if (!key_path)
			return usage_error(err, "deid",
			                   "%s exists: give -k NAME.key to open it (or --force to replace it)", map);
		mc_identity *id = NULL;
		mc_file *f = NULL;
		memsink sink = {{0}, 0};
		int fd = -1;
		long long size;
		mc_status st = load_identity(key_path, pfd, MC_IDENTITY_ENC, &id, err);
		if (st == MC_OK)
			st = in_open(map, &fd, &size, err);
		if (st == MC_OK)
			st = mc_file_read(mc_input_fd(fd), &f, err);
		if (st == MC_OK)
			st = mc_file_unlock(f, id, err);
		if (st == MC_OK)
			st = mc_file_open_payload(f, mc_input_fd(fd), (mc_output){memsink_write, &sink}, NULL, NULL,
			                          err);
		if (st == MC_OK && sink.len != MC_DEID_UID_KEY_LEN) {
			st = MC_ERR_PAYLOAD;
			snprintf(err->msg, sizeof err->msg, "%s does not hold a UID key", map);
		}
		if (st == MC_OK)
			memcpy(key, sink.buf, MC_DEID_UID_KEY_LEN);
		else if (st != MC_ERR_MISUSE)
			name_file(err, map);
		mc_wipe(&sink, sizeof sink);
		if (fd >= 0)
			in_close(fd);
		mc_file_free(f);
		mc_identity_free(id);
		return st;
	}
	if (RAND_bytes(key, MC_DEID_UID_KEY_LEN) != 1) {
		err->status = MC_ERR_CRYPTO;
		snprintf(err->msg, sizeof err->msg, "no random bytes for the UID key");
		return MC_ERR_CRYPTO;
	}
	if (!map)
		return MC_OK;
	out_file o;
	mc_status st = out_begin(&o, map, force, 0600, err);
	if (st != MC_OK)
		return st;
	mc_seal_params sp;
	memset(&sp, 0, sizeof sp);
	sp.recipients = (const mc_pubkey *const *)rcpt;
	sp.n_recipients = n_rcpt;
	sp.threads = 1;
	memsrc src = {key, MC_DEID_UID_KEY_LEN, 0};
	st = mc_seal(&sp, (mc_input){memsrc_read, &src}, mc_output_fd(o.fd), err);
	if (st == MC_OK)
		return out_commit(&o, err);
	out_abort(&o);
	return st;
}

/* De-identifies one file to out_path. */
static mc_status deid_one(const char *in_path, const char *out_path, const mc_deid_params *p, bool force, mc_err *err)
{
	int fd;
	uint64_t size;
	mc_status st = open_seekable(in_path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	out_file o;
	if ((st = out_begin(&o, out_path, force, 0644, err)) != MC_OK) {
		close(fd);
		return st;
	}
	mc_input in = {mc_input_fd(fd).read, (void *)(intptr_t)fd};
	st = mc_deid(in, rewind_fd, size, mc_output_fd(o.fd), p, err);
	close(fd);
	if (st != MC_OK) {
		out_abort(&o);
		name_file(err, in_path);
		return st;
	}
	return out_commit(&o, err);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order, into out_dir (created if missing). */
static mc_status deid_dir(const char *dir, const char *out_dir, const mc_deid_params *p, bool force, size_t *done,
                          mc_err *err)
{
	DIR *d = opendir(dir);
	if (!d) {
		err->status = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot read the directory %s: %s", dir, strerror(errno));
		return MC_ERR_IO;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	mc_status st = MC_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				st = MC_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			st = MC_ERR_NOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (st == MC_OK && mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
		st = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot create %s: %s", out_dir, strerror(errno));
	}
	if (names)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; st == MC_OK && i < n; i++) {
		char in_path[4096], out_path[4096];
		snprintf(in_path, sizeof in_path, "%s/%s", dir, names[i]);
		snprintf(out_path, sizeof out_path, "%s/%s", out_dir, names[i]);
		if (strcasecmp(names[i], "DICOMDIR") == 0) { /* its offsets would point nowhere */
			fprintf(stderr,
			        "medcrypt deid: skipped %s: a DICOMDIR indexes the originals; make a new one for %s "
			        "(dcmmkdir)\n",
			        in_path, out_dir);
			continue;
		}
		if ((st = deid_one(in_path, out_path, p, force, err)) == MC_OK)
			(*done)++;
	}
	if (st == MC_ERR_NOMEM && !err->msg[0])
		snprintf(err->msg, sizeof err->msg, "out of memory");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return st;
}

static bool parse_region(const char *s, mc_deid_region *r)
{
	unsigned long v[4];
	char *end;
	for (int i = 0; i < 4; i++) {
		errno = 0;
		v[i] = strtoul(s, &end, 10);
		if (end == s || errno || v[i] > 65535 || (i < 3 && *end != ',') || (i == 3 && *end))
			return false;
		s = end + 1;
	}
	if (v[2] == 0 || v[3] == 0)
		return false;
	*r = (mc_deid_region){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3]};
	return true;
}

mc_status cmd_deid(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"recipient", required_argument, NULL, 'r'}, {"output", required_argument, NULL, 'o'},
	    {"key-map", required_argument, NULL, 'm'},   {"key", required_argument, NULL, 'k'},
	    {"region", required_argument, NULL, 'g'},    {"passphrase-fd", required_argument, NULL, 'P'},
	    {"force", no_argument, NULL, 'f'},           {NULL, 0, NULL, 0}};
	const char *rpaths[MAX_RECIPIENTS];
	size_t n_r = 0, n_regions = 0;
	mc_deid_region regions[MC_DEID_MAX_REGIONS];
	const char *out = NULL, *map = NULL, *key_path = NULL;
	int pfd = -1, c;
	bool force = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:o:k:f", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (n_r == MAX_RECIPIENTS)
				return usage_error(err, "deid", "at most %d recipients", MAX_RECIPIENTS);
			rpaths[n_r++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'm': map = optarg; break;
		case 'k': key_path = optarg; break;
		case 'g':
			if (n_regions == MC_DEID_MAX_REGIONS)
				return usage_error(err, "deid", "at most %d regions", MC_DEID_MAX_REGIONS);
			if (!parse_region(optarg, &regions[n_regions++]))
				return usage_error(err, "deid", "--region needs x,y,w,h (w and h at least 1)");
			break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "deid", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		default: return usage_error(err, "deid", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "deid", "give exactly one input file or directory");
	if (n_r == 0)
		return usage_error(err, "deid", "give at least one -r RECIPIENT.pub (who may re-identify)");
	if (!out)
		return usage_error(err, "deid", "give -o OUT.dcm (or -o OUTDIR for a directory)");
	if (key_path && !map)
		return usage_error(err, "deid", "-k is only used to open an existing --key-map");
	if (strcmp(out, "-") == 0)
		return usage_error(err, "deid", "-o - is not supported: give a file name");
	const char *in = argv[optind];
	struct stat sb;
	if (stat(in, &sb) != 0) {
		err->status = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot open %s: %s", in, strerror(errno));
		return MC_ERR_IO;
	}

	mc_pubkey *rcpt[MAX_RECIPIENTS];
	size_t loaded = 0;
	mc_status st = MC_OK;
	for (; loaded < n_r && st == MC_OK; loaded++)
		if ((st = mc_pubkey_load(rpaths[loaded], MC_ROLE_RECIPIENT, &rcpt[loaded], err)) != MC_OK)
			break;
	uint8_t uid_key[MC_DEID_UID_KEY_LEN];
	if (st == MC_OK)
		st = uid_key_get(map, key_path, pfd, rcpt, n_r, force, uid_key, err);
	if (st == MC_OK) {
		mc_deid_params p;
		memset(&p, 0, sizeof p);
		p.recipients = (const mc_pubkey *const *)rcpt;
		p.n_recipients = n_r;
		p.uid_key = uid_key;
		p.regions = n_regions ? regions : NULL;
		p.n_regions = n_regions;
		if (S_ISDIR(sb.st_mode)) {
			size_t done = 0;
			st = deid_dir(in, out, &p, force, &done, err);
			if (st == MC_OK)
				fprintf(stderr, "medcrypt: de-identified %zu files into %s\n", done, out);
		} else {
			st = deid_one(in, out, &p, force, err);
		}
	}
	mc_wipe(uid_key, sizeof uid_key);
	for (size_t i = 0; i < loaded; i++)
		mc_pubkey_free(rcpt[i]);
	return st;
}

mc_status cmd_reid(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	const char *key_path = NULL, *out = NULL;
	int pfd = -1, c;
	bool force = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 'o': out = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "reid", "--passphrase-fd needs a file descriptor number");
			break;
		case 'f': force = true; break;
		default: return usage_error(err, "reid", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "reid", "give exactly one input file");
	if (!key_path || !out)
		return usage_error(err, "reid", "give -k NAME.key and -o ORIG.dcm");
	if (strcmp(out, "-") == 0)
		return usage_error(err, "reid", "-o - is not supported: give a file name");
	const char *in_path = argv[optind];
	int fd;
	uint64_t size;
	mc_status st = open_seekable(in_path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	mc_identity *id = NULL;
	out_file o;
	bool opened = false;
	if ((st = load_identity(key_path, pfd, MC_IDENTITY_ENC, &id, err)) == MC_OK &&
	    (st = out_begin(&o, out, force, 0600, err)) == MC_OK) {
		opened = true;
		mc_input in = {mc_input_fd(fd).read, (void *)(intptr_t)fd};
		st = mc_reid(in, rewind_fd, size, mc_output_fd(o.fd), id, err);
		if (st != MC_OK)
			name_file(err, in_path);
	}
	close(fd);
	mc_identity_free(id);
	if (opened)
		return st == MC_OK ? out_commit(&o, err) : (out_abort(&o), st);
	return st;
}
