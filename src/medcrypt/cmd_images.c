/*
 * cmd_images.c: the image commands of the medcryptd client (docs/API.md §15): `send` seals a
 * file locally for the recipients' directory keys and the sender, signed, and uploads it
 * (resumably, §15a);
 * `ls` lists what I may open and decrypts each item's metadata locally; `get` downloads a blob
 * (resuming a previous .part with Range and If-Range), opens it with my detached wrap and
 * requires the sender's current signing key before the output appears; `share` makes a detached
 * wrap for another user from my own; `revoke` and `rm` destroy wraps. The server only ever sees
 * ciphertext and wraps.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "cmd_patients.h"
#include "deidclaim.h"

#define MAX_TO   64
#define MAX_WRAP 4096

static mc_status fail_st(mc_err *err, mc_status st, const char *msg)
{
	err->status = st;
	snprintf(err->msg, sizeof err->msg, "%s", msg);
	return st;
}

/* An mc_input over a buffer. */
/* Reads the header of IMAGE (prefix and core, base64) and adds my detached wrap. */
static mc_status image_header(const json_t *image, const uint8_t *wrap, size_t wrap_len, mc_file **f, mc_err *err)
{
	const char *h64 = json_string_value(json_object_get(image, "header"));
	size_t hlen = 0;
	uint8_t *h = h64 ? b64_decode(h64, &hlen) : NULL;
	*f = NULL;
	if (!h)
		return fail_st(err, CLI_ERR_NETWORK, "the server sent no readable header for this image");
	mc_mem_source src = {h, hlen};
	mc_status st = mc_file_read(mc_input_mem(&src), f, err);
	free(h);
	if (st == MC_OK && wrap)
		st = mc_file_add_detached_wrap(*f, wrap, wrap_len, err);
	if (st != MC_OK) {
		mc_file_free(*f);
		*f = NULL;
	}
	return st;
}

/* My wrap of an image: the "wrap" of IMAGE, else GET .../wrap. Free with mc_buf_free. */
static mc_status my_wrap(client *c, const char *id, const json_t *image, uint8_t **wrap, size_t *len, mc_err *err)
{
	const char *w64 = json_string_value(json_object_get(image, "wrap"));
	if (w64) {
		*wrap = b64_decode(w64, len);
		if (*wrap && *len <= MAX_WRAP)
			return MC_OK;
		mc_buf_free(*wrap, *len);
		return fail_st(err, CLI_ERR_NETWORK, "the server sent a malformed wrap");
	}
	char path[200];
	snprintf(path, sizeof path, "/api/v1/images/%s/wrap", id);
	return client_get_bytes(c, path, MAX_WRAP, wrap, len, "fetching my wrap", err);
}

static mc_status fetch_image(client *c, const char *id, json_t **image, mc_err *err)
{
	char path[200];
	snprintf(path, sizeof path, "/api/v1/images/%s", id);
	mc_status st = client_call(c, "GET", path, NULL, 200, image, "image", err);
	if (st == CLI_ERR_DENIED)
		snprintf(err->msg, sizeof err->msg, "image %s: no such image, or it is not shared with you", id);
	if (st == MC_OK && !*image)
		st = fail_st(err, CLI_ERR_NETWORK, "image: malformed answer from the server");
	return st;
}

/* ---- send ---- */

/* The metadata sealed with a file, as `medcrypt seal` stores it: what `medcrypt meta --json`
 * reads from a DICOM, PNG or JPEG file (meta_of_file; only the file name for other types), with
 * the members of the --meta object over it. Encrypted in the header: the server never sees it. */
static mc_status send_metadata(const char *path, const char *user_meta, const json_t *claim, char **out, mc_err *err)
{
	json_t *doc = NULL;
	mc_err why = {0};
	*out = NULL;
	mc_status st = meta_of_file(path, &doc, &why);
	if (st == MC_ERR_NOMEM)
		return fail_st(err, st, "out of memory");
	if (st != MC_OK && st != MC_ERR_UNSUPPORTED)
		fprintf(stderr, "medcrypt send: warning: no metadata read from %s: %s\n", path, why.msg);
	if (st != MC_OK) {
		char *copy = strdup(path);
		doc = json_object();
		json_t *name = copy ? json_string(basename(copy)) : NULL;
		free(copy);
		if (name)
			json_object_set_new(doc, "file", name);
	}
	if (user_meta) {
		json_error_t jerr;
		json_t *user = json_load_file(user_meta, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(user)) {
			json_decref(user);
			json_decref(doc);
			return usage_error(err, "send", "%s is not a JSON object", user_meta);
		}
		if (json_object_get(user, "deidentified")) { /* only a checked claim (deidclaim.c) */
			json_decref(user);
			json_decref(doc);
			return usage_error(err, "send", "%s has a member \"deidentified\": use --deidentified",
			                   user_meta);
		}
		json_object_update(doc, user);
		json_decref(user);
	}
	/* The de-identification claim (--deidentified): the file's signature signs it */
	if (claim && json_object_set(doc, "deidentified", (json_t *)claim) != 0) {
		json_decref(doc);
		return fail_st(err, MC_ERR_NOMEM, "out of memory");
	}
	*out = json_text(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!*out)
		return fail_st(err, MC_ERR_NOMEM, "out of memory");
	if (strlen(*out) > MC_MAX_METADATA) {
		free(*out);
		*out = NULL;
		return usage_error(err, "send", "the metadata is larger than 1 MiB");
	}
	return MC_OK;
}

