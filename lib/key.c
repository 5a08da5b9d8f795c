/*
 * key.c: identities (an RSA key pair for wraps and a signing key pair) and public keys, and
 * their files (docs/FORMAT.md §11). Private keys are written as passphrase-encrypted PKCS#8
 * (PBES2, PBKDF2-HMAC-SHA-256, AES-256-CBC) that `openssl pkey` reads, into files created 0600
 * with O_EXCL; they are read with O_NOFOLLOW. Key material stays inside EVP_PKEY objects; the
 * DER buffers that pass through are wiped before they are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define PBKDF2_ITERATIONS 600000 /* [MC-KEY-2]; OWASP's 2023 figure for PBKDF2-HMAC-SHA-256 */
#define MAX_KEY_FILE      (256 * 1024)

struct mc_identity {
	EVP_PKEY *enc;
	EVP_PKEY *sign;
	mc_sig_alg sig_alg;
	uint8_t enc_fp[MC_FP_LEN];
	uint8_t sign_fp[MC_FP_LEN];
	bool plaintext_on_disk; /* a loaded key was unencrypted PKCS#8 */
};

struct mc_pubkey {
	EVP_PKEY *pkey;
	mc_key_role role;
	mc_sig_alg sig_alg;
	uint8_t fp[MC_FP_LEN];
	uint8_t *spki;
	size_t spki_len;
};

mc_status mc_spki_fp(EVP_PKEY *key, uint8_t fp[MC_FP_LEN], uint8_t **spki, size_t *spki_len, mc_err *err)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	if (len <= 0)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "cannot encode public key");
	mc_status st = mc_sha256(der, (size_t)len, fp, err);
	if (st == MC_OK && spki) {
		*spki = malloc((size_t)len);
		if (!*spki)
			st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		else {
			memcpy(*spki, der, (size_t)len);
			*spki_len = (size_t)len;
		}
	}
	OPENSSL_free(der);
	return st;
}

static mc_sig_alg sig_alg_of(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		return MC_SIG_ED25519;
	if (EVP_PKEY_is_a(key, "RSA"))
		return MC_SIG_RSA_PSS;
	return MC_SIG_NONE;
}

/* [MC-WRAP-3] and [MC-CORE-4]: RSA keys of 3072..8192 bits only. */
static mc_status check_rsa(EVP_PKEY *key, const char *what, mc_err *err)
{
	if (!EVP_PKEY_is_a(key, "RSA"))
		return mc_fail(err, MC_ERR_KEY, "%s must be an RSA key", what);
	int bits = EVP_PKEY_get_bits(key);
	if (bits < MC_RSA_MIN_BITS)
		return mc_fail(err, MC_ERR_KEY,
		               "%s is RSA-%d: keys under %d bits are refused (RSA-2048 gives about 112-bit "
		               "security, too little for records kept for decades)",
		               what, bits, MC_RSA_MIN_BITS);
	if (bits > MC_RSA_MAX_BITS)
		return mc_fail(err, MC_ERR_KEY, "%s is RSA-%d: keys over %d bits are not supported", what, bits,
		               MC_RSA_MAX_BITS);
	return MC_OK;
}

static mc_status check_signer(EVP_PKEY *key, mc_err *err)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		return MC_OK;
	if (EVP_PKEY_is_a(key, "RSA"))
		return check_rsa(key, "the signing key", err);
	return mc_fail(err, MC_ERR_KEY, "the signing key must be Ed25519 or RSA");
}

size_t mc_sig_len_for(EVP_PKEY *key, mc_sig_alg alg)
{
	if (alg == MC_SIG_ED25519)
		return FMT_ED25519_SIG_LEN;
	if (alg == MC_SIG_RSA_PSS)
		return (size_t)EVP_PKEY_get_size(key);
	return 0;
}

void mc_identity_free(mc_identity *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->enc);
	EVP_PKEY_free(id->sign);
	mc_wipe(id, sizeof *id);
	free(id);
}

mc_status mc_identity_generate(unsigned rsa_bits, mc_sig_alg sig_alg, mc_identity **out, mc_err *err)
{
	mc_status st;
	*out = NULL;
	if (rsa_bits < MC_RSA_MIN_BITS || rsa_bits > MC_RSA_MAX_BITS)
		return mc_fail(err, MC_ERR_MISUSE, "RSA key size must be %d to %d bits", MC_RSA_MIN_BITS,
		               MC_RSA_MAX_BITS);
	if (sig_alg != MC_SIG_ED25519 && sig_alg != MC_SIG_RSA_PSS)
		return mc_fail(err, MC_ERR_MISUSE, "unknown signature algorithm");
	mc_identity *id = calloc(1, sizeof *id);
	if (!id)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	id->sig_alg = sig_alg;
	id->enc = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	id->sign = sig_alg == MC_SIG_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                                     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	if (!id->enc || !id->sign) {
		mc_identity_free(id);
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "key generation failed");
	}
	if ((st = mc_spki_fp(id->enc, id->enc_fp, NULL, NULL, err)) != MC_OK ||
	    (st = mc_spki_fp(id->sign, id->sign_fp, NULL, NULL, err)) != MC_OK) {
		mc_identity_free(id);
		return st;
	}
	*out = id;
	return MC_OK;
}

