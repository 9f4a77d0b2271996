/* The event log for administrators (issue 14's event log browser): pages
 * of events newest first, and `serviceflow verify` over HTTP (read-only).
 * Routes registered at start; handlers run on HTTP threads. */
#ifndef SF_SERVICES_AUDIT_H
#define SF_SERVICES_AUDIT_H

void sf_audit_routes(void);

#endif