/* The patient of a send (docs/API.md §15, "Naming the patient on upload"): --patient, else for a
 * DICOM the account its PatientID maps to in my PatientID mapping (cmd_patients.c; *mapped gets
 * that name, free with free()). A technician, and a doctor sending an identified item, must name
 * one: MC_ERR_MISUSE saying how. The patient joins the recipients when not among them (to has
 * room for one more). The PatientID itself is never printed. */
static mc_status send_patient(const session *s, const char *hostport, const json_t *me, const mc_identity *id,
                              const char *path, upload_params *up, const char **to, size_t *n_to, char **mapped,
                              mc_err *err)
{
	const char *role = json_string_value(json_object_get(me, "role"));
	bool in_file = false;
	if (!up->patient) {
		json_t *doc = NULL;
		mc_err why = {0};
		const char *patient_id = NULL;
		if (meta_of_file(path, &doc, &why) == MC_OK)
			patient_id = json_string_value(json_object_get(doc, "PatientID"));
		in_file = patient_id && *patient_id;
		mc_status st = in_file ? patient_map_find(hostport, s->username, id, patient_id, mapped, err) : MC_OK;
		json_decref(doc);
		if (st != MC_OK)
			return st;
		if (*mapped) {
			up->patient = *mapped;
			fprintf(stderr, "medcrypt send: patient: %s (from your PatientID mapping)\n", *mapped);
		}
	}
	bool doctor = role && strcmp(role, "doctor") == 0, technician = role && strcmp(role, "technician") == 0;
	if (!up->patient && (technician || (doctor && !up->deidentified)))
		return cli_fail(err, MC_ERR_MISUSE,
		                "an image sent by a %s must name the patient it is about%s: add --patient USER (the "
		                "patient's account), or map the file's PatientID to that account once with 'medcrypt "
		                "patients map --from %.200s USER'%s",
		                role, in_file ? " (this file's PatientID is not in your mapping)" : "", path,
		                doctor ? ", or send a de-identified copy with --deidentified" : "");
	if (!up->patient)
		return MC_OK;
	for (size_t i = 0; i < *n_to; i++)
		if (strcmp(to[i], up->patient) == 0)
			return MC_OK;
	if (strcmp(up->patient, s->username) != 0) {
		to[(*n_to)++] = up->patient;
		fprintf(stderr,
		        "medcrypt send: %s added to the recipients: every image about a patient can be opened by "
		        "that patient\n",
		        up->patient);
	}
	return MC_OK;
}

/* The clinical rules' refusals of an upload or a share (docs/API.md §15, rules 1 to 7), as one
 * sentence that says what to do. sender is me, patient the image's patient (or NULL). false
 * when r is not one of them (http_error then says what it is). */
static bool clinical_refusal(const http_response *r, const char *what, const char *sender, const char *patient,
                             mc_err *err)
{
	const char *code = json_string_value(json_object_get(r->json, "error"));
	const char *raw_user = json_string_value(json_object_get(r->json, "user"));
	char user[80] = "", pat[80] = "";
	if (!code)
		return false;
	/* names from the server reach the terminal: only valid user names are shown */
	if (raw_user && cli_valid_username(raw_user))
		snprintf(user, sizeof user, "%s", raw_user);
	if (patient && cli_valid_username(patient))
		snprintf(pat, sizeof pat, "%s", patient);
	if (r->status == 400 && strcmp(code, "patient_required") == 0)
		cli_fail(err, MC_ERR_MISUSE,
		         "%s: the server wants the patient this image is about: add --patient USER, or map the file's "
		         "PatientID with 'medcrypt patients map --from FILE USER' (a doctor may instead send a "
		         "de-identified copy with --deidentified)",
		         what);
	else if (r->status == 400 && strcmp(code, "unknown_patient") == 0)
		cli_fail(err, CLI_ERR_REFUSED,
		         "%s: %s is not a patient's account on this server (or it is disabled): --patient names the "
		         "account of the patient the image is about",
		         what,
		         user[0]  ? user
		         : pat[0] ? pat
		                  : "the patient");
	else if (r->status == 400 && strcmp(code, "patient_not_recipient") == 0)
		cli_fail(err, CLI_ERR_REFUSED, "%s: the patient %s must be one of the recipients: add --to %s", what,
		         user[0] ? user : pat, user[0] ? user : pat);
	else if (r->status == 403 && strcmp(code, "not_appointed") == 0 && user[0] && pat[0] && !strcmp(user, pat))
		cli_fail(err, CLI_ERR_DENIED,
		         "%s: %s has not appointed you and approved no consent of theirs for you: ask with 'medcrypt "
		         "consent request %s --reason TEXT', or %s can appoint you with 'medcrypt appoint %s'",
		         what, pat, pat, pat, sender);
	else if (r->status == 403 && strcmp(code, "not_appointed") == 0 && user[0])
		cli_fail(err, CLI_ERR_DENIED,
		         "%s: %s is not a doctor %s appointed: %s can appoint them with 'medcrypt appoint %s' (only "
		         "the patient and the doctors they appointed may receive images about them)",
		         what, user, pat[0] ? pat : "the patient", pat[0] ? pat : "the patient", user);
	else if (r->status == 403 && strcmp(code, "not_deidentified") == 0)
		cli_fail(err, CLI_ERR_DENIED,
		         "%s: %s is a researcher: a researcher may receive only an item marked de-identified (make a "
		         "copy with 'medcrypt deid' and send it with --deidentified)",
		         what, user[0] ? user : "a recipient");
	else if (r->status == 400 && strcmp(code, "unsigned_claim") == 0)
		cli_fail(err, CLI_ERR_REFUSED,
		         "%s: the de-identification mark needs the file signed with your current signing key", what);
	else
		return false;
	return true;
}

