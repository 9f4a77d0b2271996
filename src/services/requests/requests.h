/* Service requests (issue 4): requests moved through their pinned workflow
 * by transitions, workflow timers, approval chains (approvals.c) and SLA
 * timers (sla.c); comments, assignment, the audit trail, webhooks
 * (webhooks.c). See docs/workflows.md. */
#ifndef SF_REQUESTS_H
#define SF_REQUESTS_H

void sf_requests_routes(void);
/* Registers the workflow-timer kind (before sf_timers_start). */
void sf_requests_timers(void);
/* Drops the cached parsed workflow definitions (when a database is opened:
 * workflow ids are only unique within one). */
void sf_requests_forget_definitions(void);

#endif
