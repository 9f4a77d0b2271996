/* GET /api/v1/events: the event log newest first (all of it, or one stream),
 * paged by position (or stream version): positions are contiguous from 1
 * (sf_ev_verify checks it), so a page is the `limit` positions below the
 * cursor, read in order and turned around. With ?type= (types and
 * prefixes, "order." or "order.*"), each prefix becomes the distinct types
 * under it (one index seek each on events(type, position)); each type gives
 * at most limit + 1 events below the cursor on that index, and the newest
 * limit of them all make the page, whose lowest position is the cursor.
 *
 * POST /api/v1/events/verify: what `serviceflow verify` checks — the log
 * reaches its anchor, the hash chain, then stock, reservations, orders and
 * users rebuilt from their events and compared with the state rows — on a
 * connection of its own in one read transaction, on the calling HTTP
 * thread (it reads the whole log: seconds on a large one). Changes nothing. */
#include "services/audit/audit.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/config.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/anchor.h"
#include "events/store.h"
#include "events/verify.h"
#include "services/identity/identity.h"
#include "services/inventory/inventory.h"
#include "services/orders/orders.h"

static int add_event(const sf_event *ev, void *ud) {
  json_array_append_new(ud, sf_ev_to_json(ev));
  return 0;
}

/* ?cursor= is the lowest position (or stream version) of the previous page. */
static int read_cursor(sf_req *req, int64_t *below) {
  const char *c = sf_req_query(req, "cursor");
  *below = INT64_MAX;
  if (!c) return 1;
  char *end;
  long long v = strtoll(c, &end, 10);
  if (*c && !*end && v > 0) {
    *below = v;
    return 1;
  }
  sf_err err = {0};
  sf_err_invalid(&err, "cursor", "is not a cursor of this list (give next_cursor as it came)");
  sf_req_reply_problem(req, &err);
  return 0;
}

/* ---- ?type= ---- */

#define MAX_FILTER 16 /* entries of ?type= */
#define MAX_TYPES 128 /* distinct types a filter may stand for */
#define TYPE_MAX 128

typedef struct type_filter {
  char types[MAX_TYPES][TYPE_MAX]; /* exact types, prefixes expanded */
  int n;
} type_filter;

/* One entry: words of [a-z0-9_] joined by '.', or such a prefix ending in '.'
 * (or ".*", the webhook patterns' spelling); *prefix says which. */
static int type_entry(const char *s, size_t len, char *out, int *prefix) {
  if (len >= 2 && s[len - 1] == '*' && s[len - 2] == '.') len--;
  if (len == 0 || len >= TYPE_MAX - 1) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int word = islower((unsigned char)c) || isdigit((unsigned char)c) || c == '_';
    if (!word && !(c == '.' && i > 0 && s[i - 1] != '.')) return 0;
  }
  memcpy(out, s, len);
  out[len] = '\0';
  *prefix = s[len - 1] == '.';
  return 1;
}

static int add_type(type_filter *f, const char *type) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->types[i], type) == 0) return 1;
  if (f->n == MAX_TYPES) return 0;
  snprintf(f->types[f->n++], TYPE_MAX, "%s", type);
  return 1;
}

/* A prefix "order." stands for the types in ("order.", "order/"): '/' is
 * the byte after '.'. */
static int add_prefix(sf_db *db, type_filter *f, const char *prefix, sf_err *err) {
  char below[TYPE_MAX], at[TYPE_MAX], next[256];
  snprintf(below, sizeof below, "%s", prefix);
  below[strlen(below) - 1] = '/';
  snprintf(at, sizeof at, "%s", prefix);
  int rc;
  while ((rc = sf_ev_type_next(db, at, below, next, sizeof next, err)) == 1) {
    size_t n = strlen(next);
    if (n >= TYPE_MAX || !add_type(f, next)) return sf_err_bad_request(err, "type names too many types");
    memcpy(at, next, n + 1); /* n < TYPE_MAX: it fits */
  }
  return rc;
}

/* ?type=a.b,c. into f; 1 when no filter, 0 a filter, < 0 with err (400
 * naming `type`, or a read error). */
static int read_types(sf_req *req, sf_db *db, type_filter *f, sf_err *err) {
  const char *q = sf_req_query(req, "type");
  f->n = 0;
  if (!q) return 1;
  int entries = 0;
  for (const char *s = q;; s++) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    char one[TYPE_MAX];
    int prefix;
    if (++entries > MAX_FILTER || !type_entry(s, len, one, &prefix)) {
      sf_err_bad_request(err,
                         "type must be event types or prefixes (order.payment_captured, order.), at most %d,"
                         " comma-separated",
                         MAX_FILTER);
      sf_err_field_add(err, "type", "is not a list of event types or prefixes ending in '.'");
      return -400;
    }
    int rc = prefix ? add_prefix(db, f, one, err) : add_type(f, one) ? 0 : sf_err_bad_request(err, "too many types");
    if (rc < 0) return rc;
    if (!end) break;
    s = end;
  }
  return 0;
}

