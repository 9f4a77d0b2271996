/* SLAs of service requests. A workflow's `sla` names targets ("respond
 * within 4h", "resolve within 3d"), each met when the request first enters
 * one of its `until` states, measured in the business time of the
 * workflow's calendar (flow/calendar.h; 24x7 without one), with the clock
 * stopped while the request is in a `pause_in` state. The targets that
 * apply are chosen when the request is created (a target's `when` guard over
 * its data) and recorded in request.sla_started.
 *
 * Nothing is counted: the state of every target is recomputed from the
 * request's event log (creation, transitions, warnings and breaches already
 * recorded) whenever it is needed. One durable timer per request (kind
 * "request.sla", ref = the request id) is set for the next warning or
 * breach; it survives restarts, and the handler records what is due
 * (request.sla_warning, request.sla_breached and their actions: notify,
 * assign, set...), then sets the next one. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "events/store.h"
#include "events/timers.h"
#include "flow/calendar.h"
#include "flow/definition.h"
#include "services/requests/internal.h"

#define SLA_TIMER "request.sla"
#define MAX_TARGETS 32
#define MAX_WARN 8

/* ---- calendars, parsed once per pinned workflow version ---- */

static struct {
  pthread_mutex_t mu;
  char wf[64][48];
  sf_calendar *cal[64];
  int n;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The calendar of r's workflow (NULL: 24x7). Workflow versions never
 * change, so a parsed calendar stays valid; *owned tells the caller to free
 * it when the cache is full. */
static const sf_calendar *calendar_of(const srq *r, int *owned) {
  *owned = 0;
  const json_t *def = json_object_get(json_object_get(r->def, "sla"), "calendar");
  if (!def) return NULL;
  pthread_mutex_lock(&C.mu);
  for (int i = 0; i < C.n; i++)
    if (strcmp(C.wf[i], r->workflow_id) == 0) {
      pthread_mutex_unlock(&C.mu);
      return C.cal[i];
    }
  sf_err err = {0};
  sf_calendar *cal = sf_calendar_new(def, "sla.calendar", &err); /* validated on publish */
  if (cal && C.n < 64) {
    snprintf(C.wf[C.n], sizeof C.wf[0], "%s", r->workflow_id);
    C.cal[C.n++] = cal;
  } else {
    *owned = cal != NULL;
  }
  pthread_mutex_unlock(&C.mu);
  return cal;
}

/* ---- the log ---- */

typedef struct {
  int index; /* in sla.targets */
  int64_t within_ms;
  int warned[MAX_WARN]; /* warn_at[i] already recorded */
  int breached;         /* request.sla_breached recorded */
  /* computed */
  int64_t elapsed_ms, met_at;
  int paused, stopped; /* in a pause_in state; in a final state without meeting it */
} target;

typedef struct {
  int64_t *at;
  char (*state)[48];
  int n, cap;
  int started;
  target t[MAX_TARGETS];
  int nt;
  const json_t *warn_at;
} sla_log;

static void add_step(sla_log *g, int64_t at, const char *state) {
  if (g->n == g->cap) {
    g->cap = g->cap ? g->cap * 2 : 16;
    g->at = sf_realloc(g->at, (size_t)g->cap * sizeof *g->at);
    g->state = sf_realloc(g->state, (size_t)g->cap * sizeof *g->state);
  }
  g->at[g->n] = at;
  snprintf(g->state[g->n], sizeof g->state[0], "%s", state ? state : "");
  g->n++;
}

static target *target_at(sla_log *g, json_int_t index) {
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].index == index) return &g->t[i];
  return NULL;
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
  if (strcmp(ty, "created") == 0) {
    add_step(g, ev->at, json_string_value(json_object_get(d, "state")));
  } else if (strcmp(ty, "transitioned") == 0) {
    add_step(g, ev->at, json_string_value(json_object_get(d, "to")));
  } else if (strcmp(ty, "sla_started") == 0) {
    g->started = 1;
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(d, "targets"), i, t) if (g->nt < MAX_TARGETS) {
      target *x = &g->t[g->nt++];
      memset(x, 0, sizeof *x);
      x->index = (int)json_integer_value(json_object_get(t, "index"));
      x->within_ms = json_integer_value(json_object_get(t, "within_s")) * 1000;
    }
  } else {
    target *x = target_at(g, json_integer_value(json_object_get(d, "target")));
    if (x && ty[4] == 'b') x->breached = 1;
    if (x && ty[4] == 'w') {
      json_int_t p = json_integer_value(json_object_get(d, "percent"));
      size_t i;
      const json_t *w;
      json_array_foreach(g->warn_at, i, w) if (i < MAX_WARN && json_integer_value(w) == p) x->warned[i] = 1;
    }
  }
  json_decref(d);
  return 0;
}

static void log_free(sla_log *g) {
  free(g->at);
  free(g->state);
}

static int is_final(const json_t *states, const char *s) {
  return json_is_true(json_object_get(json_object_get(states, s), "final"));
}

/* Elapsed business time, met time and pause of every target as of now.
 * Time in a final state does not count either: a request closed without
 * meeting a target stops its clock there. */
