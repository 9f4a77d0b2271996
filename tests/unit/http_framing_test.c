/* Request framing and request-target rules (core/http_framing.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_framing.h"

/* Checks a header given as "Name: value" lines (values without a NUL). */
static int check(const char *method, const char *version, const char *const *lines) {
  sf_http_field f[16];
  int n = 0;
  for (; lines[n]; n++) {
    const char *colon = strchr(lines[n], ':');
    const char *v = colon + 1;
    while (*v == ' ') v++;
    f[n] = (sf_http_field){lines[n], (size_t)(colon - lines[n]), v, strlen(v)};
  }
  sf_err e = {0};
  int rc = sf_http_check_framing(method, version, f, n, &e);
  assert_int_equal(rc, -e.status);
  return e.status;
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_well_framed(void **state) {
  (void)state;
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: example.com:8080")), 0);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Content-Length: 5")), 0);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: chunked")), 0);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: Chunked")), 0);
  assert_int_equal(check("GET", "HTTP/1.0", H("Accept: */*")), 0); /* no Host in 1.0 */
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: ")), 0);      /* empty Host is allowed */
}

static void test_smuggling(void **state) {
  (void)state;
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Content-Length: 5", "Transfer-Encoding: chunked")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Content-Length: 5", "Content-Length: 6")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Content-Length: 5", "Content-Length: 5")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: gzip")), 501);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: gzip, chunked")), 501);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: chunked, gzip")), 501);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: chunked, chunked")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked")),
                   400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: ")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Transfer-Encoding: ,chunked")), 400);
  assert_int_equal(check("POST", "HTTP/1.0", H("Transfer-Encoding: chunked")), 400);
}

static void test_header_syntax(void **state) {
  (void)state;
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a", "Content-Length : 5")), 400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a", "X\tY: 5")), 400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a", "X: a\rb")), 400);
  assert_int_equal(check("GET", "HTTP/1.1",
                         H("Host: a", "X: a\x01"
                                      "b")),
                   400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a", "X: a\tb")), 0);
  assert_int_equal(check("G T", "HTTP/1.1", H("Host: a")), 400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Accept: */*")), 400); /* no Host */
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a", "Host: b")), 400);
  assert_int_equal(check("GET", "HTTP/1.0", H("Host: a", "Host: a")), 400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a/b")), 400);
  assert_int_equal(check("GET", "HTTP/1.1", H("Host: a b")), 400);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Expect: 100-Continue")), 0);
  assert_int_equal(check("POST", "HTTP/1.1", H("Host: a", "Expect: teapot")), 417);
}

static const char *path_of_m(const char *method, const char *target, int *status) {
  static sf_arena a;
  static int init;
  if (!init++) sf_arena_init(&a);
  sf_err e = {0};
  const char *p = NULL;
  *status = -sf_http_target_path(method, target, &a, &p, &e);
  return p;
}

static const char *path_of(const char *target, int *status) { return path_of_m("OPTIONS", target, status); }

static void test_target(void **state) {
  (void)state;
  int st;
  assert_string_equal(path_of("/api/v1/products?q=x", &st), "/api/v1/products");
  assert_string_equal(path_of("/a%20b%2Fc", &st), "/a b/c");
  assert_string_equal(path_of("http://example.com:8080/healthz?x=1", &st), "/healthz");
  assert_string_equal(path_of("HTTPS://example.com/a", &st), "/a");
  assert_string_equal(path_of("http://example.com", &st), "/");
  assert_string_equal(path_of("*", &st), "*");
  assert_int_equal(st, 0);
  assert_null(path_of("/products/abc%00junk", &st));
  assert_int_equal(st, 400);
  assert_null(path_of("/products/abc%0ajunk", &st));
  assert_int_equal(st, 400);
  assert_null(path_of("/a%zz", &st));
  assert_int_equal(st, 400);
  assert_null(path_of("/a%4", &st));
  assert_int_equal(st, 400);
  path_of_m("GET", "*", &st);
  assert_int_equal(st, 400);
  assert_null(path_of("healthz", &st));
  assert_int_equal(st, 400);
  assert_null(path_of("ftp://x/a", &st));
  assert_int_equal(st, 400);
  assert_null(path_of("/a b", &st));
  assert_int_equal(st, 400);
}

static void test_unescape(void **state) {
  (void)state;
  char s[64];
  snprintf(s, sizeof s, "a%%41%%00b%%zz%%4");
  assert_int_equal(sf_http_unescape(s), strlen("aA%00b%zz%4"));
  assert_string_equal(s, "aA%00b%zz%4");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_well_framed), cmocka_unit_test(test_smuggling), cmocka_unit_test(test_header_syntax),
      cmocka_unit_test(test_target),      cmocka_unit_test(test_unescape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
