/* The edge's tables (store/migrate.h): the stored answers of
 * Idempotency-Keys. Append only: never edit a step that has shipped, add
 * one. `legacy`: the step of the old single list of migrations that held it
 * (0 for steps added since). */
#include "edge/migrations.h"

const sf_db_step sf_edge_migrations[] = {
    /* the answer of each Idempotency-Key, by principal */
    {"CREATE TABLE idempotency("
     "  principal TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  fingerprint TEXT NOT NULL,"
     "  status INTEGER NOT NULL,"
     "  content_type TEXT,"
     "  body TEXT,"
     "  location TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY(principal, key));",
     1,
     .pg = "CREATE TABLE idempotency("
           "  principal text NOT NULL,"
           "  key text NOT NULL,"
           "  fingerprint text NOT NULL,"
           "  status bigint NOT NULL,"
           "  content_type text,"
           "  body text,"
           "  location text,"
           "  created_at bigint NOT NULL,"
           "  PRIMARY KEY(principal, key));"},
    /* the purge of old records finds them by age */
    {"CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created_at);", 12},
    /* a replay repeats the answer's ETag too */
    {"ALTER TABLE idempotency ADD COLUMN etag TEXT;"},
    {0},
};
