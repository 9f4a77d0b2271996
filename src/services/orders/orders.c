/* Orders: /api/v1/orders, the lifecycle, refunds, and the order saga. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "services/orders/orders.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/timers.h"
#include "services/carts/carts.h"
#include "services/catalog/catalog.h"
#include "services/inventory/inventory.h"
#include "services/payments/payments.h"

#define MAX_LINES 50
#define RETRY_KIND "order.saga_retry"
#define MAX_PAYMENT_ATTEMPTS 5 /* authorize/capture; compensation retries forever */
#define SAGA_BATCH 256
#define MAX_WAIT_S 60

/* ---- state ---- */

typedef struct {
  char product_id[48];
  char sku[72];
  char name[208];
  int64_t unit_price, quantity;
} order_line;

typedef struct {
  char id[48];
  char customer_id[48];
  char status[16];
  char saga_step[16];
  int saga_attempts;
  char currency[4];
  int64_t total;
  char reservation_id[48];
  char card_last4[8];
  int64_t refund_pending;
  char failure_reason[64];
  int64_t version, created_at, updated_at;
  int nlines;
  order_line *lines; /* malloc'd (order_clear) */
  /* payment */
  char payment_id[48];
  char pay_status[24];
  int64_t captured, refunded;
  char auth_ref[64];
} order;

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

static void order_clear(order *o) {
  free(o->lines);
  o->lines = NULL;
  o->nlines = 0;
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
  while (o->nlines < MAX_LINES && (rc = sf_stmt_step(st, err)) == 1) {
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

static int load_order(sf_db *db, const char *id, order *o, int with_lines, sf_err *err) {
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

static int save_order(sf_tx *tx, order *o, sf_err *err) {
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
  st = sf_db_prepare(tx->db,
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

static int settled(const order *o) { return strcmp(o->saga_step, "done") == 0; }

static json_t *order_json(const order *o) {
  char created[32], updated[32];
  sf_time_iso8601(o->created_at, created, sizeof created);
  sf_time_iso8601(o->updated_at, updated, sizeof updated);
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    json_array_append_new(items,
                          json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "product_id", l->product_id, "sku", l->sku,
                                    "name", l->name, "unit_price", (json_int_t)l->unit_price, "quantity",
                                    (json_int_t)l->quantity, "subtotal", (json_int_t)(l->unit_price * l->quantity)));
  }
  json_t *pay = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "id", o->payment_id, "status", o->pay_status, "amount",
                          (json_int_t)o->total, "captured", (json_int_t)o->captured, "refunded",
                          (json_int_t)o->refunded, "card_last4", o->card_last4);
  return json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:o, s:o, s:o, s:I, s:s, s:s}", "id", o->id, "customer_id",
                   o->customer_id, "status", o->status, "settled", settled(o), "currency", o->currency, "total",
                   (json_int_t)o->total, "items", items, "payment", pay, "failure_reason",
                   o->failure_reason[0] ? json_string(o->failure_reason) : json_null(), "version",
                   (json_int_t)o->version, "created_at", created, "updated_at", updated);
}

static void reply_order(sf_req *req, int status, const order *o) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", o->version);
  sf_req_reply_json(req, status, order_json(o));
  sf_req_set_header(req, "ETag", etag);
}

static int order_event(sf_tx *tx, const sf_req *req, const order *o, const char *type, json_t *data, sf_err *err) {
  return sf_req_event(tx, req, "order", o->id, type, data, err);
}

static int can_read_all(const sf_req *req) { return sf_edge_role_allows(req->principal.role, "orders:read"); }

/* ---- saga thread: queue, waiters ---- */

typedef struct waiter {
  sf_req *req;
  char order_id[48];
  int64_t deadline_ms;
  int status;           /* HTTP status of the reply once the order is settled */
  int unsettled_status; /* ... and when the wait ends first */
  struct waiter *next;
} waiter;

static struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stopping;
  char (*queue)[48];
  int qlen, qcap;
  char (*notify)[48]; /* orders whose results committed: answer their waiters */
  int nlen, ncap;
  int inflight; /* result commands submitted, not yet done */
  waiter *waiters;
  sf_pay_provider *provider;
  const sf_keyring *ring;
  char fault[64]; /* SERVICEFLOW_FAULT, for crash tests */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void push_locked(char (**arr)[48], int *len, int *cap, const char *id) {
  if (*len == *cap) {
    *cap = *cap ? *cap * 2 : 1024;
    *arr = realloc(*arr, (size_t)*cap * sizeof **arr);
    if (!*arr) abort();
  }
  snprintf((*arr)[(*len)++], sizeof **arr, "%s", id);
}

static void enqueue(const char *order_id) {
  pthread_mutex_lock(&S.mu);
  push_locked(&S.queue, &S.qlen, &S.qcap, order_id);
  pthread_cond_signal(&S.cv);
  pthread_mutex_unlock(&S.mu);
}

static void enqueue_hook(void *ud, const char *key) {
  (void)ud;
  enqueue(key);
}

/* Replies to a waiting request with the order's current state and resumes it. */
static void answer(waiter *w) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order *o = sf_calloc(1, sizeof *o);
  if (!db || load_order(db, w->order_id, o, 1, &err))
    sf_req_reply_problem(w->req, &err);
  else {
    reply_order(w->req, settled(o) ? w->status : w->unsettled_status, o);
    sf_req_set_header(w->req, "Preference-Applied", "wait");
  }
  order_clear(o);
  free(o);
  sf_req_resume_durable(w->req);
  free(w);
}

/* Takes (under the lock) the waiters of order_id, or all expired ones when
 * order_id is NULL, or every waiter when flush is set. */
static waiter *take_waiters(const char *order_id, int64_t now, int flush) {
  waiter *out = NULL;
  pthread_mutex_lock(&S.mu);
  for (waiter **pp = &S.waiters; *pp;) {
    waiter *w = *pp;
    int take = flush || (order_id ? strcmp(w->order_id, order_id) == 0 : w->deadline_ms <= now);
    if (take) {
      *pp = w->next;
      w->next = out;
      out = w;
    } else {
      pp = &w->next;
    }
  }
  pthread_mutex_unlock(&S.mu);
  return out;
}

static void answer_all(waiter *w) {
  while (w) {
    waiter *n = w->next;
    answer(w);
    w = n;
  }
}

static int order_settled_now(const char *id) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_db_prepare(db, "SELECT saga_step = 'done' FROM orders WHERE id = ?", &err) : NULL;
  if (!st) return 1;
  sf_stmt_text(st, 1, id);
  int v = sf_stmt_step(st, &err) == 1 ? (int)sf_stmt_col_int(st, 0) : 1;
  sf_stmt_reset(st);
  return v;
}

/* Parks req until order_id settles or wait_s pass. Returns 0 (and does not
 * take req) when the order is already settled or the saga is stopping. */
/* status: of the answer once settled; unsettled_status: when the wait ends first. */
static int park(sf_req *req, const char *order_id, int wait_s, int status, int unsettled_status) {
  if (wait_s <= 0) return 0;
  waiter *w = sf_calloc(1, sizeof *w);
  w->req = req;
  w->status = status;
  w->unsettled_status = unsettled_status;
  w->deadline_ms = sf_now_ms() + (int64_t)wait_s * 1000;
  snprintf(w->order_id, sizeof w->order_id, "%s", order_id);
  pthread_mutex_lock(&S.mu);
  if (!S.running || S.stopping) {
    pthread_mutex_unlock(&S.mu);
    free(w);
    return 0;
  }
  w->next = S.waiters;
  S.waiters = w;
  pthread_mutex_unlock(&S.mu);
  /* it may have settled before we were registered: answer now if we are still parked */
  if (order_settled_now(order_id)) answer_all(take_waiters(order_id, 0, 0));
  return 1;
}

