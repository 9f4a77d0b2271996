/* A request type's input fields (fields.h): the declarations checked at
 * publish, compiled, and applied to a new request's data. One parser reads
 * a declaration for both validation (errors named fields[i].<key>) and
 * compilation, so what publishes is what runs. */
#include "flow/fields.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/definition.h"

#define MAX_PATTERN 500
#define MAX_OPTIONS 100
#define MAX_LENGTH 1000000LL

static const struct {
  const char *name, *noun; /* noun: what a value must be, for messages */
} k_kinds[] = {
    [SF_FIELD_STRING] = {"string", "a string"},       [SF_FIELD_TEXT] = {"text", "text"},
    [SF_FIELD_INTEGER] = {"integer", "an integer"},   [SF_FIELD_NUMBER] = {"number", "a number"},
    [SF_FIELD_BOOLEAN] = {"boolean", "a boolean"},    [SF_FIELD_DATE] = {"date", "a date (YYYY-MM-DD)"},
    [SF_FIELD_EMAIL] = {"email", "an email address"}, [SF_FIELD_ENUM] = {"enum", "one of its options"},
    [SF_FIELD_OBJECT] = {"object", "an object"},      [SF_FIELD_LIST] = {"list", "a list"},
};
#define NKINDS ((int)(sizeof k_kinds / sizeof k_kinds[0]))
#define KIND_NAMES "string, text, integer, number, boolean, date, email, enum, object, list"
#define FIELD_KEYS                                                                                                     \
  "name, type, required, label, description, default, min, max, min_length, max_length, pattern, options"

static int kind_of(const char *type) {
  for (int i = 0; type && i < NKINDS; i++)
    if (strcmp(type, k_kinds[i].name) == 0) return i;
  return -1;
}

static int is_texty(sf_flow_field_kind k) {
  return k == SF_FIELD_STRING || k == SF_FIELD_TEXT || k == SF_FIELD_DATE || k == SF_FIELD_EMAIL || k == SF_FIELD_ENUM;
}

/* ---- value formats ---- */

int sf_flow_is_date(const char *s) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap);
}

static int email_local_ok(const char *s, size_t n) {
  if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.' && s[i + 1] == '.') return 0;
    if (!isalnum(c) && !strchr("!#$%&'*+/=?^_`{|}~.-", c) && c < 0x80) return 0;
  }
  return 1;
}

/* labels of letters, digits and '-' (not at either end), at least two */
static int email_domain_ok(const char *s) {
  size_t n = strlen(s), label = 0;
  int labels = 1;
  if (n == 0 || n > 253) return 0;
  for (size_t i = 0; i <= n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || s[i - 1] == '-') return 0;
      labels += c == '.';
      label = 0;
    } else if (isalnum(c) || c >= 0x80 || (c == '-' && label > 0)) {
      label++;
    } else {
      return 0;
    }
  }
  return labels >= 2;
}

int sf_flow_is_email(const char *s) {
  const char *at = strchr(s, '@');
  if (!at || strlen(s) > 254 || strchr(at + 1, '@')) return 0;
  return email_local_ok(s, (size_t)(at - s)) && email_domain_ok(at + 1);
}

