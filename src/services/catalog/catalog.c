/* Catalog: /api/v1/products and /api/v1/categories. */
#include "services/catalog/catalog.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/input.h"

#define PRODUCT_COLS                                                                                                   \
  "seq, id, sku, name, description, price, currency, attributes, status, category_id, "                                \
  "version, created_at, updated_at"

typedef struct {
  int64_t seq;
  char id[48];
  char sku[72];
  char name[208];
  char description[4100];
  int64_t price;
  char currency[4];
  char *attributes; /* JSON text, malloc'd */
  char status[16];
  char category_id[48];
  int64_t version, created_at, updated_at;
} product;

static sf_cache *g_products;

void sf_catalog_start(void) {
  if (g_products) return;
  g_products = sf_cache_new("products", 100000);
  sf_cache_register_metrics(g_products);
}

void sf_catalog_stop(void) {
  sf_cache_free(g_products);
  g_products = NULL;
}

/* ---- rows ---- */

static void row_product(sf_stmt *st, product *p) {
  p->seq = sf_stmt_col_int(st, 0);
  sf_stmt_col_copy(st, 1, p->id, sizeof p->id);
  sf_stmt_col_copy(st, 2, p->sku, sizeof p->sku);
  sf_stmt_col_copy(st, 3, p->name, sizeof p->name);
  sf_stmt_col_copy(st, 4, p->description, sizeof p->description);
  p->price = sf_stmt_col_int(st, 5);
  sf_stmt_col_copy(st, 6, p->currency, sizeof p->currency);
  free(p->attributes);
  const char *a = sf_stmt_col_text(st, 7);
  p->attributes = strdup(a ? a : "{}");
  sf_stmt_col_copy(st, 8, p->status, sizeof p->status);
  sf_stmt_col_copy(st, 9, p->category_id, sizeof p->category_id);
  p->version = sf_stmt_col_int(st, 10);
  p->created_at = sf_stmt_col_int(st, 11);
  p->updated_at = sf_stmt_col_int(st, 12);
}

static int load_product(sf_db *db, const char *id, product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " PRODUCT_COLS " FROM products WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) row_product(st, p);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "product");
  return rc < 0 ? rc : 0;
}

int sf_catalog_product_ref(sf_db *db, const char *id, sf_product_ref *out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT id, sku, name, currency, status, price FROM products WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, out->id, sizeof out->id);
    sf_stmt_col_copy(st, 1, out->sku, sizeof out->sku);
    sf_stmt_col_copy(st, 2, out->name, sizeof out->name);
    sf_stmt_col_copy(st, 3, out->currency, sizeof out->currency);
    sf_stmt_col_copy(st, 4, out->status, sizeof out->status);
    out->price = sf_stmt_col_int(st, 5);
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "product");
  return rc < 0 ? rc : 0;
}

static json_t *product_json(const product *p) {
  char created[32], updated[32];
  sf_time_iso8601(p->created_at, created, sizeof created);
  sf_time_iso8601(p->updated_at, updated, sizeof updated);
  json_t *attrs = json_loads(p->attributes ? p->attributes : "{}", 0, NULL);
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:s, s:o, s:I, s:s, s:s}", "id", p->id, "sku", p->sku, "name",
                   p->name, "description", p->description, "price", (json_int_t)p->price, "currency", p->currency,
                   "attributes", attrs ? attrs : json_object(), "status", p->status, "category_id",
                   p->category_id[0] ? json_string(p->category_id) : json_null(), "version", (json_int_t)p->version,
                   "created_at", created, "updated_at", updated);
}

static void reply_product(sf_req *req, int status, const product *p) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", p->version);
  sf_req_reply_json(req, status, product_json(p));
  sf_req_add_header(req, "ETag", etag);
}

static int can_write(const sf_req *req) {
  return req->principal.authenticated && sf_edge_role_allows(req->principal.role, "catalog:write");
}

/* ---- validation ---- */

