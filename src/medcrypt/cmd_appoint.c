/*
 * cmd_appoint.c: `medcrypt appoint DOCTOR`, `medcrypt dismiss DOCTOR` and `medcrypt
 * appointments` over the routes of docs/API.md §16a. A patient appoints and dismisses doctors;
 * a patient lists their doctors and a doctor their patients. In this version an appointment is
 * what lets a technician send that patient's images to the doctor, and the doctor share them
 * (docs/API.md §15); dismissing deletes the doctor's wraps of the patient's images (except those
 * the doctor sent) and withdraws the patient's consents to them, and says how many images the
 * doctor can no longer download: what they downloaded stays with them.
 * Dismissal asks for confirmation (--yes or MEDCRYPT_ASSUME_YES=1 skip it) and for the password
 * (the server wants a fresh re-authentication, as for a revocation). Names and messages from the
 * server are shown through cli_printable.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client.h"
#include "cmd_appoint.h"
#include "printable.h"

static mc_status bad_doctor_name(mc_err *err, const char *command, const char *name)
{
	char safe[80];
	return usage_error(
	    err, command,
	    "'%s' is not a user name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)",
	    cli_printable(name, safe, sizeof safe));
}

/* The arguments of a command that takes one user name (when name is not NULL), --json and the
 * extra options of dismiss. */
static mc_status parse_args(const char *command, int argc, char **argv, const char **name, bool *json, bool *yes,
                            int *pfd, mc_err *err)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"yes", no_argument, NULL, 'y'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if (c == 'y' && yes)
			*yes = true;
		else if (c == 'P' && pfd) {
			if (!parse_fd(optarg, pfd))
				return usage_error(err, command, "--passphrase-fd needs a file descriptor number");
		} else
			return usage_error(err, command, "unknown option");
	}
	if (!name) {
		if (optind != argc)
			return usage_error(err, command, "takes no arguments besides --json");
		return MC_OK;
	}
	if (argc - optind != 1)
		return usage_error(err, command, "give one doctor's user name");
	*name = argv[optind];
	if (!cli_valid_username(*name))
		return bad_doctor_name(err, command, *name);
	return MC_OK;
}

static void format_since(json_t *t, char *out, size_t size)
{
	time_t v = json_is_integer(t) ? (time_t)json_integer_value(t) : 0;
	struct tm tm;
	if (v <= 0 || !localtime_r(&v, &tm) || strftime(out, size, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, size, "-");
}

/* An appointment object of §16a: {"username", "display_name", "since", "disabled"}. */
static bool appointment_ok(const json_t *a)
{
	return json_is_object(a) && json_is_string(json_object_get(a, "username")) &&
	       json_is_string(json_object_get(a, "display_name")) && json_is_integer(json_object_get(a, "since"));
}

mc_status cmd_appoint(int argc, char **argv, mc_err *err)
{
	const char *doctor = NULL;
	bool json = false;
	mc_status st = parse_args("appoint", argc, argv, &doctor, &json, NULL, NULL, err);
	if (st != MC_OK)
		return st;
	char what[100];
	snprintf(what, sizeof what, "appoint %s", doctor);
	session s;
	client *cl = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	json_t *body = json_pack("{s:s}", "doctor", doctor);
	http_response r = {0};
	st = body ? client_request(cl, "POST", "/api/v1/appointments", body, &r, err) : MC_ERR_NOMEM;
	json_decref(body);
	session_clear(&s);
	client_free(cl);
	if (st == MC_OK && r.status != 200 && r.status != 201) {
		const char *code = json_string_value(json_object_get(r.json, "error"));
		if (r.status == 404)
			st = cli_fail(err, CLI_ERR_DENIED, "%s: there is no user %s (or the account is disabled)", what,
			              doctor);
		else if (r.status == 409 && code && strcmp(code, "not_a_doctor") == 0)
			st = cli_fail(err, CLI_ERR_REFUSED, "%s: %s is not a doctor: only a doctor can be appointed",
			              what, doctor);
		else if (r.status == 403 && code && strcmp(code, "forbidden") == 0)
			st = cli_fail(err, CLI_ERR_DENIED, "%s: only a patient may appoint a doctor", what);
		else
			st = http_error(&r, what, err);
	}
	if (st == MC_OK && !appointment_ok(r.json))
		st = cli_bad_answer(err, what);
	if (st == MC_OK) {
		bool is_new = r.status == 201;
		if (json) {
			json_t *out = json_deep_copy(r.json);
			json_object_set_new(out, "new", json_boolean(is_new));
			json_print(out);
		} else {
			char display[400], since[40];
			cli_printable(json_string_value(json_object_get(r.json, "display_name")), display,
			              sizeof display);
			format_since(json_object_get(r.json, "since"), since, sizeof since);
			if (is_new)
				printf("appointed %s (%s) as your doctor\n", doctor, display);
			else
				printf("%s (%s) is your doctor already, since %s\n", doctor, display, since);
		}
	}
	http_response_clear(&r);
	return st;
}

/* Whether the user confirms on the terminal (not stdin: a script's input is not an answer). */
static bool confirmed(const char *question)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return false;
	fputs(question, tty);
	fflush(tty);
	char answer[16] = "";
	bool yes =
	    fgets(answer, sizeof answer, tty) && (strcasecmp(answer, "yes\n") == 0 || strcasecmp(answer, "y\n") == 0);
	fclose(tty);
	return yes;
}

