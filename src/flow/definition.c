/* Workflow definitions: YAML to JSON, and validation (see definition.h). */
#include "flow/definition.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "flow/calendar.h"

#define MAX_DEPTH 64
#define MAX_STATES 100
#define MAX_TRANSITIONS 500

/* ---- YAML to JSON ---- */

static int is_int(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static int is_float(const char *s) {
  char *end;
  if (!*s || isspace((unsigned char)*s)) return 0;
  errno = 0;
  strtod(s, &end);
  if (*end || errno) return 0;
  for (const char *p = s; *p; p++) /* no hex, inf or nan spellings */
    if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p)) return 0;
  return 1;
}

/* A plain scalar typed as the YAML 1.2 core schema does. */
static json_t *plain_scalar(const char *s) {
  if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
    return json_null();
  if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) return json_true();
  if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) return json_false();
  if (is_int(s)) {
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (!errno) return json_integer(v);
  }
  if (is_float(s)) return json_real(strtod(s, NULL));
  return json_string(s);
}

static int yaml_fail(sf_err *err, const yaml_mark_t *m, const char *what) {
  if (!err) return -400;
  sf_err_field_add(err, "definition", "column %zu: %s", m->column + 1, what);
  err->fields[err->nfields - 1].line = (int)m->line + 1;
  return sf_err_set(err, 400, "malformed-definition", "Malformed definition", "line %zu, column %zu: %s", m->line + 1,
                    m->column + 1, what);
}

/* The tree being built from the parser's events: the open containers, and
 * the pending key of each open mapping. */
typedef struct yaml_tree {
  json_t *stack[MAX_DEPTH], *root;
  char *key[MAX_DEPTH];
  int depth;
} yaml_tree;

static int no_anchor(const yaml_char_t *anchor, const yaml_event_t *ev, sf_err *err) {
  if (!anchor) return 0;
  yaml_fail(err, &ev->start_mark, "anchors and aliases are not supported");
  return -1;
}

/* 1 when the innermost open container is a mapping waiting for its key. */
static int wants_key(const yaml_tree *t) {
  return t->depth > 0 && json_is_object(t->stack[t->depth - 1]) && !t->key[t->depth - 1];
}

static int open_container(yaml_tree *t, const yaml_event_t *ev, sf_err *err) {
  int mapping = ev->type == YAML_MAPPING_START_EVENT;
  if (no_anchor(mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, ev, err)) return -1;
  if (wants_key(t)) return yaml_fail(err, &ev->start_mark, "keys must be plain strings"), -1;
  if (t->depth == MAX_DEPTH) return yaml_fail(err, &ev->start_mark, "nested too deeply"), -1;
  t->stack[t->depth] = mapping ? json_object() : json_array();
  t->key[t->depth++] = NULL;
  return 0;
}

/* A scalar is a mapping's key (kept pending) or a value (*value). */
static int scalar(yaml_tree *t, const yaml_event_t *ev, json_t **value, sf_err *err) {
  if (no_anchor(ev->data.scalar.anchor, ev, err)) return -1;
  const char *s = (const char *)ev->data.scalar.value;
  if (strlen(s) != ev->data.scalar.length) return yaml_fail(err, &ev->start_mark, "NUL characters are not allowed"), -1;
  if (wants_key(t)) {
    if (json_object_get(t->stack[t->depth - 1], s)) return yaml_fail(err, &ev->start_mark, "duplicate key"), -1;
    t->key[t->depth - 1] = strdup(s);
    return 0;
  }
  *value = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s) : json_string(s);
  if (!*value) return yaml_fail(err, &ev->start_mark, "text is not valid UTF-8"), -1;
  return 0;
}

/* A finished value joins its parent (or becomes the root). */
static void attach(yaml_tree *t, json_t *value) {
  if (t->depth == 0) {
    t->root = value;
  } else if (json_is_object(t->stack[t->depth - 1])) {
    json_object_set_new(t->stack[t->depth - 1], t->key[t->depth - 1], value);
    free(t->key[t->depth - 1]);
    t->key[t->depth - 1] = NULL;
  } else {
    json_array_append_new(t->stack[t->depth - 1], value);
  }
}

