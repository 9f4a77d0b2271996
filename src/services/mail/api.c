/* The mail service's admin routes (permission mail:admin): templates
 * (read, edit, reset, preview) and messages (the delivery log and the dev
 * mailbox, resend). Reads run on the HTTP thread; edits are commands. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/router.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/input.h"
#include "services/mail/internal.h"
#include "services/mail/repo.h"

#define SUBJECT_TPL_MAX 1000
#define BODY_TPL_MAX 100000

static json_t *iso_or_null(int64_t ms, int present) {
  if (!present) return json_null();
  char t[32];
  sf_time_iso8601(ms, t, sizeof t);
  return json_string(t);
}

static json_t *template_json(const mail_tpl *t) {
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:o}", "kind", t->kind, "subject", t->subject, "text", t->text,
                   "html", t->html, "customized", t->customized, "version", (json_int_t)t->version, "updated_at",
                   iso_or_null(t->updated_at, t->updated_at != 0));
}

static void etag_of(int64_t version, char *out, size_t cap) { snprintf(out, cap, "\"%" PRId64 "\"", version); }

/* ---- templates: reads ---- */

static void h_templates(sf_req *req) {
  json_t *data = json_array();
  for (int i = 0; mail_kinds[i]; i++) {
    mail_tpl *t = mail_tpl_get(mail_kinds[i]);
    json_array_append_new(data, template_json(t));
    mail_tpl_put(t);
  }
  sf_req_reply_json(req, 200, json_pack("{s:o}", "data", data));
}

/* The template named by {kind}, or a 404 answered. */
static mail_tpl *template_of(sf_req *req) {
  mail_tpl *t = mail_tpl_get(sf_req_param(req, "kind"));
  if (!t) {
    sf_err err = {0};
    sf_err_not_found(&err, "mail template kind");
    sf_req_reply_problem(req, &err);
  }
  return t;
}

static void h_template(sf_req *req) {
  mail_tpl *t = template_of(req);
  if (!t) return;
  char etag[32];
  etag_of(t->version, etag, sizeof etag);
  sf_req_reply_json(req, 200, template_json(t));
  sf_req_add_header(req, "ETag", etag);
  mail_tpl_put(t);
}

/* ---- templates: PUT and DELETE (commands) ---- */

typedef struct tpl_input {
  char kind[64];
  char *subject, *text, *html; /* NULL: reset to the default */
  sf_if_match if_match;
} tpl_input;

static void free_tpl_input(void *p) {
  tpl_input *in = p;
  free(in->subject);
  free(in->text);
  free(in->html);
  free(in);
}

