/* Inventory's half of `serviceflow verify`: stock and reservations rebuilt
 * from their events (streams "stock-<product_id>" and "reservation-<id>")
 * and compared with the stock, reservations and reservation_lines rows.
 *
 * The fold mirrors the commands in inventory.c:
 *   stock.adjusted         on_hand += delta
 *   reservation.created    reserved += quantity per line; reservation active
 *   reservation.released   reserved -= quantity per line; released / expired
 *   reservation.committed  on_hand and reserved -= quantity; committed
 * Orders hold their stock themselves (no reservation; stream "order-<id>"):
 *   order.placed           reserved += quantity per item (when it names no
 *                          reservation_id: older orders used a reservation)
 *   order.paid             on_hand and reserved -= quantity of the hold
 *   order.cancelled        reserved -= quantity of the hold
 * and every one of them bumps the stock row's version once per product it
 * touches, so the version is compared too (it catches a lost or doubled
 * update that happens to leave the quantities right). */
#include "services/inventory/inventory.h"
#include "services/inventory/repo.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "events/verify.h"

typedef struct {
  int64_t on_hand, reserved, version;
  int64_t events; /* events that touched this product's stock */
  int row;        /* a stock row was seen */
} stock_fold;

typedef struct {
  int64_t product; /* slot in the products index */
  int64_t quantity;
  int matched; /* a reservation_lines row matched it */
} line_fold;

typedef struct {
  int created; /* reservation.created seen */
  int row;     /* a reservations row was seen */
  const char *status;
  int64_t owner;   /* slot in the strings index */
  int64_t expires; /* slot in the strings index (ISO time), -1 = no expiry */
  int64_t created_at;
  int64_t first_line, nlines;
} rsv_fold;

typedef struct {
  sf_vindex products, reservations, strings, holds;
  stock_fold *stock;
  int64_t stock_cap;
  rsv_fold *rsv;
  int64_t rsv_cap;
  rsv_fold *hold; /* stock held by orders, by order id */
  int64_t hold_cap;
  line_fold *lines;
  int64_t nlines, lines_cap;
  sf_verify_report *rs, *rr;
} inv_fold;

static int64_t product_slot(inv_fold *f, const char *product_id) {
  int64_t s = sf_vindex_add(&f->products, product_id, NULL);
  sf_verify_grow((void **)&f->stock, &f->stock_cap, s, sizeof *f->stock);
  return s;
}

static int64_t reservation_slot(inv_fold *f, const char *id) {
  int64_t s = sf_vindex_add(&f->reservations, id, NULL);
  sf_verify_grow((void **)&f->rsv, &f->rsv_cap, s, sizeof *f->rsv);
  return s;
}

/* Moves every line of a reservation: reserved by d_reserved, on hand by d_on_hand (per unit). */
static void move_lines(inv_fold *f, const rsv_fold *r, int d_on_hand, int d_reserved) {
  for (int64_t i = 0; i < r->nlines; i++) {
    const line_fold *l = &f->lines[r->first_line + i];
    stock_fold *s = &f->stock[l->product];
    s->on_hand += d_on_hand * l->quantity;
    s->reserved += d_reserved * l->quantity;
    s->version++;
    s->events++;
  }
}

static void on_adjusted(inv_fold *f, int64_t pos, const char *pid, json_t *d) {
  int64_t slot = product_slot(f, pid); /* may move f->stock: index after */
  stock_fold *s = &f->stock[slot];
  s->on_hand += sf_json_int(d, "delta", 0);
  s->version++;
  s->events++;
  /* the event also records the result; a difference means the state row the
   * command started from had already drifted from the events */
  json_t *oh = json_object_get(d, "on_hand");
  if (json_is_integer(oh) && json_integer_value(oh) != s->on_hand)
    sf_verify_mismatch(f->rs,
                       "stock %s: stock.adjusted at position %" PRId64 " records on_hand %lld, events fold to %" PRId64,
                       pid, pos, (long long)json_integer_value(oh), s->on_hand);
}

/* Reads the items of a reservation.created or order.placed event into r. */
static void take_lines(inv_fold *f, rsv_fold *r, json_t *d) {
  r->first_line = f->nlines;
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(d, "items"), i, it) {
    const char *pid = sf_json_str(it, "product_id");
    if (!pid) continue;
    sf_verify_grow((void **)&f->lines, &f->lines_cap, f->nlines, sizeof *f->lines);
    int64_t p = product_slot(f, pid);
    f->lines[f->nlines++] = (line_fold){.product = p, .quantity = sf_json_int(it, "quantity", 0)};
    r->nlines++;
  }
}