/* One parser event: 1 at the end of the stream, 0 to go on, -1 on failure. */
static int on_event(yaml_tree *t, const yaml_event_t *ev, int *docs, sf_err *err) {
  json_t *value = NULL;
  switch (ev->type) {
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_DOCUMENT_START_EVENT:
      if (++*docs > 1) return yaml_fail(err, &ev->start_mark, "one document only"), -1;
      return 0;
    case YAML_ALIAS_EVENT: return yaml_fail(err, &ev->start_mark, "anchors and aliases are not supported"), -1;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: return open_container(t, ev, err);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT: value = t->stack[--t->depth]; break;
    case YAML_SCALAR_EVENT:
      if (scalar(t, ev, &value, err)) return -1;
      break;
    default: return 0;
  }
  if (value) attach(t, value);
  return 0;
}

json_t *sf_yaml_parse(const char *text, size_t len, sf_err *err) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    sf_err_internal(err, "yaml: cannot initialise the parser");
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  yaml_tree t = {0};
  int docs = 0, rc = 0;
  while (rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      yaml_fail(err, &p.problem_mark, p.problem ? p.problem : "syntax error");
      rc = -1;
      break;
    }
    rc = on_event(&t, &ev, &docs, err);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  for (int i = 0; i < t.depth; i++) { /* open containers join their parent only when they end */
    free(t.key[i]);
    json_decref(t.stack[i]);
  }
  if (rc < 0 || (t.depth > 0 && !t.root)) {
    json_decref(t.root);
    return NULL;
  }
  if (!t.root) {
    sf_err_set(err, 400, "malformed-definition", "Malformed definition", "the definition is empty");
    return NULL;
  }
  return t.root;
}

/* ---- validation ---- */

static int is_role(const char *r) { return sf_flow_is_role(r); }

/* [a-z][a-z0-9_]{0,max-1} (dots allowed for event types) */
static int is_name(const char *s, size_t max, int dots) { return sf_flow_is_name(s, max, dots ? "_." : "_"); }

/* A required name: "is required" only when it is missing; a value that is
 * there but not allowed is named, with what is allowed. */
static void check_name(sf_err *err, const char *field, const json_t *v, const char *extra, const char *allowed) {
  if (!v || json_is_null(v))
    sf_err_field_add(err, field, "is required: %s", allowed);
  else if (!json_is_string(v))
    sf_err_field_add(err, field, "must be text: %s", allowed);
  else if (!sf_flow_is_name(json_string_value(v), 40, extra))
    sf_err_field_add(err, field, "'%.20s%s' is not allowed: %s", json_string_value(v),
                     strlen(json_string_value(v)) > 20 ? "..." : "", allowed);
}

#define NAME_RULE "a-z first, then up to 39 of a-z, 0-9, '_'"
#define TYPE_RULE "a-z first, then up to 39 of a-z, 0-9, '_', '-'"

static void check_actions(const json_t *list, const char *where, sf_err *err) {
  if (!list) return;
  if (!json_is_array(list)) {
    sf_err_field_add(err, where, "must be a list of actions");
    return;
  }
  size_t i;
  const json_t *a;
  json_array_foreach(list, i, a) {
    char f[160];
    snprintf(f, sizeof f, "%s[%zu]", where, i);
    const char *kind =
        json_is_object(a) && json_object_size(a) == 1 ? json_object_iter_key(json_object_iter((json_t *)a)) : NULL;
    const json_t *arg = kind ? json_object_get(a, kind) : NULL;
    if (!kind) {
      sf_err_field_add(
          err, f, "must be one of {emit: ...}, {set: {...}}, {assign: {...}}, {notify: {...}}, {webhook: {url: ...}}");
    } else if (strcmp(kind, "emit") == 0) {
      if (!json_is_string(arg) || !is_name(json_string_value(arg), 80, 1))
        sf_err_field_add(err, f, "emit takes an event type such as purchase.approved");
    } else if (strcmp(kind, "set") == 0) {
      if (!json_is_object(arg) || json_object_size(arg) == 0)
        sf_err_field_add(err, f, "set takes a mapping of fields to values");
      else {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)arg, k, v) if (!is_name(k, 40, 0))
            sf_err_field_add(err, f, "set: '%s' is not a field name ([a-z][a-z0-9_]*)", k);
      }
    } else if (strcmp(kind, "assign") == 0) {
      const char *role = json_is_object(arg) ? json_string_value(json_object_get(arg, "role")) : NULL;
      const char *user = json_is_object(arg) ? json_string_value(json_object_get(arg, "user")) : NULL;
      if (!json_is_object(arg) || json_object_size(arg) != 1 || (!role && !user))
        sf_err_field_add(err, f, "assign takes {role: <role>} or {user: <user id>}");
      else if (role && !is_role(role))
        sf_err_field_add(err, f, "assign: unknown role '%s' (customer, staff, approver, admin)", role);
    } else if (strcmp(kind, "notify") == 0) {
      const char *role = json_is_object(arg) ? json_string_value(json_object_get(arg, "role")) : NULL;
      const char *user = json_is_object(arg) ? json_string_value(json_object_get(arg, "user")) : NULL;
      const char *to = json_is_object(arg) ? json_string_value(json_object_get(arg, "to")) : NULL;
      const json_t *msg = json_is_object(arg) ? json_object_get(arg, "message") : NULL;
      if (to && strcmp(to, "requester") != 0 && strcmp(to, "assignee") != 0) to = NULL; /* not one of them */
      if (!json_is_object(arg) || !!role + !!user + !!to != 1 || json_object_size(arg) != 1u + !!msg ||
          (msg && (!json_is_string(msg) || strlen(json_string_value(msg)) > 500)))
        sf_err_field_add(err, f,
                         "notify takes {role: <role>}, {user: <user id>} or {to: requester|assignee}, and an optional "
                         "message");
      else if (role && !is_role(role))
        sf_err_field_add(err, f, "notify: unknown role '%s' (customer, staff, approver, admin)", role);
    } else if (strcmp(kind, "webhook") == 0) {
      const char *url = json_is_object(arg) ? json_string_value(json_object_get(arg, "url")) : NULL;
      if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        sf_err_field_add(err, f, "webhook takes {url: http(s)://...}");
    } else {
      sf_err_field_add(err, f, "unknown action '%s' (emit, set, assign, notify, webhook)", kind);
    }
  }
}

