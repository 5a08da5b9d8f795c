/*
 * tlscert.c: the first-start certificate, made with OpenSSL 3: an EC P-256 key and an X.509 v3
 * certificate signed by itself, with the extensions a browser checks on a leaf (CA:FALSE,
 * digitalSignature, serverAuth, subjectAltName). The private key is written with O_EXCL and
 * mode 0600 and never logged.
 */
#include "tlscert.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return false;
	bool ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static FILE *create_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

static bool finish_file(FILE *f, bool ok)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = false;
	if (fclose(f) != 0)
		ok = false;
	return ok;
}

bool mcd_tls_make_self_signed(const char *cert_path, const char *key_path)
{
	bool ok = false, key_made = false;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	FILE *f = NULL;
	if (!key || !cert || !mcd_random(serial, sizeof serial))
		goto cleanup;
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	X509_NAME *name = X509_get_subject_name(cert);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) || X509_set_version(cert, 2) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 825L * 24 * 3600) || X509_set_pubkey(cert, key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"medcryptd", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1)
		goto cleanup;
	if (!add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(cert, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(cert, NID_ext_key_usage, "serverAuth") || !add_ext(cert, NID_subject_key_identifier, "hash") ||
	    !add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"))
		goto cleanup;
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		goto cleanup;
	if (!(f = create_file(key_path, 0600)))
		goto cleanup;
	key_made = true;
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	ok = finish_file(f, ok);
	f = NULL;
	if (!ok)
		goto cleanup;
	if (!(f = create_file(cert_path, 0644))) {
		ok = false;
		goto cleanup;
	}
	ok = PEM_write_X509(f, cert) == 1;
	ok = finish_file(f, ok);
	f = NULL;
	if (!ok)
		unlink(cert_path);
cleanup:
	if (!ok) {
		mcd_log(MCD_LOG_ERROR, "tls", "cannot make the self-signed certificate %s", cert_path);
		if (key_made)
			unlink(key_path);
	}
	BN_free(bn);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

bool mcd_tls_fingerprint(const char *cert_pem, char out[96])
{
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!cert)
		return false;
	unsigned char md[32];
	unsigned int mdlen = 0;
	bool ok = X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32;
	X509_free(cert);
	if (!ok)
		return false;
	static const char digits[] = "0123456789ABCDEF";
	for (int i = 0; i < 32; i++) {
		out[3 * i] = digits[md[i] >> 4];
		out[3 * i + 1] = digits[md[i] & 15];
		out[3 * i + 2] = i == 31 ? 0 : ':';
	}
	return true;
}
