/* Webhook subscriptions (issue 13, "webhooks for everything"): an admin
 * subscribes a URL to event-type patterns; each subscription has a secret of
 * its own, shown when it is made or rotated and otherwise never, stored
 * sealed (core/seal.h, aad = the subscription's id). Every change is a
 * command that also records an event on the stream webhook-<id> (without
 * the secret) and stamps the change for the fan-out's matcher.
 *
 * Destinations pass the guard (guard.h) when made and changed; the check
 * resolves the host on the HTTP thread (an admin's rare request). */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/seal.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/store.h"
#include "services/webhooks/guard.h"
#include "services/webhooks/internal.h"
#include "services/webhooks/repo.h"
#include "services/webhooks/webhooks.h"

#define MAX_PATTERNS 32

typedef struct {
  char id[SF_ID_MAX];
  json_t *body; /* NULL for commands without one */
  sf_if_match if_match;
} sub_input;

static void free_input(void *p) {
  sub_input *in = p;
  json_decref(in->body);
  free(in);
}

void wh_new_secret(char out[WH_SECRET_LEN + 1]) {
  unsigned char raw[24];
  sf_random_bytes(raw, sizeof raw);
  memcpy(out, WH_SECRET_PREFIX, 6);
  sf_hex_encode(raw, sizeof raw, out + 6);
  sodium_memzero(raw, sizeof raw);
}

static json_t *iso(int64_t ms) {
  char t[32];
  sf_time_iso8601(ms, t, sizeof t);
  return json_string(t);
}

static json_t *sub_json(const sf_webhooks_sub *s) {
  json_t *events = json_loads(s->events, 0, NULL);
  return json_pack("{s:s, s:s, s:o, s:s, s:b, s:I, s:o, s:o}", "id", s->id, "url", s->url, "events",
                   events ? events : json_array(), "description", s->description, "active", s->active, "version",
                   (json_int_t)s->version, "created_at", iso(s->created_at), "updated_at", iso(s->updated_at));
}

static void sub_result(sf_result *out, int status, const sf_webhooks_sub *s, const char *secret) {
  json_t *j = sub_json(s);
  if (secret) json_object_set_new(j, "secret", json_string(secret));
  sf_result_json(out, status, j);
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", s->version);
  sf_result_header(out, "ETag", etag);
}

/* ---- validation (HTTP thread) ---- */

static void check_events(const json_t *events, sf_err *err) {
  size_t n = json_array_size(events);
  if (n == 0 || n > MAX_PATTERNS) {
    sf_err_invalid(err, "events", "must list 1 to %d event-type patterns", MAX_PATTERNS);
    return;
  }
  size_t i;
  const json_t *v;
  json_array_foreach(events, i, v) {
    if (!json_is_string(v) || !sf_webhooks_pattern_valid(json_string_value(v))) {
      char field[32];
      snprintf(field, sizeof field, "events[%zu]", i);
      sf_err_invalid(err, field, "must be an event-type pattern: 1-100 of letters, digits, '.', '_', '-' and '*'");
    }
  }
}

/* The body's url and events, when present; 1 when err was filled. */
static int check_body(const json_t *b, sf_err *err) {
  const json_t *events = json_object_get(b, "events");
  if (events) check_events(events, err);
  const char *url = sf_json_str(b, "url");
  if (url && !err->nfields) sf_webhooks_guard_check_url(url, err);
  return err->status != 0;
}

static const sf_json_field k_create[] = {
    {"url", SF_JSON_STRING, 1, 1, 2048},
    {"events", SF_JSON_ARRAY, 1, 0, 0},
    {"description", SF_JSON_STRING, 0, 0, 500},
    {"active", SF_JSON_BOOL, 0, 0, 0},
    {0},
};
static const sf_json_field k_patch[] = {
    {"url", SF_JSON_STRING, 0, 1, 2048},
    {"events", SF_JSON_ARRAY, 0, 0, 0},
    {"description", SF_JSON_STRING, 0, 0, 500},
    {"active", SF_JSON_BOOL, 0, 0, 0},
    {0},
};