/* The from-list of a transition (a string or an array of strings). */
static size_t from_count(const json_t *from) { return json_is_array(from) ? json_array_size(from) : 1; }
static const char *from_at(const json_t *from, size_t i) {
  return json_string_value(json_is_array(from) ? json_array_get(from, i) : from);
}

/* Is there a transition `action` out of `state`? */
static int has_transition(const json_t *trs, const char *action, const char *state) {
  size_t i;
  const json_t *t;
  json_array_foreach(trs, i, t) {
    const char *a = json_string_value(json_object_get(t, "action"));
    const json_t *from = json_object_get(t, "from");
    for (size_t j = 0; a && strcmp(a, action) == 0 && j < from_count(from); j++)
      if (from_at(from, j) && strcmp(from_at(from, j), state) == 0) return 1;
  }
  return 0;
}

/* approvals: [{in, levels: [{name, role | users, quorum, when}], on_approved, on_rejected}] */
/* Who decides a level (role or users), its quorum and its condition. */
static void check_level_rules(const json_t *l, const char *fl, sf_guard_vm *vm, sf_err *err) {
  char fk[128];
  const json_t *role = json_object_get(l, "role"), *users = json_object_get(l, "users");
  size_t nusers = json_is_array(users) ? json_array_size(users) : 0;
  if (!!role == !!users) {
    sf_err_field_add(err, fl, "give role or users (one of them)");
  } else if (role) {
    snprintf(fk, sizeof fk, "%s.role", fl);
    if (!json_is_string(role) || !is_role(json_string_value(role)))
      sf_err_field_add(err, fk, "must be a role (customer, staff, approver, admin)");
  } else {
    snprintf(fk, sizeof fk, "%s.users", fl);
    if (nusers == 0 || nusers > 20) sf_err_field_add(err, fk, "must be a list of 1 to 20 user ids");
    size_t z;
    const json_t *u;
    json_array_foreach(json_is_array(users) ? users : NULL, z, u) {
      if (!json_is_string(u) || !*json_string_value(u) || strlen(json_string_value(u)) > 47)
        sf_err_field_add(err, fk, "users[%zu] must be a user id", z);
      for (size_t y = 0; json_is_string(u) && y < z; y++)
        if (json_is_string(json_array_get(users, y)) &&
            strcmp(json_string_value(json_array_get(users, y)), json_string_value(u)) == 0)
          sf_err_field_add(err, fk, "'%s' is listed twice", json_string_value(u));
    }
  }
  const json_t *q = json_object_get(l, "quorum");
  snprintf(fk, sizeof fk, "%s.quorum", fl);
  if (!q || (json_is_string(q) && strcmp(json_string_value(q), "any") == 0)) {
  } else if (json_is_string(q) && strcmp(json_string_value(q), "all") == 0) {
    if (role) sf_err_field_add(err, fk, "'all' needs a list of users (a role has no fixed membership)");
  } else if (json_is_integer(q)) {
    json_int_t nq = json_integer_value(q);
    if (nq < 1 || nq > 100 || (users && (size_t)nq > nusers))
      sf_err_field_add(err, fk, "must be between 1 and %zu", users ? nusers : (size_t)100);
  } else {
    sf_err_field_add(err, fk, "must be any, all or a number of approvals");
  }
  const json_t *when = json_object_get(l, "when");
  snprintf(fk, sizeof fk, "%s.when", fl);
  if (when && !json_is_string(when)) {
    sf_err_field_add(err, fk, "must be a Lua expression (text)");
  } else if (when) {
    sf_err gerr = {0};
    if (sf_guard_check(vm, json_string_value(when), &gerr)) sf_err_field_add(err, fk, "%s", gerr.detail);
  }
}

