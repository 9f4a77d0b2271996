#include "services/webhooks/repo.h"

int sf_webhooks_repo_request_json(sf_db *db, const char *id, json_t **out, sf_err *err) {
  /* reads the requests service's tables (service_requests, workflows) */
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT r.type, r.title, r.state, r.data, r.version, r.workflow_id, w.version"
                              " FROM service_requests r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    json_t *data = json_loads(sf_stmt_col_text(st, 3), 0, NULL);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:{s:s, s:I}}", "id", id, "type", sf_stmt_col_text(st, 0), "title",
                     sf_stmt_col_text(st, 1), "state", sf_stmt_col_text(st, 2), "data", data ? data : json_object(),
                     "version", (json_int_t)sf_stmt_col_int(st, 4), "workflow", "id", sf_stmt_col_text(st, 5),
                     "version", (json_int_t)sf_stmt_col_int(st, 6));
  } else if (rc == 0) {
    *out = json_pack("{s:s}", "id", id); /* not expected: requests are never deleted */
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_webhooks_repo_request_exists(sf_db *db, const char *id, sf_err *err) {
  /* reads the requests service's table */
  sf_stmt *st = sf_db_prepare(db, "SELECT 1 FROM service_requests WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

int sf_webhooks_repo_insert_delivery(sf_db *db, const char *id, const char *event_id, const char *request_id,
                                     const char *url, const char *body, const char *traceparent, int64_t now_ms,
                                     sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO webhook_deliveries(id, event_id, request_id, url, body, status, attempts,"
                              " next_at, created_at, updated_at, traceparent)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6, ?7)"
                              " ON CONFLICT(event_id) DO NOTHING",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, event_id);
  sf_stmt_text(st, 3, request_id);
  sf_stmt_text(st, 4, url);
  sf_stmt_text(st, 5, body);
  sf_stmt_int(st, 6, now_ms);
  sf_stmt_text(st, 7, traceparent);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

sf_stmt *sf_webhooks_repo_pending_delivery(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT event_id, request_id, url, body, attempts, traceparent FROM webhook_deliveries"
                              " WHERE id = ? AND status = 'pending'",
                              err);
  if (st) sf_stmt_text(st, 1, id);
  return st;
}

sf_stmt *sf_webhooks_repo_pending_all(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, next_at FROM webhook_deliveries WHERE status = 'pending' ORDER BY next_at", err);
}

int sf_webhooks_repo_record_attempt(sf_db *db, int sub, const sf_webhooks_attempt *a, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sub ? sf_db_prepare(db,
                                    "UPDATE webhook_sub_deliveries SET status = ?1, attempts = ?2, next_at = ?3,"
                                    " last_error = coalesce(?4, last_error), updated_at = ?5, last_status = ?8"
                                    " WHERE id = ?6 AND status = 'pending' AND attempts = ?7",
                                    err)
                    : sf_db_prepare(db,
                                    "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, next_at = ?3,"
                                    " last_error = coalesce(?4, last_error), updated_at = ?5, last_status = ?8"
                                    " WHERE id = ?6 AND status = 'pending' AND attempts = ?7",
                                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, a->status);
  sf_stmt_int(st, 2, a->attempts);
  sf_stmt_int(st, 3, a->next_at);
  sf_stmt_text(st, 4, a->error);
  sf_stmt_int(st, 5, now_ms);
  sf_stmt_text(st, 6, a->id);
  sf_stmt_int(st, 7, a->seen);
  if (a->last_status)
    sf_stmt_int(st, 8, a->last_status);
  else
    sf_stmt_null(st, 8);
  int rc = sf_stmt_run(st, err);
  if (rc) return rc;
  return sf_db_changes(db) ? 1 : 0;
}

int sf_webhooks_repo_restart(sf_db *db, int sub, const char *id, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sub ? sf_db_prepare(db,
                                    "UPDATE webhook_sub_deliveries SET status = 'pending', attempts = 0, next_at = ?2,"
                                    " updated_at = ?2 WHERE id = ?1 AND status <> 'pending'",
                                    err)
                    : sf_db_prepare(db,
                                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = ?2,"
                                    " updated_at = ?2 WHERE id = ?1 AND status <> 'pending'",
                                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_int(st, 2, now_ms);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

int sf_webhooks_repo_delivery_exists(sf_db *db, int sub, const char *id, sf_err *err) {
  sf_stmt *st = sub ? sf_db_prepare(db, "SELECT 1 FROM webhook_sub_deliveries WHERE id = ?", err)
                    : sf_db_prepare(db, "SELECT 1 FROM webhook_deliveries WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

sf_stmt *sf_webhooks_repo_list(sf_db *db, const char *request_id, int limit, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db,
                    "SELECT id, event_id, url, status, attempts, next_at, last_error, created_at, updated_at,"
                    " last_status FROM webhook_deliveries WHERE request_id = ? ORDER BY created_at, id LIMIT ?",
                    err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, request_id);
  sf_stmt_int(st, 2, limit);
  return st;
}

int sf_webhooks_repo_any_delivery(sf_db *db, sf_err *err) {
  return sf_stmt_true(sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM webhook_deliveries) AS INTEGER)", err), err);
}
