/*
 * cmd_account.c: the account commands of the medcryptd client: `login` (pre-login, Argon2id
 * on the client after checking its parameters against those last used (known_kdf), proof of
 * work and lockout handling, login; restores the key file from the
 * server's wrapped copy on a new machine), `register` (a new identity or an existing one, its
 * key bundle wrapped under the password and under a recovery code shown once), `logout`,
 * `whoami`, `invite` and `users`. The password is read from --passphrase-fd, MEDCRYPT_PASSPHRASE
 * or the terminal, never from argv; only the derived authentication key is sent.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "printable.h"

/* ---- helpers shared with cmd_images.c ---- */

mc_status session_connect(session *s, client **c, mc_err *err)
{
	*c = NULL;
	mc_status st = session_load(s, err);
	if (st == MC_OK)
		st = client_open(s->url, NULL, c, err);
	if (st == MC_OK && client_set_session(*c, s->token, s->csrf) != MC_OK)
		st = MC_ERR_NOMEM;
	if (st != MC_OK) {
		client_free(*c);
		*c = NULL;
		session_clear(s);
	}
	return st;
}

mc_status fetch_user(client *c, const char *username, json_t **user, mc_err *err)
{
	char seg[300], path[400], what[400];
	if (!url_segment(username, seg, sizeof seg))
		return fail_usage_name(err, username);
	snprintf(path, sizeof path, "/api/v1/users/%s", seg);
	snprintf(what, sizeof what, "user %.64s", username);
	mc_status st = client_call(c, "GET", path, NULL, 200, user, what, err);
	if (st == CLI_ERR_DENIED)
		snprintf(err->msg, sizeof err->msg, "there is no user %.64s on the server (or the account is disabled)",
		         username);
	if (st == MC_OK && !*user)
		st = cli_bad_answer(err, what);
	/* keys a user had when first used must not change behind our back */
	const char *e = json_string_value(json_object_get(*user, "enc_fingerprint"));
	const char *g = json_string_value(json_object_get(*user, "sign_fingerprint"));
	const char *n = json_string_value(json_object_get(*user, "username"));
	if (st == MC_OK &&
	    (!e || !g || !n || strcmp(n, username) != 0 || strlen(e) != MC_FP_HEX_LEN || strlen(g) != MC_FP_HEX_LEN))
		st = cli_bad_answer(err, what);
	if (st == MC_OK)
		st = known_user_check(client_hostport(c), username, e, g, err);
	if (st != MC_OK) {
		json_decref(*user);
		*user = NULL;
	}
	return st;
}

mc_status user_pubkey(const json_t *user, mc_key_role role, mc_pubkey **pk, mc_err *err)
{
	const char *field = role == MC_ROLE_RECIPIENT ? "enc_public_key" : "sign_public_key";
	const char *fp_field = role == MC_ROLE_RECIPIENT ? "enc_fingerprint" : "sign_fingerprint";
	const char *pem = json_string_value(json_object_get(user, field));
	const char *fp_hex = json_string_value(json_object_get(user, fp_field));
	const char *name = json_string_value(json_object_get(user, "username"));
	uint8_t fp[MC_FP_LEN];
	*pk = NULL;
	if (!pem || !fp_hex || mc_fp_parse(fp_hex, fp) != 0) {
		err->status = CLI_ERR_NETWORK;
		snprintf(err->msg, sizeof err->msg, "the directory entry of %.64s has no usable %s", name ? name : "?",
		         field);
		return CLI_ERR_NETWORK;
	}
	mc_status st = mc_pubkey_parse((const uint8_t *)pem, strlen(pem), role, pk, err);
	if (st == MC_OK && !mc_ct_equal(mc_pubkey_fp(*pk), fp, MC_FP_LEN)) {
		mc_pubkey_free(*pk);
		*pk = NULL;
		err->status = st = MC_ERR_KEY;
		snprintf(err->msg, sizeof err->msg, "the directory's %s of %.64s does not match its fingerprint", field,
		         name ? name : "?");
	}
	return st;
}

/* ---- pre-login, login, re-authentication ---- */

struct prelogin {
	uint8_t salt[ACCOUNT_SALT_LEN];
	account_kdf kdf;
	json_t *pow; /* {"challenge", "bits"} or NULL */
};

