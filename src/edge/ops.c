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

/* Not ready: a problem+json naming the failed checks, the checks beside. */
static void reply_not_ready(sf_req *req, json_t *checks, const char *detail) {
  sf_err e = {0};
  sf_err_set(&e, 503, "not-ready", "Not ready", "%s", detail);
  json_t *p = sf_json_problem(&e, "/readyz");
  json_object_set_new(p, "checks", checks);
  size_t len;
  char *s = sf_json_dump(p, &len);
  json_decref(p);
  sf_req_reply(req, 503, "application/problem+json", s, len);
}

/* Ready: the database answers, the writer runs, and the storage takes
 * writes (not ready while the last write failed for space or I/O, until a
 * commit succeeds again: store/writer.h). */
static void h_readyz(sf_req *req) {
  sf_err err = {0}, fault = {0};
  sf_db *db = sf_db_reader(&err);
  int db_ok = db && sf_db_schema_version(db) > 0;
  int writer_ok = sf_writer_running();
  int storage_ok = !sf_writer_storage_fault(&fault);
  json_t *checks = json_pack("{s:s, s:s, s:s}", "database", db_ok ? "ok" : "down", "writer", writer_ok ? "ok" : "stopped",
                             "storage", storage_ok ? "ok" : fault.status == 507 ? "full" : "failing");
  if (db_ok && writer_ok && storage_ok) {
    sf_req_reply_json(req, 200, json_pack("{s:s, s:o}", "status", "ready", "checks", checks));
    return;
  }
  char detail[200];
  if (!db_ok || !writer_ok)
    snprintf(detail, sizeof detail, "%s", !db_ok ? "database: not reachable" : "writer: stopped");
  else
    snprintf(detail, sizeof detail, "storage: the last write failed (%.150s)", fault.detail);
  reply_not_ready(req, checks, detail);
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
       "Readiness probe: database and writer", NULL,
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
  if (strcmp(r->method, "GET") == 0 && r->response_schema && strstr(r->response_schema, "next_cursor")) {
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s, s:i, s:i}}", "name", "limit", "in", "query",
                                            "schema", "type", "integer", "minimum", 1, "maximum", 200));
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s}}", "name", "cursor", "in", "query",
                                            "schema", "type", "string"));
  }
  if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "PUT") == 0)
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s}}", "name", "If-Match", "in", "header",
                                            "schema", "type", "string"));
  if (strcmp(r->method, "GET") != 0 && !(r->flags & SF_ROUTE_NO_IDEMPOTENCY))
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s, s:i}}", "name", "Idempotency-Key", "in",
                                            "header", "schema", "type", "string", "maxLength", 255));
  json_object_set_new(op, "parameters", params);
  if (r->request_schema)
    json_object_set_new(op, "requestBody",
                        json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content", "application/json",
                                  "schema", schema_or(r->request_schema)));
  json_t *resp = json_object();
  char code[8];
  snprintf(code, sizeof code, "%d", r->success_status);
  if (r->success_status == 204 || !r->response_schema)
    json_object_set_new(resp, code, json_pack("{s:s}", "description", r->success_status == 204 ? "No content" : "OK"));
  else
    json_object_set_new(resp, code, json_pack("{s:s, s:{s:{s:o}}}", "description", "OK", "content",
                                              "application/json", "schema", schema_or(r->response_schema)));
  if (r->request_schema) {
    json_object_set_new(resp, "400", problem_response("Malformed JSON"));
    json_object_set_new(resp, "413", problem_response("Body too large"));
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
  if (strcmp(r->pattern, "/readyz") == 0)
    json_object_set_new(resp, "503", problem_response("Not ready: database, writer or storage (disk full, I/O errors)"));
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
