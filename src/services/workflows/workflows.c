/* Workflow definitions over HTTP: publish (admins), list and read.
 *
 * POST /api/v1/workflows takes the definition as YAML (any content type but
 * JSON) or JSON, validates it (flow/definition.h) and stores it as the next
 * version of its type; versions are never changed, so a request can stay
 * pinned to the one it started on. Event: workflow.published on stream
 * "workflow-<type>". */
#include "services/workflows/workflows.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/store.h"
#include "flow/definition.h"

#define MAX_SOURCE (256 * 1024)

typedef struct {
  char id[48];
  char type[48];
  char name[408];
  int64_t version, created_at;
  char created_by[48];
  char *definition; /* JSON text */
  char *source;
} workflow;

static void wf_clear(workflow *w) {
  free(w->definition);
  free(w->source);
  w->definition = w->source = NULL;
}

static json_t *wf_json(const workflow *w, int with_source) {
  char at[32];
  sf_time_iso8601(w->created_at, at, sizeof at);
  json_t *def = json_loads(w->definition ? w->definition : "{}", 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:s}", "id", w->id, "type", w->type, "version",
                        (json_int_t)w->version, "name", w->name, "definition", def ? def : json_object(), "created_by",
                        w->created_by, "created_at", at);
  if (with_source) json_object_set_new(o, "source", json_string(w->source ? w->source : ""));
  return o;
}

#define WF_COLS "id, type, version, name, definition, source, created_by, created_at"

static void wf_row(sf_stmt *st, workflow *w) {
  snprintf(w->id, sizeof w->id, "%s", sf_stmt_col_text(st, 0));
  snprintf(w->type, sizeof w->type, "%s", sf_stmt_col_text(st, 1));
  w->version = sf_stmt_col_int(st, 2);
  snprintf(w->name, sizeof w->name, "%s", sf_stmt_col_text(st, 3));
  w->definition = strdup(sf_stmt_col_text(st, 4));
  w->source = strdup(sf_stmt_col_text(st, 5));
  snprintf(w->created_by, sizeof w->created_by, "%s", sf_stmt_col_text(st, 6));
  w->created_at = sf_stmt_col_int(st, 7);
}

/* version 0: the latest. */
static int wf_load(sf_db *db, const char *type, int64_t version, workflow *w, sf_err *err) {
  memset(w, 0, sizeof *w);
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " WF_COLS " FROM workflows WHERE type = ?1 AND (?2 = 0 OR version = ?2)"
                              " ORDER BY version DESC LIMIT 1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, type);
  sf_stmt_int(st, 2, version);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) wf_row(st, w);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, version ? "workflow version" : "workflow");
  return rc < 0 ? rc : 0;
}

/* ---- POST /workflows ---- */

typedef struct {
  workflow w;
} publish_input;

static void free_publish(void *d) {
  publish_input *in = d;
  wf_clear(&in->w);
  free(in);
}

static int publish_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  publish_input *in = data;
  workflow *w = &in->w;
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT coalesce(max(version), 0) FROM workflows WHERE type = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, w->type);
  int rc = sf_stmt_step(st, err);
  w->version = rc == 1 ? sf_stmt_col_int(st, 0) + 1 : 0;
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  sf_id_new("wf", w->id, sizeof w->id);
  snprintf(w->created_by, sizeof w->created_by, "%s", req->principal.user_id);
  w->created_at = tx->now_ms;
  st = sf_db_prepare(tx->db, "INSERT INTO workflows(" WF_COLS ") VALUES(?,?,?,?,?,?,?,?)", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, w->id);
  sf_stmt_text(st, 2, w->type);
  sf_stmt_int(st, 3, w->version);
  sf_stmt_text(st, 4, w->name);
  sf_stmt_text(st, 5, w->definition);
  sf_stmt_text(st, 6, w->source);
  sf_stmt_text(st, 7, w->created_by);
  sf_stmt_int(st, 8, w->created_at);
  if ((rc = sf_stmt_run(st, err))) return rc;
  rc = sf_req_event(
      tx, req, "workflow", w->type, "workflow.published",
      json_pack("{s:s, s:I, s:s}", "workflow_id", w->id, "version", (json_int_t)w->version, "name", w->name), err);
  if (rc) return rc;
  char loc[160];
  snprintf(loc, sizeof loc, "/api/v1/workflows/%s/versions/%" PRId64, w->type, w->version);
  sf_req_reply_json(req, 201, wf_json(w, 0));
  sf_req_add_header(req, "Location", loc);
  return 0;
}

