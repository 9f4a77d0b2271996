#define _GNU_SOURCE /* pthread_setname_np */
#include "store/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/checkpoint.h"
#include "store/wal_vfs.h"

/* A FIFO of commands linked through their next_ field. Closing it refuses
 * new pushes (when asked to) and lets the consumer drain it and stop. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sf_cmd *head, *tail;
  int open;
  int len;
  /* writer queue only, under mu: batches committed and not yet synced, and
   * the queue length the writer waits for meanwhile (0: not waiting) */
  int unsynced, want;
} cmd_queue;

#define QUEUE_INIT                                                                                                     \
  { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER }

/* Appends the list starting at first. Returns -1 (nothing appended) if the
 * queue is closed and only_if_open is set. */
static int queue_push(cmd_queue *q, sf_cmd *first, int only_if_open) {
  if (!first) return 0;
  sf_cmd *last = first;
  int n = 1;
  while (last->next_) last = last->next_, n++;
  pthread_mutex_lock(&q->mu);
  if (only_if_open && !q->open) {
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  if (q->tail)
    q->tail->next_ = first;
  else
    q->head = first;
  q->tail = last;
  q->len += n;
  /* wake the consumer when it has something, or as much as it waits for */
  if (q->len == n || (q->want && q->len >= q->want && q->len - n < q->want)) pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

/* Waits for commands and takes up to max of them (*n set); NULL once the
 * queue is closed and empty. */
static sf_cmd *take_locked(cmd_queue *q, int max, int *n) {
  sf_cmd *list = q->head, *last = q->head;
  *n = 0;
  if (list) {
    *n = 1;
    while (last->next_ && *n < max) last = last->next_, (*n)++;
    q->head = last->next_;
    if (!q->head) q->tail = NULL;
    last->next_ = NULL;
    q->len -= *n;
  }
  return list;
}

/* Waits on q->cv (q->mu held) until signalled or, given a deadline
 * (sf_mono_ns; 0 = none), until then. Returns 1 once the deadline passed. */
static int queue_wait(cmd_queue *q, uint64_t deadline_ns) {
  if (!deadline_ns) {
    pthread_cond_wait(&q->cv, &q->mu);
    return 0;
  }
  uint64_t now = sf_mono_ns();
  if (now >= deadline_ns) return 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_nsec + (deadline_ns - now);
  ts.tv_sec += (time_t)(ns / 1000000000u);
  ts.tv_nsec = (long)(ns % 1000000000u);
  pthread_cond_timedwait(&q->cv, &q->mu, &ts);
  return sf_mono_ns() >= deadline_ns;
}

/* Takes up to max commands, waiting for one until the deadline (0: none). */
static sf_cmd *queue_take(cmd_queue *q, int max, int *n, uint64_t deadline_ns) {
  pthread_mutex_lock(&q->mu);
  while (!q->head && q->open && !queue_wait(q, deadline_ns)) continue;
  sf_cmd *list = take_locked(q, max, n);
  pthread_mutex_unlock(&q->mu);
  return list;
}

static void queue_set_open(cmd_queue *q, int open) {
  pthread_mutex_lock(&q->mu);
  q->open = open;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

/* A committed (or failed) batch on its way from the writer to the sync
 * thread: its commands, its after-commit hooks, the chain head it left. */
typedef struct batch {
  struct batch *next;
  sf_cmd *list;
  sf_tx_after *after;
  int nafter;
  int64_t head; /* chain head after the batch if it appended events, else 0 */
  uint64_t seq;
} batch;

typedef struct {
  uint64_t seq;
  void (*fn)(void *ud);
  void *ud;
} durable_waiter;

static struct {
  cmd_queue queue;    /* submitted commands, consumed by the writer */
  cmd_queue finished; /* durable or failed batches, answered by the completer */
  pthread_t thread, completer, syncer;
  int running;
  int max_batch;
  int pipelined;
  sf_db *db;
  sf_writer_commit_hook hook;
  void *hook_ud;
  /* pipelined commits: writer -> sync thread */
  pthread_mutex_t smu;
  pthread_cond_t scv;
  batch *shead, *stail;
  int sopen;
  uint64_t seq;             /* batches committed (writer thread only) */
  _Atomic uint64_t visible; /* newest batch whose COMMIT has begun */
  _Atomic uint64_t durable; /* newest batch known to be on disk */
  pthread_mutex_t dmu;      /* durable waiters */
  pthread_cond_t dcv;
  durable_waiter *waiters;
  int nwaiters, cap_waiters;
  /* storage faults, for /readyz */
  pthread_mutex_t fmu;
  sf_err fault;
  atomic_int faulted;
  atomic_int give_up; /* shutting down: no more retries */
  atomic_int probing; /* the storage probe is in a batch */
} W = {.queue = QUEUE_INIT,
       .finished = QUEUE_INIT,
       .smu = PTHREAD_MUTEX_INITIALIZER,
       .scv = PTHREAD_COND_INITIALIZER,
       .dmu = PTHREAD_MUTEX_INITIALIZER,
       .dcv = PTHREAD_COND_INITIALIZER,
       .fmu = PTHREAD_MUTEX_INITIALIZER};

/* Commands the storage failed, waiting to run again (writer thread only). */
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 1000
static struct {
  sf_cmd *head, *tail;
  int n;
  uint64_t at_ns;
  int backoff_ms;
} R = {.backoff_ms = RETRY_FIRST_MS};

/* done() callbacks run on their own thread, so the writer starts the next
 * transaction while the suspended requests are being woken. */
static void *completer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-complete");
  int n;
  sf_cmd *list;
  while ((list = queue_take(&W.finished, 1 << 30, &n, 0)))
    for (sf_cmd *c = list, *next; c; c = next) {
      next = c->next_;
      c->done(c, c->err.status ? -c->err.status : 0);
    }
  return NULL;
}

void sf_writer_on_commit(sf_writer_commit_hook fn, void *ud) {
  W.hook = fn;
  W.hook_ud = ud;
}

int sf_writer_running(void) {
  pthread_mutex_lock(&W.queue.mu);
  int open = W.queue.open;
  pthread_mutex_unlock(&W.queue.mu);
  return W.running && open;
}

static int load_head(sf_tx *tx, sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db, "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return rc;
  if (rc == 1) {
    tx->head_position = sf_stmt_col_int(st, 0);
    snprintf(tx->head_hash, sizeof tx->head_hash, "%s", sf_stmt_col_text(st, 1));
  } else {
    tx->head_position = 0;
    memset(tx->head_hash, '0', 64);
    tx->head_hash[64] = '\0';
  }
  sf_stmt_reset(st);
  return 0;
}

/* Runs a cached statement with no result (transaction control is prepared
 * once: re-parsing it for every command was measurable). */
static int run_cached(sf_db *db, const char *sql, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, sql, err);
  return st ? sf_stmt_run(st, err) : -500;
}

int sf_tx_savepoint(sf_tx *tx, sf_tx_mark *m, sf_err *err) {
  m->head_position = tx->head_position;
  memcpy(m->head_hash, tx->head_hash, sizeof m->head_hash);
  m->nafter = tx->nafter;
  return run_cached(tx->db, "SAVEPOINT item", err);
}

int sf_tx_release(sf_tx *tx, sf_err *err) { return run_cached(tx->db, "RELEASE item", err); }

static uint64_t g_epoch; /* writer thread */

int sf_tx_rollback(sf_tx *tx, const sf_tx_mark *m, sf_err *err) {
  if (tx->head_position != m->head_position) tx->epoch = ++g_epoch;
  if (run_cached(tx->db, "ROLLBACK TO item", err) || run_cached(tx->db, "RELEASE item", err)) return -1;
  tx->head_position = m->head_position;
  memcpy(tx->head_hash, m->head_hash, sizeof tx->head_hash);
  tx->nafter = m->nafter;
  return 0;
}

void sf_tx_after_commit(sf_tx *tx, sf_tx_hook fn, void *ud, const char *key) {
  if (tx->nafter == tx->cap_after) {
    tx->cap_after = tx->cap_after ? tx->cap_after * 2 : 64;
    tx->after = sf_realloc(tx->after, (size_t)tx->cap_after * sizeof *tx->after);
  }
  sf_tx_after *a = &tx->after[tx->nafter++];
  a->fn = fn;
  a->ud = ud;
  snprintf(a->key, sizeof a->key, "%s", key);
}

static void run_after(const sf_tx_after *after, int n) {
  for (int i = 0; i < n; i++) after[i].fn(after[i].ud, after[i].key);
}

static void fail_all(sf_cmd *list, const sf_err *why) {
  for (sf_cmd *c = list; c; c = c->next_) c->err = *why;
  queue_push(&W.finished, list, 0);
}

int sf_writer_retryable(const sf_err *e) { return e->status == 507 || e->status == 503; }

/* Space or I/O: what /readyz reports (busy is not a fault of the storage). */
static int storage_fault(const sf_err *e) { return e->status == 507 || strcmp(e->code, "storage-error") == 0; }

int sf_writer_storage_fault(sf_err *why) {
  if (!atomic_load(&W.faulted)) return 0;
  pthread_mutex_lock(&W.fmu);
  if (why) *why = W.fault;
  pthread_mutex_unlock(&W.fmu);
  return 1;
}

/* After each batch: fault is the storage failure of one of its commands or
 * of its commit (NULL: none); committed, whether a command was committed. */
static void note_storage(const sf_err *fault, int committed) {
  if (fault) {
    pthread_mutex_lock(&W.fmu);
    W.fault = *fault;
    pthread_mutex_unlock(&W.fmu);
    if (!atomic_exchange(&W.faulted, 1)) sf_log_error("storage failing", "\"detail\":\"%s\"", fault->detail);
  } else if (committed && atomic_exchange(&W.faulted, 0)) {
    sf_log_info("storage recovered", NULL);
  }
}

/* After the commit (or its failure): moves the commands that asked for it
 * and that the storage failed to the retry list; returns the others, to
 * answer. A healthy batch resets the backoff. */
static sf_cmd *hold_for_retry(sf_cmd *list, int commit_failed, int healthy) {
  sf_cmd *answer = NULL, **tail = &answer;
  int give_up = atomic_load(&W.give_up), held = 0;
  for (sf_cmd *c = list, *next; c; c = next) {
    next = c->next_;
    c->next_ = NULL;
    if (!c->retry_storage || give_up || !(commit_failed || (c->err.status && sf_writer_retryable(&c->err)))) {
      *tail = c;
      tail = &c->next_;
      continue;
    }
    if (R.tail)
      R.tail->next_ = c;
    else
      R.head = c;
    R.tail = c;
    R.n++;
    held++;
  }
  if (healthy && !held) R.backoff_ms = RETRY_FIRST_MS;
  if (held && R.n == held) { /* the list was empty: schedule it */
    R.at_ns = sf_mono_ns() + (uint64_t)R.backoff_ms * 1000000u;
    R.backoff_ms = R.backoff_ms * 2 < RETRY_MAX_MS ? R.backoff_ms * 2 : RETRY_MAX_MS;
  }
  return answer;
}

static void after_batch(const sf_err *fault) {
  if (fault->status == 507)
    sf_ckpt_after_full();
  else
    sf_ckpt_after_batch();
}

/* Runs one command in its savepoint. Returns -1 when the transaction is
 * gone: after a full disk or an I/O error SQLite may roll the whole
 * transaction back by itself, and what ran after that would run (and
 * commit) statement by statement, outside the batch. */
static int run_command(sf_cmd *c, sf_tx *tx, int *failed, sf_err *fault) {
  int64_t pos = tx->head_position;
  int nafter = tx->nafter;
  char hash[65];
  memcpy(hash, tx->head_hash, sizeof hash);
  tx->now_ms = sf_now_ms();
  sf_err_clear(&c->err);
  sf_err se = {0};
  if (run_cached(W.db, "SAVEPOINT cmd", &se)) {
    c->err = se;
    (*failed)++;
    return sf_db_in_transaction(W.db) ? 0 : -1;
  }
  int rc = c->run(c, tx, &c->err);
  if (rc) {
    if (!c->err.status) sf_err_internal(&c->err, "command failed");
    if (storage_fault(&c->err)) *fault = c->err;
    (*failed)++;
    if (!sf_db_in_transaction(W.db)) return -1;
    run_cached(W.db, "ROLLBACK TO cmd", &se);
    if (tx->head_position != pos) tx->epoch = ++g_epoch;
    tx->head_position = pos;
    memcpy(tx->head_hash, hash, sizeof hash);
    tx->nafter = nafter;
  }
  if (c->after) c->after(c, tx, rc);
  run_cached(W.db, "RELEASE cmd", &se);
  if (!rc) sf_err_clear(&c->err); /* done() gets -err.status, 0 on success */
  return 0;
}

/* The batch did not commit: every command gets why (5xx). */
static void batch_failed(sf_cmd *list, sf_tx *tx, sf_err *why, int64_t start_head, sf_err *fault) {
  sf_err ignored;
  sf_db_exec(W.db, "ROLLBACK", &ignored);
  sf_log_error("writer commit failed", "\"detail\":\"%s\"", why->detail);
  if (storage_fault(why)) *fault = *why;
  if (why->status < 500) why->status = 503;
  for (sf_cmd *c = list; c; c = c->next_) c->err = *why;
  tx->nafter = 0;
  tx->head_position = start_head;
  g_epoch++;
}

/* Pipelined: the batch goes to the sync thread, which answers it. */
static void hand_to_syncer(sf_cmd *list, sf_tx *tx, int64_t head, uint64_t seq) {
  batch *b = sf_calloc(1, sizeof *b);
  *b = (batch){.list = list, .after = tx->after, .nafter = tx->nafter, .head = head, .seq = seq};
  pthread_mutex_lock(&W.smu);
  if (W.stail)
    W.stail->next = b;
  else
    W.shead = b;
  W.stail = b;
  pthread_cond_signal(&W.scv);
  pthread_mutex_unlock(&W.smu);
  pthread_mutex_lock(&W.queue.mu);
  W.queue.unsynced++;
  pthread_mutex_unlock(&W.queue.mu);
}

static void run_batch(sf_cmd *list, int n) {
  uint64_t t0 = sf_mono_ns();
  sf_tx tx = {.db = W.db, .epoch = g_epoch};
  sf_err e = {0};
  if (run_cached(W.db, "BEGIN IMMEDIATE", &e) || load_head(&tx, &e)) {
    sf_err ignored;
    sf_db_exec(W.db, "ROLLBACK", &ignored);
    sf_log_error("writer cannot begin", "\"detail\":\"%s\"", e.detail);
    for (sf_cmd *c = list; c; c = c->next_) c->err = e;
    note_storage(storage_fault(&e) ? &e : NULL, 0);
    fail_all(hold_for_retry(list, 1, 0), &e);
    free(tx.after);
    return;
  }
  int64_t start_head = tx.head_position;
  int failed = 0, lost = 0;
  sf_err fault = {0}; /* the last storage failure of a command or of the commit */
  for (sf_cmd *c = list; c && !lost; c = c->next_)
    if (run_command(c, &tx, &failed, &fault)) {
      lost = 1;
      e = c->err;
    }
  uint64_t seq = 0;
  if (W.pipelined) {
    seq = ++W.seq;
    atomic_store(&W.visible, seq); /* before readers can see the batch */
  }
  if (lost || run_cached(W.db, "COMMIT", &e))
    batch_failed(list, &tx, &e, start_head, &fault);
  else
    sf_metrics_commit(n, failed, sf_mono_ns() - t0);
  int committed = !e.status && failed < n;
  note_storage(fault.status ? &fault : NULL, committed);
  list = hold_for_retry(list, e.status != 0, committed && !fault.status);
  int64_t head = tx.head_position != start_head ? tx.head_position : 0;
  if (W.pipelined) {
    hand_to_syncer(list, &tx, head, seq);
  } else { /* synchronous=FULL: durable once COMMIT returned */
    run_after(tx.after, tx.nafter);
    free(tx.after);
    queue_push(&W.finished, list, 0);
    if (head && W.hook) W.hook(head, W.hook_ud);
  }
  after_batch(&fault);
}

/* The sync thread of pipelined commits: one fdatasync of the WAL covers
 * every batch committed before it started, while the writer already runs
 * the next batch. Then, in commit order: after-commit hooks, the durable
 * mark (wakes durability waiters), the commit hook, the answers. */
static void *syncer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-sync");
  for (;;) {
    pthread_mutex_lock(&W.smu);
    while (!W.shead && W.sopen) pthread_cond_wait(&W.scv, &W.smu);
    batch *list = W.shead;
    W.shead = W.stail = NULL;
    pthread_mutex_unlock(&W.smu);
    if (!list) break;
    uint64_t t0 = sf_mono_ns();
    if (sf_wal_vfs_sync() != 0) {
      /* The commits are visible but may not be on disk, and after a failed
       * fsync the kernel may have dropped the pages: nothing here can be
       * acknowledged or retried safely. Stop, as PostgreSQL does: recovery
       * on restart starts from what the files hold. */
      sf_log_error("fsync of the WAL failed: stopping", "\"batches_unacknowledged\":true");
      abort();
    }
    sf_metrics_sync(sf_mono_ns() - t0);
    int nbatches = 0;
    for (batch *b = list; b; b = b->next) nbatches++;
    pthread_mutex_lock(&W.queue.mu); /* the writer may be waiting for this sync */
    W.queue.unsynced -= nbatches;
    if (W.queue.head) pthread_cond_signal(&W.queue.cv);
    pthread_mutex_unlock(&W.queue.mu);
    uint64_t last = 0;
    int64_t head = 0;
    for (batch *b = list; b; b = b->next) {
      run_after(b->after, b->nafter);
      if (b->head) head = b->head;
      last = b->seq;
    }
    pthread_mutex_lock(&W.dmu);
    atomic_store(&W.durable, last);
    pthread_cond_broadcast(&W.dcv);
    durable_waiter ready[64];
    int nready = 0;
    for (;;) {
      int keep = 0;
      for (int i = 0; i < W.nwaiters; i++) {
        if (W.waiters[i].seq <= last && nready < 64)
          ready[nready++] = W.waiters[i];
        else
          W.waiters[keep++] = W.waiters[i];
      }
      W.nwaiters = keep;
      if (nready < 64 || !keep) break;
      pthread_mutex_unlock(&W.dmu);
      for (int i = 0; i < nready; i++) ready[i].fn(ready[i].ud);
      nready = 0;
      pthread_mutex_lock(&W.dmu);
    }
    pthread_mutex_unlock(&W.dmu);
    for (int i = 0; i < nready; i++) ready[i].fn(ready[i].ud);
    if (head && W.hook) W.hook(head, W.hook_ud);
    for (batch *b = list, *next; b; b = next) {
      next = b->next;
      queue_push(&W.finished, b->list, 0);
      free(b->after);
      free(b);
    }
  }
  return NULL;
}