static mc_status parse_kdf(const json_t *j, account_kdf *kdf, mc_err *err)
{
	const char *alg = json_string_value(json_object_get(j, "alg"));
	json_t *t = json_object_get(j, "t"), *m = json_object_get(j, "m"), *p = json_object_get(j, "p");
	if (!alg || strcmp(alg, "argon2id") != 0 || !json_is_integer(t) || !json_is_integer(m) || !json_is_integer(p) ||
	    json_integer_value(t) < 0 || json_integer_value(t) > 1 << 30 || json_integer_value(m) < 0 ||
	    json_integer_value(m) > 1 << 30 || json_integer_value(p) < 0 || json_integer_value(p) > 1 << 30)
		return cli_bad_answer(err, "pre-login");
	kdf->t = (uint32_t)json_integer_value(t);
	kdf->m = (uint32_t)json_integer_value(m);
	kdf->p = (uint32_t)json_integer_value(p);
	return account_kdf_check(kdf, err);
}

/* Whether the salt is one byte repeated (all zero included): no client makes one, so a server
 * that sends one is lying, and one such salt for every account lets one dictionary serve all. */
static bool salt_repeated(const uint8_t salt[ACCOUNT_SALT_LEN])
{
	for (size_t i = 1; i < ACCOUNT_SALT_LEN; i++)
		if (salt[i] != salt[0])
			return false;
	return true;
}

/* POST /api/v1/prelogin, then what this client refuses before the password is used: parameters
 * outside the fixed bounds (account_kdf_check), a salt of one repeated byte, and parameters
 * weaker than, or a salt other than, those known_kdf remembers (known_kdf_check). */
static mc_status do_prelogin(client *c, const char *username, struct prelogin *pl, mc_err *err)
{
	json_t *body = json_pack("{s:s}", "username", username), *resp = NULL;
	memset(pl, 0, sizeof *pl);
	mc_status st = client_call(c, "POST", "/api/v1/prelogin", body, 200, &resp, "pre-login", err);
	json_decref(body);
	if (st != MC_OK)
		return st;
	size_t salt_len = 0;
	const char *salt_b64 = json_string_value(json_object_get(resp, "salt"));
	uint8_t *salt = salt_b64 ? b64_decode(salt_b64, &salt_len) : NULL;
	if (!salt || salt_len != ACCOUNT_SALT_LEN)
		st = cli_bad_answer(err, "pre-login");
	else
		memcpy(pl->salt, salt, ACCOUNT_SALT_LEN);
	free(salt);
	if (st == MC_OK)
		st = parse_kdf(json_object_get(resp, "kdf"), &pl->kdf, err);
	if (st == MC_OK && salt_repeated(pl->salt)) {
		err->status = st = CLI_ERR_PIN;
		snprintf(
		    err->msg, sizeof err->msg,
		    "the server sent %.64s a salt of one repeated byte (0x%02x): no client makes one, so the server "
		    "may be impersonated or trying to make passwords cheaper to guess; nothing was sent. Tell your "
		    "administrator",
		    username, pl->salt[0]);
	}
	if (st == MC_OK)
		st = known_kdf_check(client_hostport(c), username, pl->salt, &pl->kdf, err);
	if (st == MC_OK && json_is_object(json_object_get(resp, "pow")))
		pl->pow = json_incref(json_object_get(resp, "pow"));
	json_decref(resp);
	return st;
}

/* Records the salt and parameters an account just logged in or registered with (known_kdf). The
 * account works whatever happens here, so a failure is a warning, not an error: the next login
 * tries again. */
static void remember_kdf(client *c, const char *username, const uint8_t salt[ACCOUNT_SALT_LEN], const account_kdf *kdf)
{
	mc_err e = {0};
	if (known_kdf_remember(client_hostport(c), username, salt, kdf, &e) != MC_OK)
		fprintf(stderr, "medcrypt: warning: the Argon2id parameters were not recorded: %s\n", e.msg);
}

/* Adds {"pow": {"challenge", "nonce"}} to body, solving the server's challenge. */
static mc_status add_pow(json_t *body, const json_t *pow, mc_err *err)
{
	const char *ch_b64 = json_string_value(json_object_get(pow, "challenge"));
	json_t *bits = json_object_get(pow, "bits");
	size_t ch_len = 0;
	uint8_t *ch = ch_b64 ? b64_decode(ch_b64, &ch_len) : NULL;
	if (!ch || !json_is_integer(bits) || json_integer_value(bits) < 0) {
		free(ch);
		return cli_bad_answer(err, "proof of work");
	}
	uint8_t nonce[8];
	fprintf(stderr, "medcrypt: the server asks for a proof of work (%d bits) after failed logins: solving it\n",
	        (int)json_integer_value(bits));
	mc_status st = account_pow_solve(ch, ch_len, (unsigned)json_integer_value(bits), nonce, err);
	free(ch);
	if (st != MC_OK)
		return st;
	char *nonce_b64 = b64_encode(nonce, sizeof nonce);
	json_object_set_new(body, "pow",
	                    json_pack("{s:s, s:s}", "challenge", ch_b64, "nonce", nonce_b64 ? nonce_b64 : ""));
	free(nonce_b64);
	return MC_OK;
}

