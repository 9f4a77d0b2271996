/* The audit service's descriptor (services/service.h): reads of the event
 * log and its verification for admins (audit.c). No tables of its own. */
#include "services/service.h"

#include "services/audit/audit.h"

static const sf_edge_grant k_permissions[] = {
    {"events:read", "admin"},
    {0},
};

const sf_service sf_audit_service = {
    .name = "audit",
    .routes = sf_audit_routes,
    .permissions = k_permissions,
};