mc_status cmd_send(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"to", required_argument, NULL, 't'},
	                                     {"cipher", required_argument, NULL, 'c'},
	                                     {"meta", required_argument, NULL, 'm'},
	                                     {"patient", required_argument, NULL, 'p'},
	                                     {"deidentified", no_argument, NULL, 'D'},
	                                     {"confirm-deidentified", no_argument, NULL, 'C'},
	                                     COMMON_OPTIONS};
	const char *to[MAX_TO + 1], *meta_path = NULL; /* + 1: the patient joins the recipients */
	bool confirm_deidentified = false;
	json_t *claim = NULL; /* --deidentified: the claim sealed in the metadata (deidclaim.c) */
	size_t n_to = 0;
	/* What the server learns besides the ciphertext: the patient (--patient, else the PatientID
	 * mapping) and the de-identification mark, which --deidentified sets. */
	upload_params up = {0};
	char *mapped_patient = NULL;
	mc_cipher cipher = MC_CIPHER_CHACHA20_POLY1305;
	int pfd = -1, c;
	bool json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (n_to == MAX_TO)
				return usage_error(err, "send", "at most %d recipients", MAX_TO);
			to[n_to++] = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "chacha20") == 0 || strcmp(optarg, "chacha20-poly1305") == 0)
				cipher = MC_CIPHER_CHACHA20_POLY1305;
			else if (strcmp(optarg, "aes") == 0 || strcmp(optarg, "aes-256-gcm") == 0)
				cipher = MC_CIPHER_AES_256_GCM;
			else
				return usage_error(err, "send", "--cipher must be chacha20 or aes");
			break;
		case 'm': meta_path = optarg; break;
		case 'p':
			if (!cli_valid_username(optarg))
				return fail_usage_name(err, optarg);
			up.patient = optarg;
			break;
		case 'D': up.deidentified = true; break;
		case 'C': confirm_deidentified = true; break;
		default:
			if (common_option("send", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind + 1 != argc || (n_to == 0 && !up.patient))
		return usage_error(err, "send", "give one FILE and at least one --to USER (or --patient USER)");
	const char *path = argv[optind];
	if (confirm_deidentified && !up.deidentified)
		return usage_error(err, "send", "--confirm-deidentified goes with --deidentified");
	/* The file is checked before anything goes to the server (a refusal is exit 2) */
	mc_status claim_st = up.deidentified ? deid_claim_make(path, confirm_deidentified, &claim, err) : MC_OK;
	if (claim_st != MC_OK)
		return claim_st;

	session s;
	client *cl = NULL;
	mc_pubkey *keys[MAX_TO + 1] = {0};
	size_t n_keys = 0;
	json_t *me = NULL, *resp = NULL;
	mc_identity *id = NULL;
	char *meta = NULL;
	int in = -1, sealed = -1;
	long long size = -1;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK) {
		json_decref(claim);
		return st;
	}
	if ((st = in_open(path, &in, &size, err)) != MC_OK)
		goto cleanup;
	if (size < 0) {
		st = usage_error(err, "send", "%s is not a regular file", path);
		goto cleanup;
	}
	/* My own keys from my key file (not the directory's copy): a wrap for me, and the signer. */
	const char *key = session_key_path(&s, err);
	if (!key) {
		st = err->status;
		goto cleanup;
	}
	if ((st = fetch_user(cl, s.username, &me, err)) != MC_OK ||
	    (st = load_identity(key, pfd, MC_IDENTITY_BOTH, &id, err)) != MC_OK)
		goto cleanup;
	uint8_t fp[MC_FP_LEN];
	const char *my_sign = json_string_value(json_object_get(me, "sign_fingerprint"));
	if (!my_sign || mc_fp_parse(my_sign, fp) != 0 || !mc_ct_equal(fp, mc_identity_sign_fp(id), MC_FP_LEN)) {
		st = fail_st(
		    err, MC_ERR_KEY,
		    "your key file's signing key is not the one the directory has for you: recipients would refuse "
		    "the file");
		goto cleanup;
	}
	if ((st = send_patient(&s, client_hostport(cl), me, id, path, &up, to, &n_to, &mapped_patient, err)) != MC_OK)
		goto cleanup;
	/* Every recipient's current encryption key from the directory, checked against its
	 * fingerprint; the fingerprints are shown so they can be compared out of band. */
	for (size_t i = 0; i < n_to && st == MC_OK; i++) {
		json_t *u = NULL;
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup = dup || strcmp(to[k], to[i]) == 0;
		if (dup || strcmp(to[i], s.username) == 0)
			continue;
		if ((st = fetch_user(cl, to[i], &u, err)) == MC_OK &&
		    (st = user_pubkey(u, MC_ROLE_RECIPIENT, &keys[n_keys], err)) == MC_OK) {
			fprintf(stderr, "medcrypt: to %-16s %-10s encryption key %s\n", to[i],
			        json_string_value(json_object_get(u, "role")) ?: "?",
			        json_string_value(json_object_get(u, "enc_fingerprint")));
			n_keys++;
		}
		json_decref(u);
	}
	if (st != MC_OK || (st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &keys[n_keys], err)) != MC_OK)
		goto cleanup;
	n_keys++;
	if ((st = send_metadata(path, meta_path, claim, &meta, err)) != MC_OK)
		goto cleanup;

	/* Seal into an unnamed temporary file (ciphertext only), then upload it as a resumable
	 * upload (API.md §15a), which survives a dropped connection or a server restart: the server
	 * stores it only once every byte arrived and checked out. A server without resumable
	 * uploads (404) gets the whole file in one POST with its Content-Length. */
	const char *tmpdir = getenv("TMPDIR");
	char tmp_path[4200];
	snprintf(tmp_path, sizeof tmp_path, "%s/medcrypt-send-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	sealed = mkostemp(tmp_path, O_CLOEXEC);
	if (sealed < 0) {
		st = fail_st(err, MC_ERR_IO, "cannot create a temporary file for the sealed copy");
		goto cleanup;
	}
	unlink(tmp_path);
	progress pr;
	progress_init(&pr, "sealing", size);
	mc_seal_params params = {
	    .cipher = cipher,
	    .recipients = (const mc_pubkey *const *)keys,
	    .n_recipients = n_keys,
	    .signer = id,
	    .metadata = (const uint8_t *)meta,
	    .metadata_len = strlen(meta),
	    .progress = progress_cb,
	    .progress_ctx = &pr,
	};
	st = mc_seal(&params, mc_input_fd(in), mc_output_fd(sealed), err);
	progress_end(&pr);
	if (st != MC_OK)
		goto cleanup;
	struct stat sb;
	if (fstat(sealed, &sb) != 0 || lseek(sealed, 0, SEEK_SET) != 0) {
		st = fail_st(err, MC_ERR_IO, "cannot read back the sealed copy");
		goto cleanup;
	}
	http_response r;
	st = client_tus_upload(cl, "/api/v1/uploads", sealed, (long long)sb.st_size, &up, "uploading", &r, err);
	if (st == MC_OK && r.status == 404) { /* only the creation answers 404 here */
		http_response_clear(&r);
		char images_path[400] = "/api/v1/images";
		if (!upload_query(&up, images_path + strlen(images_path), sizeof images_path - strlen(images_path)) ||
		    lseek(sealed, 0, SEEK_SET) != 0) {
			st = fail_st(err, MC_ERR_IO, "cannot read back the sealed copy");
			goto cleanup;
		}
		st = client_upload(cl, images_path, sealed, (long long)sb.st_size, "uploading", &r, err);
	}
	if (st == MC_OK && r.status != 201 && !clinical_refusal(&r, "upload", s.username, up.patient, err))
		st = http_error(&r, "upload", err);
	else if (st == MC_OK && r.status != 201)
		st = err->status;
	const char *image_id = json_string_value(json_object_get(r.json, "id"));
	if (st == MC_OK && !image_id)
		st = fail_st(err, CLI_ERR_NETWORK, "upload: malformed answer from the server");
	if (st == MC_OK) {
		if (json)
			json_print(json_incref(r.json));
		else
			printf("%s\n", image_id);
	}
	http_response_clear(&r);
cleanup:
	if (sealed >= 0)
		close(sealed);
	if (in >= 0)
		in_close(in);
	for (size_t i = 0; i < n_keys; i++)
		mc_pubkey_free(keys[i]);
	if (meta) {
		mc_wipe(meta, strlen(meta));
		free(meta);
	}
	json_decref(me);
	json_decref(resp);
	json_decref(claim);
	free(mapped_patient);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- ls ---- */

/* The decrypted metadata of a listed image, or NULL with *why set. */
static json_t *listed_metadata(const json_t *image, const mc_identity *id, const char **why)
{
	const char *w64 = json_string_value(json_object_get(image, "wrap"));
	size_t wlen = 0;
	uint8_t *wrap = w64 ? b64_decode(w64, &wlen) : NULL;
	mc_file *f = NULL;
	uint8_t *meta = NULL;
	size_t meta_len = 0;
	json_t *out = NULL;
	mc_err err = {0};
	*why = NULL;
	if (!wrap)
		*why = "no wrap for you";
	else if (image_header(image, wrap, wlen, &f, &err) != MC_OK || mc_file_unlock(f, id, &err) != MC_OK ||
	         mc_file_metadata(f, &meta, &meta_len, &err) != MC_OK)
		*why = "does not decrypt with your key";
	else if (meta && (out = json_loadb((const char *)meta, meta_len, 0, NULL), !json_is_object(out))) {
		/* json_is_object evaluates its argument twice: never give it a call */
		json_decref(out); /* [MC-CORE-10]: not shown */
		out = NULL;
		*why = "not a JSON object";
	}
	mc_buf_free(meta, meta_len);
	mc_buf_free(wrap, wlen);
	mc_file_free(f);
	return out;
}

static void print_field(const json_t *meta, const char *name, int width)
{
	const char *v = json_string_value(json_object_get(meta, name));
	char safe[80];
	size_t n = 0;
	for (const char *p = v ? v : "-"; *p && n + 1 < sizeof safe; p++)
		safe[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
	safe[n] = '\0';
	printf(" %-*s", width, safe);
}

mc_status cmd_ls(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"no-meta", no_argument, NULL, 'n'}, {"limit", required_argument, NULL, 'l'}, COMMON_OPTIONS};
	bool json = false, no_meta = false;
	int pfd = -1, c;
	long limit = 100;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': no_meta = true; break;
		case 'l': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || limit < 1 || limit > 1000)
				return usage_error(err, "ls", "--limit takes 1 to 1000");
			break;
		}
		default:
			if (common_option("ls", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind != argc)
		return usage_error(err, "ls", "unexpected argument '%s'", argv[optind]);
	session s;
	client *cl = NULL;
	json_t *resp = NULL;
	mc_identity *id = NULL;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	char path[100];
	snprintf(path, sizeof path, "/api/v1/images?limit=%ld", limit);
	st = client_call(cl, "GET", path, NULL, 200, &resp, "listing", err);
	json_t *images = json_object_get(resp, "images");
	if (st == MC_OK && !json_is_array(images))
		st = fail_st(err, CLI_ERR_NETWORK, "listing: malformed answer from the server");
	if (st == MC_OK && !no_meta && json_array_size(images) > 0) {
		const char *key = session_key_path(&s, err);
		st = key ? load_identity(key, pfd, MC_IDENTITY_ENC, &id, err) : err->status;
	}
	if (st != MC_OK)
		goto cleanup;
	json_t *out = json_array(), *image;
	size_t i;
	if (!json)
		printf("%-32s %-16s %-16s %10s %-16s %-16s %-8s %-8s\n", "ID", "SENDER", "RECEIVED", "BYTES", "PATIENT",
		       "PATIENTID", "MODALITY", "STUDY");
	json_array_foreach(images, i, image)
	{
		const char *why = NULL;
		json_t *meta = id ? listed_metadata(image, id, &why) : NULL;
		if (json) {
			json_t *o = json_object();
			const char *fields[] = {"id", "sender", "created", "size", "sha256", "recipients", "patient"};
			for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
				if (json_object_get(image, fields[k]))
					json_object_set(o, fields[k], json_object_get(image, fields[k]));
			json_object_set_new(o, "metadata", meta ? meta : json_null());
			if (why)
				json_object_set_new(o, "metadata_error", json_string(why));
			json_array_append_new(out, o);
			continue;
		}
		time_t t = (time_t)json_integer_value(json_object_get(image, "created"));
		char when[32] = "";
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
		printf("%-32s %-16s %-16s %10lld", json_string_value(json_object_get(image, "id")) ?: "?",
		       json_string_value(json_object_get(image, "sender")) ?: "?", when,
		       (long long)json_integer_value(json_object_get(image, "size")));
		print_field(image, "patient", 16); /* the patient's account, as the sender named it */
		print_field(meta, "PatientID", 16);
		print_field(meta, "Modality", 8);
		print_field(meta, "StudyDate", 8);
		if (why)
			printf(" (metadata: %s)", why);
		putchar('\n');
		if (meta) { /* the sender's de-identification claim, and whether the server's mark agrees */
			const json_t *claim = json_object_get(meta, "deidentified");
			char prefix[100];
			snprintf(prefix, sizeof prefix,
			         "medcrypt: image %.32s: ", json_string_value(json_object_get(image, "id")) ?: "?");
			if (claim)
				deid_claim_print(stdout, claim, json_string_value(json_object_get(image, "sender")),
				                 NULL, "    ");
			deid_claim_compare_mark(image, claim, prefix);
		}
		json_decref(meta);
	}
	if (json)
		json_print(json_pack("{s:o}", "images", out));
	else
		json_decref(out);
cleanup:
	json_decref(resp);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- get ---- */

struct part {
	char *path;      /* FILE.part: the blob as downloaded so far */
	char *etag_path; /* FILE.part.etag: the ETag those bytes came with */
};

static void save_etag(void *ctx, const char *etag)
{
	struct part *p = ctx;
	/* written before the first byte, so a later run knows what the bytes belong to */
	int fd = open(p->etag_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, etag, strlen(etag)) < 0) {
			/* without it the next run starts over: harmless */
		}
		close(fd);
	}
}

