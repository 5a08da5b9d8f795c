/*
 * mailer.h: the optional notice mail (API.md §18, SECURITY.md §3.17). When --smtp-url is set and
 * a user with an e-mail address gets a notice (a new image or share; later a message or a consent
 * step; not a revocation), one fixed mail goes to that address: "You have a new item in
 * medcrypt. Sign in to see it: URL", nothing else, no sender, file, patient or kind of item. At
 * most one mail per user per --smtp-min-interval; notices in between are dropped (the mail
 * already says there is something to see). Mails go from a bounded queue on one worker thread
 * through libcurl, with up to MCD_MAIL_ATTEMPTS tries each; a failure is logged (never the
 * password, never the address) and never reaches the request that caused the notice.
 *
 * Ownership: main.c opens the mailer after the store and closes it after the HTTP daemon has
 * stopped. mcd_mailer_notice is thread-safe and never blocks on the network.
 */
#ifndef MEDCRYPTD_MAILER_H
#define MEDCRYPTD_MAILER_H

#include <stdint.h>

#include "server.h"

#define MCD_MAIL_QUEUE    256 /* notices waiting for the worker; more are dropped and logged */
#define MCD_MAIL_ATTEMPTS 3   /* tries per mail, 2 s and then 4 s apart */
#define MCD_MAIL_TIMEOUT  30  /* seconds one SMTP conversation may take */
#define MCD_MAIL_SUBJECT  "New item in medcrypt"

typedef struct mcd_mailer mcd_mailer;

/* Reads srv->cfg's SMTP settings (the password from --smtp-password-file, kept in memory only
 * and wiped at close), initialises libcurl and starts the worker. link is the URL the mail
 * names (--public-url, or the listen URL); it is copied. NULL, logged, when the password file
 * cannot be read, on out of memory or when the thread cannot start. Free with
 * mcd_mailer_close. srv is borrowed for the mailer's life. */
mcd_mailer *mcd_mailer_open(mcd_server *srv, const char *link);

/* Stops the worker (a conversation under way is cut short; queued mails are dropped and their
 * number logged), wipes the password and frees the mailer. NULL is harmless. */
void mcd_mailer_close(mcd_mailer *m);

/* The hook of mcd_events_notify (srv->on_notice): queues a mail to user_id unless type is
 * "revoked", srv has no mailer, or user_id had one queued less than --smtp-min-interval ago.
 * Whether the user has an address is looked up by the worker. */
void mcd_mailer_notice(mcd_server *srv, int64_t user_id, const char *type);

#endif
