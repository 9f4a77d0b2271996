/* Instances sharing one database hear of each other's commits (events/cluster.h). */
#define _GNU_SOURCE /* pthread_setname_np */
#include "events/cluster.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "events/lease.h"
#include "events/store.h"
#include "store/db.h"
#include "store/replica.h"
#include "store/writer.h"

#define CHANNEL "sf_commit"
#define PAYLOAD_MAX 7900 /* PostgreSQL takes up to 8000 bytes */
#define IDLE_MS 1000

static struct cluster_state {
  char *location;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stopping;
  _Atomic int up; /* the listener is connected */
  int64_t heard;  /* the newest foreign head read from a payload (sf-cluster) */
  int64_t told;   /* the newest head handed to the commit hook (sf-cluster) */
  _Atomic long sent, received, hooks_run, resyncs;
} cluster = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Fences (sf_cluster_fence): pings this instance sends itself through the
 * feed. At most one is being sent at a time; every caller waits for the
 * first one sent after it came. */
static struct fence_state {
  pthread_mutex_t mu;
  pthread_cond_t heard_cv;
  uint64_t sent;   /* the newest ping sent or being sent */
  uint64_t heard;  /* the newest of ours back from the feed (sf-cluster) */
  uint64_t failed; /* the newest whose sending failed */
  int sending;
  sf_db *db; /* the sender's connection to the primary (whoever sends) */
  _Atomic long ok, late;
  atomic_uint_fast64_t wait_ns; /* the time callers spent in fences */
} fence = {.mu = PTHREAD_MUTEX_INITIALIZER, .heard_cv = PTHREAD_COND_INITIALIZER};

/* A ping: "sfping\t<instance>\t<seq>", which instances before fences did
 * not know and skip. Commits asynchronously: it only has to be ordered,
 * not durable (a NOTIFY's transaction has an id, hence a commit record). */
static const char k_ping_pg[] = "SELECT set_config('synchronous_commit', 'off', true), pg_notify('" CHANNEL "', ?)";

/* ---- sending: the writer's publisher ---- */

/* Each broadcast hook once with "*" (the pairs would not fit). */
static void add_names_only(sf_buf *b, const sf_tx_after *after, int n) {
  for (int i = 0; i < n; i++) {
    if (!after[i].broadcast) continue;
    int seen = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = after[j].broadcast && strcmp(after[j].broadcast, after[i].broadcast) == 0;
    if (!seen) sf_buf_printf(b, "%s\t*\n", after[i].broadcast);
  }
}

/* On the writer thread, inside the batch's transaction. */
static int publish(sf_db *db, int64_t head, const sf_tx_after *after, int n, sf_err *err) {
  sf_buf b = {0};
  sf_buf_printf(&b, "sf1\t%s\t%" PRId64 "\n", sf_lease_instance(), head);
  size_t header = b.len;
  for (int i = 0; i < n && b.len <= PAYLOAD_MAX; i++)
    if (after[i].broadcast) sf_buf_printf(&b, "%s\t%s\n", after[i].broadcast, after[i].key);
  if (b.len > PAYLOAD_MAX) {
    b.len = header;
    add_names_only(&b, after, n);
  }
  /* VALUES: PostgreSQL-only SQL, which the SQLite query-plan corpus skips */
  sf_stmt *st = sf_db_prepare(db, "VALUES (pg_notify('" CHANNEL "', ?))", err);
  int rc = -1;
  if (st) {
    sf_stmt_textn(st, 1, b.data, (int)b.len);
    rc = sf_stmt_run_later(st, err); /* sent with the COMMIT, whose failure it then is */
  }
  sf_buf_free(&b);
  if (rc == 0) atomic_fetch_add(&cluster.sent, 1);
  return rc;
}

/* ---- fences ---- */

/* Outside fence.mu; fence.db belongs to the one sending. */
static int send_ping(uint64_t seq) {
  sf_err err = {0};
  if (!fence.db) fence.db = sf_db_open(cluster.location, SF_DB_READ, &err);
  sf_stmt *st = fence.db ? sf_db_prepare(fence.db, k_ping_pg, &err) : NULL;
  if (!st) return -1;
  char payload[400];
  snprintf(payload, sizeof payload, "sfping\t%s\t%" PRIu64, sf_lease_instance(), seq);
  sf_stmt_text(st, 1, payload);
  return sf_stmt_run(st, &err) ? -1 : 0;
}

/* On sf-cluster: one of our pings came back, after every NOTIFY queued
 * before it (PostgreSQL queues them in commit order) had been handled. */
static void on_ping(const char *payload) {
  char instance[300];
  uint64_t seq = 0;
  if (sscanf(payload, "sfping\t%299[^\t]\t%" SCNu64, instance, &seq) < 2) return;
  if (strcmp(instance, sf_lease_instance()) != 0) return;
  pthread_mutex_lock(&fence.mu);
  if (seq > fence.heard) fence.heard = seq;
  pthread_cond_broadcast(&fence.heard_cv);
  pthread_mutex_unlock(&fence.mu);
}

