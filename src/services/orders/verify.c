/* Orders' half of `serviceflow verify`: every order rebuilt from its stream
 * "order-<id>" and compared with its orders, payments and order_lines rows.
 *
 * The fold mirrors steps.c, placement.c and lifecycle.c (status / payment status / saga step):
 *   order.placed            pending / pending / authorize; lines, total, ids
 *   payment.authorized      payment authorized, auth_ref; saga capture
 *   payment.captured        payment captured, captured = amount
 *   order.paid              paid; saga done
 *   payment.capture_failed  saga void, failure_reason capture_failed
 *   payment.voided          payment voided
 *   payment.failed          payment failed
 *   order.cancelled         cancelled; saga done, failure_reason = reason
 *   order.fulfilled|shipped|delivered  the status the type names
 *   order.refund_requested  refund_pending = amount; saga refund
 *   payment.refunded        refunded = refunded_total; payment refunded or
 *                           partially_refunded; saga done
 *   order.refunded          refunded
 *   payment.refund_failed   refund_pending 0; saga done
 * payment.retry_scheduled only counts attempts, which are not compared:
 * retries of the void and refund steps bump saga_attempts without an event. */
#include "services/orders/orders.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "services/orders/repo_verify.h"

typedef struct {
  int64_t product, sku, name; /* slots in the strings index; name -1: not recorded (older events) */
  int64_t unit_price, quantity;
  int matched; /* an order_lines row matched it */
} line_fold;

typedef struct {
  int placed; /* order.placed seen */
  int row;    /* an orders row was seen */
  char status[16], pay_status[24], saga_step[16], failure_reason[64];
  int64_t customer, currency, reservation, card_last4, auth_ref; /* string slots, -1 = none */
  int64_t total, captured, refunded, refund_pending, created_at;
  int64_t first_line, nlines;
} order_fold;

typedef struct {
  sf_vindex orders, strings;
  order_fold *o;
  int64_t o_cap;
  line_fold *lines;
  int64_t nlines, lines_cap;
  sf_verify_report *r;
} ord_fold;

static int64_t intern(ord_fold *f, const char *s) { return s ? sf_vindex_add(&f->strings, s, NULL) : -1; }

static const char *str(const ord_fold *f, int64_t slot) { return slot >= 0 ? sf_vindex_key(&f->strings, slot) : ""; }

#define SET(dst, v) snprintf(dst, sizeof dst, "%s", v)

static void on_placed(ord_fold *f, order_fold *o, json_t *d, int64_t at) {
  o->placed = 1;
  SET(o->status, "pending");
  SET(o->pay_status, "pending");
  SET(o->saga_step, "authorize");
  o->customer = intern(f, sf_json_str(d, "customer_id"));
  o->currency = intern(f, sf_json_str(d, "currency"));
  o->reservation = intern(f, sf_json_str(d, "reservation_id"));
  o->card_last4 = intern(f, sf_json_str(d, "card_last4"));
  o->auth_ref = -1;
  o->total = sf_json_int(d, "total", 0);
  o->created_at = at;
  o->first_line = f->nlines;
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(d, "items"), i, it) {
    sf_verify_grow((void **)&f->lines, &f->lines_cap, f->nlines, sizeof *f->lines);
    f->lines[f->nlines++] = (line_fold){.product = intern(f, sf_json_str(it, "product_id")),
                                        .sku = intern(f, sf_json_str(it, "sku")),
                                        .name = intern(f, sf_json_str(it, "name")),
                                        .unit_price = sf_json_int(it, "unit_price", 0),
                                        .quantity = sf_json_int(it, "quantity", 0)};
    o->nlines++;
  }
}

/* Types whose data the fold reads (the rest change state by their type alone). */
static int needs_data(const char *type) {
  static const char *const k[] = {"order.placed",    "payment.authorized",     "payment.captured",
                                  "order.cancelled", "order.refund_requested", "payment.refunded"};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
    if (strcmp(type, k[i]) == 0) return 1;
  return 0;
}

