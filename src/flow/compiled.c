/* Compiling a validated definition into sf_flow_def (compiled.h), and the
 * cache of compiled pinned versions. */
#include "flow/compiled.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sf_flow_state_index(const sf_flow_def *d, const char *name) {
  for (int i = 0; name && i < d->nstates; i++)
    if (strcmp(d->states[i].name, name) == 0) return i;
  return -1;
}

/* A state name or a list of them, as a flag per state. */
static uint8_t *state_set(const sf_flow_def *d, const json_t *names) {
  uint8_t *set = sf_calloc((size_t)d->nstates + 1, 1);
  if (json_is_string(names)) {
    int i = sf_flow_state_index(d, json_string_value(names));
    if (i >= 0) set[i] = 1;
  }
  size_t k;
  const json_t *n;
  json_array_foreach(names, k, n) {
    int i = sf_flow_state_index(d, json_string_value(n));
    if (i >= 0) set[i] = 1;
  }
  return set;
}

static sf_flow_actions compile_actions(const json_t *list) {
  sf_flow_actions out = {sf_calloc(json_array_size(list) + 1, sizeof(sf_flow_action)), 0};
  size_t i;
  const json_t *a;
  json_array_foreach(list, i, a) {
    const char *kind = json_object_iter_key(json_object_iter((json_t *)a));
    sf_flow_action *x = &out.at[out.n];
    x->arg = json_object_get(a, kind);
    if (strcmp(kind, "emit") == 0) {
      x->kind = SF_FLOW_EMIT;
      x->event = json_string_value(x->arg);
    } else if (strcmp(kind, "set") == 0) {
      x->kind = SF_FLOW_SET;
    } else if (strcmp(kind, "assign") == 0) {
      x->kind = SF_FLOW_ASSIGN;
      x->role = json_string_value(json_object_get(x->arg, "role"));
      x->user = json_string_value(json_object_get(x->arg, "user"));
    } else if (strcmp(kind, "notify") == 0) {
      x->kind = SF_FLOW_NOTIFY;
    } else if (strcmp(kind, "webhook") == 0) {
      x->kind = SF_FLOW_WEBHOOK;
    } else {
      continue; /* refused on publish */
    }
    out.n++;
  }
  return out;
}

static void compile_states(sf_flow_def *d) {
  const json_t *states = json_object_get(d->src, "states");
  d->states = sf_calloc(json_object_size(states) + 1, sizeof *d->states);
  const char *name;
  const json_t *s;
  json_object_foreach((json_t *)states, name, s) {
    sf_flow_state *x = &d->states[d->nstates++];
    x->name = name;
    x->final = json_is_true(json_object_get(s, "final"));
    x->on_enter = compile_actions(json_object_get(s, "on_enter"));
    x->on_exit = compile_actions(json_object_get(s, "on_exit"));
    x->chain = -1;
  }
  d->initial = sf_flow_state_index(d, json_string_value(json_object_get(d->src, "initial")));
}

/* `by` as text for a message, cut at 199 bytes as the message always was. */
static char *by_text(const json_t *by) {
  char buf[200] = "";
  if (!by) return sf_strdup(SF_FLOW_BY_DEFAULT);
  size_t i, n = 0;
  const json_t *e;
  json_array_foreach(by, i, e) {
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", json_string_value(e));
    if (n >= sizeof buf) break;
  }
  return sf_strdup(buf);
}

static void compile_transition(sf_flow_def *d, const json_t *t, sf_flow_transition *x) {
  x->action = json_string_value(json_object_get(t, "action"));
  x->from = state_set(d, json_object_get(t, "from"));
  x->to = sf_flow_state_index(d, json_string_value(json_object_get(t, "to")));
  x->guard = json_string_value(json_object_get(t, "guard"));
  sf_flow_transition_who(t, x);
  x->by_text = by_text(json_object_get(t, "by"));
}

static void compile_level(const json_t *l, sf_flow_level *x) {
  x->name = json_string_value(json_object_get(l, "name"));
  x->role = json_string_value(json_object_get(l, "role"));
  x->users_json = json_object_get(l, "users");
  x->users = sf_calloc(json_array_size(x->users_json) + 1, sizeof *x->users);
  size_t i;
  const json_t *u;
  json_array_foreach(x->users_json, i, u) x->users[x->nusers++] = json_string_value(u);
  const json_t *q = json_object_get(l, "quorum");
  x->quorum = q;
  x->quorum_all = json_is_string(q) && strcmp(json_string_value(q), "all") == 0;
  x->quorum_n = json_is_integer(q) ? json_integer_value(q) : 1;
  x->quorum_counted = json_is_integer(q) && x->users_json;
  x->when = json_string_value(json_object_get(l, "when"));
}

