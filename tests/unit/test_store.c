/*
 * test_store.c: the SQLite metadata store (src/medcryptd/store_sqlite.c) through store.h: schema
 * migrations on reopen, every operation with its conflict and not-found paths, single-use and
 * expiring invitations (listed without their code, cancelled), cascading deletion of wraps,
 * blob reference counting, throttling, audit records appended only by operations that succeed,
 * resumable uploads (the per-user cap, the offset that must stay below the length, expiry),
 * appointments (idempotence left to the caller: CONFLICT, audited only when they change),
 * nested reads from a callback, and eight threads at once followed by PRAGMA integrity_check and
 * a verified audit chain.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>

#include "audit.h"
#include "check.h"
#include "log.h"
#include "server_testutil.h"
#include "store.h"

static char db_path[512];

static mcd_audit_event ev_of(const char *action, const char *object)
{
	return (mcd_audit_event){.time = 1700000000,
	                         .actor = "tester",
	                         .address = "127.0.0.1",
	                         .action = action,
	                         .object = object,
	                         .outcome = "ok",
	                         .detail = NULL};
}

/* A user whose keys and fingerprints are derived from its name (distinct per name). */
static mcd_user make_user(const char *name, mcd_role role, char pem_enc[64], char pem_sign[64])
{
	mcd_user u = {0};
	u.username = (char *)name;
	u.display_name = (char *)"Dr. <script>alert(1)</script> O'Brien; DROP TABLE users;--";
	u.role = role;
	snprintf(pem_enc, 64, "ENC PEM of %s", name);
	snprintf(pem_sign, 64, "SIGN PEM of %s", name);
	u.enc_public_pem = pem_enc;
	u.sign_public_pem = pem_sign;
	sha256_of(pem_enc, strlen(pem_enc), u.enc_fp);
	sha256_of(pem_sign, strlen(pem_sign), u.sign_fp);
	memset(u.kdf_salt, 0x5a, 16);
	u.kdf_t = 3;
	u.kdf_m = 65536;
	u.kdf_p = 1;
	u.auth_hash = (char *)"$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA";
	static uint8_t wp[48] = {1, 2, 3}, wr[48] = {4, 5, 6};
	u.wrapped_password = wp;
	u.wrapped_password_len = sizeof wp;
	u.wrapped_recovery = wr;
	u.wrapped_recovery_len = sizeof wr;
	u.created = 1700000000;
	return u;
}

static int64_t add_user(mcd_store *s, const char *name, mcd_role role)
{
	char e[64], g[64];
	mcd_user u = make_user(name, role, e, g);
	mcd_audit_event ev = ev_of("register", name);
	mcd_store_status st = s->ops->user_create(s, &u, NULL, 1700000000, &ev);
	CHECK(st == MCD_STORE_OK, "create user %s: %d", name, st);
	return u.id;
}

static int64_t audit_count(mcd_store *s)
{
	int64_t seq = -1;
	uint8_t h[32];
	s->ops->audit_head(s, &seq, h);
	return seq;
}

