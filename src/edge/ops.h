/* Ops routes: /healthz, /readyz, /metrics and /api/v1/openapi.json.
 * The OpenAPI document is generated from the router's table, so every route
 * that exists is described; build it after all routes are registered. */
#ifndef SF_EDGE_OPS_H
#define SF_EDGE_OPS_H

#include <jansson.h>

void sf_ops_routes(void);
/* Builds (and caches) the OpenAPI document; returns a new reference. */
json_t *sf_openapi_build(void);
void sf_ops_freeze(void); /* renders the document once; call after registering routes */
void sf_ops_shutdown(void);

#endif
