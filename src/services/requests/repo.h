/* The request service's repository: every SQL statement of service requests
 * (service_requests, request_approvals, request_chains, the full-text
 * search tables) and the read of a pinned workflow version. Functions taking
 * an sf_tx run on the writer thread; those taking an sf_db run on the
 * connection given (the writer's or a reader's). Strings filled into
 * caller's buffers; JSON returned is the caller's. */
#ifndef SF_SERVICES_REQUESTS_REPO_H
#define SF_SERVICES_REQUESTS_REPO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/request.h"
#include "store/db.h"
#include "store/writer.h"

/* Loads request id with its pinned compiled definition (from the cache, or
 * read and compiled once): 0, 404, or < 0. The caller clears r
 * (sf_flow_request_clear) only when it loaded. */
int srq_load(sf_db *db, const char *id, sf_flow_request *r, sf_err *err);
/* r's pinned definition (r->workflow_id) into r->def, r->workflow_version. */
int srq_load_def(sf_db *db, sf_flow_request *r, sf_err *err);
/* Inserts a new request or updates a loaded one (only the columns that
 * changed among the indexed ones). */
int srq_save(sf_tx *tx, const sf_flow_request *r, sf_err *err);
/* The latest workflow of type into id: 1 found, 0 none, < 0 error. */
int srq_latest_workflow(sf_db *db, const char *type, char *id, size_t cap, sf_err *err);

/* The approval rows the engine writes and reads (flow/request.h). */
extern const sf_flow_approval_store srq_approval_rows;
/* 1 when user_id has (or had) a task on r. */
int srq_is_approver(sf_db *db, const sf_flow_request *r, const char *user_id);
/* The request's latest chain {chain, state, status, started_at, ended_at}
 * (*chain its id), or NULL (none, or an error). */
json_t *srq_latest_chain(sf_db *db, const sf_flow_request *r, int64_t *chain);
/* The tasks of one chain, in level order; *plevel the level still open
 * (-1: none). NULL on an error. */
json_t *srq_chain_tasks(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t *plevel);
/* The caller's own pending task at the level: 1 with *seq (a user row) or
 * *via_role (a role row they have not voted through), 0 none. */
int srq_my_task(sf_db *db, const char *user, const char *role, const sf_flow_request *r, int64_t chain, int64_t level,
                int64_t *seq, int *via_role, sf_err *err);
/* How many rows user has at the level (assigned or decided). */
int64_t srq_say_at_level(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, const char *user,
                         sf_err *err);

/* GET /approvals?assignee=me: up to limit + 1 pending tasks of user (or of
 * their role) older than the cursor, appended to data as inbox items; next
 * is the cursor after the limit-th. Returns the count, or < 0. */
typedef struct srq_inbox_query {
  const char *user, *role;
  int64_t c_at;
  const char *c_id;
  int limit;
} srq_inbox_query;
int srq_inbox(sf_db *db, const srq_inbox_query *q, json_t *data, char *next, size_t cap, sf_err *err);

/* GET /requests: the filters (NULL: neutral) and the keyset cursor. */
typedef struct srq_list_filter {
  const char *creator; /* customers see their own requests */
  const char *state, *type;
  const char *user;  /* assigned to this user */
  const char *queue; /* assigned to this role and no user; "": to nobody */
  const char *match; /* the words: an FTS5 query ("w1"* "w2"*) over title, data values, comments */
  int notes;         /* 1: internal notes match too (the caller may see them) */
  const char *sla;   /* none | running | paused | warning | breached | met (srq_save keeps it) */
  int64_t c_at;
  char c_id[64];
  int limit;
} srq_list_filter;
/* Up to limit + 1 ids of the page into ids; returns how many, or < 0. */
int srq_list_ids(sf_db *db, const srq_list_filter *f, char (*ids)[SF_ID_MAX], sf_err *err);

/* The engine's context for a command of this service: tx, who (NULL: the
 * system), these approval rows. */
sf_flow_ctx srq_ctx(sf_tx *tx, const sf_actor *who);
/* 1 when user id exists and is active (its role copied to role, if given),
 * 0 when not, < 0 on a database error. */
int srq_active_user(sf_db *db, const char *id, char *role, size_t cap, sf_err *err);

#endif
