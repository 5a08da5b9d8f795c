/*
 * test_sealed_check.c: the server's structural check of uploads (src/medcryptd/sealed_check.c)
 * over every test vector of tests/vectors/, each fed whole and in awkward pieces (1, 7 and 4093
 * bytes), so that the streaming state machine meets every field split at every place.
 *
 * The verdict the server must give follows from the vector's `expect:` line and what can be
 * known without a file key: header failures and unsupported files are refused; MAC and no-match
 * failures pass (only a key holder can see them); a payload or signature failure is refused when
 * the file is signed (the server verifies signatures) or the payload's length cannot be a chunk
 * sequence, and passes otherwise; a refusal for lack of trust in a valid signer is the reader's
 * business and passes. On top of FORMAT.md the server refuses files without any RSA-OAEP wrap and
 * with wraps of unknown types. The vectors whose verdict is not given by `expect:` alone are
 * listed below with the reason. Every wrap an accepted file carries must pass the share check
 * (mcd_sealed_check_wrap) for its own recipient and no other. Once the signer field is read, the
 * checker names the signer by the SHA-256 of its DER key (what the directory calls sign_fp, which
 * the de-identified mark's rule compares): NULL for an unsigned file.
 *
 * usage: test_sealed_check VECTOR_DIR
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sealed_check.h"

/* Refused although a key holder's reader gets further. */
static const char *const refused_extra[] = {
    "ok_unknown_wrap_types",            /* server policy: RSA-OAEP wraps only */
    "nomatch_blob_zero_wraps",          /* server policy: at least one wrap */
    "nomatch_unknown_type_names_alice", /* server policy: RSA-OAEP wraps only */
    "ok_wraps_1024",                    /* 1023 of its wraps are of an unknown type */
    "mac_signer_replaced",              /* the signature no longer verifies under the new signer */
    "pay_chacha_payload_15_bytes",      /* [MC-PAY-4]: shorter than one tag */
    "pay_chacha_short_final_chunk",     /* [MC-PAY-2]: final chunk under 16 bytes */
    "pay_chacha_zero_chunks",           /* [MC-PAY-4]: no payload */
    "pay_aes_empty_final_after_full",   /* [MC-PAY-4]: empty final chunk after a full one */
    "pay_chacha_empty_final_after_full",
    NULL,
};

/* Accepted although the reader refuses: the failure needs the reader's trust list. */
static const char *const accepted_extra[] = {
    "sig_untrusted_signer",
    "sig_untrusted_signer_pss",
    "sig_unsigned_with_trust",
    NULL,
};

