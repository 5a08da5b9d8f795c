/*
 * cmd_admin.c: `medcrypt admin SUBCOMMAND`, the administrator's commands over the routes the
 * server already gives the admin (docs/API.md §13 invitations, §16 users, §17 audit log):
 * every account with its role and state (users), disable, enable, role, unlock (PATCH
 * /api/v1/users/NAME), the pending invitations and their cancellation, and the audit log paged
 * with after/limit or verified by the server. Everything the server sends is untrusted text:
 * the tables show it through cli_printable() (control characters, bidirectional overrides and
 * invalid UTF-8 become '?'); --json output is jansson's, escaped. A 403 becomes "only an
 * administrator may ..." (exit 11), an unknown user "there is no user ..." (exit 11), and an
 * audit log that does not verify exits 9, the status of a signature that does not verify.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "printable.h"

#define ROLES "admin|technician|doctor|patient|researcher"
/* Records asked for per request when --limit is not given (the server's default, API.md §17). */
#define AUDIT_PAGE 1000
/* The largest audit page accepted: 10000 records (the server's cap) of a few KiB each. */
#define AUDIT_PAGE_MAX_BYTES (64u * 1024 * 1024)

static bool valid_role(const char *r)
{
	static const char *const roles[] = {"admin", "technician", "doctor", "patient", "researcher"};
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(r, roles[i]) == 0)
			return true;
	return false;
}

static mc_status bad_username(mc_err *err, const char *username)
{
	char safe[80];
	return cli_fail(err, MC_ERR_MISUSE,
	                "'%s' is not a user name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)",
	                cli_printable(username, safe, sizeof safe));
}

/* Maps the answers an admin route can give to the admin's words: 403 names the action only an
 * administrator may do; the rest is http_error's. */
static mc_status admin_call(client *c, const char *method, const char *path, json_t *body, long expect, json_t **out,
                            const char *what, const char *only_admin, mc_err *err)
{
	mc_status st = client_call(c, method, path, body, expect, out, what, err);
	if (st == CLI_ERR_DENIED && strstr(err->msg, "your role may not do this"))
		cli_fail(err, st, "only an administrator may %s", only_admin);
	return st;
}

