/*
 * mailaddr.h: the shapes medcryptd accepts for what goes into a notice mail's envelope and
 * headers (API.md §16 and §18): an e-mail address and the public URL. Both are checked strictly
 * so that nothing a user or an operator types can add a header, a recipient or an SMTP command
 * (no CR, LF, spaces, angle brackets, commas or quotes). No dependency beyond libc, so the
 * configuration parser and the handlers can use it without linking libcurl.
 */
#ifndef MEDCRYPTD_MAILADDR_H
#define MEDCRYPTD_MAILADDR_H

#include <stdbool.h>

#define MCD_EMAIL_MAX 254

/* Whether s is LOCAL@DOMAIN, 3 to MCD_EMAIL_MAX bytes, LOCAL of letters, digits and
 * .!#$%&'*+/=?^_`{|}~- (no leading, trailing or double dot), DOMAIN of dot-separated labels of
 * letters, digits and inner hyphens. NULL is not valid. */
bool mcd_mail_address_valid(const char *s);

/* Whether s is an http:// or https:// URL of printable ASCII without spaces, quotes or angle
 * brackets, at most 512 bytes. NULL is not valid. */
bool mcd_mail_url_valid(const char *s);

#endif
