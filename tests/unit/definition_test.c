/* Workflow definitions: YAML and JSON parse to the same tree; a valid
 * workflow passes; each kind of mistake is reported at its place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flow/definition.h"

static sf_guard_vm *g_vm;

static const char *k_purchase =
    "name: Purchase request\n"
    "type: purchase\n"
    "initial: draft\n"
    "states:\n"
    "  draft: {}\n"
    "  submitted:\n"
    "    on_enter:\n"
    "      - assign: {role: approver}\n"
    "      - emit: purchase.submitted\n"
    "  finance_review:\n"
    "    on_enter: [{set: {priority: high}}, {webhook: {url: 'https://hooks.example/finance'}}]\n"
    "  approved: {final: true}\n"
    "  rejected:\n"
    "    final: true\n"
    "transitions:\n"
    "  - action: submit\n"
    "    from: draft\n"
    "    to: submitted\n"
    "    roles: [customer, staff]\n"
    "    guard: data.amount > 0\n"
    "  - {action: approve, from: submitted, to: finance_review, roles: [approver], guard: data.amount > 1000}\n"
    "  - {action: approve_small, from: submitted, to: approved, guard: 'data.amount <= 1000'}\n"
    "  - {action: approve, from: finance_review, to: approved, roles: [admin]}\n"
    "  - {action: reject, from: [submitted, finance_review], to: rejected}\n"
    "timers:\n"
    "  - {in: submitted, after: 48h, action: reject}\n";

static int setup(void **state) {
  (void)state;
  g_vm = sf_guard_vm_new(NULL);
  return g_vm ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  sf_guard_vm_free(g_vm);
  return 0;
}

static json_t *yaml(const char *text) {
  sf_err err = {0};
  json_t *j = sf_yaml_parse(text, strlen(text), &err);
  if (!j) fail_msg("yaml: %s", err.detail);
  return j;
}

/* Replaces the first occurrence of from with to in the purchase workflow. */
static char *variant(const char *from, const char *to) {
  static char buf[4096];
  const char *at = strstr(k_purchase, from);
  if (!at) fail_msg("variant: '%s' not in the base workflow", from);
  snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - k_purchase), k_purchase, to, at + strlen(from));
  return buf;
}

static void expect_invalid(const char *text, const char *field, const char *needle) {
  json_t *def = yaml(text);
  sf_err err = {0};
  assert_int_not_equal(sf_flow_validate(def, g_vm, &err), 0);
  assert_int_equal(err.status, 422);
  int found = 0;
  for (int i = 0; i < err.nfields && !found; i++)
    found = strcmp(err.fields[i].field, field) == 0 && (!needle || strstr(err.fields[i].message, needle));
  if (!found) {
    for (int i = 0; i < err.nfields; i++) print_message("  %s: %s\n", err.fields[i].field, err.fields[i].message);
    fail_msg("expected a problem at %s mentioning '%s'", field, needle ? needle : "");
  }
  json_decref(def);
}

static void test_valid_yaml_and_json(void **state) {
  (void)state;
  json_t *def = yaml(k_purchase);
  sf_err err = {0};
  if (sf_flow_validate(def, g_vm, &err)) {
    for (int i = 0; i < err.nfields; i++) print_message("  %s: %s\n", err.fields[i].field, err.fields[i].message);
    fail_msg("the purchase workflow should be valid");
  }
  /* JSON is YAML: the same tree */
  char *js = json_dumps(def, JSON_COMPACT);
  json_t *again = yaml(js);
  assert_true(json_equal(def, again));
  json_t *one = yaml("a: 12");
  assert_int_equal(json_integer_value(json_object_get(one, "a")), 12);
  json_decref(one);
  json_t *types = yaml("i: 7\nf: 1.5\nt: true\nn: null\ns: '7'\nd: 48h\ne: ''\n");
  assert_true(json_is_integer(json_object_get(types, "i")));
  assert_true(json_is_real(json_object_get(types, "f")));
  assert_true(json_is_true(json_object_get(types, "t")));
  assert_true(json_is_null(json_object_get(types, "n")));
  assert_string_equal(json_string_value(json_object_get(types, "s")), "7");
  assert_string_equal(json_string_value(json_object_get(types, "d")), "48h");
  assert_string_equal(json_string_value(json_object_get(types, "e")), "");
  json_decref(types);
  free(js);
  json_decref(again);
  json_decref(def);
}