uint64_t sf_writer_undurable(void) {
  uint64_t v = atomic_load(&W.visible);
  return v > atomic_load(&W.durable) ? v : 0;
}

int sf_writer_when_durable(uint64_t seq, void (*fn)(void *ud), void *ud) {
  pthread_mutex_lock(&W.dmu);
  if (atomic_load(&W.durable) >= seq) {
    pthread_mutex_unlock(&W.dmu);
    return 0;
  }
  if (W.nwaiters == W.cap_waiters) {
    W.cap_waiters = W.cap_waiters ? W.cap_waiters * 2 : 64;
    W.waiters = sf_realloc(W.waiters, (size_t)W.cap_waiters * sizeof *W.waiters);
  }
  W.waiters[W.nwaiters++] = (durable_waiter){seq, fn, ud};
  pthread_mutex_unlock(&W.dmu);
  return 1;
}

void sf_writer_barrier(void) {
  uint64_t seq = sf_writer_undurable();
  if (!seq) return;
  pthread_mutex_lock(&W.dmu);
  while (atomic_load(&W.durable) < seq) pthread_cond_wait(&W.dcv, &W.dmu);
  pthread_mutex_unlock(&W.dmu);
}

int sf_writer_pipelined(void) { return W.pipelined; }

/* The writer's next batch when pipelined: it may start while the previous
 * batch is still being synced, but only with at least as many commands as
 * that batch had. A small batch costs nearly as much as a big one
 * (transaction, dirty pages, fsync), so when commands arrive slower than
 * that it waits for the sync and takes what gathered meanwhile: without
 * the wait, PATCH batches shrank from 15 to 10 commands and writes/s fell
 * by about 7% (3 interleaved runs). */