/* The stored version of kind in tx (0 when never edited). */
static int stored_version(sf_tx *tx, const char *kind, int64_t *version, sf_err *err) {
  sf_stmt *st = mail_repo_template(tx->db, kind, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  *version = rc == 1 ? sf_stmt_col_int(st, 3) : 0;
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

/* The answer: the template as it is now in tx (the cache follows after the commit). */
static int template_result(sf_tx *tx, const char *kind, sf_result *out, sf_err *err) {
  sf_stmt *st = mail_repo_template(tx->db, kind, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) {
    sf_stmt_reset(st);
    return rc;
  }
  mail_tpl t = {.kind = kind};
  const char *subject, *text, *html;
  mail_tpl_default(kind, &subject, &text, &html);
  t.customized = rc == 1 && !sf_stmt_col_is_null(st, 0);
  t.subject = (char *)(t.customized ? sf_stmt_col_text(st, 0) : subject);
  t.text = (char *)(t.customized ? sf_stmt_col_text(st, 1) : text);
  t.html = (char *)(t.customized ? sf_stmt_col_text(st, 2) : html);
  t.version = rc == 1 ? sf_stmt_col_int(st, 3) : 0;
  t.updated_at = rc == 1 ? sf_stmt_col_int(st, 4) : 0;
  char etag[32];
  etag_of(t.version, etag, sizeof etag);
  sf_result_json(out, 200, template_json(&t));
  sf_result_header(out, "ETag", etag);
  sf_stmt_reset(st);
  return 0;
}

static int template_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  tpl_input *in = data;
  int64_t version;
  if (stored_version(tx, in->kind, &version, err) || sf_precondition(in->if_match, version, err)) return -1;
  const char *by = who && who->user_id ? who->user_id : NULL;
  int rc = in->subject ? mail_repo_template_put(tx->db, in->kind, in->subject, in->text, in->html, by, tx->now_ms, err)
                       : mail_repo_template_reset(tx->db, in->kind, by, tx->now_ms, err);
  if (rc) return -1;
  sf_tx_after_commit_all(tx, MAIL_HOOK_TEMPLATES, in->kind); /* every instance reloads */
  return template_result(tx, in->kind, out, err);
}

static const sf_json_field k_template[] = {{"subject", SF_JSON_STRING, 1, 1, SUBJECT_TPL_MAX},
                                           {"text", SF_JSON_STRING, 1, 1, BODY_TPL_MAX},
                                           {"html", SF_JSON_STRING, 1, 1, BODY_TPL_MAX},
                                           {0}};

/* Each of subject, text and html must parse; problems are fields of err. */
static int check_templates(const json_t *b, sf_err *err) {
  static const char *const k_parts[] = {"subject", "text", "html"};
  for (int i = 0; i < 3; i++) {
    const char *tpl = sf_json_str(b, k_parts[i]);
    char why[160];
    if (tpl && mail_tpl_check(tpl, why, sizeof why)) sf_err_field_add(err, k_parts[i], "%s", why);
  }
  if (!err->nfields) return 0;
  return sf_err_set(err, 422, "invalid-template", "Invalid template", "%s: %s", err->fields[0].field,
                    err->fields[0].message);
}

/* The {kind} of a write: a known kind and a well-formed If-Match, or answered. */
static tpl_input *tpl_input_of(sf_req *req) {
  sf_if_match m;
  if (!sf_in_if_match(req, &m)) return NULL;
  const char *kind = sf_req_param(req, "kind");
  if (mail_kind_index(kind) < 0) {
    sf_err err = {0};
    sf_err_not_found(&err, "mail template kind");
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  tpl_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->kind, sizeof in->kind, "%s", kind);
  in->if_match = m;
  return in;
}

static void h_put_template(sf_req *req) {
  json_t *b = sf_in_body(req, k_template);
  if (!b) return;
  sf_err err = {0};
  if (check_templates(b, &err)) {
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  tpl_input *in = tpl_input_of(req);
  if (in) {
    in->subject = sf_strdup(sf_json_str(b, "subject"));
    in->text = sf_strdup(sf_json_str(b, "text"));
    in->html = sf_strdup(sf_json_str(b, "html"));
    sf_req_submit(req, template_exec, in, free_tpl_input);
  }
  json_decref(b);
}

static void h_delete_template(sf_req *req) {
  tpl_input *in = tpl_input_of(req);
  if (in) sf_req_submit(req, template_exec, in, free_tpl_input);
}

/* ---- POST templates/{kind}/preview: a read, nothing stored ---- */

static const sf_json_field k_preview[] = {{"vars", SF_JSON_OBJECT, 0, 0, 0},
                                          {"to", SF_JSON_STRING, 0, 0, 254},
                                          {"to_name", SF_JSON_STRING, 0, 0, 200},
                                          {"subject", SF_JSON_STRING, 0, 1, SUBJECT_TPL_MAX},
                                          {"text", SF_JSON_STRING, 0, 1, BODY_TPL_MAX},
                                          {"html", SF_JSON_STRING, 0, 1, BODY_TPL_MAX},
                                          {0}};

static void h_preview(sf_req *req) {
  json_t *b = sf_in_body(req, k_preview);
  if (!b) return;
  sf_err err = {0};
  mail_tpl *t = check_templates(b, &err) ? NULL : template_of(req);
  if (!t) {
    if (err.status) sf_req_reply_problem(req, &err);
    json_decref(b);
    return;
  }
  /* a draft's parts (not stored) in place of the current ones */
  mail_tpl draft = *t;
  draft.subject = (char *)(sf_json_str(b, "subject") ? sf_json_str(b, "subject") : t->subject);
  draft.text = (char *)(sf_json_str(b, "text") ? sf_json_str(b, "text") : t->text);
  draft.html = (char *)(sf_json_str(b, "html") ? sf_json_str(b, "html") : t->html);
  mail_rendered r = {0};
  mail_render(&draft, json_object_get(b, "vars"), sf_json_str(b, "to"), sf_json_str(b, "to_name"), &r);
  mail_tpl_put(t);
  json_decref(b);
  sf_req_reply_json(req, 200, json_pack("{s:s, s:s, s:s}", "subject", r.subject, "text", r.text, "html", r.html));
  mail_rendered_free(&r);
}

/* ---- messages ---- */

static json_t *opt_str(const char *s) { return s ? json_string(s) : json_null(); }

/* A row of MAIL_LIST_COLS as JSON; bodies too when full. */
static json_t *message_json(sf_stmt *st, int full) {
  const char *status = sf_stmt_col_text(st, 7);
  json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id",
                        sf_stmt_col_text(st, 0), "kind", sf_stmt_col_text(st, 1), "to", sf_stmt_col_text(st, 2),
                        "to_name", opt_str(sf_stmt_col_text(st, 3)), "user_id", opt_str(sf_stmt_col_text(st, 4)),
                        "subject", sf_stmt_col_text(st, 5), "message_id", sf_stmt_col_text(st, 6), "status", status,
                        "attempts", (json_int_t)sf_stmt_col_int(st, 8), "next_attempt_at",
                        iso_or_null(sf_stmt_col_int(st, 9), strcmp(status, "pending") == 0), "last_error",
                        opt_str(sf_stmt_col_text(st, 10)), "created_at", iso_or_null(sf_stmt_col_int(st, 11), 1),
                        "updated_at", iso_or_null(sf_stmt_col_int(st, 12), 1), "sent_at",
                        iso_or_null(sf_stmt_col_int(st, 13), !sf_stmt_col_is_null(st, 13)));
  if (full) {
    json_object_set_new(j, "text", json_string(sf_stmt_col_text(st, 14)));
    json_object_set_new(j, "html", json_string(sf_stmt_col_text(st, 15)));
  }
  return j;
}

static int status_valid(const char *s) {
  return !s || strcmp(s, "pending") == 0 || strcmp(s, "sent") == 0 || strcmp(s, "dead") == 0 || strcmp(s, "kept") == 0;
}

static void h_messages(sf_req *req) {
  int limit;
  int64_t c_at;
  char c_id[80];
  if (!sf_in_limit(req, &limit) || !sf_in_time_cursor(req, &c_at, c_id, sizeof c_id)) return;
  sf_err err = {0};
  const char *status = sf_req_query(req, "status");
  if (!status_valid(status)) sf_err_invalid(&err, "status", "must be pending, sent, dead or kept");
  sf_db *db = err.status ? NULL : sf_db_reader(&err);
  sf_stmt *st = db ? mail_repo_list(db, status, sf_req_query(req, "to"), c_at, c_id, limit + 1, &err) : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *data = json_array(), *next = json_null();
  int64_t last_created = 0;
  int rc, n = 0;
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    if (n++ == limit) {
      json_t *last = json_array_get(data, (size_t)limit - 1);
      char c[160];
      snprintf(c, sizeof c, "%" PRId64 ":%s", last_created, json_string_value(json_object_get(last, "id")));
      next = json_string(c);
      break;
    }
    last_created = sf_stmt_col_int(st, 11);
    json_array_append_new(data, message_json(st, 0));
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:o}", "data", data, "next_cursor", next));
}

