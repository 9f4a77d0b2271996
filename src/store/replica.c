/* store/replica.h: the read replica's prober, the stale-read scopes and
 * their connections, the writers' marks and the metrics. */
#include "store/replica.h"

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

#define PROBE_MS 500
#define SAMPLES 128       /* primary positions kept: 64 s at one per probe */
#define WRITER_SLOTS 4096 /* power of two: the last write per caller hash */
#define CONNS_MAX 1024    /* replica connections, one per thread that read it */
#define FENCE_MS 250      /* the feed confirms within it (1-30 ms seen under load), or the scope reads the primary */

/* The primary's WAL flush position: every commit that returned before it
 * was read lies at or below it (COMMIT returns once its WAL is flushed:
 * synchronous_commit on, the default, which the backend's durability
 * needs anyway; the insert position would not do: at a page boundary it
 * counts the next page's header, which no replay reaches while idle). The standby's replay position, and whether it is
 * a standby at all (a promoted or wrong server is not a replica). */
static const char k_primary_lsn_pg[] = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint";
static const char k_replay_lsn_pg[] =
    "SELECT CAST(pg_is_in_recovery() AS INTEGER), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";

typedef struct {
  int64_t at_ms; /* monotonic */
  int64_t lsn;
} sample;

static struct replica_state {
  char primary[1024];
  char url[1024];
  int max_lag_ms;
  _Atomic int state;           /* SF_REPLICA_*; OFF when not started */
  _Atomic int64_t lag_ms;      /* the last probe's measure, -1 unknown */
  _Atomic int64_t horizon_ms;  /* commits that returned before it are on the replica (monotonic); 0 none */
  _Atomic unsigned generation; /* moves on at each start and stop: threads drop their connection */
  atomic_uint_fast64_t reads_replica, reads_primary, probe_errors, fallbacks, unfenced;
  _Atomic(sf_replica_fence_fn) fence;
  _Atomic int64_t last_write[WRITER_SLOTS];
  _Atomic int64_t everyone_wrote; /* sf_replica_note_everyone: a write of anyone's, maybe */
  /* the prober (its thread only, but for start/stop) */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  int stopping, running;
  sf_db *primary_db, *standby_db;
  sample ring[SAMPLES];
  int nsamples, next;
  /* every thread's replica connection, closed at stop */
  sf_db *conns[CONNS_MAX];
  int nconns;
  int metrics_added;
} replica = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static __thread sf_db *t_conn;
static __thread unsigned t_generation;
static __thread int t_scope;    /* 1 in a scope that reads the replica */
static __thread int t_counted;  /* the scope's first read was counted */
static __thread int t_in_scope; /* in a scope at all */

static int64_t now_ms(void) { return (int64_t)(sf_mono_ns() / 1000000); }

int sf_replica_state(void) { return atomic_load(&replica.state); }

const char *sf_replica_state_name(int state) {
  switch (state) {
    case SF_REPLICA_OK: return "ok";
    case SF_REPLICA_LAGGING: return "lagging";
    case SF_REPLICA_DOWN: return "down";
    default: return "off";
  }
}

/* ---- the writers' marks ---- */

