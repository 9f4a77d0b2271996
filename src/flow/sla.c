/* SLA targets recomputed from the request's log, the durable SLA timer and
 * the view (sla.h). */
#include "flow/sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/store.h"
#include "events/timers.h"
#include "flow/steps.h"

#define MAX_TARGETS 32

/* ---- the log ---- */

typedef struct {
  int index; /* in sla.targets */
  int64_t within_ms;
  int warned[SF_FLOW_MAX_WARN]; /* warn_at[i] already recorded */
  int breached;                 /* request.sla_breached recorded */
  /* computed */
  int64_t elapsed_ms, met_at;
  int paused, stopped; /* in a pause_in state; in a final state without meeting it */
} target;

typedef struct {
  const sf_flow_def *def;
  int64_t *at;
  int *state; /* index of the state entered at at[i]; -1: not one of the workflow's */
  int n, cap;
  int started;
  target t[MAX_TARGETS];
  int nt;
} sla_log;

static void add_step(sla_log *g, int64_t at, const char *state) {
  if (g->n == g->cap) {
    g->cap = g->cap ? g->cap * 2 : 16;
    g->at = sf_realloc(g->at, (size_t)g->cap * sizeof *g->at);
    g->state = sf_realloc(g->state, (size_t)g->cap * sizeof *g->state);
  }
  g->at[g->n] = at;
  g->state[g->n] = sf_flow_state_index(g->def, state);
  g->n++;
}

static target *target_at(sla_log *g, json_int_t index) {
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].index == index) return &g->t[i];
  return NULL;
}

static void started(sla_log *g, const json_t *d) {
  g->started = 1;
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(d, "targets"), i, t) if (g->nt < MAX_TARGETS) {
    target *x = &g->t[g->nt++];
    memset(x, 0, sizeof *x);
    x->index = (int)json_integer_value(json_object_get(t, "index"));
    x->within_ms = json_integer_value(json_object_get(t, "within_s")) * 1000;
  }
}

static void recorded(sla_log *g, const char *ty, const json_t *d) {
  target *x = target_at(g, json_integer_value(json_object_get(d, "target")));
  if (x && ty[4] == 'b') x->breached = 1;
  if (x && ty[4] == 'w') {
    json_int_t p = json_integer_value(json_object_get(d, "percent"));
    for (int i = 0; i < g->def->sla.nwarn; i++)
      if (g->def->sla.warn_at[i] == p) x->warned[i] = 1;
  }
}

static int visit(const sf_event *ev, void *ud) {
  sla_log *g = ud;
  const char *ty = ev->type;
  if (strncmp(ty, "request.", 8) != 0) return 0;
  ty += 8;
  if (strcmp(ty, "created") && strcmp(ty, "transitioned") && strcmp(ty, "sla_started") && strcmp(ty, "sla_warning") &&
      strcmp(ty, "sla_breached"))
    return 0;
  json_t *d = json_loads(ev->data, 0, NULL);
  if (!d) return 0;
  if (strcmp(ty, "created") == 0)
    add_step(g, ev->at, json_string_value(json_object_get(d, "state")));
  else if (strcmp(ty, "transitioned") == 0)
    add_step(g, ev->at, json_string_value(json_object_get(d, "to")));
  else if (strcmp(ty, "sla_started") == 0)
    started(g, d);
  else
    recorded(g, ty, d);
  json_decref(d);
  return 0;
}

static void log_free(sla_log *g) {
  free(g->at);
  free(g->state);
}

static int flag(const sla_log *g, int step, int paused) {
  int s = g->state[step];
  if (s < 0) return 0;
  return paused ? g->def->states[s].paused : g->def->states[s].final;
}

/* Elapsed business time, met time and pause of every target as of now.
 * Time in a final state does not count either: a request closed without
 * meeting a target stops its clock there. */
static void compute(sla_log *g, int64_t now) {
  const sf_flow_sla *sla = &g->def->sla;
  for (int k = 0; k < g->nt; k++) {
    target *x = &g->t[k];
    const uint8_t *until = x->index >= 0 && x->index < sla->ntargets ? sla->targets[x->index].until : NULL;
    x->met_at = 0;
    for (int i = 0; i < g->n && !x->met_at; i++)
      if (until && g->state[i] >= 0 && until[g->state[i]]) x->met_at = g->at[i];
    int64_t end = x->met_at ? x->met_at : now;
    x->elapsed_ms = 0;
    for (int i = 0; i < g->n; i++) {
      int64_t a = g->at[i], b = i + 1 < g->n ? g->at[i + 1] : end;
      if (b > end) b = end;
      if (a >= b || flag(g, i, 1) || flag(g, i, 0)) continue;
      x->elapsed_ms += sf_calendar_business_ms(sla->calendar, a, b);
    }
    x->paused = !x->met_at && g->n && flag(g, g->n - 1, 1);
    x->stopped = !x->met_at && g->n && flag(g, g->n - 1, 0);
  }
}

