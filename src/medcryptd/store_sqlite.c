/*
 * store_sqlite.c: the metadata store of store.h on SQLite 3.40. One writer connection, guarded
 * by a mutex, runs every change as BEGIN IMMEDIATE … COMMIT with synchronous=FULL, so an
 * acknowledged change (and the audit record it carries, appended in the same transaction with
 * its chained hash and, every MCD_AUDIT_CHECKPOINT_EVERY records, a signed checkpoint) survives
 * kill -9 and power loss; audit records appended on their own (downloads) are group-committed,
 * several callers' records in one transaction, so they share an fsync. A small pool of reader
 * connections (WAL lets them read while the writer commits) serves lookups and listings. Every
 * statement is a constant SQL text prepared once per connection and cached; values are only
 * ever bound. The schema is versioned: each migration runs in its own transaction when the store
 * opens, and a database newer than this code is refused. secure_delete is on, so deleted wraps
 * and sessions are overwritten in the database file rather than left in free pages
 * (crypto-shredding; see SECURITY.md for the WAL).
 *
 * Threads: any thread may call any operation. A listing's callback runs while its thread holds
 * a reader connection; a read operation it calls reuses that connection (a thread-local note of
 * the held reader), so nesting cannot exhaust the pool, and a write operation it calls takes the
 * writer, which a reading thread never holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "store.h"

#define N_READERS       4
#define BUSY_TIMEOUT_MS 5000

/* ---- schema ---- */

/* Migration N (1-based) brings the schema from version N-1 to N. Never edit a shipped one:
 * append a new one. */
static const char *const migrations[] = {
    /* 1: the first schema (issue 4). */
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " username TEXT NOT NULL UNIQUE,"
    " display_name TEXT NOT NULL,"
    " role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),"
    " enc_public_pem TEXT NOT NULL,"
    " sign_public_pem TEXT NOT NULL,"
    " enc_fp BLOB NOT NULL UNIQUE CHECK (length(enc_fp) = 32),"
    " sign_fp BLOB NOT NULL UNIQUE CHECK (length(sign_fp) = 32),"
    " kdf_salt BLOB NOT NULL CHECK (length(kdf_salt) = 16),"
    " kdf_t INTEGER NOT NULL, kdf_m INTEGER NOT NULL, kdf_p INTEGER NOT NULL,"
    " auth_hash TEXT NOT NULL,"
    " wrapped_password BLOB NOT NULL,"
    " wrapped_recovery BLOB NOT NULL,"
    " created INTEGER NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)));"
    "CREATE TABLE invitations("
    " code_hash BLOB PRIMARY KEY CHECK (length(code_hash) = 32),"
    " role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),"
    " expires INTEGER NOT NULL,"
    " created_by INTEGER NOT NULL," /* 0: the server at first start */
    " used_by INTEGER REFERENCES users(id),"
    " used_at INTEGER);"
    "CREATE TABLE sessions("
    " token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " reauth_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE throttle("
    " key TEXT PRIMARY KEY,"
    " failures INTEGER NOT NULL, lockouts INTEGER NOT NULL, locked_until INTEGER NOT NULL);"
    /* n orders the images (newest first) and is what wraps point at; VACUUM keeps it. */
    "CREATE TABLE images("
    " n INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE CHECK (length(id) = 32),"
    " sender_id INTEGER NOT NULL REFERENCES users(id),"
    " blob_sha256 BLOB NOT NULL CHECK (length(blob_sha256) = 32),"
    " size INTEGER NOT NULL,"
    " header BLOB NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX images_sender ON images(sender_id, n);"
    "CREATE INDEX images_blob ON images(blob_sha256);"
    "CREATE TABLE wraps("
    " image_n INTEGER NOT NULL REFERENCES images(n) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " granted_by INTEGER NOT NULL REFERENCES users(id),"
    " wrap BLOB NOT NULL,"
    " UNIQUE (image_n, user_id));"
    "CREATE INDEX wraps_user ON wraps(user_id, image_n);"
    "CREATE TABLE audit("
    " seq INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL, address TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL,"
    " outcome TEXT NOT NULL, detail TEXT NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE TABLE checkpoints("
    " seq INTEGER PRIMARY KEY,"
    " hash BLOB NOT NULL,"
    " sig BLOB NOT NULL);",
    /* 2: resumable uploads (API.md §15a). received < length: the last byte completes the
     * upload, which then becomes an image (or is refused) and its row goes. */
    "CREATE TABLE partials("
    " id TEXT PRIMARY KEY CHECK (length(id) = 32),"
    " owner_id INTEGER NOT NULL REFERENCES users(id),"
    " length INTEGER NOT NULL CHECK (length > 0),"
    " received INTEGER NOT NULL CHECK (received >= 0 AND received < length),"
    " metadata TEXT,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX partials_owner ON partials(owner_id, expires);"
    "CREATE INDEX partials_expires ON partials(expires);",
    /* 3: invitations get an id and a creation time, so the admin can list the pending ones and
     * cancel one (API.md §13). Existing rows get a random id; their creation time is unknown (0). */
    "ALTER TABLE invitations ADD COLUMN id TEXT CHECK (id IS NULL OR length(id) = 32);"
    "ALTER TABLE invitations ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
    "UPDATE invitations SET id = lower(hex(randomblob(16)));"
    "CREATE UNIQUE INDEX invitations_id ON invitations(id);",
    /* 4: appointments (API.md §16a, issue 12): which patient appointed which doctor, as user
     * ids only; the names stay in users. */
    "CREATE TABLE appointments("
    " patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " doctor_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " PRIMARY KEY (patient_id, doctor_id),"
    " CHECK (patient_id <> doctor_id)) WITHOUT ROWID;"
    "CREATE INDEX appointments_doctor ON appointments(doctor_id, patient_id);",
    /* 5: sealed messages (API.md §16b, issue 12): the sealed container (at most
     * MCD_MESSAGE_MAX bytes, so a column) with who, when, which thread and whether read; never
     * the text. n orders them and pages listings, as images.n does. */
    "CREATE TABLE messages("
    " n INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE CHECK (length(id) = 32),"
    " thread_id TEXT NOT NULL CHECK (length(thread_id) = 32),"
    " sender_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " recipient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " read_at INTEGER,"
    " sealed BLOB NOT NULL);"
    "CREATE INDEX messages_sender ON messages(sender_id, n);"
    "CREATE INDEX messages_recipient ON messages(recipient_id, n);"
    "CREATE INDEX messages_thread ON messages(thread_id, n);",
    /* 6: an optional e-mail address for notice mails (API.md §16, §18), set by the admin;
     * shown to the admin only. */
    "ALTER TABLE users ADD COLUMN email TEXT CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254);",
    /* 7: the patient of an image, the de-identified mark, and consents (API.md §15, §16c, issue
     * 12). The server learns which patient account an image is about, never a PatientID or any
     * metadata value; a consent's scope and reason are inside its sealed request. A wrap made
     * by a patient's client under a consent names it, so withdrawing the consent deletes them.
     * "expired" is never stored: a pending consent past its expiry reads so. */
    "ALTER TABLE images ADD COLUMN patient_id INTEGER REFERENCES users(id);"
    "ALTER TABLE images ADD COLUMN deidentified INTEGER NOT NULL DEFAULT 0 CHECK (deidentified IN (0, 1));"
    "CREATE INDEX images_patient ON images(patient_id, n);"
    "ALTER TABLE wraps ADD COLUMN consent_id TEXT;"
    "CREATE INDEX wraps_consent ON wraps(consent_id) WHERE consent_id IS NOT NULL;"
    "CREATE TABLE consents("
    " n INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE CHECK (length(id) = 32),"
    " patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " doctor_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'withdrawn')),"
    " decided INTEGER,"
    " sealed BLOB NOT NULL,"
    " CHECK (patient_id <> doctor_id));"
    "CREATE INDEX consents_patient ON consents(patient_id, doctor_id, n);"
    "CREATE INDEX consents_doctor ON consents(doctor_id, n);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- statements ---- */

#define USER_COLS                                                                                                      \
	"id, username, display_name, role, enc_public_pem, sign_public_pem, enc_fp, sign_fp, kdf_salt, kdf_t, kdf_m, " \
	"kdf_p, auth_hash, wrapped_password, wrapped_recovery, created, disabled"
#define PARTIAL_COLS "id, owner_id, length, received, metadata, created, expires"
/* Invitations with their creator's name (NULL for the server: created_by 0 is no user). */
#define INVITATION_SELECT                                                                                              \
	"SELECT i.id, i.role, i.created, i.expires, i.created_by, u.username FROM invitations i "                      \
	"LEFT JOIN users u ON u.id = i.created_by "
#define IMAGE_COLS                                                                                                     \
	"i.id, i.sender_id, u.username, i.blob_sha256, i.size, i.header, i.created, coalesce(i.patient_id, 0), "       \
	"p.username, i.deidentified"
#define IMAGE_FROM     "FROM images i JOIN users u ON u.id = i.sender_id LEFT JOIN users p ON p.id = i.patient_id "
#define IMAGE_WRAP_COL 10 /* the caller's wrap (user_id, granted_by, wrap) after IMAGE_COLS */
#define CONSENT_COLS                                                                                                   \
	"c.id, c.patient_id, c.doctor_id, up.username, ud.username, c.created, c.expires, c.status, "                  \
	"coalesce(c.decided, 0), (SELECT count(*) FROM wraps w WHERE w.consent_id = c.id), c.sealed"
#define CONSENT_FROM "FROM consents c JOIN users up ON up.id = c.patient_id JOIN users ud ON ud.id = c.doctor_id "
#define MESSAGE_COLS                                                                                                   \
	"m.id, m.thread_id, m.sender_id, us.username, m.recipient_id, ur.username, m.created, m.size, "                \
	"coalesce(m.read_at, 0)"