static uint32_t slot_of(const char *user_id, const char *client_ip) {
  const char *key = user_id && *user_id ? user_id : client_ip;
  uint32_t h = user_id && *user_id ? 2166136261u : 2166136261u ^ 0x5bd1e995u; /* users and addresses apart */
  for (const char *p = key ? key : ""; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h & (WRITER_SLOTS - 1);
}

void sf_replica_note_write(const char *user_id, const char *client_ip) {
  if (atomic_load_explicit(&replica.state, memory_order_relaxed) == SF_REPLICA_OFF) return;
  if (!(user_id && *user_id) && !(client_ip && *client_ip)) return;
  atomic_store_explicit(&replica.last_write[slot_of(user_id, client_ip)], now_ms(), memory_order_relaxed);
}

void sf_replica_note_everyone(void) {
  if (atomic_load_explicit(&replica.state, memory_order_relaxed) == SF_REPLICA_OFF) return;
  atomic_store(&replica.everyone_wrote, now_ms());
}

void sf_replica_set_fence(sf_replica_fence_fn fn) { atomic_store(&replica.fence, fn); }

/* ---- scopes and their connections ---- */

/* The caller's last noted write, and the last unknown one of anyone's, is
 * on the replica (or there is none). */
static int writes_replayed(const char *user_id, const char *client_ip) {
  int known = (user_id && *user_id) || (client_ip && *client_ip);
  int64_t wrote =
      known ? atomic_load_explicit(&replica.last_write[slot_of(user_id, client_ip)], memory_order_relaxed) : 0;
  int64_t anyone = atomic_load(&replica.everyone_wrote);
  return (wrote > anyone ? wrote : anyone) < atomic_load_explicit(&replica.horizon_ms, memory_order_acquire);
}

void sf_replica_scope_begin(const char *user_id, const char *client_ip) {
  int state = atomic_load_explicit(&replica.state, memory_order_acquire);
  if (state == SF_REPLICA_OFF) return;
  t_in_scope = 1;
  t_counted = 0;
  t_scope = 0;
  if (state != SF_REPLICA_OK || !writes_replayed(user_id, client_ip)) return;
  /* A write made through another instance is noted here once the feed
   * brings it: make sure it has brought everything that committed before
   * this request, then ask again (the note may just have come). */
  sf_replica_fence_fn fence = atomic_load(&replica.fence);
  if (fence && fence(FENCE_MS) != 0) {
    atomic_fetch_add_explicit(&replica.unfenced, 1, memory_order_relaxed);
    return;
  }
  t_scope = writes_replayed(user_id, client_ip);
}

int sf_replica_scope_end(void) {
  int used = t_in_scope && t_scope && t_counted;
  t_in_scope = t_scope = t_counted = 0;
  return used;
}

static void mark_down(const char *why) {
  int was = SF_REPLICA_OK;
  if (atomic_compare_exchange_strong(&replica.state, &was, SF_REPLICA_DOWN))
    sf_log_warn("read replica down: reads go to the primary", "\"detail\":\"%.200s\"", why);
}

void sf_replica_read_failed(void) {
  atomic_fetch_add(&replica.fallbacks, 1);
  mark_down("a read on the replica failed");
}

static sf_db *thread_conn(void) {
  unsigned gen = atomic_load_explicit(&replica.generation, memory_order_acquire);
  if (t_conn && t_generation == gen) return t_conn;
  t_conn = NULL;
  sf_err err = {0};
  sf_db *db = sf_db_open(replica.url, SF_DB_READ, &err);
  if (!db) {
    mark_down(err.detail);
    return NULL;
  }
  pthread_mutex_lock(&replica.mu);
  int kept = gen == atomic_load(&replica.generation) && replica.nconns < CONNS_MAX;
  if (kept) replica.conns[replica.nconns++] = db;
  pthread_mutex_unlock(&replica.mu);
  if (!kept) { /* stopped meanwhile, or more threads than slots: not kept */
    sf_db_close(db);
    return NULL;
  }
  t_conn = db;
  t_generation = gen;
  return db;
}

sf_db *sf_replica_scoped_reader(void) {
  if (!t_in_scope) return NULL;
  sf_db *db = t_scope ? thread_conn() : NULL;
  if (!db) t_scope = 0;
  if (!t_counted) {
    t_counted = 1;
    atomic_fetch_add_explicit(db ? &replica.reads_replica : &replica.reads_primary, 1, memory_order_relaxed);
  }
  return db;
}

/* ---- the prober ---- */

/* One int64 column of a one-row query; col0 (optional) gets the first. */
static int query_lsn(sf_db *db, const char *sql, int64_t *col0, int64_t *lsn, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, sql, err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  int n = col0 ? 1 : 0;
  if (rc == 1) {
    if (col0) *col0 = sf_stmt_col_int(st, 0);
    *lsn = sf_stmt_col_is_null(st, n) ? -1 : sf_stmt_col_int(st, n);
  }
  sf_stmt_reset(st);
  if (rc == 0) sf_err_internal(err, "no row");
  return rc == 1 ? 0 : -1;
}

static sf_db *probe_conn(sf_db **slot, const char *location, sf_err *err) {
  if (!*slot) *slot = sf_db_open(location, SF_DB_READ, err);
  return *slot;
}

static void add_sample(int64_t at, int64_t lsn) {
  replica.ring[replica.next] = (sample){at, lsn};
  replica.next = (replica.next + 1) % SAMPLES;
  if (replica.nsamples < SAMPLES) replica.nsamples++;
}

/* The newest sample at or below the replay position: its time; 0 if none
 * (the replica is behind every sample kept, or there is none yet). */
static int64_t horizon_of(int64_t replay) {
  int64_t best = 0;
  for (int i = 0; i < replica.nsamples; i++)
    if (replica.ring[i].lsn <= replay && replica.ring[i].at_ms > best) best = replica.ring[i].at_ms;
  return best;
}

static void set_state(int state, int64_t lag, const char *detail) {
  atomic_store(&replica.lag_ms, lag);
  int was = atomic_exchange(&replica.state, state);
  if (was == state) return;
  if (state == SF_REPLICA_OK)
    sf_log_info("read replica serves reads", "\"lag_ms\":%" PRId64, lag);
  else
    sf_log_warn(state == SF_REPLICA_DOWN ? "read replica down: reads go to the primary"
                                         : "read replica lagging: reads go to the primary",
                "\"lag_ms\":%" PRId64 ",\"max_lag_ms\":%d,\"detail\":\"%.200s\"", lag, replica.max_lag_ms, detail);
}

static void probe(void) {
  sf_err err = {0};
  int64_t lsn = 0;
  /* the primary first: a sample taken before the replay position is read
   * can only make the horizon older, never newer than the truth */
  sf_db *p = probe_conn(&replica.primary_db, replica.primary, &err);
  if (p && query_lsn(p, k_primary_lsn_pg, NULL, &lsn, &err) == 0 && lsn >= 0) add_sample(now_ms(), lsn);
  sf_err serr = {0};
  int64_t recovering = 0, replay = -1;
  sf_db *s = probe_conn(&replica.standby_db, replica.url, &serr);
  if (!s || query_lsn(s, k_replay_lsn_pg, &recovering, &replay, &serr)) {
    atomic_fetch_add(&replica.probe_errors, 1);
    set_state(SF_REPLICA_DOWN, -1, serr.detail);
    return;
  }
  if (!recovering || replay < 0) {
    set_state(SF_REPLICA_DOWN, -1, "the server of database_read_url is not a standby (not in recovery)");
    return;
  }
  int64_t horizon = horizon_of(replay), now = now_ms();
  int64_t lag = horizon ? now - horizon : -1;
  if (horizon) atomic_store(&replica.horizon_ms, horizon);
  set_state(horizon && lag <= replica.max_lag_ms ? SF_REPLICA_OK : SF_REPLICA_LAGGING, lag,
            horizon ? "lag over database_read_max_lag_ms" : "behind every position sampled");
}

static void *prober_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&replica.mu);
  while (!replica.stopping) {
    pthread_mutex_unlock(&replica.mu);
    probe();
    pthread_mutex_lock(&replica.mu);
    struct timespec until = sf_deadline_ms(PROBE_MS);
    if (!replica.stopping) pthread_cond_timedwait(&replica.wake, &replica.mu, &until);
  }
  pthread_mutex_unlock(&replica.mu);
  return NULL;
}

