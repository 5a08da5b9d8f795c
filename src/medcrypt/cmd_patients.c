/*
 * cmd_patients.c: `medcrypt patients map|list|unmap`, the sender's PatientID mapping (issue 12,
 * item 1): which patient account of a server a DICOM's PatientID belongs to, so that `medcrypt
 * send` names the patient without --patient. The mapping never leaves this machine: it is the
 * JSON document
 *   {"type": "medcrypt-patient-map", "server": HOST:PORT, "user": ME,
 *    "entries": [{"patient_id": ID, "user": U, "added": T}, ...]}
 * sealed for my own encryption key and signed with my signing key (the container format), in
 * $MEDCRYPT_HOME/patients/ME@HOST:PORT.map (mode 0600), replaced atomically (a temporary file,
 * fsync, rename) under a lock. A mapping that does not open or whose signature is not mine is
 * an error, never an empty mapping. PatientIDs reach the terminal only in `patients list`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmd_patients.h"
#include "printable.h"
#include "sealmem.h"

#define MAP_TYPE       "medcrypt-patient-map"
#define MAP_META       "{\"type\":\"patient-map\"}"
#define MAP_MAX        (64u << 20) /* sealed or plain */
#define PATIENT_ID_MAX 1024        /* bytes of a PatientID (DICOM LO is 64 characters) */

/* ---- the file ---- */