static sf_cmd *next_batch(int last, int *n, uint64_t deadline_ns) {
  cmd_queue *q = &W.queue;
  pthread_mutex_lock(&q->mu);
  int want = last > 1 ? last : 1;
  for (;;) {
    if (!q->open && !q->head) break;
    if (q->head && (!q->unsynced || q->len >= want || !q->open)) break;
    q->want = q->head ? want : 0;
    if (queue_wait(q, deadline_ns)) break;
  }
  q->want = 0;
  sf_cmd *list = take_locked(q, W.max_batch, n);
  pthread_mutex_unlock(&q->mu);
  return list;
}

/* While the storage fails and nothing else is written, a probe every
 * second: a write that changes nothing (the header's user_version, set to
 * what it is) tells when the storage takes writes again, for /readyz (an
 * instance out of rotation gets no writes), and each failure of it empties
 * the WAL again (sf_ckpt_after_full). */
static int probe_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  (void)c;
  sf_stmt *st = sf_db_prepare(tx->db, "PRAGMA user_version", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return rc;
  long long v = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  char sql[48];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%lld", v);
  return sf_db_exec(tx->db, sql, err);
}

static void probe_done(sf_cmd *c, int rc) {
  (void)c, (void)rc;
  atomic_store(&W.probing, 0);
}

