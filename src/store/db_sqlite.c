/* SQLite backend of store/db.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/db.h"
#include "store/wal_vfs.h"

#define CACHE_SLOTS 256 /* power of two */
#define BUSY_TIMEOUT_MS 10000

struct sf_db {
  sqlite3 *h;
  struct {
    const char *sql;
    sqlite3_stmt *st;
  } cache[CACHE_SLOTS];
  sf_db *next_reader; /* registry of reader connections */
  void (*wal_fn)(void *ud, int frames);
  void *wal_ud;
};

/* Set once any connection meets a damaged file (sf_db_damaged). */
static atomic_int g_damaged;

static int db_error(sqlite3 *h, int rc, sf_err *err) {
  int prim = rc & 0xff;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) atomic_store(&g_damaged, 1);
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

sf_db *sf_db_open(const char *path, int mode, sf_err *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, configure_once);
  sqlite3 *h = NULL;
  int writes = mode == SF_DB_WRITE || mode == SF_DB_WRITER;
  int flags = SQLITE_OPEN_NOMUTEX | (writes                     ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                     : mode == SF_DB_CHECKPOINT ? SQLITE_OPEN_READWRITE
                                                                : SQLITE_OPEN_READONLY);
  /* Write connections batch their WAL writes (wal_vfs.c); the writer's WAL
   * is also the one its sync thread fsyncs. */
  int rc = sqlite3_open_v2(path, &h, flags, mode == SF_DB_WRITER ? sf_wal_vfs_synced() : writes ? sf_wal_vfs() : NULL);
  if (rc != SQLITE_OK) {
    sf_err_internal(err, "cannot open %s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
    return NULL;
  }
  sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(h, 1);
  sf_db *db = sf_calloc(1, sizeof *db);
  db->h = h;
  /* page_size applies only when the file is created (the first statement
   * here, before WAL mode is set); an existing database keeps its own. Every
   * group commit writes each page it dirtied whole to the WAL, and appends
   * to many event streams dirty one (stream, version) index page each: 2 KiB
   * pages cut the WAL bytes per workflow transition from 7.1 to 4.5 KB and
   * raised transitions/s by ~7% (3 interleaved runs). */
  const char *pragmas = writes ? "PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
                                 "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=10000;"
                                 " PRAGMA journal_size_limit=67108864;"
                        : mode == SF_DB_CHECKPOINT
                            ? "PRAGMA synchronous=FULL; PRAGMA cache_size=-2048; PRAGMA wal_autocheckpoint=0;"
                            : "PRAGMA query_only=1; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;";
  if (sf_db_exec(db, pragmas, err)) {
    sf_db_close(db);
    return NULL;
  }
  return db;
}

void sf_db_close(sf_db *db) {
  if (!db) return;
  for (int i = 0; i < CACHE_SLOTS; i++) sqlite3_finalize(db->cache[i].st);
  sqlite3_close(db->h);
  free(db);
}

int sf_db_exec(sf_db *db, const char *sql, sf_err *err) {
  char *msg = NULL;
  int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    int r = db_error(db->h, rc, err);
    sqlite3_free(msg);
    return r;
  }
  return 0;
}

static int on_wal(void *arg, sqlite3 *h, const char *name, int frames) {
  (void)h, (void)name;
  sf_db *db = arg;
  db->wal_fn(db->wal_ud, frames);
  return SQLITE_OK;
}

void sf_db_on_wal_commit(sf_db *db, void (*fn)(void *ud, int frames), void *ud) {
  db->wal_fn = fn;
  db->wal_ud = ud;
  sqlite3_wal_hook(db->h, fn ? on_wal : NULL, fn ? db : NULL);
}

int sf_db_wal_truncate(sf_db *db, int wait_ms, sf_err *err) {
  sqlite3_busy_timeout(db->h, wait_ms);
  int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
  if ((rc & 0xff) == SQLITE_BUSY) return 1;
  return rc == SQLITE_OK ? 0 : db_error(db->h, rc, err);
}

int sf_db_in_transaction(sf_db *db) { return !sqlite3_get_autocommit(db->h); }

int64_t sf_db_changes(sf_db *db) { return sqlite3_changes64(db->h); }

sf_stmt *sf_db_prepare(sf_db *db, const char *sql, sf_err *err) {
  uintptr_t hsh = (uintptr_t)sql;
  hsh ^= hsh >> 17;
  hsh *= 0x9E3779B97F4A7C15ull;
  unsigned i = (unsigned)(hsh >> 40) & (CACHE_SLOTS - 1);
  for (unsigned probe = 0; probe < CACHE_SLOTS; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
    if (db->cache[i].sql == sql) {
      sqlite3_stmt *st = db->cache[i].st;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return (sf_stmt *)st;
    }
    if (!db->cache[i].sql) break;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    db_error(db->h, rc, err);
    return NULL;
  }
  if (!db->cache[i].sql) {
    db->cache[i].sql = sql;
    db->cache[i].st = st;
  } else {
    sqlite3_finalize(st); /* cache full: cannot happen with our fixed SQL set */
    sf_err_internal(err, "statement cache full");
    return NULL;
  }
  return (sf_stmt *)st;
}