/* Sends body (holding the authentication key) to path until it is not refused for a missing
 * proof of work or a busy server; *resp gets the answer on expect. */
static mc_status post_auth(client *c, const char *path, json_t *body, json_t *pow, long expect, json_t **resp,
                           const char *what, mc_err *err)
{
	mc_status st = MC_OK;
	json_t *pending_pow = json_incref(pow);
	for (int attempt = 0; attempt < 8; attempt++) {
		http_response r;
		json_object_del(body, "pow");
		if (pending_pow && (st = add_pow(body, pending_pow, err)) != MC_OK)
			break;
		json_decref(pending_pow);
		pending_pow = NULL;
		st = client_request(c, "POST", path, body, &r, err);
		if (st != MC_OK)
			break;
		const char *code = json_string_value(json_object_get(r.json, "error"));
		if (r.status == expect) {
			if (resp) {
				*resp = r.json;
				r.json = NULL;
			}
			http_response_clear(&r);
			return MC_OK;
		}
		if (r.status == 403 && code && strcmp(code, "pow_required") == 0 &&
		    json_is_object(json_object_get(r.json, "pow"))) {
			pending_pow = json_incref(json_object_get(r.json, "pow"));
			http_response_clear(&r);
			continue;
		}
		if (r.status == 503 && attempt < 4) {
			long wait = r.retry_after > 0 && r.retry_after <= 10 ? r.retry_after : 2;
			fprintf(stderr, "medcrypt: the server is busy; retrying in %ld s\n", wait);
			http_response_clear(&r);
			sleep((unsigned)wait);
			continue;
		}
		st = http_error(&r, what, err);
		http_response_clear(&r);
		break;
	}
	json_decref(pending_pow);
	return st;
}

static json_t *json_b64(const uint8_t *buf, size_t len)
{
	char *s = b64_encode(buf, len);
	json_t *j = s ? json_string(s) : NULL;
	if (s) {
		mc_wipe(s, strlen(s));
		free(s);
	}
	return j;
}

mc_status session_reauth(client *c, const session *s, int passphrase_fd, passphrase *pp, mc_err *err)
{
	struct prelogin pl;
	uint8_t auth[ACCOUNT_KEY_LEN], wrap[ACCOUNT_KEY_LEN];
	char prompt[200];
	snprintf(prompt, sizeof prompt, "Password of %.64s: ", s->username);
	/* a password asked for already (to unlock the key first) is not asked again */
	mc_status st = pp->len > 0 ? MC_OK : passphrase_get(pp, passphrase_fd, prompt, false, err);
	if (st != MC_OK)
		return st;
	if ((st = do_prelogin(c, s->username, &pl, err)) != MC_OK)
		return st;
	st = account_derive(pp->buf, pp->len, pl.salt, &pl.kdf, auth, wrap, err);
	if (st == MC_OK) {
		json_t *body = json_object();
		json_object_set_new(body, "auth_key", json_b64(auth, sizeof auth));
		st = post_auth(c, "/api/v1/reauth", body, pl.pow, 204, NULL, "re-authentication", err);
		json_decref(body); /* its auth key is wiped by the JSON allocator */
	}
	json_decref(pl.pow);
	mc_wipe(auth, sizeof auth);
	mc_wipe(wrap, sizeof wrap);
	return st;
}

/* ---- option parsing shared by login and register ---- */