/* Reads the body, checks it, submits exec; answers bad input itself. */
static void submit_body(sf_req *req, const sf_json_field *spec, sf_cmd_exec_fn exec, const sf_if_match *m) {
  json_t *b = sf_in_body(req, spec);
  if (!b) return;
  sf_err err = {0};
  if (check_body(b, &err)) {
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  sub_input *in = sf_calloc(1, sizeof *in);
  in->body = b;
  in->if_match = m ? *m : SF_IF_MATCH_ANY;
  const char *id = sf_req_param(req, "id");
  snprintf(in->id, sizeof in->id, "%s", id ? id : "");
  sf_req_submit(req, exec, in, free_input);
}

/* ---- commands (writer thread) ---- */

static int emit(sf_tx *tx, const sf_actor *who, const char *id, const char *type, json_t *data, sf_err *err) {
  if (wh_fanout_invalidate(tx, err)) {
    json_decref(data);
    return -500;
  }
  return sf_ev_emit(tx, who, "webhook", id, type, data, err);
}

static int seal_new_secret(sf_webhooks_sub *s, char secret[WH_SECRET_LEN + 1], sf_err *err) {
  wh_new_secret(secret);
  free(s->secret);
  s->secret = sf_seal(sf_edge_keyring(), secret, s->id, err);
  return s->secret ? 0 : -500;
}

static int create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sub_input *in = data;
  sf_webhooks_sub s = {.version = 1, .created_at = tx->now_ms, .updated_at = tx->now_ms};
  sf_id_new("whk", s.id, sizeof s.id);
  const json_t *active = json_object_get(in->body, "active");
  s.active = active ? json_is_true(active) : 1;
  s.url = sf_strdup(sf_json_str(in->body, "url"));
  s.events = sf_json_dump(json_object_get(in->body, "events"), NULL);
  const char *desc = sf_json_str(in->body, "description");
  s.description = sf_strdup(desc ? desc : "");
  char secret[WH_SECRET_LEN + 1];
  /* events after this one's position reach it, whenever the fan-out runs */
  s.from_position = sf_ev_head(tx->db, err);
  int rc = s.from_position < 0 ? -500 : seal_new_secret(&s, secret, err);
  if (!rc) rc = sf_webhooks_repo_sub_insert(tx->db, &s, err);
  if (!rc) {
    json_t *ev = sub_json(&s);
    json_object_del(ev, "version");
    rc = emit(tx, who, s.id, "webhook.subscription_created", ev, err);
  }
  if (!rc) {
    sub_result(out, 201, &s, secret);
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/webhooks/%s", s.id);
    sf_result_header(out, "Location", loc);
  }
  sodium_memzero(secret, sizeof secret);
  sf_webhooks_sub_clear(&s);
  return rc;
}

/* Loads in->id for a change: 404, 412 on a stale If-Match. */
static int load_for_change(sf_tx *tx, const sub_input *in, sf_webhooks_sub *s, sf_err *err) {
  int rc = sf_webhooks_repo_sub_load(tx->db, in->id, s, err);
  if (rc == 0) return sf_err_not_found(err, "webhook subscription");
  return rc < 0 ? rc : sf_precondition(in->if_match, s->version, err);
}

/* Applies the body's fields to s; the changed ones go into changes. */
static void apply_patch(sf_webhooks_sub *s, const json_t *b, json_t *changes) {
  const char *url = sf_json_str(b, "url"), *desc = sf_json_str(b, "description");
  const json_t *active = json_object_get(b, "active"), *events = json_object_get(b, "events");
  if (url && strcmp(url, s->url) != 0) {
    free(s->url);
    s->url = sf_strdup(url);
    json_object_set_new(changes, "url", json_string(url));
  }
  if (desc && strcmp(desc, s->description) != 0) {
    free(s->description);
    s->description = sf_strdup(desc);
    json_object_set_new(changes, "description", json_string(desc));
  }
  if (active && json_is_true(active) != s->active) {
    s->active = json_is_true(active);
    json_object_set_new(changes, "active", json_boolean(s->active));
  }
  char *ev = events ? sf_json_dump(events, NULL) : NULL;
  if (ev && strcmp(ev, s->events) != 0) {
    free(s->events);
    s->events = ev;
    ev = NULL;
    json_object_set(changes, "events", (json_t *)events);
  }
  free(ev);
}

