/* A request type's input fields (flow/fields.h): declarations validated at
 * their place, a new request's data checked (every problem at once) with
 * defaults filled in, the value formats (dates, e-mail addresses, patterns),
 * and the lines of a definition's places (definition.h, sf_flow_err_lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow/compiled.h"
#include "flow/definition.h"
#include "flow/fields.h"

static json_t *yaml(const char *text) {
  sf_err err = {0};
  json_t *j = sf_yaml_parse(text, strlen(text), &err);
  if (!j) fail_msg("yaml: %s", err.detail);
  return j;
}

static const char *message_of(const sf_err *err, const char *field) {
  for (int i = 0; i < err->nfields; i++)
    if (strcmp(err->fields[i].field, field) == 0) return err->fields[i].message;
  return NULL;
}

/* `fields:` text (YAML) must give a problem at field whose message holds want. */
static void expect_decl(const char *fields_yaml, const char *field, const char *want) {
  json_t *def = yaml(fields_yaml);
  sf_err err = {0};
  sf_flow_check_catalog(def, &err);
  const char *m = message_of(&err, field);
  if (!m) {
    for (int i = 0; i < err.nfields; i++) fprintf(stderr, "  %s: %s\n", err.fields[i].field, err.fields[i].message);
    fail_msg("'%s': no problem at %s", fields_yaml, field);
  }
  if (!strstr(m, want)) fail_msg("'%s': %s says '%s', not '%s'", fields_yaml, field, m, want);
  json_decref(def);
}

static const char *k_fields =
    "fields:\n"
    "  - {name: amount, type: number, required: true, min: 0, max: 1000000, label: Amount, description: in EUR}\n"
    "  - {name: justification, type: text, required: true, min_length: 10, max_length: 2000}\n"
    "  - {name: category, type: enum, options: [hardware, software, travel], default: hardware}\n"
    "  - {name: count, type: integer, min: 1, max: 50, default: 1}\n"
    "  - {name: urgent, type: boolean, default: false}\n"
    "  - {name: needed_by, type: date, min: '2026-01-01', max: '2030-12-31'}\n"
    "  - {name: contact, type: email}\n"
    "  - {name: code, type: string, pattern: '[A-Z]{2}-[0-9]{3}'}\n"
    "  - {name: extra, type: object}\n"
    "  - {name: tags, type: list}\n"
    "unknown_fields: reject\n";

static void test_good_declarations_pass(void **st) {
  (void)st;
  json_t *def = yaml(k_fields);
  sf_err err = {0};
  sf_flow_check_catalog(def, &err);
  for (int i = 0; i < err.nfields; i++) fprintf(stderr, "%s: %s\n", err.fields[i].field, err.fields[i].message);
  assert_int_equal(err.nfields, 0);
  json_decref(def);
}

static void test_bad_declarations_are_named(void **st) {
  (void)st;
  expect_decl("fields: [{name: a, type: money}]", "fields[0].type", "one of string, text");
  expect_decl("fields: [{name: a, type: string, min: 1}]", "fields[0].min", "does not apply to a field of type string");
  expect_decl("fields: [{name: a, type: number, pattern: x}]", "fields[0].pattern", "does not apply");
  expect_decl("fields: [{name: a, type: string, options: [x]}]", "fields[0].options", "does not apply");
  expect_decl("fields: [{name: a, type: integer, min: 1.5}]", "fields[0].min", "must be an integer");
  expect_decl("fields: [{name: a, type: number, min: ten}]", "fields[0].min", "must be a number");
  expect_decl("fields: [{name: a, type: number, min: 5, max: 1}]", "fields[0].max", "must not be less than min");
  expect_decl("fields: [{name: a, type: date, min: '2026-02-29'}]", "fields[0].min", "must be a date");
  expect_decl("fields: [{name: a, type: date, min: '2026-03-01', max: '2026-02-01'}]", "fields[0].max", "less than");
  expect_decl("fields: [{name: a, type: text, min_length: -1}]", "fields[0].min_length", "whole number");
  expect_decl("fields: [{name: a, type: text, min_length: 5, max_length: 2}]", "fields[0].max_length", "min_length");
  expect_decl("fields: [{name: a, type: string, pattern: '[a-'}]", "fields[0].pattern", "POSIX extended");
  expect_decl("fields: [{name: a, type: string, pattern: ''}]", "fields[0].pattern", "1 to 500");
  expect_decl("fields: [{name: a, type: enum}]", "fields[0].options", "is required");
  expect_decl("fields: [{name: a, type: enum, options: []}]", "fields[0].options", "is required");
  expect_decl("fields: [{name: a, type: enum, options: [x, 1]}]", "fields[0].options[1]", "must be text");
  expect_decl("fields: [{name: a, type: enum, options: [x, x]}]", "fields[0].options[1]", "listed twice");
  expect_decl("fields: [{name: a, type: enum, options: [x], default: y}]", "fields[0].default", "must be one of: x");
  expect_decl("fields: [{name: a, type: integer, max: 3, default: 4}]", "fields[0].default", "at most 3");
  expect_decl("fields: [{name: a, type: email, default: nobody}]", "fields[0].default", "email address");
  expect_decl("fields: [{name: a, type: boolean, default: 'no'}]", "fields[0].default", "must be a boolean");
  expect_decl("fields: [{name: a, type: string, pattern: '[0-9]+', default: x1}]", "fields[0].default",
              "expected form");
  expect_decl("fields: [{name: a, type: number, help: x}]", "fields[0].help", "unknown key");
  expect_decl("fields: [{name: a, type: number, label: [x]}]", "fields[0].label", "text of up to 100");
  expect_decl("fields: [{name: a, type: number}, {name: a, type: text}]", "fields[1].name", "already fields[0]");
  expect_decl("unknown_fields: drop", "unknown_fields", "accept");
  /* a set action gives a declared field a value that fits it */
  expect_decl("fields: [{name: p, type: enum, options: [P1, P2]}]\n"
              "states: {a: {on_enter: [{set: {p: P0, other: 1}}]}}",
              "states.a.on_enter[0].set.p", "must be one of: P1, P2");
  expect_decl("fields: [{name: n, type: integer, max: 3}]\n"
              "sla: {targets: [{on_breach: [{notify: {role: admin}}, {set: {n: 4}}]}]}",
              "sla.targets[0].on_breach[1].set.n", "must be at most 3");
}

