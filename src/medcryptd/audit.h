/*
 * audit.h: the hash chain of the audit log (API.md §17): the canonical form of a record, its
 * chained hash, the server's Ed25519 checkpoint signatures, and verification of a whole log
 * that names the first record that does not hold. The store (store.h) calls these to append;
 * `medcryptd audit verify` and GET /api/v1/audit/verify call mcd_audit_verify.
 */
#ifndef MEDCRYPTD_AUDIT_H
#define MEDCRYPTD_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define MCD_AUDIT_CHECKPOINT_EVERY 64

/* The server's audit signing key: an Ed25519 key kept 0600 in the data directory. */
typedef struct mcd_audit_signer mcd_audit_signer;

/* Loads DIR/audit.key, creating it (O_EXCL, 0600) and DIR/audit.pub (PEM) when missing. NULL on
 * failure, logged. */
mcd_audit_signer *mcd_audit_signer_open(const char *data_dir);
void mcd_audit_signer_free(mcd_audit_signer *s);
/* The PEM public key, owned by s. */
const char *mcd_audit_signer_public_pem(const mcd_audit_signer *s);
/* Signs the checkpoint message for (seq, hash); *sig (64 bytes) is malloc'd, freed by the caller. */
bool mcd_audit_sign(mcd_audit_signer *s, int64_t seq, const uint8_t hash[32], uint8_t **sig, size_t *sig_len);

/* The canonical JSON of a record without its hash (keys sorted, compact); malloc'd. */
char *mcd_audit_canonical(const mcd_audit_record *r);
/* hash = SHA-256("medcrypt/v1 audit\0" || prev || canonical(r)). */
bool mcd_audit_hash(const uint8_t prev[32], const mcd_audit_record *r, uint8_t hash[32]);

typedef struct mcd_audit_verdict {
	bool ok;
	int64_t records;
	int64_t checkpoints;
	int64_t first_bad; /* seq of the first record or checkpoint that does not hold, when !ok */
	char reason[160];
} mcd_audit_verdict;

/* Walks the whole log of s: recomputes every hash, checks seq has no gap, and checks every
 * checkpoint's signature against public_pem and the hash at its seq. */
mcd_store_status mcd_audit_verify(mcd_store *s, const char *public_pem, mcd_audit_verdict *v);

#endif
