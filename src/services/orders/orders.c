/* Orders over HTTP: the handlers of /api/v1/orders (and a cart's checkout,
 * and the sales report), and the service's start and stop. The handlers run
 * on HTTP threads: they parse and validate, then hand a command to the
 * writer (sf_req_submit) in the domain's shape (placement.c, lifecycle.c),
 * or answer reads from a reader connection. This file and waiters.c are the
 * only ones of the service that know the HTTP request. */
#include "services/orders/orders.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "services/orders/internal.h"
#include "services/orders/waiters.h"

#define MAX_WAIT_S 60

static int can_read_all(const sf_req *req) { return sf_edge_role_allows(req->principal.role, "orders:read"); }

/* Prefer: wait=N (RFC 7240); 0 when absent. 400 for a malformed one. */
static int read_prefer_wait(sf_req *req, int *out) {
  *out = 0;
  const char *h = sf_req_header(req, "Prefer");
  if (!h) return 1;
  const char *p = strstr(h, "wait=");
  if (!p) return 1;
  char *end;
  long v = strtol(p + 5, &end, 10);
  if (end == p + 5 || v < 0 || (*end && *end != ',' && *end != ';' && !isspace((unsigned char)*end))) {
    sf_err err = {0};
    sf_err_bad_request(&err, "Prefer: wait must be a number of seconds");
    sf_req_reply_problem(req, &err);
    return 0;
  }
  *out = v > MAX_WAIT_S ? MAX_WAIT_S : (int)v;
  return 1;
}

/* ---- POST /orders, POST /carts/{id}/checkout ---- */

static int place_committed(sf_req *req, void *data) {
  ord_place_input *in = data;
  if (!in->placed) return 0;
  if (ord_wait_park(req, in->order_id, in->wait_s, 201, 201)) return 1;
  if (in->deferred) { /* not parked (shutting down): answer with what is committed */
    sf_err err = {0};
    sf_db *db = sf_db_reader(&err);
    order o = {0};
    if (!db || ord_repo_load(db, in->order_id, &o, 1, &err))
      sf_req_reply_problem(req, &err);
    else
      ord_reply(req, 201, &o);
    order_clear(&o);
  }
  return 0;
}

static const sf_json_field k_place[] = {
    {"items", SF_JSON_ARRAY, 0, 0, 0},
    {"cart_id", SF_JSON_STRING, 0, 1, 47},
    {"payment", SF_JSON_OBJECT, 1, 0, 0},
    {0},
};
static const sf_json_field k_checkout[] = {
    {"payment", SF_JSON_OBJECT, 1, 0, 0},
    {0},
};

_Static_assert(sizeof((sf_in_item *)0)->product_id == ORD_INPUT_ID_MAX, "an input line's product id fits");

/* The lines: from a cart (read in the command), or the body's items. */
static void read_lines(sf_req *req, const json_t *b, const char *cart_path, ord_place_input *in, sf_err *err) {
  json_t *items = json_object_get(b, "items");
  const char *cart_id = cart_path ? cart_path : sf_json_str(b, "cart_id");
  if (cart_id) {
    if (items) sf_err_field_add(err, "items", "give items or cart_id, not both");
    if (strlen(cart_id) >= sizeof in->cart_id)
      sf_err_field_add(err, "cart_id", "is not a cart id");
    else
      snprintf(in->cart_id, sizeof in->cart_id, "%s", cart_id);
    sf_cart_token_of(req, in->cart_token);
  } else if (!items) {
    sf_err_field_add(err, "items", "is required (or cart_id)");
  }
  if (!cart_id && items) {
    sf_in_item lines[ORD_MAX_LINES];
    in->nlines = sf_in_items(items, lines, ORD_MAX_LINES, err);
    for (int k = 0; k < in->nlines; k++) {
      memcpy(in->lines[k].product_id, lines[k].product_id, sizeof in->lines[k].product_id);
      in->lines[k].quantity = lines[k].quantity;
    }
  }
}

/* The card: checked, then sealed to the new order's id. Returns < 0 when it
 * cannot be sealed (err is the answer); a bad card is a field of err. */
