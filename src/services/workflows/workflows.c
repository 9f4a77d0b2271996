/* Workflow definitions over HTTP: publish (admins), list and read. Handlers
 * on HTTP threads; publishing is a command (writer thread); the SQL is
 * repo.c.
 *
 * POST /api/v1/workflows takes the definition as YAML (any content type but
 * JSON) or JSON, validates it (flow/definition.h) and stores it as the next
 * version of its type; versions are never changed, so a request can stay
 * pinned to the one it started on. POST /workflows/validate runs the same
 * checks and stores nothing. Event: workflow.published on stream
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
#include "services/workflows/repo.h"

#define MAX_SOURCE (256 * 1024)

static json_t *wf_json(const wf_workflow *w, int with_source) {
  char at[32];
  sf_time_iso8601(w->created_at, at, sizeof at);
  json_t *def = json_loads(w->definition ? w->definition : "{}", 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:s}", "id", w->id, "type", w->type, "version",
                        (json_int_t)w->version, "name", w->name, "definition", def ? def : json_object(), "created_by",
                        w->created_by, "created_at", at);
  if (with_source) json_object_set_new(o, "source", json_string(w->source ? w->source : ""));
  return o;
}

/* ---- POST /workflows ---- */

typedef struct {
  wf_workflow w;
} publish_input;

static void free_publish(void *d) {
  publish_input *in = d;
  wf_clear(&in->w);
  free(in);
}

static int publish_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  publish_input *in = data;
  wf_workflow *w = &in->w;
  int rc = wf_repo_next_version(tx->db, w->type, &w->version, err);
  if (rc) return rc;
  sf_id_new("wf", w->id, sizeof w->id);
  snprintf(w->created_by, sizeof w->created_by, "%s", who->user_id ? who->user_id : "");
  w->created_at = tx->now_ms;
  if ((rc = wf_repo_insert(tx, w, err))) return rc;
  rc = sf_ev_emit(
      tx, who, "workflow", w->type, "workflow.published",
      json_pack("{s:s, s:I, s:s}", "workflow_id", w->id, "version", (json_int_t)w->version, "name", w->name), err);
  if (rc) return rc;
  char loc[160];
  snprintf(loc, sizeof loc, "/api/v1/workflows/%s/versions/%" PRId64, w->type, w->version);
  sf_result_json(out, 201, wf_json(w, 0));
  sf_result_header(out, "Location", loc);
  return 0;
}

/* Reads and validates the body as a definition; on any problem replies it
 * (400 syntax with line and column, 413, 422 naming each place) and
 * returns NULL. The caller owns the returned definition. */
