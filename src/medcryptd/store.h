/*
 * store.h: the server's metadata store, behind a table of operations so that a PostgreSQL store
 * can sit beside the SQLite one (store_sqlite.c) without a handler changing. It holds users,
 * invitations, sessions, login throttling, images (with the patient account each is about),
 * wraps, appointments, consents, sealed messages and the audit chain; never a plaintext image, a private key or a
 * password. Every operation that changes state and names an audit event appends that event in the same transaction, so
 * an acknowledged action and its audit record are durable together or not at all.
 *
 * Ownership: every struct an operation fills is freed with its *_free function (NULL is
 * harmless); strings and byte buffers inside it belong to it. Results are mcd_store_status; an
 * operation that fails leaves the store as it was.
 */
#ifndef MEDCRYPTD_STORE_H
#define MEDCRYPTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mcd_store_status {
	MCD_STORE_OK = 0,
	MCD_STORE_NOT_FOUND = 1, /* no such row */
	MCD_STORE_CONFLICT = 2,  /* unique key taken, invitation used or expired, share exists */
	MCD_STORE_ERROR = 3,     /* database failure: logged by the store with its detail */
	MCD_STORE_NOMEM = 4
} mcd_store_status;

typedef enum mcd_role {
	MCD_ROLE_NONE = 0,
	MCD_ROLE_ADMIN = 1,
	MCD_ROLE_TECHNICIAN = 2,
	MCD_ROLE_DOCTOR = 3,
	MCD_ROLE_PATIENT = 4,
	MCD_ROLE_RESEARCHER = 5
} mcd_role;

/* "admin", "technician", ... ; NULL for an invalid role. */
const char *mcd_role_name(mcd_role r);
/* MCD_ROLE_NONE for an unknown name. */
mcd_role mcd_role_parse(const char *name);

typedef struct mcd_user {
	int64_t id;
	char *username;
	char *display_name;
	mcd_role role;
	char *enc_public_pem;  /* SubjectPublicKeyInfo, PEM */
	char *sign_public_pem; /* SubjectPublicKeyInfo, PEM */
	uint8_t enc_fp[32];    /* SHA-256 of the DER SPKI of the encryption key */
	uint8_t sign_fp[32];
	uint8_t kdf_salt[16]; /* the client's Argon2id salt (API.md §13) */
	uint32_t kdf_t, kdf_m, kdf_p;
	char *auth_hash;           /* argon2id encoded string of Argon2id(auth_key) */
	uint8_t *wrapped_password; /* key bundle wrapped under the password */
	size_t wrapped_password_len;
	uint8_t *wrapped_recovery; /* key bundle wrapped under the recovery code */
	size_t wrapped_recovery_len;
	int64_t created;
	bool disabled;
} mcd_user;
void mcd_user_free(mcd_user *u);

/* An audit event as a handler states it; the store adds seq, hash and chain (audit.h). */
typedef struct mcd_audit_event {
	int64_t time;
	const char *actor;   /* username, or "-" when none */
	const char *address; /* client address */
	const char *action;  /* API.md §17 */
	const char *object;  /* image id, username, ... or "-" */
	const char *outcome; /* "ok", "denied", "failed" */
	const char *detail;  /* a JSON object as text, or NULL for {} */
} mcd_audit_event;

/* A stored audit record (the event plus its place in the chain). */
typedef struct mcd_audit_record {
	int64_t seq;
	int64_t time;
	char *actor, *address, *action, *object, *outcome, *detail;
	uint8_t hash[32];
} mcd_audit_record;
void mcd_audit_record_free(mcd_audit_record *r);

typedef struct mcd_session {
	uint8_t token_hash[32];
	int64_t user_id;
	int64_t created;
	int64_t last_seen;
	int64_t expires;   /* absolute end: created + 12 h */
	int64_t reauth_at; /* last re-authentication, 0 when none */
} mcd_session;

/* Lockout state of one key ("u:USERNAME" or "a:ADDRESS"). */
typedef struct mcd_throttle {
	int failures;         /* consecutive failures since the last success */
	int lockouts;         /* lockouts so far: the next lasts 60 s << lockouts */
	int64_t locked_until; /* 0 when not locked */
} mcd_throttle;

