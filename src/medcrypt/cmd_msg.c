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
 * `inbox --follow` then reads the event stream (§17a; sse.c parses it) on a connection of its
 * own and prints a line per new item; a notice carries only an id and a time, everything else is
 * read from the server's lists or decrypted here, and after each (re)connection the lists are
 * read again so that notices lost to a restart are caught up.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "cmd_msg.h"
#include "printable.h"
#include "sealmem.h"
#include "sse.h"

#define MSG_ID_HEX    32
#define MAX_TEXT      (64 * 1024)  /* the text, in bytes of UTF-8 */
#define MAX_ENVELOPE  (160 * 1024) /* its JSON envelope: escapes may grow it */
#define MAX_SEALED    (192 * 1024) /* the server's limit (MCD_MESSAGE_MAX) */
#define MESSAGE_META  "{\"type\":\"message\"}"
#define INBOX_DEFAULT 50

static const char *key_path(const session *s, mc_err *err)
{
	if (!s->key_path)
		cli_fail(err, MC_ERR_KEY, "the session names no key file: run 'medcrypt login --key NAME.key' again");
	return s->key_path;
}

/* ---- msg ---- */

/* The text of --file F ("-": stdin), at most MAX_TEXT bytes. */
static mc_status read_text_file(const char *path, membuf *text, mc_err *err)
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
		if (membuf_write(text, buf, (size_t)n) != 0) {
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
	if (reply && !cli_valid_id(reply))
		return usage_error(err, "msg", "--reply takes a message ID (32 lowercase hex digits)");
	if (image && !cli_valid_id(image))
		return usage_error(err, "msg", "--image takes an image ID (32 lowercase hex digits)");

	session s = {0};
	client *cl = NULL;
	membuf text = {0};
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
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
		if (membuf_write(&text, (const uint8_t *)argv[optind + 1], strlen(argv[optind + 1])) != 0) {
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
	if ((st = sealmem_seal((const mc_pubkey *const *)keys, 2, id, MESSAGE_META, (const uint8_t *)plain,
	                       strlen(plain), MAX_SEALED, &sealed, &sealed_len, err)) != MC_OK)
		goto cleanup;
	char *b64 = b64_encode(sealed, sealed_len);
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
		st = cli_bad_answer(err, "msg");
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
	membuf_free(&text);
	mc_buf_free(sealed, sealed_len);
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
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sealed_len = 0, plain_len = 0;
	*envelope = NULL;
	if (!from || !b64 || !cli_valid_username(from))
		return cli_bad_answer(err, "message");
	sealed = b64_decode(b64, &sealed_len);
	if (!sealed || sealed_len > MAX_SEALED) {
		mc_buf_free(sealed, sealed_len);
		return cli_bad_answer(err, "message");
	}
	mc_status st;
	if ((st = fetch_user(cl, from, &sender, err)) != MC_OK ||
	    (st = user_pubkey(sender, MC_ROLE_SIGNER, &trusted, err)) != MC_OK ||
	    (st = sealmem_open(sealed, sealed_len, id, trusted, MAX_ENVELOPE, &plain, &plain_len, signer_hex, err)) !=
	        MC_OK)
		goto cleanup;
	json_error_t jerr;
	*envelope = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*envelope || !json_is_object(*envelope) || !json_is_string(json_object_get(*envelope, "text"))) {
		json_decref(*envelope);
		*envelope = NULL;
		st = cli_fail(err, MC_ERR_PAYLOAD, "the message opened but is not a message envelope");
	}
cleanup:
	mc_pubkey_free(trusted);
	json_decref(sender);
	mc_buf_free(sealed, sealed_len);
	mc_buf_free(plain, plain_len);
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
		st = cli_bad_answer(err, "message");
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

/* What an inbox line shows of a message: the first line of its text (untrusted), at most 60
 * bytes, through cli_printable; or, when it did not open (text NULL), why. */
static void first_line(const char *text, mc_status st, char *out, size_t size)
{
	if (!text) {
		snprintf(out, size, "(cannot open: %s)", mc_status_name(st));
		return;
	}
	const char *nl = strchr(text, '\n');
	size_t len = nl ? (size_t)(nl - text) : strlen(text);
	char line[61];
	if (len > 60)
		len = 60;
	memcpy(line, text, len);
	line[len] = 0;
	cli_printable(line, out, size);
	mc_wipe(line, sizeof line);
}

static mc_status load_my_identity(const session *s, int pfd, mc_identity **id, mc_err *err)
{
	const char *kp = key_path(s, err);
	return kp ? load_identity(kp, pfd, MC_IDENTITY_ENC, id, err) : err->status;
}

/* ---- inbox --follow: the event stream of docs/API.md §17a ---- */

#define FOLLOW_IDLE    50   /* seconds of silence (keepalives come every 15) before reconnecting */
#define SEEN_MAX       1024 /* the ids of items shown or listed, for catching up without repeats */
#define CATCH_UP_LIMIT 50   /* items of each list read again after a reconnection */
#define LIMIT_TEXT     "50" /* CATCH_UP_LIMIT, for the query strings */

static volatile sig_atomic_t follow_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

/* What the follow loop keeps across connections; the stream's parser (sse.h) keeps the last
 * event id and the retry delay. */
typedef struct follower {
	client *api; /* a second connection for the look-ups: the stream's is busy */
	const mc_identity *id;
	bool json, connected, reconnecting;
	sse *events;
	char seen[SEEN_MAX][MSG_ID_HEX + 1]; /* a ring: the oldest is forgotten */
	size_t n_seen, next_seen;
	const char *me;
	mc_status fatal; /* a failure that ends the command (the session ended, ...) */
	mc_err *err;
} follower;

/* Frees f and its parser, wiping the ids they hold. NULL is harmless. */
static void follower_free(follower *f)
{
	if (!f)
		return;
	sse_free(f->events);
	mc_wipe(f, sizeof *f);
	free(f);
}

static bool follow_should_stop(void *ctx)
{
	(void)ctx;
	return follow_stop != 0;
}

static bool seen_has(const follower *f, const char *oid)
{
	for (size_t i = 0; i < f->n_seen; i++)
		if (!strcmp(f->seen[i], oid))
			return true;
	return false;
}

/* Records oid; false when it was seen already (the item was shown or listed). */
static bool seen_add(follower *f, const char *oid)
{
	if (seen_has(f, oid))
		return false;
	snprintf(f->seen[f->next_seen], sizeof f->seen[0], "%s", oid);
	f->next_seen = (f->next_seen + 1) % SEEN_MAX;
	if (f->n_seen < SEEN_MAX)
		f->n_seen++;
	return true;
}

static void emit_json(json_t *o)
{
	char *text = o ? json_text(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text) {
		printf("%s\n", text);
		mc_wipe(text, strlen(text));
		free(text);
	}
	json_decref(o);
	fflush(stdout);
}

/* A new message: opened here, printed as an inbox line (or its JSON row). */
static mc_status show_message(follower *f, const char *mid, json_t *at)
{
	json_t *full = NULL, *env = NULL;
	char signer[MC_FP_HEX_LEN + 1] = "";
	mc_err e = {0};
	mc_status st = fetch_message(f->api, mid, &full, &e);
	if (st == MC_OK)
		st = open_message(f->api, f->id, full, &env, signer, &e);
	if (st == CLI_ERR_SESSION || st == CLI_ERR_PIN) {
		*f->err = e;
		json_decref(full);
		return st;
	}
	const char *from = json_string_value(json_object_get(full, "from"));
	const char *text = env ? json_string_value(json_object_get(env, "text")) : NULL;
	json_t *created = json_object_get(full, "created");
	if (f->json) {
		json_t *o = json_pack("{s:s, s:s, s:O}", "event", "message", "id", mid, "at", at);
		if (o && full) {
			json_object_set(o, "from", json_object_get(full, "from"));
			json_object_set(o, "to", json_object_get(full, "to"));
			json_object_set(o, "created", created);
			json_object_set(o, "thread", json_object_get(full, "thread"));
		}
		if (o) {
			json_object_set_new(o, "text", text ? json_string(text) : json_null());
			json_object_set(o, "image", env ? json_object_get(env, "image") : json_null());
			if (!text)
				json_object_set_new(o, "error", json_string(e.msg[0] ? e.msg : mc_status_name(st)));
		}
		emit_json(o);
	} else {
		char when[32], who[80], first[100];
		cli_local_time(created ? created : at, when, sizeof when);
		cli_printable(from ? from : "?", who, sizeof who);
		first_line(text, st, first, sizeof first);
		printf("message  %s  %s  from %-16s  %s\n", mid, when, who, first);
		mc_wipe(first, sizeof first);
		fflush(stdout);
	}
	json_decref(full);
	json_decref(env);
	return MC_OK;
}

/* A new image: its id and sender from GET /api/v1/images/{id}; never its metadata. */
static mc_status show_image(follower *f, const char *iid, json_t *at)
{
	char path[200], when[32], who[80];
	json_t *img = NULL;
	mc_err e = {0};
	snprintf(path, sizeof path, "/api/v1/images/%s", iid);
	mc_status st = client_call(f->api, "GET", path, NULL, 200, &img, "image", &e);
	if (st == CLI_ERR_SESSION || st == CLI_ERR_PIN) {
		*f->err = e;
		return st;
	}
	const char *sender = st == MC_OK ? json_string_value(json_object_get(img, "sender")) : NULL;
	if (sender && !cli_valid_username(sender))
		sender = NULL;
	if (f->json) {
		emit_json(json_pack("{s:s, s:s, s:O, s:o, s:O}", "event", "image", "id", iid, "at", at, "sender",
		                    sender ? json_string(sender) : json_null(), "created",
		                    img ? json_object_get(img, "created") : json_null()));
	} else {
		cli_local_time(at, when, sizeof when);
		cli_printable(sender ? sender : "?", who, sizeof who);
		if (sender)
			printf("image    %s  %s  from %-16s  medcrypt get %s -o FILE\n", iid, when, who, iid);
		else
			printf("image    %s  %s  (no longer available to you)\n", iid, when);
		fflush(stdout);
	}
	json_decref(img);
	return MC_OK;
}

/* The parser's callback for a complete event: its data is {"id", "at"} and nothing else is
 * believed. Returns false when following must end (sse_feed then stops). */
static bool dispatch_event(void *ctx, const char *type, const char *data, const char *event_id)
{
	follower *f = ctx;
	(void)event_id; /* the parser keeps it for the reconnection */
	if (f->fatal != MC_OK || follow_stop)
		return false;
	json_t *d = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
	const char *oid = json_string_value(json_object_get(d, "id"));
	json_t *at = json_object_get(d, "at");
	if (!oid || !cli_valid_id(oid) || !json_is_integer(at)) {
		json_decref(d);
		return true; /* not a notice of §17a: ignored, as an unknown type is */
	}
	char when[32];
	cli_local_time(at, when, sizeof when);
	mc_status st = MC_OK;
	if (!strcmp(type, "message")) {
		if (seen_add(f, oid)) /* a replay or a catch-up may have shown it */
			st = show_message(f, oid, at);
	} else if (!strcmp(type, "image")) {
		if (seen_add(f, oid))
			st = show_image(f, oid, at);
	} else if (!strcmp(type, "consent")) {
		if (f->json)
			emit_json(json_pack("{s:s, s:s, s:O}", "event", "consent", "id", oid, "at", at));
		else {
			printf("consent  %s  %s  a consent request or decision: see 'medcrypt consent list'\n", oid,
			       when);
			fflush(stdout);
		}
	} else if (!strcmp(type, "revoked")) {
		if (f->json)
			emit_json(json_pack("{s:s, s:s, s:O}", "event", "revoked", "id", oid, "at", at));
		else {
			printf("revoked  %s  %s  your access to this image was revoked\n", oid, when);
			fflush(stdout);
		}
	}
	json_decref(d);
	if (st != MC_OK)
		f->fatal = st;
	return f->fatal == MC_OK && !follow_stop;
}

/* The ids of the received items of a list (GET /api/v1/messages or /api/v1/images, newest
 * first) into out (a JSON array, oldest first). */
static mc_status list_received(follower *f, const char *path, const char *key, json_t *out, mc_err *err)
{
	json_t *list = NULL;
	mc_status st = client_call(f->api, "GET", path, NULL, 200, &list, "catching up", err);
	json_t *items = json_object_get(list, key);
	if (st == MC_OK && !json_is_array(items))
		st = cli_bad_answer(err, "catching up");
	for (size_t i = json_array_size(items); st == MC_OK && i-- > 0;) {
		json_t *it = json_array_get(items, i);
		const char *oid = json_string_value(json_object_get(it, "id"));
		const char *dir = json_string_value(json_object_get(it, "direction"));
		const char *sender = json_string_value(json_object_get(it, "sender"));
		bool received = dir ? !strcmp(dir, "received") : sender && f->me && strcmp(sender, f->me) != 0;
		if (oid && cli_valid_id(oid) && received)
			json_array_append_new(out,
			                      json_pack("{s:s, s:O}", "id", oid, "at", json_object_get(it, "created")));
	}
	json_decref(list);
	return st;
}

/* After a reconnection: notices sent while the stream was down are lost when the server
 * restarted or was busy (§17a), so the lists are read again and what was not shown yet is
 * shown now, messages first. Consents are not listed here: the stderr line says where. */
static void catch_up(follower *f)
{
	static const struct {
		const char *path, *key;
		bool message;
	} lists[] = {{"/api/v1/messages?limit=" LIMIT_TEXT, "messages", true},
	             {"/api/v1/images?limit=" LIMIT_TEXT, "images", false}};
	for (size_t l = 0; l < sizeof lists / sizeof lists[0] && f->fatal == MC_OK; l++) {
		json_t *ids = json_array();
		mc_err e = {0};
		mc_status st = ids ? list_received(f, lists[l].path, lists[l].key, ids, &e) : MC_ERR_NOMEM;
		if (st == CLI_ERR_SESSION || st == CLI_ERR_PIN) {
			*f->err = e;
			f->fatal = st;
		} else if (st != MC_OK) {
			fprintf(stderr, "medcrypt: cannot catch up on what came meanwhile: %s\n", e.msg);
		}
		size_t i;
		json_t *it;
		json_array_foreach(ids, i, it)
		{
			const char *oid = json_string_value(json_object_get(it, "id"));
			if (f->fatal != MC_OK || !seen_add(f, oid))
				continue;
			json_t *at = json_object_get(it, "at");
			st = lists[l].message ? show_message(f, oid, at) : show_image(f, oid, at);
			if (st != MC_OK)
				f->fatal = st;
		}
		json_decref(ids);
	}
}

/* client_stream's sink: the bytes go to the parser, which calls dispatch_event. */
static bool stream_bytes(void *ctx, const char *buf, size_t len)
{
	follower *f = ctx;
	if (!f->connected) {
		f->connected = true;
		if (f->reconnecting)
			fprintf(stderr,
			        "medcrypt: reconnected to the event stream%s%s; reading the lists again for what came "
			        "meanwhile (consents: 'medcrypt consent list')\n",
			        sse_last_id(f->events)[0] ? ", resuming after event " : "", sse_last_id(f->events));
		/* also on the first connection: what came since the lists were read */
		catch_up(f);
	}
	if (f->fatal == MC_OK && !follow_stop)
		sse_feed(f->events, buf, len);
	return f->fatal == MC_OK && !follow_stop;
}

/* Waits ms milliseconds, or less when a signal asks to stop. */
static void pause_ms(long ms)
{
	for (long left = ms; left > 0 && !follow_stop; left -= 100) {
		struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Follows the event stream until SIGINT or SIGTERM (MC_OK), the session's end or another
 * failure that retrying cannot cure. A dropped connection is reopened after the server's
 * retry delay with Last-Event-ID, which replays what the server still holds. */
static mc_status follow_events(client *api, const char *me, const mc_identity *id, bool json, mc_err *err)
{
	session s2;
	client *stream = NULL;
	mc_status st = session_connect(&s2, &stream, err);
	if (st != MC_OK)
		return st;
	follower *f = calloc(1, sizeof *f);
	if (!f || !(f->events = sse_new(dispatch_event, f))) {
		follower_free(f);
		session_clear(&s2);
		client_free(stream);
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	f->api = api;
	f->me = me;
	f->id = id;
	f->json = json;
	f->err = err;
	/* what the lists hold now is not new (a filtered listing, --unread or --thread, says too little) */
	static const char *const seed[][2] = {{"/api/v1/messages?limit=" LIMIT_TEXT, "messages"},
	                                      {"/api/v1/images?limit=" LIMIT_TEXT, "images"}};
	for (size_t l = 0; l < 2 && st == MC_OK; l++) {
		json_t *known = json_array(), *m;
		size_t i;
		st = known ? list_received(f, seed[l][0], seed[l][1], known, err)
		           : cli_fail(err, MC_ERR_NOMEM, "out of memory");
		json_array_foreach(known, i, m) seen_add(f, json_string_value(json_object_get(m, "id")));
		json_decref(known);
	}
	if (st != MC_OK) {
		follower_free(f);
		session_clear(&s2);
		client_free(stream);
		return st;
	}
	struct sigaction sa = {.sa_handler = on_stop_signal}, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (!json)
		fprintf(stderr, "medcrypt: following new items (Ctrl-C ends)\n");
	fflush(stdout);
	while (!follow_stop) {
		char header[64] = "";
		const char *headers[2] = {NULL, NULL};
		if (sse_last_id(f->events)[0]) {
			snprintf(header, sizeof header, "Last-Event-ID: %s", sse_last_id(f->events));
			headers[0] = header;
		}
		f->connected = false;
		sse_reset(f->events);
		http_response r;
		mc_err e = {0};
		st = client_stream(stream, "/api/v1/events", headers, FOLLOW_IDLE, stream_bytes, follow_should_stop, f,
		                   &r, &e);
		long wait_ms = sse_retry_ms(f->events);
		if (f->fatal != MC_OK) {
			st = f->fatal;
			http_response_clear(&r);
			break;
		}
		if (follow_stop) {
			st = MC_OK;
			http_response_clear(&r);
			break;
		}
		if (st == MC_OK && r.status == 200) {
			fprintf(stderr, "medcrypt: the event stream ended; reconnecting in %.1f s\n", wait_ms / 1000.0);
		} else if (st == MC_OK && (r.status == 503 || r.status >= 500)) {
			if (r.retry_after > 0 && r.retry_after < 3600)
				wait_ms = r.retry_after * 1000;
			fprintf(stderr, "medcrypt: the server is busy (HTTP %ld); retrying in %.1f s\n", r.status,
			        wait_ms / 1000.0);
		} else if (st == MC_OK) {
			st = http_error(&r, "the event stream", err);
			http_response_clear(&r);
			break;
		} else if (st == CLI_ERR_NETWORK) {
			fprintf(stderr, "medcrypt: lost the event stream (%s); reconnecting in %.1f s\n", e.msg,
			        wait_ms / 1000.0);
		} else {
			*err = e;
			http_response_clear(&r);
			break;
		}
		http_response_clear(&r);
		st = MC_OK;
		f->reconnecting = true;
		pause_ms(wait_ms);
	}
	if (st == MC_OK && !json)
		fprintf(stderr, "medcrypt: stopped following\n");
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	follower_free(f);
	session_clear(&s2);
	client_free(stream);
	return st;
}

/* ---- inbox ---- */

mc_status cmd_inbox(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"unread", no_argument, NULL, 'u'},
	                                     {"thread", required_argument, NULL, 't'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"follow", no_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	bool unread = false, json = false, follow = false;
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
		case 'f': follow = true; break;
		default: return usage_error(err, "inbox", "unknown option");
		}
	}
	if (optind != argc)
		return usage_error(err, "inbox", "takes no arguments besides its options");
	if (thread && !cli_valid_id(thread))
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
		st = cli_bad_answer(err, "inbox");
		goto cleanup;
	}
	/* --follow opens the messages to come: the key is loaded (and its passphrase asked) now */
	if ((json_array_size(messages) || follow) && (st = load_my_identity(&s, pfd, &id, err)) != MC_OK)
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
		if (!mid || !cli_valid_id(mid) || !from || !to || !dir) {
			st = cli_bad_answer(err, "inbox");
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
			cli_local_time(json_object_get(m, "created"), when, sizeof when);
			cli_printable(sent ? to : from, who, sizeof who);
			first_line(text, ost, first, sizeof first);
			printf("%s  %s  %-4s %-16s %-6s  %s\n", mid, when, sent ? "to" : "from", who,
			       sent      ? "sent"
			       : is_read ? "read"
			                 : "unread",
			       first);
		}
		json_decref(env);
	}
	if (json && follow) /* one JSON object per line, the events' too */
		emit_json(json_pack("{s:O}", "messages", out));
	else if (json)
		json_print(json_pack("{s:O}", "messages", out));
	else
		printf("%zu message%s, %zu unread\n", json_array_size(messages),
		       json_array_size(messages) == 1 ? "" : "s", n_unread);
	if (follow)
		st = follow_events(cl, s.username, id, json, err);
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
	if (argc - optind != 1 || !cli_valid_id(argv[optind]))
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
		cli_local_time(json_object_get(msg, "created"), when, sizeof when);
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
			       cli_valid_id(image) ? image : "ID");
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
