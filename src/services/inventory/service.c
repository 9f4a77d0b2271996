/* The inventory service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/inventory/inventory.h"

/* this folder's migrations.c */
extern const sf_db_step sf_inventory_migrations[];

static const sf_edge_grant k_permissions[] = {
    {"inventory:write", "staff admin"},
    {0},
};

/* this folder's topics.c */
extern const sf_topic sf_inventory_topics[];

const sf_service sf_inventory_service = {
    .name = "inventory",
    .routes = sf_inventory_routes,
    .permissions = k_permissions,
    .migrations = sf_inventory_migrations,
    .timers = sf_inventory_timers,
    .topics = sf_inventory_topics,
};