static long long utf8_chars(const char *s) {
  long long n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* ---- one value against its field ---- */

static void bound_text(const json_t *b, char *out, size_t cap) {
  if (json_is_integer(b))
    snprintf(out, cap, "%lld", (long long)json_integer_value(b));
  else if (json_is_real(b))
    snprintf(out, cap, "%g", json_real_value(b));
  else
    snprintf(out, cap, "%s", json_is_string(b) ? json_string_value(b) : "?");
}

/* v (given) against f's bounds: 1 when it fits, else a message in err at where. */
static int value_in_bounds(const sf_flow_field *f, const json_t *v, const char *where, sf_err *err) {
  char b[64];
  if (f->kind == SF_FIELD_DATE) {
    const char *s = json_string_value(v);
    if (f->min && strcmp(s, json_string_value(f->min)) < 0)
      return sf_err_field_add(err, where, "must be on or after %s", json_string_value(f->min)), 0;
    if (f->max && strcmp(s, json_string_value(f->max)) > 0)
      return sf_err_field_add(err, where, "must be on or before %s", json_string_value(f->max)), 0;
    return 1;
  }
  double x = json_number_value(v);
  if (f->min && x < json_number_value(f->min))
    return bound_text(f->min, b, sizeof b), sf_err_field_add(err, where, "must be at least %s", b), 0;
  if (f->max && x > json_number_value(f->max))
    return bound_text(f->max, b, sizeof b), sf_err_field_add(err, where, "must be at most %s", b), 0;
  return 1;
}

static int text_fits(const sf_flow_field *f, const char *s, const char *where, sf_err *err) {
  long long n = utf8_chars(s);
  if (f->min_length >= 0 && n < f->min_length)
    return sf_err_field_add(err, where, "must be at least %lld characters", f->min_length), 0;
  if (f->max_length >= 0 && n > f->max_length)
    return sf_err_field_add(err, where, "must be at most %lld characters", f->max_length), 0;
  regmatch_t m[1];
  if (f->pattern && (regexec(f->pattern, s, 1, m, 0) != 0 || m[0].rm_so != 0 || (size_t)m[0].rm_eo != strlen(s)))
    return sf_err_field_add(err, where, "does not have the expected form"), 0;
  return 1;
}

static int option_of(const sf_flow_field *f, const char *s) {
  size_t i;
  const json_t *o;
  json_array_foreach(f->options, i, o) if (strcmp(json_string_value(o), s) == 0) return 1;
  return 0;
}

static void options_text(const json_t *options, char *out, size_t cap) {
  size_t i, at = 0;
  const json_t *o;
  out[0] = '\0';
  json_array_foreach(options, i, o) {
    int w = snprintf(out + at, cap - at, "%s%s", i ? ", " : "", json_string_value(o));
    if (w < 0 || (size_t)w >= cap - at) break;
    at += (size_t)w;
  }
}

/* A given value (not null) of f: 1 when it fits, else one message at where. */
static int value_fits(const sf_flow_field *f, const json_t *v, const char *where, sf_err *err) {
  const char *s = json_string_value(v);
  char opts[120];
  switch (f->kind) {
    case SF_FIELD_STRING:
    case SF_FIELD_TEXT:
      if (s) return text_fits(f, s, where, err);
      break;
    case SF_FIELD_INTEGER:
    case SF_FIELD_NUMBER:
      if (f->kind == SF_FIELD_INTEGER ? json_is_integer(v) : json_is_number(v))
        return value_in_bounds(f, v, where, err);
      break;
    case SF_FIELD_BOOLEAN:
      if (json_is_boolean(v)) return 1;
      break;
    case SF_FIELD_DATE:
      if (s && sf_flow_is_date(s)) return value_in_bounds(f, v, where, err);
      break;
    case SF_FIELD_EMAIL:
      if (s && sf_flow_is_email(s)) return 1;
      break;
    case SF_FIELD_ENUM:
      if (s && option_of(f, s)) return 1;
      options_text(f->options, opts, sizeof opts);
      sf_err_field_add(err, where, "must be one of: %s", opts);
      return 0;
    case SF_FIELD_OBJECT:
      if (json_is_object(v)) return 1;
      break;
    case SF_FIELD_LIST:
      if (json_is_array(v)) return 1;
      break;
  }
  sf_err_field_add(err, where, "must be %s", k_kinds[f->kind].noun);
  return 0;
}

/* Absent, null, or "" for a kind written as text: what an empty form input sends. */
static int not_given(const sf_flow_field *f, const json_t *v) {
  if (!v || json_is_null(v)) return 1;
  return is_texty(f->kind) && json_is_string(v) && json_string_length(v) == 0;
}

/* ---- declarations ---- */

static void check_text(const json_t *f, const char *key, size_t max, const char *where, sf_err *err) {
  const json_t *v = json_object_get(f, key);
  char fk[96];
  snprintf(fk, sizeof fk, "%s.%s", where, key);
  if (v && (!json_is_string(v) || strlen(json_string_value(v)) > max))
    sf_err_field_add(err, fk, "must be text of up to %zu characters", max);
}

/* Which keys a kind takes beyond the common ones. */
static int key_applies(const char *k, sf_flow_field_kind kind) {
  if (strcmp(k, "min") == 0 || strcmp(k, "max") == 0)
    return kind == SF_FIELD_INTEGER || kind == SF_FIELD_NUMBER || kind == SF_FIELD_DATE;
  if (strcmp(k, "min_length") == 0 || strcmp(k, "max_length") == 0 || strcmp(k, "pattern") == 0)
    return kind == SF_FIELD_STRING || kind == SF_FIELD_TEXT;
  if (strcmp(k, "options") == 0) return kind == SF_FIELD_ENUM;
  return 1;
}

static void check_keys(const json_t *f, int kind, const char *where, sf_err *err) {
  static const char *const keys[] = {"name", "type",       "required",   "label",   "description", "default", "min",
                                     "max",  "min_length", "max_length", "pattern", "options",     NULL};
  const char *k;
  const json_t *v;
  char fk[96];
  json_object_foreach((json_t *)f, k, v) {
    int ok = 0;
    for (int j = 0; keys[j] && !ok; j++) ok = strcmp(k, keys[j]) == 0;
    snprintf(fk, sizeof fk, "%s.%s", where, k);
    if (!ok)
      sf_err_field_add(err, fk, "unknown key (" FIELD_KEYS ")");
    else if (kind >= 0 && !key_applies(k, kind))
      sf_err_field_add(err, fk, "does not apply to a field of type %s", k_kinds[kind].name);
  }
}

/* min and max: numbers (integers for an integer field) or dates, min <= max. */
static void parse_bounds(const json_t *decl, sf_flow_field *out, const char *where, sf_err *err) {
  const char *keys[2] = {"min", "max"};
  const json_t **bound[2] = {&out->min, &out->max};
  char fk[96];
  for (int i = 0; i < 2; i++) {
    const json_t *b = json_object_get(decl, keys[i]);
    if (!b || !key_applies(keys[i], out->kind)) continue;
    snprintf(fk, sizeof fk, "%s.%s", where, keys[i]);
    if (out->kind == SF_FIELD_DATE && !(json_is_string(b) && sf_flow_is_date(json_string_value(b))))
      sf_err_field_add(err, fk, "must be a date (YYYY-MM-DD)");
    else if (out->kind == SF_FIELD_INTEGER && !json_is_integer(b))
      sf_err_field_add(err, fk, "must be an integer");
    else if (out->kind == SF_FIELD_NUMBER && !json_is_number(b))
      sf_err_field_add(err, fk, "must be a number");
    else
      *bound[i] = b;
  }
  int crossed = out->min && out->max &&
                (out->kind == SF_FIELD_DATE ? strcmp(json_string_value(out->min), json_string_value(out->max)) > 0
                                            : json_number_value(out->min) > json_number_value(out->max));
  snprintf(fk, sizeof fk, "%s.max", where);
  if (crossed) sf_err_field_add(err, fk, "must not be less than min");
}

static void parse_lengths(const json_t *decl, sf_flow_field *out, const char *where, sf_err *err) {
  const char *keys[2] = {"min_length", "max_length"};
  long long *len[2] = {&out->min_length, &out->max_length};
  char fk[96];
  for (int i = 0; i < 2; i++) {
    const json_t *v = json_object_get(decl, keys[i]);
    if (!v || !key_applies(keys[i], out->kind)) continue;
    snprintf(fk, sizeof fk, "%s.%s", where, keys[i]);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_LENGTH)
      sf_err_field_add(err, fk, "must be a whole number from 0 to %lld", MAX_LENGTH);
    else
      *len[i] = json_integer_value(v);
  }
  snprintf(fk, sizeof fk, "%s.max_length", where);
  if (out->min_length >= 0 && out->max_length >= 0 && out->min_length > out->max_length)
    sf_err_field_add(err, fk, "must not be less than min_length");
}

