#include "edge/ops.h"

#include <ctype.h>
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
       "{\"type\":\"object\",\"properties\":{\"status\":{\"const\":\"ok\"}}}", 200, 0},
      {"GET", "/readyz", h_readyz, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Readiness probe: database (reachable, not found damaged) and writer; 503 when not ready", NULL,
       "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},\"checks\":{\"type\":\"object\"}}}",
       200, 0},
      {"GET", "/metrics", h_metrics, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Prometheus metrics (text exposition format)", NULL, NULL, 200, 0},
      {"GET", "/api/v1/openapi.json", h_openapi, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "This OpenAPI 3.1 document", NULL, "{\"type\":\"object\"}", 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}

/* ---- OpenAPI ---- */

static json_t *schema_or(const char *text) {
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  return j ? j : json_object();
}

static json_t *problem_response(const char *desc) {
  return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", desc, "content", "application/problem+json",
                   "schema", "$ref", "#/components/schemas/Problem");
}

static void operation_id(const sf_route *r, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = r->method; *p && n + 1 < cap; p++) out[n++] = (char)tolower((unsigned char)*p);
  int up = 1;
  for (const char *p = r->pattern; *p && n + 1 < cap; p++) {
    if (!isalnum((unsigned char)*p)) {
      up = 1;
      continue;
    }
    out[n++] = up ? (char)toupper((unsigned char)*p) : *p;
    up = 0;
  }
  out[n] = '\0';
}

/* route->query: "name" or "name:type" words. */
static void query_params(const sf_route *r, json_t *params) {
  for (const char *p = r->query; p && *p;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " "), name = strcspn(p, " :");
    if (!n) break;
    char type[16] = "string";
    if (name < n) snprintf(type, sizeof type, "%.*s", (int)(n - name - 1), p + name + 1);
    json_array_append_new(params, json_pack("{s:s%, s:s, s:{s:s}}", "name", p, name, "in", "query", "schema",
                                            "type", type));
    p += n;
  }
}

static json_t *operation(const sf_route *r) {
  json_t *op = json_object();
  char opid[160];
  operation_id(r, opid, sizeof opid);
  json_object_set_new(op, "operationId", json_string(opid));
  json_object_set_new(op, "summary", json_string(r->summary ? r->summary : r->pattern));
  json_object_set_new(op, "tags", json_pack("[s]", r->tag ? r->tag : "misc"));
  json_t *params = json_array();
  for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
    const char *e = strchr(p, '}');
    json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t)(e - p - 1),
                                            "in", "path", "required", 1, "schema", "type", "string"));
  }
  if (sf_route_is_list(r)) {
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s, s:i, s:i}}", "name", "limit", "in", "query",
                                            "schema", "type", "integer", "minimum", 1, "maximum", 200));
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s}}", "name", "cursor", "in", "query",
                                            "schema", "type", "string"));
  }
  query_params(r, params);
  if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "PUT") == 0)
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s}}", "name", "If-Match", "in", "header",
                                            "schema", "type", "string"));
  if (strcmp(r->method, "GET") != 0 && !(r->flags & SF_ROUTE_NO_IDEMPOTENCY))
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s, s:i}}", "name", "Idempotency-Key", "in",
                                            "header", "schema", "type", "string", "maxLength", 255));
  json_object_set_new(op, "parameters", params);
  if (r->request_schema) {
    json_t *body = json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content", "application/json",
                             "schema", schema_or(r->request_schema));
    if (r->flags & SF_ROUTE_YAML)
      json_object_set_new(json_object_get(body, "content"), "application/yaml",
                          json_pack("{s:{s:s}}", "schema", "type", "string"));
    json_object_set_new(op, "requestBody", body);
  }
  json_t *resp = json_object();
  char code[8];
  snprintf(code, sizeof code, "%d", r->success_status);
  if (r->success_status == 204 || !r->response_schema)
    json_object_set_new(resp, code, json_pack("{s:s}", "description", r->success_status == 204 ? "No content" : "OK"));
  else
    json_object_set_new(resp, code, json_pack("{s:s, s:{s:{s:o}}}", "description", "OK", "content",
                                              "application/json", "schema", schema_or(r->response_schema)));
  if (sf_route_is_list(r) || r->query)
    json_object_set_new(resp, "422", problem_response("Invalid or unknown query parameter"));
  if (r->request_schema) {
    json_object_set_new(resp, "400", problem_response("Malformed JSON"));
    json_object_set_new(resp, "413", problem_response("Body too large"));
    json_object_set_new(resp, "415", problem_response("Body of a media type the route does not take"));
    json_object_set_new(resp, "422", problem_response("Validation failed"));
  }
  if (r->auth == SF_AUTH_OPTIONAL) {
    json_object_set_new(resp, "401", problem_response("Invalid token (the token is optional)"));
    json_object_set_new(op, "security", json_pack("[{}, {s:[]}]", "bearerAuth"));
  } else if (r->auth != SF_AUTH_PUBLIC) {
    json_object_set_new(resp, "401", problem_response("Missing or invalid token"));
    json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
  }
  if (r->auth == SF_AUTH_PERMISSION) {
    json_object_set_new(resp, "403", problem_response("Permission missing"));
    json_object_set_new(op, "x-permission", json_string(r->permission));
    json_object_set_new(op, "description", json_sprintf("Requires permission `%s` (roles: %s).",
                                                        r->permission, sf_edge_permission_roles(r->permission)));
  }
  if (strchr(r->pattern, '{')) json_object_set_new(resp, "404", problem_response("Not found"));
  if (!(r->flags & SF_ROUTE_RAW)) json_object_set_new(resp, "429", problem_response("Rate limited"));
  json_object_set_new(op, "responses", resp);
  return op;
}

