/* The workflows table (repo.h). */
#include "services/workflows/repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wf_clear(wf_workflow *w) {
  free(w->definition);
  free(w->source);
  w->definition = w->source = NULL;
}

#define WF_COLS "id, type, version, name, definition, source, created_by, created_at"

static void wf_row(sf_stmt *st, wf_workflow *w) {
  sf_stmt_col_copy(st, 0, w->id, sizeof w->id);
  sf_stmt_col_copy(st, 1, w->type, sizeof w->type);
  w->version = sf_stmt_col_int(st, 2);
  sf_stmt_col_copy(st, 3, w->name, sizeof w->name);
  w->definition = strdup(sf_stmt_col_text(st, 4));
  w->source = strdup(sf_stmt_col_text(st, 5));
  sf_stmt_col_copy(st, 6, w->created_by, sizeof w->created_by);
  w->created_at = sf_stmt_col_int(st, 7);
}

int wf_repo_load(sf_db *db, const char *type, int64_t version, wf_workflow *w, sf_err *err) {
  memset(w, 0, sizeof *w);
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " WF_COLS " FROM workflows WHERE type = ?1 AND (?2 = 0 OR version = ?2)"
                              " ORDER BY version DESC LIMIT 1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, type);
  sf_stmt_int(st, 2, version);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) wf_row(st, w);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, version ? "workflow version" : "workflow");
  return rc < 0 ? rc : 0;
}

int wf_repo_next_version(sf_db *db, const char *type, int64_t *version, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(max(version), 0) FROM workflows WHERE type = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, type);
  int rc = sf_stmt_step(st, err);
  *version = rc == 1 ? sf_stmt_col_int(st, 0) + 1 : 0;
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int wf_repo_insert(sf_tx *tx, const wf_workflow *w, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db, "INSERT INTO workflows(" WF_COLS ") VALUES(?,?,?,?,?,?,?,?)", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, w->id);
  sf_stmt_text(st, 2, w->type);
  sf_stmt_int(st, 3, w->version);
  sf_stmt_text(st, 4, w->name);
  sf_stmt_text(st, 5, w->definition);
  sf_stmt_text(st, 6, w->source);
  sf_stmt_text(st, 7, w->created_by);
  sf_stmt_int(st, 8, w->created_at);
  return sf_stmt_run(st, err);
}

int wf_repo_latest_each(sf_db *db, void (*fn)(const wf_workflow *w, void *ud), void *ud, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " WF_COLS " FROM workflows w WHERE version ="
                              " (SELECT max(version) FROM workflows WHERE type = w.type) ORDER BY type LIMIT 1000",
                              err);
  if (!st) return -500;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    wf_workflow w = {0};
    wf_row(st, &w);
    fn(&w, ud);
    wf_clear(&w);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int wf_repo_types(sf_db *db, const char *after, int limit, wf_type_fn fn, void *ud, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT type, name, version, definition FROM workflows w WHERE type > ?1 AND version ="
                              " (SELECT max(version) FROM workflows WHERE type = w.type) ORDER BY type LIMIT ?2",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, after ? after : "");
  sf_stmt_int(st, 2, limit + 1);
  int rc, n = 0;
  while ((rc = sf_stmt_step(st, err)) == 1 && ++n <= limit)
    fn(sf_stmt_col_text(st, 0), sf_stmt_col_text(st, 1), sf_stmt_col_int(st, 2), sf_stmt_col_text(st, 3), ud);
  sf_stmt_reset(st);
  return rc < 0 ? rc : n;
}