static const char *default_key_path(const char *username, char *buf, size_t size, mc_err *err)
{
	const char *home = medcrypt_home(err);
	if (!home)
		return NULL;
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/keys", home);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		err->status = MC_ERR_IO;
		snprintf(err->msg, sizeof err->msg, "cannot create %.300s: %s", dir, strerror(errno));
		return NULL;
	}
	if (snprintf(buf, size, "%s/%s.key", dir, username) >= (int)size) {
		err->status = MC_ERR_MISUSE;
		snprintf(err->msg, sizeof err->msg, "path too long");
		return NULL;
	}
	return buf;
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[4096];
	char *out = NULL;
	if (!getcwd(cwd, sizeof cwd) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

bool cli_valid_username(const char *u)
{
	size_t n = strlen(u);
	if (n < 1 || n > 64 || !((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= '0' && u[0] <= '9')))
		return false;
	for (const char *p = u; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

mc_status fail_usage_name(mc_err *err, const char *username)
{
	char safe[80]; /* argv reaches the terminal too: no escape sequences */
	err->status = MC_ERR_MISUSE;
	snprintf(err->msg, sizeof err->msg,
	         "'%.64s' is not a user name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)",
	         cli_printable(username, safe, sizeof safe));
	return MC_ERR_MISUSE;
}

static void print_user(const json_t *u, bool with_session, const json_t *sess)
{
	printf("user         %s\n", json_string_value(json_object_get(u, "username")));
	printf("display name %s\n", json_string_value(json_object_get(u, "display_name")) ?: "");
	printf("role         %s\n", json_string_value(json_object_get(u, "role")) ?: "");
	printf("encryption   %s\n", json_string_value(json_object_get(u, "enc_fingerprint")) ?: "");
	printf("signing      %s\n", json_string_value(json_object_get(u, "sign_fingerprint")) ?: "");
	if (with_session && sess) {
		time_t idle = (time_t)json_integer_value(json_object_get(sess, "idle_expires"));
		time_t abs = (time_t)json_integer_value(json_object_get(sess, "expires"));
		char a[64] = "", b[64] = "";
		strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S", localtime(&idle));
		strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", localtime(&abs));
		printf("session      idle until %s, ends at %s at the latest\n", a, b);
	}
}

/* Checks that the key file at path belongs to user (its clear signing key, no passphrase). */
static mc_status check_key_file(const char *path, const json_t *user, mc_err *err)
{
	mc_pubkey *pk = NULL;
	uint8_t fp[MC_FP_LEN];
	const char *hex = json_string_value(json_object_get(user, "sign_fingerprint"));
	mc_status st = mc_identity_file_signer(path, &pk, err);
	if (st != MC_OK)
		return st;
	if (!hex || mc_fp_parse(hex, fp) != 0 || !mc_ct_equal(fp, mc_pubkey_fp(pk), MC_FP_LEN)) {
		err->status = st = MC_ERR_KEY;
		snprintf(
		    err->msg, sizeof err->msg,
		    "%.200s is not the identity of %.64s on the server (its signing key differs): give the right one "
		    "with --key",
		    path, json_string_value(json_object_get(user, "username")));
	}
	mc_pubkey_free(pk);
	return st;
}

/* Records a new session: the cookie just set and the CSRF token of the answer. */
static mc_status start_session(client *c, const char *username, const char *key_path, const json_t *resp, mc_err *err)
{
	const char *csrf = json_string_value(json_object_get(resp, "csrf_token"));
	const char *token = client_new_token(c);
	if (!csrf || !token)
		return cli_bad_answer(err, "login");
	session s = {0};
	s.url = strdup(client_url(c));
	s.username = strdup(username);
	s.token = strdup(token);
	s.csrf = strdup(csrf);
	s.key_path = key_path ? absolute(key_path) : NULL;
	mc_status st = (!s.url || !s.username || !s.token || !s.csrf) ? MC_ERR_NOMEM : session_save(&s, err);
	session_clear(&s);
	return st;
}

/* ---- login ---- */

mc_status cmd_login(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"yes", no_argument, NULL, 'y'},
	                                     {"fingerprint", required_argument, NULL, 'F'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *user = NULL, *key = NULL;
	trust_opts trust = {.allow_new = true};
	int pfd = -1, c;
	bool json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:k:y", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'k': key = optarg; break;
		case 'y': trust.assume_yes = true; break;
		case 'F': trust.fingerprint = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "login", "--passphrase-fd needs a file descriptor number");
			break;
		case 'j': json = true; break;
		default: return usage_error(err, "login", "unknown option");
		}
	}
	session old = {0};
	mc_err ignore;
	bool have_old = session_load_last(&old, &ignore) == MC_OK;
	const char *url = optind < argc ? argv[optind] : have_old ? old.url : NULL;
	if (!user && have_old)
		user = old.username;
	if (!url || optind + 1 < argc)
		return session_clear(&old), usage_error(err, "login", "give the server's URL (https://HOST:PORT)");
	if (!user)
		return session_clear(&old), usage_error(err, "login", "give your user name with --user NAME");
	if (!cli_valid_username(user)) {
		session_clear(&old);
		return fail_usage_name(err, user);
	}
	char user_copy[80];
	snprintf(user_copy, sizeof user_copy, "%s", user);
	user = user_copy;
	char key_buf[4300];
	if (!key && have_old && old.key_path && strcmp(old.username, user) == 0)
		snprintf(key_buf, sizeof key_buf, "%s", old.key_path), key = key_buf;
	char url_copy[600];
	snprintf(url_copy, sizeof url_copy, "%s", url);
	session_clear(&old);

	client *cl = NULL;
	passphrase pp = {0};
	struct prelogin pl = {0};
	uint8_t auth[ACCOUNT_KEY_LEN], wrap[ACCOUNT_KEY_LEN];
	uint8_t *bundle = NULL, *wrapped = NULL;
	size_t bundle_len = 0, wrapped_len = 0;
	json_t *body = NULL, *resp = NULL;
	bool restored = false;
	mc_status st = client_open(url_copy, &trust, &cl, err);
	if (st != MC_OK)
		goto cleanup;
	if (!key && !(key = default_key_path(user, key_buf, sizeof key_buf, err))) {
		st = err->status;
		goto cleanup;
	}
	char prompt[200];
	snprintf(prompt, sizeof prompt, "Password of %.64s: ", user);
	if ((st = passphrase_get(&pp, pfd, prompt, false, err)) != MC_OK)
		goto cleanup;
	if ((st = do_prelogin(cl, user, &pl, err)) != MC_OK)
		goto cleanup;
	if ((st = account_derive(pp.buf, pp.len, pl.salt, &pl.kdf, auth, wrap, err)) != MC_OK)
		goto cleanup;
	body = json_object();
	json_object_set_new(body, "username", json_string(user));
	json_object_set_new(body, "auth_key", json_b64(auth, sizeof auth));
	if ((st = post_auth(cl, "/api/v1/login", body, pl.pow, 200, &resp, "login", err)) != MC_OK)
		goto cleanup;
	json_t *u = json_object_get(resp, "user");
	struct stat sb;
	if (lstat(key, &sb) != 0 && errno == ENOENT) {
		/* A new machine: the server keeps the keys wrapped under the password (§13). */
		const char *w = json_string_value(json_object_get(json_object_get(resp, "wrapped_keys"), "password"));
		uint8_t enc_fp[MC_FP_LEN], sign_fp[MC_FP_LEN];
		const char *ef = json_string_value(json_object_get(u, "enc_fingerprint"));
		const char *sf = json_string_value(json_object_get(u, "sign_fingerprint"));
		char base[4300];
		size_t kl = strlen(key);
		if (kl < 5 || strcmp(key + kl - 4, ".key") != 0) {
			st = usage_error(err, "login", "the key file name must end in .key");
			goto cleanup;
		}
		snprintf(base, sizeof base, "%.*s", (int)(kl - 4), key);
		if (!w || !ef || !sf || mc_fp_parse(ef, enc_fp) != 0 || mc_fp_parse(sf, sign_fp) != 0 ||
		    !(wrapped = b64_decode(w, &wrapped_len))) {
			st = cli_bad_answer(err, "login");
			goto cleanup;
		}
		if ((st = account_unwrap(wrap, wrapped, wrapped_len, &bundle, &bundle_len, err)) != MC_OK ||
		    (st = account_key_file_from_bundle(bundle, bundle_len, base, user, pp.buf, pp.len, enc_fp, sign_fp,
		                                       err)) != MC_OK)
			goto cleanup;
		restored = true;
	} else if ((st = check_key_file(key, u, err)) != MC_OK) {
		goto cleanup;
	}
	if ((st = start_session(cl, user, key, resp, err)) != MC_OK)
		goto cleanup;
	remember_kdf(cl, user, pl.salt, &pl.kdf);
	if (restored)
		fprintf(stderr, "medcrypt: restored your keys from the server into %s\n", key);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:b}", "url", client_url(cl), "key", key, "user", u,
		                      "restored_key", restored);
		json_print(o);
	} else {
		printf("logged in to %s as %s (%s)\n", client_url(cl), user,
		       json_string_value(json_object_get(u, "role")) ?: "?");
	}
