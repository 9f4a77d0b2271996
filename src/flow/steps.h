/* The small steps the engine, approvals and SLA share: conditions on the
 * writer's guard VM, events on the request's stream, and the actions a
 * workflow runs (emit, set, assign, notify, webhook). This file calls no
 * other file of flow/ but the guard VM and the compiled definition; the
 * engine, approvals and SLA call it. Writer thread only. */
#ifndef SF_FLOW_STEPS_H
#define SF_FLOW_STEPS_H

#include <jansson.h>

#include "flow/request.h"

/* A condition over r's data (a transition's guard, a level's or an SLA
 * target's `when`) on the writer thread's guard VM: 1 holds (also when expr
 * is NULL), 0 does not, -1 failed with the reason in *why (status 422, or
 * 500 when the VM cannot start). */
int sf_flow_holds(const char *expr, const sf_flow_request *r, sf_err *why);

/* An event on stream "request-<id>" caused by cx->who; takes data. */
int sf_flow_event(const sf_flow_ctx *cx, const sf_flow_request *r, const char *type, json_t *data, sf_err *err);

/* Runs actions on behalf of `state` ("on_enter", "on_exit", "on_breach" ...
 * in `when`); move is the transition that runs them ({action, from, to,
 * by}; NULL: none), recorded with a webhook so its delivery says what
 * triggered it. Webhooks are recorded as events (request.webhook_due, with
 * the request's snapshot) and delivered from them by the webhooks service
 * (services/webhooks/webhooks.h); notifications are events (request.notified). */
int sf_flow_run_actions(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_actions *list, const char *state,
                        const char *when, const json_t *move, sf_err *err);

/* {id, type, title, state, data, version, workflow} as r is now (a copy). */
json_t *sf_flow_snapshot(const sf_flow_request *r);

#endif
