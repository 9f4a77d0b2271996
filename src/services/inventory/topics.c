/* The inventory service's real-time topic (edge/stream.h): "stock:<product_id>",
 * the stock events of a product (stream stock-<id>, and the reservations
 * that name it when they are made), for whoever may
 * GET /api/v1/inventory/{product_id}: a product that is not active does not
 * exist for roles without inventory:write (the GET's 404). */
#include <stdio.h>
#include <string.h>

#include "services/catalog/catalog.h"
#include "services/inventory/repo.h"
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

/* reservation.created names its products in data.items (no database read) */
static int reservation_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  json_t *d = json_loads(ev->data, 0, NULL);
  int n = 0;
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(d, "items"), i, it) {
    const char *pid = json_string_value(json_object_get(it, "product_id"));
    if (pid && n < max) snprintf(keys[n++], SF_TOPIC_KEY_MAX, "stock:%s", pid);
  }
  json_decref(d);
  return n;
}

static int stock_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  if (max < 1) return 0;
  if (strncmp(ev->stream, "stock-", 6) == 0) {
    snprintf(keys[0], SF_TOPIC_KEY_MAX, "stock:%s", ev->stream + 6);
    return 1;
  }
  return strcmp(ev->type, "reservation.created") == 0 ? reservation_keys(ev, keys, max) : 0;
}

const sf_topic sf_inventory_topics[] = {
    {"stock", NULL, stock_resolve, stock_keys},
    {0},
};
