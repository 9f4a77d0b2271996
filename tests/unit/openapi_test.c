/* The OpenAPI document's responses and parameters follow from each route's
 * properties and its own declared statuses (src/edge/openapi.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"
#include "core/json.h"
#include "core/router.h"
#include "edge/ops.h"

static void h(struct sf_req *r) { (void)r; }

static json_t *build(const sf_route *r) {
  sf_router_reset();
  sf_router_add(r);
  return sf_openapi_build();
}

static json_t *op_of(json_t *doc, const char *pattern, const char *method) {
  return json_object_get(json_object_get(json_object_get(doc, "paths"), pattern), method);
}

/* "200 401 ..." of an operation's responses, sorted */
static void statuses(json_t *op, char *out, size_t cap) {
  json_t *resp = json_object_get(op, "responses");
  out[0] = '\0';
  for (int code = 100; code < 600; code++) {
    char k[8];
    snprintf(k, sizeof k, "%d", code);
    if (json_object_get(resp, k)) snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " " : "", k);
  }
}

static const char *param_names(json_t *op, char *out, size_t cap) {
  size_t i;
  json_t *p;
  out[0] = '\0';
  json_array_foreach(json_object_get(op, "parameters"), i, p) {
    snprintf(out + strlen(out), cap - strlen(out), "%s%s:%s", out[0] ? " " : "",
             json_string_value(json_object_get(p, "in")), json_string_value(json_object_get(p, "name")));
  }
  return out;
}

static void test_public_read(void **state) {
  (void)state;
  sf_route r = {"GET",  "/api/v1/things", h,    SF_AUTH_PUBLIC,          NULL, 0,
                "misc", "List",           NULL, "{\"type\":\"object\"}", 200,  0};
  json_t *doc = build(&r);
  json_t *op = op_of(doc, "/api/v1/things", "get");
  char s[256];
  statuses(op, s, sizeof s);
  assert_string_equal(s, "200 400 429 500 503");
  assert_int_equal(json_array_size(json_object_get(op, "security")), 0); /* security: [] */
  assert_non_null(json_object_get(op, "security"));
  json_decref(doc);
}

static void test_permission_write_with_body_if_match(void **state) {
  (void)state;
  sf_route r = {"POST",
                "/api/v1/things/{id}/moves",
                h,
                SF_AUTH_PERMISSION,
                "orders:write",
                SF_ROUTE_IF_MATCH,
                "misc",
                "Move",
                "{\"type\":\"object\"}",
                "{\"type\":\"object\"}",
                200,
                0,
                .statuses = "202 409"};
  json_t *doc = build(&r);
  json_t *op = op_of(doc, "/api/v1/things/{id}/moves", "post");
  char s[256];
  statuses(op, s, sizeof s);
  assert_string_equal(s, "200 202 400 401 403 404 409 412 413 415 422 429 500 503 507");
  char p[256];
  assert_string_equal(param_names(op, p, sizeof p), "path:id header:If-Match header:Idempotency-Key");
  json_t *resp = json_object_get(op, "responses");
  /* a declared 2xx answers with the route's schema, an error with the Problem */
  assert_non_null(json_object_get(json_object_get(json_object_get(resp, "202"), "content"), "application/json"));
  json_t *problem =
      json_object_get(json_object_get(json_object_get(resp, "409"), "content"), "application/problem+json");
  assert_string_equal(json_string_value(json_object_get(json_object_get(problem, "schema"), "$ref")),
                      "#/components/schemas/Problem");
  json_decref(doc);
}

/* users:self is every role's: no 403 to declare */
static void test_universal_permission(void **state) {
  (void)state;
  sf_route r = {"GET",  "/api/v1/me", h,    SF_AUTH_PERMISSION,      "users:self", 0,
                "misc", "Me",         NULL, "{\"type\":\"object\"}", 200,          0};
  json_t *doc = build(&r);
  char s[256];
  statuses(op_of(doc, "/api/v1/me", "get"), s, sizeof s);
  assert_string_equal(s, "200 400 401 429 500 503");
  json_decref(doc);
}

static void test_paged_query_headers_yaml_text(void **state) {
  (void)state;
  sf_route r = {"GET",
                "/api/v1/things",
                h,
                SF_AUTH_USER,
                NULL,
                SF_ROUTE_PAGED,
                "misc",
                "List",
                NULL,
                SF_LIST_SCHEMA("{\"type\":\"object\"}"),
                200,
                0,
                .query = "q min:integer from:date",
                .headers = "Prefer"};
  json_t *doc = build(&r);
  json_t *op = op_of(doc, "/api/v1/things", "get");
  char p[256], s[256];
  assert_string_equal(param_names(op, p, sizeof p),
                      "query:limit query:cursor query:q query:min query:from header:Prefer");
  statuses(op, s, sizeof s);
  assert_string_equal(s, "200 400 401 422 429 500 503");
  json_decref(doc);

  sf_route y = {"POST",
                "/api/v1/defs",
                h,
                SF_AUTH_USER,
                NULL,
                SF_ROUTE_YAML_BODY | SF_ROUTE_NO_IDEMPOTENCY,
                "misc",
                "Publish",
                "{\"type\":\"object\"}",
                NULL,
                201,
                0};
  doc = build(&y);
  json_t *content = json_object_get(json_object_get(op_of(doc, "/api/v1/defs", "post"), "requestBody"), "content");
  assert_non_null(json_object_get(content, "application/json"));
  assert_non_null(json_object_get(content, "application/yaml"));
  json_decref(doc);

  sf_route t = {"GET",
                "/metrics",
                h,
                SF_AUTH_PUBLIC,
                NULL,
                SF_ROUTE_RAW,
                "ops",
                "Metrics",
                NULL,
                NULL,
                200,
                0,
                .response_type = "text/plain"};
  doc = build(&t);
  json_t *ok = json_object_get(json_object_get(op_of(doc, "/metrics", "get"), "responses"), "200");
  assert_non_null(json_object_get(json_object_get(ok, "content"), "text/plain"));
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_public_read),
      cmocka_unit_test(test_permission_write_with_body_if_match),
      cmocka_unit_test(test_universal_permission),
      cmocka_unit_test(test_paged_query_headers_yaml_text),
  };
  sf_app_routes(); /* the services' permissions: which roles hold which (users:self is every role's) */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
