/* The workflow engine (engine.h): transitions, their actions, and what
 * entering a state starts. */
#include "flow/engine.h"

#include <stdio.h>
#include <string.h>

#include "events/timers.h"
#include "flow/approvals.h"
#include "flow/sla.h"
#include "flow/steps.h"

#define MAX_AUTO_DEPTH 8

sf_flow_actor sf_flow_actor_of(const sf_flow_request *r, const sf_actor *who) {
  const char *user = who->user_id ? who->user_id : "";
  int assignee = (r->assignee_user[0] && strcmp(r->assignee_user, user) == 0) ||
                 (r->assignee_role[0] && strcmp(r->assignee_role, who->role) == 0);
  return (sf_flow_actor){.role = who->role, .requester = strcmp(r->created_by, user) == 0, .assignee = assignee};
}

static const sf_flow_state *state_named(const sf_flow_request *r, const char *name) {
  int i = sf_flow_state_index(r->def, name);
  return i >= 0 ? &r->def->states[i] : NULL;
}

static int state_actions(const sf_flow_ctx *cx, sf_flow_request *r, const char *state, int enter, const json_t *move,
                         sf_err *err) {
  const sf_flow_state *s = state_named(r, state);
  if (!s) return 0;
  return sf_flow_run_actions(cx, r, enter ? &s->on_enter : &s->on_exit, state, enter ? "on_enter" : "on_exit", move,
                             err);
}

/* Durable timers of a state: ref "<id>|<timer index>", set when the state
 * is entered and cancelled when it is left, so comments, decisions or SLA
 * events in between do not disturb them. */
static int state_timers(const sf_flow_ctx *cx, const sf_flow_request *r, const char *state, int set, sf_err *err) {
  int s = sf_flow_state_index(r->def, state);
  for (int i = 0; s >= 0 && i < r->def->ntimers; i++) {
    const sf_flow_timer *t = &r->def->timers[i];
    if (t->state != s || t->after_s < 0) continue; /* validated on publish */
    char ref[128];
    snprintf(ref, sizeof ref, "%s|%d", r->id, i);
    if (set ? sf_timer_set(cx->tx, SF_FLOW_TIMER, ref, cx->tx->now_ms + t->after_s * 1000, err)
            : sf_timer_cancel(cx->tx, SF_FLOW_TIMER, ref, err))
      return -1;
  }
  return 0;
}

/* What entering r->state starts: its timers, the SLA timer and its approval
 * chain (which may end at once when no level applies: the engine then takes
 * the chain's action). */
static int entered(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err) {
  sf_flow_outcome out = {0};
  int rc = state_timers(cx, r, r->state, 1, err);
  if (!rc) rc = sf_flow_sla_schedule(cx, r, err);
  if (!rc) rc = sf_flow_approvals_enter(cx, r, &out, err);
  if (!rc) rc = sf_flow_act_on(cx, r, &out, err);
  return rc;
}

/* The transition tr out of the current state: the state's approval chain
 * is cancelled, on_exit, the move, on_enter, the new version, then what the
 * new state starts. The caller saves the row. */
static int apply(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_transition *tr, const char *comment,
                 const char *by, sf_err *err) {
  if (++r->depth > MAX_AUTO_DEPTH)
    return sf_err_set(err, 409, "workflow-loop", "Workflow loop",
                      "more than 8 automatic transitions in one step (from state '%s'); check the workflow's approvals",
                      r->state);
  char from[48];
  snprintf(from, sizeof from, "%s", r->state);
  const char *to = r->def->states[tr->to].name;
  json_t *move = json_pack("{s:s, s:s, s:s, s:s}", "action", tr->action, "from", from, "to", to, "by", by);
  int rc = sf_flow_approvals_leave(cx, r, err);
  if (!rc) rc = state_timers(cx, r, from, 0, err);
  if (!rc) rc = state_actions(cx, r, from, 0, move, err);
  if (!rc) {
    snprintf(r->state, sizeof r->state, "%s", to);
    /* the event is the move and the comment; the actions see the move alone */
    json_object_set_new(move, "comment", json_string(comment));
    rc = sf_flow_event(cx, r, "request.transitioned", json_incref(move), err);
    json_object_del(move, "comment");
    r->version++; /* on_enter actions see the version the move gives */
  }
  if (!rc) rc = state_actions(cx, r, to, 1, move, err);
  json_decref(move);
  if (!rc) rc = entered(cx, r, err);
  return rc;
}

static const sf_flow_transition *leaving(const sf_flow_request *r, const char *action, int *known) {
  return sf_flow_find_transition(r->def, action, sf_flow_state_index(r->def, r->state), known);
}

static int auto_skipped(const sf_flow_ctx *cx, const sf_flow_request *r, const char *action, const char *why,
                        const char *reason, sf_err *err) {
  return sf_flow_event(
      cx, r, "request.auto_transition_skipped",
      json_pack("{s:s, s:s, s:s, s:s}", "action", action, "state", r->state, "cause", why, "reason", reason), err);
}