/* Prefer: wait=N (RFC 7240); 0 when absent. 400 for a malformed one. */
static int read_prefer_wait(sf_req *req, int *out) {
  *out = 0;
  const char *h = sf_req_header(req, "Prefer");
  if (!h) return 1;
  const char *p = strstr(h, "wait=");
  if (!p) return 1;
  char *end;
  long v = strtol(p + 5, &end, 10);
  if (end == p + 5 || v < 0 || (*end && *end != ',' && *end != ';' && !isspace((unsigned char)*end))) {
    sf_err err = {0};
    sf_err_bad_request(&err, "Prefer: wait must be a number of seconds");
    sf_req_reply_problem(req, &err);
    return 0;
  }
  *out = v > MAX_WAIT_S ? MAX_WAIT_S : (int)v;
  return 1;
}

/* ---- saga: one batch of provider calls, then one command with the results ---- */

typedef struct {
  order o;
  sf_pay_op op;
  int skip;
  /* an authorization that succeeded is captured in the same round: both
   * provider calls are idempotent by key, so recording them together is safe */
  sf_pay_op capture;
  int has_capture;
} saga_item;

typedef struct {
  sf_cmd cmd;
  saga_item *items;
  int n;
  char (*next)[48]; /* orders to run again at once (next step) */
  int nnext;
  char (*touched)[48]; /* orders whose state changed (waiters to check) */
  int ntouched;
} saga_cmd;

static int retry_later(sf_tx *tx, order *o, sf_err *err) {
  int shift = o->saga_attempts < 8 ? o->saga_attempts : 8;
  int64_t delay = (int64_t)200 << shift; /* attempts count from 1: 0.4 s, 0.8 s, ... capped near 51 s */
  return sf_timer_set(tx, RETRY_KIND, o->id, tx->now_ms + delay, err);
}

static json_t *paid_event(const order *o, int64_t at_ms) {
  char day[32];
  sf_time_iso8601(at_ms, day, sizeof day);
  day[10] = '\0';
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++)
    json_array_append_new(items, json_pack("{s:s, s:I, s:I}", "product_id", o->lines[i].product_id, "quantity",
                                           (json_int_t)o->lines[i].quantity, "unit_price",
                                           (json_int_t)o->lines[i].unit_price));
  return json_pack("{s:I, s:s, s:s, s:o}", "total", (json_int_t)o->total, "currency", o->currency, "day", day, "items",
                   items);
}

/* Compensation end: give the stock back and cancel. */
/* The order's lines as inventory lines (they point into o). */
static int inv_lines(const order *o, sf_inv_line *out) {
  for (int i = 0; i < o->nlines; i++) out[i] = (sf_inv_line){o->lines[i].product_id, o->lines[i].quantity};
  return o->nlines;
}

/* Orders placed before direct holds kept their stock in a reservation. */
static int release_stock(sf_tx *tx, const order *o, sf_err *err) {
  if (o->reservation_id[0]) return sf_inv_release(tx, NULL, o->reservation_id, "order_cancelled", err);
  sf_inv_line l[MAX_LINES];
  return sf_inv_unhold(tx, l, inv_lines(o, l), err);
}

static int sell_stock(sf_tx *tx, const order *o, sf_err *err) {
  if (o->reservation_id[0]) return sf_inv_commit(tx, NULL, o->reservation_id, err);
  sf_inv_line l[MAX_LINES];
  return sf_inv_sell(tx, l, inv_lines(o, l), err);
}

static int cancel_order(sf_tx *tx, order *o, const char *reason, sf_err *err) {
  if (release_stock(tx, o, err)) return -1;
  snprintf(o->status, sizeof o->status, "cancelled");
  snprintf(o->saga_step, sizeof o->saga_step, "done");
  snprintf(o->failure_reason, sizeof o->failure_reason, "%s", reason);
  if (save_order(tx, o, err)) return -1;
  return order_event(tx, NULL, o, "order.cancelled", json_pack("{s:s}", "reason", reason), err);
}

/* The capture result (also right after an authorization in the same round). */
static int apply_capture(sf_tx *tx, order *o, const sf_pay_op *op, int *next, sf_err *err) {
  int rc;
  const char *outcome = sf_pay_outcome_name(op->outcome);
  if (op->outcome == SF_PAY_OK) {
    o->captured = o->total;
    snprintf(o->pay_status, sizeof o->pay_status, "captured");
    snprintf(o->status, sizeof o->status, "paid");
    snprintf(o->saga_step, sizeof o->saga_step, "done");
    o->saga_attempts = 0;
    rc = sell_stock(tx, o, err);
    if (!rc) rc = save_order(tx, o, err);
    if (!rc) rc = order_event(tx, NULL, o, "payment.captured", json_pack("{s:I}", "amount", (json_int_t)o->total), err);
    if (!rc) rc = order_event(tx, NULL, o, "order.paid", paid_event(o, tx->now_ms), err);
  } else if ((op->outcome == SF_PAY_TRANSIENT || op->outcome == SF_PAY_UNAVAILABLE) &&
             o->saga_attempts + 1 < MAX_PAYMENT_ATTEMPTS) {
    o->saga_attempts++;
    rc = save_order(tx, o, err);
    if (!rc)
      rc = order_event(
          tx, NULL, o, "payment.retry_scheduled",
          json_pack("{s:s, s:i, s:s}", "step", "capture", "attempt", o->saga_attempts, "message", op->message), err);
    if (!rc) rc = retry_later(tx, o, err);
  } else {
    /* compensate: void the authorization, then release and cancel */
    snprintf(o->saga_step, sizeof o->saga_step, "void");
    o->saga_attempts = 0;
    snprintf(o->failure_reason, sizeof o->failure_reason, "capture_failed");
    rc = save_order(tx, o, err);
    if (!rc)
      rc = order_event(tx, NULL, o, "payment.capture_failed",
                       json_pack("{s:s, s:s}", "outcome", outcome, "message", op->message), err);
    *next = 1;
  }
  return rc;
}

