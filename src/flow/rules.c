/* The names a definition is written in (roles, names), who may take a
 * transition (`roles` and `by`), and what a request type tells the people
 * who open one (`description`, `fields`): validation at publish and the
 * checks the request service asks for (definition.h), on a transition's
 * JSON or its compiled form (compiled.h). definition.c and compiled.c call
 * this file; it calls no other file of flow/. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/actor.h"
#include "flow/compiled.h"
#include "flow/definition.h"

#define MAX_FIELDS 50
#define FIELD_TYPES "string, number, integer, boolean, object, list"

/* ---- names ---- */

int sf_flow_is_role(const char *r) { return sf_role_index(r, strlen(r)) >= 0; }

int sf_flow_is_name(const char *s, size_t max, const char *extra) {
  size_t n = strlen(s);
  if (n == 0 || n > max || !islower((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr(extra, s[i])) return 0;
  return 1;
}

long long sf_flow_duration_s(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v <= 0 || end[0] == '\0' || end[1] != '\0') return -1;
  long long mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
  if (!mult || v > 366LL * 86400 / mult) return -1;
  return v * mult;
}

/* ---- by: [requester, assignee, role:<role>] ---- */

static int by_entry_valid(const char *e) {
  if (strcmp(e, "requester") == 0 || strcmp(e, "assignee") == 0) return 1;
  return strncmp(e, "role:", 5) == 0 && sf_flow_is_role(e + 5);
}

void sf_flow_check_by(const json_t *by, const char *where, sf_err *err) {
  if (!by) return;
  if (!json_is_array(by) || json_array_size(by) == 0) {
    sf_err_field_add(err, where, "must be a list of requester, assignee or role:<role>");
    return;
  }
  size_t i;
  const json_t *e;
  json_array_foreach(by, i, e) {
    char f[160];
    snprintf(f, sizeof f, "%s[%zu]", where, i);
    if (!json_is_string(e) || !by_entry_valid(json_string_value(e)))
      sf_err_field_add(err, f, "unknown relation %s%s%s: requester, assignee, or role:<customer|staff|approver|admin>",
                       json_is_string(e) ? "'" : "", json_is_string(e) ? json_string_value(e) : "(not text)",
                       json_is_string(e) ? "'" : "");
  }
}

unsigned sf_flow_role_bit(const char *role) {
  int i = role ? sf_role_index(role, strlen(role)) : -1;
  return i < 0 ? 0 : 1u << i;
}

void sf_flow_transition_who(const json_t *tr, sf_flow_transition *x) {
  size_t i;
  const json_t *e;
  const json_t *roles = json_object_get(tr, "roles");
  x->roles_given = roles != NULL;
  json_array_foreach(roles, i, e) x->roles |= sf_flow_role_bit(json_string_value(e));
  const json_t *by = json_object_get(tr, "by");
  x->by_given = by != NULL;
  json_array_foreach(by, i, e) {
    const char *s = json_string_value(e);
    if (!s) continue;
    if (strcmp(s, "requester") == 0) x->by_requester = 1;
    if (strcmp(s, "assignee") == 0) x->by_assignee = 1;
    if (strncmp(s, "role:", 5) == 0) x->by_roles |= sf_flow_role_bit(s + 5);
  }
}

sf_flow_may sf_flow_transition_may(const sf_flow_transition *tr, const sf_flow_actor *who) {
  unsigned role = sf_flow_role_bit(who->role);
  if (tr->roles_given && !(tr->roles & role)) return SF_FLOW_NOT_ROLE;
  if (!tr->by_given)
    return who->requester || who->assignee || strcmp(who->role, "staff") == 0 || strcmp(who->role, "admin") == 0
               ? SF_FLOW_MAY
               : SF_FLOW_NOT_BY;
  if ((tr->by_requester && who->requester) || (tr->by_assignee && who->assignee) || (tr->by_roles & role))
    return SF_FLOW_MAY;
  return SF_FLOW_NOT_BY;
}

sf_flow_may sf_flow_may_take(const json_t *tr, const sf_flow_actor *who) {
  sf_flow_transition x = {0};
  sf_flow_transition_who(tr, &x);
  return sf_flow_transition_may(&x, who);
}

/* ---- description and fields ---- */

static int type_known(const char *t) {
  static const char *const k[] = {"string", "number", "integer", "boolean", "object", "list", NULL};
  for (int i = 0; k[i]; i++)
    if (strcmp(t, k[i]) == 0) return 1;
  return 0;
}

static void check_text(const json_t *f, const char *key, size_t max, const char *where, sf_err *err) {
  const json_t *v = json_object_get(f, key);
  char fk[96];
  snprintf(fk, sizeof fk, "%s.%s", where, key);
  if (v && (!json_is_string(v) || strlen(json_string_value(v)) > max))
    sf_err_field_add(err, fk, "must be text of up to %zu characters", max);
}

static void check_field(const json_t *fields, size_t i, sf_err *err) {
  const json_t *f = json_array_get(fields, i);
  char where[64], fk[96];
  snprintf(where, sizeof where, "fields[%zu]", i);
  if (!json_is_object(f)) {
    sf_err_field_add(err, where, "must be {name, type, required, label, description}");
    return;
  }
  static const char *const keys[] = {"name", "type", "required", "label", "description", NULL};
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)f, k, v) {
    int ok = 0;
    for (int j = 0; keys[j] && !ok; j++) ok = strcmp(k, keys[j]) == 0;
    snprintf(fk, sizeof fk, "%s.%s", where, k);
    if (!ok) sf_err_field_add(err, fk, "unknown key (name, type, required, label, description)");
  }
  const char *name = json_string_value(json_object_get(f, "name"));
  snprintf(fk, sizeof fk, "%s.name", where);
  if (!name || !sf_flow_is_name(name, 40, "_"))
    sf_err_field_add(err, fk, "is required: 1 to 40 characters, a lowercase letter first, then a-z, 0-9 or '_'");
  for (size_t j = 0; name && j < i; j++)
    if (json_is_string(json_object_get(json_array_get(fields, j), "name")) &&
        strcmp(json_string_value(json_object_get(json_array_get(fields, j), "name")), name) == 0)
      sf_err_field_add(err, fk, "'%s' is already fields[%zu]", name, j);
  const char *type = json_string_value(json_object_get(f, "type"));
  snprintf(fk, sizeof fk, "%s.type", where);
  if (!type || !type_known(type)) sf_err_field_add(err, fk, "is required: one of " FIELD_TYPES);
  const json_t *req = json_object_get(f, "required");
  snprintf(fk, sizeof fk, "%s.required", where);
  if (req && !json_is_boolean(req)) sf_err_field_add(err, fk, "must be true or false");
  check_text(f, "label", 100, where, err);
  check_text(f, "description", 500, where, err);
}

