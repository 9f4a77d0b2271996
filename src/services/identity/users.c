/* /users: the caller's profile and user administration (list, create,
 * role and status changes). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "edge/input.h"
#include "events/store.h"
#include "services/identity/internal.h"
#include "services/identity/password.h"

typedef struct {
  char id[SF_ID_MAX];
  char name[404];
  char role[16];
  char status[16];
  int has_name, has_role, has_status;
  sf_if_match if_match;
} user_change;

/* ---- /users/me ---- */

static void h_me(sf_req *req) { id_reply_user_by_id(req, req->principal.user_id); }

static const sf_json_field k_me_patch[] = {
    {"name", SF_JSON_STRING, 1, 1, 100},
    {0},
};

static int me_patch_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  user_change *c = data;
  sf_user u;
  int rc = id_load(tx, who->user_id, &u, err);
  if (rc || (rc = sf_precondition(c->if_match, u.version, err))) return rc;
  if (strcmp(u.name, c->name) != 0) {
    snprintf(u.name, sizeof u.name, "%s", c->name);
    u.version++;
    u.updated_at = tx->now_ms;
    if (id_save(tx, &u, err) || id_event(tx, who, &u, "user.profile_updated", json_pack("{s:s}", "name", u.name), err))
      return -1;
  }
  id_user_result(out, 200, &u);
  return 0;
}

static void h_me_patch(sf_req *req) {
  user_change *c = sf_calloc(1, sizeof *c);
  if (!sf_in_if_match(req, &c->if_match)) {
    free(c);
    return;
  }
  json_t *b = sf_in_body(req, k_me_patch);
  if (!b) {
    free(c);
    return;
  }
  snprintf(c->name, sizeof c->name, "%s", sf_json_str(b, "name"));
  json_decref(b);
  sf_req_submit(req, me_patch_exec, c, free);
}

/* ---- admin ---- */

static int role_valid(const char *role) {
  static const char *const k_roles[] = {"customer", "staff", "approver", "admin"};
  for (size_t i = 0; i < sizeof k_roles / sizeof k_roles[0]; i++)
    if (strcmp(role, k_roles[i]) == 0) return 1;
  return 0;
}