static int apply_result(sf_tx *tx, saga_item *it, saga_cmd *c, sf_err *err) {
  order *cur = sf_calloc(1, sizeof *cur);
  int rc = load_order(tx->db, it->o.id, cur, 1, err);
  if (rc || strcmp(cur->saga_step, it->o.saga_step) != 0 || cur->version != it->o.version) {
    /* gone or changed meanwhile (say, shipped while a refund was running):
     * this result is stale. A step still open runs again at once; its
     * provider call repeats under the same key and returns the same answer. */
    if (!rc && strcmp(cur->saga_step, "done") != 0) snprintf(c->next[c->nnext++], sizeof c->next[0], "%s", cur->id);
    order_clear(cur);
    free(cur);
    return rc == -404 ? 0 : rc;
  }
  order *o = cur;
  const sf_pay_op *op = &it->op;
  int next = 0;
  const char *outcome = sf_pay_outcome_name(op->outcome);
  if (strcmp(o->saga_step, "authorize") == 0) {
    if (op->outcome == SF_PAY_OK) {
      snprintf(o->auth_ref, sizeof o->auth_ref, "%s", op->ref);
      snprintf(o->pay_status, sizeof o->pay_status, "authorized");
      snprintf(o->saga_step, sizeof o->saga_step, "capture");
      o->saga_attempts = 0;
      rc = order_event(tx, NULL, o, "payment.authorized",
                       json_pack("{s:I, s:s}", "amount", (json_int_t)o->total, "auth_ref", op->ref), err);
      if (!rc && it->has_capture)
        rc = apply_capture(tx, o, &it->capture, &next, err);
      else if (!rc) {
        rc = save_order(tx, o, err);
        next = 1;
      }
    } else if (op->outcome == SF_PAY_TRANSIENT && o->saga_attempts + 1 < MAX_PAYMENT_ATTEMPTS) {
      o->saga_attempts++;
      rc = save_order(tx, o, err);
      if (!rc)
        rc = order_event(
            tx, NULL, o, "payment.retry_scheduled",
            json_pack("{s:s, s:i, s:s}", "step", "authorize", "attempt", o->saga_attempts, "message", op->message),
            err);
      if (!rc) rc = retry_later(tx, o, err);
    } else {
      snprintf(o->pay_status, sizeof o->pay_status, "failed");
      rc = order_event(tx, NULL, o, "payment.failed",
                       json_pack("{s:s, s:s, s:s}", "step", "authorize", "outcome", outcome, "message", op->message),
                       err);
      if (!rc)
        rc = cancel_order(tx, o,
                          (op->outcome == SF_PAY_TRANSIENT || op->outcome == SF_PAY_UNAVAILABLE) ? "payment_unavailable"
                          : op->outcome == SF_PAY_INSUFFICIENT                                   ? "insufficient_funds"
                                                                                                 : "payment_declined",
                          err);
    }
  } else if (strcmp(o->saga_step, "capture") == 0) {
    rc = apply_capture(tx, o, op, &next, err);
  } else if (strcmp(o->saga_step, "void") == 0) {
    if (op->outcome == SF_PAY_OK || op->outcome == SF_PAY_DECLINED) {
      /* declined = nothing left to void (e.g. the authorization lapsed) */
      snprintf(o->pay_status, sizeof o->pay_status, "voided");
      rc = order_event(tx, NULL, o, "payment.voided", json_pack("{s:s}", "outcome", outcome), err);
      if (!rc) rc = cancel_order(tx, o, "capture_failed", err);
    } else {
      o->saga_attempts++;
      rc = save_order(tx, o, err);
      if (!rc) rc = retry_later(tx, o, err);
    }
  } else if (strcmp(o->saga_step, "refund") == 0) {
    if (op->outcome == SF_PAY_OK) {
      o->refunded += o->refund_pending;
      int full = o->refunded >= o->captured;
      snprintf(o->pay_status, sizeof o->pay_status, full ? "refunded" : "partially_refunded");
      if (full) snprintf(o->status, sizeof o->status, "refunded");
      int64_t amount = o->refund_pending;
      o->refund_pending = 0;
      snprintf(o->saga_step, sizeof o->saga_step, "done");
      o->saga_attempts = 0;
      rc = save_order(tx, o, err);
      if (!rc)
        rc = order_event(tx, NULL, o, "payment.refunded",
                         json_pack("{s:I, s:I, s:b}", "amount", (json_int_t)amount, "refunded_total",
                                   (json_int_t)o->refunded, "full", full),
                         err);
      if (!rc && full)
        rc = order_event(tx, NULL, o, "order.refunded", json_pack("{s:I}", "amount", (json_int_t)o->refunded), err);
    } else if (op->outcome == SF_PAY_TRANSIENT || op->outcome == SF_PAY_UNAVAILABLE) {
      o->saga_attempts++;
      rc = save_order(tx, o, err);
      if (!rc) rc = retry_later(tx, o, err);
    } else {
      int64_t amount = o->refund_pending;
      o->refund_pending = 0;
      snprintf(o->saga_step, sizeof o->saga_step, "done");
      rc = save_order(tx, o, err);
      if (!rc)
        rc = order_event(tx, NULL, o, "payment.refund_failed",
                         json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "message", op->message), err);
    }
  }
  if (!rc) {
    snprintf(c->touched[c->ntouched++], sizeof c->touched[0], "%s", o->id);
    if (next) snprintf(c->next[c->nnext++], sizeof c->next[0], "%s", o->id);
  }
  order_clear(cur);
  free(cur);
  return rc;
}

/* Each result in its own savepoint: one bad order cannot fail the batch.
 * A result the storage could not take (disk full) fails the whole command,
 * which the writer runs again until it is recorded (retry_storage): the
 * provider has acted, so its answer must not be lost. */
static int saga_run(sf_cmd *cmd, sf_tx *tx, sf_err *err) {
  saga_cmd *c = (saga_cmd *)cmd;
  c->nnext = c->ntouched = 0; /* from the start on every attempt */
  for (int i = 0; i < c->n; i++) {
    if (c->items[i].skip) continue;
    int nnext = c->nnext, ntouched = c->ntouched;
    sf_tx_mark mark;
    if (sf_tx_savepoint(tx, &mark, err)) return -1;
    sf_err ierr = {0};
    if (apply_result(tx, &c->items[i], c, &ierr) == 0) {
      if (sf_tx_release(tx, err)) return -1;
      continue;
    }
    if (sf_writer_retryable(&ierr)) { /* the writer rolls the command back (the transaction may be gone) */
      *err = ierr;
      return -1;
    }
    if (sf_tx_rollback(tx, &mark, err)) return -1;
    c->nnext = nnext;
    c->ntouched = ntouched;
    sf_log_error("saga step failed", "\"order\":\"%s\",\"step\":\"%s\",\"detail\":\"%s\"", c->items[i].o.id,
                 c->items[i].o.saga_step, ierr.detail);
    /* the order stays at its step; try again later */
    if (sf_timer_set(tx, RETRY_KIND, c->items[i].o.id, tx->now_ms + 1000, err)) return -1;
  }
  return 0;
}

static void fault_point(const char *name);

/* On the completion thread after the results commit: queue the next steps and
 * let the saga thread answer the waiters of the orders that changed. */
static void saga_done(sf_cmd *cmd, int rc) {
  saga_cmd *c = (saga_cmd *)cmd;
  if (rc) sf_log_error("saga batch failed", "\"detail\":\"%s\"", c->cmd.err.detail);
  if (c->nnext) fault_point("after_authorized_commit");
  pthread_mutex_lock(&S.mu);
  for (int i = 0; i < c->nnext; i++) push_locked(&S.queue, &S.qlen, &S.qcap, c->next[i]);
  for (int i = 0; i < c->ntouched; i++) push_locked(&S.notify, &S.nlen, &S.ncap, c->touched[i]);
  S.inflight--;
  pthread_cond_signal(&S.cv);
  pthread_mutex_unlock(&S.mu);
  free(c->items);
  free(c->next);
  free(c->touched);
  free(c);
}

/* The provider call continues the trace of the request that last acted on
 * the order (placed it, cancelled it, asked for a refund). */
static void order_trace(sf_db *db, const char *id, char *out, size_t cap) {
  char stream[64];
  sf_err ignored = {0};
  snprintf(stream, sizeof stream, "order-%s", id);
  sf_ev_stream_traceparent(db, stream, out, cap, &ignored); /* none: the call starts a trace */
}

