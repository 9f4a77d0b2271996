/* Service requests (issue 4): requests moved through their pinned workflow
 * by the engine in flow/ (transitions, workflow timers, approval chains,
 * SLA timers); comments, assignment, the audit trail, the approvals inbox;
 * webhooks (webhooks.c). See docs/workflows.md. */
#ifndef SF_REQUESTS_H
#define SF_REQUESTS_H

void sf_requests_routes(void);
/* Registers the workflow-timer and SLA-timer kinds (before sf_timers_start). */
void sf_requests_timers(void);
/* Drops the cached compiled workflow definitions (when a database is opened:
 * workflow ids are only unique within one). */
void sf_requests_forget_definitions(void);

#endif
