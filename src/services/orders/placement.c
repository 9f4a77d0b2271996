/* Placing an order (POST /orders, POST /carts/{id}/checkout), one writer
 * command: the lines (given, or read from the cart), a price snapshot from
 * the catalog, a stock hold (inventory), the order with its lines and its
 * payment row, event order.placed; the saga takes over after commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/carts/carts.h"
#include "services/catalog/catalog.h"
#include "services/orders/internal.h"

void ord_place_input_free(void *d) {
  ord_place_input *in = d;
  free(in->card_sealed);
  free(in);
}

static order *new_order(const sf_actor *who, const ord_place_input *in, int64_t now_ms) {
  order *o = sf_calloc(1, sizeof *o);
  snprintf(o->id, sizeof o->id, "%s", in->order_id);
  sf_id_new("pay", o->payment_id, sizeof o->payment_id);
  o->lines = sf_calloc((size_t)(in->nlines ? in->nlines : 1), sizeof *o->lines);
  snprintf(o->customer_id, sizeof o->customer_id, "%s", who->user_id ? who->user_id : "");
  snprintf(o->status, sizeof o->status, "pending");
  snprintf(o->saga_step, sizeof o->saga_step, "authorize");
  snprintf(o->pay_status, sizeof o->pay_status, "pending");
  snprintf(o->card_last4, sizeof o->card_last4, "%s", in->card_last4);
  o->version = 1;
  o->created_at = o->updated_at = now_ms;
  return o;
}

_Static_assert(sizeof((sf_cart_line *)0)->product_id == ORD_INPUT_ID_MAX, "a cart line's product id fits the input");

/* Placing from a cart: its lines (with the prices the customer saw) become
 * the input's lines. */
static int read_cart(const sf_actor *who, sf_db *db, ord_place_input *in, order *o, sf_err *err) {
  sf_cart_line cl[SF_CART_MAX_LINES];
  int ncl = 0;
  int rc = sf_cart_checkout_lines(db, who, in->cart_token, in->cart_id, cl, &ncl, err);
  if (rc) return rc;
  free(o->lines);
  o->lines = sf_calloc((size_t)(ncl ? ncl : 1), sizeof *o->lines);
  in->nlines = ncl;
  for (int i = 0; i < ncl; i++) {
    memcpy(in->lines[i].product_id, cl[i].product_id, sizeof in->lines[i].product_id);
    in->lines[i].quantity = cl[i].quantity;
    in->lines[i].snapshot_price = cl[i].unit_price;
  }
  return 0;
}

/* One line priced from the catalog; a problem with it is added to err as a
 * field. Returns < 0 only when the catalog cannot be read. */
static int price_line(sf_db *db, const ord_place_input *in, int i, order *o, int *price_changed, sf_err *err) {
  sf_product_ref p;
  sf_err perr = {0};
  char field[40];
  snprintf(field, sizeof field, "items[%d].product_id", i);
  int prc = sf_catalog_product_ref(db, in->lines[i].product_id, &p, &perr);
  if (prc == -404 || (prc == 0 && strcmp(p.status, "active") != 0)) {
    sf_err_field_add(err, field, "no such product for sale");
    return 0;
  }
  if (prc) return sf_err_internal(err, "%s", perr.detail);
  size_t idlen = strlen(p.id); /* catalog ids are sf_id_new ids, well under SF_ID_MAX */
  if (idlen >= SF_ID_MAX) return sf_err_internal(err, "product id %s is too long", p.id);
  if (!o->currency[0])
    snprintf(o->currency, sizeof o->currency, "%s", p.currency);
  else if (strcmp(o->currency, p.currency) != 0)
    sf_err_field_add(err, field, "is priced in %s; one order has one currency (%s)", p.currency, o->currency);
  if (in->cart_id[0] && p.price != in->lines[i].snapshot_price) {
    *price_changed = 1;
    sf_err_field_add(err, field, "price changed from %" PRId64 " to %" PRId64 "; update the cart line to accept it",
                     in->lines[i].snapshot_price, p.price);
  }
  order_line *l = &o->lines[o->nlines++];
  memcpy(l->product_id, p.id, idlen + 1);
  snprintf(l->sku, sizeof l->sku, "%s", p.sku);
  snprintf(l->name, sizeof l->name, "%s", p.name);
  l->unit_price = p.price;
  l->quantity = in->lines[i].quantity;
  o->total += p.price * l->quantity;
  return 0;
}

/* The price snapshot: 409 when a cart's prices moved, 422 for lines that
 * cannot be ordered. */
static int price_lines(sf_db *db, const ord_place_input *in, order *o, sf_err *err) {
  int price_changed = 0;
  for (int i = 0; i < in->nlines; i++)
    if (price_line(db, in, i, o, &price_changed, err)) return -1;
  if (!err->nfields) return 0;
  if (price_changed)
    return sf_err_set(err, 409, "price-changed", "Prices changed",
                      "prices changed since the items were added to the cart; nothing was ordered");
  return sf_err_set(err, 422, "validation", "Validation failed", "some items cannot be ordered");
}

static json_t *placed_event(const order *o) {
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++)
    /* name: the line is a snapshot, and verify rebuilds order_lines from this event */
    json_array_append_new(items,
                          json_pack("{s:s, s:s, s:s, s:I, s:I}", "product_id", o->lines[i].product_id, "sku",
                                    o->lines[i].sku, "name", o->lines[i].name, "unit_price",
                                    (json_int_t)o->lines[i].unit_price, "quantity", (json_int_t)o->lines[i].quantity));
  return json_pack("{s:s, s:s, s:I, s:o, s:s, s:s}", "customer_id", o->customer_id, "currency", o->currency, "total",
                   (json_int_t)o->total, "items", items, "reservation_id", o->reservation_id, "card_last4",
                   o->card_last4);
}

/* 201 with Location; with Prefer: wait the body is written when the order
 * settles (or the wait ends): it is built now only when it must be stored
 * for an Idempotency-Key replay. */
static void placed_result(const ord_place_input *in, const order *o, sf_result *out) {
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/orders/%s", o->id);
  if (in->deferred)
    sf_result_json(out, 201, NULL);
  else
    order_result(out, 201, o);
  sf_result_header(out, "Location", loc);
}

static int write_order(const sf_actor *who, sf_tx *tx, ord_place_input *in, order *o, sf_err *err) {
  sf_inv_line inv[ORD_MAX_LINES];
  order_inv_lines(o, inv);
  /* the order holds the stock itself until it is paid (sold) or cancelled;
   * order.placed records the hold */
  int rc = sf_inv_hold(tx, inv, o->nlines, err);
  if (!rc) rc = ord_repo_insert(tx, o, in->card_sealed, ord_saga_provider(), err);
  if (!rc) rc = order_event(tx, who, o, "order.placed", placed_event(o), err);
  if (!rc && in->cart_id[0]) rc = sf_cart_mark_checked_out(tx, who, in->cart_id, o->id, err);
  return rc;
}

int ord_place(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  ord_place_input *in = data;
  order *o = new_order(who, in, tx->now_ms);
  int rc = 0;
  if (in->cart_id[0]) rc = read_cart(who, tx->db, in, o, err);
  if (!rc) rc = price_lines(tx->db, in, o, err);
  if (!rc) rc = write_order(who, tx, in, o, err);
  if (!rc) { /* order.placed wakes the saga once committed (sf_orders_saga_subscriber) */
    placed_result(in, o, out);
    in->placed = 1;
  }
  order_clear(o);
  free(o);
  return rc;
}
