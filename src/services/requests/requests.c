/* Service requests over HTTP: created against the latest version of their
 * type's workflow and pinned to it; moved by transitions, workflow timers,
 * approval chains (approvals.c) and SLA timers, all run by the engine in
 * flow/ (engine.h, approvals.h, sla.h) inside the writer command; comments,
 * assignment, the audit trail. Every step is an event on stream
 * "request-<id>". Handlers run on HTTP threads and submit commands (exec:
 * writer thread, with who acts); the SQL is repo.c. */
#include "services/requests/requests.h"

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
#include "flow/engine.h"
#include "flow/sla.h"
#include "flow/steps.h"
#include "services/requests/internal.h"

void sf_requests_forget_definitions(void) { sf_flow_defs_forget(); }

/* ---- POST /requests ---- */

typedef struct {
  sf_flow_request r;
} create_input;

static void free_create(void *d) {
  create_input *in = d;
  sf_flow_request_clear(&in->r);
  free(in);
}

static int create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  create_input *in = data;
  sf_flow_request *r = &in->r;
  int rc = srq_latest_workflow(tx->db, r->type, r->workflow_id, sizeof r->workflow_id, err);
  if (rc < 0) return rc;
  if (rc == 0) return sf_err_invalid(err, "type", "no workflow is published for type '%s'", r->type);
  if ((rc = srq_load_def(tx->db, r, err))) return rc;
  if ((rc = sf_flow_prepare_data(r->def, r->data, err))) return rc; /* defaults in, before guards see data */
  sf_id_new("srq", r->id, sizeof r->id);
  snprintf(r->created_by, sizeof r->created_by, "%s", who->user_id ? who->user_id : "");
  r->version = 1;
  r->created_at = r->updated_at = tx->now_ms;
  sf_flow_ctx cx = srq_ctx(tx, who);
  rc = sf_flow_start(&cx, r, err);
  if (!rc) rc = srq_save(tx, r, err);
  if (rc) return rc;
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/requests/%s", r->id);
  srq_result(out, tx->db, 201, r, who);
  sf_result_header(out, "Location", loc);
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
  sf_req_submit(req, create_exec, in, free_create);
}

/* ---- POST /requests/{id}/transitions ---- */

typedef struct {
  char id[SF_ID_MAX];
  char action[48];
  char comment[2008];
  sf_if_match if_match;
} transition_input;

int srq_transition(sf_tx *tx, const sf_actor *who, const char *id, const char *action, const char *comment,
                   sf_if_match if_match, sf_flow_request *r, sf_err *err) {
  int rc = srq_load(tx->db, id, r, err);
  if (!rc && !srq_may_see(tx->db, who, r)) rc = sf_err_not_found(err, "request");
  if (!rc) rc = sf_precondition(if_match, r->version, err);
  sf_flow_ctx cx = srq_ctx(tx, who);
  if (!rc) rc = sf_flow_take(&cx, r, action, comment, err);
  if (!rc) rc = srq_save(tx, r, err);
  return rc;
}

static int transition_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  transition_input *in = data;
  sf_flow_request *r = sf_calloc(1, sizeof *r);
  int rc = srq_transition(tx, who, in->id, in->action, in->comment, in->if_match, r, err);
  if (!rc) srq_result(out, tx->db, 200, r, who);
  sf_flow_request_clear(r);
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
  sf_req_submit(req, transition_exec, in, free);
}

/* ---- comments and assignment ---- */

typedef struct {
  char id[SF_ID_MAX];
  char body[4008];
  char user[SF_FLOW_USER_MAX];
  char role[16];
  int comment;  /* 1: a comment, 0: an assignment */
  int internal; /* a comment for staff only: request.noted */
} note_input;

/* An internal comment is its own event type, request.noted, not
 * request.commented with a flag: every reader of request.commented (the
 * requester's notifications and mail, the search text the requester matches,
 * the portal's timeline) stays blind to it without having to know. */
static int comment_on(const sf_flow_ctx *cx, sf_flow_request *r, const note_input *in, sf_err *err) {
  if (in->internal)
    return sf_flow_event(cx, r, SRQ_NOTED,
                         json_pack("{s:s, s:s, s:b}", "body", in->body, "by", cx->who->user_id, "internal", 1), err);
  return sf_flow_event(cx, r, "request.commented", json_pack("{s:s, s:s}", "body", in->body, "by", cx->who->user_id),
                       err);
}