typedef struct mcd_image {
	char id[33]; /* 32 hex digits */
	int64_t sender_id;
	char *sender; /* username of the sender */
	uint8_t blob_sha256[32];
	int64_t size;    /* of the blob */
	uint8_t *header; /* blob prefix and core (API.md §15) */
	size_t header_len;
	int64_t created;
	int64_t patient_id; /* the patient account the image is about; 0: none named */
	char *patient;      /* that patient's username; NULL when none */
	bool deidentified;  /* the sender's mark (API.md §15): the claim itself is in the metadata */
} mcd_image;
void mcd_image_free(mcd_image *im);

typedef struct mcd_wrap {
	int64_t user_id;
	int64_t granted_by;
	uint8_t *wrap; /* detached wrap, FORMAT.md §4 */
	size_t wrap_len;
} mcd_wrap;

/* A resumable upload in progress (API.md §15a). Its bytes are in DATA_DIR/uploads/ID, which
 * handlers/tus.c keeps; the row says whose it is and how many of them are durable. */
/* An invitation as the admin sees it (API.md §13): never its code, of which the store keeps only
 * the SHA-256. */
typedef struct mcd_invitation {
	char id[33]; /* 16 random bytes in hex: what the admin's routes name it by */
	mcd_role role;
	int64_t created; /* 0 for an invitation made before schema 3 */
	int64_t expires;
	int64_t created_by;    /* user id; 0: the server (first start, `medcryptd invite`) */
	char *created_by_name; /* that user's name; NULL for the server */
} mcd_invitation;
void mcd_invitation_free(mcd_invitation *inv);

typedef struct mcd_partial {
	char id[33]; /* 32 hex digits */
	int64_t owner_id;
	uint64_t length;   /* Upload-Length */
	uint64_t received; /* the durable offset: always below length (the last byte completes it) */
	char *metadata;    /* Upload-Metadata as the client sent it, or NULL */
	int64_t created;
	int64_t expires;
} mcd_partial;
void mcd_partial_free(mcd_partial *p);

/* An appointment (API.md §16a): a patient has appointed a doctor. Listings hand it to their
 * callback with the other party's name (the doctor for a patient's list, the patient for a
 * doctor's), pointing into the store's row: valid only during the call, nothing to free. */
typedef struct mcd_appointment {
	int64_t patient_id;
	int64_t doctor_id;
	int64_t created;
	const char *peer_username;
	const char *peer_display_name;
	bool peer_disabled;
} mcd_appointment;

/* A sealed message (API.md §16b): the server knows its parties, thread, time, size and read
 * time, never its text. Listings hand a view to their callback (strings point into the store's
 * row, sealed is NULL); message_get fills an owned copy with the sealed bytes, freed with
 * mcd_message_free. */
typedef struct mcd_message {
	char id[33];        /* 32 hex digits */
	char thread_id[33]; /* the id of the thread's first message */
	int64_t sender_id;
	int64_t recipient_id;
	char *sender; /* usernames */
	char *recipient;
	int64_t created;
	int64_t size;    /* of the sealed bytes */
	int64_t read_at; /* 0 while unread */
	uint8_t *sealed; /* the sealed container (message_get only) */
	size_t sealed_len;
} mcd_message;
void mcd_message_free(mcd_message *m);

/* A consent request (API.md §16c): a doctor asks a patient for access. The server knows its
 * parties, times, status and how many wraps were made under it; the scope and the reason are in
 * `sealed`, which only the two parties can open. status is as stored ("pending", "approved",
 * "denied", "withdrawn"): a pending consent at or past `expires` reads as "expired", which the
 * handler says (mcd_consent_status_at). Listings hand a view to their callback (strings and
 * sealed point into the store's row); consent_get fills an owned copy, freed with
 * mcd_consent_free. */
typedef struct mcd_consent {
	char id[33]; /* 32 hex digits */
	int64_t patient_id;
	int64_t doctor_id;
	char *patient; /* usernames */
	char *doctor;
	int64_t created;
	int64_t expires;
	char status[12];
	int64_t decided; /* 0 while undecided */
	int64_t images;  /* wraps made under it that still exist */
	uint8_t *sealed; /* the sealed request */
	size_t sealed_len;
} mcd_consent;
void mcd_consent_free(mcd_consent *c);
/* "expired" for a pending consent at or past its expiry at now, its stored status otherwise. */
const char *mcd_consent_status_at(const mcd_consent *c, int64_t now);