/* Reads the orders, builds one provider operation per order at a provider step. */
static int prepare(saga_item *it, sf_db *db) {
  sf_err err = {0};
  if (load_order(db, it->o.id, &it->o, 0, &err)) return 0;
  order *o = &it->o;
  sf_pay_op *op = &it->op;
  memset(op, 0, sizeof *op);
  snprintf(op->currency, sizeof op->currency, "%s", o->currency);
  snprintf(op->ref, sizeof op->ref, "%s", o->auth_ref);
  order_trace(db, o->id, op->traceparent, sizeof op->traceparent);
  if (strcmp(o->saga_step, "authorize") == 0) {
    op->kind = SF_PAY_AUTHORIZE;
    op->amount = o->total;
    snprintf(op->key, sizeof op->key, "%s:authorize", o->id);
    sf_stmt *st = sf_db_prepare(db, "SELECT card_sealed FROM orders WHERE id = ?", &err);
    if (!st) return 0;
    sf_stmt_text(st, 1, o->id);
    char *card = NULL;
    if (sf_stmt_step(st, &err) == 1 && sf_stmt_col_text(st, 0))
      card = sf_unseal(S.ring, sf_stmt_col_text(st, 0), o->id, &err);
    sf_stmt_reset(st);
    snprintf(op->card, sizeof op->card, "%s", card ? card : "");
    if (card) {
      sodium_memzero(card, strlen(card));
      free(card);
    }
  } else if (strcmp(o->saga_step, "capture") == 0) {
    op->kind = SF_PAY_CAPTURE;
    op->amount = o->total;
    snprintf(op->key, sizeof op->key, "%s:capture", o->id);
  } else if (strcmp(o->saga_step, "void") == 0) {
    op->kind = SF_PAY_VOID;
    snprintf(op->key, sizeof op->key, "%s:void", o->id);
  } else if (strcmp(o->saga_step, "refund") == 0) {
    op->kind = SF_PAY_REFUND;
    op->amount = o->refund_pending;
    /* same request -> same key; a later refund has a different refunded total */
    snprintf(op->key, sizeof op->key, "%s:refund:%" PRId64 ":%" PRId64, o->id, o->refunded, o->refund_pending);
  } else {
    return 0; /* done */
  }
  return 1;
}

/* Crash injection for the recovery tests: SERVICEFLOW_FAULT names a point
 * where the process dies as if killed (no cleanup, nothing flushed). */
static void fault_point(const char *name) {
  if (S.fault[0] && strcmp(S.fault, name) == 0) {
    sf_log_error("fault injected: exiting", "\"point\":\"%s\"", name);
    _exit(86);
  }
}

static void run_batch(char (*ids)[48], int n) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  if (!db) return;
  saga_cmd *c = sf_calloc(1, sizeof *c);
  c->items = sf_calloc((size_t)n, sizeof *c->items);
  c->next = sf_calloc((size_t)n, sizeof *c->next);
  c->touched = sf_calloc((size_t)n, sizeof *c->touched);
  sf_pay_op *ops = sf_calloc((size_t)n, sizeof *ops);
  int nops = 0;
  for (int i = 0; i < n; i++) {
    snprintf(c->items[i].o.id, sizeof c->items[i].o.id, "%s", ids[i]);
    c->items[i].skip = !prepare(&c->items[i], db);
    if (!c->items[i].skip) ops[nops++] = c->items[i].op;
  }
  c->n = n;
  /* the provider acts on what was read: only on commits that are on disk */
  if (nops) sf_writer_barrier();
  if (nops) {
    S.provider->run(S.provider->self, ops, nops);
    for (int i = 0, k = 0; i < n; i++)
      if (!c->items[i].skip) c->items[i].op = ops[k++];
    /* capture what was just authorized, in one more provider batch */
    int ncap = 0;
    for (int i = 0; i < n; i++) {
      saga_item *it = &c->items[i];
      if (it->skip || it->op.kind != SF_PAY_AUTHORIZE || it->op.outcome != SF_PAY_OK) continue;
      fault_point("after_provider_authorize");
      sf_pay_op *cap = &ops[ncap++];
      memset(cap, 0, sizeof *cap);
      cap->kind = SF_PAY_CAPTURE;
      cap->amount = it->o.total;
      snprintf(cap->currency, sizeof cap->currency, "%s", it->o.currency);
      snprintf(cap->ref, sizeof cap->ref, "%s", it->op.ref);
      snprintf(cap->key, sizeof cap->key, "%s:capture", it->o.id);
      memcpy(cap->traceparent, it->op.traceparent, sizeof cap->traceparent);
    }
    if (ncap) {
      S.provider->run(S.provider->self, ops, ncap);
      fault_point("after_provider_capture");
      for (int i = 0, k = 0; i < n; i++) {
        saga_item *it = &c->items[i];
        if (it->skip || it->op.kind != SF_PAY_AUTHORIZE || it->op.outcome != SF_PAY_OK) continue;
        it->capture = ops[k++];
        it->has_capture = 1;
      }
    }
    for (int i = 0; i < nops; i++) sodium_memzero(ops[i].card, sizeof ops[i].card);
    for (int i = 0; i < n; i++) sodium_memzero(c->items[i].op.card, sizeof c->items[i].op.card);
  }
  /* settled orders that were merely looked at may have waiters too */
  for (int i = 0; i < n; i++)
    if (c->items[i].skip && order_settled_now(ids[i])) answer_all(take_waiters(ids[i], 0, 0));
  free(ops);
  if (!nops) {
    free(c->items);
    free(c->next);
    free(c->touched);
    free(c);
    return;
  }
  /* Pipelined: the results commit while this thread already calls the
   * provider for the next batch; saga_done queues the next steps. */
  c->cmd.run = saga_run;
  c->cmd.done = saga_done;
  c->cmd.retry_storage = 1;
  pthread_mutex_lock(&S.mu);
  S.inflight++;
  pthread_mutex_unlock(&S.mu);
  if (sf_writer_submit(&c->cmd)) {
    sf_log_error("saga batch not submitted", "\"detail\":\"writer stopping\"");
    pthread_mutex_lock(&S.mu);
    S.inflight--;
    pthread_mutex_unlock(&S.mu);
    free(c->items);
    free(c->next);
    free(c->touched);
    free(c);
  }
}

static void answer_notified(void) {
  pthread_mutex_lock(&S.mu);
  int n = S.nlen;
  char(*ids)[48] = S.notify;
  S.notify = NULL;
  S.nlen = S.ncap = 0;
  pthread_mutex_unlock(&S.mu);
  for (int i = 0; i < n; i++)
    if (order_settled_now(ids[i])) answer_all(take_waiters(ids[i], 0, 0));
  free(ids);
}

static void *saga_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-saga");
  char(*batch)[48] = sf_calloc(SAGA_BATCH, sizeof *batch);
  for (;;) {
    pthread_mutex_lock(&S.mu);
    if (S.qlen == 0 && S.nlen == 0 && !S.stopping) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50 * 1000000L;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&S.cv, &S.mu, &ts);
    }
    if (S.stopping) {
      pthread_mutex_unlock(&S.mu);
      break;
    }
    /* take up to a batch, without duplicates */
    int n = 0, used = 0;
    for (; used < S.qlen && n < SAGA_BATCH; used++) {
      int dup = 0;
      for (int j = 0; j < n && !dup; j++) dup = strcmp(batch[j], S.queue[used]) == 0;
      if (!dup) memcpy(batch[n++], S.queue[used], sizeof batch[0]);
    }
    if (used) memmove(S.queue, S.queue + used, (size_t)(S.qlen - used) * sizeof *S.queue);
    S.qlen -= used;
    pthread_mutex_unlock(&S.mu);
    if (n) run_batch(batch, n);
    answer_notified();
    answer_all(take_waiters(NULL, sf_now_ms(), 0));
  }
  free(batch);
  return NULL;
}

/* Durable retry timer: puts the order back on the saga queue after commit. */
static int retry_timer(sf_tx *tx, const char *ref, sf_err *err) {
  (void)err;
  sf_tx_after_commit(tx, enqueue_hook, NULL, ref);
  return 0;
}

void sf_orders_timers(void) { sf_timer_register(RETRY_KIND, retry_timer); }