static int64_t raw_count(const char *sql)
{
	sqlite3 *db;
	int64_t n = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db;
	CHECK(sqlite3_open(db_path, &db) == SQLITE_OK, "raw open");
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "raw exec %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void test_migrations(const char *dir)
{
	mcd_store *s = mcd_store_sqlite_open(db_path, NULL);
	CHECK(s != NULL, "open a new store");
	if (!s)
		exit(1);
	CHECK(s->ops->health(s) == MCD_STORE_OK, "health");
	s->ops->close(s);
	struct stat sb;
	CHECK(stat(db_path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "database mode 0600: %o", sb.st_mode & 0777);
	CHECK(raw_count("SELECT count(*) FROM schema_version") == 7, "seven migrations recorded");
	/* Reopening applies nothing again and keeps the data. */
	s = mcd_store_sqlite_open(db_path, NULL);
	CHECK(s != NULL, "reopen");
	add_user(s, "keeper", MCD_ROLE_DOCTOR);
	s->ops->close(s);
	s = mcd_store_sqlite_open(db_path, NULL);
	CHECK(s != NULL, "reopen again");
	s->ops->close(s);
	CHECK(raw_count("SELECT count(*) FROM schema_version") == 7, "still seven migrations recorded");
	CHECK(raw_count("SELECT max(version) FROM schema_version") == 7, "version 7");
	CHECK(raw_count("SELECT count(*) FROM users WHERE username = 'keeper'") == 1, "data kept");
	CHECK(raw_count("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1, "WAL mode");
	/* A database from a newer server is refused. */
	char newer[600];
	snprintf(newer, sizeof newer, "%s/newer.db", dir);
	s = mcd_store_sqlite_open(newer, NULL);
	CHECK(s != NULL, "open newer.db");
	if (s)
		s->ops->close(s);
	char saved[512];
	memcpy(saved, db_path, sizeof saved);
	snprintf(db_path, sizeof db_path, "%s/newer.db", dir);
	raw_exec("INSERT INTO schema_version(version, applied) VALUES (99, 0)");
	memcpy(db_path, saved, sizeof saved);
	fprintf(stderr, "(an error about schema version 99 is expected next)\n");
	s = mcd_store_sqlite_open(newer, NULL);
	CHECK(s == NULL, "a newer schema is refused");
	if (s)
		s->ops->close(s);
}

static void test_users(mcd_store *s)
{
	int64_t before = audit_count(s);
	uint8_t inv[32], inv_old[32], inv_unknown[32];
	sha256_of("invitation one", 14, inv);
	sha256_of("invitation old", 14, inv_old);
	sha256_of("invitation ???", 14, inv_unknown);
	mcd_audit_event ev = ev_of("invite", "doctor");
	mcd_invitation one = {.id = "11111111111111111111111111111111", .role = MCD_ROLE_DOCTOR, .expires = 2000};
	mcd_invitation one_again = one,
	               old = {.id = "22222222222222222222222222222222", .role = MCD_ROLE_ADMIN, .expires = 1000};
	mcd_invitation bad_role = {.id = "33333333333333333333333333333333", .expires = 1000};
	memcpy(one_again.id, "44444444444444444444444444444444", 32);
	CHECK(s->ops->invitation_create(s, inv, &one, &ev) == MCD_STORE_OK, "invite");
	CHECK(s->ops->invitation_create(s, inv, &one_again, &ev) == MCD_STORE_CONFLICT, "same invitation twice");
	CHECK(s->ops->invitation_create(s, inv_unknown, &one, &ev) == MCD_STORE_CONFLICT, "same id twice");
	CHECK(s->ops->invitation_create(s, inv_old, &old, &ev) == MCD_STORE_OK, "invite 2");
	CHECK(s->ops->invitation_create(s, inv_unknown, &bad_role, &ev) == MCD_STORE_ERROR, "invalid role refused");
	CHECK(audit_count(s) == before + 2, "two invite records: %lld", (long long)(audit_count(s) - before));

	char e[64], g[64];
	mcd_user u = make_user("dora", MCD_ROLE_PATIENT, e, g);
	ev = ev_of("register", "dora");
	CHECK(s->ops->user_create(s, &u, inv_unknown, 1500, &ev) == MCD_STORE_CONFLICT, "unknown invitation");
	CHECK(s->ops->user_create(s, &u, inv_old, 1500, &ev) == MCD_STORE_CONFLICT, "expired invitation");
	CHECK(s->ops->user_create(s, &u, inv_old, 1000, &ev) == MCD_STORE_CONFLICT, "expires at now: expired");
	/* A name already taken fails and leaves the invitation unused. */
	char e2[64], g2[64];
	mcd_user dup = make_user("keeper", MCD_ROLE_PATIENT, e2, g2);
	sha256_of("other", 5, dup.enc_fp);
	sha256_of("other2", 6, dup.sign_fp);
	CHECK(s->ops->user_create(s, &dup, inv, 1500, &ev) == MCD_STORE_CONFLICT, "name taken");
	CHECK(s->ops->user_create(s, &u, inv, 1500, &ev) == MCD_STORE_OK, "register with the invitation");
	CHECK(u.role == MCD_ROLE_DOCTOR, "the invitation fixes the role: %d", u.role);
	CHECK(u.id > 0, "id filled");
	char e3[64], g3[64];
	mcd_user again = make_user("dora2", MCD_ROLE_PATIENT, e3, g3);
	CHECK(s->ops->user_create(s, &again, inv, 1500, &ev) == MCD_STORE_CONFLICT, "invitation is single-use");
	/* Keys are unique: another account cannot claim dora's public key. */
	char e4[64], g4[64];
	mcd_user thief = make_user("mallory", MCD_ROLE_PATIENT, e4, g4);
	memcpy(thief.enc_fp, u.enc_fp, 32);
	CHECK(s->ops->user_create(s, &thief, NULL, 1500, &ev) == MCD_STORE_CONFLICT, "encryption key taken");
	CHECK(audit_count(s) == before + 3, "only successful operations are audited: %lld",
	      (long long)(audit_count(s) - before));

	mcd_user *got = NULL;
	CHECK(s->ops->user_by_name(s, "dora", &got) == MCD_STORE_OK, "by name");
	if (got) {
		CHECK(got->id == u.id && got->role == MCD_ROLE_DOCTOR && !got->disabled, "fields");
		CHECK(strcmp(got->display_name, u.display_name) == 0, "display name stored exactly");
		CHECK(strcmp(got->enc_public_pem, e) == 0 && strcmp(got->sign_public_pem, g) == 0, "pems");
		CHECK(memcmp(got->enc_fp, u.enc_fp, 32) == 0 && memcmp(got->sign_fp, u.sign_fp, 32) == 0, "fps");
		CHECK(memcmp(got->kdf_salt, u.kdf_salt, 16) == 0 && got->kdf_t == 3 && got->kdf_m == 65536 &&
		          got->kdf_p == 1,
		      "kdf");
		CHECK(strcmp(got->auth_hash, u.auth_hash) == 0, "auth hash");
		CHECK(got->wrapped_password_len == 48 && got->wrapped_password[2] == 3, "wrapped password");
		CHECK(got->wrapped_recovery_len == 48 && got->wrapped_recovery[2] == 6, "wrapped recovery");
		CHECK(got->created == 1700000000, "created");
	}
	mcd_user_free(got);
	got = NULL;
	CHECK(s->ops->user_by_id(s, u.id, &got) == MCD_STORE_OK && got && strcmp(got->username, "dora") == 0, "by id");
	mcd_user_free(got);
	got = NULL;
	CHECK(s->ops->user_by_enc_fp(s, u.enc_fp, &got) == MCD_STORE_OK && got && got->id == u.id, "by fp");
	mcd_user_free(got);
	got = (mcd_user *)1;
	CHECK(s->ops->user_by_name(s, "nobody", &got) == MCD_STORE_NOT_FOUND && got == NULL, "unknown name");
	CHECK(s->ops->user_by_name(s, "' OR 1=1 --", &got) == MCD_STORE_NOT_FOUND, "injection is just a name");
	CHECK(s->ops->user_by_id(s, 999999, &got) == MCD_STORE_NOT_FOUND, "unknown id");
	uint8_t zero[32] = {0};
	CHECK(s->ops->user_by_enc_fp(s, zero, &got) == MCD_STORE_NOT_FOUND, "unknown fp");

	int64_t n = 0;
	CHECK(s->ops->users_count(s, &n) == MCD_STORE_OK && n == 2, "count: %lld", (long long)n);

	/* Role change and disabling (which ends sessions). */
	mcd_session se = {.user_id = u.id, .created = 10, .last_seen = 10, .expires = 100};
	sha256_of("dora token", 10, se.token_hash);
	ev = ev_of("login", "dora");
	CHECK(s->ops->session_create(s, &se, &ev) == MCD_STORE_OK, "session");
	ev = ev_of("role_change", "dora");
	CHECK(s->ops->user_update(s, u.id, MCD_ROLE_RESEARCHER, -1, &ev) == MCD_STORE_OK, "role change");
	CHECK(s->ops->user_update(s, 999999, MCD_ROLE_RESEARCHER, -1, &ev) == MCD_STORE_NOT_FOUND, "update unknown");
	CHECK(s->ops->user_update(s, u.id, (mcd_role)17, -1, &ev) == MCD_STORE_ERROR, "invalid role");
	got = NULL;
	s->ops->user_by_id(s, u.id, &got);
	CHECK(got && got->role == MCD_ROLE_RESEARCHER, "role changed");
	mcd_user_free(got);
	mcd_session out;
	CHECK(s->ops->session_get(s, se.token_hash, &out) == MCD_STORE_OK, "session still there");
	ev = ev_of("disable", "dora");
	CHECK(s->ops->user_update(s, u.id, MCD_ROLE_NONE, 1, &ev) == MCD_STORE_OK, "disable");
	CHECK(s->ops->session_get(s, se.token_hash, &out) == MCD_STORE_NOT_FOUND, "disabling ended the session");
	got = NULL;
	CHECK(s->ops->user_by_enc_fp(s, u.enc_fp, &got) == MCD_STORE_NOT_FOUND, "disabled: not a recipient");
	CHECK(s->ops->user_by_name(s, "dora", &got) == MCD_STORE_OK && got && got->disabled, "disabled flag");
	mcd_user_free(got);
	CHECK(s->ops->user_update(s, u.id, MCD_ROLE_NONE, 0, &ev) == MCD_STORE_OK, "enable");
}

typedef struct names {
	char list[16][32];
	int n;
	int stop_after;
} name_list;

static int collect_user(void *ctx, const mcd_user *u)
{
	name_list *ns = ctx;
	if (ns->n < 16)
		snprintf(ns->list[ns->n++], 32, "%s", u->username);
	return ns->stop_after && ns->n >= ns->stop_after;
}

static void test_users_list(mcd_store *s)
{
	add_user(s, "zed", MCD_ROLE_PATIENT);
	add_user(s, "amy", MCD_ROLE_PATIENT);
	int64_t gone = add_user(s, "gone", MCD_ROLE_PATIENT);
	mcd_audit_event ev = ev_of("disable", "gone");
	s->ops->user_update(s, gone, MCD_ROLE_NONE, 1, &ev);
	name_list ns = {0};
	CHECK(s->ops->users_list(s, MCD_ROLE_PATIENT, false, collect_user, &ns) == MCD_STORE_OK, "list patients");
	CHECK(ns.n == 2 && strcmp(ns.list[0], "amy") == 0 && strcmp(ns.list[1], "zed") == 0,
	      "patients sorted, disabled left out: %d", ns.n);
	name_list all = {0};
	s->ops->users_list(s, MCD_ROLE_NONE, false, collect_user, &all);
	CHECK(all.n == 4, "every enabled user: %d", all.n); /* amy, dora, keeper, zed */
	name_list with_disabled = {0};
	s->ops->users_list(s, MCD_ROLE_PATIENT, true, collect_user, &with_disabled);
	CHECK(with_disabled.n == 3 && strcmp(with_disabled.list[1], "gone") == 0,
	      "the admin's view lists the disabled user too: %d", with_disabled.n);
	name_list first = {.stop_after = 1};
	s->ops->users_list(s, MCD_ROLE_NONE, false, collect_user, &first);
	CHECK(first.n == 1, "a callback stops the listing");
}

static int collect_invitation(void *ctx, const mcd_invitation *inv)
{
	name_list *ns = ctx;
	if (ns->n < 16)
		snprintf(ns->list[ns->n++], 32, "%.8s %s %s", inv->id, mcd_role_name(inv->role),
		         inv->created_by_name ? inv->created_by_name : "-");
	return 0;
}

/* Pending invitations are listed without their code and can be cancelled; a cancelled code
 * registers no one; a used one can be neither listed nor cancelled. */
static void test_invitations(mcd_store *s)
{
	int64_t admin = add_user(s, "inviter", MCD_ROLE_ADMIN);
	uint8_t h1[32], h2[32], h3[32], h4[32];
	sha256_of("pending one", 11, h1);
	sha256_of("pending two", 11, h2);
	sha256_of("expired", 7, h3);
	sha256_of("to be used", 10, h4);
	mcd_audit_event ev = ev_of("invite", "doctor");
	mcd_invitation a = {.id = "a0000000000000000000000000000001",
	                    .role = MCD_ROLE_DOCTOR,
	                    .created = 100,
	                    .expires = 5000,
	                    .created_by = admin};
	mcd_invitation b = {
	    .id = "b0000000000000000000000000000002", .role = MCD_ROLE_PATIENT, .created = 200, .expires = 5000};
	mcd_invitation x = {.id = "c0000000000000000000000000000003",
	                    .role = MCD_ROLE_DOCTOR,
	                    .created = 50,
	                    .expires = 900,
	                    .created_by = admin};
	mcd_invitation u = {.id = "d0000000000000000000000000000004",
	                    .role = MCD_ROLE_RESEARCHER,
	                    .created = 300,
	                    .expires = 5000,
	                    .created_by = admin};
	CHECK(s->ops->invitation_create(s, h1, &a, &ev) == MCD_STORE_OK &&
	          s->ops->invitation_create(s, h2, &b, &ev) == MCD_STORE_OK &&
	          s->ops->invitation_create(s, h3, &x, &ev) == MCD_STORE_OK &&
	          s->ops->invitation_create(s, h4, &u, &ev) == MCD_STORE_OK,
	      "four invitations");
	char e[64], g[64];
	mcd_user used = make_user("invited", MCD_ROLE_PATIENT, e, g);
	sha256_of("invited enc", 11, used.enc_fp);
	sha256_of("invited sign", 12, used.sign_fp);
	ev = ev_of("register", "invited");
	CHECK(s->ops->user_create(s, &used, h4, 1000, &ev) == MCD_STORE_OK, "one is used");

	name_list ns = {0};
	CHECK(s->ops->invitations_pending(s, 1000, collect_invitation, &ns) == MCD_STORE_OK, "list pending");
	CHECK(ns.n == 2 && !strcmp(ns.list[0], "a0000000 doctor inviter") && !strcmp(ns.list[1], "b0000000 patient -"),
	      "pending: unused and unexpired, oldest first, with the creator's name (%d: %s, %s)", ns.n, ns.list[0],
	      ns.list[1]);

	mcd_invitation *got = NULL;
	CHECK(s->ops->invitation_get(s, a.id, &got) == MCD_STORE_OK && got && got->role == MCD_ROLE_DOCTOR &&
	          got->created == 100 && got->expires == 5000 && got->created_by == admin && got->created_by_name &&
	          !strcmp(got->created_by_name, "inviter"),
	      "get a pending one");
	mcd_invitation_free(got);
	got = NULL;
	CHECK(s->ops->invitation_get(s, u.id, &got) == MCD_STORE_NOT_FOUND && !got, "a used one is not found");
	CHECK(s->ops->invitation_get(s, x.id, &got) == MCD_STORE_OK, "an expired, unused one is found");
	mcd_invitation_free(got);

	int64_t before = audit_count(s);
	ev = ev_of("invite_cancel", a.id);
	CHECK(s->ops->invitation_delete(s, u.id, &ev) == MCD_STORE_NOT_FOUND, "a used one cannot be cancelled");
	CHECK(s->ops->invitation_delete(s, "ffffffffffffffffffffffffffffffff", &ev) == MCD_STORE_NOT_FOUND,
	      "unknown id");
	CHECK(audit_count(s) == before, "a refused cancellation is not audited");
	CHECK(s->ops->invitation_delete(s, a.id, &ev) == MCD_STORE_OK, "cancel");
	CHECK(audit_count(s) == before + 1, "a cancellation is audited");
	CHECK(s->ops->invitation_delete(s, a.id, &ev) == MCD_STORE_NOT_FOUND, "cancel twice");
	mcd_user late = make_user("late", MCD_ROLE_PATIENT, e, g);
	sha256_of("late enc", 8, late.enc_fp);
	sha256_of("late sign", 9, late.sign_fp);
	ev = ev_of("register", "late");
	CHECK(s->ops->user_create(s, &late, h1, 1000, &ev) == MCD_STORE_CONFLICT, "a cancelled code registers no one");
	name_list after = {0};
	s->ops->invitations_pending(s, 1000, collect_invitation, &after);
	CHECK(after.n == 1 && !strcmp(after.list[0], "b0000000 patient -"), "the cancelled one is gone: %d", after.n);
}

static int collect_appointment(void *ctx, const mcd_appointment *a)
{
	name_list *ns = ctx;
	if (ns->n < 16)
		snprintf(ns->list[ns->n++], 32, "%s %lld%s", a->peer_username, (long long)a->created,
		         a->peer_disabled ? " disabled" : "");
	return 0;
}

/* Appointments are pairs of user ids: added once (CONFLICT the second time, without an audit
 * record), listed from both sides, removed once, and every change is audited with it. */
static void test_appointments(mcd_store *s)
{
	int64_t pat = add_user(s, "appt-patient", MCD_ROLE_PATIENT);
	int64_t pat2 = add_user(s, "appt-patient2", MCD_ROLE_PATIENT);
	int64_t doc = add_user(s, "appt-doctor", MCD_ROLE_DOCTOR);
	int64_t doc2 = add_user(s, "appt-doctor2", MCD_ROLE_DOCTOR);
	bool yes = true;
	int64_t since = -1;
	CHECK(s->ops->is_appointed(s, pat, doc, &yes, &since) == MCD_STORE_OK && !yes && since == 0, "none yet");

	int64_t before = audit_count(s);
	mcd_audit_event ev = ev_of("appoint", "appt-doctor");
	CHECK(s->ops->appointment_add(s, pat, doc, 100, &ev) == MCD_STORE_OK, "appoint");
	CHECK(audit_count(s) == before + 1, "an appointment is audited");
	CHECK(s->ops->appointment_add(s, pat, doc, 200, &ev) == MCD_STORE_CONFLICT, "appoint twice: CONFLICT");
	CHECK(s->ops->appointment_add(s, pat, 999999, 200, &ev) == MCD_STORE_NOT_FOUND, "an unknown doctor id");
	CHECK(s->ops->appointment_add(s, 999999, doc, 200, &ev) == MCD_STORE_NOT_FOUND, "an unknown patient id");
	CHECK(audit_count(s) == before + 1, "refused appointments are not audited");
	CHECK(s->ops->is_appointed(s, pat, doc, &yes, &since) == MCD_STORE_OK && yes && since == 100,
	      "appointed since 100 (not 200)");
	CHECK(s->ops->is_appointed(s, doc, pat, &yes, NULL) == MCD_STORE_OK && !yes, "the pair has a direction");
	CHECK(s->ops->appointment_add(s, pat, doc2, 150, &ev) == MCD_STORE_OK &&
	          s->ops->appointment_add(s, pat2, doc, 120, &ev) == MCD_STORE_OK,
	      "two more");
	ev = ev_of("disable", "appt-doctor2");
	CHECK(s->ops->user_update(s, doc2, MCD_ROLE_NONE, 1, &ev) == MCD_STORE_OK, "disable doctor 2");

	name_list mine = {0};
	CHECK(s->ops->appointments_for_patient(s, pat, collect_appointment, &mine) == MCD_STORE_OK, "list a patient's");
	CHECK(mine.n == 2 && !strcmp(mine.list[0], "appt-doctor 100") &&
	          !strcmp(mine.list[1], "appt-doctor2 150 disabled"),
	      "the patient's doctors, oldest first (%d: %s, %s)", mine.n, mine.list[0], mine.list[1]);
	name_list theirs = {0};
	CHECK(s->ops->appointments_for_doctor(s, doc, collect_appointment, &theirs) == MCD_STORE_OK, "list a doctor's");
	CHECK(theirs.n == 2 && !strcmp(theirs.list[0], "appt-patient 100") &&
	          !strcmp(theirs.list[1], "appt-patient2 120"),
	      "the doctor's patients (%d: %s, %s)", theirs.n, theirs.list[0], theirs.list[1]);
	name_list none = {0};
	CHECK(s->ops->appointments_for_doctor(s, pat, collect_appointment, &none) == MCD_STORE_OK && none.n == 0,
	      "a patient is nobody's doctor");

	before = audit_count(s);
	ev = ev_of("dismiss", "appt-doctor");
	int64_t deleted = -1;
	CHECK(s->ops->appointment_delete(s, pat, doc, &deleted, &ev) == MCD_STORE_OK && deleted == 0, "dismiss");
	CHECK(audit_count(s) == before + 1, "a dismissal is audited");
	CHECK(s->ops->appointment_delete(s, pat, doc, NULL, &ev) == MCD_STORE_NOT_FOUND, "dismiss twice");
	CHECK(s->ops->appointment_delete(s, pat2, doc2, NULL, &ev) == MCD_STORE_NOT_FOUND,
	      "dismiss a doctor never appointed");
	CHECK(audit_count(s) == before + 1, "refused dismissals are not audited");
	CHECK(s->ops->is_appointed(s, pat, doc, &yes, &since) == MCD_STORE_OK && !yes && since == 0, "dismissed");
	CHECK(s->ops->is_appointed(s, pat2, doc, &yes, NULL) == MCD_STORE_OK && yes, "the other stays");
	CHECK(s->ops->appointment_add(s, pat, doc, 300, &ev) == MCD_STORE_OK, "appoint again after dismissal");

	/* An appointment that cannot be audited does not happen. */
	mcd_audit_event bad = ev_of("appoint", "appt-doctor");
	bad.detail = "[1]";
	fprintf(stderr, "(errors about an event without a canonical form are expected next)\n");
	CHECK(s->ops->appointment_add(s, pat2, doc2, 400, &bad) == MCD_STORE_ERROR, "appoint with a bad event");
	CHECK(s->ops->is_appointed(s, pat2, doc2, &yes, NULL) == MCD_STORE_OK && !yes, "rolled back");
	/* the store writes a dismissal's detail itself: an event without an action is the bad one */
	mcd_audit_event no_action = ev_of(NULL, "appt-doctor");
	CHECK(s->ops->appointment_delete(s, pat2, doc, NULL, &no_action) == MCD_STORE_ERROR,
	      "dismiss with a bad event");
	CHECK(s->ops->is_appointed(s, pat2, doc, &yes, NULL) == MCD_STORE_OK && yes, "still appointed");
	CHECK(raw_count("SELECT count(*) FROM pragma_table_info('appointments') WHERE type = 'TEXT'") == 0,
	      "the table holds no text: user ids and a time only");
}

/* Messages: stored with their audit record, fetched whole, listed both ways newest first by
 * thread, unread and page, marked read once. */
static int collect_message(void *ctx, const mcd_message *m)
{
	name_list *l = ctx;
	if (l->n < 16)
		snprintf(l->list[l->n++], 32, "%.1s>%.1s %s", m->sender, m->recipient, m->read_at ? "read" : "unread");
	return 0;
}

static void test_messages(mcd_store *s)
{
	int64_t a = add_user(s, "a-msg-doctor", MCD_ROLE_DOCTOR);
	int64_t b = add_user(s, "b-msg-tech", MCD_ROLE_TECHNICIAN);
	int64_t c = add_user(s, "c-msg-other", MCD_ROLE_DOCTOR);
	uint8_t sealed[5] = {1, 2, 3, 4, 5};
	mcd_message m1 = {.id = "11111111111111111111111111111111",
	                  .thread_id = "11111111111111111111111111111111",
	                  .sender_id = a,
	                  .recipient_id = b,
	                  .created = 10,
	                  .sealed = sealed,
	                  .sealed_len = sizeof sealed};
	mcd_message m2 = m1, m3 = m1;
	memcpy(m2.id, "22222222222222222222222222222222", 33);
	m2.sender_id = b, m2.recipient_id = a, m2.created = 20;
	memcpy(m3.id, "33333333333333333333333333333333", 33);
	memcpy(m3.thread_id, m3.id, 33);
	m3.sender_id = c, m3.recipient_id = a, m3.created = 30;
	int64_t before = audit_count(s);
	mcd_audit_event ev = ev_of("message", m1.id);
	CHECK(s->ops->message_create(s, &m1, &ev) == MCD_STORE_OK &&
	          s->ops->message_create(s, &m2, &ev) == MCD_STORE_OK &&
	          s->ops->message_create(s, &m3, &ev) == MCD_STORE_OK,
	      "three messages");
	CHECK(audit_count(s) == before + 3, "each message is audited");
	CHECK(s->ops->message_create(s, &m1, &ev) == MCD_STORE_CONFLICT, "an id taken");
	mcd_message ghost = m1;
	memcpy(ghost.id, "44444444444444444444444444444444", 33);
	ghost.recipient_id = 999999;
	CHECK(s->ops->message_create(s, &ghost, &ev) == MCD_STORE_NOT_FOUND, "an unknown recipient");

	mcd_message *got = NULL;
	CHECK(s->ops->message_get(s, m2.id, &got) == MCD_STORE_OK && got && !strcmp(got->sender, "b-msg-tech") &&
	          !strcmp(got->recipient, "a-msg-doctor") && !strcmp(got->thread_id, m1.id) && got->size == 5 &&
	          got->sealed_len == 5 && !memcmp(got->sealed, sealed, 5) && got->read_at == 0,
	      "get a message whole");
	mcd_message_free(got);
	got = NULL;
	CHECK(s->ops->message_get(s, "55555555555555555555555555555555", &got) == MCD_STORE_NOT_FOUND && !got,
	      "an unknown id");

	name_list all = {0};
	CHECK(s->ops->messages_for_user(s, a, NULL, false, NULL, 100, collect_message, &all) == MCD_STORE_OK &&
	          all.n == 3 && !strcmp(all.list[0], "c>a unread") && !strcmp(all.list[1], "b>a unread") &&
	          !strcmp(all.list[2], "a>b unread"),
	      "both directions, newest first (%d)", all.n);
	name_list thread = {0};
	CHECK(s->ops->messages_for_user(s, a, m1.id, false, NULL, 100, collect_message, &thread) == MCD_STORE_OK &&
	          thread.n == 2,
	      "one thread");
	name_list page = {0};
	CHECK(s->ops->messages_for_user(s, a, NULL, false, m2.id, 100, collect_message, &page) == MCD_STORE_OK &&
	          page.n == 1 && !strcmp(page.list[0], "a>b unread"),
	      "before an id");
	name_list one = {0};
	CHECK(s->ops->messages_for_user(s, a, NULL, false, NULL, 1, collect_message, &one) == MCD_STORE_OK &&
	          one.n == 1,
	      "a limit");
	name_list unread = {0};
	CHECK(s->ops->messages_for_user(s, a, NULL, true, NULL, 100, collect_message, &unread) == MCD_STORE_OK &&
	          unread.n == 2,
	      "unread received only (%d)", unread.n);
	name_list none = {0};
	CHECK(s->ops->messages_for_user(s, c, m1.id, false, NULL, 100, collect_message, &none) == MCD_STORE_OK &&
	          none.n == 0,
	      "another pair's thread lists nothing");

	before = audit_count(s);
	ev = ev_of("message_read", m2.id);
	CHECK(s->ops->message_mark_read(s, m2.id, b, 50, &ev) == MCD_STORE_NOT_FOUND, "the sender cannot mark it");
	CHECK(s->ops->message_mark_read(s, m2.id, a, 50, &ev) == MCD_STORE_OK, "the recipient marks it");
	CHECK(s->ops->message_mark_read(s, m2.id, a, 60, &ev) == MCD_STORE_OK, "again: no error");
	CHECK(audit_count(s) == before + 1, "read once, audited once");
	CHECK(s->ops->message_get(s, m2.id, &got) == MCD_STORE_OK && got->read_at == 50, "the first read time stays");
	mcd_message_free(got);
	mcd_message_free(NULL);
}

static void test_sessions(mcd_store *s)
{
	int64_t uid = add_user(s, "sam", MCD_ROLE_TECHNICIAN);
	mcd_session a = {.user_id = uid, .created = 100, .last_seen = 100, .expires = 100 + 43200};
	mcd_session b = a;
	sha256_of("token a", 7, a.token_hash);
	sha256_of("token b", 7, b.token_hash);
	mcd_audit_event ev = ev_of("login", "sam");
	CHECK(s->ops->session_create(s, &a, &ev) == MCD_STORE_OK, "session a");
	CHECK(s->ops->session_create(s, &a, &ev) == MCD_STORE_CONFLICT, "same token twice");
	CHECK(s->ops->session_create(s, &b, NULL) == MCD_STORE_OK, "session b");
	mcd_session bad = a;
	bad.user_id = 999999;
	sha256_of("token c", 7, bad.token_hash);
	CHECK(s->ops->session_create(s, &bad, NULL) == MCD_STORE_NOT_FOUND, "session of an unknown user");
	mcd_session out;
	CHECK(s->ops->session_get(s, a.token_hash, &out) == MCD_STORE_OK, "get");
	CHECK(out.user_id == uid && out.created == 100 && out.last_seen == 100 && out.expires == 43300 &&
	          out.reauth_at == 0 && memcmp(out.token_hash, a.token_hash, 32) == 0,
	      "fields");
	CHECK(s->ops->session_touch(s, a.token_hash, 500) == MCD_STORE_OK, "touch");
	CHECK(s->ops->session_set_reauth(s, a.token_hash, 450) == MCD_STORE_OK, "reauth");
	s->ops->session_get(s, a.token_hash, &out);
	CHECK(out.last_seen == 500 && out.reauth_at == 450, "touched: %lld %lld", (long long)out.last_seen,
	      (long long)out.reauth_at);
	CHECK(s->ops->session_touch(s, bad.token_hash, 500) == MCD_STORE_NOT_FOUND, "touch unknown");
	CHECK(s->ops->session_set_reauth(s, bad.token_hash, 500) == MCD_STORE_NOT_FOUND, "reauth unknown");
	/* Expiry: b is idle since 100, a was seen at 500. */
	CHECK(s->ops->sessions_expire(s, 200, 1000) == MCD_STORE_OK, "expire idle");
	CHECK(s->ops->session_get(s, b.token_hash, &out) == MCD_STORE_NOT_FOUND, "idle session gone");
	CHECK(s->ops->session_get(s, a.token_hash, &out) == MCD_STORE_OK, "active session kept");
	CHECK(s->ops->sessions_expire(s, 0, 43300) == MCD_STORE_OK, "expire absolute");
	CHECK(s->ops->session_get(s, a.token_hash, &out) == MCD_STORE_NOT_FOUND, "past its absolute end");
	/* Logout and logout-everywhere. */
	s->ops->session_create(s, &a, NULL);
	s->ops->session_create(s, &b, NULL);
	int64_t before = audit_count(s);
	ev = ev_of("logout", "sam");
	CHECK(s->ops->session_delete(s, a.token_hash, &ev) == MCD_STORE_OK, "logout");
	CHECK(s->ops->session_delete(s, a.token_hash, &ev) == MCD_STORE_NOT_FOUND, "logout twice");
	CHECK(s->ops->session_get(s, b.token_hash, &out) == MCD_STORE_OK, "other session alive");
	CHECK(s->ops->sessions_delete_user(s, uid, &ev) == MCD_STORE_OK, "logout everywhere");
	CHECK(s->ops->session_get(s, b.token_hash, &out) == MCD_STORE_NOT_FOUND, "all gone");
	CHECK(audit_count(s) == before + 2, "logout records");
}

static void test_throttle(mcd_store *s)
{
	mcd_throttle t = {.failures = 9, .lockouts = 9, .locked_until = 9};
	CHECK(s->ops->throttle_get(s, "u:nobody", &t) == MCD_STORE_OK, "get missing");
	CHECK(t.failures == 0 && t.lockouts == 0 && t.locked_until == 0, "missing reads as zero");
	mcd_throttle put = {.failures = 5, .lockouts = 2, .locked_until = 1700000240};
	int64_t before = audit_count(s);
	mcd_audit_event ev = ev_of("lockout", "amy");
	CHECK(s->ops->throttle_put(s, "u:amy", &put, &ev) == MCD_STORE_OK, "put");
	CHECK(audit_count(s) == before + 1, "lockout audited with it");
	CHECK(s->ops->throttle_get(s, "u:amy", &t) == MCD_STORE_OK && t.failures == 5 && t.lockouts == 2 &&
	          t.locked_until == 1700000240,
	      "round trip");
	put.failures = 6;
	CHECK(s->ops->throttle_put(s, "u:amy", &put, NULL) == MCD_STORE_OK, "update");
	s->ops->throttle_get(s, "u:amy", &t);
	CHECK(t.failures == 6, "updated");
	CHECK(s->ops->throttle_get(s, "a:amy", &t) == MCD_STORE_OK && t.failures == 0, "keys are separate");
	mcd_throttle zero = {0};
	CHECK(s->ops->throttle_put(s, "u:amy", &zero, NULL) == MCD_STORE_OK, "reset");
	CHECK(raw_count("SELECT count(*) FROM throttle WHERE key = 'u:amy'") == 0, "a reset removes the row");
	s->ops->throttle_get(s, "u:amy", &t);
	CHECK(t.failures == 0 && t.lockouts == 0 && t.locked_until == 0, "reset reads as zero");
}

static void image_id(int i, char id[33])
{
	snprintf(id, 33, "%032x", i);
}

typedef struct listing {
	char ids[32][33];
	bool has_wrap[32];
	int n;
	mcd_store *s;
	int nested_recipients; /* recipients counted from inside the callback */
} listing;

static int collect_image(void *ctx, const mcd_image *im, const mcd_wrap *w)
{
	listing *l = ctx;
	if (l->n < 32) {
		memcpy(l->ids[l->n], im->id, 33);
		l->has_wrap[l->n] = w != NULL;
		l->n++;
	}
	if (l->s) {
		/* A handler lists the recipients of its own images from inside the callback. */
		char **names = NULL;
		if (l->s->ops->image_recipients(l->s, im->id, &names) == MCD_STORE_OK)
			for (char **p = names; *p; p++)
				l->nested_recipients++;
		mcd_strv_free(names);
		mcd_user *u = NULL;
		l->s->ops->user_by_id(l->s, im->sender_id, &u);
		mcd_user_free(u);
	}
	return 0;
}

static mcd_store_status put_image_about(mcd_store *s, int i, int64_t sender, const char *blob, const int64_t *to,
                                        size_t n_to, int64_t patient, bool deidentified);

static mcd_store_status put_image(mcd_store *s, int i, int64_t sender, const char *blob, const int64_t *to, size_t n_to)
{
	return put_image_about(s, i, sender, blob, to, n_to, 0, false);
}

static mcd_store_status put_image_about(mcd_store *s, int i, int64_t sender, const char *blob, const int64_t *to,
                                        size_t n_to, int64_t patient, bool deidentified)
{
	mcd_image im = {0};
	im.patient_id = patient;
	im.deidentified = deidentified;
	image_id(i, im.id);
	im.sender_id = sender;
	sha256_of(blob, strlen(blob), im.blob_sha256);
	im.size = 1000 + i;
	uint8_t header[40];
	memset(header, i, sizeof header);
	im.header = header;
	im.header_len = sizeof header;
	im.created = 1700000000 + i;
	mcd_wrap wraps[4];
	uint8_t bodies[4][16];
	for (size_t k = 0; k < n_to; k++) {
		memset(bodies[k], (int)(0x10 * k + i), 16);
		wraps[k] = (mcd_wrap){.user_id = to[k], .granted_by = sender, .wrap = bodies[k], .wrap_len = 16};
	}
	mcd_audit_event ev = ev_of("upload", im.id);
	return s->ops->image_create(s, &im, wraps, n_to, &ev);
}

static void test_images(mcd_store *s)
{
	int64_t tech = add_user(s, "tech", MCD_ROLE_TECHNICIAN);
	int64_t doc = add_user(s, "doc", MCD_ROLE_DOCTOR);
	int64_t pat = add_user(s, "pat", MCD_ROLE_PATIENT);
	int64_t other = add_user(s, "other", MCD_ROLE_PATIENT);
	int64_t to[2] = {pat, doc};
	char id1[33], id2[33], id3[33], id9[33];
	image_id(1, id1);
	image_id(2, id2);
	image_id(3, id3);
	image_id(9, id9);
	int64_t before = audit_count(s);
	CHECK(put_image(s, 1, tech, "blob A", to, 2) == MCD_STORE_OK, "image 1");
	CHECK(put_image(s, 2, tech, "blob A", to, 1) == MCD_STORE_OK, "image 2 shares blob A");
	CHECK(put_image(s, 3, tech, "blob B", to, 2) == MCD_STORE_OK, "image 3");
	CHECK(put_image(s, 1, tech, "blob C", to, 1) == MCD_STORE_CONFLICT, "same id");
	int64_t ghost[2] = {pat, 999999};
	CHECK(put_image(s, 9, tech, "blob C", ghost, 2) == MCD_STORE_NOT_FOUND, "wrap for an unknown user");
	int64_t twice[2] = {pat, pat};
	CHECK(put_image(s, 9, tech, "blob C", twice, 2) == MCD_STORE_CONFLICT, "two wraps for one user");
	mcd_image *im = NULL;
	CHECK(s->ops->image_get(s, id9, &im) == MCD_STORE_NOT_FOUND && !im, "a failed upload stores nothing");
	CHECK(raw_count("SELECT count(*) FROM wraps WHERE image_n NOT IN (SELECT n FROM images)") == 0,
	      "no stray wrap");
	CHECK(audit_count(s) == before + 3, "three upload records");

	CHECK(s->ops->image_get(s, id1, &im) == MCD_STORE_OK && im, "get");
	if (im) {
		uint8_t sha[32];
		sha256_of("blob A", 6, sha);
		CHECK(strcmp(im->id, id1) == 0 && im->sender_id == tech && strcmp(im->sender, "tech") == 0, "who");
		CHECK(memcmp(im->blob_sha256, sha, 32) == 0 && im->size == 1001 && im->created == 1700000001, "what");
		CHECK(im->header_len == 40 && im->header[39] == 1, "header");
		CHECK(im->patient_id == 0 && im->patient == NULL && !im->deidentified, "no patient, no mark");
	}
	mcd_image_free(im);

	/* Listings: newest first, wraps only for recipients. */
	listing l = {0};
	CHECK(s->ops->images_for_user(s, pat, NULL, 100, collect_image, &l) == MCD_STORE_OK, "patient list");
	CHECK(l.n == 3 && strcmp(l.ids[0], id3) == 0 && strcmp(l.ids[2], id1) == 0, "newest first: %d", l.n);
	CHECK(l.has_wrap[0] && l.has_wrap[1] && l.has_wrap[2], "patient has a wrap of each");
	listing d = {0};
	s->ops->images_for_user(s, doc, NULL, 100, collect_image, &d);
	CHECK(d.n == 2 && strcmp(d.ids[0], id3) == 0 && strcmp(d.ids[1], id1) == 0, "doctor sees 3 and 1: %d", d.n);
	listing t = {.s = s};
	CHECK(s->ops->images_for_user(s, tech, NULL, 100, collect_image, &t) == MCD_STORE_OK, "sender list");
	CHECK(t.n == 3 && !t.has_wrap[0], "the sender without a wrap gets NULL");
	CHECK(t.nested_recipients == 5, "nested reads inside the callback: %d", t.nested_recipients);
	listing o = {0};
	s->ops->images_for_user(s, other, NULL, 100, collect_image, &o);
	CHECK(o.n == 0, "another user sees nothing");
	listing page = {0};
	s->ops->images_for_user(s, pat, NULL, 2, collect_image, &page);
	CHECK(page.n == 2, "limit");
	listing next = {0};
	s->ops->images_for_user(s, pat, page.ids[1], 2, collect_image, &next);
	CHECK(next.n == 1 && strcmp(next.ids[0], id1) == 0, "next page");
	CHECK(s->ops->images_for_user(s, pat, id9, 2, collect_image, &next) == MCD_STORE_NOT_FOUND, "unknown cursor");

	/* Wraps. */
	mcd_wrap *w = NULL;
	CHECK(s->ops->wrap_get(s, id1, pat, &w) == MCD_STORE_OK && w, "wrap");
	if (w)
		CHECK(w->user_id == pat && w->granted_by == tech && w->wrap_len == 16 && w->wrap[0] == 1,
		      "wrap fields");
	mcd_wrap_free(w);
	w = NULL;
	CHECK(s->ops->wrap_get(s, id1, other, &w) == MCD_STORE_NOT_FOUND && !w, "no wrap for other");
	CHECK(s->ops->wrap_get(s, id9, pat, &w) == MCD_STORE_NOT_FOUND, "no such image");
	char **rec = NULL;
	CHECK(s->ops->image_recipients(s, id1, &rec) == MCD_STORE_OK && rec, "recipients");
	if (rec)
		CHECK(rec[0] && strcmp(rec[0], "doc") == 0 && rec[1] && strcmp(rec[1], "pat") == 0 && !rec[2],
		      "sorted");
	mcd_strv_free(rec);
	rec = NULL;
	CHECK(s->ops->image_recipients(s, id9, &rec) == MCD_STORE_NOT_FOUND && !rec, "recipients of nothing");

	uint8_t body[16] = {7};
	mcd_wrap share = {.user_id = other, .granted_by = doc, .wrap = body, .wrap_len = 16};
	mcd_audit_event ev = ev_of("share", id1);
	before = audit_count(s);
	CHECK(s->ops->wrap_add(s, id1, &share, &ev) == MCD_STORE_OK, "share");
	CHECK(s->ops->wrap_add(s, id1, &share, &ev) == MCD_STORE_CONFLICT, "share exists");
	CHECK(s->ops->wrap_add(s, id9, &share, &ev) == MCD_STORE_NOT_FOUND, "share of nothing");
	share.user_id = 999999;
	CHECK(s->ops->wrap_add(s, id1, &share, &ev) == MCD_STORE_NOT_FOUND, "share with nobody");
	CHECK(audit_count(s) == before + 1, "one share record");
	ev = ev_of("revoke", id1);
	CHECK(s->ops->wrap_delete(s, id1, other, &ev) == MCD_STORE_OK, "revoke");
	CHECK(s->ops->wrap_delete(s, id1, other, &ev) == MCD_STORE_NOT_FOUND, "revoke twice");
	CHECK(s->ops->wrap_delete(s, id9, other, &ev) == MCD_STORE_NOT_FOUND, "revoke of nothing");

	/* Deletion: wraps cascade; the blob is unreferenced only with its last image. */
	bool yes = false;
	uint8_t sha_a[32], sha_b[32], sha_z[32];
	sha256_of("blob A", 6, sha_a);
	sha256_of("blob B", 6, sha_b);
	sha256_of("blob Z", 6, sha_z);
	CHECK(s->ops->blob_referenced(s, sha_a, &yes) == MCD_STORE_OK && yes, "blob A referenced");
	CHECK(s->ops->blob_referenced(s, sha_z, &yes) == MCD_STORE_OK && !yes, "blob Z not");
	bool unref = true;
	ev = ev_of("delete", id1);
	CHECK(s->ops->image_delete(s, id1, &unref, &ev) == MCD_STORE_OK, "delete 1");
	CHECK(!unref, "blob A still used by image 2");
	CHECK(s->ops->wrap_get(s, id1, pat, &w) == MCD_STORE_NOT_FOUND, "wraps of 1 gone");
	CHECK(raw_count("SELECT count(*) FROM wraps WHERE image_n NOT IN (SELECT n FROM images)") == 0,
	      "no orphan wraps");
	CHECK(raw_count("SELECT count(*) FROM wraps") == 3, "wraps of 2 and 3 remain");
	CHECK(s->ops->image_delete(s, id1, &unref, &ev) == MCD_STORE_NOT_FOUND, "delete twice");
	CHECK(s->ops->image_delete(s, id2, &unref, &ev) == MCD_STORE_OK && unref, "last user of blob A");
	CHECK(s->ops->blob_referenced(s, sha_a, &yes) == MCD_STORE_OK && !yes, "blob A unreferenced");
	CHECK(s->ops->image_delete(s, id3, &unref, &ev) == MCD_STORE_OK && unref, "blob B unreferenced");
	CHECK(s->ops->blob_referenced(s, sha_b, &yes) == MCD_STORE_OK && !yes, "blob B free");
	CHECK(raw_count("SELECT count(*) FROM wraps") == 0, "every wrap destroyed");
}

static void test_checkpoint_add(mcd_store *s)
{
	int64_t seq;
	uint8_t head[32], other[32] = {1};
	s->ops->audit_head(s, &seq, head);
	CHECK(seq > 0, "records exist");
	uint8_t sig[64] = {0};
	CHECK(s->ops->checkpoint_add(s, seq + 5, head, sig, 64) == MCD_STORE_NOT_FOUND, "checkpoint past the end");
	CHECK(s->ops->checkpoint_add(s, seq, other, sig, 64) == MCD_STORE_CONFLICT, "checkpoint with a wrong hash");
	CHECK(s->ops->checkpoint_add(s, seq, head, sig, 64) == MCD_STORE_OK, "checkpoint");
	CHECK(s->ops->checkpoint_add(s, seq, head, sig, 64) == MCD_STORE_OK, "same checkpoint again");
	raw_exec("DELETE FROM checkpoints");
}

static void test_bad_events(mcd_store *s)
{
	int64_t before = audit_count(s);
	mcd_audit_event ev = ev_of("upload", "x");
	ev.detail = "[1, 2]";
	fprintf(stderr, "(errors about events without a canonical form are expected next)\n");
	CHECK(s->ops->audit_append(s, &ev) == MCD_STORE_ERROR, "detail must be an object");
	ev.detail = "{\"ok\": true}";
	ev.actor = "\xff\xfe";
	CHECK(s->ops->audit_append(s, &ev) == MCD_STORE_ERROR, "invalid UTF-8 refused");
	/* An operation whose event cannot be recorded does not happen either. */
	mcd_throttle t = {.failures = 1};
	CHECK(s->ops->throttle_put(s, "u:bad", &t, &ev) == MCD_STORE_ERROR, "throttle with a bad event");
	s->ops->throttle_get(s, "u:bad", &t);
	CHECK(t.failures == 0, "rolled back");
	CHECK(audit_count(s) == before, "nothing appended");
}

/* ---- eight threads ---- */

typedef struct worker {
	mcd_store *s;
	int index;
	int64_t shared_user;
	int failures;
	int ops;
} worker;

static int count_cb(void *ctx, const mcd_image *im, const mcd_wrap *w)
{
	(void)im;
	(void)w;
	(*(int *)ctx)++;
	return 0;
}

static void *work(void *arg)
{
	worker *wk = arg;
	mcd_store *s = wk->s;
	char name[32];
	snprintf(name, sizeof name, "worker%d", wk->index);
	char e[64], g[64];
	mcd_user u = make_user(name, MCD_ROLE_DOCTOR, e, g);
	mcd_audit_event ev = ev_of("register", name);
	if (s->ops->user_create(s, &u, NULL, 1700000000, &ev) != MCD_STORE_OK)
		wk->failures++;
	for (int i = 0; i < 40; i++) {
		int num = 1000 + wk->index * 100 + i;
		int64_t to[2] = {u.id, wk->shared_user};
		char blob[32];
		snprintf(blob, sizeof blob, "blob %d", i % 5);
		if (put_image(s, num, u.id, blob, to, 2) != MCD_STORE_OK)
			wk->failures++;
		char id[33];
		image_id(num, id);
		mcd_image *im = NULL;
		if (s->ops->image_get(s, id, &im) != MCD_STORE_OK)
			wk->failures++;
		mcd_image_free(im);
		int n = 0;
		if (s->ops->images_for_user(s, u.id, NULL, 10, count_cb, &n) != MCD_STORE_OK || n == 0)
			wk->failures++;
		mcd_session se = {.user_id = u.id, .created = i, .last_seen = i, .expires = i + 100};
		char tok[32];
		snprintf(tok, sizeof tok, "tok %d %d", wk->index, i);
		sha256_of(tok, strlen(tok), se.token_hash);
		if (s->ops->session_create(s, &se, NULL) != MCD_STORE_OK ||
		    s->ops->session_touch(s, se.token_hash, i + 1) != MCD_STORE_OK)
			wk->failures++;
		mcd_throttle t = {.failures = i + 1};
		char key[40];
		snprintf(key, sizeof key, "a:10.0.0.%d", wk->index);
		ev = ev_of("login_failed", name);
		if (s->ops->throttle_put(s, key, &t, &ev) != MCD_STORE_OK)
			wk->failures++;
		if (i % 4 == 0) {
			bool unref;
			ev = ev_of("delete", id);
			if (s->ops->image_delete(s, id, &unref, &ev) != MCD_STORE_OK)
				wk->failures++;
		}
		mcd_user *me = NULL;
		if (s->ops->user_by_name(s, name, &me) != MCD_STORE_OK)
			wk->failures++;
		mcd_user_free(me);
		wk->ops += 9;
	}
	return NULL;
}

static void test_threads(const char *dir)
{
	mcd_audit_signer *signer = mcd_audit_signer_open(dir);
	CHECK(signer != NULL, "signer");
	mcd_store *s = mcd_store_sqlite_open(db_path, signer);
	CHECK(s != NULL, "reopen with a signer");
	if (!s || !signer)
		exit(1);
	int64_t shared = add_user(s, "shared", MCD_ROLE_PATIENT);
	int64_t before = audit_count(s);
	pthread_t th[8];
	worker wk[8];
	for (int i = 0; i < 8; i++) {
		wk[i] = (worker){.s = s, .index = i, .shared_user = shared};
		pthread_create(&th[i], NULL, work, &wk[i]);
	}
	int failures = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		failures += wk[i].failures;
	}
	CHECK(failures == 0, "no operation failed under 8 threads: %d", failures);
	/* Per worker: 1 register + 40 uploads + 40 login_failed + 10 deletes. */
	CHECK(audit_count(s) == before + 8 * 91, "every event recorded: %lld", (long long)(audit_count(s) - before));
	int n = 0;
	s->ops->images_for_user(s, shared, NULL, 1000, count_cb, &n);
	CHECK(n == 8 * 30, "images the shared user can see: %d", n);
	bool ok = false;
	CHECK(s->ops->integrity_check(s, &ok) == MCD_STORE_OK && ok, "integrity_check after the threads");
	mcd_audit_verdict v;
	CHECK(mcd_audit_verify(s, mcd_audit_signer_public_pem(signer), &v) == MCD_STORE_OK && v.ok,
	      "audit chain verifies: %s", v.reason);
	CHECK(v.checkpoints >= 10, "checkpoints written along the way: %lld", (long long)v.checkpoints);
	s->ops->close(s);
	mcd_audit_signer_free(signer);
}

static int expired_cb(void *ctx, const mcd_partial *p)
{
	char *ids = ctx;
	size_t n = strlen(ids);
	snprintf(ids + n, 512 - n, "%s ", p->id);
	return 0;
}

static void test_partials(mcd_store *s)
{
	int64_t owner = add_user(s, "uploader", MCD_ROLE_TECHNICIAN);
	int64_t audit_before = audit_count(s);
	mcd_partial p = {.owner_id = owner,
	                 .length = 1000,
	                 .metadata = (char *)"filename c2Nhbi5tYw==",
	                 .created = 100,
	                 .expires = 200};
	for (int i = 0; i < 3; i++) {
		snprintf(p.id, sizeof p.id, "%032x", i + 1);
		p.expires = 200 + i * 100; /* 200, 300, 400 */
		CHECK(s->ops->partial_create(s, &p, 3, 150) == MCD_STORE_OK, "create upload %d", i);
	}
	snprintf(p.id, sizeof p.id, "%032x", 9);
	CHECK(s->ops->partial_create(s, &p, 3, 150) == MCD_STORE_CONFLICT, "the fourth open upload is refused");
	CHECK(s->ops->partial_create(s, &p, 3, 250) == MCD_STORE_OK, "once one expired, another may start");
	snprintf(p.id, sizeof p.id, "%032x", 1);
	CHECK(s->ops->partial_create(s, &p, 10, 150) == MCD_STORE_CONFLICT, "an id taken");
	p.received = 1000;
	snprintf(p.id, sizeof p.id, "%032x", 10);
	CHECK(s->ops->partial_create(s, &p, 10, 150) == MCD_STORE_ERROR, "an offset at the length is refused");
	mcd_partial *got = NULL;
	CHECK(s->ops->partial_get(s, "00000000000000000000000000000002", &got) == MCD_STORE_OK && got &&
	          got->owner_id == owner && got->length == 1000 && got->received == 0 && got->expires == 300 &&
	          got->metadata && !strcmp(got->metadata, "filename c2Nhbi5tYw=="),
	      "read an upload back");
	mcd_partial_free(got);
	CHECK(s->ops->partial_advance(s, "00000000000000000000000000000002", 999, 900) == MCD_STORE_OK, "advance");
	CHECK(s->ops->partial_advance(s, "00000000000000000000000000000002", 1000, 900) == MCD_STORE_ERROR,
	      "the durable offset never reaches the length");
	CHECK(s->ops->partial_get(s, "00000000000000000000000000000002", &got) == MCD_STORE_OK && got &&
	          got->received == 999 && got->expires == 900,
	      "the offset and expiry were written");
	mcd_partial_free(got);
	CHECK(s->ops->partial_advance(s, "0000000000000000000000000000dead", 1, 1) == MCD_STORE_NOT_FOUND,
	      "advance a missing upload");
	char ids[512] = "";
	CHECK(s->ops->partials_expired(s, 400, expired_cb, ids) == MCD_STORE_OK, "list expired");
	CHECK(!strcmp(ids, "00000000000000000000000000000001 00000000000000000000000000000003 "
	                   "00000000000000000000000000000009 "),
	      "expired at 400: all but the advanced one, oldest first: %s", ids);
	CHECK(s->ops->partial_delete(s, "00000000000000000000000000000001") == MCD_STORE_OK, "delete");
	CHECK(s->ops->partial_delete(s, "00000000000000000000000000000001") == MCD_STORE_NOT_FOUND, "delete twice");
	CHECK(s->ops->partial_get(s, "00000000000000000000000000000001", &got) == MCD_STORE_NOT_FOUND && !got,
	      "a deleted upload is gone");
	CHECK(audit_count(s) == audit_before, "uploads in progress are not audited");
}

/* ---- issue 12: the patient of an image, dismissal, consents ---- */

static void test_patient_images(mcd_store *s)
{
	int64_t tech = add_user(s, "pi-tech", MCD_ROLE_TECHNICIAN);
	int64_t doc = add_user(s, "pi-doc", MCD_ROLE_DOCTOR);
	int64_t pat = add_user(s, "pi-pat", MCD_ROLE_PATIENT);
	int64_t pat2 = add_user(s, "pi-pat2", MCD_ROLE_PATIENT);
	int64_t to[2] = {pat, doc}, to2[2] = {pat2, doc};
	char a[33], b[33], c[33];
	image_id(101, a);
	image_id(102, b);
	image_id(103, c);
	CHECK(put_image_about(s, 101, tech, "pi blob", to, 2, pat, false) == MCD_STORE_OK, "an image about pat");
	CHECK(put_image_about(s, 102, tech, "pi blob", to2, 2, pat2, true) == MCD_STORE_OK, "one about pat2, marked");
	CHECK(put_image_about(s, 103, tech, "pi blob", to, 2, pat, false) == MCD_STORE_OK, "another about pat");
	CHECK(put_image_about(s, 104, tech, "pi blob", to, 2, 999999, false) == MCD_STORE_NOT_FOUND,
	      "a patient id that is no user");
	mcd_image *im = NULL;
	CHECK(s->ops->image_get(s, b, &im) == MCD_STORE_OK && im && im->patient_id == pat2 && im->patient &&
	          !strcmp(im->patient, "pi-pat2") && im->deidentified,
	      "patient and mark read back");
	mcd_image_free(im);
	listing l = {0};
	CHECK(s->ops->images_for_user_about(s, doc, pat, NULL, 100, collect_image, &l) == MCD_STORE_OK, "about pat");
	CHECK(l.n == 2 && !strcmp(l.ids[0], c) && !strcmp(l.ids[1], a) && l.has_wrap[0], "the two, newest first: %d",
	      l.n);
	listing t = {0};
	s->ops->images_for_user_about(s, tech, pat2, NULL, 100, collect_image, &t);
	CHECK(t.n == 1 && !strcmp(t.ids[0], b) && !t.has_wrap[0], "the sender sees theirs: %d", t.n);
	listing none = {0};
	s->ops->images_for_user_about(s, pat2, pat, NULL, 100, collect_image, &none);
	CHECK(none.n == 0, "another patient's images stay invisible");
	listing page = {0};
	s->ops->images_for_user_about(s, doc, pat, c, 100, collect_image, &page);
	CHECK(page.n == 1 && !strcmp(page.ids[0], a), "paged");
	CHECK(raw_count("SELECT count(*) FROM images WHERE deidentified NOT IN (0, 1)") == 0, "a flag, nothing more");
}

/* Dismissal deletes the doctor's wraps of the patient's images (not of others', not of images
 * the doctor sent) and withdraws the patient's approved consents to them, in one transaction. */
static void test_dismissal(mcd_store *s)
{
	int64_t tech = add_user(s, "dm-tech", MCD_ROLE_TECHNICIAN);
	int64_t doc = add_user(s, "dm-doc", MCD_ROLE_DOCTOR);
	int64_t pat = add_user(s, "dm-pat", MCD_ROLE_PATIENT);
	int64_t pat2 = add_user(s, "dm-pat2", MCD_ROLE_PATIENT);
	mcd_audit_event ev = ev_of("appoint", "dm-doc");
	CHECK(s->ops->appointment_add(s, pat, doc, 100, &ev) == MCD_STORE_OK, "appoint");
	int64_t to[2] = {pat, doc}, to2[2] = {pat2, doc};
	CHECK(put_image_about(s, 201, tech, "dm blob", to, 2, pat, false) == MCD_STORE_OK &&
	          put_image_about(s, 202, tech, "dm blob", to, 2, pat, false) == MCD_STORE_OK &&
	          put_image_about(s, 203, doc, "dm blob", to, 2, pat, false) == MCD_STORE_OK &&
	          put_image_about(s, 204, tech, "dm blob", to2, 2, pat2, false) == MCD_STORE_OK,
	      "four images");
	uint8_t sealed[8] = {1};
	mcd_consent c = {.patient_id = pat,
	                 .doctor_id = doc,
	                 .created = 10,
	                 .expires = 2000000000,
	                 .sealed = sealed,
	                 .sealed_len = sizeof sealed};
	snprintf(c.id, sizeof c.id, "%032x", 0xd15);
	ev = ev_of("consent_request", c.id);
	CHECK(s->ops->consent_create(s, &c, &ev) == MCD_STORE_OK, "a consent");
	int64_t added = -1;
	ev = ev_of("consent_approve", c.id);
	CHECK(s->ops->consent_approve(s, c.id, pat, 20, NULL, 0, NULL, &added, &ev) == MCD_STORE_OK && added == 0,
	      "approved with no image");

	int64_t before = audit_count(s);
	int64_t deleted = -1;
	ev = ev_of("dismiss", "dm-doc");
	CHECK(s->ops->appointment_delete(s, pat, doc, &deleted, &ev) == MCD_STORE_OK && deleted == 2,
	      "dismissal deletes two wraps (not of the doctor's own image): %lld", (long long)deleted);
	CHECK(audit_count(s) == before + 1, "one audit record");
	CHECK(raw_count("SELECT count(*) FROM audit WHERE action = 'dismiss' AND detail = '{\"wraps_deleted\":2}'") ==
	          1,
	      "its detail says how many");
	char id[33];
	mcd_wrap *w = NULL;
	image_id(201, id);
	CHECK(s->ops->wrap_get(s, id, doc, &w) == MCD_STORE_NOT_FOUND, "gone");
	CHECK(s->ops->wrap_get(s, id, pat, &w) == MCD_STORE_OK, "the patient's stays");
	mcd_wrap_free(w);
	w = NULL;
	image_id(203, id);
	CHECK(s->ops->wrap_get(s, id, doc, &w) == MCD_STORE_OK, "the doctor's own image stays");
	mcd_wrap_free(w);
	w = NULL;
	image_id(204, id);
	CHECK(s->ops->wrap_get(s, id, doc, &w) == MCD_STORE_OK, "another patient's image stays");
	mcd_wrap_free(w);
	mcd_consent *got = NULL;
	CHECK(s->ops->consent_get(s, c.id, &got) == MCD_STORE_OK && !strcmp(got->status, "withdrawn"),
	      "the approved consent is withdrawn");
	mcd_consent_free(got);
	bool yes = true;
	CHECK(s->ops->has_consent(s, pat, doc, &yes) == MCD_STORE_OK && !yes, "no consent stands");
}

static int collect_consent(void *ctx, const mcd_consent *c)
{
	name_list *l = ctx;
	if (l->n < 16)
		snprintf(l->list[l->n++], 32, "%.8s %s", c->id + 24, mcd_consent_status_at(c, 1000));
	return 0;
}

static void test_consents(mcd_store *s)
{
	int64_t tech = add_user(s, "cs-tech", MCD_ROLE_TECHNICIAN);
	int64_t doc = add_user(s, "cs-doc", MCD_ROLE_DOCTOR);
	int64_t doc2 = add_user(s, "cs-doc2", MCD_ROLE_DOCTOR);
	int64_t pat = add_user(s, "cs-pat", MCD_ROLE_PATIENT);
	int64_t pat2 = add_user(s, "cs-pat2", MCD_ROLE_PATIENT);
	int64_t to[1] = {pat}, to2[1] = {pat2};
	char i1[33], i2[33], i3[33], i4[33];
	image_id(301, i1);
	image_id(302, i2);
	image_id(303, i3);
	image_id(304, i4);
	CHECK(put_image_about(s, 301, tech, "cs blob", to, 1, pat, false) == MCD_STORE_OK &&
	          put_image_about(s, 302, tech, "cs blob", to, 1, pat, false) == MCD_STORE_OK &&
	          put_image_about(s, 303, tech, "cs blob", to2, 1, pat2, false) == MCD_STORE_OK &&
	          put_image(s, 304, tech, "cs blob", to, 1) == MCD_STORE_OK,
	      "images");
	uint8_t sealed[40];
	memset(sealed, 0x33, sizeof sealed);
	mcd_consent c = {.patient_id = pat,
	                 .doctor_id = doc,
	                 .created = 100,
	                 .expires = 500,
	                 .sealed = sealed,
	                 .sealed_len = sizeof sealed};
	snprintf(c.id, sizeof c.id, "%032x", 0xc01);
	mcd_consent c2 = c, c3 = c;
	snprintf(c2.id, sizeof c2.id, "%032x", 0xc02);
	c2.doctor_id = doc2;
	c2.created = 110;
	snprintf(c3.id, sizeof c3.id, "%032x", 0xc03);
	c3.created = 120;
	c3.expires = 2000;
	int64_t before = audit_count(s);
	mcd_audit_event ev = ev_of("consent_request", c.id);
	CHECK(s->ops->consent_create(s, &c, &ev) == MCD_STORE_OK, "create");
	CHECK(s->ops->consent_create(s, &c, &ev) == MCD_STORE_CONFLICT, "the id is taken");
	mcd_consent ghost = c;
	snprintf(ghost.id, sizeof ghost.id, "%032x", 0xc09);
	ghost.doctor_id = 999999;
	CHECK(s->ops->consent_create(s, &ghost, &ev) == MCD_STORE_NOT_FOUND, "an unknown party");
	CHECK(s->ops->consent_create(s, &c2, &ev) == MCD_STORE_OK &&
	          s->ops->consent_create(s, &c3, &ev) == MCD_STORE_OK,
	      "two more");
	CHECK(audit_count(s) == before + 3, "three records");

	mcd_consent *got = NULL;
	CHECK(s->ops->consent_get(s, c.id, &got) == MCD_STORE_OK && got, "get");
	if (got) {
		CHECK(got->patient_id == pat && got->doctor_id == doc && !strcmp(got->patient, "cs-pat") &&
		          !strcmp(got->doctor, "cs-doc") && got->created == 100 && got->expires == 500,
		      "fields");
		CHECK(!strcmp(got->status, "pending") && got->decided == 0 && got->images == 0, "pending");
		CHECK(got->sealed_len == sizeof sealed && !memcmp(got->sealed, sealed, sizeof sealed), "sealed bytes");
		CHECK(!strcmp(mcd_consent_status_at(got, 499), "pending") &&
		          !strcmp(mcd_consent_status_at(got, 500), "expired"),
		      "expired at its expiry");
	}
	mcd_consent_free(got);
	got = NULL;
	CHECK(s->ops->consent_get(s, "0123", &got) == MCD_STORE_NOT_FOUND && !got, "unknown id");

	name_list all = {0};
	CHECK(s->ops->consents_for_user(s, pat, NULL, 1000, collect_consent, &all) == MCD_STORE_OK && all.n == 3,
	      "the patient's three");
	CHECK(!strcmp(all.list[0], "00000c03 pending") && !strcmp(all.list[2], "00000c01 expired"),
	      "newest first, read at 1000: %s, %s", all.list[0], all.list[2]);
	name_list expired = {0};
	s->ops->consents_for_user(s, pat, "expired", 1000, collect_consent, &expired);
	CHECK(expired.n == 2, "two expired at 1000");
	name_list pending = {0};
	s->ops->consents_for_user(s, doc, "pending", 1000, collect_consent, &pending);
	CHECK(pending.n == 1 && !strcmp(pending.list[0], "00000c03 pending"), "the doctor's pending one");
	name_list other = {0};
	s->ops->consents_for_user(s, pat2, NULL, 1000, collect_consent, &other);
	CHECK(other.n == 0, "another patient has none");

	/* Decisions check the state inside the transaction. */
	int64_t added = -1;
	size_t bad = 99;
	ev = ev_of("consent_approve", c.id);
	CHECK(s->ops->consent_approve(s, c.id, pat, 600, NULL, 0, &bad, &added, &ev) == MCD_STORE_CONFLICT,
	      "past its expiry");
	CHECK(s->ops->consent_deny(s, c.id, pat, 600, &ev) == MCD_STORE_CONFLICT, "no denial past expiry either");
	CHECK(s->ops->consent_approve(s, c3.id, doc, 600, NULL, 0, &bad, &added, &ev) == MCD_STORE_NOT_FOUND,
	      "only its patient approves");
	uint8_t wb[3][20];
	memset(wb, 0x44, sizeof wb);
	mcd_consent_wrap ws[3] = {{i1, wb[0], 20}, {i3, wb[1], 20}, {i2, wb[2], 20}};
	before = audit_count(s);
	CHECK(s->ops->consent_approve(s, c3.id, pat, 600, ws, 3, &bad, &added, &ev) == MCD_STORE_NOT_FOUND && bad == 1,
	      "an image about another patient: NOT_FOUND at entry 1 (%zu)", bad);
	ws[1].image_id = i4;
	CHECK(s->ops->consent_approve(s, c3.id, pat, 600, ws, 3, &bad, &added, &ev) == MCD_STORE_NOT_FOUND && bad == 1,
	      "an image about no patient: NOT_FOUND");
	CHECK(audit_count(s) == before && raw_count("SELECT count(*) FROM wraps WHERE consent_id IS NOT NULL") == 0,
	      "all or nothing: no wrap, no record");
	ws[1].image_id = i1; /* twice: the second is skipped */
	CHECK(s->ops->consent_approve(s, c3.id, pat, 600, ws, 3, &bad, &added, &ev) == MCD_STORE_OK && added == 2,
	      "approved, two wraps (%lld)", (long long)added);
	CHECK(raw_count("SELECT count(*) FROM audit WHERE action = 'consent_approve' AND detail = '{\"images\":2}'") ==
	          1,
	      "audited with the count");
	CHECK(s->ops->consent_get(s, c3.id, &got) == MCD_STORE_OK && !strcmp(got->status, "approved") &&
	          got->decided == 600 && got->images == 2,
	      "approved at 600 with two images");
	mcd_consent_free(got);
	got = NULL;
	bool yes = false;
	CHECK(s->ops->has_consent(s, pat, doc, &yes) == MCD_STORE_OK && yes, "a consent stands");
	CHECK(s->ops->consent_approve(s, c3.id, pat, 700, NULL, 0, &bad, &added, &ev) == MCD_STORE_CONFLICT,
	      "approved already");
	CHECK(s->ops->consent_deny(s, c3.id, pat, 700, &ev) == MCD_STORE_CONFLICT, "no denial once approved");
	CHECK(s->ops->consent_withdraw(s, c3.id, doc, 700, NULL, &ev) == MCD_STORE_CONFLICT,
	      "the doctor withdraws only a pending request");
	CHECK(s->ops->consent_withdraw(s, c3.id, pat2, 700, NULL, &ev) == MCD_STORE_NOT_FOUND, "a stranger: NOT_FOUND");
	mcd_wrap *w = NULL;
	CHECK(s->ops->wrap_get(s, i2, doc, &w) == MCD_STORE_OK && w && w->granted_by == pat, "the doctor holds it");
	mcd_wrap_free(w);
	w = NULL;
	int64_t deleted = -1;
	ev = ev_of("consent_withdraw", c3.id);
	CHECK(s->ops->consent_withdraw(s, c3.id, pat, 800, &deleted, &ev) == MCD_STORE_OK && deleted == 2,
	      "the patient withdraws: two wraps deleted");
	CHECK(s->ops->wrap_get(s, i2, doc, &w) == MCD_STORE_NOT_FOUND, "gone");
	CHECK(s->ops->consent_get(s, c3.id, &got) == MCD_STORE_OK && !strcmp(got->status, "withdrawn") &&
	          got->images == 0 && got->decided == 800,
	      "withdrawn, no image");
	mcd_consent_free(got);
	got = NULL;
	CHECK(s->ops->consent_withdraw(s, c3.id, pat, 900, NULL, &ev) == MCD_STORE_CONFLICT, "withdrawn once");

	/* c2 (doc2): denied; a doctor's own withdrawal of a pending one. */
	CHECK(s->ops->consent_deny(s, c2.id, pat, 200, &ev) == MCD_STORE_OK, "deny");
	CHECK(s->ops->consent_get(s, c2.id, &got) == MCD_STORE_OK && !strcmp(got->status, "denied") &&
	          got->decided == 200,
	      "denied");
	mcd_consent_free(got);
	got = NULL;
	CHECK(s->ops->has_consent(s, pat, doc2, &yes) == MCD_STORE_OK && !yes, "a denial grants nothing");
	mcd_consent c4 = c;
	snprintf(c4.id, sizeof c4.id, "%032x", 0xc04);
	c4.expires = 3000;
	ev = ev_of("consent_request", c4.id);
	CHECK(s->ops->consent_create(s, &c4, &ev) == MCD_STORE_OK, "a fourth");
	CHECK(s->ops->consent_withdraw(s, c4.id, doc, 3000, NULL, &ev) == MCD_STORE_CONFLICT,
	      "not once it has expired");
	CHECK(s->ops->consent_withdraw(s, c4.id, doc, 2999, &deleted, &ev) == MCD_STORE_OK && deleted == 0,
	      "the doctor withdraws the request");
	CHECK(raw_count(
	          "SELECT count(*) FROM consents WHERE status NOT IN ('pending','approved','denied','withdrawn')") == 0,
	      "expired is never stored");
	mcd_audit_event noact = ev_of(NULL, c.id);
	mcd_consent c5 = c;
	snprintf(c5.id, sizeof c5.id, "%032x", 0xc05);
	CHECK(s->ops->consent_create(s, &c5, &noact) == MCD_STORE_ERROR, "unauditable: refused");
	CHECK(s->ops->consent_get(s, c5.id, &got) == MCD_STORE_NOT_FOUND, "and rolled back");
	(void)tech;
}

int main(void)
{
	mcd_log_set_level(MCD_LOG_ERROR);
	char dir[256];
	scratch_dir(dir);
	snprintf(db_path, sizeof db_path, "%s/medcryptd.db", dir);
	test_migrations(dir);
	mcd_store *s = mcd_store_sqlite_open(db_path, NULL);
	CHECK(s != NULL, "open");
	if (!s)
		return check_summary("store");
	test_users(s);
	test_users_list(s);
	test_invitations(s);
	test_appointments(s);
	test_messages(s);
	test_sessions(s);
	test_throttle(s);
	test_images(s);
	test_checkpoint_add(s);
	test_bad_events(s);
	test_partials(s);
	test_patient_images(s);
	test_dismissal(s);
	test_consents(s);
	bool ok = false;
	CHECK(s->ops->integrity_check(s, &ok) == MCD_STORE_OK && ok, "integrity_check");
	s->ops->close(s);
	test_threads(dir);
	scratch_remove(dir);
	return check_summary("store");
}
