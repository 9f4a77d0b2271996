/* Shared by the service-request files: the request row with its pinned
 * workflow, and the engine steps approvals and SLAs reuse. Everything that
 * takes an sf_tx runs on the writer thread. */
#ifndef SF_SERVICES_REQUESTS_INTERNAL_H
#define SF_SERVICES_REQUESTS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http.h"
#include "flow/definition.h"
#include "edge/input.h"
#include "flow/guard.h"
#include "store/db.h"
#include "store/writer.h"

typedef struct srq {
  char id[48];
  char type[48];
  char workflow_id[48];
  char title[808];
  char state[48];
  char assignee_user[48];
  char assignee_role[16];
  char created_by[48];
  int64_t version, created_at, updated_at, workflow_version;
  json_t *data;
  json_t *def; /* the pinned workflow definition */
  int depth;   /* nested automatic transitions in this command (loop guard) */
  int stored;  /* loaded from its row: srq_save updates it */
  /* as loaded: srq_save leaves the indexed columns alone when they did not
   * change (each is in a list index; rewriting them cost a self-loop
   * transition a fifth of its throughput) */
  char loaded_state[48], loaded_assignee_user[48], loaded_assignee_role[16];
  char *data_text;  /* data as loaded (srq_save writes it back unless data_changed) */
  int data_changed; /* set by whatever changes data after srq_load */
} srq;

void srq_clear(srq *r);
int srq_load(sf_db *db, const char *id, srq *r, sf_err *err);
int srq_save(sf_tx *tx, const srq *r, sf_err *err);
/* An event on the request's stream, caused by req (NULL: the system). */
int srq_event(sf_tx *tx, const sf_req *req, const srq *r, const char *type, json_t *data, sf_err *err);
/* Is name the string names, or in the list of strings names? (A
 * definition's "a state or a list of states", roles, ...) */
int srq_names_include(const json_t *names, const char *name);
/* 1 when user id exists and is active (its role copied to role, if given),
 * 0 when not, < 0 on a database error. */
int srq_active_user(sf_db *db, const char *id, char *role, size_t cap, sf_err *err);
/* Its creator, its assignee, an approver of it, or workflows:read. */
int srq_may_see(sf_db *db, const sf_req *req, const srq *r);
/* view.c: the caller as the workflow's `roles` and `by` see them. */
sf_flow_actor srq_actor(const srq *r, const sf_principal *who);
/* The request as `who` sees it (without approvals, SLA and history). */
json_t *srq_json(const srq *r, const sf_principal *who);
/* status with the request (approvals, SLA; history when asked) and its ETag. */
void srq_reply_view(sf_req *req, sf_db *db, int status, const srq *r, int history);
/* 200/201 with the request (approvals, SLA) and its ETag: command replies. */
void srq_reply(sf_req *req, sf_db *db, int status, const srq *r);
/* {id, type, title, state, data, version, workflow} as r is now (a copy). */
json_t *srq_snapshot(const srq *r);
/* A transition's `by` as text for a message (thread-local buffer). */
const char *srq_by_text(const json_t *tr);
/* Actions (emit, set, assign, notify, webhook) of list, on behalf of
 * `state` ("on_enter", "on_exit", "on_breach" ... in `when`); move is the
 * transition that runs them ({action, from, to, by}; NULL: none), recorded
 * with a webhook so its delivery says what triggered it. */
int srq_run_actions(sf_tx *tx, const sf_req *req, srq *r, const json_t *list, const char *state, const char *when,
                    const json_t *move, sf_err *err);
/* Takes the transition `action` out of the current state as the system
 * (no role check; its guard must hold, or request.auto_transition_skipped
 * is recorded and the request stays). `why` names the cause. Does not save. */
int srq_auto_transition(sf_tx *tx, const sf_req *req, srq *r, const char *action, const char *why, sf_err *err);
/* A transition asked for by req's principal (state, role and guard checks,
 * actions, approvals, SLA, the row); fills r (the caller clears it). The
 * body of POST /requests/{id}/transitions without the reply; also used by
 * bench/transition_bench.c. */
int srq_transition(sf_tx *tx, const sf_req *req, const char *id, const char *action, const char *comment,
                   sf_if_match if_match, srq *r, sf_err *err);
/* A condition over r's data (a transition's guard, a level's or an SLA
 * target's `when`) on the writer thread's guard VM: 1 holds (also when expr
 * is NULL), 0 does not, -1 failed with the reason in *why (status 422, or
 * 500 when the VM cannot start). */
int srq_holds(const char *expr, const srq *r, sf_err *why);

/* list.c: GET /requests. */
void srq_list_routes(void);

/* approvals.c: the chain of the state just entered / being left. */
int srq_approvals_enter(sf_tx *tx, const sf_req *req, srq *r, sf_err *err);
int srq_approvals_leave(sf_tx *tx, const sf_req *req, srq *r, sf_err *err);
/* The request's latest chain {chain, state, status, started_at, ended_at,
 * pending, tasks} (also one that has ended, or had no level to decide), or
 * NULL when it never had one. */
json_t *srq_approvals_json(sf_db *db, const srq *r);
int srq_is_approver(sf_db *db, const srq *r, const char *user_id);
void srq_approvals_routes(void);

/* sla.c: request.sla_started with the targets that apply (at creation);
 * the next warning/breach timer after any move; the view (NULL: none). */
int srq_sla_start(sf_tx *tx, const sf_req *req, srq *r, sf_err *err);
int srq_sla_schedule(sf_tx *tx, const srq *r, sf_err *err);
json_t *srq_sla_json(sf_db *db, const srq *r, int64_t now);
void srq_sla_timers(void);

#endif
