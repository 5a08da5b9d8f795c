/*
 * tus.c: resumable uploads at /api/v1/uploads (API.md §15a), the tus 1.0.0 protocol with its
 * creation, termination and expiration extensions. POST creates an upload of Upload-Length
 * bytes (a row in the store and an empty partial file DATA_DIR/uploads/ID, mode 0600); each
 * PATCH appends its body at Upload-Offset to that file and, once the body is in, fsyncs it and
 * records the new offset, so the offset HEAD reports is durable and survives a restart. Memory
 * per upload is bounded by libmicrohttpd's buffer: bytes go to disk as they arrive. When the
 * last byte is in, the file is read back through the same pipeline as POST /api/v1/images
 * (upload.c: structural check, recipients, blob writer, image and wrap rows, audit) and the
 * PATCH answers what that POST would have answered; the upload is removed then, stored or
 * refused. Until then nothing of it is an image or a blob. The Upload-Metadata keys `patient`
 * and `deidentified` name what the upload is about (API.md §15a): checked at creation as far as
 * they can be (rules.h 1 to 3), and everything again at the completion. The stored offset stays below the
 * length: the last byte is only taken together with that completion.
 *
 * An upload belongs to the user who created it; for anyone else, and once expired, it answers
 * 404 exactly like an id that never existed. One request at a time may hold an upload (a
 * PATCH or DELETE): a second gets 409, as does a PATCH whose Upload-Offset is not the stored
 * one. A PATCH cut short keeps what arrived (fsync, then the offset). The sweep (main.c, at
 * start and every minute or upload-expiry, whichever is shorter) removes expired uploads: row
 * first, then file, so a crash in between leaves only a file no row names, which the next start
 * removes.
 */
#include "tus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../metrics.h"
#include "../router.h"
#include "../rules.h"
#include "../util.h"
#include "handlers.h"

#define TUS_VERSION    "1.0.0"
#define TUS_EXTENSIONS "creation,termination,expiration"
#define UPLOADS_DIR    "uploads"
#define METADATA_MAX   4096
#define READ_BLOCK     (1u << 20) /* the completion reads the partial file 1 MiB at a time */
#define OCTETS         "application/offset+octet-stream"

struct mcd_tus {
	char *dir;
	pthread_mutex_t mu; /* guards held */
	char (*held)[33];   /* ids a request holds */
	size_t n_held, cap_held;
};

/* Body bytes written between two writeback hints (sync_file_range). */
#define TUS_FLUSH_EVERY (8u << 20)

/* A PATCH in flight. */
struct mcd_tus_patch {
	mcd_partial *p;
	int fd;
	uint64_t written; /* body bytes appended by this request */
	uint64_t flushed; /* of those, handed to writeback so far (sync_file_range) */
	bool held;
	bool write_failed;
	bool finished; /* the handler ran: the row is up to date, or gone */
};

/* ---- the set of held uploads ---- */

static bool hold(struct mcd_tus *t, const char *id)
{
	bool ok = true;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; ok && i < t->n_held; i++)
		ok = strcmp(t->held[i], id) != 0;
	if (ok && t->n_held == t->cap_held) {
		size_t cap = t->cap_held ? 2 * t->cap_held : 16;
		char(*grown)[33] = realloc(t->held, cap * sizeof *grown);
		if (grown) {
			t->held = grown;
			t->cap_held = cap;
		} else {
			ok = false;
		}
	}
	if (ok)
		snprintf(t->held[t->n_held++], 33, "%s", id);
	pthread_mutex_unlock(&t->mu);
	return ok;
}

static void release(struct mcd_tus *t, const char *id)
{
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n_held; i++)
		if (!strcmp(t->held[i], id)) {
			memcpy(t->held[i], t->held[--t->n_held], 33);
			break;
		}
	pthread_mutex_unlock(&t->mu);
}

/* ---- files ---- */

static char *partial_path(const struct mcd_tus *t, const char *id)
{
	return mcd_path_join(t->dir, id);
}

