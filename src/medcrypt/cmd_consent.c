/*
 * cmd_consent.c: `medcrypt consent request|list|approve|deny|withdraw` over docs/API.md §16c.
 * A doctor asks a patient for access to their images: all of them, one study, or a date range,
 * with a reason. The request's plaintext (the client convention of API.md §16c)
 *   {"type": "medcrypt-consent-request", "scope": "all"|"study"|"range", "study": UID,
 *    "from": "YYYYMMDD", "to": "YYYYMMDD", "reason": TEXT}
 * is sealed for the patient and the doctor and signed by the doctor: the server keeps it and
 * never reads it. Approval is done by the patient's own keys: `approve` lists the patient's
 * images about themself, opens the metadata of each here (for a study or range scope),
 * unwraps each chosen image's file key with the patient's key and wraps it for the doctor's
 * current key from the directory (pinned in known_users, as `share` does), on every core,
 * then posts all the wraps at once. Images sent after the approval are not covered: a new
 * request is needed. Server text reaches the terminal only through cli_printable.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "cmd_consent.h"
#include "printable.h"
#include "sealmem.h"

#define CONSENT_ID_HEX 32
#define REQUEST_TYPE   "medcrypt-consent-request"
#define REQUEST_META   "{\"type\":\"consent-request\"}"
#define REASON_MAX     4096
#define SEALED_MAX     (192 * 1024) /* the server's limit for a sealed request (MCD_MESSAGE_MAX) */
#define PLAIN_MAX      (64 * 1024)
#define EXPIRES_MAX    7776000L /* 90 days */
#define APPROVE_MAX    10000    /* wraps in one approval */
#define IMAGES_PAGE    1000
#define MAX_WRAP       4096
#define MAX_THREADS    64

