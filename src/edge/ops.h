/* Ops routes: /healthz, /readyz, /metrics and /api/v1/openapi.json.
 * The OpenAPI document is generated from the router's table, so every route
 * that exists is described; build it after all routes are registered. */
#ifndef SF_EDGE_OPS_H
#define SF_EDGE_OPS_H

#include <jansson.h>

void sf_ops_routes(void);
/* Builds the OpenAPI document from the router's table (openapi.c); returns
 * a new reference. Call after every route is registered. */
json_t *sf_openapi_build(void);
json_t *sf_openapi_schemas(void);                 /* components.schemas, a new reference */
const char *sf_openapi_tag_text(const char *tag); /* a tag's description (static) */
void sf_ops_freeze(void);                         /* renders the document once; call after registering routes */
void sf_ops_shutdown(void);
/* From now on /readyz answers 503 "draining" (the process got SIGTERM and
 * serves out its drain period: app.c). Any thread. */
void sf_ops_set_draining(void);

#endif