#define MESSAGE_FROM "FROM messages m JOIN users us ON us.id = m.sender_id JOIN users ur ON ur.id = m.recipient_id "

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST_HEALTH,
	ST_INTEGRITY,
	ST_FK_CHECK,
	ST_VERSION,
	ST_VERSION_ADD,
	ST_USER_INSERT,
	ST_USER_BY_NAME,
	ST_USER_BY_ID,
	ST_USER_BY_ENC_FP,
	ST_USERS_LIST,
	ST_USER_EXISTS,
	ST_USER_SET_ROLE,
	ST_USER_SET_DISABLED,
	ST_USERS_COUNT,
	ST_USER_EMAIL_GET,
	ST_USER_EMAIL_SET,
	ST_INV_GET,
	ST_INV_USE,
	ST_INV_INSERT,
	ST_INV_PENDING,
	ST_INV_BY_ID,
	ST_INV_DELETE,
	ST_SES_INSERT,
	ST_SES_GET,
	ST_SES_TOUCH,
	ST_SES_REAUTH,
	ST_SES_DELETE,
	ST_SES_DELETE_USER,
	ST_SES_EXPIRE,
	ST_THR_GET,
	ST_THR_PUT,
	ST_THR_DELETE,
	ST_IMG_INSERT,
	ST_IMG_GET,
	ST_IMG_N,
	ST_IMGS_FOR_USER,
	ST_IMG_DELETE,
	ST_BLOB_REFERENCED,
	ST_WRAP_INSERT,
	ST_WRAP_GET,
	ST_WRAP_DELETE,
	ST_RECIPIENTS,
	ST_AUDIT_HEAD,
	ST_AUDIT_INSERT,
	ST_AUDIT_LIST,
	ST_AUDIT_HASH_AT,
	ST_CP_INSERT,
	ST_CP_GET,
	ST_CP_LIST,
	ST_PART_COUNT,
	ST_PART_INSERT,
	ST_PART_GET,
	ST_PART_ADVANCE,
	ST_PART_DELETE,
	ST_PART_EXPIRED,
	ST_APPT_INSERT,
	ST_APPT_DELETE,
	ST_APPT_GET,
	ST_APPTS_OF_PATIENT,
	ST_APPTS_OF_DOCTOR,
	ST_MSG_INSERT,
	ST_MSG_GET,
	ST_MSGS_FOR_USER,
	ST_MSG_READ,
	ST_IMGS_ABOUT,
	ST_DISMISS_WRAPS,
	ST_DISMISS_CONSENTS,
	ST_CONSENT_INSERT,
	ST_CONSENT_GET,
	ST_CONSENTS_FOR_USER,
	ST_CONSENT_HAS,
	ST_CONSENT_STATE,
	ST_CONSENT_SET,
	ST_CONSENT_IMAGE,
	ST_CONSENT_WRAP_INSERT,
	ST_CONSENT_WRAPS_DELETE,
	ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [ST_HEALTH] = "SELECT count(*) FROM schema_version",
    [ST_INTEGRITY] = "PRAGMA integrity_check",
    [ST_FK_CHECK] = "PRAGMA foreign_key_check",
    [ST_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
    [ST_VERSION_ADD] = "INSERT INTO schema_version(version, applied) VALUES (?1, strftime('%s', 'now'))",
    [ST_USER_INSERT] = "INSERT INTO users(username, display_name, role, enc_public_pem, sign_public_pem, enc_fp, "
                       "sign_fp, kdf_salt, kdf_t, kdf_m, kdf_p, auth_hash, wrapped_password, wrapped_recovery, "
                       "created, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                       "?15, ?16)",
    [ST_USER_BY_NAME] = "SELECT " USER_COLS " FROM users WHERE username = ?1",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_BY_ENC_FP] = "SELECT " USER_COLS " FROM users WHERE enc_fp = ?1 AND disabled = 0",
    [ST_USERS_LIST] = "SELECT " USER_COLS " FROM users WHERE (?2 = 1 OR disabled = 0) AND (?1 = 0 OR role = ?1) "
                      "ORDER BY username",
    [ST_USER_EXISTS] = "SELECT 1 FROM users WHERE id = ?1",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = ?2 WHERE id = ?1",
    [ST_USER_SET_DISABLED] = "UPDATE users SET disabled = ?2 WHERE id = ?1",
    [ST_USERS_COUNT] = "SELECT count(*) FROM users",
    [ST_USER_EMAIL_GET] = "SELECT email FROM users WHERE id = ?1",
    [ST_USER_EMAIL_SET] = "UPDATE users SET email = ?2 WHERE id = ?1",
    [ST_INV_GET] = "SELECT role, expires, used_by IS NOT NULL FROM invitations WHERE code_hash = ?1",
    [ST_INV_USE] = "UPDATE invitations SET used_by = ?2, used_at = ?3 WHERE code_hash = ?1 AND used_by IS NULL",
    [ST_INV_INSERT] = "INSERT INTO invitations(code_hash, id, role, created, expires, created_by) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_INV_PENDING] = INVITATION_SELECT "WHERE i.used_by IS NULL AND i.expires > ?1 "
                                         "ORDER BY i.created, i.rowid",
    [ST_INV_BY_ID] = INVITATION_SELECT "WHERE i.id = ?1 AND i.used_by IS NULL",
    [ST_INV_DELETE] = "DELETE FROM invitations WHERE id = ?1 AND used_by IS NULL",
    [ST_SES_INSERT] = "INSERT INTO sessions(token_hash, user_id, created, last_seen, expires, reauth_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SES_GET] = "SELECT user_id, created, last_seen, expires, reauth_at FROM sessions WHERE token_hash = ?1",
    [ST_SES_TOUCH] = "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
    [ST_SES_REAUTH] = "UPDATE sessions SET reauth_at = ?2 WHERE token_hash = ?1",
    [ST_SES_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [ST_SES_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
    [ST_SES_EXPIRE] = "DELETE FROM sessions WHERE last_seen < ?1 OR expires <= ?2",
    [ST_THR_GET] = "SELECT failures, lockouts, locked_until FROM throttle WHERE key = ?1",
    [ST_THR_PUT] = "INSERT INTO throttle(key, failures, lockouts, locked_until) VALUES (?1, ?2, ?3, ?4) "
                   "ON CONFLICT(key) DO UPDATE SET failures = ?2, lockouts = ?3, locked_until = ?4",
    [ST_THR_DELETE] = "DELETE FROM throttle WHERE key = ?1",
    [ST_IMG_INSERT] = "INSERT INTO images(id, sender_id, blob_sha256, size, header, created, patient_id, deidentified) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_IMG_GET] = "SELECT " IMAGE_COLS " " IMAGE_FROM "WHERE i.id = ?1",
    [ST_IMG_N] = "SELECT n, blob_sha256 FROM images WHERE id = ?1",
    /* Each branch walks an index newest first and stops at the limit, so a page costs the same
     * however many images the user has. */
    [ST_IMGS_FOR_USER] =
        "SELECT " IMAGE_COLS ", w.user_id, w.granted_by, w.wrap " IMAGE_FROM
        "LEFT JOIN wraps w ON w.image_n = i.n AND w.user_id = ?1 "
        "WHERE i.n IN (SELECT n FROM (SELECT n FROM images WHERE sender_id = ?1 AND n < ?2 ORDER BY n DESC LIMIT ?3) "
        "UNION ALL SELECT image_n FROM (SELECT image_n FROM wraps WHERE user_id = ?1 AND image_n < ?2 "
        "ORDER BY image_n DESC LIMIT ?3)) "
        "ORDER BY i.n DESC LIMIT ?3",
    [ST_IMG_DELETE] = "DELETE FROM images WHERE n = ?1",
    [ST_BLOB_REFERENCED] = "SELECT EXISTS (SELECT 1 FROM images WHERE blob_sha256 = ?1)",
    [ST_WRAP_INSERT] = "INSERT INTO wraps(image_n, user_id, granted_by, wrap) VALUES (?1, ?2, ?3, ?4)",
    [ST_WRAP_GET] = "SELECT w.user_id, w.granted_by, w.wrap FROM wraps w JOIN images i ON i.n = w.image_n "
                    "WHERE i.id = ?1 AND w.user_id = ?2",
    [ST_WRAP_DELETE] = "DELETE FROM wraps WHERE image_n = ?1 AND user_id = ?2",
    [ST_RECIPIENTS] = "SELECT u.username FROM wraps w JOIN users u ON u.id = w.user_id WHERE w.image_n = ?1 "
                      "ORDER BY u.username",
    [ST_AUDIT_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [ST_AUDIT_INSERT] = "INSERT INTO audit(seq, time, actor, address, action, object, outcome, detail, hash) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_AUDIT_LIST] = "SELECT seq, time, actor, address, action, object, outcome, detail, hash FROM audit "
                      "WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_AUDIT_HASH_AT] = "SELECT hash FROM audit WHERE seq = ?1",
    [ST_CP_INSERT] = "INSERT INTO checkpoints(seq, hash, sig) VALUES (?1, ?2, ?3)",
    [ST_CP_GET] = "SELECT hash FROM checkpoints WHERE seq = ?1",
    [ST_CP_LIST] = "SELECT seq, hash, sig FROM checkpoints ORDER BY seq",
    [ST_PART_COUNT] = "SELECT count(*) FROM partials WHERE owner_id = ?1 AND expires > ?2",
    [ST_PART_INSERT] = "INSERT INTO partials(id, owner_id, length, received, metadata, created, expires) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PART_GET] = "SELECT " PARTIAL_COLS " FROM partials WHERE id = ?1",
    [ST_PART_ADVANCE] = "UPDATE partials SET received = ?2, expires = ?3 WHERE id = ?1",
    [ST_PART_DELETE] = "DELETE FROM partials WHERE id = ?1",
    [ST_PART_EXPIRED] = "SELECT " PARTIAL_COLS " FROM partials WHERE expires <= ?1 ORDER BY expires, id",
    [ST_APPT_INSERT] = "INSERT INTO appointments(patient_id, doctor_id, created) VALUES (?1, ?2, ?3)",
    [ST_APPT_DELETE] = "DELETE FROM appointments WHERE patient_id = ?1 AND doctor_id = ?2",
    [ST_APPT_GET] = "SELECT created FROM appointments WHERE patient_id = ?1 AND doctor_id = ?2",
    /* Both listings: patient_id, doctor_id, created, then the other party's name, display
     * name and disabled flag. */
    [ST_APPTS_OF_PATIENT] = "SELECT a.patient_id, a.doctor_id, a.created, u.username, u.display_name, u.disabled "
                            "FROM appointments a JOIN users u ON u.id = a.doctor_id WHERE a.patient_id = ?1 "
                            "ORDER BY a.created, u.username",
    [ST_APPTS_OF_DOCTOR] = "SELECT a.patient_id, a.doctor_id, a.created, u.username, u.display_name, u.disabled "
                           "FROM appointments a JOIN users u ON u.id = a.patient_id WHERE a.doctor_id = ?1 "
                           "ORDER BY a.created, u.username",
    [ST_MSG_INSERT] = "INSERT INTO messages(id, thread_id, sender_id, recipient_id, created, size, sealed) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_MSG_GET] = "SELECT " MESSAGE_COLS ", m.sealed " MESSAGE_FROM "WHERE m.id = ?1",
    /* ?2: the thread or NULL; ?3: the id to page before or NULL; ?5: unread only. */
    [ST_MSGS_FOR_USER] =
        "SELECT " MESSAGE_COLS " " MESSAGE_FROM "WHERE m.n IN (SELECT n FROM messages WHERE sender_id = ?1 "
        "UNION ALL SELECT n FROM messages WHERE recipient_id = ?1) "
        "AND (?2 IS NULL OR m.thread_id = ?2) "
        "AND m.n < coalesce((SELECT n FROM messages WHERE id = ?3), 9223372036854775807) "
        "AND (?5 = 0 OR (m.recipient_id = ?1 AND m.read_at IS NULL)) "
        "ORDER BY m.n DESC LIMIT ?4",
    [ST_MSG_READ] = "UPDATE messages SET read_at = ?3 WHERE id = ?1 AND recipient_id = ?2 AND read_at IS NULL",
    /* The patient's images walk images_patient newest first; ?4 is the patient. */
    [ST_IMGS_ABOUT] = "SELECT " IMAGE_COLS ", w.user_id, w.granted_by, w.wrap " IMAGE_FROM
                      "LEFT JOIN wraps w ON w.image_n = i.n AND w.user_id = ?1 "
                      "WHERE i.patient_id = ?4 AND i.n < ?2 AND (i.sender_id = ?1 OR w.user_id IS NOT NULL) "
                      "ORDER BY i.n DESC LIMIT ?3",
    /* Dismissal: ?1 the patient, ?2 the doctor, ?3 the time. */
    [ST_DISMISS_WRAPS] = "DELETE FROM wraps WHERE user_id = ?2 AND image_n IN "
                         "(SELECT n FROM images WHERE patient_id = ?1 AND sender_id <> ?2)",
    [ST_DISMISS_CONSENTS] = "UPDATE consents SET status = 'withdrawn', decided = ?3 "
                            "WHERE patient_id = ?1 AND doctor_id = ?2 AND status = 'approved'",
    [ST_CONSENT_INSERT] = "INSERT INTO consents(id, patient_id, doctor_id, created, expires, status, sealed) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
    [ST_CONSENT_GET] = "SELECT " CONSENT_COLS " " CONSENT_FROM "WHERE c.id = ?1",
    /* ?2: the status as read at ?3 (NULL: any); "pending" and "expired" split the stored
     * pending by the expiry. */
    [ST_CONSENTS_FOR_USER] =
        "SELECT " CONSENT_COLS " " CONSENT_FROM "WHERE c.n IN (SELECT n FROM consents WHERE patient_id = ?1 "
        "UNION ALL SELECT n FROM consents WHERE doctor_id = ?1) AND (?2 IS NULL "
        "OR (?2 = 'expired' AND c.status = 'pending' AND c.expires <= ?3) "
        "OR (?2 = 'pending' AND c.status = 'pending' AND c.expires > ?3) "
        "OR (?2 NOT IN ('pending', 'expired') AND c.status = ?2)) ORDER BY c.n DESC",
    [ST_CONSENT_HAS] = "SELECT EXISTS (SELECT 1 FROM consents WHERE patient_id = ?1 AND doctor_id = ?2 "
                       "AND status = 'approved')",
    [ST_CONSENT_STATE] = "SELECT patient_id, doctor_id, status, expires FROM consents WHERE id = ?1",
    [ST_CONSENT_SET] = "UPDATE consents SET status = ?2, decided = ?3 WHERE id = ?1",
    /* An image about patient ?2 that the patient sent or holds a wrap of. */
    [ST_CONSENT_IMAGE] = "SELECT i.n FROM images i WHERE i.id = ?1 AND i.patient_id = ?2 AND (i.sender_id = ?2 OR "
                         "EXISTS (SELECT 1 FROM wraps w WHERE w.image_n = i.n AND w.user_id = ?2))",
    [ST_CONSENT_WRAP_INSERT] = "INSERT INTO wraps(image_n, user_id, granted_by, wrap, consent_id) "
                               "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(image_n, user_id) DO NOTHING",
    [ST_CONSENT_WRAPS_DELETE] = "DELETE FROM wraps WHERE consent_id = ?1",
};

/* ---- connections ---- */

typedef struct conn {
	sqlite3 *db;
	pthread_mutex_t mu;
	sqlite3_stmt *st[ST_N];
	int depth;              /* nested read operations of the thread holding it */
	struct sq_store *owner; /* readers: their store */
	struct conn *prev_held; /* readers: what the holding thread held before */
} conn;

/* A caller of audit_append waiting for its record to be committed (group commit). */
struct audit_waiter {
	const mcd_audit_event *ev;
	mcd_store_status status;
	bool done;
	struct audit_waiter *next;
};

typedef struct sq_store {
	mcd_store base;
	mcd_audit_signer *signer;
	conn writer;
	conn readers[N_READERS];
	atomic_uint next_reader;
	/* audit_append's queue: group_mu guards the list and the leader flag. */
	pthread_mutex_t group_mu;
	pthread_cond_t group_cv;
	struct audit_waiter *group_head, **group_tail;
	bool group_leader;
} sq_store;

/* The reader connection this thread holds, for nested read operations from a callback. */
static _Thread_local conn *held_reader;

static sq_store *sq(mcd_store *s)
{
	return (sq_store *)s;
}

static mcd_store_status db_fail(conn *c, const char *what)
{
	int rc = sqlite3_extended_errcode(c->db);
	mcd_log(MCD_LOG_ERROR, "store", "%s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
	return (rc & 0xff) == SQLITE_NOMEM ? MCD_STORE_NOMEM : MCD_STORE_ERROR;
}

/* The cached statement id, prepared on first use. A statement that is running already (a
 * callback nested a second use of it on the same connection) gets a one-off copy, finalized by
 * q_done. NULL on failure, logged. */
static sqlite3_stmt *q(conn *c, enum stmt_id id)
{
	sqlite3_stmt *st = c->st[id];
	if (st && !sqlite3_stmt_busy(st))
		return st;
	sqlite3_stmt *fresh = NULL;
	int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, st ? 0 : SQLITE_PREPARE_PERSISTENT, &fresh, NULL);
	if (rc != SQLITE_OK) {
		db_fail(c, "prepare");
		return NULL;
	}
	if (!st)
		c->st[id] = fresh;
	return fresh;
}

static void q_done(conn *c, enum stmt_id id, sqlite3_stmt *st)
{
	if (!st)
		return;
	if (st == c->st[id]) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	} else {
		sqlite3_finalize(st);
	}
}

static conn *reader_get(sq_store *s)
{
	conn *c = held_reader;
	if (c && c->owner == s) {
		c->depth++;
		return c;
	}
	unsigned start = atomic_fetch_add(&s->next_reader, 1);
	c = NULL;
	for (unsigned i = 0; i < N_READERS && !c; i++) {
		conn *cand = &s->readers[(start + i) % N_READERS];
		if (pthread_mutex_trylock(&cand->mu) == 0)
			c = cand;
	}
	if (!c) {
		c = &s->readers[start % N_READERS];
		pthread_mutex_lock(&c->mu);
	}
	c->depth = 1;
	c->prev_held = held_reader;
	held_reader = c;
	return c;
}

static void reader_put(conn *c)
{
	if (--c->depth > 0)
		return;
	held_reader = c->prev_held;
	c->prev_held = NULL;
	pthread_mutex_unlock(&c->mu);
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int exec_id(conn *c, enum stmt_id id)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return SQLITE_ERROR;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	q_done(c, id, st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- binding and reading columns ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* An empty byte string binds as an empty BLOB, never NULL. */
static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n == 0 || !p)
		sqlite3_bind_zeroblob(st, i, 0);
	else
		sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/* Copies a fixed-size column; false when its length differs (the row is damaged). */
static bool col_fixed(sqlite3_stmt *st, int i, uint8_t *out, size_t n)
{
	const void *p = sqlite3_column_blob(st, i);
	size_t len = (size_t)sqlite3_column_bytes(st, i);
	if (!p || len != n) {
		memset(out, 0, n);
		return false;
	}
	memcpy(out, p, n);
	return true;
}

static char *dup_text(const char *t)
{
	return strdup(t ? t : "");
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* ---- stepping statements ---- */

/* A reader connection (into *c) with its cached statement id; NULL, with the reader released and
 * the failure logged, when the statement cannot be prepared. read_end gives both back. */
static sqlite3_stmt *read_begin(sq_store *s, enum stmt_id id, conn **c)
{
	*c = reader_get(s);
	sqlite3_stmt *st = q(*c, id);
	if (!st)
		reader_put(*c);
	return st;
}

/* Resets the statement of read_begin and releases its reader; returns r. */
static mcd_store_status read_end(conn *c, enum stmt_id id, sqlite3_stmt *st, mcd_store_status r)
{
	q_done(c, id, st);
	reader_put(c);
	return r;
}

/* Steps a statement that selects at most one row: OK with the row in st, NOT_FOUND when there
 * is none, otherwise the failure (logged with what). */
static mcd_store_status step_row(conn *c, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	return rc == SQLITE_ROW ? MCD_STORE_OK : rc == SQLITE_DONE ? MCD_STORE_NOT_FOUND : db_fail(c, what);
}

/* Steps a listing: true with the next row in st. False at the end (*r OK) or on a failure (*r
 * its status, logged with what). *r is OK while rows come, so a caller may stop early. */
static bool next_row(conn *c, sqlite3_stmt *st, mcd_store_status *r, const char *what)
{
	int rc = sqlite3_step(st);
	*r = rc == SQLITE_ROW || rc == SQLITE_DONE ? MCD_STORE_OK : db_fail(c, what);
	return rc == SQLITE_ROW;
}

/* The caller's callback of a listing, by the type of its rows. */
typedef union row_cb {
	mcd_user_cb user;
	mcd_invitation_cb invitation;
	mcd_partial_cb partial;
	mcd_appointment_cb appointment;
	mcd_message_cb message;
	mcd_consent_cb consent;
} row_cb;

/* Hands the row in st to the caller: fills the view of the row's type and calls cb's member for
 * that type with ctx. Returns what the callback returns: nonzero stops the listing. */
typedef int (*row_emit_fn)(sqlite3_stmt *st, row_cb cb, void *ctx);

/* Steps through the rows of a listing begun with read_begin, handing each to emit until it asks
 * to stop, then ends the read (read_end). */
static mcd_store_status list_rows(conn *c, enum stmt_id id, sqlite3_stmt *st, row_emit_fn emit, row_cb cb, void *ctx,
                                  const char *what)
{
	mcd_store_status r;
	while (next_row(c, st, &r, what))
		if (emit(st, cb, ctx) != 0)
			break;
	return read_end(c, id, st, r);
}

/* list_rows of statement id with its one parameter ?1 bound to key. */
static mcd_store_status list_by_int(sq_store *s, enum stmt_id id, int64_t key, row_emit_fn emit, row_cb cb, void *ctx,
                                    const char *what)
{
	conn *c;
	sqlite3_stmt *st = read_begin(s, id, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, key);
	return list_rows(c, id, st, emit, cb, ctx, what);
}

/* Steps a statement that always yields one row (a count, an EXISTS) and reads its first column. */
static mcd_store_status step_int(conn *c, sqlite3_stmt *st, int64_t *v, const char *what)
{
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(c, what);
	*v = sqlite3_column_int64(st, 0);
	return MCD_STORE_OK;
}

/* A malloc'd copy of the struct view (size bytes) whose one string, its member *text (NULL stays
 * NULL), is duplicated as well; NULL when out of memory. The type's _free function frees both. */
static void *copy_with_string(const void *view, size_t size, char *const *text)
{
	size_t at = (size_t)((const char *)text - (const char *)view);
	char *dup = *text ? strdup(*text) : NULL;
	char *copy = malloc(size);
	if (!copy || (*text && !dup)) {
		free(dup);
		free(copy);
		return NULL;
	}
	memcpy(copy, view, size);
	memcpy(copy + at, &dup, sizeof dup);
	return copy;
}

/* Makes the caller's copy of the row in st into *(T **)out, T the row's type; false when out of
 * memory. */
typedef bool (*row_copy_fn)(sqlite3_stmt *st, void *out);

/* Reads the row statement id selects by the text key ?1 and copies it with copy into out: NOT_FOUND
 * when there is none (or key is NULL), NOMEM when the copy fails. */
static mcd_store_status get_by_key(sq_store *s, enum stmt_id id, const char *key, row_copy_fn copy, void *out,
                                   const char *what)
{
	if (!key)
		return MCD_STORE_NOT_FOUND;
	conn *c;
	sqlite3_stmt *st = read_begin(s, id, &c);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, key);
	mcd_store_status r = step_row(c, st, what);
	if (r == MCD_STORE_OK && !copy(st, out))
		r = MCD_STORE_NOMEM;
	return read_end(c, id, st, r);
}

/* Fills u from a row of USER_COLS, pointing into the statement (valid until the next step). */
static void user_view(sqlite3_stmt *st, mcd_user *u)
{
	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(st, 0);
	u->username = (char *)col_text(st, 1);
	u->display_name = (char *)col_text(st, 2);
	u->role = (mcd_role)sqlite3_column_int(st, 3);
	u->enc_public_pem = (char *)col_text(st, 4);
	u->sign_public_pem = (char *)col_text(st, 5);
	col_fixed(st, 6, u->enc_fp, 32);
	col_fixed(st, 7, u->sign_fp, 32);
	col_fixed(st, 8, u->kdf_salt, 16);
	u->kdf_t = (uint32_t)sqlite3_column_int64(st, 9);
	u->kdf_m = (uint32_t)sqlite3_column_int64(st, 10);
	u->kdf_p = (uint32_t)sqlite3_column_int64(st, 11);
	u->auth_hash = (char *)col_text(st, 12);
	u->wrapped_password = (uint8_t *)sqlite3_column_blob(st, 13);
	u->wrapped_password_len = (size_t)sqlite3_column_bytes(st, 13);
	u->wrapped_recovery = (uint8_t *)sqlite3_column_blob(st, 14);
	u->wrapped_recovery_len = (size_t)sqlite3_column_bytes(st, 14);
	u->created = sqlite3_column_int64(st, 15);
	u->disabled = sqlite3_column_int(st, 16) != 0;
}

static int user_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_user view;
	user_view(st, &view);
	return cb.user(ctx, &view);
}

static mcd_user *user_copy(const mcd_user *v)
{
	mcd_user *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	*u = *v;
	u->username = dup_text(v->username);
	u->display_name = dup_text(v->display_name);
	u->enc_public_pem = dup_text(v->enc_public_pem);
	u->sign_public_pem = dup_text(v->sign_public_pem);
	u->auth_hash = dup_text(v->auth_hash);
	u->wrapped_password = dup_bytes(v->wrapped_password, v->wrapped_password_len);
	u->wrapped_recovery = dup_bytes(v->wrapped_recovery, v->wrapped_recovery_len);
	if (!u->username || !u->display_name || !u->enc_public_pem || !u->sign_public_pem || !u->auth_hash ||
	    !u->wrapped_password || !u->wrapped_recovery) {
		mcd_user_free(u);
		return NULL;
	}
	return u;
}

/* Fills im from a row of IMAGE_COLS, pointing into the statement. */
static void image_view(sqlite3_stmt *st, mcd_image *im)
{
	memset(im, 0, sizeof *im);
	snprintf(im->id, sizeof im->id, "%s", col_text(st, 0));
	im->sender_id = sqlite3_column_int64(st, 1);
	im->sender = (char *)col_text(st, 2);
	col_fixed(st, 3, im->blob_sha256, 32);
	im->size = sqlite3_column_int64(st, 4);
	im->header = (uint8_t *)sqlite3_column_blob(st, 5);
	im->header_len = (size_t)sqlite3_column_bytes(st, 5);
	im->created = sqlite3_column_int64(st, 6);
	im->patient_id = sqlite3_column_int64(st, 7);
	im->patient = sqlite3_column_type(st, 8) == SQLITE_NULL ? NULL : (char *)col_text(st, 8);
	im->deidentified = sqlite3_column_int(st, 9) != 0;
}

/* ---- transactions on the writer ---- */

static conn *writer_begin(sq_store *s, mcd_store_status *status)
{
	conn *c = &s->writer;
	pthread_mutex_lock(&c->mu);
	if (exec_id(c, ST_BEGIN) != SQLITE_OK) {
		*status = db_fail(c, "begin");
		pthread_mutex_unlock(&c->mu);
		return NULL;
	}
	*status = MCD_STORE_OK;
	return c;
}

/* Commits when status is OK, rolls back otherwise; releases the writer. Returns the final status. */
static mcd_store_status writer_end(conn *c, mcd_store_status status)
{
	if (status == MCD_STORE_OK && exec_id(c, ST_COMMIT) != SQLITE_OK)
		status = db_fail(c, "commit");
	if (status != MCD_STORE_OK && sqlite3_get_autocommit(c->db) == 0 && exec_id(c, ST_ROLLBACK) != SQLITE_OK)
		db_fail(c, "rollback");
	pthread_mutex_unlock(&c->mu);
	return status;
}

/* Statement id for the next step of a writer transaction whose status so far is *r: NULL when *r
 * is not OK, or (*r then ERROR, logged) when it cannot be prepared. */
static sqlite3_stmt *q_if_ok(conn *c, enum stmt_id id, mcd_store_status *r)
{
	if (*r != MCD_STORE_OK)
		return NULL;
	sqlite3_stmt *st = q(c, id);
	if (!st)
		*r = MCD_STORE_ERROR;
	return st;
}

/* Maps a failed step of a write to a status: a unique key taken is CONFLICT, a missing row a
 * foreign key points at is NOT_FOUND; anything else is logged. */
static mcd_store_status step_fail(conn *c, int rc, const char *what)
{
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return MCD_STORE_CONFLICT;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return MCD_STORE_NOT_FOUND;
	return db_fail(c, what);
}

/* Steps a write statement once; OK when it ran. */
static mcd_store_status run_write(conn *c, enum stmt_id id, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	mcd_store_status r = rc == SQLITE_DONE ? MCD_STORE_OK : step_fail(c, rc, what);
	q_done(c, id, st);
	return r;
}

/* r, or NOT_FOUND when the write that just succeeded changed no row. */
static mcd_store_status changed_some(conn *c, mcd_store_status r)
{
	return r == MCD_STORE_OK && sqlite3_changes(c->db) == 0 ? MCD_STORE_NOT_FOUND : r;
}

/* Runs write statement id with its one parameter ?1, the text key. */
static mcd_store_status write_text_key(conn *c, enum stmt_id id, const char *key, const char *what)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, key);
	return run_write(c, id, st, what);
}

