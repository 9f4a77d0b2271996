/* Carts: /api/v1/carts, lines, guest tokens, the claim on login. Checkout
 * lives in the orders service (it places an order from the cart's lines). */
#include "services/carts/carts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/idempotency.h"
#include "edge/input.h"
#include "events/store.h"
#include "services/carts/repo.h"
#include "services/catalog/catalog.h"
#include "services/identity/identity.h"

#define MAX_QTY 1000
#define TOKEN_HEADER "Cart-Token"

static int cart_event(sf_tx *tx, const sf_actor *who, const sf_cart *c, const char *type, json_t *data, sf_err *err) {
  return sf_ev_emit(tx, who, "cart", c->id, type, data, err);
}

/* ---- access: the owner, or whoever holds a guest cart's token ---- */

/* Cart-Token is "<cart id>.<secret>"; the cart keeps sha256(secret). */
static int token_opens(const char *token, const sf_cart *c) {
  if (!token || !token[0] || !c->token_hash[0]) return 0;
  const char *dot = strchr(token, '.');
  if (!dot || (size_t)(dot - token) != strlen(c->id) || strncmp(token, c->id, strlen(c->id)) != 0) return 0;
  char hash[65];
  sf_sha256_hex(dot + 1, strlen(dot + 1), hash);
  return sf_ct_equal(hash, c->token_hash, 64);
}

static int can_use(const sf_actor *who, const char *token, const sf_cart *c) {
  if (c->owner_id[0]) return sf_actor_is_user(who) && strcmp(c->owner_id, who->user_id) == 0;
  return token_opens(token, c);
}

/* Loads a cart the caller may use (others' carts do not exist for them):
 * who acts, and the Cart-Token they present (NULL or "": none). */
static int load_usable(sf_db *db, const sf_actor *who, const char *token, const char *id, sf_cart *c, sf_err *err) {
  int rc = sf_carts_repo_load(db, id, c, err);
  if (rc) return rc;
  if (!can_use(who, token, c)) return sf_err_not_found(err, "cart");
  return 0;
}

static int require_open(const sf_cart *c, sf_err *err) {
  if (strcmp(c->status, "open") == 0) return 0;
  if (strcmp(c->status, "checked_out") == 0)
    return sf_err_set(err, 409, "cart-closed", "Cart closed", "this cart was checked out as order %s", c->order_id);
  return sf_err_set(err, 409, "cart-closed", "Cart closed", "this cart was merged into cart %s", c->merged_into);
}

/* ---- JSON ---- */

static json_t *cart_json(sf_db *db, const sf_cart *c) {
  json_t *items = json_array();
  int64_t subtotal = 0, count = 0;
  int changed = 0;
  for (int i = 0; i < c->nlines; i++) {
    const sf_cart_item *l = &c->lines[i];
    sf_product_ref p;
    sf_err perr = {0};
    int prc = db ? sf_catalog_product_ref(db, l->product_id, &p, &perr) : -1;
    int available = prc == 0 && strcmp(p.status, "active") == 0;
    int price_changed = available && p.price != l->unit_price;
    changed |= price_changed || !available;
    subtotal += l->unit_price * l->quantity;
    count += l->quantity;
    json_t *item =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:b}", "product_id", l->product_id, "sku", l->sku, "name",
                  l->name, "unit_price", (json_int_t)l->unit_price, "quantity", (json_int_t)l->quantity, "line_total",
                  (json_int_t)(l->unit_price * l->quantity), "available", available, "price_changed", price_changed);
    json_object_set_new(item, "current_price", available ? json_integer(p.price) : json_null());
    json_array_append_new(items, item);
  }
  char created[32], updated[32];
  sf_time_iso8601(c->created_at, created, sizeof created);
  sf_time_iso8601(c->updated_at, updated, sizeof updated);
  json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I, s:b, s:I, s:s, s:s}", "id", c->id, "status", c->status, "items",
                        items, "subtotal", (json_int_t)subtotal, "item_count", (json_int_t)count, "needs_review",
                        changed, "version", (json_int_t)c->version, "created_at", created, "updated_at", updated);
  json_object_set_new(o, "owner_id", c->owner_id[0] ? json_string(c->owner_id) : json_null());
  json_object_set_new(o, "currency", c->currency[0] ? json_string(c->currency) : json_null());
  json_object_set_new(o, "order_id", c->order_id[0] ? json_string(c->order_id) : json_null());
  json_object_set_new(o, "merged_into", c->merged_into[0] ? json_string(c->merged_into) : json_null());
  return o;
}

/* The cart and its ETag; extra (stolen, may be NULL): members added to the
 * cart's JSON. */
