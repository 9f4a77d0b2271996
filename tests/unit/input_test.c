/* Request input helpers that need no request (edge/input.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge/input.h"

static void test_media(void **state) {
  (void)state;
  assert_int_equal(sf_in_media(NULL), SF_MEDIA_NONE);
  assert_int_equal(sf_in_media("application/json"), SF_MEDIA_JSON);
  assert_int_equal(sf_in_media("Application/JSON ; charset=UTF-8"), SF_MEDIA_JSON);
  assert_int_equal(sf_in_media("application/json;charset=\"utf-8\""), SF_MEDIA_JSON);
  assert_int_equal(sf_in_media("application/merge-patch+json"), SF_MEDIA_JSON);
  assert_int_equal(sf_in_media("application/problem+json; charset=utf-8"), SF_MEDIA_JSON);
  assert_int_equal(sf_in_media("application/json; charset=iso-8859-1"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media("application/json-seq"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media("application/jsonx"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media("text/json+x"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media("application/yaml"), SF_MEDIA_YAML);
  assert_int_equal(sf_in_media("text/x-yaml; charset=utf-8"), SF_MEDIA_YAML);
  assert_int_equal(sf_in_media("application/x-www-form-urlencoded"), SF_MEDIA_FORM);
  assert_int_equal(sf_in_media("text/plain"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media("multipart/form-data; boundary=x"), SF_MEDIA_OTHER);
  assert_int_equal(sf_in_media(""), SF_MEDIA_OTHER);
}

static void test_precondition(void **state) {
  (void)state;
  sf_err e = {0};
  assert_int_equal(sf_precondition(SF_IF_MATCH_ANY, 7, &e), 0);
  sf_if_match m = {.n = 2, .versions = {3, 7}};
  assert_int_equal(sf_precondition(m, 7, &e), 0);
  assert_int_equal(sf_precondition(m, 4, &e), -412);
  sf_if_match none = {.n = 0}; /* only weak or foreign tags were given */
  assert_int_equal(sf_precondition(none, 1, &e), -412);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_media), cmocka_unit_test(test_precondition)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
