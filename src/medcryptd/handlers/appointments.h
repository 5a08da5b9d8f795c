/*
 * appointments.h: the routes of API.md §16a (handlers/appointments.c). Kept beside handlers.h
 * rather than in it so that the appointment routes land as one change.
 */
#ifndef MEDCRYPTD_APPOINTMENTS_H
#define MEDCRYPTD_APPOINTMENTS_H

#include "../http.h"

/* POST /api/v1/appointments (patient; CSRF): {"doctor": USERNAME}. */
void mcd_h_appointment_add(mcd_request *r);
/* DELETE /api/v1/appointments/{username} (patient; CSRF; re-authenticated): 200 {"doctor": U,
 * "wraps_deleted": N}, the doctor's wraps of the patient's images deleted with it. */
void mcd_h_appointment_delete(mcd_request *r);
/* GET /api/v1/appointments (patient, doctor). */
void mcd_h_appointments_list(mcd_request *r);

#endif