static void h_publish(sf_req *req) {
  sf_err err = {0};
  if (req->body_len == 0 || req->body_len > MAX_SOURCE) {
    sf_err_set(&err, req->body_len ? 413 : 400, req->body_len ? "payload-too-large" : "bad-request",
               req->body_len ? "Payload too large" : "Bad request", "send the definition (YAML or JSON, up to %d KiB)",
               MAX_SOURCE / 1024);
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *def = NULL; /* YAML unless said to be JSON (YAML 1.2 reads JSON as well) */
  if (sf_in_media(sf_req_header(req, "Content-Type")) == SF_MEDIA_JSON) {
    if (sf_json_parse_object(req->body, req->body_len, &def, &err)) {
      sf_req_reply_problem(req, &err);
      return;
    }
  } else if (!(def = sf_yaml_parse(req->body, req->body_len, &err))) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_guard_vm *vm = sf_guard_vm_new(NULL);
  if (!vm) {
    json_decref(def);
    sf_err_internal(&err, "cannot start the guard VM");
    sf_req_reply_problem(req, &err);
    return;
  }
  int rc = sf_flow_validate(def, vm, &err);
  sf_guard_vm_free(vm);
  if (rc) {
    json_decref(def);
    sf_req_reply_problem(req, &err);
    return;
  }
  publish_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->w.type, sizeof in->w.type, "%s", json_string_value(json_object_get(def, "type")));
  snprintf(in->w.name, sizeof in->w.name, "%s", json_string_value(json_object_get(def, "name")));
  in->w.definition = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
  in->w.source = strndup(req->body, req->body_len);
  json_decref(def);
  sf_req_command(req, publish_exec, in, free_publish);
}

/* ---- reads ---- */

