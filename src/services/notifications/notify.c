/* The durable subscriber "notifications" (notifications.h): folds the
 * subjects it needs (requests, orders, low products) into its read model and
 * tells the recipients rules.h names, all in the dispatcher's transaction
 * with its checkpoint. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "events/store.h"
#include "services/catalog/catalog.h"
#include "services/inventory/repo.h"
#include "services/mail/mail.h"
#include "services/notifications/notifications.h"
#include "services/notifications/repo.h"
#include "services/notifications/rules.h"

static const char *const k_kinds[] = {"request.notify", "approval.requested", "approval.decided", "sla.warning",
                                      "sla.breached",   "request.commented",  "request.assigned", "order.placed",
                                      "order.paid",     "order.cancelled",    "order.shipped",    "order.delivered",
                                      "order.refunded", "stock.low"};
#define NKINDS (sizeof k_kinds / sizeof k_kinds[0])
#define MAX_COMMENTERS 64 /* told of a comment besides the requester and the assignee */

static struct notify_state {
  int low_stock_threshold; /* available below this is low; 0: never */
  int64_t start;           /* notifications only for events after it; -1: not read yet */
  /* notifications created, by kind (counted as the subscriber applies: a
   * batch rolled back and retried counts again) */
  atomic_ullong created[NKINDS];
  char commenters[MAX_COMMENTERS][SF_ID_MAX]; /* on_request's scratch: the writer thread only */
} notify = {.start = -1};

void sf_notifications_configure(const sf_config *cfg) {
  notify.low_stock_threshold = cfg->low_stock_threshold;
  notify.start = -1;
}

static void count_created(const char *kind) {
  for (size_t i = 0; i < NKINDS; i++)
    if (strcmp(k_kinds[i], kind) == 0) atomic_fetch_add_explicit(&notify.created[i], 1, memory_order_relaxed);
}

static void collect(sf_buf *b) {
  sf_buf_printf(b, "# HELP sf_notifications_created_total In-app notifications created, by kind.\n"
                   "# TYPE sf_notifications_created_total counter\n");
  for (size_t i = 0; i < NKINDS; i++)
    sf_buf_printf(b, "sf_notifications_created_total{kind=\"%s\"} %llu\n", k_kinds[i],
                  (unsigned long long)atomic_load_explicit(&notify.created[i], memory_order_relaxed));
}

void sf_notifications_metrics(void) {
  static int added;
  if (!added++) sf_metrics_add_collector(collect);
}

/* ---- one notification ---- */

/* What an event is about and what the recipients are told. */
typedef struct tell {
  const sf_event *ev;
  const json_t *data;
  const char *actor;
  const char *subject_type, *subject_id, *link;
  const ntf_request *rq; /* the request it is about, or NULL */
  char key[160];         /* what caused it: with the recipient, the notification's id */
  const ntf_plan *plan;
  /* the names the templates show (filled by tell_all) */
  char requester_name[256], actor_name[256], assignee_name[256];
} tell;

/* The in-app text is the mail template's; a template that does not render
 * (an admin's edit gone wrong) leaves the kind as the title rather than
 * stopping every notification behind it. */
static void render(const char *kind, const json_t *vars, char *title, char **body) {
  sf_err rerr = {0};
  *body = NULL;
  if (sf_mail_render_text(kind, vars, title, body, &rerr) == 0) return;
  char detail[300];
  sf_log_warn("notification text not rendered", "\"kind\":\"%s\",\"detail\":\"%s\"", kind,
              sf_log_quote(rerr.detail, detail, sizeof detail));
  snprintf(title, SF_MAIL_SUBJECT_MAX, "%s", kind);
  free(*body);
  *body = strdup("");
}

static int store_row(sf_tx *tx, const tell *t, const char *id, const char *user, const json_t *vars, sf_err *err) {
  char title[SF_MAIL_SUBJECT_MAX], created[32];
  char *body = NULL;
  render(t->plan->kind, vars, title, &body);
  ntf_row row = {id,
                 user,
                 t->plan->kind,
                 ntf_categories[t->plan->category],
                 title,
                 body,
                 t->link,
                 t->subject_type,
                 t->subject_id,
                 t->ev->position,
                 tx->now_ms};
  int rc = ntf_repo_insert(tx->db, &row, err);
  if (rc == 1) {
    sf_time_iso8601(tx->now_ms, created, sizeof created);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s}", "id", id, "kind", row.kind, "category",
                          row.category, "title", title, "body", body, "link", t->link, "subject", "type",
                          t->subject_type, "id", t->subject_id, "created_at", created);
    rc = sf_ev_emit(tx, NULL, "notifications", user, "notification.created", d, err);
    if (!rc) count_created(row.kind);
  }
  free(body);
  return rc < 0 ? -1 : 0;
}

