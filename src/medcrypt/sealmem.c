/*
 * sealmem.c: sealed containers in memory (sealmem.h). The plaintext buffers grow by copying and
 * wipe what they leave behind; nothing is written to disk here.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sealmem.h"

long membuf_read(void *ctx, uint8_t *buf, size_t len)
{
	membuf *m = ctx;
	if (len > m->len - m->pos)
		len = m->len - m->pos;
	memcpy(buf, m->p + m->pos, len);
	m->pos += len;
	return (long)len;
}

int membuf_write(void *ctx, const uint8_t *buf, size_t len)
{
	membuf *m = ctx;
	if (len > m->max - m->len)
		return -1;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len)
			cap *= 2;
		uint8_t *p = malloc(cap);
		if (!p)
			return -1;
		if (m->len)
			memcpy(p, m->p, m->len);
		if (m->p)
			mc_wipe(m->p, m->cap);
		free(m->p);
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

void membuf_free(membuf *m)
{
	if (m->p)
		mc_wipe(m->p, m->cap);
	free(m->p);
	memset(m, 0, sizeof *m);
}

mc_status sealmem_seal(const mc_pubkey *const *recipients, size_t n, const mc_identity *signer, const char *meta,
                       const uint8_t *plain, size_t len, size_t max, uint8_t **out, size_t *out_len, mc_err *err)
{
	membuf in = {.p = (uint8_t *)plain, .len = len}, sealed = {.max = max};
	mc_seal_params params = {.recipients = recipients,
	                         .n_recipients = n,
	                         .signer = signer,
	                         .metadata = (const uint8_t *)meta,
	                         .metadata_len = meta ? strlen(meta) : 0,
	                         .threads = 1};
	*out = NULL;
	*out_len = 0;
	mc_status st = mc_seal(&params, (mc_input){membuf_read, &in}, (mc_output){membuf_write, &sealed}, err);
	if (st != MC_OK) {
		bool full = sealed.len + 65536 > max; /* membuf_write refused a piece */
		membuf_free(&sealed);
		if (full && st == MC_ERR_IO)
			return cli_fail(err, MC_ERR_MISUSE, "the sealed text would be larger than %zu bytes", max);
		return st;
	}
	if (!sealed.p && (sealed.p = malloc(1)) == NULL)
		return cli_fail(err, MC_ERR_NOMEM, "out of memory");
	*out = sealed.p;
	*out_len = sealed.len;
	return MC_OK;
}

mc_status sealmem_open(const uint8_t *sealed, size_t len, const mc_identity *id, const mc_pubkey *trusted, size_t max,
                       uint8_t **plain, size_t *plain_len, char signer_hex[MC_FP_HEX_LEN + 1], mc_err *err)
{
	membuf in = {.p = (uint8_t *)sealed, .len = len}, out = {.max = max};
	mc_file *f = NULL;
	*plain = NULL;
	*plain_len = 0;
	mc_status st = mc_file_read((mc_input){membuf_read, &in}, &f, err);
	if (st == MC_OK)
		st = mc_file_unlock(f, id, err);
	if (st == MC_OK) {
		const mc_pubkey *trust[] = {trusted};
		mc_open_params params = {.trusted = trust, .n_trusted = 1, .threads = 1};
		mc_payload_info info;
		st = mc_file_open_payload(f, (mc_input){membuf_read, &in}, (mc_output){membuf_write, &out}, &params,
		                          &info, err);
		if (st == MC_OK && signer_hex)
			mc_fp_hex(info.signer_fp, signer_hex);
	}
	mc_file_free(f);
	if (st == MC_OK && !out.p && (out.p = malloc(1)) == NULL)
		st = cli_fail(err, MC_ERR_NOMEM, "out of memory");
	if (st != MC_OK) {
		membuf_free(&out);
		return st;
	}
	*plain = out.p;
	*plain_len = out.len;
	return MC_OK;
}