static int valid_sku(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
  return 1;
}

static int valid_currency(const char *s) {
  return strlen(s) == 3 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1]) && isupper((unsigned char)s[2]);
}

static int valid_status(const char *s) {
  return strcmp(s, "draft") == 0 || strcmp(s, "active") == 0 || strcmp(s, "archived") == 0;
}

#define ATTRIBUTES_MAX 8192

/* Field checks beyond types and lengths; all problems are collected. */
static int check_product_fields(json_t *b, sf_err *err) {
  const char *s;
  if ((s = sf_json_str(b, "sku")) && !valid_sku(s))
    sf_err_field_add(err, "sku", "may contain only letters, digits, '-', '_' and '.'");
  if ((s = sf_json_str(b, "currency")) && !valid_currency(s))
    sf_err_field_add(err, "currency", "must be an ISO 4217 code such as \"EUR\"");
  if ((s = sf_json_str(b, "status")) && !valid_status(s))
    sf_err_field_add(err, "status", "must be one of draft, active, archived");
  json_t *a = json_object_get(b, "attributes");
  if (a && json_is_object(a)) {
    char *t = sf_json_dump(a, NULL);
    if (strlen(t) > ATTRIBUTES_MAX) sf_err_field_add(err, "attributes", "must serialise to at most 8192 bytes");
    free(t);
  }
  if (err->nfields)
    return sf_err_set(err, 422, "validation", "Validation failed", "the request body has invalid fields");
  return 0;
}

static int check_category(sf_tx *tx, const char *category_id, sf_err *err) {
  if (!category_id || !*category_id) return 0;
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT 1 FROM categories WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, category_id);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  if (rc == 0) return sf_err_invalid(err, "category_id", "no such category");
  return 0;
}

static int sku_taken(sf_tx *tx, const char *sku, const char *except_id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT id FROM products WHERE sku = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, sku);
  int rc = sf_stmt_step(st, err);
  int taken = rc == 1 && (!except_id || strcmp(sf_stmt_col_text(st, 0), except_id) != 0);
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  if (taken) return sf_err_conflict(err, "a product with sku '%s' already exists", sku);
  return 0;
}

/* ---- events, cache ---- */

static void invalidate(void *ud, const char *key) { sf_cache_invalidate(ud, key); }

static int product_event(sf_tx *tx, const sf_req *req, const product *p, const char *type, json_t *data, sf_err *err) {
  char stream[128];
  snprintf(stream, sizeof stream, "product-%s", p->id);
  sf_ev_meta meta = {0};
  if (req) sf_req_meta(req, &meta);
  int rc = sf_ev_append(tx, stream, p->version - 1, type, data, &meta, NULL, err);
  json_decref(data);
  if (rc == 0 && g_products) sf_tx_after_commit(tx, invalidate, g_products, p->id);
  return rc;
}

