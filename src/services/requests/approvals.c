/* Approval chains: a state of a workflow may carry one chain of sequential
 * levels. Entering the state starts the chain (chain id = the request
 * version of that entry); each level is decided by a role (any member) or
 * named users, with a quorum (any, all, n); a level whose `when` guard does
 * not hold is skipped; one rejection ends the chain; an approver may hand
 * their vote to another user; nobody decides on their own request. When
 * the last level is approved (or the chain rejected) the request takes the
 * chain's on_approved (on_rejected) action as the system. Leaving the state
 * by other means cancels what is pending.
 *
 * Every step is an event on the request's stream; request_approvals holds
 * the tasks (one row per assignee, plus one per vote cast through a role)
 * and request_chains each chain's status (pending, approved, rejected,
 * cancelled), written in the same transaction, for the inbox and the
 * request view. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "services/requests/internal.h"

/* The chain of a state, or NULL. */
static const json_t *chain_of(const srq *r, const char *state) {
  size_t i;
  const json_t *a;
  json_array_foreach(json_object_get(r->def, "approvals"), i,
                     a) if (srq_names_include(json_object_get(a, "in"), state)) return a;
  return NULL;
}

static const json_t *level_of(const json_t *chain, int64_t level) {
  return json_array_get(json_object_get(chain, "levels"), (size_t)level);
}

static const char *level_name(const json_t *chain, int64_t level) {
  return json_string_value(json_object_get(level_of(chain, level), "name"));
}

static json_t *quorum_json(const json_t *l) {
  const json_t *q = json_object_get(l, "quorum");
  return q ? json_incref((json_t *)q) : json_string("any");
}