/* $MEDCRYPT_HOME/patients/USER@HOSTPORT.map (the directory made 0700) and its lock file. */
static mc_status map_paths(const char *hostport, const char *username, char *path, char *lock, size_t size, mc_err *err)
{
	const char *home = medcrypt_home(err);
	if (!home)
		return err->status;
	char dir[4200];
	if (snprintf(dir, sizeof dir, "%s/patients", home) >= (int)sizeof dir)
		return cli_fail(err, MC_ERR_MISUSE, "the MEDCRYPT_HOME path is too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(err, MC_ERR_IO, "cannot create %.300s: %s", dir, strerror(errno));
	if (snprintf(path, size, "%s/%s@%s.map", dir, username, hostport) >= (int)size ||
	    snprintf(lock, size, "%s/%s@%s.lock", dir, username, hostport) >= (int)size)
		return cli_fail(err, MC_ERR_MISUSE, "the MEDCRYPT_HOME path is too long");
	return MC_OK;
}

/* The mapping of path, opened and checked (its owner's signature, its server and user); a new
 * empty one when the file does not exist. Free *doc with json_decref. */
static mc_status map_read(const char *path, const char *hostport, const char *username, const mc_identity *id,
                          json_t **doc, mc_err *err)
{
	char *sealed = NULL;
	uint8_t *plain = NULL;
	size_t sealed_len = 0, plain_len = 0;
	mc_pubkey *me = NULL;
	*doc = NULL;
	mc_status st = read_private_file(path, MAP_MAX, &sealed, &sealed_len, err);
	if (st != MC_OK)
		return st;
	if (!sealed) {
		*doc = json_pack("{s:s, s:s, s:s, s:[]}", "type", MAP_TYPE, "server", hostport, "user", username,
		                 "entries");
		return *doc ? MC_OK : cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	if ((st = mc_pubkey_from_identity(id, MC_ROLE_SIGNER, &me, err)) == MC_OK)
		st = sealmem_open((const uint8_t *)sealed, sealed_len, id, me, MAP_MAX, &plain, &plain_len, NULL, err);
	if (st != MC_OK) {
		char why[200];
		snprintf(why, sizeof why, "%.150s", err->msg);
		cli_fail(err, st,
		         "your PatientID mapping %.300s does not open with your key and signature (%.150s): it was not "
		         "written by this account, or it was altered",
		         path, why);
	} else {
		json_error_t jerr;
		*doc = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, &jerr);
		const char *type = json_string_value(json_object_get(*doc, "type"));
		const char *server = json_string_value(json_object_get(*doc, "server"));
		const char *user = json_string_value(json_object_get(*doc, "user"));
		if (!type || strcmp(type, MAP_TYPE) || !server || strcmp(server, hostport) || !user ||
		    strcmp(user, username) || !json_is_array(json_object_get(*doc, "entries"))) {
			json_decref(*doc);
			*doc = NULL;
			st = cli_fail(err, MC_ERR_PAYLOAD,
			              "%.300s opened but is not your PatientID mapping for %s on %s (a file moved "
			              "from elsewhere?)",
			              path, username, hostport);
		}
	}
	mc_pubkey_free(me);
	mc_buf_free(plain, plain_len);
	free(sealed); /* ciphertext */
	return st;
}

/* Seals doc for my key, signed, and puts it in place of path: a temporary file in the same
 * directory (0600), fsync, rename, then the directory synced. Nothing changes on failure. */
static mc_status map_write(const char *path, const json_t *doc, const mc_identity *id, mc_err *err)
{
	mc_pubkey *me = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	char *plain = json_text(doc, JSON_COMPACT);
	if (!plain)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	mc_status st = mc_pubkey_from_identity(id, MC_ROLE_RECIPIENT, &me, err);
	if (st == MC_OK) {
		const mc_pubkey *recipients[] = {me};
		st = sealmem_seal(recipients, 1, id, MAP_META, (const uint8_t *)plain, strlen(plain), MAP_MAX, &sealed,
		                  &sealed_len, err);
	}
	mc_wipe(plain, strlen(plain));
	free(plain);
	mc_pubkey_free(me);
	if (st != MC_OK)
		return st;
	char tmp[4500];
	snprintf(tmp, sizeof tmp, "%.4400s.tmp-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
	if (fd < 0) {
		free(sealed);
		return cli_fail(err, MC_ERR_IO, "cannot create a file next to %.300s: %s", path, strerror(errno));
	}
	st = write_all(mc_output_fd(fd), sealed, sealed_len, err);
	if (st == MC_OK && fsync(fd) != 0)
		st = cli_fail(err, MC_ERR_IO, "cannot write %.300s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && st == MC_OK)
		st = cli_fail(err, MC_ERR_IO, "cannot write %.300s: %s", tmp, strerror(errno));
	if (st == MC_OK && rename(tmp, path) != 0)
		st = cli_fail(err, MC_ERR_IO, "cannot rename into %.300s: %s", path, strerror(errno));
	if (st != MC_OK) {
		unlink(tmp);
	} else {
		char dir[4500];
		snprintf(dir, sizeof dir, "%.4400s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) != 0) {
				/* the rename is done; a lost directory sync only risks the old mapping */
			}
			close(dfd);
		}
	}
	free(sealed);
	return st;
}

/* A PatientID without the spaces DICOM pads it with, in out; false when empty or too long. */
static bool normalize_patient_id(const char *s, char *out, size_t size)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 0 || n >= size)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* The entry of patient_id in doc's entries, or -1. */
static long find_entry(const json_t *doc, const char *patient_id)
{
	json_t *entries = json_object_get(doc, "entries"), *e;
	size_t i;
	json_array_foreach(entries, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "patient_id"));
		if (p && strcmp(p, patient_id) == 0)
			return (long)i;
	}
	return -1;
}

mc_status patient_map_find(const char *hostport, const char *username, const mc_identity *id, const char *patient_id,
                           char **user, mc_err *err)
{
	char path[4400], lock[4400], pid[PATIENT_ID_MAX];
	json_t *doc = NULL;
	*user = NULL;
	if (!normalize_patient_id(patient_id, pid, sizeof pid))
		return MC_OK;
	mc_status st = map_paths(hostport, username, path, lock, sizeof path, err);
	/* no mapping yet: nothing found, and no key needed */
	if (st == MC_OK && access(path, F_OK) == 0 &&
	    (st = map_read(path, hostport, username, id, &doc, err)) == MC_OK) {
		long i = find_entry(doc, pid);
		json_t *entry = i >= 0 ? json_array_get(json_object_get(doc, "entries"), (size_t)i) : NULL;
		const char *u = json_string_value(json_object_get(entry, "user"));
		if (u && cli_valid_username(u) && !(*user = strdup(u)))
			st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
	}
	json_decref(doc);
	mc_wipe(pid, sizeof pid);
	return st;
}

