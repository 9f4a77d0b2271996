/* Carts repository: all SQL for carts and their lines (tables carts and
 * cart_lines). The row is the snapshot of the cart aggregate; the service
 * pairs every save with an event on stream "cart-<id>". Called on whatever
 * thread holds db (an HTTP thread's reader, or the writer's tx->db). */
#ifndef SF_CARTS_REPO_H
#define SF_CARTS_REPO_H

#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "services/carts/carts.h"
#include "store/db.h"

typedef struct sf_cart_item {
  char product_id[SF_ID_MAX];
  char sku[72];
  char name[208];
  int64_t quantity, unit_price, added_at;
} sf_cart_item;

typedef struct sf_cart {
  char id[SF_ID_MAX];
  char owner_id[SF_ID_MAX];
  char token_hash[65];
  char status[16]; /* open | checked_out | merged */
  char currency[4];
  char order_id[SF_ID_MAX];
  char merged_into[SF_ID_MAX];
  int64_t version, created_at, updated_at;
  int nlines;
  sf_cart_item lines[SF_CART_MAX_LINES];
} sf_cart;

/* Loads cart id with its lines (oldest first); 404 when there is none. */
int sf_carts_repo_load(sf_db *db, const char *id, sf_cart *c, sf_err *err);
/* Loads the open cart of a user, or returns 0 with c->id empty. */
int sf_carts_repo_load_open_of(sf_db *db, const char *user_id, sf_cart *c, sf_err *err);
/* Writes the cart row (updated_at = now_ms) and replaces its lines. */
int sf_carts_repo_save(sf_db *db, const sf_cart *c, int64_t now_ms, sf_err *err);

#endif