static void cart_result(sf_result *out, sf_db *db, int status, const sf_cart *c, json_t *extra) {
  json_t *o = cart_json(db, c);
  if (extra) {
    json_object_update(o, extra);
    json_decref(extra);
  }
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", c->version);
  sf_result_json(out, status, o);
  sf_result_header(out, "ETag", etag);
}

void sf_cart_token_of(const sf_req *req, char out[SF_CART_TOKEN_MAX]) {
  const char *t = sf_req_header((sf_req *)req, TOKEN_HEADER);
  if (!t || strlen(t) >= SF_CART_TOKEN_MAX) t = ""; /* a cut token must open nothing */
  snprintf(out, SF_CART_TOKEN_MAX, "%s", t);
}

/* ---- POST /carts ---- */

static void new_cart(sf_cart *c, int64_t now_ms) {
  memset(c, 0, sizeof *c);
  sf_id_new("crt", c->id, sizeof c->id);
  snprintf(c->status, sizeof c->status, "open");
  c->version = 1;
  c->created_at = c->updated_at = now_ms;
}

static int create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)data;
  sf_cart *c = sf_calloc(1, sizeof *c);
  int rc = 0;
  if (sf_actor_is_user(who)) {
    /* one open cart per customer: hand back the one there is */
    if ((rc = sf_carts_repo_load_open_of(tx->db, who->user_id, c, err))) goto out;
    if (c->id[0]) {
      cart_result(out, tx->db, 200, c, NULL);
      goto out;
    }
    new_cart(c, tx->now_ms);
    snprintf(c->owner_id, sizeof c->owner_id, "%s", who->user_id);
  } else {
    new_cart(c, tx->now_ms);
  }
  char token[160] = "";
  if (!c->owner_id[0]) {
    uint8_t secret[24];
    char enc[48];
    sf_random_bytes(secret, sizeof secret);
    sf_b64url_encode(secret, sizeof secret, enc, sizeof enc);
    sf_sha256_hex(enc, strlen(enc), c->token_hash);
    snprintf(token, sizeof token, "%s.%s", c->id, enc);
  }
  if ((rc = sf_carts_repo_save(tx->db, c, tx->now_ms, err))) goto out;
  if ((rc = cart_event(tx, who, c, "cart.created",
                       json_pack("{s:o}", "owner_id", c->owner_id[0] ? json_string(c->owner_id) : json_null()), err)))
    goto out;
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/carts/%s", c->id);
  cart_result(out, tx->db, 201, c, token[0] ? json_pack("{s:s}", "token", token) : NULL);
  sf_result_header(out, "Location", loc);
out:
  free(c);
  return rc;
}

static void h_create(sf_req *req) {
  if (req->body_len) { /* no fields yet; an object is accepted so clients may send {} */
    static const sf_json_field none[] = {{0}};
    json_t *b = sf_in_body(req, none);
    if (!b) return;
    json_decref(b);
  }
  sf_req_submit(req, create_exec, NULL, NULL);
}

/* ---- GET /carts/{id} ---- */