static void compile_chains(sf_flow_def *d) {
  const json_t *list = json_object_get(d->src, "approvals");
  d->chains = sf_calloc(json_array_size(list) + 1, sizeof *d->chains);
  size_t i;
  const json_t *a;
  json_array_foreach(list, i, a) {
    sf_flow_chain *x = &d->chains[d->nchains];
    x->state = sf_flow_state_index(d, json_string_value(json_object_get(a, "in")));
    x->on_approved = json_string_value(json_object_get(a, "on_approved"));
    x->on_rejected = json_string_value(json_object_get(a, "on_rejected"));
    const json_t *levels = json_object_get(a, "levels");
    x->levels = sf_calloc(json_array_size(levels) + 1, sizeof *x->levels);
    for (size_t j = 0; j < json_array_size(levels); j++) compile_level(json_array_get(levels, j), &x->levels[j]);
    x->nlevels = (int)json_array_size(levels);
    if (x->state >= 0 && d->states[x->state].chain < 0) d->states[x->state].chain = d->nchains; /* the first */
    d->nchains++;
  }
}

static void compile_timers(sf_flow_def *d) {
  const json_t *list = json_object_get(d->src, "timers");
  d->timers = sf_calloc(json_array_size(list) + 1, sizeof *d->timers);
  size_t i;
  const json_t *t;
  json_array_foreach(list, i, t) {
    sf_flow_timer *x = &d->timers[d->ntimers++];
    x->state = sf_flow_state_index(d, json_string_value(json_object_get(t, "in")));
    x->after = json_string_value(json_object_get(t, "after"));
    x->after_s = x->after ? sf_flow_duration_s(x->after) : -1;
    x->action = json_string_value(json_object_get(t, "action"));
  }
}

static int compile_sla(sf_flow_def *d, sf_err *err) {
  const json_t *sla = json_object_get(d->src, "sla");
  sf_flow_sla *x = &d->sla;
  if (!sla) return 0;
  x->present = 1;
  uint8_t *paused = state_set(d, json_object_get(sla, "pause_in"));
  for (int i = 0; i < d->nstates; i++) d->states[i].paused = paused[i];
  free(paused);
  size_t i;
  const json_t *v;
  json_array_foreach(json_object_get(sla, "warn_at"), i, v) if (i < SF_FLOW_MAX_WARN) x->warn_at[x->nwarn++] =
      json_integer_value(v);
  const json_t *targets = json_object_get(sla, "targets");
  x->targets = sf_calloc(json_array_size(targets) + 1, sizeof *x->targets);
  json_array_foreach(targets, i, v) {
    sf_flow_target *t = &x->targets[x->ntargets++];
    t->name = json_string_value(json_object_get(v, "name"));
    t->within = json_string_value(json_object_get(v, "within"));
    t->within_s = t->within ? sf_flow_duration_s(t->within) : -1;
    t->when = json_string_value(json_object_get(v, "when"));
    t->until = state_set(d, json_object_get(v, "until"));
    t->on_warning = compile_actions(json_object_get(v, "on_warning"));
    t->on_breach = compile_actions(json_object_get(v, "on_breach"));
  }
  const json_t *cal = json_object_get(sla, "calendar");
  const char *tz = json_string_value(json_object_get(cal, "timezone"));
  x->calendar_name = !cal ? "24x7" : tz ? tz : "UTC";
  if (!cal) return 0;
  sf_err cerr = {0};
  x->calendar = sf_calendar_new(cal, "sla.calendar", &cerr);
  if (!x->calendar) return sf_err_internal(err, "workflow %s: its calendar no longer builds", d->workflow_id);
  return 0;
}

static void free_actions(sf_flow_actions *a) { free(a->at); }

static void def_free(sf_flow_def *d) {
  for (int i = 0; i < d->nstates; i++) free_actions(&d->states[i].on_enter), free_actions(&d->states[i].on_exit);
  for (int i = 0; i < d->ntransitions; i++) free(d->transitions[i].from), free(d->transitions[i].by_text);
  for (int i = 0; i < d->nchains; i++) {
    for (int j = 0; j < d->chains[i].nlevels; j++) free(d->chains[i].levels[j].users);
    free(d->chains[i].levels);
  }
  for (int i = 0; i < d->sla.ntargets; i++) {
    free(d->sla.targets[i].until);
    free_actions(&d->sla.targets[i].on_warning);
    free_actions(&d->sla.targets[i].on_breach);
  }
  free(d->sla.targets);
  if (d->sla.calendar) sf_calendar_free(d->sla.calendar);
  free(d->states);
  free(d->transitions);
  free(d->chains);
  free(d->timers);
  sf_flow_fields_clear(d->fields, d->nfields);
  free(d->fields);
  json_decref(d->src);
  free(d);
}