/* One level of a chain: levels[j] of the chain at f. */
static void check_level(const json_t *levels, size_t j, const char *f, sf_guard_vm *vm, sf_err *err) {
  const json_t *l = json_array_get(levels, j);
  const char *k;
  const json_t *v;
  char fl[96], fk[128];
  snprintf(fl, sizeof fl, "%s.levels[%zu]", f, j);
  if (!json_is_object(l)) {
    sf_err_field_add(err, fl, "must be {name, role | users, quorum, when}");
    return;
  }
  static const char *const lkeys[] = {"name", "role", "users", "quorum", "when", NULL};
  json_object_foreach((json_t *)l, k, v) {
    int ok = 0;
    for (int z = 0; lkeys[z] && !ok; z++) ok = strcmp(k, lkeys[z]) == 0;
    if (!ok) {
      snprintf(fk, sizeof fk, "%s.%s", fl, k);
      sf_err_field_add(err, fk, "unknown key (name, role, users, quorum, when)");
    }
  }
  const char *name = json_string_value(json_object_get(l, "name"));
  snprintf(fk, sizeof fk, "%s.name", fl);
  check_name(err, fk, json_object_get(l, "name"), "_", NAME_RULE);
  for (size_t z = 0; name && z < j; z++) {
    const char *n2 = json_string_value(json_object_get(json_array_get(levels, z), "name"));
    if (n2 && strcmp(n2, name) == 0) sf_err_field_add(err, fk, "'%s' is already levels[%zu]", name, z);
  }
  check_level_rules(l, fl, vm, err);
}

static void check_approvals(const json_t *list, const json_t *states, const json_t *trs, sf_guard_vm *vm, sf_err *err) {
  if (!list) return;
  if (!json_is_array(list) || json_array_size(list) == 0) {
    sf_err_field_add(err, "approvals", "must be a list of approval chains");
    return;
  }
  size_t i;
  const json_t *a;
  json_array_foreach(list, i, a) {
    char f[64], ff[160];
    snprintf(f, sizeof f, "approvals[%zu]", i);
    if (!json_is_object(a)) {
      sf_err_field_add(err, f, "must be {in, levels, on_approved, on_rejected}");
      continue;
    }
    static const char *const keys[] = {"in", "levels", "on_approved", "on_rejected", NULL};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)a, k, v) {
      int ok = 0;
      for (int j = 0; keys[j] && !ok; j++) ok = strcmp(k, keys[j]) == 0;
      if (!ok) {
        snprintf(ff, sizeof ff, "%s.%s", f, k);
        sf_err_field_add(err, ff, "unknown key (in, levels, on_approved, on_rejected)");
      }
    }
    const char *in = json_string_value(json_object_get(a, "in"));
    const json_t *st = in ? json_object_get(states, in) : NULL;
    snprintf(ff, sizeof ff, "%s.in", f);
    if (!in || !st)
      sf_err_field_add(err, ff, "must name a state");
    else if (json_is_true(json_object_get(st, "final")))
      sf_err_field_add(err, ff, "'%s' is final: no chain can run in it", in);
    for (size_t j = 0; in && j < i; j++)
      if (json_string_value(json_object_get(json_array_get(list, j), "in")) &&
          strcmp(json_string_value(json_object_get(json_array_get(list, j), "in")), in) == 0)
        sf_err_field_add(err, ff, "state '%s' already has approvals[%zu]", in, j);
    static const char *const ends[] = {"on_approved", "on_rejected"};
    for (int e = 0; e < 2; e++) {
      const char *action = json_string_value(json_object_get(a, ends[e]));
      snprintf(ff, sizeof ff, "%s.%s", f, ends[e]);
      if (!action)
        sf_err_field_add(err, ff, "is required: the action taken when the chain %s", e ? "is rejected" : "is approved");
      else if (in && st && !has_transition(trs, action, in))
        sf_err_field_add(err, ff, "'%s' is not an action of a transition out of '%s'", action, in);
    }
    const json_t *levels = json_object_get(a, "levels");
    snprintf(ff, sizeof ff, "%s.levels", f);
    if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > 10) {
      sf_err_field_add(err, ff, "is required: a list of 1 to 10 levels");
      continue;
    }
    for (size_t j = 0; j < json_array_size(levels); j++) check_level(levels, j, f, vm, err);
  }
}

