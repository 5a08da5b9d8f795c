/*
 * cmd_msg.c: sealed messages over docs/API.md §16b. `msg` seals a short UTF-8 note (at most
 * 64 KiB) in a JSON envelope {"text", "image", "in_reply_to"} with the container format, for the
 * recipient's directory key (pinned in known_users on first use, as `send` does) and for the
 * sender, signed with the sender's key, and posts it; `inbox` lists the caller's messages and
 * opens each one to show its first line; `read` opens one, requires the sender's pinned signing
 * key, prints it and marks it read. The server sees only the sealed bytes, the two user names,
 * the thread, the time, the size and the read time. Message text is untrusted: it reaches the
 * terminal only through cli_printable, line by line; and only after the whole message and its
 * signature verified (it is opened into memory, never written out before).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "cmd_msg.h"
#include "printable.h"

#define MSG_ID_HEX    32
#define MAX_TEXT      (64 * 1024)  /* the text, in bytes of UTF-8 */
#define MAX_ENVELOPE  (160 * 1024) /* its JSON envelope: escapes may grow it */
#define MAX_SEALED    (192 * 1024) /* the server's limit (MCD_MESSAGE_MAX) */
#define MESSAGE_META  "{\"type\":\"message\"}"
#define INBOX_DEFAULT 50

