/* Service requests (the workflow engine's first part): open a request of a
 * type, read it, take transitions, read its audit trail. Approvals, SLAs,
 * timers, comments/assignment routes and the list are not built yet. */
#ifndef SF_REQUESTS_H
#define SF_REQUESTS_H

void sf_requests_routes(void);

#endif
