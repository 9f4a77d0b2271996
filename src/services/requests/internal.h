/* Shared by the service-request files: who may see a request, the views,
 * the transition command, the routes of each file. The engine, approvals
 * and SLA are flow/ (engine.h, approvals.h, sla.h); the SQL and the
 * engine's context are repo.h. Calls go one way: requests.c -> approvals.c
 * and list.c (their routes); all three -> view.c -> repo.c. Everything that takes an sf_tx runs on the writer thread; the views run on
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

/* The event of an internal comment (staff only; requests.c writes it). */
#define SRQ_NOTED "request.noted"

/* view.c: its creator, its assignee, an approver of it, or workflows:read. */
int srq_may_see(sf_db *db, const sf_actor *who, const sf_flow_request *r);
/* view.c: may who write and see internal comments? Staff: the permission
 * of the desk (workflows:read: staff, approvers, admins), whatever their
 * part in the request (a staff member's own request included). */
int srq_sees_notes(const sf_actor *who);
/* requests.c: a transition asked for by who (visibility, If-Match, then the engine's
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

/* view.c: the request's latest chain {chain, state, status, started_at,
 * ended_at, pending, tasks} (also one that has ended, or had no level to
 * decide), or NULL when it never had one. */
json_t *srq_approvals_json(sf_db *db, const sf_flow_request *r);

/* approvals.c: decisions, delegation, the inbox. */
void srq_approvals_routes(void);

#endif
