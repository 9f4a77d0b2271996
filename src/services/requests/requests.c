/* Service requests: created against the latest version of their type's
 * workflow and pinned to it; moved by transitions that check the state
 * (409), the caller's role (403) and the guard (409 when it does not hold,
 * 422 when it fails), running the states' on_exit / on_enter actions (emit,
 * set, assign, notify, webhook) and approval chains (approvals.c) in the same
 * writer command. Every step is an event on stream "request-<id>". */
#include "services/requests/requests.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/store.h"
#include "events/timers.h"
#include "flow/definition.h"
#include "flow/guard.h"
#include "services/identity/repo.h"
#include "services/requests/internal.h"

#define TIMER_KIND "request.timer"

void srq_clear(srq *r) {
  json_decref(r->data);
  json_decref(r->def);
  free(r->data_text);
  r->data = r->def = NULL;
  r->data_text = NULL;
}

/* The writer's guard VM: guards run inside transition commands, on the
 * writer thread only. */
static sf_guard_vm *writer_vm(void) {
  static sf_guard_vm *vm;
  if (!vm) vm = sf_guard_vm_new(NULL);
  return vm;
}

int srq_holds(const char *expr, const srq *r, sf_err *why) {
  if (!expr) return 1;
  sf_guard_vm *vm = writer_vm();
  if (!vm) {
    sf_err_internal(why, "cannot start the guard VM");
    return -1;
  }
  int holds = 0;
  if (sf_guard_eval(vm, expr, r->data, &holds, why)) return -1;
  return holds ? 1 : 0;
}

/* Parsed pinned definitions, shared read-only by every thread (a workflow
 * version never changes; jansson's reference counts are atomic). Each
 * request takes a reference; the cache keeps one per entry. */
#define DEF_CACHE 128
static struct {
  pthread_mutex_t mu;
  char id[DEF_CACHE][48];
  json_t *def[DEF_CACHE];
  int64_t version[DEF_CACHE];
  int n, next;
} D = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int cached_def(srq *r) {
  pthread_mutex_lock(&D.mu);
  for (int i = 0; i < D.n; i++)
    if (strcmp(D.id[i], r->workflow_id) == 0) {
      r->def = json_incref(D.def[i]);
      r->workflow_version = D.version[i];
      pthread_mutex_unlock(&D.mu);
      return 1;
    }
  pthread_mutex_unlock(&D.mu);
  return 0;
}

static void cache_def(const srq *r) {
  pthread_mutex_lock(&D.mu);
  int i = D.n < DEF_CACHE ? D.n++ : D.next++ % DEF_CACHE;
  if (i < D.n && D.def[i]) json_decref(D.def[i]);
  snprintf(D.id[i], sizeof D.id[i], "%s", r->workflow_id);
  D.def[i] = json_incref(r->def);
  D.version[i] = r->workflow_version;
  pthread_mutex_unlock(&D.mu);
}

void sf_requests_forget_definitions(void) {
  pthread_mutex_lock(&D.mu);
  for (int i = 0; i < D.n; i++) json_decref(D.def[i]);
  memset(D.def, 0, sizeof D.def);
  D.n = D.next = 0;
  pthread_mutex_unlock(&D.mu);
}