static int assign_to(const sf_flow_ctx *cx, sf_flow_request *r, const note_input *in, sf_err *err) {
  if (in->user[0]) {
    int found = srq_active_user(cx->tx->db, in->user, NULL, 0, err);
    if (found < 0) return found;
    if (!found) return sf_err_invalid(err, "user_id", "no active user %s", in->user);
  }
  snprintf(r->assignee_user, sizeof r->assignee_user, "%s", in->user);
  snprintf(r->assignee_role, sizeof r->assignee_role, "%s", in->role);
  return sf_flow_event(
      cx, r, "request.assigned",
      json_pack("{s:o, s:s}", "assignee",
                in->user[0] ? json_pack("{s:s}", "user", in->user) : json_pack("{s:s}", "role", in->role), "by",
                cx->who->user_id),
      err);
}

static int note_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  note_input *in = data;
  sf_flow_request *r = sf_calloc(1, sizeof *r);
  sf_flow_ctx cx = srq_ctx(tx, who);
  int rc = srq_load(tx->db, in->id, r, err);
  if (!rc && !srq_may_see(tx->db, who, r)) rc = sf_err_not_found(err, "request");
  if (!rc) rc = in->comment ? comment_on(&cx, r, in, err) : assign_to(&cx, r, in, err);
  if (!rc) {
    r->version++;
    rc = srq_save(tx, r, err);
  }
  if (!rc) srq_result(out, tx->db, in->comment ? 201 : 200, r, who);
  sf_flow_request_clear(r);
  free(r);
  return rc;
}
static const sf_json_field k_comment[] = {
    {"body", SF_JSON_STRING, 1, 1, 4000}, {"internal", SF_JSON_BOOL, 0, 0, 0}, {0}};