static int insert_product(sf_tx *tx, product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO products(id, sku, name, description, price, currency, attributes,"
                              " status, category_id, version, created_at, updated_at)"
                              " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, p->id);
  sf_stmt_text(st, 2, p->sku);
  sf_stmt_text(st, 3, p->name);
  sf_stmt_text(st, 4, p->description);
  sf_stmt_int(st, 5, p->price);
  sf_stmt_text(st, 6, p->currency);
  sf_stmt_text(st, 7, p->attributes);
  sf_stmt_text(st, 8, p->status);
  sf_stmt_text(st, 9, p->category_id[0] ? p->category_id : NULL);
  sf_stmt_int(st, 10, p->version);
  sf_stmt_int(st, 11, p->created_at);
  sf_stmt_int(st, 12, p->updated_at);
  return sf_stmt_run(st, err);
}

static int update_product(sf_tx *tx, const product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE products SET sku = ?, name = ?, description = ?, price = ?, currency = ?,"
                              " attributes = ?, status = ?, category_id = ?, version = ?, updated_at = ?"
                              " WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, p->sku);
  sf_stmt_text(st, 2, p->name);
  sf_stmt_text(st, 3, p->description);
  sf_stmt_int(st, 4, p->price);
  sf_stmt_text(st, 5, p->currency);
  sf_stmt_text(st, 6, p->attributes);
  sf_stmt_text(st, 7, p->status);
  sf_stmt_text(st, 8, p->category_id[0] ? p->category_id : NULL);
  sf_stmt_int(st, 9, p->version);
  sf_stmt_int(st, 10, p->updated_at);
  sf_stmt_text(st, 11, p->id);
  return sf_stmt_run(st, err);
}

/* ---- POST /products ---- */

static const sf_json_field k_product_create[] = {
    {"sku", SF_JSON_STRING, 1, 1, 64},
    {"name", SF_JSON_STRING, 1, 1, 200},
    {"description", SF_JSON_STRING, 0, 0, 4000},
    {"price", SF_JSON_INT, 1, 0, 1000000000000LL},
    {"currency", SF_JSON_STRING, 1, 3, 3},
    {"attributes", SF_JSON_OBJECT, 0, 0, 0},
    {"status", SF_JSON_STRING, 0, 1, 16},
    {"category_id", SF_JSON_STRING, 0, 1, 47},
    {0},
};

typedef struct {
  json_t *body;
  char id[48];
  sf_if_match if_match;
} product_input;

static void free_input(void *d) {
  product_input *in = d;
  json_decref(in->body);
  free(in);
}

/* Copies the body's fields present into p. */
static void apply_fields(product *p, json_t *b) {
  const char *s;
  if ((s = sf_json_str(b, "sku"))) snprintf(p->sku, sizeof p->sku, "%s", s);
  if ((s = sf_json_str(b, "name"))) snprintf(p->name, sizeof p->name, "%s", s);
  if ((s = sf_json_str(b, "description"))) snprintf(p->description, sizeof p->description, "%s", s);
  if (json_is_integer(json_object_get(b, "price"))) p->price = sf_json_int(b, "price", 0);
  if ((s = sf_json_str(b, "currency"))) snprintf(p->currency, sizeof p->currency, "%s", s);
  if ((s = sf_json_str(b, "status"))) snprintf(p->status, sizeof p->status, "%s", s);
  json_t *cat = json_object_get(b, "category_id");
  if (cat && json_is_null(cat))
    p->category_id[0] = '\0';
  else if ((s = sf_json_str(b, "category_id")))
    snprintf(p->category_id, sizeof p->category_id, "%s", s);
  json_t *a = json_object_get(b, "attributes");
  if (a && json_is_object(a)) {
    free(p->attributes);
    p->attributes = sf_json_dump(a, NULL);
  }
}

static int create_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  product_input *in = data;
  product p = {0};
  sf_id_new("prd", p.id, sizeof p.id);
  snprintf(p.status, sizeof p.status, "draft");
  p.attributes = strdup("{}");
  apply_fields(&p, in->body);
  p.version = 1;
  p.created_at = p.updated_at = tx->now_ms;
  int rc = check_category(tx, p.category_id, err);
  if (!rc) rc = sku_taken(tx, p.sku, NULL, err);
  if (!rc) rc = insert_product(tx, &p, err);
  if (!rc) rc = product_event(tx, req, &p, "product.created", product_json(&p), err);
  if (!rc) {
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/products/%s", p.id);
    reply_product(req, 201, &p);
    sf_req_add_header(req, "Location", loc);
  }
  free(p.attributes);
  return rc;
}