json_t *sf_openapi_build(void) {
  json_t *paths = json_object();
  for (int i = 0; i < sf_router_count(); i++) {
    const sf_route *r = sf_router_get(i);
    json_t *item = json_object_get(paths, r->pattern);
    if (!item) {
      item = json_object();
      json_object_set_new(paths, r->pattern, item);
    }
    char m[16];
    size_t k = 0;
    for (; r->method[k] && k < sizeof m - 1; k++) m[k] = (char)tolower((unsigned char)r->method[k]);
    m[k] = '\0';
    json_object_set_new(item, m, operation(r));
  }
  json_t *schemas = json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "Problem",
      schema_or("{\"type\":\"object\",\"required\":[\"type\",\"title\",\"status\"],\"properties\":{"
                "\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"status\":{\"type\":\"integer\"},"
                "\"detail\":{\"type\":\"string\"},\"instance\":{\"type\":\"string\"},\"errors\":{\"type\":\"array\","
                "\"items\":{\"type\":\"object\",\"properties\":{\"field\":{\"type\":\"string\"},"
                "\"message\":{\"type\":\"string\"}}}}}}"),
      "User",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"email\":{\"type\":\"string\"},"
                "\"name\":{\"type\":\"string\"},\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"admin\"]},"
                "\"status\":{\"enum\":[\"active\",\"disabled\"]},\"mfa_enabled\":{\"type\":\"boolean\"},"
                "\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "Event",
      schema_or("{\"type\":\"object\",\"properties\":{\"position\":{\"type\":\"integer\"},"
                "\"stream\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"},\"type\":{\"type\":\"string\"},"
                "\"id\":{\"type\":\"string\"},\"data\":{\"type\":\"object\"},\"meta\":{\"type\":\"object\"},"
                "\"at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "Product",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"sku\":{\"type\":\"string\"},"
                "\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
                "\"price\":{\"type\":\"integer\",\"description\":\"minor units\"},\"currency\":{\"type\":\"string\"},"
                "\"attributes\":{\"type\":\"object\"},\"status\":{\"enum\":[\"draft\",\"active\",\"archived\"]},"
                "\"category_id\":{\"type\":[\"string\",\"null\"]},\"version\":{\"type\":\"integer\"},"
                "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "Stock",
      schema_or("{\"type\":\"object\",\"properties\":{\"product_id\":{\"type\":\"string\"},"
                "\"on_hand\":{\"type\":\"integer\"},\"reserved\":{\"type\":\"integer\"},"
                "\"available\":{\"type\":\"integer\"},\"version\":{\"type\":\"integer\"}}}"),
      "Order",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"customer_id\":{\"type\":\"string\"},"
                "\"status\":{\"enum\":[\"pending\",\"paid\",\"fulfilled\",\"shipped\",\"delivered\",\"cancelled\",\"refunded\"]},"
                "\"settled\":{\"type\":\"boolean\",\"description\":\"no saga step is in progress\"},"
                "\"currency\":{\"type\":\"string\"},\"total\":{\"type\":\"integer\"},"
                "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
                "\"payment\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
                "\"status\":{\"enum\":[\"pending\",\"authorized\",\"captured\",\"failed\",\"voided\",\"partially_refunded\",\"refunded\"]},"
                "\"amount\":{\"type\":\"integer\"},\"captured\":{\"type\":\"integer\"},\"refunded\":{\"type\":\"integer\"},"
                "\"card_last4\":{\"type\":\"string\"}}},"
                "\"failure_reason\":{\"type\":[\"string\",\"null\"]},\"version\":{\"type\":\"integer\"},"
                "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "ServiceRequest",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
                "\"title\":{\"type\":\"string\"},\"data\":{\"type\":\"object\"},\"state\":{\"type\":\"string\"},"
                "\"final\":{\"type\":\"boolean\"},\"workflow\":{\"type\":\"object\",\"properties\":{"
                "\"id\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"}}},"
                "\"available_actions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
                "\"assignee\":{\"type\":[\"object\",\"null\"]},\"created_by\":{\"type\":\"string\"},"
                "\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"approvals\":{\"type\":[\"object\",\"null\"],\"properties\":{\"chain\":{\"type\":\"integer\"},"
                "\"pending\":{\"type\":[\"object\",\"null\"]},\"tasks\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}},"
                "\"sla\":{\"type\":[\"object\",\"null\"],\"properties\":{\"calendar\":{\"type\":\"string\"},"
                "\"targets\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}},"
                "\"history\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},"
                "\"description\":\"GET /requests/{id} only: the moves among its last 200 events\"},"
                "\"history_truncated\":{\"type\":\"boolean\"}}}"),
      "Workflow",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
                "\"version\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\"},\"definition\":{\"type\":\"object\"},"
                "\"source\":{\"type\":\"string\",\"description\":\"as uploaded (reads of one workflow)\"},"
                "\"created_by\":{\"type\":\"string\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "Cart",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
                "\"status\":{\"enum\":[\"open\",\"checked_out\",\"merged\"]},"
                "\"owner_id\":{\"type\":[\"string\",\"null\"]},\"currency\":{\"type\":[\"string\",\"null\"]},"
                "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
                "\"product_id\":{\"type\":\"string\"},\"sku\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
                "\"unit_price\":{\"type\":\"integer\",\"description\":\"snapshot taken when the line was set\"},"
                "\"current_price\":{\"type\":[\"integer\",\"null\"]},\"quantity\":{\"type\":\"integer\"},"
                "\"line_total\":{\"type\":\"integer\"},\"available\":{\"type\":\"boolean\"},"
                "\"price_changed\":{\"type\":\"boolean\"}}}},"
                "\"subtotal\":{\"type\":\"integer\"},\"item_count\":{\"type\":\"integer\"},"
                "\"needs_review\":{\"type\":\"boolean\"},\"version\":{\"type\":\"integer\"},"
                "\"order_id\":{\"type\":[\"string\",\"null\"]},\"merged_into\":{\"type\":[\"string\",\"null\"]},"
                "\"token\":{\"type\":\"string\",\"description\":\"guest carts, on creation only\"},"
                "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"),
      "Reservation",
      schema_or("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"owner\":{\"type\":\"string\"},"
                "\"status\":{\"enum\":[\"active\",\"released\",\"expired\",\"committed\"]},"
                "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
                "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\"}}}},"
                "\"expires_at\":{\"type\":[\"string\",\"null\"],\"format\":\"date-time\"},"
                "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"));
  return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:o, s:{s:{s:s, s:s, s:s}}}}", "openapi",
                   "3.1.0", "info", "title", "Service Flow API", "version", "1.0.0", "description",
                   "Errors are RFC 9457 problem+json. Unsafe requests accept Idempotency-Key.",
                   "servers", "url", "/", "paths", paths, "components", "schemas", schemas,
                   "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat",
                   "JWT");
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