static int insert_task(sf_tx *tx, const srq *r, int64_t chain, int64_t level, const char *name, const char *user,
                       const char *role, const char *delegated_from, const char *decision, const char *comment,
                       sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO request_approvals(request_id, chain, level, seq, level_name, assignee_user,"
                              " assignee_role, delegated_from, decision, decided_by, decided_at, comment, created_at)"
                              " VALUES(?1, ?2, ?3, (SELECT coalesce(max(seq), -1) + 1 FROM request_approvals"
                              "  WHERE request_id = ?1 AND chain = ?2 AND level = ?3),"
                              " ?4, ?5, ?6, ?7, ?8, CASE WHEN ?8 IS NULL THEN NULL ELSE ?5 END,"
                              " CASE WHEN ?8 IS NULL THEN NULL ELSE ?10 END, ?9, ?10)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_int(st, 3, level);
  sf_stmt_text(st, 4, name);
  sf_stmt_text(st, 5, user);
  sf_stmt_text(st, 6, role);
  sf_stmt_text(st, 7, delegated_from);
  sf_stmt_text(st, 8, decision);
  sf_stmt_text(st, 9, comment);
  sf_stmt_int(st, 10, tx->now_ms);
  return sf_stmt_run(st, err);
}

/* Closes what is still pending in a chain (level < 0: every level). */
static int close_pending(sf_tx *tx, const srq *r, int64_t chain, int64_t level, const char *decision, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE request_approvals SET decision = ?4, decided_at = ?5 WHERE request_id = ?1"
                              " AND chain = ?2 AND (?3 < 0 OR level = ?3) AND decision IS NULL",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_int(st, 3, level);
  sf_stmt_text(st, 4, decision);
  sf_stmt_int(st, 5, tx->now_ms);
  return sf_stmt_run(st, err);
}

/* The chain and level now waiting for decisions: 1 found, 0 none. */
static int active_level(sf_db *db, const srq *r, int64_t *chain, int64_t *level, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT chain, level FROM request_approvals WHERE request_id = ? AND decision IS NULL"
                              " ORDER BY chain DESC LIMIT 1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    *chain = sf_stmt_col_int(st, 0);
    *level = sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  return rc;
}

static int64_t count_q(sf_db *db, const char *sql, const srq *r, int64_t chain, int64_t level, const char *user,
                       sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, sql, err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_int(st, 3, level);
  if (user) sf_stmt_text(st, 4, user);
  int rc = sf_stmt_step(st, err);
  int64_t n = rc == 1 ? sf_stmt_col_int(st, 0) : rc < 0 ? rc : 0;
  sf_stmt_reset(st);
  return n;
}

/* Approvals a level needs: any 1, n n, all every assignee still counting
 * (pending or approved; a delegated row is replaced by its delegate's). */
static int64_t needed(sf_db *db, const srq *r, const json_t *l, int64_t chain, int64_t level, sf_err *err) {
  const json_t *q = json_object_get(l, "quorum");
  int all = json_is_string(q) && strcmp(json_string_value(q), "all") == 0;
  if (!all && !(json_is_integer(q) && json_object_get(l, "users")))
    return json_is_integer(q) ? json_integer_value(q) : 1;
  /* named users who can still vote (the requester has no row) */
  int64_t voters = count_q(db,
                           "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                           " AND (decision IS NULL OR decision = 'approved')",
                           r, chain, level, NULL, err);
  if (all || voters < 0) return voters;
  return json_integer_value(q) < voters ? json_integer_value(q) : voters;
}

static int64_t approvals_in(sf_db *db, const srq *r, int64_t chain, int64_t level, sf_err *err) {
  return count_q(db,
                 "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                 " AND decision = 'approved'",
                 r, chain, level, NULL, err);
}

/* A chain's row: pending from its start (chain_start), then how it ended. */
static int chain_start(sf_tx *tx, const srq *r, int64_t chain, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO request_chains(request_id, chain, state, status, started_at)"
                              " VALUES(?1, ?2, ?3, 'pending', ?4)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_text(st, 3, r->state);
  sf_stmt_int(st, 4, tx->now_ms);
  return sf_stmt_run(st, err);
}

static int chain_end(sf_tx *tx, const srq *r, int64_t chain, const char *status, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE request_chains SET status = ?3, ended_at = ?4 WHERE request_id = ?1"
                              " AND chain = ?2 AND status = 'pending'",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_text(st, 3, status);
  sf_stmt_int(st, 4, tx->now_ms);
  return sf_stmt_run(st, err);
}

static int finish(sf_tx *tx, const sf_req *req, srq *r, const json_t *ch, int64_t chain, int approved, sf_err *err) {
  int rc = chain_end(tx, r, chain, approved ? "approved" : "rejected", err);
  if (!rc)
    rc = srq_event(tx, req, r, "request.approval_completed",
                   json_pack("{s:I, s:s}", "chain", (json_int_t)chain, "outcome", approved ? "approved" : "rejected"),
                   err);
  if (rc) return rc;
  const char *action = json_string_value(json_object_get(ch, approved ? "on_approved" : "on_rejected"));
  return srq_auto_transition(tx, req, r, action, approved ? "approval chain approved" : "approval chain rejected", err);
}

/* Opens the first level from `from` whose `when` holds (recording the
 * skipped ones), or finishes the chain approved when none is left. */
static int open_level(sf_tx *tx, const sf_req *req, srq *r, const json_t *ch, int64_t chain, int64_t from,
                      sf_err *err) {
  const json_t *levels = json_object_get(ch, "levels");
  for (int64_t i = from; i < (int64_t)json_array_size(levels); i++) {
    const json_t *l = json_array_get(levels, (size_t)i);
    sf_err gerr = {0};
    int holds = srq_holds(json_string_value(json_object_get(l, "when")), r, &gerr);
    if (holds < 0 && gerr.status == 500) return sf_err_internal(err, "%s", gerr.detail);
    if (holds != 1) {
      int rc =
          srq_event(tx, req, r, "request.approval_level_skipped",
                    json_pack("{s:I, s:I, s:s, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)i, "name",
                              level_name(ch, i), "reason", holds < 0 ? gerr.detail : "its condition does not hold"),
                    err);
      if (rc) return rc;
      continue;
    }
    const char *role = json_string_value(json_object_get(l, "role"));
    const json_t *users = json_object_get(l, "users");
    int rc = 0, n = 0;
    if (role) rc = insert_task(tx, r, chain, i, level_name(ch, i), NULL, role, NULL, NULL, NULL, err), n++;
    size_t j;
    const json_t *u;
    json_array_foreach(users, j, u) {
      if (rc || strcmp(json_string_value(u), r->created_by) == 0) continue; /* nobody approves their own request */
      rc = insert_task(tx, r, chain, i, level_name(ch, i), json_string_value(u), NULL, NULL, NULL, NULL, err);
      n++;
    }
    if (!rc && !n) {
      rc = srq_event(tx, req, r, "request.approval_level_skipped",
                     json_pack("{s:I, s:I, s:s, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)i, "name",
                               level_name(ch, i), "reason", "the requester is its only approver"),
                     err);
      if (rc) return rc;
      continue;
    }
    if (!rc)
      rc = srq_event(tx, req, r, "request.approval_requested",
                     json_pack("{s:I, s:I, s:s, s:o, s:o}", "chain", (json_int_t)chain, "level", (json_int_t)i, "name",
                               level_name(ch, i), "quorum", quorum_json(l), "assignees",
                               role ? json_pack("{s:s}", "role", role) : json_pack("{s:O}", "users", users)),
                     err);
    return rc;
  }
  return finish(tx, req, r, ch, chain, 1, err);
}

int srq_approvals_enter(sf_tx *tx, const sf_req *req, srq *r, sf_err *err) {
  const json_t *ch = chain_of(r, r->state);
  if (!ch) return 0;
  int64_t chain = r->version;
  int rc = chain_start(tx, r, chain, err);
  if (!rc)
    rc = srq_event(tx, req, r, "request.approval_started",
                   json_pack("{s:I, s:s}", "chain", (json_int_t)chain, "state", r->state), err);
  return rc ? rc : open_level(tx, req, r, ch, chain, 0, err);
}

int srq_approvals_leave(sf_tx *tx, const sf_req *req, srq *r, sf_err *err) {
  if (!chain_of(r, r->state)) return 0;
  int64_t chain, level;
  int rc = active_level(tx->db, r, &chain, &level, err);
  if (rc <= 0) return rc;
  rc = close_pending(tx, r, chain, -1, "cancelled", err);
  if (!rc) rc = chain_end(tx, r, chain, "cancelled", err);
  if (!rc)
    rc = srq_event(
        tx, req, r, "request.approval_cancelled",
        json_pack("{s:I, s:I, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)level, "state", r->state), err);
  return rc;
}

int srq_is_approver(sf_db *db, const srq *r, const char *user_id) {
  sf_err err = {0};
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT 1 FROM request_approvals WHERE request_id = ?1 AND (assignee_user = ?2"
                              " OR decided_by = ?2) LIMIT 1",
                              &err);
  if (!st) return 0;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_text(st, 2, user_id);
  int rc = sf_stmt_step(st, &err);
  sf_stmt_reset(st);
  return rc == 1;
}

static json_t *task_json(sf_stmt *st, int c0) {
  /* columns from c0: level, level_name, assignee_user, assignee_role, delegated_from, decision, decided_by,
   * decided_at, comment, created_at */
  char at[32], dec[32];
  sf_time_iso8601(sf_stmt_col_int(st, c0 + 9), at, sizeof at);
  const char *user = sf_stmt_col_text(st, c0 + 2), *role = sf_stmt_col_text(st, c0 + 3);
  json_t *o = json_pack("{s:I, s:s, s:o, s:s}", "level", (json_int_t)sf_stmt_col_int(st, c0), "name",
                        sf_stmt_col_text(st, c0 + 1), "assignee",
                        user ? json_pack("{s:s}", "user", user) : json_pack("{s:s}", "role", role ? role : ""),
                        "requested_at", at);
  if (user && role) json_object_set_new(o, "via_role", json_string(role));
  if (sf_stmt_col_text(st, c0 + 4)) json_object_set_new(o, "delegated_from", json_string(sf_stmt_col_text(st, c0 + 4)));
  const char *d = sf_stmt_col_text(st, c0 + 5);
  json_object_set_new(o, "decision", d ? json_string(d) : json_null());
  if (d) {
    sf_time_iso8601(sf_stmt_col_int(st, c0 + 7), dec, sizeof dec);
    if (sf_stmt_col_text(st, c0 + 6)) json_object_set_new(o, "decided_by", json_string(sf_stmt_col_text(st, c0 + 6)));
    json_object_set_new(o, "decided_at", json_string(dec));
    if (sf_stmt_col_text(st, c0 + 8)) json_object_set_new(o, "comment", json_string(sf_stmt_col_text(st, c0 + 8)));
  }
  return o;
}

/* The request's latest chain: {chain, state, status, started_at, ended_at}
 * or NULL (none, or an error). */
static json_t *latest_chain(sf_db *db, const srq *r, int64_t *chain) {
  sf_err err = {0};
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT chain, state, status, started_at, ended_at FROM request_chains"
                              " WHERE request_id = ? ORDER BY chain DESC LIMIT 1",
                              &err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, r->id);
  json_t *o = NULL;
  if (sf_stmt_step(st, &err) == 1) {
    char started[32], ended[32];
    *chain = sf_stmt_col_int(st, 0);
    sf_time_iso8601(sf_stmt_col_int(st, 3), started, sizeof started);
    sf_time_iso8601(sf_stmt_col_int(st, 4), ended, sizeof ended);
    o = json_pack("{s:I, s:s, s:s, s:s, s:s?}", "chain", (json_int_t)*chain, "state", sf_stmt_col_text(st, 1), "status",
                  sf_stmt_col_text(st, 2), "started_at", started, "ended_at",
                  sf_stmt_col_is_null(st, 4) ? NULL : ended);
  }
  sf_stmt_reset(st);
  return o;
}

/* The tasks of one chain, in level order; *plevel the level still open (-1: none). */
static json_t *chain_tasks(sf_db *db, const srq *r, int64_t chain, int64_t *plevel) {
  sf_err err = {0};
  sf_stmt *st =
      sf_db_prepare(db,
                    "SELECT level, level_name, assignee_user, assignee_role, delegated_from, decision,"
                    " decided_by, decided_at, comment, created_at FROM request_approvals WHERE request_id = ?1"
                    " AND chain = ?2 ORDER BY level, seq",
                    &err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  json_t *tasks = json_array();
  int rc;
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    if (sf_stmt_col_is_null(st, 5)) *plevel = sf_stmt_col_int(st, 0);
    json_array_append_new(tasks, task_json(st, 0));
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(tasks);
    return NULL;
  }
  return tasks;
}

json_t *srq_approvals_json(sf_db *db, const srq *r) {
  /* chains exist only under a pinned definition with approval chains: the
   * reply of every transition of the others skips the query */
  if (json_array_size(json_object_get(r->def, "approvals")) == 0) return NULL;
  int64_t chain = 0, plevel = -1;
  json_t *o = latest_chain(db, r, &chain);
  json_t *tasks = o ? chain_tasks(db, r, chain, &plevel) : NULL;
  if (!tasks) {
    json_decref(o);
    return NULL;
  }
  json_object_set_new(o, "tasks", tasks);
  const json_t *ch = chain_of(r, json_string_value(json_object_get(o, "state")));
  sf_err err = {0};
  if (plevel >= 0 && ch) {
    const json_t *l = level_of(ch, plevel);
    json_object_set_new(o, "pending",
                        json_pack("{s:I, s:s, s:o, s:I, s:I}", "level", (json_int_t)plevel, "name",
                                  level_name(ch, plevel), "quorum", quorum_json(l), "needed",
                                  (json_int_t)needed(db, r, l, chain, plevel, &err), "approved",
                                  (json_int_t)approvals_in(db, r, chain, plevel, &err)));
  } else {
    json_object_set_new(o, "pending", json_null());
  }
  return o;
}

/* ---- decisions and delegation ---- */

typedef struct {
  char id[48];
  char decision[16]; /* approve | reject | delegate */
  char to[48];
  char comment[2008];
  sf_if_match if_match;
} decide_input;

/* The caller's own pending task at the active level: 1 with *seq (a user
 * row) or *via_role (a role row they have not voted through), 0 none. */
static int my_task(sf_db *db, const sf_req *req, const srq *r, int64_t chain, int64_t level, int64_t *seq,
                   int *via_role, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT seq, assignee_user IS NULL FROM request_approvals WHERE request_id = ?1"
                              " AND chain = ?2 AND level = ?3 AND decision IS NULL AND (assignee_user = ?4"
                              " OR (assignee_user IS NULL AND assignee_role = ?5 AND NOT EXISTS (SELECT 1"
                              "  FROM request_approvals b WHERE b.request_id = ?1 AND b.chain = ?2 AND b.level = ?3"
                              "  AND (b.assignee_user = ?4 OR b.decided_by = ?4))))"
                              " ORDER BY assignee_user IS NULL LIMIT 1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_int(st, 3, level);
  sf_stmt_text(st, 4, req->principal.user_id);
  sf_stmt_text(st, 5, req->principal.role);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    *seq = sf_stmt_col_int(st, 0);
    *via_role = (int)sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  return rc;
}

static int decide_row(sf_tx *tx, const srq *r, int64_t chain, int64_t level, int64_t seq, const char *decision,
                      const char *by, const char *comment, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(tx->db,
                    "UPDATE request_approvals SET decision = ?5, decided_by = ?6, decided_at = ?7, comment = ?8"
                    " WHERE request_id = ?1 AND chain = ?2 AND level = ?3 AND seq = ?4",
                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_int(st, 2, chain);
  sf_stmt_int(st, 3, level);
  sf_stmt_int(st, 4, seq);
  sf_stmt_text(st, 5, decision);
  sf_stmt_text(st, 6, by);
  sf_stmt_int(st, 7, tx->now_ms);
  sf_stmt_text(st, 8, comment);
  return sf_stmt_run(st, err);
}

static int check_delegate(sf_tx *tx, const decide_input *in, const sf_req *req, const srq *r, const json_t *l,
                          int64_t chain, int64_t level, sf_err *err) {
  if (strcmp(in->to, req->principal.user_id) == 0) return sf_err_invalid(err, "to", "you cannot delegate to yourself");
  if (strcmp(in->to, r->created_by) == 0) return sf_err_conflict(err, "nobody decides on their own request");
  char role[16] = "";
  int found = srq_active_user(tx->db, in->to, role, sizeof role, err);
  if (found < 0) return found;
  if (!found) return sf_err_invalid(err, "to", "no active user %s", in->to);
  const char *lrole = json_string_value(json_object_get(l, "role"));
  if (lrole && strcmp(lrole, role) == 0) /* a member of the level's role has a vote of their own */
    return sf_err_conflict(err, "%s already has a say at this level (role %s)", in->to, role);
  int64_t n = count_q(tx->db,
                      "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                      " AND (assignee_user = ?4 OR decided_by = ?4)",
                      r, chain, level, in->to, err);
  if (n < 0) return (int)n;
  if (n) return sf_err_conflict(err, "%s already has a say at this level", in->to);
  return 0;
}

static int decide_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  decide_input *in = data;
  srq *r = sf_calloc(1, sizeof *r);
  int64_t chain = 0, level = 0, seq = 0;
  int via_role = 0, mine = 0;
  int rc = srq_load(tx->db, in->id, r, err);
  const json_t *ch = rc ? NULL : chain_of(r, r->state);
  if (!rc) {
    int active = ch ? active_level(tx->db, r, &chain, &level, err) : 0;
    if (active < 0)
      rc = active;
    else if (active && strcmp(r->created_by, req->principal.user_id) != 0) /* no approving your own request */
      mine = my_task(tx->db, req, r, chain, level, &seq, &via_role, err);
    if (!rc && mine < 0) rc = mine;
    if (!rc && !mine && !srq_may_see(tx->db, req, r))
      rc = sf_err_not_found(err, "request");
    else if (!rc && !active)
      rc = sf_err_set(err, 409, "no-pending-approval", "No pending approval",
                      "request %s is in state '%s', where no approval is waiting", r->id, r->state);
    else if (!rc && !mine)
      rc = sf_err_set(err, 403, "not-an-approver", "Not an approver",
                      "you are not an approver of level '%s' (or have already decided)", level_name(ch, level));
    if (!rc) rc = sf_precondition(in->if_match, r->version, err);
  }
  const char *me = req->principal.user_id;
  const char *name = ch ? level_name(ch, level) : "";
  if (!rc && strcmp(in->decision, "delegate") == 0) {
    rc = check_delegate(tx, in, req, r, level_of(ch, level), chain, level, err);
    if (!rc && via_role)
      rc = insert_task(tx, r, chain, level, name, me, req->principal.role, NULL, "delegated", in->comment, err);
    else if (!rc)
      rc = decide_row(tx, r, chain, level, seq, "delegated", me, in->comment, err);
    if (!rc) rc = insert_task(tx, r, chain, level, name, in->to, NULL, me, NULL, NULL, err);
    if (!rc)
      rc = srq_event(tx, req, r, "request.approval_delegated",
                     json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)level,
                               "name", name, "from", me, "to", in->to, "comment", in->comment),
                     err);
    r->version++;
  } else if (!rc) {
    const char *decision = strcmp(in->decision, "approve") == 0 ? "approved" : "rejected";
    if (via_role)
      rc = insert_task(tx, r, chain, level, name, me, req->principal.role, NULL, decision, in->comment, err);
    else
      rc = decide_row(tx, r, chain, level, seq, decision, me, in->comment, err);
    if (!rc)
      rc = srq_event(tx, req, r, "request.approval_decided",
                     json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)level,
                               "name", name, "decision", decision, "by", me, "comment", in->comment),
                     err);
    r->version++;
    if (!rc && decision[0] == 'r') {
      rc = close_pending(tx, r, chain, -1, "closed", err);
      if (!rc) rc = finish(tx, req, r, ch, chain, 0, err);
    } else if (!rc) {
      const json_t *l = level_of(ch, level);
      int64_t need = needed(tx->db, r, l, chain, level, err), got = approvals_in(tx->db, r, chain, level, err);
      if (need < 0 || got < 0)
        rc = -500;
      else if (got >= need) {
        rc = close_pending(tx, r, chain, level, "closed", err);
        if (!rc)
          rc = srq_event(tx, req, r, "request.approval_level_approved",
                         json_pack("{s:I, s:I, s:s, s:I}", "chain", (json_int_t)chain, "level", (json_int_t)level,
                                   "name", name, "approvals", (json_int_t)got),
                         err);
        if (!rc) rc = open_level(tx, req, r, ch, chain, level + 1, err);
      }
    }
  }
  if (!rc) rc = srq_save(tx, r, err);
  if (!rc) srq_reply(req, tx->db, 200, r);
  srq_clear(r);
  free(r);
  return rc;
}

