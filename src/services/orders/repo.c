/* The orders repository: every SQL statement of orders, order_lines,
 * payments and sales_daily. Statements are string literals handed to
 * sf_db_prepare (the query-plan test EXPLAINs each one). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/orders/internal.h"

#define ORDER_COLS                                                                                                     \
  "o.id, o.customer_id, o.status, o.saga_step, o.saga_attempts, o.currency, o.total, "                                 \
  "coalesce(o.reservation_id, ''), o.card_last4, o.refund_pending, coalesce(o.failure_reason, ''), "                   \
  "o.version, o.created_at, o.updated_at, p.id, p.status, p.captured, p.refunded, coalesce(p.auth_ref, '')"

static void row_order(sf_stmt *st, order *o) {
  sf_stmt_col_copy(st, 0, o->id, sizeof o->id);
  sf_stmt_col_copy(st, 1, o->customer_id, sizeof o->customer_id);
  sf_stmt_col_copy(st, 2, o->status, sizeof o->status);
  sf_stmt_col_copy(st, 3, o->saga_step, sizeof o->saga_step);
  o->saga_attempts = (int)sf_stmt_col_int(st, 4);
  sf_stmt_col_copy(st, 5, o->currency, sizeof o->currency);
  o->total = sf_stmt_col_int(st, 6);
  sf_stmt_col_copy(st, 7, o->reservation_id, sizeof o->reservation_id);
  sf_stmt_col_copy(st, 8, o->card_last4, sizeof o->card_last4);
  o->refund_pending = sf_stmt_col_int(st, 9);
  sf_stmt_col_copy(st, 10, o->failure_reason, sizeof o->failure_reason);
  o->version = sf_stmt_col_int(st, 11);
  o->created_at = sf_stmt_col_int(st, 12);
  o->updated_at = sf_stmt_col_int(st, 13);
  sf_stmt_col_copy(st, 14, o->payment_id, sizeof o->payment_id);
  sf_stmt_col_copy(st, 15, o->pay_status, sizeof o->pay_status);
  o->captured = sf_stmt_col_int(st, 16);
  o->refunded = sf_stmt_col_int(st, 17);
  sf_stmt_col_copy(st, 18, o->auth_ref, sizeof o->auth_ref);
}

static int load_lines(sf_db *db, order *o, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT product_id, sku, name, unit_price, quantity FROM order_lines"
                              " WHERE order_id = ? ORDER BY line",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, o->id);
  int rc, cap = 0;
  order_clear(o);
  while (o->nlines < ORD_MAX_LINES && (rc = sf_stmt_step(st, err)) == 1) {
    if (o->nlines == cap) {
      cap = cap ? cap * 2 : 4;
      o->lines = realloc(o->lines, (size_t)cap * sizeof *o->lines);
      if (!o->lines) abort();
    }
    order_line *l = &o->lines[o->nlines++];
    sf_stmt_col_copy(st, 0, l->product_id, sizeof l->product_id);
    sf_stmt_col_copy(st, 1, l->sku, sizeof l->sku);
    sf_stmt_col_copy(st, 2, l->name, sizeof l->name);
    l->unit_price = sf_stmt_col_int(st, 3);
    l->quantity = sf_stmt_col_int(st, 4);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int ord_repo_load(sf_db *db, const char *id, order *o, int with_lines, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " ORDER_COLS " FROM orders o JOIN payments p ON p.order_id = o.id"
                              " WHERE o.id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) row_order(st, o);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "order");
  if (rc < 0) return rc;
  return with_lines ? load_lines(db, o, err) : 0;
}

static int save_payment(sf_tx *tx, const order *o, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE payments SET status = ?, captured = ?, refunded = ?, auth_ref = ?, updated_at = ?"
                              " WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, o->pay_status);
  sf_stmt_int(st, 2, o->captured);
  sf_stmt_int(st, 3, o->refunded);
  sf_stmt_text(st, 4, o->auth_ref[0] ? o->auth_ref : NULL);
  sf_stmt_int(st, 5, tx->now_ms);
  sf_stmt_text(st, 6, o->payment_id);
  return sf_stmt_run(st, err);
}

int ord_repo_save(sf_tx *tx, order *o, sf_err *err) {
  o->version++;
  o->updated_at = tx->now_ms;
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE orders SET status = ?, saga_step = ?, saga_attempts = ?, refund_pending = ?,"
                              " failure_reason = ?, version = ?, updated_at = ?,"
                              " card_sealed = CASE WHEN ? THEN card_sealed ELSE NULL END WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, o->status);
  sf_stmt_text(st, 2, o->saga_step);
  sf_stmt_int(st, 3, o->saga_attempts);
  sf_stmt_int(st, 4, o->refund_pending);
  sf_stmt_text(st, 5, o->failure_reason[0] ? o->failure_reason : NULL);
  sf_stmt_int(st, 6, o->version);
  sf_stmt_int(st, 7, o->updated_at);
  sf_stmt_int(st, 8, strcmp(o->saga_step, "authorize") == 0); /* the card is needed until authorized */
  sf_stmt_text(st, 9, o->id);
  if (sf_stmt_run(st, err)) return -1;
  return save_payment(tx, o, err);
}