static void h_message(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? mail_repo_get(db, sf_req_param(req, "id"), &err) : NULL;
  int rc = st ? sf_stmt_step(st, &err) : -500;
  if (rc == 1)
    sf_req_reply_json(req, 200, message_json(st, 1));
  else
    sf_req_reply_problem(req, rc == 0 ? (sf_err_not_found(&err, "mail message"), &err) : &err);
  if (st) sf_stmt_reset(st);
}

/* The message as it is now in tx, bodies included. */
static int message_result(sf_tx *tx, const char *id, sf_result *out, sf_err *err) {
  sf_stmt *st = mail_repo_get(tx->db, id, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  if (rc == 1) sf_result_json(out, 200, message_json(st, 1));
  sf_stmt_reset(st);
  return rc == 1 ? 0 : rc == 0 ? sf_err_not_found(err, "mail message") : rc;
}

static int resend_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)who;
  const char *id = data;
  int rc = mail_resend(tx, id, err);
  if (rc < 0) return rc;
  if (rc == 0) {
    if (message_result(tx, id, out, err)) return -1; /* 404 */
    sf_result_clear(out);
    return sf_err_conflict(err, "the message is pending: it is being sent");
  }
  return message_result(tx, id, out, err);
}

static void h_resend(sf_req *req) { sf_req_submit(req, resend_exec, sf_strdup(sf_req_param(req, "id")), free); }

/* ---- POST /api/v1/_test/mail (test builds only: a caller's own id) and
 * POST templates/{kind}/send: one message queued as a service would ---- */

static const sf_json_field k_test_mail[] = {{"id", SF_JSON_STRING, 0, 1, 63},
                                            {"kind", SF_JSON_STRING, 1, 1, 64},
                                            {"to", SF_JSON_STRING, 1, 1, 254},
                                            {"to_name", SF_JSON_STRING, 0, 0, 200},
                                            {"user_id", SF_JSON_STRING, 0, 1, 64},
                                            {"vars", SF_JSON_OBJECT, 0, 0, 0},
                                            {0}};

