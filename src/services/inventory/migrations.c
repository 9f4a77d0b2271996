/* The inventory service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_inventory_migrations[] = {
    /* stock per product; reservations with TTL and their lines */
    {"CREATE TABLE stock("
     "  product_id TEXT PRIMARY KEY REFERENCES products(id),"
     "  on_hand INTEGER NOT NULL CHECK(on_hand >= 0),"
     "  reserved INTEGER NOT NULL CHECK(reserved >= 0 AND reserved <= on_hand),"
     "  version INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE TABLE reservations("
     "  id TEXT PRIMARY KEY,"
     "  owner TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX reservations_owner ON reservations(owner, created_at);"
     "CREATE TABLE reservation_lines("
     "  reservation_id TEXT NOT NULL REFERENCES reservations(id),"
     "  product_id TEXT NOT NULL REFERENCES products(id),"
     "  quantity INTEGER NOT NULL CHECK(quantity > 0),"
     "  PRIMARY KEY(reservation_id, product_id));",
     2,
     /* PostgreSQL: reservation_lines.seq keeps the order the lines were
      * written in (SQLite reads them by rowid; PostgreSQL has none) */
     .pg = "CREATE TABLE stock("
           "  product_id text PRIMARY KEY REFERENCES products(id),"
           "  on_hand bigint NOT NULL CHECK(on_hand >= 0),"
           "  reserved bigint NOT NULL CHECK(reserved >= 0 AND reserved <= on_hand),"
           "  version bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE TABLE reservations("
           "  id text PRIMARY KEY,"
           "  owner text NOT NULL,"
           "  status text NOT NULL,"
           "  expires_at bigint NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE INDEX reservations_owner ON reservations(owner, created_at);"
           "CREATE TABLE reservation_lines("
           "  reservation_id text NOT NULL REFERENCES reservations(id),"
           "  product_id text NOT NULL REFERENCES products(id),"
           "  quantity bigint NOT NULL CHECK(quantity > 0),"
           "  seq bigint GENERATED ALWAYS AS IDENTITY,"
           "  PRIMARY KEY(reservation_id, product_id));"},
    {0},
};
