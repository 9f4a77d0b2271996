/* The web app's path rules and Accept-Encoding choice (edge/web.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge/web.h"

static const char *clean(const char *path) {
  static char out[64];
  return sf_web_clean_path(path, out, sizeof out) ? NULL : out;
}

static void test_clean_path(void **state) {
  (void)state;
  assert_string_equal(clean("/"), "index.html");
  assert_string_equal(clean("/index.html"), "index.html");
  assert_string_equal(clean("/assets/app-abc123.js"), "assets/app-abc123.js");
  assert_string_equal(clean("/orders/123/"), "orders/123"); /* a trailing slash is the same app route */
  assert_string_equal(clean("/a..b/c.d"), "a..b/c.d");      /* dots inside a name are a name */
  assert_null(clean("/.."));
  assert_null(clean("/../etc/passwd"));
  assert_null(clean("/assets/../../x"));
  assert_null(clean("/assets/./x.js"));
  assert_null(clean("/.git/config")); /* dot-files are never served */
  assert_null(clean("/assets//x.js"));
  assert_null(clean("//x"));
  assert_null(clean("/a\\..\\b"));
  assert_null(clean("relative"));
  assert_null(clean("/a-path-far-longer-than-the-sixty-four-bytes-of-the-output-buffer.js"));
}

static void test_pick_encoding(void **state) {
  (void)state;
  int both = SF_WEB_BR | SF_WEB_GZIP;
  assert_int_equal(sf_web_pick_encoding(NULL, both), 0);
  assert_int_equal(sf_web_pick_encoding("", both), 0);
  assert_int_equal(sf_web_pick_encoding("identity", both), 0);
  assert_int_equal(sf_web_pick_encoding("gzip, deflate, br", both), SF_WEB_BR);
  assert_int_equal(sf_web_pick_encoding("gzip, deflate, br", SF_WEB_GZIP), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("br", SF_WEB_GZIP), 0);
  assert_int_equal(sf_web_pick_encoding("gzip", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("GZip;Q=1", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("br;q=0, gzip", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("br;q=0.0, gzip;q=0", both), 0);
  assert_int_equal(sf_web_pick_encoding("br;q=0.5, gzip;q=0.8", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("br ; q=0.9 , gzip ; q=0.9", both), SF_WEB_BR);
  assert_int_equal(sf_web_pick_encoding("*", both), SF_WEB_BR);
  assert_int_equal(sf_web_pick_encoding("*;q=0", both), 0);
  assert_int_equal(sf_web_pick_encoding("gzip, *;q=0", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("br;q=0, *", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("x-gzip", both), SF_WEB_GZIP);
  assert_int_equal(sf_web_pick_encoding("brotli, gzipped", both), 0); /* names, not prefixes */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_path),
      cmocka_unit_test(test_pick_encoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
