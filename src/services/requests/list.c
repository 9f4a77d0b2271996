/* GET /requests: the list of service requests, newest first, with its
 * filters (the statements: srq_list_ids in repo.c). HTTP threads. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "flow/sla.h"
#include "services/requests/internal.h"

/* ?assignee=: me, unassigned, role:<role>, or a user id. */
static int read_assignee(sf_req *req, srq_list_filter *f) {
  const char *a = sf_req_query(req, "assignee");
  if (!a) return 1;
  if (strcmp(a, "me") == 0)
    f->user = req->principal.user_id;
  else if (strcmp(a, "unassigned") == 0)
    f->queue = "";
  else if (strncmp(a, "role:", 5) == 0 && sf_edge_valid_role(a + 5))
    f->queue = a + 5;
  else if (strncmp(a, "usr_", 4) == 0 && strlen(a) < 48)
    f->user = a;
  else {
    sf_err err = {0};
    sf_err_invalid(&err, "assignee", "must be me, unassigned, role:<customer|staff|approver|admin> or a user id");
    sf_req_reply_problem(req, &err);
    return 0;
  }
  return 1;
}

/* ?sla=: the stored SLA status (repo.h). */
static int read_sla(sf_req *req, srq_list_filter *f) {
  static const char *const k_sla[] = {"none", "running", "paused", "warning", "breached", "met"};
  const char *v = sf_req_query(req, "sla");
  if (!v) return 1;
  for (size_t i = 0; i < sizeof k_sla / sizeof k_sla[0]; i++)
    if (strcmp(v, k_sla[i]) == 0) {
      f->sla = k_sla[i];
      return 1;
    }
  sf_err err = {0};
  sf_err_invalid(&err, "sla", "must be none, running, paused, warning, breached or met");
  sf_req_reply_problem(req, &err);
  return 0;
}

/* ?q= as an FTS5 query; staff search internal comments too (f->notes):
 * anyone else only title, data and comments, so a note's words never make
 * a request match for its requester (the repository applies it). */
static int read_match(sf_req *req, srq_list_filter *f, char *match, size_t cap) {
  if (!sf_in_search(req, "q", match, cap)) return 0;
  sf_actor who;
  sf_req_actor(req, &who);
  f->notes = srq_sees_notes(&who);
  return 1;
}

static int read_filter(sf_req *req, srq_list_filter *f, char *match, size_t cap) {
  memset(f, 0, sizeof *f);
  if (!sf_in_limit(req, &f->limit) || !sf_in_time_cursor(req, &f->c_at, f->c_id, sizeof f->c_id) ||
      !read_assignee(req, f) || !read_match(req, f, match, cap) || !read_sla(req, f))
    return 0;
  f->match = match[0] ? match : NULL;
  f->state = sf_req_query(req, "state");
  f->type = sf_req_query(req, "type");
  if (!sf_edge_role_allows(req->principal.role, "workflows:read")) f->creator = req->principal.user_id;
  /* ?created_by=me: one's own requests, also for those who may see all (an agent's "my requests") */
  const char *by = sf_req_query(req, "created_by");
  if (by && strcmp(by, "me") != 0) {
    sf_err err = {0};
    sf_err_invalid(&err, "created_by", "must be me");
    sf_req_reply_problem(req, &err);
    return 0;
  }
  if (by) f->creator = req->principal.user_id;
  return 1;
}

static void h_list(sf_req *req) {
  srq_list_filter f;
  char match[576];
  if (!read_filter(req, &f, match, sizeof match)) return;
  sf_err err = {0};
  sf_actor who;
  sf_req_actor(req, &who);
  sf_db *db = sf_db_reader(&err);
  char(*ids)[SF_ID_MAX] = sf_arena_alloc(&req->arena, (size_t)(f.limit + 1) * sizeof *ids);
  int n = db ? srq_list_ids(db, &f, ids, &err) : -1;
  json_t *data = json_array();
  char next[96] = "";
  for (int i = 0; n >= 0 && i < n && i < f.limit; i++) {
    sf_flow_request r;
    if (srq_load(db, ids[i], &r, &err)) {
      n = -1;
      break;
    }
    json_t *row = srq_json(&r, &who);
    /* a queue shows each request's SLA clocks (NULL: the type has none) */
    json_t *sla = sf_flow_sla_json(db, &r, sf_now_ms());
    if (sla) json_object_set_new(row, "sla", sla);
    json_array_append_new(data, row);
    if (n > f.limit && i == f.limit - 1) snprintf(next, sizeof next, "%" PRId64 ":%s", r.created_at, r.id);
    sf_flow_request_clear(&r);
  }
  if (n < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

void srq_list_routes(void) {
  static const sf_route route = {
      "GET",
      "/api/v1/requests",
      h_list,
      SF_AUTH_USER,
      NULL,
      SF_ROUTE_PAGED,
      "requests",
      "List requests, newest first: your own, or all with workflows:read; ?state=, ?type=, "
      "?assignee=me|unassigned|role:<role>|<user id>, ?q= (full text over title, data and comments; staff also "
      "match internal comments), ?created_by=me, ?sla=none|running|paused|warning|breached|met (the most urgent "
      "of the request's SLA targets, kept with every change of the request), cursor; "
      "each row has its sla when its type has targets",
      NULL,
      SF_LIST_SCHEMA("{\"$ref\":\"#/components/schemas/ServiceRequest\"}"),
      200,
      0,
      .query = "state type assignee q created_by sla"};
  sf_router_add(&route);
}