/* Runs write statement id with its one parameter ?1, the integer key. */
static mcd_store_status write_int_key(conn *c, enum stmt_id id, int64_t key, const char *what)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, key);
	return run_write(c, id, st, what);
}

/* ---- audit, inside a writer transaction ---- */

static mcd_store_status audit_head_on(conn *c, int64_t *seq, uint8_t hash[32])
{
	*seq = 0;
	memset(hash, 0, 32);
	sqlite3_stmt *st = q(c, ST_AUDIT_HEAD);
	if (!st)
		return MCD_STORE_ERROR;
	mcd_store_status r = step_row(c, st, "audit head");
	if (r == MCD_STORE_OK) {
		*seq = sqlite3_column_int64(st, 0);
		if (!col_fixed(st, 1, hash, 32)) {
			mcd_log(MCD_LOG_ERROR, "store", "the audit record %lld has a damaged hash", (long long)*seq);
			r = MCD_STORE_ERROR;
		}
	} else if (r == MCD_STORE_NOT_FOUND) {
		r = MCD_STORE_OK; /* an empty log */
	}
	q_done(c, ST_AUDIT_HEAD, st);
	return r;
}

static mcd_store_status checkpoint_insert(conn *c, int64_t seq, const uint8_t hash[32], const uint8_t *sig,
                                          size_t sig_len)
{
	sqlite3_stmt *st = q(c, ST_CP_INSERT);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, seq);
	bind_blob(st, 2, hash, 32);
	bind_blob(st, 3, sig, sig_len);
	return run_write(c, ST_CP_INSERT, st, "insert a checkpoint");
}