static void h_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_cart *c = sf_arena_alloc(&req->arena, sizeof *c);
  sf_actor who;
  sf_req_actor(req, &who);
  if (!db || load_usable(db, &who, sf_req_header(req, TOKEN_HEADER), sf_req_param(req, "id"), c, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_result out = {0};
  cart_result(&out, db, 200, c, NULL);
  sf_req_reply_result(req, &out);
}

/* ---- lines ---- */

typedef enum { LINE_ADD, LINE_SET, LINE_REMOVE } line_op;

typedef struct {
  line_op op;
  char cart_id[SF_ID_MAX];
  char product_id[SF_ID_MAX];
  char token[SF_CART_TOKEN_MAX];
  int64_t quantity;
  sf_if_match if_match;
} line_input;

static int find_line(const sf_cart *c, const char *product_id) {
  for (int i = 0; i < c->nlines; i++)
    if (strcmp(c->lines[i].product_id, product_id) == 0) return i;
  return -1;
}

static int line_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  line_input *in = data;
  sf_cart *c = sf_calloc(1, sizeof *c);
  int rc = load_usable(tx->db, who, in->token, in->cart_id, c, err);
  if (!rc) rc = require_open(c, err);
  if (!rc) rc = sf_precondition(in->if_match, c->version, err);
  if (rc) goto out;
  int at = find_line(c, in->product_id);
  json_t *ev = NULL;
  const char *type;
  if (in->op == LINE_REMOVE) {
    if (at < 0) {
      rc = sf_err_not_found(err, "cart line");
      goto out;
    }
    memmove(&c->lines[at], &c->lines[at + 1], (size_t)(c->nlines - at - 1) * sizeof c->lines[0]);
    c->nlines--;
    if (c->nlines == 0) c->currency[0] = '\0'; /* an empty cart takes any currency again */
    type = "cart.line_removed";
    ev = json_pack("{s:s}", "product_id", in->product_id);
  } else {
    if (in->op == LINE_SET && at < 0) {
      rc = sf_err_not_found(err, "cart line");
      goto out;
    }
    /* the snapshot: what the product costs now */
    sf_product_ref p;
    sf_err perr = {0};
    int prc = sf_catalog_product_ref(tx->db, in->product_id, &p, &perr);
    if (prc == -404 || (prc == 0 && strcmp(p.status, "active") != 0)) {
      rc = sf_err_invalid(err, "product_id", "no such product for sale");
      goto out;
    }
    if (prc) {
      rc = sf_err_internal(err, "%s", perr.detail);
      goto out;
    }
    if (c->currency[0] && strcmp(c->currency, p.currency) != 0) {
      rc = sf_err_invalid(err, "product_id", "is priced in %s; this cart is in %s", p.currency, c->currency);
      goto out;
    }
    int64_t qty = in->op == LINE_ADD && at >= 0 ? c->lines[at].quantity + in->quantity : in->quantity;
    if (qty > MAX_QTY) {
      rc = sf_err_invalid(err, "quantity", "the line would hold %" PRId64 "; at most %d per product", qty, MAX_QTY);
      goto out;
    }
    if (at < 0) {
      if (c->nlines == SF_CART_MAX_LINES) {
        rc = sf_err_invalid(err, "product_id", "a cart holds at most %d products", SF_CART_MAX_LINES);
        goto out;
      }
      at = c->nlines++;
      memset(&c->lines[at], 0, sizeof c->lines[at]);
      c->lines[at].added_at = tx->now_ms;
      type = "cart.line_added";
    } else {
      type = "cart.line_updated";
    }
    sf_cart_item *l = &c->lines[at];
    snprintf(l->product_id, sizeof l->product_id, "%s", p.id);
    snprintf(l->sku, sizeof l->sku, "%s", p.sku);
    snprintf(l->name, sizeof l->name, "%s", p.name);
    l->quantity = qty;
    l->unit_price = p.price;
    snprintf(c->currency, sizeof c->currency, "%s", p.currency);
    ev = json_pack("{s:s, s:I, s:I, s:s}", "product_id", l->product_id, "quantity", (json_int_t)qty, "unit_price",
                   (json_int_t)l->unit_price, "currency", p.currency);
  }
  c->version++;
  c->updated_at = tx->now_ms;
  rc = sf_carts_repo_save(tx->db, c, tx->now_ms, err);
  if (!rc)
    rc = cart_event(tx, who, c, type, ev, err);
  else
    json_decref(ev);
  if (!rc) cart_result(out, tx->db, in->op == LINE_ADD && strcmp(type, "cart.line_added") == 0 ? 201 : 200, c, NULL);
out:
  free(c);
  return rc;
}

static int line_target(sf_req *req, line_input *in, sf_err *err) {
  const char *id = sf_req_param(req, "id");
  if (!id || strlen(id) >= sizeof in->cart_id) return sf_err_not_found(err, "cart");
  snprintf(in->cart_id, sizeof in->cart_id, "%s", id);
  const char *pid = sf_req_param(req, "product_id");
  if (pid) {
    if (strlen(pid) >= sizeof in->product_id) return sf_err_not_found(err, "cart line");
    snprintf(in->product_id, sizeof in->product_id, "%s", pid);
  }
  sf_cart_token_of(req, in->token);
  return 0;
}