static int read_card(const json_t *b, ord_place_input *in, sf_err *err) {
  json_t *pay = json_object_get(b, "payment");
  const char *card = sf_json_str(pay, "card_number");
  if (json_object_size(pay) != 1 || !card) {
    sf_err_field_add(err, "payment", "must be {\"card_number\": string}");
    return 0;
  }
  if (!sf_pay_card_valid(card)) {
    sf_err_field_add(err, "payment.card_number", "is not a valid card number (12-19 digits, Luhn)");
    return 0;
  }
  sf_id_new("ord", in->order_id, sizeof in->order_id);
  snprintf(in->card_last4, sizeof in->card_last4, "%s", card + strlen(card) - 4);
  in->card_sealed = sf_seal(sf_edge_keyring(), card, in->order_id, err);
  return in->card_sealed ? 0 : -1;
}

/* POST /orders ({items} or {cart_id}) and POST /carts/{id}/checkout
 * (cart_path set) place an order the same way. */
static void place(sf_req *req, const char *cart_path) {
  int wait_s;
  if (!read_prefer_wait(req, &wait_s)) return;
  json_t *b = sf_in_body(req, cart_path ? k_checkout : k_place);
  if (!b) return;
  sf_err err = {0};
  ord_place_input *in = sf_calloc(1, sizeof *in);
  in->wait_s = wait_s;
  in->deferred = wait_s > 0 && !sf_req_header(req, "Idempotency-Key");
  read_lines(req, b, cart_path, in, &err);
  int sealed = read_card(b, in, &err);
  json_decref(b);
  if (sealed < 0) {
    ord_place_input_free(in);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (err.nfields) {
    ord_place_input_free(in);
    sf_err_set(&err, 422, "validation", "Validation failed", "the request body has invalid fields");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_submit_ex(req, ord_place, in, ord_place_input_free, place_committed);
}

static void h_place(sf_req *req) { place(req, NULL); }

static void h_checkout(sf_req *req) {
  const char *id = sf_req_param(req, "id");
  place(req, id ? id : "");
}

/* ---- reads ---- */

static void h_get(sf_req *req) {
  int wait_s;
  if (!read_prefer_wait(req, &wait_s)) return;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order o = {0};
  if (!db || ord_repo_load(db, sf_req_param(req, "id"), &o, 1, &err)) {
    sf_req_reply_problem(req, &err);
  } else if (strcmp(o.customer_id, req->principal.user_id) != 0 && !can_read_all(req)) {
    sf_err_not_found(&err, "order"); /* other customers' orders do not exist for you */
    sf_req_reply_problem(req, &err);
  } else if (!order_settled(&o) && wait_s > 0) {
    sf_req_suspend(req);
    if (!ord_wait_park(req, o.id, wait_s, 200, 200)) {
      ord_reply(req, 200, &o);
      sf_req_resume_durable(req);
    }
  } else {
    ord_reply(req, 200, &o);
  }
  order_clear(&o);
}

/* ?status= is one of the statuses, or absent. */
static int read_status(sf_req *req, const char **status) {
  static const char *const k_statuses[] = {"pending",   "paid",      "fulfilled", "shipped",
                                           "delivered", "cancelled", "refunded"};
  *status = sf_req_query(req, "status");
  if (!*status) return 1;
  for (size_t i = 0; i < sizeof k_statuses / sizeof k_statuses[0]; i++)
    if (strcmp(*status, k_statuses[i]) == 0) return 1;
  sf_err err = {0};
  sf_err_invalid(&err, "status", "must be one of pending, paid, fulfilled, shipped, delivered, cancelled, refunded");
  sf_req_reply_problem(req, &err);
  return 0;
}

static void h_list(sf_req *req) {
  ord_list_query q = {0};
  char c_id[64];
  if (!sf_in_limit(req, &q.limit)) return;
  if (!sf_in_time_cursor(req, &q.cursor_at, c_id, sizeof c_id)) return;
  if (!read_status(req, &q.status)) return;
  q.cursor_id = c_id;
  q.customer = can_read_all(req) ? sf_req_query(req, "customer_id") : req->principal.user_id;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order *rows = sf_calloc((size_t)q.limit + 1, sizeof *rows);
  int n = 0;
  char next[96];
  int rc = db ? ord_repo_list(db, &q, rows, &n, next, sizeof next, &err) : -1;
  json_t *data = json_array();
  for (int i = 0; i < n; i++) {
    if (!rc) json_array_append_new(data, order_json(&rows[i]));
    order_clear(&rows[i]);
  }
  free(rows);
  if (rc) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

static void h_events(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order *o = sf_arena_alloc(&req->arena, sizeof *o);
  memset(o, 0, sizeof *o);
  if (!db || ord_repo_load(db, sf_req_param(req, "id"), o, 0, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  if (strcmp(o->customer_id, req->principal.user_id) != 0 && !can_read_all(req)) {
    sf_err_not_found(&err, "order");
    sf_req_reply_problem(req, &err);
    return;
  }
  char stream[96];
  snprintf(stream, sizeof stream, "order-%s", o->id);
  sf_req_reply_stream(req, db, stream);
}

/* ---- lifecycle (staff) and refunds ---- */

static void transition(sf_req *req, const char *to) {
  sf_if_match if_match;
  if (!sf_in_if_match(req, &if_match)) return;
  if (req->body_len) {
    json_t *b = sf_in_body(req, (const sf_json_field[]){{0}});
    if (!b) return;
    json_decref(b);
  }
  ord_change_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  in->to = to;
  in->if_match = if_match;
  sf_req_submit(req, ord_transition, in, free);
}

static void h_fulfil(sf_req *req) { transition(req, "fulfilled"); }
static void h_ship(sf_req *req) { transition(req, "shipped"); }
static void h_deliver(sf_req *req) { transition(req, "delivered"); }

static int refund_committed(sf_req *req, void *data) {
  ord_change_input *in = data;
  /* a refund still running when the wait ends stays 202 Accepted */
  return req->status == 202 && ord_wait_park(req, in->id, in->wait_s, 200, 202);
}

static const sf_json_field k_refund[] = {
    {"amount", SF_JSON_INT, 0, 1, 1000000000000LL},
    {0},
};

static void h_refund(sf_req *req) {
  sf_if_match if_match;
  int wait_s;
  if (!sf_in_if_match(req, &if_match) || !read_prefer_wait(req, &wait_s)) return;
  int64_t amount = 0;
  if (req->body_len) {
    json_t *b = sf_in_body(req, k_refund);
    if (!b) return;
    amount = sf_json_int(b, "amount", 0);
    json_decref(b);
  }
  ord_change_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  in->if_match = if_match;
  in->amount = amount;
  in->wait_s = wait_s;
  sf_req_submit_ex(req, ord_refund, in, free, refund_committed);
}

/* ---- GET /reports/sales-daily ---- */

/* YYYY-MM-DD with a plausible month and day. */
static int is_day(const char *s) {
  int y, m, d;
  char tail;
  return strlen(s) == 10 && s[4] == '-' && s[7] == '-' && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
         m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void h_sales(sf_req *req) {
  sf_err err = {0};
  const char *from = sf_req_query(req, "from"), *to = sf_req_query(req, "to");
  if (from && !is_day(from)) sf_err_field_add(&err, "from", "must be a date YYYY-MM-DD");
  if (to && !is_day(to)) sf_err_field_add(&err, "to", "must be a date YYYY-MM-DD");
  if (err.nfields) {
    sf_err_set(&err, 422, "validation", "Validation failed", "the query has invalid parameters");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_db *db = sf_db_reader(&err);
  json_t *data = db ? ord_repo_sales(db, from, to, &err) : NULL;
  if (!data) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

/* ---- start, stop ---- */

static const ord_saga_hooks k_saga_hooks = {
    .touched = ord_wait_touched, .idle = ord_wait_expire, .changed = ord_wait_changed};

void sf_orders_timers(void) { ord_saga_timers(); }

int sf_orders_start(const sf_config *cfg, sf_err *err) {
  if (ord_saga_start(cfg, sf_edge_keyring(), &k_saga_hooks, err)) return -1;
  ord_wait_open();
  return 0;
}

void sf_orders_stop(void) {
  ord_wait_close();
  ord_saga_stop();
  ord_wait_flush(); /* unfinished ones resume on the next start */
}

/* ---- routes ---- */

#define ORDER_REF "{\"$ref\":\"#/components/schemas/Order\"}"

void sf_orders_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/orders", h_place, SF_AUTH_USER, NULL, 0, "orders",
       "Place an order from items or from a cart: reserves stock and starts the payment saga "
       "(Prefer: wait=N waits for the outcome)",
       "{\"type\":\"object\",\"required\":[\"payment\"],\"additionalProperties\":false,"
       "\"oneOf\":[{\"required\":[\"items\"]},{\"required\":[\"cart_id\"]}],\"properties\":{"
       "\"cart_id\":{\"type\":\"string\"},"
       "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":50,\"items\":{\"type\":\"object\","
       "\"required\":[\"product_id\",\"quantity\"],\"additionalProperties\":false,\"properties\":{"
       "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}}},"
       "\"payment\":{\"type\":\"object\",\"required\":[\"card_number\"],\"additionalProperties\":false,"
       "\"properties\":{\"card_number\":{\"type\":\"string\",\"pattern\":\"^[0-9]{12,19}$\"}}}}}",
       ORDER_REF, 201, 0, .statuses = "404 409", .headers = "Prefer"},
      {"POST", "/api/v1/carts/{id}/checkout", h_checkout, SF_AUTH_USER, NULL, 0, "carts",
       "Check out a cart: places an order from its lines at their snapshot prices (409 price-changed "
       "when the catalog moved; Prefer: wait=N as for POST /orders)",
       "{\"type\":\"object\",\"required\":[\"payment\"],\"additionalProperties\":false,\"properties\":{"
       "\"payment\":{\"type\":\"object\",\"required\":[\"card_number\"],\"additionalProperties\":false,"
       "\"properties\":{\"card_number\":{\"type\":\"string\",\"pattern\":\"^[0-9]{12,19}$\"}}}}}",
       ORDER_REF, 201, 0, .statuses = "409", .headers = "Prefer"},
      {"GET", "/api/v1/orders", h_list, SF_AUTH_USER, NULL, SF_ROUTE_PAGED, "orders",
       "List orders, newest first: your own, or all with orders:read (?status=, ?customer_id=)", NULL,
       SF_LIST_SCHEMA(ORDER_REF), 200, 0, .query = "status customer_id"},
      {"GET", "/api/v1/orders/{id}", h_get, SF_AUTH_USER, NULL, 0, "orders",
       "Get an order (Prefer: wait=N waits until it is settled)", NULL, ORDER_REF, 200, 0, .headers = "Prefer"},
      {"GET", "/api/v1/orders/{id}/events", h_events, SF_AUTH_USER, NULL, 0, "orders",
       "The order's history (events of stream order-{id})", NULL,
       SF_LIST_SCHEMA("{\"$ref\":\"#/components/schemas/Event\"}"), 200, 0},
      {"POST", "/api/v1/orders/{id}/fulfil", h_fulfil, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "paid -> fulfilled (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/ship", h_ship, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "fulfilled -> shipped (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/deliver", h_deliver, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH,
       "orders", "shipped -> delivered (honours If-Match)", NULL, ORDER_REF, 200, 0, .statuses = "409"},
      {"POST", "/api/v1/orders/{id}/refunds", h_refund, SF_AUTH_PERMISSION, "orders:write", SF_ROUTE_IF_MATCH, "orders",
       "Refund a paid order, fully or in part (202; Prefer: wait=N waits for the provider)",
       "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
       "\"amount\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"minor units; default: all that is left\"}}}",
       ORDER_REF, 202, 0, .statuses = "200 409", .headers = "Prefer"},
      {"GET", "/api/v1/reports/sales-daily", h_sales, SF_AUTH_PERMISSION, "orders:read", 0, "orders",
       "Units and revenue per product per day (sales_daily projection; ?from=&to= as YYYY-MM-DD)", NULL,
       SF_LIST_SCHEMA("{\"type\":\"object\",\"required\":[\"day\",\"product_id\",\"quantity\",\"revenue\","
                      "\"currency\",\"orders\"],\"properties\":{\"day\":{\"type\":\"string\",\"format\":\"date\"},"
                      "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\"},"
                      "\"revenue\":{\"type\":\"integer\"},\"currency\":{\"type\":\"string\"},"
                      "\"orders\":{\"type\":\"integer\"}}}"),
       200, 0, .query = "from:date to:date"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