static bool valid_msg_id(const char *id)
{
	if (strlen(id) != MSG_ID_HEX)
		return false;
	for (size_t i = 0; i < MSG_ID_HEX; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static mc_status bad_answer(mc_err *err, const char *what)
{
	return cli_fail(err, CLI_ERR_NETWORK, "%s: malformed answer from the server", what);
}

/* A growing buffer as an mc_input (reading from pos) and an mc_output (appending up to cap).
 * Its bytes may be plaintext: mem_free wipes them. */
typedef struct mem {
	uint8_t *p;
	size_t len, cap, pos, max;
} mem;

static long mem_read(void *ctx, uint8_t *buf, size_t len)
{
	mem *m = ctx;
	if (len > m->len - m->pos)
		len = m->len - m->pos;
	memcpy(buf, m->p + m->pos, len);
	m->pos += len;
	return (long)len;
}

static int mem_write(void *ctx, const uint8_t *buf, size_t len)
{
	mem *m = ctx;
	if (len > m->max - m->len)
		return -1;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len)
			cap *= 2;
		uint8_t *p = malloc(cap);
		if (!p)
			return -1;
		if (m->len)
			memcpy(p, m->p, m->len);
		if (m->p)
			mc_wipe(m->p, m->cap);
		free(m->p);
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static void mem_free(mem *m)
{
	if (m->p)
		mc_wipe(m->p, m->cap);
	free(m->p);
	memset(m, 0, sizeof *m);
}

static const char *key_path(const session *s, mc_err *err)
{
	if (!s->key_path)
		cli_fail(err, MC_ERR_KEY, "the session names no key file: run 'medcrypt login --key NAME.key' again");
	return s->key_path;
}

static void format_time(json_t *t, char *out, size_t size)
{
	time_t v = json_is_integer(t) ? (time_t)json_integer_value(t) : 0;
	struct tm tm;
	if (v <= 0 || !localtime_r(&v, &tm) || strftime(out, size, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, size, "-");
}

/* ---- msg ---- */

/* The text of --file F ("-": stdin), at most MAX_TEXT bytes. */
static mc_status read_text_file(const char *path, mem *text, mc_err *err)
{
	int fd = -1;
	long long size = -1;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	text->max = MAX_TEXT + 1;
	uint8_t buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (mem_write(text, buf, (size_t)n) != 0) {
			st = cli_fail(err, MC_ERR_MISUSE, "the message is longer than 64 KiB");
			break;
		}
	if (st == MC_OK && n < 0)
		st = cli_fail(err, MC_ERR_IO, "cannot read %.300s", path);
	mc_wipe(buf, sizeof buf);
	in_close(fd);
	return st;
}

mc_status cmd_msg(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},  {"reply", required_argument, NULL, 'r'},
	    {"image", required_argument, NULL, 'i'}, {"passphrase-fd", required_argument, NULL, 'P'},
	    {"json", no_argument, NULL, 'j'},        {NULL, 0, NULL, 0}};
	const char *file = NULL, *reply = NULL, *image = NULL;
	int pfd = -1, c;
	bool json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'r': reply = optarg; break;
		case 'i': image = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "msg", "--passphrase-fd needs a file descriptor number");
			break;
		case 'j': json = true; break;
		default: return usage_error(err, "msg", "unknown option");
		}
	}
	int left = argc - optind;
	if (left != (file ? 1 : 2))
		return usage_error(err, "msg", "give USER and TEXT, or USER and --file F");
	const char *to = argv[optind];
	if (!cli_valid_username(to))
		return fail_usage_name(err, to);
	if (reply && !valid_msg_id(reply))
		return usage_error(err, "msg", "--reply takes a message ID (32 lowercase hex digits)");
	if (image && !valid_msg_id(image))
		return usage_error(err, "msg", "--image takes an image ID (32 lowercase hex digits)");

	session s = {0};
	client *cl = NULL;
	mem text = {0}, sealed = {.max = MAX_SEALED};
	json_t *envelope = NULL, *user = NULL, *me = NULL, *img = NULL;
	char *plain = NULL;
	mc_pubkey *keys[2] = {0};
	mc_identity *id = NULL;
	mc_status st = MC_OK;
	if (file) {
		if ((st = read_text_file(file, &text, err)) != MC_OK)
			goto cleanup;
	} else {
		text.max = MAX_TEXT + 1;
		if (mem_write(&text, (const uint8_t *)argv[optind + 1], strlen(argv[optind + 1])) != 0) {
			st = cli_fail(err, MC_ERR_MISUSE, "the message is longer than 64 KiB");
			goto cleanup;
		}
	}
	if (text.len == 0) {
		st = usage_error(err, "msg", "the message is empty");
		goto cleanup;
	}
	json_t *text_j = json_stringn((const char *)text.p, text.len); /* NULL: not UTF-8 (or a NUL) */
	if (!text_j) {
		st = usage_error(err, "msg", "the message is not UTF-8 text");
		goto cleanup;
	}
	envelope = json_pack("{s:o, s:o, s:o}", "text", text_j, "image", image ? json_string(image) : json_null(),
	                     "in_reply_to", reply ? json_string(reply) : json_null());
	plain = envelope ? json_text(envelope, JSON_COMPACT) : NULL;
	if (!plain) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (strlen(plain) > MAX_ENVELOPE) {
		st = cli_fail(err, MC_ERR_MISUSE, "the message has too many characters that need escaping");
		goto cleanup;
	}
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		goto cleanup;
	if (strcmp(to, s.username) == 0) {
		st = usage_error(err, "msg", "a message needs another user");
		goto cleanup;
	}
	if (image) {
		/* an attachment is a reference: the recipient needs their own share of the image */
		char path[200];
		snprintf(path, sizeof path, "/api/v1/images/%s", image);
		if ((st = client_call(cl, "GET", path, NULL, 200, &img, "image", err)) != MC_OK) {
			if (st == CLI_ERR_DENIED)
				cli_fail(err, st, "--image %s: no such image, or it is not shared with you", image);
			goto cleanup;
		}
	}
	/* The recipient's current encryption key from the directory, pinned in known_users; mine
	 * from my key file, checked against the directory's signing key as `send` does. */
	const char *kp = key_path(&s, err);
	if (!kp) {
		st = err->status;
		goto cleanup;
	}
	if ((st = fetch_user(cl, to, &user, err)) != MC_OK ||
	    (st = user_pubkey(user, MC_ROLE_RECIPIENT, &keys[0], err)) != MC_OK ||
	    (st = fetch_user(cl, s.username, &me, err)) != MC_OK ||
	    (st = load_identity(kp, pfd, MC_IDENTITY_BOTH, &id, err)) != MC_OK ||
	    (st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &keys[1], err)) != MC_OK)
		goto cleanup;
	uint8_t fp[MC_FP_LEN];
	const char *my_sign = json_string_value(json_object_get(me, "sign_fingerprint"));
	if (!my_sign || mc_fp_parse(my_sign, fp) != 0 || !mc_ct_equal(fp, mc_identity_sign_fp(id), MC_FP_LEN)) {
		st = cli_fail(err, MC_ERR_KEY,
		              "your key file's signing key is not the one the directory has for you: the recipient "
		              "would refuse the message");
		goto cleanup;
	}
	mem in = {.p = (uint8_t *)plain, .len = strlen(plain)};
	mc_seal_params params = {.recipients = (const mc_pubkey *const *)keys,
	                         .n_recipients = 2,
	                         .signer = id,
	                         .metadata = (const uint8_t *)MESSAGE_META,
	                         .metadata_len = strlen(MESSAGE_META),
	                         .threads = 1};
	if ((st = mc_seal(&params, (mc_input){mem_read, &in}, (mc_output){mem_write, &sealed}, err)) != MC_OK)
		goto cleanup;
	char *b64 = b64_encode(sealed.p, sealed.len);
	json_t *req = b64 ? json_pack("{s:s, s:o, s:s}", "to", to, "reply_to", reply ? json_string(reply) : json_null(),
	                              "sealed", b64)
	                  : NULL;
	free(b64);
	json_t *resp = NULL;
	if (!req) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	st = client_call(cl, "POST", "/api/v1/messages", req, 201, &resp, "msg", err);
	json_decref(req);
	const char *msg_id = json_string_value(json_object_get(resp, "id"));
	if (st == MC_OK && !msg_id)
		st = bad_answer(err, "msg");
	if (st == MC_OK) {
		if (json)
			json_print(json_incref(resp));
		else
			printf("%s\n", msg_id);
	}
	json_decref(resp);
