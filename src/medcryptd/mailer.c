/*
 * mailer.c: the notice mail's queue, worker and SMTP conversation (mailer.h). One mutex guards
 * the queue of user ids, the times of the last mail per user and the quit flag; the worker
 * takes a user id, reads the address from the store and talks SMTP through libcurl with the
 * mutex released. The text of the mail is fixed here and nowhere else, so no caller can put
 * anything of an item into it.
 */
#include "mailer.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "mailaddr.h"
#include "util.h"

#define RECENT_MAX 65536 /* users remembered for the interval; past it the oldest is forgotten */

typedef struct recent {
	int64_t user_id;
	double at; /* monotonic time the last mail was queued */
} recent;

struct mcd_mailer {
	mcd_server *srv;
	char *link;
	char *password; /* NULL: no SMTP login */
	char *domain;   /* of --smtp-from, for Message-ID */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	bool thread_started;
	bool quit;
	int64_t queue[MCD_MAIL_QUEUE];
	size_t q_head, q_len;
	recent *recent;
	size_t n_recent, cap_recent;
};

/* ---- the message ---- */

typedef struct upload {
	const char *data;
	size_t len, off;
} upload;

static size_t read_message(char *buf, size_t size, size_t n, void *arg)
{
	upload *u = arg;
	size_t room = size * n, left = u->len - u->off;
	size_t k = left < room ? left : room;
	memcpy(buf, u->data + u->off, k);
	u->off += k;
	return k;
}

/* The mail, headers and body: only the date, the addresses, the Message-ID and the link vary. */
#define MAIL_FORMAT                                                                                                    \
	"Date: %s\r\n"                                                                                                 \
	"From: <%s>\r\n"                                                                                               \
	"To: <%s>\r\n"                                                                                                 \
	"Subject: " MCD_MAIL_SUBJECT "\r\n"                                                                            \
	"Message-ID: <%s@%s>\r\n"                                                                                      \
	"MIME-Version: 1.0\r\n"                                                                                        \
	"Content-Type: text/plain; charset=UTF-8\r\n"                                                                  \
	"Content-Transfer-Encoding: 7bit\r\n"                                                                          \
	"Auto-Submitted: auto-generated\r\n"                                                                           \
	"\r\n"                                                                                                         \
	"You have a new item in medcrypt. Sign in to see it: %s\r\n"

/* The whole mail, CRLF line ends; malloc'd, NULL when out of memory. Its text is fixed: only
 * the date, the two addresses, a random Message-ID and the link vary. */
static char *compose(const mcd_mailer *m, const char *to)
{
	char date[64], rnd_hex[33];
	uint8_t rnd[16];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (!mcd_random(rnd, sizeof rnd))
		return NULL;
	mcd_hex(rnd, sizeof rnd, rnd_hex);
	int n = snprintf(NULL, 0, MAIL_FORMAT, date, m->srv->cfg.smtp_from, to, rnd_hex, m->domain, m->link);
	char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (text)
		snprintf(text, (size_t)n + 1, MAIL_FORMAT, date, m->srv->cfg.smtp_from, to, rnd_hex, m->domain,
		         m->link);
	return text;
}

/* libcurl asks this during the conversation: a non-zero answer aborts it (the mailer closes). */
static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	mcd_mailer *m = arg;
	pthread_mutex_lock(&m->mu);
	bool quit = m->quit;
	pthread_mutex_unlock(&m->mu);
	return quit;
}

/* One SMTP conversation; true when the server took the mail. err gets libcurl's reason. */
static bool send_once(mcd_mailer *m, const char *to, const char *message, char err[CURL_ERROR_SIZE])
{
	const mcd_config *cfg = &m->srv->cfg;
	CURL *curl = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	char from_env[MCD_EMAIL_MAX + 3], to_env[MCD_EMAIL_MAX + 3];
	snprintf(from_env, sizeof from_env, "<%s>", cfg->smtp_from);
	snprintf(to_env, sizeof to_env, "<%s>", to);
	err[0] = 0;
	if (!curl || !(rcpt = curl_slist_append(NULL, to_env))) {
		snprintf(err, CURL_ERROR_SIZE, "out of memory");
		curl_easy_cleanup(curl);
		return false;
	}
	upload u = {message, strlen(message), 0};
	curl_easy_setopt(curl, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)MCD_MAIL_TIMEOUT);
	/* smtps:// is TLS from the start; smtp:// upgrades with STARTTLS when the server offers it,
	 * or must (--smtp-starttls). Either way the certificate and host name are verified. */
	curl_easy_setopt(curl, CURLOPT_USE_SSL, cfg->smtp_starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->smtp_ca_file) {
		/* these CAs instead of the system's, whose directory libcurl would search as well */
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->smtp_ca_file);
		curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	}
	if (cfg->smtp_user) {
		curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->smtp_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, m->password);
	}
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from_env);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.len);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, m);
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK && !err[0])
		snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	return rc == CURLE_OK;
}