/* A compiled copy of k_fields' list, for the data checks. */
typedef struct {
  json_t *def;
  sf_flow_field fields[SF_FLOW_MAX_FIELDS];
  int n;
} compiled_fields;

static void compile(compiled_fields *c, const char *text) {
  c->def = yaml(text);
  const json_t *list = json_object_get(c->def, "fields");
  c->n = (int)json_array_size(list);
  sf_err err = {0};
  assert_int_equal(sf_flow_compile_fields(list, c->fields, &err), 0);
}

static void release(compiled_fields *c) {
  sf_flow_fields_clear(c->fields, c->n);
  json_decref(c->def);
}

static void test_bad_data_names_every_field(void **st) {
  (void)st;
  compiled_fields c;
  compile(&c, k_fields);
  json_t *data = json_loads("{\"amount\":\"ten\",\"justification\":\"short\",\"category\":\"food\",\"count\":2.5,"
                            "\"urgent\":\"yes\",\"needed_by\":\"2026-02-30\",\"contact\":\"a@b\",\"code\":\"AB-1234\","
                            "\"extra\":[],\"tags\":{},\"colour\":\"red\"}",
                            0, NULL);
  sf_err err = {0};
  assert_int_equal(sf_flow_fields_apply(c.fields, c.n, 1, data, &err), -422);
  assert_string_equal(err.code, "validation");
  assert_int_equal(err.nfields, 11);
  assert_string_equal(message_of(&err, "data.colour"), "is not a field of this request type");
  assert_string_equal(message_of(&err, "data.amount"), "must be a number");
  assert_string_equal(message_of(&err, "data.justification"), "must be at least 10 characters");
  assert_string_equal(message_of(&err, "data.category"), "must be one of: hardware, software, travel");
  assert_string_equal(message_of(&err, "data.count"), "must be an integer");
  assert_string_equal(message_of(&err, "data.urgent"), "must be a boolean");
  assert_string_equal(message_of(&err, "data.needed_by"), "must be a date (YYYY-MM-DD)");
  assert_string_equal(message_of(&err, "data.contact"), "must be an email address");
  assert_string_equal(message_of(&err, "data.code"), "does not have the expected form");
  assert_string_equal(message_of(&err, "data.extra"), "must be an object");
  assert_string_equal(message_of(&err, "data.tags"), "must be a list");
  /* the same data without reject_unknown: the key that is not a field is kept */
  sf_err err2 = {0};
  assert_int_equal(sf_flow_fields_apply(c.fields, c.n, 0, data, &err2), -422);
  assert_int_equal(err2.nfields, 10);
  assert_null(message_of(&err2, "data.colour"));
  json_decref(data);
  release(&c);
}