int sf_flow_auto_transition(const sf_flow_ctx *cx, sf_flow_request *r, const char *action, const char *why,
                            sf_err *err) {
  const sf_flow_transition *tr = leaving(r, action, NULL);
  if (!tr) return auto_skipped(cx, r, action, why, "no such transition out of this state", err);
  sf_err gerr = {0};
  int holds = sf_flow_holds(tr->guard, r, &gerr);
  if (holds != 1) return auto_skipped(cx, r, action, why, holds < 0 ? gerr.detail : "the guard does not hold", err);
  return apply(cx, r, tr, "", "system", err); /* its events stay caused by whoever set it off */
}

int sf_flow_act_on(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_outcome *out, sf_err *err) {
  return out->take ? sf_flow_auto_transition(cx, r, out->take, out->why, err) : 0;
}

int sf_flow_start(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err) {
  snprintf(r->state, sizeof r->state, "%s", r->def->states[r->def->initial].name);
  int rc = sf_flow_event(cx, r, "request.created",
                         json_pack("{s:s, s:s, s:O, s:s, s:s, s:I}", "type", r->type, "title", r->title, "data",
                                   r->data, "state", r->state, "workflow_id", r->workflow_id, "workflow_version",
                                   (json_int_t)r->workflow_version),
                         err);
  if (!rc) rc = sf_flow_sla_start(cx, r, err);
  if (!rc) rc = state_actions(cx, r, r->state, 1, NULL, err);
  if (!rc) rc = entered(cx, r, err);
  return rc;
}

/* May cx->who take tr? 0, or 403 naming why not. */
static int may_take(const sf_flow_ctx *cx, const sf_flow_request *r, const sf_flow_transition *tr, sf_err *err) {
  sf_flow_actor actor = sf_flow_actor_of(r, cx->who);
  sf_flow_may may = sf_flow_transition_may(tr, &actor);
  if (may == SF_FLOW_NOT_ROLE)
    return sf_err_set(err, 403, "forbidden", "Forbidden", "role '%s' may not take action '%s'", cx->who->role,
                      tr->action);
  if (may == SF_FLOW_NOT_BY)
    return sf_err_set(err, 403, "forbidden", "Forbidden",
                      "action '%s' is taken by %s; you are none of them (an approval vote is decided at .../approvals)",
                      tr->action, tr->by_text);
  return 0;
}

/* Does tr's guard hold? 0, or 409 (it does not) / 422 (it failed). */
static int guard_holds(const sf_flow_request *r, const sf_flow_transition *tr, sf_err *err) {
  sf_err gerr = {0};
  int holds = sf_flow_holds(tr->guard, r, &gerr);
  if (holds < 0 && gerr.status == 500) return sf_err_internal(err, "%s", gerr.detail);
  if (holds < 0) return sf_err_set(err, 422, "guard-failed", "Guard failed", "%s", gerr.detail);
  if (!holds)
    return sf_err_set(err, 409, "guard-rejected", "Guard does not hold",
                      "action '%s' needs %s, which does not hold for this request", tr->action, tr->guard);
  return 0;
}

int sf_flow_take(const sf_flow_ctx *cx, sf_flow_request *r, const char *action, const char *comment, sf_err *err) {
  int known = 0;
  const sf_flow_transition *tr = leaving(r, action, &known);
  if (!tr)
    return sf_err_set(err, 409, "transition-not-allowed", "Transition not allowed",
                      known ? "action '%s' is not allowed in state '%s'"
                            : "this workflow has no action '%s' (state '%s')",
                      action, r->state);
  int rc = may_take(cx, r, tr, err);
  if (!rc) rc = guard_holds(r, tr, err);
  if (!rc) rc = apply(cx, r, tr, comment, cx->who->user_id ? cx->who->user_id : "", err);
  return rc;
}

int sf_flow_timer_fire(const sf_flow_ctx *cx, sf_flow_request *r, long long index, long long version, int *moved,
                       sf_err *err) {
  *moved = 0;
  const sf_flow_timer *t = index >= 0 && index < r->def->ntimers ? &r->def->timers[index] : NULL;
  if (!t || (version >= 0 && r->version != version) || t->state != sf_flow_state_index(r->def, r->state))
    return 0; /* moved on since: nothing to do */
  const sf_flow_transition *tr = leaving(r, t->action, NULL);
  if (!tr) return 0;
  sf_err gerr = {0};
  int holds = sf_flow_holds(tr->guard, r, &gerr);
  if (holds != 1)
    return sf_flow_event(cx, r, "request.timer_skipped",
                         json_pack("{s:s, s:s, s:s}", "action", t->action, "state", r->state, "reason",
                                   holds < 0 ? gerr.detail : "the guard does not hold"),
                         err);
  int rc = sf_flow_event(cx, r, "request.timer_fired",
                         json_pack("{s:s, s:s, s:s}", "action", t->action, "state", r->state, "after", t->after), err);
  if (!rc) rc = apply(cx, r, tr, "", "system", err);
  *moved = !rc;
  return rc;
}