static void h_list(sf_req *req) {
  int limit;
  if (!sf_in_limit(req, &limit)) return;
  sf_err err = {0};
  /* ?q=: the start of an address or a name (the admin's user search) */
  const char *q = sf_req_query(req, "q");
  if (q && (!q[0] || strlen(q) > 100)) {
    sf_err_invalid(&err, "q", "must be 1 to 100 characters: the start of an email address or a name");
    sf_req_reply_problem(req, &err);
    return;
  }
  /* ?role=: one role's users (combines with q and the cursor) */
  const char *role = sf_req_query(req, "role");
  if (role && !role_valid(role)) {
    sf_err_invalid(&err, "role", "must be one of customer, staff, approver, admin");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_db *db = sf_db_reader(&err);
  json_t *data = json_array();
  char next[128];
  if (!db || sf_user_list(db, sf_req_query(req, "cursor"), q, role, limit, data, next, sizeof next, &err)) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

static void h_get(sf_req *req) { id_reply_user_by_id(req, sf_req_param(req, "id")); }

static const sf_json_field k_admin_patch[] = {
    {"role", SF_JSON_STRING, 0, 1, 16},
    {"status", SF_JSON_STRING, 0, 1, 16},
    {0},
};

static int admin_patch_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  user_change *c = data;
  sf_user u;
  int rc = id_load(tx, c->id, &u, err);
  if (rc || (rc = sf_precondition(c->if_match, u.version, err))) return rc;
  int self = strcmp(u.id, who->user_id) == 0;
  if (self && ((c->has_role && strcmp(c->role, "admin") != 0) || (c->has_status && strcmp(c->status, "active") != 0)))
    return sf_err_conflict(err, "administrators cannot demote or disable themselves");
  int changed = 0;
  if (c->has_role && strcmp(u.role, c->role) != 0) {
    if (id_event(tx, who, &u, "user.role_changed", json_pack("{s:s, s:s}", "from", u.role, "to", c->role), err))
      return -1;
    snprintf(u.role, sizeof u.role, "%s", c->role);
    changed = 1;
  }
  if (c->has_status && strcmp(u.status, c->status) != 0) {
    if (id_event(tx, who, &u, "user.status_changed", json_pack("{s:s, s:s}", "from", u.status, "to", c->status), err))
      return -1;
    snprintf(u.status, sizeof u.status, "%s", c->status);
    if (strcmp(u.status, "disabled") == 0 && id_revoke_sessions(tx, u.id, NULL, err) < 0) return -1;
    changed = 1;
  }
  if (changed) {
    u.version++;
    u.updated_at = tx->now_ms;
    if (id_save(tx, &u, err)) return -1;
  }
  id_user_result(out, 200, &u);
  return 0;
}

static void h_admin_patch(sf_req *req) {
  user_change *c = sf_calloc(1, sizeof *c);
  json_t *b = NULL;
  sf_err err = {0};
  if (!sf_in_if_match(req, &c->if_match) || !(b = sf_in_body(req, k_admin_patch))) {
    free(c);
    return;
  }
  const char *role = sf_json_str(b, "role"), *status = sf_json_str(b, "status");
  if (role && !sf_edge_valid_role(role))
    sf_err_invalid(&err, "role", "must be one of customer, staff, approver, admin");
  if (status && strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0)
    sf_err_invalid(&err, "status", "must be active or disabled");
  if (!role && !status && !err.status) sf_err_invalid(&err, "role", "give role and/or status");
  if (err.status) {
    json_decref(b);
    free(c);
    sf_req_reply_problem(req, &err);
    return;
  }
  snprintf(c->id, sizeof c->id, "%s", sf_req_param(req, "id"));
  if ((c->has_role = role != NULL)) snprintf(c->role, sizeof c->role, "%s", role);
  if ((c->has_status = status != NULL)) snprintf(c->status, sizeof c->status, "%s", status);
  json_decref(b);
  sf_req_submit(req, admin_patch_exec, c, free);
}

/* ---- POST /users: an admin creates an account (as `user create` does) ---- */

static const sf_json_field k_create[] = {
    {"email", SF_JSON_STRING, 1, 3, 254},
    {"password", SF_JSON_STRING, 1, 8, 128},
    {"role", SF_JSON_STRING, 1, 1, 16},
    {"name", SF_JSON_STRING, 0, 0, 100},
    {0},
};

/* Owned by the request from h_create to the command's end (create_free). */
typedef struct {
  sf_req *req;
  char email[256];
  char name[404];
  char role[16];
  char hash[160];
} create_job;

static void create_free(void *p) {
  sodium_memzero(p, sizeof(create_job));
  free(p);
}

static int create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  create_job *j = data;
  sf_user u;
  int rc = sf_user_by_email(tx->db, j->email, &u, err);
  if (rc == 0) return sf_err_conflict(err, "a user with this email already exists");
  if (rc != -404) return rc;
  memset(err, 0, sizeof *err);
  if (id_create(tx, who, j->email, j->name, j->role, j->hash, 1, &u, err)) return -1;
  id_user_result(out, 201, &u);
  char loc[64];
  snprintf(loc, sizeof loc, "/api/v1/users/%s", u.id);
  sf_result_header(out, "Location", loc);
  return 0;
}

/* On a hashing thread: the hash is in, the command goes to the writer. */
static void create_hashed(void *ud, int ok, const char *hash) {
  create_job *j = ud;
  if (!ok) {
    sf_err err = {0};
    sf_err_internal(&err, "password hashing failed");
    sf_req_reply_problem(j->req, &err);
    sf_req_resume_durable(j->req);
    create_free(j);
    return;
  }
  snprintf(j->hash, sizeof j->hash, "%s", hash);
  sf_req_submit(j->req, create_exec, j, create_free);
}

static void h_create(sf_req *req) {
  json_t *b = sf_in_body(req, k_create);
  if (!b) return;
  sf_err err = {0};
  create_job *j = sf_calloc(1, sizeof *j);
  j->req = req;
  const char *name = sf_json_str(b, "name"), *role = sf_json_str(b, "role");
  snprintf(j->name, sizeof j->name, "%s", name ? name : "");
  snprintf(j->role, sizeof j->role, "%s", role);
  if (id_normalize_email(sf_json_str(b, "email"), j->email, sizeof j->email, &err) == 0 && !sf_edge_valid_role(role))
    sf_err_invalid(&err, "role", "must be one of customer, staff, approver, admin");
  if (err.status) goto fail;
  sf_req_suspend(req);
  if (sf_pw_hash_async(sf_json_str(b, "password"), create_hashed, j)) {
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    create_free(j);
    json_decref(b);
    sf_req_reply_problem(req, &err);
    sf_req_resume_durable(req);
    return;
  }
  json_decref(b);
  return;
fail:
  create_free(j);
  json_decref(b);
  sf_req_reply_problem(req, &err);
}

