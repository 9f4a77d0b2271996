#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cache.h"

static void test_miss_put_hit(void **state) {
  (void)state;
  sf_cache *c = sf_cache_new("t", 1000);
  size_t len;
  char etag[32];
  assert_null(sf_cache_get(c, "a", &len, etag, sizeof etag));
  sf_cache_put(c, "a", sf_cache_gen(c, "a"), "{\"x\":1}", 7, "\"3\"");
  char *v = sf_cache_get(c, "a", &len, etag, sizeof etag);
  assert_non_null(v);
  assert_int_equal(len, 7);
  assert_string_equal(v, "{\"x\":1}");
  assert_string_equal(etag, "\"3\"");
  free(v);
  sf_cache_free(c);
}

static void test_invalidate_removes(void **state) {
  (void)state;
  sf_cache *c = sf_cache_new("t", 1000);
  size_t len;
  sf_cache_put(c, "a", sf_cache_gen(c, "a"), "old", 3, "");
  sf_cache_invalidate(c, "a");
  assert_null(sf_cache_get(c, "a", &len, NULL, 0));
  sf_cache_free(c);
}

/* A reader that loaded before an invalidation must not install its value. */
static void test_stale_fill_dropped(void **state) {
  (void)state;
  sf_cache *c = sf_cache_new("t", 1000);
  size_t len;
  uint64_t gen = sf_cache_gen(c, "a"); /* reader starts loading */
  sf_cache_invalidate(c, "a");         /* a write commits meanwhile */
  sf_cache_put(c, "a", gen, "stale", 5, "");
  assert_null(sf_cache_get(c, "a", &len, NULL, 0));
  sf_cache_put(c, "a", sf_cache_gen(c, "a"), "fresh", 5, "");
  char *v = sf_cache_get(c, "a", &len, NULL, 0);
  assert_string_equal(v, "fresh");
  free(v);
  sf_cache_free(c);
}

static void test_bounded(void **state) {
  (void)state;
  sf_cache *c = sf_cache_new("t", 640); /* 10 per shard */
  char key[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    sf_cache_put(c, key, sf_cache_gen(c, key), "v", 1, "");
  }
  sf_buf b;
  sf_buf_init(&b);
  sf_cache_metrics(c, &b);
  const char *p = strstr(b.data, "sf_cache_entries{cache=\"t\"} ");
  assert_non_null(p);
  long n = strtol(p + strlen("sf_cache_entries{cache=\"t\"} "), NULL, 10);
  assert_true(n > 0 && n <= 640);
  sf_buf_free(&b);
  sf_cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_miss_put_hit),
      cmocka_unit_test(test_invalidate_removes),
      cmocka_unit_test(test_stale_fill_dropped),
      cmocka_unit_test(test_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
