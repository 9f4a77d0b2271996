/* The OpenAPI 3.1 document, generated from the router's table.
 *
 * An operation's responses are the union of
 *   - the statuses its properties imply, wherever they always apply (derived
 *     below, one function per property: auth, body, If-Match, idempotency,
 *     path parameters, lists, rate limits, writes, the server itself), and
 *   - the statuses the route declares itself (sf_route.statuses).
 * Every error answer is application/problem+json with the one Problem schema.
 * tests/e2e/test_openapi.py checks real answers of every route against this
 * document, so a status the server answers but nobody declared fails a test. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/router.h"
#include "edge/edge.h"
#include "edge/ops.h"

static json_t *schema_or(const char *text) {
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  return j ? j : json_object();
}

/* ---- responses ---- */

static const struct {
  int status;
  const char *description;
} k_status_text[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted: the outcome follows (Prefer: wait=N waits for it)"},
    {204, "No content"},
    {400, "Malformed request: HTTP framing, JSON syntax, a header or a parameter"},
    {401, "Missing, invalid or expired token"},
    {403, "Forbidden: the caller may not do this"},
    {404, "Not found (or not visible to the caller)"},
    {409, "Conflict: the resource's state does not allow it, or the same Idempotency-Key is in flight"},
    {412, "Precondition failed: If-Match does not match the current version"},
    {413, "Payload too large"},
    {415, "Unsupported media type"},
    {422, "Validation failed (errors[] names each field), or Idempotency-Key reused with another body"},
    {429, "Too many requests (see Retry-After and RateLimit-* headers)"},
    {500, "Internal error"},
    {502, "Bad gateway: an upstream provider failed"},
    {503, "Service unavailable: shutting down, or a dependency is not ready"},
    {507, "Insufficient storage: the write was not recorded"},
};

static const char *status_text(int status) {
  for (size_t i = 0; i < sizeof k_status_text / sizeof k_status_text[0]; i++)
    if (k_status_text[i].status == status) return k_status_text[i].description;
  return status < 400 ? "OK" : "Error";
}

static json_t *header_string(const char *description) {
  return json_pack("{s:s, s:{s:s}}", "description", description, "schema", "type", "string");
}

static json_t *problem_response(int status) {
  json_t *r = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", status_text(status), "content",
                        "application/problem+json", "schema", "$ref", "#/components/schemas/Problem");
  if (status == 401)
    json_object_set_new(r, "headers", json_pack("{s:o}", "WWW-Authenticate", header_string("Bearer challenge")));
  if (status == 429)
    json_object_set_new(
        r, "headers",
        json_pack("{s:{s:s, s:{s:s}}}", "Retry-After", "description", "seconds to wait", "schema", "type", "integer"));
  return r;
}

static json_t *success_response(const sf_route *r, int status) {
  json_t *resp = json_pack("{s:s}", "description", status_text(status));
  if (status == 204 || status < 200 || (!r->response_schema && !r->response_type)) return resp; /* 101: none */
  const char *type = r->response_type ? r->response_type : "application/json";
  json_t *schema = r->response_schema ? schema_or(r->response_schema) : json_pack("{s:s}", "type", "string");
  json_object_set_new(resp, "content", json_pack("{s:{s:o}}", type, "schema", schema));
  return resp;
}

static void add_status(json_t *responses, const sf_route *r, int status) {
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  if (json_object_get(responses, code)) return;
  json_object_set_new(responses, code, status < 300 ? success_response(r, status) : problem_response(status));
}

static void add_statuses(json_t *responses, const sf_route *r, const int *codes, size_t n) {
  for (size_t i = 0; i < n; i++) add_status(responses, r, codes[i]);
}

#define ADD(...)                                                                                                       \
  do {                                                                                                                 \
    static const int codes_[] = {__VA_ARGS__};                                                                         \
    add_statuses(responses, r, codes_, sizeof codes_ / sizeof codes_[0]);                                              \
  } while (0)

static int is_write(const sf_route *r) { return strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0; }

static int is_paged(const sf_route *r) { return (r->flags & SF_ROUTE_PAGED) != 0; }