static void test_yaml_errors(void **state) {
  (void)state;
  const char *bad[][2] = {
      {"a: [1, 2\n", "line"},
      {"a: 1\na: 2\n", "duplicate key"},
      {"a: &x 1\nb: *x\n", "anchors"},
      {"a: 1\n---\nb: 2\n", "one document"},
      {"", "empty"},
      {"? [a, b]\n: 1\n", "keys must be plain strings"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sf_err err = {0};
    json_t *j = sf_yaml_parse(bad[i][0], strlen(bad[i][0]), &err);
    if (j) fail_msg("'%s' should not parse", bad[i][0]);
    assert_int_equal(err.status, 400);
    if (!strstr(err.detail, bad[i][1])) fail_msg("'%s': '%s' lacks '%s'", bad[i][0], err.detail, bad[i][1]);
  }
}

static void test_mistakes_are_named(void **state) {
  (void)state;
  expect_invalid(variant("to: submitted\n", "to: submited\n"), "transitions[0].to", "'submited' is not a state");
  expect_invalid(variant("from: draft\n", "from: drafts\n"), "transitions[0].from", "not a state");
  expect_invalid(variant("initial: draft", "initial: start"), "initial", "'start' is not a state");
  expect_invalid(variant("guard: data.amount > 0", "guard: data.amount >"), "transitions[0].guard", "does not compile");
  expect_invalid(variant("  approved: {final: true}\n", "  approved: {}\n  orphan: {final: true}\n"), "states.orphan",
                 "unreachable");
  expect_invalid(variant("  approved: {final: true}\n", "  approved: {}\n"), "states.approved",
                 "no transition leaves it");
  expect_invalid(
      variant("  approved: {final: true}\n  rejected:\n    final: true\n", "  approved: {}\n  rejected: {}\n"),
      "states", "at least one final");
  expect_invalid(variant("{action: reject, from: [submitted, finance_review], to: rejected}",
                         "{action: reject, from: [submitted, approved], to: rejected}"),
                 "transitions[4].from[1]", "is final");
  expect_invalid(variant("{action: approve_small,", "{action: approve,"), "transitions[2]", "already transitions[1]");
  expect_invalid(variant("roles: [approver]", "roles: [manager]"), "transitions[1].roles", "unknown role 'manager'");
  expect_invalid(variant("- emit: purchase.submitted", "- launch: rockets"), "states.submitted.on_enter[1]",
                 "unknown action 'launch'");
  expect_invalid(variant("- assign: {role: approver}", "- assign: {role: boss}"), "states.submitted.on_enter[0]",
                 "unknown role 'boss'");
  expect_invalid(variant("url: 'https://hooks.example/finance'", "url: 'ftp://x'"), "states.finance_review.on_enter[1]",
                 "http");
  expect_invalid(variant("after: 48h", "after: 2 days"), "timers[0].after", "duration");
  expect_invalid(variant("after: 48h, action: reject", "after: 48h, action: submit"), "timers[0].action",
                 "out of 'submitted'");
  expect_invalid(variant("type: purchase\n", "type: purchase\napprovals: []\n"), "approvals",
                 "list of approval chains");
  expect_invalid(variant("type: purchase\n", "type: purchase\napprovals: [{in: submitted, on_approved: approve, "
                                             "on_rejected: submit, levels: [{name: m, role: approver}]}]\n"),
                 "approvals[0].on_rejected", "not an action of a transition out of 'submitted'");
  expect_invalid(variant("type: purchase\n",
                         "type: purchase\napprovals: [{in: submitted, on_approved: approve, "
                         "on_rejected: reject, levels: [{name: m, role: approver, quorum: all}]}]\n"),
                 "approvals[0].levels[0].quorum", "needs a list of users");
  expect_invalid(variant("type: purchase\n", "type: purchase\napprovals: [{in: submitted, on_approved: approve, "
                                             "on_rejected: reject, levels: [{name: m, users: [u1], when: 'x ='}]}]\n"),
                 "approvals[0].levels[0].when", "does not compile");
  expect_invalid(variant("- emit: purchase.submitted", "- notify: {role: boss}"), "states.submitted.on_enter[1]",
                 "unknown role 'boss'");
  expect_invalid(variant("type: purchase\n", "type: purchase\ncolour: blue\n"), "colour", "unknown key");
  expect_invalid(variant("type: purchase\n", "type: Purchase Orders\n"), "type", NULL);
  expect_invalid(variant("    roles: [customer, staff]\n", "    roles: [customer, staff]\n    when: x\n"),
                 "transitions[0].when", "unknown key");
  expect_invalid("[1, 2]", "definition", "mapping");
}

static void expect_valid(const char *text) {
  json_t *def = yaml(text);
  sf_err err = {0};
  int rc = sf_flow_validate(def, g_vm, &err);
  if (rc)
    fail_msg("invalid: %s: %s", err.nfields ? err.fields[0].field : "",
             err.nfields ? err.fields[0].message : err.detail);
  json_decref(def);
}

static void test_names_say_what_is_allowed(void **state) {
  (void)state;
  expect_valid(variant("type: purchase\n", "type: my-type\n"));
  expect_invalid(variant("type: purchase\n", "type: my type\n"), "type", "'my type' is not allowed");
  expect_invalid(variant("type: purchase\n", "type: -x\n"), "type", "'-'");
  expect_invalid(variant("type: purchase\n", "type: 7\n"), "type", "must be text");
  expect_invalid(variant("type: purchase\n", ""), "type", "is required");
  expect_invalid(variant("action: submit", "action: sub-mit"), "transitions[0].action", "'sub-mit' is not allowed");
}

static void test_by_is_validated(void **state) {
  (void)state;
  expect_valid(
      variant("roles: [customer, staff]\n", "roles: [customer, staff]\n    by: [requester, assignee, role:admin]\n"));
  expect_invalid(variant("roles: [customer, staff]\n", "roles: [customer, staff]\n    by: [requester, owner]\n"),
                 "transitions[0].by[1]", "unknown relation 'owner'");
  expect_invalid(variant("roles: [customer, staff]\n", "roles: [customer, staff]\n    by: [role:boss]\n"),
                 "transitions[0].by[0]", "unknown relation");
  expect_invalid(variant("roles: [customer, staff]\n", "roles: [customer, staff]\n    by: []\n"), "transitions[0].by",
                 "must be a list");
  expect_invalid(variant("type: purchase\n", "type: purchase\nfields: [{name: amount, type: money}]\n"),
                 "fields[0].type", "one of");
  expect_invalid(variant("type: purchase\n", "type: purchase\ndescription: {a: 1}\n"), "description", "text");
}

static sf_flow_may may(const char *tr_json, const char *role, int requester, int assignee) {
  json_t *tr = json_loads(tr_json, 0, NULL);
  assert_non_null(tr);
  sf_flow_actor who = {.role = role, .requester = requester, .assignee = assignee};
  sf_flow_may m = sf_flow_may_take(tr, &who);
  json_decref(tr);
  return m;
}

static void test_who_may_take_a_transition(void **state) {
  (void)state;
  const char *plain = "{\"action\":\"withdraw\",\"roles\":[\"customer\",\"staff\"]}";
  /* the default: requester, assignee, staff, admin - not a customer who only has an approval vote */
  assert_int_equal(may(plain, "customer", 1, 0), SF_FLOW_MAY);
  assert_int_equal(may(plain, "customer", 0, 1), SF_FLOW_MAY);
  assert_int_equal(may(plain, "customer", 0, 0), SF_FLOW_NOT_BY);
  assert_int_equal(may(plain, "staff", 0, 0), SF_FLOW_MAY);
  assert_int_equal(may(plain, "approver", 1, 0), SF_FLOW_NOT_ROLE);
  assert_int_equal(may("{\"action\":\"x\"}", "approver", 0, 0), SF_FLOW_NOT_BY);
  assert_int_equal(may("{\"action\":\"x\"}", "admin", 0, 0), SF_FLOW_MAY);
  /* explicit: exactly who is listed */
  const char *mine = "{\"action\":\"x\",\"by\":[\"requester\",\"role:approver\"]}";
  assert_int_equal(may(mine, "customer", 1, 0), SF_FLOW_MAY);
  assert_int_equal(may(mine, "staff", 0, 1), SF_FLOW_NOT_BY);
  assert_int_equal(may(mine, "admin", 0, 0), SF_FLOW_NOT_BY);
  assert_int_equal(may(mine, "approver", 0, 0), SF_FLOW_MAY);
}

static void test_data_against_fields(void **state) {
  (void)state;
  json_t *def = json_loads("{\"fields\":[{\"name\":\"amount\",\"type\":\"integer\",\"required\":true},"
                           "{\"name\":\"note\",\"type\":\"string\"}]}",
                           0, NULL);
  json_t *ok = json_loads("{\"amount\":3,\"other\":[1]}", 0, NULL),
         *bad = json_loads("{\"amount\":1.5,\"note\":2}", 0, NULL);
  sf_err err = {0};
  assert_int_equal(sf_flow_check_data(def, ok, &err), 0);
  assert_int_equal(sf_flow_check_data(def, bad, &err), -422);
  assert_int_equal(err.nfields, 2);
  assert_string_equal(err.fields[0].field, "data.amount");
  assert_string_equal(err.fields[1].field, "data.note");
  json_t *none = json_object();
  sf_err e2 = {0};
  assert_int_equal(sf_flow_check_data(def, none, &e2), -422);
  assert_string_equal(e2.fields[0].message, "is required (an integer)");
  json_decref(def);
  json_decref(ok);
  json_decref(bad);
  json_decref(none);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_yaml_and_json), cmocka_unit_test(test_yaml_errors),
      cmocka_unit_test(test_mistakes_are_named),  cmocka_unit_test(test_names_say_what_is_allowed),
      cmocka_unit_test(test_by_is_validated),     cmocka_unit_test(test_who_may_take_a_transition),
      cmocka_unit_test(test_data_against_fields),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