typedef struct candidate {
  int64_t key; /* position, or version within a stream */
  json_t *event;
} candidate;

typedef struct typed_page {
  candidate *all; /* limit + 1 per type at most */
  size_t n, cap;
  int by_version;
} typed_page;

static int add_candidate(const sf_event *ev, void *ud) {
  typed_page *p = ud;
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 64;
    p->all = sf_realloc(p->all, p->cap * sizeof *p->all);
  }
  p->all[p->n++] = (candidate){p->by_version ? ev->version : ev->position, sf_ev_to_json(ev)};
  return 0;
}

static int newest_first(const void *a, const void *b) {
  int64_t x = ((const candidate *)a)->key, y = ((const candidate *)b)->key;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The page of a type filter: the newest `limit` of each type's newest
 * limit + 1 below the cursor. */
static void reply_typed(sf_req *req, sf_db *db, const type_filter *f, const char *stream, int64_t below, int limit,
                        int64_t head) {
  sf_err err = {0};
  typed_page page = {.by_version = stream != NULL};
  int rc = 0;
  for (int i = 0; i < f->n && !rc; i++)
    rc = sf_ev_read_type_desc(db, f->types[i], stream, below, limit + 1, add_candidate, &page, &err);
  if (page.n) qsort(page.all, page.n, sizeof *page.all, newest_first);
  json_t *data = json_array(), *next = json_null();
  size_t take = page.n > (size_t)limit ? (size_t)limit : page.n;
  for (size_t i = 0; i < page.n; i++)
    if (i < take)
      json_array_append_new(data, page.all[i].event);
    else
      json_decref(page.all[i].event);
  if (page.n > take) {
    char c[32];
    snprintf(c, sizeof c, "%" PRId64, page.all[take - 1].key);
    next = json_string(c);
  }
  free(page.all);
  if (rc) {
    json_decref(data);
    json_decref(next);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:I, s:o}", "data", data, "head", (json_int_t)head, "next_cursor", next));
}

static void h_events(sf_req *req) {
  int limit;
  int64_t below;
  if (!sf_in_limit(req, &limit) || !read_cursor(req, &below)) return;
  const char *stream = sf_req_query(req, "stream");
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t head = !db ? -1 : stream ? sf_ev_stream_version(db, stream, &err) : sf_ev_head(db, &err);
  if (head < 0) {
    sf_req_reply_problem(req, &err);
    return;
  }
  type_filter *types = sf_malloc(sizeof *types);
  int filtered = read_types(req, db, types, &err);
  if (filtered <= 0) {
    if (filtered < 0)
      sf_req_reply_problem(req, &err);
    else
      reply_typed(req, db, types, stream, below, limit, head);
    free(types);
    return;
  }
  free(types);
  int64_t top = below - 1 < head ? below - 1 : head; /* the newest of the page */
  int64_t after = top - limit > 0 ? top - limit : 0;
  json_t *data = json_array();
  int rc = top <= 0 ? 0
           : stream ? sf_ev_read_stream(db, stream, after, (int)(top - after), add_event, data, &err)
                    : sf_ev_read_all(db, after, (int)(top - after), add_event, data, &err);
  if (rc) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *newest_first = json_array();
  for (size_t i = json_array_size(data); i > 0; i--) json_array_append(newest_first, json_array_get(data, i - 1));
  json_decref(data);
  char next[32];
  snprintf(next, sizeof next, "%" PRId64, after + 1);
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:I, s:o}", "data", newest_first, "head", (json_int_t)head, "next_cursor",
                              after > 0 ? json_string(next) : json_null()));
}

/* ---- verify ---- */

static json_t *report_json(const char *name, const sf_verify_report *r) {
  json_t *details = json_array();
  for (int i = 0; i < r->ndetails; i++) json_array_append_new(details, json_string(r->details[i]));
  return json_pack("{s:s, s:I, s:I, s:o}", "name", name, "checked", (json_int_t)r->checked, "mismatches",
                   (json_int_t)r->mismatches, "details", details);
}

/* The reports live off the stack (~5 KiB each); a lock keeps two verifies
 * from sharing them. */
static struct audit_state {
  pthread_mutex_t lock;
  sf_verify_report stock, reservations, orders, users;
} audit = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Runs the checks in db's read transaction; fills out. Returns 0, or -1
 * with err for a failure to read (not for a damaged log: that is a result). */
