/* The request service's SQL (repo.h). */
#include "services/requests/repo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "flow/sla.h"
#include "services/identity/repo.h"
#include "store/dialect.h"

/* ---- requests and their pinned workflow ---- */

int srq_load_def(sf_db *db, sf_flow_request *r, sf_err *err) {
  const sf_flow_def *cached = sf_flow_defs_get(r->workflow_id);
  if (cached) {
    r->def = cached;
    r->workflow_version = cached->version;
    return 0;
  }
  sf_stmt *st = sf_db_prepare(db, "SELECT definition, version FROM workflows WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->workflow_id);
  int rc = sf_stmt_step(st, err);
  json_t *src = NULL;
  if (rc == 1) {
    src = json_loads(sf_stmt_col_text(st, 0), 0, NULL);
    r->workflow_version = sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  if (rc == 0 || (rc == 1 && !src)) return sf_err_internal(err, "workflow %s is missing", r->workflow_id);
  if (rc < 0) return rc;
  sf_flow_def *def = sf_flow_compile(src, r->workflow_id, r->workflow_version, err);
  json_decref(src);
  if (!def) return -500;
  sf_flow_defs_put(def);
  r->def = def; /* the compile's reference */
  return 0;
}

static void request_row(sf_stmt *st, sf_flow_request *r) {
  sf_strlcpy(r->id, sf_stmt_col_text(st, 0), sizeof r->id);
  sf_strlcpy(r->type, sf_stmt_col_text(st, 1), sizeof r->type);
  sf_strlcpy(r->workflow_id, sf_stmt_col_text(st, 2), sizeof r->workflow_id);
  sf_strlcpy(r->title, sf_stmt_col_text(st, 3), sizeof r->title);
  r->data = json_loads(sf_stmt_col_text(st, 4), 0, NULL);
  r->data_text = sf_strdup(sf_stmt_col_text(st, 4));
  sf_strlcpy(r->state, sf_stmt_col_text(st, 5), sizeof r->state);
  sf_strlcpy(r->assignee_user, sf_stmt_col_text(st, 6), sizeof r->assignee_user);
  sf_strlcpy(r->assignee_role, sf_stmt_col_text(st, 7), sizeof r->assignee_role);
  memcpy(r->loaded_state, r->state, sizeof r->state);
  memcpy(r->loaded_assignee_user, r->assignee_user, sizeof r->assignee_user);
  memcpy(r->loaded_assignee_role, r->assignee_role, sizeof r->assignee_role);
  sf_strlcpy(r->created_by, sf_stmt_col_text(st, 8), sizeof r->created_by);
  r->version = sf_stmt_col_int(st, 9);
  r->created_at = sf_stmt_col_int(st, 10);
  r->updated_at = sf_stmt_col_int(st, 11);
  r->stored = 1;
}

int srq_load(sf_db *db, const char *id, sf_flow_request *r, sf_err *err) {
  memset(r, 0, sizeof *r);
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, type, workflow_id, title, data, state, coalesce(assignee_user, ''),"
                              " coalesce(assignee_role, ''), created_by, version, created_at, updated_at"
                              " FROM service_requests WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) request_row(st, r);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "request");
  if (rc < 0) return rc;
  if (!r->data) {
    r->data = json_object();
    r->data_changed = 1; /* not the text that was read */
  }
  rc = srq_load_def(db, r, err);
  if (rc) sf_flow_request_clear(r); /* callers clear only a request that loaded */
  return rc;
}

/* The most urgent of the SLA view's targets (flow/sla.h), as stored for
 * ?sla=: breached, then warning (a warning recorded, the clock not done),
 * running, paused, met (every clock met or stopped); none without targets.
 * Every save computes it: what changes it (a move, a warning or breach the
 * SLA timer records) is a save. */
static const char *sla_status(sf_db *db, const sf_flow_request *r, int64_t now) {
  json_t *v = sf_flow_sla_json(db, r, now);
  static const char *const k_rank[] = {"none", "met", "paused", "running", "warning", "breached"};
  int best = 0;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(v, "targets"), i, t) {
    const char *st = json_string_value(json_object_get(t, "status"));
    int open = st && (strcmp(st, "running") == 0 || strcmp(st, "paused") == 0);
    int rank = !st                                                       ? 1
               : strcmp(st, "breached") == 0                             ? 5
               : open && json_array_size(json_object_get(t, "warnings")) ? 4
               : strcmp(st, "running") == 0                              ? 3
               : strcmp(st, "paused") == 0                               ? 2
                                                                         : 1;
    if (rank > best) best = rank;
  }
  json_decref(v);
  return k_rank[best];
}

int srq_save(sf_tx *tx, const sf_flow_request *r, sf_err *err) {
  /* most transitions leave data alone: write back the text as it was read */
  char *dumped = r->stored && !r->data_changed && r->data_text ? NULL : json_dumps(r->data, JSON_COMPACT);
  const char *data = dumped ? dumped : r->data_text;
  /* a loaded request is a plain UPDATE (an upsert first tries, and fails, the
   * insert); both statements number their parameters alike */
  int moved = strcmp(r->state, r->loaded_state) != 0 || strcmp(r->assignee_user, r->loaded_assignee_user) != 0 ||
              strcmp(r->assignee_role, r->loaded_assignee_role) != 0;
  sf_stmt *st = sf_db_prepare(
      tx->db,
      r->stored && !moved ? "UPDATE service_requests SET data = ?5, version = ?10, updated_at = ?12,"
                            " sla_status = ?13 WHERE id = ?1"
      : r->stored         ? "UPDATE service_requests SET data = ?5, state = ?6, assignee_user = nullif(?7, ''),"
                            " assignee_role = nullif(?8, ''), version = ?10, updated_at = ?12, sla_status = ?13"
                            " WHERE id = ?1"
                          : "INSERT INTO service_requests(id, type, workflow_id, title, data, state, assignee_user,"
                            " assignee_role, created_by, version, created_at, updated_at, sla_status)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, ''), nullif(?8, ''), ?9, ?10, ?11, ?12, ?13)"
                            " ON CONFLICT(id) DO UPDATE SET data = ?5, state = ?6, assignee_user = nullif(?7, ''),"
                            " assignee_role = nullif(?8, ''), version = ?10, updated_at = ?12, sla_status = ?13",
      err);
  int rc = -500;
  if (st) {
    sf_stmt_text_ref(st, 1, r->id);
    sf_stmt_text_ref(st, 2, r->type);
    sf_stmt_text_ref(st, 3, r->workflow_id);
    sf_stmt_text_ref(st, 4, r->title);
    sf_stmt_text_ref(st, 5, data);
    sf_stmt_text_ref(st, 6, r->state);
    sf_stmt_text_ref(st, 7, r->assignee_user);
    sf_stmt_text_ref(st, 8, r->assignee_role);
    sf_stmt_text_ref(st, 9, r->created_by);
    sf_stmt_int(st, 10, r->version);
    sf_stmt_int(st, 11, r->created_at);
    sf_stmt_int(st, 12, tx->now_ms);
    sf_stmt_text(st, 13, sla_status(tx->db, r, tx->now_ms));
    rc = sf_stmt_run(st, err);
    if (!rc && r->stored && sf_db_changes(tx->db) != 1) rc = sf_err_internal(err, "request %s vanished", r->id);
  }
  free(dumped);
  return rc;
}

int srq_latest_workflow(sf_db *db, const char *type, char *id, size_t cap, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT id FROM workflows WHERE type = ? ORDER BY version DESC LIMIT 1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, type);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) sf_stmt_col_copy(st, 0, id, cap);
  sf_stmt_reset(st);
  return rc;
}