/* A state name or a list of them, each a state of the workflow. */
static void check_state_list(const json_t *v, const json_t *states, const char *where, sf_err *err) {
  if (!json_is_string(v) && (!json_is_array(v) || json_array_size(v) == 0)) {
    sf_err_field_add(err, where, "must be a state or a list of states");
    return;
  }
  for (size_t i = 0; i < from_count(v); i++) {
    const char *s = from_at(v, i);
    if (!s || !json_object_get(states, s)) sf_err_field_add(err, where, "'%s' is not a state", s ? s : "(not text)");
  }
}

/* sla: {calendar, pause_in, warn_at, targets: [{name, until, within, when, on_warning, on_breach}]} */
static void check_sla(const json_t *sla, const json_t *states, sf_guard_vm *vm, sf_err *err) {
  if (!sla) return;
  if (!json_is_object(sla)) {
    sf_err_field_add(err, "sla", "must be {calendar, pause_in, warn_at, targets}");
    return;
  }
  static const char *const keys[] = {"calendar", "pause_in", "warn_at", "targets", NULL};
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)sla, k, v) {
    int ok = 0;
    for (int j = 0; keys[j] && !ok; j++) ok = strcmp(k, keys[j]) == 0;
    if (!ok) {
      char f[96];
      snprintf(f, sizeof f, "sla.%s", k);
      sf_err_field_add(err, f, "unknown key (calendar, pause_in, warn_at, targets)");
    }
  }
  const json_t *cal = json_object_get(sla, "calendar");
  if (cal) sf_calendar_free(sf_calendar_new(cal, "sla.calendar", err));
  if (json_object_get(sla, "pause_in")) check_state_list(json_object_get(sla, "pause_in"), states, "sla.pause_in", err);
  const json_t *warn = json_object_get(sla, "warn_at");
  if (warn && (!json_is_array(warn) || json_array_size(warn) > 8))
    sf_err_field_add(err, "sla.warn_at", "must be a list of up to 8 percentages");
  size_t i;
  json_array_foreach(json_is_array(warn) ? warn : NULL, i, v) {
    json_int_t p = json_is_integer(v) ? json_integer_value(v) : 0;
    json_int_t prev = i ? json_integer_value(json_array_get(warn, i - 1)) : 0;
    if (p < 1 || p > 99 || p <= prev)
      sf_err_field_add(err, "sla.warn_at", "warn_at[%zu] must be a percentage from 1 to 99, ascending", i);
  }
  const json_t *targets = json_object_get(sla, "targets");
  if (!json_is_array(targets) || json_array_size(targets) == 0 || json_array_size(targets) > 32) {
    sf_err_field_add(err, "sla.targets", "is required: a list of 1 to 32 targets");
    return;
  }
  const json_t *t;
  json_array_foreach(targets, i, t) {
    char f[64], ff[128];
    snprintf(f, sizeof f, "sla.targets[%zu]", i);
    if (!json_is_object(t)) {
      sf_err_field_add(err, f, "must be {name, until, within, when, on_warning, on_breach}");
      continue;
    }
    static const char *const tkeys[] = {"name", "until", "within", "when", "on_warning", "on_breach", NULL};
    json_object_foreach((json_t *)t, k, v) {
      int ok = 0;
      for (int j = 0; tkeys[j] && !ok; j++) ok = strcmp(k, tkeys[j]) == 0;
      if (!ok) {
        snprintf(ff, sizeof ff, "%s.%s", f, k);
        sf_err_field_add(err, ff, "unknown key (name, until, within, when, on_warning, on_breach)");
      }
    }
    snprintf(ff, sizeof ff, "%s.name", f);
    check_name(err, ff, json_object_get(t, "name"), "_", NAME_RULE);
    snprintf(ff, sizeof ff, "%s.until", f);
    check_state_list(json_object_get(t, "until"), states, ff, err);
    const char *within = json_string_value(json_object_get(t, "within"));
    snprintf(ff, sizeof ff, "%s.within", f);
    if (!within || sf_flow_duration_s(within) < 0)
      sf_err_field_add(err, ff, "must be a duration such as 30m, 4h or 5d (business time when a calendar is set)");
    const json_t *when = json_object_get(t, "when");
    snprintf(ff, sizeof ff, "%s.when", f);
    if (when && !json_is_string(when)) {
      sf_err_field_add(err, ff, "must be a Lua expression (text)");
    } else if (when) {
      sf_err gerr = {0};
      if (sf_guard_check(vm, json_string_value(when), &gerr)) sf_err_field_add(err, ff, "%s", gerr.detail);
    }
    snprintf(ff, sizeof ff, "%s.on_warning", f);
    check_actions(json_object_get(t, "on_warning"), ff, err);
    snprintf(ff, sizeof ff, "%s.on_breach", f);
    check_actions(json_object_get(t, "on_breach"), ff, err);
  }
}