static void h_create(sf_req *req) {
  json_t *b = sf_in_body(req, k_product_create);
  if (!b) return;
  sf_err err = {0};
  if (check_product_fields(b, &err)) {
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  product_input *in = sf_calloc(1, sizeof *in);
  in->body = b;
  sf_req_command(req, create_exec, in, free_input);
}

/* ---- PATCH /products/{id} ---- */

static const sf_json_field k_product_patch[] = {
    {"sku", SF_JSON_STRING, 0, 1, 64},
    {"name", SF_JSON_STRING, 0, 1, 200},
    {"description", SF_JSON_STRING, 0, 0, 4000},
    {"price", SF_JSON_INT, 0, 0, 1000000000000LL},
    {"currency", SF_JSON_STRING, 0, 3, 3},
    {"attributes", SF_JSON_OBJECT, 0, 0, 0},
    {"status", SF_JSON_STRING, 0, 1, 16},
    {"category_id", SF_JSON_ANY, 0, 0, 0},
    {0},
};

static int patch_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  product_input *in = data;
  product p = {0}, old = {0};
  int rc = load_product(tx->db, in->id, &p, err);
  if (!rc) rc = sf_precondition(in->if_match, p.version, err);
  if (rc) {
    free(p.attributes);
    return rc;
  }
  old = p;
  old.attributes = strdup(p.attributes);
  apply_fields(&p, in->body);
  /* the event records the fields that changed, with their new values */
  json_t *changes = json_object();
  json_t *now = product_json(&p), *before = product_json(&old);
  const char *key;
  json_t *v;
  json_object_foreach(now, key, v) {
    if (strcmp(key, "version") == 0 || strcmp(key, "updated_at") == 0) continue;
    if (!json_equal(v, json_object_get(before, key))) json_object_set(changes, key, v);
  }
  json_decref(now);
  json_decref(before);
  if (json_object_size(changes) > 0) {
    p.version++;
    p.updated_at = tx->now_ms;
    if (json_object_get(changes, "category_id")) rc = check_category(tx, p.category_id, err);
    if (!rc && json_object_get(changes, "sku")) rc = sku_taken(tx, p.sku, p.id, err);
    if (!rc) rc = update_product(tx, &p, err);
    if (!rc) rc = product_event(tx, req, &p, "product.updated", json_incref(changes), err);
  }
  json_decref(changes);
  if (!rc) reply_product(req, 200, &p);
  free(p.attributes);
  free(old.attributes);
  return rc;
}