int mc_identity_has_enc(const mc_identity *id)
{
	return id && id->enc;
}
int mc_identity_was_encrypted(const mc_identity *id)
{
	return id && !id->plaintext_on_disk;
}
int mc_identity_has_sign(const mc_identity *id)
{
	return id && id->sign;
}
mc_sig_alg mc_identity_sig_alg(const mc_identity *id)
{
	return id && id->sign ? id->sig_alg : MC_SIG_NONE;
}
const uint8_t *mc_identity_enc_fp(const mc_identity *id)
{
	return id && id->enc ? id->enc_fp : NULL;
}
const uint8_t *mc_identity_sign_fp(const mc_identity *id)
{
	return id && id->sign ? id->sign_fp : NULL;
}
EVP_PKEY *mc_identity_enc_key(const mc_identity *id)
{
	return id ? id->enc : NULL;
}
EVP_PKEY *mc_identity_sign_key(const mc_identity *id)
{
	return id ? id->sign : NULL;
}

void mc_fp_hex(const uint8_t fp[MC_FP_LEN], char hex[MC_FP_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < MC_FP_LEN; i++) {
		hex[2 * i] = digits[fp[i] >> 4];
		hex[2 * i + 1] = digits[fp[i] & 15];
	}
	hex[MC_FP_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mc_fp_parse(const char *hex, uint8_t fp[MC_FP_LEN])
{
	if (!hex || strlen(hex) != MC_FP_HEX_LEN)
		return -1;
	for (size_t i = 0; i < MC_FP_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		fp[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char *key_desc(EVP_PKEY *key, char *buf, size_t len)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		snprintf(buf, len, "ed25519");
	else
		snprintf(buf, len, "rsa-%d", EVP_PKEY_get_bits(key));
	return buf;
}

/* Writes a whole buffer to a new file (O_EXCL: never replaces one). */
static mc_status write_new_file(const char *path, mode_t mode, const char *data, size_t len, mc_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return mc_fail(err, MC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	mc_status st = mc_write(mc_output_fd(fd), (const uint8_t *)data, len, err);
	if (st == MC_OK && fsync(fd) != 0)
		st = mc_fail(err, MC_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	if (close(fd) != 0 && st == MC_OK)
		st = mc_fail(err, MC_ERR_IO, "cannot close %s: %s", path, strerror(errno));
	if (st != MC_OK)
		unlink(path);
	return st;
}

static bool write_encrypted_pkcs8(BIO *bio, EVP_PKEY *key, const char *pass, size_t pass_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	X509_SIG *p8e = NULL;
	bool ok = false;
	if (p8) {
		/* nid -1 with a cipher selects PBES2; OpenSSL's default PRF there is hmacWithSHA256. */
		p8e = PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), pass, (int)pass_len, NULL, 16, PBKDF2_ITERATIONS, p8,
		                       NULL, NULL);
		ok = p8e && PEM_write_bio_PKCS8(bio, p8e) == 1;
	}
	X509_SIG_free(p8e);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return ok;
}

mc_status mc_identity_save(const mc_identity *id, const char *path_base, const char *name, const char *passphrase,
                           size_t passphrase_len, mc_err *err)
{
	char key_path[4096], pub_path[4096], desc1[32], desc2[32], hex1[MC_FP_HEX_LEN + 1], hex2[MC_FP_HEX_LEN + 1];
	char clean_name[128];
	BIO *kb = NULL, *pb = NULL;
	char *kdata, *pdata;
	long klen, plen;
	mc_status st = MC_OK;

	if (!id || !id->enc || !id->sign || !path_base)
		return mc_fail(err, MC_ERR_MISUSE, "identity needs both private keys to be saved");
	if (!passphrase || passphrase_len == 0)
		return mc_fail(err, MC_ERR_MISUSE, "the passphrase must not be empty");
	if (passphrase_len > 1024)
		return mc_fail(err, MC_ERR_MISUSE, "the passphrase is longer than 1024 bytes");
	if (snprintf(key_path, sizeof key_path, "%s.key", path_base) >= (int)sizeof key_path ||
	    snprintf(pub_path, sizeof pub_path, "%s.pub", path_base) >= (int)sizeof pub_path)
		return mc_fail(err, MC_ERR_MISUSE, "path too long");
	size_t n = 0;
	for (const char *p = name ? name : ""; *p && n + 1 < sizeof clean_name; p++)
		clean_name[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	clean_name[n] = '\0';

	kb = BIO_new(BIO_s_secmem());
	pb = BIO_new(BIO_s_mem());
	if (!kb || !pb)
		goto nomem;
	BIO_printf(kb, "medcrypt private identity: encryption key, then signing key.\n"
	               "Passphrase-encrypted PKCS#8 (PBES2); keep this file private.\n");
	if (!write_encrypted_pkcs8(kb, id->enc, passphrase, passphrase_len) ||
	    !write_encrypted_pkcs8(kb, id->sign, passphrase, passphrase_len)) {
		st = mc_fail_ssl(err, MC_ERR_CRYPTO, "cannot encrypt private key");
		goto cleanup;
	}
	/* [MC-KEY-2] the public halves in clear, so the signer can be named before the unlock */
	if (PEM_write_bio_PUBKEY(kb, id->enc) != 1 || PEM_write_bio_PUBKEY(kb, id->sign) != 1)
		goto nomem;
	mc_fp_hex(id->enc_fp, hex1);
	mc_fp_hex(id->sign_fp, hex2);
	BIO_printf(pb, "# medcrypt public identity\n# name: %s\n# encryption: %s %s\n# signing: %s %s\n", clean_name,
	           key_desc(id->enc, desc1, sizeof desc1), hex1, key_desc(id->sign, desc2, sizeof desc2), hex2);
	if (PEM_write_bio_PUBKEY(pb, id->enc) != 1 || PEM_write_bio_PUBKEY(pb, id->sign) != 1)
		goto nomem;
	klen = BIO_get_mem_data(kb, &kdata);
	plen = BIO_get_mem_data(pb, &pdata);
	if ((st = write_new_file(key_path, 0600, kdata, (size_t)klen, err)) != MC_OK)
		goto cleanup;
	if ((st = write_new_file(pub_path, 0644, pdata, (size_t)plen, err)) != MC_OK) {
		unlink(key_path);
		goto cleanup;
	}
	goto cleanup;
nomem:
	st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
cleanup:
	BIO_free(kb);
	BIO_free(pb);
	return st;
}

/* Reads a small file whole, refusing symlinks and oversized files. Free with mc_buf_free. */
static mc_status slurp(const char *path, uint8_t **out, size_t *len, mc_err *err)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mc_fail(err, errno == ELOOP ? MC_ERR_KEY : MC_ERR_IO, "cannot open %s: %s", path,
		               errno == ELOOP ? "it is a symbolic link" : strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_KEY_FILE) {
		close(fd);
		return mc_fail(err, MC_ERR_KEY, "%s is not a key file (not a regular file, or larger than %d bytes)",
		               path, MAX_KEY_FILE);
	}
	uint8_t *buf = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	mc_status st = buf ? mc_read_full(mc_input_fd(fd), buf, (size_t)sb.st_size, &got, err)
	                   : mc_fail(err, MC_ERR_NOMEM, "out of memory");
	close(fd);
	if (st != MC_OK) {
		/* the read may have filled part of it before it failed */
		mc_buf_free(buf, (size_t)sb.st_size + 1);
		return st;
	}
	*out = buf;
	*len = got;
	return MC_OK;
}

/* The next PEM block of a key file: its name and DER bytes (release both with pem_block_free).
 * False at the end, or at text that is not PEM. PEM_FLAG_SECURE: the decoder's own line and
 * base64 buffers, which hold a plain private key as it is decoded, are wiped when freed too. */
static bool next_pem(BIO *bio, char **name, unsigned char **der, long *der_len)
{
	char *header = NULL;
	if (PEM_read_bio_ex(bio, name, &header, der, der_len, PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
		ERR_clear_error();
		return false;
	}
	OPENSSL_secure_free(header);
	return true;
}

/* Wipes and frees a block from next_pem. NULLs are harmless. */
static void pem_block_free(char *name, unsigned char *der, long der_len)
{
	if (der)
		OPENSSL_secure_clear_free(der, (size_t)der_len);
	OPENSSL_secure_free(name);
}

/* A crafted key file could ask for billions of PBKDF2 iterations and hang the reader. */
#define MAX_PBKDF2_ITERATIONS 10000000

static bool iterations_acceptable(const X509_SIG *p8e)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = 0;
	bool ok = true;
	X509_SIG_get0(p8e, &alg, NULL);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != NID_pbes2 || ptype != V_ASN1_SEQUENCE)
		return true; /* other schemes: OpenSSL applies its own limits */
	PBE2PARAM *pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
	if (pbe2 && OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_pbkdf2) {
		PBKDF2PARAM *kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
		long iter = kdf ? ASN1_INTEGER_get(kdf->iter) : -1;
		ok = iter > 0 && iter <= MAX_PBKDF2_ITERATIONS;
		PBKDF2PARAM_free(kdf);
	}
	PBE2PARAM_free(pbe2);
	ERR_clear_error();
	return ok;
}

/* Decrypts one PEM block of a key file into a key; with pkcs8 non-NULL, also gives the key's
 * unencrypted PKCS#8 DER (free with mc_buf_free), encoded straight from the decrypted
 * structure into a buffer of ours. */
static mc_status decode_private(const char *pem_name, const unsigned char *der, long der_len, const char *pass,
                                size_t pass_len, EVP_PKEY **key, bool *plain, uint8_t **pkcs8, size_t *pkcs8_len,
                                mc_err *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const unsigned char *p = der;
	if (strcmp(pem_name, "ENCRYPTED PRIVATE KEY") == 0) {
		X509_SIG *p8e = d2i_X509_SIG(NULL, &p, der_len);
		if (!p8e)
			return mc_fail_ssl(err, MC_ERR_KEY, "damaged private key block");
		if (!iterations_acceptable(p8e)) {
			X509_SIG_free(p8e);
			return mc_fail(err, MC_ERR_KEY, "the key file asks for an unreasonable PBKDF2 iteration count");
		}
		p8 = PKCS8_decrypt_ex(p8e, pass ? pass : "", (int)pass_len, NULL, NULL);
		X509_SIG_free(p8e);
		if (!p8) {
			ERR_clear_error();
			return mc_fail(err, MC_ERR_KEY, "wrong passphrase, or the key file is damaged");
		}
	} else if (strcmp(pem_name, "PRIVATE KEY") == 0) {
		*plain = true;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, der_len);
		if (!p8)
			return mc_fail_ssl(err, MC_ERR_KEY, "damaged private key block");
	} else if (strstr(pem_name, "PUBLIC KEY") || strcmp(pem_name, "CERTIFICATE") == 0) {
		return mc_fail(err, MC_ERR_KEY, "this is a public key: give your private identity (NAME.key)");
	} else {
		return mc_fail(err, MC_ERR_KEY, "unexpected PEM block \"%.40s\" in key file", pem_name);
	}
	if (pkcs8) {
		int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
		unsigned char *q = *pkcs8 = n > 0 ? malloc((size_t)n) : NULL;
		if (!q || i2d_PKCS8_PRIV_KEY_INFO(p8, &q) != n) {
			mc_buf_free(*pkcs8, n > 0 ? (size_t)n : 0);
			*pkcs8 = NULL;
			PKCS8_PRIV_KEY_INFO_free(p8);
			return mc_fail_ssl(err, MC_ERR_NOMEM, "cannot encode the private key");
		}
		*pkcs8_len = (size_t)n;
	}
	*key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!*key)
		return mc_fail_ssl(err, MC_ERR_KEY, "unreadable private key");
	return MC_OK;
}

static mc_status identity_parse(const uint8_t *file, size_t file_len, const char *passphrase, size_t passphrase_len,
                                int which, mc_identity **out, uint8_t *pkcs8[2], size_t pkcs8_len[2], mc_err *err);

/* mc_identity_load and mc_identity_load_pkcs8: pkcs8 NULL or both keys' DER. */
static mc_status identity_load(const char *path, const char *passphrase, size_t passphrase_len, int which,
                               mc_identity **out, uint8_t *pkcs8[2], size_t pkcs8_len[2], mc_err *err)
{
	uint8_t *file = NULL;
	size_t file_len = 0;
	*out = NULL;
	if (!path)
		return mc_fail(err, MC_ERR_MISUSE, "no key file given");
	mc_status st = slurp(path, &file, &file_len, err);
	if (st != MC_OK)
		return st;
	st = identity_parse(file, file_len, passphrase, passphrase_len, which, out, pkcs8, pkcs8_len, err);
	mc_buf_free(file, file_len);
	if (st == MC_ERR_KEY && err && strstr(err->msg, "holds no") == err->msg) {
		mc_fail(err, MC_ERR_KEY, "%.200s holds no PEM private key", path);
	}
	return st;
}

mc_status mc_identity_load(const char *path, const char *passphrase, size_t passphrase_len, int which,
                           mc_identity **out, mc_err *err)
{
	return identity_load(path, passphrase, passphrase_len, which, out, NULL, NULL, err);
}

mc_status mc_identity_load_pkcs8(const char *path, const char *passphrase, size_t passphrase_len, mc_identity **out,
                                 uint8_t *pkcs8[2], size_t pkcs8_len[2], mc_err *err)
{
	pkcs8[0] = pkcs8[1] = NULL;
	pkcs8_len[0] = pkcs8_len[1] = 0;
	return identity_load(path, passphrase, passphrase_len, MC_IDENTITY_BOTH, out, pkcs8, pkcs8_len, err);
}

mc_status mc_identity_parse(const uint8_t *file, size_t file_len, const char *passphrase, size_t passphrase_len,
                            int which, mc_identity **out, mc_err *err)
{
	return identity_parse(file, file_len, passphrase, passphrase_len, which, out, NULL, NULL, err);
}

static mc_status identity_parse(const uint8_t *file, size_t file_len, const char *passphrase, size_t passphrase_len,
                                int which, mc_identity **out, uint8_t *pkcs8[2], size_t pkcs8_len[2], mc_err *err)
{
	mc_identity *id = NULL;
	BIO *bio = NULL;
	int block = 0;
	mc_status st = MC_OK;

	*out = NULL;
	if (!file || !(which & MC_IDENTITY_BOTH) || file_len > MAX_KEY_FILE)
		return mc_fail(err, MC_ERR_MISUSE, "nothing to load");
	id = calloc(1, sizeof *id);
	bio = BIO_new_mem_buf(file, (int)file_len);
	if (!id || !bio) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* Read the (at most two) PEM blocks first: a file with one block is an encryption key,
	 * unless only a signing key was asked for. */
	char *names[2] = {NULL, NULL};
	unsigned char *ders[2] = {NULL, NULL};
	long der_lens[2] = {0, 0};
	EVP_PKEY *publics[2] = {NULL, NULL};
	int n_public = 0;
	for (;;) {
		char *name = NULL;
		unsigned char *der = NULL;
		long der_len = 0;
		if (!next_pem(bio, &name, &der, &der_len))
			break;
		if (strcmp(name, "PUBLIC KEY") == 0) {
			/* [MC-KEY-2] the clear public halves: checked against the private keys below */
			const unsigned char *p = der;
			EVP_PKEY *pub = n_public < 2 ? d2i_PUBKEY(NULL, &p, der_len) : NULL;
			if (pub)
				publics[n_public++] = pub;
			pem_block_free(name, der, der_len);
			continue;
		}
		if (block < 2) {
			names[block] = name;
			ders[block] = der;
			der_lens[block] = der_len;
		} else {
			pem_block_free(name, der, der_len);
		}
		block++;
	}
	int enc_block = block >= 2 || which != MC_IDENTITY_SIGN ? 0 : -1;
	int sign_block = block >= 2 ? 1 : (which == MC_IDENTITY_SIGN ? 0 : -1);
	if (block > 0 && enc_block >= 0 && (which & MC_IDENTITY_ENC))
		st = decode_private(names[enc_block], ders[enc_block], der_lens[enc_block], passphrase, passphrase_len,
		                    &id->enc, &id->plaintext_on_disk, pkcs8 ? &pkcs8[0] : NULL,
		                    pkcs8 ? &pkcs8_len[0] : NULL, err);
	if (st == MC_OK && block > 0 && sign_block >= 0 && (which & MC_IDENTITY_SIGN))
		st = decode_private(names[sign_block], ders[sign_block], der_lens[sign_block], passphrase,
		                    passphrase_len, &id->sign, &id->plaintext_on_disk, pkcs8 ? &pkcs8[1] : NULL,
		                    pkcs8 ? &pkcs8_len[1] : NULL, err);
	for (int i = 0; i < 2; i++)
		pem_block_free(names[i], ders[i], der_lens[i]);
	if (st == MC_OK && n_public == 2 &&
	    ((id->enc && EVP_PKEY_eq(id->enc, publics[0]) != 1) ||
	     (id->sign && EVP_PKEY_eq(id->sign, publics[1]) != 1)))
		st = mc_fail(err, MC_ERR_KEY, "the key file's public and private parts do not match: it was altered");
	EVP_PKEY_free(publics[0]);
	EVP_PKEY_free(publics[1]);
	if (st != MC_OK)
		goto cleanup;
	if (block == 0) {
		st = mc_fail(err, MC_ERR_KEY, "holds no PEM private key");
		goto cleanup;
	}
	if (id->enc) {
		if ((st = check_rsa(id->enc, "the encryption key", err)) != MC_OK ||
		    (st = mc_spki_fp(id->enc, id->enc_fp, NULL, NULL, err)) != MC_OK)
			goto cleanup;
	}
	if ((which & MC_IDENTITY_SIGN) && !id->sign) {
		st = mc_fail(err, MC_ERR_KEY, "the key file holds no signing key");
		goto cleanup;
	}
	if (id->sign) {
		if ((st = check_signer(id->sign, err)) != MC_OK ||
		    (st = mc_spki_fp(id->sign, id->sign_fp, NULL, NULL, err)) != MC_OK)
			goto cleanup;
		id->sig_alg = sig_alg_of(id->sign);
	}
	*out = id;
	id = NULL;
cleanup:
	BIO_free(bio);
	mc_identity_free(id);
	for (int i = 0; pkcs8 && st != MC_OK && i < 2; i++) {
		mc_buf_free(pkcs8[i], pkcs8_len[i]);
		pkcs8[i] = NULL;
		pkcs8_len[i] = 0;
	}
	return st;
}

char *mc_pubkey_pem(const mc_pubkey *pk)
{
	BIO *b = pk ? BIO_new(BIO_s_mem()) : NULL;
	char *data = NULL, *pem = NULL;
	if (b && PEM_write_bio_PUBKEY(b, pk->pkey) == 1) {
		long n = BIO_get_mem_data(b, &data);
		if (n > 0 && (pem = malloc((size_t)n + 1))) {
			memcpy(pem, data, (size_t)n);
			pem[n] = '\0';
		}
	}
	BIO_free(b);
	ERR_clear_error();
	return pem;
}

void mc_pubkey_free(mc_pubkey *pk)
{
	if (!pk)
		return;
	EVP_PKEY_free(pk->pkey);
	free(pk->spki);
	free(pk);
}

const uint8_t *mc_pubkey_fp(const mc_pubkey *pk)
{
	return pk ? pk->fp : NULL;
}
mc_sig_alg mc_pubkey_sig_alg(const mc_pubkey *pk)
{
	return pk ? pk->sig_alg : MC_SIG_NONE;
}
unsigned mc_pubkey_bits(const mc_pubkey *pk)
{
	return pk ? (unsigned)EVP_PKEY_get_bits(pk->pkey) : 0;
}
EVP_PKEY *mc_pubkey_evp(const mc_pubkey *pk)
{
	return pk ? pk->pkey : NULL;
}

const uint8_t *mc_pubkey_spki(const mc_pubkey *pk, size_t *len)
{
	*len = pk->spki_len;
	return pk->spki;
}

/* Takes ownership of key (freed on failure). */
static mc_status pubkey_wrap(EVP_PKEY *key, mc_key_role role, mc_pubkey **out, mc_err *err)
{
	mc_status st = role == MC_ROLE_RECIPIENT ? check_rsa(key, "the recipient key", err) : check_signer(key, err);
	mc_pubkey *pk = NULL;
	if (st == MC_OK && !(pk = calloc(1, sizeof *pk)))
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (st == MC_OK) {
		pk->pkey = key;
		pk->role = role;
		pk->sig_alg = role == MC_ROLE_SIGNER ? sig_alg_of(key) : MC_SIG_NONE;
		st = mc_spki_fp(key, pk->fp, &pk->spki, &pk->spki_len, err);
		key = NULL;
	}
	if (st != MC_OK) {
		EVP_PKEY_free(key);
		mc_pubkey_free(pk);
		return st;
	}
	*out = pk;
	return MC_OK;
}

mc_status mc_pubkey_from_spki(const uint8_t *der, size_t len, mc_key_role role, mc_pubkey **out, mc_err *err)
{
	const unsigned char *p = der;
	*out = NULL;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
	if (!key || p != der + len) {
		EVP_PKEY_free(key);
		return mc_fail_ssl(err, MC_ERR_KEY, "not a DER SubjectPublicKeyInfo");
	}
	/* DER has one encoding of each key ([MC-CORE-4], [MC-KEY-3]): BER variants such as a long-form
	 * length would give a fingerprint other than the SHA-256 of the bytes a header carries. */
	unsigned char *canonical = NULL;
	int clen = i2d_PUBKEY(key, &canonical);
	bool same = clen > 0 && (size_t)clen == len && memcmp(canonical, der, len) == 0;
	OPENSSL_free(canonical);
	if (!same) {
		EVP_PKEY_free(key);
		return mc_fail(err, MC_ERR_KEY, "the SubjectPublicKeyInfo is not in canonical DER");
	}
	return pubkey_wrap(key, role, out, err);
}

mc_status mc_pubkey_from_identity(const mc_identity *id, mc_key_role role, mc_pubkey **out, mc_err *err)
{
	EVP_PKEY *priv = role == MC_ROLE_RECIPIENT ? id->enc : id->sign;
	unsigned char *der = NULL;
	*out = NULL;
	if (!priv)
		return mc_fail(err, MC_ERR_MISUSE, "the identity does not hold that key");
	int len = i2d_PUBKEY(priv, &der);
	if (len <= 0)
		return mc_fail_ssl(err, MC_ERR_CRYPTO, "cannot encode public key");
	mc_status st = mc_pubkey_from_spki(der, (size_t)len, role, out, err);
	OPENSSL_free(der);
	return st;
}

mc_status mc_pubkey_load(const char *path, mc_key_role role, mc_pubkey **out, mc_err *err)
{
	uint8_t *file = NULL;
	size_t file_len = 0;
	*out = NULL;
	mc_status st = slurp(path, &file, &file_len, err);
	if (st != MC_OK)
		return st;
	st = mc_pubkey_parse(file, file_len, role, out, err);
	mc_buf_free(file, file_len);
	if (st != MC_OK && err) {
		char msg[sizeof err->msg + 1];
		memcpy(msg, err->msg, sizeof err->msg);
		msg[sizeof err->msg] = '\0';
		mc_fail(err, st, "%.150s: %.240s", path, msg);
	}
	return st;
}

mc_status mc_pubkey_parse(const uint8_t *file, size_t file_len, mc_key_role role, mc_pubkey **out, mc_err *err)
{
	EVP_PKEY *keys[2] = {NULL, NULL};
	int n = 0, seen = 0;
	mc_status st = MC_OK;
	*out = NULL;
	if (!file || file_len > MAX_KEY_FILE)
		return mc_fail(err, MC_ERR_KEY, "not a key file");
	BIO *bio = BIO_new_mem_buf(file, (int)file_len);
	if (!bio)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	for (;;) {
		char *name = NULL;
		unsigned char *der = NULL;
		long der_len = 0;
		if (!next_pem(bio, &name, &der, &der_len))
			break;
		const unsigned char *p = der;
		EVP_PKEY *key = NULL;
		seen++;
		if (strcmp(name, "PUBLIC KEY") == 0) {
			key = d2i_PUBKEY(NULL, &p, der_len);
		} else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
			key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, der_len);
		} else if (strcmp(name, "CERTIFICATE") == 0) {
			X509 *cert = d2i_X509(NULL, &p, der_len);
			key = cert ? X509_get_pubkey(cert) : NULL;
			X509_free(cert);
		} else if (strstr(name, "PRIVATE KEY")) {
			st = mc_fail(err, MC_ERR_KEY, "this is a private key: give the public identity (.pub) instead");
		}
		pem_block_free(name, der, der_len); /* it may be a plain private key given by mistake */
		if (st != MC_OK)
			break;
		if (key && n < 2)
			keys[n++] = key;
		else
			EVP_PKEY_free(key);
	}
	BIO_free(bio);
	if (st == MC_OK && n == 0)
		st = mc_fail(err, MC_ERR_KEY, "holds no readable public key or certificate%s",
		             seen ? "" : " (no PEM block found)");
	if (st == MC_OK) {
		/* A two-key identity file: encryption key first, signing key second [MC-KEY-1]. */
		int pick = (role == MC_ROLE_SIGNER && n == 2) ? 1 : 0;
		EVP_PKEY *key = keys[pick];
		keys[pick] = NULL;
		st = pubkey_wrap(key, role, out, err);
	}
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
	return st;
}

