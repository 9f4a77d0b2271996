/* The background lease (events/lease.h). */
#define _GNU_SOURCE /* pthread_setname_np */
#include "events/lease.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/writer.h"

#define LEASE_NAME "background"
#define MAX_CALLBACKS 8

static struct lease_state {
  char instance[300];
  int ttl_ms;
  _Atomic int active; /* between sf_lease_start and sf_lease_stop */
  _Atomic int held;
  _Atomic int64_t held_until; /* monotonic ms: this process stops trusting the lease then */
  _Atomic long changes;
  int reported; /* the last state the callbacks were told of (sf-lease thread) */
  sf_lease_change_fn callbacks[MAX_CALLBACKS];
  int ncallbacks;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stopping;
} lease = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t mono_ms(void) { return (int64_t)(sf_mono_ns() / 1000000); }

const char *sf_lease_instance(void) {
  if (!lease.instance[0]) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(lease.instance, sizeof lease.instance, "%s:%d:%08" PRIx32, host, (int)getpid(), randombytes_random());
  }
  return lease.instance;
}

int sf_lease_held(void) {
  if (!atomic_load_explicit(&lease.active, memory_order_acquire)) return 1; /* no lease in play: ours */
  return atomic_load_explicit(&lease.held, memory_order_acquire) && mono_ms() < atomic_load(&lease.held_until);
}

void sf_lease_on_change(sf_lease_change_fn fn) {
  pthread_mutex_lock(&lease.mu);
  if (lease.ncallbacks < MAX_CALLBACKS) lease.callbacks[lease.ncallbacks++] = fn;
  pthread_mutex_unlock(&lease.mu);
}

void sf_lease_clear_callbacks(void) {
  pthread_mutex_lock(&lease.mu);
  lease.ncallbacks = 0;
  pthread_mutex_unlock(&lease.mu);
}

/* ---- the writer command: take, renew or give up the row ---- */

typedef struct {
  sf_cmd cmd;
  int give_up;
  int held; /* out */
} lease_cmd;

static int lease_write(sf_tx *tx, int64_t now, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO leases(name, holder, expires_at, acquired_at) VALUES(?, ?, ?, ?)"
                              " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                              " expires_at = excluded.expires_at, acquired_at = CASE WHEN leases.holder ="
                              " excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, LEASE_NAME);
  sf_stmt_text(st, 2, sf_lease_instance());
  sf_stmt_int(st, 3, now + lease.ttl_ms);
  sf_stmt_int(st, 4, now);
  return sf_stmt_run(st, err);
}

static int lease_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  lease_cmd *l = (lease_cmd *)c;
  l->held = 0;
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT holder, expires_at FROM leases WHERE name = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, LEASE_NAME);
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return -1;
  int mine = rc == 1 && strcmp(sf_stmt_col_text(st, 0), sf_lease_instance()) == 0;
  /* The real clock, also in the test-clock build: instances compare their
   * expiry times, and a test moves only its own process's clock. */
  int64_t now = sf_real_ms(), expires = rc == 1 ? sf_stmt_col_int(st, 1) : 0;
  sf_stmt_reset(st);
  if (l->give_up) {
    if (!mine) return 0;
    st = sf_db_prepare(tx->db, "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", err);
    if (!st) return -1;
    sf_stmt_text(st, 1, LEASE_NAME);
    sf_stmt_text(st, 2, sf_lease_instance());
    return sf_stmt_run(st, err);
  }
  if (rc == 1 && !mine && expires > now) return 0; /* another instance holds it */
  if (lease_write(tx, now, err)) return -1;
  l->held = 1;
  return 0;
}

static void lease_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

/* One attempt; updates the state. 0 or -1 with err (the lease is then
 * trusted until held_until, no longer). */
static int renew(sf_err *err) {
  int64_t before = mono_ms();
  lease_cmd l = {.cmd = {.run = lease_run, .done = lease_done}};
  if (sf_writer_exec(&l.cmd)) {
    *err = l.cmd.err;
    return -1;
  }
  if (l.held) {
    atomic_store(&lease.held_until, before + (int64_t)lease.ttl_ms * 4 / 5);
    atomic_store_explicit(&lease.held, 1, memory_order_release);
  } else {
    atomic_store_explicit(&lease.held, 0, memory_order_release);
  }
  return 0;
}