void sf_stmt_text(sf_stmt *st, int idx, const char *text) {
  if (text)
    sqlite3_bind_text((sqlite3_stmt *)st, idx, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null((sqlite3_stmt *)st, idx);
}
void sf_stmt_text_ref(sf_stmt *st, int idx, const char *text) {
  if (text)
    sqlite3_bind_text((sqlite3_stmt *)st, idx, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null((sqlite3_stmt *)st, idx);
}
void sf_stmt_textn(sf_stmt *st, int idx, const char *text, int len) {
  sqlite3_bind_text((sqlite3_stmt *)st, idx, text, len, SQLITE_TRANSIENT);
}
void sf_stmt_int(sf_stmt *st, int idx, int64_t v) { sqlite3_bind_int64((sqlite3_stmt *)st, idx, v); }
void sf_stmt_null(sf_stmt *st, int idx) { sqlite3_bind_null((sqlite3_stmt *)st, idx); }

int sf_stmt_step(sf_stmt *st, sf_err *err) {
  sqlite3_stmt *s = (sqlite3_stmt *)st;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  int r = db_error(sqlite3_db_handle(s), rc, err);
  sqlite3_reset(s);
  return r;
}

int sf_stmt_run(sf_stmt *st, sf_err *err) {
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return rc;
  sqlite3_reset((sqlite3_stmt *)st);
  return 0;
}

const char *sf_stmt_col_text(sf_stmt *st, int col) {
  return (const char *)sqlite3_column_text((sqlite3_stmt *)st, col);
}
int sf_stmt_col_len(sf_stmt *st, int col) { return sqlite3_column_bytes((sqlite3_stmt *)st, col); }
int64_t sf_stmt_col_int(sf_stmt *st, int col) { return sqlite3_column_int64((sqlite3_stmt *)st, col); }
int sf_stmt_col_is_null(sf_stmt *st, int col) { return sqlite3_column_type((sqlite3_stmt *)st, col) == SQLITE_NULL; }
void sf_stmt_reset(sf_stmt *st) { sqlite3_reset((sqlite3_stmt *)st); }

/* ---- integrity ---- */

int sf_db_damaged(void) { return atomic_load(&g_damaged); }

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

int sf_db_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err) {
  uint64_t deadline = sf_mono_ns() + (uint64_t)budget_ms * 1000000u;
  if (budget_ms > 0) sqlite3_progress_handler(db->h, 10000, past_deadline, &deadline);
  sqlite3_stmt *st = NULL;
  int ok = 1;
  int rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check(20)", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = check_rows(st, report, cap, &ok);
  sqlite3_finalize(st);
  sqlite3_progress_handler(db->h, 0, NULL, NULL);
  int prim = rc & 0xff;
  if (prim == SQLITE_INTERRUPT) return SF_DB_CHECK_INCOMPLETE;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) {
    snprintf(report, cap, "%s", sqlite3_errmsg(db->h));
    ok = 0;
  } else if (rc != SQLITE_DONE) {
    return db_error(db->h, rc, err);
  }
  if (!ok) atomic_store(&g_damaged, 1);
  return ok ? SF_DB_CHECK_OK : SF_DB_CHECK_DAMAGED;
}

/* ---- per-thread readers ---- */

static char g_path[1024];
static pthread_mutex_t g_readers_mu = PTHREAD_MUTEX_INITIALIZER;
static sf_db *g_readers;
static __thread sf_db *t_reader;
static __thread unsigned t_generation;
static unsigned g_generation = 1;

void sf_db_set_path(const char *path) { snprintf(g_path, sizeof g_path, "%s", path); }

sf_db *sf_db_reader(sf_err *err) {
  if (t_reader && t_generation == __atomic_load_n(&g_generation, __ATOMIC_ACQUIRE)) return t_reader;
  sf_db *db = sf_db_open(g_path, SF_DB_READ, err);
  if (!db) return NULL;
  pthread_mutex_lock(&g_readers_mu);
  db->next_reader = g_readers;
  g_readers = db;
  t_generation = g_generation;
  pthread_mutex_unlock(&g_readers_mu);
  t_reader = db;
  return db;
}

/* Closes every reader; threads that still run open a fresh one next time. */
void sf_db_close_readers(void) {
  pthread_mutex_lock(&g_readers_mu);
  __atomic_add_fetch(&g_generation, 1, __ATOMIC_RELEASE);
  sf_db *db = g_readers;
  g_readers = NULL;
  pthread_mutex_unlock(&g_readers_mu);
  while (db) {
    sf_db *next = db->next_reader;
    sf_db_close(db);
    db = next;
  }
}

void sf_stmt_col_copy(sf_stmt *st, int col, char *dst, size_t cap) {
  const char *s = sf_stmt_col_text(st, col);
  snprintf(dst, cap, "%s", s ? s : "");
}