/* ---- the queue ---- */

/* Under the mutex: forgets user_id's last mail, so the next notice mails again. */
static void forget(mcd_mailer *m, int64_t user_id)
{
	for (size_t i = 0; i < m->n_recent; i++)
		if (m->recent[i].user_id == user_id) {
			m->recent[i] = m->recent[--m->n_recent];
			return;
		}
}

/* Waits up to seconds or until the mailer closes; true when it closes. */
static bool pause_unless_quit(mcd_mailer *m, int seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&m->mu);
	while (!m->quit && pthread_cond_timedwait(&m->wake, &m->mu, &until) == 0) {
	}
	bool quit = m->quit;
	pthread_mutex_unlock(&m->mu);
	return quit;
}

static void deliver(mcd_mailer *m, int64_t user_id)
{
	mcd_store *st = m->srv->store;
	char *to = NULL;
	mcd_store_status s = st->ops->user_email_get(st, user_id, &to);
	if (s != MCD_STORE_OK || !to || !mcd_mail_address_valid(to)) {
		if (s != MCD_STORE_OK && s != MCD_STORE_NOT_FOUND)
			mcd_log(MCD_LOG_WARN, "mail", "cannot read the address of user %" PRId64, user_id);
		/* no address: nothing was sent, so an address set later mails at the next notice */
		pthread_mutex_lock(&m->mu);
		forget(m, user_id);
		pthread_mutex_unlock(&m->mu);
		free(to);
		return;
	}
	char *message = compose(m, to);
	char err[CURL_ERROR_SIZE];
	for (int attempt = 1; message; attempt++) {
		if (send_once(m, to, message, err)) {
			mcd_log(MCD_LOG_INFO, "mail", "notice mail sent to user %" PRId64, user_id);
			break;
		}
		/* libcurl's reasons name the server and the SMTP reply, never the password */
		if (attempt >= MCD_MAIL_ATTEMPTS) {
			mcd_log(MCD_LOG_ERROR, "mail", "notice mail to user %" PRId64 " failed after %d attempts: %s",
			        user_id, attempt, err);
			break;
		}
		mcd_log(MCD_LOG_WARN, "mail", "notice mail to user %" PRId64 " failed (attempt %d of %d): %s", user_id,
		        attempt, MCD_MAIL_ATTEMPTS, err);
		if (pause_unless_quit(m, 1 << attempt))
			break;
	}
	if (!message)
		mcd_log(MCD_LOG_ERROR, "mail", "notice mail to user %" PRId64 " failed: out of memory", user_id);
	free(message);
	free(to);
}

static void *run(void *arg)
{
	mcd_mailer *m = arg;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (!m->quit && m->q_len == 0)
			pthread_cond_wait(&m->wake, &m->mu);
		if (m->quit)
			break;
		int64_t user_id = m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % MCD_MAIL_QUEUE;
		m->q_len--;
		pthread_mutex_unlock(&m->mu);
		deliver(m, user_id);
		pthread_mutex_lock(&m->mu);
	}
	if (m->q_len)
		mcd_log(MCD_LOG_WARN, "mail", "%zu notice mails dropped at shutdown", m->q_len);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