static int insert_order_row(sf_tx *tx, const order *o, const char *card_sealed, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO orders(id, customer_id, status, saga_step, currency, total, reservation_id,"
                              " card_sealed, card_last4, version, created_at, updated_at)"
                              " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, o->id);
  sf_stmt_text(st, 2, o->customer_id);
  sf_stmt_text(st, 3, o->status);
  sf_stmt_text(st, 4, o->saga_step);
  sf_stmt_text(st, 5, o->currency);
  sf_stmt_int(st, 6, o->total);
  sf_stmt_text(st, 7, o->reservation_id);
  sf_stmt_text(st, 8, card_sealed);
  sf_stmt_text(st, 9, o->card_last4);
  sf_stmt_int(st, 10, o->version);
  sf_stmt_int(st, 11, o->created_at);
  sf_stmt_int(st, 12, o->updated_at);
  return sf_stmt_run(st, err);
}

static int insert_lines(sf_tx *tx, const order *o, sf_err *err) {
  int rc = 0;
  for (int i = 0; !rc && i < o->nlines; i++) {
    sf_stmt *st = sf_db_prepare(tx->db,
                                "INSERT INTO order_lines(order_id, line, product_id, sku, name, unit_price, quantity)"
                                " VALUES(?,?,?,?,?,?,?)",
                                err);
    if (!st) return -500;
    sf_stmt_text(st, 1, o->id);
    sf_stmt_int(st, 2, i);
    sf_stmt_text(st, 3, o->lines[i].product_id);
    sf_stmt_text(st, 4, o->lines[i].sku);
    sf_stmt_text(st, 5, o->lines[i].name);
    sf_stmt_int(st, 6, o->lines[i].unit_price);
    sf_stmt_int(st, 7, o->lines[i].quantity);
    rc = sf_stmt_run(st, err);
  }
  return rc;
}

static int insert_payment(sf_tx *tx, const order *o, const char *provider, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(tx->db,
                    "INSERT INTO payments(id, order_id, provider, status, amount, currency, created_at, updated_at)"
                    " VALUES(?,?,?,?,?,?,?,?)",
                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, o->payment_id);
  sf_stmt_text(st, 2, o->id);
  sf_stmt_text(st, 3, provider);
  sf_stmt_text(st, 4, o->pay_status);
  sf_stmt_int(st, 5, o->total);
  sf_stmt_text(st, 6, o->currency);
  sf_stmt_int(st, 7, tx->now_ms);
  sf_stmt_int(st, 8, tx->now_ms);
  return sf_stmt_run(st, err);
}

int ord_repo_insert(sf_tx *tx, const order *o, const char *card_sealed, const char *provider, sf_err *err) {
  int rc = insert_order_row(tx, o, card_sealed, err);
  if (!rc) rc = insert_lines(tx, o, err);
  if (!rc) rc = insert_payment(tx, o, provider, err);
  return rc;
}

int ord_repo_card_sealed(sf_db *db, const char *id, char **sealed, sf_err *err) {
  *sealed = NULL;
  sf_stmt *st = sf_db_prepare(db, "SELECT card_sealed FROM orders WHERE id = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, id);
  if (sf_stmt_step(st, err) == 1 && sf_stmt_col_text(st, 0)) *sealed = sf_strdup(sf_stmt_col_text(st, 0));
  sf_stmt_reset(st);
  return 0;
}

int ord_repo_settled(sf_db *db, const char *id) {
  sf_err err = {0};
  sf_stmt *st =
      db ? sf_db_prepare(db, "SELECT CAST(saga_step = 'done' AS INTEGER) FROM orders WHERE id = ?", &err) : NULL;
  if (!st) return 1;
  sf_stmt_text(st, 1, id);
  int v = sf_stmt_step(st, &err) == 1 ? (int)sf_stmt_col_int(st, 0) : 1;
  sf_stmt_reset(st);
  return v;
}

int ord_repo_unfinished(sf_db *db, void (*fn)(const char *id), sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT id FROM orders WHERE saga_step <> 'done'", err);
  if (!st) return -1;
  int rc, n = 0;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    fn(sf_stmt_col_text(st, 0));
    n++;
  }
  sf_stmt_reset(st);
  return rc < 0 ? -1 : n;
}

/* One statement per driving filter, each searching its own index from the
 * cursor on (the query-plan test checks them): a customer's orders, or one
 * status, or all. Binds: ?1 customer, ?2 status, ?3/?4 cursor, ?5 limit. */
static sf_stmt *list_statement(sf_db *db, const char *customer, const char *status, sf_err *err) {
  if (customer)
    return sf_db_prepare(db,
                         "SELECT " ORDER_COLS " FROM orders o JOIN payments p ON p.order_id = o.id"
                         " WHERE o.customer_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR o.status = ?2)"
                         " AND (o.created_at, o.id) < (?3, ?4) ORDER BY o.created_at DESC, o.id DESC LIMIT ?5",
                         err);
  if (status)
    return sf_db_prepare(db,
                         "SELECT " ORDER_COLS " FROM orders o JOIN payments p ON p.order_id = o.id"
                         " WHERE o.status = ?2 AND (o.created_at, o.id) < (?3, ?4)"
                         " ORDER BY o.created_at DESC, o.id DESC LIMIT ?5",
                         err);
  return sf_db_prepare(db,
                       "SELECT " ORDER_COLS " FROM orders o JOIN payments p ON p.order_id = o.id"
                       " WHERE (o.created_at, o.id) < (?3, ?4) ORDER BY o.created_at DESC, o.id DESC LIMIT ?5",
                       err);
}

int ord_repo_list(sf_db *db, const ord_list_query *q, order *rows, int *n, char *next, size_t next_cap, sf_err *err) {
  *n = 0;
  next[0] = '\0';
  sf_stmt *st = list_statement(db, q->customer, q->status, err);
  if (!st) return -1;
  if (q->customer) sf_stmt_text(st, 1, q->customer);
  if (q->customer || q->status) sf_stmt_text(st, 2, q->status);
  sf_stmt_int(st, 3, q->cursor_at);
  sf_stmt_text(st, 4, q->cursor_id);
  sf_stmt_int(st, 5, q->limit + 1);
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    if (*n == q->limit) { /* one more than asked: there is a next page */
      snprintf(next, next_cap, "%" PRId64 ":%s", rows[*n - 1].created_at, rows[*n - 1].id);
      break;
    }
    order *o = &rows[(*n)++];
    memset(o, 0, sizeof *o); /* rows carry no lines until load_lines below */
    row_order(st, o);
  }
  sf_stmt_reset(st);
  for (int i = 0; rc >= 0 && i < *n; i++)
    if (load_lines(db, &rows[i], err)) rc = -1;
  return rc < 0 ? -1 : 0;
}