static bool read_etag(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, out, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	out[n] = '\0';
	return strcspn(out, "\r\n") == (size_t)n;
}

/* SHA-256 of the whole of fd, as lowercase hex. */
static bool sha256_fd(int fd, char hex[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1 << 20), md[32];
	bool ok = ctx && buf && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	off_t off = 0;
	while (ok) {
		ssize_t n = pread(fd, buf, 1 << 20, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		ok = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
		off += n;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
	for (int i = 0; ok && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ok;
}

mc_status cmd_get(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"limit-rate", required_argument, NULL, 'r'},
	                                     COMMON_OPTIONS};
	const char *out_path = NULL;
	bool force = false, json = false;
	long long rate = 0;
	int pfd = -1, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out_path = optarg; break;
		case 'f': force = true; break;
		case 'r': {
			char *end;
			rate = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || rate < 1)
				return usage_error(err, "get", "--limit-rate takes bytes per second");
			break;
		}
		default:
			if (common_option("get", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind + 1 != argc || !out_path)
		return usage_error(err, "get", "give the image ID and -o FILE");
	if (strcmp(out_path, "-") == 0)
		return usage_error(err, "get",
		                   "-o - is refused: the plaintext is released only after the signature verified, "
		                   "so it needs a file");
	const char *id_arg = argv[optind];
	if (!cli_valid_id(id_arg))
		return usage_error(err, "get", "an image ID is 32 lowercase hex digits");
	struct stat sb;
	if (!force && lstat(out_path, &sb) == 0)
		return fail_st(err, MC_ERR_IO, "the output exists: not overwriting it (use --force)");

	session s;
	client *cl = NULL;
	json_t *image = NULL, *sender = NULL;
	uint8_t *wrap = NULL;
	size_t wrap_len = 0;
	mc_pubkey *trusted = NULL;
	mc_identity *id = NULL;
	mc_file *f = NULL;
	struct part part = {0};
	int fd = -1;
	out_file out = {.fd = -1};
	bool out_started = false, drop_part = false;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	client_limit_rate(cl, rate);
	if ((st = fetch_image(cl, id_arg, &image, err)) != MC_OK)
		goto cleanup;
	const char *sender_name = json_string_value(json_object_get(image, "sender"));
	const char *sha = json_string_value(json_object_get(image, "sha256"));
	json_t *size_j = json_object_get(image, "size");
	if (!sender_name || !sha || strlen(sha) != 64 || !json_is_integer(size_j) || json_integer_value(size_j) < 0) {
		st = fail_st(err, CLI_ERR_NETWORK, "image: malformed answer from the server");
		goto cleanup;
	}
	long long size = (long long)json_integer_value(size_j);
	/* The signature must be the sender's current signing key in the directory. */
	if ((st = fetch_user(cl, sender_name, &sender, err)) != MC_OK ||
	    (st = user_pubkey(sender, MC_ROLE_SIGNER, &trusted, err)) != MC_OK)
		goto cleanup;
	if ((st = my_wrap(cl, id_arg, image, &wrap, &wrap_len, err)) != MC_OK)
		goto cleanup;

	if (asprintf(&part.path, "%s.part", out_path) < 0 || asprintf(&part.etag_path, "%s.part.etag", out_path) < 0) {
		part.path = part.etag_path = NULL;
		st = fail_st(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	fd = open(part.path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err->status = st = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot open %.300s: %s", part.path, strerror(errno));
		goto cleanup;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		err->status = st = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "another medcrypt is writing %.300s", part.path);
		close(fd);
		fd = -1;
		goto cleanup;
	}
	char etag[128] = "", have[65];
	long long offset = 0;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size <= size && read_etag(part.etag_path, etag, sizeof etag))
		offset = (long long)sb.st_size;
	if (offset == 0 && (ftruncate(fd, 0) != 0)) {
		st = fail_st(err, MC_ERR_IO, "cannot truncate the .part file");
		goto cleanup;
	}
	if (lseek(fd, offset, SEEK_SET) < 0) {
		st = fail_st(err, MC_ERR_IO, "cannot seek in the .part file");
		goto cleanup;
	}
	if (offset < size) {
		char path[200];
		bool restarted = false;
		http_response r;
		snprintf(path, sizeof path, "/api/v1/images/%s/blob", id_arg);
		if (offset > 0)
			fprintf(stderr, "medcrypt: resuming the download at byte %lld of %lld\n", offset, size);
		st = client_download(cl, path, fd, offset, etag, size, save_etag, &part, &restarted, &r, err);
		if (st == MC_OK && r.status == 416) {
			/* the part is not a prefix of this blob any more: start over */
			http_response_clear(&r);
			if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
				st = fail_st(err, MC_ERR_IO, "cannot truncate the .part file");
			else
				st =
				    client_download(cl, path, fd, 0, NULL, size, save_etag, &part, &restarted, &r, err);
		}
		if (st == MC_OK && r.status != 200 && r.status != 206)
			st = http_error(&r, "download", err);
		if (st == MC_OK && restarted)
			fprintf(stderr,
			        "medcrypt: the image changed on the server: downloaded it again from the start\n");
		http_response_clear(&r);
		if (st != MC_OK)
			goto cleanup;
	}
	if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
		st = fail_st(err, MC_ERR_IO, "cannot write the .part file");
		goto cleanup;
	}
	if ((long long)sb.st_size != size || !sha256_fd(fd, have) || strcmp(have, sha) != 0) {
		drop_part = true;
		st = fail_st(err, CLI_ERR_NETWORK,
		             "the downloaded blob does not match the server's size and SHA-256: discarded it; run "
		             "'medcrypt get' again");
		goto cleanup;
	}
	/* Open: blob + my detached wrap, my key, the sender's signature; the output appears only
	 * after every chunk and the signature verified. */
	if (lseek(fd, 0, SEEK_SET) != 0) {
		st = fail_st(err, MC_ERR_IO, "cannot rewind the .part file");
		goto cleanup;
	}
	const char *key = session_key_path(&s, err);
	if (!key) {
		st = err->status;
		goto cleanup;
	}
	if ((st = mc_file_read(mc_input_fd(fd), &f, err)) != MC_OK ||
	    (st = mc_file_add_detached_wrap(f, wrap, wrap_len, err)) != MC_OK) {
		drop_part = true;
		goto cleanup;
	}
	if ((st = load_identity(key, pfd, MC_IDENTITY_ENC, &id, err)) != MC_OK)
		goto cleanup;
	if ((st = mc_file_unlock(f, id, err)) != MC_OK) {
		drop_part = true;
		goto cleanup;
	}
	if ((st = out_begin(&out, out_path, force, 0600, err)) != MC_OK)
		goto cleanup;
	out_started = true;
	progress pr;
	progress_init(&pr, "opening", size - (long long)mc_file_header_len(f));
	const mc_pubkey *trust[] = {trusted};
	mc_open_params params = {.trusted = trust, .n_trusted = 1, .progress = progress_cb, .progress_ctx = &pr};
	mc_payload_info info;
	st = mc_file_open_payload(f, mc_input_fd(fd), mc_output_fd(out.fd), &params, &info, err);
	progress_end(&pr);
	if (st == MC_ERR_SIGNATURE) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, " (the sender %.64s's current signing key is %.64s)",
		         sender_name, json_string_value(json_object_get(sender, "sign_fingerprint")));
	}
	if (st != MC_OK) {
		drop_part = st != MC_ERR_IO && st != MC_ERR_NOMEM && st != MC_ERR_CANCELLED;
		goto cleanup;
	}
	if ((st = out_commit(&out, err)) != MC_OK) {
		out_started = false;
		goto cleanup;
	}
	out_started = false;
	drop_part = true;
	char signer[MC_FP_HEX_LEN + 1];
	mc_fp_hex(info.signer_fp, signer);
	fprintf(stderr, "medcrypt: good signature by %s (signing key %s)\n", sender_name, signer);
	/* the patient's account the sender named (shown only when it is a user name) */
	const char *patient = json_string_value(json_object_get(image, "patient"));
	if (patient && !cli_valid_username(patient))
		patient = "?";
	/* The sender's de-identification claim, in the metadata the signature just verified signs
	 * (deidclaim.c); the server's mark alone proves nothing. */
	json_t *claim = deid_claim_of_file(f);
	deid_claim_compare_mark(image, claim, "medcrypt: ");
	if (json) {
		json_print(json_pack(
		    "{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:o}", "id", id_arg, "output", out_path, "sender", sender_name,
		    "signer", signer, "plaintext_bytes", (json_int_t)info.plaintext_len, "sha256", sha, "patient",
		    patient ? json_string(patient) : json_null(), "deidentified", claim ? claim : json_null()));
	} else {
		printf("wrote %s (%llu bytes) from %s%s%s\n", out_path, (unsigned long long)info.plaintext_len,
		       sender_name, patient ? ", about patient " : "", patient ? patient : "");
		if (claim)
			deid_claim_print(stdout, claim, sender_name, signer, "");
		json_decref(claim);
	}