static mcd_store_status audit_append_on(sq_store *s, conn *c, const mcd_audit_event *ev)
{
	if (!ev)
		return MCD_STORE_OK;
	if (!ev->action) {
		mcd_log(MCD_LOG_ERROR, "store", "an audit event without an action");
		return MCD_STORE_ERROR;
	}
	int64_t prev_seq;
	uint8_t prev[32], hash[32];
	mcd_store_status r = audit_head_on(c, &prev_seq, prev);
	if (r != MCD_STORE_OK)
		return r;
	mcd_audit_record rec = {
	    .seq = prev_seq + 1,
	    .time = ev->time,
	    .actor = (char *)(ev->actor ? ev->actor : "-"),
	    .address = (char *)(ev->address ? ev->address : "-"),
	    .action = (char *)ev->action,
	    .object = (char *)(ev->object ? ev->object : "-"),
	    .outcome = (char *)(ev->outcome ? ev->outcome : "-"),
	    .detail = (char *)(ev->detail ? ev->detail : "{}"),
	};
	if (!mcd_audit_hash(prev, &rec, hash)) {
		mcd_log(MCD_LOG_ERROR, "store",
		        "audit event %s has no canonical form (a field is not UTF-8, or detail is not a JSON object)",
		        ev->action);
		return MCD_STORE_ERROR;
	}
	sqlite3_stmt *st = q(c, ST_AUDIT_INSERT);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, rec.seq);
	sqlite3_bind_int64(st, 2, rec.time);
	bind_text(st, 3, rec.actor);
	bind_text(st, 4, rec.address);
	bind_text(st, 5, rec.action);
	bind_text(st, 6, rec.object);
	bind_text(st, 7, rec.outcome);
	bind_text(st, 8, rec.detail);
	bind_blob(st, 9, hash, 32);
	r = run_write(c, ST_AUDIT_INSERT, st, "append an audit record");
	if (r != MCD_STORE_OK) {
		if (r != MCD_STORE_ERROR && r != MCD_STORE_NOMEM)
			r = MCD_STORE_ERROR; /* a taken seq here is a database fault, not a caller's conflict */
		return r;
	}
	if (s->signer && rec.seq % MCD_AUDIT_CHECKPOINT_EVERY == 0) {
		uint8_t *sig = NULL;
		size_t sig_len = 0;
		if (!mcd_audit_sign(s->signer, rec.seq, hash, &sig, &sig_len))
			return MCD_STORE_ERROR;
		r = checkpoint_insert(c, rec.seq, hash, sig, sig_len);
		free(sig);
		if (r != MCD_STORE_OK)
			return MCD_STORE_ERROR;
	}
	return MCD_STORE_OK;
}

/* Ends a writer transaction: appends ev (none when NULL) when status r is OK, then commits or
 * rolls back as writer_end does. */
static mcd_store_status writer_end_audited(sq_store *s, conn *c, mcd_store_status r, const mcd_audit_event *ev)
{
	if (r == MCD_STORE_OK)
		r = audit_append_on(s, c, ev);
	return writer_end(c, r);
}

/* Ends a writer transaction that counts what it changed (n of key): as writer_end_audited, with
 * the audit record's detail {"key":n}; *out (when not NULL) gets n once committed. */
static mcd_store_status writer_end_counted(sq_store *s, conn *c, mcd_store_status r, const mcd_audit_event *ev,
                                           const char *key, int64_t n, int64_t *out)
{
	char detail[64];
	snprintf(detail, sizeof detail, "{\"%s\":%lld}", key, (long long)n);
	mcd_audit_event with = ev ? *ev : (mcd_audit_event){0};
	with.detail = detail;
	r = writer_end_audited(s, c, r, ev ? &with : NULL);
	if (r == MCD_STORE_OK && out)
		*out = n;
	return r;
}

/* ---- operations ---- */

static void conn_close(conn *c)
{
	for (int i = 0; i < ST_N; i++)
		sqlite3_finalize(c->st[i]);
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		mcd_log(MCD_LOG_ERROR, "store", "close: %s", sqlite3_errmsg(c->db));
	c->db = NULL;
	pthread_mutex_destroy(&c->mu);
}

static void sq_close(mcd_store *base)
{
	if (!base)
		return;
	sq_store *s = sq(base);
	for (int i = 0; i < N_READERS; i++)
		conn_close(&s->readers[i]);
	conn_close(&s->writer);
	pthread_mutex_destroy(&s->group_mu);
	pthread_cond_destroy(&s->group_cv);
	free(s);
}

/* Reads the one integer statement id yields (a count, an EXISTS), binding a and b to ?1 and ?2
 * where it has them. */
static mcd_store_status read_int(sq_store *s, enum stmt_id id, int64_t a, int64_t b, int64_t *v, const char *what)
{
	conn *c;
	sqlite3_stmt *st = read_begin(s, id, &c);
	if (!st)
		return MCD_STORE_ERROR;
	int params = sqlite3_bind_parameter_count(st);
	if (params >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (params >= 2)
		sqlite3_bind_int64(st, 2, b);
	return read_end(c, id, st, step_int(c, st, v, what));
}

static mcd_store_status sq_health(mcd_store *base)
{
	int64_t n;
	return read_int(sq(base), ST_HEALTH, 0, 0, &n, "health");
}

static mcd_store_status sq_integrity_check(mcd_store *base, bool *ok)
{
	sq_store *s = sq(base);
	*ok = false;
	conn *c = reader_get(s);
	mcd_store_status r = MCD_STORE_ERROR;
	sqlite3_stmt *st = q(c, ST_INTEGRITY);
	if (!st)
		goto done;
	int rc = sqlite3_step(st);
	bool integrity = rc == SQLITE_ROW && strcmp(col_text(st, 0), "ok") == 0;
	if (rc == SQLITE_ROW && !integrity)
		mcd_log(MCD_LOG_ERROR, "store", "integrity_check: %s", col_text(st, 0));
	q_done(c, ST_INTEGRITY, st);
	if (rc != SQLITE_ROW) {
		r = db_fail(c, "integrity_check");
		goto done;
	}
	st = q(c, ST_FK_CHECK);
	if (!st)
		goto done;
	rc = sqlite3_step(st);
	bool foreign_keys = rc == SQLITE_DONE;
	if (rc == SQLITE_ROW)
		mcd_log(MCD_LOG_ERROR, "store", "foreign_key_check: a row of %s points at a missing row",
		        col_text(st, 0));
	q_done(c, ST_FK_CHECK, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = db_fail(c, "foreign_key_check");
		goto done;
	}
	*ok = integrity && foreign_keys;
	r = MCD_STORE_OK;
done:
	reader_put(c);
	return r;
}

/* -- users -- */

static mcd_store_status sq_user_create(mcd_store *base, mcd_user *u, const uint8_t *invitation_hash, int64_t now,
                                       const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	mcd_role role = u->role;
	int64_t id = 0;
	sqlite3_stmt *st;
	if (invitation_hash) {
		if (!(st = q_if_ok(c, ST_INV_GET, &r)))
			goto done;
		bind_blob(st, 1, invitation_hash, 32);
		r = step_row(c, st, "read an invitation");
		if (r == MCD_STORE_OK) {
			role = (mcd_role)sqlite3_column_int(st, 0);
			bool expired = sqlite3_column_int64(st, 1) <= now;
			bool used = sqlite3_column_int(st, 2) != 0;
			r = expired || used ? MCD_STORE_CONFLICT : MCD_STORE_OK;
		} else if (r == MCD_STORE_NOT_FOUND) {
			r = MCD_STORE_CONFLICT;
		}
		q_done(c, ST_INV_GET, st);
		if (r != MCD_STORE_OK)
			goto done;
	}
	if (!mcd_role_name(role) || !u->username || !u->display_name || !u->enc_public_pem || !u->sign_public_pem ||
	    !u->auth_hash) {
		mcd_log(MCD_LOG_ERROR, "store", "user_create: a field is missing or the role is invalid");
		r = MCD_STORE_ERROR;
		goto done;
	}
	if (!(st = q_if_ok(c, ST_USER_INSERT, &r)))
		goto done;
	bind_text(st, 1, u->username);
	bind_text(st, 2, u->display_name);
	sqlite3_bind_int(st, 3, (int)role);
	bind_text(st, 4, u->enc_public_pem);
	bind_text(st, 5, u->sign_public_pem);
	bind_blob(st, 6, u->enc_fp, 32);
	bind_blob(st, 7, u->sign_fp, 32);
	bind_blob(st, 8, u->kdf_salt, 16);
	sqlite3_bind_int64(st, 9, u->kdf_t);
	sqlite3_bind_int64(st, 10, u->kdf_m);
	sqlite3_bind_int64(st, 11, u->kdf_p);
	bind_text(st, 12, u->auth_hash);
	bind_blob(st, 13, u->wrapped_password, u->wrapped_password_len);
	bind_blob(st, 14, u->wrapped_recovery, u->wrapped_recovery_len);
	sqlite3_bind_int64(st, 15, u->created ? u->created : now);
	sqlite3_bind_int(st, 16, u->disabled ? 1 : 0);
	r = run_write(c, ST_USER_INSERT, st, "insert a user");
	if (r != MCD_STORE_OK)
		goto done;
	id = sqlite3_last_insert_rowid(c->db);
	if (invitation_hash) {
		if (!(st = q_if_ok(c, ST_INV_USE, &r)))
			goto done;
		bind_blob(st, 1, invitation_hash, 32);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, now);
		r = run_write(c, ST_INV_USE, st, "use an invitation");
		if (r == MCD_STORE_OK && sqlite3_changes(c->db) != 1)
			r = MCD_STORE_CONFLICT;
	}
done:
	r = writer_end_audited(s, c, r, ev);
	if (r == MCD_STORE_OK) {
		u->id = id;
		u->role = role;
		if (!u->created)
			u->created = now;
	}
	return r;
}

static mcd_store_status user_lookup(sq_store *s, enum stmt_id id, const char *name, int64_t num, const uint8_t *fp,
                                    mcd_user **out)
{
	*out = NULL;
	conn *c;
	sqlite3_stmt *st = read_begin(s, id, &c);
	if (!st)
		return MCD_STORE_ERROR;
	if (name)
		bind_text(st, 1, name);
	else if (fp)
		bind_blob(st, 1, fp, 32);
	else
		sqlite3_bind_int64(st, 1, num);
	mcd_store_status r = step_row(c, st, "read a user");
	if (r == MCD_STORE_OK) {
		mcd_user view;
		user_view(st, &view);
		*out = user_copy(&view);
		r = *out ? MCD_STORE_OK : MCD_STORE_NOMEM;
	}
	return read_end(c, id, st, r);
}

static mcd_store_status sq_user_by_name(mcd_store *base, const char *username, mcd_user **out)
{
	if (!username) {
		*out = NULL;
		return MCD_STORE_NOT_FOUND;
	}
	return user_lookup(sq(base), ST_USER_BY_NAME, username, 0, NULL, out);
}

static mcd_store_status sq_user_by_id(mcd_store *base, int64_t id, mcd_user **out)
{
	return user_lookup(sq(base), ST_USER_BY_ID, NULL, id, NULL, out);
}

static mcd_store_status sq_user_by_enc_fp(mcd_store *base, const uint8_t fp[32], mcd_user **out)
{
	return user_lookup(sq(base), ST_USER_BY_ENC_FP, NULL, 0, fp, out);
}

static mcd_store_status sq_users_list(mcd_store *base, mcd_role role, bool with_disabled, mcd_user_cb cb, void *ctx)
{
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_USERS_LIST, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int(st, 1, (int)role);
	sqlite3_bind_int(st, 2, with_disabled ? 1 : 0);
	return list_rows(c, ST_USERS_LIST, st, user_emit, (row_cb){.user = cb}, ctx, "list users");
}

/* Whether the row the statement id selects by an integer key exists (writer transaction). */
static mcd_store_status exists_on(conn *c, enum stmt_id id, int64_t key)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, key);
	mcd_store_status r = step_row(c, st, "look up a row");
	q_done(c, id, st);
	return r;
}

/* Whether both users exist (writer transaction). Looked up before a row between them is
 * inserted: the foreign keys would say NOT_FOUND too, but only for the statement as a whole, so
 * an unknown id could be mistaken for another failure. */
static mcd_store_status users_exist_on(conn *c, int64_t a, int64_t b)
{
	mcd_store_status r = exists_on(c, ST_USER_EXISTS, a);
	return r == MCD_STORE_OK ? exists_on(c, ST_USER_EXISTS, b) : r;
}

static mcd_store_status update_id_int(conn *c, enum stmt_id id, int64_t key, int64_t value, const char *what)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, key);
	sqlite3_bind_int64(st, 2, value);
	return run_write(c, id, st, what);
}

static mcd_store_status delete_user_sessions_on(conn *c, int64_t user_id)
{
	return write_int_key(c, ST_SES_DELETE_USER, user_id, "delete a user's sessions");
}