/* ---- approval rows (the engine's sf_flow_approval_store) ---- */

static int insert_task(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *name,
                       const char *user, const char *role, const char *delegated_from, const char *decision,
                       const char *comment, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO request_approvals(request_id, chain, level, seq, level_name, assignee_user,"
                              " assignee_role, delegated_from, decision, decided_by, decided_at, comment, created_at)"
                              " VALUES(?1, ?2, ?3, (SELECT coalesce(max(seq), -1) + 1 FROM request_approvals"
                              "  WHERE request_id = ?1 AND chain = ?2 AND level = ?3),"
                              " ?4, ?5, ?6, ?7, ?8, CASE WHEN CAST(?8 AS TEXT) IS NULL THEN NULL ELSE ?5 END,"
                              " CASE WHEN CAST(?8 AS TEXT) IS NULL THEN NULL ELSE CAST(?10 AS BIGINT) END, ?9, ?10)",
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

static int close_pending(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *decision,
                         sf_err *err) {
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

static int active_level(sf_db *db, const sf_flow_request *r, int64_t *chain, int64_t *level, sf_err *err) {
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

static int64_t count_q(sf_db *db, const char *sql, const sf_flow_request *r, int64_t chain, int64_t level,
                       const char *user, sf_err *err) {
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

static int64_t voters(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err) {
  return count_q(db,
                 "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                 " AND (decision IS NULL OR decision = 'approved')",
                 r, chain, level, NULL, err);
}

static int64_t approvals_in(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err) {
  return count_q(db,
                 "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                 " AND decision = 'approved'",
                 r, chain, level, NULL, err);
}

int64_t srq_say_at_level(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, const char *user,
                         sf_err *err) {
  return count_q(db,
                 "SELECT count(*) FROM request_approvals WHERE request_id = ?1 AND chain = ?2 AND level = ?3"
                 " AND (assignee_user = ?4 OR decided_by = ?4)",
                 r, chain, level, user, err);
}

static int chain_start(sf_tx *tx, const sf_flow_request *r, int64_t chain, sf_err *err) {
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

static int chain_end(sf_tx *tx, const sf_flow_request *r, int64_t chain, const char *status, sf_err *err) {
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

static int decide_task(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, int64_t seq,
                       const char *decision, const char *by, const char *comment, sf_err *err) {
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

const sf_flow_approval_store srq_approval_rows = {
    .chain_start = chain_start,
    .chain_end = chain_end,
    .insert_task = insert_task,
    .decide_task = decide_task,
    .close_pending = close_pending,
    .active_level = active_level,
    .voters = voters,
    .approvals = approvals_in,
};

int srq_is_approver(sf_db *db, const sf_flow_request *r, const char *user_id) {
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

int srq_my_task(sf_db *db, const char *user, const char *role, const sf_flow_request *r, int64_t chain, int64_t level,
                int64_t *seq, int *via_role, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db,
                    "SELECT seq, CAST(assignee_user IS NULL AS INTEGER) FROM request_approvals WHERE request_id = ?1"
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
  sf_stmt_text(st, 4, user);
  sf_stmt_text(st, 5, role);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    *seq = sf_stmt_col_int(st, 0);
    *via_role = (int)sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  return rc;
}

/* ---- approval views ---- */

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

json_t *srq_latest_chain(sf_db *db, const sf_flow_request *r, int64_t *chain) {
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

json_t *srq_chain_tasks(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t *plevel) {
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

static json_t *inbox_item(sf_stmt *st) {
  json_t *t = task_json(st, 6);
  json_t *d = json_loads(sf_stmt_col_text(st, 4), 0, NULL);
  json_object_set_new(t, "chain", json_integer(sf_stmt_col_int(st, 5)));
  json_object_set_new(t, "request",
                      json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", sf_stmt_col_text(st, 0), "type",
                                sf_stmt_col_text(st, 1), "title", sf_stmt_col_text(st, 2), "state",
                                sf_stmt_col_text(st, 3), "data", d ? d : json_object()));
  return t;
}

int srq_inbox(sf_db *db, const srq_inbox_query *q, json_t *data, char *next, size_t cap, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db,
                    "SELECT a.request_id, r.type, r.title, r.state, r.data, a.chain, a.level, a.level_name,"
                    " a.assignee_user, a.assignee_role, a.delegated_from, a.decision, a.decided_by,"
                    " a.decided_at, a.comment, a.created_at FROM request_approvals a"
                    " JOIN service_requests r ON r.id = a.request_id WHERE a.decision IS NULL AND r.created_by <> ?1"
                    " AND (a.assignee_user = ?1 OR (a.assignee_user IS NULL AND a.assignee_role = ?2"
                    "  AND NOT EXISTS (SELECT 1 FROM request_approvals b WHERE b.request_id = a.request_id"
                    "  AND b.chain = a.chain AND b.level = a.level AND (b.assignee_user = ?1 OR b.decided_by = ?1))))"
                    " AND (a.created_at < ?3 OR (a.created_at = ?3 AND a.request_id < ?4))"
                    " ORDER BY a.created_at DESC, a.request_id DESC LIMIT ?5",
                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, q->user);
  sf_stmt_text(st, 2, q->role);
  sf_stmt_int(st, 3, q->c_at);
  sf_stmt_text(st, 4, q->c_id);
  sf_stmt_int(st, 5, q->limit + 1);
  int n = 0, rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    if (++n > q->limit) break;
    json_array_append_new(data, inbox_item(st));
    if (n == q->limit) snprintf(next, cap, "%" PRId64 ":%s", sf_stmt_col_int(st, 15), sf_stmt_col_text(st, 0));
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : n;
}

/* ---- GET /requests ---- */

#define MATCH_MAX 640 /* the words with the column filter around them */

/* Each filter combination runs a statement that searches an index: one
 * statement per driving filter (the first present of creator, assignee
 * user, full text, assignee queue, SLA status, type, state), the other
 * filters applied to the rows it yields; no filter at all reads the created
 * index from the cursor on. tests/unit/query_plan_test.c explains each
 * statement. Binds: ?1/?2 cursor, ?3 limit, ?4 creator, ?5 state, ?6 type,
 * ?7 user, ?8 queue, ?9 match, ?10 sla, ?11 the caller sees internal notes (1/0). A
 * filter left NULL is neutral. */
#define KEYSET " AND (r.created_at, r.id) < (?1, ?2) ORDER BY r.created_at DESC, r.id DESC LIMIT ?3"
#define OTHERS                                                                                                         \
  " AND (CAST(?4 AS TEXT) IS NULL OR r.created_by = ?4) AND (CAST(?5 AS TEXT) IS NULL OR r.state = ?5)"                \
  " AND (CAST(?6 AS TEXT) IS NULL OR r.type = ?6) AND (CAST(?7 AS TEXT) IS NULL OR r.assignee_user = ?7)"              \
  " AND (CAST(?8 AS TEXT) IS NULL"                                                                                     \
  " OR (r.assignee_user IS NULL AND r.assignee_role IS NOT DISTINCT FROM nullif(?8, '')))"                             \
  " AND (CAST(?10 AS TEXT) IS NULL OR r.sla_status = ?10)"
/* The matching seqs are gathered once per page (a list subquery of
 * integers), then each row is probed: a prefix term ("word"*) merges its
 * doclists on every FTS query, so probing the FTS table per row made ?q=
 * with a customer's own requests 15x slower on 20k requests. */
#define MATCHES                                                                                                        \
  " AND (CAST(?9 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM request_search s WHERE s.request_id = r.id"                 \
  " AND s.seq IN (SELECT rowid FROM request_fts WHERE request_fts MATCH ?9)))"
/* PostgreSQL: the request's row of request_search holds its tsvector (a
 * probe per row reads one row and tests it); ?9 is the same FTS5 query
 * ("w1"* "w2"*) made a tsquery ('w1':* & 'w2':*). */
#define PG_TSQUERY_9 "to_tsquery('simple', replace(replace(translate(?9, '\"', ''''), '*', ':*'), ':* ', ':* & '))"
#define MATCHES_PG                                                                                                     \
  " AND (CAST(?9 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM request_search s WHERE s.request_id = r.id"                 \
  " AND (CASE WHEN CAST(?11 AS BIGINT) = 1 THEN s.search_staff ELSE s.search END) @@ " PG_TSQUERY_9 "))"
static const char k_by_creator_sqlite[] =
    "SELECT r.id FROM service_requests r WHERE r.created_by = ?4" OTHERS MATCHES KEYSET;
static const char k_by_creator_pg[] =
    "SELECT r.id FROM service_requests r WHERE r.created_by = ?4" OTHERS MATCHES_PG KEYSET;
static const char k_by_user_sqlite[] =
    "SELECT r.id FROM service_requests r WHERE r.assignee_user = ?7" OTHERS MATCHES KEYSET;
static const char k_by_user_pg[] =
    "SELECT r.id FROM service_requests r WHERE r.assignee_user = ?7" OTHERS MATCHES_PG KEYSET;
/* Full text alone leads in the FTS index's own order, its rowid (the
 * request's seq, given at creation: newest first), from the seq of the
 * cursor's request on, so a page stops after limit matches instead of
 * sorting them all. PostgreSQL: the matching rows of request_search (GIN),
 * by seq. */
static const char k_by_text_sqlite[] =
    "SELECT r.id FROM request_fts f JOIN request_search s ON s.seq = f.rowid"
    " JOIN service_requests r ON r.id = s.request_id WHERE request_fts MATCH ?9"
    " AND f.rowid < coalesce((SELECT seq FROM request_search WHERE request_id = ?2), ?1)" OTHERS
    " ORDER BY f.rowid DESC LIMIT ?3";
static const char k_by_text_pg[] =
    "SELECT r.id FROM request_search s JOIN service_requests r ON r.id = s.request_id"
    " WHERE s.search @@ " PG_TSQUERY_9
    " AND s.seq < coalesce((SELECT seq FROM request_search WHERE request_id = ?2), ?1)" OTHERS
    " ORDER BY s.seq DESC LIMIT ?3";
/* staff: the tsvector that holds internal notes too (search_staff) */
static const char k_by_text_staff_pg[] =
    "SELECT r.id FROM request_search s JOIN service_requests r ON r.id = s.request_id"
    " WHERE s.search_staff @@ " PG_TSQUERY_9
    " AND s.seq < coalesce((SELECT seq FROM request_search WHERE request_id = ?2), ?1)" OTHERS
    " ORDER BY s.seq DESC LIMIT ?3";
/* A queue on PostgreSQL, which searches an index by = and IS NULL but not
 * by IS NOT DISTINCT FROM: a role's (?8), or that of no role (?8 ''). */
static const char k_queue_role_pg[] =
    "SELECT r.id FROM service_requests r WHERE r.assignee_role = ?8 AND r.assignee_user IS NULL" OTHERS KEYSET;
static const char k_queue_none_pg[] = "SELECT r.id FROM service_requests r WHERE r.assignee_role IS NULL"
                                      " AND r.assignee_user IS NULL AND CAST(?8 AS TEXT) = ''" OTHERS KEYSET;

static sf_stmt *list_statement(sf_db *db, const srq_list_filter *f, sf_err *err) {
  int pg = sf_db_is_pg(db);
  if (f->creator) return sf_db_prepare(db, pg ? k_by_creator_pg : k_by_creator_sqlite, err);
  if (f->user) return sf_db_prepare(db, pg ? k_by_user_pg : k_by_user_sqlite, err);
  if (f->match) return sf_db_prepare(db, !pg ? k_by_text_sqlite : f->notes ? k_by_text_staff_pg : k_by_text_pg, err);
  if (f->queue && !pg)
    return sf_db_prepare(db,
                         "SELECT r.id FROM service_requests r WHERE r.assignee_role IS NOT DISTINCT FROM nullif(?8, '')"
                         " AND r.assignee_user IS NULL" OTHERS KEYSET,
                         err);
  if (f->queue) return sf_db_prepare(db, f->queue[0] ? k_queue_role_pg : k_queue_none_pg, err);
  if (f->sla)
    return sf_db_prepare(db, "SELECT r.id FROM service_requests r WHERE r.sla_status = ?10" OTHERS KEYSET, err);
  if (f->type) return sf_db_prepare(db, "SELECT r.id FROM service_requests r WHERE r.type = ?6" OTHERS KEYSET, err);
  if (f->state) return sf_db_prepare(db, "SELECT r.id FROM service_requests r WHERE r.state = ?5" OTHERS KEYSET, err);
  return sf_db_prepare(db,
                       "SELECT r.id FROM service_requests r WHERE (r.created_at, r.id) < (?1, ?2)"
                       " ORDER BY r.created_at DESC, r.id DESC LIMIT ?3",
                       err);
}

/* ?9, the words; who may not see internal notes searches without them:
 * on SQLite an FTS5 column filter leaves the notes column out, on
 * PostgreSQL ?11 picks the tsvector without them. */
static void bind_match(sf_db *db, sf_stmt *st, const srq_list_filter *f, char *buf) {
  if (!f->match || f->notes || sf_db_is_pg(db)) {
    sf_stmt_text(st, 9, f->match);
  } else {
    snprintf(buf, MATCH_MAX, "{title data comments} : (%s)", f->match);
    sf_stmt_text(st, 9, buf);
  }
  sf_stmt_int(st, 11, f->notes);
}

int srq_list_ids(sf_db *db, const srq_list_filter *f, char (*ids)[SF_ID_MAX], sf_err *err) {
  char match[MATCH_MAX];
  sf_stmt *st = list_statement(db, f, err);
  if (!st) return -1;
  int any = f->creator || f->user || f->match || f->queue || f->sla || f->type || f->state;
  sf_stmt_int(st, 1, f->c_at);
  sf_stmt_text(st, 2, f->c_id);
  sf_stmt_int(st, 3, f->limit + 1);
  if (any) {
    sf_stmt_text(st, 4, f->creator);
    sf_stmt_text(st, 5, f->state);
    sf_stmt_text(st, 6, f->type);
    sf_stmt_text(st, 7, f->user);
    sf_stmt_text(st, 8, f->queue);
    sf_stmt_text(st, 10, f->sla);
    if (f->creator || f->user || f->match) bind_match(db, st, f, match); /* the others lack ?9 */
  }
  int n = 0, rc = 0;
  while (n <= f->limit && (rc = sf_stmt_step(st, err)) == 1)
    sf_strlcpy(ids[n++], sf_stmt_col_text(st, 0), sizeof ids[0]);
  sf_stmt_reset(st);
  return rc < 0 ? rc : n;
}

/* ---- for the engine and the commands ---- */

sf_flow_ctx srq_ctx(sf_tx *tx, const sf_actor *who) {
  return (sf_flow_ctx){.tx = tx, .who = who ? who : &sf_actor_system, .approvals = &srq_approval_rows};
}

int srq_active_user(sf_db *db, const char *id, char *role, size_t cap, sf_err *err) {
  sf_user u;
  int rc = sf_user_by_id(db, id, &u, err);
  if (rc == -404) {
    sf_err_clear(err);
    return 0;
  }
  if (rc) return rc;
  if (strcmp(u.status, "active") != 0) return 0;
  if (role) snprintf(role, cap, "%s", u.role);
  return 1;
}
