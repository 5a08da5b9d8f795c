/*
 * events.c: the hub behind GET /api/v1/events (events.h). libmicrohttpd runs with internal
 * polling threads, so a stream's content reader must never block: when it has nothing to send
 * it suspends its connection and returns 0, and whoever adds bytes (a notice, a keepalive, the
 * end of the session) resumes it. One mutex guards the list of streams, their pending bytes
 * and the ring; the reader suspends while holding it and everyone else resumes while holding
 * it, so a resume never meets a connection that is not suspended. The response's free
 * callback may run while libmicrohttpd holds its own locks, so it takes no lock: it marks the
 * stream gone and the hub's thread unlinks and frees it. That thread also writes the keepalives
 * and re-reads each stream's session every few seconds (a logout, an expiry or a disabled
 * account ends the stream), doing the store reads outside the mutex.
 */
#include "events.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define SESSION_CHECK_SECONDS 2.0 /* how stale a stream's view of its session may get */

typedef struct stream {
	struct stream *next;
	struct MHD_Connection *conn;
	int fd; /* the connection's socket, -1 when unknown */
	int64_t user_id;
	uint8_t token_hash[32];
	char *buf; /* pending bytes: buf[off..len) */
	size_t off, len, cap;
	bool suspended;   /* by the reader, under the hub's mutex */
	bool closing;     /* send what is pending, then end */
	atomic_bool gone; /* the response was destroyed; the hub's thread frees the stream */
	double last_write;
	double next_check;
	mcd_events *hub;
} stream;

typedef struct notice {
	uint64_t seq;
	int64_t user_id;
	int64_t at;
	char type[25];
	char id[65];
} notice;

struct mcd_events {
	mcd_server *srv;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	bool thread_started;
	bool stopping; /* mcd_events_shutdown: no new streams */
	bool quit;     /* mcd_events_close: the thread ends */
	stream *streams;
	unsigned n_streams;
	uint64_t next_seq;
	notice ring[MCD_EVENTS_RING];
	size_t ring_next, ring_count;
};

static bool shaped(const char *s, size_t max, bool id)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
		          (id && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'));
		if (!ok || n >= max)
			return false;
	}
	return n > 0;
}

/* Appends to the stream's pending bytes; false (and the stream closes) past the bound. */
static bool append(stream *s, const char *text, size_t n)
{
	if (s->closing)
		return false;
	if (s->off == s->len)
		s->off = s->len = 0;
	if (s->len - s->off + n > MCD_EVENTS_MAX_PENDING) {
		/* A client this far behind reconnects with Last-Event-ID and re-reads its lists. */
		s->closing = true;
		return false;
	}
	if (s->len + n > s->cap) {
		if (s->off) {
			memmove(s->buf, s->buf + s->off, s->len - s->off);
			s->len -= s->off;
			s->off = 0;
		}
		size_t cap = s->cap ? s->cap : 512;
		while (cap < s->len + n)
			cap *= 2;
		char *grown = realloc(s->buf, cap);
		if (!grown) {
			s->closing = true;
			return false;
		}
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, text, n);
	s->len += n;
	return true;
}

static void append_notice(stream *s, const notice *nt)
{
	char text[256];
	int n = snprintf(text, sizeof text, "id: %" PRIu64 "\nevent: %s\ndata: {\"id\":\"%s\",\"at\":%" PRId64 "}\n\n",
	                 nt->seq, nt->type, nt->id, nt->at);
	if (n > 0 && (size_t)n < sizeof text)
		append(s, text, (size_t)n);
}

/* Under the mutex: lets the connection run again when it waits for bytes that now exist. */
static void wake_stream(stream *s)
{
	if (s->suspended && (s->len > s->off || s->closing)) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	stream *s = cls;
	mcd_events *ev = s->hub;
	ssize_t out;
	pthread_mutex_lock(&ev->mu);
	if (s->len > s->off) {
		size_t n = s->len - s->off < max ? s->len - s->off : max;
		memcpy(buf, s->buf + s->off, n);
		s->off += n;
		s->last_write = mcd_monotonic();
		out = (ssize_t)n;
	} else if (s->closing) {
		out = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing to say: off the event loop until a notice, a keepalive or the end. */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		out = 0;
	}
	pthread_mutex_unlock(&ev->mu);
	return out;
}

static void reader_free(void *cls)
{
	stream *s = cls;
	atomic_store(&s->gone, true);
}