static void on_created(inv_fold *f, int64_t pos, const char *rid, json_t *d, int64_t at) {
  int64_t slot = reservation_slot(f, rid);
  if (f->rsv[slot].created) {
    sf_verify_mismatch(f->rr, "reservation %s: created again at position %" PRId64, rid, pos);
    return;
  }
  const char *owner = sf_json_str(d, "owner"), *exp = sf_json_str(d, "expires_at");
  rsv_fold r = {.created = 1, .status = "active", .created_at = at};
  r.owner = sf_vindex_add(&f->strings, owner ? owner : "", NULL);
  r.expires = exp ? sf_vindex_add(&f->strings, exp, NULL) : -1;
  take_lines(f, &r, d);
  f->rsv[slot] = r;
  move_lines(f, &f->rsv[slot], 0, 1);
}

/* released (cause "expired" or anything else) and committed both end an active reservation. */
static void on_ended(inv_fold *f, int64_t pos, const char *rid, const char *type, json_t *d) {
  int64_t slot = reservation_slot(f, rid);
  rsv_fold *r = &f->rsv[slot];
  if (!r->created || strcmp(r->status, "active") != 0) {
    sf_verify_mismatch(f->rr, "reservation %s: %s at position %" PRId64 " while %s", rid, type, pos,
                       r->created ? r->status : "never created");
    return;
  }
  if (strcmp(type, "reservation.committed") == 0) {
    r->status = "committed";
    move_lines(f, r, -1, -1);
  } else {
    const char *cause = sf_json_str(d, "cause");
    r->status = cause && strcmp(cause, "expired") == 0 ? "expired" : "released";
    move_lines(f, r, 0, -1);
  }
}

static void on_order(inv_fold *f, int64_t pos, const char *oid, const char *type, json_t *d) {
  int added = 0;
  if (strcmp(type, "order.placed") == 0) {
    const char *rid = sf_json_str(d, "reservation_id");
    if (rid && *rid) return; /* held through a reservation: its own events count */
    int64_t slot = sf_vindex_add(&f->holds, oid, &added);
    sf_verify_grow((void **)&f->hold, &f->hold_cap, slot, sizeof *f->hold);
    if (!added) {
      sf_verify_mismatch(f->rs, "order %s: placed again at position %" PRId64, oid, pos);
      return;
    }
    rsv_fold r = {.created = 1, .status = "held"};
    take_lines(f, &r, d);
    f->hold[slot] = r;
    move_lines(f, &f->hold[slot], 0, 1);
    return;
  }
  int64_t slot = sf_vindex_find(&f->holds, oid);
  if (slot < 0) return; /* an order that held stock through a reservation */
  rsv_fold *r = &f->hold[slot];
  if (strcmp(r->status, "held") != 0) {
    sf_verify_mismatch(f->rs, "order %s: %s at position %" PRId64 " after its stock was already %s", oid, type, pos,
                       r->status);
    return;
  }
  int paid = strcmp(type, "order.paid") == 0;
  r->status = paid ? "sold" : "released";
  move_lines(f, r, paid ? -1 : 0, -1);
}