/* Reads r's log (in the writer's transaction or a reader). 0 when the
 * workflow has no SLA or the request has none started. */
static int load_log(sf_db *db, const sf_flow_request *r, sla_log *g, sf_err *err) {
  memset(g, 0, sizeof *g);
  g->def = r->def;
  if (!r->def->sla.present) return 0;
  char stream[96];
  snprintf(stream, sizeof stream, "request-%s", r->id);
  if (sf_ev_read_stream(db, stream, 0, 0, visit, g, err) < 0) {
    log_free(g);
    return -1;
  }
  if (!g->started) log_free(g); /* the caller frees only a log it uses */
  return g->started;
}

/* ---- the timer ---- */

static int64_t percent_of(int64_t within, json_int_t p) { return within * p / 100; }

/* The next instant something is due for x (0: nothing while its clock stands). */
static int64_t target_due(const sf_flow_sla *sla, const target *x, int64_t now) {
  if (x->met_at || x->paused || x->stopped || x->breached) return 0;
  int64_t mark = x->within_ms;
  int due_now = 0;
  for (int i = 0; i < sla->nwarn; i++) {
    int64_t m = percent_of(x->within_ms, sla->warn_at[i]);
    if (x->warned[i]) continue;
    if (m <= x->elapsed_ms)
      due_now = 1;
    else if (m < mark)
      mark = m;
  }
  return due_now || x->elapsed_ms >= mark ? now : sf_calendar_add(sla->calendar, now, mark - x->elapsed_ms);
}

static int64_t next_due(const sla_log *g, int64_t now) {
  int64_t best = 0;
  for (int k = 0; k < g->nt; k++) {
    int64_t at = target_due(&g->def->sla, &g->t[k], now);
    if (at && (!best || at < best)) best = at;
  }
  return best;
}

static int reschedule(sf_tx *tx, const sf_flow_request *r, const sla_log *g, sf_err *err) {
  int64_t due = next_due(g, tx->now_ms);
  if (!due || due == INT64_MAX) return sf_timer_cancel(tx, SF_FLOW_SLA_TIMER, r->id, err);
  if (due <= tx->now_ms) due = tx->now_ms + 1;
  return sf_timer_set(tx, SF_FLOW_SLA_TIMER, r->id, due, err);
}

int sf_flow_sla_start(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err) {
  const sf_flow_sla *sla = &r->def->sla;
  if (!sla->present) return 0;
  json_t *chosen = json_array();
  const char *names[MAX_TARGETS];
  int nnames = 0;
  for (int i = 0; i < sla->ntargets; i++) {
    const sf_flow_target *t = &sla->targets[i];
    int dup = 0;
    for (int c = 0; c < nnames; c++) dup |= strcmp(names[c], t->name) == 0;
    if (dup) continue; /* the first applicable target of a name wins */
    sf_err gerr = {0};
    if (sf_flow_holds(t->when, r, &gerr) != 1) continue; /* false or failing */
    if (nnames < MAX_TARGETS) names[nnames++] = t->name;
    json_array_append_new(chosen, json_pack("{s:I, s:s, s:s, s:I}", "index", (json_int_t)i, "name", t->name, "within",
                                            t->within, "within_s", (json_int_t)t->within_s));
  }
  if (json_array_size(chosen) == 0) {
    json_decref(chosen);
    return 0;
  }
  return sf_flow_event(cx, r, "request.sla_started", json_pack("{s:o}", "targets", chosen), err);
}

int sf_flow_sla_schedule(const sf_flow_ctx *cx, const sf_flow_request *r, sf_err *err) {
  if (!r->def->sla.present) return 0;
  sla_log g;
  int rc = load_log(cx->tx->db, r, &g, err);
  if (rc <= 0) return rc;
  compute(&g, cx->tx->now_ms);
  rc = reschedule(cx->tx, r, &g, err);
  log_free(&g);
  return rc;
}

static int breach(const sf_flow_ctx *cx, sf_flow_request *r, target *x, int *changed, sf_err *err) {
  const sf_flow_target *def = &r->def->sla.targets[x->index];
  if (!*changed) r->version++; /* one step: its actions see the version it gives */
  *changed = 1;
  x->breached = 1;
  int rc = sf_flow_event(cx, r, "request.sla_breached",
                         json_pack("{s:I, s:s, s:s, s:I}", "target", (json_int_t)x->index, "name", def->name, "within",
                                   def->within, "elapsed_s", (json_int_t)(x->elapsed_ms / 1000)),
                         err);
  return rc ? rc : sf_flow_run_actions(cx, r, &def->on_breach, r->state, "on_breach", NULL, err);
}