cleanup:
	if (plain) {
		mc_wipe(plain, strlen(plain));
		free(plain);
	}
	mem_free(&text);
	mem_free(&sealed);
	json_decref(envelope);
	json_decref(user);
	json_decref(me);
	json_decref(img);
	mc_pubkey_free(keys[0]);
	mc_pubkey_free(keys[1]);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- opening a message ---- */

/* A message as GET /api/v1/messages/{id} gives it, opened: the sealed bytes unwrapped with my
 * key, every chunk and the signature verified against the sender's pinned signing key, the
 * envelope parsed. *envelope is freed with json_decref. */
static mc_status open_message(client *cl, const mc_identity *id, const json_t *msg, json_t **envelope,
                              char signer_hex[MC_FP_HEX_LEN + 1], mc_err *err)
{
	const char *from = json_string_value(json_object_get(msg, "from"));
	const char *b64 = json_string_value(json_object_get(msg, "sealed"));
	json_t *sender = NULL;
	mc_pubkey *trusted = NULL;
	mc_file *f = NULL;
	mem sealed = {0}, plain = {.max = MAX_ENVELOPE};
	*envelope = NULL;
	if (!from || !b64 || !cli_valid_username(from))
		return bad_answer(err, "message");
	sealed.p = b64_decode(b64, &sealed.len);
	sealed.cap = sealed.len;
	if (!sealed.p || sealed.len > MAX_SEALED) {
		mem_free(&sealed);
		return bad_answer(err, "message");
	}
	mc_status st;
	if ((st = fetch_user(cl, from, &sender, err)) != MC_OK ||
	    (st = user_pubkey(sender, MC_ROLE_SIGNER, &trusted, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_file_read((mc_input){mem_read, &sealed}, &f, err)) != MC_OK ||
	    (st = mc_file_unlock(f, id, err)) != MC_OK)
		goto cleanup;
	const mc_pubkey *trust[] = {trusted};
	mc_open_params params = {.trusted = trust, .n_trusted = 1};
	mc_payload_info info;
	if ((st = mc_file_open_payload(f, (mc_input){mem_read, &sealed}, (mc_output){mem_write, &plain}, &params, &info,
	                               err)) != MC_OK)
		goto cleanup;
	mc_fp_hex(info.signer_fp, signer_hex);
	json_error_t jerr;
	*envelope = json_loadb((const char *)plain.p, plain.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*envelope || !json_is_object(*envelope) || !json_is_string(json_object_get(*envelope, "text"))) {
		json_decref(*envelope);
		*envelope = NULL;
		st = cli_fail(err, MC_ERR_PAYLOAD, "the message opened but is not a message envelope");
	}
cleanup:
	mc_file_free(f);
	mc_pubkey_free(trusted);
	json_decref(sender);
	mem_free(&sealed);
	mem_free(&plain);
	return st;
}

static mc_status fetch_message(client *cl, const char *msg_id, json_t **msg, mc_err *err)
{
	char path[200];
	snprintf(path, sizeof path, "/api/v1/messages/%s", msg_id);
	mc_status st = client_call(cl, "GET", path, NULL, 200, msg, "message", err);
	if (st == CLI_ERR_DENIED)
		cli_fail(err, st, "message %s: no such message, or it is not yours", msg_id);
	if (st == MC_OK && !*msg)
		st = bad_answer(err, "message");
	return st;
}

/* Prints untrusted text line by line through cli_printable, each line after prefix. At most
 * max_lines lines (0: all). */
static void print_text(const char *text, const char *prefix, int max_lines)
{
	size_t n = strlen(text);
	char *line = malloc(n + 1), *safe = malloc(n + 1);
	if (!line || !safe) {
		free(line);
		free(safe);
		return;
	}
	int lines = 0;
	for (const char *p = text; (max_lines == 0 || lines < max_lines);) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		memcpy(line, p, len);
		line[len] = 0;
		printf("%s%s\n", prefix, cli_printable(line, safe, n + 1));
		lines++;
		if (!e)
			break;
		p = e + 1;
	}
	mc_wipe(line, n + 1);
	mc_wipe(safe, n + 1);
	free(line);
	free(safe);
}

