#include "edge/repo.h"

sf_stmt *sf_edge_repo_idem_find(sf_db *db, const char *scope, const char *key, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT fingerprint, status, content_type, body, created_at, location, etag"
                              " FROM idempotency WHERE principal = ? AND key = ?",
                              err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, scope);
  sf_stmt_text(st, 2, key);
  return st;
}

int sf_edge_repo_idem_save(sf_db *db, const sf_edge_idem_answer *a, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO idempotency(principal, key, fingerprint, status,"
                              " content_type, body, created_at, location, etag) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)"
                              " ON CONFLICT(principal, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
                              " status = excluded.status, content_type = excluded.content_type, body = excluded.body,"
                              " created_at = excluded.created_at, location = excluded.location, etag = excluded.etag",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, a->scope);
  sf_stmt_text(st, 2, a->key);
  sf_stmt_text(st, 3, a->fingerprint);
  sf_stmt_int(st, 4, a->status);
  sf_stmt_text(st, 5, a->content_type);
  sf_stmt_text(st, 6, a->body);
  sf_stmt_int(st, 7, a->created_at);
  sf_stmt_text(st, 8, a->location);
  sf_stmt_text(st, 9, a->etag);
  return sf_stmt_run(st, err);
}

int sf_edge_repo_idem_purge(sf_db *db, int64_t before_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "DELETE FROM idempotency WHERE created_at < ?", err);
  if (!st) return -1;
  sf_stmt_int(st, 1, before_ms);
  return sf_stmt_run(st, err);
}

int sf_edge_repo_idem_any(sf_db *db, sf_err *err) {
  return sf_stmt_true(sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM idempotency) AS INTEGER)", err), err);
}