static int has_idempotency(const sf_route *r) { return is_write(r) && !(r->flags & SF_ROUTE_NO_IDEMPOTENCY); }

/* The statuses a route's properties imply wherever they apply. */
static void derived_statuses(json_t *responses, const sf_route *r) {
  if (r->auth != SF_AUTH_PUBLIC) ADD(401);
  if (r->auth == SF_AUTH_PERMISSION && !sf_edge_permission_universal(r->permission)) ADD(403);
  if (r->request_schema) ADD(400, 413, 415, 422);
  /* any body of another media type is refused (edge/input.h), a schema or not */
  if (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT") || !strcmp(r->method, "PATCH")) ADD(415);
  if (r->flags & SF_ROUTE_IF_MATCH) ADD(400, 412);
  if (has_idempotency(r)) ADD(409, 422);
  if (strchr(r->pattern, '{')) ADD(404);
  /* a malformed or out-of-range parameter; on a list also one it does not read */
  if (sf_route_is_list(r) || (r->query && *r->query)) ADD(422);
  if (!(r->flags & SF_ROUTE_RAW) || (r->flags & SF_ROUTE_LOGIN_LIMIT)) ADD(429);
  if (is_write(r)) ADD(507);
  ADD(400, 500, 503); /* 400: a malformed request line, header or parameter */
}

/* The route's own statuses: "409 412" */
static void declared_statuses(json_t *responses, const sf_route *r) {
  for (const char *p = r->statuses; p && *p;) {
    char *end;
    long code = strtol(p, &end, 10);
    if (end == p) break; /* a typo shows as a missing status in the test */
    if (code >= 100 && code <= 599) add_status(responses, r, (int)code);
    p = end;
  }
}

static json_t *responses(const sf_route *r) {
  json_t *resp = json_object();
  add_status(resp, r, r->success_status);
  declared_statuses(resp, r);
  derived_statuses(resp, r);
  return resp;
}

/* ---- parameters, body, security ---- */

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

static json_t *header_param(const char *name, const char *description, json_t *schema) {
  return json_pack("{s:s, s:s, s:s, s:o}", "name", name, "in", "header", "description", description, "schema", schema);
}

static const struct {
  const char *name, *text;
} k_param_text[] = {
    {"Prefer", "wait=N: wait up to N seconds for the outcome before answering"},
    {"Cart-Token", "the token of a guest cart (from POST /carts); on login the cart becomes the user's"},
    {"q", "full-text search"},
};

typedef struct {
  json_t *params;
  const char *in; /* "query" or "header" */
} param_list;

/* One parameter from a `name[:type]` word of sf_route.query or .headers. */
static int add_param(void *ud, const char *name, size_t nlen, const char *type, size_t tlen) {
  param_list *l = ud;
  json_t *schema = json_pack("{s:s}", "type", "string");
  if (tlen == 7 && strncmp(type, "integer", 7) == 0)
    json_object_set_new(schema, "type", json_string("integer"));
  else if (tlen == 4 && strncmp(type, "date", 4) == 0)
    json_object_set_new(schema, "format", json_string("date"));
  json_t *param = json_pack("{s:s%, s:s, s:o}", "name", name, nlen, "in", l->in, "schema", schema);
  for (size_t i = 0; i < sizeof k_param_text / sizeof k_param_text[0]; i++)
    if (strlen(k_param_text[i].name) == nlen && strncmp(k_param_text[i].name, name, nlen) == 0)
      json_object_set_new(param, "description", json_string(k_param_text[i].text));
  json_array_append_new(l->params, param);
  return 0;
}

static void named_params(json_t *params, const char *list, const char *in) {
  param_list l = {params, in};
  sf_route_words(list, add_param, &l);
}

static json_t *parameters(const sf_route *r) {
  json_t *params = json_array();
  for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
    const char *e = strchr(p, '}');
    json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t)(e - p - 1), "in",
                                            "path", "required", 1, "schema", "type", "string"));
  }
  if (is_paged(r)) {
    json_array_append_new(params, json_pack("{s:s, s:s, s:s, s:{s:s, s:i, s:i, s:i}}", "name", "limit", "in", "query",
                                            "description", "page size", "schema", "type", "integer", "minimum", 1,
                                            "maximum", 200, "default", 50));
    json_array_append_new(params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "cursor", "in", "query", "description",
                                            "next_cursor of the previous page", "schema", "type", "string"));
  }
  named_params(params, r->query, "query");
  named_params(params, r->headers, "header");
  if (r->flags & SF_ROUTE_IF_MATCH)
    json_array_append_new(params, header_param("If-Match", "the version the change is based on, e.g. \"3\"",
                                               json_pack("{s:s}", "type", "string")));
  if (has_idempotency(r))
    json_array_append_new(params, header_param("Idempotency-Key", "makes a retry safe: same key and body, same answer",
                                               json_pack("{s:s, s:i}", "type", "string", "maxLength", 255)));
  return params;
}

