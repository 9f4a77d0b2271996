/* The workflow engine: moves a service request through its pinned, compiled
 * workflow. A request's creation enters its initial state; a transition
 * asked for by a person is checked (state 409, role and `by` 403, guard 409
 * when it does not hold, 422 when it fails) and applied: the state's
 * approval chain cancelled, its timers cancelled, on_exit, the move,
 * on_enter, then what the new state starts (its timers, the SLA timer, its
 * approval chain). An approval chain that completes at once hands back an
 * outcome the engine acts on (the chain's action, as the system); a loop of
 * automatic transitions stops after 8.
 *
 * Works on data: the request (flow/request.h, loaded and saved by the
 * caller), who acts, the writer's transaction. Calls approvals, SLA and
 * steps; none of them calls back. Writer thread only (the actor relation
 * helper: any thread). Every step is an event on stream "request-<id>". */
#ifndef SF_FLOW_ENGINE_H
#define SF_FLOW_ENGINE_H

#include "flow/request.h"

/* The kind of the durable timers of workflow `timers` (ref "<id>|<index>";
 * older ones "<id>|<version>|<index>"). */
#define SF_FLOW_TIMER "request.timer"

/* who as a transition's `roles` and `by` see them, for request r. */
sf_flow_actor sf_flow_actor_of(const sf_flow_request *r, const sf_actor *who);

/* A new request (id, type, title, data, workflow, created_by, version and
 * times set by the caller) enters its initial state: request.created, the
 * SLA's start, on_enter, what the state starts. Does not save. */
int sf_flow_start(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err);

/* The transition `action` asked for by cx->who (checks above), with a
 * comment recorded on the move. Does not save. */
int sf_flow_take(const sf_flow_ctx *cx, sf_flow_request *r, const char *action, const char *comment, sf_err *err);

/* Takes the transition `action` out of the current state as the system (no
 * role check; its guard must hold, or request.auto_transition_skipped is
 * recorded and the request stays). `why` names the cause. Does not save. */
int sf_flow_auto_transition(const sf_flow_ctx *cx, sf_flow_request *r, const char *action, const char *why,
                            sf_err *err);
/* Acts on an outcome of approvals: its transition, if any. */
int sf_flow_act_on(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_outcome *out, sf_err *err);

/* Workflow timer `index` fired (version >= 0: an older timer, valid only at
 * that request version): its transition as the system when the request is
 * still in the timer's state and the guard holds (else
 * request.timer_skipped). *moved: r must be saved. */
int sf_flow_timer_fire(const sf_flow_ctx *cx, sf_flow_request *r, long long index, long long version, int *moved,
                       sf_err *err);

#endif
