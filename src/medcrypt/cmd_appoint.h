/*
 * cmd_appoint.h: the patient's appointment commands (cmd_appoint.c, docs/API.md §16a), kept
 * apart from cli.h so that they land as one change.
 */
#ifndef MEDCRYPT_CMD_APPOINT_H
#define MEDCRYPT_CMD_APPOINT_H

#include "cli.h"

/* medcrypt appoint DOCTOR [--json] */
mc_status cmd_appoint(int argc, char **argv, mc_err *err);
/* medcrypt dismiss DOCTOR [--yes] [--passphrase-fd N] [--json] */
mc_status cmd_dismiss(int argc, char **argv, mc_err *err);
/* medcrypt appointments [--json] */
mc_status cmd_appointments(int argc, char **argv, mc_err *err);

#endif