/* The pattern, compiled as ^(pattern)$; the match must also span the whole
 * value (a pattern such as "a)|(b" would otherwise escape the anchors). */
static void parse_pattern(const json_t *decl, sf_flow_field *out, const char *where, sf_err *err) {
  const json_t *p = json_object_get(decl, "pattern");
  if (!p || !key_applies("pattern", out->kind)) return;
  char fk[96];
  snprintf(fk, sizeof fk, "%s.pattern", where);
  const char *s = json_string_value(p);
  if (!s || !*s || strlen(s) > MAX_PATTERN) {
    sf_err_field_add(err, fk, "must be a regular expression of 1 to %d characters", MAX_PATTERN);
    return;
  }
  char *whole = sf_malloc(strlen(s) + 5);
  sprintf(whole, "^(%s)$", s);
  regex_t *re = sf_malloc(sizeof *re);
  int rc = regcomp(re, whole, REG_EXTENDED);
  free(whole);
  if (rc != 0) {
    char why[96];
    regerror(rc, re, why, sizeof why);
    sf_err_field_add(err, fk, "is not a POSIX extended regular expression: %s", why);
    free(re);
    return;
  }
  out->pattern = re;
}

static void parse_options(const json_t *decl, sf_flow_field *out, const char *where, sf_err *err) {
  const json_t *opts = json_object_get(decl, "options");
  char fk[96];
  snprintf(fk, sizeof fk, "%s.options", where);
  if (out->kind != SF_FIELD_ENUM) return;
  if (!json_is_array(opts) || json_array_size(opts) == 0 || json_array_size(opts) > MAX_OPTIONS) {
    sf_err_field_add(err, fk, "is required: a list of 1 to %d texts", MAX_OPTIONS);
    return;
  }
  int ok = 1;
  for (size_t i = 0; i < json_array_size(opts); i++) {
    const char *s = json_string_value(json_array_get(opts, i));
    char fi[128];
    snprintf(fi, sizeof fi, "%s[%zu]", fk, i);
    int dup = 0;
    for (size_t j = 0; s && j < i && !dup; j++) dup = json_equal(json_array_get(opts, j), json_array_get(opts, i));
    if (!s || !*s || strlen(s) > 100) {
      sf_err_field_add(err, fi, "must be text of 1 to 100 characters");
      ok = 0;
    } else if (dup) {
      sf_err_field_add(err, fi, "'%s' is listed twice", s);
      ok = 0;
    }
  }
  if (ok) out->options = opts;
}

