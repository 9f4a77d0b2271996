/* Who is told what (rules.h): one small function per family of events. */
#include "services/notifications/rules.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

const char *const ntf_categories[NTF_NCATS] = {"requests", "approvals", "sla", "orders", "stock"};

int ntf_category_index(const char *name) {
  for (int i = 0; name && i < NTF_NCATS; i++)
    if (strcmp(ntf_categories[i], name) == 0) return i;
  return -1;
}

int ntf_default_on(ntf_category c, int email) { return !(email && c == NTF_CAT_STOCK); }

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static int known(const char *s) { return s && s[0]; }

static void add_user(ntf_plan *p, const char *user) {
  if (known(user) && p->ntargets < NTF_MAX_TARGETS) p->targets[p->ntargets++] = (ntf_target){.user = user};
}

static void add_role(ntf_plan *p, const char *role) {
  if (known(role) && p->ntargets < NTF_MAX_TARGETS) p->targets[p->ntargets++] = (ntf_target){.role = role};
}

/* The assignee: the user, or else every member of the role. */
static void add_assignee(ntf_plan *p, const char *user, const char *role) {
  if (known(user))
    add_user(p, user);
  else
    add_role(p, role);
}

static void start(ntf_plan *p, const char *kind, ntf_category c) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->category = c;
}

/* A workflow's notify action: {role} | {user} | {to: requester | assignee};
 * on an SLA warning or breach it is that step's notification. */
static void notified(const json_t *d, const ntf_context *cx, ntf_plan *p) {
  const char *on = str(d, "on");
  int warn = on && strcmp(on, "on_warning") == 0, breach = on && strcmp(on, "on_breach") == 0;
  start(p,
        warn     ? "sla.warning"
        : breach ? "sla.breached"
                 : "request.notify",
        warn || breach ? NTF_CAT_SLA : NTF_CAT_REQUESTS);
  p->sla_step = warn || breach;
  const json_t *n = json_object_get(d, "notify");
  const char *to = str(n, "to");
  add_user(p, str(n, "user"));
  add_role(p, str(n, "role"));
  if (to && strcmp(to, "requester") == 0) add_user(p, cx->requester);
  if (to && strcmp(to, "assignee") == 0) add_assignee(p, cx->assignee_user, cx->assignee_role);
}

/* The approvers of the level just opened (the requester has no task). */
static void approval_requested(const json_t *d, ntf_plan *p) {
  start(p, "approval.requested", NTF_CAT_APPROVALS);
  const json_t *a = json_object_get(d, "assignees");
  add_role(p, str(a, "role"));
  size_t i;
  const json_t *u;
  json_array_foreach(json_object_get(a, "users"), i, u) add_user(p, json_string_value(u));
}

/* Comments and assignment: the request's people, not who did it. */
static void participants(const json_t *d, const ntf_context *cx, const char *kind, ntf_plan *p) {
  start(p, kind, NTF_CAT_REQUESTS);
  p->skip_actor = 1;
  add_user(p, cx->requester);
  if (strcmp(kind, "request.assigned") == 0) {
    const json_t *a = json_object_get(d, "assignee");
    add_assignee(p, str(a, "user"), str(a, "role"));
  } else {
    add_user(p, cx->assignee_user);
  }
  for (int i = 0; i < cx->ncommenters; i++) add_user(p, cx->commenters[i]);
}

static int request_plan(const char *t, const json_t *d, const ntf_context *cx, ntf_plan *p) {
  if (strcmp(t, "notified") == 0) {
    notified(d, cx, p);
  } else if (strcmp(t, "approval_requested") == 0) {
    approval_requested(d, p);
    p->skip_user = cx->requester;
  } else if (strcmp(t, "approval_delegated") == 0) {
    start(p, "approval.requested", NTF_CAT_APPROVALS);
    add_user(p, str(d, "to"));
  } else if (strcmp(t, "approval_decided") == 0) {
    start(p, "approval.decided", NTF_CAT_APPROVALS);
    p->skip_actor = 1;
    add_user(p, cx->requester);
  } else if (strcmp(t, "sla_warning") == 0) {
    start(p, "sla.warning", NTF_CAT_SLA);
    p->sla_step = 1;
    add_assignee(p, cx->assignee_user, cx->assignee_role);
  } else if (strcmp(t, "sla_breached") == 0) {
    start(p, "sla.breached", NTF_CAT_SLA);
    p->sla_step = 1;
    add_assignee(p, cx->assignee_user, cx->assignee_role);
    add_user(p, cx->requester);
  } else if (strcmp(t, "commented") == 0) {
    participants(d, cx, "request.commented", p);
  } else if (strcmp(t, "assigned") == 0) {
    participants(d, cx, "request.assigned", p);
  } else {
    return 0;
  }
  return p->ntargets > 0;
}

static int order_plan(const char *t, const ntf_context *cx, ntf_plan *p) {
  static const char *const k_told[] = {"order.placed",  "order.paid",      "order.cancelled",
                                       "order.shipped", "order.delivered", "order.refunded"};
  for (size_t i = 0; i < sizeof k_told / sizeof k_told[0]; i++)
    if (strcmp(t, k_told[i]) == 0) {
      start(p, k_told[i], NTF_CAT_ORDERS);
      add_user(p, cx->customer);
      return p->ntargets > 0;
    }
  return 0;
}