static const sf_json_field k_decide[] = {
    {"decision", SF_JSON_STRING, 1, 1, 10},
    {"comment", SF_JSON_STRING, 0, 0, 2000},
    {0},
};

static const sf_json_field k_delegate[] = {
    {"to", SF_JSON_STRING, 1, 1, 47},
    {"comment", SF_JSON_STRING, 0, 0, 2000},
    {0},
};

static void start_decision(sf_req *req, int delegate) {
  decide_input *in = sf_calloc(1, sizeof *in);
  if (!sf_in_if_match(req, &in->if_match)) {
    free(in);
    return;
  }
  json_t *b = sf_in_body(req, delegate ? k_delegate : k_decide);
  if (!b) {
    free(in);
    return;
  }
  const char *d = delegate ? "delegate" : sf_json_str(b, "decision");
  if (strcmp(d, "approve") != 0 && strcmp(d, "reject") != 0 && strcmp(d, "delegate") != 0) {
    sf_err err = {0};
    sf_err_invalid(&err, "decision", "must be approve or reject");
    json_decref(b);
    free(in);
    sf_req_reply_problem(req, &err);
    return;
  }
  snprintf(in->decision, sizeof in->decision, "%s", d);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  const char *c = sf_json_str(b, "comment");
  snprintf(in->comment, sizeof in->comment, "%s", c ? c : "");
  if (delegate) snprintf(in->to, sizeof in->to, "%s", sf_json_str(b, "to"));
  json_decref(b);
  sf_req_command(req, decide_exec, in, free);
}