/* ---- the command ---- */

/* The PatientID of a DICOM file (what 'medcrypt meta' reads), normalized, into out. */
static mc_status patient_id_of_file(const char *file, char *out, size_t size, mc_err *err)
{
	json_t *doc = NULL;
	mc_err why = {0};
	mc_status st = meta_of_file(file, &doc, &why);
	if (st != MC_OK) {
		json_decref(doc);
		return cli_fail(err, st == MC_ERR_NOMEM ? st : MC_ERR_MISUSE,
		                "--from %.300s: cannot read its attributes: %.200s", file, why.msg);
	}
	const char *p = json_string_value(json_object_get(doc, "PatientID"));
	bool ok = p && normalize_patient_id(p, out, size);
	json_decref(doc);
	if (!ok)
		return cli_fail(err, MC_ERR_MISUSE, "--from %.300s: the file has no PatientID (is it a DICOM file?)",
		                file);
	return MC_OK;
}

mc_status cmd_patients(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'F'}, COMMON_OPTIONS};
	if (argc < 2 || (strcmp(argv[1], "map") && strcmp(argv[1], "list") && strcmp(argv[1], "unmap")))
		return usage_error(err, "patients", "give map, list or unmap");
	const char *sub = argv[1], *from = NULL;
	bool json = false;
	int pfd = -1, c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F': from = optarg; break;
		default:
			if (common_option("patients", c, optarg, &pfd, &json, err) != MC_OK)
				return err->status;
		}
	}
	int left = argc - optind;
	bool map = !strcmp(sub, "map"), list = !strcmp(sub, "list");
	const char *patient_arg = NULL, *user = NULL;
	if (list && (left != 0 || from))
		return usage_error(err, "patients", "'patients list' takes no arguments besides --json");
	if (map && left != (from ? 1 : 2))
		return usage_error(err, "patients", "give PATIENTID USER, or --from FILE USER");
	if (!map && !list && left != (from ? 0 : 1))
		return usage_error(err, "patients", "give PATIENTID, or --from FILE");
	if (!list && !from)
		patient_arg = argv[optind];
	if (map) {
		user = argv[argc - 1];
		if (!cli_valid_username(user))
			return fail_usage_name(err, user);
	}
	char pid[PATIENT_ID_MAX] = "";
	mc_status st = MC_OK;
	if (from)
		st = patient_id_of_file(from, pid, sizeof pid, err);
	else if (patient_arg && !normalize_patient_id(patient_arg, pid, sizeof pid))
		st = usage_error(err, "patients", "a PatientID is 1 to %d bytes, not only spaces", PATIENT_ID_MAX - 1);
	json_t *utf8 = st == MC_OK ? json_string(pid) : NULL; /* NULL: not UTF-8 (jansson checks) */
	if (st == MC_OK && !utf8)
		st = usage_error(err, "patients", "a PatientID is UTF-8 text");
	json_decref(utf8);
	if (st != MC_OK)
		return st;

	session s = {0};
	client *cl = NULL;
	json_t *doc = NULL, *patient = NULL;
	mc_identity *id = NULL;
	int lock_fd = -1;
	char path[4400], lock[4400];
	/* the mapping belongs to an account of a server: the session says which */
	if ((st = map ? session_connect(&s, &cl, err) : session_load(&s, err)) != MC_OK)
		goto cleanup;
	const char *hostport = strncmp(s.url, "https://", 8) == 0 ? s.url + 8 : s.url;
	if (map) {
		/* only a patient's account can be the patient of an image (and its keys get pinned) */
		if ((st = fetch_user(cl, user, &patient, err)) != MC_OK)
			goto cleanup;
		const char *role = json_string_value(json_object_get(patient, "role"));
		if (!role || strcmp(role, "patient") != 0) {
			char safe[40];
			st = cli_fail(err, CLI_ERR_REFUSED,
			              "%s is not a patient (role %s): map a PatientID to a patient's account", user,
			              cli_printable(role ? role : "?", safe, sizeof safe));
			goto cleanup;
		}
	}
	if (!session_key_path(&s, err)) {
		st = err->status;
		goto cleanup;
	}
	if ((st = map_paths(hostport, s.username, path, lock, sizeof path, err)) != MC_OK)
		goto cleanup;
	if (list && access(path, F_OK) != 0) {
		doc = json_pack("{s:[]}", "entries"); /* nothing to open: no key needed */
	} else {
		lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
			st = cli_fail(err, MC_ERR_IO, "cannot lock %.300s: %s", lock, strerror(errno));
			goto cleanup;
		}
		if ((st = load_identity(s.key_path, pfd, MC_IDENTITY_BOTH, &id, err)) != MC_OK ||
		    (st = map_read(path, hostport, s.username, id, &doc, err)) != MC_OK)
			goto cleanup;
	}
	json_t *entries = json_object_get(doc, "entries");
	if (list) {
		if (json) {
			json_print(json_pack("{s:O}", "patients", entries));
		} else {
			printf("%-24s %-20s %s\n", "PATIENTID", "USER", "ADDED");
			json_t *e;
			size_t i;
			json_array_foreach(entries, i, e)
			{
				char safe_pid[200], safe_user[80], when[40];
				cli_printable(json_string_value(json_object_get(e, "patient_id")), safe_pid,
				              sizeof safe_pid);
				cli_printable(json_string_value(json_object_get(e, "user")), safe_user,
				              sizeof safe_user);
				cli_local_time(json_object_get(e, "added"), when, sizeof when);
				printf("%-24s %-20s %s\n", safe_pid, safe_user, when);
				mc_wipe(safe_pid, sizeof safe_pid);
			}
			printf("%zu PatientID%s mapped\n", json_array_size(entries),
			       json_array_size(entries) == 1 ? "" : "s");
		}
		goto cleanup;
	}
	long i = find_entry(doc, pid);
	char old[80] = "";
	if (i >= 0)
		snprintf(old, sizeof old, "%s",
		         json_string_value(json_object_get(json_array_get(entries, (size_t)i), "user")) ?: "?");
	if (map) {
		json_t *e =
		    json_pack("{s:s, s:s, s:I}", "patient_id", pid, "user", user, "added", (json_int_t)time(NULL));
		if (!e ||
		    (i >= 0 ? json_array_set_new(entries, (size_t)i, e) : json_array_append_new(entries, e)) != 0) {
			st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	} else if (i < 0) {
		st = cli_fail(err, CLI_ERR_DENIED,
		              "that PatientID is not in your mapping ('medcrypt patients list' shows it)");
		goto cleanup;
	} else {
		json_array_remove(entries, (size_t)i);
	}
	if ((st = map_write(path, doc, id, err)) != MC_OK)
		goto cleanup;
	/* the PatientID is not repeated: it may have come from a file, and output gets logged */
	if (json)
		json_print(json_pack("{s:s, s:o, s:o, s:I}", "action", map ? "map" : "unmap", "user",
		                     map ? json_string(user) : json_string(old), "previous",
		                     map && old[0] ? json_string(old) : json_null(), "entries",
		                     (json_int_t)json_array_size(entries)));
	else if (map && old[0] && strcmp(old, user) != 0)
		printf("mapped the PatientID%s%s to %s (it was mapped to %s)\n", from ? " of " : "", from ? from : "",
		       user, old);
	else if (map)
		printf("mapped the PatientID%s%s to %s\n", from ? " of " : "", from ? from : "", user);
	else
		printf("unmapped the PatientID%s%s (it was mapped to %s)\n", from ? " of " : "", from ? from : "", old);
cleanup:
	mc_wipe(pid, sizeof pid);
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	json_decref(doc);
	json_decref(patient);
	mc_identity_free(id);
	session_clear(&s);
	client_free(cl);
	return st;
}
