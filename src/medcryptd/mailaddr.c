/*
 * mailaddr.c: the strict shapes of an e-mail address and of the public URL (mailaddr.h). A
 * subset of RFC 5321's Mailbox (no quoted local parts, no address literals): every address it
 * accepts can be put between angle brackets in MAIL FROM, RCPT TO and a header as it is.
 */
#include "mailaddr.h"

#include <string.h>

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool mcd_mail_address_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n < 3 || n > MCD_EMAIL_MAX || !at || strchr(at + 1, '@'))
		return false;
	size_t local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
		return false;
	for (size_t i = 0; i < local; i++) {
		char c = s[i];
		if (c == '.' && s[i + 1] == '.')
			return false;
		if (!is_alnum(c) && !strchr(".!#$%&'*+/=?^_`{|}~-", c))
			return false;
	}
	/* DOMAIN: labels of 1 to 63 letters, digits and inner hyphens */
	const char *d = at + 1;
	size_t label = 0;
	for (size_t i = 0;; i++) {
		char c = d[i];
		if (c == '.' || c == 0) {
			if (label == 0 || d[i - 1] == '-')
				return false;
			if (c == 0)
				return true;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
}

bool mcd_mail_url_valid(const char *s)
{
	if (!s || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
		return false;
	size_t n = strlen(s);
	if (n > 512 || n <= (s[4] == 's' ? 8u : 7u))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\')
			return false;
	}
	return true;
}