static void compute(sla_log *g, const json_t *def, const sf_calendar *cal, int64_t now) {
  const json_t *sla = json_object_get(def, "sla"), *states = json_object_get(def, "states");
  const json_t *pause = json_object_get(sla, "pause_in");
  for (int k = 0; k < g->nt; k++) {
    target *x = &g->t[k];
    const json_t *until = json_object_get(json_array_get(json_object_get(sla, "targets"), (size_t)x->index), "until");
    x->met_at = 0;
    for (int i = 0; i < g->n && !x->met_at; i++)
      if (srq_names_include(until, g->state[i])) x->met_at = g->at[i];
    int64_t end = x->met_at ? x->met_at : now;
    x->elapsed_ms = 0;
    for (int i = 0; i < g->n; i++) {
      int64_t a = g->at[i], b = i + 1 < g->n ? g->at[i + 1] : end;
      if (b > end) b = end;
      if (a >= b || srq_names_include(pause, g->state[i]) || is_final(states, g->state[i])) continue;
      x->elapsed_ms += sf_calendar_business_ms(cal, a, b);
    }
    x->paused = !x->met_at && g->n && srq_names_include(pause, g->state[g->n - 1]);
    x->stopped = !x->met_at && g->n && is_final(states, g->state[g->n - 1]);
  }
}

/* Reads r's log (in the writer's transaction or a reader). 0 when the
 * workflow has no SLA or the request has none started. */
static int load_log(sf_db *db, const srq *r, sla_log *g, sf_err *err) {
  memset(g, 0, sizeof *g);
  const json_t *sla = json_object_get(r->def, "sla");
  if (!sla) return 0;
  g->warn_at = json_object_get(sla, "warn_at");
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

/* The next instant something is due (0: nothing while the clocks stand). */
static int64_t next_due(const sla_log *g, const sf_calendar *cal, int64_t now) {
  int64_t best = 0;
  for (int k = 0; k < g->nt; k++) {
    const target *x = &g->t[k];
    if (x->met_at || x->paused || x->stopped || x->breached) continue;
    int64_t mark = x->within_ms;
    int due_now = 0;
    size_t i;
    const json_t *w;
    json_array_foreach(g->warn_at, i, w) {
      int64_t m = percent_of(x->within_ms, json_integer_value(w));
      if (i >= MAX_WARN || x->warned[i]) continue;
      if (m <= x->elapsed_ms)
        due_now = 1;
      else if (m < mark)
        mark = m;
    }
    int64_t at = due_now || x->elapsed_ms >= mark ? now : sf_calendar_add(cal, now, mark - x->elapsed_ms);
    if (!best || at < best) best = at;
  }
  return best;
}

static int reschedule(sf_tx *tx, const srq *r, const sla_log *g, const sf_calendar *cal, sf_err *err) {
  int64_t due = next_due(g, cal, tx->now_ms);
  if (!due || due == INT64_MAX) return sf_timer_cancel(tx, SLA_TIMER, r->id, err);
  if (due <= tx->now_ms) due = tx->now_ms + 1;
  return sf_timer_set(tx, SLA_TIMER, r->id, due, err);
}

int srq_sla_start(sf_tx *tx, const sf_req *req, srq *r, sf_err *err) {
  const json_t *sla = json_object_get(r->def, "sla");
  if (!sla) return 0;
  json_t *chosen = json_array();
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(sla, "targets"), i, t) {
    const char *name = json_string_value(json_object_get(t, "name"));
    int dup = 0;
    size_t j;
    const json_t *c;
    json_array_foreach(chosen, j, c) dup |= strcmp(json_string_value(json_object_get(c, "name")), name) == 0;
    if (dup) continue; /* the first applicable target of a name wins */
    sf_err gerr = {0};
    if (srq_holds(json_string_value(json_object_get(t, "when")), r, &gerr) != 1) continue; /* false or failing */
    json_array_append_new(chosen,
                          json_pack("{s:I, s:s, s:s, s:I}", "index", (json_int_t)i, "name", name, "within",
                                    json_string_value(json_object_get(t, "within")), "within_s",
                                    (json_int_t)sf_flow_duration_s(json_string_value(json_object_get(t, "within")))));
  }
  if (json_array_size(chosen) == 0) {
    json_decref(chosen);
    return 0;
  }
  return srq_event(tx, req, r, "request.sla_started", json_pack("{s:o}", "targets", chosen), err);
}

int srq_sla_schedule(sf_tx *tx, const srq *r, sf_err *err) {
  if (!json_object_get(r->def, "sla")) return 0;
  sla_log g;
  int rc = load_log(tx->db, r, &g, err);
  if (rc <= 0) return rc;
  int owned;
  const sf_calendar *cal = calendar_of(r, &owned);
  compute(&g, r->def, cal, tx->now_ms);
  rc = reschedule(tx, r, &g, cal, err);
  if (owned) sf_calendar_free((sf_calendar *)cal);
  log_free(&g);
  return rc;
}

/* Records what is due: warnings not yet recorded (unless already breached)
 * and breaches, with their actions; then the next timer. */
