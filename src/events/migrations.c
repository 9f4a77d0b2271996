/* The event store's tables (store/migrate.h): the log (events, also the
 * outbox), the subscribers' checkpoints, the counts per event type, the
 * durable timers. Append only: never edit a step that has shipped, add one.
 * `legacy`: the step of the old single list of migrations that held it (0
 * for steps added since). */
#include "events/migrations.h"

const sf_db_step sf_ev_migrations[] = {
    /* the log: one row per event, hash-chained; durable subscribers' checkpoints; counts per event type */
    {"CREATE TABLE events("
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
     "CREATE TABLE event_type_stats("
     "  type TEXT PRIMARY KEY,"
     "  count INTEGER NOT NULL,"
     "  last_position INTEGER NOT NULL);",
     1},
    /* durable timers (events/timers.h) */
    {"CREATE TABLE timers("
     "  id INTEGER PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  ref TEXT NOT NULL,"
     "  due_at INTEGER NOT NULL,"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  UNIQUE(kind, ref));"
     "CREATE INDEX timers_due ON timers(due_at);",
     2},
    {0},
};