static json_t *request_body(const sf_route *r) {
  json_t *content = json_pack("{s:{s:o}}", "application/json", "schema", schema_or(r->request_schema));
  if (r->flags & SF_ROUTE_YAML_BODY)
    json_object_set_new(content, "application/yaml", json_pack("{s:o}", "schema", schema_or(r->request_schema)));
  return json_pack("{s:b, s:o}", "required", 1, "content", content);
}

static json_t *security(const sf_route *r) {
  if (r->auth == SF_AUTH_PUBLIC) return json_array();
  if (r->auth == SF_AUTH_OPTIONAL) return json_pack("[{}, {s:[]}]", "bearerAuth");
  return json_pack("[{s:[]}]", "bearerAuth");
}

static json_t *operation(const sf_route *r) {
  json_t *op = json_object();
  char opid[160];
  operation_id(r, opid, sizeof opid);
  json_object_set_new(op, "operationId", json_string(opid));
  json_object_set_new(op, "summary", json_string(r->summary ? r->summary : r->pattern));
  json_object_set_new(op, "tags", json_pack("[s]", r->tag ? r->tag : "misc"));
  json_object_set_new(op, "parameters", parameters(r));
  if (r->request_schema) json_object_set_new(op, "requestBody", request_body(r));
  json_object_set_new(op, "security", security(r));
  if (r->auth == SF_AUTH_PERMISSION) {
    json_object_set_new(op, "x-permission", json_string(r->permission));
    json_object_set_new(
        op, "description",
        json_sprintf("Requires permission `%s` (roles: %s).", r->permission, sf_edge_permission_roles(r->permission)));
  }
  json_object_set_new(op, "responses", responses(r));
  return op;
}

/* ---- the document ---- */

static json_t *paths(json_t *tags) {
  json_t *out = json_object();
  for (int i = 0; i < sf_router_count(); i++) {
    const sf_route *r = sf_router_get(i);
    json_t *item = json_object_get(out, r->pattern);
    if (!item) json_object_set_new(out, r->pattern, item = json_object());
    char m[16];
    size_t k = 0;
    for (; r->method[k] && k < sizeof m - 1; k++) m[k] = (char)tolower((unsigned char)r->method[k]);
    m[k] = '\0';
    json_object_set_new(item, m, operation(r));
    json_object_set_new(tags, r->tag ? r->tag : "misc", json_true());
  }
  return out;
}

static json_t *tag_list(json_t *seen) {
  json_t *list = json_array();
  const char *name;
  json_t *v;
  json_object_foreach(seen, name, v) {
    json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "description", sf_openapi_tag_text(name)));
  }
  return list;
}

json_t *sf_openapi_build(void) {
  json_t *seen = json_object();
  json_t *p = paths(seen);
  json_t *doc =
      json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s}], s:o, s:o, s:[{s:[]}], s:{s:o, s:{s:{s:s, s:s, s:s}}}}",
                "openapi", "3.1.0", "info", "title", "Service Flow API", "version", "1.0.0", "description",
                "Commerce and service-request workflows. Errors are RFC 9457 application/problem+json. Unsafe requests "
                "accept Idempotency-Key.",
                "servers", "url", "/", "description", "the server that serves this document", "tags", tag_list(seen),
                "paths", p, "security", "bearerAuth", "components", "schemas", sf_openapi_schemas(), "securitySchemes",
                "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
  json_decref(seen);
  return doc;
}
