/*
 * cmd_preview.c: `medcrypt preview FILE [--block N] [--max-size PX] [--json] -o OUT.png`: a
 * pixelated preview of a DICOM, PNG or JPEG file (lib/preview.c), written to OUT only once it
 * is complete. make_preview is shared with `medcrypt seal --preview`, and parse_preview_number
 * with its --preview-block option.
 */
#include <getopt.h>
#include <medcrypt/image.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool parse_preview_number(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != 0 || v < 1 || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

mc_status make_preview(const char *path, uint32_t block, uint32_t max_size, uint8_t **png, size_t *len,
                       mc_preview_info *info, mc_err *err)
{
	int fd;
	long long size;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	mc_preview_params p;
	mc_preview_params_default(&p);
	p.block = block;
	p.max_size = max_size;
	st = mc_preview_make(fd, &p, png, len, info, err);
	in_close(fd);
	if (st != MC_OK && st != MC_ERR_NOMEM) {
		char detail[sizeof err->msg];
		snprintf(detail, sizeof detail, "%s", err->msg);
		snprintf(err->msg, sizeof err->msg, "%s: %.300s", path, detail);
	}
	return st;
}

mc_status cmd_preview(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"block", required_argument, NULL, 'b'},  {"max-size", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},         {NULL, 0, NULL, 0}};
	uint32_t block = 0, max_size = 0;
	const char *out = NULL;
	bool force = false, json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!parse_preview_number(optarg, MC_IMAGE_MAX_SIDE, &block))
				return usage_error(err, "preview", "--block must be 1 to %u", MC_IMAGE_MAX_SIDE);
			break;
		case 's':
			if (!parse_preview_number(optarg, MC_PREVIEW_MAX_SIZE, &max_size))
				return usage_error(err, "preview", "--max-size must be 1 to %u", MC_PREVIEW_MAX_SIZE);
			break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "preview", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "preview", "give exactly one input file (or - for stdin)");
	if (!out)
		return usage_error(err, "preview", "give the output with -o");
	if (json && strcmp(out, "-") == 0)
		return usage_error(err, "preview", "--json prints to stdout: give -o a file");
	const char *in = argv[optind];

	uint8_t *png = NULL;
	size_t len = 0;
	mc_preview_info info;
	mc_status st = make_preview(in, block, max_size, &png, &len, &info, err);
	if (st != MC_OK)
		return st;
	out_file o;
	if ((st = out_begin(&o, out, force, 0600, err)) == MC_OK) {
		st = write_all(mc_output_fd(o.fd), png, len, err);
		if (st == MC_OK)
			st = out_commit(&o, err);
		else
			out_abort(&o);
	}
	mc_buf_free(png, len);
	if (st == MC_OK && json) {
		json_t *j = json_object();
		json_object_set_new(j, "input", json_string(in));
		json_object_set_new(j, "output", json_string(out));
		json_object_set_new(j, "format", json_string(mc_image_type_name(info.type)));
		json_object_set_new(j, "width", json_integer(info.width));
		json_object_set_new(j, "height", json_integer(info.height));
		json_object_set_new(j, "block", json_integer(info.block));
		json_object_set_new(j, "grid_width", json_integer(info.grid_width));
		json_object_set_new(j, "grid_height", json_integer(info.grid_height));
		json_object_set_new(j, "cell", json_integer(info.cell));
		json_object_set_new(j, "preview_width", json_integer(info.out_width));
		json_object_set_new(j, "preview_height", json_integer(info.out_height));
		json_object_set_new(j, "channels", json_integer(info.channels));
		json_object_set_new(j, "bytes", json_integer((json_int_t)len));
		json_print(j);
	}
	return st;
}
