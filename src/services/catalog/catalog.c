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
#include "events/store.h"
#include "services/catalog/repo.h"

/* Serialised active products by id (cache-aside), invalidated after the
 * commit of every product event. */
static struct catalog_state { sf_cache *products; } catalog;

void sf_catalog_start(void) {
  if (catalog.products) return;
  catalog.products = sf_cache_new("products", 100000);
  sf_cache_register_metrics(catalog.products);
}

void sf_catalog_stop(void) {
  sf_cache_free(catalog.products);
  catalog.products = NULL;
}

/* ---- products ---- */

int sf_catalog_product_ref(sf_db *db, const char *id, sf_product_ref *out, sf_err *err) {
  return sf_catalog_repo_product_ref(db, id, out, err);
}

static json_t *product_json(const sf_product *p) {
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

static void product_result(sf_result *out, int status, const sf_product *p) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%" PRId64 "\"", p->version);
  sf_result_json(out, status, product_json(p));
  sf_result_header(out, "ETag", etag);
}

static int can_write(const sf_actor *who) {
  return sf_actor_is_user(who) && sf_edge_role_allows(who->role, "catalog:write");
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
  int rc = sf_catalog_repo_category_exists(tx->db, category_id, err);
  if (rc < 0) return rc;
  if (rc == 0) return sf_err_invalid(err, "category_id", "no such category");
  return 0;
}

static int sku_taken(sf_tx *tx, const char *sku, const char *except_id, sf_err *err) {
  int rc = sf_catalog_repo_sku_taken(tx->db, sku, except_id, err);
  if (rc < 0) return rc;
  if (rc) return sf_err_conflict(err, "a product with sku '%s' already exists", sku);
  return 0;
}

/* ---- events, cache ---- */

/* On every instance sharing the database (store/writer.h sf_tx_after_commit_all). */
#define HOOK_PRODUCT_CACHE "catalog.product-json"
static void invalidate(void *ud, const char *key) {
  (void)ud;
  if (catalog.products) sf_cache_invalidate(catalog.products, key);
}
__attribute__((constructor)) static void register_hooks(void) {
  sf_writer_broadcast_register(HOOK_PRODUCT_CACHE, invalidate, NULL);
}

/* At the product's version (the stream's version is p->version - 1 before). */
static int product_event(sf_tx *tx, const sf_actor *who, const sf_product *p, const char *type, json_t *data,
                         sf_err *err) {
  char stream[128];
  snprintf(stream, sizeof stream, "product-%s", p->id);
  sf_ev_meta meta = {0};
  sf_ev_meta_of(who, &meta);
  int rc = sf_ev_append(tx, stream, p->version - 1, type, data, &meta, NULL, err);
  json_decref(data);
  if (rc == 0) sf_tx_after_commit_all(tx, HOOK_PRODUCT_CACHE, p->id);
  return rc;
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
  char id[SF_ID_MAX];
  sf_if_match if_match;
} product_input;

static void free_input(void *d) {
  product_input *in = d;
  json_decref(in->body);
  free(in);
}

/* Copies the body's fields present into p. */
static void apply_fields(sf_product *p, json_t *b) {
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

static int create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  product_input *in = data;
  sf_product p = {0};
  sf_id_new("prd", p.id, sizeof p.id);
  snprintf(p.status, sizeof p.status, "draft");
  p.attributes = strdup("{}");
  apply_fields(&p, in->body);
  p.version = 1;
  p.created_at = p.updated_at = tx->now_ms;
  int rc = check_category(tx, p.category_id, err);
  if (!rc) rc = sku_taken(tx, p.sku, NULL, err);
  if (!rc) rc = sf_catalog_repo_insert_product(tx->db, &p, err);
  if (!rc) rc = product_event(tx, who, &p, "product.created", product_json(&p), err);
  if (!rc) {
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/products/%s", p.id);
    product_result(out, 201, &p);
    sf_result_header(out, "Location", loc);
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
  sf_req_submit(req, create_exec, in, free_input);
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

static int patch_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  product_input *in = data;
  sf_product p = {0}, old = {0};
  int rc = sf_catalog_repo_load_product(tx->db, in->id, &p, err);
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
    if (!rc) rc = sf_catalog_repo_update_product(tx->db, &p, err);
    if (!rc) rc = product_event(tx, who, &p, "product.updated", json_incref(changes), err);
  }
  json_decref(changes);
  if (!rc) product_result(out, 200, &p);
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
  sf_req_submit(req, patch_exec, in, free_input);
}

/* ---- GET /products/{id} (cache-aside; only active products are cached) ---- */