cleanup:
	if (out_started)
		out_abort(&out);
	if (fd >= 0)
		close(fd);
	if (drop_part && part.path) {
		unlink(part.path);
		unlink(part.etag_path);
	}
	free(part.path);
	free(part.etag_path);
	mc_file_free(f);
	mc_identity_free(id);
	mc_pubkey_free(trusted);
	mc_buf_free(wrap, wrap_len);
	json_decref(image);
	json_decref(sender);
	session_clear(&s);
	client_free(cl);
	return st;
}

/* ---- share, revoke, rm ---- */

static mc_status cmd_server_share(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"to", required_argument, NULL, 't'}, COMMON_OPTIONS};
	const char *to = NULL;
	bool json = false;
	int pfd = -1, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (to)
				return usage_error(err, "share", "give one --to USER (run share again for more)");
			to = optarg;
			break;
		default:
			if (common_option("share", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind + 1 != argc || !to)
		return usage_error(err, "share", "give the image ID and --to USER");
	const char *id_arg = argv[optind];
	if (!cli_valid_id(id_arg))
		return usage_error(err, "share", "an image ID is 32 lowercase hex digits");

	session s;
	client *cl = NULL;
	json_t *image = NULL, *user = NULL, *resp = NULL, *body = NULL;
	uint8_t *wrap = NULL, *new_wrap = NULL;
	size_t wrap_len = 0, new_len = 0;
	mc_pubkey *pk = NULL;
	mc_identity *id = NULL;
	mc_file *f = NULL;
	passphrase pp = {0};
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	const char *key = session_key_path(&s, err);
	if (!key) {
		st = err->status;
		goto cleanup;
	}
	if ((st = fetch_image(cl, id_arg, &image, err)) != MC_OK || (st = fetch_user(cl, to, &user, err)) != MC_OK ||
	    (st = user_pubkey(user, MC_ROLE_RECIPIENT, &pk, err)) != MC_OK ||
	    (st = my_wrap(cl, id_arg, image, &wrap, &wrap_len, err)) != MC_OK)
		goto cleanup;
	fprintf(stderr, "medcrypt: sharing with %s (%s), encryption key %s\n", to,
	        json_string_value(json_object_get(user, "role")) ?: "?",
	        json_string_value(json_object_get(user, "enc_fingerprint")));
	/* Sharing needs the password again (§13 reauth); the same password unlocks my key. */
	if ((st = session_reauth(cl, &s, pfd, &pp, err)) != MC_OK)
		goto cleanup;
	if ((st = image_header(image, wrap, wrap_len, &f, err)) != MC_OK ||
	    (st = mc_identity_load(key, pp.buf, pp.len, MC_IDENTITY_ENC, &id, err)) != MC_OK ||
	    (st = mc_file_unlock(f, id, err)) != MC_OK || (st = mc_file_add_recipient(f, pk, err)) != MC_OK ||
	    (st = mc_file_wrap_bytes(f, mc_file_n_wraps(f) - 1, &new_wrap, &new_len, err)) != MC_OK)
		goto cleanup;
	char *w64 = b64_encode(new_wrap, new_len);
	body = json_pack("{s:s, s:s}", "to", to, "wrap", w64 ? w64 : "");
	free(w64);
	char path[200];
	snprintf(path, sizeof path, "/api/v1/images/%s/shares", id_arg);
	http_response r = {0};
	st = client_request(cl, "POST", path, body, &r, err);
	if (st == MC_OK && r.status != 201 &&
	    !clinical_refusal(&r, "share", s.username, json_string_value(json_object_get(image, "patient")), err))
		st = http_error(&r, "share", err);
	else if (st == MC_OK && r.status != 201)
		st = err->status;
	http_response_clear(&r);
	if (st == CLI_ERR_REFUSED && strstr(err->msg, "conflict"))
		snprintf(err->msg, sizeof err->msg, "share: %.64s can open image %s already", to, id_arg);
	if (st == MC_OK) {
		if (json)
			json_print(json_pack("{s:s, s:s, s:s}", "id", id_arg, "to", to, "enc_fingerprint",
			                     json_string_value(json_object_get(user, "enc_fingerprint"))));
		else
			printf("shared %s with %s\n", id_arg, to);
	}
cleanup:
	json_decref(body);
	json_decref(resp);
	json_decref(image);
	json_decref(user);
	mc_buf_free(wrap, wrap_len);
	mc_buf_free(new_wrap, new_len);
	mc_pubkey_free(pk);
	mc_identity_free(id);
	mc_file_free(f);
	passphrase_free(&pp);
	session_clear(&s);
	client_free(cl);
	return st;
}

