#include "edge/ops.h"

#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/metrics.h"
#include "edge/edge.h"
#include "store/db.h"
#include "store/writer.h"

static char *g_openapi;
static size_t g_openapi_len;

static void h_healthz(sf_req *req) { sf_req_reply_json(req, 200, json_pack("{s:s}", "status", "ok")); }

/* Cheap enough for a probe every second: the integrity verdict is cached
 * (store/db.h: the check at start, the periodic re-check, and any statement
 * that met a damaged page), never a check per probe. */
static void h_readyz(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int db_ok = db && sf_db_schema_version(db) > 0;
  int intact = !sf_db_damaged();
  int writer_ok = sf_writer_running();
  int ok = db_ok && intact && writer_ok;
  sf_req_reply_json(req, ok ? 200 : 503,
                    json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", ok ? "ready" : "not-ready", "checks",
                              "database", db_ok ? "ok" : "down", "integrity", intact ? "ok" : "damaged",
                              "writer", writer_ok ? "ok" : "stopped"));
}

static void h_metrics(sf_req *req) {
  char *text = sf_metrics_render();
  sf_req_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

static void h_openapi(sf_req *req) {
  if (!g_openapi) sf_ops_freeze();
  char *copy = sf_malloc(g_openapi_len + 1);
  memcpy(copy, g_openapi, g_openapi_len + 1);
  sf_req_reply(req, 200, "application/json", copy, g_openapi_len);
}

void sf_ops_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/healthz", h_healthz, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops", "Liveness probe", NULL,
       "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"const\":\"ok\"}}}", 200, 0},
      {"GET", "/readyz", h_readyz, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Readiness probe: database (reachable, not found damaged) and writer; 503 when not ready", NULL,
       "{\"type\":\"object\",\"required\":[\"status\",\"checks\"],\"properties\":{"
       "\"status\":{\"enum\":[\"ready\",\"not-ready\"]},\"checks\":{\"type\":\"object\"}}}",
       200, 0, .statuses = "503"},
      {"GET", "/metrics", h_metrics, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Prometheus metrics (text exposition format)", NULL, NULL, 200, 0, .response_type = "text/plain"},
      {"GET", "/api/v1/openapi.json", h_openapi, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "This OpenAPI 3.1 document", NULL, "{\"type\":\"object\"}", 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}

void sf_ops_freeze(void) {
  if (g_openapi) return;
  json_t *doc = sf_openapi_build();
  g_openapi = sf_json_dump(doc, &g_openapi_len);
  json_decref(doc);
}

void sf_ops_shutdown(void) {
  free(g_openapi);
  g_openapi = NULL;
}