static void h_get(sf_req *req) {
  const char *id = sf_req_param(req, "id");
  size_t len;
  char etag[32];
  uint64_t gen = sf_cache_gen(catalog.products, id);
  char *body = sf_cache_get(catalog.products, id, &len, etag, sizeof etag);
  if (body) {
    sf_req_reply(req, 200, "application/json", body, len);
    sf_req_add_header(req, "ETag", etag);
    return;
  }
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_product p = {0};
  if (!db || sf_catalog_repo_load_product(db, id, &p, &err)) {
    free(p.attributes);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_actor who;
  sf_req_actor(req, &who);
  if (strcmp(p.status, "active") != 0 && !can_write(&who)) {
    free(p.attributes);
    sf_err_not_found(&err, "product");
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_result out = {0};
  product_result(&out, 200, &p);
  sf_req_reply_result(req, &out);
  if (strcmp(p.status, "active") == 0) {
    snprintf(etag, sizeof etag, "\"%" PRId64 "\"", p.version);
    sf_cache_put(catalog.products, id, gen, req->resp_body, req->resp_len, etag);
  }
  free(p.attributes);
}

/* ---- GET /products ---- */

typedef struct {
  json_t *data;
  int limit, n;
  char next[32];
} product_page;

/* Rows come limit + 1: the one past the page only makes the cursor. */
static int add_product(const sf_product *p, void *ud) {
  product_page *page = ud;
  if (page->n == page->limit) {
    snprintf(page->next, sizeof page->next, "%" PRId64, p->seq + 1);
    return 1;
  }
  json_array_append_new(page->data, product_json(p));
  page->n++;
  return 0;
}

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
  sf_actor who;
  sf_req_actor(req, &who);
  if (status && strcmp(status, "active") != 0 && !can_write(&who)) {
    sf_err_set(&err, 403, "forbidden", "Forbidden", "only catalog:write roles may list %s products", status);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (!status && !can_write(&who)) status = "active";
  const char *category = sf_req_query(req, "category_id");
  char match[512];
  if (!sf_in_search(req, "q", match, sizeof match)) return;
  const char *q = match[0] ? match : NULL;
  sf_db *db = sf_db_reader(&err);
  sf_product_filter f = {q ? match : NULL, status, category, min_price, max_price, has_cursor ? cursor : INT64_MAX,
                         limit + 1};
  product_page page = {.data = json_array(), .limit = limit};
  if (!db || sf_catalog_repo_list_products(db, &f, add_product, &page, &err)) {
    json_decref(page.data);
    sf_req_reply_problem(req, &err);
    return;
  }
  /* the cursor is the seq of the first row not returned, plus one (seq < cursor) */
  sf_req_reply_json(
      req, 200,
      json_pack("{s:o, s:o}", "data", page.data, "next_cursor", page.next[0] ? json_string(page.next) : json_null()));
}

/* ---- categories ---- */

static const sf_json_field k_category_create[] = {
    {"name", SF_JSON_STRING, 1, 1, 100},
    {"description", SF_JSON_STRING, 0, 0, 1000},
    {0},
};

static int category_create_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  product_input *in = data;
  char id[SF_ID_MAX];
  sf_id_new("cat", id, sizeof id);
  const char *name = sf_json_str(in->body, "name");
  const char *desc = sf_json_str(in->body, "description");
  int rc = sf_catalog_repo_category_name_taken(tx->db, name, err);
  if (rc < 0) return rc;
  if (rc == 1) return sf_err_conflict(err, "a category named '%s' already exists", name);
  if (sf_catalog_repo_insert_category(tx->db, id, name, desc ? desc : "", tx->now_ms, err)) return -1;
  char stream[128];
  snprintf(stream, sizeof stream, "category-%s", id);
  sf_ev_meta meta = {0};
  sf_ev_meta_of(who, &meta);
  json_t *ev = json_pack("{s:s, s:s}", "name", name, "description", desc ? desc : "");
  rc = sf_ev_append(tx, stream, 0, "category.created", ev, &meta, NULL, err);
  json_decref(ev);
  if (rc) return rc;
  json_t *cat;
  if ((rc = sf_catalog_repo_category_json(tx->db, id, &cat, err)))
    return rc == -404 ? (sf_err_clear(err), sf_err_internal(err, "category vanished")) : rc;
  char loc[96];
  snprintf(loc, sizeof loc, "/api/v1/categories/%s", id);
  sf_result_json(out, 201, cat);
  sf_result_header(out, "Location", loc);
  return 0;
}

static void h_category_create(sf_req *req) {
  json_t *b = sf_in_body(req, k_category_create);
  if (!b) return;
  product_input *in = sf_calloc(1, sizeof *in);
  in->body = b;
  sf_req_submit(req, category_create_exec, in, free_input);
}

static void h_category_list(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  json_t *data = json_array();
  if (!db || sf_catalog_repo_categories_json(db, data, &err)) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

static void h_category_get(sf_req *req) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  json_t *cat;
  if (!db || sf_catalog_repo_category_json(db, sf_req_param(req, "id"), &cat, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, cat);
}

/* ---- demo data ---- */

typedef struct {
  sf_cmd cmd;
  int created;
} seed_cmd;

static int seed_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  seed_cmd *s = (seed_cmd *)c;
  int n = sf_catalog_repo_has_products(tx->db, err);
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
  char cats[2][SF_ID_MAX] = {"", ""};
  const char *cat_names[2] = {"Coffee", "Equipment"};
  for (int i = 0; i < 2; i++) {
    sf_id_new("cat", cats[i], sizeof cats[i]);
    if (sf_catalog_repo_insert_category(tx->db, cats[i], cat_names[i], "", tx->now_ms, err)) return -1;
    char stream[128];
    snprintf(stream, sizeof stream, "category-%s", cats[i]);
    json_t *ev = json_pack("{s:s, s:s}", "name", cat_names[i], "description", "");
    int rc = sf_ev_append(tx, stream, 0, "category.created", ev, NULL, NULL, err);
    json_decref(ev);
    if (rc) return rc;
  }
  for (size_t i = 0; i < sizeof k_demo / sizeof k_demo[0]; i++) {
    sf_product p = {0};
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
    int rc = sf_catalog_repo_insert_product(tx->db, &p, err);
    if (!rc) rc = product_event(tx, NULL, &p, "product.created", product_json(&p), err);
    free(p.attributes);
    if (rc) return rc;
    /* opening stock, as the inventory service records it */
    if (sf_catalog_repo_seed_stock(tx->db, p.id, k_demo[i].stock, tx->now_ms, err)) return -1;
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