static mcd_store_status sq_user_update(mcd_store *base, int64_t id, mcd_role role, int disabled,
                                       const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (role != MCD_ROLE_NONE && !mcd_role_name(role)) {
		mcd_log(MCD_LOG_ERROR, "store", "user_update: invalid role %d", (int)role);
		return MCD_STORE_ERROR;
	}
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = exists_on(c, ST_USER_EXISTS, id);
	if (r == MCD_STORE_OK && role != MCD_ROLE_NONE)
		r = update_id_int(c, ST_USER_SET_ROLE, id, role, "set a role");
	if (r == MCD_STORE_OK && disabled >= 0)
		r = update_id_int(c, ST_USER_SET_DISABLED, id, disabled ? 1 : 0, "disable a user");
	if (r == MCD_STORE_OK && disabled > 0)
		r = delete_user_sessions_on(c, id);
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_users_count(mcd_store *base, int64_t *n)
{
	return read_int(sq(base), ST_USERS_COUNT, 0, 0, n, "count users");
}

static mcd_store_status sq_user_email_get(mcd_store *base, int64_t id, char **out)
{
	*out = NULL;
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_USER_EMAIL_GET, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	mcd_store_status r = step_row(c, st, "read an e-mail address");
	if (r == MCD_STORE_OK && sqlite3_column_type(st, 0) != SQLITE_NULL && !(*out = strdup(col_text(st, 0))))
		r = MCD_STORE_NOMEM;
	return read_end(c, ST_USER_EMAIL_GET, st, r);
}

static mcd_store_status sq_user_email_set(mcd_store *base, int64_t id, const char *email, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = exists_on(c, ST_USER_EXISTS, id);
	sqlite3_stmt *st = q_if_ok(c, ST_USER_EMAIL_SET, &r);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (email)
			sqlite3_bind_text(st, 2, email, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 2);
		r = run_write(c, ST_USER_EMAIL_SET, st, "set an e-mail address");
	}
	return writer_end_audited(s, c, r, ev);
}

/* -- invitations -- */

static mcd_store_status sq_invitation_create(mcd_store *base, const uint8_t code_hash[32], const mcd_invitation *inv,
                                             const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!mcd_role_name(inv->role) || strlen(inv->id) != 32) {
		mcd_log(MCD_LOG_ERROR, "store", "invitation_create: invalid role %d or id", (int)inv->role);
		return MCD_STORE_ERROR;
	}
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_INV_INSERT, &r);
	if (st) {
		bind_blob(st, 1, code_hash, 32);
		bind_text(st, 2, inv->id);
		sqlite3_bind_int(st, 3, (int)inv->role);
		sqlite3_bind_int64(st, 4, inv->created);
		sqlite3_bind_int64(st, 5, inv->expires);
		sqlite3_bind_int64(st, 6, inv->created_by);
		r = run_write(c, ST_INV_INSERT, st, "insert an invitation");
	}
	return writer_end_audited(s, c, r, ev);
}

/* Fills inv from a row of INVITATION_SELECT, pointing into the statement (valid until the next
 * step). */
static void invitation_view(sqlite3_stmt *st, mcd_invitation *inv)
{
	memset(inv, 0, sizeof *inv);
	snprintf(inv->id, sizeof inv->id, "%s", col_text(st, 0));
	inv->role = (mcd_role)sqlite3_column_int(st, 1);
	inv->created = sqlite3_column_int64(st, 2);
	inv->expires = sqlite3_column_int64(st, 3);
	inv->created_by = sqlite3_column_int64(st, 4);
	inv->created_by_name = (char *)sqlite3_column_text(st, 5); /* NULL for the server */
}

static int invitation_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_invitation view;
	invitation_view(st, &view);
	return cb.invitation(ctx, &view);
}

/* row_copy_fn of an mcd_invitation. */
static bool invitation_copy_row(sqlite3_stmt *st, void *out)
{
	mcd_invitation view;
	invitation_view(st, &view);
	return (*(mcd_invitation **)out = copy_with_string(&view, sizeof view, &view.created_by_name)) != NULL;
}

static mcd_store_status sq_invitations_pending(mcd_store *base, int64_t now, mcd_invitation_cb cb, void *ctx)
{
	return list_by_int(sq(base), ST_INV_PENDING, now, invitation_emit, (row_cb){.invitation = cb}, ctx,
	                   "list invitations");
}

static mcd_store_status sq_invitation_get(mcd_store *base, const char *id, mcd_invitation **out)
{
	*out = NULL;
	return get_by_key(sq(base), ST_INV_BY_ID, id, invitation_copy_row, out, "read an invitation");
}

static mcd_store_status sq_invitation_delete(mcd_store *base, const char *id, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!id)
		return MCD_STORE_NOT_FOUND;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = changed_some(c, write_text_key(c, ST_INV_DELETE, id, "delete an invitation"));
	return writer_end_audited(s, c, r, ev);
}

/* -- sessions -- */

static mcd_store_status sq_session_create(mcd_store *base, const mcd_session *se, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_SES_INSERT, &r);
	if (st) {
		bind_blob(st, 1, se->token_hash, 32);
		sqlite3_bind_int64(st, 2, se->user_id);
		sqlite3_bind_int64(st, 3, se->created);
		sqlite3_bind_int64(st, 4, se->last_seen);
		sqlite3_bind_int64(st, 5, se->expires);
		sqlite3_bind_int64(st, 6, se->reauth_at);
		r = run_write(c, ST_SES_INSERT, st, "insert a session");
	}
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_session_get(mcd_store *base, const uint8_t token_hash[32], mcd_session *out)
{
	memset(out, 0, sizeof *out);
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_SES_GET, &c);
	if (!st)
		return MCD_STORE_ERROR;
	bind_blob(st, 1, token_hash, 32);
	mcd_store_status r = step_row(c, st, "read a session");
	if (r == MCD_STORE_OK) {
		memcpy(out->token_hash, token_hash, 32);
		out->user_id = sqlite3_column_int64(st, 0);
		out->created = sqlite3_column_int64(st, 1);
		out->last_seen = sqlite3_column_int64(st, 2);
		out->expires = sqlite3_column_int64(st, 3);
		out->reauth_at = sqlite3_column_int64(st, 4);
	}
	return read_end(c, ST_SES_GET, st, r);
}

/* A change that may be lost in a power cut without harm (a session's last request, its
 * re-authentication time, removal of expired sessions): committed with synchronous=NORMAL, so
 * it costs no fsync. WAL keeps it consistent, kill -9 does not lose it, and the next FULL
 * commit makes it durable along with its own change. */
static mcd_store_status soft_write(sq_store *s, enum stmt_id id, const uint8_t *key32, int64_t key_int, int64_t value,
                                   bool must_change, const char *what)
{
	conn *c = &s->writer;
	pthread_mutex_lock(&c->mu);
	mcd_store_status r = MCD_STORE_OK;
	if (exec_id(c, ST_SYNC_NORMAL) != SQLITE_OK) {
		r = db_fail(c, "synchronous=NORMAL");
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	sqlite3_stmt *st = q_if_ok(c, id, &r);
	if (st) {
		if (key32)
			bind_blob(st, 1, key32, 32);
		else
			sqlite3_bind_int64(st, 1, key_int);
		sqlite3_bind_int64(st, 2, value);
		r = run_write(c, id, st, what);
		if (must_change)
			r = changed_some(c, r);
	}
	if (exec_id(c, ST_SYNC_FULL) != SQLITE_OK)
		r = db_fail(c, "synchronous=FULL");
	pthread_mutex_unlock(&c->mu);
	return r;
}

static mcd_store_status sq_session_touch(mcd_store *base, const uint8_t token_hash[32], int64_t last_seen)
{
	return soft_write(sq(base), ST_SES_TOUCH, token_hash, 0, last_seen, true, "touch a session");
}

static mcd_store_status sq_session_set_reauth(mcd_store *base, const uint8_t token_hash[32], int64_t when)
{
	return soft_write(sq(base), ST_SES_REAUTH, token_hash, 0, when, true, "set a re-authentication");
}

static mcd_store_status sq_sessions_expire(mcd_store *base, int64_t idle_cutoff, int64_t now)
{
	return soft_write(sq(base), ST_SES_EXPIRE, NULL, idle_cutoff, now, false, "expire sessions");
}

static mcd_store_status sq_session_delete(mcd_store *base, const uint8_t token_hash[32], const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_SES_DELETE, &r);
	if (st) {
		bind_blob(st, 1, token_hash, 32);
		r = changed_some(c, run_write(c, ST_SES_DELETE, st, "delete a session"));
	}
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_sessions_delete_user(mcd_store *base, int64_t user_id, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = delete_user_sessions_on(c, user_id);
	return writer_end_audited(s, c, r, ev);
}

/* -- throttle -- */

static mcd_store_status sq_throttle_get(mcd_store *base, const char *key, mcd_throttle *out)
{
	memset(out, 0, sizeof *out);
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_THR_GET, &c);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, key);
	mcd_store_status r = step_row(c, st, "read a throttle");
	if (r == MCD_STORE_OK) {
		out->failures = sqlite3_column_int(st, 0);
		out->lockouts = sqlite3_column_int(st, 1);
		out->locked_until = sqlite3_column_int64(st, 2);
	}
	return read_end(c, ST_THR_GET, st, r == MCD_STORE_NOT_FOUND ? MCD_STORE_OK : r); /* no row: all zero */
}

static mcd_store_status sq_throttle_put(mcd_store *base, const char *key, const mcd_throttle *t,
                                        const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!key)
		return MCD_STORE_ERROR;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	/* An all-zero state is the same as no row: delete it, so the table holds only live keys. */
	bool zero = t->failures == 0 && t->lockouts == 0 && t->locked_until == 0;
	enum stmt_id id = zero ? ST_THR_DELETE : ST_THR_PUT;
	sqlite3_stmt *st = q_if_ok(c, id, &r);
	if (st) {
		bind_text(st, 1, key);
		if (!zero) {
			sqlite3_bind_int(st, 2, t->failures);
			sqlite3_bind_int(st, 3, t->lockouts);
			sqlite3_bind_int64(st, 4, t->locked_until);
		}
		r = run_write(c, id, st, "write a throttle");
	}
	return writer_end_audited(s, c, r, ev);
}

/* -- images and wraps -- */

/* The row number and blob of image id, in the given connection. */
static mcd_store_status image_n_on(conn *c, const char *id, int64_t *n, uint8_t sha256[32])
{
	sqlite3_stmt *st = q(c, ST_IMG_N);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, id);
	mcd_store_status r = step_row(c, st, "look up an image");
	if (r == MCD_STORE_OK) {
		*n = sqlite3_column_int64(st, 0);
		if (sha256)
			col_fixed(st, 1, sha256, 32);
	}
	q_done(c, ST_IMG_N, st);
	return r;
}

static mcd_store_status wrap_insert_on(conn *c, int64_t image_n, const mcd_wrap *w)
{
	sqlite3_stmt *st = q(c, ST_WRAP_INSERT);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, image_n);
	sqlite3_bind_int64(st, 2, w->user_id);
	sqlite3_bind_int64(st, 3, w->granted_by);
	bind_blob(st, 4, w->wrap, w->wrap_len);
	return run_write(c, ST_WRAP_INSERT, st, "insert a wrap");
}

static bool image_id_valid(const char *id)
{
	if (!id || strlen(id) != 32)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static mcd_store_status sq_image_create(mcd_store *base, const mcd_image *im, const mcd_wrap *wraps, size_t n_wraps,
                                        const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!image_id_valid(im->id)) {
		mcd_log(MCD_LOG_ERROR, "store", "image_create: the id is not 32 lower-case hex digits");
		return MCD_STORE_ERROR;
	}
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_IMG_INSERT, &r);
	if (!st)
		return writer_end(c, r);
	bind_text(st, 1, im->id);
	sqlite3_bind_int64(st, 2, im->sender_id);
	bind_blob(st, 3, im->blob_sha256, 32);
	sqlite3_bind_int64(st, 4, im->size);
	bind_blob(st, 5, im->header, im->header_len);
	sqlite3_bind_int64(st, 6, im->created);
	if (im->patient_id > 0)
		sqlite3_bind_int64(st, 7, im->patient_id);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int(st, 8, im->deidentified ? 1 : 0);
	r = run_write(c, ST_IMG_INSERT, st, "insert an image");
	int64_t n = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; r == MCD_STORE_OK && i < n_wraps; i++)
		r = wrap_insert_on(c, n, &wraps[i]);
	return writer_end_audited(s, c, r, ev);
}

/* row_copy_fn of an mcd_image. */
static bool image_copy_row(sqlite3_stmt *st, void *out)
{
	mcd_image view;
	image_view(st, &view);
	mcd_image *im = malloc(sizeof *im);
	if (im) {
		*im = view;
		im->sender = dup_text(view.sender);
		im->patient = view.patient ? dup_text(view.patient) : NULL;
		im->header = dup_bytes(view.header, view.header_len);
		if (!im->sender || !im->header || (view.patient && !im->patient)) {
			mcd_image_free(im);
			im = NULL;
		}
	}
	*(mcd_image **)out = im;
	return im != NULL;
}

static mcd_store_status sq_image_get(mcd_store *base, const char *id, mcd_image **out)
{
	*out = NULL;
	return get_by_key(sq(base), ST_IMG_GET, id, image_copy_row, out, "read an image");
}