/* The mail is at least once with a stable id; one that cannot be made (a bad
 * address) is logged and skipped, not retried forever. */
static int queue_mail(sf_tx *tx, const tell *t, const char *id, const char *user, const ntf_user *u, const json_t *vars,
                      sf_err *err) {
  if (!u->email[0]) return 0;
  sf_err merr = {0};
  sf_mail m = {id, t->plan->kind, u->email, u->name, user, vars};
  if (sf_mail_queue(tx, &m, &merr) == 0) return 0;
  if (sf_writer_retryable(&merr) || merr.status >= 500) {
    *err = merr;
    return -1;
  }
  char detail[300];
  sf_log_warn("notification mail not queued", "\"id\":\"%s\",\"detail\":\"%s\"", id,
              sf_log_quote(merr.detail, detail, sizeof detail));
  return 0;
}

static int tell_one(sf_tx *tx, const tell *t, const char *user, sf_err *err) {
  ntf_user u = {0};
  int rc = ntf_repo_user(tx->db, user, &u, err);
  if (rc <= 0) return rc; /* unknown or disabled: nobody to tell */
  int channels[NTF_NCATS][2];
  if (ntf_repo_prefs(tx->db, user, channels, err)) return -1;
  int in_app = channels[t->plan->category][0], email = channels[t->plan->category][1];
  if (!in_app && !email) return 0;
  char id[SF_ID_MAX];
  ntf_id(t->key, user, id, sizeof id);
  const ntf_request *rq = t->rq;
  ntf_vars_in vin = {.type = t->plan->kind,
                     .data = t->data,
                     .actor = t->actor,
                     .subject_type = t->subject_type,
                     .subject_id = t->subject_id,
                     .link = t->link,
                     .request_title = rq ? rq->title : "",
                     .request_type = rq ? rq->type : "",
                     .request_state = rq ? rq->state : "",
                     .user_id = user,
                     .user_name = u.name[0] ? u.name : u.email,
                     .user_email = u.email,
                     .requester_name = t->requester_name,
                     .actor_name = t->actor_name,
                     .assignee_name = t->assignee_name};
  json_t *vars = ntf_rules_vars(&vin);
  rc = in_app ? store_row(tx, t, id, user, vars, err) : 0;
  if (!rc && email) rc = queue_mail(tx, t, id, user, &u, vars, err);
  json_decref(vars);
  return rc;
}

/* ---- the recipients ---- */

typedef struct recipients {
  char (*ids)[SF_ID_MAX];
  int n, cap;
} recipients;

static int add_recipient(void *ud, const char *user) {
  recipients *r = ud;
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->ids[i], user) == 0) return 0;
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->ids = sf_realloc(r->ids, (size_t)r->cap * sizeof *r->ids);
  }
  snprintf(r->ids[r->n++], SF_ID_MAX, "%s", user);
  return 0;
}

/* A user's name (their address when they gave none) into out; "" unknown. */
static int name_of(sf_tx *tx, const char *user, char *out, size_t cap, sf_err *err) {
  ntf_user u = {0};
  int rc = user && user[0] ? ntf_repo_user(tx->db, user, &u, err) : 0;
  snprintf(out, cap, "%s", u.name[0] ? u.name : u.email);
  return rc < 0 ? -1 : 0;
}

static int names(sf_tx *tx, tell *t, sf_err *err) {
  const json_t *a = json_object_get(t->data, "assignee");
  const char *role = json_string_value(json_object_get(a, "role"));
  int rc = name_of(tx, t->rq ? t->rq->requester : NULL, t->requester_name, sizeof t->requester_name, err);
  if (!rc) rc = name_of(tx, t->actor, t->actor_name, sizeof t->actor_name, err);
  if (!rc)
    rc = name_of(tx, json_string_value(json_object_get(a, "user")), t->assignee_name, sizeof t->assignee_name, err);
  if (!rc && role && !t->assignee_name[0]) snprintf(t->assignee_name, sizeof t->assignee_name, "%s", role);
  return rc;
}

static int tell_all(sf_tx *tx, tell *t, sf_err *err) {
  recipients r = {0};
  int rc = names(tx, t, err);
  for (int i = 0; !rc && i < t->plan->ntargets; i++) {
    const ntf_target *g = &t->plan->targets[i];
    if (g->user)
      add_recipient(&r, g->user);
    else
      rc = ntf_repo_role_members(tx->db, g->role, add_recipient, &r, err);
  }
  for (int i = 0; !rc && i < r.n; i++) {
    if (t->plan->skip_actor && t->actor && strcmp(r.ids[i], t->actor) == 0) continue;
    if (t->plan->skip_user && strcmp(r.ids[i], t->plan->skip_user) == 0) continue;
    rc = tell_one(tx, t, r.ids[i], err);
  }
  free(r.ids);
  return rc;
}