mc_status mc_identity_file_signer(const char *path, mc_pubkey **out, mc_err *err)
{
	uint8_t *file = NULL;
	size_t file_len = 0;
	EVP_PKEY *publics[2] = {NULL, NULL};
	int n = 0;
	*out = NULL;
	mc_status st = slurp(path, &file, &file_len, err);
	if (st != MC_OK)
		return st;
	BIO *bio = BIO_new_mem_buf(file, (int)file_len);
	for (;;) {
		char *name = NULL;
		unsigned char *der = NULL;
		long der_len = 0;
		if (!bio || !next_pem(bio, &name, &der, &der_len))
			break;
		if (strcmp(name, "PUBLIC KEY") == 0 && n < 2) {
			const unsigned char *p = der;
			publics[n] = d2i_PUBKEY(NULL, &p, der_len);
			if (publics[n])
				n++;
		}
		pem_block_free(name, der, der_len);
	}
	BIO_free(bio);
	mc_buf_free(file, file_len);
	if (n == 2) {
		st = pubkey_wrap(publics[1], MC_ROLE_SIGNER, out, err);
		publics[1] = NULL;
	} else {
		st = mc_fail(err, MC_ERR_KEY, "%.200s does not name its public keys (made by an older medcrypt)", path);
	}
	EVP_PKEY_free(publics[0]);
	EVP_PKEY_free(publics[1]);
	return st;
}