static void format_time(json_t *t, bool utc, char *out, size_t size)
{
	if (!json_is_integer(t) || json_integer_value(t) <= 0) {
		snprintf(out, size, "-");
		return;
	}
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;
	if (!(utc ? gmtime_r(&v, &tm) : localtime_r(&v, &tm)) ||
	    strftime(out, size, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, size, "?");
}

/* The session and the connection to its server, opened once the arguments parsed (so that a
 * usage error is one whether or not one is logged in). */
typedef struct admin_conn {
	session s;
	client *cl;
} admin_conn;

static mc_status admin_open(admin_conn *a, mc_err *err)
{
	memset(a, 0, sizeof *a);
	return session_connect(&a->s, &a->cl, err);
}

static void admin_close(admin_conn *a)
{
	session_clear(&a->s);
	client_free(a->cl);
	a->cl = NULL;
}

/* ---- admin users ---- */

static const char *user_state(const json_t *u, char *out, size_t size)
{
	bool disabled = json_is_true(json_object_get(u, "disabled"));
	char until[40] = "";
	json_t *lu = json_object_get(u, "locked_until");
	if (json_is_integer(lu) && json_integer_value(lu) > time(NULL))
		format_time(lu, false, until, sizeof until);
	if (until[0])
		snprintf(out, size, "%slocked until %s", disabled ? "disabled, " : "", until);
	else
		snprintf(out, size, "%s", disabled ? "disabled" : "active");
	return out;
}

static mc_status admin_users(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
	                                     {"disabled", no_argument, NULL, 'd'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *role = NULL;
	bool json = false, only_disabled = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'd': only_disabled = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "admin", "admin users: unknown option");
		}
	}
	if (optind != argc || (role && !valid_role(role)))
		return usage_error(err, "admin", "admin users takes --role " ROLES ", --disabled and --json");
	char path[200];
	snprintf(path, sizeof path, "/api/v1/users%s%s", role ? "?role=" : "", role ? role : "");
	json_t *resp = NULL, *u;
	size_t i;
	admin_conn a;
	mc_status st = admin_open(&a, err);
	if (st != MC_OK)
		return st;
	st = admin_call(a.cl, "GET", path, NULL, 200, &resp, "users", "list every account", err);
	admin_close(&a);
	json_t *users = json_object_get(resp, "users");
	if (st == MC_OK && !json_is_array(users))
		st = cli_bad_answer(err, "users");
	json_array_foreach(users, i, u)
	{
		if (st == MC_OK && (!json_is_object(u) || !json_is_string(json_object_get(u, "username"))))
			st = cli_bad_answer(err, "users");
		/* the field only the admin's answer has (API.md §16): without it, this is not an admin's view */
		if (st == MC_OK && !json_is_boolean(json_object_get(u, "disabled")))
			st = cli_fail(err, CLI_ERR_DENIED, "only an administrator may list every account");
	}
	if (st != MC_OK) {
		json_decref(resp);
		return st;
	}
	json_t *shown = json_array();
	json_array_foreach(users, i, u) if (!only_disabled || json_is_true(json_object_get(u, "disabled")))
	    json_array_append(shown, u);
	if (json) {
		json_print(json_pack("{s:o}", "users", shown));
	} else {
		size_t n_disabled = 0, n_locked = 0;
		printf("%-20s %-10s %-28s %s\n", "USER", "ROLE", "STATE", "DISPLAY NAME");
		json_array_foreach(shown, i, u)
		{
			char name[200], role_s[40], state[80], display[400], enc[80], sig[80];
			cli_printable(json_string_value(json_object_get(u, "username")), name, sizeof name);
			cli_printable(json_string_value(json_object_get(u, "role")), role_s, sizeof role_s);
			cli_printable(json_string_value(json_object_get(u, "display_name")), display, sizeof display);
			cli_printable(json_string_value(json_object_get(u, "enc_fingerprint")), enc, sizeof enc);
			cli_printable(json_string_value(json_object_get(u, "sign_fingerprint")), sig, sizeof sig);
			user_state(u, state, sizeof state);
			n_disabled += json_is_true(json_object_get(u, "disabled"));
			n_locked += strstr(state, "locked") != NULL;
			printf("%-20s %-10s %-28s %s\n", name, role_s, state, display);
			printf("    encryption %s\n    signing    %s\n", enc, sig);
		}
		printf("%zu account%s, %zu disabled, %zu locked\n", json_array_size(shown),
		       json_array_size(shown) == 1 ? "" : "s", n_disabled, n_locked);
		json_decref(shown);
	}
	json_decref(resp);
	return MC_OK;
}

/* ---- admin disable | enable | role | unlock | email ---- */