cleanup:
	json_decref(body); /* its auth key is wiped by the JSON allocator */
	json_decref(resp);
	json_decref(pl.pow);
	mc_buf_free(bundle, bundle_len);
	mc_buf_free(wrapped, wrapped_len);
	mc_wipe(auth, sizeof auth);
	mc_wipe(wrap, sizeof wrap);
	passphrase_free(&pp);
	client_free(cl);
	return st;
}

/* ---- register ---- */

mc_status cmd_register(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
	                                     {"display-name", required_argument, NULL, 'd'},
	                                     {"url", required_argument, NULL, 'U'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"yes", no_argument, NULL, 'y'},
	                                     {"fingerprint", required_argument, NULL, 'F'},
	                                     {"passphrase-fd", required_argument, NULL, 'P'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *user = NULL, *display = NULL, *url = NULL, *key = NULL;
	trust_opts trust = {.allow_new = true};
	int pfd = -1, c;
	bool json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:k:y", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'd': display = optarg; break;
		case 'U': url = optarg; break;
		case 'k': key = optarg; break;
		case 'y': trust.assume_yes = true; break;
		case 'F': trust.fingerprint = optarg; break;
		case 'P':
			if (!parse_fd(optarg, &pfd))
				return usage_error(err, "register", "--passphrase-fd needs a file descriptor number");
			break;
		case 'j': json = true; break;
		default: return usage_error(err, "register", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(err, "register", "give the invitation code");
	if (!user)
		return usage_error(err, "register", "choose a user name with --user NAME");
	if (!cli_valid_username(user))
		return fail_usage_name(err, user);
	const char *invitation = argv[optind];
	if (!display)
		display = user;
	char url_buf[600];
	if (!url) {
		session old;
		mc_err ignore;
		if (session_load_last(&old, &ignore) != MC_OK)
			return usage_error(err, "register", "give the server with --url https://HOST:PORT");
		snprintf(url_buf, sizeof url_buf, "%s", old.url);
		session_clear(&old);
		url = url_buf;
	}

	client *cl = NULL;
	passphrase pp = {0};
	mc_identity *id = NULL;
	char key_buf[4300], base[4300], code[RECOVERY_CODE_LEN + 1] = "";
	bool generated = false;
	uint8_t salt[ACCOUNT_SALT_LEN], auth[ACCOUNT_KEY_LEN], wrap[ACCOUNT_KEY_LEN], rkey[ACCOUNT_KEY_LEN];
	uint8_t *bundle = NULL, *w_pass = NULL, *w_rec = NULL;
	size_t bundle_len = 0, w_pass_len = 0, w_rec_len = 0;
	char *enc_pem = NULL, *sign_pem = NULL;
	json_t *body = NULL, *resp = NULL;
	account_kdf kdf = ACCOUNT_KDF_DEFAULT;
	mc_status st = client_open(url, &trust, &cl, err);
	if (st != MC_OK)
		goto cleanup;
	if ((st = passphrase_get(&pp, pfd, "Password for the new account: ", true, err)) != MC_OK)
		goto cleanup;
	if (!account_password_ok(pp.buf, pp.len, user)) {
		st = usage_error(err, "register",
		                 "the password is too weak: use 12 or more characters that are hard to guess (a few "
		                 "unrelated words work well)");
		goto cleanup;
	}
	if (!key) {
		if (!default_key_path(user, key_buf, sizeof key_buf, err)) {
			st = err->status;
			goto cleanup;
		}
		key = key_buf;
		snprintf(base, sizeof base, "%.*s", (int)(strlen(key) - 4), key);
		fprintf(stderr, "medcrypt: making your keys (RSA-3072 and Ed25519)...\n");
		if ((st = mc_identity_generate(3072, MC_SIG_ED25519, &id, err)) != MC_OK ||
		    (st = mc_identity_save(id, base, user, pp.buf, pp.len, err)) != MC_OK)
			goto cleanup;
		generated = true;
	}
	if ((st = account_bundle_from_key_file(key, pp.buf, pp.len, &bundle, &bundle_len, &enc_pem, &sign_pem, err)) !=
	    MC_OK) {
		if (st == MC_ERR_KEY && !generated)
			snprintf(err->msg, sizeof err->msg,
			         "%.200s must be a medcrypt identity encrypted under the account password (as medcrypt "
			         "keygen "
			         "makes it with the same passphrase)",
			         key);
		goto cleanup;
	}
	if (RAND_bytes(salt, sizeof salt) != 1) {
		err->status = st = MC_ERR_CRYPTO;
		snprintf(err->msg, sizeof err->msg, "no randomness");
		goto cleanup;
	}
	fprintf(stderr, "medcrypt: deriving the account keys (Argon2id, twice)...\n");
	if ((st = account_derive(pp.buf, pp.len, salt, &kdf, auth, wrap, err)) != MC_OK ||
	    (st = account_wrap(wrap, bundle, bundle_len, &w_pass, &w_pass_len, err)) != MC_OK ||
	    (st = account_new_recovery_code(code, err)) != MC_OK ||
	    (st = account_recovery_key(code, salt, &kdf, rkey, err)) != MC_OK ||
	    (st = account_wrap(rkey, bundle, bundle_len, &w_rec, &w_rec_len, err)) != MC_OK)
		goto cleanup;
	body = json_object();
	json_object_set_new(body, "invitation", json_string(invitation));
	json_object_set_new(body, "username", json_string(user));
	json_object_set_new(body, "display_name", json_string(display));
	json_object_set_new(body, "salt", json_b64(salt, sizeof salt));
	json_object_set_new(
	    body, "kdf",
	    json_pack("{s:s, s:i, s:i, s:i}", "alg", "argon2id", "t", (int)kdf.t, "m", (int)kdf.m, "p", (int)kdf.p));
	json_object_set_new(body, "auth_key", json_b64(auth, sizeof auth));
	json_object_set_new(body, "enc_public_key", json_string(enc_pem));
	json_object_set_new(body, "sign_public_key", json_string(sign_pem));
	json_object_set_new(
	    body, "wrapped_keys",
	    json_pack("{s:o, s:o}", "password", json_b64(w_pass, w_pass_len), "recovery", json_b64(w_rec, w_rec_len)));
	if (!json_object_get(body, "display_name")) {
		st = usage_error(err, "register", "--display-name must be UTF-8");
		goto cleanup;
	}
	if ((st = client_call(cl, "POST", "/api/v1/register", body, 201, &resp, "registration", err)) != MC_OK)
		goto cleanup;
	if ((st = start_session(cl, user, key, resp, err)) != MC_OK)
		goto cleanup;
	remember_kdf(cl, user, salt, &kdf);
	json_t *u = json_object_get(resp, "user");
	fprintf(stderr, "\nYour RECOVERY CODE is printed below, this once. Write it down or print it and keep it\n"
	                "somewhere safe and offline: it is the only way back to your keys, and to every image shared\n"
	                "with you, if you forget your password. Nobody, not even the server, can recover it.\n\n");
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:s}", "url", client_url(cl), "key", key, "user",
		                      u ? u : json_null(), "recovery_code", code);
		json_print(o);
	} else {
		printf("registered %s (%s) on %s; keys in %s\n", user,
		       json_string_value(json_object_get(u, "role")) ?: "?", client_url(cl), key);
		printf("recovery code: %s\n", code);
	}
