/* store/db.h over the backends of store/backend.h: the registry, the
 * dispatch of every call through the connection's or statement's table,
 * the per-thread readers and the damaged flag. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store/backend.h"
#include "store/replica.h"
#include "store/sqlite/sqlite.h"
#ifdef SF_WITH_POSTGRES
#include "store/pg/pg.h"
#endif

/* ---- registry ---- */

#define BACKENDS_MAX 8

static struct backend_registry {
  const sf_db_backend *list[BACKENDS_MAX];
  int n;
#ifdef SF_WITH_POSTGRES
} registry = {.list = {&sf_db_sqlite_backend, &sf_db_pg_backend}, .n = 2};
#else
} registry = {.list = {&sf_db_sqlite_backend}, .n = 1};
#endif

/* Schemes that name a backend registered under another name (libpq takes
 * both postgres:// and postgresql://). */
static const struct { const char *scheme, *backend; } k_aliases[] = {{"postgresql", "postgres"}};

static const sf_db_backend *backend_named(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof k_aliases / sizeof k_aliases[0]; i++)
    if (strlen(k_aliases[i].scheme) == len && memcmp(k_aliases[i].scheme, name, len) == 0) {
      name = k_aliases[i].backend;
      len = strlen(name);
    }
  for (int i = 0; i < registry.n; i++)
    if (strlen(registry.list[i]->name) == len && memcmp(registry.list[i]->name, name, len) == 0)
      return registry.list[i];
  return NULL;
}

int sf_db_backend_register(const sf_db_backend *backend) {
  if (registry.n == BACKENDS_MAX || backend_named(backend->name, strlen(backend->name))) return -1;
  registry.list[registry.n++] = backend;
  return 0;
}

const sf_db_backend *sf_db_backend_for(const char *location, sf_err *err) {
  const char *sep = strstr(location, "://");
  if (!sep) return registry.list[0];
  const sf_db_backend *b = backend_named(location, (size_t)(sep - location));
  if (!b) sf_err_internal(err, "no storage backend for %.*s:// in this build", (int)(sep - location), location);
  return b;
}

/* ---- connections ---- */

sf_db *sf_db_open(const char *location, int role, sf_err *err) {
  const sf_db_backend *b = sf_db_backend_for(location, err);
  return b ? b->open(location, role, err) : NULL;
}

void sf_db_close(sf_db *db) {
  if (db) db->ops->close(db);
}

int sf_db_shared(const char *location) {
  sf_err err = {0};
  const sf_db_backend *b = sf_db_backend_for(location, &err);
  return b && b->listen_open;
}

sf_db_listener *sf_db_listen_open(const char *location, const char *channel, sf_err *err) {
  const sf_db_backend *b = sf_db_backend_for(location, err);
  if (!b) return NULL;
  if (!b->listen_open) {
    sf_err_set(err, 501, "unsupported", "Not supported", "the %s backend has no notifications", b->name);
    return NULL;
  }
  return b->listen_open(location, channel, err);
}

int sf_db_listen_wait(sf_db_listener *l, int timeout_ms, sf_db_notify_fn fn, void *ud, sf_err *err) {
  return l->ops->listen_wait(l, timeout_ms, fn, ud, err);
}

void sf_db_listen_close(sf_db_listener *l) {
  if (l) l->ops->listen_close(l);
}

int sf_db_exec(sf_db *db, const char *sql, sf_err *err) { return db->ops->exec(db, sql, err); }
const char *sf_db_backend_name(const sf_db *db) { return db->ops->name; }
int64_t sf_db_changes(sf_db *db) { return db->ops->changes(db); }
int sf_db_in_transaction(sf_db *db) { return db->ops->in_transaction(db); }

int sf_db_begin(sf_db *db, sf_err *err) { return db->ops->begin(db, err); }
int sf_db_begin_read(sf_db *db, sf_err *err) { return db->ops->begin_read(db, err); }
int sf_db_commit(sf_db *db, sf_err *err) { return db->ops->commit(db, err); }
void sf_db_rollback(sf_db *db) { db->ops->rollback(db); }
int sf_db_savepoint(sf_db *db, int level, sf_err *err) { return db->ops->savepoint(db, level, err); }
int sf_db_release(sf_db *db, int level, sf_err *err) { return db->ops->release(db, level, err); }
int sf_db_rollback_to(sf_db *db, int level, sf_err *err) { return db->ops->rollback_to(db, level, err); }