static json_t *valid_definition(sf_req *req) {
  sf_err err = {0};
  if (req->body_len == 0 || req->body_len > MAX_SOURCE) {
    sf_err_set(&err, req->body_len ? 413 : 400, req->body_len ? "payload-too-large" : "bad-request",
               req->body_len ? "Payload too large" : "Bad request", "send the definition (YAML or JSON, up to %d KiB)",
               MAX_SOURCE / 1024);
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  json_t *def = NULL; /* YAML unless said to be JSON (YAML 1.2 reads JSON as well) */
  if (sf_in_media(sf_req_header(req, "Content-Type")) == SF_MEDIA_JSON) {
    if (sf_json_parse_object(req->body, req->body_len, &def, &err)) {
      sf_req_reply_problem(req, &err);
      return NULL;
    }
  } else if (!(def = sf_yaml_parse(req->body, req->body_len, &err))) {
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  sf_guard_vm *vm = sf_guard_vm_new(NULL);
  if (!vm) {
    json_decref(def);
    sf_err_internal(&err, "cannot start the guard VM");
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  int rc = sf_flow_validate(def, vm, &err);
  sf_guard_vm_free(vm);
  if (rc) {
    json_decref(def);
    sf_flow_err_lines(&err, req->body, req->body_len); /* each problem on its line, for an editor */
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  return def;
}

static void h_publish(sf_req *req) {
  json_t *def = valid_definition(req);
  if (!def) return;
  publish_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->w.type, sizeof in->w.type, "%s", json_string_value(json_object_get(def, "type")));
  snprintf(in->w.name, sizeof in->w.name, "%s", json_string_value(json_object_get(def, "name")));
  in->w.definition = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
  in->w.source = strndup(req->body, req->body_len);
  json_decref(def);
  sf_req_submit(req, publish_exec, in, free_publish);
}

/* POST /workflows/validate: the same checks as publishing, nothing stored
 * (the web editor validates as the admin types). */
static void h_validate(sf_req *req) {
  json_t *def = valid_definition(req);
  if (!def) return;
  sf_req_reply_json(req, 200,
                    json_pack("{s:b, s:O, s:O}", "valid", 1, "type", json_object_get(def, "type"), "name",
                              json_object_get(def, "name")));
  json_decref(def);
}

/* ---- reads ---- */

static void add_latest(const wf_workflow *w, void *ud) { json_array_append_new(ud, wf_json(w, 0)); }

static void h_list(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  json_t *data = json_array();
  if (!db || wf_repo_latest_each(db, add_latest, data, &err)) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

static void reply_one(sf_req *req, int64_t version) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  wf_workflow w;
  if (!db || wf_repo_load(db, sf_req_param(req, "type"), version, &w, &err)) {
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

/* What someone who opens a request of this type needs to build its form:
 * the definition's name, description and fields as written (flow/fields.h),
 * and unknown_fields when it says so; not its states or rules. */
static json_t *type_json(const char *type, const char *name, int64_t version, const char *definition) {
  json_t *def = json_loads(definition, 0, NULL);
  const json_t *fields = json_object_get(def, "fields");
  json_t *o = json_pack("{s:s, s:s, s:O?, s:I, s:o}", "type", type, "name", name, "description",
                        json_object_get(def, "description"), "version", (json_int_t)version, "fields",
                        fields ? json_deep_copy(fields) : json_array());
  const json_t *unknown = json_object_get(def, "unknown_fields");
  if (unknown) json_object_set(o, "unknown_fields", (json_t *)unknown);
  json_decref(def);
  return o;
}

typedef struct {
  json_t *data;
  char next[48]; /* the last type listed */
} types_page;

static void add_type(const char *type, const char *name, int64_t version, const char *definition, void *ud) {
  types_page *page = ud;
  json_array_append_new(page->data, type_json(type, name, version, definition));
  snprintf(page->next, sizeof page->next, "%s", type);
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
  types_page page = {json_array(), ""};
  int n = db ? wf_repo_types(db, after, limit, add_type, &page, &err) : -1;
  if (n < 0) {
    json_decref(page.data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(
      req, 200,
      json_pack("{s:o, s:o}", "data", page.data, "next_cursor", n > limit ? json_string(page.next) : json_null()));
}

/* GET /request-types/{type}: one entry of the catalog (a form's page). */
static void h_type(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  wf_workflow w;
  int rc = db ? wf_repo_load(db, sf_req_param(req, "type"), 0, &w, &err) : -1;
  if (rc == -404) {
    sf_err_clear(&err);
    sf_err_not_found(&err, "request type");
  }
  if (rc) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, type_json(w.type, w.name, w.version, w.definition ? w.definition : "{}"));
  wf_clear(&w);
}

#define TYPE_SCHEMA "{\"$ref\":\"#/components/schemas/RequestType\"}"

#define WF_REF "{\"$ref\":\"#/components/schemas/Workflow\"}"

void sf_workflows_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/workflows", h_publish, SF_AUTH_PERMISSION, "workflows:admin", SF_ROUTE_YAML_BODY, "workflows",
       "Publish a workflow definition (YAML, or JSON with Content-Type: application/json) as the next "
       "version of its type; 422 names every problem's place",
       "{\"type\":\"object\",\"description\":\"a workflow definition (see src/flow/definition.h)\"}", WF_REF, 201, 0},
      {"POST", "/api/v1/workflows/validate", h_validate, SF_AUTH_PERMISSION, "workflows:admin", SF_ROUTE_YAML_BODY,
       "workflows",
       "Validate a workflow definition without publishing it: 200 when it would publish, else the same 400/422 "
       "answers as publishing",
       "{\"type\":\"object\",\"description\":\"a workflow definition (see src/flow/definition.h)\"}",
       "{\"type\":\"object\",\"required\":[\"valid\",\"type\",\"name\"],\"properties\":{\"valid\":{\"type\":"
       "\"boolean\"},\"type\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"}}}",
       200, 0},
      {"GET", "/api/v1/workflows", h_list, SF_AUTH_PERMISSION, "workflows:read", 0, "workflows",
       "The latest version of every workflow", NULL,
       "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\",\"items\":" WF_REF
       "}}}",
       200, 0},
      {"GET", "/api/v1/workflows/{type}", h_get, SF_AUTH_PERMISSION, "workflows:read", 0, "workflows",
       "The latest version of a workflow, with its source", NULL, WF_REF, 200, 0},
      {"GET", "/api/v1/request-types", h_types, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "workflows",
       "The catalog of request types anyone signed in may open (the latest version of each published workflow: "
       "type, name, description, the input fields a form is built from), by type, limit and cursor",
       NULL, SF_LIST_SCHEMA(TYPE_SCHEMA), 200, 0},
      {"GET", "/api/v1/request-types/{type}", h_type, SF_AUTH_USER, NULL, 0, "workflows",
       "One request type of the catalog, for anyone signed in: its name, description and the input fields its "
       "form is built from (the latest version); 404 when no workflow of that type is published",
       NULL, TYPE_SCHEMA, 200, 0},
      {"GET", "/api/v1/workflows/{type}/versions/{version}", h_get_version, SF_AUTH_PERMISSION, "workflows:read", 0,
       "workflows", "One version of a workflow, with its source", NULL, WF_REF, 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
