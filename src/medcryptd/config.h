/*
 * config.h: medcryptd's settings from four places, later ones winning: built-in defaults, the
 * configuration file (`key = value` lines, `#` comments), MEDCRYPTD_* environment variables,
 * and command-line flags. Every setting has the same name in all three (`max-upload`,
 * MEDCRYPTD_MAX_UPLOAD, --max-upload).
 */
#ifndef MEDCRYPTD_CONFIG_H
#define MEDCRYPTD_CONFIG_H

#include <stdbool.h>

#include "server.h"

/* Fills cfg from defaults, file, environment and argv[first..argc). Unknown flags, bad values
 * and an unreadable configuration file are reported on stderr with their source; returns
 * false then. Arguments that are not flags are refused too. Free with mcd_config_free. */
bool mcd_config_load(mcd_config *cfg, int argc, char **argv, int first);
void mcd_config_free(mcd_config *cfg);
/* The help text of the settings, for --help. */
void mcd_config_print_help(void);

#endif