static void run_line(sf_req *req, line_input *in) {
  sf_err err = {0};
  if (!sf_in_if_match(req, &in->if_match)) {
    free(in);
    return;
  }
  if (line_target(req, in, &err)) {
    free(in);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_submit(req, line_exec, in, free);
}

static const sf_json_field k_add[] = {
    {"product_id", SF_JSON_STRING, 1, 1, 47},
    {"quantity", SF_JSON_INT, 1, 1, MAX_QTY},
    {0},
};
static const sf_json_field k_set[] = {
    {"quantity", SF_JSON_INT, 1, 0, MAX_QTY},
    {0},
};

static void h_add(sf_req *req) {
  json_t *b = sf_in_body(req, k_add);
  if (!b) return;
  line_input *in = sf_calloc(1, sizeof *in);
  in->op = LINE_ADD;
  snprintf(in->product_id, sizeof in->product_id, "%s", sf_json_str(b, "product_id"));
  in->quantity = sf_json_int(b, "quantity", 1);
  json_decref(b);
  run_line(req, in);
}

static void h_set(sf_req *req) {
  json_t *b = sf_in_body(req, k_set);
  if (!b) return;
  line_input *in = sf_calloc(1, sizeof *in);
  in->quantity = sf_json_int(b, "quantity", 0);
  in->op = in->quantity == 0 ? LINE_REMOVE : LINE_SET; /* quantity 0 removes the line */
  json_decref(b);
  run_line(req, in);
}

static void h_remove(sf_req *req) {
  line_input *in = sf_calloc(1, sizeof *in);
  in->op = LINE_REMOVE;
  run_line(req, in);
}

/* ---- the claim on login: a guest cart becomes the user's ---- */

/* Adds the guest cart's lines to the user's open cart. Lines in another
 * currency, or beyond the cart's size, stay behind (named in the event). */
static void merge_lines(sf_cart *into, const sf_cart *from, json_t *skipped) {
  for (int i = 0; i < from->nlines; i++) {
    const sf_cart_item *g = &from->lines[i];
    if (into->currency[0] && from->currency[0] && strcmp(into->currency, from->currency) != 0) {
      json_array_append_new(skipped, json_pack("{s:s, s:s}", "product_id", g->product_id, "reason", "currency"));
      continue;
    }
    int at = find_line(into, g->product_id);
    if (at >= 0) {
      sf_cart_item *l = &into->lines[at];
      l->quantity = l->quantity + g->quantity > MAX_QTY ? MAX_QTY : l->quantity + g->quantity;
      if (g->added_at > l->added_at) l->unit_price = g->unit_price; /* the newer snapshot */
      continue;
    }
    if (into->nlines == SF_CART_MAX_LINES) {
      json_array_append_new(skipped, json_pack("{s:s, s:s}", "product_id", g->product_id, "reason", "cart_full"));
      continue;
    }
    into->lines[into->nlines++] = *g;
    if (!into->currency[0]) snprintf(into->currency, sizeof into->currency, "%s", from->currency);
  }
}

/* The login hook's capture (identity.h): the Cart-Token the login presents. */
static void *claim_capture(const sf_req *req) {
  const char *token = sf_req_header((sf_req *)req, TOKEN_HEADER);
  return token ? sf_strdup(token) : NULL;
}

static int claim_on_login(sf_tx *tx, const sf_actor *who, const char *user_id, const void *captured, json_t *reply,
                          sf_err *err) {
  const char *token = captured;
  const char *dot = token ? strchr(token, '.') : NULL;
  if (!dot || dot == token || (size_t)(dot - token) >= sizeof(((sf_cart *)0)->id)) return 0;
  char id[SF_ID_MAX];
  snprintf(id, sizeof id, "%.*s", (int)(dot - token), token);
  sf_cart *guest = sf_calloc(1, sizeof *guest), *mine = sf_calloc(1, sizeof *mine);
  sf_err lerr = {0};
  int rc = sf_carts_repo_load(tx->db, id, guest, &lerr);
  /* a stale or foreign token never fails a login: the cart is just not claimed */
  if (rc == -404 || (rc == 0 && (!token_opens(token, guest) || strcmp(guest->status, "open") != 0))) {
    rc = 0;
    goto out;
  }
  if (rc) {
    rc = sf_err_internal(err, "%s", lerr.detail);
    goto out;
  }
  if ((rc = sf_carts_repo_load_open_of(tx->db, user_id, mine, err))) goto out;
  if (!mine->id[0]) {
    snprintf(guest->owner_id, sizeof guest->owner_id, "%s", user_id);
    guest->token_hash[0] = '\0';
    guest->version++;
    rc = sf_carts_repo_save(tx->db, guest, tx->now_ms, err);
    if (!rc) rc = cart_event(tx, who, guest, "cart.claimed", json_pack("{s:s}", "owner_id", user_id), err);
    if (!rc) json_object_set_new(reply, "cart_id", json_string(guest->id));
    goto out;
  }
  json_t *skipped = json_array();
  merge_lines(mine, guest, skipped);
  mine->version++;
  snprintf(guest->status, sizeof guest->status, "merged");
  snprintf(guest->merged_into, sizeof guest->merged_into, "%s", mine->id);
  guest->version++;
  rc = sf_carts_repo_save(tx->db, mine, tx->now_ms, err);
  if (!rc) rc = sf_carts_repo_save(tx->db, guest, tx->now_ms, err);
  if (!rc)
    rc = cart_event(tx, who, mine, "cart.merged", json_pack("{s:s, s:O}", "from", guest->id, "skipped", skipped), err);
  if (!rc)
    rc = cart_event(tx, who, guest, "cart.merged_into", json_pack("{s:s, s:s}", "into", mine->id, "owner_id", user_id),
                    err);
  json_decref(skipped);
  if (!rc) json_object_set_new(reply, "cart_id", json_string(mine->id));
out:
  free(guest);
  free(mine);
  return rc;
}

void sf_carts_start(void) {
  static const sf_login_hook hook = {claim_capture, claim_on_login, free};
  sf_identity_on_login(&hook);
}

/* ---- checkout support for the orders service ---- */

int sf_cart_checkout_lines(sf_db *db, const sf_actor *who, const char *token, const char *cart_id, sf_cart_line *lines,
                           int *n, sf_err *err) {
  sf_cart *c = sf_calloc(1, sizeof *c);
  int rc = load_usable(db, who, token, cart_id, c, err);
  if (!rc) rc = require_open(c, err);
  if (!rc && c->nlines == 0) rc = sf_err_invalid(err, "cart_id", "the cart is empty");
  if (!rc) {
    for (int i = 0; i < c->nlines; i++) {
      snprintf(lines[i].product_id, sizeof lines[i].product_id, "%s", c->lines[i].product_id);
      lines[i].quantity = c->lines[i].quantity;
      lines[i].unit_price = c->lines[i].unit_price;
    }
    *n = c->nlines;
  }
  free(c);
  return rc;
}

int sf_cart_mark_checked_out(sf_tx *tx, const sf_actor *who, const char *cart_id, const char *order_id, sf_err *err) {
  sf_cart *c = sf_calloc(1, sizeof *c);
  int rc = sf_carts_repo_load(tx->db, cart_id, c, err);
  if (!rc) {
    snprintf(c->status, sizeof c->status, "checked_out");
    snprintf(c->order_id, sizeof c->order_id, "%s", order_id);
    /* a guest cart checked out by a signed-in caller becomes theirs */
    if (!c->owner_id[0] && sf_actor_is_user(who)) {
      snprintf(c->owner_id, sizeof c->owner_id, "%s", who->user_id);
      c->token_hash[0] = '\0';
    }
    c->version++;
    rc = sf_carts_repo_save(tx->db, c, tx->now_ms, err);
  }
  if (!rc) rc = cart_event(tx, who, c, "cart.checked_out", json_pack("{s:s}", "order_id", order_id), err);
  free(c);
  return rc;
}

/* The request-shaped forms orders still calls (deleted once it has moved). */
/* ---- routes ---- */

#define CART_REF "{\"$ref\":\"#/components/schemas/Cart\"}"

void sf_carts_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/carts", h_create, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_SECRET_REPLY, "carts",
       "Create a cart. Signed in: your open cart (200 when it exists). Guest: the reply carries a token "
       "to send as Cart-Token on later requests and on login",
       "{\"type\":\"object\",\"additionalProperties\":false}", CART_REF, 201, 0, .statuses = "200",
       .headers = "Cart-Token"},
      {"GET", "/api/v1/carts/{id}", h_get, SF_AUTH_OPTIONAL, NULL, 0, "carts",
       "Get a cart (its owner, or Cart-Token for a guest cart), with current prices beside the snapshot", NULL,
       CART_REF, 200, 0, .headers = "Cart-Token"},
      {"POST", "/api/v1/carts/{id}/lines", h_add, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_IF_MATCH, "carts",
       "Add a product (adds to the quantity of an existing line); snapshots the price (honours If-Match)",
       "{\"type\":\"object\",\"required\":[\"product_id\",\"quantity\"],\"additionalProperties\":false,"
       "\"properties\":{\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\",\"minimum\":1,"
       "\"maximum\":1000}}}",
       CART_REF, 201, 0, .statuses = "200", .headers = "Cart-Token"},
      {"PATCH", "/api/v1/carts/{id}/lines/{product_id}", h_set, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_IF_MATCH, "carts",
       "Set a line's quantity (0 removes it); takes the current price (honours If-Match)",
       "{\"type\":\"object\",\"required\":[\"quantity\"],\"additionalProperties\":false,"
       "\"properties\":{\"quantity\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000}}}",
       CART_REF, 200, 0, .headers = "Cart-Token"},
      {"DELETE", "/api/v1/carts/{id}/lines/{product_id}", h_remove, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_IF_MATCH, "carts",
       "Remove a line (honours If-Match)", NULL, CART_REF, 200, 0, .headers = "Cart-Token"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
  sf_idem_credential_header(TOKEN_HEADER); /* a guest's replays need the cart's token */
}