typedef struct {
  json_t *data;
  int64_t last_version;
} event_page;

static int add_event(const sf_event *ev, void *ud) {
  event_page *p = ud;
  json_array_append_new(p->data, sf_ev_to_json(ev));
  p->last_version = ev->version;
  return 0;
}

static void h_events(sf_req *req) {
  int limit;
  if (!sf_in_limit(req, &limit)) return;
  sf_err err = {0};
  int64_t after = 0;
  const char *cursor = sf_req_query(req, "cursor");
  if (cursor) {
    char *end;
    after = strtoll(cursor, &end, 10);
    if (!*cursor || *end || after < 0) {
      sf_err_invalid(&err, "cursor", "is not a cursor returned by this list");
      sf_req_reply_problem(req, &err);
      return;
    }
  }
  const char *id = sf_req_param(req, "id");
  sf_db *db = sf_db_reader(&err);
  sf_user u;
  if (!db || sf_user_by_id(db, id, &u, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  char stream[64];
  snprintf(stream, sizeof stream, "user-%s", id);
  event_page p = {.data = json_array()};
  if (sf_ev_read_stream(db, stream, after, limit + 1, add_event, &p, &err)) {
    json_decref(p.data);
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *next = json_null();
  if ((int)json_array_size(p.data) > limit) {
    json_array_remove(p.data, (size_t)limit);
    json_t *last = json_array_get(p.data, (size_t)limit - 1);
    char c[32];
    snprintf(c, sizeof c, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(last, "version")));
    next = json_string(c);
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:o}", "data", p.data, "next_cursor", next));
}

#define USER_REF "{\"$ref\":\"#/components/schemas/User\"}"

void id_user_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/users/me", h_me, SF_AUTH_PERMISSION, "users:self", 0, "users", "The caller's profile", NULL,
       USER_REF, 200, 0},
      {"PATCH", "/api/v1/users/me", h_me_patch, SF_AUTH_PERMISSION, "users:self", SF_ROUTE_IF_MATCH, "users",
       "Update the caller's profile (honours If-Match)",
       "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,"
       "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100}}}",
       USER_REF, 200, 0},
      {"GET", "/api/v1/users", h_list, SF_AUTH_PERMISSION, "users:read", SF_ROUTE_PAGED, "users",
       "List users, newest first (cursor pagination); ?q= only those whose email or name starts with it "
       "(case-insensitive, 1-100 characters); ?role= only that role's (customer, staff, approver, admin)",
       NULL, SF_LIST_SCHEMA(USER_REF), 200, 0, .query = "q role"},
      {"POST", "/api/v1/users", h_create, SF_AUTH_PERMISSION, "users:admin", 0, "users",
       "Create a user with a role and a password (an operator's account: the address counts as verified); "
       "409 when the address is taken",
       "{\"type\":\"object\",\"required\":[\"email\",\"password\",\"role\"],\"additionalProperties\":false,"
       "\"properties\":{\"email\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":254},"
       "\"password\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":128},"
       "\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"admin\"]},"
       "\"name\":{\"type\":\"string\",\"maxLength\":100}}}",
       USER_REF, 201, 0, .statuses = "409"},
      {"GET", "/api/v1/users/{id}", h_get, SF_AUTH_PERMISSION, "users:read", 0, "users", "Get a user", NULL, USER_REF,
       200, 0},
      {"PATCH", "/api/v1/users/{id}", h_admin_patch, SF_AUTH_PERMISSION, "users:admin", SF_ROUTE_IF_MATCH, "users",
       "Change a user's role or status (honours If-Match)",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
       "\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"admin\"]},"
       "\"status\":{\"enum\":[\"active\",\"disabled\"]}}}",
       USER_REF, 200, 0},
      {"GET", "/api/v1/users/{id}/events", h_events, SF_AUTH_PERMISSION, "users:read", SF_ROUTE_PAGED, "users",
       "A user's identity history (events of stream user-{id})", NULL,
       SF_LIST_SCHEMA("{\"$ref\":\"#/components/schemas/Event\"}"), 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
