/* sf_json_dump writes the same bytes as json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(15)) — events are hashed as stored, so a different
 * byte would still verify, but the API's answers and the stored documents
 * must not change shape under a faster writer. Compared on hand-made edge
 * cases and on random documents (seeded, so a failure repeats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static void same(json_t *j) {
  char *want = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
  if (!want) want = strdup("null");
  size_t n = 0;
  char *got = sf_json_dump(j, &n);
  if (strcmp(want, got) != 0) fprintf(stderr, "want %s\ngot  %s\n", want, got);
  assert_string_equal(got, want);
  assert_int_equal(n, strlen(want));
  free(want);
  free(got);
}

static void test_edges(void **state) {
  (void)state;
  char ctl[40];
  for (int i = 0; i < 32; i++) ctl[i] = (char)(i + 1 < 32 ? i + 1 : 0x7f);
  ctl[32] = '\0';
  json_t *o = json_object();
  json_object_set_new(o, "controls", json_string(ctl));
  json_object_set_new(o, "quote\"back\\slash/", json_string("a\"b\\c/d"));
  json_object_set_new(o, "utf8", json_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf"));
  json_object_set_new(o, "nul", json_stringn("a\0b", 3));
  json_object_set_new(o, "empty", json_string(""));
  json_object_set_new(o, "ints",
                      json_pack("[I,I,I,i]", (json_int_t)INT64_MIN, (json_int_t)INT64_MAX, (json_int_t)0, -1));
  json_t *reals = json_array();
  double r[] = {0.0,
                -0.0,
                1.0,
                -1.5,
                0.1,
                1.0 / 3,
                1e20,
                1e21,
                1e-5,
                1e-7,
                123456789012345678.0,
                1e300,
                -2.5e-310,
                100.0,
                5e-324,
                1.7976931348623157e308,
                3.14159265358979,
                1e15,
                1e16,
                12345.678};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) json_array_append_new(reals, json_real(r[i]));
  json_object_set_new(o, "reals", reals);
  json_object_set_new(o, "nested", json_pack("{s:[{}, [], {s:n, s:b, s:b}], s:{}}", "a", "x", "t", 1, "f", 0, "e"));
  json_object_set_new(o, "", json_null());
  same(o);
  json_t *empty = json_array();
  same(empty);
  json_decref(empty);
  same(json_object_get(o, "nested"));
  json_decref(o);
  /* jansson encodes only objects and arrays at the top: the rest is "null" */
  json_t *s = json_string("x");
  same(s);
  json_decref(s);
  json_t *i = json_integer(7);
  same(i);
  json_decref(i);
  /* invalid UTF-8 (only through _nocheck): jansson refuses, and so "null" */
  json_t *bad = json_pack("{s:o}", "k", json_stringn_nocheck("a\xc0\xafz", 4));
  same(bad);
  json_decref(bad);
  json_t *surrogate = json_pack("[o]", json_stringn_nocheck("\xed\xa0\x80", 3));
  same(surrogate);
  json_decref(surrogate);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static json_t *random_string(void) {
  static const char *const pieces[] = {"a",
                                       "Z",
                                       "0",
                                       " ",
                                       "\"",
                                       "\\",
                                       "/",
                                       "\n",
                                       "\t",
                                       "\x01",
                                       "\x1f",
                                       "\x7f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xe2\x80\xa8",
                                       "<>&'"};
  char s[128];
  size_t n = 0, k = next() % 12;
  for (size_t i = 0; i < k; i++) {
    const char *p = pieces[next() % (sizeof pieces / sizeof pieces[0])];
    size_t l = strlen(p);
    if (n + l >= sizeof s) break;
    memcpy(s + n, p, l);
    n += l;
  }
  return json_stringn(s, n);
}

static json_t *random_value(int depth) {
  switch (next() % (depth > 4 ? 6 : 8)) {
    case 0: return json_null();
    case 1: return json_boolean(next() & 1);
    case 2: return json_integer((json_int_t)((int64_t)next() << 20) - (json_int_t)next());
    case 3: return json_real((double)(int32_t)next() / (double)(1u << (next() % 31)) * (next() % 3 ? 1 : 1e18));
    case 4:
    case 5: return random_string();
    case 6: {
      json_t *a = json_array();
      for (unsigned i = 0, n = next() % 5; i < n; i++) json_array_append_new(a, random_value(depth + 1));
      return a;
    }
    default: {
      json_t *o = json_object();
      for (unsigned i = 0, n = next() % 5; i < n; i++) {
        json_t *k = random_string();
        json_object_setn_new(o, json_string_value(k), json_string_length(k), random_value(depth + 1));
        json_decref(k);
      }
      return o;
    }
  }
}

static void test_random(void **state) {
  (void)state;
  for (int i = 0; i < 3000; i++) {
    json_t *doc = json_pack("{s:o}", "v", random_value(0));
    same(doc);
    json_decref(doc);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