static int fold_events(sf_db *db, inv_fold *f, sf_err *err) {
  sf_stmt *st = sf_inv_repo_verify_events(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    int64_t pos = sf_stmt_col_int(st, 0);
    const char *stream = sf_stmt_col_text(st, 1), *type = sf_stmt_col_text(st, 2);
    int is_stock = strncmp(stream, "stock-", 6) == 0, is_order = strncmp(stream, "order-", 6) == 0;
    int known = is_order   ? 1
                : is_stock ? strcmp(type, "stock.adjusted") == 0
                           : strcmp(type, "reservation.created") == 0 || strcmp(type, "reservation.released") == 0 ||
                                 strcmp(type, "reservation.committed") == 0;
    if (!known) continue; /* not part of the state (none today) */
    json_t *d = json_loads(sf_stmt_col_text(st, 3), 0, NULL);
    if (!d) {
      sf_verify_mismatch(is_stock || is_order ? f->rs : f->rr, "event at position %" PRId64 " (%s): unreadable data",
                         pos, type);
      continue;
    }
    if (is_order)
      on_order(f, pos, stream + 6, type, d);
    else if (is_stock)
      on_adjusted(f, pos, stream + 6, d);
    else if (strcmp(type, "reservation.created") == 0)
      on_created(f, pos, stream + 12, d, sf_stmt_col_int(st, 4));
    else
      on_ended(f, pos, stream + 12, type, d);
    json_decref(d);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

static int compare_stock(sf_db *db, inv_fold *f, sf_err *err) {
  /* every product counts, also those that never had stock */
  sf_stmt *st = sf_inv_repo_verify_products(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) product_slot(f, sf_stmt_col_text(st, 0));
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  st = sf_inv_repo_verify_stock(db, err);
  if (!st) return -1;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    const char *pid = sf_stmt_col_text(st, 0);
    int64_t slot = product_slot(f, pid);
    stock_fold *s = &f->stock[slot];
    s->row = 1;
    int64_t on_hand = sf_stmt_col_int(st, 1), reserved = sf_stmt_col_int(st, 2);
    if (!s->events) {
      sf_verify_mismatch(f->rs, "stock %s: state row (on_hand %" PRId64 ", reserved %" PRId64 ") has no events", pid,
                         on_hand, reserved);
      continue;
    }
    sf_verify_int(f->rs, "stock", pid, "on_hand", on_hand, s->on_hand);
    sf_verify_int(f->rs, "stock", pid, "reserved", reserved, s->reserved);
    sf_verify_int(f->rs, "stock", pid, "version", sf_stmt_col_int(st, 3), s->version);
  }
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  for (int64_t i = 0; i < f->products.n; i++) {
    const stock_fold *s = &f->stock[i];
    if (s->events && !s->row)
      sf_verify_mismatch(f->rs, "stock %s: no state row; events give on_hand %" PRId64 ", reserved %" PRId64,
                         sf_vindex_key(&f->products, i), s->on_hand, s->reserved);
  }
  f->rs->checked = f->products.n;
  return 0;
}

static int compare_reservations(sf_db *db, inv_fold *f, sf_err *err) {
  sf_verify_report *r = f->rr;
  int64_t orphans = 0;
  sf_stmt *st = sf_inv_repo_verify_reservations(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    const char *id = sf_stmt_col_text(st, 0);
    int64_t slot = sf_vindex_find(&f->reservations, id);
    rsv_fold *v = slot >= 0 ? &f->rsv[slot] : NULL;
    if (!v || !v->created) {
      orphans += !v;
      sf_verify_mismatch(r, "reservation %s: state row ('%s') has no reservation.created event", id,
                         sf_stmt_col_text(st, 2));
      continue;
    }
    v->row = 1;
    char exp[32] = "";
    int64_t exp_ms = sf_stmt_col_int(st, 3);
    if (exp_ms) sf_time_iso8601(exp_ms, exp, sizeof exp);
    sf_verify_str(r, "reservation", id, "status", sf_stmt_col_text(st, 2), v->status);
    sf_verify_str(r, "reservation", id, "owner", sf_stmt_col_text(st, 1), sf_vindex_key(&f->strings, v->owner));
    sf_verify_str(r, "reservation", id, "expires_at", exp,
                  v->expires >= 0 ? sf_vindex_key(&f->strings, v->expires) : "");
    sf_verify_int(r, "reservation", id, "created_at", sf_stmt_col_int(st, 4), v->created_at);
  }
  sf_stmt_reset(st);
  if (rc < 0) return rc;

  st = sf_inv_repo_verify_lines(db, err);
  if (!st) return -1;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    const char *id = sf_stmt_col_text(st, 0), *pid = sf_stmt_col_text(st, 1);
    int64_t slot = sf_vindex_find(&f->reservations, id);
    if (slot < 0 || !f->rsv[slot].row) continue; /* the reservation itself was reported */
    const rsv_fold *v = &f->rsv[slot];
    int64_t p = sf_vindex_find(&f->products, pid);
    line_fold *l = NULL;
    for (int64_t i = 0; p >= 0 && i < v->nlines && !l; i++)
      if (f->lines[v->first_line + i].product == p) l = &f->lines[v->first_line + i];
    if (!l) {
      sf_verify_mismatch(r, "reservation %s line %s: state row quantity %" PRId64 " vs events none", id, pid,
                         sf_stmt_col_int(st, 2));
      continue;
    }
    l->matched = 1;
    char what[96];
    snprintf(what, sizeof what, "line %s quantity", pid);
    sf_verify_int(r, "reservation", id, what, sf_stmt_col_int(st, 2), l->quantity);
  }
  sf_stmt_reset(st);
  if (rc < 0) return rc;

  for (int64_t i = 0; i < f->reservations.n; i++) {
    const rsv_fold *v = &f->rsv[i];
    const char *id = sf_vindex_key(&f->reservations, i);
    if (v->created && !v->row) {
      sf_verify_mismatch(r, "reservation %s: no state row; events say '%s'", id, v->status);
      continue;
    }
    for (int64_t k = 0; v->row && k < v->nlines; k++) {
      const line_fold *l = &f->lines[v->first_line + k];
      if (!l->matched)
        sf_verify_mismatch(r, "reservation %s line %s: no state row; events say quantity %" PRId64, id,
                           sf_vindex_key(&f->products, l->product), l->quantity);
    }
  }
  r->checked = f->reservations.n + orphans;
  return 0;
}

int sf_inv_verify(sf_db *db, sf_verify_report *stock, sf_verify_report *reservations, sf_err *err) {
  inv_fold f = {.rs = stock, .rr = reservations};
  int rc = fold_events(db, &f, err);
  if (!rc) rc = compare_stock(db, &f, err);
  if (!rc) rc = compare_reservations(db, &f, err);
  sf_vindex_free(&f.products);
  sf_vindex_free(&f.reservations);
  sf_vindex_free(&f.strings);
  sf_vindex_free(&f.holds);
  free(f.hold);
  free(f.stock);
  free(f.rsv);
  free(f.lines);
  return rc;
}