static int load_def(sf_db *db, srq *r, sf_err *err) {
  if (cached_def(r)) return 0;
  sf_stmt *st = sf_db_prepare(db, "SELECT definition, version FROM workflows WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->workflow_id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    r->def = json_loads(sf_stmt_col_text(st, 0), 0, NULL);
    r->workflow_version = sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  if (rc == 0 || (rc == 1 && !r->def)) return sf_err_internal(err, "workflow %s is missing", r->workflow_id);
  if (rc < 0) return rc;
  cache_def(r);
  return 0;
}

int srq_load(sf_db *db, const char *id, srq *r, sf_err *err) {
  memset(r, 0, sizeof *r);
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, type, workflow_id, title, data, state, coalesce(assignee_user, ''),"
                              " coalesce(assignee_role, ''), created_by, version, created_at, updated_at"
                              " FROM service_requests WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_strlcpy(r->id, sf_stmt_col_text(st, 0), sizeof r->id);
    sf_strlcpy(r->type, sf_stmt_col_text(st, 1), sizeof r->type);
    sf_strlcpy(r->workflow_id, sf_stmt_col_text(st, 2), sizeof r->workflow_id);
    sf_strlcpy(r->title, sf_stmt_col_text(st, 3), sizeof r->title);
    r->data = json_loads(sf_stmt_col_text(st, 4), 0, NULL);
    r->data_text = sf_strdup(sf_stmt_col_text(st, 4));
    sf_strlcpy(r->state, sf_stmt_col_text(st, 5), sizeof r->state);
    sf_strlcpy(r->assignee_user, sf_stmt_col_text(st, 6), sizeof r->assignee_user);
    sf_strlcpy(r->assignee_role, sf_stmt_col_text(st, 7), sizeof r->assignee_role);
    memcpy(r->loaded_state, r->state, sizeof r->state);
    memcpy(r->loaded_assignee_user, r->assignee_user, sizeof r->assignee_user);
    memcpy(r->loaded_assignee_role, r->assignee_role, sizeof r->assignee_role);
    sf_strlcpy(r->created_by, sf_stmt_col_text(st, 8), sizeof r->created_by);
    r->version = sf_stmt_col_int(st, 9);
    r->created_at = sf_stmt_col_int(st, 10);
    r->updated_at = sf_stmt_col_int(st, 11);
    r->stored = 1;
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "request");
  if (rc < 0) return rc;
  if (!r->data) {
    r->data = json_object();
    r->data_changed = 1; /* not the text that was read */
  }
  rc = load_def(db, r, err);
  if (rc) srq_clear(r); /* callers clear only a request that loaded */
  return rc;
}

int srq_save(sf_tx *tx, const srq *r, sf_err *err) {
  /* most transitions leave data alone: write back the text as it was read */
  char *dumped = r->stored && !r->data_changed && r->data_text ? NULL : json_dumps(r->data, JSON_COMPACT);
  const char *data = dumped ? dumped : r->data_text;
  /* a loaded request is a plain UPDATE (an upsert first tries, and fails, the
   * insert); both statements number their parameters alike */
  int moved = strcmp(r->state, r->loaded_state) != 0 || strcmp(r->assignee_user, r->loaded_assignee_user) != 0 ||
              strcmp(r->assignee_role, r->loaded_assignee_role) != 0;
  sf_stmt *st = sf_db_prepare(
      tx->db,
      r->stored && !moved ? "UPDATE service_requests SET data = ?5, version = ?10, updated_at = ?12 WHERE id = ?1"
      : r->stored         ? "UPDATE service_requests SET data = ?5, state = ?6, assignee_user = nullif(?7, ''),"
                            " assignee_role = nullif(?8, ''), version = ?10, updated_at = ?12 WHERE id = ?1"
                          : "INSERT INTO service_requests(id, type, workflow_id, title, data, state, assignee_user,"
                            " assignee_role, created_by, version, created_at, updated_at)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, ''), nullif(?8, ''), ?9, ?10, ?11, ?12)"
                            " ON CONFLICT(id) DO UPDATE SET data = ?5, state = ?6, assignee_user = nullif(?7, ''),"
                            " assignee_role = nullif(?8, ''), version = ?10, updated_at = ?12",
      err);
  int rc = -500;
  if (st) {
    sf_stmt_text_ref(st, 1, r->id);
    sf_stmt_text_ref(st, 2, r->type);
    sf_stmt_text_ref(st, 3, r->workflow_id);
    sf_stmt_text_ref(st, 4, r->title);
    sf_stmt_text_ref(st, 5, data);
    sf_stmt_text_ref(st, 6, r->state);
    sf_stmt_text_ref(st, 7, r->assignee_user);
    sf_stmt_text_ref(st, 8, r->assignee_role);
    sf_stmt_text_ref(st, 9, r->created_by);
    sf_stmt_int(st, 10, r->version);
    sf_stmt_int(st, 11, r->created_at);
    sf_stmt_int(st, 12, tx->now_ms);
    rc = sf_stmt_run(st, err);
    if (!rc && r->stored && sf_db_changes(tx->db) != 1) rc = sf_err_internal(err, "request %s vanished", r->id);
  }
  free(dumped);
  return rc;
}