static int patch_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sub_input *in = data;
  sf_webhooks_sub s = {0};
  int rc = load_for_change(tx, in, &s, err);
  json_t *changes = json_object();
  if (!rc) apply_patch(&s, in->body, changes);
  if (!rc && json_object_size(changes)) {
    s.version++;
    s.updated_at = tx->now_ms;
    rc = sf_webhooks_repo_sub_update(tx->db, &s, err);
    if (!rc)
      rc = emit(tx, who, s.id, "webhook.subscription_updated", json_pack("{s:s, s:O}", "id", s.id, "changes", changes),
                err);
  }
  if (!rc) sub_result(out, 200, &s, NULL);
  json_decref(changes);
  sf_webhooks_sub_clear(&s);
  return rc;
}

static int rotate_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sub_input *in = data;
  sf_webhooks_sub s = {0};
  char secret[WH_SECRET_LEN + 1];
  int rc = load_for_change(tx, in, &s, err);
  if (!rc) rc = seal_new_secret(&s, secret, err);
  if (!rc) {
    s.version++;
    s.updated_at = tx->now_ms;
    rc = sf_webhooks_repo_sub_update(tx->db, &s, err);
  }
  if (!rc) rc = emit(tx, who, s.id, "webhook.subscription_secret_rotated", json_pack("{s:s}", "id", s.id), err);
  if (!rc) sub_result(out, 200, &s, secret);
  sodium_memzero(secret, sizeof secret);
  sf_webhooks_sub_clear(&s);
  return rc;
}

/* Deleting drops the subscription's deliveries with it (pending ones are
 * not sent: their timers fire and find nothing); the events stay. */
static int delete_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sub_input *in = data;
  sf_webhooks_sub s = {0};
  int rc = load_for_change(tx, in, &s, err);
  if (!rc) rc = sf_webhooks_repo_sub_delete(tx->db, s.id, err);
  if (!rc)
    rc = emit(tx, who, s.id, "webhook.subscription_deleted", json_pack("{s:s, s:s}", "id", s.id, "url", s.url), err);
  if (!rc) sf_result_json(out, 204, NULL);
  sf_webhooks_sub_clear(&s);
  return rc;
}

static int resend_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)who;
  sub_input *in = data;
  int rc = wh_resend(tx, in->id, err);
  if (rc == -404) return sf_err_not_found(err, "webhook delivery");
  if (rc == 0) return sf_err_conflict(err, "delivery %s is pending: it is being sent already", in->id);
  if (rc < 0) return rc;
  sf_result_json(out, 202, json_pack("{s:s, s:s, s:i}", "id", in->id, "status", "pending", "attempts", 0));
  return 0;
}

/* ---- handlers ---- */

static void h_create(sf_req *req) { submit_body(req, k_create, create_exec, NULL); }

static void h_patch(sf_req *req) {
  sf_if_match m;
  if (sf_in_if_match(req, &m)) submit_body(req, k_patch, patch_exec, &m);
}

static void submit_plain(sf_req *req, sf_cmd_exec_fn exec) {
  sub_input *in = sf_calloc(1, sizeof *in);
  in->if_match = SF_IF_MATCH_ANY;
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  sf_req_submit(req, exec, in, free_input);
}

static void h_delete(sf_req *req) { submit_plain(req, delete_exec); }
static void h_rotate(sf_req *req) { submit_plain(req, rotate_exec); }
static void h_resend(sf_req *req) { submit_plain(req, resend_exec); }

static void h_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_webhooks_sub s = {0};
  int rc = db ? sf_webhooks_repo_sub_load(db, sf_req_param(req, "id"), &s, &err) : -500;
  if (rc == 0) sf_err_not_found(&err, "webhook subscription");
  if (rc != 1) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_result out = {0};
  sub_result(&out, 200, &s, NULL);
  sf_req_reply_result(req, &out);
  sf_webhooks_sub_clear(&s);
}

/* Answers a list page: data and next ("": the last page) or, when the
 * rows' read failed (rc < 0), err. Takes data. */