/* ---- metrics ---- */

static void collect(sf_buf *b) {
  int state = atomic_load(&replica.state);
  if (state == SF_REPLICA_OFF) return;
  int64_t lag = atomic_load(&replica.lag_ms);
  sf_buf_printf(b,
                "# HELP sf_read_replica_lag_seconds How far the read replica is behind the primary (measured every "
                "0.5 s; -1 unknown).\n# TYPE sf_read_replica_lag_seconds gauge\nsf_read_replica_lag_seconds %.3f\n"
                "# HELP sf_read_replica_up 1 while stale-tolerant reads go to the replica (reachable, within "
                "database_read_max_lag_ms).\n# TYPE sf_read_replica_up gauge\nsf_read_replica_up %d\n"
                "# HELP sf_read_replica_reads_total Requests whose stale-tolerant reads went to the replica or, "
                "when it lagged, was down or the caller had just written, to the primary.\n"
                "# TYPE sf_read_replica_reads_total counter\n"
                "sf_read_replica_reads_total{target=\"replica\"} %" PRIuFAST64 "\n"
                "sf_read_replica_reads_total{target=\"primary\"} %" PRIuFAST64 "\n"
                "# HELP sf_read_replica_fallbacks_total Requests the replica failed (503) and the primary answered.\n"
                "# TYPE sf_read_replica_fallbacks_total counter\nsf_read_replica_fallbacks_total %" PRIuFAST64 "\n"
                "# HELP sf_read_replica_probe_errors_total Lag probes that could not read the replica.\n"
                "# TYPE sf_read_replica_probe_errors_total counter\nsf_read_replica_probe_errors_total %" PRIuFAST64
                "\n"
                "# HELP sf_read_replica_unfenced_total Requests that read the primary because the commit feed did not "
                "confirm within 0.25 s that every other instance's earlier write was heard here.\n"
                "# TYPE sf_read_replica_unfenced_total counter\nsf_read_replica_unfenced_total %" PRIuFAST64 "\n",
                lag < 0 ? -1.0 : (double)lag / 1000.0, state == SF_REPLICA_OK, atomic_load(&replica.reads_replica),
                atomic_load(&replica.reads_primary), atomic_load(&replica.fallbacks),
                atomic_load(&replica.probe_errors), atomic_load(&replica.unfenced));
}

