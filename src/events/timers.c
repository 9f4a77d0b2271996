#define _GNU_SOURCE /* pthread_setname_np */
#include "events/timers.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "events/lease.h"

#define MAX_KINDS 16
#define FIRE_BATCH 256
#define IDLE_POLL_MS 1000
#define RETRY_MS 30000

/* The scheduler: registered kinds (before start, then read only) and its thread. */
static struct timers_state {
  struct {
    const char *kind;
    sf_timer_fn fn;
  } kinds[MAX_KINDS];
  int nkinds;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stopping;
  int64_t wake_at; /* earliest due time set since the thread last looked */
  _Atomic long fired, failed;
} scheduler = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void sf_timer_register(const char *kind, sf_timer_fn fn) {
  for (int i = 0; i < scheduler.nkinds; i++)
    if (strcmp(scheduler.kinds[i].kind, kind) == 0) {
      scheduler.kinds[i].fn = fn;
      return;
    }
  if (scheduler.nkinds < MAX_KINDS) scheduler.kinds[scheduler.nkinds++] = (typeof(scheduler.kinds[0])){kind, fn};
}

void sf_timer_clear_kinds(void) { scheduler.nkinds = 0; }

static sf_timer_fn find_kind(const char *kind) {
  for (int i = 0; i < scheduler.nkinds; i++)
    if (strcmp(scheduler.kinds[i].kind, kind) == 0) return scheduler.kinds[i].fn;
  return NULL;
}

/* After commit: wake the scheduler if the new timer is due before its
 * sleep ends. On every instance sharing the database (the lease holder may
 * be another one); key "*": look again now. */
#define HOOK_WAKE "timers.wake"
static void wake_hook(void *ud, const char *key) {
  (void)ud;
  int64_t due = strcmp(key, "*") == 0 ? 1 : strtoll(key, NULL, 10);
  if (due <= 0) due = 1;
  pthread_mutex_lock(&scheduler.mu);
  if (scheduler.wake_at == 0 || due < scheduler.wake_at) {
    scheduler.wake_at = due;
    pthread_cond_signal(&scheduler.cv);
  }
  pthread_mutex_unlock(&scheduler.mu);
}

__attribute__((constructor)) static void register_hooks(void) {
  sf_writer_broadcast_register(HOOK_WAKE, wake_hook, NULL);
}

/* The lease came (look at the table now) or went. */
static void lease_changed(int held) {
  if (held) sf_timers_wake();
}

int sf_timer_set(sf_tx *tx, const char *kind, const char *ref, int64_t due_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO timers(kind, ref, due_at, attempts, created_at) VALUES(?, ?, ?, 0, ?)"
                              " ON CONFLICT(kind, ref) DO UPDATE SET due_at = excluded.due_at, attempts = 0",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, kind);
  sf_stmt_text(st, 2, ref);
  sf_stmt_int(st, 3, due_ms);
  sf_stmt_int(st, 4, tx->now_ms);
  if (sf_stmt_run(st, err)) return -1;
  char key[32];
  snprintf(key, sizeof key, "%" PRId64, due_ms);
  sf_tx_after_commit_all(tx, HOOK_WAKE, key);
  return 0;
}

int sf_timer_cancel(sf_tx *tx, const char *kind, const char *ref, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db, "DELETE FROM timers WHERE kind = ? AND ref = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, kind);
  sf_stmt_text(st, 2, ref);
  return sf_stmt_run(st, err);
}

/* ---- firing ---- */

typedef struct {
  sf_cmd cmd;
  int64_t now_ms;
  int fired;
} fire_cmd;

typedef struct {
  int64_t id;
  char kind[64];
  char ref[128];
  int attempts;
} due_timer;

static int fire_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  fire_cmd *f = (fire_cmd *)c;
  static due_timer due[FIRE_BATCH];
  f->fired = 0; /* from the start on every attempt (retry_storage) */
  sf_stmt *st = sf_db_prepare(tx->db,
                              "SELECT id, kind, ref, attempts FROM timers WHERE due_at <= ?"
                              " ORDER BY due_at, id LIMIT 256",
                              err);
  if (!st) return -1;
  sf_stmt_int(st, 1, f->now_ms);
  int n = 0, rc;
  while (n < FIRE_BATCH && (rc = sf_stmt_step(st, err)) == 1) {
    due[n].id = sf_stmt_col_int(st, 0);
    sf_stmt_col_copy(st, 1, due[n].kind, sizeof due[n].kind);
    sf_stmt_col_copy(st, 2, due[n].ref, sizeof due[n].ref);
    due[n].attempts = (int)sf_stmt_col_int(st, 3);
    n++;
  }
  sf_stmt_reset(st);
  for (int i = 0; i < n; i++) {
    sf_timer_fn fn = find_kind(due[i].kind);
    sf_err herr = {0};
    sf_tx_mark mark;
    if (sf_tx_savepoint(tx, &mark, err)) return -1;
    /* the row goes first, so the handler may set the same (kind, ref) again */
    st = sf_db_prepare(tx->db, "DELETE FROM timers WHERE id = ?", err);
    if (!st) return -1;
    sf_stmt_int(st, 1, due[i].id);
    if (sf_stmt_run(st, err)) return -1;
    int hrc = fn ? fn(tx, due[i].ref, &herr) : sf_err_internal(&herr, "no handler for timer kind");
    if (hrc == 0) {
      if (sf_tx_release(tx, err)) return -1;
      f->fired++;
      continue;
    }
    if (sf_writer_retryable(&herr)) { /* the storage's fault: the writer runs it all again */
      *err = herr;
      return -1;
    }
    /* roll this timer's effects back (and the chain head / hooks with them) */
    if (sf_tx_rollback(tx, &mark, err)) return -1;
    scheduler.failed++;
    sf_log_error("timer failed", "\"kind\":\"%s\",\"ref\":\"%s\",\"attempt\":%d,\"detail\":\"%s\"", due[i].kind,
                 due[i].ref, due[i].attempts + 1, herr.detail);
    int64_t backoff = (int64_t)RETRY_MS << (due[i].attempts < 6 ? due[i].attempts : 6);
    st = sf_db_prepare(tx->db, "UPDATE timers SET due_at = ?, attempts = attempts + 1 WHERE id = ?", err);
    if (!st) return -1;
    sf_stmt_int(st, 1, f->now_ms + backoff);
    sf_stmt_int(st, 2, due[i].id);
    if (sf_stmt_run(st, err)) return -1;
  }
  return 0;
}