/* With fence.mu held: sends the next ping, letting the lock go meanwhile,
 * and wakes the waiters (one for a later ping may send it now). */
static void send_next_ping(void) {
  fence.sending = 1;
  uint64_t seq = ++fence.sent;
  pthread_mutex_unlock(&fence.mu);
  int failed = send_ping(seq);
  pthread_mutex_lock(&fence.mu);
  fence.sending = 0;
  if (failed) fence.failed = seq;
  pthread_cond_broadcast(&fence.heard_cv);
}

/* The wait: a ping sent after the call, back. The one in flight when the
 * call came may have been queued before a commit that completed before the
 * call, so it does not count. */
static int await_ping(int timeout_ms) {
  struct timespec until = sf_deadline_ms(timeout_ms);
  pthread_mutex_lock(&fence.mu);
  uint64_t need = fence.sent + 1;
  int rc = 0;
  while (fence.heard < need && rc == 0) {
    if (fence.failed >= need) {
      rc = -1;
    } else if (!fence.sending && fence.sent < need) {
      send_next_ping();
    } else if (pthread_cond_timedwait(&fence.heard_cv, &fence.mu, &until) != 0) {
      rc = -1;
    }
  }
  pthread_mutex_unlock(&fence.mu);
  return rc;
}

/* At start, before any request: the sender's connection opened and its
 * statement prepared, so the first fence pays neither (a ping nobody
 * waits for). */
static void warm_fence(void) {
  pthread_mutex_lock(&fence.mu);
  send_next_ping();
  pthread_mutex_unlock(&fence.mu);
}

int sf_cluster_fence(int timeout_ms) {
  if (!cluster.running) return 0; /* one process: it hears its own commits before answering */
  uint64_t t0 = sf_mono_ns();
  int rc = atomic_load(&cluster.up) ? await_ping(timeout_ms) : -1;
  atomic_fetch_add(rc == 0 ? &fence.ok : &fence.late, 1);
  atomic_fetch_add(&fence.wait_ns, sf_mono_ns() - t0);
  return rc;
}

/* ---- receiving: the sf-cluster thread ---- */

/* One payload: "sf1\t<instance>\t<head>\n" then "<hook>\t<key>\n" lines,
 * or a fence's ping. This instance's own commits come back too: their hooks
 * already ran here. */
static void on_payload(void *ud, const char *payload) {
  (void)ud;
  if (strncmp(payload, "sfping\t", 7) == 0) {
    on_ping(payload);
    return;
  }
  char instance[300];
  int64_t head = 0;
  int used = 0;
  if (sscanf(payload, "sf1\t%299[^\t]\t%" SCNd64 "\n%n", instance, &head, &used) < 2 || used == 0) return;
  if (strcmp(instance, sf_lease_instance()) == 0) return;
  atomic_fetch_add(&cluster.received, 1);
  if (head > cluster.heard) cluster.heard = head;
  for (const char *line = payload + used; *line;) {
    const char *end = strchr(line, '\n'), *tab = strchr(line, '\t');
    if (!end) end = line + strlen(line);
    if (tab && tab < end) {
      char name[64], key[80];
      snprintf(name, sizeof name, "%.*s", (int)(tab - line), line);
      snprintf(key, sizeof key, "%.*s", (int)(end - tab - 1), tab + 1);
      if (sf_writer_broadcast_run(name, key) == 0) atomic_fetch_add(&cluster.hooks_run, 1);
    }
    line = *end ? end + 1 : end;
  }
}

/* The head in the database: what a lost payload would have said. */
static void read_head(void) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t head = db ? sf_ev_head(db, &err) : -1;
  if (head > cluster.heard) cluster.heard = head;
}

static void tell_head(void) {
  if (cluster.heard <= cluster.told) return;
  cluster.told = cluster.heard;
  sf_writer_foreign_commit(cluster.told);
}

static int stopping_now(void) {
  pthread_mutex_lock(&cluster.mu);
  int s = cluster.stopping;
  pthread_mutex_unlock(&cluster.mu);
  return s;
}

static void pause_ms(int ms) {
  struct timespec ts = sf_deadline_ms(ms);
  pthread_mutex_lock(&cluster.mu);
  if (!cluster.stopping) pthread_cond_timedwait(&cluster.cv, &cluster.mu, &ts);
  pthread_mutex_unlock(&cluster.mu);
}

/* Connects and listens; then everything that may have been missed while
 * not listening is caught up: caches emptied, the head read. */
