/* Carts repository (repo.h): the only SQL of the carts service. */
#include "services/carts/repo.h"

#include <stdio.h>
#include <string.h>

static void row_to_cart(sf_stmt *st, sf_cart *c) {
  sf_stmt_col_copy(st, 0, c->id, sizeof c->id);
  sf_stmt_col_copy(st, 1, c->owner_id, sizeof c->owner_id);
  sf_stmt_col_copy(st, 2, c->token_hash, sizeof c->token_hash);
  sf_stmt_col_copy(st, 3, c->status, sizeof c->status);
  sf_stmt_col_copy(st, 4, c->currency, sizeof c->currency);
  sf_stmt_col_copy(st, 5, c->order_id, sizeof c->order_id);
  sf_stmt_col_copy(st, 6, c->merged_into, sizeof c->merged_into);
  c->version = sf_stmt_col_int(st, 7);
  c->created_at = sf_stmt_col_int(st, 8);
  c->updated_at = sf_stmt_col_int(st, 9);
}

static int load_lines(sf_db *db, sf_cart *c, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT product_id, sku, name, quantity, unit_price, added_at FROM cart_lines"
                              " WHERE cart_id = ? ORDER BY added_at, product_id",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, c->id);
  int rc = 0;
  while (c->nlines < SF_CART_MAX_LINES && (rc = sf_stmt_step(st, err)) == 1) {
    sf_cart_item *l = &c->lines[c->nlines++];
    sf_stmt_col_copy(st, 0, l->product_id, sizeof l->product_id);
    sf_stmt_col_copy(st, 1, l->sku, sizeof l->sku);
    sf_stmt_col_copy(st, 2, l->name, sizeof l->name);
    l->quantity = sf_stmt_col_int(st, 3);
    l->unit_price = sf_stmt_col_int(st, 4);
    l->added_at = sf_stmt_col_int(st, 5);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_carts_repo_load(sf_db *db, const char *id, sf_cart *c, sf_err *err) {
  memset(c, 0, sizeof *c);
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, coalesce(owner_id, ''), coalesce(token_hash, ''), status,"
                              " coalesce(currency, ''), coalesce(order_id, ''), coalesce(merged_into, ''),"
                              " version, created_at, updated_at FROM carts WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) row_to_cart(st, c);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "cart");
  if (rc < 0) return rc;
  return load_lines(db, c, err);
}

int sf_carts_repo_load_open_of(sf_db *db, const char *user_id, sf_cart *c, sf_err *err) {
  memset(c, 0, sizeof *c);
  sf_stmt *st = sf_db_prepare(db, "SELECT id FROM carts WHERE owner_id = ? AND status = 'open'", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user_id);
  char id[SF_ID_MAX] = "";
  int rc = sf_stmt_step(st, err);
  if (rc == 1) sf_stmt_col_copy(st, 0, id, sizeof id);
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  return id[0] ? sf_carts_repo_load(db, id, c, err) : 0;
}

static int save_row(sf_db *db, const sf_cart *c, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO carts(id, owner_id, token_hash, status, currency, order_id, merged_into,"
                              " version, created_at, updated_at) VALUES(?1, nullif(?2, ''), nullif(?3, ''), ?4,"
                              " nullif(?5, ''), nullif(?6, ''), nullif(?7, ''), ?8, ?9, ?10)"
                              " ON CONFLICT(id) DO UPDATE SET owner_id = nullif(?2, ''), token_hash = nullif(?3, ''),"
                              " status = ?4, currency = nullif(?5, ''), order_id = nullif(?6, ''),"
                              " merged_into = nullif(?7, ''), version = ?8, updated_at = ?10",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, c->id);
  sf_stmt_text(st, 2, c->owner_id);
  sf_stmt_text(st, 3, c->token_hash);
  sf_stmt_text(st, 4, c->status);
  sf_stmt_text(st, 5, c->currency);
  sf_stmt_text(st, 6, c->order_id);
  sf_stmt_text(st, 7, c->merged_into);
  sf_stmt_int(st, 8, c->version);
  sf_stmt_int(st, 9, c->created_at);
  sf_stmt_int(st, 10, now_ms);
  return sf_stmt_run(st, err);
}

static int insert_line(sf_db *db, const char *cart_id, const sf_cart_item *l, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO cart_lines(cart_id, product_id, quantity, unit_price, sku, name, added_at)"
                              " VALUES(?,?,?,?,?,?,?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, cart_id);
  sf_stmt_text(st, 2, l->product_id);
  sf_stmt_int(st, 3, l->quantity);
  sf_stmt_int(st, 4, l->unit_price);
  sf_stmt_text(st, 5, l->sku);
  sf_stmt_text(st, 6, l->name);
  sf_stmt_int(st, 7, l->added_at);
  return sf_stmt_run(st, err);
}

/* A cart has at most 50 lines: replacing them all is simpler than a diff. */
int sf_carts_repo_save(sf_db *db, const sf_cart *c, int64_t now_ms, sf_err *err) {
  int rc = save_row(db, c, now_ms, err);
  if (rc) return rc;
  sf_stmt *st = sf_db_prepare(db, "DELETE FROM cart_lines WHERE cart_id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, c->id);
  if ((rc = sf_stmt_run(st, err))) return rc;
  for (int i = 0; i < c->nlines; i++)
    if ((rc = insert_line(db, c->id, &c->lines[i], err))) return rc;
  return 0;
}
