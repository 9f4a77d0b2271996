/* The orders service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_orders_migrations[] = {
    /* orders, payments (the order saga's state), sales projection */
    {"CREATE TABLE orders("
     "  id TEXT PRIMARY KEY,"
     "  customer_id TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  saga_step TEXT NOT NULL,"
     "  saga_attempts INTEGER NOT NULL DEFAULT 0,"
     "  currency TEXT NOT NULL,"
     "  total INTEGER NOT NULL,"
     "  reservation_id TEXT,"
     "  card_sealed TEXT,"
     "  card_last4 TEXT NOT NULL,"
     "  refund_pending INTEGER NOT NULL DEFAULT 0,"
     "  failure_reason TEXT,"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX orders_customer ON orders(customer_id, created_at, id);"
     "CREATE INDEX orders_created ON orders(created_at, id);"
     "CREATE INDEX orders_saga ON orders(saga_step) WHERE saga_step <> 'done';"
     "CREATE TABLE order_lines("
     "  order_id TEXT NOT NULL REFERENCES orders(id),"
     "  line INTEGER NOT NULL,"
     "  product_id TEXT NOT NULL,"
     "  sku TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  unit_price INTEGER NOT NULL,"
     "  quantity INTEGER NOT NULL,"
     "  PRIMARY KEY(order_id, line));"
     "CREATE TABLE payments("
     "  id TEXT PRIMARY KEY,"
     "  order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),"
     "  provider TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  amount INTEGER NOT NULL,"
     "  captured INTEGER NOT NULL DEFAULT 0,"
     "  refunded INTEGER NOT NULL DEFAULT 0,"
     "  currency TEXT NOT NULL,"
     "  auth_ref TEXT,"
     "  last_error TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE TABLE sales_daily("
     "  day TEXT NOT NULL,"
     "  product_id TEXT NOT NULL,"
     "  quantity INTEGER NOT NULL,"
     "  revenue INTEGER NOT NULL,"
     "  currency TEXT NOT NULL,"
     "  orders INTEGER NOT NULL,"
     "  PRIMARY KEY(day, product_id, currency));",
     3},
    /* the list filter by status */
    {"CREATE INDEX IF NOT EXISTS orders_status ON orders(status, created_at, id);", 12},
    {0},
};