/* Only events after the start position tell anyone (migrations.c). */
static int telling(sf_tx *tx, const sf_event *ev, sf_err *err) {
  if (notify.start < 0 && (notify.start = ntf_repo_start(tx->db, err)) < 0) return -1;
  return ev->position > notify.start;
}

/* ---- SLA steps: a warning and the notify actions it runs tell each
 * person once ---- */

typedef struct sla_find {
  int64_t before, version;
} sla_find;

static int sla_visit(const sf_event *ev, void *ud) {
  sla_find *f = ud;
  if (ev->version >= f->before) return 1;
  if (strcmp(ev->type, "request.sla_warning") == 0 || strcmp(ev->type, "request.sla_breached") == 0)
    f->version = ev->version;
  return 0;
}

/* The key of the SLA step ev belongs to: the warning or breach event itself,
 * or the one its notify action followed in the same command. */
static int sla_key(sf_tx *tx, const sf_event *ev, char *key, size_t cap, sf_err *err) {
  sla_find f = {.before = ev->version, .version = ev->version};
  if (strcmp(ev->type, "request.notified") == 0) {
    f.version = 0;
    int64_t from = ev->version > 32 ? ev->version - 32 : 0;
    if (sf_ev_read_stream(tx->db, ev->stream, from, 0, sla_visit, &f, err) < 0) return -1;
    if (!f.version) f.version = ev->version;
  }
  snprintf(key, cap, "sla:%s@%" PRId64, ev->stream, f.version);
  return 0;
}

/* ---- requests ---- */

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static int request_fold(sf_tx *tx, const sf_event *ev, const char *id, const json_t *d, const char *actor,
                        sf_err *err) {
  if (strcmp(ev->type, "request.assigned") == 0) {
    const json_t *a = json_object_get(d, "assignee");
    return ntf_repo_request_assign(tx->db, id, str(a, "user"), str(a, "role"), err);
  }
  if (strcmp(ev->type, "request.commented") == 0 && strcmp(actor, "system") != 0)
    return ntf_repo_commenter_add(tx->db, id, actor, err);
  if (strcmp(ev->type, "request.transitioned") == 0) return ntf_repo_request_state(tx->db, id, str(d, "to"), err);
  return 0;
}

static int on_request(sf_tx *tx, const sf_event *ev, const json_t *d, const char *actor, sf_err *err) {
  const char *id = ev->stream + strlen("request-");
  if (strcmp(ev->type, "request.created") == 0)
    return ntf_repo_request_put(tx->db, id, actor, str(d, "title"), str(d, "type"), str(d, "state"), err);
  ntf_request rq;
  const char *names[MAX_COMMENTERS];
  int n = ntf_repo_request(tx->db, id, &rq, err);
  int nc = n < 0 ? -1 : ntf_repo_commenters(tx->db, id, notify.commenters, MAX_COMMENTERS, err);
  if (nc < 0) return -1;
  for (int i = 0; i < nc; i++) names[i] = notify.commenters[i];
  ntf_context cx = {actor, rq.requester, rq.assignee_user, rq.assignee_role, names, nc, NULL};
  ntf_plan plan;
  int rc = 0, now = telling(tx, ev, err);
  if (now < 0) return -1;
  if (now && ntf_rules_plan(ev->type, d, &cx, &plan)) {
    char link[96];
    snprintf(link, sizeof link, "/api/v1/requests/%s", id);
    tell t = {ev, d, actor, "request", id, link, &rq, "", &plan};
    if (plan.sla_step)
      rc = sla_key(tx, ev, t.key, sizeof t.key, err);
    else
      snprintf(t.key, sizeof t.key, "ev:%s", ev->id);
    if (!rc) rc = tell_all(tx, &t, err);
  }
  return rc ? rc : request_fold(tx, ev, id, d, actor, err);
}

/* ---- stock ---- */

static int stock_low(sf_tx *tx, const sf_event *ev, const sf_stock *s, int64_t available, sf_err *err) {
  sf_product_ref p = {0};
  sf_err perr = {0};
  if (sf_catalog_product_ref(tx->db, s->product_id, &p, &perr)) snprintf(p.name, sizeof p.name, "%s", s->product_id);
  json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", s->product_id, "name", p.name, "sku", p.sku,
                        "available", (json_int_t)available, "on_hand", (json_int_t)s->on_hand, "threshold",
                        (json_int_t)notify.low_stock_threshold);
  ntf_plan plan = {.kind = "stock.low", .category = NTF_CAT_STOCK, .ntargets = 2};
  plan.targets[0].role = "staff";
  plan.targets[1].role = "admin";
  char link[96];
  snprintf(link, sizeof link, "/api/v1/products/%s", s->product_id);
  tell t = {ev, d, "system", "product", s->product_id, link, NULL, "", &plan};
  snprintf(t.key, sizeof t.key, "ev:%s:%s", ev->id, s->product_id);
  int rc = tell_all(tx, &t, err);
  json_decref(d);
  return rc;
}

