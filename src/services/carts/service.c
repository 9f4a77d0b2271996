/* The carts service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/carts/carts.h"

/* this folder's migrations.c */
extern const sf_db_step sf_carts_migrations[];

/* a guest cart is claimed at login (a hook of identity's); nothing to stop */
static int start(const sf_config *cfg, sf_err *err) {
  sf_carts_start();
  return 0;
}

const sf_service sf_carts_service = {
    .name = "carts",
    .routes = sf_carts_routes,
    .migrations = sf_carts_migrations,
    .start = start,
    .phase = SF_SERVICE_MEMORY,
};