int ntf_rules_plan(const char *type, const json_t *data, const ntf_context *cx, ntf_plan *out) {
  memset(out, 0, sizeof *out);
  int rc = 0;
  if (strncmp(type, "request.", 8) == 0)
    rc = request_plan(type + 8, data, cx, out);
  else if (strncmp(type, "order.", 6) == 0)
    rc = order_plan(type, cx, out);
  if (!rc) memset(out, 0, sizeof *out);
  return rc;
}

/* ---- template variables ---- */

static void set_str(json_t *o, const char *key, const char *v) { json_object_set_new(o, key, json_string(v ? v : "")); }

static json_t *named(const char *name) { return json_pack("{s:s}", "name", name ? name : ""); }

static void request_vars(json_t *v, const ntf_vars_in *in, const json_t *d) {
  json_object_set_new(v, "request",
                      json_pack("{s:s, s:s, s:s, s:s}", "id", in->subject_id, "title", in->request_title, "type",
                                in->request_type, "state", in->request_state));
  const json_t *n = json_object_get(d, "notify");
  set_str(v, "message", str(n, "message"));
  json_object_set_new(v, "level", json_string(str(d, "name") ? str(d, "name") : ""));
  json_object_set_new(v, "requester", named(in->requester_name));
  set_str(v, "decision", str(d, "decision"));
  json_object_set_new(v, "by", named(in->actor_name));
  set_str(v, "comment", str(d, "comment"));
  json_object_set_new(v, "sla",
                      json_pack("{s:s, s:O?, s:O?}", "name", str(d, "name") ? str(d, "name") : "", "percent",
                                json_object_get(d, "percent"), "within", json_object_get(d, "within")));
  set_str(v, "due_at", "");
  if (strcmp(in->type, "request.commented") == 0)
    json_object_set_new(v, "comment",
                        json_pack("{s:s, s:s}", "author", in->actor_name ? in->actor_name : "", "body",
                                  str(d, "body") ? str(d, "body") : ""));
  json_object_set_new(v, "assignee", named(in->assignee_name));
}

/* Money in minor units as "12.50". */
static json_t *money(const json_t *minor) {
  char out[32];
  json_int_t m = json_integer_value(minor);
  snprintf(out, sizeof out, "%s%lld.%02lld", m < 0 ? "-" : "", (long long)(m < 0 ? -m : m) / 100,
           (long long)(m < 0 ? -m : m) % 100);
  return json_string(out);
}

static void order_vars(json_t *v, const ntf_vars_in *in, const json_t *d) {
  json_t *o = json_pack("{s:s, s:s}", "id", in->subject_id, "status", strchr(in->type, '.') + 1);
  if (json_object_get(d, "total")) json_object_set_new(o, "total", money(json_object_get(d, "total")));
  if (str(d, "currency")) json_object_set_new(o, "currency", json_string(str(d, "currency")));
  json_object_set_new(v, "order", o);
  set_str(v, "reason", str(d, "reason"));
  set_str(v, "tracking", str(d, "tracking"));
  json_object_set_new(v, "refund", json_pack("{s:o}", "amount", money(json_object_get(d, "amount"))));
}

static void stock_vars(json_t *v, const json_t *d) {
  json_object_set_new(v, "product",
                      json_pack("{s:s, s:s, s:s}", "id", str(d, "id") ? str(d, "id") : "", "name",
                                str(d, "name") ? str(d, "name") : "", "sku", str(d, "sku") ? str(d, "sku") : ""));
  json_object_set_new(v, "stock",
                      json_pack("{s:O?, s:O?}", "available", json_object_get(d, "available"), "threshold",
                                json_object_get(d, "threshold")));
}

json_t *ntf_rules_vars(const ntf_vars_in *in) {
  const json_t *d = in->data;
  json_t *v = json_object();
  json_object_set_new(v, "recipient",
                      json_pack("{s:s, s:s, s:s}", "id", in->user_id, "name", in->user_name, "email", in->user_email));
  set_str(v, "actor", in->actor);
  set_str(v, "link", in->link);
  json_object_set_new(v, "event", d ? json_deep_copy(d) : json_object());
  if (strncmp(in->subject_type, "request", 8) == 0) request_vars(v, in, d);
  if (strncmp(in->subject_type, "order", 6) == 0) order_vars(v, in, d);
  if (strcmp(in->type, "stock.low") == 0) stock_vars(v, d);
  return v;
}

void ntf_id(const char *key, const char *user, char *out, size_t cap) {
  char material[256], hex[65];
  int n = snprintf(material, sizeof material, "%s|%s", key, user);
  sf_sha256_hex(material, (size_t)n < sizeof material ? (size_t)n : sizeof material - 1, hex);
  /* "ev:evt_<8 time chars><random>": sf_id_new's sortable time part */
  const char *t = strncmp(key, "ev:", 3) == 0 ? sf_id_time_part(key + 3) : NULL;
  if (t)
    snprintf(out, cap, "ntf_%.8s%.18s", t, hex);
  else
    snprintf(out, cap, "ntf_%.26s", hex);
}