cleanup:
	if (st != MC_OK && generated) {
		/* never registered: do not leave an identity nobody knows about */
		char pub[4310];
		snprintf(pub, sizeof pub, "%.4300s.pub", base);
		unlink(key);
		unlink(pub);
	}
	json_decref(body); /* its auth key is wiped by the JSON allocator */
	json_decref(resp);
	mc_wipe(code, sizeof code);
	mc_wipe(auth, sizeof auth);
	mc_wipe(wrap, sizeof wrap);
	mc_wipe(rkey, sizeof rkey);
	mc_buf_free(bundle, bundle_len);
	mc_buf_free(w_pass, w_pass_len);
	mc_buf_free(w_rec, w_rec_len);
	free(enc_pem);
	free(sign_pem);
	mc_identity_free(id);
	passphrase_free(&pp);
	client_free(cl);
	return st;
}

/* ---- logout, whoami, invite, users ---- */

static mc_status parse_simple(const char *cmd, int argc, char **argv, bool *json, bool *flag, const char *flag_name,
                              mc_err *err)
{
	struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                        {flag_name ? flag_name : "json", no_argument, NULL, 'f'},
	                        {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if (c == 'f' && flag)
			*flag = true;
		else
			return usage_error(err, cmd, "unknown option");
	}
	if (optind != argc)
		return usage_error(err, cmd, "unexpected argument '%s'", argv[optind]);
	return MC_OK;
}