static void free_json(void *p) { json_decref(p); }

static int queue_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)who;
  json_t *b = data;
  sf_mail m = {.id = sf_json_str(b, "id"),
               .kind = sf_json_str(b, "kind"),
               .to = sf_json_str(b, "to"),
               .to_name = sf_json_str(b, "to_name"),
               .user_id = sf_json_str(b, "user_id"),
               .vars = json_object_get(b, "vars")};
  if (sf_mail_queue(tx, &m, err)) return -1;
  if (message_result(tx, m.id, out, err)) return -1;
  out->status = 201;
  return 0;
}

static void h_test_mail(sf_req *req) {
  json_t *b = sf_in_body(req, k_test_mail);
  if (!b) return;
  if (!json_object_get(b, "id")) {
    char id[SF_ID_MAX];
    sf_id_new("mail", id, sizeof id);
    json_object_set_new(b, "id", json_string(id));
  }
  sf_req_submit(req, queue_exec, b, free_json);
}

/* ---- POST templates/{kind}/send: one message of a kind, as a service would queue it ---- */

static const sf_json_field k_send[] = {
    {"to", SF_JSON_STRING, 1, 3, 254}, {"to_name", SF_JSON_STRING, 0, 0, 200}, {"vars", SF_JSON_OBJECT, 0, 0, 0}, {0}};

static void h_send(sf_req *req) {
  const char *kind = sf_req_param(req, "kind");
  if (mail_kind_index(kind) < 0) {
    sf_err err = {0};
    sf_err_not_found(&err, "mail template kind");
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *b = sf_in_body(req, k_send);
  if (!b) return;
  char id[SF_ID_MAX];
  sf_id_new("mail", id, sizeof id);
  json_object_set_new(b, "id", json_string(id));
  json_object_set_new(b, "kind", json_string(kind));
  sf_req_submit(req, queue_exec, b, free_json);
}

/* ---- the routes ---- */

#define TEMPLATE_SCHEMA                                                                                                \
  "{\"type\":\"object\",\"required\":[\"kind\",\"subject\",\"text\",\"html\",\"customized\",\"version\"],"             \
  "\"properties\":{\"kind\":{\"type\":\"string\"},\"subject\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"},"   \
  "\"html\":{\"type\":\"string\"},\"customized\":{\"type\":\"boolean\"},\"version\":{\"type\":\"integer\"},"           \
  "\"updated_at\":{\"type\":[\"string\",\"null\"]}}}"
#define MESSAGE_PROPS                                                                                                  \
  "\"id\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},\"to\":{\"type\":\"string\"},"                          \
  "\"to_name\":{\"type\":[\"string\",\"null\"]},\"user_id\":{\"type\":[\"string\",\"null\"]},"                         \
  "\"subject\":{\"type\":\"string\"},\"message_id\":{\"type\":\"string\"},"                                            \
  "\"status\":{\"enum\":[\"pending\",\"sent\",\"dead\",\"kept\"]},\"attempts\":{\"type\":\"integer\"},"                \
  "\"next_attempt_at\":{\"type\":[\"string\",\"null\"]},\"last_error\":{\"type\":[\"string\",\"null\"]},"              \
  "\"created_at\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"string\"},"                                         \
  "\"sent_at\":{\"type\":[\"string\",\"null\"]}"
#define MESSAGE_REQUIRED "\"required\":[\"id\",\"kind\",\"to\",\"subject\",\"message_id\",\"status\",\"attempts\"]"
#define MESSAGE_SCHEMA "{\"type\":\"object\"," MESSAGE_REQUIRED ",\"properties\":{" MESSAGE_PROPS "}}"
#define MESSAGE_FULL_SCHEMA                                                                                            \
  "{\"type\":\"object\"," MESSAGE_REQUIRED ",\"properties\":{" MESSAGE_PROPS                                           \
  ",\"text\":{\"type\":\"string\"},\"html\":{\"type\":\"string\"}}}"
#define TEMPLATE_BODY                                                                                                  \
  "{\"type\":\"object\",\"required\":[\"subject\",\"text\",\"html\"],\"additionalProperties\":false,"                  \
  "\"properties\":{\"subject\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000},"                              \
  "\"text\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100000},"                                               \
  "\"html\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100000}}}"
#define PREVIEW_BODY                                                                                                   \
  "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"vars\":{\"type\":\"object\"},"                \
  "\"to\":{\"type\":\"string\",\"maxLength\":254},\"to_name\":{\"type\":\"string\",\"maxLength\":200},"                \
  "\"subject\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000},"                                              \
  "\"text\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100000},"                                               \
  "\"html\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100000}}}"