static void reply_page(sf_req *req, json_t *data, const char *next, int rc, sf_err *err) {
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

static void h_list(sf_req *req) {
  int limit;
  int64_t c_at;
  char c_id[64];
  if (!sf_in_limit(req, &limit) || !sf_in_time_cursor(req, &c_at, c_id, sizeof c_id)) return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_webhooks_repo_sub_list(db, c_at, c_id, limit + 1, &err) : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *data = json_array();
  char next[96] = "";
  int rc, n = 0;
  int64_t last_at = 0;
  char last_id[SF_ID_MAX] = "";
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    if (n++ == limit) {
      snprintf(next, sizeof next, "%" PRId64 ":%s", last_at, last_id);
      break;
    }
    sf_webhooks_sub s = {0};
    sf_webhooks_repo_sub_row(st, &s);
    json_array_append_new(data, sub_json(&s)); /* never the secret */
    last_at = s.created_at;
    snprintf(last_id, sizeof last_id, "%s", s.id);
    sf_webhooks_sub_clear(&s);
  }
  sf_stmt_reset(st);
  reply_page(req, data, next, rc, &err);
}

/* ---- GET /api/v1/webhooks/{id}/deliveries ---- */

static json_t *delivery_json(sf_stmt *st, const char *sub_id) {
  int pending = strcmp(sf_stmt_col_text(st, 4), "pending") == 0;
  const char *last = sf_stmt_col_text(st, 8);
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", sf_stmt_col_text(st, 0),
                   "subscription_id", sub_id, "event_id", sf_stmt_col_text(st, 1), "event_type",
                   sf_stmt_col_text(st, 2), "event_position", (json_int_t)sf_stmt_col_int(st, 3), "status",
                   sf_stmt_col_text(st, 4), "attempts", (json_int_t)sf_stmt_col_int(st, 5), "next_attempt_at",
                   pending ? iso(sf_stmt_col_int(st, 6)) : json_null(), "last_status_code",
                   sf_stmt_col_is_null(st, 7) ? json_null() : json_integer(sf_stmt_col_int(st, 7)), "last_error",
                   last ? json_string(last) : json_null(), "created_at", iso(sf_stmt_col_int(st, 9)), "updated_at",
                   iso(sf_stmt_col_int(st, 10)));
}

static int read_status(sf_req *req, const char **status) {
  *status = sf_req_query(req, "status");
  if (!*status || !strcmp(*status, "pending") || !strcmp(*status, "delivered") || !strcmp(*status, "dead")) return 1;
  sf_err err = {0};
  sf_err_invalid(&err, "status", "must be one of pending, delivered, dead");
  sf_req_reply_problem(req, &err);
  return 0;
}

static void h_deliveries(sf_req *req) {
  int limit;
  int64_t c_at;
  char c_id[64];
  const char *status, *id = sf_req_param(req, "id");
  if (!sf_in_limit(req, &limit) || !sf_in_time_cursor(req, &c_at, c_id, sizeof c_id) || !read_status(req, &status))
    return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_webhooks_sub s = {0};
  int rc = db ? sf_webhooks_repo_sub_load(db, id, &s, &err) : -500;
  sf_webhooks_sub_clear(&s);
  if (rc == 0) sf_err_not_found(&err, "webhook subscription");
  sf_stmt *st = rc == 1 ? sf_webhooks_repo_sub_deliveries(db, id, status, c_at, c_id, limit + 1, &err) : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *data = json_array();
  char next[96] = "";
  int n = 0;
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    if (n++ == limit) break;
    json_array_append_new(data, delivery_json(st, id));
    /* the cursor is the last row given: (created_at, id) */
    snprintf(next, sizeof next, "%" PRId64 ":%s", sf_stmt_col_int(st, 9), sf_stmt_col_text(st, 0));
  }
  if (rc != 1) next[0] = '\0'; /* no row past the page */
  sf_stmt_reset(st);
  reply_page(req, data, next, rc, &err);
}

/* ---- routes ---- */

#define SUB_PROPS                                                                                                      \
  "\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"                                                  \
  "\"events\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":32,\"items\":{\"type\":\"string\"}},"                    \
  "\"description\":{\"type\":\"string\",\"maxLength\":500},\"active\":{\"type\":\"boolean\"}"
#define SUB_SCHEMA(extra)                                                                                              \
  "{\"type\":\"object\",\"required\":[\"id\",\"url\",\"events\",\"description\",\"active\",\"version\"," extra         \
  "\"created_at\",\"updated_at\"],\"properties\":{" SUB_PROPS ",\"id\":{\"type\":\"string\"},"                         \
  "\"version\":{\"type\":\"integer\"},\"secret\":{\"type\":\"string\"},"                                               \
  "\"created_at\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"string\"}}}"
