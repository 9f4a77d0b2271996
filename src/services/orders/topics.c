/* The orders service's real-time topic (edge/stream.h): "order:<id>", the
 * events of stream order-<id> (order.*, payment.*), for whoever may
 * GET /api/v1/orders/{id}: its customer, or a role with orders:read. Anyone
 * else gets the GET's 404. And what an order event did to stock, for the
 * inventory's stock:<product> topic (sf_orders_stock_moved). */
#include <stdio.h>
#include <string.h>

#include "services/orders/internal.h"
#include "services/orders/orders.h"
#include "services/service.h"

static int order_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  order o = {0};
  if (!db || ord_repo_load(db, arg, &o, 0, err)) return -1;
  int mine = who->user_id && strcmp(o.customer_id, who->user_id) == 0;
  order_clear(&o);
  if (!mine && !sf_edge_role_allows(who->role, "orders:read")) return sf_err_not_found(err, "order");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "order:%s", arg);
  return 1;
}

static int order_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  if (max < 1 || strncmp(ev->stream, "order-", 6) != 0) return 0;
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "order:%s", ev->stream + 6);
  return 1;
}

const sf_topic sf_orders_topics[] = {
    {"order", NULL, order_resolve, order_keys},
    {0},
};

/* Which move an order event records, before reading its data. */
static int move_of(const char *type) {
  if (strcmp(type, "order.placed") == 0) return SF_ORD_STOCK_HELD;
  if (strcmp(type, "order.paid") == 0) return SF_ORD_STOCK_SOLD;
  if (strcmp(type, "order.cancelled") == 0) return SF_ORD_STOCK_RELEASED;
  return 0;
}

int sf_orders_stock_moved(const sf_event *ev, json_t **items) {
  *items = NULL;
  int move = strncmp(ev->stream, "order-", 6) == 0 ? move_of(ev->type) : 0;
  if (!move) return 0;
  json_t *d = json_loads(ev->data, 0, NULL);
  const char *rid = json_string_value(json_object_get(d, "reservation_id"));
  json_t *lines = json_object_get(d, "items");
  /* held through a reservation (placed, paid), or a cancellation that does not name its units */
  if ((rid && rid[0]) || !json_is_array(lines)) move = 0;
  if (move) *items = json_incref(lines);
  json_decref(d);
  return move;
}