int srq_event(sf_tx *tx, const sf_req *req, const srq *r, const char *type, json_t *data, sf_err *err) {
  return sf_req_event(tx, req, "request", r->id, type, data, err);
}

/* Transitions of the pinned workflow that leave `state`. */
int srq_names_include(const json_t *names, const char *name) {
  if (json_is_string(names)) return strcmp(json_string_value(names), name) == 0;
  size_t i;
  const json_t *n;
  json_array_foreach(names, i, n) if (json_is_string(n) && strcmp(json_string_value(n), name) == 0) return 1;
  return 0;
}

static int leaves(const json_t *t, const char *state) { return srq_names_include(json_object_get(t, "from"), state); }

int srq_active_user(sf_db *db, const char *id, char *role, size_t cap, sf_err *err) {
  sf_user u;
  int rc = sf_user_by_id(db, id, &u, err);
  if (rc == -404) {
    sf_err_clear(err);
    return 0;
  }
  if (rc) return rc;
  if (strcmp(u.status, "active") != 0) return 0;
  if (role) snprintf(role, cap, "%s", u.role);
  return 1;
}

/* Webhooks are recorded as events (request.webhook_due, with the request's
 * snapshot) and delivered from them; notifications are events
 * (request.notified) for whoever listens. */
int srq_run_actions(sf_tx *tx, const sf_req *req, srq *r, const json_t *list, const char *state, const char *when,
                    const json_t *move, sf_err *err) {
  size_t i;
  const json_t *a;
  json_array_foreach(list, i, a) {
    const char *kind = json_object_iter_key(json_object_iter((json_t *)a));
    const json_t *arg = json_object_get(a, kind);
    int rc = 0;
    if (strcmp(kind, "emit") == 0) {
      rc = srq_event(tx, req, r, json_string_value(arg), json_pack("{s:s, s:s}", "state", state, "on", when), err);
    } else if (strcmp(kind, "set") == 0) {
      json_t *copy = json_deep_copy(arg); /* the definition is shared between threads */
      json_object_update(r->data, copy);
      json_decref(copy);
      r->data_changed = 1;
      rc = srq_event(tx, req, r, "request.fields_set", json_pack("{s:O, s:s}", "fields", arg, "on", when), err);
    } else if (strcmp(kind, "assign") == 0) {
      const char *role = json_string_value(json_object_get(arg, "role"));
      const char *user = json_string_value(json_object_get(arg, "user"));
      snprintf(r->assignee_role, sizeof r->assignee_role, "%s", role ? role : "");
      snprintf(r->assignee_user, sizeof r->assignee_user, "%s", user ? user : "");
      rc = srq_event(tx, req, r, "request.assigned", json_pack("{s:O, s:s}", "assignee", arg, "on", when), err);
    } else if (strcmp(kind, "notify") == 0) {
      rc = srq_event(tx, req, r, "request.notified",
                     json_pack("{s:O, s:s, s:s}", "notify", arg, "state", state, "on", when), err);
    } else if (strcmp(kind, "webhook") == 0) {
      rc = srq_event(tx, req, r, "request.webhook_due",
                     json_pack("{s:O, s:s, s:s, s:O?, s:o}", "webhook", arg, "state", state, "on", when, "transition",
                               move, "request", srq_snapshot(r)),
                     err);
    }
    if (rc) return rc;
  }
  return 0;
}

static int state_actions(sf_tx *tx, const sf_req *req, srq *r, const char *state, const char *when, const json_t *move,
                         sf_err *err) {
  const json_t *list = json_object_get(json_object_get(json_object_get(r->def, "states"), state), when);
  return srq_run_actions(tx, req, r, list, state, when, move, err);
}