sf_flow_def *sf_flow_compile(json_t *def, const char *workflow_id, int64_t version, sf_err *err) {
  sf_flow_def *d = sf_calloc(1, sizeof *d);
  d->src = json_incref(def);
  snprintf(d->workflow_id, sizeof d->workflow_id, "%s", workflow_id);
  d->version = version;
  d->refs = 1;
  compile_states(d);
  const json_t *trs = json_object_get(def, "transitions");
  d->transitions = sf_calloc(json_array_size(trs) + 1, sizeof *d->transitions);
  for (size_t i = 0; i < json_array_size(trs); i++) compile_transition(d, json_array_get(trs, i), &d->transitions[i]);
  d->ntransitions = (int)json_array_size(trs);
  compile_chains(d);
  compile_timers(d);
  const json_t *fields = json_object_get(def, "fields");
  d->fields = sf_calloc(json_array_size(fields) + 1, sizeof *d->fields);
  if (sf_flow_compile_fields(fields, d->fields, err) == 0) d->nfields = (int)json_array_size(fields);
  const char *unknown = json_string_value(json_object_get(def, "unknown_fields"));
  d->reject_unknown = unknown && strcmp(unknown, "reject") == 0;
  int broken = d->initial < 0 || err->status;
  for (int i = 0; i < d->ntransitions; i++) broken |= !d->transitions[i].action || d->transitions[i].to < 0;
  if (broken || compile_sla(d, err)) {
    if (!err->status) sf_err_internal(err, "workflow %s no longer holds together (initial, transitions)", workflow_id);
    def_free(d);
    return NULL;
  }
  return d;
}

int sf_flow_prepare_data(const sf_flow_def *d, json_t *data, sf_err *err) {
  return sf_flow_fields_apply(d->fields, d->nfields, d->reject_unknown, data, err);
}

const sf_flow_def *sf_flow_def_ref(const sf_flow_def *d) {
  if (d) __atomic_add_fetch(&((sf_flow_def *)d)->refs, 1, __ATOMIC_RELAXED);
  return d;
}

void sf_flow_def_unref(const sf_flow_def *d) {
  if (d && __atomic_sub_fetch(&((sf_flow_def *)d)->refs, 1, __ATOMIC_ACQ_REL) == 0) def_free((sf_flow_def *)d);
}

const sf_flow_transition *sf_flow_find_transition(const sf_flow_def *d, const char *action, int state, int *known) {
  const sf_flow_transition *found = NULL;
  if (known) *known = 0;
  for (int i = 0; i < d->ntransitions && !found; i++) {
    const sf_flow_transition *t = &d->transitions[i];
    if (!t->action || strcmp(t->action, action) != 0) continue;
    if (known) *known = 1;
    if (state >= 0 && t->from[state]) found = t;
  }
  return found;
}

/* ---- the cache ---- */

#define DEFS_CACHED 128

static struct flow_defs {
  pthread_mutex_t mu;
  const sf_flow_def *def[DEFS_CACHED];
  int n, next;
} flow_defs = {.mu = PTHREAD_MUTEX_INITIALIZER};

const sf_flow_def *sf_flow_defs_get(const char *workflow_id) {
  const sf_flow_def *found = NULL;
  pthread_mutex_lock(&flow_defs.mu);
  for (int i = 0; i < flow_defs.n && !found; i++)
    if (strcmp(flow_defs.def[i]->workflow_id, workflow_id) == 0) found = sf_flow_def_ref(flow_defs.def[i]);
  pthread_mutex_unlock(&flow_defs.mu);
  return found;
}

void sf_flow_defs_put(const sf_flow_def *d) {
  pthread_mutex_lock(&flow_defs.mu);
  int i = flow_defs.n < DEFS_CACHED ? flow_defs.n++ : flow_defs.next++ % DEFS_CACHED;
  const sf_flow_def *old = flow_defs.def[i];
  flow_defs.def[i] = sf_flow_def_ref(d);
  pthread_mutex_unlock(&flow_defs.mu);
  sf_flow_def_unref(old);
}

void sf_flow_defs_forget(void) {
  pthread_mutex_lock(&flow_defs.mu);
  for (int i = 0; i < flow_defs.n; i++) sf_flow_def_unref(flow_defs.def[i]);
  memset(flow_defs.def, 0, sizeof flow_defs.def);
  flow_defs.n = flow_defs.next = 0;
  pthread_mutex_unlock(&flow_defs.mu);
}
