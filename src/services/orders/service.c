/* The orders service's descriptor (services/service.h), with the payments table (its saga's state). */
#include "services/service.h"

#include "services/orders/orders.h"

/* this folder's migrations.c */
extern const sf_db_step sf_orders_migrations[];

/* this folder's repo.c (its other functions are in internal.h, kept out of
 * the descriptor's way) */
int ord_repo_any_card_sealed(sf_db *db, sf_err *err);

/* card numbers are sealed with seal.keys */
static int holds_keyed(sf_db *db, sf_key_file key, sf_err *err) {
  return key == SF_KEY_SEAL ? ord_repo_any_card_sealed(db, err) : 0;
}

static const sf_edge_grant k_permissions[] = {
    {"orders:read", "staff admin"},
    {"orders:write", "staff admin"},
    {0},
};

/* the sales projection (durable) and the saga's wake-up (live: it follows
 * each order's commit; unfinished orders are recovered from their rows at
 * start) */
static const sf_subscriber *const k_subscribers[] = {&sf_sales_daily_subscriber, &sf_orders_saga_subscriber, NULL};

/* this folder's topics.c */
extern const sf_topic sf_orders_topics[];

const sf_service sf_orders_service = {
    .name = "orders",
    .routes = sf_orders_routes,
    .permissions = k_permissions,
    .migrations = sf_orders_migrations,
    .subscribers = k_subscribers,
    .timers = sf_orders_timers,
    .start = sf_orders_start, /* the payment provider and the saga thread */
    .stop = sf_orders_stop,
    .holds_keyed = holds_keyed,
    .phase = SF_SERVICE_ACTIVE,
    .topics = sf_orders_topics,
};
