/* The sales_daily read model: units and revenue per product per day, a
 * durable subscriber of order.paid (applied in the dispatcher's writer
 * commands, exactly once with its checkpoint). */
#include <inttypes.h>
#include <string.h>

#include "core/json.h"
#include "events/dispatch.h"
#include "services/orders/internal.h"
#include "services/orders/orders.h"

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
    int64_t q = sf_json_int(it, "quantity", 0), p = sf_json_int(it, "unit_price", 0);
    rc = ord_repo_sales_add(tx, day ? day : "", sf_json_str(it, "product_id"), q, q * p, cur ? cur : "", err);
    if (rc) break;
  }
  json_decref(d);
  return rc;
}

static int sales_reset(sf_tx *tx, sf_err *err) { return ord_repo_sales_reset(tx, err); }

const sf_subscriber sf_sales_daily_subscriber = {
    .name = "sales_daily", .apply = sales_apply, .reset = sales_reset, .types = "order.paid"};
