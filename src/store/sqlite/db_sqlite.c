/* SQLite backend of store/db.h (store/sqlite/sqlite.h): connections,
 * cached statements, transactions, errors, integrity. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/checkpoint.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/wal_vfs.h"

#define CACHE_SLOTS 256 /* power of two */
#define BUSY_TIMEOUT_MS 10000

typedef struct {
  sf_stmt base;
  sqlite3_stmt *h;
} sq_stmt;

typedef struct {
  sf_db base;
  sqlite3 *h;
  struct {
    const char *sql;
    sq_stmt st;
  } cache[CACHE_SLOTS];
  void (*wal_fn)(void *ud, int frames);
  void *wal_ud;
} sq_db;

static sqlite3 *db_handle(sf_db *db) { return ((sq_db *)db)->h; }
static sqlite3_stmt *st_handle(sf_stmt *st) { return ((sq_stmt *)st)->h; }

static int db_error(sqlite3 *h, int rc, sf_err *err) {
  int prim = rc & 0xff;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) sf_db_mark_damaged();
  if (prim == SQLITE_CONSTRAINT) return sf_err_conflict(err, "constraint violated: %s", sqlite3_errmsg(h));
  if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
    return sf_err_set(err, 503, "busy", "Database busy", "%s", sqlite3_errmsg(h));
  if (prim == SQLITE_FULL) return sf_err_set(err, 507, "storage-full", "Insufficient storage", "%s", sqlite3_errmsg(h));
  /* the disk failed, not the request: worth trying again (store/writer.h) */
  if (prim == SQLITE_IOERR) return sf_err_set(err, 503, "storage-error", "Storage error", "%s", sqlite3_errmsg(h));
  return sf_err_internal(err, "database: %s", sqlite3_errmsg(h));
}

/* SQLite keeps global memory statistics behind one mutex taken on every
 * allocation; with a connection per thread that mutex was the main point of
 * contention between HTTP threads. We do not use the statistics. */
static void configure_once(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_initialize();
}

static int sq_exec(sf_db *db, const char *sql, sf_err *err) {
  char *msg = NULL;
  int rc = sqlite3_exec(db_handle(db), sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    int r = db_error(db_handle(db), rc, err);
    sqlite3_free(msg);
    return r;
  }
  return 0;
}

static void sq_close(sf_db *db) {
  if (!db) return;
  sq_db *s = (sq_db *)db;
  for (int i = 0; i < CACHE_SLOTS; i++) sqlite3_finalize(s->cache[i].st.h);
  sqlite3_close(s->h);
  free(s);
}

/* page_size applies only when the file is created (the first statement
 * here, before WAL mode is set); an existing database keeps its own. Every
 * group commit writes each page it dirtied whole to the WAL, and appends to
 * many event streams dirty one (stream, version) index page each: 2 KiB
 * pages cut the WAL bytes per workflow transition from 7.1 to 4.5 KB and
 * raised transitions/s by ~7% (3 interleaved runs). */
static const char *role_pragmas(int role) {
  if (role == SF_DB_WRITE || role == SF_SQLITE_WRITER)
    return "PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
           "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
           "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=10000;"
           " PRAGMA journal_size_limit=67108864;";
  if (role == SF_SQLITE_CHECKPOINT)
    return "PRAGMA synchronous=FULL; PRAGMA cache_size=-2048; PRAGMA wal_autocheckpoint=0;";
  return "PRAGMA query_only=1; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;";
}

static sf_db *sq_open(const char *path, int role, sf_err *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, configure_once);
  sqlite3 *h = NULL;
  int writes = role == SF_DB_WRITE || role == SF_SQLITE_WRITER;
  int flags = SQLITE_OPEN_NOMUTEX | (writes                         ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                     : role == SF_SQLITE_CHECKPOINT ? SQLITE_OPEN_READWRITE
                                                                    : SQLITE_OPEN_READONLY);
  /* Write connections batch their WAL writes (wal_vfs.c); the writer's WAL
   * is also the one its sync thread fsyncs. */
  int rc = sqlite3_open_v2(path, &h, flags,
                           role == SF_SQLITE_WRITER ? sf_wal_vfs_synced()
                           : writes                 ? sf_wal_vfs()
                                                    : NULL);
  if (rc != SQLITE_OK) {
    sf_err_internal(err, "cannot open %s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
    return NULL;
  }
  sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(h, 1);
  sq_db *s = sf_calloc(1, sizeof *s);
  s->base.ops = &sf_db_sqlite_backend;
  s->h = h;
  if (sq_exec(&s->base, role_pragmas(role), err)) {
    sq_close(&s->base);
    return NULL;
  }
  return &s->base;
}