/* Tells the callbacks when the state moved since they last heard. */
static void report(void) {
  int now = sf_lease_held();
  if (now == lease.reported) return;
  lease.reported = now;
  atomic_fetch_add(&lease.changes, 1);
  sf_log_info(now              ? "background lease held: this instance runs the background work"
              : lease.stopping ? "background lease given up (stopping)"
                               : "background lease not held: another instance runs the background work",
              "\"instance\":\"%s\"", sf_lease_instance());
  pthread_mutex_lock(&lease.mu);
  int n = lease.ncallbacks;
  sf_lease_change_fn fns[MAX_CALLBACKS];
  memcpy(fns, lease.callbacks, sizeof fns);
  pthread_mutex_unlock(&lease.mu);
  for (int i = 0; i < n; i++) fns[i](now);
}

/* ---- the thread ---- */

static void wait_ms(int64_t ms) {
  struct timespec ts = sf_deadline_ms(ms);
  pthread_mutex_lock(&lease.mu);
  if (!lease.stopping) pthread_cond_timedwait(&lease.cv, &lease.mu, &ts);
  pthread_mutex_unlock(&lease.mu);
}

static int stopping(void) {
  pthread_mutex_lock(&lease.mu);
  int s = lease.stopping;
  pthread_mutex_unlock(&lease.mu);
  return s;
}

static void *lease_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-lease");
  int64_t next = mono_ms() + lease.ttl_ms / 3;
  while (!stopping()) {
    int64_t now = mono_ms();
    if (now >= next) {
      sf_err err = {0};
      if (renew(&err)) sf_log_warn("background lease not renewed", "\"detail\":\"%s\"", err.detail);
      next = now + lease.ttl_ms / 3;
    }
    report();
    int64_t until = next;
    int64_t lapse = atomic_load(&lease.held_until);
    if (lease.reported && lapse < until) until = lapse; /* notice the lapse when it comes */
    wait_ms(until > mono_ms() ? until - mono_ms() : 0);
  }
  return NULL;
}

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_lease_held 1 while this instance holds the lease (runs the background work).\n"
                "# TYPE sf_lease_held gauge\nsf_lease_held{name=\"" LEASE_NAME "\"} %d\n"
                "# HELP sf_lease_changes_total Times this instance took or lost the lease.\n"
                "# TYPE sf_lease_changes_total counter\nsf_lease_changes_total{name=\"" LEASE_NAME "\"} %ld\n",
                sf_lease_held(), atomic_load(&lease.changes));
}

int sf_lease_start(int ttl_ms, const char *instance, sf_err *err) {
  if (instance && instance[0]) snprintf(lease.instance, sizeof lease.instance, "%s", instance);
  static int metrics_added;
  if (!metrics_added) {
    sf_metrics_add_collector(collect);
    metrics_added = 1;
  }
  lease.ttl_ms = ttl_ms < 300 ? 300 : ttl_ms;
  lease.stopping = 0;
  lease.reported = 1; /* as sf_lease_held() said before: the first report tells a standby */
  atomic_store(&lease.held, 0);
  atomic_store_explicit(&lease.active, 1, memory_order_release);
  if (renew(err)) {
    atomic_store(&lease.active, 0);
    return -1;
  }
  report();
  if (pthread_create(&lease.thread, NULL, lease_main, NULL) != 0) return sf_err_internal(err, "cannot start sf-lease");
  lease.running = 1;
  return 0;
}

void sf_lease_stop(void) {
  if (!lease.running) return;
  pthread_mutex_lock(&lease.mu);
  lease.stopping = 1;
  pthread_cond_broadcast(&lease.cv);
  pthread_mutex_unlock(&lease.mu);
  pthread_join(lease.thread, NULL);
  lease.running = 0;
  if (atomic_load(&lease.held)) {
    atomic_store(&lease.held, 0);
    lease_cmd l = {.cmd = {.run = lease_run, .done = lease_done}, .give_up = 1};
    if (sf_writer_exec(&l.cmd)) sf_log_warn("background lease not given up", "\"detail\":\"%s\"", l.cmd.err.detail);
    report();
  }
  atomic_store(&lease.active, 0);
}
