/*
 * cmd_patients.h: the sender's PatientID mapping (cmd_patients.c): which patient account a
 * DICOM's PatientID belongs to, kept on this machine only, sealed for the user's own key.
 */
#ifndef MEDCRYPT_CMD_PATIENTS_H
#define MEDCRYPT_CMD_PATIENTS_H

#include "cli.h"

/* medcrypt patients map PATIENTID USER | map --from FILE USER | list | unmap PATIENTID | unmap
 * --from FILE */
mc_status cmd_patients(int argc, char **argv, mc_err *err);

/* The account patient_id maps to in username's mapping for the server hostport, opened with id
 * (both keys: the mapping is signed by its owner). *user is NULL when there is no mapping or no
 * such PatientID; else free it with free(). Errors: those of opening the mapping (a mapping
 * that does not verify is an error, never "not found"). */
mc_status patient_map_find(const char *hostport, const char *username, const mc_identity *id, const char *patient_id,
                           char **user, mc_err *err);

#endif
