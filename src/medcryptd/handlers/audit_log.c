/*
 * audit_log.c: the audit routes (API.md §17): the records as JSON lines (admin), the
 * verification of the whole chain (admin), and the server's audit public key (anyone: it is
 * what an outside verifier checks checkpoints against). mcd_audit_record_json is shared with
 * `medcryptd audit export`.
 */
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "audit_log.h"
#include "handlers.h"

json_t *mcd_audit_record_json(const mcd_audit_record *rec)
{
	char hash[65];
	mcd_hex(rec->hash, 32, hash);
	json_t *detail = rec->detail ? json_loads(rec->detail, 0, NULL) : json_object();
	if (!detail)
		detail = json_string(rec->detail);
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "seq", (json_int_t)rec->seq, "time",
	                 (json_int_t)rec->time, "actor", rec->actor ? rec->actor : "", "address",
	                 rec->address ? rec->address : "", "action", rec->action ? rec->action : "", "object",
	                 rec->object ? rec->object : "", "outcome", rec->outcome ? rec->outcome : "", "detail", detail,
	                 "hash", hash);
}

struct lines {
	char *buf;
	size_t len, cap;
	bool failed;
};

static int add_line(void *ctx, const mcd_audit_record *rec)
{
	struct lines *l = ctx;
	json_t *o = mcd_audit_record_json(rec);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text) {
		l->failed = true;
		return -1;
	}
	size_t n = strlen(text);
	if (l->len + n + 1 > l->cap) {
		size_t cap = (l->cap + n + 1) * 2;
		char *b = realloc(l->buf, cap);
		if (!b) {
			free(text);
			l->failed = true;
			return -1;
		}
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, text, n);
	l->buf[l->len + n] = '\n';
	l->len += n + 1;
	free(text);
	return 0;
}

static bool parse_count(const char *s, long long lo, long long hi, long long *out)
{
	if (!s)
		return true;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

void mcd_h_audit_list(mcd_request *r)
{
	long long after = 0, limit = 1000;
	if (!parse_count(mcd_request_arg(r, "after"), 0, INT64_MAX, &after) ||
	    !parse_count(mcd_request_arg(r, "limit"), 1, 10000, &limit)) {
		mcd_reply_error(r, 400, "bad_request");
		return;
	}
	struct lines l = {0};
	mcd_store *st = r->srv->store;
	mcd_store_status s = st->ops->audit_list(st, after, limit, add_line, &l);
	if (s != MCD_STORE_OK || l.failed) {
		free(l.buf);
		mcd_reply_store(r, s == MCD_STORE_OK ? MCD_STORE_NOMEM : s);
		return;
	}
	mcd_reply_bytes(r, 200, "application/x-ndjson", l.buf ? l.buf : "", l.len);
	free(l.buf);
}

void mcd_h_audit_verify(mcd_request *r)
{
	mcd_audit_verdict v;
	memset(&v, 0, sizeof v);
	mcd_store_status s = mcd_audit_verify(r->srv->store, mcd_audit_signer_public_pem(r->srv->signer), &v);
	if (s != MCD_STORE_OK) {
		mcd_reply_store(r, s);
		return;
	}
	if (v.ok)
		mcd_reply_json(r, 200,
		               json_pack("{s:b, s:I, s:I}", "ok", 1, "records", (json_int_t)v.records, "checkpoints",
		                         (json_int_t)v.checkpoints));
	else
		mcd_reply_json(
		    r, 200,
		    json_pack("{s:b, s:I, s:s}", "ok", 0, "first_bad", (json_int_t)v.first_bad, "reason", v.reason));
}

void mcd_h_audit_key(mcd_request *r)
{
	mcd_reply_json(r, 200, json_pack("{s:s}", "public_key", mcd_audit_signer_public_pem(r->srv->signer)));
}