static void apply(ord_fold *f, const char *id, int64_t pos, const char *type, const char *data, int64_t at) {
  int64_t slot = sf_vindex_add(&f->orders, id, NULL);
  sf_verify_grow((void **)&f->o, &f->o_cap, slot, sizeof *f->o);
  order_fold *o = &f->o[slot];
  int placed = strcmp(type, "order.placed") == 0;
  if (placed == o->placed) {
    sf_verify_mismatch(f->r, "order %s: %s at position %" PRId64 " %s", id, type, pos,
                       placed ? "after order.placed" : "before order.placed");
    return;
  }
  json_t *d = NULL;
  if (needs_data(type) && !(d = json_loads(data, 0, NULL))) {
    sf_verify_mismatch(f->r, "order %s: %s at position %" PRId64 " has unreadable data", id, type, pos);
    return;
  }
  if (placed) {
    on_placed(f, o, d, at);
  } else if (strcmp(type, "payment.authorized") == 0) {
    SET(o->pay_status, "authorized");
    SET(o->saga_step, "capture");
    o->auth_ref = intern(f, sf_json_str(d, "auth_ref"));
  } else if (strcmp(type, "payment.captured") == 0) {
    SET(o->pay_status, "captured");
    o->captured = sf_json_int(d, "amount", o->total);
  } else if (strcmp(type, "order.paid") == 0) {
    SET(o->status, "paid");
    SET(o->saga_step, "done");
  } else if (strcmp(type, "payment.capture_failed") == 0) {
    SET(o->saga_step, "void");
    SET(o->failure_reason, "capture_failed");
  } else if (strcmp(type, "payment.voided") == 0) {
    SET(o->pay_status, "voided");
    /* after payment.void_pending the order was cancelled before the void */
    if (strcmp(o->status, "cancelled") == 0) SET(o->saga_step, "done");
  } else if (strcmp(type, "payment.void_pending") == 0) {
    SET(o->saga_step, "void");
  } else if (strcmp(type, "payment.failed") == 0) {
    SET(o->pay_status, "failed");
  } else if (strcmp(type, "order.cancelled") == 0) {
    const char *reason = sf_json_str(d, "reason");
    SET(o->status, "cancelled");
    SET(o->saga_step, "done");
    SET(o->failure_reason, reason ? reason : "");
  } else if (strcmp(type, "order.fulfilled") == 0) {
    SET(o->status, "fulfilled");
  } else if (strcmp(type, "order.shipped") == 0) {
    SET(o->status, "shipped");
  } else if (strcmp(type, "order.delivered") == 0) {
    SET(o->status, "delivered");
  } else if (strcmp(type, "order.refund_requested") == 0) {
    o->refund_pending = sf_json_int(d, "amount", 0);
    SET(o->saga_step, "refund");
  } else if (strcmp(type, "payment.refunded") == 0) {
    int64_t amount = sf_json_int(d, "amount", 0);
    o->refunded = sf_json_int(d, "refunded_total", o->refunded + amount);
    json_t *full = json_object_get(d, "full");
    int is_full = json_is_boolean(full) ? json_is_true(full) : o->refunded >= o->captured;
    SET(o->pay_status, is_full ? "refunded" : "partially_refunded");
    o->refund_pending = 0;
    SET(o->saga_step, "done");
  } else if (strcmp(type, "order.refunded") == 0) {
    SET(o->status, "refunded");
  } else if (strcmp(type, "payment.refund_failed") == 0) {
    o->refund_pending = 0;
    SET(o->saga_step, "done");
  }
  json_decref(d);
}

