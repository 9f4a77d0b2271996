/* Conditions, events and actions shared by the engine, approvals and SLA
 * (steps.h). */
#include "flow/steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/store.h"
#include "flow/guard.h"

/* The writer's guard VM: guards run inside commands, on the writer thread
 * only. */
static struct flow_steps { sf_guard_vm *vm; } flow_steps;

void sf_flow_request_clear(sf_flow_request *r) {
  json_decref(r->data);
  sf_flow_def_unref(r->def);
  free(r->data_text);
  r->data = NULL;
  r->def = NULL;
  r->data_text = NULL;
}

int sf_flow_holds(const char *expr, const sf_flow_request *r, sf_err *why) {
  if (!expr) return 1;
  if (!flow_steps.vm) flow_steps.vm = sf_guard_vm_new(NULL);
  if (!flow_steps.vm) {
    sf_err_internal(why, "cannot start the guard VM");
    return -1;
  }
  int holds = 0;
  if (sf_guard_eval(flow_steps.vm, expr, r->data, &holds, why)) return -1;
  return holds ? 1 : 0;
}

int sf_flow_event(const sf_flow_ctx *cx, const sf_flow_request *r, const char *type, json_t *data, sf_err *err) {
  return sf_ev_emit(cx->tx, cx->who, "request", r->id, type, data, err);
}

json_t *sf_flow_snapshot(const sf_flow_request *r) {
  return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:{s:s, s:I}}", "id", r->id, "type", r->type, "title", r->title,
                   "state", r->state, "data", json_deep_copy(r->data), "version", (json_int_t)r->version, "workflow",
                   "id", r->workflow_id, "version", (json_int_t)r->workflow_version);
}

static int set_fields(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_action *a, const char *when,
                      sf_err *err) {
  json_t *copy = json_deep_copy(a->arg); /* the definition is shared between threads */
  json_object_update(r->data, copy);
  json_decref(copy);
  r->data_changed = 1;
  return sf_flow_event(cx, r, "request.fields_set", json_pack("{s:O, s:s}", "fields", a->arg, "on", when), err);
}

static int assign(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_action *a, const char *when, sf_err *err) {
  snprintf(r->assignee_role, sizeof r->assignee_role, "%s", a->role ? a->role : "");
  snprintf(r->assignee_user, sizeof r->assignee_user, "%s", a->user ? a->user : "");
  return sf_flow_event(cx, r, "request.assigned", json_pack("{s:O, s:s}", "assignee", a->arg, "on", when), err);
}

static int run_action(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_action *a, const char *state,
                      const char *when, const json_t *move, sf_err *err) {
  switch (a->kind) {
    case SF_FLOW_EMIT: return sf_flow_event(cx, r, a->event, json_pack("{s:s, s:s}", "state", state, "on", when), err);
    case SF_FLOW_SET: return set_fields(cx, r, a, when, err);
    case SF_FLOW_ASSIGN: return assign(cx, r, a, when, err);
    case SF_FLOW_NOTIFY:
      return sf_flow_event(cx, r, "request.notified",
                           json_pack("{s:O, s:s, s:s}", "notify", a->arg, "state", state, "on", when), err);
    case SF_FLOW_WEBHOOK:
      return sf_flow_event(cx, r, "request.webhook_due",
                           json_pack("{s:O, s:s, s:s, s:O?, s:o}", "webhook", a->arg, "state", state, "on", when,
                                     "transition", move, "request", sf_flow_snapshot(r)),
                           err);
  }
  return 0;
}

int sf_flow_run_actions(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_actions *list, const char *state,
                        const char *when, const json_t *move, sf_err *err) {
  for (int i = 0; list && i < list->n; i++) {
    int rc = run_action(cx, r, &list->at[i], state, when, move, err);
    if (rc) return rc;
  }
  return 0;
}
