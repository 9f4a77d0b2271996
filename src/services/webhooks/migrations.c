/* The webhooks service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_webhooks_migrations[] = {
    /* webhook deliveries of service requests (the delivery log and the
     * outbound queue). The `webhooks` subscriber starts at the current head:
     * request.webhook_due events recorded before deliveries existed were
     * documented as never called, and sending them now could act on stale
     * state. */
    {"CREATE TABLE webhook_deliveries("
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
     8,
     .pg = "CREATE TABLE webhook_deliveries("
           "  id text PRIMARY KEY,"
           "  event_id text NOT NULL UNIQUE,"
           "  request_id text NOT NULL,"
           "  url text NOT NULL,"
           "  body text NOT NULL,"
           "  status text NOT NULL CHECK(status IN ('pending', 'delivered', 'dead')),"
           "  attempts bigint NOT NULL,"
           "  next_at bigint NOT NULL,"
           "  last_error text,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';"
           "CREATE INDEX webhook_deliveries_request ON webhook_deliveries(request_id, created_at);"
           "INSERT INTO checkpoints(name, position) SELECT 'webhooks', coalesce(max(position), 0) FROM events"
           "  WHERE true ON CONFLICT(name) DO NOTHING;"},
    /* the W3C traceparent of the request that queued a webhook
     * delivery (its trace goes on to the receiver; NULL for older rows) */
    {"ALTER TABLE webhook_deliveries ADD COLUMN traceparent TEXT;", 11},
    /* subscriptions of any URL to event-type patterns (issue 13), their
     * deliveries (one per subscription and event), the last HTTP status of
     * an attempt, and the fan-out subscriber's checkpoint at the head: a
     * subscription gets the events after its creation (from_position) */
    {"CREATE TABLE webhook_subscriptions("
     "  id TEXT PRIMARY KEY,"
     "  url TEXT NOT NULL,"
     "  events TEXT NOT NULL,"
     "  description TEXT NOT NULL,"
     "  active INTEGER NOT NULL,"
     "  secret TEXT NOT NULL,"
     "  from_position INTEGER NOT NULL,"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX webhook_subscriptions_created ON webhook_subscriptions(created_at, id);"
     "CREATE INDEX webhook_subscriptions_active ON webhook_subscriptions(active);"
     /* one row: a random stamp rewritten by every change of the subscriptions,
      * in its transaction; the fan-out's matcher is built again when it differs */
     "CREATE TABLE webhook_sub_state(id INTEGER PRIMARY KEY CHECK(id = 1), stamp INTEGER NOT NULL);"
     "CREATE TABLE webhook_sub_deliveries("
     "  id TEXT PRIMARY KEY,"
     "  subscription_id TEXT NOT NULL,"
     "  event_id TEXT NOT NULL,"
     "  event_position INTEGER NOT NULL,"
     "  event_type TEXT NOT NULL,"
     "  status TEXT NOT NULL CHECK(status IN ('pending', 'delivered', 'dead')),"
     "  attempts INTEGER NOT NULL,"
     "  next_at INTEGER NOT NULL,"
     "  last_status INTEGER,"
     "  last_error TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  UNIQUE(subscription_id, event_id));"
     "CREATE INDEX webhook_sub_deliveries_due ON webhook_sub_deliveries(next_at) WHERE status = 'pending';"
     "CREATE INDEX webhook_sub_deliveries_log ON webhook_sub_deliveries(subscription_id, created_at, id);"
     "CREATE INDEX webhook_sub_deliveries_status ON webhook_sub_deliveries(subscription_id, status, created_at, id);"
     "ALTER TABLE webhook_deliveries ADD COLUMN last_status INTEGER;"
     "INSERT INTO checkpoints(name, position) SELECT 'webhook_fanout', coalesce(max(position), 0) FROM events"
     "  WHERE true ON CONFLICT(name) DO NOTHING;",
     0,
     .pg = "CREATE TABLE webhook_subscriptions("
           "  id text PRIMARY KEY,"
           "  url text NOT NULL,"
           "  events text NOT NULL,"
           "  description text NOT NULL,"
           "  active bigint NOT NULL,"
           "  secret text NOT NULL,"
           "  from_position bigint NOT NULL,"
           "  version bigint NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE INDEX webhook_subscriptions_created ON webhook_subscriptions(created_at, id);"
           "CREATE INDEX webhook_subscriptions_active ON webhook_subscriptions(active);"
           "CREATE TABLE webhook_sub_state(id bigint PRIMARY KEY CHECK(id = 1), stamp bigint NOT NULL);"
           "CREATE TABLE webhook_sub_deliveries("
           "  id text PRIMARY KEY,"
           "  subscription_id text NOT NULL,"
           "  event_id text NOT NULL,"
           "  event_position bigint NOT NULL,"
           "  event_type text NOT NULL,"
           "  status text NOT NULL CHECK(status IN ('pending', 'delivered', 'dead')),"
           "  attempts bigint NOT NULL,"
           "  next_at bigint NOT NULL,"
           "  last_status bigint,"
           "  last_error text,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL,"
           "  UNIQUE(subscription_id, event_id));"
           "CREATE INDEX webhook_sub_deliveries_due ON webhook_sub_deliveries(next_at) WHERE status = 'pending';"
           "CREATE INDEX webhook_sub_deliveries_log ON webhook_sub_deliveries(subscription_id, created_at, id);"
           "CREATE INDEX webhook_sub_deliveries_status ON webhook_sub_deliveries(subscription_id, status, created_at, "
           "id);"
           "ALTER TABLE webhook_deliveries ADD COLUMN last_status bigint;"
           "INSERT INTO checkpoints(name, position) SELECT 'webhook_fanout', coalesce(max(position), 0) FROM events"
           "  WHERE true ON CONFLICT(name) DO NOTHING;"},
    {0},
};