static sf_cmd g_probe = {.run = probe_run, .done = probe_done};

static int queue_open(cmd_queue *q) {
  pthread_mutex_lock(&q->mu);
  int open = q->open;
  pthread_mutex_unlock(&q->mu);
  return open;
}

/* The next batch: queued commands, and ahead of them the ones held for
 * another attempt once their time has come (or once the queue is closed:
 * a last attempt, answered whatever its outcome). NULL: stop. */
static sf_cmd *writer_next(int last, int *n) {
  for (;;) {
    uint64_t deadline = R.head ? R.at_ns : 0;
    if (R.head && atomic_load(&W.give_up)) deadline = 1;
    int probe = !R.head && atomic_load(&W.faulted);
    if (probe) deadline = sf_mono_ns() + 1000000000u;
    sf_cmd *list = W.pipelined ? next_batch(last, n, deadline) : queue_take(&W.queue, W.max_batch, n, deadline);
    if (R.head && (!list || sf_mono_ns() >= R.at_ns || atomic_load(&W.give_up))) {
      R.tail->next_ = list;
      list = R.head;
      *n += R.n;
      R.head = R.tail = NULL;
      R.n = 0;
    }
    if (list || !queue_open(&W.queue)) return list;
    if (probe && !atomic_load(&W.probing)) {
      atomic_store(&W.probing, 1);
      g_probe.next_ = NULL;
      *n = 1;
      return &g_probe;
    }
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-writer");
  int n = 0;
  sf_cmd *list;
  while ((list = writer_next(n, &n))) run_batch(list, n);
  return NULL;
}

static void syncer_close(void) {
  pthread_mutex_lock(&W.smu);
  W.sopen = 0;
  pthread_cond_broadcast(&W.scv);
  pthread_mutex_unlock(&W.smu);
}

int sf_writer_start(const char *db_path, int max_batch, sf_writer_sync sync, sf_err *err) {
  if (W.running) return sf_err_internal(err, "writer already running");
  W.db = sf_db_open(db_path, SF_DB_WRITER, err);
  if (!W.db) return -1;
  /* Pipelining needs the shim's own sync of the WAL; without the shim the
   * writer falls back to synchronous=FULL. */
  W.pipelined = sync == SF_WRITER_SYNC_PIPELINED && sf_wal_vfs_synced() != NULL;
  if (W.pipelined && sf_db_exec(W.db, "PRAGMA synchronous=NORMAL", err)) {
    sf_db_close(W.db);
    W.db = NULL;
    return -1;
  }
  W.max_batch = max_batch > 0 ? max_batch : 1024;
  atomic_store(&W.give_up, 0);
  atomic_store(&W.faulted, 0);
  atomic_store(&W.probing, 0);
  R.backoff_ms = RETRY_FIRST_MS;
  W.seq = 0;
  W.queue.unsynced = 0;
  g_epoch++; /* others may have written while no writer ran */
  atomic_store(&W.visible, 0);
  atomic_store(&W.durable, 0);
  queue_set_open(&W.finished, 1);
  if (pthread_create(&W.completer, NULL, completer_main, NULL) != 0) {
    sf_db_close(W.db);
    W.db = NULL;
    return sf_err_internal(err, "cannot start completion thread");
  }
  W.sopen = 1;
  if (W.pipelined && pthread_create(&W.syncer, NULL, syncer_main, NULL) != 0) {
    queue_set_open(&W.finished, 0);
    pthread_join(W.completer, NULL);
    sf_db_close(W.db);
    W.db = NULL;
    return sf_err_internal(err, "cannot start sync thread");
  }
  sf_ckpt_start(W.db, db_path);
  queue_set_open(&W.queue, 1);
  if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
    queue_set_open(&W.queue, 0);
    sf_ckpt_stop();
    if (W.pipelined) {
      syncer_close();
      pthread_join(W.syncer, NULL);
    }
    queue_set_open(&W.finished, 0);
    pthread_join(W.completer, NULL);
    sf_db_close(W.db);
    W.db = NULL;
    return sf_err_internal(err, "cannot start writer thread");
  }
  W.running = 1;
  return 0;
}