/* One wrap a patient's client made for the doctor of a consent: the image's id and a detached
 * wrap (FORMAT.md §4) the handler has checked names the doctor's current key. */
typedef struct mcd_consent_wrap {
	const char *image_id;
	const uint8_t *wrap;
	size_t wrap_len;
} mcd_consent_wrap;

typedef struct mcd_store mcd_store;

/* Callbacks for listings: return 0 to go on, non-zero to stop. The row is valid only during
 * the call. */
typedef int (*mcd_user_cb)(void *ctx, const mcd_user *u);
typedef int (*mcd_image_cb)(void *ctx, const mcd_image *im,
                            const mcd_wrap *my_wrap /* NULL for the sender without a wrap */);
typedef int (*mcd_audit_cb)(void *ctx, const mcd_audit_record *r);
typedef int (*mcd_partial_cb)(void *ctx, const mcd_partial *p);
typedef int (*mcd_invitation_cb)(void *ctx, const mcd_invitation *inv);
typedef int (*mcd_appointment_cb)(void *ctx, const mcd_appointment *a);
typedef int (*mcd_message_cb)(void *ctx, const mcd_message *m);
typedef int (*mcd_consent_cb)(void *ctx, const mcd_consent *c);
typedef int (*mcd_checkpoint_cb)(void *ctx, int64_t seq, const uint8_t hash[32], const uint8_t *sig, size_t sig_len);