/* A date of the request: YYYYMMDD with a plausible month and day. */
static bool valid_date(const char *d)
{
	if (strlen(d) != 8)
		return false;
	for (int i = 0; i < 8; i++)
		if (d[i] < '0' || d[i] > '9')
			return false;
	int month = (d[4] - '0') * 10 + (d[5] - '0'), day = (d[6] - '0') * 10 + (d[7] - '0');
	return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/* A CONSENT of §16c with what every command reads from it. */
static bool consent_ok(const json_t *c)
{
	const char *id = json_string_value(json_object_get(c, "id"));
	const char *p = json_string_value(json_object_get(c, "patient"));
	const char *d = json_string_value(json_object_get(c, "doctor"));
	return json_is_object(c) && id && cli_valid_id(id) && p && cli_valid_username(p) && d &&
	       cli_valid_username(d) && json_is_string(json_object_get(c, "status")) &&
	       json_is_string(json_object_get(c, "sealed"));
}

static mc_status fetch_consent(client *cl, const char *cid, json_t **consent, mc_err *err)
{
	char path[200], what[100];
	snprintf(path, sizeof path, "/api/v1/consents/%s", cid);
	snprintf(what, sizeof what, "consent %s", cid);
	mc_status st = client_call(cl, "GET", path, NULL, 200, consent, what, err);
	if (st == CLI_ERR_DENIED)
		cli_fail(err, st, "consent %s: no such consent request, or it is not between you and another user",
		         cid);
	if (st == MC_OK && !consent_ok(*consent)) {
		json_decref(*consent);
		*consent = NULL;
		st = cli_bad_answer(err, what);
	}
	return st;
}

/* The start of approve, deny and withdraw: connects with the session and fetches consent cid.
 * Whatever the result, the caller clears *s and frees *cl and *consent. */
static mc_status connect_and_fetch(const char *cid, session *s, client **cl, json_t **consent, mc_err *err)
{
	mc_status st = session_connect(s, cl, err);
	return st == MC_OK ? fetch_consent(*cl, cid, consent, err) : st;
}

/* POSTs a decision (approve, deny, withdraw) on consent cid with body (NULL: none). MC_OK when
 * an answer arrived, whatever its status, in r. */
static mc_status post_decision(client *cl, const char *cid, const char *action, json_t *body, http_response *r,
                               mc_err *err)
{
	char path[200];
	snprintf(path, sizeof path, "/api/v1/consents/%s/%s", cid, action);
	return client_request(cl, "POST", path, body, r, err);
}

/* A CONSENT as --json prints it: without the sealed request. Free with json_decref. */
static json_t *consent_printable(const json_t *consent)
{
	json_t *out = json_deep_copy(consent);
	json_object_del(out, "sealed");
	return out;
}

/* The request's plaintext, checked against the convention; NULL when it is not one. */
static json_t *parse_request(const uint8_t *plain, size_t len)
{
	json_error_t jerr;
	json_t *r = json_loadb((const char *)plain, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = json_string_value(json_object_get(r, "type"));
	const char *scope = json_string_value(json_object_get(r, "scope"));
	const char *reason = json_string_value(json_object_get(r, "reason"));
	const char *study = json_string_value(json_object_get(r, "study"));
	const char *from = json_string_value(json_object_get(r, "from"));
	const char *to = json_string_value(json_object_get(r, "to"));
	bool ok =
	    type && !strcmp(type, REQUEST_TYPE) && scope && reason && *reason && strlen(reason) <= REASON_MAX &&
	    (!strcmp(scope, "all") || (!strcmp(scope, "study") && study && *study) ||
	     (!strcmp(scope, "range") && from && to && valid_date(from) && valid_date(to) && strcmp(from, to) <= 0));
	if (!ok) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* Opens a consent's sealed request with id: the doctor's signing key from the directory (pinned
 * in known_users) must have signed it. *request is freed with json_decref. */
static mc_status open_request(client *cl, const json_t *consent, const mc_identity *id, json_t **request, mc_err *err)
{
	const char *doctor = json_string_value(json_object_get(consent, "doctor"));
	const char *b64 = json_string_value(json_object_get(consent, "sealed"));
	json_t *user = NULL;
	mc_pubkey *signer = NULL;
	uint8_t *plain = NULL;
	size_t sealed_len = 0, plain_len = 0;
	uint8_t *sealed = b64 ? b64_decode(b64, &sealed_len) : NULL;
	*request = NULL;
	if (!sealed || sealed_len > SEALED_MAX) {
		free(sealed);
		return cli_bad_answer(err, "consent");
	}
	mc_status st;
	if ((st = fetch_user(cl, doctor, &user, err)) == MC_OK &&
	    (st = user_pubkey(user, MC_ROLE_SIGNER, &signer, err)) == MC_OK &&
	    (st = sealmem_open(sealed, sealed_len, id, signer, PLAIN_MAX, &plain, &plain_len, NULL, err)) == MC_OK &&
	    !(*request = parse_request(plain, plain_len)))
		st = cli_fail(err, MC_ERR_PAYLOAD, "the consent request opened but does not follow the convention");
	mc_buf_free(plain, plain_len);
	free(sealed);
	mc_pubkey_free(signer);
	json_decref(user);
	return st;
}

/* "all images", "study UID", "StudyDate 20240101 to 20241231", into out (printable). */
static void describe_scope(const json_t *request, char *out, size_t size)
{
	const char *scope = json_string_value(json_object_get(request, "scope"));
	char a[200], b[40];
	if (!scope)
		snprintf(out, size, "?");
	else if (!strcmp(scope, "study"))
		snprintf(out, size, "study %s",
		         cli_printable(json_string_value(json_object_get(request, "study")), a, sizeof a));
	else if (!strcmp(scope, "range"))
		snprintf(out, size, "StudyDate %s to %s",
		         cli_printable(json_string_value(json_object_get(request, "from")), a, sizeof a),
		         cli_printable(json_string_value(json_object_get(request, "to")), b, sizeof b));
	else
		snprintf(out, size, "all images");
}

/* The first line of the reason, at most 60 bytes, printable. */
static void reason_line(const json_t *request, char *out, size_t size)
{
	const char *reason = json_string_value(json_object_get(request, "reason"));
	char line[64];
	size_t n = reason ? strcspn(reason, "\n") : 0;
	if (n > 60)
		n = 60;
	memcpy(line, reason ? reason : "", n);
	line[n] = '\0';
	cli_printable(line, out, size);
}

/* 409 and the other refusals of a decision, as a sentence; consent is the request as it was. */
static mc_status decision_error(const http_response *r, const char *what, const json_t *consent, mc_err *err)
{
	const char *code = json_string_value(json_object_get(r->json, "error"));
	if (r->status == 409 && code && !strcmp(code, "expired")) {
		char when[40];
		cli_local_time(json_object_get(consent, "expires"), when, sizeof when);
		return cli_fail(err, CLI_ERR_REFUSED,
		                "%s: the request expired (%s): it can no longer be approved or denied; the doctor can "
		                "ask again with 'medcrypt consent request'",
		                what, when);
	}
	if (r->status == 409) {
		char status[40];
		cli_printable(json_string_value(json_object_get(consent, "status")), status, sizeof status);
		return cli_fail(err, CLI_ERR_REFUSED, "%s: the request is %s: nothing changed", what, status);
	}
	if (r->status == 403 && code && !strcmp(code, "forbidden"))
		return cli_fail(err, CLI_ERR_DENIED, "%s: only the patient of a request may decide on it", what);
	return http_error(r, what, err);
}

/* ---- request ---- */

static mc_status read_reason_file(const char *path, char **out, mc_err *err)
{
	int fd = -1;
	long long size = -1;
	*out = NULL;
	mc_status st = in_open(path, &fd, &size, err);
	if (st != MC_OK)
		return st;
	char *buf = malloc(REASON_MAX + 2);
	size_t got = 0;
	ssize_t n = 0;
	while (buf && got < REASON_MAX + 1 && (n = read(fd, buf + got, REASON_MAX + 1 - got)) > 0)
		got += (size_t)n;
	in_close(fd);
	if (!buf)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	if (n < 0) {
		free(buf);
		return cli_fail(err, MC_ERR_IO, "cannot read %.300s", path);
	}
	while (got > 0 && buf[got - 1] == '\n')
		got--; /* a file's last newline is not part of the reason */
	buf[got] = '\0';
	*out = buf;
	return MC_OK;
}

static mc_status consent_request(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"study", required_argument, NULL, 's'},      {"study-of", required_argument, NULL, 'S'},
	    {"from", required_argument, NULL, 'f'},       {"to", required_argument, NULL, 't'},
	    {"reason", required_argument, NULL, 'r'},     {"reason-file", required_argument, NULL, 'R'},
	    {"expires-in", required_argument, NULL, 'e'}, COMMON_OPTIONS};
	const char *study = NULL, *study_of = NULL, *from = NULL, *to = NULL, *reason_arg = NULL, *reason_file = NULL;
	char study_uid[80] = "";
	long expires_in = 604800;
	bool json = false;
	int pfd = -1, c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': study = optarg; break;
		case 'S': study_of = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'r': reason_arg = optarg; break;
		case 'R': reason_file = optarg; break;
		case 'e': {
			char *end;
			expires_in = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || expires_in < 1 || expires_in > EXPIRES_MAX)
				return usage_error(err, "consent", "--expires-in takes 1 to 7776000 seconds (90 days)");
			break;
		}
		default:
			if (common_option("consent", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (argc - optind != 1)
		return usage_error(err, "consent", "give one patient's user name");
	const char *patient = argv[optind];
	if (!cli_valid_username(patient))
		return fail_usage_name(err, patient);
	if (study && study_of)
		return usage_error(err, "consent", "give --study UID or --study-of FILE, not both");
	if (study_of) {
		/* the UID read from a DICOM file, so that it need not be typed (nor be seen in argv) */
		json_t *doc = NULL;
		mc_err why = {0};
		mc_status mst = meta_of_file(study_of, &doc, &why);
		const char *uid = json_string_value(json_object_get(doc, "StudyInstanceUID"));
		if (mst == MC_OK && uid && *uid && strlen(uid) < sizeof study_uid)
			snprintf(study_uid, sizeof study_uid, "%s", uid);
		json_decref(doc);
		if (!study_uid[0])
			return usage_error(err, "consent",
			                   "--study-of %.200s: no StudyInstanceUID read from it (a DICOM file?)",
			                   study_of);
		study = study_uid;
	}
	if (study && (from || to))
		return usage_error(err, "consent", "give --study UID or --from DATE --to DATE, not both");
	if ((from != NULL) != (to != NULL))
		return usage_error(err, "consent", "a date range needs both --from and --to");
	if (from && (!valid_date(from) || !valid_date(to) || strcmp(from, to) > 0))
		return usage_error(err, "consent", "--from and --to take dates YYYYMMDD, --from not after --to");
	if (study && (!*study || strlen(study) > 64))
		return usage_error(err, "consent", "--study takes a StudyInstanceUID (1 to 64 characters)");
	if ((reason_arg != NULL) == (reason_file != NULL))
		return usage_error(err, "consent", "give the reason: --reason TEXT or --reason-file F");

	char *reason = NULL, *plain = NULL;
	session s = {0};
	client *cl = NULL;
	json_t *request = NULL, *user = NULL, *me = NULL, *resp = NULL, *body = NULL;
	mc_pubkey *keys[2] = {0};
	mc_identity *id = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	mc_status st = MC_OK;
	if (reason_file && (st = read_reason_file(reason_file, &reason, err)) != MC_OK)
		goto cleanup;
	if (reason_arg && !(reason = strdup(reason_arg))) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	json_t *reason_j = json_string(reason); /* NULL: not UTF-8 */
	if (!*reason || strlen(reason) > REASON_MAX || !reason_j) {
		json_decref(reason_j);
		st = usage_error(err, "consent", "the reason is 1 to 4096 bytes of UTF-8 text");
		goto cleanup;
	}
	request = json_pack("{s:s, s:s, s:o}", "type", REQUEST_TYPE, "scope",
	                    study  ? "study"
	                    : from ? "range"
	                           : "all",
	                    "reason", reason_j);
	if (request && study)
		json_object_set_new(request, "study", json_string(study));
	if (request && from) {
		json_object_set_new(request, "from", json_string(from));
		json_object_set_new(request, "to", json_string(to));
	}
	if (!request || !(plain = json_text(request, JSON_COMPACT))) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		goto cleanup;
	if (!session_key_path(&s, err)) {
		st = err->status;
		goto cleanup;
	}
	/* the patient's current key from the directory (pinned); mine from my key file, checked
	 * against the directory's signing key as `send` does */
	if ((st = fetch_user(cl, patient, &user, err)) != MC_OK)
		goto cleanup;
	const char *role = json_string_value(json_object_get(user, "role"));
	if (!role || strcmp(role, "patient") != 0) {
		st =
		    cli_fail(err, CLI_ERR_REFUSED, "%s is not a patient: a consent request goes to a patient", patient);
		goto cleanup;
	}
	if ((st = user_pubkey(user, MC_ROLE_RECIPIENT, &keys[0], err)) != MC_OK ||
	    (st = fetch_user(cl, s.username, &me, err)) != MC_OK ||
	    (st = load_identity(s.key_path, pfd, MC_IDENTITY_BOTH, &id, err)) != MC_OK ||
	    (st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &keys[1], err)) != MC_OK)
		goto cleanup;
	uint8_t fp[MC_FP_LEN];
	const char *my_sign = json_string_value(json_object_get(me, "sign_fingerprint"));
	if (!my_sign || mc_fp_parse(my_sign, fp) != 0 || !mc_ct_equal(fp, mc_identity_sign_fp(id), MC_FP_LEN)) {
		st = cli_fail(err, MC_ERR_KEY,
		              "your key file's signing key is not the one the directory has for you: the patient would "
		              "refuse the request");
		goto cleanup;
	}
	if ((st = sealmem_seal((const mc_pubkey *const *)keys, 2, id, REQUEST_META, (const uint8_t *)plain,
	                       strlen(plain), SEALED_MAX, &sealed, &sealed_len, err)) != MC_OK)
		goto cleanup;
	char *b64 = b64_encode(sealed, sealed_len);
	body =
	    b64 ? json_pack("{s:s, s:s, s:I}", "patient", patient, "sealed", b64, "expires_in", (json_int_t)expires_in)
	        : NULL;
	free(b64);
	if (!body) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	http_response r = {0};
	st = client_request(cl, "POST", "/api/v1/consents", body, &r, err);
	if (st == MC_OK && r.status != 201) {
		const char *code = json_string_value(json_object_get(r.json, "error"));
		if (r.status == 404)
			st = cli_fail(err, CLI_ERR_DENIED, "consent request: %s is not an enabled patient", patient);
		else if (r.status == 403 && code && !strcmp(code, "forbidden"))
			st = cli_fail(err, CLI_ERR_DENIED,
			              "consent request: only a doctor may ask a patient for consent");
		else
			st = http_error(&r, "consent request", err);
	}
	if (st == MC_OK && !consent_ok(r.json))
		st = cli_bad_answer(err, "consent request");
	if (st == MC_OK) {
		const char *cid = json_string_value(json_object_get(r.json, "id"));
		char when[40];
		cli_local_time(json_object_get(r.json, "expires"), when, sizeof when);
		if (json) {
			json_t *out = consent_printable(r.json);
			json_object_set(out, "request", request);
			json_print(out);
		} else {
			printf("%s\n", cid);
		}
		fprintf(stderr,
		        "medcrypt consent: asked %s (it expires %s); they see it with 'medcrypt consent list' and "
		        "decide with 'medcrypt consent approve|deny %s'\n",
		        patient, when, cid);
	}
	http_response_clear(&r);
cleanup:
	if (reason) {
		mc_wipe(reason, strlen(reason));
		free(reason);
	}
	if (plain) {
		mc_wipe(plain, strlen(plain));
		free(plain);
	}
	free(sealed);
	json_decref(request);
	json_decref(user);
	json_decref(me);
	json_decref(resp);
	json_decref(body);
	mc_pubkey_free(keys[0]);
	mc_pubkey_free(keys[1]);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- list ---- */

static mc_status consent_list(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"status", required_argument, NULL, 's'}, COMMON_OPTIONS};
	const char *status = NULL;
	bool json = false;
	int pfd = -1, c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': status = optarg; break;
		default:
			if (common_option("consent", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind != argc)
		return usage_error(err, "consent", "'consent list' takes no arguments besides its options");
	const char *statuses[] = {"pending", "approved", "denied", "expired", "withdrawn"};
	bool known = !status;
	for (size_t i = 0; status && i < sizeof statuses / sizeof statuses[0]; i++)
		known = known || !strcmp(status, statuses[i]);
	if (!known)
		return usage_error(err, "consent", "--status takes pending, approved, denied, expired or withdrawn");
	session s;
	client *cl = NULL;
	json_t *resp = NULL, *out = NULL;
	mc_identity *id = NULL;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	char path[200];
	snprintf(path, sizeof path, "/api/v1/consents%s%s", status ? "?status=" : "", status ? status : "");
	if ((st = client_call(cl, "GET", path, NULL, 200, &resp, "consent list", err)) != MC_OK) {
		if (st == CLI_ERR_DENIED && strstr(err->msg, "your role may not do this"))
			cli_fail(err, st, "consent list: only patients and doctors have consent requests");
		goto cleanup;
	}
	json_t *list = json_object_get(resp, "consents"), *cons;
	size_t i;
	if (!json_is_array(list)) {
		st = cli_bad_answer(err, "consent list");
		goto cleanup;
	}
	json_array_foreach(list, i, cons) if (!consent_ok(cons))
	{
		st = cli_bad_answer(err, "consent list");
		goto cleanup;
	}
	if (json_array_size(list) > 0) {
		if (!session_key_path(&s, err)) {
			st = err->status;
			goto cleanup;
		}
		if ((st = load_identity(s.key_path, pfd, MC_IDENTITY_ENC, &id, err)) != MC_OK)
			goto cleanup;
	}
	out = json_array();
	if (!json)
		printf("%-32s %-9s %-6s %-16s %-16s %-16s %6s  %s\n", "ID", "STATUS", "", "WITH", "CREATED", "EXPIRES",
		       "IMAGES", "SCOPE: REASON");
	json_array_foreach(list, i, cons)
	{
		json_t *request = NULL;
		mc_err e = {0};
		mc_status ost = open_request(cl, cons, id, &request, &e);
		if (ost == CLI_ERR_PIN || ost == CLI_ERR_SESSION || ost == CLI_ERR_NETWORK) {
			*err = e;
			st = ost;
			goto cleanup;
		}
		bool as_patient = !strcmp(json_string_value(json_object_get(cons, "patient")), s.username);
		const char *other = json_string_value(json_object_get(cons, as_patient ? "doctor" : "patient"));
		json_t *row = consent_printable(cons);
		if (row) {
			json_object_set_new(row, "request", request ? json_incref(request) : json_null());
			if (!request)
				json_object_set_new(row, "error", json_string(e.msg));
			json_array_append_new(out, row);
		}
		if (!json) {
			char st_s[16], created[40], expires[40], scope[300], reason[200];
			cli_printable(json_string_value(json_object_get(cons, "status")), st_s, sizeof st_s);
			cli_local_time(json_object_get(cons, "created"), created, sizeof created);
			cli_local_time(json_object_get(cons, "expires"), expires, sizeof expires);
			if (request) {
				describe_scope(request, scope, sizeof scope);
				reason_line(request, reason, sizeof reason);
			} else {
				snprintf(scope, sizeof scope, "(cannot open: %s)", cli_status_name(ost));
				reason[0] = '\0';
			}
			printf("%-32s %-9s %-6s %-16s %-16s %-16s %6lld  %s%s%s\n",
			       json_string_value(json_object_get(cons, "id")), st_s, as_patient ? "from" : "to", other,
			       created, expires, (long long)json_integer_value(json_object_get(cons, "images")), scope,
			       reason[0] ? ": " : "", reason);
		}
		json_decref(request);
	}
	if (json)
		json_print(json_pack("{s:O}", "consents", out));
	else
		printf("%zu consent request%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
cleanup:
	json_decref(resp);
	json_decref(out);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- approve ---- */

/* One of my images about myself, and what approving does with it. */
struct item {
	char id[CONSENT_ID_HEX + 1];
	uint8_t *header, *wrap; /* ciphertext and my detached wrap, decoded */
	size_t header_len, wrap_len;
	bool selected;  /* within the scope */
	char *new_wrap; /* base64 of the wrap for the doctor */
	mc_status st;   /* MC_OK, or why it was left out */
};

struct approve_job {
	struct item *items;
	size_t n;
	atomic_size_t next, done;
	const mc_identity *id;
	const mc_pubkey *doctor;
	const char *scope, *study, *from, *to;
	progress *pr;
};

/* Whether the metadata of an unlocked image falls within the scope. */
static bool in_scope(const struct approve_job *job, mc_file *f)
{
	if (!strcmp(job->scope, "all"))
		return true;
	uint8_t *meta = NULL;
	size_t len = 0;
	mc_err e = {0};
	if (mc_file_metadata(f, &meta, &len, &e) != MC_OK || !meta)
		return false;
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)meta, len, 0, &jerr);
	mc_buf_free(meta, len);
	bool yes = false;
	if (!strcmp(job->scope, "study")) {
		const char *uid = json_string_value(json_object_get(doc, "StudyInstanceUID"));
		yes = uid && !strcmp(uid, job->study);
	} else {
		const char *date = json_string_value(json_object_get(doc, "StudyDate"));
		char d[9];
		size_t n = date ? strspn(date, "0123456789") : 0;
		if (n == 8) {
			memcpy(d, date, 8);
			d[8] = '\0';
			yes = strcmp(d, job->from) >= 0 && strcmp(d, job->to) <= 0;
		}
	}
	json_decref(doc);
	return yes;
}

static void approve_one(const struct approve_job *job, struct item *it)
{
	mc_file *f = NULL;
	uint8_t *wrap = NULL;
	size_t wrap_len = 0;
	mc_err e = {0};
	mc_mem_source src = {it->header, it->header_len};
	it->st = mc_file_read(mc_input_mem(&src), &f, &e);
	if (it->st == MC_OK)
		it->st = mc_file_add_detached_wrap(f, it->wrap, it->wrap_len, &e);
	if (it->st == MC_OK)
		it->st = mc_file_unlock(f, job->id, &e); /* unwraps the file key with my key */
	if (it->st == MC_OK && (it->selected = in_scope(job, f))) {
		if ((it->st = mc_file_add_recipient(f, job->doctor, &e)) == MC_OK &&
		    (it->st = mc_file_wrap_bytes(f, mc_file_n_wraps(f) - 1, &wrap, &wrap_len, &e)) == MC_OK &&
		    !(it->new_wrap = b64_encode(wrap, wrap_len)))
			it->st = MC_ERR_NOMEM;
	}
	mc_buf_free(wrap, wrap_len);
	mc_file_free(f); /* wipes the file key */
}

static void *approve_worker(void *arg)
{
	struct approve_job *job = arg;
	size_t i;
	while ((i = atomic_fetch_add(&job->next, 1)) < job->n) {
		approve_one(job, &job->items[i]);
		atomic_fetch_add(&job->done, 1);
	}
	return NULL;
}

/* The progress line of the approval, with the time left, while the workers run. */
static void approve_progress(struct approve_job *job, double start)
{
	for (;;) {
		size_t done = atomic_load(&job->done);
		if (done >= job->n)
			break;
		if (job->pr->enabled) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double t = (double)now.tv_sec + now.tv_nsec / 1e9 - start;
			double left = done ? t / (double)done * (double)(job->n - done) : 0;
			fprintf(stderr, "\rapproving: %zu of %zu images, %.0f s left ", done, job->n, left);
		}
		struct timespec pause = {0, 200 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	if (job->pr->enabled)
		fprintf(stderr, "\r\033[K");
}

/* Every image about me that I can see: GET /api/v1/images?patient=ME, all pages. */
static mc_status my_images(client *cl, const char *me, json_t **all, mc_err *err)
{
	char seg[300], before[CONSENT_ID_HEX + 1] = "";
	url_segment(me, seg, sizeof seg);
	*all = json_array();
	for (;;) {
		char path[600];
		json_t *resp = NULL;
		snprintf(path, sizeof path, "/api/v1/images?patient=%s&limit=%d%s%s", seg, IMAGES_PAGE,
		         before[0] ? "&before=" : "", before);
		mc_status st = client_call(cl, "GET", path, NULL, 200, &resp, "listing your images", err);
		json_t *images = json_object_get(resp, "images"), *image;
		size_t i;
		if (st == MC_OK && !json_is_array(images))
			st = cli_bad_answer(err, "listing your images");
		if (st != MC_OK) {
			json_decref(resp);
			json_decref(*all);
			*all = NULL;
			return st;
		}
		json_array_foreach(images, i, image) json_array_append(*all, image);
		size_t n = json_array_size(images);
		const char *last = n ? json_string_value(json_object_get(json_array_get(images, n - 1), "id")) : NULL;
		bool more = n == IMAGES_PAGE && last && cli_valid_id(last);
		if (more)
			snprintf(before, sizeof before, "%s", last);
		json_decref(resp);
		if (!more)
			return MC_OK;
	}
}

static unsigned worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static mc_status consent_approve(const char *cid, int pfd, bool json, mc_err *err)
{
	session s;
	client *cl = NULL;
	json_t *consent = NULL, *doctor_user = NULL, *request = NULL, *images = NULL, *body = NULL;
	mc_pubkey *doctor_key = NULL;
	mc_identity *id = NULL;
	passphrase pp = {0};
	struct item *items = NULL;
	size_t n_items = 0;
	char what[100];
	snprintf(what, sizeof what, "consent approve %s", cid);
	mc_status st = connect_and_fetch(cid, &s, &cl, &consent, err);
	if (st != MC_OK)
		goto cleanup;
	const char *patient = json_string_value(json_object_get(consent, "patient"));
	const char *doctor = json_string_value(json_object_get(consent, "doctor"));
	const char *status = json_string_value(json_object_get(consent, "status"));
	if (strcmp(patient, s.username) != 0) {
		st = cli_fail(err, CLI_ERR_DENIED, "%s: only the patient of the request (%s) may approve it", what,
		              patient);
		goto cleanup;
	}
	if (strcmp(status, "pending") != 0) {
		http_response fake = {.status = 409};
		fake.json = json_pack("{s:s}", "error", strcmp(status, "expired") ? "conflict" : "expired");
		st = decision_error(&fake, what, consent, err);
		json_decref(fake.json);
		goto cleanup;
	}
	if (!session_key_path(&s, err)) {
		st = err->status;
		goto cleanup;
	}
	/* the doctor's current encryption key from the directory, pinned in known_users as for a
	 * share; the password (asked once) unlocks my key and re-authenticates the approval */
	if ((st = fetch_user(cl, doctor, &doctor_user, err)) != MC_OK ||
	    (st = user_pubkey(doctor_user, MC_ROLE_RECIPIENT, &doctor_key, err)) != MC_OK)
		goto cleanup;
	char prompt[200];
	snprintf(prompt, sizeof prompt, "Password of %.64s: ", s.username);
	if ((st = passphrase_get(&pp, pfd, prompt, false, err)) != MC_OK ||
	    (st = mc_identity_load(s.key_path, pp.buf, pp.len, MC_IDENTITY_ENC, &id, err)) != MC_OK ||
	    (st = open_request(cl, consent, id, &request, err)) != MC_OK)
		goto cleanup;
	char scope[300], reason[200];
	describe_scope(request, scope, sizeof scope);
	reason_line(request, reason, sizeof reason);
	fprintf(stderr, "medcrypt consent: %s asks for %s: %s\n", doctor, scope, reason);
	fprintf(stderr, "medcrypt consent: wrapping for %s (doctor), encryption key %s\n", doctor,
	        json_string_value(json_object_get(doctor_user, "enc_fingerprint")));
	if ((st = my_images(cl, s.username, &images, err)) != MC_OK)
		goto cleanup;
	items = calloc(json_array_size(images) + 1, sizeof *items);
	if (!items) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	json_t *image;
	size_t i;
	json_array_foreach(images, i, image)
	{
		const char *iid = json_string_value(json_object_get(image, "id"));
		const char *about = json_string_value(json_object_get(image, "patient"));
		const char *h64 = json_string_value(json_object_get(image, "header"));
		const char *w64 = json_string_value(json_object_get(image, "wrap"));
		if (!iid || !cli_valid_id(iid) || !about || strcmp(about, s.username) != 0)
			continue; /* not about me: never wrapped for a doctor under my consent */
		struct item *it = &items[n_items];
		snprintf(it->id, sizeof it->id, "%s", iid);
		it->header = h64 ? b64_decode(h64, &it->header_len) : NULL;
		it->wrap = w64 ? b64_decode(w64, &it->wrap_len) : NULL;
		if (!it->header || !it->wrap || it->wrap_len > MAX_WRAP) {
			free(it->header);
			mc_buf_free(it->wrap, it->wrap_len);
			it->header = it->wrap = NULL;
			fprintf(stderr,
			        "medcrypt consent: image %s: the server sent no usable header or wrap: left out\n",
			        iid);
			continue;
		}
		n_items++;
	}
	/* the RSA unwraps are the work: one worker per core */
	progress pr;
	progress_init(&pr, "approving", (long long)n_items);
	struct approve_job job = {.items = items,
	                          .n = n_items,
	                          .id = id,
	                          .doctor = doctor_key,
	                          .scope = json_string_value(json_object_get(request, "scope")),
	                          .study = json_string_value(json_object_get(request, "study")),
	                          .from = json_string_value(json_object_get(request, "from")),
	                          .to = json_string_value(json_object_get(request, "to")),
	                          .pr = &pr};
	atomic_init(&job.next, 0);
	atomic_init(&job.done, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned n_threads = worker_count();
	if (n_threads > n_items)
		n_threads = n_items ? (unsigned)n_items : 1;
	pthread_t threads[MAX_THREADS];
	unsigned started = 0;
	for (; started < n_threads; started++)
		if (pthread_create(&threads[started], NULL, approve_worker, &job) != 0)
			break;
	if (started == 0)
		approve_worker(&job); /* no thread could start: do it here */
	else
		approve_progress(&job, (double)t0.tv_sec + t0.tv_nsec / 1e9);
	for (unsigned k = 0; k < started; k++)
		pthread_join(threads[k], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	size_t selected = 0, failed = 0;
	body = json_pack("{s:[]}", "wraps");
	json_t *wraps = json_object_get(body, "wraps");
	for (i = 0; i < n_items; i++) {
		if (items[i].st != MC_OK) {
			failed++;
			fprintf(stderr, "medcrypt consent: image %s does not open with your key (%s): left out\n",
			        items[i].id, cli_status_name(items[i].st));
		} else if (items[i].selected) {
			selected++;
			json_array_append_new(wraps,
			                      json_pack("{s:s, s:s}", "image", items[i].id, "wrap", items[i].new_wrap));
		}
	}
	if (json_array_size(wraps) != selected) {
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (selected > APPROVE_MAX) {
		st = cli_fail(err, CLI_ERR_REFUSED,
		              "%s: %zu images are within the request, more than the %d one approval may carry: ask the "
		              "doctor for narrower requests (one study, or a date range)",
		              what, selected, APPROVE_MAX);
		goto cleanup;
	}
	fprintf(stderr,
	        "medcrypt consent: %zu of your %zu images about you are within the request (%.1f s, %u threads)\n",
	        selected, n_items, secs, n_threads);
	/* the approval re-authenticated, as a share is (the password asked for above) */
	if ((st = session_reauth(cl, &s, pfd, &pp, err)) != MC_OK)
		goto cleanup;
	http_response r = {0};
	st = post_decision(cl, cid, "approve", body, &r, err);
	if (st == MC_OK && r.status != 200) {
		const char *code = json_string_value(json_object_get(r.json, "error"));
		if (r.status == 404 && json_is_string(json_object_get(r.json, "image"))) {
			char safe[80];
			st = cli_fail(
			    err, CLI_ERR_DENIED, "%s: the server says image %s is not about you: nothing changed", what,
			    cli_printable(json_string_value(json_object_get(r.json, "image")), safe, sizeof safe));
		} else if (r.status == 400 && code && !strcmp(code, "unknown_recipient"))
			st = cli_fail(
			    err, CLI_ERR_REFUSED,
			    "%s: %s's key changed while approving: nothing changed; run 'medcrypt consent approve "
			    "%s' again",
			    what, doctor, cid);
		else
			st = decision_error(&r, what, consent, err);
	}
	if (st == MC_OK && !consent_ok(r.json))
		st = cli_bad_answer(err, what);
	if (st == MC_OK) {
		json_int_t added = json_integer_value(json_object_get(r.json, "added"));
		if (json) {
			json_t *out = consent_printable(r.json);
			json_object_set_new(out, "selected", json_integer((json_int_t)selected));
			json_object_set_new(out, "left_out", json_integer((json_int_t)failed));
			json_print(out);
		} else {
			printf("approved %s: %s can now open %lld of your images (%zu within the request, %lld could "
			       "already)\n",
			       cid, doctor, (long long)added, selected, (long long)selected - (long long)added);
		}
		fprintf(stderr,
		        "medcrypt consent: images about you sent after now are not covered: %s needs a new request; "
		        "'medcrypt consent withdraw %s' takes the access back (what they downloaded stays with them)\n",
		        doctor, cid);
	}
	http_response_clear(&r);
cleanup:
	for (i = 0; items && i < n_items; i++) {
		free(items[i].header);
		mc_buf_free(items[i].wrap, items[i].wrap_len);
		free(items[i].new_wrap);
	}
	free(items);
	json_decref(body);
	json_decref(images);
	json_decref(request);
	json_decref(consent);
	json_decref(doctor_user);
	mc_pubkey_free(doctor_key);
	mc_identity_free(id);
	passphrase_free(&pp);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- deny, withdraw ---- */

static mc_status consent_decide(const char *action, const char *cid, bool json, mc_err *err)
{
	session s;
	client *cl = NULL;
	json_t *consent = NULL;
	char what[100];
	snprintf(what, sizeof what, "consent %s %s", action, cid);
	mc_status st = connect_and_fetch(cid, &s, &cl, &consent, err);
	if (st != MC_OK)
		goto cleanup;
	const char *patient = json_string_value(json_object_get(consent, "patient"));
	const char *doctor = json_string_value(json_object_get(consent, "doctor"));
	bool as_patient = !strcmp(patient, s.username);
	json_int_t covered = json_integer_value(json_object_get(consent, "images"));
	if (!strcmp(action, "deny") && !as_patient) {
		st = cli_fail(err, CLI_ERR_DENIED, "%s: only the patient of the request (%s) may deny it", what,
		              patient);
		goto cleanup;
	}
	http_response r = {0};
	st = post_decision(cl, cid, action, NULL, &r, err);
	if (st == MC_OK && r.status != 200) {
		if (r.status == 409 && !strcmp(action, "withdraw"))
			st = cli_fail(
			    err, CLI_ERR_REFUSED,
			    "%s: %s: a patient withdraws an approved consent, a doctor their own pending request", what,
			    json_string_value(json_object_get(consent, "status")));
		else
			st = decision_error(&r, what, consent, err);
	}
	if (st == MC_OK && !consent_ok(r.json))
		st = cli_bad_answer(err, what);
	if (st == MC_OK) {
		if (json) {
			json_print(consent_printable(r.json));
		} else if (!strcmp(action, "deny")) {
			printf("denied %s: %s gets no access from it\n", cid, doctor);
		} else if (as_patient) {
			printf("withdrew %s: %s can no longer download the %lld image%s it covered\n", cid, doctor,
			       (long long)covered, covered == 1 ? "" : "s");
			fprintf(stderr, "medcrypt consent: what %s already downloaded stays with them\n", doctor);
		} else {
			printf("withdrew your request %s to %s\n", cid, patient);
		}
	}
	http_response_clear(&r);
cleanup:
	json_decref(consent);
	session_clear(&s);
	client_free(cl);
	return st;
}

mc_status cmd_consent(int argc, char **argv, mc_err *err)
{
	if (argc < 2)
		return usage_error(err, "consent", "give request, list, approve, deny or withdraw");
	const char *sub = argv[1];
	if (!strcmp(sub, "request"))
		return consent_request(argc, argv, err);
	if (!strcmp(sub, "list"))
		return consent_list(argc, argv, err);
	if (strcmp(sub, "approve") && strcmp(sub, "deny") && strcmp(sub, "withdraw"))
		return usage_error(err, "consent", "unknown subcommand '%.40s'", sub);
	static const struct option opts[] = {COMMON_OPTIONS};
	bool json = false;
	int pfd = -1, c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (common_option("consent", c, optarg, !strcmp(sub, "approve") ? &pfd : NULL, &json, err) != MC_OK)
			return err->status;
	if (argc - optind != 1 || !cli_valid_id(argv[optind]))
		return usage_error(err, "consent", "give one consent ID (32 lowercase hex digits)");
	if (!strcmp(sub, "approve"))
		return consent_approve(argv[optind], pfd, json, err);
	return consent_decide(sub, argv[optind], json, err);
}
