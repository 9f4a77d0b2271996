/* The carts service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_carts_migrations[] = {
    /* carts (guest carts carry a token hash instead of an owner) */
    {"CREATE TABLE carts("
     "  id TEXT PRIMARY KEY,"
     "  owner_id TEXT,"
     "  token_hash TEXT,"
     "  status TEXT NOT NULL CHECK(status IN ('open', 'checked_out', 'merged')),"
     "  currency TEXT,"
     "  order_id TEXT,"
     "  merged_into TEXT,"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  CHECK(owner_id IS NOT NULL OR token_hash IS NOT NULL));"
     "CREATE UNIQUE INDEX carts_open_owner ON carts(owner_id) WHERE status = 'open' AND owner_id IS NOT NULL;"
     "CREATE TABLE cart_lines("
     "  cart_id TEXT NOT NULL REFERENCES carts(id),"
     "  product_id TEXT NOT NULL,"
     "  quantity INTEGER NOT NULL CHECK(quantity BETWEEN 1 AND 1000),"
     "  unit_price INTEGER NOT NULL,"
     "  sku TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  added_at INTEGER NOT NULL,"
     "  PRIMARY KEY(cart_id, product_id));",
     4,
     .pg = "CREATE TABLE carts("
           "  id text PRIMARY KEY,"
           "  owner_id text,"
           "  token_hash text,"
           "  status text NOT NULL CHECK(status IN ('open', 'checked_out', 'merged')),"
           "  currency text,"
           "  order_id text,"
           "  merged_into text,"
           "  version bigint NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL,"
           "  CHECK(owner_id IS NOT NULL OR token_hash IS NOT NULL));"
           "CREATE UNIQUE INDEX carts_open_owner ON carts(owner_id) WHERE status = 'open' AND owner_id IS NOT NULL;"
           "CREATE TABLE cart_lines("
           "  cart_id text NOT NULL REFERENCES carts(id),"
           "  product_id text NOT NULL,"
           "  quantity bigint NOT NULL CHECK(quantity BETWEEN 1 AND 1000),"
           "  unit_price bigint NOT NULL,"
           "  sku text NOT NULL,"
           "  name text NOT NULL,"
           "  added_at bigint NOT NULL,"
           "  PRIMARY KEY(cart_id, product_id));"},
    {0},
};
