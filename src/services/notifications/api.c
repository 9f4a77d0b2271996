/* The inbox and the preferences (notifications.h): reads on the HTTP
 * thread's reader, changes as writer commands. Marking read appends
 * notification.read {ids, unread} to the user's stream so live clients
 * update their badge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/store.h"
#include "services/notifications/notifications.h"
#include "services/notifications/repo.h"
#include "services/notifications/rules.h"

static const char *me(sf_req *req) { return req->principal.user_id; }

static void reply_or_problem(sf_req *req, int rc, const sf_err *err, json_t *body) {
  if (rc < 0) {
    json_decref(body);
    sf_req_reply_problem(req, err);
    return;
  }
  sf_req_reply_json(req, 200, body);
}

/* ---- the inbox ---- */

/* ?unread=true|false; 0 after answering 422. */
static int read_unread(sf_req *req, int *unread) {
  const char *u = sf_req_query(req, "unread");
  *unread = u && strcmp(u, "true") == 0;
  if (!u || *unread || strcmp(u, "false") == 0) return 1;
  sf_err err = {0};
  sf_err_invalid(&err, "unread", "must be true or false");
  sf_req_reply_problem(req, &err);
  return 0;
}

static void h_list(sf_req *req) {
  int limit, unread;
  int64_t c_at;
  char c_id[SF_ID_MAX + 8], next[96];
  if (!sf_in_limit(req, &limit) || !sf_in_time_cursor(req, &c_at, c_id, sizeof c_id) || !read_unread(req, &unread))
    return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  json_t *data = json_array();
  int n = db ? ntf_repo_page(db, me(req), unread, c_at, c_id, limit, data, next, sizeof next, &err) : -1;
  reply_or_problem(req, n, &err,
                   json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

static void h_unread(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t n = db ? ntf_repo_unread(db, me(req), &err) : -1;
  reply_or_problem(req, n < 0 ? -1 : 0, &err, json_pack("{s:I}", "unread", (json_int_t)(n < 0 ? 0 : n)));
}

/* The badge's update: what was marked and how many are left unread. */
static int emit_read(sf_tx *tx, const sf_actor *who, json_t *ids, sf_err *err) {
  int64_t unread = ntf_repo_unread(tx->db, who->user_id, err);
  if (unread < 0) {
    json_decref(ids);
    return -1;
  }
  return sf_ev_emit(tx, who, "notifications", who->user_id, "notification.read",
                    json_pack("{s:o, s:I}", "ids", ids, "unread", (json_int_t)unread), err);
}

typedef struct {
  char id[SF_ID_MAX + 8];
} read_input;

static int read_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  read_input *in = data;
  int rc = ntf_repo_mark_read(tx->db, who->user_id, in->id, tx->now_ms, err);
  if (rc < 0) return rc;
  if (rc == 1 && emit_read(tx, who, json_pack("[s]", in->id), err)) return -1;
  json_t *row = NULL;
  if ((rc = ntf_repo_get(tx->db, who->user_id, in->id, &row, err))) return rc;
  sf_result_json(out, 200, row);
  return 0;
}

static void h_read(sf_req *req) {
  read_input *in = sf_calloc(1, sizeof *in);
  const char *id = sf_req_param(req, "id");
  if (strlen(id) >= sizeof in->id) { /* no such id: never stored */
    free(in);
    sf_err err = {0};
    sf_err_not_found(&err, "notification");
    sf_req_reply_problem(req, &err);
    return;
  }
  snprintf(in->id, sizeof in->id, "%s", id);
  sf_req_submit(req, read_exec, in, free);
}

static int read_all_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)data;
  json_t *ids = json_array();
  int64_t n = ntf_repo_mark_all(tx->db, who->user_id, tx->now_ms, ids, err);
  if (n < 0) {
    json_decref(ids);
    return -1;
  }
  if (n > 0 && emit_read(tx, who, ids, err)) return -1;
  if (n == 0) json_decref(ids);
  sf_result_json(out, 200, json_pack("{s:I}", "marked", (json_int_t)n));
  return 0;
}

static void h_read_all(sf_req *req) { sf_req_submit(req, read_all_exec, NULL, NULL); }

/* ---- preferences ---- */

static json_t *prefs_json(int (*channels)[2]) {
  json_t *o = json_object();
  for (int c = 0; c < NTF_NCATS; c++)
    json_object_set_new(o, ntf_categories[c],
                        json_pack("{s:b, s:b}", "in_app", channels[c][0], "email", channels[c][1]));
  return o;
}

static void h_prefs_get(sf_req *req) {
  int channels[NTF_NCATS][2];
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int rc = db ? ntf_repo_prefs(db, me(req), channels, &err) : -1;
  reply_or_problem(req, rc, &err, rc < 0 ? NULL : prefs_json(channels));
}

/* A change: per category, -1 (keep) or 0/1 per channel. */
typedef struct {
  int set[NTF_NCATS][2];
} prefs_input;