static int on_wal(void *arg, sqlite3 *h, const char *name, int frames) {
  (void)h, (void)name;
  sq_db *s = arg;
  s->wal_fn(s->wal_ud, frames);
  return SQLITE_OK;
}

void sf_sqlite_on_wal_commit(sf_db *db, void (*fn)(void *ud, int frames), void *ud) {
  sq_db *s = (sq_db *)db;
  s->wal_fn = fn;
  s->wal_ud = ud;
  sqlite3_wal_hook(s->h, fn ? on_wal : NULL, fn ? s : NULL);
}

int sf_sqlite_wal_truncate(sf_db *db, int wait_ms, sf_err *err) {
  sqlite3 *h = db_handle(db);
  sqlite3_busy_timeout(h, wait_ms);
  int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
  if ((rc & 0xff) == SQLITE_BUSY) return 1;
  return rc == SQLITE_OK ? 0 : db_error(h, rc, err);
}

static int sq_in_transaction(sf_db *db) { return !sqlite3_get_autocommit(db_handle(db)); }

static int64_t sq_changes(sf_db *db) { return sqlite3_changes64(db_handle(db)); }

static sf_stmt *sq_prepare(sf_db *db, const char *sql, sf_err *err) {
  sq_db *s = (sq_db *)db;
  uintptr_t hsh = (uintptr_t)sql;
  hsh ^= hsh >> 17;
  hsh *= 0x9E3779B97F4A7C15ull;
  unsigned i = (unsigned)(hsh >> 40) & (CACHE_SLOTS - 1);
  for (unsigned probe = 0; probe < CACHE_SLOTS; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
    if (s->cache[i].sql == sql) {
      sqlite3_stmt *st = s->cache[i].st.h;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return &s->cache[i].st.base;
    }
    if (!s->cache[i].sql) break;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(s->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    db_error(s->h, rc, err);
    return NULL;
  }
  if (s->cache[i].sql) {
    sqlite3_finalize(st); /* cache full: cannot happen with our fixed SQL set */
    sf_err_internal(err, "statement cache full");
    return NULL;
  }
  s->cache[i].sql = sql;
  s->cache[i].st = (sq_stmt){.base = {.ops = &sf_db_sqlite_backend}, .h = st};
  return &s->cache[i].st.base;
}

static void sq_bind_text(sf_stmt *st, int idx, const char *text, int len, int copy) {
  if (text)
    sqlite3_bind_text(st_handle(st), idx, text, len, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
  else
    sqlite3_bind_null(st_handle(st), idx);
}
static void sq_bind_int(sf_stmt *st, int idx, int64_t v) { sqlite3_bind_int64(st_handle(st), idx, v); }
static void sq_bind_null(sf_stmt *st, int idx) { sqlite3_bind_null(st_handle(st), idx); }

static int sq_step(sf_stmt *st, sf_err *err) {
  sqlite3_stmt *s = st_handle(st);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  int r = db_error(sqlite3_db_handle(s), rc, err);
  sqlite3_reset(s);
  return r;
}

static void sq_reset(sf_stmt *st) { sqlite3_reset(st_handle(st)); }
static const char *sq_col_text(sf_stmt *st, int col) { return (const char *)sqlite3_column_text(st_handle(st), col); }
static int sq_col_len(sf_stmt *st, int col) { return sqlite3_column_bytes(st_handle(st), col); }
static int64_t sq_col_int(sf_stmt *st, int col) { return sqlite3_column_int64(st_handle(st), col); }
static int sq_col_is_null(sf_stmt *st, int col) { return sqlite3_column_type(st_handle(st), col) == SQLITE_NULL; }

/* ---- transactions ---- */

/* Runs a cached statement with no result (transaction control is prepared
 * once: re-parsing it for every writer command was measurable). */
static int run_cached(sf_db *db, const char *sql, sf_err *err) {
  sf_stmt *st = sq_prepare(db, sql, err);
  if (!st) return -500;
  int rc = sq_step(st, err);
  if (rc < 0) return rc;
  sq_reset(st);
  return 0;
}

static const char *const k_savepoint[] = {"SAVEPOINT cmd", "SAVEPOINT item"};
static const char *const k_release[] = {"RELEASE cmd", "RELEASE item"};
static const char *const k_rollback_to[] = {"ROLLBACK TO cmd", "ROLLBACK TO item"};

static int sq_begin(sf_db *db, sf_err *err) { return run_cached(db, "BEGIN IMMEDIATE", err); }
static int sq_begin_read(sf_db *db, sf_err *err) { return run_cached(db, "BEGIN", err); }
static int sq_commit(sf_db *db, sf_err *err) { return run_cached(db, "COMMIT", err); }
static void sq_rollback(sf_db *db) { sqlite3_exec(db_handle(db), "ROLLBACK", NULL, NULL, NULL); }
static int sq_savepoint(sf_db *db, int level, sf_err *err) { return run_cached(db, k_savepoint[level], err); }
static int sq_release(sf_db *db, int level, sf_err *err) { return run_cached(db, k_release[level], err); }
static int sq_rollback_to(sf_db *db, int level, sf_err *err) { return run_cached(db, k_rollback_to[level], err); }

/* ---- integrity ---- */

static int past_deadline(void *arg) { return sf_mono_ns() > *(const uint64_t *)arg; }

/* Collects quick_check's rows ("ok", or one line per problem) into report. */
static int check_rows(sqlite3_stmt *st, char *report, size_t cap, int *ok) {
  size_t used = 0;
  int rc, rows = 0;
  report[0] = '\0';
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *line = (const char *)sqlite3_column_text(st, 0);
    if (rows++ == 0 && line && strcmp(line, "ok") == 0) continue;
    *ok = 0;
    if (line && used + 3 < cap) used += (size_t)snprintf(report + used, cap - used, "%s%s", used ? "; " : "", line);
  }
  return rc;
}

static int sq_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err) {
  sqlite3 *h = db_handle(db);
  uint64_t deadline = sf_mono_ns() + (uint64_t)budget_ms * 1000000u;
  if (budget_ms > 0) sqlite3_progress_handler(h, 10000, past_deadline, &deadline);
  sqlite3_stmt *st = NULL;
  int ok = 1;
  int rc = sqlite3_prepare_v2(h, "PRAGMA quick_check(20)", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = check_rows(st, report, cap, &ok);
  sqlite3_finalize(st);
  sqlite3_progress_handler(h, 0, NULL, NULL);
  int prim = rc & 0xff;
  if (prim == SQLITE_INTERRUPT) return SF_DB_CHECK_INCOMPLETE;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) {
    snprintf(report, cap, "%s", sqlite3_errmsg(h));
    ok = 0;
  } else if (rc != SQLITE_DONE) {
    return db_error(h, rc, err);
  }
  if (!ok) sf_db_mark_damaged();
  return ok ? SF_DB_CHECK_OK : SF_DB_CHECK_DAMAGED;
}

const sf_db_backend sf_db_sqlite_backend = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .changes = sq_changes,
    .in_transaction = sq_in_transaction,
    .check = sq_check,
    .begin = sq_begin,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int = sq_bind_int,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .reset = sq_reset,
    .col_text = sq_col_text,
    .col_len = sq_col_len,
    .col_int = sq_col_int,
    .col_is_null = sq_col_is_null,
    .writer_open = sf_sqlite_writer_open,
    .writer_sync = sf_sqlite_writer_sync,
    .writer_after_batch = sf_sqlite_writer_after_batch,
    .writer_probe = sf_sqlite_writer_probe,
    .writer_close = sf_sqlite_writer_close,
};