static void parse_name(const json_t *fields, size_t i, sf_flow_field *out, const char *where, sf_err *err) {
  char fk[96];
  out->name = json_string_value(json_object_get(json_array_get(fields, i), "name"));
  snprintf(fk, sizeof fk, "%s.name", where);
  if (!out->name || !sf_flow_is_name(out->name, 40, "_"))
    sf_err_field_add(err, fk, "is required: 1 to 40 characters, a lowercase letter first, then a-z, 0-9 or '_'");
  for (size_t j = 0; out->name && j < i; j++) {
    const char *other = json_string_value(json_object_get(json_array_get(fields, j), "name"));
    if (other && strcmp(other, out->name) == 0) sf_err_field_add(err, fk, "'%s' is already fields[%zu]", out->name, j);
  }
}

/* fields[i] read into out, every problem added to err (named fields[i].<key>). */
static void parse_field(const json_t *fields, size_t i, sf_flow_field *out, sf_err *err) {
  const json_t *decl = json_array_get(fields, i);
  char where[64], fk[96];
  snprintf(where, sizeof where, "fields[%zu]", i);
  memset(out, 0, sizeof *out);
  out->min_length = out->max_length = -1;
  if (!json_is_object(decl)) {
    sf_err_field_add(err, where, "must be {name, type, required, label, description, ...}");
    return;
  }
  out->type = json_string_value(json_object_get(decl, "type"));
  int kind = kind_of(out->type);
  check_keys(decl, kind, where, err);
  parse_name(fields, i, out, where, err);
  snprintf(fk, sizeof fk, "%s.type", where);
  if (kind < 0) sf_err_field_add(err, fk, "is required: one of " KIND_NAMES);
  const json_t *req = json_object_get(decl, "required");
  snprintf(fk, sizeof fk, "%s.required", where);
  if (req && !json_is_boolean(req)) sf_err_field_add(err, fk, "must be true or false");
  out->required = json_is_true(req);
  check_text(decl, "label", 100, where, err);
  check_text(decl, "description", 500, where, err);
  if (kind < 0) return;
  out->kind = (sf_flow_field_kind)kind;
  int before = err->nfields;
  parse_bounds(decl, out, where, err);
  parse_lengths(decl, out, where, err);
  parse_pattern(decl, out, where, err);
  parse_options(decl, out, where, err);
  const json_t *dflt = json_object_get(decl, "default");
  snprintf(fk, sizeof fk, "%s.default", where);
  if (dflt && !json_is_null(dflt) && err->nfields == before && value_fits(out, dflt, fk, err)) out->dflt = dflt;
}

