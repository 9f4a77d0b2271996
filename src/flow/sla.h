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
 * SF_FLOW_SLA_TIMER, ref = the request id) is set for the next warning or
 * breach; it survives restarts, and its handler (the request service's,
 * which loads the request) calls sf_flow_sla_fire to record what is due
 * (request.sla_warning, request.sla_breached and their actions: notify,
 * assign, set...) and set the next one.
 *
 * Calls flow/steps.h only. The writer thread runs what takes an
 * sf_flow_ctx; sf_flow_sla_json runs on any thread with its own db. */
#ifndef SF_FLOW_SLA_H
#define SF_FLOW_SLA_H

#include <jansson.h>

#include "flow/request.h"

#define SF_FLOW_SLA_TIMER "request.sla"

/* request.sla_started with the targets that apply (at creation). */
int sf_flow_sla_start(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err);
/* The next warning/breach timer after any move. */
int sf_flow_sla_schedule(const sf_flow_ctx *cx, const sf_flow_request *r, sf_err *err);
/* The SLA timer fired: records warnings not yet recorded (unless already
 * breached) and breaches, with their actions, then sets the next timer.
 * *changed: r moved on (a new version) and must be saved. */
int sf_flow_sla_fire(const sf_flow_ctx *cx, sf_flow_request *r, int *changed, sf_err *err);
/* The SLA view {calendar, targets, as_of} as of now, or NULL: none. */
json_t *sf_flow_sla_json(sf_db *db, const sf_flow_request *r, int64_t now);

#endif