int sf_orders_start(const sf_config *cfg, sf_err *err) {
  char path[600];
  if (strcmp(cfg->payment_provider, "http") == 0) {
    S.provider = sf_pay_http_open(cfg, err);
  } else if (strcmp(cfg->payment_provider, "sandbox") == 0) {
    snprintf(path, sizeof path, "%s/sandbox-payments.db", cfg->data_dir);
    S.provider = sf_pay_sandbox_open(path, err);
  } else {
    return sf_err_invalid(err, "payment_provider", "must be \"sandbox\" or \"http\"");
  }
  if (!S.provider) return -1;
  S.ring = sf_edge_keyring();
  const char *fault = getenv("SERVICEFLOW_FAULT");
  snprintf(S.fault, sizeof S.fault, "%s", fault ? fault : "");
  S.stopping = 0;
  S.qlen = 0;
  /* resume every unfinished saga */
  sf_db *db = sf_db_reader(err);
  sf_stmt *st = db ? sf_db_prepare(db, "SELECT id FROM orders WHERE saga_step <> 'done'", err) : NULL;
  if (!st) return -1;
  int rc, resumed = 0;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    enqueue(sf_stmt_col_text(st, 0));
    resumed++;
  }
  sf_stmt_reset(st);
  if (rc < 0) return -1;
  if (resumed) sf_log_info("resuming order sagas", "\"orders\":%d", resumed);
  if (pthread_create(&S.thread, NULL, saga_main, NULL) != 0)
    return sf_err_internal(err, "cannot start the saga thread");
  pthread_mutex_lock(&S.mu);
  S.running = 1;
  pthread_mutex_unlock(&S.mu);
  return 0;
}

void sf_orders_stop(void) {
  if (!S.running) return;
  pthread_mutex_lock(&S.mu);
  S.stopping = 1;
  pthread_cond_signal(&S.cv);
  pthread_mutex_unlock(&S.mu);
  pthread_join(S.thread, NULL);
  /* results still committing: let them land (the writer is still running) */
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&S.mu);
    int busy = S.inflight;
    pthread_mutex_unlock(&S.mu);
    if (!busy) break;
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  answer_notified();
  answer_all(take_waiters(NULL, 0, 1)); /* unfinished ones resume on the next start */
  pthread_mutex_lock(&S.mu);
  S.running = 0;
  pthread_mutex_unlock(&S.mu);
  S.provider->close(S.provider->self);
  free(S.provider);
  S.provider = NULL;
  free(S.queue);
  S.queue = NULL;
  S.qlen = S.qcap = 0;
  free(S.notify);
  S.notify = NULL;
  S.nlen = S.ncap = 0;
}

/* ---- POST /orders ---- */

typedef struct {
  int nlines;
  struct {
    char product_id[48];
    int64_t quantity;
    int64_t snapshot_price; /* from a cart: the price the customer saw */
  } lines[MAX_LINES];
  char cart_id[48]; /* placing from a cart: lines are read in the command */
  char card_last4[8];
  char *card_sealed; /* sealed on the HTTP thread, bound to the order id */
  int wait_s;
  int deferred; /* Prefer: wait without Idempotency-Key: reply built later */
  char order_id[48];
  int placed;
} place_input;

static void free_place(void *d) {
  place_input *in = d;
  free(in->card_sealed);
  free(in);
}

static int place_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  place_input *in = data;
  order *o = sf_calloc(1, sizeof *o);
  int rc = 0;
  snprintf(o->id, sizeof o->id, "%s", in->order_id);
  sf_id_new("pay", o->payment_id, sizeof o->payment_id);
  o->lines = sf_calloc((size_t)in->nlines, sizeof *o->lines);
  snprintf(o->customer_id, sizeof o->customer_id, "%s", req->principal.user_id);
  snprintf(o->status, sizeof o->status, "pending");
  snprintf(o->saga_step, sizeof o->saga_step, "authorize");
  snprintf(o->pay_status, sizeof o->pay_status, "pending");
  snprintf(o->card_last4, sizeof o->card_last4, "%s", in->card_last4);
  o->version = 1;
  o->created_at = o->updated_at = tx->now_ms;
  if (in->cart_id[0]) {
    sf_cart_line cl[SF_CART_MAX_LINES];
    int ncl = 0;
    if ((rc = sf_cart_for_checkout(tx->db, req, in->cart_id, cl, &ncl, err))) {
      order_clear(o);
      free(o);
      return rc;
    }
    free(o->lines);
    o->lines = sf_calloc((size_t)ncl, sizeof *o->lines);
    in->nlines = ncl;
    for (int i = 0; i < ncl; i++) {
      memcpy(in->lines[i].product_id, cl[i].product_id, sizeof in->lines[i].product_id); /* both 48 */
      in->lines[i].quantity = cl[i].quantity;
      in->lines[i].snapshot_price = cl[i].unit_price;
    }
  }
  /* price snapshot */
  int price_changed = 0;
  for (int i = 0; i < in->nlines; i++) {
    sf_product_ref p;
    sf_err perr = {0};
    char field[40];
    snprintf(field, sizeof field, "items[%d].product_id", i);
    int prc = sf_catalog_product_ref(tx->db, in->lines[i].product_id, &p, &perr);
    if (prc == -404 || (prc == 0 && strcmp(p.status, "active") != 0)) {
      sf_err_field_add(err, field, "no such product for sale");
      continue;
    }
    if (prc) {
      order_clear(o);
      free(o);
      return sf_err_internal(err, "%s", perr.detail);
    }
    if (!o->currency[0])
      snprintf(o->currency, sizeof o->currency, "%s", p.currency);
    else if (strcmp(o->currency, p.currency) != 0)
      sf_err_field_add(err, field, "is priced in %s; one order has one currency (%s)", p.currency, o->currency);
    if (in->cart_id[0] && p.price != in->lines[i].snapshot_price) {
      price_changed = 1;
      sf_err_field_add(err, field, "price changed from %" PRId64 " to %" PRId64 "; update the cart line to accept it",
                       in->lines[i].snapshot_price, p.price);
    }
    order_line *l = &o->lines[o->nlines++];
    snprintf(l->product_id, sizeof l->product_id, "%s", p.id);
    snprintf(l->sku, sizeof l->sku, "%s", p.sku);
    snprintf(l->name, sizeof l->name, "%s", p.name);
    l->unit_price = p.price;
    l->quantity = in->lines[i].quantity;
    o->total += p.price * l->quantity;
  }
  if (err->nfields) {
    order_clear(o);
    free(o);
    if (price_changed)
      return sf_err_set(err, 409, "price-changed", "Prices changed",
                        "prices changed since the items were added to the cart; nothing was ordered");
    return sf_err_set(err, 422, "validation", "Validation failed", "some items cannot be ordered");
  }
  sf_inv_line inv[MAX_LINES];
  inv_lines(o, inv);
  /* the order holds the stock itself until it is paid (sold) or cancelled;
   * order.placed records the hold */
  rc = sf_inv_hold(tx, inv, o->nlines, err);
  sf_stmt *st = NULL;
  if (!rc &&
      !(st = sf_db_prepare(tx->db,
                           "INSERT INTO orders(id, customer_id, status, saga_step, currency, total, reservation_id,"
                           " card_sealed, card_last4, version, created_at, updated_at)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                           err)))
    rc = -500;
  if (!rc) {
    sf_stmt_text(st, 1, o->id);
    sf_stmt_text(st, 2, o->customer_id);
    sf_stmt_text(st, 3, o->status);
    sf_stmt_text(st, 4, o->saga_step);
    sf_stmt_text(st, 5, o->currency);
    sf_stmt_int(st, 6, o->total);
    sf_stmt_text(st, 7, o->reservation_id);
    sf_stmt_text(st, 8, in->card_sealed);
    sf_stmt_text(st, 9, o->card_last4);
    sf_stmt_int(st, 10, o->version);
    sf_stmt_int(st, 11, o->created_at);
    sf_stmt_int(st, 12, o->updated_at);
    rc = sf_stmt_run(st, err);
  }
  for (int i = 0; !rc && i < o->nlines; i++) {
    st = sf_db_prepare(tx->db,
                       "INSERT INTO order_lines(order_id, line, product_id, sku, name, unit_price, quantity)"
                       " VALUES(?,?,?,?,?,?,?)",
                       err);
    if (!st) {
      rc = -500;
      break;
    }
    sf_stmt_text(st, 1, o->id);
    sf_stmt_int(st, 2, i);
    sf_stmt_text(st, 3, o->lines[i].product_id);
    sf_stmt_text(st, 4, o->lines[i].sku);
    sf_stmt_text(st, 5, o->lines[i].name);
    sf_stmt_int(st, 6, o->lines[i].unit_price);
    sf_stmt_int(st, 7, o->lines[i].quantity);
    rc = sf_stmt_run(st, err);
  }
  if (!rc && !(st = sf_db_prepare(
                   tx->db,
                   "INSERT INTO payments(id, order_id, provider, status, amount, currency, created_at, updated_at)"
                   " VALUES(?,?,?,?,?,?,?,?)",
                   err)))
    rc = -500;
  if (!rc) {
    sf_stmt_text(st, 1, o->payment_id);
    sf_stmt_text(st, 2, o->id);
    sf_stmt_text(st, 3, S.provider ? S.provider->name : "none");
    sf_stmt_text(st, 4, o->pay_status);
    sf_stmt_int(st, 5, o->total);
    sf_stmt_text(st, 6, o->currency);
    sf_stmt_int(st, 7, tx->now_ms);
    sf_stmt_int(st, 8, tx->now_ms);
    rc = sf_stmt_run(st, err);
  }
  if (!rc) {
    json_t *items = json_array();
    for (int i = 0; i < o->nlines; i++)
      /* name: the line is a snapshot, and verify rebuilds order_lines from this event */
      json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:I, s:I}", "product_id", o->lines[i].product_id, "sku",
                                             o->lines[i].sku, "name", o->lines[i].name, "unit_price",
                                             (json_int_t)o->lines[i].unit_price, "quantity",
                                             (json_int_t)o->lines[i].quantity));
    rc = order_event(tx, req, o, "order.placed",
                     json_pack("{s:s, s:s, s:I, s:o, s:s, s:s}", "customer_id", o->customer_id, "currency", o->currency,
                               "total", (json_int_t)o->total, "items", items, "reservation_id", o->reservation_id,
                               "card_last4", o->card_last4),
                     err);
  }
  if (!rc && in->cart_id[0]) rc = sf_cart_checked_out(tx, req, in->cart_id, o->id, err);
  if (!rc) {
    sf_tx_after_commit(tx, enqueue_hook, NULL, o->id);
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/orders/%s", o->id);
    /* with Prefer: wait the body is written when the order settles (or the
     * wait ends); it is built now only when it must be stored for an
     * Idempotency-Key replay */
    if (in->deferred)
      sf_req_reply(req, 201, NULL, NULL, 0);
    else
      reply_order(req, 201, o);
    sf_req_add_header(req, "Location", loc);
    in->placed = 1;
  }
  order_clear(o);
  free(o);
  return rc;
}

