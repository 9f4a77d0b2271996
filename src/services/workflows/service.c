/* The workflows service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/workflows/workflows.h"

/* this folder's migrations.c */
extern const sf_db_step sf_workflows_migrations[];

/* workflows:read also lets staff and approvers see every service request */
static const sf_edge_grant k_permissions[] = {
    {"workflows:read", "approver staff admin"},
    {"workflows:admin", "admin"},
    {0},
};

const sf_service sf_workflows_service = {
    .name = "workflows",
    .routes = sf_workflows_routes,
    .permissions = k_permissions,
    .migrations = sf_workflows_migrations,
};