int ord_repo_sales_add(sf_tx *tx, const char *day, const char *product_id, int64_t quantity, int64_t revenue,
                       const char *currency, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      tx->db,
      "INSERT INTO sales_daily(day, product_id, quantity, revenue, currency, orders)"
      " VALUES(?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT(day, product_id, currency) DO UPDATE SET"
      " quantity = sales_daily.quantity + ?3, revenue = sales_daily.revenue + ?4, orders = sales_daily.orders + 1",
      err);
  if (!st) return -1;
  sf_stmt_text(st, 1, day);
  sf_stmt_text(st, 2, product_id);
  sf_stmt_int(st, 3, quantity);
  sf_stmt_int(st, 4, revenue);
  sf_stmt_text(st, 5, currency);
  return sf_stmt_run(st, err);
}

int ord_repo_sales_reset(sf_tx *tx, sf_err *err) { return sf_db_exec(tx->db, "DELETE FROM sales_daily", err); }

json_t *ord_repo_sales(sf_db *db, const char *from, const char *to, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT day, product_id, quantity, revenue, currency, orders FROM sales_daily"
                              " WHERE day >= coalesce(?1, '') AND day <= coalesce(?2, '9999')"
                              " ORDER BY day DESC, revenue DESC LIMIT 1000",
                              err);
  if (!st) return NULL;
  sf_stmt_text(st, 1, from);
  sf_stmt_text(st, 2, to);
  json_t *data = json_array();
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1)
    json_array_append_new(data,
                          json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "day", sf_stmt_col_text(st, 0), "product_id",
                                    sf_stmt_col_text(st, 1), "quantity", (json_int_t)sf_stmt_col_int(st, 2), "revenue",
                                    (json_int_t)sf_stmt_col_int(st, 3), "currency", sf_stmt_col_text(st, 4), "orders",
                                    (json_int_t)sf_stmt_col_int(st, 5)));
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    return NULL;
  }
  return data;
}

/* The key-file probe (service.c's holds_keyed): an order holds a card
 * number sealed with seal.keys. 1 yes, 0 no, <0 with err. */
int ord_repo_any_card_sealed(sf_db *db, sf_err *err) {
  return sf_stmt_true(
      sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM orders WHERE card_sealed IS NOT NULL) AS INTEGER)", err),
      err);
}