static void h_list(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  /* the latest version of every type */
  sf_stmt *st = db ? sf_db_prepare(db,
                                   "SELECT " WF_COLS " FROM workflows w WHERE version ="
                                   " (SELECT max(version) FROM workflows WHERE type = w.type) ORDER BY type LIMIT 1000",
                                   &err)
                   : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *data = json_array();
  int rc;
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    workflow w = {0};
    wf_row(st, &w);
    json_array_append_new(data, wf_json(&w, 0));
    wf_clear(&w);
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

static void reply_one(sf_req *req, int64_t version) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  workflow w;
  if (!db || wf_load(db, sf_req_param(req, "type"), version, &w, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, wf_json(&w, 1));
  wf_clear(&w);
}

static void h_get(sf_req *req) { reply_one(req, 0); }

static void h_get_version(sf_req *req) {
  const char *v = sf_req_param(req, "version");
  char *end;
  long long n = v ? strtoll(v, &end, 10) : 0;
  if (!v || *end || n < 1) {
    sf_err err = {0};
    sf_err_not_found(&err, "workflow version");
    sf_req_reply_problem(req, &err);
    return;
  }
  reply_one(req, n);
}

/* ---- GET /request-types: the catalog, for everyone signed in ---- */

/* What someone who opens a request of this type needs: the definition's
 * name, description and fields, not its states or rules. */
static json_t *type_json(sf_stmt *st) {
  json_t *def = json_loads(sf_stmt_col_text(st, 3), 0, NULL);
  const json_t *fields = json_object_get(def, "fields");
  json_t *o = json_pack("{s:s, s:s, s:O?, s:I, s:o}", "type", sf_stmt_col_text(st, 0), "name", sf_stmt_col_text(st, 1),
                        "description", json_object_get(def, "description"), "version",
                        (json_int_t)sf_stmt_col_int(st, 2), "fields", fields ? json_deep_copy(fields) : json_array());
  json_decref(def);
  return o;
}

/* ?cursor= is the last type of the previous page. */
static int type_cursor(sf_req *req, const char **after) {
  *after = sf_req_query(req, "cursor");
  if (!*after || sf_flow_is_name(*after, 40, "_-")) return 1;
  sf_err err = {0};
  sf_err_invalid(&err, "cursor", "is not a cursor of this list (give next_cursor as it came)");
  sf_req_reply_problem(req, &err);
  return 0;
}

static void h_types(sf_req *req) {
  int limit;
  const char *after;
  if (!sf_in_limit(req, &limit) || !type_cursor(req, &after)) return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st =
      db ? sf_db_prepare(db,
                         "SELECT type, name, version, definition FROM workflows w WHERE type > ?1 AND version ="
                         " (SELECT max(version) FROM workflows WHERE type = w.type) ORDER BY type LIMIT ?2",
                         &err)
         : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_stmt_text(st, 1, after ? after : "");
  sf_stmt_int(st, 2, limit + 1);
  json_t *data = json_array();
  char next[48] = "";
  int rc, n = 0;
  while ((rc = sf_stmt_step(st, &err)) == 1 && ++n <= limit) {
    json_array_append_new(data, type_json(st));
    snprintf(next, sizeof next, "%s", sf_stmt_col_text(st, 0));
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", n > limit ? json_string(next) : json_null()));
}

#define TYPE_SCHEMA                                                                                                    \
  "{\"type\":\"object\",\"required\":[\"type\",\"name\",\"version\",\"fields\"],\"properties\":{"                      \
  "\"type\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"description\":{\"type\":[\"string\",\"null\"]},"    \
  "\"version\":{\"type\":\"integer\"},\"fields\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":["    \
  "\"name\","                                                                                                          \
  "\"type\"],\"properties\":{\"name\":{\"type\":\"string\"},\"type\":{\"enum\":[\"string\",\"number\",\"integer\","    \
  "\"boolean\",\"object\",\"list\"]},\"required\":{\"type\":\"boolean\"},\"label\":{\"type\":\"string\"},"             \
  "\"description\":{\"type\":\"string\"}}}}}}"

#define WF_REF "{\"$ref\":\"#/components/schemas/Workflow\"}"

void sf_workflows_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/workflows", h_publish, SF_AUTH_PERMISSION, "workflows:admin", SF_ROUTE_YAML_BODY, "workflows",
       "Publish a workflow definition (YAML, or JSON with Content-Type: application/json) as the next "
       "version of its type; 422 names every problem's place",
       "{\"type\":\"object\",\"description\":\"a workflow definition (see src/flow/definition.h)\"}", WF_REF, 201, 0},
      {"GET", "/api/v1/workflows", h_list, SF_AUTH_PERMISSION, "workflows:read", 0, "workflows",
       "The latest version of every workflow", NULL,
       "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\",\"items\":" WF_REF
       "}}}",
       200, 0},
      {"GET", "/api/v1/workflows/{type}", h_get, SF_AUTH_PERMISSION, "workflows:read", 0, "workflows",
       "The latest version of a workflow, with its source", NULL, WF_REF, 200, 0},
      {"GET", "/api/v1/request-types", h_types, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "workflows",
       "The catalog of request types anyone signed in may open (the latest version of each published workflow: "
       "type, name, description, fields), by type, limit and cursor",
       NULL, SF_LIST_SCHEMA(TYPE_SCHEMA), 200, 0},
      {"GET", "/api/v1/workflows/{type}/versions/{version}", h_get_version, SF_AUTH_PERMISSION, "workflows:read", 0,
       "workflows", "One version of a workflow, with its source", NULL, WF_REF, 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
