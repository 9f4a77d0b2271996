/* Catalog repository (repo.h): the only SQL of the catalog service. */
#include "services/catalog/repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/dialect.h"

#define PRODUCT_COLS                                                                                                   \
  "seq, id, sku, name, description, price, currency, attributes, status, category_id, "                                \
  "version, created_at, updated_at"

static void row_product(sf_stmt *st, sf_product *p) {
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

int sf_catalog_repo_load_product(sf_db *db, const char *id, sf_product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " PRODUCT_COLS " FROM products WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) row_product(st, p);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "product");
  return rc < 0 ? rc : 0;
}

int sf_catalog_repo_product_ref(sf_db *db, const char *id, sf_product_ref *out, sf_err *err) {
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

int sf_catalog_repo_insert_product(sf_db *db, const sf_product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
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

int sf_catalog_repo_update_product(sf_db *db, const sf_product *p, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
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

int sf_catalog_repo_sku_taken(sf_db *db, const char *sku, const char *except_id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT id FROM products WHERE sku = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, sku);
  int rc = sf_stmt_step(st, err);
  int taken = rc == 1 && (!except_id || strcmp(sf_stmt_col_text(st, 0), except_id) != 0);
  sf_stmt_reset(st);
  return rc < 0 ? rc : taken;
}

int sf_catalog_repo_has_products(sf_db *db, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT 1 FROM products LIMIT 1", err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

/* Full text (?1, the FTS5 query of edge/input.c: "w1"* "w2"*, every word
 * as a prefix): SQLite's FTS5 table; PostgreSQL's tsvector column, with the
 * same query as a tsquery ('w1':* & 'w2':*). */
#define PG_TSQUERY_1 "to_tsquery('simple', replace(replace(translate(?1, '\"', ''''), '*', ':*'), ':* ', ':* & '))"
static const char k_search_sqlite[] =
    "SELECT " PRODUCT_COLS " FROM products WHERE seq IN"
    " (SELECT rowid FROM products_fts WHERE products_fts MATCH ?1)"
    " AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) AND (CAST(?3 AS TEXT) IS NULL OR category_id = ?3)"
    " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7";
static const char k_search_pg[] =
    "SELECT " PRODUCT_COLS " FROM products WHERE search @@ " PG_TSQUERY_1
    " AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) AND (CAST(?3 AS TEXT) IS NULL OR category_id = ?3)"
    " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7";

/* One statement per driving filter, each searching its own index (the
 * query-plan test checks them); the other filters are neutral when unbound
 * (CAST: PostgreSQL must know a parameter's type where it first sees it). */
static sf_stmt *prepare_list(sf_db *db, const sf_product_filter *f, sf_err *err) {
  if (f->match) return sf_db_prepare(db, sf_db_is_pg(db) ? k_search_pg : k_search_sqlite, err);
  if (f->category_id)
    return sf_db_prepare(db,
                         "SELECT " PRODUCT_COLS
                         " FROM products WHERE category_id = ?3 AND (CAST(?2 AS TEXT) IS NULL OR status = ?2)"
                         " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7",
                         err);
  if (f->status)
    return sf_db_prepare(db,
                         "SELECT " PRODUCT_COLS " FROM products WHERE status = ?2"
                         " AND price BETWEEN ?4 AND ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7",
                         err);
  return sf_db_prepare(db,
                       "SELECT " PRODUCT_COLS " FROM products WHERE price BETWEEN ?4 AND ?5 AND seq < ?6"
                       " ORDER BY seq DESC LIMIT ?7",
                       err);
}

int sf_catalog_repo_list_products(sf_db *db, const sf_product_filter *f, int (*visit)(const sf_product *p, void *ud),
                                  void *ud, sf_err *err) {
  sf_stmt *st = prepare_list(db, f, err);
  if (!st) return -500;
  if (f->match) sf_stmt_text(st, 1, f->match);
  if (f->match || f->category_id || f->status) sf_stmt_text(st, 2, f->status);
  if (f->match || f->category_id) sf_stmt_text(st, 3, f->category_id);
  sf_stmt_int(st, 4, f->min_price);
  sf_stmt_int(st, 5, f->max_price);
  sf_stmt_int(st, 6, f->before_seq);
  sf_stmt_int(st, 7, f->limit);
  sf_product p = {0};
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    row_product(st, &p);
    if (visit(&p, ud)) break;
  }
  sf_stmt_reset(st);
  free(p.attributes);
  return rc < 0 ? rc : 0;
}

int sf_catalog_repo_category_exists(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT 1 FROM categories WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

int sf_catalog_repo_category_name_taken(sf_db *db, const char *name, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT 1 FROM categories WHERE name = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, name);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

int sf_catalog_repo_insert_category(sf_db *db, const char *id, const char *name, const char *description,
                                    int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO categories(id, name, description, version, created_at, updated_at)"
                              " VALUES(?, ?, ?, 1, ?, ?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, name);
  sf_stmt_text(st, 3, description);
  sf_stmt_int(st, 4, now_ms);
  sf_stmt_int(st, 5, now_ms);
  return sf_stmt_run(st, err);
}

static json_t *category_json(sf_stmt *st) {
  char created[32];
  sf_time_iso8601(sf_stmt_col_int(st, 4), created, sizeof created);
  return json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", sf_stmt_col_text(st, 0), "name", sf_stmt_col_text(st, 1),
                   "description", sf_stmt_col_text(st, 2), "version", (json_int_t)sf_stmt_col_int(st, 3), "created_at",
                   created);
}

int sf_catalog_repo_category_json(sf_db *db, const char *id, json_t **out, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db, "SELECT id, name, description, version, created_at FROM categories WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) *out = category_json(st);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "category");
  return rc < 0 ? rc : 0;
}

int sf_catalog_repo_categories_json(sf_db *db, json_t *array, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, name, description, version, created_at FROM categories"
                              " ORDER BY name LIMIT 1000",
                              err);
  if (!st) return -500;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) json_array_append_new(array, category_json(st));
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

int sf_catalog_repo_seed_stock(sf_db *db, const char *product_id, int64_t on_hand, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      db, "INSERT INTO stock(product_id, on_hand, reserved, version, updated_at) VALUES(?, ?, 0, 1, ?)", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, product_id);
  sf_stmt_int(st, 2, on_hand);
  sf_stmt_int(st, 3, now_ms);
  return sf_stmt_run(st, err);
}
