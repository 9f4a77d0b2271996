/* Inventory: /api/v1/inventory/{product_id}, adjustments, /api/v1/reservations. */
#include "services/inventory/inventory.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "events/timers.h"
#include "services/catalog/catalog.h"
#include "services/inventory/repo.h"

#define MAX_LINES SF_INV_MAX_LINES
#define DEFAULT_TTL_S 900
#define MAX_TTL_S 3600
#define EXPIRE_KIND "reservation.expire"

static json_t *stock_json(const sf_stock *s) {
  return json_pack("{s:s, s:I, s:I, s:I, s:I}", "product_id", s->product_id, "on_hand", (json_int_t)s->on_hand,
                   "reserved", (json_int_t)s->reserved, "available", (json_int_t)(s->on_hand - s->reserved), "version",
                   (json_int_t)s->version);
}

static void stock_result(sf_result *out, int status, const sf_stock *s) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", s->version);
  sf_result_json(out, status, stock_json(s));
  sf_result_header(out, "ETag", etag);
}

/* ---- GET /inventory/{product_id} ---- */

static void h_stock_get(sf_req *req) {
  const char *pid = sf_req_param(req, "product_id");
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_product_ref p;
  sf_stock s;
  if (!db || sf_catalog_product_ref(db, pid, &p, &err) || sf_inv_repo_load_stock(db, pid, &s, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  /* drafts and archived products do not exist for customers (as in the catalog) */
  if (strcmp(p.status, "active") != 0 && !sf_edge_role_allows(req->principal.role, "inventory:write")) {
    sf_err_not_found(&err, "product");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_result out = {0};
  stock_result(&out, 200, &s);
  sf_req_reply_result(req, &out);
}

/* ---- POST /inventory/{product_id}/adjustments ---- */

static const sf_json_field k_adjust[] = {
    {"delta", SF_JSON_INT, 1, -1000000000LL, 1000000000LL},
    {"reason", SF_JSON_STRING, 1, 1, 200},
    {0},
};

typedef struct {
  char product_id[SF_ID_MAX];
  int64_t delta;
  sf_if_match if_match;
  char reason[808];
} adjust_input;

static int adjust_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  adjust_input *in = data;
  sf_product_ref p;
  sf_stock s;
  int rc = sf_catalog_product_ref(tx->db, in->product_id, &p, err);
  if (!rc) rc = sf_inv_repo_load_stock(tx->db, in->product_id, &s, err);
  if (!rc) rc = sf_precondition(in->if_match, s.version, err);
  if (rc) return rc;
  if (s.on_hand + in->delta < s.reserved)
    return sf_err_set(err, 409, "insufficient-stock", "Insufficient stock",
                      "on hand %" PRId64 " with %" PRId64 " reserved cannot change by %" PRId64, s.on_hand, s.reserved,
                      in->delta);
  s.on_hand += in->delta;
  s.version++;
  if ((rc = sf_inv_repo_save_stock(tx->db, &s, tx->now_ms, err))) return rc;
  rc = sf_ev_emit(tx, who, "stock", s.product_id, "stock.adjusted",
                  json_pack("{s:s, s:I, s:s, s:I}", "product_id", s.product_id, "delta", (json_int_t)in->delta,
                            "reason", in->reason, "on_hand", (json_int_t)s.on_hand),
                  err);
  if (!rc) stock_result(out, 200, &s);
  return rc;
}

static void h_adjust(sf_req *req) {
  sf_if_match if_match;
  if (!sf_in_if_match(req, &if_match)) return;
  json_t *b = sf_in_body(req, k_adjust);
  if (!b) return;
  adjust_input *in = sf_calloc(1, sizeof *in);
  in->delta = sf_json_int(b, "delta", 0);
  in->if_match = if_match;
  snprintf(in->reason, sizeof in->reason, "%s", sf_json_str(b, "reason"));
  snprintf(in->product_id, sizeof in->product_id, "%s", sf_req_param(req, "product_id"));
  json_decref(b);
  if (in->delta == 0) {
    free(in);
    sf_err err = {0};
    sf_err_invalid(&err, "delta", "must not be 0");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_submit(req, adjust_exec, in, free);
}

/* ---- reservations ---- */

static json_t *items_json(const sf_reservation *r) {
  json_t *items = json_array();
  for (int i = 0; i < r->nlines; i++)
    json_array_append_new(items, json_pack("{s:s, s:I}", "product_id", r->lines[i].product_id, "quantity",
                                           (json_int_t)r->lines[i].quantity));
  return items;
}

static json_t *reservation_json(const sf_reservation *r) {
  char exp[32], created[32];
  sf_time_iso8601(r->expires_at, exp, sizeof exp);
  sf_time_iso8601(r->created_at, created, sizeof created);
  json_t *items = items_json(r);
  return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "id", r->id, "owner", r->owner, "status", r->status, "items",
                   items, "expires_at", r->expires_at ? json_string(exp) : json_null(), "created_at", created);
}

typedef struct {
  sf_reservation r;
  int64_t ttl_s;
} reserve_input;

/* Checks and holds stock for r (lines filled); fills r's id, status, times. */
static int do_reserve(sf_tx *tx, const sf_actor *who, sf_reservation *r, int64_t ttl_ms, sf_err *err) {
  sf_id_new("rsv", r->id, sizeof r->id);
  snprintf(r->status, sizeof r->status, "active");
  r->created_at = tx->now_ms;
  r->expires_at = ttl_ms > 0 ? tx->now_ms + ttl_ms : 0; /* 0: held until released or committed */
  int rc = 0;
  /* check every line first so the problem names every short product */
  sf_stock s[MAX_LINES];
  for (int i = 0; i < r->nlines; i++) {
    sf_product_ref p;
    sf_err perr = {0};
    char field[32];
    snprintf(field, sizeof field, "items[%d].product_id", i);
    int prc = sf_catalog_product_ref(tx->db, r->lines[i].product_id, &p, &perr);
    if (prc == -404 || (prc == 0 && strcmp(p.status, "active") != 0)) {
      sf_err_field_add(err, field, "no such product for sale");
      continue;
    }
    if (prc) return prc == -500 ? sf_err_internal(err, "%s", perr.detail) : prc;
    if ((rc = sf_inv_repo_load_stock(tx->db, r->lines[i].product_id, &s[i], err))) return rc;
  }
  if (err->nfields) return sf_err_set(err, 422, "validation", "Validation failed", "some items cannot be reserved");
  for (int i = 0; i < r->nlines; i++) {
    int64_t available = s[i].on_hand - s[i].reserved;
    if (available < r->lines[i].quantity) {
      char field[32];
      snprintf(field, sizeof field, "items[%d].quantity", i);
      sf_err_field_add(err, field, "%" PRId64 " requested, %" PRId64 " available", r->lines[i].quantity,
                       available < 0 ? 0 : available);
    }
  }
  if (err->nfields)
    return sf_err_set(err, 409, "insufficient-stock", "Insufficient stock",
                      "not enough stock for every item; nothing was reserved");
  for (int i = 0; i < r->nlines; i++) {
    s[i].reserved += r->lines[i].quantity;
    s[i].version++;
    if ((rc = sf_inv_repo_save_stock(tx->db, &s[i], tx->now_ms, err))) return rc;
  }
  if ((rc = sf_inv_repo_insert_reservation(tx->db, r, tx->now_ms, err))) return rc;
  json_t *ev = reservation_json(r);
  json_object_del(ev, "id");
  json_object_del(ev, "created_at");
  if ((rc = sf_ev_emit(tx, who, "reservation", r->id, "reservation.created", ev, err))) return rc;
  return r->expires_at ? sf_timer_set(tx, EXPIRE_KIND, r->id, r->expires_at, err) : 0;
}

/* ---- stock held directly by an order ---- */

int sf_inv_hold(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err) {
  if (n < 1 || n > MAX_LINES) return sf_err_invalid(err, "items", "must hold 1 to %d items", MAX_LINES);
  sf_stock s[MAX_LINES];
  int rc;
  for (int i = 0; i < n; i++) {
    if ((rc = sf_inv_repo_load_stock(tx->db, lines[i].product_id, &s[i], err))) return rc;
    int64_t available = s[i].on_hand - s[i].reserved;
    if (available < lines[i].quantity) {
      char field[32];
      snprintf(field, sizeof field, "items[%d].quantity", i);
      sf_err_field_add(err, field, "%" PRId64 " requested, %" PRId64 " available", lines[i].quantity,
                       available < 0 ? 0 : available);
    }
  }
  if (err->nfields)
    return sf_err_set(err, 409, "insufficient-stock", "Insufficient stock",
                      "not enough stock for every item; nothing was reserved");
  for (int i = 0; i < n; i++) {
    s[i].reserved += lines[i].quantity;
    s[i].version++;
    if ((rc = sf_inv_repo_save_stock(tx->db, &s[i], tx->now_ms, err))) return rc;
  }
  return 0;
}

/* Moves held units: d_on_hand and d_reserved per unit (-1 or 0). */
static int move_held(sf_tx *tx, const sf_inv_line *lines, int n, int d_on_hand, sf_err *err) {
  for (int i = 0; i < n; i++) {
    sf_stock s;
    int rc = sf_inv_repo_load_stock(tx->db, lines[i].product_id, &s, err);
    if (rc) return rc;
    s.reserved -= lines[i].quantity;
    s.on_hand += d_on_hand * lines[i].quantity;
    if (s.reserved < 0 || s.on_hand < 0) return sf_err_internal(err, "stock of %s would go negative", s.product_id);
    s.version++;
    if ((rc = sf_inv_repo_save_stock(tx->db, &s, tx->now_ms, err))) return rc;
  }
  return 0;
}

int sf_inv_unhold(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err) { return move_held(tx, lines, n, 0, err); }

int sf_inv_sell(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err) { return move_held(tx, lines, n, -1, err); }

static int reserve_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  reserve_input *in = data;
  sf_reservation *r = &in->r;
  snprintf(r->owner, sizeof r->owner, "%s", who->user_id ? who->user_id : "");
  int rc = do_reserve(tx, who, r, in->ttl_s * 1000, err);
  if (rc) return rc;
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/reservations/%s", r->id);
  sf_result_json(out, 201, reservation_json(r));
  sf_result_header(out, "Location", loc);
  return 0;
}

static const sf_json_field k_reserve[] = {
    {"items", SF_JSON_ARRAY, 1, 0, 0},
    {"ttl_seconds", SF_JSON_INT, 0, 1, MAX_TTL_S},
    {0},
};

static void h_reserve(sf_req *req) {
  json_t *b = sf_in_body(req, k_reserve);
  if (!b) return;
  sf_err err = {0};
  reserve_input *in = sf_calloc(1, sizeof *in);
  in->ttl_s = sf_json_int(b, "ttl_seconds", DEFAULT_TTL_S);
  sf_in_item lines[MAX_LINES];
  in->r.nlines = sf_in_items(json_object_get(b, "items"), lines, MAX_LINES, &err);
  for (int k = 0; k < in->r.nlines; k++) {
    sf_strlcpy(in->r.lines[k].product_id, lines[k].product_id, sizeof in->r.lines[k].product_id);
    in->r.lines[k].quantity = lines[k].quantity;
  }
  json_decref(b);
  if (err.nfields) {
    free(in);
    sf_err_set(&err, 422, "validation", "Validation failed", "the request body has invalid fields");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_submit(req, reserve_exec, in, free);
}

static int may_see(const sf_actor *who, const sf_reservation *r) {
  return (sf_actor_is_user(who) && strcmp(r->owner, who->user_id) == 0) ||
         sf_edge_role_allows(who->role, "inventory:write");
}

static void h_reservation_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_reservation *r = sf_arena_alloc(&req->arena, sizeof *r);
  if (!db || sf_inv_repo_load_reservation(db, sf_req_param(req, "id"), r, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_actor who;
  sf_req_actor(req, &who);
  if (!may_see(&who, r)) {
    sf_err_not_found(&err, "reservation"); /* do not reveal other people's reservations */
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, reservation_json(r));
}

/* Gives the units back and marks the reservation; cause "released" or "expired". */
static int release(sf_tx *tx, const sf_actor *who, sf_reservation *r, const char *cause, sf_err *err) {
  for (int i = 0; i < r->nlines; i++) {
    sf_stock s;
    int rc = sf_inv_repo_load_stock(tx->db, r->lines[i].product_id, &s, err);
    if (rc) return rc;
    s.reserved -= r->lines[i].quantity;
    if (s.reserved < 0) return sf_err_internal(err, "reserved stock of %s would go negative", s.product_id);
    s.version++;
    if ((rc = sf_inv_repo_save_stock(tx->db, &s, tx->now_ms, err))) return rc;
  }
  const char *status = strcmp(cause, "expired") == 0 ? "expired" : "released";
  int rc = sf_inv_repo_set_reservation_status(tx->db, r->id, status, tx->now_ms, err);
  if (!rc) /* items: what stock:<product> subscribers see move (events before them lack it) */
    rc = sf_ev_emit(tx, who, "reservation", r->id, "reservation.released",
                    json_pack("{s:s, s:o}", "cause", cause, "items", items_json(r)), err);
  if (!rc) snprintf(r->status, sizeof r->status, "%s", status);
  return rc;
}

int sf_inv_release(sf_tx *tx, const sf_actor *who, const char *id, const char *cause, sf_err *err) {
  sf_reservation *r = malloc(sizeof *r);
  int rc = sf_inv_repo_load_reservation(tx->db, id, r, err);
  if (!rc && strcmp(r->status, "active") == 0) {
    rc = release(tx, who, r, cause, err);
    if (!rc && r->expires_at) rc = sf_timer_cancel(tx, EXPIRE_KIND, r->id, err);
  }
  free(r);
  return rc;
}

int sf_inv_commit(sf_tx *tx, const sf_actor *who, const char *id, sf_err *err) {
  sf_reservation *r = malloc(sizeof *r);
  int rc = sf_inv_repo_load_reservation(tx->db, id, r, err);
  if (!rc && strcmp(r->status, "active") != 0)
    rc = sf_err_conflict(err, "reservation %s is %s, not active", id, r->status);
  for (int i = 0; !rc && i < r->nlines; i++) {
    sf_stock s;
    if ((rc = sf_inv_repo_load_stock(tx->db, r->lines[i].product_id, &s, err))) break;
    s.reserved -= r->lines[i].quantity;
    s.on_hand -= r->lines[i].quantity;
    if (s.reserved < 0 || s.on_hand < 0) {
      rc = sf_err_internal(err, "stock of %s would go negative", s.product_id);
      break;
    }
    s.version++;
    rc = sf_inv_repo_save_stock(tx->db, &s, tx->now_ms, err);
  }
  if (!rc) rc = sf_inv_repo_set_reservation_status(tx->db, id, "committed", tx->now_ms, err);
  if (!rc)
    rc = sf_ev_emit(tx, who, "reservation", id, "reservation.committed", json_pack("{s:o}", "items", items_json(r)),
                    err);
  if (!rc && r->expires_at) rc = sf_timer_cancel(tx, EXPIRE_KIND, id, err);
  free(r);
  return rc;
}

typedef struct {
  char id[SF_ID_MAX];
} release_input;

static int release_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  release_input *in = data;
  sf_reservation *r = malloc(sizeof *r);
  int rc = sf_inv_repo_load_reservation(tx->db, in->id, r, err);
  if (!rc && !may_see(who, r)) rc = sf_err_not_found(err, "reservation");
  if (!rc && strcmp(r->status, "active") != 0) rc = sf_err_conflict(err, "the reservation is already %s", r->status);
  if (!rc) rc = release(tx, who, r, "released", err);
  if (!rc) rc = sf_timer_cancel(tx, EXPIRE_KIND, r->id, err);
  if (!rc) sf_result_json(out, 200, reservation_json(r));
  free(r);
  return rc;
}

static void h_release(sf_req *req) {
  release_input *in = sf_calloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  sf_req_submit(req, release_exec, in, free);
}

/* The durable timer: releases a reservation still active at expiry. */
static int expire_timer(sf_tx *tx, const char *ref, sf_err *err) {
  sf_reservation *r = malloc(sizeof *r);
  int rc = sf_inv_repo_load_reservation(tx->db, ref, r, err);
  if (rc == -404)
    rc = 0, r->status[0] = '\0'; /* gone: nothing to do */
  else if (!rc && strcmp(r->status, "active") == 0)
    rc = release(tx, NULL, r, "expired", err);
  free(r);
  return rc;
}

void sf_inventory_timers(void) { sf_timer_register(EXPIRE_KIND, expire_timer); }

#define STOCK_REF "{\"$ref\":\"#/components/schemas/Stock\"}"
#define RESERVATION_REF "{\"$ref\":\"#/components/schemas/Reservation\"}"

void sf_inventory_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/inventory/{product_id}", h_stock_get, SF_AUTH_USER, NULL, 0, "inventory",
       "Stock of a product: on hand, reserved, available", NULL, STOCK_REF, 200, 0},
      {"POST", "/api/v1/inventory/{product_id}/adjustments", h_adjust, SF_AUTH_PERMISSION, "inventory:write",
       SF_ROUTE_IF_MATCH, "inventory", "Adjust on-hand stock with a reason (honours If-Match)",
       "{\"type\":\"object\",\"required\":[\"delta\",\"reason\"],\"additionalProperties\":false,"
       "\"properties\":{\"delta\":{\"type\":\"integer\",\"not\":{\"const\":0}},"
       "\"reason\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200}}}",
       STOCK_REF, 200, 0},
      {"POST", "/api/v1/reservations", h_reserve, SF_AUTH_USER, NULL, 0, "inventory",
       "Reserve stock for a while (all items or none; 409 when short)",
       "{\"type\":\"object\",\"required\":[\"items\"],\"additionalProperties\":false,\"properties\":{"
       "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":50,\"items\":{\"type\":\"object\","
       "\"required\":[\"product_id\",\"quantity\"],\"additionalProperties\":false,\"properties\":{"
       "\"product_id\":{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}}},"
       "\"ttl_seconds\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"default\":900}}}",
       RESERVATION_REF, 201, 0},
      {"GET", "/api/v1/reservations/{id}", h_reservation_get, SF_AUTH_USER, NULL, 0, "inventory",
       "Get a reservation (its owner or inventory:write)", NULL, RESERVATION_REF, 200, 0},
      {"DELETE", "/api/v1/reservations/{id}", h_release, SF_AUTH_USER, NULL, 0, "inventory",
       "Release a reservation now", NULL, RESERVATION_REF, 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
