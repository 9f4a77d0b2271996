/* The order aggregate's shared pieces: its JSON form, the result that
 * carries it (with its ETag), the events on its stream, its inventory lines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/store.h"
#include "services/orders/internal.h"

void order_clear(order *o) {
  free(o->lines);
  o->lines = NULL;
  o->nlines = 0;
}

int order_settled(const order *o) { return strcmp(o->saga_step, "done") == 0; }

static json_t *lines_json(const order *o) {
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    json_array_append_new(items,
                          json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "product_id", l->product_id, "sku", l->sku,
                                    "name", l->name, "unit_price", (json_int_t)l->unit_price, "quantity",
                                    (json_int_t)l->quantity, "subtotal", (json_int_t)(l->unit_price * l->quantity)));
  }
  return items;
}

json_t *order_json(const order *o) {
  char created[32], updated[32];
  sf_time_iso8601(o->created_at, created, sizeof created);
  sf_time_iso8601(o->updated_at, updated, sizeof updated);
  json_t *pay = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "id", o->payment_id, "status", o->pay_status, "amount",
                          (json_int_t)o->total, "captured", (json_int_t)o->captured, "refunded",
                          (json_int_t)o->refunded, "card_last4", o->card_last4);
  return json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:o, s:o, s:o, s:I, s:s, s:s}", "id", o->id, "customer_id",
                   o->customer_id, "status", o->status, "settled", order_settled(o), "currency", o->currency, "total",
                   (json_int_t)o->total, "items", lines_json(o), "payment", pay, "failure_reason",
                   o->failure_reason[0] ? json_string(o->failure_reason) : json_null(), "version",
                   (json_int_t)o->version, "created_at", created, "updated_at", updated);
}

void order_result(sf_result *out, int status, const order *o) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", o->version);
  sf_result_json(out, status, order_json(o));
  sf_result_header(out, "ETag", etag);
}

int order_event(sf_tx *tx, const sf_actor *who, const order *o, const char *type, json_t *data, sf_err *err) {
  return sf_ev_emit(tx, who, "order", o->id, type, data, err);
}

int order_inv_lines(const order *o, sf_inv_line *out) {
  for (int i = 0; i < o->nlines; i++) out[i] = (sf_inv_line){o->lines[i].product_id, o->lines[i].quantity};
  return o->nlines;
}