/* ---- what a key file holds (mc_key_file_kind) ---- */

static void describe_public(EVP_PKEY *key, mc_key_type *type, unsigned *bits)
{
	if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS"))
		*type = MC_KEY_TYPE_RSA;
	else if (EVP_PKEY_is_a(key, "ED25519"))
		*type = MC_KEY_TYPE_ED25519;
	else
		*type = MC_KEY_TYPE_OTHER;
	int b = EVP_PKEY_get_bits(key);
	*bits = b > 0 ? (unsigned)b : 0;
}

/* The algorithm of a plain PKCS#8 block, from its AlgorithmIdentifier: the key is not built. */
static mc_key_type plain_private_type(const unsigned char *der, long der_len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, der_len);
	const ASN1_OBJECT *obj = NULL;
	mc_key_type type = MC_KEY_TYPE_UNKNOWN;
	if (p8 && PKCS8_pkey_get0(&obj, NULL, NULL, NULL, p8) == 1) {
		int nid = OBJ_obj2nid(obj);
		type = nid == NID_rsaEncryption || nid == NID_rsassaPss ? MC_KEY_TYPE_RSA
		       : nid == NID_ED25519                             ? MC_KEY_TYPE_ED25519
		                                                        : MC_KEY_TYPE_OTHER;
	}
	PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the key octets it holds */
	ERR_clear_error();
	return type;
}

