/* The Lua guard sandbox: expressions over data, isolation between guards,
 * and every way out we know of refused with a clear error while the VM
 * keeps working. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "flow/guard.h"

static sf_guard_vm *g_vm;

static int setup(void **state) {
  (void)state;
  sf_guard_limits lim = {.instructions = 200000, .memory = 4u << 20};
  g_vm = sf_guard_vm_new(&lim);
  return g_vm ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  sf_guard_vm_free(g_vm);
  return 0;
}

/* 1 true, 0 false, -1 error (err->detail holds why). */
static int eval(const char *src, const char *json, sf_err *err) {
  json_t *data = json ? json_loads(json, 0, NULL) : NULL;
  int result = 0;
  sf_err local = {0};
  int rc = sf_guard_eval(g_vm, src, data, &result, err ? err : &local);
  json_decref(data);
  return rc ? -1 : result;
}

static void expect_error2(const char *src, const char *needle, const char *or_needle) {
  sf_err err = {0};
  assert_int_equal(eval(src, "{\"amount\": 5}", &err), -1);
  assert_int_equal(err.status, 422);
  if (!strstr(err.detail, needle) && !(or_needle && strstr(err.detail, or_needle)))
    fail_msg("guard %s: '%s' does not mention '%s'", src, err.detail, needle);
  /* and the VM still works */
  assert_int_equal(eval("data.amount == 5", "{\"amount\": 5}", NULL), 1);
}

static void expect_error(const char *src, const char *needle) { expect_error2(src, needle, NULL); }

static void test_expressions(void **state) {
  (void)state;
  const char *d = "{\"amount\": 1500, \"currency\": \"EUR\", \"tags\": [\"a\", \"b\"], \"vip\": false,"
                  " \"nested\": {\"level\": 3}, \"price\": 9.5, \"none\": null}";
  assert_int_equal(eval("data.amount > 1000", d, NULL), 1);
  assert_int_equal(eval("data.amount > 2000", d, NULL), 0);
  assert_int_equal(eval("data.currency == 'EUR' and #data.tags == 2 and data.tags[1] == 'a'", d, NULL), 1);
  assert_int_equal(eval("data.vip", d, NULL), 0);
  assert_int_equal(eval("not data.vip and data.nested.level >= 3", d, NULL), 1);
  assert_int_equal(eval("data.price > 9 and math.floor(data.price) == 9", d, NULL), 1);
  assert_int_equal(eval("data.none == nil and data.missing == nil", d, NULL), 1);
  assert_int_equal(eval("string.upper(data.currency) == 'EUR' and data.currency:lower() == 'eur'", d, NULL), 1);
  assert_int_equal(eval("utf8.len('h\xc3\xa9') == 2 and table.concat(data.tags, ',') == 'a,b'", d, NULL), 1);
  /* a chunk with its own return */
  assert_int_equal(eval("local n = 0 for _, t in ipairs(data.tags) do n = n + 1 end return n == 2", d, NULL), 1);
  /* truth: anything but nil and false */
  assert_int_equal(eval("data.amount", d, NULL), 1);
  assert_int_equal(eval("nil", NULL, NULL), 0);
  /* no data: an empty table */
  assert_int_equal(eval("next(data) == nil", NULL, NULL), 1);
}

static void test_compile_errors_are_named(void **state) {
  (void)state;
  sf_err err = {0};
  assert_int_not_equal(sf_guard_check(g_vm, "data.amount >", &err), 0);
  assert_int_equal(err.status, 422);
  assert_non_null(strstr(err.detail, "does not compile"));
  assert_non_null(strstr(err.detail, "guard:1:"));
  sf_err e2 = {0};
  assert_int_not_equal(sf_guard_check(g_vm, "", &e2), 0);
  assert_int_equal(sf_guard_check(g_vm, "data.amount > 1", &e2), 0);
  expect_error("data.amount >>> 1", "does not compile");
}

static void test_runtime_errors(void **state) {
  (void)state;
  expect_error("data.nested.level > 1", "attempt to index a nil value");
  expect_error("error('no way')", "no way");
  expect_error("data.amount .. {}", "attempt to concatenate");
}

