/* Approval chains over HTTP: decisions and delegation at a request's
 * pending level (the chain itself is flow/approvals.h: the decision's
 * outcome, the chain's action, is taken here through the engine), the
 * chain in the request's view, and the approvals inbox. Handlers on HTTP
 * threads; exec functions on the writer thread; the SQL is repo.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "flow/approvals.h"
#include "flow/engine.h"
#include "services/requests/internal.h"

/* ---- decisions and delegation ---- */

typedef struct {
  char id[SF_ID_MAX];
  char decision[16]; /* approve | reject | delegate */
  char to[SF_FLOW_USER_MAX];
  char comment[2008];
  sf_if_match if_match;
} decide_input;

static int check_delegate(sf_tx *tx, const decide_input *in, const sf_actor *who, const sf_flow_request *r,
                          const sf_flow_level *l, int64_t chain, int64_t level, sf_err *err) {
  if (strcmp(in->to, who->user_id) == 0) return sf_err_invalid(err, "to", "you cannot delegate to yourself");
  if (strcmp(in->to, r->created_by) == 0) return sf_err_conflict(err, "nobody decides on their own request");
  char role[16] = "";
  int found = srq_active_user(tx->db, in->to, role, sizeof role, err);
  if (found < 0) return found;
  if (!found) return sf_err_invalid(err, "to", "no active user %s", in->to);
  if (l->role && strcmp(l->role, role) == 0) /* a member of the level's role has a vote of their own */
    return sf_err_conflict(err, "%s already has a say at this level (role %s)", in->to, role);
  int64_t n = srq_say_at_level(tx->db, r, chain, level, in->to, err);
  if (n < 0) return (int)n;
  if (n) return sf_err_conflict(err, "%s already has a say at this level", in->to);
  return 0;
}

/* Is who an approver of r's active level? 0 with the vote's place in *v, or
 * 404 (may not see it), 409 (nothing pending), 403 (not theirs). */
static int find_vote(sf_db *db, const sf_actor *who, const sf_flow_request *r, const sf_flow_chain *ch, sf_flow_vote *v,
                     sf_err *err) {
  int mine = 0;
  int active = ch ? srq_approval_rows.active_level(db, r, &v->chain, &v->level, err) : 0;
  if (active < 0) return active;
  if (active && strcmp(r->created_by, who->user_id) != 0) /* no approving your own request */
    mine = srq_my_task(db, who->user_id, who->role, r, v->chain, v->level, &v->seq, &v->via_role, err);
  if (mine < 0) return mine;
  if (!mine && !srq_may_see(db, who, r)) return sf_err_not_found(err, "request");
  if (!active)
    return sf_err_set(err, 409, "no-pending-approval", "No pending approval",
                      "request %s is in state '%s', where no approval is waiting", r->id, r->state);
  if (!mine)
    return sf_err_set(err, 403, "not-an-approver", "Not an approver",
                      "you are not an approver of level '%s' (or have already decided)",
                      v->level >= 0 && v->level < ch->nlevels ? ch->levels[v->level].name : "");
  return 0;
}

/* The vote or the delegation, then what a completed chain asks for. */
static int decide(const sf_flow_ctx *cx, const decide_input *in, sf_flow_request *r, const sf_flow_chain *ch,
                  sf_flow_vote *v, sf_err *err) {
  if (v->level < 0 || v->level >= ch->nlevels)
    return sf_err_internal(err, "approval level %" PRId64 " is not in the workflow", v->level);
  v->comment = in->comment;
  if (strcmp(in->decision, "delegate") == 0) {
    int rc = check_delegate(cx->tx, in, cx->who, r, &ch->levels[v->level], v->chain, v->level, err);
    return rc ? rc : sf_flow_approvals_delegate(cx, r, v, in->to, err);
  }
  v->approve = strcmp(in->decision, "approve") == 0;
  sf_flow_outcome out = {0};
  int rc = sf_flow_approvals_vote(cx, r, v, &out, err);
  return rc ? rc : sf_flow_act_on(cx, r, &out, err);
}

static int decide_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  decide_input *in = data;
  sf_flow_request *r = sf_calloc(1, sizeof *r);
  sf_flow_vote v = {0};
  sf_flow_ctx cx = srq_ctx(tx, who);
  int rc = srq_load(tx->db, in->id, r, err);
  const sf_flow_chain *ch = rc ? NULL : sf_flow_chain_of(r->def, sf_flow_state_index(r->def, r->state));
  if (!rc) rc = find_vote(tx->db, who, r, ch, &v, err);
  if (!rc) rc = sf_precondition(in->if_match, r->version, err);
  if (!rc) rc = decide(&cx, in, r, ch, &v, err);
  if (!rc) rc = srq_save(tx, r, err);
  if (!rc) srq_result(out, tx->db, 200, r, who);
  sf_flow_request_clear(r);
  free(r);
  return rc;
}

