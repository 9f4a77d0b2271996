/* Workflows service: publishing and reading versioned workflow definitions
 * (run by the engine in flow/engine.h for services/requests). Publishing
 * needs workflows:admin (admin); reading workflows:read (staff, approver,
 * admin). */
#ifndef SF_WORKFLOWS_H
#define SF_WORKFLOWS_H

void sf_workflows_routes(void);

#endif