static void test_escapes_are_refused(void **state) {
  (void)state;
  expect_error("os.execute('touch /tmp/sf-guard-escaped')", "global 'os'");
  expect_error("io.open('/etc/passwd')", "global 'io'");
  expect_error("require('os')", "global 'require'");
  expect_error("load('return 1')()", "global 'load'");
  expect_error("dofile('/etc/passwd')", "global 'dofile'");
  expect_error("loadfile('/etc/passwd')", "global 'loadfile'");
  expect_error("debug.getinfo(1)", "global 'debug'");
  expect_error("collectgarbage('count')", "global 'collectgarbage'");
  expect_error("package.loaded", "global 'package'");
  expect_error("getmetatable('').__index.upper", "global 'getmetatable'");
  expect_error("setmetatable({}, {})", "global 'setmetatable'");
  expect_error("rawset(string, 'upper', nil)", "global 'rawset'");
  expect_error("pcall(error, 'x')", "global 'pcall'");
  expect_error("coroutine.wrap(function() end)", "global 'coroutine'");
  expect_error("string.dump(function() end)", "attempt to call a nil value");
  expect_error("(''):dump()", "attempt to call a nil value");
  /* binary chunks are not accepted */
  expect_error("\x1bLua\x54", "does not compile");
  /* the libraries cannot be changed for the next guard */
  expect_error("return (function() string.upper = nil end)() or true", "read-only");
  expect_error("return (function() math.floor = print end)() or true", "read-only");
  assert_int_equal(eval("string.upper('a') == 'A' and math.floor(1.5) == 1", NULL, NULL), 1);
  FILE *f = fopen("/tmp/sf-guard-escaped", "r");
  if (f) fclose(f);
  assert_null(f);
}

static void test_guards_leave_nothing_behind(void **state) {
  (void)state;
  assert_int_equal(eval("return (function() leaked = 42; data.amount = 0 end)() or true", "{\"amount\": 1}", NULL), 1);
  assert_int_equal(eval("leaked == nil", NULL, NULL), 1);
  assert_int_equal(eval("data.amount == 1", "{\"amount\": 1}", NULL), 1);
}

static void test_budget_and_memory(void **state) {
  (void)state;
  expect_error("return (function() while true do end end)()", "instruction budget exceeded");
  expect_error2("return (function() local t = {} for i = 1, 1e9 do t[i] = i end end)()", "budget exceeded",
                "memory limit exceeded");
  expect_error("#string.rep('x', 1 << 30) > 0", "memory limit exceeded");
  expect_error2("return (function() local s = 'x' while true do s = s .. s end end)()", "memory limit exceeded",
                "too large");
  expect_error("#string.rep('ab', 1e12) > 0", "too large");
  /* recursion without end meets the budget or Lua's own stack limit */
  expect_error2("return (function() local function f() return 1 + f() end return f() end)()", "exceeded",
                "stack overflow");
}

static void test_deep_data_is_refused(void **state) {
  (void)state;
  char json[400] = "";
  for (int i = 0; i < 40; i++) strcat(json, "[");
  for (int i = 0; i < 40; i++) strcat(json, "]");
  sf_err err = {0};
  assert_int_equal(eval("true", json, &err), -1);
  assert_non_null(strstr(err.detail, "nested too deeply"));
}

static void test_many_distinct_guards(void **state) {
  (void)state;
  char src[64];
  for (int i = 0; i < 2000; i++) {
    snprintf(src, sizeof src, "data.n == %d", i);
    char d[32];
    snprintf(d, sizeof d, "{\"n\": %d}", i);
    assert_int_equal(eval(src, d, NULL), 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expressions),
      cmocka_unit_test(test_compile_errors_are_named),
      cmocka_unit_test(test_runtime_errors),
      cmocka_unit_test(test_escapes_are_refused),
      cmocka_unit_test(test_guards_leave_nothing_behind),
      cmocka_unit_test(test_budget_and_memory),
      cmocka_unit_test(test_deep_data_is_refused),
      cmocka_unit_test(test_many_distinct_guards),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
