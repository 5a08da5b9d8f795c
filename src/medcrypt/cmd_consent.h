/*
 * cmd_consent.h: the consent commands (cmd_consent.c, docs/API.md §16c), kept apart from cli.h
 * so that they land as one change.
 */
#ifndef MEDCRYPT_CMD_CONSENT_H
#define MEDCRYPT_CMD_CONSENT_H

#include "cli.h"

/* medcrypt consent request PATIENT [--study UID | --from YYYYMMDD --to YYYYMMDD]
 *                          (--reason TEXT | --reason-file F) [--expires-in S] [--json]
 * medcrypt consent list [--status S] [--json]
 * medcrypt consent approve ID [--passphrase-fd N] [--json]
 * medcrypt consent deny ID [--json] | withdraw ID [--json] */
mc_status cmd_consent(int argc, char **argv, mc_err *err);

#endif
