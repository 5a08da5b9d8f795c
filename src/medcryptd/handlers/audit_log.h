/*
 * audit_log.h: one audit record as the JSON object of API.md §17 (detail as an object, hash in
 * hex), shared by GET /api/v1/audit and `medcryptd audit export`.
 */
#ifndef MEDCRYPTD_AUDIT_LOG_H
#define MEDCRYPTD_AUDIT_LOG_H

#include <jansson.h>

#include "../store.h"

/* A new JSON object (json_decref it), NULL when out of memory. */
json_t *mcd_audit_record_json(const mcd_audit_record *rec);

#endif