static void fire_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

int sf_timers_fire_due(int64_t now_ms, sf_err *err) {
  int total = 0;
  for (;;) {
    fire_cmd f = {.cmd = {.run = fire_run, .done = fire_done, .retry_storage = 1}, .now_ms = now_ms};
    if (sf_writer_exec(&f.cmd)) {
      if (err) *err = f.cmd.err;
      return -1;
    }
    total += f.fired;
    scheduler.fired += f.fired;
    if (f.fired < FIRE_BATCH) return total;
  }
}

static int64_t next_due(void) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  if (!db) return -1;
  sf_stmt *st = sf_db_prepare(db, "SELECT min(due_at) FROM timers", &err);
  if (!st) return -1;
  int64_t v = 0;
  if (sf_stmt_step(st, &err) == 1 && !sf_stmt_col_is_null(st, 0)) v = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  return v; /* 0 = none */
}

static void *timers_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-timers");
  pthread_mutex_lock(&scheduler.mu);
  while (!scheduler.stopping) {
    scheduler.wake_at = 0;
    pthread_mutex_unlock(&scheduler.mu);
    int64_t now = sf_now_ms(), due = next_due();
    if (due > 0 && due <= now && sf_lease_held()) { /* the lease holder fires (events/lease.h) */
      sf_err err = {0};
      if (sf_timers_fire_due(now, &err) < 0) sf_log_error("timers: fire failed", "\"detail\":\"%s\"", err.detail);
    }
    now = sf_now_ms();
    due = next_due();
    int64_t until = now + IDLE_POLL_MS;
    if (due > 0 && due < until) until = due;
    pthread_mutex_lock(&scheduler.mu);
    while (!scheduler.stopping && (scheduler.wake_at == 0 || scheduler.wake_at > until)) {
      /* the condition variable waits on the real clock; sf_now_ms may run
       * ahead of it in test builds (core/clock.h) */
      int64_t left = until - sf_now_ms();
      struct timespec ts = sf_deadline_ms(left < 0 ? 0 : left);
      if (pthread_cond_timedwait(&scheduler.cv, &scheduler.mu, &ts) != 0 && sf_now_ms() >= until) break;
    }
  }
  pthread_mutex_unlock(&scheduler.mu);
  return NULL;
}

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_timers_fired_total Durable timers fired.\n# TYPE sf_timers_fired_total counter\n"
                "sf_timers_fired_total %ld\n"
                "# HELP sf_timers_failed_total Timer handler failures (retried with backoff).\n"
                "# TYPE sf_timers_failed_total counter\nsf_timers_failed_total %ld\n",
                (long)scheduler.fired, (long)scheduler.failed);
}

int sf_timers_start(sf_err *err) {
  static int metrics_added;
  if (!metrics_added) {
    sf_metrics_add_collector(collect);
    metrics_added = 1;
  }
  scheduler.stopping = 0;
  static int lease_watched;
  if (!lease_watched) {
    sf_lease_on_change(lease_changed);
    lease_watched = 1;
  }
  if (pthread_create(&scheduler.thread, NULL, timers_main, NULL) != 0)
    return sf_err_internal(err, "cannot start the timer thread");
  scheduler.running = 1;
  return 0;
}

void sf_timers_wake(void) {
  pthread_mutex_lock(&scheduler.mu);
  scheduler.wake_at = 1;
  pthread_cond_signal(&scheduler.cv);
  pthread_mutex_unlock(&scheduler.mu);
}

void sf_timers_stop(void) {
  if (!scheduler.running) return;
  pthread_mutex_lock(&scheduler.mu);
  scheduler.stopping = 1;
  pthread_cond_signal(&scheduler.cv);
  pthread_mutex_unlock(&scheduler.mu);
  pthread_join(scheduler.thread, NULL);
  scheduler.running = 0;
}