static sf_db_listener *listen_again(int *logged) {
  sf_err err = {0};
  sf_db_listener *l = sf_db_listen_open(cluster.location, CHANNEL, &err);
  if (!l) {
    if (!*logged) sf_log_warn("cluster: cannot listen", "\"detail\":\"%s\"", err.detail);
    *logged = 1;
    return NULL;
  }
  if (*logged) sf_log_info("cluster: listening again", "\"channel\":\"" CHANNEL "\"");
  *logged = 0;
  atomic_store(&cluster.up, 1);
  atomic_fetch_add(&cluster.resyncs, 1);
  sf_writer_broadcast_everything();
  read_head();
  return l;
}

static void *cluster_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-cluster");
  sf_db_listener *l = NULL;
  int logged = 0;
  while (!stopping_now()) {
    if (!l && !(l = listen_again(&logged))) {
      pause_ms(IDLE_MS);
      continue;
    }
    sf_err err = {0};
    int n = sf_db_listen_wait(l, IDLE_MS, on_payload, NULL, &err);
    if (n < 0) {
      sf_log_warn("cluster: listening connection lost", "\"detail\":\"%s\"", err.detail);
      atomic_store(&cluster.up, 0);
      sf_db_listen_close(l);
      l = NULL;
      logged = 1;
      continue;
    }
    if (n == 0) read_head();
    tell_head();
  }
  sf_db_listen_close(l);
  atomic_store(&cluster.up, 0);
  return NULL;
}

static void collect(sf_buf *b) {
  if (!cluster.running) return;
  sf_buf_printf(b,
                "# HELP sf_cluster_listening 1 while this instance hears the others' commits.\n"
                "# TYPE sf_cluster_listening gauge\nsf_cluster_listening %d\n"
                "# HELP sf_cluster_notifications_total Commit notifications sent and received (from others).\n"
                "# TYPE sf_cluster_notifications_total counter\n"
                "sf_cluster_notifications_total{direction=\"sent\"} %ld\n"
                "sf_cluster_notifications_total{direction=\"received\"} %ld\n"
                "# HELP sf_cluster_hooks_total Other instances' after-commit hooks run here.\n"
                "# TYPE sf_cluster_hooks_total counter\nsf_cluster_hooks_total %ld\n"
                "# HELP sf_cluster_resyncs_total Times the listener (re)connected and emptied the caches.\n"
                "# TYPE sf_cluster_resyncs_total counter\nsf_cluster_resyncs_total %ld\n"
                "# HELP sf_cluster_fences_total Fences (every earlier commit heard here?) that the feed confirmed "
                "in time or not.\n# TYPE sf_cluster_fences_total counter\n"
                "sf_cluster_fences_total{result=\"ok\"} %ld\nsf_cluster_fences_total{result=\"late\"} %ld\n"
                "# HELP sf_cluster_fence_wait_seconds_total Time requests spent waiting in fences.\n"
                "# TYPE sf_cluster_fence_wait_seconds_total counter\nsf_cluster_fence_wait_seconds_total %.6f\n",
                atomic_load(&cluster.up), atomic_load(&cluster.sent), atomic_load(&cluster.received),
                atomic_load(&cluster.hooks_run), atomic_load(&cluster.resyncs), atomic_load(&fence.ok),
                atomic_load(&fence.late), (double)atomic_load(&fence.wait_ns) / 1e9);
}

const char *sf_cluster_state(void) {
  if (!cluster.running) return "off";
  return atomic_load(&cluster.up) ? "ok" : "down";
}

int sf_cluster_start(const char *location, sf_err *err) {
  sf_err probe = {0};
  sf_db_listener *l = sf_db_listen_open(location, CHANNEL, &probe);
  if (!l && probe.status == 501) return 0; /* one process owns this database */
  int reachable = l != NULL;
  sf_db_listen_close(l); /* the thread opens its own (503: it keeps trying) */
  static int metrics_added;
  if (!metrics_added) {
    sf_metrics_add_collector(collect);
    metrics_added = 1;
  }
  free(cluster.location);
  cluster.location = sf_strdup(location);
  cluster.stopping = 0;
  cluster.heard = cluster.told = 0;
  sf_writer_on_publish(publish);
  if (pthread_create(&cluster.thread, NULL, cluster_main, NULL) != 0) {
    sf_writer_on_publish(NULL);
    return sf_err_internal(err, "cannot start sf-cluster");
  }
  cluster.running = 1;
  if (reachable) warm_fence(); /* else the first fence connects */
  sf_replica_set_fence(sf_cluster_fence);
  return 0;
}

void sf_cluster_stop(void) {
  if (!cluster.running) return;
  pthread_mutex_lock(&cluster.mu);
  cluster.stopping = 1;
  pthread_cond_broadcast(&cluster.cv);
  pthread_mutex_unlock(&cluster.mu);
  pthread_join(cluster.thread, NULL);
  cluster.running = 0; /* the publisher stays: the writer may still commit, and others still listen */
  sf_replica_set_fence(NULL);
  sf_db_close(fence.db); /* after HTTP: nobody fences any more */
  fence.db = NULL;
}