static void h_comment(sf_req *req) {
  json_t *b = sf_in_body(req, k_comment);
  if (!b) return;
  int internal = json_is_true(json_object_get(b, "internal"));
  sf_actor who;
  sf_req_actor(req, &who);
  if (internal && !srq_sees_notes(&who)) {
    sf_err err = {0};
    sf_err_set(&err, 403, "forbidden", "Forbidden",
               "only staff (permission workflows:read) may write internal comments; role '%s' may not",
               who.role ? who.role : "");
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  note_input *in = sf_calloc(1, sizeof *in);
  in->comment = 1;
  in->internal = internal;
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  snprintf(in->body, sizeof in->body, "%s", sf_json_str(b, "body"));
  json_decref(b);
  sf_req_submit(req, note_exec, in, free);
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
  sf_req_submit(req, note_exec, in, free);
}

/* ---- workflow and SLA timers ---- */

/* Loads the request a timer names: 1 loaded, 0 gone (nothing to do), < 0
 * (rolled back and retried: the timer must not be lost). */
static int timer_request(sf_tx *tx, const char *id, sf_flow_request *r, sf_err *err) {
  int rc = srq_load(tx->db, id, r, err);
  if (rc == -404) {
    sf_err_clear(err);
    return 0;
  }
  return rc ? rc : 1;
}

/* A timer's transition runs as the system: no role check, but its guard
 * must hold (otherwise the timer is recorded as skipped). */
static int on_timer(sf_tx *tx, const char *ref, sf_err *err) {
  char id[SF_ID_MAX];
  long long version = -1; /* -1: the current "<id>|<index>" form */
  long long index;
  if (sscanf(ref, "%39[^|]|%lld|%lld", id, &version, &index) != 3) {
    version = -1;
    if (sscanf(ref, "%39[^|]|%lld", id, &index) != 2) return 0; /* not ours to read: drop it */
  }
  sf_flow_request *r = sf_calloc(1, sizeof *r);
  int rc = timer_request(tx, id, r, err), moved = 0;
  if (rc == 1) {
    sf_flow_ctx cx = srq_ctx(tx, &sf_actor_system);
    rc = sf_flow_timer_fire(&cx, r, index, version, &moved, err);
    if (!rc && moved) rc = srq_save(tx, r, err);
    sf_flow_request_clear(r);
  }
  free(r);
  return rc;
}

/* The SLA timer (ref: the request id): what is due, then the next one. */
static int on_sla_timer(sf_tx *tx, const char *ref, sf_err *err) {
  sf_flow_request *r = sf_calloc(1, sizeof *r);
  int rc = timer_request(tx, ref, r, err), changed = 0;
  if (rc == 1) {
    sf_flow_ctx cx = srq_ctx(tx, &sf_actor_system);
    rc = sf_flow_sla_fire(&cx, r, &changed, err);
    if (!rc && changed) rc = srq_save(tx, r, err);
    sf_flow_request_clear(r);
  }
  free(r);
  return rc;
}

void sf_requests_timers(void) {
  sf_timer_register(SF_FLOW_TIMER, on_timer);
  sf_timer_register(SF_FLOW_SLA_TIMER, on_sla_timer);
}

/* ---- reads ---- */

static void h_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_flow_request r;
  if (!db || srq_load(db, sf_req_param(req, "id"), &r, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_actor who;
  sf_req_actor(req, &who);
  if (!srq_may_see(db, &who, &r)) {
    sf_err_not_found(&err, "request");
    sf_req_reply_problem(req, &err);
  } else {
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"", (long long)r.version);
    sf_req_reply_json(req, 200, srq_view(db, &r, &who, 1));
    sf_req_add_header(req, "ETag", etag);
  }
  sf_flow_request_clear(&r);
}

/* The audit trail as the caller may see it: internal comments only for
 * those who see internal notes. The first TRAIL_EVENTS events, as every
 * stream's trail (sf_req_reply_stream). */
#define TRAIL_EVENTS 1000

typedef struct {
  json_t *data;
  int notes; /* the caller sees internal comments */
} trail;

static int trail_add(const sf_event *ev, void *ud) {
  trail *t = ud;
  if (t->notes || strcmp(ev->type, SRQ_NOTED) != 0) json_array_append_new(t->data, sf_ev_to_json(ev));
  return 0;
}

static void h_events(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_flow_request r;
  if (!db || srq_load(db, sf_req_param(req, "id"), &r, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_actor who;
  sf_req_actor(req, &who);
  int visible = srq_may_see(db, &who, &r);
  char stream[96];
  snprintf(stream, sizeof stream, "request-%s", r.id);
  sf_flow_request_clear(&r);
  if (!visible) {
    sf_err_not_found(&err, "request");
    sf_req_reply_problem(req, &err);
    return;
  }
  trail t = {json_array(), srq_sees_notes(&who)};
  if (sf_ev_read_stream(db, stream, 0, TRAIL_EVENTS, trail_add, &t, &err)) {
    json_decref(t.data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", t.data, "next_cursor"));
}

#define SRQ_REF "{\"$ref\":\"#/components/schemas/ServiceRequest\"}"

void sf_requests_routes(void) {
  srq_approvals_routes();
  srq_list_routes();
  static const sf_route routes[] = {
      {"POST", "/api/v1/requests", h_create, SF_AUTH_USER, NULL, 0, "requests",
       "Open a service request: the latest workflow of its type, pinned for the request's life; data is checked "
       "against the type's fields (every problem at once, as data.<field>)",
       "{\"type\":\"object\",\"required\":[\"type\",\"title\"],\"additionalProperties\":false,\"properties\":{"
       "\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\",\"maxLength\":200},\"data\":{\"type\":\"object\","
       "\"description\":\"the values of the type's fields (GET /request-types); defaults fill what is not given, 422 "
       "names each data.<field> that does not fit\"}"
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
       "Comment on a request (its creator, assignee, or workflows:read); the comment is an event, "
       "request.commented. internal: true makes it an internal note (event request.noted) that only staff "
       "(workflows:read) write and see: never in the requester's trail, search, live topic or notifications; "
       "403 for anyone else",
       "{\"type\":\"object\",\"required\":[\"body\"],\"additionalProperties\":false,\"properties\":{"
       "\"body\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000},"
       "\"internal\":{\"type\":\"boolean\",\"default\":false,"
       "\"description\":\"a staff-only note (request.noted), hidden from the requester\"}}}",
       SRQ_REF, 201, 0, .statuses = "403"},
      {"POST", "/api/v1/requests/{id}/assignment", h_assign, SF_AUTH_PERMISSION, "workflows:read", 0, "requests",
       "Assign a request to a user or a role (staff, approvers, admins)",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
       "\"user_id\":{\"type\":\"string\"},\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"admin\"]}}}",
       SRQ_REF, 200, 0},
      {"GET", "/api/v1/requests/{id}/events", h_events, SF_AUTH_USER, NULL, 0, "requests",
       "The request's audit trail (events of stream request-{id}); internal comments (request.noted) only "
       "for staff (workflows:read)",
       NULL,
       "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\","
       "\"items\":{\"$ref\":\"#/components/schemas/Event\"}}}}",
       200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