/* Durable timers of a state: ref "<id>|<timer index>", set when the state
 * is entered and cancelled when it is left, so comments, decisions or SLA
 * events in between do not disturb them. (Timers set before this scheme
 * carry "<id>|<version>|<index>" and are checked against the version.) */
static int state_timers(sf_tx *tx, const srq *r, const char *state, int set, sf_err *err) {
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(r->def, "timers"), i, t) {
    if (strcmp(json_string_value(json_object_get(t, "in")), state) != 0) continue;
    long long s = sf_flow_duration_s(json_string_value(json_object_get(t, "after")));
    if (s < 0) continue; /* validated on publish */
    char ref[128];
    snprintf(ref, sizeof ref, "%s|%zu", r->id, i);
    if (set ? sf_timer_set(tx, TIMER_KIND, ref, tx->now_ms + s * 1000, err) : sf_timer_cancel(tx, TIMER_KIND, ref, err))
      return -1;
  }
  return 0;
}

static int schedule_timers(sf_tx *tx, const srq *r, sf_err *err) { return state_timers(tx, r, r->state, 1, err); }

/* What entering r->state starts: its timers and its approval chain (which
 * may move the request on at once when no level applies). */
static int entered(sf_tx *tx, const sf_req *req, srq *r, sf_err *err) {
  int rc = schedule_timers(tx, r, err);
  if (!rc) rc = srq_sla_schedule(tx, r, err);
  if (!rc) rc = srq_approvals_enter(tx, req, r, err);
  return rc;
}

/* The transition tr out of the current state: the state's approval chain
 * is cancelled, on_exit, the move, on_enter, the new version, then what the
 * new state starts. The caller saves the row. */
static int apply_transition(sf_tx *tx, const sf_req *req, srq *r, const json_t *tr, const char *comment, const char *by,
                            sf_err *err) {
  if (++r->depth > 8)
    return sf_err_set(err, 409, "workflow-loop", "Workflow loop",
                      "more than 8 automatic transitions in one step (from state '%s'); check the workflow's approvals",
                      r->state);
  char from[48];
  snprintf(from, sizeof from, "%s", r->state);
  const char *action = json_string_value(json_object_get(tr, "action"));
  const char *to = json_string_value(json_object_get(tr, "to"));
  json_t *move = json_pack("{s:s, s:s, s:s, s:s}", "action", action, "from", from, "to", to, "by", by);
  int rc = srq_approvals_leave(tx, req, r, err);
  if (!rc) rc = state_timers(tx, r, from, 0, err);
  if (!rc) rc = state_actions(tx, req, r, from, "on_exit", move, err);
  if (!rc) {
    snprintf(r->state, sizeof r->state, "%s", to);
    /* the event is the move and the comment; the actions see the move alone */
    json_object_set_new(move, "comment", json_string(comment));
    rc = srq_event(tx, req, r, "request.transitioned", json_incref(move), err);
    json_object_del(move, "comment");
    r->version++; /* on_enter actions see the version the move gives */
  }
  if (!rc) rc = state_actions(tx, req, r, to, "on_enter", move, err);
  json_decref(move);
  if (!rc) rc = entered(tx, req, r, err);
  return rc;
}

static const json_t *find_transition(const srq *r, const char *action) {
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(r->def, "transitions"), i,
                     t) if (strcmp(json_string_value(json_object_get(t, "action")), action) == 0 &&
                            leaves(t, r->state)) return t;
  return NULL;
}

int srq_auto_transition(sf_tx *tx, const sf_req *req, srq *r, const char *action, const char *why, sf_err *err) {
  const json_t *tr = find_transition(r, action);
  if (!tr)
    return srq_event(tx, req, r, "request.auto_transition_skipped",
                     json_pack("{s:s, s:s, s:s, s:s}", "action", action, "state", r->state, "cause", why, "reason",
                               "no such transition out of this state"),
                     err);
  sf_err gerr = {0};
  int holds = srq_holds(json_string_value(json_object_get(tr, "guard")), r, &gerr);
  if (holds != 1)
    return srq_event(tx, req, r, "request.auto_transition_skipped",
                     json_pack("{s:s, s:s, s:s, s:s}", "action", action, "state", r->state, "cause", why, "reason",
                               holds < 0 ? gerr.detail : "the guard does not hold"),
                     err);
  return apply_transition(tx, req, r, tr, "", "system", err);
}