/* Both listings: ?1 the user, ?2 the row to page before, ?3 the limit, ?4 the patient (ST_IMGS_ABOUT). */
static mcd_store_status images_list(sq_store *s, enum stmt_id id, int64_t user_id, int64_t patient_id,
                                    const char *before_id, int limit, mcd_image_cb cb, void *ctx)
{
	if (limit <= 0)
		return MCD_STORE_OK;
	conn *c = reader_get(s);
	mcd_store_status r = MCD_STORE_OK;
	int64_t before = INT64_MAX;
	if (before_id)
		r = image_n_on(c, before_id, &before, NULL);
	sqlite3_stmt *st = q_if_ok(c, id, &r);
	if (st) {
		sqlite3_bind_int64(st, 1, user_id);
		sqlite3_bind_int64(st, 2, before);
		sqlite3_bind_int(st, 3, limit);
		if (id == ST_IMGS_ABOUT)
			sqlite3_bind_int64(st, 4, patient_id);
		while (next_row(c, st, &r, "list images")) {
			mcd_image view;
			image_view(st, &view);
			mcd_wrap w = {0};
			bool has_wrap = sqlite3_column_type(st, IMAGE_WRAP_COL) != SQLITE_NULL;
			if (has_wrap) {
				w.user_id = sqlite3_column_int64(st, IMAGE_WRAP_COL);
				w.granted_by = sqlite3_column_int64(st, IMAGE_WRAP_COL + 1);
				w.wrap = (uint8_t *)sqlite3_column_blob(st, IMAGE_WRAP_COL + 2);
				w.wrap_len = (size_t)sqlite3_column_bytes(st, IMAGE_WRAP_COL + 2);
			}
			if (cb(ctx, &view, has_wrap ? &w : NULL) != 0)
				break;
		}
		q_done(c, id, st);
	}
	reader_put(c);
	return r;
}

static mcd_store_status sq_images_for_user(mcd_store *base, int64_t user_id, const char *before_id, int limit,
                                           mcd_image_cb cb, void *ctx)
{
	return images_list(sq(base), ST_IMGS_FOR_USER, user_id, 0, before_id, limit, cb, ctx);
}

static mcd_store_status sq_images_for_user_about(mcd_store *base, int64_t user_id, int64_t patient_id,
                                                 const char *before_id, int limit, mcd_image_cb cb, void *ctx)
{
	return images_list(sq(base), ST_IMGS_ABOUT, user_id, patient_id, before_id, limit, cb, ctx);
}

static mcd_store_status sq_wrap_get(mcd_store *base, const char *image_id, int64_t user_id, mcd_wrap **out)
{
	*out = NULL;
	if (!image_id)
		return MCD_STORE_NOT_FOUND;
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_WRAP_GET, &c);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, image_id);
	sqlite3_bind_int64(st, 2, user_id);
	mcd_store_status r = step_row(c, st, "read a wrap");
	if (r == MCD_STORE_OK) {
		mcd_wrap *w = calloc(1, sizeof *w);
		if (w) {
			w->user_id = sqlite3_column_int64(st, 0);
			w->granted_by = sqlite3_column_int64(st, 1);
			w->wrap_len = (size_t)sqlite3_column_bytes(st, 2);
			w->wrap = dup_bytes(sqlite3_column_blob(st, 2), w->wrap_len);
			if (!w->wrap) {
				free(w);
				w = NULL;
			}
		}
		*out = w;
		r = w ? MCD_STORE_OK : MCD_STORE_NOMEM;
	}
	return read_end(c, ST_WRAP_GET, st, r);
}

static mcd_store_status sq_image_recipients(mcd_store *base, const char *image_id, char ***out)
{
	sq_store *s = sq(base);
	*out = NULL;
	if (!image_id)
		return MCD_STORE_NOT_FOUND;
	conn *c = reader_get(s);
	int64_t n;
	mcd_store_status r = image_n_on(c, image_id, &n, NULL);
	sqlite3_stmt *st = q_if_ok(c, ST_RECIPIENTS, &r);
	if (st) {
		size_t count = 0, cap = 8;
		char **v = calloc(cap + 1, sizeof *v);
		sqlite3_bind_int64(st, 1, n);
		int rc = SQLITE_NOMEM;
		while (v && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (count == cap) {
				char **grown = realloc(v, (cap * 2 + 1) * sizeof *v);
				if (!grown) {
					rc = SQLITE_NOMEM;
					break;
				}
				v = grown;
				cap *= 2;
			}
			v[count] = dup_text(col_text(st, 0));
			v[++count] = NULL;
			if (!v[count - 1]) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
		if (rc == SQLITE_DONE) {
			*out = v;
			r = MCD_STORE_OK;
		} else {
			mcd_strv_free(v);
			r = rc == SQLITE_NOMEM ? MCD_STORE_NOMEM : db_fail(c, "list recipients");
		}
		q_done(c, ST_RECIPIENTS, st);
	}
	reader_put(c);
	return r;
}

static mcd_store_status sq_wrap_add(mcd_store *base, const char *image_id, const mcd_wrap *w, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!image_id)
		return MCD_STORE_NOT_FOUND;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	int64_t n;
	r = image_n_on(c, image_id, &n, NULL);
	if (r == MCD_STORE_OK)
		r = wrap_insert_on(c, n, w);
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_wrap_delete(mcd_store *base, const char *image_id, int64_t user_id,
                                       const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!image_id)
		return MCD_STORE_NOT_FOUND;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	int64_t n;
	r = image_n_on(c, image_id, &n, NULL);
	if (r == MCD_STORE_OK)
		r = changed_some(c, update_id_int(c, ST_WRAP_DELETE, n, user_id, "delete a wrap"));
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status blob_referenced_on(conn *c, const uint8_t sha256[32], bool *yes)
{
	sqlite3_stmt *st = q(c, ST_BLOB_REFERENCED);
	if (!st)
		return MCD_STORE_ERROR;
	bind_blob(st, 1, sha256, 32);
	int64_t v;
	mcd_store_status r = step_int(c, st, &v, "look up a blob");
	if (r == MCD_STORE_OK)
		*yes = v != 0;
	q_done(c, ST_BLOB_REFERENCED, st);
	return r;
}

static mcd_store_status sq_image_delete(mcd_store *base, const char *id, bool *blob_unreferenced,
                                        const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	*blob_unreferenced = false;
	if (!id)
		return MCD_STORE_NOT_FOUND;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	int64_t n;
	uint8_t sha256[32];
	bool referenced = true;
	r = image_n_on(c, id, &n, sha256);
	/* The wraps go with it (ON DELETE CASCADE): that is the crypto-shredding. */
	if (r == MCD_STORE_OK)
		r = write_int_key(c, ST_IMG_DELETE, n, "delete an image");
	if (r == MCD_STORE_OK)
		r = blob_referenced_on(c, sha256, &referenced);
	r = writer_end_audited(s, c, r, ev);

	if (r == MCD_STORE_OK)
		*blob_unreferenced = !referenced;
	return r;
}

static mcd_store_status sq_blob_referenced(mcd_store *base, const uint8_t sha256[32], bool *yes)
{
	sq_store *s = sq(base);
	*yes = false;
	conn *c = reader_get(s);
	mcd_store_status r = blob_referenced_on(c, sha256, yes);
	reader_put(c);
	return r;
}

/* -- audit -- */

/* Appends the events in one transaction (one fsync for all). When one fails the transaction
 * is rolled back and each is appended alone, so one bad event fails only itself. */
static void sq_audit_append_batch(mcd_store *base, const mcd_audit_event *const *evs, size_t n,
                                  mcd_store_status *status)
{
	sq_store *s = sq(base);
	if (n == 0)
		return;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (c) {
		for (size_t i = 0; i < n && r == MCD_STORE_OK; i++)
			r = evs[i] ? audit_append_on(s, c, evs[i]) : MCD_STORE_ERROR;
		r = writer_end(c, r);
	}
	if (r == MCD_STORE_OK || n == 1) {
		for (size_t i = 0; i < n; i++)
			status[i] = r;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		c = evs[i] ? writer_begin(s, &r) : NULL;
		if (c)
			r = writer_end(c, audit_append_on(s, c, evs[i]));
		status[i] = evs[i] ? r : MCD_STORE_ERROR;
	}
}

/* Group commit: a download's record must be durable before its bytes go out, and each commit
 * costs an fsync. The first caller becomes the leader and commits every event queued by then
 * in one transaction; callers that arrive meanwhile queue theirs and wait for the next leader
 * (one of them), so concurrent downloads share fsyncs instead of queueing for one each. The
 * records are appended in queue order; each caller learns its own status. */
static mcd_store_status sq_audit_append(mcd_store *base, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!ev)
		return MCD_STORE_ERROR;
	struct audit_waiter me = {.ev = ev, .status = MCD_STORE_ERROR};
	pthread_mutex_lock(&s->group_mu);
	*s->group_tail = &me;
	s->group_tail = &me.next;
	while (!me.done) {
		if (s->group_leader) {
			pthread_cond_wait(&s->group_cv, &s->group_mu);
			continue;
		}
		s->group_leader = true;
		struct audit_waiter *batch = s->group_head;
		s->group_head = NULL;
		s->group_tail = &s->group_head;
		pthread_mutex_unlock(&s->group_mu);
		size_t n = 0;
		for (struct audit_waiter *w = batch; w; w = w->next)
			n++;
		const mcd_audit_event **evs = malloc(n * sizeof *evs);
		mcd_store_status *st = malloc(n * sizeof *st);
		size_t i = 0;
		for (struct audit_waiter *w = batch; w; w = w->next, i++)
			if (evs)
				evs[i] = w->ev;
		if (evs && st)
			sq_audit_append_batch(base, evs, n, st);
		pthread_mutex_lock(&s->group_mu);
		i = 0;
		for (struct audit_waiter *w = batch, *next; w; w = next, i++) {
			next = w->next; /* read before done is set: a waiter's node dies with its call */
			w->status = evs && st ? st[i] : MCD_STORE_NOMEM;
			w->done = true;
		}
		free(evs);
		free(st);
		s->group_leader = false;
		pthread_cond_broadcast(&s->group_cv);
	}
	pthread_mutex_unlock(&s->group_mu);
	return me.status;
}

static mcd_store_status sq_audit_list(mcd_store *base, int64_t after, int64_t limit, mcd_audit_cb cb, void *ctx)
{
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_AUDIT_LIST, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	mcd_store_status r;
	while (next_row(c, st, &r, "list the audit log")) {
		/* A damaged row is handed over as it is: verification names it. */
		mcd_audit_record rec = {0};
		rec.seq = sqlite3_column_int64(st, 0);
		rec.time = sqlite3_column_int64(st, 1);
		rec.actor = (char *)sqlite3_column_text(st, 2);
		rec.address = (char *)sqlite3_column_text(st, 3);
		rec.action = (char *)sqlite3_column_text(st, 4);
		rec.object = (char *)sqlite3_column_text(st, 5);
		rec.outcome = (char *)sqlite3_column_text(st, 6);
		rec.detail = (char *)sqlite3_column_text(st, 7);
		col_fixed(st, 8, rec.hash, 32);
		if (cb(ctx, &rec) != 0)
			break;
	}
	return read_end(c, ST_AUDIT_LIST, st, r);
}

static mcd_store_status sq_audit_head(mcd_store *base, int64_t *seq, uint8_t hash[32])
{
	sq_store *s = sq(base);
	conn *c = reader_get(s);
	mcd_store_status r = audit_head_on(c, seq, hash);
	reader_put(c);
	return r;
}

/* Compares hash with the one statement id (ST_AUDIT_HASH_AT, ST_CP_GET) holds at seq: OK when
 * they are the same, CONFLICT when not, NOT_FOUND when it holds none there. */
static mcd_store_status hash_at_on(conn *c, enum stmt_id id, int64_t seq, const uint8_t hash[32], const char *what)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, seq);
	uint8_t at[32];
	mcd_store_status r = step_row(c, st, what);
	if (r == MCD_STORE_OK && !(col_fixed(st, 0, at, 32) && memcmp(at, hash, 32) == 0))
		r = MCD_STORE_CONFLICT;
	q_done(c, id, st);
	return r;
}

/* Adds a checkpoint (the one the server writes at shutdown): NOT_FOUND when there is no record
 * at seq, CONFLICT when hash is not that record's hash or another checkpoint holds seq; adding
 * the same checkpoint twice is OK. */
static mcd_store_status sq_checkpoint_add(mcd_store *base, int64_t seq, const uint8_t hash[32], const uint8_t *sig,
                                          size_t sig_len)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = hash_at_on(c, ST_AUDIT_HASH_AT, seq, hash, "read an audit hash");
	if (r == MCD_STORE_OK) {
		r = hash_at_on(c, ST_CP_GET, seq, hash, "read a checkpoint");
		if (r == MCD_STORE_NOT_FOUND)
			r = checkpoint_insert(c, seq, hash, sig, sig_len);
	}
	return writer_end(c, r);
}

static mcd_store_status sq_checkpoints_list(mcd_store *base, mcd_checkpoint_cb cb, void *ctx)
{
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_CP_LIST, &c);
	if (!st)
		return MCD_STORE_ERROR;
	mcd_store_status r;
	while (next_row(c, st, &r, "list checkpoints")) {
		uint8_t hash[32];
		col_fixed(st, 1, hash, 32);
		const uint8_t *sig = sqlite3_column_blob(st, 2);
		size_t sig_len = (size_t)sqlite3_column_bytes(st, 2);
		if (cb(ctx, sqlite3_column_int64(st, 0), hash, sig, sig_len) != 0)
			break;
	}
	return read_end(c, ST_CP_LIST, st, r);
}

/* -- resumable uploads -- */

/* Fills p from a row of PARTIAL_COLS, pointing into the statement. */
static void partial_view(sqlite3_stmt *st, mcd_partial *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->id, sizeof p->id, "%s", col_text(st, 0));
	p->owner_id = sqlite3_column_int64(st, 1);
	p->length = (uint64_t)sqlite3_column_int64(st, 2);
	p->received = (uint64_t)sqlite3_column_int64(st, 3);
	p->metadata = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : (char *)col_text(st, 4);
	p->created = sqlite3_column_int64(st, 5);
	p->expires = sqlite3_column_int64(st, 6);
}

static int partial_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_partial view;
	partial_view(st, &view);
	return cb.partial(ctx, &view);
}

