/* The SQL of webhook subscriptions and their deliveries (repo.h). */
#include <stdlib.h>
#include <string.h>

#include "services/webhooks/repo.h"

#define SUB_COLS "id, url, events, description, active, secret, from_position, version, created_at, updated_at"

void sf_webhooks_sub_clear(sf_webhooks_sub *s) {
  free(s->url);
  free(s->events);
  free(s->description);
  free(s->secret);
  memset(s, 0, sizeof *s);
}

void sf_webhooks_repo_sub_row(sf_stmt *st, sf_webhooks_sub *out) {
  sf_stmt_col_copy(st, 0, out->id, sizeof out->id);
  out->url = sf_strdup(sf_stmt_col_text(st, 1));
  out->events = sf_strdup(sf_stmt_col_text(st, 2));
  out->description = sf_strdup(sf_stmt_col_text(st, 3));
  out->active = (int)sf_stmt_col_int(st, 4);
  out->secret = sf_strdup(sf_stmt_col_text(st, 5));
  out->from_position = sf_stmt_col_int(st, 6);
  out->version = sf_stmt_col_int(st, 7);
  out->created_at = sf_stmt_col_int(st, 8);
  out->updated_at = sf_stmt_col_int(st, 9);
}

int sf_webhooks_repo_sub_insert(sf_db *db, const sf_webhooks_sub *s, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db, "INSERT INTO webhook_subscriptions(" SUB_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, s->id);
  sf_stmt_text(st, 2, s->url);
  sf_stmt_text(st, 3, s->events);
  sf_stmt_text(st, 4, s->description);
  sf_stmt_int(st, 5, s->active);
  sf_stmt_text(st, 6, s->secret);
  sf_stmt_int(st, 7, s->from_position);
  sf_stmt_int(st, 8, s->version);
  sf_stmt_int(st, 9, s->created_at);
  sf_stmt_int(st, 10, s->updated_at);
  return sf_stmt_run(st, err) ? -500 : 0;
}

int sf_webhooks_repo_sub_load(sf_db *db, const char *id, sf_webhooks_sub *out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " SUB_COLS " FROM webhook_subscriptions WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) sf_webhooks_repo_sub_row(st, out);
  sf_stmt_reset(st);
  return rc;
}

int sf_webhooks_repo_sub_update(sf_db *db, const sf_webhooks_sub *s, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE webhook_subscriptions SET url = ?2, events = ?3, description = ?4, active = ?5,"
                              " secret = ?6, version = ?7, updated_at = ?8 WHERE id = ?1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, s->id);
  sf_stmt_text(st, 2, s->url);
  sf_stmt_text(st, 3, s->events);
  sf_stmt_text(st, 4, s->description);
  sf_stmt_int(st, 5, s->active);
  sf_stmt_text(st, 6, s->secret);
  sf_stmt_int(st, 7, s->version);
  sf_stmt_int(st, 8, s->updated_at);
  return sf_stmt_run(st, err) ? -500 : 0;
}

int sf_webhooks_repo_sub_delete(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "DELETE FROM webhook_sub_deliveries WHERE subscription_id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  if (sf_stmt_run(st, err)) return -500;
  st = sf_db_prepare(db, "DELETE FROM webhook_subscriptions WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  return sf_stmt_run(st, err) ? -500 : 0;
}

sf_stmt *sf_webhooks_repo_sub_list(sf_db *db, int64_t c_at, const char *c_id, int limit, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " SUB_COLS " FROM webhook_subscriptions WHERE (created_at, id) < (?1, ?2)"
                              " ORDER BY created_at DESC, id DESC LIMIT ?3",
                              err);
  if (!st) return NULL;
  sf_stmt_int(st, 1, c_at);
  sf_stmt_text(st, 2, c_id);
  sf_stmt_int(st, 3, limit);
  return st;
}

sf_stmt *sf_webhooks_repo_sub_active(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, events, from_position FROM webhook_subscriptions WHERE active = 1", err);
}

