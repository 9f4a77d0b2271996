/* The catalog service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/catalog/catalog.h"

/* this folder's migrations.c */
extern const sf_db_step sf_catalog_migrations[];

static const sf_edge_grant k_permissions[] = {
    {"catalog:write", "staff admin"},
    {0},
};

/* the product cache */
static int start(const sf_config *cfg, sf_err *err) {
  sf_catalog_start();
  return 0;
}

const sf_service sf_catalog_service = {
    .name = "catalog",
    .routes = sf_catalog_routes,
    .permissions = k_permissions,
    .migrations = sf_catalog_migrations,
    .start = start,
    .stop = sf_catalog_stop,
    .phase = SF_SERVICE_MEMORY,
};