/* row_copy_fn of an mcd_partial. */
static bool partial_copy_row(sqlite3_stmt *st, void *out)
{
	mcd_partial view;
	partial_view(st, &view);
	return (*(mcd_partial **)out = copy_with_string(&view, sizeof view, &view.metadata)) != NULL;
}

static mcd_store_status sq_partial_create(mcd_store *base, const mcd_partial *p, unsigned max_open, int64_t now)
{
	sq_store *s = sq(base);
	if (!image_id_valid(p->id) || p->length == 0 || p->length > INT64_MAX || p->received >= p->length) {
		mcd_log(MCD_LOG_ERROR, "store", "partial_create: bad id, length or offset");
		return MCD_STORE_ERROR;
	}
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	/* Counted in the insert's transaction, so two creations at once cannot both pass. */
	sqlite3_stmt *st = q_if_ok(c, ST_PART_COUNT, &r);
	if (!st)
		return writer_end(c, r);
	sqlite3_bind_int64(st, 1, p->owner_id);
	sqlite3_bind_int64(st, 2, now);
	int64_t n_open;
	r = step_int(c, st, &n_open, "count a user's uploads");
	if (r == MCD_STORE_OK && n_open >= (int64_t)max_open)
		r = MCD_STORE_CONFLICT;
	q_done(c, ST_PART_COUNT, st);
	if (!(st = q_if_ok(c, ST_PART_INSERT, &r)))
		return writer_end(c, r);
	bind_text(st, 1, p->id);
	sqlite3_bind_int64(st, 2, p->owner_id);
	sqlite3_bind_int64(st, 3, (int64_t)p->length);
	sqlite3_bind_int64(st, 4, (int64_t)p->received);
	bind_text(st, 5, p->metadata);
	sqlite3_bind_int64(st, 6, p->created);
	sqlite3_bind_int64(st, 7, p->expires);
	return writer_end(c, run_write(c, ST_PART_INSERT, st, "insert an upload"));
}

static mcd_store_status sq_partial_get(mcd_store *base, const char *id, mcd_partial **out)
{
	*out = NULL;
	return get_by_key(sq(base), ST_PART_GET, id, partial_copy_row, out, "read an upload");
}

static mcd_store_status sq_partial_advance(mcd_store *base, const char *id, uint64_t received, int64_t expires)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_PART_ADVANCE, &r);
	if (st) {
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)received);
		sqlite3_bind_int64(st, 3, expires);
		r = changed_some(c, run_write(c, ST_PART_ADVANCE, st, "advance an upload"));
	}
	return writer_end(c, r);
}

static mcd_store_status sq_partial_delete(mcd_store *base, const char *id)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = changed_some(c, write_text_key(c, ST_PART_DELETE, id, "delete an upload"));
	return writer_end(c, r);
}

static mcd_store_status sq_partials_expired(mcd_store *base, int64_t now, mcd_partial_cb cb, void *ctx)
{
	return list_by_int(sq(base), ST_PART_EXPIRED, now, partial_emit, (row_cb){.partial = cb}, ctx,
	                   "list expired uploads");
}

/* -- appointments -- */

static mcd_store_status sq_appointment_add(mcd_store *base, int64_t patient_id, int64_t doctor_id, int64_t created,
                                           const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = users_exist_on(c, patient_id, doctor_id);
	sqlite3_stmt *st = q_if_ok(c, ST_APPT_INSERT, &r);
	if (st) {
		sqlite3_bind_int64(st, 1, patient_id);
		sqlite3_bind_int64(st, 2, doctor_id);
		sqlite3_bind_int64(st, 3, created);
		r = run_write(c, ST_APPT_INSERT, st, "insert an appointment");
	}
	return writer_end_audited(s, c, r, ev);
}

/* Runs a statement of the form (?1 int, ?2 int, ?3 int) that changes rows; *changed gets how many. */
static mcd_store_status change_3(conn *c, enum stmt_id id, int64_t a, int64_t b, int64_t t, int64_t *changed,
                                 const char *what)
{
	sqlite3_stmt *st = q(c, id);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, t);
	mcd_store_status r = run_write(c, id, st, what);
	if (r == MCD_STORE_OK && changed)
		*changed = sqlite3_changes(c->db);
	return r;
}

static mcd_store_status sq_appointment_delete(mcd_store *base, int64_t patient_id, int64_t doctor_id,
                                              int64_t *wraps_deleted, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	int64_t deleted = 0;
	if (wraps_deleted)
		*wraps_deleted = 0;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = changed_some(c, update_id_int(c, ST_APPT_DELETE, patient_id, doctor_id, "delete an appointment"));
	/* Honest revocation: the doctor's wraps of the patient's images go, except of images the
	 * doctor sent, and so do the consents the patient approved to them. */
	if (r == MCD_STORE_OK)
		r = change_3(c, ST_DISMISS_WRAPS, patient_id, doctor_id, 0, &deleted,
		             "delete a dismissed doctor's wraps");
	if (r == MCD_STORE_OK)
		r = change_3(c, ST_DISMISS_CONSENTS, patient_id, doctor_id, ev ? ev->time : 0, NULL,
		             "withdraw a dismissed doctor's consents");
	return writer_end_counted(s, c, r, ev, "wraps_deleted", deleted, wraps_deleted);
}

static mcd_store_status sq_is_appointed(mcd_store *base, int64_t patient_id, int64_t doctor_id, bool *yes,
                                        int64_t *since)
{
	*yes = false;
	if (since)
		*since = 0;
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_APPT_GET, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, patient_id);
	sqlite3_bind_int64(st, 2, doctor_id);
	mcd_store_status r = step_row(c, st, "read an appointment");
	if (r == MCD_STORE_OK) {
		*yes = true;
		if (since)
			*since = sqlite3_column_int64(st, 0);
	}
	return read_end(c, ST_APPT_GET, st, r == MCD_STORE_NOT_FOUND ? MCD_STORE_OK : r); /* no row: not appointed */
}

/* A row of both appointment listings, to the caller. */
static int appointment_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_appointment view = {.patient_id = sqlite3_column_int64(st, 0),
	                        .doctor_id = sqlite3_column_int64(st, 1),
	                        .created = sqlite3_column_int64(st, 2),
	                        .peer_username = col_text(st, 3),
	                        .peer_display_name = col_text(st, 4),
	                        .peer_disabled = sqlite3_column_int(st, 5) != 0};
	return cb.appointment(ctx, &view);
}

static mcd_store_status sq_appointments_for_patient(mcd_store *base, int64_t patient_id, mcd_appointment_cb cb,
                                                    void *ctx)
{
	return list_by_int(sq(base), ST_APPTS_OF_PATIENT, patient_id, appointment_emit, (row_cb){.appointment = cb},
	                   ctx, "list appointments");
}

static mcd_store_status sq_appointments_for_doctor(mcd_store *base, int64_t doctor_id, mcd_appointment_cb cb, void *ctx)
{
	return list_by_int(sq(base), ST_APPTS_OF_DOCTOR, doctor_id, appointment_emit, (row_cb){.appointment = cb}, ctx,
	                   "list appointments");
}

/* -- messages -- */

/* Fills m from a row of MESSAGE_COLS, pointing into the statement. */
static void message_view(sqlite3_stmt *st, mcd_message *m)
{
	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", col_text(st, 0));
	snprintf(m->thread_id, sizeof m->thread_id, "%s", col_text(st, 1));
	m->sender_id = sqlite3_column_int64(st, 2);
	m->sender = (char *)col_text(st, 3);
	m->recipient_id = sqlite3_column_int64(st, 4);
	m->recipient = (char *)col_text(st, 5);
	m->created = sqlite3_column_int64(st, 6);
	m->size = sqlite3_column_int64(st, 7);
	m->read_at = sqlite3_column_int64(st, 8);
}

static int message_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_message view;
	message_view(st, &view);
	return cb.message(ctx, &view);
}

/* row_copy_fn of an mcd_message: the row of MESSAGE_COLS and m.sealed. */
static bool message_copy_row(sqlite3_stmt *st, void *out)
{
	mcd_message view;
	message_view(st, &view);
	mcd_message *m = calloc(1, sizeof *m);
	const void *sealed = sqlite3_column_blob(st, 9);
	size_t sealed_len = (size_t)sqlite3_column_bytes(st, 9);
	if (m) {
		*m = view;
		m->sender = dup_text(view.sender);
		m->recipient = dup_text(view.recipient);
		m->sealed = dup_bytes(sealed, sealed_len);
		m->sealed_len = sealed_len;
	}
	if (!m || !m->sender || !m->recipient || !m->sealed) {
		mcd_message_free(m);
		return false;
	}
	*(mcd_message **)out = m;
	return true;
}

static mcd_store_status sq_message_create(mcd_store *base, const mcd_message *m, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!image_id_valid(m->id) || !image_id_valid(m->thread_id) || !m->sealed)
		return MCD_STORE_ERROR;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = users_exist_on(c, m->sender_id, m->recipient_id);
	sqlite3_stmt *st = q_if_ok(c, ST_MSG_INSERT, &r);
	if (st) {
		bind_text(st, 1, m->id);
		bind_text(st, 2, m->thread_id);
		sqlite3_bind_int64(st, 3, m->sender_id);
		sqlite3_bind_int64(st, 4, m->recipient_id);
		sqlite3_bind_int64(st, 5, m->created);
		sqlite3_bind_int64(st, 6, (int64_t)m->sealed_len);
		bind_blob(st, 7, m->sealed, m->sealed_len);
		r = run_write(c, ST_MSG_INSERT, st, "insert a message");
	}
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_message_get(mcd_store *base, const char *id, mcd_message **out)
{
	*out = NULL;
	return get_by_key(sq(base), ST_MSG_GET, id, message_copy_row, out, "read a message");
}

static mcd_store_status sq_messages_for_user(mcd_store *base, int64_t user_id, const char *thread_id, bool unread_only,
                                             const char *before_id, int limit, mcd_message_cb cb, void *ctx)
{
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_MSGS_FOR_USER, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	bind_text(st, 2, thread_id);
	bind_text(st, 3, before_id);
	sqlite3_bind_int(st, 4, limit);
	sqlite3_bind_int(st, 5, unread_only ? 1 : 0);
	return list_rows(c, ST_MSGS_FOR_USER, st, message_emit, (row_cb){.message = cb}, ctx, "list messages");
}

static mcd_store_status sq_message_mark_read(mcd_store *base, const char *id, int64_t recipient_id, int64_t when,
                                             const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_message *m = NULL;
	mcd_store_status r = sq_message_get(base, id, &m);
	bool mine = r == MCD_STORE_OK && m->recipient_id == recipient_id;
	mcd_message_free(m);
	if (r != MCD_STORE_OK)
		return r;
	if (!mine)
		return MCD_STORE_NOT_FOUND;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	sqlite3_stmt *st = q_if_ok(c, ST_MSG_READ, &r);
	if (st) {
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, recipient_id);
		sqlite3_bind_int64(st, 3, when);
		r = run_write(c, ST_MSG_READ, st, "mark a message read");
	}

	/* read once: a second mark changes nothing and is not audited again */
	if (r == MCD_STORE_OK && sqlite3_changes(c->db) > 0)
		r = audit_append_on(s, c, ev);
	return writer_end(c, r);
}

/* -- consents -- */

/* Fills c from a row of CONSENT_COLS, pointing into the statement. */
static void consent_view(sqlite3_stmt *st, mcd_consent *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->id, sizeof c->id, "%s", col_text(st, 0));
	c->patient_id = sqlite3_column_int64(st, 1);
	c->doctor_id = sqlite3_column_int64(st, 2);
	c->patient = (char *)col_text(st, 3);
	c->doctor = (char *)col_text(st, 4);
	c->created = sqlite3_column_int64(st, 5);
	c->expires = sqlite3_column_int64(st, 6);
	snprintf(c->status, sizeof c->status, "%s", col_text(st, 7));
	c->decided = sqlite3_column_int64(st, 8);
	c->images = sqlite3_column_int64(st, 9);
	c->sealed = (uint8_t *)sqlite3_column_blob(st, 10);
	c->sealed_len = (size_t)sqlite3_column_bytes(st, 10);
}

static int consent_emit(sqlite3_stmt *st, row_cb cb, void *ctx)
{
	mcd_consent view;
	consent_view(st, &view);
	return cb.consent(ctx, &view);
}

/* row_copy_fn of an mcd_consent. */
static bool consent_copy_row(sqlite3_stmt *st, void *out)
{
	mcd_consent view;
	consent_view(st, &view);
	mcd_consent *cs = calloc(1, sizeof *cs);
	if (cs) {
		*cs = view;
		cs->patient = dup_text(view.patient);
		cs->doctor = dup_text(view.doctor);
		cs->sealed = dup_bytes(view.sealed, view.sealed_len);
	}
	if (!cs || !cs->patient || !cs->doctor || !cs->sealed) {
		mcd_consent_free(cs);
		return false;
	}
	*(mcd_consent **)out = cs;
	return true;
}