static mc_status admin_patch(const char *sub, int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	bool json = false, is_role = strcmp(sub, "role") == 0, is_email = strcmp(sub, "email") == 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(err, "admin", "admin %s: unknown option", sub);
		json = true;
	}
	if (argc - optind != (is_role || is_email ? 2 : 1))
		return usage_error(err, "admin",
		                   is_role    ? "give: admin role USER " ROLES
		                   : is_email ? "give: admin email USER ADDRESS (or none, to remove it)"
		                              : "give: admin %s USER",
		                   sub);
	const char *user = argv[optind], *role = is_role ? argv[optind + 1] : NULL;
	const char *email = is_email ? argv[optind + 1] : NULL;
	if (!cli_valid_username(user))
		return bad_username(err, user);
	if (role && !valid_role(role))
		return usage_error(err, "admin", "a role is one of " ROLES);
	if (email && strcmp(email, "none") != 0 && (strlen(email) < 3 || strlen(email) > 254 || !strchr(email, '@')))
		return usage_error(err, "admin",
		                   "an e-mail address is like name@clinic.example (or none, to remove it)");
	json_t *body =
	    strcmp(sub, "disable") == 0  ? json_pack("{s:b}", "disabled", 1)
	    : strcmp(sub, "enable") == 0 ? json_pack("{s:b}", "disabled", 0)
	    : strcmp(sub, "unlock") == 0 ? json_pack("{s:b}", "unlock", 1)
	    : is_email ? (strcmp(email, "none") == 0 ? json_pack("{s:n}", "email") : json_pack("{s:s}", "email", email))
	               : json_pack("{s:s}", "role", role);
	char seg[300], path[400], what[200], only[200];
	url_segment(user, seg, sizeof seg); /* a valid name always fits */
	snprintf(path, sizeof path, "/api/v1/users/%s", seg);
	snprintf(what, sizeof what, "admin %s %s", sub, user);
	snprintf(only, sizeof only, "%s accounts",
	         is_role    ? "change the role of"
	         : is_email ? "set the address of"
	                    : sub);
	json_t *resp = NULL;
	admin_conn a;
	mc_status st = admin_open(&a, err);
	if (st == MC_OK)
		st = admin_call(a.cl, "PATCH", path, body, 200, &resp, what, only, err);
	admin_close(&a);
	json_decref(body);
	if (st == CLI_ERR_DENIED && strstr(err->msg, "no such object"))
		cli_fail(err, st, "%s: there is no user %s on the server", what, user);
	else if (st == CLI_ERR_REFUSED && is_email && strstr(err->msg, "bad_request"))
		cli_fail(err, st, "%s: the server refused the address (one address, name@domain, printable ASCII)",
		         what);
	else if (st == CLI_ERR_REFUSED && strstr(err->msg, "conflict"))
		cli_fail(
		    err, st,
		    "%s: an administrator cannot change their own account (so that the last one cannot be lost by a "
		    "slip); another administrator can",
		    what);
	if (st == MC_OK && (!json_is_object(resp) || !json_is_string(json_object_get(resp, "username"))))
		st = cli_bad_answer(err, what);
	if (st == MC_OK) {
		if (json) {
			json_print(json_incref(resp));
		} else {
			char role_s[40], state[80];
			cli_printable(json_string_value(json_object_get(resp, "role")), role_s, sizeof role_s);
			user_state(resp, state, sizeof state);
			const char *addr = json_string_value(json_object_get(resp, "email"));
			char addr_s[300];
			if (is_email)
				printf("%s: notice mails %s%s\n", user, addr ? "to " : "off",
				       addr ? cli_printable(addr, addr_s, sizeof addr_s) : "");
			else
				printf("%s: %s, %s\n", user, role_s, state);
		}
	}
	json_decref(resp);
	return st;
}

/* ---- admin invitations | cancel-invitation ---- */

static mc_status admin_invitations(int argc, char **argv, mc_err *err)
{
	bool json = false;
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(err, "admin", "admin invitations: unknown option");
		json = true;
	}
	if (optind != argc)
		return usage_error(err, "admin", "admin invitations takes only --json");
	json_t *resp = NULL, *inv;
	size_t i;
	admin_conn a;
	mc_status st = admin_open(&a, err);
	if (st != MC_OK)
		return st;
	st = admin_call(a.cl, "GET", "/api/v1/invitations", NULL, 200, &resp, "invitations", "list the invitations",
	                err);
	admin_close(&a);
	json_t *list = json_object_get(resp, "invitations");
	if (st == MC_OK && !json_is_array(list))
		st = cli_bad_answer(err, "invitations");
	json_array_foreach(list, i, inv) if (st == MC_OK && !json_is_object(inv)) st =
	    cli_bad_answer(err, "invitations");
	if (st == MC_OK && json) {
		json_print(json_pack("{s:O}", "invitations", list));
	} else if (st == MC_OK) {
		printf("%-32s %-10s %-16s %-16s %s\n", "ID", "ROLE", "MADE", "VALID UNTIL", "BY");
		json_array_foreach(list, i, inv)
		{
			char id[80], role_s[40], by[200], made[40], until[40];
			cli_printable(json_string_value(json_object_get(inv, "id")), id, sizeof id);
			cli_printable(json_string_value(json_object_get(inv, "role")), role_s, sizeof role_s);
			const char *creator = json_string_value(json_object_get(inv, "created_by"));
			cli_printable(creator ? creator : "(the server)", by, sizeof by);
			format_time(json_object_get(inv, "created"), false, made, sizeof made);
			format_time(json_object_get(inv, "expires"), false, until, sizeof until);
			printf("%-32s %-10s %-16s %-16s %s\n", id, role_s, made, until, by);
		}
		printf("%zu pending invitation%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	}
	json_decref(resp);
	return st;
}

static mc_status admin_cancel(int argc, char **argv, mc_err *err)
{
	bool json = false;
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(err, "admin", "admin cancel-invitation: unknown option");
		json = true;
	}
	if (argc - optind != 1)
		return usage_error(err, "admin",
		                   "give: admin cancel-invitation ID (from 'medcrypt admin invitations')");
	const char *id = argv[optind];
	bool hex = strlen(id) == 32;
	for (const char *p = id; hex && *p; p++)
		hex = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	if (!hex)
		return usage_error(
		    err, "admin",
		    "an invitation ID is 32 lower-case hex digits, as 'medcrypt admin invitations' lists "
		    "them (not the code)");
	char path[100], what[100];
	snprintf(path, sizeof path, "/api/v1/invitations/%s", id);
	snprintf(what, sizeof what, "cancel invitation %s", id);
	admin_conn a;
	mc_status st = admin_open(&a, err);
	if (st != MC_OK)
		return st;
	st = admin_call(a.cl, "DELETE", path, NULL, 204, NULL, what, "cancel invitations", err);
	admin_close(&a);
	if (st == CLI_ERR_DENIED && strstr(err->msg, "no such object"))
		cli_fail(err, st, "%s: there is no pending invitation %s (it was used, cancelled, or never made)", what,
		         id);
	if (st == MC_OK) {
		if (json)
			json_print(json_pack("{s:s}", "cancelled", id));
		else
			printf("cancelled invitation %s: its code registers no one now\n", id);
	}
	return st;
}