/* ---- start and stop ---- */

int sf_replica_start(const char *primary, const char *read_url, int max_lag_ms, sf_err *err) {
  if (!read_url || !*read_url) return 0;
  if (strncmp(primary, "postgres", 8) != 0 || !strstr(primary, "://"))
    return sf_err_set(err, 400, "config", "Bad configuration",
                      "database_read_url needs a PostgreSQL database_url (the replica streams from it)");
  if (strncmp(read_url, "postgres://", 11) != 0 && strncmp(read_url, "postgresql://", 13) != 0)
    return sf_err_set(err, 400, "config", "Bad configuration",
                      "database_read_url: expected postgres://... (a PostgreSQL streaming standby)");
  snprintf(replica.primary, sizeof replica.primary, "%s", primary);
  snprintf(replica.url, sizeof replica.url, "%s", read_url);
  replica.max_lag_ms = max_lag_ms;
  replica.stopping = 0;
  replica.nsamples = replica.next = 0;
  atomic_store(&replica.lag_ms, -1);
  atomic_store(&replica.horizon_ms, 0);
  atomic_store(&replica.everyone_wrote, 0);
  atomic_fetch_add(&replica.generation, 1);
  atomic_store(&replica.state, SF_REPLICA_DOWN); /* until the first probe says otherwise */
  if (!replica.metrics_added++) sf_metrics_add_collector(collect);
  if (pthread_create(&replica.thread, NULL, prober_main, NULL)) {
    atomic_store(&replica.state, SF_REPLICA_OFF);
    return sf_err_internal(err, "cannot start the read replica prober");
  }
  replica.running = 1;
  sf_log_info("read replica configured", "\"max_lag_ms\":%d", max_lag_ms);
  return 0;
}

void sf_replica_stop(void) {
  if (!replica.running) return;
  pthread_mutex_lock(&replica.mu);
  replica.stopping = 1;
  pthread_cond_signal(&replica.wake);
  pthread_mutex_unlock(&replica.mu);
  pthread_join(replica.thread, NULL);
  replica.running = 0;
  atomic_store(&replica.state, SF_REPLICA_OFF);
  sf_db_close(replica.primary_db);
  sf_db_close(replica.standby_db);
  replica.primary_db = replica.standby_db = NULL;
  pthread_mutex_lock(&replica.mu);
  atomic_fetch_add(&replica.generation, 1);
  int n = replica.nconns;
  replica.nconns = 0;
  pthread_mutex_unlock(&replica.mu);
  for (int i = 0; i < n; i++) sf_db_close(replica.conns[i]);
}
