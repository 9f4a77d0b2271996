/* Inventory repository (repo.h): the only SQL of the inventory service. */
#include "services/inventory/repo.h"

#include <stdio.h>
#include <string.h>

#include "store/dialect.h"

int sf_inv_repo_load_stock(sf_db *db, const char *product_id, sf_stock *s, sf_err *err) {
  memset(s, 0, sizeof *s);
  snprintf(s->product_id, sizeof s->product_id, "%s", product_id);
  sf_stmt *st = sf_db_prepare(db, "SELECT on_hand, reserved, version FROM stock WHERE product_id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, product_id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    s->on_hand = sf_stmt_col_int(st, 0);
    s->reserved = sf_stmt_col_int(st, 1);
    s->version = sf_stmt_col_int(st, 2);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_inv_repo_save_stock(sf_db *db, const sf_stock *s, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO stock(product_id, on_hand, reserved, version, updated_at)"
                              " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(product_id) DO UPDATE SET"
                              " on_hand = ?2, reserved = ?3, version = ?4, updated_at = ?5",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, s->product_id);
  sf_stmt_int(st, 2, s->on_hand);
  sf_stmt_int(st, 3, s->reserved);
  sf_stmt_int(st, 4, s->version);
  sf_stmt_int(st, 5, now_ms);
  return sf_stmt_run(st, err);
}

/* The lines in the order they were written: SQLite's rowid, PostgreSQL's
 * explicit seq (it has no rowid). */
static int load_lines(sf_db *db, sf_reservation *r, sf_err *err) {
  static const char k_lines_sqlite[] =
      "SELECT product_id, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY rowid";
  static const char k_lines_pg[] =
      "SELECT product_id, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY seq";
  sf_stmt *st = sf_db_prepare(db, sf_db_is_pg(db) ? k_lines_pg : k_lines_sqlite, err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  int rc = 0;
  while (r->nlines < SF_INV_MAX_LINES && (rc = sf_stmt_step(st, err)) == 1) {
    sf_stmt_col_copy(st, 0, r->lines[r->nlines].product_id, sizeof r->lines[0].product_id);
    r->lines[r->nlines].quantity = sf_stmt_col_int(st, 1);
    r->nlines++;
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_inv_repo_load_reservation(sf_db *db, const char *id, sf_reservation *r, sf_err *err) {
  memset(r, 0, sizeof *r);
  sf_stmt *st =
      sf_db_prepare(db, "SELECT id, owner, status, expires_at, created_at FROM reservations WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, r->id, sizeof r->id);
    sf_stmt_col_copy(st, 1, r->owner, sizeof r->owner);
    sf_stmt_col_copy(st, 2, r->status, sizeof r->status);
    r->expires_at = sf_stmt_col_int(st, 3);
    r->created_at = sf_stmt_col_int(st, 4);
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "reservation");
  if (rc < 0) return rc;
  return load_lines(db, r, err);
}

int sf_inv_repo_insert_reservation(sf_db *db, const sf_reservation *r, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO reservations(id, owner, status, expires_at, created_at, updated_at)"
                              " VALUES(?, ?, 'active', ?, ?, ?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_text(st, 2, r->owner);
  sf_stmt_int(st, 3, r->expires_at);
  sf_stmt_int(st, 4, now_ms);
  sf_stmt_int(st, 5, now_ms);
  int rc = sf_stmt_run(st, err);
  for (int i = 0; !rc && i < r->nlines; i++) {
    st = sf_db_prepare(db, "INSERT INTO reservation_lines(reservation_id, product_id, quantity) VALUES(?, ?, ?)", err);
    if (!st) return -500;
    sf_stmt_text(st, 1, r->id);
    sf_stmt_text(st, 2, r->lines[i].product_id);
    sf_stmt_int(st, 3, r->lines[i].quantity);
    rc = sf_stmt_run(st, err);
  }
  return rc;
}

int sf_inv_repo_set_reservation_status(sf_db *db, const char *id, const char *status, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "UPDATE reservations SET status = ?, updated_at = ? WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, status);
  sf_stmt_int(st, 2, now_ms);
  sf_stmt_text(st, 3, id);
  return sf_stmt_run(st, err);
}