mc_status cmd_logout(int argc, char **argv, mc_err *err)
{
	bool json = false, everywhere = false;
	mc_status st = parse_simple("logout", argc, argv, &json, &everywhere, "everywhere", err);
	if (st != MC_OK)
		return st;
	session s;
	client *cl = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	st = client_call(cl, "POST", everywhere ? "/api/v1/logout-all" : "/api/v1/logout", NULL, 204, NULL, "logout",
	                 err);
	/* The local session ends in any case (one the server had already ended is not an error);
	 * the server, user name and key file stay for the next 'medcrypt login'. */
	mc_err rm_err;
	session last = {.url = s.url, .username = s.username, .key_path = s.key_path};
	mc_status rm = session_save(&last, &rm_err);
	if (st == CLI_ERR_SESSION && !everywhere)
		st = MC_OK;
	if (st == MC_OK && rm != MC_OK) {
		st = rm;
		*err = rm_err;
	}
	if (st == MC_OK) {
		if (json)
			json_print(json_pack("{s:s, s:b}", "logged_out", s.username, "everywhere", everywhere));
		else
			printf("logged out%s\n", everywhere ? " everywhere" : "");
	}
	session_clear(&s);
	client_free(cl);
	return st;
}

mc_status cmd_whoami(int argc, char **argv, mc_err *err)
{
	bool json = false;
	mc_status st = parse_simple("whoami", argc, argv, &json, NULL, NULL, err);
	if (st != MC_OK)
		return st;
	session s;
	client *cl = NULL;
	json_t *resp = NULL;
	if ((st = session_connect(&s, &cl, err)) != MC_OK)
		return st;
	st = client_call(cl, "GET", "/api/v1/me", NULL, 200, &resp, "whoami", err);
	if (st == MC_OK) {
		if (json) {
			json_t *o =
			    json_pack("{s:s, s:O, s:O, s:s*}", "url", s.url, "user", json_object_get(resp, "user"),
			              "session", json_object_get(resp, "session") ?: json_null(), "key", s.key_path);
			json_print(o);
		} else {
			printf("server       %s\n", s.url);
			print_user(json_object_get(resp, "user"), true, json_object_get(resp, "session"));
			if (s.key_path)
				printf("key file     %s\n", s.key_path);
		}
	}
	json_decref(resp);
	session_clear(&s);
	client_free(cl);
	return st;
}