/* The operations of a metadata store. Every function pointer is set. */
typedef struct mcd_store_ops {
	void (*close)(mcd_store *s);
	mcd_store_status (*health)(mcd_store *s);
	/* PRAGMA integrity_check or the backend's equivalent; ok is set when it passes. */
	mcd_store_status (*integrity_check)(mcd_store *s, bool *ok);

	/* Users. user_create consumes the invitation whose SHA-256 is invitation_hash (NULL for a
	 * self-registered patient) atomically with the insert: CONFLICT when the name is taken or
	 * the invitation is unknown, used or expired at now. The role is the invitation's (when
	 * given); u->role otherwise. Fills u->id and u->role. */
	mcd_store_status (*user_create)(mcd_store *s, mcd_user *u, const uint8_t *invitation_hash, int64_t now,
	                                const mcd_audit_event *ev);
	mcd_store_status (*user_by_name)(mcd_store *s, const char *username, mcd_user **out);
	mcd_store_status (*user_by_id)(mcd_store *s, int64_t id, mcd_user **out);
	/* The (enabled) user whose current encryption key has this fingerprint. */
	mcd_store_status (*user_by_enc_fp)(mcd_store *s, const uint8_t fp[32], mcd_user **out);
	/* Users by username; role MCD_ROLE_NONE lists every role. Disabled users only when
	 * with_disabled is set (the admin's view). */
	mcd_store_status (*users_list)(mcd_store *s, mcd_role role, bool with_disabled, mcd_user_cb cb, void *ctx);
	/* Role and/or disabled flag (role NONE leaves it, disabled < 0 leaves it). Disabling
	 * deletes the user's sessions in the same transaction. */
	mcd_store_status (*user_update)(mcd_store *s, int64_t id, mcd_role role, int disabled,
	                                const mcd_audit_event *ev);
	mcd_store_status (*users_count)(mcd_store *s, int64_t *n);
	/* A user's optional e-mail address for notice mails (API.md §16): *out is NULL when none is
	 * set, else freed by the caller with free(); NOT_FOUND for an unknown id. user_email_set
	 * stores email (NULL clears it; the caller validates it) with its audit event. */
	mcd_store_status (*user_email_get)(mcd_store *s, int64_t id, char **out);
	mcd_store_status (*user_email_set)(mcd_store *s, int64_t id, const char *email, const mcd_audit_event *ev);

	/* Invitations: stored by the SHA-256 of the code, named by inv->id (its created_by_name is
	 * ignored). CONFLICT when the hash or the id is taken. */
	mcd_store_status (*invitation_create)(mcd_store *s, const uint8_t code_hash[32], const mcd_invitation *inv,
	                                      const mcd_audit_event *ev);
	/* Invitations neither used nor expired at now, oldest first. */
	mcd_store_status (*invitations_pending)(mcd_store *s, int64_t now, mcd_invitation_cb cb, void *ctx);
	/* The unused invitation id, expired or not (NOT_FOUND for a used or unknown one). Free *out
	 * with mcd_invitation_free. */
	mcd_store_status (*invitation_get)(mcd_store *s, const char *id, mcd_invitation **out);
	/* Deletes the unused invitation id, so that its code registers no one (user_create then
	 * answers CONFLICT, as for an unknown code). NOT_FOUND when it was used or is unknown. */
	mcd_store_status (*invitation_delete)(mcd_store *s, const char *id, const mcd_audit_event *ev);

	/* Sessions, by the SHA-256 of the token. */
	mcd_store_status (*session_create)(mcd_store *s, const mcd_session *se, const mcd_audit_event *ev);
	mcd_store_status (*session_get)(mcd_store *s, const uint8_t token_hash[32], mcd_session *out);
	mcd_store_status (*session_touch)(mcd_store *s, const uint8_t token_hash[32], int64_t last_seen);
	mcd_store_status (*session_set_reauth)(mcd_store *s, const uint8_t token_hash[32], int64_t when);
	mcd_store_status (*session_delete)(mcd_store *s, const uint8_t token_hash[32], const mcd_audit_event *ev);
	mcd_store_status (*sessions_delete_user)(mcd_store *s, int64_t user_id, const mcd_audit_event *ev);
	/* Removes sessions idle since before idle_cutoff or past their absolute end at now. */
	mcd_store_status (*sessions_expire)(mcd_store *s, int64_t idle_cutoff, int64_t now);

	/* Login throttling. A missing key reads as all zero. throttle_put with an event appends it
	 * (a lockout, a failed login) in the same transaction. */
	mcd_store_status (*throttle_get)(mcd_store *s, const char *key, mcd_throttle *out);
	mcd_store_status (*throttle_put)(mcd_store *s, const char *key, const mcd_throttle *t,
	                                 const mcd_audit_event *ev);

	/* Images. image_create inserts the image and its wraps (n_wraps rows) at once. */
	mcd_store_status (*image_create)(mcd_store *s, const mcd_image *im, const mcd_wrap *wraps, size_t n_wraps,
	                                 const mcd_audit_event *ev);
	mcd_store_status (*image_get)(mcd_store *s, const char *id, mcd_image **out);
	/* Images user_id sent or holds a wrap of, newest first, before the image before_id (NULL
	 * for the start), at most limit. */
	mcd_store_status (*images_for_user)(mcd_store *s, int64_t user_id, const char *before_id, int limit,
	                                    mcd_image_cb cb, void *ctx);
	/* The same, only images about the patient patient_id (GET /api/v1/images?patient=U). */
	mcd_store_status (*images_for_user_about)(mcd_store *s, int64_t user_id, int64_t patient_id,
	                                          const char *before_id, int limit, mcd_image_cb cb, void *ctx);
	/* The wrap of image_id held by user_id. *out is freed with mcd_wrap_free. */
	mcd_store_status (*wrap_get)(mcd_store *s, const char *image_id, int64_t user_id, mcd_wrap **out);
	/* Usernames holding a wrap of image_id, in a NULL-terminated array freed with
	 * mcd_strv_free. */
	mcd_store_status (*image_recipients)(mcd_store *s, const char *image_id, char ***out);
	/* CONFLICT when the user already holds a wrap of the image. */
	mcd_store_status (*wrap_add)(mcd_store *s, const char *image_id, const mcd_wrap *w, const mcd_audit_event *ev);
	mcd_store_status (*wrap_delete)(mcd_store *s, const char *image_id, int64_t user_id, const mcd_audit_event *ev);
	/* Deletes the image and every wrap of it. *blob_unreferenced tells whether any other image
	 * still uses its blob; the caller then removes the blob from the blob store. */
	mcd_store_status (*image_delete)(mcd_store *s, const char *id, bool *blob_unreferenced,
	                                 const mcd_audit_event *ev);
	/* Whether any image references the blob (for cleanup of orphans at start). */
	mcd_store_status (*blob_referenced)(mcd_store *s, const uint8_t sha256[32], bool *yes);

	/* Resumable uploads (not audited: only the image a completed one makes is). partial_create
	 * inserts p unless its owner already has max_open uploads that have not expired at now
	 * (CONFLICT then, as for an id taken). partial_advance sets the durable offset and the
	 * expiry (NOT_FOUND when the row is gone). partials_expired lists the uploads whose expiry
	 * is at or before now; its callback may call partial_delete. */
	mcd_store_status (*partial_create)(mcd_store *s, const mcd_partial *p, unsigned max_open, int64_t now);
	mcd_store_status (*partial_get)(mcd_store *s, const char *id, mcd_partial **out);
	mcd_store_status (*partial_advance)(mcd_store *s, const char *id, uint64_t received, int64_t expires);
	mcd_store_status (*partial_delete)(mcd_store *s, const char *id);
	mcd_store_status (*partials_expired)(mcd_store *s, int64_t now, mcd_partial_cb cb, void *ctx);

	/* Appointments: pairs of user ids, nothing else (the roles are the handler's to check).
	 * appointment_add records that patient_id appointed doctor_id at created: CONFLICT when the
	 * pair exists already (nothing is written, no event), NOT_FOUND when either id is no user.
	 * appointment_delete removes the pair: NOT_FOUND when it does not exist (no event).
	 * is_appointed sets *yes, and *since (may be NULL) to the creation time or 0. The listings
	 * go oldest first. */
	mcd_store_status (*appointment_add)(mcd_store *s, int64_t patient_id, int64_t doctor_id, int64_t created,
	                                    const mcd_audit_event *ev);
	/* appointment_delete also, in the same transaction, deletes every wrap held by doctor_id of
	 * an image about patient_id that the doctor did not send, and marks the patient's approved
	 * consents to that doctor withdrawn (decided at ev->time); *wraps_deleted (may be NULL) gets
	 * the number of wraps deleted, and the audit record's detail is {"wraps_deleted": N}
	 * (ev->detail is ignored). */
	mcd_store_status (*appointment_delete)(mcd_store *s, int64_t patient_id, int64_t doctor_id,
	                                       int64_t *wraps_deleted, const mcd_audit_event *ev);
	mcd_store_status (*is_appointed)(mcd_store *s, int64_t patient_id, int64_t doctor_id, bool *yes,
	                                 int64_t *since);
	mcd_store_status (*appointments_for_patient)(mcd_store *s, int64_t patient_id, mcd_appointment_cb cb,
	                                             void *ctx);
	mcd_store_status (*appointments_for_doctor)(mcd_store *s, int64_t doctor_id, mcd_appointment_cb cb, void *ctx);

	/* Messages (API.md §16b). message_create inserts m (its names and read_at are ignored) with
	 * its audit event: CONFLICT when the id is taken, NOT_FOUND when either party is no user.
	 * message_get fills an owned copy with the sealed bytes (NOT_FOUND for an unknown id; the
	 * caller checks who may see it). messages_for_user lists the messages user_id sent or
	 * received, newest first, at most limit, only of thread_id when not NULL, only those
	 * received and unread when unread_only, and only older than before_id when not NULL (an
	 * unknown before_id lists from the newest). message_mark_read sets the read time of a
	 * message received by recipient_id once (a second call changes nothing and writes no event):
	 * NOT_FOUND when it is not that user's received message. */
	mcd_store_status (*message_create)(mcd_store *s, const mcd_message *m, const mcd_audit_event *ev);
	mcd_store_status (*message_get)(mcd_store *s, const char *id, mcd_message **out);
	mcd_store_status (*messages_for_user)(mcd_store *s, int64_t user_id, const char *thread_id, bool unread_only,
	                                      const char *before_id, int limit, mcd_message_cb cb, void *ctx);
	mcd_store_status (*message_mark_read)(mcd_store *s, const char *id, int64_t recipient_id, int64_t when,
	                                      const mcd_audit_event *ev);

	/* Consents (API.md §16c). consent_create inserts c (names, status, decided and images are
	 * ignored: it starts pending): CONFLICT when the id is taken, NOT_FOUND when either party is
	 * no user. consent_get fills an owned copy (NOT_FOUND for an unknown id; the caller checks
	 * who may see it). consents_for_user lists the consents user_id is a party of, newest first,
	 * only those whose status at now (mcd_consent_status_at) is status when status is not NULL.
	 * has_consent sets *yes when patient_id has an approved consent to doctor_id.
	 *
	 * The decisions check the consent again inside their transaction and change nothing unless
	 * all holds: NOT_FOUND for an unknown id or one of which by_id is not the deciding party,
	 * CONFLICT when it is not in the state the decision needs (pending and before its expiry at
	 * now, for approve, deny and a doctor's withdrawal; approved, for a patient's withdrawal).
	 * consent_approve inserts n wraps for the doctor, tagged with the consent, of images about
	 * the patient that the patient sent or holds a wrap of (otherwise NOT_FOUND, with
	 * *bad_index set to the offending entry), skipping images the doctor holds a wrap of
	 * already; *added gets how many were inserted; status approved, decided now; the audit
	 * detail is {"images": added}. consent_deny sets status denied, decided now.
	 * consent_withdraw: by the patient, deletes the wraps made under it (*wraps_deleted); by
	 * the doctor, a pending request (0 wraps); status withdrawn, decided now; the audit detail
	 * is {"wraps_deleted": N}. ev->detail is ignored where the detail is given here. */
	mcd_store_status (*consent_create)(mcd_store *s, const mcd_consent *c, const mcd_audit_event *ev);
	mcd_store_status (*consent_get)(mcd_store *s, const char *id, mcd_consent **out);
	mcd_store_status (*consents_for_user)(mcd_store *s, int64_t user_id, const char *status, int64_t now,
	                                      mcd_consent_cb cb, void *ctx);
	mcd_store_status (*has_consent)(mcd_store *s, int64_t patient_id, int64_t doctor_id, bool *yes);
	mcd_store_status (*consent_approve)(mcd_store *s, const char *id, int64_t patient_id, int64_t now,
	                                    const mcd_consent_wrap *wraps, size_t n, size_t *bad_index, int64_t *added,
	                                    const mcd_audit_event *ev);
	mcd_store_status (*consent_deny)(mcd_store *s, const char *id, int64_t patient_id, int64_t now,
	                                 const mcd_audit_event *ev);
	mcd_store_status (*consent_withdraw)(mcd_store *s, const char *id, int64_t by_id, int64_t now,
	                                     int64_t *wraps_deleted, const mcd_audit_event *ev);

	/* Audit chain (audit.h computes the hashes). */
	mcd_store_status (*audit_append)(mcd_store *s, const mcd_audit_event *ev);
	/* Appends n events in this order, durably, in as few commits as it can (one when all are
	 * well formed): status[i] is each one's result, as audit_append would give it. */
	void (*audit_append_batch)(mcd_store *s, const mcd_audit_event *const *evs, size_t n, mcd_store_status *status);
	/* Records with seq > after, at most limit (0: all), in order. */
	mcd_store_status (*audit_list)(mcd_store *s, int64_t after, int64_t limit, mcd_audit_cb cb, void *ctx);
	/* The last seq and hash (0 and zeros for an empty log). */
	mcd_store_status (*audit_head)(mcd_store *s, int64_t *seq, uint8_t hash[32]);
	mcd_store_status (*checkpoint_add)(mcd_store *s, int64_t seq, const uint8_t hash[32], const uint8_t *sig,
	                                   size_t sig_len);
	mcd_store_status (*checkpoints_list)(mcd_store *s, mcd_checkpoint_cb cb, void *ctx);
} mcd_store_ops;

struct mcd_store {
	const mcd_store_ops *ops;
};

void mcd_wrap_free(mcd_wrap *w);
void mcd_strv_free(char **v);

/* Opens (creating when missing) the SQLite store at path: WAL, foreign keys, versioned
 * migrations applied in one transaction each. audit_sign_ctx is handed to audit.h to sign a
 * checkpoint every MCD_AUDIT_CHECKPOINT_EVERY records (NULL: no signing, for offline reading).
 * NULL on failure, with the reason logged. Close with s->ops->close(s). */
struct mcd_audit_signer;
mcd_store *mcd_store_sqlite_open(const char *path, struct mcd_audit_signer *signer);

#endif
