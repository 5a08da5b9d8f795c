/*
 * util.c: error reporting, the single wipe and constant-time comparison of the library, and
 * the file-descriptor streams.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

const char *mc_status_name(mc_status status)
{
	switch (status) {
	case MC_OK: return "ok";
	case MC_ERR_HEADER: return "header failure";
	case MC_ERR_UNSUPPORTED: return "unsupported";
	case MC_ERR_NO_MATCH: return "no match";
	case MC_ERR_MAC: return "MAC failure";
	case MC_ERR_PAYLOAD: return "payload failure";
	case MC_ERR_SIGNATURE: return "signature failure";
	case MC_ERR_IO: return "I/O error";
	case MC_ERR_NOMEM: return "out of memory";
	case MC_ERR_MISUSE: return "misuse";
	case MC_ERR_KEY: return "key error";
	case MC_ERR_CRYPTO: return "crypto error";
	case MC_ERR_CANCELLED: return "cancelled";
	}
	return "unknown error";
}

mc_status mc_fail(mc_err *err, mc_status status, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->status = status;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return status;
}

mc_status mc_fail_ssl(mc_err *err, mc_status status, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	if (reason)
		return mc_fail(err, status, "%s: %s", what, reason);
	return mc_fail(err, status, "%s", what);
}

mc_status mc_ok(mc_err *err)
{
	if (err) {
		err->status = MC_OK;
		err->msg[0] = '\0';
	}
	return MC_OK;
}

void mc_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

int mc_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void mc_buf_free(uint8_t *buf, size_t len)
{
	if (!buf)
		return;
	mc_wipe(buf, len);
	free(buf);
}

static long fd_read(void *ctx, uint8_t *buf, size_t len)
{
	int fd = (int)(intptr_t)ctx;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return (long)n;
		if (errno != EINTR)
			return -1;
	}
}

static int fd_write(void *ctx, const uint8_t *buf, size_t len)
{
	int fd = (int)(intptr_t)ctx;
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

mc_input mc_input_fd(int fd)
{
	return (mc_input){.read = fd_read, .ctx = (void *)(intptr_t)fd};
}

mc_output mc_output_fd(int fd)
{
	return (mc_output){.write = fd_write, .ctx = (void *)(intptr_t)fd};
}

static long mem_read(void *ctx, uint8_t *buf, size_t len)
{
	mc_mem_source *m = ctx;
	if (len > m->left)
		len = m->left;
	if (len)
		memcpy(buf, m->p, len);
	m->p += len;
	m->left -= len;
	return (long)len;
}

mc_input mc_input_mem(mc_mem_source *src)
{
	return (mc_input){.read = mem_read, .ctx = src};
}

mc_status mc_read_full(mc_input in, uint8_t *buf, size_t len, size_t *got, mc_err *err)
{
	size_t done = 0;
	while (done < len) {
		long n = in.read(in.ctx, buf + done, len - done);
		if (n < 0)
			return mc_fail(err, MC_ERR_IO, "read failed: %s", strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return MC_OK;
}

mc_status mc_write(mc_output out, const uint8_t *buf, size_t len, mc_err *err)
{
	if (len == 0)
		return MC_OK;
	if (out.write(out.ctx, buf, len) != 0)
		return mc_fail(err, MC_ERR_IO, "write failed: %s", strerror(errno));
	return MC_OK;
}