/* ---- POST /requests ---- */

typedef struct {
  srq r;
} create_input;

static void free_create(void *d) {
  create_input *in = d;
  srq_clear(&in->r);
  free(in);
}

static int create_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  create_input *in = data;
  srq *r = &in->r;
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT id FROM workflows WHERE type = ? ORDER BY version DESC LIMIT 1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->type);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) snprintf(r->workflow_id, sizeof r->workflow_id, "%s", sf_stmt_col_text(st, 0));
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  if (rc == 0) return sf_err_invalid(err, "type", "no workflow is published for type '%s'", r->type);
  if ((rc = load_def(tx->db, r, err))) return rc;
  if ((rc = sf_flow_check_data(r->def, r->data, err))) return rc;
  sf_id_new("srq", r->id, sizeof r->id);
  snprintf(r->state, sizeof r->state, "%s", json_string_value(json_object_get(r->def, "initial")));
  snprintf(r->created_by, sizeof r->created_by, "%s", req->principal.user_id);
  r->version = 1;
  r->created_at = r->updated_at = tx->now_ms;
  rc = srq_event(tx, req, r, "request.created",
                 json_pack("{s:s, s:s, s:O, s:s, s:s, s:I}", "type", r->type, "title", r->title, "data", r->data,
                           "state", r->state, "workflow_id", r->workflow_id, "workflow_version",
                           (json_int_t)r->workflow_version),
                 err);
  if (!rc) rc = srq_sla_start(tx, req, r, err);
  if (!rc) rc = state_actions(tx, req, r, r->state, "on_enter", NULL, err);
  if (!rc) rc = entered(tx, req, r, err);
  if (!rc) rc = srq_save(tx, r, err);
  if (rc) return rc;
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/requests/%s", r->id);
  srq_reply(req, tx->db, 201, r);
  sf_req_add_header(req, "Location", loc);
  return 0;
}

static const sf_json_field k_create[] = {
    {"type", SF_JSON_STRING, 1, 1, 40},
    {"title", SF_JSON_STRING, 1, 1, 200},
    {"data", SF_JSON_OBJECT, 0, 0, 0},
    {0},
};

static void h_create(sf_req *req) {
  json_t *b = sf_in_body(req, k_create);
  if (!b) return;
  create_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->r.type, sizeof in->r.type, "%s", sf_json_str(b, "type"));
  snprintf(in->r.title, sizeof in->r.title, "%s", sf_json_str(b, "title"));
  json_t *d = json_object_get(b, "data");
  in->r.data = d ? json_deep_copy(d) : json_object();
  json_decref(b);
  sf_req_command(req, create_exec, in, free_create);
}

/* ---- POST /requests/{id}/transitions ---- */

typedef struct {
  char id[48];
  char action[48];
  char comment[2008];
  sf_if_match if_match;
} transition_input;

