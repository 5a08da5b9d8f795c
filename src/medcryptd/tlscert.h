/*
 * tlscert.h: the server's TLS certificate: a self-signed ECDSA P-256 certificate for localhost
 * made at first start (browsers accept ECDSA and RSA, not Ed25519), and the SHA-256 fingerprint
 * of any certificate, as the operator compares it with what a client pins.
 */
#ifndef MEDCRYPTD_TLSCERT_H
#define MEDCRYPTD_TLSCERT_H

#include <stdbool.h>

/* Writes a new P-256 key to key_path (0600, O_EXCL) and a self-signed certificate for
 * DNS:localhost, IP:127.0.0.1, IP:::1 to cert_path (0644, O_EXCL), valid 825 days. False (and
 * neither file left behind) on failure, logged. */
bool mcd_tls_make_self_signed(const char *cert_path, const char *key_path);

/* The SHA-256 of the DER of the first certificate in the PEM text, as 32 colon-separated
 * upper-case hex pairs ("AB:CD:..."), the form `openssl x509 -fingerprint -sha256` prints.
 * out needs 96 bytes. False when the PEM holds no certificate. */
bool mcd_tls_fingerprint(const char *cert_pem, char out[96]);

#endif
