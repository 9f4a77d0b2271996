/* Service requests (the workflow engine's first part): open a request of a
 * type, read it, list them, take transitions (also by workflow timers), read
 * its audit trail. Approvals, SLAs and comment/assignment routes are not
 * built yet. */
#ifndef SF_REQUESTS_H
#define SF_REQUESTS_H

void sf_requests_routes(void);
/* Registers the workflow-timer kind (before sf_timers_start). */
void sf_requests_timers(void);

#endif