/* Tells staff once when a product's available stock falls below the
 * threshold; it is low again only after it rose back to it. The stock is
 * read when the event is applied, which may be after later changes: a
 * stock.adjusted event's own on_hand is used (a restock followed at once by
 * a loss is two crossings), the units held by orders are today's. */
static int check_stock(sf_tx *tx, const sf_event *ev, const char *product, const json_t *on_hand, sf_err *err) {
  if (notify.low_stock_threshold <= 0 || !product) return 0;
  sf_stock s;
  if (sf_inv_repo_load_stock(tx->db, product, &s, err)) return -1;
  if (json_is_integer(on_hand)) s.on_hand = json_integer_value(on_hand);
  int64_t available = s.on_hand - s.reserved;
  int was_low = ntf_repo_stock_low(tx->db, product, err);
  if (was_low < 0) return -1;
  int low = available < notify.low_stock_threshold;
  if (low == was_low) return 0;
  if (ntf_repo_stock_mark(tx->db, product, low, err)) return -1;
  int now = low ? telling(tx, ev, err) : 0;
  return now < 0 ? -1 : now ? stock_low(tx, ev, &s, available, err) : 0;
}

static int check_items(sf_tx *tx, const sf_event *ev, const json_t *items, sf_err *err) {
  size_t i;
  const json_t *it;
  json_array_foreach(items, i, it) if (check_stock(tx, ev, str(it, "product_id"), NULL, err)) return -1;
  return 0;
}

/* ---- orders ---- */

static int on_order(sf_tx *tx, const sf_event *ev, const json_t *d, const char *actor, sf_err *err) {
  const char *id = ev->stream + strlen("order-");
  char customer[SF_ID_MAX] = "";
  json_t *items = NULL;
  int rc = 0, placed = strcmp(ev->type, "order.placed") == 0;
  if (placed) {
    snprintf(customer, sizeof customer, "%s", str(d, "customer_id") ? str(d, "customer_id") : "");
    items = json_incref(json_object_get(d, "items"));
    char *text = json_dumps(items ? items : json_array(), JSON_COMPACT);
    rc = ntf_repo_order_put(tx->db, id, customer, text ? text : "[]", err);
    free(text);
  } else if (ntf_repo_order(tx->db, id, customer, &items, err) < 0) {
    return -1;
  }
  ntf_context cx = {.actor = actor, .customer = customer};
  ntf_plan plan;
  int now = rc ? 0 : telling(tx, ev, err);
  if (now < 0) rc = -1;
  if (now > 0 && ntf_rules_plan(ev->type, d, &cx, &plan)) {
    char link[96];
    snprintf(link, sizeof link, "/api/v1/orders/%s", id);
    tell t = {ev, d, actor, "order", id, link, NULL, "", &plan};
    snprintf(t.key, sizeof t.key, "ev:%s", ev->id);
    rc = tell_all(tx, &t, err);
  }
  if (!rc && (placed || strcmp(ev->type, "order.cancelled") == 0)) rc = check_items(tx, ev, items, err);
  json_decref(items);
  return rc;
}

/* ---- the subscriber ---- */

static int apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  json_t *d = json_loads(ev->data, 0, NULL), *meta = json_loads(ev->meta, 0, NULL);
  if (!d) d = json_object();
  const char *actor = str(meta, "actor") ? str(meta, "actor") : "system";
  int rc = 0;
  if (strncmp(ev->type, "request.", 8) == 0 && strncmp(ev->stream, "request-", 8) == 0)
    rc = on_request(tx, ev, d, actor, err);
  else if (strncmp(ev->type, "order.", 6) == 0 && strncmp(ev->stream, "order-", 6) == 0)
    rc = on_order(tx, ev, d, actor, err);
  else if (strcmp(ev->type, "stock.adjusted") == 0)
    rc = check_stock(tx, ev, str(d, "product_id"), json_object_get(d, "on_hand"), err);
  json_decref(d);
  json_decref(meta);
  return rc ? -1 : 0;
}

static int reset(sf_tx *tx, sf_err *err) { return ntf_repo_reset(tx->db, err) ? -1 : 0; }

const sf_subscriber sf_notifications_subscriber = {
    .name = "notifications", .apply = apply, .reset = reset, .types = "request.,order.,stock."};