static void h_patch(sf_req *req) {
  sf_if_match if_match;
  if (!sf_in_if_match(req, &if_match)) return;
  json_t *b = sf_in_body(req, k_product_patch);
  if (!b) return;
  sf_err err = {0};
  json_t *cat = json_object_get(b, "category_id");
  if (cat && !json_is_null(cat) && (!json_is_string(cat) || !json_string_length(cat) || json_string_length(cat) > 47))
    sf_err_field_add(&err, "category_id", "must be a category id or null");
  if (check_product_fields(b, &err) || err.nfields) {
    if (!err.status) sf_err_set(&err, 422, "validation", "Validation failed", "the request body has invalid fields");
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  product_input *in = sf_calloc(1, sizeof *in);
  in->body = b;
  in->if_match = if_match;
  snprintf(in->id, sizeof in->id, "%s", sf_req_param(req, "id"));
  sf_req_command(req, patch_exec, in, free_input);
}

/* ---- GET /products/{id} (cache-aside; only active products are cached) ---- */

static void h_get(sf_req *req) {
  const char *id = sf_req_param(req, "id");
  size_t len;
  char etag[32];
  uint64_t gen = sf_cache_gen(g_products, id);
  char *body = sf_cache_get(g_products, id, &len, etag, sizeof etag);
  if (body) {
    sf_req_reply(req, 200, "application/json", body, len);
    sf_req_add_header(req, "ETag", etag);
    return;
  }
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  product p = {0};
  if (!db || load_product(db, id, &p, &err)) {
    free(p.attributes);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (strcmp(p.status, "active") != 0 && !can_write(req)) {
    free(p.attributes);
    sf_err_not_found(&err, "product");
    sf_req_reply_problem(req, &err);
    return;
  }
  reply_product(req, 200, &p);
  if (strcmp(p.status, "active") == 0) {
    snprintf(etag, sizeof etag, "\"%" PRId64 "\"", p.version);
    sf_cache_put(g_products, id, gen, req->resp_body, req->resp_len, etag);
  }
  free(p.attributes);
}

/* ---- GET /products ---- */

static void h_list(sf_req *req) {
  int limit;
  long long min_price = 0, max_price = 1000000000000LL, cursor = 0;
  int has_cursor = 0;
  if (!sf_in_limit(req, &limit) || !sf_in_query_int(req, "min_price", 0, 1000000000000LL, &min_price, NULL) ||
      !sf_in_query_int(req, "max_price", 0, 1000000000000LL, &max_price, NULL))
    return;
  sf_err err = {0};
  const char *c = sf_req_query(req, "cursor");
  if (c) {
    char *end;
    cursor = strtoll(c, &end, 10);
    if (!*c || *end || cursor <= 0) {
      sf_err_invalid(&err, "cursor", "is not a cursor returned by this list");
      sf_req_reply_problem(req, &err);
      return;
    }
    has_cursor = 1;
  }
  const char *status = sf_req_query(req, "status");
  if (status && !valid_status(status)) {
    sf_err_invalid(&err, "status", "must be one of draft, active, archived");
    sf_req_reply_problem(req, &err);
    return;
  }
  if (status && strcmp(status, "active") != 0 && !can_write(req)) {
    sf_err_set(&err, 403, "forbidden", "Forbidden", "only catalog:write roles may list %s products", status);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (!status && !can_write(req)) status = "active";
  const char *category = sf_req_query(req, "category_id");
  char match[512];
  if (!sf_in_search(req, "q", match, sizeof match)) return;
  const char *q = match[0] ? match : NULL;
  sf_db *db = sf_db_reader(&err);
  if (!db) {
    sf_req_reply_problem(req, &err);
    return;
  }
  /* One statement per driving filter, each searching its own index (the
   * query-plan test checks them); the other filters are neutral when unbound. */
  sf_stmt *st;
  if (q)
    st = sf_db_prepare(db,
                       "SELECT " PRODUCT_COLS " FROM products WHERE seq IN"
                       " (SELECT rowid FROM products_fts WHERE products_fts MATCH ?1)"
                       " AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR category_id = ?3)"
                       " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7",
                       &err);
  else if (category)
    st = sf_db_prepare(db,
                       "SELECT " PRODUCT_COLS " FROM products WHERE category_id = ?3 AND (?2 IS NULL OR status = ?2)"
                       " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7",
                       &err);
  else if (status)
    st = sf_db_prepare(db,
                       "SELECT " PRODUCT_COLS " FROM products WHERE status = ?2"
                       " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7",
                       &err);
  else
    st = sf_db_prepare(db,
                       "SELECT " PRODUCT_COLS " FROM products WHERE price BETWEEN ?4 AND ?5 AND seq < ?6"
                       " ORDER BY seq DESC LIMIT ?7",
                       &err);
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  if (q) sf_stmt_text(st, 1, match);
  if (q || category || status) sf_stmt_text(st, 2, status);
  if (q || category) sf_stmt_text(st, 3, category);
  sf_stmt_int(st, 4, min_price);
  sf_stmt_int(st, 5, max_price);
  sf_stmt_int(st, 6, has_cursor ? cursor : INT64_MAX);
  sf_stmt_int(st, 7, limit + 1);
  json_t *data = json_array();
  product p = {0};
  int rc, n = 0;
  char next[32] = "";
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    row_product(st, &p);
    if (n == limit) {
      snprintf(next, sizeof next, "%" PRId64, p.seq + 1);
      break;
    }
    json_array_append_new(data, product_json(&p));
    n++;
  }
  sf_stmt_reset(st);
  free(p.attributes);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  /* the cursor is the seq of the first row not returned, plus one (seq < cursor) */
  sf_req_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "data", data, "next_cursor", next[0] ? json_string(next) : json_null()));
}

