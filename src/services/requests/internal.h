/* Shared by the service-request files: the context the engine runs in for
 * this service, who may see a request, and the views. The engine, approvals
 * and SLA are flow/ (engine.h, approvals.h, sla.h); the SQL is repo.h.
 * Everything that takes an sf_tx runs on the writer thread; the views run on
 * any thread with their own db. */
#ifndef SF_SERVICES_REQUESTS_INTERNAL_H
#define SF_SERVICES_REQUESTS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "core/actor.h"
#include "edge/input.h"
#include "flow/request.h"
#include "services/requests/repo.h"
#include "store/db.h"
#include "store/writer.h"

/* The engine's context for a command of this service: tx, who, the
 * repository's approval rows. */
sf_flow_ctx srq_ctx(sf_tx *tx, const sf_actor *who);
/* 1 when user id exists and is active (its role copied to role, if given),
 * 0 when not, < 0 on a database error. */
int srq_active_user(sf_db *db, const char *id, char *role, size_t cap, sf_err *err);
/* Its creator, its assignee, an approver of it, or workflows:read. */
int srq_may_see(sf_db *db, const sf_actor *who, const sf_flow_request *r);
/* A transition asked for by who (visibility, If-Match, then the engine's
 * checks and steps), saved; fills r (the caller clears it). The body of
 * POST /requests/{id}/transitions without the reply; also used by
 * bench/transition_bench.c. */
int srq_transition(sf_tx *tx, const sf_actor *who, const char *id, const char *action, const char *comment,
                   sf_if_match if_match, sf_flow_request *r, sf_err *err);

/* view.c: the request as `who` sees it (without approvals, SLA and history). */
json_t *srq_json(const sf_flow_request *r, const sf_actor *who);
/* The full view (approvals, SLA; history when asked). */
json_t *srq_view(sf_db *db, const sf_flow_request *r, const sf_actor *who, int history);
/* status with the request (approvals, SLA) and its ETag: command results. */
void srq_result(sf_result *out, sf_db *db, int status, const sf_flow_request *r, const sf_actor *who);

/* list.c: GET /requests. */
void srq_list_routes(void);

/* approvals.c: the request's latest chain {chain, state, status, started_at,
 * ended_at, pending, tasks} (also one that has ended, or had no level to
 * decide), or NULL when it never had one; the routes. */
json_t *srq_approvals_json(sf_db *db, const sf_flow_request *r);
void srq_approvals_routes(void);

#endif