#define DELIVERY_SCHEMA                                                                                                \
  "{\"type\":\"object\",\"required\":[\"id\",\"subscription_id\",\"event_id\",\"event_type\",\"status\","              \
  "\"attempts\"],\"properties\":{\"id\":{\"type\":\"string\"},\"subscription_id\":{\"type\":\"string\"},"              \
  "\"event_id\":{\"type\":\"string\"},\"event_type\":{\"type\":\"string\"},"                                           \
  "\"event_position\":{\"type\":\"integer\"},\"status\":{\"enum\":[\"pending\",\"delivered\",\"dead\"]},"              \
  "\"attempts\":{\"type\":\"integer\"},\"next_attempt_at\":{\"type\":[\"string\",\"null\"]},"                          \
  "\"last_status_code\":{\"type\":[\"integer\",\"null\"]},\"last_error\":{\"type\":[\"string\",\"null\"]},"            \
  "\"created_at\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"string\"}}}"

void sf_webhooks_sub_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/webhooks", h_create, SF_AUTH_PERMISSION, "webhooks:admin", 0, "webhooks",
       "Subscribe a URL to event-type patterns (\"order.*\", \"*\"); the answer carries the subscription's secret, "
       "shown this once. Private and loopback destinations are refused unless webhook_allow permits them",
       "{\"type\":\"object\",\"required\":[\"url\",\"events\"],\"additionalProperties\":false,\"properties\":"
       "{" SUB_PROPS "}}",
       SUB_SCHEMA("\"secret\","), 201, 0},
      {"GET", "/api/v1/webhooks", h_list, SF_AUTH_PERMISSION, "webhooks:admin", SF_ROUTE_PAGED, "webhooks",
       "List webhook subscriptions, newest first (never their secrets)", NULL, SF_LIST_SCHEMA(SUB_SCHEMA("")), 200, 0},
      {"GET", "/api/v1/webhooks/{id}", h_get, SF_AUTH_PERMISSION, "webhooks:admin", 0, "webhooks",
       "Get a webhook subscription (without its secret)", NULL, SUB_SCHEMA(""), 200, 0},
      {"PATCH", "/api/v1/webhooks/{id}", h_patch, SF_AUTH_PERMISSION, "webhooks:admin", SF_ROUTE_IF_MATCH, "webhooks",
       "Change a subscription's url, events, description or active (honours If-Match); queued deliveries follow "
       "its url",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{" SUB_PROPS "}}", SUB_SCHEMA(""), 200, 0},
      {"DELETE", "/api/v1/webhooks/{id}", h_delete, SF_AUTH_PERMISSION, "webhooks:admin", 0, "webhooks",
       "Delete a subscription and its delivery log (pending deliveries are dropped, not sent)", NULL, NULL, 204, 0},
      {"POST", "/api/v1/webhooks/{id}/secret", h_rotate, SF_AUTH_PERMISSION, "webhooks:admin", 0, "webhooks",
       "Rotate a subscription's secret: the answer shows the new one, which signs every attempt from now on", NULL,
       SUB_SCHEMA("\"secret\","), 200, 0},
      {"GET", "/api/v1/webhooks/{id}/deliveries", h_deliveries, SF_AUTH_PERMISSION, "webhooks:admin", SF_ROUTE_PAGED,
       "webhooks",
       "A subscription's deliveries, newest first (?status=pending|delivered|dead): attempts, last status code, "
       "last error, next attempt",
       NULL, SF_LIST_SCHEMA(DELIVERY_SCHEMA), 200, 0, .query = "status"},
      {"POST", "/api/v1/webhooks/deliveries/{id}/resend", h_resend, SF_AUTH_PERMISSION, "webhooks:admin", 0, "webhooks",
       "Send a delivered or dead delivery again (a subscription's, or a workflow's whd_…): a new attempt sequence "
       "under the same delivery id; 409 while it is pending",
       NULL,
       "{\"type\":\"object\",\"required\":[\"id\",\"status\",\"attempts\"],\"properties\":{\"id\":{\"type\":"
       "\"string\"},\"status\":{\"const\":\"pending\"},\"attempts\":{\"type\":\"integer\"}}}",
       202, 0, .statuses = "409"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