#define PREVIEW_SCHEMA                                                                                                 \
  "{\"type\":\"object\",\"required\":[\"subject\",\"text\",\"html\"],\"properties\":{"                                 \
  "\"subject\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"},\"html\":{\"type\":\"string\"}}}"

#define SEND_BODY                                                                                                      \
  "{\"type\":\"object\",\"required\":[\"to\"],\"additionalProperties\":false,\"properties\":{"                         \
  "\"to\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":254},\"to_name\":{\"type\":\"string\",\"maxLength\":200}" \
  ","                                                                                                                  \
  "\"vars\":{\"type\":\"object\"}}}"

void mail_routes(void) {
  static const sf_route k_routes[] = {
      {"GET", "/api/v1/mail/templates", h_templates, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "Every mail kind's effective template (the stored text, or the default: customized false)", NULL,
       "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\","
       "\"items\":" TEMPLATE_SCHEMA "}}}",
       200, 0},
      {"GET", "/api/v1/mail/templates/{kind}", h_template, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "One kind's effective template (ETag: its version)", NULL, TEMPLATE_SCHEMA, 200, 0},
      {"PUT", "/api/v1/mail/templates/{kind}", h_put_template, SF_AUTH_PERMISSION, "mail:admin", SF_ROUTE_IF_MATCH,
       "mail",
       "Store a kind's template ({{name}}, {{a.b}}, {{#if x}}..{{else}}..{{/if}}; 422 when one does not parse; "
       "honours If-Match)",
       TEMPLATE_BODY, TEMPLATE_SCHEMA, 200, 0, .statuses = "404"},
      {"DELETE", "/api/v1/mail/templates/{kind}", h_delete_template, SF_AUTH_PERMISSION, "mail:admin",
       SF_ROUTE_IF_MATCH, "mail", "Back to the shipped default (honours If-Match)", NULL, TEMPLATE_SCHEMA, 200, 0,
       .statuses = "404"},
      {"POST", "/api/v1/mail/templates/{kind}/preview", h_preview, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "Render a kind (or a draft's subject/text/html) with the given vars; nothing is stored or sent", PREVIEW_BODY,
       PREVIEW_SCHEMA, 200, 0, .statuses = "404"},
      {"POST", "/api/v1/mail/templates/{kind}/send", h_send, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "Send one e-mail of a kind to an address (to check the SMTP settings and a template): queued like any other",
       SEND_BODY, MESSAGE_FULL_SCHEMA, 201, 0, .statuses = "404"},
      {"GET", "/api/v1/mail/messages", h_messages, SF_AUTH_PERMISSION, "mail:admin", SF_ROUTE_PAGED, "mail",
       "E-mails, newest first: the delivery log; ?status=kept is the dev mailbox (no smtp_url); ?to= one recipient's",
       NULL, SF_LIST_SCHEMA(MESSAGE_SCHEMA), 200, 0, .query = "status to"},
      {"GET", "/api/v1/mail/messages/{id}", h_message, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "One e-mail with its text and HTML bodies", NULL, MESSAGE_FULL_SCHEMA, 200, 0},
      {"POST", "/api/v1/mail/messages/{id}/resend", h_resend, SF_AUTH_PERMISSION, "mail:admin", 0, "mail",
       "Send a dead, sent or kept e-mail again, with the same Message-ID (409 while it is pending)", NULL,
       MESSAGE_FULL_SCHEMA, 200, 0, .statuses = "404 409"},
  };
  for (size_t i = 0; i < sizeof k_routes / sizeof k_routes[0]; i++) sf_router_add(&k_routes[i]);
  if (sf_clock_is_test()) {
    static const sf_route k_test = {
        "POST",
        "/api/v1/_test/mail",
        h_test_mail,
        SF_AUTH_PERMISSION,
        "mail:admin",
        0,
        "ops",
        "Test builds only: queue one e-mail as a service would (sf_mail_queue)",
        "{\"type\":\"object\",\"required\":[\"kind\",\"to\"],\"properties\":{\"id\":{\"type\":\"string\"},"
        "\"kind\":{\"type\":\"string\"},\"to\":{\"type\":\"string\"},\"to_name\":{\"type\":\"string\"},"
        "\"user_id\":{\"type\":\"string\"},\"vars\":{\"type\":\"object\"}}}",
        MESSAGE_FULL_SCHEMA,
        201,
        0};
    sf_router_add(&k_test);
  }
}