static int run_verify(sf_db *db, json_t *out, sf_err *err) {
  char path[600];
  int64_t anchored = -1, n = 0;
  sf_err found = {0};
  sf_ev_anchor_path(sf_cfg.data_dir, path, sizeof path);
  int rc = sf_ev_anchor_check(db, path, &anchored, &found);
  if (!rc) rc = sf_ev_verify(db, &n, &found);
  json_object_set_new(out, "events", json_integer(n));
  json_object_set_new(out, "anchored", anchored >= 0 ? json_integer(anchored) : json_null());
  if (rc) { /* the log itself is damaged: the folds would mean nothing */
    json_object_set_new(out, "chain", json_string(found.detail[0] ? found.detail : "damaged"));
    json_object_set_new(out, "ok", json_false());
    json_object_set_new(out, "checks", json_array());
    return 0;
  }
  json_object_set_new(out, "chain", json_string("intact"));
  memset(&audit.stock, 0, sizeof audit.stock);
  memset(&audit.reservations, 0, sizeof audit.reservations);
  memset(&audit.orders, 0, sizeof audit.orders);
  memset(&audit.users, 0, sizeof audit.users);
  if (sf_inv_verify(db, &audit.stock, &audit.reservations, err) || sf_orders_verify(db, &audit.orders, err) ||
      sf_identity_verify(db, &audit.users, err))
    return -1;
  json_object_set_new(out, "checks",
                      json_pack("[o, o, o, o]", report_json("stock", &audit.stock),
                                report_json("reservations", &audit.reservations), report_json("orders", &audit.orders),
                                report_json("users", &audit.users)));
  int64_t bad =
      audit.stock.mismatches + audit.reservations.mismatches + audit.orders.mismatches + audit.users.mismatches;
  json_object_set_new(out, "ok", json_boolean(bad == 0));
  return 0;
}

static void h_verify(sf_req *req) {
  sf_err err = {0};
  char path[600];
  sf_app_db_path(&sf_cfg, path, sizeof path);
  sf_db *db = sf_db_open(path, SF_DB_READ, &err);
  if (!db || sf_db_begin_read(db, &err)) {
    if (db) sf_db_close(db);
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *out = json_object();
  pthread_mutex_lock(&audit.lock);
  int rc = run_verify(db, out, &err);
  pthread_mutex_unlock(&audit.lock);
  sf_err ignored;
  sf_db_commit(db, &ignored); /* a read transaction: nothing to keep */
  sf_db_close(db);
  if (rc) {
    json_decref(out);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, out);
}

#define EVENT_REF "{\"$ref\":\"#/components/schemas/Event\"}"
#define CHECK_SCHEMA                                                                                                   \
  "{\"type\":\"object\",\"required\":[\"name\",\"checked\",\"mismatches\",\"details\"],\"properties\":{\"name\":{"     \
  "\"type\":\"string\"},\"checked\":{\"type\":\"integer\"},\"mismatches\":{\"type\":\"integer\"},\"details\":{"        \
  "\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}"

void sf_audit_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/events", h_events, SF_AUTH_PERMISSION, "events:read", SF_ROUTE_PAGED, "events",
       "The event log, newest first: every stream, or one (?stream=order-ord_…); ?type= only events of these "
       "types or prefixes (comma-separated: order.paid,request.); head is the newest position (or the stream's "
       "version)",
       NULL,
       "{\"type\":\"object\",\"required\":[\"data\",\"head\",\"next_cursor\"],\"properties\":{\"data\":{\"type\":"
       "\"array\",\"items\":" EVENT_REF "},\"head\":{\"type\":\"integer\"},\"next_cursor\":{\"type\":[\"string\","
       "\"null\"]}}}",
       200, 0, .query = "stream type", .statuses = "400"},
      {"POST", "/api/v1/events/verify", h_verify, SF_AUTH_PERMISSION, "events:read", 0, "events",
       "Verify the event log as `serviceflow verify` does (anchor, hash chain, state rebuilt from events); "
       "read-only, ok false names what differs",
       NULL,
       "{\"type\":\"object\",\"required\":[\"ok\",\"events\",\"anchored\",\"chain\",\"checks\"],\"properties\":{"
       "\"ok\":{\"type\":\"boolean\"},\"events\":{\"type\":\"integer\"},\"anchored\":{\"type\":[\"integer\","
       "\"null\"]},\"chain\":{\"type\":\"string\"},\"checks\":{\"type\":\"array\",\"items\":" CHECK_SCHEMA "}}}",
       200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
