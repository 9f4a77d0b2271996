/* The migration runner (store/migrate.h). The steps belong to their owners:
 * the event store (events/migrations.c), the edge (edge/migrations.c) and
 * each service (services/NAME/migrations.c). */
#include "store/migrate.h"

#include <stdio.h>
#include <time.h>

#include "store/dialect.h"

static const char k_versions_table_sqlite[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations("
    "service TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at INTEGER NOT NULL)";
static const char k_versions_table_pg[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations("
    "service text PRIMARY KEY, version bigint NOT NULL, applied_at bigint NOT NULL)";

/* The text of a step for db's dialect. */
static const char *step_sql(const sf_db *db, const sf_db_step *s) { return sf_db_is_pg(db) && s->pg ? s->pg : s->sql; }

/* PostgreSQL: instances migrating at once wait for each other, step by
 * step (held until the step's transaction ends). */
static int lock_migrations(sf_db *db, sf_err *err) {
  static const char k_lock_pg[] = "SELECT pg_advisory_xact_lock(1397116231)"; /* SF_DB_MIGRATE_LOCK */
  sf_stmt *st = sf_db_prepare(db, k_lock_pg, err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc < 0 ? -1 : 0;
}

int sf_db_schema_version(sf_db *db) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(sum(version), 0) FROM schema_migrations", &e);
  if (!st) return 0;
  int v = sf_stmt_step(st, &e) == 1 ? (int)sf_stmt_col_int(st, 0) : 0;
  sf_stmt_reset(st);
  return v;
}

static int count_steps(const sf_db_step *steps) {
  int n = 0;
  while (steps && steps[n].sql) n++;
  return n;
}

/* How many of steps the global version `global` had applied; -1 when the
 * tags break the rule of migrate.h (tagged steps first, in order). */
static int legacy_version(const sf_db_step *steps, int global) {
  int v = 0, last = 0, untagged = 0;
  for (int i = 0; steps && steps[i].sql; i++) {
    int tag = steps[i].legacy;
    if (tag && (tag < last || untagged)) return -1;
    if (!tag) untagged = 1;
    last = tag ? tag : last;
    if (tag && tag <= global) v = i + 1;
  }
  return v;
}

/* SQLite: -1: no table yet, 0: the single global version, 1: per owner */
static int versions_shape(sf_db *db, sf_err *err) {
  static const char k_shape_sqlite[] =
      "SELECT coalesce(sum(name = 'service'), -1) FROM pragma_table_info('schema_migrations')";
  sf_stmt *st = sf_db_prepare(db, k_shape_sqlite, err);
  if (!st) return -2;
  int rc = sf_stmt_step(st, err);
  int shape = rc == 1 ? (int)sf_stmt_col_int(st, 0) : -2;
  sf_stmt_reset(st);
  return shape;
}

static int set_version(sf_db *db, const char *owner, int version, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO schema_migrations(service, version, applied_at) VALUES(?1, ?2, ?3)"
                              " ON CONFLICT(service) DO UPDATE SET version = excluded.version,"
                              " applied_at = excluded.applied_at",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, owner);
  sf_stmt_int(st, 2, version);
  sf_stmt_int(st, 3, (int64_t)time(NULL));
  return sf_stmt_run(st, err) < 0 ? -1 : 0;
}

static int rollback(sf_db *db) {
  sf_db_rollback(db);
  return -1;
}

/* The global version of a database from before per-owner versions. */
static int global_version(sf_db *db, int *out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  *out = rc == 1 ? (int)sf_stmt_col_int(st, 0) : 0;
  sf_stmt_reset(st);
  return rc < 0 ? -1 : 0;
}

/* One transaction: the global version becomes one version per owner. */
static int convert_global(sf_db *db, const sf_db_migrations *sets, size_t n, sf_err *err) {
  if (sf_db_begin(db, err)) return -1;
  int global = 0, newest = 0;
  if (global_version(db, &global, err)) return rollback(db);
  for (size_t i = 0; i < n; i++)
    for (const sf_db_step *s = sets[i].steps; s && s->sql; s++)
      if (s->legacy > newest) newest = s->legacy;
  if (global > newest) {
    sf_err_internal(err, "database schema version %d is newer than this binary (%d)", global, newest);
    return rollback(db);
  }
  if (sf_db_exec(db, "DROP TABLE schema_migrations", err) || sf_db_exec(db, k_versions_table_sqlite, err))
    return rollback(db);
  for (size_t i = 0; i < n; i++) {
    int v = legacy_version(sets[i].steps, global);
    if (v > 0 && set_version(db, sets[i].owner, v, err)) return rollback(db);
  }
  return sf_db_commit(db, err) ? rollback(db) : 0;
}

static int owner_version(sf_db *db, const char *owner, int *out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT version FROM schema_migrations WHERE service = ?1", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, owner);
  int rc = sf_stmt_step(st, err);
  *out = rc == 1 ? (int)sf_stmt_col_int(st, 0) : 0;
  sf_stmt_reset(st);
  return rc < 0 ? -1 : 0;
}

/* One transaction: the step and the bump of its owner's version. On
 * PostgreSQL another instance may have run it meanwhile: the version is
 * read again under the lock, and a step already there is left alone. */
static int run_step(sf_db *db, const sf_db_migrations *set, int version, sf_err *err) {
  if (sf_db_begin(db, err)) return -1;
  if (sf_db_is_pg(db)) {
    int have = 0;
    if (lock_migrations(db, err) || owner_version(db, set->owner, &have, err)) return rollback(db);
    if (have >= version) return sf_db_commit(db, err) ? rollback(db) : 0;
  }
  if (sf_db_exec(db, step_sql(db, &set->steps[version - 1]), err) || set_version(db, set->owner, version, err)) {
    sf_err_field_add(err, "migration", "%s step %d", set->owner, version);
    return rollback(db);
  }
  return sf_db_commit(db, err) ? rollback(db) : 0;
}

/* PostgreSQL: the per-owner table from the start (no database there ever
 * had the global version), made under the lock. */
static int versions_table_pg(sf_db *db, sf_err *err) {
  if (sf_db_begin(db, err)) return -1;
  if (lock_migrations(db, err) || sf_db_exec(db, k_versions_table_pg, err)) return rollback(db);
  return sf_db_commit(db, err) ? rollback(db) : 0;
}

static int migrate_owner(sf_db *db, const sf_db_migrations *set, sf_err *err) {
  int have = 0, want = count_steps(set->steps);
  if (legacy_version(set->steps, 0) < 0)
    return sf_err_internal(err, "migrations of %s: tagged steps must come first, in order", set->owner);
  if (owner_version(db, set->owner, &have, err)) return -1;
  if (have > want)
    return sf_err_internal(err, "database schema of %s is version %d, newer than this binary (%d)", set->owner, have,
                           want);
  for (int v = have + 1; v <= want; v++)
    if (run_step(db, set, v, err)) return -1;
  return 0;
}

int sf_db_migrate(sf_db *db, const sf_db_migrations *sets, size_t n, sf_err *err) {
  if (sf_db_is_pg(db)) {
    if (versions_table_pg(db, err)) return -1;
    for (size_t i = 0; i < n; i++)
      if (migrate_owner(db, &sets[i], err)) return -1;
    return 0;
  }
  int shape = versions_shape(db, err);
  if (shape < -1) return -1;
  if (shape == 0 && convert_global(db, sets, n, err)) return -1;
  if (shape == -1 && sf_db_exec(db, k_versions_table_sqlite, err)) return -1;
  for (size_t i = 0; i < n; i++)
    if (migrate_owner(db, &sets[i], err)) return -1;
  return 0;
}