static void h_decide(sf_req *req) { start_decision(req, 0); }

static void h_delegate(sf_req *req) { start_decision(req, 1); }

/* ---- GET /approvals?assignee=me: the caller's inbox, newest first ---- */

static void h_inbox(sf_req *req) {
  const char *who = sf_req_query(req, "assignee");
  sf_err err = {0};
  if (who && strcmp(who, "me") != 0) {
    sf_err_invalid(&err, "assignee", "only assignee=me is supported");
    sf_req_reply_problem(req, &err);
    return;
  }
  int limit;
  if (!sf_in_limit(req, &limit)) return;
  int64_t c_at;
  char c_id[64];
  if (!sf_in_time_cursor(req, &c_at, c_id, sizeof c_id)) return;
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st =
      db ? sf_db_prepare(
               db,
               "SELECT a.request_id, r.type, r.title, r.state, r.data, a.chain, a.level, a.level_name,"
               " a.assignee_user, a.assignee_role, a.delegated_from, a.decision, a.decided_by,"
               " a.decided_at, a.comment, a.created_at FROM request_approvals a"
               " JOIN service_requests r ON r.id = a.request_id WHERE a.decision IS NULL AND r.created_by <> ?1"
               " AND (a.assignee_user = ?1 OR (a.assignee_user IS NULL AND a.assignee_role = ?2"
               "  AND NOT EXISTS (SELECT 1 FROM request_approvals b WHERE b.request_id = a.request_id"
               "  AND b.chain = a.chain AND b.level = a.level AND (b.assignee_user = ?1 OR b.decided_by = ?1))))"
               " AND (a.created_at < ?3 OR (a.created_at = ?3 AND a.request_id < ?4))"
               " ORDER BY a.created_at DESC, a.request_id DESC LIMIT ?5",
               &err)
         : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_stmt_text(st, 1, req->principal.user_id);
  sf_stmt_text(st, 2, req->principal.role);
  sf_stmt_int(st, 3, c_at);
  sf_stmt_text(st, 4, c_id);
  sf_stmt_int(st, 5, limit + 1);
  json_t *data = json_array();
  char next[96] = "";
  int n = 0, rc;
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    if (++n > limit) break;
    json_t *t = task_json(st, 6);
    json_t *d = json_loads(sf_stmt_col_text(st, 4), 0, NULL);
    json_object_set_new(t, "chain", json_integer(sf_stmt_col_int(st, 5)));
    json_object_set_new(t, "request",
                        json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", sf_stmt_col_text(st, 0), "type",
                                  sf_stmt_col_text(st, 1), "title", sf_stmt_col_text(st, 2), "state",
                                  sf_stmt_col_text(st, 3), "data", d ? d : json_object()));
    json_array_append_new(data, t);
    if (n == limit) snprintf(next, sizeof next, "%" PRId64 ":%s", sf_stmt_col_int(st, 15), sf_stmt_col_text(st, 0));
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (n <= limit) next[0] = '\0';
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