mc_status cmd_share_any(int argc, char **argv, mc_err *err)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--to") == 0 || strncmp(argv[i], "--to=", 5) == 0 || strcmp(argv[i], "-t") == 0)
			return cmd_server_share(argc, argv, err);
	return cmd_share(argc, argv, err);
}

mc_status cmd_revoke(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'F'}, COMMON_OPTIONS};
	const char *from = NULL;
	bool json = false;
	int pfd = -1, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F': from = optarg; break;
		default:
			if (common_option("revoke", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	if (optind + 1 != argc || !from)
		return usage_error(err, "revoke", "give the image ID and --from USER");
	const char *id_arg = argv[optind];
	char seg[300];
	if (!cli_valid_id(id_arg))
		return usage_error(err, "revoke", "an image ID is 32 lowercase hex digits");
	if (!url_segment(from, seg, sizeof seg))
		return fail_usage_name(err, from);
	session s;
	client *cl = NULL;
	passphrase pp = {0};
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	if ((st = session_reauth(cl, &s, pfd, &pp, err)) == MC_OK) {
		char path[500];
		snprintf(path, sizeof path, "/api/v1/images/%s/shares/%s", id_arg, seg);
		st = client_call(cl, "DELETE", path, NULL, 204, NULL, "revoke", err);
		if (st == CLI_ERR_DENIED)
			snprintf(
			    err->msg, sizeof err->msg,
			    "revoke: %.64s holds no share of image %s that you may revoke (or there is no such image)",
			    from, id_arg);
	}
	if (st == MC_OK) {
		if (json)
			json_print(json_pack("{s:s, s:s}", "id", id_arg, "revoked", from));
		else
			printf("revoked %s's access to %s\n", from, id_arg);
		fprintf(stderr, "medcrypt: note: a copy %s already downloaded and opened stays readable to them\n",
		        from);
	}
	passphrase_free(&pp);
	session_clear(&s);
	client_free(cl);
	return st;
}

mc_status cmd_rm(int argc, char **argv, mc_err *err)
{
	bool json = false;
	const char *id_arg = NULL;
	mc_status st = parse_json_and_file("rm", argc, argv, &json, &id_arg, err);
	if (st != MC_OK)
		return st;
	if (!cli_valid_id(id_arg))
		return usage_error(err, "rm", "an image ID is 32 lowercase hex digits");
	session s;
	client *cl = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	char path[200];
	snprintf(path, sizeof path, "/api/v1/images/%s", id_arg);
	st = client_call(cl, "DELETE", path, NULL, 204, NULL, "delete", err);
	if (st == CLI_ERR_DENIED)
		snprintf(err->msg, sizeof err->msg, "delete: no image %s that you sent", id_arg);
	if (st == MC_OK) {
		if (json)
			json_print(json_pack("{s:s}", "deleted", id_arg));
		else
			printf("deleted %s (every wrap destroyed)\n", id_arg);
	}
	session_clear(&s);
	client_free(cl);
	return st;
}
