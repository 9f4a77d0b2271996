/* Router and JSON helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/log.h"
#include "core/router.h"

static void h(struct sf_req *r) { (void)r; }

static int setup_routes(void **state) {
  (void)state;
  sf_router_reset();
  sf_route rs[] = {
      {.method = "GET", .pattern = "/api/v1/users/me", .handler = h},
      {.method = "PATCH", .pattern = "/api/v1/users/me", .handler = h},
      {.method = "GET", .pattern = "/api/v1/users/{id}", .handler = h},
      {.method = "GET", .pattern = "/api/v1/users/{id}/events/{n}", .handler = h},
      {.method = "POST", .pattern = "/api/v1/auth/login", .handler = h},
  };
  for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) assert_int_equal(sf_router_add(&rs[i]), (int)i);
  return 0;
}

static void test_static_before_param(void **state) {
  (void)state;
  sf_route_match m;
  assert_int_equal(sf_router_match("GET", "/api/v1/users/me", &m), 0);
  assert_string_equal(m.route->pattern, "/api/v1/users/me");
  assert_int_equal(m.nparams, 0);
}

static void test_params(void **state) {
  (void)state;
  sf_route_match m;
  assert_int_equal(sf_router_match("GET", "/api/v1/users/usr_1/events/42", &m), 0);
  assert_int_equal(m.nparams, 2);
  assert_int_equal(m.name_lens[0], 2);
  assert_memory_equal(m.names[0], "id", 2);
  assert_int_equal(m.value_lens[0], 5);
  assert_memory_equal(m.values[0], "usr_1", 5);
  assert_memory_equal(m.names[1], "n", 1);
  assert_memory_equal(m.values[1], "42", 2);
}

static void test_404_405_head(void **state) {
  (void)state;
  sf_route_match m;
  assert_int_equal(sf_router_match("GET", "/api/v1/nope", &m), 404);
  assert_int_equal(sf_router_match("GET", "/api/v1/users/", &m), 404); /* empty param */
  assert_int_equal(sf_router_match("GET", "/api/v1/users/me/", &m), 404);
  assert_int_equal(sf_router_match("GET", "/api/v1//me", &m), 404);
  assert_int_equal(sf_router_match("DELETE", "/api/v1/users/me", &m), 405);
  assert_non_null(strstr(m.allow, "GET"));
  assert_non_null(strstr(m.allow, "PATCH"));
  assert_non_null(strstr(m.allow, "HEAD"));
  assert_int_equal(sf_router_match("GET", "/api/v1/auth/login", &m), 405);
  assert_string_equal(m.allow, "POST");
  assert_int_equal(sf_router_match("HEAD", "/api/v1/users/x", &m), 0);
}

static void test_table_full(void **state) {
  (void)state;
  sf_router_reset();
  sf_route r = {.method = "GET", .pattern = "/x", .handler = h};
  for (int i = 0; i < SF_ROUTE_MAX; i++) assert_int_equal(sf_router_add(&r), i);
  assert_int_equal(sf_router_add(&r), -1);
  assert_int_equal(sf_router_count(), SF_ROUTE_MAX);
  setup_routes(NULL);
}

static void test_parse(void **state) {
  (void)state;
  sf_err e = {0};
  json_t *j = NULL;
  assert_int_equal(sf_json_parse_object("{\"a\":", 5, &j, &e), -400);
  assert_null(j);
  assert_non_null(strstr(e.detail, "line 1"));
  sf_err_clear(&e);
  assert_int_equal(sf_json_parse_object("[1]", 3, &j, &e), -400);
  assert_int_equal(sf_json_parse_object("", 0, &j, &e), -400);
  assert_int_equal(sf_json_parse_object("{\"a\":1,\"a\":2}", 13, &j, &e), -400);
  assert_int_equal(sf_json_parse_object("{\"a\":1}", 7, &j, &e), 0);
  assert_non_null(j);
  json_decref(j);
}

static const sf_json_field specs[] = {
    {"name", SF_JSON_STRING, 1, 1, 5},
    {"age", SF_JSON_INT, 0, 0, 150},
    {"ok", SF_JSON_BOOL, 0, 0, 0},
    {0},
};

static int validate(const char *text, sf_err *e) {
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  sf_err_clear(e);
  int rc = sf_json_validate(j, specs, e);
  json_decref(j);
  return rc;
}

static int has_field(const sf_err *e, const char *f) {
  for (int i = 0; i < e->nfields; i++)
    if (strcmp(e->fields[i].field, f) == 0) return 1;
  return 0;
}

static void test_validate(void **state) {
  (void)state;
  sf_err e;
  assert_int_equal(validate("{\"name\":\"h\u00e9llo\"}", &e), 0); /* 5 code points, 6 bytes */
  assert_int_equal(validate("{\"name\":\"abcdef\"}", &e), -422);
  assert_true(has_field(&e, "name"));
  assert_int_equal(validate("{}", &e), -422);
  assert_true(has_field(&e, "name"));
  assert_int_equal(validate("{\"name\":\"a\",\"zzz\":1}", &e), -422);
  assert_true(has_field(&e, "zzz"));
  assert_int_equal(e.status, 422);
  assert_int_equal(validate("{\"name\":\"a\",\"age\":\"3\"}", &e), -422);
  assert_true(has_field(&e, "age"));
  assert_int_equal(validate("{\"name\":\"a\",\"age\":151}", &e), -422);
  assert_int_equal(validate("{\"name\":\"a\",\"ok\":true}", &e), 0);
  /* null is not "absent": a typed optional field refuses it */
  assert_int_equal(validate("{\"name\":\"a\",\"age\":null,\"ok\":true}", &e), -422);
  assert_true(has_field(&e, "age"));
  assert_int_equal(validate("{\"name\":null}", &e), -422);
  assert_true(has_field(&e, "name"));
  assert_int_equal(validate("{\"name\":1,\"age\":-1,\"x\":0}", &e), -422);
  assert_int_equal(e.nfields, 3);
}

static void test_problem(void **state) {
  (void)state;
  sf_err e = {0};
  sf_err_invalid(&e, "email", "is not valid");
  /* a detail cut in the middle of a UTF-8 sequence must still give valid JSON */
  memcpy(e.detail, "bad \xc3", 6);
  json_t *p = sf_json_problem(&e, "/x");
  assert_non_null(p);
  assert_int_equal(json_integer_value(json_object_get(p, "status")), 422);
  assert_non_null(strstr(json_string_value(json_object_get(p, "type")), "/validation"));
  json_t *errs = json_object_get(p, "errors");
  assert_int_equal(json_array_size(errs), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")), "email");
  assert_non_null(json_object_get(p, "detail"));
  json_decref(p);
}

/* Text a client chose cannot add members to a log line. */
static void test_log_quote(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(sf_log_quote("/x\",\"status\":200", out, sizeof out), "/x\\\",\\\"status\\\":200");
  assert_string_equal(sf_log_quote("a\\b\nc\x01", out, sizeof out), "a\\\\b\\u000ac\\u0001");
  assert_string_equal(sf_log_quote(NULL, out, sizeof out), "");
  char small[8];
  sf_log_quote("\"\"\"\"\"", small, sizeof small); /* cut whole: never half an escape */
  assert_true(strlen(small) < sizeof small);
  assert_int_equal(strlen(small) % 2, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_before_param),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_404_405_head),
      cmocka_unit_test(test_table_full),
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_problem),
      cmocka_unit_test(test_log_quote),
  };
  return cmocka_run_group_tests(tests, setup_routes, NULL);
}