static void test_bounds_and_required(void **st) {
  (void)st;
  compiled_fields c;
  compile(&c, k_fields);
  const char *cases[][3] = {
      {"{\"justification\":\"long enough text\"}", "data.amount", "is required (a number)"},
      {"{\"amount\":null,\"justification\":\"long enough text\"}", "data.amount", "is required (a number)"},
      {"{\"amount\":1,\"justification\":\"\"}", "data.justification", "is required (text)"},
      {"{\"amount\":-0.5,\"justification\":\"long enough text\"}", "data.amount", "must be at least 0"},
      {"{\"amount\":1000000.5,\"justification\":\"long enough text\"}", "data.amount", "must be at most 1000000"},
      {"{\"amount\":1,\"justification\":\"long enough text\",\"count\":0}", "data.count", "must be at least 1"},
      {"{\"amount\":1,\"justification\":\"long enough text\",\"needed_by\":\"2031-01-01\"}", "data.needed_by",
       "must be on or before 2030-12-31"},
      {"{\"amount\":1,\"justification\":\"long enough text\",\"code\":\"AB-12\"}", "data.code",
       "does not have the expected form"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *data = json_loads(cases[i][0], 0, NULL);
    sf_err err = {0};
    assert_int_equal(sf_flow_check_fields(c.fields, c.n, data, &err), -422);
    if (err.nfields != 1 || strcmp(err.fields[0].field, cases[i][1]) != 0 ||
        strcmp(err.fields[0].message, cases[i][2]) != 0)
      fail_msg("%s: %d problems, first %s: %s", cases[i][0], err.nfields, err.fields[0].field, err.fields[0].message);
    json_decref(data);
  }
  /* characters, not bytes: ten umlauts are ten characters */
  json_t *data = json_pack("{s:i, s:s}", "amount", 1, "justification",
                           "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
                           "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4");
  sf_err err = {0};
  assert_int_equal(sf_flow_check_fields(c.fields, c.n, data, &err), 0);
  json_decref(data);
  release(&c);
}

static void test_defaults_are_filled_in(void **st) {
  (void)st;
  compiled_fields c;
  compile(&c, k_fields);
  json_t *data = json_loads("{\"amount\":5,\"justification\":\"long enough text\",\"category\":\"\",\"urgent\":null,"
                            "\"contact\":\"ann.o'neil+desk@mail.example.co.uk\",\"needed_by\":\"2028-02-29\"}",
                            0, NULL);
  sf_err err = {0};
  assert_int_equal(sf_flow_fields_apply(c.fields, c.n, 1, data, &err), 0);
  assert_string_equal(json_string_value(json_object_get(data, "category")), "hardware");
  assert_int_equal(json_integer_value(json_object_get(data, "count")), 1);
  assert_true(json_is_false(json_object_get(data, "urgent")));
  assert_null(json_object_get(data, "code")); /* no default: not added */
  json_decref(data);
  release(&c);
  /* a required field with a default is never missing */
  compile(&c, "fields: [{name: p, type: enum, options: [P1, P4], required: true, default: P4}]");
  data = json_object();
  assert_int_equal(sf_flow_fields_apply(c.fields, c.n, 1, data, &err), 0);
  assert_string_equal(json_string_value(json_object_get(data, "p")), "P4");
  json_decref(data);
  release(&c);
}

static void test_pattern_is_the_whole_value(void **st) {
  (void)st;
  compiled_fields c;
  compile(&c, "fields: [{name: a, type: string, pattern: 'x)|(y'}, {name: b, type: text, pattern: '[0-9]+'}]");
  const char *fits[] = {"{\"a\":\"x\",\"b\":\"123\"}", "{\"a\":\"y\"}"};
  const char * not [] = {"{\"a\":\"xz\"}", "{\"a\":\"zy\"}", "{\"b\":\"12a\"}", "{\"b\":\"a12\"}"};
  for (size_t i = 0; i < 2; i++) {
    json_t *d = json_loads(fits[i], 0, NULL);
    sf_err err = {0};
    if (sf_flow_check_fields(c.fields, c.n, d, &err)) fail_msg("%s should fit", fits[i]);
    json_decref(d);
  }
  for (size_t i = 0; i < 4; i++) {
    json_t *d = json_loads(not [i], 0, NULL);
    sf_err err = {0};
    if (!sf_flow_check_fields(c.fields, c.n, d, &err)) fail_msg("%s should not fit", not [i]);
    json_decref(d);
  }
  release(&c);
}

static void test_dates_and_emails(void **st) {
  (void)st;
  const char *dates[] = {"2026-01-01", "2028-02-29", "2000-02-29", "0001-12-31", "9999-12-31"};
  const char *not_dates[] = {"2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
                             "26-01-01",   "2026-1-01",  "2026/01/01", "0000-01-01", "2026-01-01T00:00:00Z"};
  for (size_t i = 0; i < sizeof dates / sizeof *dates; i++)
    if (!sf_flow_is_date(dates[i])) fail_msg("%s is a date", dates[i]);
  for (size_t i = 0; i < sizeof not_dates / sizeof *not_dates; i++)
    if (sf_flow_is_date(not_dates[i])) fail_msg("%s is not a date", not_dates[i]);
  const char *emails[] = {"a@example.com", "ann.o'neil+desk@mail.example.co.uk", "x_y-z@sub-domain.example.org"};
  const char *not_emails[] = {"",         "a",          "a@b",       "@example.com",    "a@@example.com",
                              "a@.com",   "a@example.", "a b@x.com", "a..b@x.com",      ".a@x.com",
                              "a@-x.com", "a@x-.com",   "<a@x.com>", "a@x.com,b@y.com", "a@x..com"};
  for (size_t i = 0; i < sizeof emails / sizeof *emails; i++)
    if (!sf_flow_is_email(emails[i])) fail_msg("%s is an address", emails[i]);
  for (size_t i = 0; i < sizeof not_emails / sizeof *not_emails; i++)
    if (sf_flow_is_email(not_emails[i])) fail_msg("%s is not an address", not_emails[i]);
}

static const char *k_flow = "name: Equipment\n"
                            "type: equipment\n"
                            "fields:\n"
                            "  - {name: amount, type: number, required: true}\n"
                            "  - name: category\n"
                            "    type: enum\n"
                            "    options: [a, b]\n"
                            "    default: a\n"
                            "unknown_fields: reject\n"
                            "initial: draft\n"
                            "states:\n"
                            "  draft: {}\n"
                            "  done: {final: true}\n"
                            "transitions:\n"
                            "  - {action: close, from: draft, to: done, guard: data.category == 'a'}\n";

static void test_compiled_definition_prepares_data(void **st) {
  (void)st;
  json_t *def = yaml(k_flow);
  sf_err err = {0};
  sf_flow_def *d = sf_flow_compile(def, "wf_1", 1, &err);
  assert_non_null(d);
  assert_int_equal(d->nfields, 2);
  assert_true(d->reject_unknown);
  assert_int_equal(d->fields[1].kind, SF_FIELD_ENUM);
  json_t *data = json_pack("{s:i}", "amount", 3);
  assert_int_equal(sf_flow_prepare_data(d, data, &err), 0);
  assert_string_equal(json_string_value(json_object_get(data, "category")), "a");
  json_object_set_new(data, "colour", json_string("red"));
  assert_int_equal(sf_flow_prepare_data(d, data, &err), -422);
  assert_string_equal(err.fields[0].field, "data.colour");
  /* the check over the JSON says the same */
  sf_err e2 = {0};
  assert_int_equal(sf_flow_check_data(def, data, &e2), -422);
  assert_string_equal(e2.fields[0].field, "data.colour");
  json_decref(data);
  sf_flow_def_unref(d);
  json_decref(def);
}

static void test_problems_get_their_lines(void **st) {
  (void)st;
  const char *text = k_flow;
  json_t *lines = sf_yaml_lines(text, strlen(text));
  assert_non_null(lines);
  assert_int_equal(json_integer_value(json_object_get(lines, "name")), 1);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields")), 3);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[0]")), 4);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[0].type")), 4);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[1].options")), 7);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[1].options[1]")), 7);
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[1].default")), 8);
  assert_int_equal(json_integer_value(json_object_get(lines, "states.done")), 13);
  assert_int_equal(json_integer_value(json_object_get(lines, "transitions[0].guard")), 15);
  json_decref(lines);
  sf_err err = {0};
  sf_err_field_add(&err, "fields[1].default", "x");
  sf_err_field_add(&err, "transitions[0].roles", "missing: its mapping's line");
  sf_err_field_add(&err, "sla", "nowhere");
  sf_flow_err_lines(&err, text, strlen(text));
  assert_int_equal(err.fields[0].line, 8);
  assert_int_equal(err.fields[1].line, 15);
  assert_int_equal(err.fields[2].line, 0);
  /* JSON is YAML: its lines too */
  const char *json = "{\n  \"name\": \"x\",\n  \"fields\": [\n    {\"name\": \"a\",\n     \"min\": 1}\n  ]\n}\n";
  lines = sf_yaml_lines(json, strlen(json));
  assert_int_equal(json_integer_value(json_object_get(lines, "fields[0].min")), 5);
  json_decref(lines);
  /* a syntax error is a 400 with the line in an errors entry */
  sf_err e2 = {0};
  assert_null(sf_yaml_parse("a: 1\nb: [1,\n", 12, &e2));
  assert_int_equal(e2.status, 400);
  assert_string_equal(e2.fields[0].field, "definition");
  assert_true(e2.fields[0].line >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_declarations_pass),     cmocka_unit_test(test_bad_declarations_are_named),
      cmocka_unit_test(test_bad_data_names_every_field), cmocka_unit_test(test_bounds_and_required),
      cmocka_unit_test(test_defaults_are_filled_in),     cmocka_unit_test(test_pattern_is_the_whole_value),
      cmocka_unit_test(test_dates_and_emails),           cmocka_unit_test(test_compiled_definition_prepares_data),
      cmocka_unit_test(test_problems_get_their_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