int srq_may_see(sf_db *db, const sf_req *req, const srq *r) {
  return strcmp(r->created_by, req->principal.user_id) == 0 || strcmp(r->assignee_user, req->principal.user_id) == 0 ||
         sf_edge_role_allows(req->principal.role, "workflows:read") || srq_is_approver(db, r, req->principal.user_id);
}
int srq_transition(sf_tx *tx, const sf_req *req, const char *id, const char *action, const char *comment,
                   sf_if_match if_match, srq *r, sf_err *err) {
  int rc = srq_load(tx->db, id, r, err);
  if (!rc && !srq_may_see(tx->db, req, r)) rc = sf_err_not_found(err, "request");
  if (!rc) rc = sf_precondition(if_match, r->version, err);
  const json_t *tr = NULL;
  int known = 0;
  if (!rc) {
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(r->def, "transitions"), i, t) {
      if (strcmp(json_string_value(json_object_get(t, "action")), action) != 0) continue;
      known = 1;
      if (leaves(t, r->state)) tr = t;
    }
    if (!tr)
      rc = sf_err_set(err, 409, "transition-not-allowed", "Transition not allowed",
                      known ? "action '%s' is not allowed in state '%s'"
                            : "this workflow has no action '%s' (state '%s')",
                      action, r->state);
  }
  sf_flow_actor actor = srq_actor(r, &req->principal);
  sf_flow_may may = rc ? SF_FLOW_MAY : sf_flow_may_take(tr, &actor);
  if (may == SF_FLOW_NOT_ROLE)
    rc = sf_err_set(err, 403, "forbidden", "Forbidden", "role '%s' may not take action '%s'", req->principal.role,
                    action);
  else if (may == SF_FLOW_NOT_BY)
    rc = sf_err_set(err, 403, "forbidden", "Forbidden",
                    "action '%s' is taken by %s; you are none of them (an approval vote is decided at .../approvals)",
                    action, srq_by_text(tr));
  if (!rc) {
    const char *guard = json_string_value(json_object_get(tr, "guard"));
    sf_err gerr = {0};
    int holds = srq_holds(guard, r, &gerr);
    if (holds < 0 && gerr.status == 500)
      rc = sf_err_internal(err, "%s", gerr.detail);
    else if (holds < 0)
      rc = sf_err_set(err, 422, "guard-failed", "Guard failed", "%s", gerr.detail);
    else if (!holds)
      rc = sf_err_set(err, 409, "guard-rejected", "Guard does not hold",
                      "action '%s' needs %s, which does not hold for this request", action, guard);
  }
  if (!rc) rc = apply_transition(tx, req, r, tr, comment, req->principal.user_id, err);
  if (!rc) rc = srq_save(tx, r, err);
  return rc;
}

static int transition_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  transition_input *in = data;
  srq *r = sf_calloc(1, sizeof *r);
  int rc = srq_transition(tx, req, in->id, in->action, in->comment, in->if_match, r, err);
  if (!rc) srq_reply(req, tx->db, 200, r);
  srq_clear(r);
  free(r);
  return rc;
}

static const sf_json_field k_transition[] = {
    {"action", SF_JSON_STRING, 1, 1, 40},
    {"comment", SF_JSON_STRING, 0, 0, 2000},
    {0},
};

static void h_transition(sf_req *req) {
  transition_input *in = sf_calloc(1, sizeof *in);
  if (!sf_in_if_match(req, &in->if_match)) {
    free(in);
    return;
  }
  json_t *b = sf_in_body(req, k_transition);
  if (!b) {
    free(in);
    return;
  }
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  snprintf(in->action, sizeof in->action, "%s", sf_json_str(b, "action"));
  const char *c = sf_json_str(b, "comment");
  snprintf(in->comment, sizeof in->comment, "%s", c ? c : "");
  json_decref(b);
  sf_req_command(req, transition_exec, in, free);
}

/* ---- comments and assignment ---- */

typedef struct {
  char id[48];
  char body[4008];
  char user[48];
  char role[16];
  int comment; /* 1: a comment, 0: an assignment */
} note_input;