#define SRQ_REF "{\"$ref\":\"#/components/schemas/ServiceRequest\"}"

void srq_approvals_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/requests/{id}/approvals", h_decide, SF_AUTH_USER, NULL, SF_ROUTE_IF_MATCH, "requests",
       "Approve or reject at the request's pending approval level (its assignees only; 409 when none is pending)",
       "{\"type\":\"object\",\"required\":[\"decision\"],\"additionalProperties\":false,\"properties\":{"
       "\"decision\":{\"enum\":[\"approve\",\"reject\"]},\"comment\":{\"type\":\"string\",\"maxLength\":2000}}}",
       SRQ_REF, 200, 0, .statuses = "403"},
      {"POST", "/api/v1/requests/{id}/approvals/delegate", h_delegate, SF_AUTH_USER, NULL, SF_ROUTE_IF_MATCH,
       "requests", "Hand your pending approval at the current level to another user",
       "{\"type\":\"object\",\"required\":[\"to\"],\"additionalProperties\":false,\"properties\":{"
       "\"to\":{\"type\":\"string\"},\"comment\":{\"type\":\"string\",\"maxLength\":2000}}}",
       SRQ_REF, 200, 0, .statuses = "403"},
      {"GET", "/api/v1/approvals", h_inbox, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "requests",
       "Your approvals inbox (?assignee=me): pending tasks assigned to you or to your role, newest first", NULL,
       SF_LIST_SCHEMA("{\"type\":\"object\",\"required\":[\"level\",\"name\",\"assignee\",\"requested_at\","
                      "\"chain\",\"request\"],\"properties\":{\"level\":{\"type\":\"integer\"},"
                      "\"name\":{\"type\":\"string\"},\"assignee\":{\"type\":\"object\"},"
                      "\"requested_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                      "\"decision\":{\"type\":[\"string\",\"null\"]},\"chain\":{\"type\":\"integer\"},"
                      "\"request\":{\"type\":\"object\",\"required\":[\"id\",\"type\",\"title\",\"state\"],"
                      "\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
                      "\"title\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"},"
                      "\"data\":{\"type\":\"object\"}}}}}"),
       200, 0, .query = "assignee"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