static bool valid_role(const char *r)
{
	const char *roles[] = {"admin", "technician", "doctor", "patient", "researcher"};
	for (size_t i = 0; i < 5; i++)
		if (strcmp(r, roles[i]) == 0)
			return true;
	return false;
}

mc_status cmd_invite(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
	                                     {"expires", required_argument, NULL, 'e'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	const char *role = NULL;
	long days = 0;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'e': {
			char *end;
			days = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || days < 1 || days > 30)
				return usage_error(err, "invite", "--expires takes 1 to 30 days");
			break;
		}
		case 'j': json = true; break;
		default: return usage_error(err, "invite", "unknown option");
		}
	}
	if (!role || !valid_role(role) || optind != argc)
		return usage_error(err, "invite", "give --role admin|technician|doctor|patient|researcher");
	session s;
	client *cl = NULL;
	json_t *resp = NULL;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	json_t *body = json_pack("{s:s}", "role", role);
	if (days)
		json_object_set_new(body, "expires_in", json_integer((json_int_t)days * 86400));
	st = client_call(cl, "POST", "/api/v1/invitations", body, 201, &resp, "invitation", err);
	json_decref(body);
	const char *code = json_string_value(json_object_get(resp, "code"));
	if (st == MC_OK && !code)
		st = cli_bad_answer(err, "invitation");
	if (st == MC_OK) {
		if (json) {
			json_print(json_incref(resp));
		} else {
			time_t t = (time_t)json_integer_value(json_object_get(resp, "expires"));
			char when[64] = "";
			strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
			printf("%s\n", code);
			fprintf(stderr,
			        "invitation for a %s, valid until %s: give it to the new user, who runs\n"
			        "  medcrypt register %s --user NAME --url %s\n",
			        role, when, code, s.url);
		}
	}
	json_decref(resp);
	session_clear(&s);
	client_free(cl);
	return st;
}

mc_status cmd_users(int argc, char **argv, mc_err *err)
{
	static const struct option opts[] = {
	    {"role", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	const char *role = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'j': json = true; break;
		default: return usage_error(err, "users", "unknown option");
		}
	}
	if (optind != argc || (role && !valid_role(role)))
		return usage_error(err, "users",
		                   "takes only --role admin|technician|doctor|patient|researcher and --json");
	session s;
	client *cl = NULL;
	json_t *resp = NULL;
	mc_status st = session_connect(&s, &cl, err);
	if (st != MC_OK)
		return st;
	char path[200];
	snprintf(path, sizeof path, "/api/v1/users%s%s", role ? "?role=" : "", role ? role : "");
	st = client_call(cl, "GET", path, NULL, 200, &resp, "users", err);
	json_t *users = json_object_get(resp, "users");
	if (st == MC_OK && !json_is_array(users))
		st = cli_bad_answer(err, "users");
	if (st == MC_OK) {
		if (json) {
			json_print(json_pack("{s:O}", "users", users));
		} else {
			size_t i;
			json_t *u;
			json_array_foreach(users, i, u)
			{
				/* display names are free text from other users: print them escaped */
				const char *dn = json_string_value(json_object_get(u, "display_name"));
				char safe[200];
				size_t n = 0;
				for (const char *p = dn ? dn : ""; *p && n + 1 < sizeof safe; p++)
					safe[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
				safe[n] = '\0';
				/* only the admin's listing holds disabled accounts (API.md §16) */
				printf("%-20s %-10s %s%s\n", json_string_value(json_object_get(u, "username")) ?: "?",
				       json_string_value(json_object_get(u, "role")) ?: "?", safe,
				       json_is_true(json_object_get(u, "disabled")) ? " (disabled)" : "");
				printf("    encryption %s\n    signing    %s\n",
				       json_string_value(json_object_get(u, "enc_fingerprint")) ?: "?",
				       json_string_value(json_object_get(u, "sign_fingerprint")) ?: "?");
			}
		}
	}
	json_decref(resp);
	session_clear(&s);
	client_free(cl);
	return st;
}