static mc_status load_my_identity(const session *s, int pfd, mc_identity **id, mc_err *err)
{
	const char *kp = key_path(s, err);
	return kp ? load_identity(kp, pfd, MC_IDENTITY_ENC, id, err) : err->status;
}

/* ---- inbox ---- */

mc_status cmd_inbox(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"unread", no_argument, NULL, 'u'},      {"thread", required_argument, NULL, 't'},
	    {"limit", required_argument, NULL, 'l'}, {"passphrase-fd", required_argument, NULL, 'P'},
	    {"json", no_argument, NULL, 'j'},        {NULL, 0, NULL, 0}};
	bool unread = false, json = false;
	const char *thread = NULL;
	long limit = INBOX_DEFAULT;
	int pfd = -1, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': unread = true; break;
		case 't': thread = optarg; break;
		case 'l': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || limit < 1 || limit > 1000)
				return usage_error(err, "inbox", "--limit takes a number from 1 to 1000");
			break;
		}
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "inbox", "--passphrase-fd needs a file descriptor number");
			break;
		case 'j': json = true; break;
		default: return usage_error(err, "inbox", "unknown option");
		}
	}
	if (optind != argc)
		return usage_error(err, "inbox", "takes no arguments besides its options");
	if (thread && !valid_msg_id(thread))
		return usage_error(err, "inbox", "--thread takes a thread ID (32 lowercase hex digits)");
	session s;
	client *cl = NULL;
	json_t *list = NULL, *out = NULL;
	mc_identity *id = NULL;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	char path[200];
	snprintf(path, sizeof path, "/api/v1/messages?limit=%ld%s%s%s", limit, unread ? "&unread=1" : "",
	         thread ? "&thread=" : "", thread ? thread : "");
	if ((st = client_call(cl, "GET", path, NULL, 200, &list, "inbox", err)) != MC_OK)
		goto cleanup;
	json_t *messages = json_object_get(list, "messages");
	if (!json_is_array(messages)) {
		st = bad_answer(err, "inbox");
		goto cleanup;
	}
	if (json_array_size(messages) && (st = load_my_identity(&s, pfd, &id, err)) != MC_OK)
		goto cleanup;
	out = json_array();
	size_t i, n_unread = 0;
	json_t *m;
	json_array_foreach(messages, i, m)
	{
		const char *mid = json_string_value(json_object_get(m, "id"));
		const char *from = json_string_value(json_object_get(m, "from"));
		const char *to = json_string_value(json_object_get(m, "to"));
		const char *dir = json_string_value(json_object_get(m, "direction"));
		if (!mid || !valid_msg_id(mid) || !from || !to || !dir) {
			st = bad_answer(err, "inbox");
			goto cleanup;
		}
		bool sent = !strcmp(dir, "sent"), is_read = !json_is_null(json_object_get(m, "read_at"));
		if (!sent && !is_read)
			n_unread++;
		/* open each one for its first line; one that does not open is listed with the reason */
		json_t *full = NULL, *env = NULL;
		char signer[MC_FP_HEX_LEN + 1] = "";
		mc_err e = {0};
		mc_status ost = fetch_message(cl, mid, &full, &e);
		if (ost == MC_OK)
			ost = open_message(cl, id, full, &env, signer, &e);
		json_decref(full);
		if (ost == CLI_ERR_PIN || ost == CLI_ERR_SESSION || ost == CLI_ERR_NETWORK) {
			*err = e;
			st = ost;
			json_decref(env);
			goto cleanup;
		}
		const char *text = env ? json_string_value(json_object_get(env, "text")) : NULL;
		json_t *row = json_deep_copy(m);
		if (row) {
			json_object_set_new(row, "text", text ? json_string(text) : json_null());
			if (!text)
				json_object_set_new(row, "error", json_string(mc_status_name(ost)));
			json_object_set(row, "image", env ? json_object_get(env, "image") : json_null());
			json_array_append_new(out, row);
		}
		if (!json) {
			char when[32], who[80], first[100];
			format_time(json_object_get(m, "created"), when, sizeof when);
			cli_printable(sent ? to : from, who, sizeof who);
			if (text) {
				const char *nl = strchr(text, '\n');
				size_t len = nl ? (size_t)(nl - text) : strlen(text);
				char line[61];
				if (len > 60)
					len = 60;
				memcpy(line, text, len);
				line[len] = 0;
				cli_printable(line, first, sizeof first);
			} else {
				snprintf(first, sizeof first, "(cannot open: %s)", mc_status_name(ost));
			}
			printf("%s  %s  %-4s %-16s %-6s  %s\n", mid, when, sent ? "to" : "from", who,
			       sent      ? "sent"
			       : is_read ? "read"
			                 : "unread",
			       first);
		}
		json_decref(env);
	}
	if (json)
		json_print(json_pack("{s:O}", "messages", out));
	else
		printf("%zu message%s, %zu unread\n", json_array_size(messages),
		       json_array_size(messages) == 1 ? "" : "s", n_unread);