static void field_clear(sf_flow_field *f) {
  if (f->pattern) {
    regfree(f->pattern);
    free(f->pattern);
  }
  f->pattern = NULL;
}

void sf_flow_fields_clear(sf_flow_field *fields, int n) {
  for (int i = 0; fields && i < n; i++) field_clear(&fields[i]);
}

/* ---- set actions: a value set on a field must fit it ---- */

static const sf_flow_field *field_named(const sf_flow_field *fields, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (fields[i].name && strcmp(fields[i].name, name) == 0) return &fields[i];
  return NULL;
}

/* The {set: {...}} actions of list (at where) against the fields they name. */
static void check_sets(const sf_flow_field *fields, int n, const json_t *list, const char *where, sf_err *err) {
  size_t i;
  const json_t *a;
  json_array_foreach(json_is_array(list) ? list : NULL, i, a) {
    const json_t *set = json_object_get(a, "set");
    const char *k;
    const json_t *v;
    json_object_foreach(json_is_object(set) ? (json_t *)set : NULL, k, v) {
      const sf_flow_field *f = field_named(fields, n, k);
      char at[160];
      snprintf(at, sizeof at, "%s[%zu].set.%s", where, i, k);
      if (f && !json_is_null(v)) value_fits(f, v, at, err);
    }
  }
}

/* A `set` of a declared field (on_enter, on_exit, on_warning, on_breach)
 * must give it a value that fits, as the people who fill in the form must. */
static void check_set_values(const json_t *def, const sf_flow_field *fields, int n, sf_err *err) {
  const char *state;
  const json_t *st;
  char where[128];
  json_object_foreach(json_is_object(json_object_get(def, "states")) ? json_object_get(def, "states") : NULL, state,
                      st) {
    snprintf(where, sizeof where, "states.%s.on_enter", state);
    check_sets(fields, n, json_object_get(st, "on_enter"), where, err);
    snprintf(where, sizeof where, "states.%s.on_exit", state);
    check_sets(fields, n, json_object_get(st, "on_exit"), where, err);
  }
  const json_t *targets = json_object_get(json_object_get(def, "sla"), "targets");
  size_t i;
  const json_t *t;
  json_array_foreach(json_is_array(targets) ? targets : NULL, i, t) {
    snprintf(where, sizeof where, "sla.targets[%zu].on_warning", i);
    check_sets(fields, n, json_object_get(t, "on_warning"), where, err);
    snprintf(where, sizeof where, "sla.targets[%zu].on_breach", i);
    check_sets(fields, n, json_object_get(t, "on_breach"), where, err);
  }
}