static int place_committed(sf_req *req, void *data) {
  place_input *in = data;
  if (!in->placed) return 0;
  if (park(req, in->order_id, in->wait_s, 201, 201)) return 1;
  if (in->deferred) { /* not parked (shutting down): answer with what is committed */
    sf_err err = {0};
    sf_db *db = sf_db_reader(&err);
    order o = {0};
    if (!db || load_order(db, in->order_id, &o, 1, &err))
      sf_req_reply_problem(req, &err);
    else
      reply_order(req, 201, &o);
    order_clear(&o);
  }
  return 0;
}

static const sf_json_field k_place[] = {
    {"items", SF_JSON_ARRAY, 0, 0, 0},
    {"cart_id", SF_JSON_STRING, 0, 1, 47},
    {"payment", SF_JSON_OBJECT, 1, 0, 0},
    {0},
};
static const sf_json_field k_checkout[] = {
    {"payment", SF_JSON_OBJECT, 1, 0, 0},
    {0},
};

/* POST /orders ({items} or {cart_id}) and POST /carts/{id}/checkout
 * (cart_path set) place an order the same way. */
static void place(sf_req *req, const char *cart_path) {
  int wait_s;
  if (!read_prefer_wait(req, &wait_s)) return;
  json_t *b = sf_in_body(req, cart_path ? k_checkout : k_place);
  if (!b) return;
  sf_err err = {0};
  place_input *in = sf_calloc(1, sizeof *in);
  in->wait_s = wait_s;
  in->deferred = wait_s > 0 && !sf_req_header(req, "Idempotency-Key");
  json_t *items = json_object_get(b, "items");
  const char *cart_id = cart_path ? cart_path : sf_json_str(b, "cart_id");
  if (cart_id) {
    if (items) sf_err_field_add(&err, "items", "give items or cart_id, not both");
    if (strlen(cart_id) >= sizeof in->cart_id)
      sf_err_field_add(&err, "cart_id", "is not a cart id");
    else
      snprintf(in->cart_id, sizeof in->cart_id, "%s", cart_id);
  } else if (!items) {
    sf_err_field_add(&err, "items", "is required (or cart_id)");
  }
  if (!cart_id && items) {
    sf_in_item lines[MAX_LINES];
    in->nlines = sf_in_items(items, lines, MAX_LINES, &err);
    for (int k = 0; k < in->nlines; k++) {
      memcpy(in->lines[k].product_id, lines[k].product_id, sizeof lines[k].product_id);
      in->lines[k].quantity = lines[k].quantity;
    }
  }
  json_t *pay = json_object_get(b, "payment");
  const char *card = sf_json_str(pay, "card_number");
  if (json_object_size(pay) != 1 || !card)
    sf_err_field_add(&err, "payment", "must be {\"card_number\": string}");
  else if (!sf_pay_card_valid(card))
    sf_err_field_add(&err, "payment.card_number", "is not a valid card number (12-19 digits, Luhn)");
  else {
    sf_id_new("ord", in->order_id, sizeof in->order_id);
    snprintf(in->card_last4, sizeof in->card_last4, "%s", card + strlen(card) - 4);
    if (!(in->card_sealed = sf_seal(S.ring, card, in->order_id, &err))) {
      json_decref(b);
      free_place(in);
      sf_req_reply_problem(req, &err);
      return;
    }
  }
  json_decref(b);
  if (err.nfields) {
    free_place(in);
    sf_err_set(&err, 422, "validation", "Validation failed", "the request body has invalid fields");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_command_ex(req, place_exec, in, free_place, place_committed);
}

static void h_place(sf_req *req) { place(req, NULL); }

static void h_checkout(sf_req *req) {
  const char *id = sf_req_param(req, "id");
  place(req, id ? id : "");
}

/* ---- reads ---- */

static void h_get(sf_req *req) {
  int wait_s;
  if (!read_prefer_wait(req, &wait_s)) return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order o = {0};
  if (!db || load_order(db, sf_req_param(req, "id"), &o, 1, &err)) {
    sf_req_reply_problem(req, &err);
  } else if (strcmp(o.customer_id, req->principal.user_id) != 0 && !can_read_all(req)) {
    sf_err_not_found(&err, "order"); /* other customers' orders do not exist for you */
    sf_req_reply_problem(req, &err);
  } else if (!settled(&o) && wait_s > 0) {
    sf_req_suspend(req);
    if (!park(req, o.id, wait_s, 200, 200)) {
      reply_order(req, 200, &o);
      sf_req_resume_durable(req);
    }
  } else {
    reply_order(req, 200, &o);
  }
  order_clear(&o);
}

/* One statement per driving filter, each searching its own index from the
 * cursor on (the query-plan test checks them): a customer's orders, or one
 * status, or all. Binds: ?1 customer, ?2 status, ?3/?4 cursor, ?5 limit. */
static sf_stmt *list_statement(sf_db *db, const char *customer, const char *status, sf_err *err) {
  if (customer)
    return sf_db_prepare(db,
                         "SELECT " ORDER_COLS " FROM orders o JOIN payments p ON p.order_id = o.id"
                         " WHERE o.customer_id = ?1 AND (?2 IS NULL OR o.status = ?2)"
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

static void h_list(sf_req *req) {
  int limit;
  if (!sf_in_limit(req, &limit)) return;
  sf_err err = {0};
  int64_t c_at;
  char c_id[64];
  if (!sf_in_time_cursor(req, &c_at, c_id, sizeof c_id)) return;
  const char *status = sf_req_query(req, "status");
  static const char *const k_statuses[] = {"pending",   "paid",      "fulfilled", "shipped",
                                           "delivered", "cancelled", "refunded"};
  if (status) {
    int ok = 0;
    for (size_t i = 0; i < sizeof k_statuses / sizeof k_statuses[0]; i++) ok |= strcmp(status, k_statuses[i]) == 0;
    if (!ok) {
      sf_err_invalid(&err, "status",
                     "must be one of pending, paid, fulfilled, shipped, delivered, cancelled, refunded");
      sf_req_reply_problem(req, &err);
      return;
    }
  }
  const char *customer = can_read_all(req) ? sf_req_query(req, "customer_id") : req->principal.user_id;
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? list_statement(db, customer, status, &err) : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  if (customer) sf_stmt_text(st, 1, customer);
  if (customer || status) sf_stmt_text(st, 2, status);
  sf_stmt_int(st, 3, c_at);
  sf_stmt_text(st, 4, c_id);
  sf_stmt_int(st, 5, limit + 1);
  json_t *data = json_array();
  order *o = sf_arena_alloc(&req->arena, sizeof *o);
  int rc, n = 0;
  char next[96] = "";
  order *rows = malloc((size_t)(limit + 1) * sizeof *rows);
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    memset(o, 0, sizeof *o); /* rows carry no lines until load_lines below */
    row_order(st, o);
    if (n == limit) {
      snprintf(next, sizeof next, "%" PRId64 ":%s", rows[n - 1].created_at, rows[n - 1].id);
      break;
    }
    rows[n++] = *o;
  }
  sf_stmt_reset(st);
  for (int i = 0; i < n; i++) {
    if (rc >= 0 && load_lines(db, &rows[i], &err))
      rc = -1;
    else if (rc >= 0)
      json_array_append_new(data, order_json(&rows[i]));
    order_clear(&rows[i]);
  }
  free(rows);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

static void h_events(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order *o = sf_arena_alloc(&req->arena, sizeof *o);
  memset(o, 0, sizeof *o);
  if (!db || load_order(db, sf_req_param(req, "id"), o, 0, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  if (strcmp(o->customer_id, req->principal.user_id) != 0 && !can_read_all(req)) {
    sf_err_not_found(&err, "order");
    sf_req_reply_problem(req, &err);
    return;
  }
  char stream[96];
  snprintf(stream, sizeof stream, "order-%s", o->id);
  sf_req_reply_stream(req, db, stream);
}

/* ---- lifecycle (staff) and refunds ---- */

typedef struct {
  char id[48];
  const char *to;
  sf_if_match if_match;
  int64_t amount; /* refunds: 0 = the rest */
  int wait_s;
} transition_input;

static int transition_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  transition_input *in = data;
  order *o = sf_calloc(1, sizeof *o);
  int rc = load_order(tx->db, in->id, o, 1, err);
  if (!rc) rc = sf_precondition(in->if_match, o->version, err);
  static const struct {
    const char *from, *to, *event;
  } k_moves[] = {{"paid", "fulfilled", "order.fulfilled"},
                 {"fulfilled", "shipped", "order.shipped"},
                 {"shipped", "delivered", "order.delivered"}};
  if (!rc) {
    const char *event = NULL;
    for (size_t i = 0; i < sizeof k_moves / sizeof k_moves[0]; i++)
      if (strcmp(k_moves[i].to, in->to) == 0 && strcmp(k_moves[i].from, o->status) == 0) event = k_moves[i].event;
    if (!event)
      rc = sf_err_set(err, 409, "invalid-transition", "Invalid transition", "an order that is %s cannot become %s",
                      o->status, in->to);
    else {
      snprintf(o->status, sizeof o->status, "%s", in->to);
      rc = save_order(tx, o, err);
      if (!rc) rc = order_event(tx, req, o, event, NULL, err);
      if (!rc) reply_order(req, 200, o);
    }
  }
  order_clear(o);
  free(o);
  return rc;
}

static void transition(sf_req *req, const char *to) {
  sf_if_match if_match;
  if (!sf_in_if_match(req, &if_match)) return;
  if (req->body_len) {
    json_t *b = sf_in_body(req, (const sf_json_field[]){{0}});
    if (!b) return;
    json_decref(b);
  }
  transition_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  in->to = to;
  in->if_match = if_match;
  sf_req_command(req, transition_exec, in, free);
}

static void h_fulfil(sf_req *req) { transition(req, "fulfilled"); }
static void h_ship(sf_req *req) { transition(req, "shipped"); }
static void h_deliver(sf_req *req) { transition(req, "delivered"); }

static int refund_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  transition_input *in = data;
  order *o = sf_calloc(1, sizeof *o);
  int rc = load_order(tx->db, in->id, o, 1, err);
  if (!rc) rc = sf_precondition(in->if_match, o->version, err);
  if (!rc && (!settled(o) || o->captured == 0 || strcmp(o->status, "refunded") == 0))
    rc = sf_err_set(err, 409, "invalid-transition", "Invalid transition",
                    "only a paid order with money left to refund can be refunded (status %s)", o->status);
  int64_t left = o->captured - o->refunded;
  int64_t amount = in->amount ? in->amount : left;
  if (!rc && amount > left) rc = sf_err_invalid(err, "amount", "at most %" PRId64 " is left to refund", left);
  if (!rc) {
    o->refund_pending = amount;
    snprintf(o->saga_step, sizeof o->saga_step, "refund");
    o->saga_attempts = 0;
    rc = save_order(tx, o, err);
    if (!rc)
      rc = order_event(tx, req, o, "order.refund_requested", json_pack("{s:I}", "amount", (json_int_t)amount), err);
    if (!rc) {
      sf_tx_after_commit(tx, enqueue_hook, NULL, o->id);
      reply_order(req, 202, o);
    }
  }
  order_clear(o);
  free(o);
  return rc;
}

static int refund_committed(sf_req *req, void *data) {
  transition_input *in = data;
  /* a refund still running when the wait ends stays 202 Accepted */
  return req->status == 202 && park(req, in->id, in->wait_s, 200, 202);
}

static const sf_json_field k_refund[] = {
    {"amount", SF_JSON_INT, 0, 1, 1000000000000LL},
    {0},
};

static void h_refund(sf_req *req) {
  sf_if_match if_match;
  int wait_s;
  if (!sf_in_if_match(req, &if_match) || !read_prefer_wait(req, &wait_s)) return;
  int64_t amount = 0;
  if (req->body_len) {
    json_t *b = sf_in_body(req, k_refund);
    if (!b) return;
    amount = sf_json_int(b, "amount", 0);
    json_decref(b);
  }
  transition_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  in->if_match = if_match;
  in->amount = amount;
  in->wait_s = wait_s;
  sf_req_command_ex(req, refund_exec, in, free, refund_committed);
}

/* ---- read model: sales per product per day ---- */

static int sales_apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  if (strcmp(ev->type, "order.paid") != 0) return 0;
  json_t *d = json_loads(ev->data, 0, NULL);
  if (!d) return sf_err_internal(err, "order.paid event %" PRId64 " has bad data", ev->position);
  const char *day = sf_json_str(d, "day"), *cur = sf_json_str(d, "currency");
  json_t *items = json_object_get(d, "items");
  size_t i;
  json_t *it;
  int rc = 0;
  json_array_foreach(items, i, it) {
    sf_stmt *st = sf_db_prepare(tx->db,
                                "INSERT INTO sales_daily(day, product_id, quantity, revenue, currency, orders)"
                                " VALUES(?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT(day, product_id, currency) DO UPDATE SET"
                                " quantity = quantity + ?3, revenue = revenue + ?4, orders = orders + 1",
                                err);
    if (!st) {
      rc = -1;
      break;
    }
    int64_t q = sf_json_int(it, "quantity", 0), p = sf_json_int(it, "unit_price", 0);
    sf_stmt_text(st, 1, day ? day : "");
    sf_stmt_text(st, 2, sf_json_str(it, "product_id"));
    sf_stmt_int(st, 3, q);
    sf_stmt_int(st, 4, q * p);
    sf_stmt_text(st, 5, cur ? cur : "");
    if ((rc = sf_stmt_run(st, err))) break;
  }
  json_decref(d);
  return rc;
}

static int sales_reset(sf_tx *tx, sf_err *err) { return sf_db_exec(tx->db, "DELETE FROM sales_daily", err); }

const sf_subscriber sf_sales_daily_subscriber = {
    .name = "sales_daily", .apply = sales_apply, .reset = sales_reset, .types = "order.paid"};

/* YYYY-MM-DD with a plausible month and day. */
static int is_day(const char *s) {
  int y, m, d;
  char tail;
  return strlen(s) == 10 && s[4] == '-' && s[7] == '-' && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
         m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void h_sales(sf_req *req) {
  sf_err err = {0};
  const char *from = sf_req_query(req, "from"), *to = sf_req_query(req, "to");
  if (from && !is_day(from)) sf_err_field_add(&err, "from", "must be a date YYYY-MM-DD");
  if (to && !is_day(to)) sf_err_field_add(&err, "to", "must be a date YYYY-MM-DD");
  if (err.nfields) {
    sf_err_set(&err, 422, "validation", "Validation failed", "the query has invalid parameters");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_db_prepare(db,
                                   "SELECT day, product_id, quantity, revenue, currency, orders FROM sales_daily"
                                   " WHERE day >= coalesce(?1, '') AND day <= coalesce(?2, '9999')"
                                   " ORDER BY day DESC, revenue DESC LIMIT 1000",
                                   &err)
                   : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_stmt_text(st, 1, from);
  sf_stmt_text(st, 2, to);
  json_t *data = json_array();
  int rc;
  while ((rc = sf_stmt_step(st, &err)) == 1)
    json_array_append_new(data,
                          json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "day", sf_stmt_col_text(st, 0), "product_id",
                                    sf_stmt_col_text(st, 1), "quantity", (json_int_t)sf_stmt_col_int(st, 2), "revenue",
                                    (json_int_t)sf_stmt_col_int(st, 3), "currency", sf_stmt_col_text(st, 4), "orders",
                                    (json_int_t)sf_stmt_col_int(st, 5)));
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

/* ---- routes ---- */

#define ORDER_REF "{\"$ref\":\"#/components/schemas/Order\"}"

void sf_orders_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/orders", h_place, SF_AUTH_USER, NULL, 0, "orders",
       "Place an order from items or from a cart: reserves stock and starts the payment saga "
       "(Prefer: wait=N waits for the outcome)",
       "{\"type\":\"object\",\"required\":[\"payment\"],\"additionalProperties\":false,"
       "\"oneOf\":[{\"required\":[\"items\"]},{\"required\":[\"cart_id\"]}],\"properties\":{"
       "\"cart_id\":{\"type\":\"string\"},"
       "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":50,\"items\":{\"type\":\"object\","
       "\"required\":[\"product_id\",\"quantity\"],\"additionalProperties\":false,\"properties\":{"
       "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}}},"
       "\"payment\":{\"type\":\"object\",\"required\":[\"card_number\"],\"additionalProperties\":false,"
       "\"properties\":{\"card_number\":{\"type\":\"string\",\"pattern\":\"^[0-9]{12,19}$\"}}}}}",
       ORDER_REF, 201, 0, .statuses = "404 409", .headers = "Prefer"},
      {"POST", "/api/v1/carts/{id}/checkout", h_checkout, SF_AUTH_USER, NULL, 0, "carts",
       "Check out a cart: places an order from its lines at their snapshot prices (409 price-changed "
       "when the catalog moved; Prefer: wait=N as for POST /orders)",
       "{\"type\":\"object\",\"required\":[\"payment\"],\"additionalProperties\":false,\"properties\":{"
       "\"payment\":{\"type\":\"object\",\"required\":[\"card_number\"],\"additionalProperties\":false,"
       "\"properties\":{\"card_number\":{\"type\":\"string\",\"pattern\":\"^[0-9]{12,19}$\"}}}}}",
       ORDER_REF, 201, 0, .statuses = "409", .headers = "Prefer"},
      {"GET", "/api/v1/orders", h_list, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "orders",
       "List orders, newest first: your own, or all with orders:read (?status=, ?customer_id=)", NULL,
       SF_LIST_SCHEMA(ORDER_REF), 200, 0, .query = "status customer_id"},
      {"GET", "/api/v1/orders/{id}", h_get, SF_AUTH_USER, NULL, 0, "orders",
       "Get an order (Prefer: wait=N waits until it is settled)", NULL, ORDER_REF, 200, 0, .headers = "Prefer"},
      {"GET", "/api/v1/orders/{id}/events", h_events, SF_AUTH_USER, NULL, 0, "orders",
       "The order's history (events of stream order-{id})", NULL,
       SF_LIST_SCHEMA("{\"$ref\":\"#/components/schemas/Event\"}"), 200, 0},
      {"POST", "/api/v1/orders/{id}/fulfil", h_fulfil, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "paid -> fulfilled (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/ship", h_ship, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "fulfilled -> shipped (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/deliver", h_deliver, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH,
       "orders", "shipped -> delivered (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/refunds", h_refund, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "Refund a paid order, fully or in part (202; Prefer: wait=N waits for the provider)",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
       "\"amount\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"minor units; default: all that is left\"}}}",
       ORDER_REF, 202, 0, .statuses = "200 409", .headers = "Prefer"},
      {"GET", "/api/v1/reports/sales-daily", h_sales, SF_AUTH_PERMISSION, "orders:read", 0, "orders",
       "Units and revenue per product per day (sales_daily projection; ?from=&to= as YYYY-MM-DD)", NULL,
       SF_LIST_SCHEMA("{\"type\":\"object\",\"required\":[\"day\",\"product_id\",\"quantity\",\"revenue\","
                      "\"currency\",\"orders\"],\"properties\":{\"day\":{\"type\":\"string\",\"format\":\"date\"},"
                      "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\"},"
                      "\"revenue\":{\"type\":\"integer\"},\"currency\":{\"type\":\"string\"},"
                      "\"orders\":{\"type\":\"integer\"}}}"),
       200, 0, .query = "from:date to:date"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