cleanup:
	json_decref(list);
	json_decref(out);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- read ---- */

mc_status cmd_read(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"passphrase-fd", required_argument, NULL, 'P'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	bool json = false;
	int pfd = -1, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'P') {
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "read", "--passphrase-fd needs a file descriptor number");
		} else
			return usage_error(err, "read", "unknown option");
	}
	if (argc - optind != 1 || !valid_msg_id(argv[optind]))
		return usage_error(err, "read", "give one message ID (32 lowercase hex digits)");
	const char *mid = argv[optind];
	session s;
	client *cl = NULL;
	json_t *msg = NULL, *env = NULL;
	mc_identity *id = NULL;
	char signer[MC_FP_HEX_LEN + 1] = "";
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	if ((st = fetch_message(cl, mid, &msg, err)) != MC_OK || (st = load_my_identity(&s, pfd, &id, err)) != MC_OK ||
	    (st = open_message(cl, id, msg, &env, signer, err)) != MC_OK)
		goto cleanup;
	const char *from = json_string_value(json_object_get(msg, "from"));
	const char *to = json_string_value(json_object_get(msg, "to"));
	bool received = !strcmp(json_string_value(json_object_get(msg, "direction")) ?: "", "received");
	if (received && json_is_null(json_object_get(msg, "read_at"))) {
		char path[200];
		snprintf(path, sizeof path, "/api/v1/messages/%s/read", mid);
		if ((st = client_call(cl, "POST", path, NULL, 204, NULL, "marking it read", err)) != MC_OK)
			goto cleanup;
	}
	const char *text = json_string_value(json_object_get(env, "text"));
	if (json) {
		json_t *o = json_deep_copy(msg);
		json_object_del(o, "sealed");
		json_object_set_new(o, "text", json_string(text));
		json_object_set(o, "image", json_object_get(env, "image"));
		json_object_set(o, "in_reply_to", json_object_get(env, "in_reply_to"));
		json_object_set_new(o, "signer", json_string(signer));
		json_print(o);
	} else {
		char when[32], safe_from[80], safe_to[80];
		format_time(json_object_get(msg, "created"), when, sizeof when);
		printf("from:   %s\nto:     %s\ndate:   %s\nthread: %s\n",
		       cli_printable(from, safe_from, sizeof safe_from), cli_printable(to, safe_to, sizeof safe_to),
		       when, json_string_value(json_object_get(msg, "thread")) ?: "-");
		const char *image = json_string_value(json_object_get(env, "image"));
		const char *reply = json_string_value(json_object_get(env, "in_reply_to"));
		char safe[80];
		if (reply)
			printf("reply:  %s\n", cli_printable(reply, safe, sizeof safe));
		if (image)
			printf("image:  %s (medcrypt get %s -o FILE)\n", cli_printable(image, safe, sizeof safe),
			       valid_msg_id(image) ? image : "ID");
		printf("\n");
		print_text(text, "", 0);
	}
	fprintf(stderr, "medcrypt: good signature by %s (signing key %s)\n", from, signer);
cleanup:
	json_decref(msg);
	json_decref(env);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}
