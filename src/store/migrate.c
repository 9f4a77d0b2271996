/* Versioned schema migrations. Each entry runs once, in order, inside one
 * transaction together with the bump of schema_migrations. Append only:
 * never edit a migration that has shipped. */
#include <stdio.h>

#include "store/db.h"

static const char *const k_migrations[] = {
    /* 1: event store, subscriptions, identity, idempotency */
    "CREATE TABLE events("
    "  position INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  id TEXT NOT NULL UNIQUE,"
    "  data TEXT NOT NULL,"
    "  meta TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  UNIQUE(stream, version));"
    "CREATE TABLE checkpoints(name TEXT PRIMARY KEY, position INTEGER NOT NULL);"
    "CREATE TABLE users("
    "  id TEXT PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  role TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'active',"
    "  failed_logins INTEGER NOT NULL DEFAULT 0,"
    "  locked_until INTEGER NOT NULL DEFAULT 0,"
    "  totp_secret TEXT,"
    "  totp_enabled INTEGER NOT NULL DEFAULT 0,"
    "  totp_last_step INTEGER NOT NULL DEFAULT 0,"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX users_created ON users(created_at, id);"
    "CREATE TABLE refresh_tokens("
    "  id TEXT PRIMARY KEY,"
    "  family TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES users(id),"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);"
    "CREATE TABLE idempotency("
    "  principal TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  content_type TEXT,"
    "  body TEXT,"
    "  location TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(principal, key));"
    "CREATE TABLE event_type_stats("
    "  type TEXT PRIMARY KEY,"
    "  count INTEGER NOT NULL,"
    "  last_position INTEGER NOT NULL);",
    /* 2: durable timers, catalog (FTS5), inventory and reservations */
    "CREATE TABLE timers("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  due_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(kind, ref));"
    "CREATE INDEX timers_due ON timers(due_at);"
    "CREATE TABLE categories("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    /* seq: a stable rowid for the external-content FTS index (VACUUM may
     * renumber implicit rowids) */
    "CREATE TABLE products("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  sku TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  price INTEGER NOT NULL CHECK(price >= 0),"
    "  currency TEXT NOT NULL,"
    "  attributes TEXT NOT NULL DEFAULT '{}',"
    "  status TEXT NOT NULL,"
    "  category_id TEXT REFERENCES categories(id),"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX products_status ON products(status, seq);"
    "CREATE INDEX products_category ON products(category_id, seq);"
    "CREATE VIRTUAL TABLE products_fts USING fts5(name, description, sku,"
    "  content='products', content_rowid='seq');"
    "CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN"
    "  INSERT INTO products_fts(rowid, name, description, sku)"
    "  VALUES(new.seq, new.name, new.description, new.sku); END;"
    "CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN"
    "  INSERT INTO products_fts(products_fts, rowid, name, description, sku)"
    "  VALUES('delete', old.seq, old.name, old.description, old.sku); END;"
    "CREATE TRIGGER products_fts_au AFTER UPDATE OF name, description, sku ON products BEGIN"
    "  INSERT INTO products_fts(products_fts, rowid, name, description, sku)"
    "  VALUES('delete', old.seq, old.name, old.description, old.sku);"
    "  INSERT INTO products_fts(rowid, name, description, sku)"
    "  VALUES(new.seq, new.name, new.description, new.sku); END;"
    "CREATE TABLE stock("
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
    /* 3: orders, payments (the order saga's state), sales projection */
    "CREATE TABLE orders("
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
    /* 4: carts (guest carts carry a token hash instead of an owner) */
    "CREATE TABLE carts("
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
    /* 5: workflow definitions, one row per published version */
    "CREATE TABLE workflows("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  version INTEGER NOT NULL CHECK(version > 0),"
    "  name TEXT NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(type, version));",
    /* 6: service requests, each pinned to the workflow version it started on */
    "CREATE TABLE service_requests("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  workflow_id TEXT NOT NULL REFERENCES workflows(id),"
    "  title TEXT NOT NULL,"
    "  data TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  assignee_user TEXT,"
    "  assignee_role TEXT,"
    "  created_by TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX service_requests_creator ON service_requests(created_by, created_at, id);"
    "CREATE INDEX service_requests_created ON service_requests(created_at, id);",
    /* 7: approval tasks of service requests (a projection of the request's
     * approval events, written with them): one row per assignee of a level
     * (a user, or a role any member of which may decide), plus one row per
     * vote cast through a role row or by a delegate. */
    "CREATE TABLE request_approvals("
    "  request_id TEXT NOT NULL,"
    "  chain INTEGER NOT NULL,"
    "  level INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  level_name TEXT NOT NULL,"
    "  assignee_user TEXT,"
    "  assignee_role TEXT,"
    "  delegated_from TEXT,"
    "  decision TEXT,"
    "  decided_by TEXT,"
    "  decided_at INTEGER,"
    "  comment TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(request_id, chain, level, seq));"
    "CREATE INDEX request_approvals_user ON request_approvals(assignee_user, created_at) WHERE decision IS NULL;"
    "CREATE INDEX request_approvals_role ON request_approvals(assignee_role, created_at) WHERE decision IS NULL;",
    /* 8: webhook deliveries of service requests (the delivery log and the
     * outbound queue). The `webhooks` subscriber starts at the current head:
     * request.webhook_due events recorded before deliveries existed were
     * documented as never called, and sending them now could act on stale
     * state. */
    "CREATE TABLE webhook_deliveries("
    "  id TEXT PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  request_id TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('pending', 'delivered', 'dead')),"
    "  attempts INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';"
    "CREATE INDEX webhook_deliveries_request ON webhook_deliveries(request_id, created_at);"
    "INSERT INTO checkpoints(name, position) SELECT 'webhooks', coalesce(max(position), 0) FROM events"
    "  WHERE true ON CONFLICT(name) DO NOTHING;",
    /* identity: revoking every session of a user (disable, password change)
     * finds its refresh tokens by user */
    "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id, status);",
    /* flowauth: approval chains of service requests, one row per chain (a
     * projection of request.approval_started / _completed / _cancelled,
     * written with them), so the view shows the latest chain and how it
     * ended even when it has no tasks; filled from those events. */
    "CREATE TABLE request_chains("
    "  request_id TEXT NOT NULL,"
    "  chain INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('pending', 'approved', 'rejected', 'cancelled')),"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  PRIMARY KEY(request_id, chain));"
    "INSERT INTO request_chains(request_id, chain, state, status, started_at, ended_at)"
    " SELECT substr(s.stream, 9), json_extract(s.data, '$.chain'), json_extract(s.data, '$.state'),"
    "  coalesce(e.outcome, 'pending'), s.at, e.at FROM events s LEFT JOIN ("
    "   SELECT stream, json_extract(data, '$.chain') AS chain, max(at) AS at,"
    "    max(CASE type WHEN 'request.approval_cancelled' THEN 'cancelled' ELSE json_extract(data, '$.outcome') END)"
    "    AS outcome FROM events WHERE type IN ('request.approval_completed', 'request.approval_cancelled')"
    "   GROUP BY stream, chain) e ON e.stream = s.stream AND e.chain = json_extract(s.data, '$.chain')"
    " WHERE s.type = 'request.approval_started' AND s.stream LIKE 'request-%'"
    " ON CONFLICT DO NOTHING;",
    /* conns: the W3C traceparent of the request that queued a webhook
     * delivery (its trace goes on to the receiver; NULL for older rows) */
    "ALTER TABLE webhook_deliveries ADD COLUMN traceparent TEXT;",
    /* lists: an index for every list filter and lookup (tests/unit/query_plan_test.c
     * explains every statement), and full-text search of service requests:
     * title, the values of data, and the comments of its events. The text is
     * kept by triggers, so it changes in the writer transaction that changes
     * the request. request_search gives each request a stable integer rowid
     * for the FTS table (VACUUM may renumber implicit rowids). */
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created_at);"
    "CREATE INDEX IF NOT EXISTS orders_status ON orders(status, created_at, id);"
    "CREATE INDEX IF NOT EXISTS service_requests_state ON service_requests(state, created_at, id);"
    "CREATE INDEX IF NOT EXISTS service_requests_type ON service_requests(type, created_at, id);"
    "CREATE INDEX IF NOT EXISTS service_requests_assignee ON service_requests(assignee_user, created_at, id);"
    "CREATE INDEX IF NOT EXISTS service_requests_queue"
    "  ON service_requests(assignee_role, assignee_user, created_at, id);"
    "CREATE TABLE request_search(seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE);"
    "CREATE VIRTUAL TABLE request_fts USING fts5(title, data, comments);"
    "CREATE TRIGGER request_fts_ai AFTER INSERT ON service_requests BEGIN"
    "  INSERT INTO request_search(request_id) VALUES(new.id);"
    "  INSERT INTO request_fts(rowid, title, data, comments) SELECT seq, new.title,"
    "    (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL), ''"
    "    FROM request_search WHERE request_id = new.id; END;"
    "CREATE TRIGGER request_fts_au AFTER UPDATE OF title, data ON service_requests"
    "  WHEN old.title IS NOT new.title OR old.data IS NOT new.data BEGIN"
    "  UPDATE request_fts SET title = new.title,"
    "    data = (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL)"
    "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = new.id); END;"
    "CREATE TRIGGER request_fts_comment AFTER INSERT ON events"
    "  WHEN new.type IN ('request.commented', 'request.transitioned', 'request.approval_decided',"
    "    'request.approval_delegated')"
    "  AND coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'), '') <> '' BEGIN"
    "  UPDATE request_fts SET comments = comments || char(10) ||"
    "    coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'))"
    "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = substr(new.stream, 9)); END;"
    "INSERT INTO request_search(request_id) SELECT id FROM service_requests ORDER BY created_at, id;"
    "INSERT INTO request_fts(rowid, title, data, comments) SELECT s.seq, r.title,"
    "  (SELECT group_concat(value, ' ') FROM json_tree(r.data) WHERE atom IS NOT NULL),"
    "  coalesce((SELECT group_concat(coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment')),"
    "    char(10)) FROM events e WHERE e.stream = 'request-' || r.id AND e.type IN ('request.commented',"
    "    'request.transitioned', 'request.approval_decided', 'request.approval_delegated')"
    "    AND coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment'), '') <> ''), '')"
    "  FROM request_search s JOIN service_requests r ON r.id = s.request_id;",
};

