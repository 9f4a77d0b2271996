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
    return sf_err_internal(err, "database schema version %d is newer than this binary (%d)", have,
                           NMIGRATIONS);
  for (int v = have + 1; v <= NMIGRATIONS; v++) {
    if (sf_db_exec(db, "BEGIN IMMEDIATE", err)) return -1;
    char bump[128];
    snprintf(bump, sizeof bump,
             "INSERT INTO schema_migrations VALUES(%d, CAST(strftime('%%s','now') AS INTEGER))", v);
    if (sf_db_exec(db, k_migrations[v - 1], err) || sf_db_exec(db, bump, err)) {
      sf_err ignored;
      sf_db_exec(db, "ROLLBACK", &ignored);
      return -1;
    }
    if (sf_db_exec(db, "COMMIT", err)) return -1;
  }
  return 0;
}
