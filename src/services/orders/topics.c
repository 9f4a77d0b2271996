/* The orders service's real-time topic (edge/stream.h): "order:<id>", the
 * events of stream order-<id> (order.*, payment.*), for whoever may
 * GET /api/v1/orders/{id}: its customer, or a role with orders:read. Anyone
 * else gets the GET's 404. */
#include <stdio.h>
#include <string.h>

#include "services/orders/internal.h"
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
