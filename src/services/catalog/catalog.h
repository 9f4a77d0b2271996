/* Catalog service: products and categories, full-text search (FTS5), and a
 * cache-aside read path for products by id.
 *
 * Every change appends an event to stream "product-<id>" / "category-<id>"
 * (product.created, product.updated, category.created) in the same writer
 * transaction as the row; the product cache is invalidated after commit by
 * the command that appended the product event. Writes need the permission
 * catalog:write (staff, admin). Reads are public, but draft and archived
 * products are visible only to callers with catalog:write. */
#ifndef SF_CATALOG_H
#define SF_CATALOG_H

#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "store/writer.h"

void sf_catalog_start(void); /* creates the product cache (and its metrics) */
void sf_catalog_stop(void);
void sf_catalog_routes(void);

/* What other services need of a product, read inside a writer transaction. */
typedef struct sf_product_ref {
  char id[SF_ID_MAX];
  char sku[72];
  char name[208];
  char currency[4];
  char status[16];
  int64_t price;
} sf_product_ref;
/* 404 when there is no such product. */
int sf_catalog_product_ref(sf_db *db, const char *id, sf_product_ref *out, sf_err *err);

/* Demo data for `make run`: a few categories and active products with stock
 * (only when the catalog is empty). The writer must be running. */
int sf_catalog_seed_demo(sf_err *err);

#endif