/* ---- categories ---- */

static const sf_json_field k_category_create[] = {
    {"name", SF_JSON_STRING, 1, 1, 100},
    {"description", SF_JSON_STRING, 0, 0, 1000},
    {0},
};

static json_t *category_json(sf_stmt *st) {
  char created[32];
  sf_time_iso8601(sf_stmt_col_int(st, 4), created, sizeof created);
  return json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", sf_stmt_col_text(st, 0), "name", sf_stmt_col_text(st, 1),
                   "description", sf_stmt_col_text(st, 2), "version", (json_int_t)sf_stmt_col_int(st, 3), "created_at",
                   created);
}

static int category_create_exec(sf_req *req, sf_tx *tx, void *data, sf_err *err) {
  product_input *in = data;
  char id[48];
  sf_id_new("cat", id, sizeof id);
  const char *name = sf_json_str(in->body, "name");
  const char *desc = sf_json_str(in->body, "description");
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT 1 FROM categories WHERE name = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, name);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  if (rc == 1) return sf_err_conflict(err, "a category named '%s' already exists", name);
  st = sf_db_prepare(tx->db,
                     "INSERT INTO categories(id, name, description, version, created_at, updated_at)"
                     " VALUES(?, ?, ?, 1, ?, ?)",
                     err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, name);
  sf_stmt_text(st, 3, desc ? desc : "");
  sf_stmt_int(st, 4, tx->now_ms);
  sf_stmt_int(st, 5, tx->now_ms);
  if (sf_stmt_run(st, err)) return -1;
  char stream[128];
  snprintf(stream, sizeof stream, "category-%s", id);
  sf_ev_meta meta = {0};
  sf_req_meta(req, &meta);
  json_t *ev = json_pack("{s:s, s:s}", "name", name, "description", desc ? desc : "");
  rc = sf_ev_append(tx, stream, 0, "category.created", ev, &meta, NULL, err);
  json_decref(ev);
  if (rc) return rc;
  st = sf_db_prepare(tx->db, "SELECT id, name, description, version, created_at FROM categories WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  if ((rc = sf_stmt_step(st, err)) == 1) sf_req_reply_json(req, 201, category_json(st));
  sf_stmt_reset(st);
  if (rc != 1) return rc < 0 ? rc : sf_err_internal(err, "category vanished");
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/categories/%s", id);
  sf_req_add_header(req, "Location", loc);
  return 0;
}

static void h_category_create(sf_req *req) {
  json_t *b = sf_in_body(req, k_category_create);
  if (!b) return;
  product_input *in = sf_calloc(1, sizeof *in);
  in->body = b;
  sf_req_command(req, category_create_exec, in, free_input);
}

static void h_category_list(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_db_prepare(db,
                                   "SELECT id, name, description, version, created_at FROM categories"
                                   " ORDER BY name LIMIT 1000",
                                   &err)
                   : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  json_t *data = json_array();
  int rc;
  while ((rc = sf_stmt_step(st, &err)) == 1) json_array_append_new(data, category_json(st));
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

static void h_category_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_db_prepare(db,
                                   "SELECT id, name, description, version, created_at FROM categories"
                                   " WHERE id = ?",
                                   &err)
                   : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_stmt_text(st, 1, sf_req_param(req, "id"));
  int rc = sf_stmt_step(st, &err);
  if (rc == 1) sf_req_reply_json(req, 200, category_json(st));
  sf_stmt_reset(st);
  if (rc == 0) sf_err_not_found(&err, "category");
  if (rc != 1) sf_req_reply_problem(req, &err);
}

/* ---- demo data ---- */

typedef struct {
  sf_cmd cmd;
  int created;
} seed_cmd;