static int note_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  note_input *in = data;
  srq *r = sf_calloc(1, sizeof *r);
  int rc = srq_load(tx->db, in->id, r, err);
  if (!rc && !srq_may_see(tx->db, req, r)) rc = sf_err_not_found(err, "request");
  if (!rc && in->comment) {
    rc = srq_event(tx, req, r, "request.commented",
                   json_pack("{s:s, s:s}", "body", in->body, "by", req->principal.user_id), err);
    if (!rc) {
      r->version++;
      rc = srq_save(tx, r, err);
    }
    if (!rc) srq_reply(req, tx->db, 201, r);
  } else if (!rc) {
    if (in->user[0]) {
      int found = srq_active_user(tx->db, in->user, NULL, 0, err);
      if (found < 0)
        rc = found;
      else if (!found)
        rc = sf_err_invalid(err, "user_id", "no active user %s", in->user);
    }
    if (!rc) {
      snprintf(r->assignee_user, sizeof r->assignee_user, "%s", in->user);
      snprintf(r->assignee_role, sizeof r->assignee_role, "%s", in->role);
      rc =
          srq_event(tx, req, r, "request.assigned",
                    json_pack("{s:o, s:s}", "assignee",
                              in->user[0] ? json_pack("{s:s}", "user", in->user) : json_pack("{s:s}", "role", in->role),
                              "by", req->principal.user_id),
                    err);
    }
    if (!rc) {
      r->version++;
      rc = srq_save(tx, r, err);
    }
    if (!rc) srq_reply(req, tx->db, 200, r);
  }
  srq_clear(r);
  free(r);
  return rc;
}

static const sf_json_field k_comment[] = {{"body", SF_JSON_STRING, 1, 1, 4000}, {0}};

static void h_comment(sf_req *req) {
  json_t *b = sf_in_body(req, k_comment);
  if (!b) return;
  note_input *in = sf_calloc(1, sizeof *in);
  in->comment = 1;
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  snprintf(in->body, sizeof in->body, "%s", sf_json_str(b, "body"));
  json_decref(b);
  sf_req_command(req, note_exec, in, free);
}

static const sf_json_field k_assign[] = {
    {"user_id", SF_JSON_STRING, 0, 1, 47}, {"role", SF_JSON_STRING, 0, 1, 15}, {0}};