static void stream_free(stream *s)
{
	free(s->buf);
	free(s);
}

/* Whether the session a stream was opened with still stands (auth.c's rule, without touching
 * last_seen: a stream does not keep a session alive). */
static bool session_alive(mcd_events *ev, const uint8_t token_hash[32])
{
	mcd_store *st = ev->srv->store;
	mcd_session se;
	mcd_store_status s = st->ops->session_get(st, token_hash, &se);
	if (s == MCD_STORE_ERROR)
		return true; /* a transient store error ends no stream; the next check decides */
	if (s != MCD_STORE_OK)
		return false;
	int64_t now = mcd_now();
	return now - se.last_seen <= (int64_t)ev->srv->cfg.session_idle_seconds && now < se.expires;
}

/* Under the mutex: libmicrohttpd does not watch a suspended connection, so a client that went
 * away would hold its place until the next keepalive; a poll of their sockets (no waiting)
 * finds the hang-ups at once. A suspended connection cannot be closed, so its fd stays valid. */
static void notice_hangups(mcd_events *ev)
{
	size_t n = 0;
	for (stream *s = ev->streams; s; s = s->next)
		n += s->suspended && !s->closing && s->fd >= 0;
	if (!n)
		return;
	struct pollfd *fds = calloc(n, sizeof *fds);
	stream **of = calloc(n, sizeof *of);
	size_t i = 0;
	for (stream *s = ev->streams; fds && of && s && i < n; s = s->next)
		if (s->suspended && !s->closing && s->fd >= 0) {
			fds[i].fd = s->fd;
			fds[i].events = POLLRDHUP;
			of[i++] = s;
		}
	if (i && poll(fds, i, 0) > 0)
		for (size_t k = 0; k < i; k++)
			if (fds[k].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
				of[k]->closing = true;
	free(fds);
	free(of);
}

static void *run(void *arg)
{
	mcd_events *ev = arg;
	pthread_mutex_lock(&ev->mu);
	while (!ev->quit) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&ev->wake, &ev->mu, &until);
		double now = mcd_monotonic();
		/* Reap the streams whose responses are gone. */
		size_t due = 0;
		for (stream **p = &ev->streams; *p;) {
			stream *s = *p;
			if (atomic_load(&s->gone)) {
				*p = s->next;
				ev->n_streams--;
				stream_free(s);
				continue;
			}
			if (!s->closing && s->next_check <= now)
				due++;
			p = &s->next;
		}
		/* Session checks read the store, so they run outside the mutex; only this thread frees
		 * streams, so the pointers stay valid meanwhile. */
		stream **check = due ? calloc(due, sizeof *check) : NULL;
		size_t n = 0;
		for (stream *s = ev->streams; check && s && n < due; s = s->next)
			if (!s->closing && s->next_check <= now) {
				s->next_check = now + SESSION_CHECK_SECONDS;
				check[n++] = s;
			}
		if (n) {
			bool *alive = calloc(n, sizeof *alive);
			pthread_mutex_unlock(&ev->mu);
			for (size_t i = 0; alive && i < n; i++)
				alive[i] = session_alive(ev, check[i]->token_hash);
			pthread_mutex_lock(&ev->mu);
			for (size_t i = 0; alive && i < n; i++)
				if (!alive[i] && !atomic_load(&check[i]->gone))
					check[i]->closing = true;
			free(alive);
		}
		free(check);
		notice_hangups(ev);
		for (stream *s = ev->streams; s; s = s->next) {
			if (atomic_load(&s->gone))
				continue;
			if (!s->closing && s->len == s->off && now - s->last_write >= MCD_EVENTS_KEEPALIVE_SECONDS) {
				static const char keepalive[] = ": keepalive\n\n";
				append(s, keepalive, sizeof keepalive - 1);
				s->last_write = now; /* once per interval, even if the client reads slowly */
			}
			wake_stream(s);
		}
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

mcd_events *mcd_events_open(mcd_server *srv)
{
	mcd_events *ev = calloc(1, sizeof *ev);
	if (!ev) {
		mcd_log(MCD_LOG_ERROR, "events", "out of memory");
		return NULL;
	}
	ev->srv = srv;
	pthread_mutex_init(&ev->mu, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_cond_init(&ev->wake, &attr);
	pthread_condattr_destroy(&attr);
	/* Ids grow across restarts too, so a Last-Event-ID from before a restart replays nothing
	 * that is not newer. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->next_seq = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (pthread_create(&ev->thread, NULL, run, ev) != 0) {
		mcd_log(MCD_LOG_ERROR, "events", "cannot start the events thread");
		mcd_events_close(ev);
		return NULL;
	}
	ev->thread_started = true;
	return ev;
}

void mcd_events_shutdown(mcd_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	ev->stopping = true;
	for (stream *s = ev->streams; s; s = s->next) {
		if (atomic_load(&s->gone))
			continue;
		s->closing = true;
		wake_stream(s);
	}
	pthread_mutex_unlock(&ev->mu);
}

void mcd_events_close(mcd_events *ev)
{
	if (!ev)
		return;
	if (ev->thread_started) {
		pthread_mutex_lock(&ev->mu);
		ev->quit = true;
		pthread_cond_signal(&ev->wake);
		pthread_mutex_unlock(&ev->mu);
		pthread_join(ev->thread, NULL);
	}
	/* The daemon has stopped, so every response, and its stream, is gone. */
	while (ev->streams) {
		stream *s = ev->streams;
		ev->streams = s->next;
		stream_free(s);
	}
	pthread_cond_destroy(&ev->wake);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

void mcd_events_notify(mcd_server *srv, int64_t user_id, const char *type, const char *id)
{
	if (srv && srv->on_notice && type) /* the notice mail (mailer.h): queued, never sent here */
		srv->on_notice(srv, user_id, type);
	mcd_events *ev = srv ? srv->events : NULL;
	if (!ev)
		return;
	if (!type || !id || !shaped(type, 24, false) || !shaped(id, 64, true)) {
		mcd_log(MCD_LOG_ERROR, "events", "a notice of an ill-formed type or id was dropped");
		return;
	}
	pthread_mutex_lock(&ev->mu);
	notice *nt = &ev->ring[ev->ring_next];
	ev->ring_next = (ev->ring_next + 1) % MCD_EVENTS_RING;
	if (ev->ring_count < MCD_EVENTS_RING)
		ev->ring_count++;
	nt->seq = ev->next_seq++;
	nt->user_id = user_id;
	nt->at = mcd_now();
	snprintf(nt->type, sizeof nt->type, "%s", type);
	snprintf(nt->id, sizeof nt->id, "%s", id);
	for (stream *s = ev->streams; s; s = s->next) {
		if (s->user_id != user_id || atomic_load(&s->gone))
			continue;
		append_notice(s, nt);
		wake_stream(s);
	}
	pthread_mutex_unlock(&ev->mu);
}

struct MHD_Response *mcd_events_stream(mcd_events *ev, mcd_request *r, const char *last_event_id, bool *busy)
{
	*busy = false;
	stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->hub = ev;
	s->conn = r->conn;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = ci ? ci->connect_fd : -1;
	s->user_id = r->user->id;
	memcpy(s->token_hash, r->token_hash, 32);
	s->last_write = mcd_monotonic();
	s->next_check = s->last_write + SESSION_CHECK_SECONDS;
	char head[64];
	int n = snprintf(head, sizeof head, "retry: %d\n\n", MCD_EVENTS_RETRY_MS);
	uint64_t after = 0;
	bool replay = false;
	if (last_event_id && *last_event_id >= '0' && *last_event_id <= '9') {
		char *end;
		after = strtoull(last_event_id, &end, 10);
		replay = *end == 0;
	}
	pthread_mutex_lock(&ev->mu);
	if (ev->stopping || ev->n_streams >= ev->srv->cfg.max_event_streams) {
		pthread_mutex_unlock(&ev->mu);
		*busy = true;
		free(s);
		return NULL;
	}
	append(s, head, (size_t)n);
	if (replay) {
		size_t first = (ev->ring_next + MCD_EVENTS_RING - ev->ring_count) % MCD_EVENTS_RING;
		for (size_t i = 0; i < ev->ring_count; i++) {
			const notice *nt = &ev->ring[(first + i) % MCD_EVENTS_RING];
			if (nt->user_id == s->user_id && nt->seq > after)
				append_notice(s, nt);
		}
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, reader_free);
	if (!resp) {
		pthread_mutex_unlock(&ev->mu);
		stream_free(s);
		return NULL;
	}
	s->next = ev->streams;
	ev->streams = s;
	ev->n_streams++;
	pthread_mutex_unlock(&ev->mu);
	return resp;
}
