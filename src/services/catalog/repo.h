/* Catalog repository: all SQL of the catalog service (tables products,
 * products_fts, categories, and the demo data's opening stock). Rows are
 * snapshots; the service pairs every change with an event on
 * "product-<id>" or "category-<id>". Called on whatever thread holds db (an
 * HTTP thread's reader, or the writer's tx->db). */
#ifndef SF_CATALOG_REPO_H
#define SF_CATALOG_REPO_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "services/catalog/catalog.h"
#include "store/db.h"

typedef struct sf_product {
  int64_t seq; /* insertion order: the list's keyset */
  char id[SF_ID_MAX];
  char sku[72];
  char name[208];
  char description[4100];
  int64_t price;
  char currency[4];
  char *attributes; /* JSON text, malloc'd; the caller frees it */
  char status[16];  /* draft | active | archived */
  char category_id[SF_ID_MAX];
  int64_t version, created_at, updated_at;
} sf_product;

/* Loads product id into p (p->attributes replaced); 404 when there is none. */
int sf_catalog_repo_load_product(sf_db *db, const char *id, sf_product *p, sf_err *err);
/* What other services need of a product (catalog.h); 404 when none. */
int sf_catalog_repo_product_ref(sf_db *db, const char *id, sf_product_ref *out, sf_err *err);
int sf_catalog_repo_insert_product(sf_db *db, const sf_product *p, sf_err *err);
/* Writes every mutable column of p. */
int sf_catalog_repo_update_product(sf_db *db, const sf_product *p, sf_err *err);
/* 1 when a product other than except_id (NULL: any) has sku, 0 when none, < 0 error. */
int sf_catalog_repo_sku_taken(sf_db *db, const char *sku, const char *except_id, sf_err *err);
/* 1 when the catalog has any product, 0 when empty, < 0 error. */
int sf_catalog_repo_has_products(sf_db *db, sf_err *err);

/* A page of products, newest first. Filters NULL are not applied; match is
 * an FTS5 expression (edge/input.h sf_in_search). before_seq: only rows with
 * seq below it. visit gets each row (p reused between calls) until it
 * returns non-zero; at most limit rows are read. */
typedef struct sf_product_filter {
  const char *match, *status, *category_id;
  int64_t min_price, max_price, before_seq;
  int limit;
} sf_product_filter;
int sf_catalog_repo_list_products(sf_db *db, const sf_product_filter *f, int (*visit)(const sf_product *p, void *ud),
                                  void *ud, sf_err *err);

/* 1 when category id exists, 0 when not, < 0 error. */
int sf_catalog_repo_category_exists(sf_db *db, const char *id, sf_err *err);
/* 1 when a category is named name, 0 when not, < 0 error. */
int sf_catalog_repo_category_name_taken(sf_db *db, const char *name, sf_err *err);
/* Inserts category id at version 1, created and updated at now_ms. */
int sf_catalog_repo_insert_category(sf_db *db, const char *id, const char *name, const char *description,
                                    int64_t now_ms, sf_err *err);
/* A category as its JSON (new reference in *out); 404 when none. */
int sf_catalog_repo_category_json(sf_db *db, const char *id, json_t **out, sf_err *err);
/* Appends every category (at most 1000), by name, to array. */
int sf_catalog_repo_categories_json(sf_db *db, json_t *array, sf_err *err);

/* The demo data's opening stock of a new product (the inventory's table,
 * written as the inventory service would at version 1). */
int sf_catalog_repo_seed_stock(sf_db *db, const char *product_id, int64_t on_hand, int64_t now_ms, sf_err *err);

#endif
