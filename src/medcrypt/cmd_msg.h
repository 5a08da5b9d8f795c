/*
 * cmd_msg.h: the sealed-message commands (cmd_msg.c, docs/API.md §16b), kept apart from cli.h
 * so that they land as one change.
 */
#ifndef MEDCRYPT_CMD_MSG_H
#define MEDCRYPT_CMD_MSG_H

#include "cli.h"

/* medcrypt msg USER (TEXT | --file F) [--reply ID] [--image ID] [--passphrase-fd N] [--json] */
mc_status cmd_msg(int argc, char **argv, mc_err *err);
/* medcrypt inbox [--unread] [--thread ID] [--limit N] [--passphrase-fd N] [--json] */
mc_status cmd_inbox(int argc, char **argv, mc_err *err);
/* medcrypt read ID [--passphrase-fd N] [--json] */
mc_status cmd_read(int argc, char **argv, mc_err *err);

#endif