/* ---- admin audit ---- */

static bool parse_count(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	long long v = strtoll(s, &end, 10);
	if (*end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void print_record(const json_t *rec)
{
	char when[40], actor[200], addr[100], action[64], object[200], outcome[32], detail[600] = "";
	format_time(json_object_get(rec, "time"), true, when, sizeof when);
	cli_printable(json_string_value(json_object_get(rec, "actor")), actor, sizeof actor);
	cli_printable(json_string_value(json_object_get(rec, "address")), addr, sizeof addr);
	cli_printable(json_string_value(json_object_get(rec, "action")), action, sizeof action);
	cli_printable(json_string_value(json_object_get(rec, "object")), object, sizeof object);
	cli_printable(json_string_value(json_object_get(rec, "outcome")), outcome, sizeof outcome);
	json_t *d = json_object_get(rec, "detail");
	if (json_is_object(d) && json_object_size(d) > 0) {
		char *text = json_text(d, JSON_COMPACT | JSON_SORT_KEYS);
		cli_printable(text, detail, sizeof detail);
		free(text);
	} else if (json_is_string(d)) {
		cli_printable(json_string_value(d), detail, sizeof detail);
	}
	printf("%6lld %s %-14s %-15s %-13s %-32s %-7s %s\n", (long long)json_integer_value(json_object_get(rec, "seq")),
	       when, actor, addr, action, object, outcome, detail);
}

static mc_status audit_verify(client *cl, bool json, mc_err *err)
{
	json_t *v = NULL;
	mc_status st =
	    admin_call(cl, "GET", "/api/v1/audit/verify", NULL, 200, &v, "audit verify", "verify the audit log", err);
	json_t *ok = json_object_get(v, "ok");
	if (st == MC_OK && !json_is_boolean(ok))
		st = cli_bad_answer(err, "audit verify");
	if (st != MC_OK) {
		json_decref(v);
		return st;
	}
	if (json)
		json_print(json_incref(v));
	if (json_is_true(ok)) {
		if (!json)
			printf("the audit log verifies: %lld records, %lld signed checkpoints\n",
			       (long long)json_integer_value(json_object_get(v, "records")),
			       (long long)json_integer_value(json_object_get(v, "checkpoints")));
	} else {
		char reason[200];
		cli_printable(json_string_value(json_object_get(v, "reason")), reason, sizeof reason);
		st = cli_fail(err, MC_ERR_SIGNATURE,
		              "the audit log does NOT verify: the first altered or missing record is seq %lld (%s); "
		              "'medcryptd audit verify' on the server's data directory checks it offline",
		              (long long)json_integer_value(json_object_get(v, "first_bad")), reason);
	}
	json_decref(v);
	return st;
}

/* One page of records after `after`: appended to *records in order; *got says how many. */
static mc_status audit_page(client *cl, long long after, long long limit, json_t *records, size_t *got, mc_err *err)
{
	char path[120];
	snprintf(path, sizeof path, "/api/v1/audit?after=%lld&limit=%lld", after, limit);
	uint8_t *buf = NULL;
	size_t len = 0;
	*got = 0;
	mc_status st = client_get_bytes(cl, path, AUDIT_PAGE_MAX_BYTES, &buf, &len, "audit", err);
	if (st == CLI_ERR_DENIED && strstr(err->msg, "your role may not do this"))
		return cli_fail(err, st, "only an administrator may read the audit log");
	if (st != MC_OK)
		return st;
	long long last = after;
	for (size_t i = 0; i < len && st == MC_OK;) {
		const uint8_t *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		if (end > i) {
			json_t *rec = json_loadb((const char *)buf + i, end - i, 0, NULL);
			json_t *seq = json_object_get(rec, "seq");
			/* in order, after the page's start, and no more than asked: else the server lies */
			if (!json_is_object(rec) || !json_is_integer(seq) || json_integer_value(seq) <= last ||
			    *got >= (size_t)limit)
				st = cli_bad_answer(err, "audit");
			else {
				last = json_integer_value(seq);
				json_array_append(records, rec);
				++*got;
			}
			json_decref(rec);
		}
		i = end + 1;
	}
	free(buf);
	return st;
}

static mc_status admin_audit(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"after", required_argument, NULL, 'a'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"verify", no_argument, NULL, 'v'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	long long after = 0, limit = AUDIT_PAGE;
	bool json = false, verify = false, paging = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!parse_count(optarg, 0, INT64_MAX, &after))
				return usage_error(err, "admin", "--after takes a record number (0 or more)");
			paging = true;
			break;
		case 'l':
			if (!parse_count(optarg, 1, 10000, &limit))
				return usage_error(err, "admin", "--limit takes 1 to 10000 records per request");
			paging = true;
			break;
		case 'v': verify = true; break;
		case 'j': json = true; break;
		default: return usage_error(err, "admin", "admin audit: unknown option");
		}
	}
	if (optind != argc)
		return usage_error(err, "admin", "admin audit takes only --after, --limit, --json and --verify");
	if (verify && paging)
		return usage_error(err, "admin", "--verify checks the whole log: it takes no --after or --limit");
	admin_conn a;
	mc_status st = admin_open(&a, err);
	if (st != MC_OK)
		return st;
	if (verify) {
		st = audit_verify(a.cl, json, err);
		admin_close(&a);
		return st;
	}
	size_t total = 0;
	for (;;) {
		json_t *records = json_array();
		size_t got = 0, i;
		json_t *rec;
		st = records ? audit_page(a.cl, after, limit, records, &got, err) : MC_ERR_NOMEM;
		json_array_foreach(records, i, rec)
		{
			if (json) {
				/* JSON lines, as the server and 'medcryptd audit export' give them */
				json_dumpf(rec, stdout, JSON_COMPACT | JSON_SORT_KEYS);
				fputc('\n', stdout);
			} else {
				print_record(rec);
			}
			after = json_integer_value(json_object_get(rec, "seq"));
		}
		json_decref(records);
		total += got;
		if (st != MC_OK || got < (size_t)limit)
			break;
	}
	admin_close(&a);
	if (st == MC_OK && !json)
		fprintf(stderr, "%zu record%s\n", total, total == 1 ? "" : "s");
	return st;
}

/* ---- dispatch ---- */

mc_status cmd_admin(int argc, char **argv, mc_err *err)
{
	static const char *const subs[] = {"users",       "disable",           "enable", "role", "unlock", "email",
	                                   "invitations", "cancel-invitation", "audit"};
	if (argc < 2)
		return usage_error(err, "admin",
		                   "give a subcommand: users, disable, enable, role, unlock, email, invitations, "
		                   "cancel-invitation or audit");
	const char *sub = argv[1];
	bool known = false;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		known = known || strcmp(sub, subs[i]) == 0;
	if (!known) {
		char safe[80];
		return usage_error(err, "admin", "unknown subcommand '%s'", cli_printable(sub, safe, sizeof safe));
	}
	/* the subcommand's own arguments, with the subcommand as their argv[0] */
	argc--;
	argv++;
	if (strcmp(sub, "users") == 0)
		return admin_users(argc, argv, err);
	if (strcmp(sub, "invitations") == 0)
		return admin_invitations(argc, argv, err);
	if (strcmp(sub, "cancel-invitation") == 0)
		return admin_cancel(argc, argv, err);
	if (strcmp(sub, "audit") == 0)
		return admin_audit(argc, argv, err);
	return admin_patch(sub, argc, argv, err);
}