/* Removes the row, then the file (see the top of the file for why in this order). */
static void remove_upload(mcd_server *srv, const char *id)
{
	mcd_store_status s = srv->store->ops->partial_delete(srv->store, id);
	if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND)
		return; /* logged by the store; the sweep tries again */
	char *path = partial_path(srv->tus, id);
	if (path && unlink(path) != 0 && errno != ENOENT)
		mcd_log(MCD_LOG_WARN, "tus", "cannot remove the partial file of upload %s: %s", id, strerror(errno));
	free(path);
}

static bool is_upload_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 32;
}

struct mcd_tus *mcd_tus_open(const mcd_server *srv)
{
	struct mcd_tus *t = calloc(1, sizeof *t);
	if (!t || !(t->dir = mcd_path_join(srv->cfg.data_dir, UPLOADS_DIR))) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
		mcd_log(MCD_LOG_ERROR, "tus", "cannot create %s: %s", t->dir, strerror(errno));
		mcd_tus_close(t);
		return NULL;
	}
	DIR *d = opendir(t->dir);
	if (!d) {
		mcd_log(MCD_LOG_ERROR, "tus", "cannot read %s: %s", t->dir, strerror(errno));
		mcd_tus_close(t);
		return NULL;
	}
	/* A partial file no row names was left by a crash between the two: nobody can resume it. */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!is_upload_id(e->d_name))
			continue;
		mcd_partial *p = NULL;
		if (srv->store->ops->partial_get(srv->store, e->d_name, &p) == MCD_STORE_NOT_FOUND) {
			mcd_log(MCD_LOG_INFO, "tus", "removing a partial file without an upload: %s", e->d_name);
			unlinkat(dirfd(d), e->d_name, 0);
		}
		mcd_partial_free(p);
	}
	closedir(d);
	return t;
}

void mcd_tus_close(struct mcd_tus *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->held);
	free(t->dir);
	free(t);
}

static int sweep_one(void *ctx, const mcd_partial *p)
{
	mcd_server *srv = ctx;
	if (!hold(srv->tus, p->id))
		return 0; /* a request holds it; it extends the expiry or ends it */
	mcd_log(MCD_LOG_INFO, "tus", "upload %s expired: removed", p->id);
	remove_upload(srv, p->id);
	release(srv->tus, p->id);
	return 0;
}

void mcd_tus_sweep(mcd_server *srv)
{
	if (srv->tus)
		srv->store->ops->partials_expired(srv->store, mcd_now(), sweep_one, srv);
}

/* ---- headers ---- */

bool mcd_tus_route(const struct mcd_route *rt)
{
	return rt &&
	       (rt->handler == mcd_h_tus_options || rt->handler == mcd_h_tus_create || rt->handler == mcd_h_tus_head ||
	        rt->handler == mcd_h_tus_patch || rt->handler == mcd_h_tus_delete);
}

/* Tus-Resumable must name 1.0.0 (412 with Tus-Version otherwise). False: replied. */
static bool version_ok(mcd_request *r)
{
	const char *v = mcd_request_header(r, "Tus-Resumable");
	if (v && !strcmp(v, TUS_VERSION))
		return true;
	mcd_reply_error(r, 412, "tus_version");
	mcd_reply_header(r, "Tus-Version", TUS_VERSION);
	return false;
}

bool mcd_tus_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