static int prefs_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  prefs_input *in = data;
  int channels[NTF_NCATS][2];
  if (ntf_repo_prefs(tx->db, who->user_id, channels, err)) return -1;
  for (int c = 0; c < NTF_NCATS; c++) {
    if (in->set[c][0] < 0 && in->set[c][1] < 0) continue;
    for (int e = 0; e < 2; e++)
      if (in->set[c][e] >= 0) channels[c][e] = in->set[c][e];
    if (ntf_repo_prefs_set(tx->db, who->user_id, ntf_categories[c], channels[c][0], channels[c][1], err)) return -1;
  }
  sf_result_json(out, 200, prefs_json(channels));
  return 0;
}

/* One category's {in_app?, email?}: problems go into err's fields. */
static void read_category(const char *name, const json_t *v, prefs_input *in, sf_err *err) {
  int c = ntf_category_index(name);
  if (c < 0) {
    sf_err_field_add(err, name, "unknown category (requests, approvals, sla, orders, stock)");
    return;
  }
  if (!json_is_object(v)) {
    sf_err_field_add(err, name, "must be an object {in_app, email}");
    return;
  }
  const char *ch;
  const json_t *on;
  json_object_foreach((json_t *)v, ch, on) {
    char field[64];
    snprintf(field, sizeof field, "%s.%s", name, ch);
    int e = strcmp(ch, "in_app") == 0 ? 0 : strcmp(ch, "email") == 0 ? 1 : -1;
    if (e < 0)
      sf_err_field_add(err, field, "unknown channel (in_app, email)");
    else if (!json_is_boolean(on))
      sf_err_field_add(err, field, "must be true or false");
    else
      in->set[c][e] = json_is_true(on);
  }
}

static const sf_json_field k_prefs[] = {
    {"requests", SF_JSON_ANY, 0, 0, 0}, {"approvals", SF_JSON_ANY, 0, 0, 0}, {"sla", SF_JSON_ANY, 0, 0, 0},
    {"orders", SF_JSON_ANY, 0, 0, 0},   {"stock", SF_JSON_ANY, 0, 0, 0},     {0},
};

static void h_prefs_put(sf_req *req) {
  json_t *b = sf_in_body(req, k_prefs); /* unknown categories: 422 */
  if (!b) return;
  prefs_input *in = sf_calloc(1, sizeof *in);
  memset(in->set, 0xff, sizeof in->set); /* -1: keep */
  sf_err err = {0};
  const char *name;
  const json_t *v;
  json_object_foreach(b, name, v) read_category(name, v, in, &err);
  json_decref(b);
  if (err.nfields) {
    free(in);
    sf_err_set(&err, 422, "validation", "Invalid request", "the preferences are not valid");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_submit(req, prefs_exec, in, free);
}

/* ---- routes ---- */

#define NOTIFICATION                                                                                                   \
  "{\"type\":\"object\",\"required\":[\"id\",\"kind\",\"category\",\"title\",\"body\",\"link\",\"subject\",\"read\","  \
  "\"read_at\",\"created_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"           \
  "\"category\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"body\":{\"type\":\"string\"},"                 \
  "\"link\":{\"type\":\"string\"},\"subject\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"},"    \
  "\"id\":{\"type\":\"string\"}}},\"read\":{\"type\":\"boolean\"},\"read_at\":{\"type\":[\"string\",\"null\"]},"       \
  "\"created_at\":{\"type\":\"string\"}}}"
#define CHANNELS                                                                                                       \
  "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"in_app\":{\"type\":\"boolean\"},"             \
  "\"email\":{\"type\":\"boolean\"}}}"
#define PREFS                                                                                                          \
  "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"requests\":" CHANNELS                         \
  ",\"approvals\":" CHANNELS ",\"sla\":" CHANNELS ",\"orders\":" CHANNELS ",\"stock\":" CHANNELS "}}"

void sf_notifications_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/notifications", h_list, SF_AUTH_PERMISSION, "notifications:self", SF_ROUTE_PAGED,
       "notifications", "Your notifications, newest first; ?unread=true for the unread ones only", NULL,
       SF_LIST_SCHEMA(NOTIFICATION), 200, 0, .query = "unread"},
      {"GET", "/api/v1/notifications/unread-count", h_unread, SF_AUTH_PERMISSION, "notifications:self", 0,
       "notifications", "How many of your notifications are unread", NULL,
       "{\"type\":\"object\",\"required\":[\"unread\"],\"properties\":{\"unread\":{\"type\":\"integer\"}}}", 200, 0},
      {"POST", "/api/v1/notifications/{id}/read", h_read, SF_AUTH_PERMISSION, "notifications:self", 0, "notifications",
       "Mark one of your notifications read (404 for anyone else's)", NULL, NOTIFICATION, 200, 0, .statuses = "404"},
      {"POST", "/api/v1/notifications/read-all", h_read_all, SF_AUTH_PERMISSION, "notifications:self", 0,
       "notifications", "Mark all your notifications read", NULL,
       "{\"type\":\"object\",\"required\":[\"marked\"],\"properties\":{\"marked\":{\"type\":\"integer\"}}}", 200, 0},
      {"GET", "/api/v1/notifications/preferences", h_prefs_get, SF_AUTH_PERMISSION, "notifications:self", 0,
       "notifications", "Your notification preferences: each category on or off per channel", NULL, PREFS, 200, 0},
      {"PUT", "/api/v1/notifications/preferences", h_prefs_put, SF_AUTH_PERMISSION, "notifications:self", 0,
       "notifications", "Change some of your notification preferences (the others stay)", PREFS, PREFS, 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
