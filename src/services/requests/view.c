/* How a service request is shown: the view of one request for one caller
 * (available_actions are what that caller may take), the webhook snapshot,
 * and who a transition is for. Any thread; reads only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "edge/edge.h"
#include "events/store.h"
#include "flow/definition.h"
#include "services/requests/internal.h"

/* Who takes a transition, as the workflow's `roles` and `by` see them. */
sf_flow_actor srq_actor(const srq *r, const sf_principal *who) {
  int assignee = (r->assignee_user[0] && strcmp(r->assignee_user, who->user_id) == 0) ||
                 (r->assignee_role[0] && strcmp(r->assignee_role, who->role) == 0);
  return (sf_flow_actor){
      .role = who->role, .requester = strcmp(r->created_by, who->user_id) == 0, .assignee = assignee};
}

/* The request as `who` sees it: available_actions are the transitions out
 * of its state they may take (sf_flow_may_take; guards are not run). */
json_t *srq_json(const srq *r, const sf_principal *who) {
  sf_flow_actor actor = srq_actor(r, who);
  char c[32], u[32];
  sf_time_iso8601(r->created_at, c, sizeof c);
  sf_time_iso8601(r->updated_at, u, sizeof u);
  json_t *actions = json_array();
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(r->def, "transitions"), i,
                     t) if (srq_names_include(json_object_get(t, "from"), r->state) &&
                            sf_flow_may_take(t, &actor) == SF_FLOW_MAY)
      json_array_append_new(actions, json_string(json_string_value(json_object_get(t, "action"))));
  const json_t *st = json_object_get(json_object_get(r->def, "states"), r->state);
  json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:s, s:b, s:{s:s, s:I}, s:o, s:s, s:I, s:s, s:s}", "id", r->id, "type",
                        r->type, "title", r->title, "data", r->data, "state", r->state, "final",
                        json_is_true(json_object_get(st, "final")), "workflow", "id", r->workflow_id, "version",
                        (json_int_t)r->workflow_version, "available_actions", actions, "created_by", r->created_by,
                        "version", (json_int_t)r->version, "created_at", c, "updated_at", u);
  json_object_set_new(o, "assignee",
                      r->assignee_user[0]   ? json_pack("{s:s}", "user", r->assignee_user)
                      : r->assignee_role[0] ? json_pack("{s:s}", "role", r->assignee_role)
                                            : json_null());
  return o;
}

/* The moves of a request, from its stream: [{action, from, to, by, at}]. */
static int history_visit(const sf_event *ev, void *ud) {
  if (strcmp(ev->type, "request.transitioned") != 0) return 0;
  json_t *d = json_loads(ev->data, 0, NULL);
  char at[32];
  sf_time_iso8601(ev->at, at, sizeof at);
  if (d) {
    json_object_del(d, "comment");
    json_object_set_new(d, "at", json_string(at));
    json_array_append_new(ud, d);
  }
  return 0;
}

#define HISTORY_EVENTS 200

/* The full view of one request: with its approvals and SLA; with
 * `history`, the moves among its last HISTORY_EVENTS events (GET only:
 * command replies skip it, the whole trail is GET .../events). */
static json_t *srq_json_full(sf_db *db, const srq *r, const sf_principal *who, int history) {
  json_t *o = srq_json(r, who);
  json_t *ap = srq_approvals_json(db, r);
  json_object_set_new(o, "approvals", ap ? ap : json_null());
  json_t *sla = srq_sla_json(db, r, sf_now_ms());
  json_object_set_new(o, "sla", sla ? sla : json_null());
  if (!history) return o;
  json_t *hist = json_array();
  char stream[96];
  snprintf(stream, sizeof stream, "request-%s", r->id);
  sf_err err = {0};
  int64_t v = sf_ev_stream_version(db, stream, &err);
  sf_ev_read_stream(db, stream, v > HISTORY_EVENTS ? v - HISTORY_EVENTS : 0, HISTORY_EVENTS, history_visit, hist, &err);
  json_object_set_new(o, "history", hist);
  json_object_set_new(o, "history_truncated", json_boolean(v > HISTORY_EVENTS));
  return o;
}

void srq_reply_view(sf_req *req, sf_db *db, int status, const srq *r, int history) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", r->version);
  sf_req_reply_json(req, status, srq_json_full(db, r, &req->principal, history));
  sf_req_add_header(req, "ETag", etag);
}

void srq_reply(sf_req *req, sf_db *db, int status, const srq *r) { srq_reply_view(req, db, status, r, 0); }

/* The request as a webhook's body shows it: as it is at the moment the
 * action runs (later steps of the same command may move it on). */
json_t *srq_snapshot(const srq *r) {
  return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:{s:s, s:I}}", "id", r->id, "type", r->type, "title", r->title,
                   "state", r->state, "data", json_deep_copy(r->data), "version", (json_int_t)r->version, "workflow",
                   "id", r->workflow_id, "version", (json_int_t)r->workflow_version);
}

/* A transition's `by` for a message: "requester, role:staff". */
const char *srq_by_text(const json_t *tr) {
  static _Thread_local char buf[200];
  const json_t *by = json_object_get(tr, "by");
  if (!by) return SF_FLOW_BY_DEFAULT;
  buf[0] = '\0';
  size_t i, n = 0;
  const json_t *e;
  json_array_foreach(by, i, e) {
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", json_string_value(e));
    if (n >= sizeof buf) break; /* cut: the message stays readable */
  }
  return buf;
}
