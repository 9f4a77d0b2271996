/* A service request as the workflow engine sees it, and the context every
 * engine step runs in.
 *
 * The request service loads a request (its row and its pinned compiled
 * definition) into an sf_flow_request, hands it to the engine
 * (flow/engine.h), approvals (flow/approvals.h) and SLA (flow/sla.h), which
 * change it in memory and append its events, and saves it afterwards.
 * sf_flow_request_clear frees what a loaded request holds.
 *
 * The engine writes no SQL of its own: the approval rows it needs are read
 * and written through the table of operations in sf_flow_ctx, which the
 * request service's repository provides (the hook a lower layer calls so it
 * never includes an upper one). Everything taking an sf_flow_ctx runs on the
 * writer thread, inside the command's savepoint. */
#ifndef SF_FLOW_REQUEST_H
#define SF_FLOW_REQUEST_H

#include <jansson.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/err.h"
#include "core/util.h"
#include "flow/compiled.h"
#include "store/writer.h"

/* User ids as a definition or a caller may give them (up to 47 bytes). */
#define SF_FLOW_USER_MAX 48

typedef struct sf_flow_request {
  char id[SF_ID_MAX];
  char type[48];
  char workflow_id[SF_ID_MAX];
  char title[808];
  char state[48];
  char assignee_user[SF_FLOW_USER_MAX];
  char assignee_role[16];
  char created_by[SF_ID_MAX];
  int64_t version, created_at, updated_at, workflow_version;
  json_t *data;
  const sf_flow_def *def; /* the pinned workflow version (a reference) */
  int depth;              /* nested automatic transitions in this command (loop guard) */
  int stored;             /* loaded from its row: the save updates it */
  /* as loaded: the save leaves the indexed columns alone when they did not
   * change (each is in a list index; rewriting them cost a self-loop
   * transition a fifth of its throughput) */
  char loaded_state[48], loaded_assignee_user[SF_FLOW_USER_MAX], loaded_assignee_role[16];
  char *data_text;  /* data as loaded (saved back unless data_changed) */
  int data_changed; /* set by whatever changes data after the load */
} sf_flow_request;

void sf_flow_request_clear(sf_flow_request *r);

/* The approval rows of a request (request_approvals, request_chains): the
 * repository's statements. Each returns 0 / < 0 with err filled, or a count
 * (>= 0) / < 0; decision NULL inserts a pending task. */
typedef struct sf_flow_approval_store {
  int (*chain_start)(sf_tx *tx, const sf_flow_request *r, int64_t chain, sf_err *err);
  int (*chain_end)(sf_tx *tx, const sf_flow_request *r, int64_t chain, const char *status, sf_err *err);
  int (*insert_task)(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *name,
                     const char *user, const char *role, const char *delegated_from, const char *decision,
                     const char *comment, sf_err *err);
  int (*decide_task)(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, int64_t seq,
                     const char *decision, const char *by, const char *comment, sf_err *err);
  /* closes what is still pending (level < 0: every level) */
  int (*close_pending)(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *decision,
                       sf_err *err);
  /* the chain and level waiting for decisions: 1 found, 0 none */
  int (*active_level)(sf_db *db, const sf_flow_request *r, int64_t *chain, int64_t *level, sf_err *err);
  /* assignees who can still vote (pending or approved) / approvals cast */
  int64_t (*voters)(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err);
  int64_t (*approvals)(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err);
} sf_flow_approval_store;

/* Where a step runs: the writer's transaction, who acts (sf_actor_system for
 * timers and approval chains' own moves), the approval rows. */
typedef struct sf_flow_ctx {
  sf_tx *tx;
  const sf_actor *who;
  const sf_flow_approval_store *approvals;
} sf_flow_ctx;

/* What a step asks its caller to do next: take a transition as the system
 * (take: its action, why: the cause), or nothing (take NULL). */
typedef struct sf_flow_outcome {
  const char *take;
  const char *why;
} sf_flow_outcome;

#endif