void sf_flow_check_catalog(const json_t *def, sf_err *err) {
  const json_t *d = json_object_get(def, "description");
  if (d && (!json_is_string(d) || strlen(json_string_value(d)) > 1000))
    sf_err_field_add(err, "description", "must be text of up to 1000 characters");
  const json_t *unknown = json_object_get(def, "unknown_fields");
  const char *u = json_string_value(unknown);
  if (unknown && (!u || (strcmp(u, "accept") != 0 && strcmp(u, "reject") != 0)))
    sf_err_field_add(err, "unknown_fields", "must be accept (keys that are not fields are kept) or reject");
  const json_t *fields = json_object_get(def, "fields");
  if (!fields) return;
  if (!json_is_array(fields) || json_array_size(fields) > SF_FLOW_MAX_FIELDS) {
    sf_err_field_add(err, "fields", "must be a list of up to %d fields {name, type, required, label, description, ...}",
                     SF_FLOW_MAX_FIELDS);
    return;
  }
  int n = (int)json_array_size(fields), before = err->nfields;
  sf_flow_field *parsed = sf_calloc((size_t)n + 1, sizeof *parsed);
  for (int i = 0; i < n; i++) parse_field(fields, (size_t)i, &parsed[i], err);
  if (err->nfields == before) check_set_values(def, parsed, n, err);
  sf_flow_fields_clear(parsed, n);
  free(parsed);
}

int sf_flow_compile_fields(const json_t *list, sf_flow_field *out, sf_err *err) {
  sf_err problems = {0};
  size_t n = json_array_size(list);
  for (size_t i = 0; i < n; i++) parse_field(list, i, &out[i], &problems);
  if (!problems.nfields) return 0;
  sf_flow_fields_clear(out, (int)n);
  return sf_err_internal(err, "the workflow's fields no longer validate (%s: %s)", problems.fields[0].field,
                         problems.fields[0].message);
}

/* ---- a request's data ---- */

/* f against data: 1 when it fits (or may take its default), else a message. */
static int field_fits(const sf_flow_field *f, const json_t *data, sf_err *err) {
  const json_t *v = json_object_get(data, f->name);
  char where[64];
  snprintf(where, sizeof where, "data.%s", f->name);
  if (!not_given(f, v)) return value_fits(f, v, where, err);
  if (!f->required || f->dflt) return 1;
  sf_err_field_add(err, where, "is required (%s)", k_kinds[f->kind].noun);
  return 0;
}

static int data_invalid(sf_err *err) {
  return sf_err_set(err, 422, "validation", "Validation failed", "the request's data does not fit its type's fields");
}

int sf_flow_check_fields(const sf_flow_field *fields, int n, const json_t *data, sf_err *err) {
  int ok = 1;
  for (int i = 0; i < n; i++) ok &= field_fits(&fields[i], data, err);
  return ok ? 0 : data_invalid(err);
}

static int is_field(const sf_flow_field *fields, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (strcmp(fields[i].name, key) == 0) return 1;
  return 0;
}

int sf_flow_fields_apply(const sf_flow_field *fields, int n, int reject_unknown, json_t *data, sf_err *err) {
  int ok = 1;
  const char *k;
  json_t *v;
  json_object_foreach(reject_unknown ? data : NULL, k, v) {
    if (is_field(fields, n, k)) continue;
    char where[80];
    snprintf(where, sizeof where, "data.%.60s", k);
    sf_err_field_add(err, where, "is not a field of this request type");
    ok = 0;
  }
  for (int i = 0; i < n; i++) {
    const sf_flow_field *f = &fields[i];
    if (!field_fits(f, data, err))
      ok = 0;
    else if (f->dflt && not_given(f, json_object_get(data, f->name)))
      json_object_set_new(data, f->name, json_deep_copy(f->dflt));
  }
  return ok ? 0 : data_invalid(err);
}

int sf_flow_check_data(const json_t *def, const json_t *data, sf_err *err) {
  const json_t *list = json_object_get(def, "fields");
  int n = (int)json_array_size(list);
  sf_flow_field *fields = sf_calloc((size_t)n + 1, sizeof *fields);
  int rc = sf_flow_compile_fields(list, fields, err);
  if (!rc) {
    const char *u = json_string_value(json_object_get(def, "unknown_fields"));
    json_t *copy = json_deep_copy(data);
    rc = sf_flow_fields_apply(fields, n, u && strcmp(u, "reject") == 0, copy, err);
    json_decref(copy);
  }
  sf_flow_fields_clear(fields, n);
  free(fields);
  return rc;
}