int sf_writer_submit(sf_cmd *cmd) {
  cmd->next_ = NULL;
  if (queue_push(&W.queue, cmd, 1)) {
    sf_err_set(&cmd->err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    return -503;
  }
  return 0;
}

typedef struct {
  sf_cmd base;
  sf_cmd *inner;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int finished, rc;
} sync_cmd;

static int sync_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  sync_cmd *s = (sync_cmd *)c;
  return s->inner->run(s->inner, tx, err);
}

static void sync_after(sf_cmd *c, sf_tx *tx, int rc) {
  sync_cmd *s = (sync_cmd *)c;
  if (s->inner->after) s->inner->after(s->inner, tx, rc);
}

static void sync_done(sf_cmd *c, int rc) {
  sync_cmd *s = (sync_cmd *)c;
  s->inner->err = c->err;
  pthread_mutex_lock(&s->mu);
  s->rc = rc;
  s->finished = 1;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

int sf_writer_exec(sf_cmd *cmd) {
  sync_cmd s = {.base = {.run = sync_run, .after = sync_after, .done = sync_done, .retry_storage = cmd->retry_storage},
                .inner = cmd};
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  int rc = sf_writer_submit(&s.base);
  if (rc) {
    cmd->err = s.base.err;
  } else {
    pthread_mutex_lock(&s.mu);
    while (!s.finished) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    rc = s.rc;
  }
  pthread_mutex_destroy(&s.mu);
  pthread_cond_destroy(&s.cv);
  return rc;
}

void sf_writer_stop_retrying(void) {
  atomic_store(&W.give_up, 1);
  pthread_mutex_lock(&W.queue.mu); /* a writer waiting for a retry's time */
  pthread_cond_signal(&W.queue.cv);
  pthread_mutex_unlock(&W.queue.mu);
}

void sf_writer_stop(void) {
  if (!W.running) return;
  sf_writer_stop_retrying();
  queue_set_open(&W.queue, 0); /* the writer drains what is queued, then exits */
  pthread_join(W.thread, NULL);
  if (W.pipelined) { /* the last batches are synced and answered */
    syncer_close();
    pthread_join(W.syncer, NULL);
  }
  queue_set_open(&W.finished, 0);
  pthread_join(W.completer, NULL);
  sf_ckpt_stop();
  sf_err e;
  sf_db_exec(W.db, "PRAGMA wal_checkpoint(TRUNCATE)", &e);
  sf_db_close(W.db);
  W.db = NULL;
  W.running = 0;
}
