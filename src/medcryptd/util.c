/*
 * util.c: the helpers of util.h. Base64 goes through OpenSSL's EVP block coder with the
 * strictness added here (exact padding, no whitespace), so a value that decodes is the value
 * the client meant.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int64_t mcd_now(void)
{
	return (int64_t)time(NULL);
}

double mcd_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool mcd_random(uint8_t *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) == 1)
		return true;
	memset(buf, 0, len);
	mcd_log(MCD_LOG_ERROR, "util", "RAND_bytes failed");
	return false;
}

char *mcd_b64_encode(const uint8_t *buf, size_t len)
{
	size_t n = 4 * ((len + 2) / 3);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	out[n] = 0;
	return out;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool mcd_b64_decode(const char *text, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	size_t n = strlen(text);
	if (n % 4 != 0 || n > (size_t)1 << 30)
		return false;
	size_t pad = 0;
	if (n && text[n - 1] == '=')
		pad++;
	if (n > 1 && text[n - 2] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(text[i]))
			return false;
	uint8_t *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return false;
	int got = n ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n) : 0;
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return false;
	}
	*out = buf;
	*len = (size_t)got - pad;
	return true;
}

void mcd_b64url_encode(const uint8_t *buf, size_t len, char *out)
{
	size_t n = 4 * ((len + 2) / 3);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	out[n] = 0;
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
		else if (out[i] == '=') {
			out[i] = 0;
			break;
		}
	}
}

bool mcd_b64url_decode_exact(const char *text, uint8_t *out, size_t want)
{
	size_t n = strlen(text);
	if (n != (want * 4 + 2) / 3 || n > 256)
		return false;
	char std[264];
	for (size_t i = 0; i < n; i++) {
		char c = text[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!b64_char(c) || c == '+' || c == '/')
			return false;
		std[i] = c;
	}
	while (n % 4)
		std[n++] = '=';
	std[n] = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool ok = mcd_b64_decode(std, &buf, &len) && len == want;
	if (ok)
		memcpy(out, buf, want);
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	OPENSSL_cleanse(std, sizeof std);
	return ok;
}

void mcd_hex(const uint8_t *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 15];
	}
	out[2 * len] = 0;
}

int mcd_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool mcd_unhex(const char *text, uint8_t *out, size_t len)
{
	if (strlen(text) != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = mcd_hex_value(text[2 * i]), lo = mcd_hex_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void mcd_base32_20(const uint8_t in[20], char out[33])
{
	/* 20 bytes are 160 bits: exactly 32 groups of 5. */
	for (int i = 0; i < 32; i++) {
		int bit = i * 5;
		int byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)in[byte] << 8 | (byte + 1 < 20 ? in[byte + 1] : 0);
		out[i] = base32_alphabet[(v >> (11 - shift)) & 31];
	}
	out[32] = 0;
}

bool mcd_invitation_hash(const char *code, uint8_t hash[32])
{
	char norm[33];
	size_t n = 0;
	for (const char *p = code; *p; p++) {
		char c = *p;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!strchr(base32_alphabet, c) || c == 0 || n == 32)
			return false;
		norm[n++] = c;
	}
	if (n != 32)
		return false;
	bool ok = EVP_Digest(norm, 32, hash, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_cleanse(norm, sizeof norm);
	return ok;
}

bool mcd_valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool mcd_valid_display_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;
	while (*p) {
		uint32_t cp;
		int extra;
		if (*p < 0x80) {
			cp = *p;
			extra = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f;
			extra = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f;
			extra = 2;
		} else if ((*p & 0xf8) == 0xf0) {
			cp = *p & 0x07;
			extra = 3;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < extra; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		static const uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min_for[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false; /* overlong, out of range or a surrogate */
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029)
			return false; /* control characters and line separators */
		if (++chars > 128)
			return false;
	}
	return chars >= 1;
}

bool mcd_write_new_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		mcd_log(MCD_LOG_ERROR, "util", "cannot create %s: %s", path, strerror(errno));
		return false;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	bool ok = done == len && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = false;
	if (!ok) {
		mcd_log(MCD_LOG_ERROR, "util", "cannot write %s: %s", path, strerror(errno));
		unlink(path);
	}
	return ok;
}

bool mcd_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return false;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n + 1);
	size_t done = 0;
	while (buf && done < n) {
		ssize_t r = read(fd, buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	close(fd);
	if (!buf || done != n) {
		if (buf) {
			OPENSSL_cleanse(buf, n);
			free(buf);
		}
		return false;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return true;
}

char *mcd_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}