void sf_flow_check_catalog(const json_t *def, sf_err *err) {
  const json_t *d = json_object_get(def, "description");
  if (d && (!json_is_string(d) || strlen(json_string_value(d)) > 1000))
    sf_err_field_add(err, "description", "must be text of up to 1000 characters");
  const json_t *fields = json_object_get(def, "fields");
  if (!fields) return;
  if (!json_is_array(fields) || json_array_size(fields) > MAX_FIELDS) {
    sf_err_field_add(err, "fields", "must be a list of up to %d fields {name, type, required, label, description}",
                     MAX_FIELDS);
    return;
  }
  for (size_t i = 0; i < json_array_size(fields); i++) check_field(fields, i, err);
}

static int value_is(const json_t *v, const char *type) {
  if (strcmp(type, "string") == 0) return json_is_string(v);
  if (strcmp(type, "number") == 0) return json_is_number(v);
  if (strcmp(type, "integer") == 0) return json_is_integer(v);
  if (strcmp(type, "boolean") == 0) return json_is_boolean(v);
  if (strcmp(type, "object") == 0) return json_is_object(v);
  return json_is_array(v);
}

void sf_flow_compile_fields(const json_t *list, sf_flow_field *out) {
  size_t i;
  const json_t *f;
  json_array_foreach(list, i, f) {
    out[i].name = json_string_value(json_object_get(f, "name"));
    out[i].type = json_string_value(json_object_get(f, "type"));
    out[i].required = json_is_true(json_object_get(f, "required"));
  }
}

int sf_flow_check_fields(const sf_flow_field *fields, int n, const json_t *data, sf_err *err) {
  for (int i = 0; i < n; i++) {
    const char *name = fields[i].name, *type = fields[i].type;
    const json_t *v = json_object_get(data, name);
    char where[64];
    snprintf(where, sizeof where, "data.%s", name);
    if ((!v || json_is_null(v)) && fields[i].required)
      sf_err_field_add(err, where, "is required (a%s %s)", type[0] && strchr("aeiou", type[0]) ? "n" : "", type);
    else if (v && !json_is_null(v) && !value_is(v, type))
      sf_err_field_add(err, where, "must be a%s %s", type[0] && strchr("aeiou", type[0]) ? "n" : "", type);
  }
  if (err->nfields)
    return sf_err_set(err, 422, "validation", "Validation failed", "the request's data does not fit its type's fields");
  return 0;
}

int sf_flow_check_data(const json_t *def, const json_t *data, sf_err *err) {
  const json_t *list = json_object_get(def, "fields");
  sf_flow_field *fields = sf_calloc(json_array_size(list) + 1, sizeof *fields);
  sf_flow_compile_fields(list, fields);
  int rc = sf_flow_check_fields(fields, (int)json_array_size(list), data, err);
  free(fields);
  return rc;
}
