/* Workflows service: publishing and reading versioned workflow definitions
 * (the service-request engine that runs them is not built yet). Publishing
 * needs workflows:admin (admin); reading workflows:read (staff, approver,
 * admin). */
#ifndef SF_WORKFLOWS_H
#define SF_WORKFLOWS_H

void sf_workflows_routes(void);

#endif