/* What validation learns of the states, for the checks after them. */
typedef struct {
  const json_t *states, *trs; /* NULL when missing or malformed */
  const char *names[MAX_STATES];
  int finals[MAX_STATES], outs[MAX_STATES], reached[MAX_STATES];
  size_t n;
  int nfinal, initial;
  const char *init;
} flow_check;

static int state_index(const flow_check *c, const char *s) {
  for (size_t z = 0; s && z < c->n; z++)
    if (strcmp(c->names[z], s) == 0) return (int)z;
  return -1;
}

static void check_keys(const json_t *o, const char *const *keys, const char *where, const char *what, sf_err *err) {
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    int ok = 0;
    for (int i = 0; keys[i] && !ok; i++) ok = strcmp(k, keys[i]) == 0;
    if (ok) continue;
    char f[160];
    if (where)
      snprintf(f, sizeof f, "%s.%s", where, k);
    else
      snprintf(f, sizeof f, "%s", k);
    sf_err_field_add(err, f, "%s", what);
  }
}

static void check_top(const json_t *def, sf_err *err) {
  static const char *const top[] = {"name",           "type",      "description", "fields",
                                    "unknown_fields", "initial",   "states",      "transitions",
                                    "timers",         "approvals", "sla",         NULL};
  check_keys(def, top, NULL, "unknown key", err);
  const char *name = json_string_value(json_object_get(def, "name"));
  if (!name || !*name || strlen(name) > 100) sf_err_field_add(err, "name", "is required (1 to 100 characters)");
  check_name(err, "type", json_object_get(def, "type"), "_-", TYPE_RULE);
  sf_flow_check_catalog(def, err);
}

static void check_state(flow_check *c, const char *k, const json_t *v, sf_err *err) {
  char f[120];
  snprintf(f, sizeof f, "states.%s", k);
  if (!is_name(k, 40, 0)) sf_err_field_add(err, f, "is not a state name ([a-z][a-z0-9_]{0,39})");
  size_t n = c->n;
  c->names[n] = k;
  c->finals[n] = c->outs[n] = c->reached[n] = 0;
  if (!json_is_null(v) && !json_is_object(v)) {
    sf_err_field_add(err, f, "must be a mapping (or empty)");
  } else if (json_is_object(v)) {
    static const char *const st_keys[] = {"final", "on_enter", "on_exit", NULL};
    check_keys(v, st_keys, f, "unknown key (final, on_enter, on_exit)", err);
    const json_t *fin = json_object_get(v, "final");
    if (fin && !json_is_boolean(fin)) sf_err_field_add(err, f, "final must be true or false");
    c->finals[n] = json_is_true(fin);
    char fa[160];
    snprintf(fa, sizeof fa, "%s.on_enter", f);
    check_actions(json_object_get(v, "on_enter"), fa, err);
    snprintf(fa, sizeof fa, "%s.on_exit", f);
    check_actions(json_object_get(v, "on_exit"), fa, err);
  }
  c->nfinal += c->finals[n];
  c->n++;
}

static void check_states(const json_t *def, flow_check *c, sf_err *err) {
  c->states = json_object_get(def, "states");
  size_t nstates = json_is_object(c->states) ? json_object_size(c->states) : 0;
  if (!json_is_object(c->states) || nstates == 0 || nstates > MAX_STATES) {
    sf_err_field_add(err, "states", "is required: a mapping of 1 to %d states", MAX_STATES);
    c->states = NULL;
  }
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)c->states, k, v) check_state(c, k, v, err);
  c->init = json_string_value(json_object_get(def, "initial"));
  c->initial = state_index(c, c->init);
  if (!c->init)
    sf_err_field_add(err, "initial", "is required: the state a request starts in");
  else if (c->initial < 0 && c->states)
    sf_err_field_add(err, "initial", "'%s' is not a state", c->init);
  if (c->states && !c->nfinal) sf_err_field_add(err, "states", "needs at least one final state (final: true)");
}

