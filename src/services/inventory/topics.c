/* The inventory service's real-time topic (edge/stream.h): "stock:<product_id>",
 * for whoever may GET /api/v1/inventory/{product_id}: a product that is not
 * active does not exist for roles without inventory:write (the GET's 404).
 *
 * A subscriber gets the product's stock adjustments as they are (stream
 * stock-<id>) and, for every other move of its stock, a derived change that
 * says only what the GET would show change — on_hand, reserved, available:
 *
 *   stock.held      order.placed (an order holds its units), reservation.created
 *   stock.sold      order.paid, reservation.committed
 *   stock.released  order.cancelled (a declined card, a failed capture),
 *                   reservation.released (released or expired)
 *
 * Those events carry a customer, an address, amounts, a reservation's owner:
 * none of that reaches a stock subscriber. Each event names its products
 * (reservation.released/committed and order.cancelled since they carry
 * items; older ones map to nothing), so no database is read on sf-live. */
#include <stdio.h>
#include <string.h>

#include "services/catalog/catalog.h"
#include "services/inventory/repo.h"
#include "services/orders/orders.h"
#include "services/service.h"

static int stock_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  sf_product_ref p;
  if (!db || sf_catalog_product_ref(db, arg, &p, err)) return -1;
  if (strcmp(p.status, "active") != 0 && !sf_edge_role_allows(who->role, "inventory:write"))
    return sf_err_not_found(err, "product");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "stock:%s", arg);
  return 1;
}

enum { MOVE_NONE, MOVE_HELD, MOVE_SOLD, MOVE_RELEASED };

/* The move a reservation or order event records and its items ([{product_id,
 * quantity}], a new reference), or MOVE_NONE. */
static int stock_move(const sf_event *ev, json_t **items) {
  *items = NULL;
  if (strncmp(ev->stream, "order-", 6) == 0) {
    int m = sf_orders_stock_moved(ev, items);
    return m == SF_ORD_STOCK_HELD ? MOVE_HELD : m == SF_ORD_STOCK_SOLD ? MOVE_SOLD : m ? MOVE_RELEASED : MOVE_NONE;
  }
  if (strncmp(ev->stream, "reservation-", 12) != 0) return MOVE_NONE;
  int move = strcmp(ev->type, "reservation.created") == 0     ? MOVE_HELD
             : strcmp(ev->type, "reservation.committed") == 0 ? MOVE_SOLD
             : strcmp(ev->type, "reservation.released") == 0  ? MOVE_RELEASED
                                                              : MOVE_NONE;
  if (!move) return MOVE_NONE;
  json_t *d = json_loads(ev->data, 0, NULL);
  json_t *lines = json_object_get(d, "items");
  if (json_is_array(lines)) *items = json_incref(lines);
  json_decref(d);
  return *items ? move : MOVE_NONE;
}

static int stock_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  if (max < 1) return 0;
  if (strncmp(ev->stream, "stock-", 6) == 0) {
    snprintf(keys[0], SF_TOPIC_KEY_MAX, "stock:%s", ev->stream + 6);
    return 1;
  }
  json_t *items;
  if (!stock_move(ev, &items)) return 0;
  int n = 0;
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    const char *pid = json_string_value(json_object_get(it, "product_id"));
    if (!pid || n == max) continue;
    snprintf(keys[n], SF_TOPIC_KEY_MAX, "stock:%s", pid);
    int seen = 0; /* a product on two lines is one key */
    for (int k = 0; k < n && !seen; k++) seen = strcmp(keys[k], keys[n]) == 0;
    n += !seen;
  }
  json_decref(items);
  return n;
}

/* An adjustment goes as it is; any other move as the change of the
 * product's numbers (the quantities of its lines in the event). */
static int stock_derive(const sf_event *ev, const char *key, const char **type, json_t **data) {
  if (strncmp(ev->stream, "stock-", 6) == 0) return 0;
  json_t *items;
  int move = stock_move(ev, &items);
  if (!move || strncmp(key, "stock:", 6) != 0) {
    json_decref(items);
    return -1;
  }
  const char *pid = key + 6;
  json_int_t q = 0;
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    const char *p = json_string_value(json_object_get(it, "product_id"));
    if (p && strcmp(p, pid) == 0) q += json_integer_value(json_object_get(it, "quantity"));
  }
  json_decref(items);
  if (q <= 0) return -1;
  json_int_t on_hand = move == MOVE_SOLD ? -q : 0, reserved = move == MOVE_HELD ? q : -q;
  *type = move == MOVE_HELD ? "stock.held" : move == MOVE_SOLD ? "stock.sold" : "stock.released";
  *data = json_pack("{s:s, s:I, s:{s:I, s:I, s:I}}", "product_id", pid, "quantity", q, "delta", "on_hand", on_hand,
                    "reserved", reserved, "available", on_hand - reserved);
  return 1;
}

const sf_topic sf_inventory_topics[] = {
    {"stock", NULL, stock_resolve, stock_keys, stock_derive},
    {0},
};