static const sf_json_field k_decide[] = {
    {"decision", SF_JSON_STRING, 1, 1, 10},
    {"comment", SF_JSON_STRING, 0, 0, 2000},
    {0},
};

static const sf_json_field k_delegate[] = {
    {"to", SF_JSON_STRING, 1, 1, 47},
    {"comment", SF_JSON_STRING, 0, 0, 2000},
    {0},
};

static void start_decision(sf_req *req, int delegate) {
  decide_input *in = sf_calloc(1, sizeof *in);
  if (!sf_in_if_match(req, &in->if_match)) {
    free(in);
    return;
  }
  json_t *b = sf_in_body(req, delegate ? k_delegate : k_decide);
  if (!b) {
    free(in);
    return;
  }
  const char *d = delegate ? "delegate" : sf_json_str(b, "decision");
  if (strcmp(d, "approve") != 0 && strcmp(d, "reject") != 0 && strcmp(d, "delegate") != 0) {
    sf_err err = {0};
    sf_err_invalid(&err, "decision", "must be approve or reject");
    json_decref(b);
    free(in);
    sf_req_reply_problem(req, &err);
    return;
  }
  snprintf(in->decision, sizeof in->decision, "%s", d);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  const char *c = sf_json_str(b, "comment");
  snprintf(in->comment, sizeof in->comment, "%s", c ? c : "");
  if (delegate) snprintf(in->to, sizeof in->to, "%s", sf_json_str(b, "to"));
  json_decref(b);
  sf_req_submit(req, decide_exec, in, free);
}

static void h_decide(sf_req *req) { start_decision(req, 0); }

static void h_delegate(sf_req *req) { start_decision(req, 1); }

/* ---- GET /approvals?assignee=me: the caller's inbox, newest first ---- */

static void h_inbox(sf_req *req) {
  const char *assignee = sf_req_query(req, "assignee");
  sf_err err = {0};
  if (assignee && strcmp(assignee, "me") != 0) {
    sf_err_invalid(&err, "assignee", "only assignee=me is supported");
    sf_req_reply_problem(req, &err);
    return;
  }
  srq_inbox_query q = {.user = req->principal.user_id, .role = req->principal.role};
  char c_id[64];
  if (!sf_in_limit(req, &q.limit)) return;
  if (!sf_in_time_cursor(req, &q.c_at, c_id, sizeof c_id)) return;
  q.c_id = c_id;
  sf_db *db = sf_db_reader(&err);
  json_t *data = json_array();
  char next[96] = "";
  int n = db ? srq_inbox(db, &q, data, next, sizeof next, &err) : -1;
  if (n < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (n <= q.limit) next[0] = '\0';
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

#define SRQ_REF "{\"$ref\":\"#/components/schemas/ServiceRequest\"}"

void srq_approvals_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/requests/{id}/approvals", h_decide, SF_AUTH_USER, NULL, SF_ROUTE_IF_MATCH, "requests",
       "Approve or reject at the request's pending approval level (its assignees only; 409 when none is pending)",
       "{\"type\":\"object\",\"required\":[\"decision\"],\"additionalProperties\":false,\"properties\":{"
       "\"decision\":{\"enum\":[\"approve\",\"reject\"]},\"comment\":{\"type\":\"string\",\"maxLength\":2000}}}",
       SRQ_REF, 200, 0, .statuses = "403"},
      {"POST", "/api/v1/requests/{id}/approvals/delegate", h_delegate, SF_AUTH_USER, NULL, SF_ROUTE_IF_MATCH,
       "requests", "Hand your pending approval at the current level to another user",
       "{\"type\":\"object\",\"required\":[\"to\"],\"additionalProperties\":false,\"properties\":{"
       "\"to\":{\"type\":\"string\"},\"comment\":{\"type\":\"string\",\"maxLength\":2000}}}",
       SRQ_REF, 200, 0, .statuses = "403"},
      {"GET", "/api/v1/approvals", h_inbox, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "requests",
       "Your approvals inbox (?assignee=me): pending tasks assigned to you or to your role, newest first", NULL,
       SF_LIST_SCHEMA("{\"type\":\"object\",\"required\":[\"level\",\"name\",\"assignee\",\"requested_at\","
                      "\"chain\",\"request\"],\"properties\":{\"level\":{\"type\":\"integer\"},"
                      "\"name\":{\"type\":\"string\"},\"assignee\":{\"type\":\"object\"},"
                      "\"requested_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                      "\"decision\":{\"type\":[\"string\",\"null\"]},\"chain\":{\"type\":\"integer\"},"
                      "\"request\":{\"type\":\"object\",\"required\":[\"id\",\"type\",\"title\",\"state\"],"
                      "\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
                      "\"title\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"},"
                      "\"data\":{\"type\":\"object\"}}}}}"),
       200, 0, .query = "assignee"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