bool mcd_tus_metadata_ok(const char *m)
{
	if (strlen(m) > METADATA_MAX)
		return false;
	const char *p = m;
	for (;;) {
		while (*p == ' ')
			p++;
		const char *key = p;
		while (*p > 0x20 && *p < 0x7f && *p != ',')
			p++;
		if (p == key)
			return false;
		if (*p == ' ') {
			p++;
			const char *value = p;
			while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			       *p == '+' || *p == '/')
				p++;
			/* Padding only at the end, two at most: "Q===" or "P=TT" are not base64. */
			for (int pad = 0; pad < 2 && *p == '='; pad++)
				p++;
			if ((p - value) % 4 != 0)
				return false;
		}
		if (*p == 0)
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

bool mcd_tus_metadata_value(const char *m, const char *key, char **out)
{
	*out = NULL;
	size_t key_len = strlen(key);
	bool found = false;
	for (const char *p = m; *p;) {
		p += strspn(p, " ");
		const char *end = strchr(p, ',');
		size_t pair = end ? (size_t)(end - p) : strlen(p);
		const char *sp = memchr(p, ' ', pair);
		size_t klen = sp ? (size_t)(sp - p) : pair;
		if (klen == key_len && !memcmp(p, key, key_len)) {
			if (found) {
				free(*out);
				*out = NULL;
				return false; /* twice: which one the client meant is not ours to guess */
			}
			found = true;
			size_t vlen = sp ? pair - klen - 1 : 0;
			char *text = malloc(vlen + 1);
			if (!text)
				return false;
			memcpy(text, sp ? sp + 1 : "", vlen);
			text[vlen] = 0;
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			bool ok = vlen == 0 || mcd_b64_decode(text, &raw, &raw_len);
			free(text);
			if (!ok)
				return false;
			char *value = malloc(raw_len + 1);
			if (!value || (raw_len && memchr(raw, 0, raw_len))) {
				free(raw);
				free(value);
				return false;
			}
			if (raw_len)
				memcpy(value, raw, raw_len);
			value[raw_len] = 0;
			free(raw);
			*out = value;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return true;
}

/* The patient and the de-identified mark an upload's metadata names (API.md §15a). False: the
 * metadata names them ambiguously (a key twice, a NUL inside). */
static bool upload_marks(const char *metadata, char **patient, char **deidentified)
{
	*patient = *deidentified = NULL;
	if (!metadata)
		return true;
	if (mcd_tus_metadata_value(metadata, "patient", patient) &&
	    mcd_tus_metadata_value(metadata, "deidentified", deidentified))
		return true;
	free(*patient);
	free(*deidentified);
	*patient = *deidentified = NULL;
	return false;
}

static void add_u64_header(mcd_request *r, const char *name, uint64_t v)
{
	char text[24];
	snprintf(text, sizeof text, "%" PRIu64, v);
	mcd_reply_header(r, name, text);
}

/* Upload-Expires as an HTTP date (RFC 9110 IMF-fixdate). */
static void add_expires(mcd_request *r, int64_t expires)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)expires;
	struct tm tm;
	char text[40];
	if (!gmtime_r(&t, &tm))
		return;
	snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
	         months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	mcd_reply_header(r, "Upload-Expires", text);
}

/* The upload named by the path, if the caller owns it and it has not expired; 404 otherwise
 * (the same answer for every case, API.md §14). NULL: replied. */
static mcd_partial *load_own(mcd_request *r)
{
	mcd_store *st = r->srv->store;
	mcd_partial *p = NULL;
	mcd_store_status s = st->ops->partial_get(st, r->params[0], &p);
	if (s == MCD_STORE_OK && (p->owner_id != r->user->id || p->expires <= mcd_now()))
		s = MCD_STORE_NOT_FOUND;
	if (s != MCD_STORE_OK) {
		mcd_partial_free(p);
		mcd_reply_store(r, s);
		return NULL;
	}
	return p;
}

/* load_own, then hold the upload for this request and read it again (what was read before the
 * hold may have changed). Another request holding it: 409. NULL: replied. */
static mcd_partial *load_and_hold(mcd_request *r, bool *held)
{
	mcd_partial *p = load_own(r);
	if (!p)
		return NULL;
	mcd_partial_free(p);
	if (!hold(r->srv->tus, r->params[0])) {
		mcd_reply_error(r, 409, "conflict");
		return NULL;
	}
	*held = true;
	return load_own(r);
}

/* ---- OPTIONS, POST, HEAD, DELETE ---- */

void mcd_h_tus_options(mcd_request *r)
{
	mcd_reply_empty(r, 204);
	mcd_reply_header(r, "Tus-Version", TUS_VERSION);
	mcd_reply_header(r, "Tus-Extension", TUS_EXTENSIONS);
	add_u64_header(r, "Tus-Max-Size", r->srv->cfg.max_upload);
}

void mcd_h_tus_create(mcd_request *r)
{
	if (!version_ok(r))
		return;
	if (!r->srv->tus) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	uint64_t length = 0;
	const char *metadata = mcd_request_header(r, "Upload-Metadata");
	if (mcd_request_header(r, "Upload-Defer-Length") ||
	    !mcd_tus_parse_u64(mcd_request_header(r, "Upload-Length"), &length) || length == 0 ||
	    (metadata && !mcd_tus_metadata_ok(metadata))) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	if (length > r->srv->cfg.max_upload) {
		mcd_metrics_add(MCD_M_UPLOADS_REJECTED, 1);
		mcd_reply_error(r, 413, "too_large");
		return;
	}
	/* What can be checked now is, so a client learns before it sends gigabytes; the completion
	 * checks everything again. */
	char *patient = NULL, *deidentified = NULL;
	if (!upload_marks(metadata, &patient, &deidentified)) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	mcd_user *named = NULL;
	bool deid = false;
	mcd_verdict v;
	bool allowed = mcd_upload_marks(r, patient, deidentified, &named, &deid, &v);
	mcd_user_free(named);
	free(patient);
	free(deidentified);
	if (!allowed) {
		mcd_metrics_add(MCD_M_UPLOADS_REJECTED, 1);
		mcd_reply_verdict(r, &v);
		return;
	}
	uint8_t id_bytes[16];
	if (!mcd_random(id_bytes, sizeof id_bytes)) {
		mcd_reply_error(r, 500, "internal");
		return;
	}
	int64_t now = mcd_now();
	mcd_partial p = {.owner_id = r->user->id,
	                 .length = length,
	                 .metadata = (char *)metadata,
	                 .created = now,
	                 .expires = now + (int64_t)r->srv->cfg.upload_expiry};
	mcd_hex(id_bytes, sizeof id_bytes, p.id);
	mcd_store *st = r->srv->store;
	mcd_store_status s = st->ops->partial_create(st, &p, r->srv->cfg.max_open_uploads, now);
	if (s == MCD_STORE_CONFLICT) {
		mcd_reply_error(r, 429, "too_many_uploads");
		return;
	}
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	char *path = partial_path(r->srv->tus, p.id);
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	if (fd < 0 || fsync(fd) != 0) {
		mcd_log(MCD_LOG_ERROR, "tus", "cannot create the partial file of upload %s: %s", p.id, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		remove_upload(r->srv, p.id);
		mcd_reply_error(r, 500, "internal");
		return;
	}
	close(fd);
	free(path);
	char location[64];
	snprintf(location, sizeof location, "/api/v1/uploads/%s", p.id);
	mcd_reply_empty(r, 201);
	mcd_reply_header(r, "Location", location);
	mcd_reply_header(r, "Upload-Offset", "0");
	add_expires(r, p.expires);
}

void mcd_h_tus_head(mcd_request *r)
{
	if (!version_ok(r))
		return;
	mcd_partial *p = load_own(r);
	if (!p)
		return;
	mcd_reply_empty(r, 200);
	add_u64_header(r, "Upload-Offset", p->received);
	add_u64_header(r, "Upload-Length", p->length);
	add_expires(r, p->expires);
	if (p->metadata)
		mcd_reply_header(r, "Upload-Metadata", p->metadata);
	mcd_partial_free(p);
}

void mcd_h_tus_delete(mcd_request *r)
{
	if (!version_ok(r))
		return;
	bool held = false;
	mcd_partial *p = r->srv->tus ? load_and_hold(r, &held) : NULL;
	if (p) {
		remove_upload(r->srv, p->id);
		mcd_reply_empty(r, 204);
	} else if (!r->srv->tus) {
		mcd_reply_error(r, 500, "internal");
	}
	if (held)
		release(r->srv->tus, r->params[0]);
	mcd_partial_free(p);
}

/* ---- PATCH ---- */

bool mcd_tus_is_octets(const char *type)
{
	size_t n = sizeof OCTETS - 1;
	return type && strncasecmp(type, OCTETS, n) == 0 && (type[n] == 0 || type[n] == ';');
}

bool mcd_tus_patch_begin(mcd_request *r)
{
	struct mcd_tus_patch *tp = calloc(1, sizeof *tp);
	if (!tp) {
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	tp->fd = -1;
	r->tus_patch = tp;
	if (!version_ok(r))
		return false;
	if (!r->srv->tus) {
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	if (!mcd_tus_is_octets(mcd_request_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		mcd_reply_error(r, 415, "unsupported_media_type");
		return false;
	}
	uint64_t offset;
	if (!mcd_tus_parse_u64(mcd_request_header(r, "Upload-Offset"), &offset)) {
		mcd_reply_error(r, 400, "bad_request");
		return false;
	}
	if (!(tp->p = load_and_hold(r, &tp->held)))
		return false;
	if (offset != tp->p->received) {
		mcd_reply_error(r, 409, "conflict");
		add_u64_header(r, "Upload-Offset", tp->p->received);
		return false;
	}
	if (r->content_length > tp->p->length - offset) {
		mcd_reply_error(r, 413, "too_large");
		return false;
	}
	char *path = partial_path(r->srv->tus, tp->p->id);
	tp->fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	free(path);
	struct stat sb;
	if (tp->fd < 0 || fstat(tp->fd, &sb) != 0) {
		mcd_log(MCD_LOG_ERROR, "tus", "cannot open the partial file of upload %s: %s", tp->p->id,
		        strerror(errno));
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	if ((uint64_t)sb.st_size < offset) {
		/* Durable bytes are missing: the file was damaged or removed behind the server's back.
		 * Resuming would store zeros in their place; the upload is gone instead. */
		mcd_log(MCD_LOG_ERROR, "tus", "the partial file of upload %s is shorter than its offset: removed",
		        tp->p->id);
		remove_upload(r->srv, tp->p->id);
		mcd_reply_error(r, 404, "not_found");
		return false;
	}
	/* Bytes past the durable offset are from a request that ended before recording them. */
	if ((uint64_t)sb.st_size > offset && ftruncate(tp->fd, (off_t)offset) != 0) {
		mcd_log(MCD_LOG_ERROR, "tus", "cannot truncate the partial file of upload %s: %s", tp->p->id,
		        strerror(errno));
		mcd_reply_error(r, 500, "internal");
		return false;
	}
	return true;
}

bool mcd_tus_patch_data(mcd_request *r, const uint8_t *buf, size_t len)
{
	struct mcd_tus_patch *tp = r->tus_patch;
	if (!tp || tp->fd < 0)
		return false;
	/* After a failed write the rest is read and dropped, so the client gets the 500. */
	while (len > 0 && !tp->write_failed) {
		ssize_t n = pwrite(tp->fd, buf, len, (off_t)(tp->p->received + tp->written));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mcd_log(MCD_LOG_ERROR, "tus", "cannot write the partial file of upload %s: %s", tp->p->id,
			        n < 0 ? strerror(errno) : "no progress");
			tp->write_failed = true;
			break;
		}
		buf += n;
		len -= (size_t)n;
		tp->written += (uint64_t)n;
	}
	/* Writeback starts every 8 MiB, as in blobstore_fs.c: the fsync that ends the PATCH then
	 * waits for the last few MiB only, not the whole body (32 MiB from the web client), while
	 * the client waits for the answer before it sends the next piece. Only a hint: that fsync
	 * is what makes the bytes durable. */
	if (!tp->write_failed && tp->written - tp->flushed >= TUS_FLUSH_EVERY) {
		(void)sync_file_range(tp->fd, (off_t)(tp->p->received + tp->flushed),
		                      (off_t)(tp->written - tp->flushed), SYNC_FILE_RANGE_WRITE);
		tp->flushed = tp->written;
	}
	return true;
}

/* The last byte is in: the partial file goes through upload.c's pipeline, which replies. */
static unsigned complete(mcd_request *r, struct mcd_tus_patch *tp)
{
	mcd_ingest *in = mcd_ingest_new(r, tp->p->length);
	if (!in)
		return 500;
	char *patient = NULL, *deidentified = NULL;
	if (!upload_marks(tp->p->metadata, &patient, &deidentified)) {
		mcd_reply_error(r, 400, "bad_request"); /* cannot happen: creation checked it */
		mcd_ingest_free(in, r);
		return 400;
	}
	mcd_ingest_about(in, r, patient, deidentified); /* a refusal is replied by finish */
	free(patient);
	free(deidentified);
	uint8_t *buf = malloc(READ_BLOCK);
	bool read_failed = !buf;
	for (uint64_t off = 0; !read_failed && off < tp->p->length && !mcd_ingest_failed(in);) {
		uint64_t want = tp->p->length - off < READ_BLOCK ? tp->p->length - off : READ_BLOCK;
		ssize_t n = pread(tp->fd, buf, (size_t)want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mcd_log(MCD_LOG_ERROR, "tus", "cannot read back the partial file of upload %s: %s", tp->p->id,
			        n < 0 ? strerror(errno) : "shorter than its length");
			read_failed = true;
			break;
		}
		mcd_ingest_feed(in, r, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	unsigned status;
	if (read_failed) {
		mcd_reply_error(r, 500, "internal");
		status = 500;
	} else {
		status = mcd_ingest_finish(in, r);
	}
	mcd_ingest_free(in, r);
	return status;
}

void mcd_h_tus_patch(mcd_request *r)
{
	struct mcd_tus_patch *tp = r->tus_patch;
	tp->finished = true;
	if (tp->write_failed || fsync(tp->fd) != 0) {
		if (!tp->write_failed)
			mcd_log(MCD_LOG_ERROR, "tus", "cannot fsync the partial file of upload %s: %s", tp->p->id,
			        strerror(errno));
		mcd_reply_error(r, 500, "internal");
		return; /* the row still has the offset before this request */
	}
	uint64_t offset = tp->p->received + tp->written;
	if (offset < tp->p->length) {
		int64_t expires = mcd_now() + (int64_t)r->srv->cfg.upload_expiry;
		mcd_store_status s = r->srv->store->ops->partial_advance(r->srv->store, tp->p->id, offset, expires);
		if (s != MCD_STORE_OK) {
			mcd_reply_store(r, s);
			return;
		}
		mcd_reply_empty(r, 204);
		add_u64_header(r, "Upload-Offset", offset);
		add_expires(r, expires);
		return;
	}
	unsigned status = complete(r, tp);
	if (status < 500) {
		/* Stored or refused, the upload is over. After a 500 it stays at its offset before this
		 * request, so the client can send the rest again. */
		remove_upload(r->srv, tp->p->id);
	}
	if (status < 300)
		add_u64_header(r, "Upload-Offset", offset);
}

void mcd_tus_patch_free(mcd_request *r)
{
	struct mcd_tus_patch *tp = r->tus_patch;
	if (!tp)
		return;
	if (tp->fd >= 0 && !tp->finished && tp->written > 0 && !tp->write_failed) {
		/* The connection ended before the body did: keep what arrived. The offset stays below
		 * the length, so the last byte always comes with a request that completes the upload. */
		uint64_t offset = tp->p->received + tp->written;
		if (offset >= tp->p->length)
			offset = tp->p->length - 1;
		if (fsync(tp->fd) == 0)
			r->srv->store->ops->partial_advance(r->srv->store, tp->p->id, offset,
			                                    mcd_now() + (int64_t)r->srv->cfg.upload_expiry);
	}
	if (tp->fd >= 0)
		close(tp->fd);
	if (tp->held)
		release(r->srv->tus, r->params[0]);
	mcd_partial_free(tp->p);
	free(tp);
	r->tus_patch = NULL;
}