/* ---- statements ---- */

sf_stmt *sf_db_prepare(sf_db *db, const char *sql, sf_err *err) { return db->ops->prepare(db, sql, err); }
void sf_stmt_text(sf_stmt *st, int idx, const char *text) { st->ops->bind_text(st, idx, text, -1, 1); }
void sf_stmt_textn(sf_stmt *st, int idx, const char *text, int len) { st->ops->bind_text(st, idx, text, len, 1); }
void sf_stmt_text_ref(sf_stmt *st, int idx, const char *text) { st->ops->bind_text(st, idx, text, -1, 0); }
void sf_stmt_int(sf_stmt *st, int idx, int64_t v) { st->ops->bind_int(st, idx, v); }
void sf_stmt_null(sf_stmt *st, int idx) { st->ops->bind_null(st, idx); }
int sf_stmt_step(sf_stmt *st, sf_err *err) { return st->ops->step(st, err); }
void sf_stmt_reset(sf_stmt *st) { st->ops->reset(st); }
const char *sf_stmt_col_text(sf_stmt *st, int col) { return st->ops->col_text(st, col); }
int sf_stmt_col_len(sf_stmt *st, int col) { return st->ops->col_len(st, col); }
int64_t sf_stmt_col_int(sf_stmt *st, int col) { return st->ops->col_int(st, col); }
int sf_stmt_col_is_null(sf_stmt *st, int col) { return st->ops->col_is_null(st, col); }

int sf_stmt_run(sf_stmt *st, sf_err *err) {
  int rc = st->ops->step(st, err);
  if (rc < 0) return rc;
  st->ops->reset(st);
  return 0;
}

int sf_stmt_run_later(sf_stmt *st, sf_err *err) {
  return st->ops->run_later ? st->ops->run_later(st, err) : sf_stmt_run(st, err);
}

void sf_stmt_col_copy(sf_stmt *st, int col, char *dst, size_t cap) {
  const char *s = sf_stmt_col_text(st, col);
  snprintf(dst, cap, "%s", s ? s : "");
}

/* ---- integrity ---- */

static atomic_int damaged; /* set once any connection meets a damaged database */

void sf_db_mark_damaged(void) { atomic_store(&damaged, 1); }
int sf_db_damaged(void) { return atomic_load(&damaged); }

int sf_db_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err) {
  return db->ops->check(db, budget_ms, report, cap, err);
}

/* ---- per-thread readers ---- */

static struct reader_registry {
  char location[1024];
  pthread_mutex_t mu;
  sf_db *open; /* every reader, linked through next_reader */
  unsigned generation;
} readers = {.mu = PTHREAD_MUTEX_INITIALIZER, .generation = 1};
static __thread sf_db *t_reader;
static __thread unsigned t_generation;

void sf_db_set_path(const char *location) { snprintf(readers.location, sizeof readers.location, "%s", location); }

sf_db *sf_db_reader(sf_err *err) {
  sf_db *stale = sf_replica_scoped_reader(); /* a stale-read scope on the read replica (store/replica.h) */
  if (stale) return stale;
  if (t_reader && t_generation == __atomic_load_n(&readers.generation, __ATOMIC_ACQUIRE)) return t_reader;
  sf_db *db = sf_db_open(readers.location, SF_DB_READ, err);
  if (!db) return NULL;
  pthread_mutex_lock(&readers.mu);
  db->next_reader = readers.open;
  readers.open = db;
  t_generation = readers.generation;
  pthread_mutex_unlock(&readers.mu);
  t_reader = db;
  return db;
}

/* Closes every reader; threads that still run open a fresh one next time. */
void sf_db_close_readers(void) {
  pthread_mutex_lock(&readers.mu);
  __atomic_add_fetch(&readers.generation, 1, __ATOMIC_RELEASE);
  sf_db *db = readers.open;
  readers.open = NULL;
  pthread_mutex_unlock(&readers.mu);
  while (db) {
    sf_db *next = db->next_reader;
    sf_db_close(db);
    db = next;
  }
}

int sf_stmt_true(sf_stmt *st, sf_err *err) {
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  int yes = rc == 1 && sf_stmt_col_int(st, 0) != 0;
  sf_stmt_reset(st);
  return rc < 0 ? rc : yes;
}