static int seed_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  seed_cmd *s = (seed_cmd *)c;
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT 1 FROM products LIMIT 1", err);
  if (!st) return -1;
  int n = sf_stmt_step(st, err); /* 1: the catalog has products already */
  sf_stmt_reset(st);
  if (n != 0) return n < 0 ? -1 : 0;
  static const struct {
    const char *cat, *sku, *name, *desc;
    int64_t price, stock;
  } k_demo[] = {
      {"Coffee", "COF-ESP-250", "Espresso beans 250 g", "Dark roast, notes of cocoa and cherry.", 1290, 40},
      {"Coffee", "COF-FIL-500", "Filter coffee 500 g", "Light roast for pour-over and batch brew.", 1890, 25},
      {"Coffee", "COF-DEC-250", "Decaf beans 250 g", "Swiss-water decaffeinated, medium roast.", 1390, 15},
      {"Equipment", "EQ-GRIND-01", "Hand grinder", "Conical steel burrs, 30 grind settings.", 6900, 8},
      {"Equipment", "EQ-KETTLE-1", "Gooseneck kettle", "1 litre, for precise pouring.", 4500, 5},
      {"Equipment", "EQ-SCALE-01", "Brew scale", "0.1 g resolution with a timer.", 2900, 3},
  };
  char cats[2][48] = {"", ""};
  const char *cat_names[2] = {"Coffee", "Equipment"};
  for (int i = 0; i < 2; i++) {
    sf_id_new("cat", cats[i], sizeof cats[i]);
    st = sf_db_prepare(tx->db,
                       "INSERT INTO categories(id, name, description, version, created_at, updated_at)"
                       " VALUES(?, ?, '', 1, ?, ?)",
                       err);
    if (!st) return -1;
    sf_stmt_text(st, 1, cats[i]);
    sf_stmt_text(st, 2, cat_names[i]);
    sf_stmt_int(st, 3, tx->now_ms);
    sf_stmt_int(st, 4, tx->now_ms);
    if (sf_stmt_run(st, err)) return -1;
    char stream[128];
    snprintf(stream, sizeof stream, "category-%s", cats[i]);
    json_t *ev = json_pack("{s:s, s:s}", "name", cat_names[i], "description", "");
    int rc = sf_ev_append(tx, stream, 0, "category.created", ev, NULL, NULL, err);
    json_decref(ev);
    if (rc) return rc;
  }
  for (size_t i = 0; i < sizeof k_demo / sizeof k_demo[0]; i++) {
    product p = {0};
    sf_id_new("prd", p.id, sizeof p.id);
    snprintf(p.sku, sizeof p.sku, "%s", k_demo[i].sku);
    snprintf(p.name, sizeof p.name, "%s", k_demo[i].name);
    snprintf(p.description, sizeof p.description, "%s", k_demo[i].desc);
    snprintf(p.currency, sizeof p.currency, "EUR");
    snprintf(p.status, sizeof p.status, "active");
    snprintf(p.category_id, sizeof p.category_id, "%s", cats[strcmp(k_demo[i].cat, "Coffee") == 0 ? 0 : 1]);
    p.attributes = strdup("{}");
    p.price = k_demo[i].price;
    p.version = 1;
    p.created_at = p.updated_at = tx->now_ms;
    int rc = insert_product(tx, &p, err);
    if (!rc) rc = product_event(tx, NULL, &p, "product.created", product_json(&p), err);
    free(p.attributes);
    if (rc) return rc;
    /* opening stock, as the inventory service records it */
    st = sf_db_prepare(
        tx->db, "INSERT INTO stock(product_id, on_hand, reserved, version, updated_at) VALUES(?, ?, 0, 1, ?)", err);
    if (!st) return -1;
    sf_stmt_text(st, 1, p.id);
    sf_stmt_int(st, 2, k_demo[i].stock);
    sf_stmt_int(st, 3, tx->now_ms);
    if (sf_stmt_run(st, err)) return -1;
    char stream[128];
    snprintf(stream, sizeof stream, "stock-%s", p.id);
    json_t *ev = json_pack("{s:s, s:I, s:s, s:I}", "product_id", p.id, "delta", (json_int_t)k_demo[i].stock, "reason",
                           "opening stock (demo data)", "on_hand", (json_int_t)k_demo[i].stock);
    rc = sf_ev_append(tx, stream, 0, "stock.adjusted", ev, NULL, NULL, err);
    json_decref(ev);
    if (rc) return rc;
    s->created++;
  }
  return 0;
}