static bool listed(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

static bool sink(void *ctx, const uint8_t *buf, size_t len)
{
	(void)buf;
	*(size_t *)ctx += len;
	return true;
}

/* The checker's verdict on body fed in pieces of piece bytes (0: at once). */
static mcd_sealed_result run(const uint8_t *body, size_t len, size_t piece, size_t *blob_len)
{
	mcd_sealed *s = mcd_sealed_new(len);
	mcd_sealed_result r = MCD_SEALED_OK;
	*blob_len = 0;
	for (size_t off = 0; off < len && r == MCD_SEALED_OK;) {
		size_t n = piece && len - off > piece ? piece : len - off;
		r = mcd_sealed_feed(s, body + off, n, sink, blob_len);
		off += n;
	}
	if (r == MCD_SEALED_OK)
		r = mcd_sealed_finish(s);
	if (r == MCD_SEALED_OK)
		CHECK(mcd_sealed_signer_read(s), "an accepted file's signer field was read");
	/* What an upload may carry, a share may carry too (mcd_sealed_check_wrap, handlers/shares.c):
	 * each kept wrap, for its own recipient only, and not a byte shorter or longer. */
	for (size_t i = 0; r == MCD_SEALED_OK && i < mcd_sealed_n_wraps(s) && i < 4; i++) {
		size_t wl = 0;
		const uint8_t *w = mcd_sealed_wrap(s, i, &wl), *fp = mcd_sealed_wrap_recipient(s, i);
		uint8_t other[FMT_RECIPIENT_LEN], longer[FMT_OAEP_WRAP_MAX_LEN + 1];
		memcpy(other, fp, sizeof other);
		other[31] ^= 0x80;
		memcpy(longer, w, wl);
		longer[wl] = 0;
		CHECK(mcd_sealed_check_wrap(w, wl, fp, NULL) == MCD_WRAP_OK &&
		          mcd_sealed_check_wrap(w, wl, other, NULL) == MCD_WRAP_OTHER_RECIPIENT &&
		          mcd_sealed_check_wrap(w, wl - 1, fp, NULL) == MCD_WRAP_BAD &&
		          mcd_sealed_check_wrap(longer, wl + 1, fp, NULL) == MCD_WRAP_BAD,
		      "the share check of wrap %zu", i);
	}
	mcd_sealed_free(s);
	return r;
}

static bool read_vector(const char *path, char *expect, size_t cap, uint8_t **body, size_t *len, bool *signed_file)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	char line[4096];
	expect[0] = 0;
	*signed_file = false;
	while (fgets(line, sizeof line, f) && line[0] != '\n') {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "expect: ", 8))
			snprintf(expect, cap, "%.40s", line + 8);
		if (!strncmp(line, "comment: ", 9) && (strstr(line, "signed") || strstr(line, "sig_alg 1") ||
		                                       strstr(line, "sig_alg 2") || strstr(line, "signature")))
			*signed_file = true;
	}
	long start = ftell(f);
	fseek(f, 0, SEEK_END);
	long end = ftell(f);
	fseek(f, start, SEEK_SET);
	*len = (size_t)(end - start);
	*body = malloc(*len ? *len : 1);
	bool ok = *body && fread(*body, 1, *len, f) == *len;
	fclose(f);
	return ok;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/vectors";
	DIR *d = opendir(dir);
	CHECK(d != NULL, "cannot open %s", dir);
	if (!d)
		return check_summary("sealed-check");
	struct dirent *e;
	int vectors = 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".vec") != 0)
			continue;
		char name[256], path[1024], expect[64];
		snprintf(name, sizeof name, "%.*s", (int)(n - 4), e->d_name);
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		uint8_t *body = NULL;
		size_t len = 0;
		bool signed_file = false;
		if (!read_vector(path, expect, sizeof expect, &body, &len, &signed_file)) {
			CHECK(0, "cannot read %s", path);
			free(body);
			continue;
		}
		vectors++;
		bool refuse;
		if (!strcmp(expect, "header failure") || !strcmp(expect, "unsupported"))
			refuse = true;
		else if (!strcmp(expect, "payload failure") || !strcmp(expect, "signature failure"))
			refuse = !strncmp(name, "pay_signed_", 11) || !strncmp(name, "pay_pss_", 8) ||
			         !strncmp(name, "sig_", 4);
		else
			refuse = false;
		if (listed(refused_extra, name))
			refuse = true;
		if (listed(accepted_extra, name))
			refuse = false;
		static const size_t pieces[] = {0, 1, 7, 4093};
		for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
			if (pieces[i] == 1 && len > 300000)
				continue; /* byte by byte only for the smaller files: the 1024-wrap one is big */
			size_t blob_len = 0;
			mcd_sealed_result r = run(body, len, pieces[i], &blob_len);
			CHECK((r == MCD_SEALED_BAD) == refuse, "%s (expect %s, signed %d, pieces of %zu): server %s",
			      name, expect, signed_file, pieces[i], r == MCD_SEALED_BAD ? "refuses" : "accepts");
			if (r == MCD_SEALED_OK) {
				/* The blob is the file without its wraps: prefix, wrap_count 0, core, payload. */
				CHECK(blob_len <= len && blob_len >= 11, "%s: blob of %zu bytes from %zu", name,
				      blob_len, len);
			}
		}
		free(body);
	}
	closedir(d);
	CHECK(vectors >= 100, "only %d vectors found in %s", vectors, dir);

	/* A valid file whose Content-Length is one byte more or less than its body is refused. */
	char path[1024], expect[64];
	uint8_t *body = NULL;
	size_t len = 0, blob_len = 0;
	bool signed_file;
	snprintf(path, sizeof path, "%s/chacha_1.vec", dir);
	if (read_vector(path, expect, sizeof expect, &body, &len, &signed_file)) {
		CHECK(run(body, len, 0, &blob_len) == MCD_SEALED_OK, "chacha_1 is accepted");
		mcd_sealed *s = mcd_sealed_new(len + 1);
		mcd_sealed_result r = mcd_sealed_feed(s, body, len, sink, &blob_len);
		CHECK(r == MCD_SEALED_OK && mcd_sealed_finish(s) == MCD_SEALED_BAD, "a body shorter than announced");
		mcd_sealed_free(s);
		s = mcd_sealed_new(len - 1);
		CHECK(mcd_sealed_feed(s, body, len, sink, &blob_len) == MCD_SEALED_BAD, "a body longer than announced");
		CHECK(mcd_sealed_feed(s, body, 1, sink, &blob_len) == MCD_SEALED_BAD, "a refusal sticks");
		mcd_sealed_free(s);
	} else {
		CHECK(0, "cannot read %s", path);
	}
	free(body);

	/* The signer's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo, as the directory's. */
	static const char *const signed_ok[][2] = {{"ok_signed_ed25519_trusted", "signer_ed25519.pub"},
	                                           {"ok_signed_pss_trusted", "signer_pss.pub"}};
	for (size_t k = 0; k < 2; k++) {
		body = NULL;
		snprintf(path, sizeof path, "%s/%s.vec", dir, signed_ok[k][0]);
		CHECK(read_vector(path, expect, sizeof expect, &body, &len, &signed_file), "read %s", path);
		snprintf(path, sizeof path, "%s/keys/%s", dir, signed_ok[k][1]);
		FILE *kf = fopen(path, "r");
		EVP_PKEY *signer = NULL;
		/* a NAME.pub holds the encryption key, then the signing key: take the last one */
		for (EVP_PKEY *next; kf && (next = PEM_read_PUBKEY(kf, NULL, NULL, NULL));) {
			EVP_PKEY_free(signer);
			signer = next;
		}
		if (kf)
			fclose(kf);
		unsigned char *der = NULL;
		int der_len = signer ? i2d_PUBKEY(signer, &der) : -1;
		uint8_t want[32];
		CHECK(der_len > 0 && EVP_Digest(der, (size_t)der_len, want, NULL, EVP_sha256(), NULL) == 1, "%s", path);
		mcd_sealed *s = mcd_sealed_new(len);
		CHECK(!mcd_sealed_signer_read(s) && !mcd_sealed_signer_fp(s), "nothing read yet");
		CHECK(body && mcd_sealed_feed(s, body, len, sink, &blob_len) == MCD_SEALED_OK &&
		          mcd_sealed_finish(s) == MCD_SEALED_OK,
		      "%s accepted", signed_ok[k][0]);
		const uint8_t *fp = mcd_sealed_signer_fp(s);
		CHECK(mcd_sealed_signer_read(s) && fp && !memcmp(fp, want, 32), "%s: the signer's fingerprint",
		      signed_ok[k][0]);
		mcd_sealed_free(s);
		OPENSSL_free(der);
		EVP_PKEY_free(signer);
		free(body);
	}
	body = NULL;
	snprintf(path, sizeof path, "%s/chacha_1.vec", dir);
	if (read_vector(path, expect, sizeof expect, &body, &len, &signed_file)) {
		mcd_sealed *s = mcd_sealed_new(len);
		CHECK(mcd_sealed_feed(s, body, len, sink, &blob_len) == MCD_SEALED_OK && mcd_sealed_signer_read(s) &&
		          mcd_sealed_signer_fp(s) == NULL,
		      "an unsigned file has no signer fingerprint");
		mcd_sealed_free(s);
	}
	free(body);
	return check_summary("sealed-check");
}