static int warnings(const sf_flow_ctx *cx, sf_flow_request *r, target *x, int *changed, sf_err *err) {
  const sf_flow_sla *sla = &r->def->sla;
  const sf_flow_target *def = &sla->targets[x->index];
  for (int i = 0; i < sla->nwarn; i++) {
    if (x->warned[i] || x->elapsed_ms < percent_of(x->within_ms, sla->warn_at[i])) continue;
    if (!*changed) r->version++;
    *changed = 1;
    x->warned[i] = 1;
    int rc =
        sf_flow_event(cx, r, "request.sla_warning",
                      json_pack("{s:I, s:s, s:I, s:I}", "target", (json_int_t)x->index, "name", def->name, "percent",
                                (json_int_t)sla->warn_at[i], "elapsed_s", (json_int_t)(x->elapsed_ms / 1000)),
                      err);
    if (!rc) rc = sf_flow_run_actions(cx, r, &def->on_warning, r->state, "on_warning", NULL, err);
    if (rc) return rc;
  }
  return 0;
}

int sf_flow_sla_fire(const sf_flow_ctx *cx, sf_flow_request *r, int *changed, sf_err *err) {
  *changed = 0;
  sla_log g;
  int rc = load_log(cx->tx->db, r, &g, err);
  if (rc <= 0) return rc;
  compute(&g, cx->tx->now_ms);
  rc = 0;
  for (int k = 0; !rc && k < g.nt; k++) {
    target *x = &g.t[k];
    if (x->met_at || x->paused || x->stopped || x->breached) continue;
    if (x->index < 0 || x->index >= r->def->sla.ntargets) continue;
    rc = x->elapsed_ms >= x->within_ms ? breach(cx, r, x, changed, err) : warnings(cx, r, x, changed, err);
  }
  if (!rc) rc = reschedule(cx->tx, r, &g, err);
  log_free(&g);
  return rc;
}

/* ---- the view ---- */

static json_t *target_json(const sf_flow_sla *sla, const target *x, int64_t now) {
  const sf_flow_target *def = &sla->targets[x->index];
  int late = x->elapsed_ms >= x->within_ms;
  const char *status = x->met_at    ? "met"
                       : late       ? "breached"
                       : x->stopped ? "stopped"
                       : x->paused  ? "paused"
                                    : "running";
  json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "name", def->name, "within", def->within, "status",
                        status, "breached", late, "elapsed_s", (json_int_t)(x->elapsed_ms / 1000), "remaining_s",
                        (json_int_t)(late ? 0 : (x->within_ms - x->elapsed_ms) / 1000), "percent",
                        (json_int_t)(x->within_ms ? x->elapsed_ms * 100 / x->within_ms : 100));
  char at[32];
  if (!x->met_at && !late && !x->paused && !x->stopped) {
    int64_t due = sf_calendar_add(sla->calendar, now, x->within_ms - x->elapsed_ms);
    if (due != INT64_MAX) {
      sf_time_iso8601(due, at, sizeof at);
      json_object_set_new(o, "due_at", json_string(at));
    }
  }
  if (x->met_at) {
    sf_time_iso8601(x->met_at, at, sizeof at);
    json_object_set_new(o, "met_at", json_string(at));
  }
  json_t *warned = json_array();
  for (int i = 0; i < sla->nwarn; i++)
    if (x->warned[i]) json_array_append_new(warned, json_integer(sla->warn_at[i]));
  json_object_set_new(o, "warnings", warned);
  return o;
}

json_t *sf_flow_sla_json(sf_db *db, const sf_flow_request *r, int64_t now) {
  sla_log g;
  sf_err err = {0};
  if (load_log(db, r, &g, &err) <= 0) return NULL;
  const sf_flow_sla *sla = &r->def->sla;
  compute(&g, now);
  json_t *targets = json_array();
  for (int k = 0; k < g.nt; k++)
    if (g.t[k].index >= 0 && g.t[k].index < sla->ntargets)
      json_array_append_new(targets, target_json(sla, &g.t[k], now));
  /* as_of: the server's clock (a test clock may be moved) so a client can
   * count down to due_at from the same "now" the view was computed at */
  char asof[32];
  sf_time_iso8601(now, asof, sizeof asof);
  json_t *out = json_pack("{s:s, s:o, s:s}", "calendar", sla->calendar_name, "targets", targets, "as_of", asof);
  log_free(&g);
  return out;
}
