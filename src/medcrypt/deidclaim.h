/*
 * deidclaim.h: the de-identification claim of `medcrypt send --deidentified` (docs/FORMAT.md,
 * "The de-identification claim"): made from a file after checking it (deid_claim_make), carried
 * as the member "deidentified" of the sealed metadata, where the file's signature signs it, and
 * shown by `get` and `ls` with who signed it (deid_claim_print). Ownership: the caller
 * json_decref()s every claim it is given.
 */
#ifndef MEDCRYPT_DEIDCLAIM_H
#define MEDCRYPT_DEIDCLAIM_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

#define DEID_PROFILE_BASIC  "DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile"
#define DEID_PROFILE_SENDER "sender confirmation"

/*
 * The claim for the file at path, or a refusal that says what to do. A DICOM file is checked with
 * mc_deid_check: one that still carries an identifying attribute (named by tag and keyword, never
 * its value) or Burned In Annotation YES is refused, and so is one that is not even readable.
 * A PNG or JPEG cannot be checked: it is refused unless confirmed (--confirm-deidentified), and
 * the claim then says whether it carries medcrypt region encryption ("regions cleaned"). Any
 * other type is refused. Refusals are MC_ERR_MISUSE (exit 2); a DICOM the reader refuses keeps
 * the reader's class; MC_ERR_IO when path cannot be read. Notes for the sender (a DICOM that does
 * not state Burned In Annotation, a PNG's text chunks or a JPEG's EXIF) go to stderr.
 * On success *claim is a new object: {"profile", "checked": [...], "pixels", "tool", "time"}.
 */
mc_status deid_claim_make(const char *path, bool confirmed, json_t **claim, mc_err *err);

/*
 * Prints a claim found in decrypted metadata (untrusted: every value is made printable; NULL or
 * a malformed one is said to be so) to out, each line starting with indent, and who signed it:
 * signer (a user name) and signer_fp (the signing key's fingerprint in hex), or signer_fp NULL
 * when the signature was not verified yet (`ls`: "get verifies it").
 */
void deid_claim_print(FILE *out, const json_t *claim, const char *signer, const char *signer_fp, const char *indent);

/* The member "deidentified" of the decrypted metadata of f (unlocked), a new reference, or NULL
 * when there is none (or the metadata is absent or not a JSON object). */
json_t *deid_claim_of_file(const mc_file *f);

/* Warns on stderr, after prefix, when the server's record of an image (IMAGE of docs/API.md) and
 * the metadata disagree: marked "deidentified": true with no claim in the metadata (loudly: the
 * server's mark is not the sender's claim), or a claim the server did not record. */
void deid_claim_compare_mark(const json_t *image, const json_t *claim, const char *prefix);

/* A claim is an object with the string members "profile" and "pixels" (what the CLI relies on). */
bool deid_claim_well_formed(const json_t *claim);

#endif