mc_status mc_key_file_kind_parse(const uint8_t *file, size_t file_len, mc_key_file_info *info, mc_err *err)
{
	memset(info, 0, sizeof *info);
	if (!file || file_len > MAX_KEY_FILE)
		return mc_fail(err, MC_ERR_KEY, "not a key file");
	BIO *bio = BIO_new_mem_buf(file, (int)file_len);
	if (!bio)
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	unsigned n_private = 0, n_public = 0, public_bits[2] = {0, 0};
	mc_key_type private_type[2] = {MC_KEY_TYPE_UNKNOWN, MC_KEY_TYPE_UNKNOWN};
	mc_key_type public_type[2] = {MC_KEY_TYPE_UNKNOWN, MC_KEY_TYPE_UNKNOWN};
	bool encrypted = false;
	for (;;) {
		char *name = NULL;
		unsigned char *der = NULL;
		long der_len = 0;
		if (!next_pem(bio, &name, &der, &der_len))
			break;
		const unsigned char *p = der;
		EVP_PKEY *pub = NULL;
		if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
			encrypted = true;
			n_private++; /* its type is behind the passphrase */
		} else if (strcmp(name, "PRIVATE KEY") == 0) {
			if (n_private < 2)
				private_type[n_private] = plain_private_type(der, der_len);
			n_private++;
		} else if (strstr(name, "PRIVATE KEY")) {
			if (n_private < 2) /* "RSA PRIVATE KEY" and the like, which mc_identity_load refuses */
				private_type[n_private] =
				    strncmp(name, "RSA ", 4) == 0 ? MC_KEY_TYPE_RSA : MC_KEY_TYPE_OTHER;
			n_private++;
		} else if (strcmp(name, "PUBLIC KEY") == 0) {
			pub = d2i_PUBKEY(NULL, &p, der_len);
		} else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
			pub = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, der_len);
		} else if (strcmp(name, "CERTIFICATE") == 0) {
			X509 *cert = d2i_X509(NULL, &p, der_len);
			pub = cert ? X509_get_pubkey(cert) : NULL;
			X509_free(cert);
		}
		if (pub) {
			if (n_public < 2)
				describe_public(pub, &public_type[n_public], &public_bits[n_public]);
			n_public++;
			EVP_PKEY_free(pub);
		}
		ERR_clear_error();
		pem_block_free(name, der, der_len);
	}
	BIO_free(bio);
	if (n_private) {
		/* A NAME.key shows its keys by their clear public halves ([MC-KEY-2]), in the same order. */
		info->kind = MC_KEY_FILE_PRIVATE;
		info->encrypted = encrypted;
		info->n_keys = n_private;
		for (int i = 0; i < 2; i++) {
			bool shown = (unsigned)i < n_public && public_type[i] != MC_KEY_TYPE_UNKNOWN;
			info->type[i] = shown ? public_type[i] : private_type[i];
			info->bits[i] = shown ? public_bits[i] : 0;
		}
	} else if (n_public) {
		info->kind = MC_KEY_FILE_PUBLIC;
		info->n_keys = n_public;
		for (int i = 0; i < 2; i++) {
			info->type[i] = public_type[i];
			info->bits[i] = public_bits[i];
		}
	}
	return mc_ok(err);
}

mc_status mc_key_file_kind(const char *path, mc_key_file_info *info, mc_err *err)
{
	uint8_t *file = NULL;
	size_t file_len = 0;
	memset(info, 0, sizeof *info);
	if (!path)
		return mc_fail(err, MC_ERR_MISUSE, "no key file given");
	mc_status st = slurp(path, &file, &file_len, err);
	if (st != MC_OK)
		return st;
	st = mc_key_file_kind_parse(file, file_len, info, err);
	mc_buf_free(file, file_len);
	return st;
}