mc_status cmd_dismiss(int argc, char **argv, mc_err *err)
{
	const char *doctor = NULL;
	bool json = false, yes = false;
	int pfd = -1;
	mc_status st = parse_args("dismiss", argc, argv, &doctor, &json, &yes, &pfd, err);
	if (st != MC_OK)
		return st;
	const char *env = getenv("MEDCRYPT_ASSUME_YES");
	char question[160], what[100];
	snprintf(question, sizeof question, "Dismiss %s as your doctor? (yes/no) ", doctor);
	snprintf(what, sizeof what, "dismiss %s", doctor);
	if (!yes && !(env && strcmp(env, "1") == 0) && !confirmed(question))
		return cli_fail(err, MC_ERR_CANCELLED,
		                "%s: not confirmed, nothing changed (answer yes on the terminal, or pass --yes)", what);
	session s;
	client *cl = NULL;
	passphrase pp = {0};
	json_t *resp = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	/* the server wants the password again for a dismissal, as for a revocation */
	st = session_reauth(cl, &s, pfd, &pp, err);
	if (st == MC_OK) {
		char seg[300], path[400];
		url_segment(doctor, seg, sizeof seg); /* a valid name always fits */
		snprintf(path, sizeof path, "/api/v1/appointments/%s", seg);
		st = client_call(cl, "DELETE", path, NULL, 200, &resp, what, err);
		if (st == CLI_ERR_DENIED && strstr(err->msg, "no such object"))
			cli_fail(err, st,
			         "%s: %s is not one of your appointed doctors ('medcrypt appointments' lists them)",
			         what, doctor);
		else if (st == CLI_ERR_DENIED && strstr(err->msg, "your role may not do this"))
			cli_fail(err, st, "%s: only a patient may dismiss a doctor", what);
	}
	passphrase_free(&pp);
	session_clear(&s);
	client_free(cl);
	json_t *deleted = json_object_get(resp, "wraps_deleted");
	if (st == MC_OK && (!json_is_integer(deleted) || json_integer_value(deleted) < 0))
		st = cli_bad_answer(err, what);
	if (st == MC_OK) {
		long long n = (long long)json_integer_value(deleted);
		if (json)
			json_print(json_pack("{s:s, s:I}", "dismissed", doctor, "wraps_deleted", (json_int_t)n));
		else
			printf(
			    "dismissed %s: no longer your doctor; %s can no longer download %lld image%s about you\n",
			    doctor, doctor, n, n == 1 ? "" : "s");
		fprintf(stderr,
		        "medcrypt: note: what %s already downloaded stays with them; images %s sent themself stay "
		        "theirs, and your consents to them are withdrawn\n",
		        doctor, doctor);
	}
	json_decref(resp);
	return st;
}

mc_status cmd_appointments(int argc, char **argv, mc_err *err)
{
	bool json = false;
	mc_status st = parse_args("appointments", argc, argv, NULL, &json, NULL, NULL, err);
	if (st != MC_OK)
		return st;
	session s;
	client *cl = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	json_t *resp = NULL;
	st = client_call(cl, "GET", "/api/v1/appointments", NULL, 200, &resp, "appointments", err);
	session_clear(&s);
	client_free(cl);
	if (st == CLI_ERR_DENIED && strstr(err->msg, "your role may not do this"))
		cli_fail(err, st, "appointments: only patients and doctors have appointments");
	const char *as = json_string_value(json_object_get(resp, "as"));
	json_t *list = json_object_get(resp, "appointments"), *a;
	size_t i;
	if (st == MC_OK && (!as || (strcmp(as, "patient") && strcmp(as, "doctor")) || !json_is_array(list)))
		st = cli_bad_answer(err, "appointments");
	json_array_foreach(list, i, a) if (st == MC_OK && !appointment_ok(a)) st = cli_bad_answer(err, "appointments");
	if (st == MC_OK && json) {
		json_print(json_incref(resp));
	} else if (st == MC_OK) {
		bool patient = strcmp(as, "patient") == 0;
		printf("%-20s %-16s %s\n", patient ? "DOCTOR" : "PATIENT", "SINCE", "DISPLAY NAME");
		json_array_foreach(list, i, a)
		{
			char name[200], display[400], since[40];
			cli_printable(json_string_value(json_object_get(a, "username")), name, sizeof name);
			cli_printable(json_string_value(json_object_get(a, "display_name")), display, sizeof display);
			format_since(json_object_get(a, "since"), since, sizeof since);
			printf("%-20s %-16s %s%s\n", name, since, display,
			       json_is_true(json_object_get(a, "disabled")) ? " (account disabled)" : "");
		}
		size_t n = json_array_size(list);
		printf("%zu %s%s\n", n, patient ? "appointed doctor" : "patient", n == 1 ? "" : "s");
	}
	json_decref(resp);
	return st;
}
