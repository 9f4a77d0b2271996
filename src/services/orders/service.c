/* The orders service's descriptor (services/service.h), with the payments table (its saga's state). */
#include "services/service.h"

#include "services/orders/orders.h"

/* this folder's migrations.c */
extern const sf_db_step sf_orders_migrations[];

static const sf_edge_grant k_permissions[] = {
    {"orders:read", "staff admin"},
    {"orders:write", "staff admin"},
    {0},
};

static const sf_subscriber *const k_subscribers[] = {&sf_sales_daily_subscriber, NULL};

const sf_service sf_orders_service = {
    .name = "orders",
    .routes = sf_orders_routes,
    .permissions = k_permissions,
    .migrations = sf_orders_migrations,
    .subscribers = k_subscribers,
    .timers = sf_orders_timers,
    .start = sf_orders_start, /* the payment provider and the saga thread */
    .stop = sf_orders_stop,
    .phase = SF_SERVICE_ACTIVE,
};