static void h_assign(sf_req *req) {
  json_t *b = sf_in_body(req, k_assign);
  if (!b) return;
  const char *user = sf_json_str(b, "user_id"), *role = sf_json_str(b, "role");
  sf_err err = {0};
  if (!!user == !!role)
    sf_err_invalid(&err, "user_id", "give user_id or role (one of them)");
  else if (role && !sf_edge_valid_role(role))
    sf_err_invalid(&err, "role", "must be customer, staff, approver or admin");
  if (err.status) {
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  note_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  snprintf(in->user, sizeof in->user, "%s", user ? user : "");
  snprintf(in->role, sizeof in->role, "%s", role ? role : "");
  json_decref(b);
  sf_req_command(req, note_exec, in, free);
}

/* ---- workflow timers ---- */

/* A timer's transition runs as the system: no role check, but its guard
 * must hold (otherwise the timer is recorded as skipped). */
static int on_timer(sf_tx *tx, const char *ref, sf_err *err) {
  char id[48];
  long long version = -1; /* -1: the current "<id>|<index>" form */
  size_t index;
  if (sscanf(ref, "%47[^|]|%lld|%zu", id, &version, &index) != 3) {
    version = -1;
    if (sscanf(ref, "%47[^|]|%zu", id, &index) != 2) return 0; /* not ours to read: drop it */
  }
  srq *r = sf_calloc(1, sizeof *r);
  int rc = srq_load(tx->db, id, r, err);
  if (rc == -404) {
    sf_err_clear(err);
    rc = 0;
    goto out;
  }
  const json_t *t = rc ? NULL : json_array_get(json_object_get(r->def, "timers"), index);
  if (rc || !t || (version >= 0 && r->version != version) ||
      strcmp(json_string_value(json_object_get(t, "in")), r->state) != 0)
    goto out; /* moved on since: nothing to do */
  const char *action = json_string_value(json_object_get(t, "action"));
  const json_t *tr = find_transition(r, action);
  if (!tr) goto out;
  sf_err gerr = {0};
  int holds = srq_holds(json_string_value(json_object_get(tr, "guard")), r, &gerr);
  if (holds != 1) {
    rc = srq_event(tx, NULL, r, "request.timer_skipped",
                   json_pack("{s:s, s:s, s:s}", "action", action, "state", r->state, "reason",
                             holds < 0 ? gerr.detail : "the guard does not hold"),
                   err);
    goto out;
  }
  rc = srq_event(tx, NULL, r, "request.timer_fired",
                 json_pack("{s:s, s:s, s:s}", "action", action, "state", r->state, "after",
                           json_string_value(json_object_get(t, "after"))),
                 err);
  if (!rc) rc = apply_transition(tx, NULL, r, tr, "", "system", err);
  if (!rc) rc = srq_save(tx, r, err);
out:
  srq_clear(r);
  free(r);
  return rc;
}

void sf_requests_timers(void) {
  sf_timer_register(TIMER_KIND, on_timer);
  srq_sla_timers();
}

/* ---- reads ---- */

static void h_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  srq r;
  if (!db || srq_load(db, sf_req_param(req, "id"), &r, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  if (!srq_may_see(db, req, &r)) {
    sf_err_not_found(&err, "request");
    sf_req_reply_problem(req, &err);
  } else {
    srq_reply_view(req, db, 200, &r, 1);
  }
  srq_clear(&r);
}

static void h_events(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  srq r;
  if (!db || srq_load(db, sf_req_param(req, "id"), &r, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  int visible = srq_may_see(db, req, &r);
  char stream[96];
  snprintf(stream, sizeof stream, "request-%s", r.id);
  srq_clear(&r);
  if (!visible) {
    sf_err_not_found(&err, "request");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_stream(req, db, stream);
}

#define SRQ_REF "{\"$ref\":\"#/components/schemas/ServiceRequest\"}"

void sf_requests_routes(void) {
  srq_approvals_routes();
  srq_list_routes();
  static const sf_route routes[] = {
      {"POST", "/api/v1/requests", h_create, SF_AUTH_USER, NULL, 0, "requests",
       "Open a service request: the latest workflow of its type, pinned for the request's life",
       "{\"type\":\"object\",\"required\":[\"type\",\"title\"],\"additionalProperties\":false,\"properties\":{"
       "\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\",\"maxLength\":200},\"data\":{\"type\":\"object\"}"
       "}}",
       SRQ_REF, 201, 0},
      {"GET", "/api/v1/requests/{id}", h_get, SF_AUTH_USER, NULL, 0, "requests",
       "A request with its state and the actions you may take (its creator, assignee, an approver, or "
       "workflows:read)",
       NULL, SRQ_REF, 200, 0},
      {"POST", "/api/v1/requests/{id}/transitions", h_transition, SF_AUTH_USER, NULL, SF_ROUTE_IF_MATCH, "requests",
       "Take an action: 409 when the state does not allow it or its guard does not hold, 403 when the caller's "
       "role is not in its roles or the caller is none of its by (requester, assignee, role:...) (honours If-Match)",
       "{\"type\":\"object\",\"required\":[\"action\"],\"additionalProperties\":false,\"properties\":{"
       "\"action\":{\"type\":\"string\"},\"comment\":{\"type\":\"string\",\"maxLength\":2000}}}",
       SRQ_REF, 200, 0, .statuses = "403"},
      {"POST", "/api/v1/requests/{id}/comments", h_comment, SF_AUTH_USER, NULL, 0, "requests",
       "Comment on a request (its creator, assignee, or workflows:read); the comment is an event",
       "{\"type\":\"object\",\"required\":[\"body\"],\"additionalProperties\":false,\"properties\":{"
       "\"body\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000}}}",
       SRQ_REF, 201, 0},
      {"POST", "/api/v1/requests/{id}/assignment", h_assign, SF_AUTH_PERMISSION, "workflows:read", 0, "requests",
       "Assign a request to a user or a role (staff, approvers, admins)",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
       "\"user_id\":{\"type\":\"string\"},\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"admin\"]}}}",
       SRQ_REF, 200, 0},
      {"GET", "/api/v1/requests/{id}/events", h_events, SF_AUTH_USER, NULL, 0, "requests",
       "The request's audit trail (events of stream request-{id})", NULL,
       "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\","
       "\"items\":{\"$ref\":\"#/components/schemas/Event\"}}}}",
       200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