static mcd_store_status sq_consent_create(mcd_store *base, const mcd_consent *cs, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	if (!image_id_valid(cs->id) || !cs->sealed || cs->sealed_len == 0)
		return MCD_STORE_ERROR;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	r = users_exist_on(c, cs->patient_id, cs->doctor_id);
	sqlite3_stmt *st = q_if_ok(c, ST_CONSENT_INSERT, &r);
	if (st) {
		bind_text(st, 1, cs->id);
		sqlite3_bind_int64(st, 2, cs->patient_id);
		sqlite3_bind_int64(st, 3, cs->doctor_id);
		sqlite3_bind_int64(st, 4, cs->created);
		sqlite3_bind_int64(st, 5, cs->expires);
		bind_blob(st, 6, cs->sealed, cs->sealed_len);
		r = run_write(c, ST_CONSENT_INSERT, st, "insert a consent");
	}
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_consent_get(mcd_store *base, const char *id, mcd_consent **out)
{
	*out = NULL;
	return get_by_key(sq(base), ST_CONSENT_GET, id, consent_copy_row, out, "read a consent");
}

static mcd_store_status sq_consents_for_user(mcd_store *base, int64_t user_id, const char *status, int64_t now,
                                             mcd_consent_cb cb, void *ctx)
{
	conn *c;
	sqlite3_stmt *st = read_begin(sq(base), ST_CONSENTS_FOR_USER, &c);
	if (!st)
		return MCD_STORE_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	bind_text(st, 2, status);
	sqlite3_bind_int64(st, 3, now);
	return list_rows(c, ST_CONSENTS_FOR_USER, st, consent_emit, (row_cb){.consent = cb}, ctx, "list consents");
}

static mcd_store_status sq_has_consent(mcd_store *base, int64_t patient_id, int64_t doctor_id, bool *yes)
{
	int64_t v = 0;
	mcd_store_status r = read_int(sq(base), ST_CONSENT_HAS, patient_id, doctor_id, &v, "look up a consent");
	*yes = r == MCD_STORE_OK && v != 0;
	return r;
}

/* The state of consent id inside the writer's transaction. */
struct consent_state {
	int64_t patient_id, doctor_id, expires;
	char status[12];
};

static mcd_store_status consent_state_on(conn *c, const char *id, struct consent_state *cs)
{
	sqlite3_stmt *st = q(c, ST_CONSENT_STATE);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, id);
	mcd_store_status r = step_row(c, st, "read a consent's state");
	if (r == MCD_STORE_OK) {
		cs->patient_id = sqlite3_column_int64(st, 0);
		cs->doctor_id = sqlite3_column_int64(st, 1);
		snprintf(cs->status, sizeof cs->status, "%s", col_text(st, 2));
		cs->expires = sqlite3_column_int64(st, 3);
	}
	q_done(c, ST_CONSENT_STATE, st);
	return r;
}

static mcd_store_status consent_set_on(conn *c, const char *id, const char *status, int64_t when)
{
	sqlite3_stmt *st = q(c, ST_CONSENT_SET);
	if (!st)
		return MCD_STORE_ERROR;
	bind_text(st, 1, id);
	bind_text(st, 2, status);
	sqlite3_bind_int64(st, 3, when);
	return run_write(c, ST_CONSENT_SET, st, "decide a consent");
}

/* Whether a pending consent may still be decided at now. */
static bool consent_open(const struct consent_state *cs, int64_t now)
{
	return !strcmp(cs->status, "pending") && now < cs->expires;
}

/* The state of consent id for a decision of its patient at now: NOT_FOUND when patient_id is
 * not its patient, CONFLICT when it can no longer be decided. */
static mcd_store_status consent_to_decide_on(conn *c, const char *id, int64_t patient_id, int64_t now,
                                             struct consent_state *cs)
{
	mcd_store_status r = consent_state_on(c, id, cs);
	if (r == MCD_STORE_OK && cs->patient_id != patient_id)
		r = MCD_STORE_NOT_FOUND;
	if (r == MCD_STORE_OK && !consent_open(cs, now))
		r = MCD_STORE_CONFLICT;
	return r;
}

static mcd_store_status sq_consent_approve(mcd_store *base, const char *id, int64_t patient_id, int64_t now,
                                           const mcd_consent_wrap *wraps, size_t n, size_t *bad_index, int64_t *added,
                                           const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	int64_t count = 0;
	*added = 0;
	if (bad_index)
		*bad_index = 0;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	struct consent_state cs;
	r = consent_to_decide_on(c, id, patient_id, now, &cs);
	for (size_t i = 0; r == MCD_STORE_OK && i < n; i++) {
		sqlite3_stmt *st = q_if_ok(c, ST_CONSENT_IMAGE, &r);
		if (!st)
			break;
		bind_text(st, 1, wraps[i].image_id);
		sqlite3_bind_int64(st, 2, patient_id);
		r = step_row(c, st, "look up a consent's image");
		int64_t image_n = r == MCD_STORE_OK ? sqlite3_column_int64(st, 0) : 0;
		q_done(c, ST_CONSENT_IMAGE, st);
		if (r == MCD_STORE_NOT_FOUND && bad_index)
			*bad_index = i;
		if (!(st = q_if_ok(c, ST_CONSENT_WRAP_INSERT, &r)))
			break;
		sqlite3_bind_int64(st, 1, image_n);
		sqlite3_bind_int64(st, 2, cs.doctor_id);
		sqlite3_bind_int64(st, 3, patient_id);
		bind_blob(st, 4, wraps[i].wrap, wraps[i].wrap_len);
		bind_text(st, 5, id);
		r = run_write(c, ST_CONSENT_WRAP_INSERT, st, "insert a consent's wrap");
		if (r == MCD_STORE_OK)
			count += sqlite3_changes(c->db); /* 0: the doctor holds that image already */
	}
	if (r == MCD_STORE_OK)
		r = consent_set_on(c, id, "approved", now);
	return writer_end_counted(s, c, r, ev, "images", count, added);
}

static mcd_store_status sq_consent_deny(mcd_store *base, const char *id, int64_t patient_id, int64_t now,
                                        const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	struct consent_state cs;
	r = consent_to_decide_on(c, id, patient_id, now, &cs);
	if (r == MCD_STORE_OK)
		r = consent_set_on(c, id, "denied", now);
	return writer_end_audited(s, c, r, ev);
}

static mcd_store_status sq_consent_withdraw(mcd_store *base, const char *id, int64_t by_id, int64_t now,
                                            int64_t *wraps_deleted, const mcd_audit_event *ev)
{
	sq_store *s = sq(base);
	int64_t deleted = 0;
	if (wraps_deleted)
		*wraps_deleted = 0;
	mcd_store_status r;
	conn *c = writer_begin(s, &r);
	if (!c)
		return r;
	struct consent_state cs;
	r = consent_state_on(c, id, &cs);
	if (r == MCD_STORE_OK && cs.patient_id != by_id && cs.doctor_id != by_id)
		r = MCD_STORE_NOT_FOUND;
	/* the patient takes back an approval; the doctor takes back a request still open */
	if (r == MCD_STORE_OK &&
	    (cs.patient_id == by_id ? strcmp(cs.status, "approved") != 0 : !consent_open(&cs, now)))
		r = MCD_STORE_CONFLICT;
	if (r == MCD_STORE_OK && cs.patient_id == by_id) {
		r = write_text_key(c, ST_CONSENT_WRAPS_DELETE, id, "delete a consent's wraps");
		if (r == MCD_STORE_OK)
			deleted = sqlite3_changes(c->db);
	}
	if (r == MCD_STORE_OK)
		r = consent_set_on(c, id, "withdrawn", now);
	return writer_end_counted(s, c, r, ev, "wraps_deleted", deleted, wraps_deleted);
}

static const mcd_store_ops sqlite_ops = {
    .close = sq_close,
    .health = sq_health,
    .integrity_check = sq_integrity_check,
    .user_create = sq_user_create,
    .user_by_name = sq_user_by_name,
    .user_by_id = sq_user_by_id,
    .user_by_enc_fp = sq_user_by_enc_fp,
    .users_list = sq_users_list,
    .user_update = sq_user_update,
    .users_count = sq_users_count,
    .user_email_get = sq_user_email_get,
    .user_email_set = sq_user_email_set,
    .invitation_create = sq_invitation_create,
    .invitations_pending = sq_invitations_pending,
    .invitation_get = sq_invitation_get,
    .invitation_delete = sq_invitation_delete,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_touch = sq_session_touch,
    .session_set_reauth = sq_session_set_reauth,
    .session_delete = sq_session_delete,
    .sessions_delete_user = sq_sessions_delete_user,
    .sessions_expire = sq_sessions_expire,
    .throttle_get = sq_throttle_get,
    .throttle_put = sq_throttle_put,
    .image_create = sq_image_create,
    .image_get = sq_image_get,
    .images_for_user = sq_images_for_user,
    .images_for_user_about = sq_images_for_user_about,
    .wrap_get = sq_wrap_get,
    .image_recipients = sq_image_recipients,
    .wrap_add = sq_wrap_add,
    .wrap_delete = sq_wrap_delete,
    .image_delete = sq_image_delete,
    .blob_referenced = sq_blob_referenced,
    .audit_append = sq_audit_append,
    .audit_append_batch = sq_audit_append_batch,
    .audit_list = sq_audit_list,
    .audit_head = sq_audit_head,
    .checkpoint_add = sq_checkpoint_add,
    .checkpoints_list = sq_checkpoints_list,
    .partial_create = sq_partial_create,
    .partial_get = sq_partial_get,
    .partial_advance = sq_partial_advance,
    .partial_delete = sq_partial_delete,
    .partials_expired = sq_partials_expired,
    .appointment_add = sq_appointment_add,
    .appointment_delete = sq_appointment_delete,
    .is_appointed = sq_is_appointed,
    .appointments_for_patient = sq_appointments_for_patient,
    .appointments_for_doctor = sq_appointments_for_doctor,
    .message_create = sq_message_create,
    .message_get = sq_message_get,
    .messages_for_user = sq_messages_for_user,
    .message_mark_read = sq_message_mark_read,
    .consent_create = sq_consent_create,
    .consent_get = sq_consent_get,
    .consents_for_user = sq_consents_for_user,
    .has_consent = sq_has_consent,
    .consent_approve = sq_consent_approve,
    .consent_deny = sq_consent_deny,
    .consent_withdraw = sq_consent_withdraw,
};

/* ---- opening ---- */

static bool pragma(conn *c, const char *sql)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(c, sql);
		return false;
	}
	return true;
}

static bool conn_open(conn *c, const char *path, bool writer)
{
	pthread_mutex_init(&c->mu, NULL);
	/* Each connection has its own mutex (ours), so SQLite's own can go. */
	int rc =
	    sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		mcd_log(MCD_LOG_ERROR, "store", "cannot open %s: %s", path,
		        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return false;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	if (!pragma(c, "PRAGMA foreign_keys = ON") || !pragma(c, "PRAGMA secure_delete = ON") ||
	    !pragma(c, "PRAGMA synchronous = FULL"))
		return false;
	if (!writer)
		return pragma(c, "PRAGMA query_only = ON");
	sqlite3_stmt *st = NULL;
	bool wal = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
	           sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal) {
		mcd_log(MCD_LOG_ERROR, "store", "%s: cannot switch to WAL mode", path);
		return false;
	}
	return true;
}

/* Applies each missing migration in its own transaction. */
static bool migrate(conn *c, const char *path)
{
	if (!pragma(c,
	            "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)"))
		return false;
	for (int v = 1; v <= N_MIGRATIONS; v++) {
		if (exec_id(c, ST_BEGIN) != SQLITE_OK) {
			db_fail(c, "begin a migration");
			return false;
		}
		int64_t current = -1;
		sqlite3_stmt *st = q(c, ST_VERSION);
		if (st && sqlite3_step(st) == SQLITE_ROW)
			current = sqlite3_column_int64(st, 0);
		q_done(c, ST_VERSION, st);
		bool ok = current >= 0;
		if (ok && current > N_MIGRATIONS) {
			mcd_log(MCD_LOG_ERROR, "store",
			        "%s has schema version %lld, newer than this server's %d: refusing it", path,
			        (long long)current, N_MIGRATIONS);
			ok = false;
		}
		if (ok && current < v) {
			ok = sqlite3_exec(c->db, migrations[v - 1], NULL, NULL, NULL) == SQLITE_OK;
			if (ok) {
				st = q(c, ST_VERSION_ADD);
				ok = st != NULL;
				if (st) {
					sqlite3_bind_int(st, 1, v);
					ok = sqlite3_step(st) == SQLITE_DONE;
					q_done(c, ST_VERSION_ADD, st);
				}
			}
			if (!ok)
				db_fail(c, "migration");
			else
				mcd_log(MCD_LOG_INFO, "store", "%s: applied schema migration %d", path, v);
		}
		if (ok && exec_id(c, ST_COMMIT) != SQLITE_OK) {
			db_fail(c, "commit a migration");
			ok = false;
		}
		if (!ok) {
			if (sqlite3_get_autocommit(c->db) == 0)
				exec_id(c, ST_ROLLBACK);
			return false;
		}
	}
	return true;
}

mcd_store *mcd_store_sqlite_open(const char *path, struct mcd_audit_signer *signer)
{
	if (!path)
		return NULL;
	/* Created by us first, so the database (and the -wal and -shm files, which SQLite gives the
	 * same mode) is 0600. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		mcd_log(MCD_LOG_ERROR, "store", "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	close(fd);
	sq_store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->base.ops = &sqlite_ops;
	s->signer = signer;
	atomic_init(&s->next_reader, 0);
	pthread_mutex_init(&s->group_mu, NULL);
	pthread_cond_init(&s->group_cv, NULL);
	s->group_tail = &s->group_head;
	bool ok = conn_open(&s->writer, path, true) && migrate(&s->writer, path);
	int opened = 0;
	for (; ok && opened < N_READERS; opened++) {
		s->readers[opened].owner = s;
		ok = conn_open(&s->readers[opened], path, false);
	}
	if (!ok) {
		/* conn_open initialised the mutex of every connection it was called on. */
		for (int i = 0; i < opened; i++)
			conn_close(&s->readers[i]);
		conn_close(&s->writer);
		pthread_mutex_destroy(&s->group_mu);
		pthread_cond_destroy(&s->group_cv);
		free(s);
		return NULL;
	}
	return &s->base;
}