/* One transition per action and state: fs, a from of transitions[i], against the earlier ones. */
static void check_unique_from(const flow_check *c, size_t i, const char *action, const char *fs, const char *f,
                              sf_err *err) {
  size_t i2;
  const json_t *t2;
  json_array_foreach(c->trs, i2, t2) {
    if (i2 >= i) break;
    const char *a2 = json_string_value(json_object_get(t2, "action"));
    const json_t *from2 = json_object_get(t2, "from");
    for (size_t j2 = 0; action && a2 && strcmp(a2, action) == 0 && j2 < from_count(from2); j2++) {
      const char *fs2 = from_at(from2, j2);
      if (fs2 && strcmp(fs2, fs) == 0)
        sf_err_field_add(err, f, "action '%s' from '%s' is already transitions[%zu]", action, fs, i2);
    }
  }
}

static void check_from(flow_check *c, size_t i, const json_t *t, const char *f, sf_err *err) {
  const char *action = json_string_value(json_object_get(t, "action"));
  const json_t *from = json_object_get(t, "from");
  char ff[96];
  for (size_t j = 0; j < from_count(from); j++) {
    const char *fs = from_at(from, j);
    int fi = state_index(c, fs);
    snprintf(ff, sizeof ff, json_is_array(from) ? "%s.from[%zu]" : "%s.from", f, j);
    if (!fs) {
      sf_err_field_add(err, ff, "must be a state name");
      continue;
    }
    if (fi < 0) {
      sf_err_field_add(err, ff, "'%s' is not a state", fs);
      continue;
    }
    c->outs[fi]++;
    if (c->finals[fi]) sf_err_field_add(err, ff, "'%s' is final: nothing leaves it", fs);
    check_unique_from(c, i, action, fs, f, err);
  }
}

static void check_roles_guard(const json_t *t, const char *f, sf_guard_vm *vm, sf_err *err) {
  char ff[96];
  const json_t *roles = json_object_get(t, "roles");
  snprintf(ff, sizeof ff, "%s.roles", f);
  if (roles && (!json_is_array(roles) || json_array_size(roles) == 0)) {
    sf_err_field_add(err, ff, "must be a list of roles");
  } else if (roles) {
    size_t j;
    const json_t *r;
    json_array_foreach(roles, j, r) if (!json_is_string(r) || !is_role(json_string_value(r))) sf_err_field_add(
        err, ff, "unknown role %s%s%s (customer, staff, approver, admin)", json_is_string(r) ? "'" : "",
        json_is_string(r) ? json_string_value(r) : "(not a string)", json_is_string(r) ? "'" : "");
  }
  snprintf(ff, sizeof ff, "%s.by", f);
  sf_flow_check_by(json_object_get(t, "by"), ff, err);
  const json_t *guard = json_object_get(t, "guard");
  snprintf(ff, sizeof ff, "%s.guard", f);
  if (guard && !json_is_string(guard)) {
    sf_err_field_add(err, ff, "must be a Lua expression (text)");
  } else if (guard) {
    sf_err gerr = {0};
    if (sf_guard_check(vm, json_string_value(guard), &gerr)) sf_err_field_add(err, ff, "%s", gerr.detail);
  }
}

static void check_transition(flow_check *c, size_t i, const json_t *t, sf_guard_vm *vm, sf_err *err) {
  char f[64], ff[96];
  snprintf(f, sizeof f, "transitions[%zu]", i);
  if (!json_is_object(t)) {
    sf_err_field_add(err, f, "must be a mapping");
    return;
  }
  static const char *const tr_keys[] = {"action", "from", "to", "roles", "by", "guard", NULL};
  check_keys(t, tr_keys, f, "unknown key (action, from, to, roles, by, guard)", err);
  snprintf(ff, sizeof ff, "%s.action", f);
  check_name(err, ff, json_object_get(t, "action"), "_", NAME_RULE);
  const json_t *from = json_object_get(t, "from");
  snprintf(ff, sizeof ff, "%s.from", f);
  int from_ok = json_is_string(from) || (json_is_array(from) && json_array_size(from) > 0);
  if (!from_ok) sf_err_field_add(err, ff, "is required: a state or a list of states");
  const char *tos = json_string_value(json_object_get(t, "to"));
  snprintf(ff, sizeof ff, "%s.to", f);
  if (!tos)
    sf_err_field_add(err, ff, "is required: a state");
  else if (state_index(c, tos) < 0)
    sf_err_field_add(err, ff, "'%s' is not a state", tos);
  if (from_ok) check_from(c, i, t, f, err);
  check_roles_guard(t, f, vm, err);
}