int sf_webhooks_repo_sub_any_active(sf_db *db, sf_err *err) {
  return sf_stmt_true(
      sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM webhook_subscriptions WHERE active = 1) AS INTEGER)", err),
      err);
}

int sf_webhooks_repo_sub_stamp(sf_db *db, int64_t *out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT stamp FROM webhook_sub_state WHERE id = 1", err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  *out = rc == 1 ? sf_stmt_col_int(st, 0) : 0;
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_webhooks_repo_sub_stamp_set(sf_db *db, int64_t stamp, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO webhook_sub_state(id, stamp) VALUES(1, ?1)"
                              " ON CONFLICT(id) DO UPDATE SET stamp = excluded.stamp",
                              err);
  if (!st) return -500;
  sf_stmt_int(st, 1, stamp);
  return sf_stmt_run(st, err) ? -500 : 0;
}

int sf_webhooks_repo_any_subscription(sf_db *db, sf_err *err) {
  return sf_stmt_true(sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM webhook_subscriptions) AS INTEGER)", err),
                      err);
}

int sf_webhooks_repo_sub_delivery_insert(sf_db *db, const char *id, const char *sub_id, const sf_event_ref *ev,
                                         int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO webhook_sub_deliveries(id, subscription_id, event_id, event_position,"
                              " event_type, status, attempts, next_at, created_at, updated_at)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)"
                              " ON CONFLICT(subscription_id, event_id) DO NOTHING",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, sub_id);
  sf_stmt_text(st, 3, ev->id);
  sf_stmt_int(st, 4, ev->position);
  sf_stmt_text(st, 5, ev->type);
  sf_stmt_int(st, 6, now_ms);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

sf_stmt *sf_webhooks_repo_sub_pending(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT d.subscription_id, d.event_id, d.event_position, d.event_type, d.attempts,"
                              " s.url, s.secret FROM webhook_sub_deliveries d"
                              " LEFT JOIN webhook_subscriptions s ON s.id = d.subscription_id"
                              " WHERE d.id = ? AND d.status = 'pending'",
                              err);
  if (st) sf_stmt_text(st, 1, id);
  return st;
}

int sf_webhooks_repo_sub_delivery_drop(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "DELETE FROM webhook_sub_deliveries WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  return sf_stmt_run(st, err) ? -500 : 0;
}

sf_stmt *sf_webhooks_repo_sub_pending_all(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, next_at FROM webhook_sub_deliveries WHERE status = 'pending' ORDER BY next_at",
                       err);
}

sf_stmt *sf_webhooks_repo_sub_deliveries(sf_db *db, const char *sub_id, const char *status, int64_t c_at,
                                         const char *c_id, int limit, sf_err *err) {
  /* two statements, so each walks its own index (no row-by-row status filter over a range) */
  sf_stmt *st = status ? sf_db_prepare(db,
                                       "SELECT id, event_id, event_type, event_position, status, attempts, next_at,"
                                       " last_status, last_error, created_at, updated_at FROM webhook_sub_deliveries"
                                       " WHERE subscription_id = ?1 AND status = ?5 AND (created_at, id) < (?2, ?3)"
                                       " ORDER BY created_at DESC, id DESC LIMIT ?4",
                                       err)
                       : sf_db_prepare(db,
                                       "SELECT id, event_id, event_type, event_position, status, attempts, next_at,"
                                       " last_status, last_error, created_at, updated_at FROM webhook_sub_deliveries"
                                       " WHERE subscription_id = ?1 AND (created_at, id) < (?2, ?3)"
                                       " ORDER BY created_at DESC, id DESC LIMIT ?4",
                                       err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, sub_id);
  sf_stmt_int(st, 2, c_at);
  sf_stmt_text(st, 3, c_id);
  sf_stmt_int(st, 4, limit);
  if (status) sf_stmt_text(st, 5, status);
  return st;
}