static void seed_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

int sf_catalog_seed_demo(sf_err *err) {
  seed_cmd s = {.cmd = {.run = seed_run, .done = seed_done}};
  if (sf_writer_exec(&s.cmd)) {
    *err = s.cmd.err;
    return -1;
  }
  return s.created;
}

/* ---- routes ---- */

#define PRODUCT_REF "{\"$ref\":\"#/components/schemas/Product\"}"
#define CATEGORY_SCHEMA                                                                                                \
  "{\"type\":\"object\",\"required\":[\"id\",\"name\",\"version\",\"created_at\"],"                                    \
  "\"properties\":{\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"                                       \
  "\"description\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"},"                                          \
  "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"
#define PRODUCT_FIELDS(required)                                                                                       \
  "{\"type\":\"object\"," required "\"additionalProperties\":false,\"properties\":{"                                   \
  "\"sku\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,\"pattern\":\"^[A-Za-z0-9._-]+$\"},"                  \
  "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200},"                                                  \
  "\"description\":{\"type\":\"string\",\"maxLength\":4000},"                                                          \
  "\"price\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"minor units\"},"                                    \
  "\"currency\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}$\"},"                                                     \
  "\"attributes\":{\"type\":\"object\"},"                                                                              \
  "\"status\":{\"enum\":[\"draft\",\"active\",\"archived\"]},"                                                         \
  "\"category_id\":{\"type\":[\"string\",\"null\"]}}}"

void sf_catalog_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/products", h_create, SF_AUTH_PERMISSION, "catalog:write", 0, "catalog",
       "Create a product (status draft unless given)",
       PRODUCT_FIELDS("\"required\":[\"sku\",\"name\",\"price\",\"currency\"],"), PRODUCT_REF, 201, 0},
      {"GET", "/api/v1/products", h_list, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_PAGED, "catalog",
       "List products, newest first: ?q= (full text), category_id, status (staff), min_price, "
       "max_price, limit, cursor",
       NULL, SF_LIST_SCHEMA(PRODUCT_REF), 200, 0, .statuses = "403",
       .query = "q category_id status min_price:integer max_price:integer"},
      {"GET", "/api/v1/products/{id}", h_get, SF_AUTH_OPTIONAL, NULL, 0, "catalog",
       "Get a product (drafts and archived ones only with catalog:write)", NULL, PRODUCT_REF, 200, 0},
      {"PATCH", "/api/v1/products/{id}", h_patch, SF_AUTH_PERMISSION, "catalog:write", SF_ROUTE_IF_MATCH, "catalog",
       "Change a product (honours If-Match)", PRODUCT_FIELDS(""), PRODUCT_REF, 200, 0},
      {"POST", "/api/v1/categories", h_category_create, SF_AUTH_PERMISSION, "catalog:write", 0, "catalog",
       "Create a category",
       "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,\"properties\":{"
       "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100},"
       "\"description\":{\"type\":\"string\",\"maxLength\":1000}}}",
       CATEGORY_SCHEMA, 201, 0},
      {"GET", "/api/v1/categories", h_category_list, SF_AUTH_PUBLIC, NULL, 0, "catalog", "List categories by name",
       NULL, SF_LIST_SCHEMA(CATEGORY_SCHEMA), 200, 0},
      {"GET", "/api/v1/categories/{id}", h_category_get, SF_AUTH_PUBLIC, NULL, 0, "catalog", "Get a category", NULL,
       CATEGORY_SCHEMA, 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