static void check_transitions(const json_t *def, flow_check *c, sf_guard_vm *vm, sf_err *err) {
  c->trs = json_object_get(def, "transitions");
  if (!json_is_array(c->trs) || json_array_size(c->trs) == 0 || json_array_size(c->trs) > MAX_TRANSITIONS) {
    sf_err_field_add(err, "transitions", "is required: a list of 1 to %d transitions", MAX_TRANSITIONS);
    c->trs = NULL;
  }
  size_t i;
  const json_t *t;
  json_array_foreach(c->trs, i, t) check_transition(c, i, t, vm, err);
}

static void check_timers(const json_t *def, const flow_check *c, sf_err *err) {
  const json_t *timers = json_object_get(def, "timers");
  if (timers && !json_is_array(timers)) sf_err_field_add(err, "timers", "must be a list");
  size_t i;
  const json_t *t;
  json_array_foreach(json_is_array(timers) ? timers : NULL, i, t) {
    char f[64], ff[96];
    snprintf(f, sizeof f, "timers[%zu]", i);
    const char *in = json_string_value(json_object_get(t, "in"));
    const char *after = json_string_value(json_object_get(t, "after"));
    const char *action = json_string_value(json_object_get(t, "action"));
    int si = state_index(c, in);
    snprintf(ff, sizeof ff, "%s.in", f);
    if (!json_is_object(t) || json_object_size(t) != 3) sf_err_field_add(err, f, "must be {in, after, action}");
    if (!in || si < 0) sf_err_field_add(err, ff, "must name a state");
    snprintf(ff, sizeof ff, "%s.after", f);
    if (!after || sf_flow_duration_s(after) < 0)
      sf_err_field_add(err, ff, "must be a duration such as 90s, 30m, 48h or 5d (up to 366 days)");
    snprintf(ff, sizeof ff, "%s.action", f);
    if (!action || (si >= 0 && !has_transition(c->trs, action, in)))
      sf_err_field_add(err, ff, "must be an action of a transition out of '%s'", in ? in : "?");
  }
}

/* Every state reachable from the initial one; a state that is not final has a way out. */
static void check_reachable(flow_check *c, sf_err *err) {
  if (c->initial < 0 || !c->trs) return;
  c->reached[c->initial] = 1;
  for (int changed = 1; changed;) {
    changed = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(c->trs, i, t) {
      int to = state_index(c, json_string_value(json_object_get(t, "to")));
      const json_t *from = json_object_get(t, "from");
      for (size_t j = 0; to >= 0 && !c->reached[to] && j < from_count(from); j++) {
        int fi = state_index(c, from_at(from, j));
        if (fi >= 0 && c->reached[fi]) c->reached[to] = changed = 1;
      }
    }
  }
  for (size_t s = 0; s < c->n; s++) {
    char f[120];
    snprintf(f, sizeof f, "states.%s", c->names[s]);
    if (!c->reached[s])
      sf_err_field_add(err, f, "is unreachable from the initial state '%s'", c->init);
    else if (!c->finals[s] && !c->outs[s])
      sf_err_field_add(err, f, "is not final and no transition leaves it");
  }
}

int sf_flow_validate(const json_t *def, sf_guard_vm *vm, sf_err *err) {
  if (!json_is_object(def)) {
    sf_err_field_add(err, "definition", "must be a mapping");
    return sf_err_set(err, 422, "invalid-workflow", "Invalid workflow", "the workflow definition is not valid");
  }
  flow_check c = {0};
  check_top(def, err);
  check_states(def, &c, err);
  check_transitions(def, &c, vm, err);
  check_timers(def, &c, err);
  check_approvals(json_object_get(def, "approvals"), c.states, c.trs, vm, err);
  check_sla(json_object_get(def, "sla"), c.states, vm, err);
  check_reachable(&c, err);
  if (err->nfields)
    return sf_err_set(err, 422, "invalid-workflow", "Invalid workflow", "the workflow definition is not valid");
  return 0;
}