static int fold_events(sf_db *db, ord_fold *f, sf_err *err) {
  sf_stmt *st = sf_orders_repo_verify_events(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1)
    apply(f, sf_stmt_col_text(st, 1) + 6, sf_stmt_col_int(st, 0), sf_stmt_col_text(st, 2), sf_stmt_col_text(st, 3),
          sf_stmt_col_int(st, 4));
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

static void cmp_str(ord_fold *f, const char *id, const char *field, sf_stmt *st, int col, const char *events) {
  sf_verify_str(f->r, "order", id, field, sf_stmt_col_text(st, col), events);
}

static void cmp_int(ord_fold *f, const char *id, const char *field, sf_stmt *st, int col, int64_t events) {
  sf_verify_int(f->r, "order", id, field, sf_stmt_col_int(st, col), events);
}

static int compare_orders(sf_db *db, ord_fold *f, int64_t *orphans, sf_err *err) {
  sf_stmt *st = sf_orders_repo_verify_orders(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    const char *id = sf_stmt_col_text(st, 0);
    int64_t slot = sf_vindex_find(&f->orders, id);
    order_fold *o = slot >= 0 ? &f->o[slot] : NULL;
    if (!o || !o->placed) {
      *orphans += !o;
      sf_verify_mismatch(f->r, "order %s: state row ('%s') has no order.placed event", id, sf_stmt_col_text(st, 2));
      continue;
    }
    o->row = 1;
    cmp_str(f, id, "status", st, 2, o->status);
    cmp_str(f, id, "saga_step", st, 3, o->saga_step);
    cmp_str(f, id, "customer_id", st, 1, str(f, o->customer));
    cmp_str(f, id, "currency", st, 4, str(f, o->currency));
    cmp_int(f, id, "total", st, 5, o->total);
    cmp_str(f, id, "reservation_id", st, 6, str(f, o->reservation));
    cmp_str(f, id, "card_last4", st, 7, str(f, o->card_last4));
    cmp_int(f, id, "refund_pending", st, 8, o->refund_pending);
    cmp_str(f, id, "failure_reason", st, 9, o->failure_reason);
    cmp_int(f, id, "created_at", st, 10, o->created_at);
    if (sf_stmt_col_is_null(st, 11)) {
      sf_verify_mismatch(f->r, "order %s: no payments row", id);
      continue;
    }
    cmp_str(f, id, "payment status", st, 12, o->pay_status);
    cmp_int(f, id, "payment amount", st, 13, o->total);
    cmp_int(f, id, "payment captured", st, 14, o->captured);
    cmp_int(f, id, "payment refunded", st, 15, o->refunded);
    cmp_str(f, id, "payment auth_ref", st, 16, str(f, o->auth_ref));
    cmp_str(f, id, "payment currency", st, 17, str(f, o->currency));
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

static int compare_lines(sf_db *db, ord_fold *f, sf_err *err) {
  sf_stmt *st = sf_orders_repo_verify_lines(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    const char *id = sf_stmt_col_text(st, 0);
    int64_t slot = sf_vindex_find(&f->orders, id), n = sf_stmt_col_int(st, 1);
    if (slot < 0 || !f->o[slot].row) continue; /* the order itself was reported */
    const order_fold *o = &f->o[slot];
    if (n < 0 || n >= o->nlines) {
      sf_verify_mismatch(f->r, "order %s line %" PRId64 ": state row (%s x %" PRId64 ") not in order.placed", id, n,
                         sf_stmt_col_text(st, 2), sf_stmt_col_int(st, 6));
      continue;
    }
    line_fold *l = &f->lines[o->first_line + n];
    l->matched = 1;
    char field[64];
    snprintf(field, sizeof field, "line %" PRId64 " product_id", n);
    cmp_str(f, id, field, st, 2, str(f, l->product));
    snprintf(field, sizeof field, "line %" PRId64 " sku", n);
    cmp_str(f, id, field, st, 3, str(f, l->sku));
    if (l->name >= 0) {
      snprintf(field, sizeof field, "line %" PRId64 " name", n);
      cmp_str(f, id, field, st, 4, str(f, l->name));
    }
    snprintf(field, sizeof field, "line %" PRId64 " unit_price", n);
    cmp_int(f, id, field, st, 5, l->unit_price);
    snprintf(field, sizeof field, "line %" PRId64 " quantity", n);
    cmp_int(f, id, field, st, 6, l->quantity);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_orders_verify(sf_db *db, sf_verify_report *r, sf_err *err) {
  ord_fold f = {.r = r};
  int64_t orphans = 0;
  int rc = fold_events(db, &f, err);
  if (!rc) rc = compare_orders(db, &f, &orphans, err);
  if (!rc) rc = compare_lines(db, &f, err);
  for (int64_t i = 0; !rc && i < f.orders.n; i++) {
    const order_fold *o = &f.o[i];
    const char *id = sf_vindex_key(&f.orders, i);
    if (o->placed && !o->row) {
      sf_verify_mismatch(r, "order %s: no state row; events say '%s'", id, o->status);
      continue;
    }
    for (int64_t k = 0; o->row && k < o->nlines; k++)
      if (!f.lines[o->first_line + k].matched)
        sf_verify_mismatch(r, "order %s line %" PRId64 ": no state row; events say %s x %" PRId64, id, k,
                           str(&f, f.lines[o->first_line + k].product), f.lines[o->first_line + k].quantity);
  }
  r->checked = f.orders.n + orphans;
  sf_vindex_free(&f.orders);
  sf_vindex_free(&f.strings);
  free(f.o);
  free(f.lines);
  return rc;
}