void mcd_mailer_notice(mcd_server *srv, int64_t user_id, const char *type)
{
	mcd_mailer *m = srv ? srv->mailer : NULL;
	if (!m || !type || !strcmp(type, "revoked"))
		return;
	double now = mcd_monotonic(), interval = (double)srv->cfg.smtp_min_interval;
	pthread_mutex_lock(&m->mu);
	recent *slot = NULL;
	for (size_t i = 0; i < m->n_recent;) {
		if (now - m->recent[i].at >= interval) { /* past its interval: forgotten */
			m->recent[i] = m->recent[--m->n_recent];
			continue;
		}
		if (m->recent[i].user_id == user_id)
			slot = &m->recent[i];
		i++;
	}
	if (slot || m->quit) { /* mailed less than an interval ago: this notice adds nothing */
		pthread_mutex_unlock(&m->mu);
		return;
	}
	if (m->q_len == MCD_MAIL_QUEUE) {
		pthread_mutex_unlock(&m->mu);
		mcd_log(MCD_LOG_WARN, "mail", "the mail queue is full; a notice mail to user %" PRId64 " was dropped",
		        user_id);
		return;
	}
	if (m->n_recent == m->cap_recent) {
		size_t cap = m->cap_recent ? m->cap_recent * 2 : 64;
		recent *grown = cap <= RECENT_MAX ? realloc(m->recent, cap * sizeof *grown) : NULL;
		if (grown) {
			m->recent = grown;
			m->cap_recent = cap;
		} else if (m->n_recent) {
			m->n_recent--; /* at the bound: forget one; that user may get an early second mail */
		}
	}
	if (m->n_recent < m->cap_recent)
		m->recent[m->n_recent++] = (recent){user_id, now};
	m->queue[(m->q_head + m->q_len) % MCD_MAIL_QUEUE] = user_id;
	m->q_len++;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->mu);
}

/* ---- life ---- */

/* The first line of the password file, without its line end; NULL (logged) when unreadable. */
static char *read_password(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (!mcd_read_file(path, 4096, &buf, &len)) {
		mcd_log(MCD_LOG_ERROR, "mail", "cannot read the SMTP password file %s", path);
		return NULL;
	}
	struct stat sb;
	if (stat(path, &sb) == 0 && (sb.st_mode & 077))
		mcd_log(MCD_LOG_WARN, "mail", "the SMTP password file %s is readable by other users (mode %03o)", path,
		        (unsigned)(sb.st_mode & 0777));
	buf[strcspn((char *)buf, "\r\n")] = 0;
	char *password = strdup((char *)buf);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (!password)
		mcd_log(MCD_LOG_ERROR, "mail", "out of memory");
	return password;
}

mcd_mailer *mcd_mailer_open(mcd_server *srv, const char *link)
{
	const mcd_config *cfg = &srv->cfg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		mcd_log(MCD_LOG_ERROR, "mail", "cannot initialise libcurl");
		return NULL;
	}
	mcd_mailer *m = calloc(1, sizeof *m);
	if (!m) {
		mcd_log(MCD_LOG_ERROR, "mail", "out of memory");
		curl_global_cleanup();
		return NULL;
	}
	m->srv = srv;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->wake, NULL);
	m->link = strdup(link);
	m->domain = strdup(strchr(cfg->smtp_from, '@') + 1); /* config.c checked the address */
	if (!m->link || !m->domain) {
		mcd_log(MCD_LOG_ERROR, "mail", "out of memory");
		mcd_mailer_close(m);
		return NULL;
	}
	if (cfg->smtp_password_file && !(m->password = read_password(cfg->smtp_password_file))) {
		mcd_mailer_close(m);
		return NULL;
	}
	if (pthread_create(&m->thread, NULL, run, m) != 0) {
		mcd_log(MCD_LOG_ERROR, "mail", "cannot start the mail thread");
		mcd_mailer_close(m);
		return NULL;
	}
	m->thread_started = true;
	mcd_log(MCD_LOG_INFO, "mail", "notice mails through %s, at most one per user every %u s", cfg->smtp_url,
	        cfg->smtp_min_interval);
	return m;
}

void mcd_mailer_close(mcd_mailer *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		pthread_mutex_lock(&m->mu);
		m->quit = true;
		pthread_cond_broadcast(&m->wake);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	if (m->password) {
		OPENSSL_cleanse(m->password, strlen(m->password));
		free(m->password);
	}
	free(m->link);
	free(m->domain);
	free(m->recent);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->mu);
	free(m);
	curl_global_cleanup();
}
