/* Who may see a service request and how it is shown: the view of one
 * request for one caller (available_actions are what that caller may
 * take), with its approval chain and SLA. Any thread; reads only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "edge/edge.h"
#include "flow/approvals.h"
#include "events/store.h"
#include "flow/engine.h"
#include "flow/sla.h"
#include "services/requests/internal.h"

/* The request as `who` sees it: available_actions are the transitions out
 * of its state they may take (sf_flow_transition_may; guards are not run). */
json_t *srq_json(const sf_flow_request *r, const sf_actor *who) {
  sf_flow_actor actor = sf_flow_actor_of(r, who);
  char c[32], u[32];
  sf_time_iso8601(r->created_at, c, sizeof c);
  sf_time_iso8601(r->updated_at, u, sizeof u);
  const sf_flow_def *d = r->def;
  int state = sf_flow_state_index(d, r->state);
  json_t *actions = json_array();
  for (int i = 0; state >= 0 && i < d->ntransitions; i++)
    if (d->transitions[i].from[state] && sf_flow_transition_may(&d->transitions[i], &actor) == SF_FLOW_MAY)
      json_array_append_new(actions, json_string(d->transitions[i].action));
  json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:s, s:b, s:{s:s, s:I}, s:o, s:s, s:I, s:s, s:s}", "id", r->id, "type",
                        r->type, "title", r->title, "data", r->data, "state", r->state, "final",
                        state >= 0 && d->states[state].final, "workflow", "id", r->workflow_id, "version",
                        (json_int_t)r->workflow_version, "available_actions", actions, "created_by", r->created_by,
                        "version", (json_int_t)r->version, "created_at", c, "updated_at", u);
  json_object_set_new(o, "assignee",
                      r->assignee_user[0]   ? json_pack("{s:s}", "user", r->assignee_user)
                      : r->assignee_role[0] ? json_pack("{s:s}", "role", r->assignee_role)
                                            : json_null());
  return o;
}

int srq_may_see(sf_db *db, const sf_actor *who, const sf_flow_request *r) {
  const char *me = who->user_id ? who->user_id : "";
  return strcmp(r->created_by, me) == 0 || strcmp(r->assignee_user, me) == 0 ||
         sf_edge_role_allows(who->role, "workflows:read") || srq_is_approver(db, r, me);
}

int srq_sees_notes(const sf_actor *who) { return who->role && sf_edge_role_allows(who->role, "workflows:read"); }

json_t *srq_approvals_json(sf_db *db, const sf_flow_request *r) {
  /* chains exist only under a pinned definition with approval chains: the
   * reply of every transition of the others skips the query */
  if (r->def->nchains == 0) return NULL;
  int64_t chain = 0, plevel = -1;
  json_t *o = srq_latest_chain(db, r, &chain);
  json_t *tasks = o ? srq_chain_tasks(db, r, chain, &plevel) : NULL;
  if (!tasks) {
    json_decref(o);
    return NULL;
  }
  json_object_set_new(o, "tasks", tasks);
  const sf_flow_chain *ch =
      sf_flow_chain_of(r->def, sf_flow_state_index(r->def, json_string_value(json_object_get(o, "state"))));
  sf_err err = {0};
  if (plevel >= 0 && ch && plevel < ch->nlevels) {
    const sf_flow_level *l = &ch->levels[plevel];
    json_object_set_new(o, "pending",
                        json_pack("{s:I, s:s, s:o, s:I, s:I}", "level", (json_int_t)plevel, "name", l->name, "quorum",
                                  sf_flow_quorum_json(l), "needed",
                                  (json_int_t)sf_flow_level_needed(&srq_approval_rows, db, r, l, chain, plevel, &err),
                                  "approved", (json_int_t)srq_approval_rows.approvals(db, r, chain, plevel, &err)));
  } else {
    json_object_set_new(o, "pending", json_null());
  }
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
json_t *srq_view(sf_db *db, const sf_flow_request *r, const sf_actor *who, int history) {
  json_t *o = srq_json(r, who);
  json_t *ap = srq_approvals_json(db, r);
  json_object_set_new(o, "approvals", ap ? ap : json_null());
  json_t *sla = sf_flow_sla_json(db, r, sf_now_ms());
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

void srq_result(sf_result *out, sf_db *db, int status, const sf_flow_request *r, const sf_actor *who) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", r->version);
  sf_result_json(out, status, srq_view(db, r, who, 0));
  sf_result_header(out, "ETag", etag);
}