static int on_timer(sf_tx *tx, const char *ref, sf_err *err) {
  srq *r = sf_calloc(1, sizeof *r);
  int rc = srq_load(tx->db, ref, r, err);
  if (rc == -404) {
    sf_err_clear(err);
    free(r);
    return 0;
  }
  if (rc) goto out; /* rolled back and retried: the timer must not be lost */
  sla_log g;
  int started = load_log(tx->db, r, &g, err);
  if (started <= 0) {
    rc = started;
    goto out;
  }
  int owned;
  const sf_calendar *cal = calendar_of(r, &owned);
  const json_t *sla = json_object_get(r->def, "sla");
  compute(&g, r->def, cal, tx->now_ms);
  int changed = 0;
  for (int k = 0; !rc && k < g.nt; k++) {
    target *x = &g.t[k];
    if (x->met_at || x->paused || x->stopped || x->breached) continue;
    const json_t *def = json_array_get(json_object_get(sla, "targets"), (size_t)x->index);
    const char *name = json_string_value(json_object_get(def, "name"));
    if (x->elapsed_ms >= x->within_ms) {
      if (!changed) r->version++; /* one step: its actions see the version it gives */
      rc = srq_event(tx, NULL, r, "request.sla_breached",
                     json_pack("{s:I, s:s, s:s, s:I}", "target", (json_int_t)x->index, "name", name, "within",
                               json_string_value(json_object_get(def, "within")), "elapsed_s",
                               (json_int_t)(x->elapsed_ms / 1000)),
                     err);
      if (!rc) rc = srq_run_actions(tx, NULL, r, json_object_get(def, "on_breach"), r->state, "on_breach", NULL, err);
      x->breached = 1;
      changed = 1;
      continue;
    }
    size_t i;
    const json_t *w;
    json_array_foreach(g.warn_at, i, w) {
      if (rc || i >= MAX_WARN || x->warned[i] || x->elapsed_ms < percent_of(x->within_ms, json_integer_value(w)))
        continue;
      if (!changed) r->version++;
      rc = srq_event(tx, NULL, r, "request.sla_warning",
                     json_pack("{s:I, s:s, s:I, s:I}", "target", (json_int_t)x->index, "name", name, "percent",
                               (json_int_t)json_integer_value(w), "elapsed_s", (json_int_t)(x->elapsed_ms / 1000)),
                     err);
      if (!rc) rc = srq_run_actions(tx, NULL, r, json_object_get(def, "on_warning"), r->state, "on_warning", NULL, err);
      x->warned[i] = 1;
      changed = 1;
    }
  }
  if (!rc) rc = reschedule(tx, r, &g, cal, err);
  if (!rc && changed) rc = srq_save(tx, r, err);
  if (owned) sf_calendar_free((sf_calendar *)cal);
  log_free(&g);
out:
  srq_clear(r);
  free(r);
  return rc;
}

void srq_sla_timers(void) { sf_timer_register(SLA_TIMER, on_timer); }

/* ---- the view ---- */

json_t *srq_sla_json(sf_db *db, const srq *r, int64_t now) {
  sla_log g;
  sf_err err = {0};
  if (load_log(db, r, &g, &err) <= 0) return NULL;
  int owned;
  const sf_calendar *cal = calendar_of(r, &owned);
  const json_t *sla = json_object_get(r->def, "sla");
  compute(&g, r->def, cal, now);
  json_t *targets = json_array();
  for (int k = 0; k < g.nt; k++) {
    const target *x = &g.t[k];
    const json_t *def = json_array_get(json_object_get(sla, "targets"), (size_t)x->index);
    int late = x->elapsed_ms >= x->within_ms;
    const char *status = x->met_at    ? "met"
                         : late       ? "breached"
                         : x->stopped ? "stopped"
                         : x->paused  ? "paused"
                                      : "running";
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "name", json_string_value(json_object_get(def, "name")),
                  "within", json_string_value(json_object_get(def, "within")), "status", status, "breached", late,
                  "elapsed_s", (json_int_t)(x->elapsed_ms / 1000), "remaining_s",
                  (json_int_t)(late ? 0 : (x->within_ms - x->elapsed_ms) / 1000), "percent",
                  (json_int_t)(x->within_ms ? x->elapsed_ms * 100 / x->within_ms : 100));
    char at[32];
    if (!x->met_at && !late && !x->paused && !x->stopped) {
      int64_t due = sf_calendar_add(cal, now, x->within_ms - x->elapsed_ms);
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
    size_t i;
    const json_t *w;
    json_array_foreach(g.warn_at, i, w) if (i < MAX_WARN && x->warned[i]) json_array_append(warned, (json_t *)w);
    json_object_set_new(o, "warnings", warned);
    json_array_append_new(targets, o);
  }
  const json_t *tz = json_object_get(json_object_get(sla, "calendar"), "timezone");
  json_t *out =
      json_pack("{s:s, s:o}", "calendar",
                json_object_get(sla, "calendar") ? (tz ? json_string_value(tz) : "UTC") : "24x7", "targets", targets);
  if (owned) sf_calendar_free((sf_calendar *)cal);
  log_free(&g);
  return out;
}
