/* The notifications service's tables (store/migrate.h). Append only: never
 * edit a step that has shipped, add one. */
#include "store/migrate.h"

const sf_db_step sf_notifications_migrations[] = {
    /* the inbox; an id derived from what caused it and the recipient, so a
     * replayed event cannot make a second row */
    {"CREATE TABLE notifications("
     "  id TEXT PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  category TEXT NOT NULL,"
     "  title TEXT NOT NULL,"
     "  body TEXT NOT NULL,"
     "  link TEXT NOT NULL,"
     "  subject_type TEXT NOT NULL,"
     "  subject_id TEXT NOT NULL,"
     "  position INTEGER NOT NULL,"
     "  read_at INTEGER,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX notifications_inbox ON notifications(user_id, created_at, id);"
     "CREATE INDEX notifications_unread ON notifications(user_id, created_at, id) WHERE read_at IS NULL;"
     /* per-user switches; a missing row is the category's default */
     "CREATE TABLE notification_prefs("
     "  user_id TEXT NOT NULL,"
     "  category TEXT NOT NULL,"
     "  in_app INTEGER NOT NULL,"
     "  email INTEGER NOT NULL,"
     "  PRIMARY KEY(user_id, category));"
     /* the subscriber's read model of the subjects it tells about, folded
      * from the events (who opened a request, who it is assigned to, who
      * commented; whose an order is; which products are already low) */
     "CREATE TABLE notify_requests("
     "  id TEXT PRIMARY KEY,"
     "  requester TEXT NOT NULL,"
     "  title TEXT NOT NULL,"
     "  type TEXT NOT NULL,"
     "  state TEXT NOT NULL,"
     "  assignee_user TEXT NOT NULL DEFAULT '',"
     "  assignee_role TEXT NOT NULL DEFAULT '');"
     "CREATE TABLE notify_commenters("
     "  request_id TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  PRIMARY KEY(request_id, user_id));"
     "CREATE TABLE notify_orders("
     "  id TEXT PRIMARY KEY,"
     "  customer_id TEXT NOT NULL,"
     "  items TEXT NOT NULL);"
     "CREATE TABLE notify_stock_low(product_id TEXT PRIMARY KEY);"
     /* notifications are made for events after this position only: a
      * database that had events before the service existed gets its read
      * model folded from them, not a flood of stale notifications */
     "CREATE TABLE notify_start(id INTEGER PRIMARY KEY CHECK(id = 1), position INTEGER NOT NULL);"
     "INSERT INTO notify_start(id, position) SELECT 1, coalesce(max(position), 0) FROM events;"
     /* role members are read from identity's users table (repo.c) */
     "CREATE INDEX IF NOT EXISTS users_role_status ON users(role, status);"},
    {0},
};