#define NMIGRATIONS ((int)(sizeof k_migrations / sizeof k_migrations[0]))

int sf_db_schema_version(sf_db *db) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &e);
  if (!st) return 0;
  int v = sf_stmt_step(st, &e) == 1 ? (int)sf_stmt_col_int(st, 0) : 0;
  sf_stmt_reset(st);
  return v;
}

int sf_db_migrate(sf_db *db, sf_err *err) {
  if (sf_db_exec(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations("
                 "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                 err))
    return -1;
  int have = sf_db_schema_version(db);
  if (have > NMIGRATIONS)
    return sf_err_internal(err, "database schema version %d is newer than this binary (%d)", have, NMIGRATIONS);
  for (int v = have + 1; v <= NMIGRATIONS; v++) {
    if (sf_db_exec(db, "BEGIN IMMEDIATE", err)) return -1;
    char bump[128];
    snprintf(bump, sizeof bump, "INSERT INTO schema_migrations VALUES(%d, CAST(strftime('%%s','now') AS INTEGER))", v);
    if (sf_db_exec(db, k_migrations[v - 1], err) || sf_db_exec(db, bump, err)) {
      sf_err ignored;
      sf_db_exec(db, "ROLLBACK", &ignored);
      return -1;
    }
    if (sf_db_exec(db, "COMMIT", err)) return -1;
  }
  return 0;
}
