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
#include "store/backend.h"

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
 * thread: its commands, its after-commit hooks, the value its participant
 * reported for the commit hook (the chain head it left). */
typedef struct batch {
  struct batch *next;
  sf_cmd *list;
  sf_tx_after *after;
  int nafter;
  int64_t head; /* the participant's commit value (0: none) */
  uint64_t seq;
} batch;

typedef struct {
  uint64_t seq;
  void (*fn)(void *ud);
  void *ud;
} durable_waiter;

static struct writer_state {
  cmd_queue queue;    /* submitted commands, consumed by the writer */
  cmd_queue finished; /* durable or failed batches, answered by the completer */
  pthread_t thread, completer, syncer;
  int running;
  int max_batch;
  int pipelined;
  sf_db *db;
  const sf_db_backend *ops; /* db's backend: its writer_* operations */
  sf_writer_commit_hook hook;
  void *hook_ud;
  const sf_writer_tx_hooks *tx_hooks; /* the participant (sf_writer_on_tx) */
  void *tx_ud;
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
} writer = {.queue = QUEUE_INIT,
            .finished = QUEUE_INIT,
            .smu = PTHREAD_MUTEX_INITIALIZER,
            .scv = PTHREAD_COND_INITIALIZER,
            .dmu = PTHREAD_MUTEX_INITIALIZER,
            .dcv = PTHREAD_COND_INITIALIZER,
            .fmu = PTHREAD_MUTEX_INITIALIZER};

/* Commands the storage failed, waiting to run again (writer thread only). */
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 1000
static struct retry_list {
  sf_cmd *head, *tail;
  int n;
  uint64_t at_ns;
  int backoff_ms;
} retry = {.backoff_ms = RETRY_FIRST_MS};

/* done() callbacks run on their own thread, so the writer starts the next
 * transaction while the suspended requests are being woken. */
static void *completer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-complete");
  int n;
  sf_cmd *list;
  while ((list = queue_take(&writer.finished, 1 << 30, &n, 0)))
    for (sf_cmd *c = list, *next; c; c = next) {
      next = c->next_;
      c->done(c, c->err.status ? -c->err.status : 0);
    }
  return NULL;
}

void sf_writer_on_commit(sf_writer_commit_hook fn, void *ud) {
  writer.hook = fn;
  writer.hook_ud = ud;
}

int sf_writer_running(void) {
  pthread_mutex_lock(&writer.queue.mu);
  int open = writer.queue.open;
  pthread_mutex_unlock(&writer.queue.mu);
  return writer.running && open;
}

void sf_writer_on_tx(const sf_writer_tx_hooks *hooks, void *ud) {
  writer.tx_hooks = hooks;
  writer.tx_ud = ud;
}

/* The participant's hooks (writer thread). */
static void tx_begun(void) {
  if (writer.tx_hooks) writer.tx_hooks->begin(writer.tx_ud);
}
static void tx_saved(int level) {
  if (writer.tx_hooks) writer.tx_hooks->savepoint(writer.tx_ud, level);
}
static void tx_rolled_back_to(int level) {
  if (writer.tx_hooks) writer.tx_hooks->rollback_to(writer.tx_ud, level);
}
static void tx_rolled_back(void) {
  if (writer.tx_hooks) writer.tx_hooks->rollback(writer.tx_ud);
}
static int64_t tx_committed(void) { return writer.tx_hooks ? writer.tx_hooks->commit(writer.tx_ud) : 0; }

int sf_tx_savepoint(sf_tx *tx, sf_tx_mark *m, sf_err *err) {
  m->nafter = tx->nafter;
  if (sf_db_savepoint(tx->db, SF_DB_SAVEPOINT_ITEM, err)) return -1;
  tx_saved(SF_DB_SAVEPOINT_ITEM);
  return 0;
}

int sf_tx_release(sf_tx *tx, sf_err *err) { return sf_db_release(tx->db, SF_DB_SAVEPOINT_ITEM, err); }

int sf_tx_rollback(sf_tx *tx, const sf_tx_mark *m, sf_err *err) {
  if (sf_db_rollback_to(tx->db, SF_DB_SAVEPOINT_ITEM, err)) return -1;
  tx_rolled_back_to(SF_DB_SAVEPOINT_ITEM);
  if (sf_db_release(tx->db, SF_DB_SAVEPOINT_ITEM, err)) return -1;
  tx->nafter = m->nafter;
  return 0;
}

static sf_tx_after *after_add(sf_tx *tx, sf_tx_hook fn, void *ud, const char *key) {
  if (tx->nafter == tx->cap_after) {
    tx->cap_after = tx->cap_after ? tx->cap_after * 2 : 64;
    tx->after = sf_realloc(tx->after, (size_t)tx->cap_after * sizeof *tx->after);
  }
  sf_tx_after *a = &tx->after[tx->nafter++];
  a->fn = fn;
  a->ud = ud;
  a->broadcast = NULL;
  snprintf(a->key, sizeof a->key, "%s", key);
  return a;
}

void sf_tx_after_commit(sf_tx *tx, sf_tx_hook fn, void *ud, const char *key) { after_add(tx, fn, ud, key); }

/* ---- cluster-wide hooks (registered at startup, read by any thread) ---- */

#define MAX_BROADCAST 32
static struct broadcast_state {
  struct {
    const char *name;
    sf_tx_hook fn;
    void *ud;
  } hooks[MAX_BROADCAST];
  int n;
  sf_writer_publish_fn publish;
} broadcasts;

void sf_writer_broadcast_register(const char *name, sf_tx_hook fn, void *ud) {
  int i = 0;
  while (i < broadcasts.n && strcmp(broadcasts.hooks[i].name, name) != 0) i++;
  if (i == MAX_BROADCAST) abort(); /* a build with more hooks than room: a bug */
  broadcasts.hooks[i].name = name;
  broadcasts.hooks[i].fn = fn;
  broadcasts.hooks[i].ud = ud;
  if (i == broadcasts.n) broadcasts.n++;
}

void sf_tx_after_commit_all(sf_tx *tx, const char *name, const char *key) {
  for (int i = 0; i < broadcasts.n; i++)
    if (strcmp(broadcasts.hooks[i].name, name) == 0) {
      after_add(tx, broadcasts.hooks[i].fn, broadcasts.hooks[i].ud, key)->broadcast = broadcasts.hooks[i].name;
      return;
    }
  abort(); /* an unregistered name: a bug of the build */
}

int sf_writer_broadcast_run(const char *name, const char *key) {
  for (int i = 0; i < broadcasts.n; i++)
    if (strcmp(broadcasts.hooks[i].name, name) == 0) {
      broadcasts.hooks[i].fn(broadcasts.hooks[i].ud, key);
      return 0;
    }
  return -1;
}

void sf_writer_broadcast_everything(void) {
  for (int i = 0; i < broadcasts.n; i++) broadcasts.hooks[i].fn(broadcasts.hooks[i].ud, "*");
}

void sf_writer_on_publish(sf_writer_publish_fn fn) { broadcasts.publish = fn; }

void sf_writer_foreign_commit(int64_t head) {
  sf_writer_commit_hook fn = writer.hook;
  if (fn && head > 0) fn(head, writer.hook_ud);
}

/* Before COMMIT: the publisher hears of the batch when it appended events
 * or queued a broadcast hook. The participant's commit value is read here
 * too (it is the head the batch leaves; reading it changes nothing). */
static int publish_batch(const sf_tx *tx, sf_err *err) {
  if (!broadcasts.publish) return 0;
  int64_t head = tx_committed();
  int any = head > 0;
  for (int i = 0; !any && i < tx->nafter; i++) any = tx->after[i].broadcast != NULL;
  return any ? broadcasts.publish(tx->db, head, tx->after, tx->nafter, err) : 0;
}

static void run_after(const sf_tx_after *after, int n) {
  for (int i = 0; i < n; i++) after[i].fn(after[i].ud, after[i].key);
}

static void fail_all(sf_cmd *list, const sf_err *why) {
  for (sf_cmd *c = list; c; c = c->next_) c->err = *why;
  queue_push(&writer.finished, list, 0);
}

int sf_writer_retryable(const sf_err *e) { return e->status == 507 || e->status == 503; }

/* Space or I/O: what /readyz reports (busy is not a fault of the storage). */
static int storage_fault(const sf_err *e) { return e->status == 507 || strcmp(e->code, "storage-error") == 0; }

int sf_writer_storage_fault(sf_err *why) {
  if (!atomic_load(&writer.faulted)) return 0;
  pthread_mutex_lock(&writer.fmu);
  if (why) *why = writer.fault;
  pthread_mutex_unlock(&writer.fmu);
  return 1;
}

/* After each batch: fault is the storage failure of one of its commands or
 * of its commit (NULL: none); committed, whether a command was committed. */
static void note_storage(const sf_err *fault, int committed) {
  if (fault) {
    pthread_mutex_lock(&writer.fmu);
    writer.fault = *fault;
    pthread_mutex_unlock(&writer.fmu);
    if (!atomic_exchange(&writer.faulted, 1)) sf_log_error("storage failing", "\"detail\":\"%s\"", fault->detail);
  } else if (committed && atomic_exchange(&writer.faulted, 0)) {
    sf_log_info("storage recovered", NULL);
  }
}

/* After the commit (or its failure): moves the commands that asked for it
 * and that the storage failed to the retry list; returns the others, to
 * answer. A healthy batch resets the backoff. */
static sf_cmd *hold_for_retry(sf_cmd *list, int commit_failed, int healthy) {
  sf_cmd *answer = NULL, **tail = &answer;
  int give_up = atomic_load(&writer.give_up), held = 0;
  for (sf_cmd *c = list, *next; c; c = next) {
    next = c->next_;
    c->next_ = NULL;
    if (!c->retry_storage || give_up || !(commit_failed || (c->err.status && sf_writer_retryable(&c->err)))) {
      *tail = c;
      tail = &c->next_;
      continue;
    }
    if (retry.tail)
      retry.tail->next_ = c;
    else
      retry.head = c;
    retry.tail = c;
    retry.n++;
    held++;
  }
  if (healthy && !held) retry.backoff_ms = RETRY_FIRST_MS;
  if (held && retry.n == held) { /* the list was empty: schedule it */
    retry.at_ns = sf_mono_ns() + (uint64_t)retry.backoff_ms * 1000000u;
    retry.backoff_ms = retry.backoff_ms * 2 < RETRY_MAX_MS ? retry.backoff_ms * 2 : RETRY_MAX_MS;
  }
  return answer;
}

static void after_batch(const sf_err *fault) {
  if (writer.ops->writer_after_batch) writer.ops->writer_after_batch(writer.db, fault->status == 507);
}

/* Runs one command in its savepoint. Returns -1 when the transaction is
 * gone: after a full disk or an I/O error the backend may roll the whole
 * transaction back by itself (SQLite does), and what ran after that would
 * run (and commit) statement by statement, outside the batch. */
static int run_command(sf_cmd *c, sf_tx *tx, int *failed, sf_err *fault) {
  int nafter = tx->nafter;
  tx->now_ms = sf_now_ms();
  sf_err_clear(&c->err);
  sf_err se = {0};
  if (sf_db_savepoint(writer.db, SF_DB_SAVEPOINT_CMD, &se)) {
    c->err = se;
    (*failed)++;
    return sf_db_in_transaction(writer.db) ? 0 : -1;
  }
  tx_saved(SF_DB_SAVEPOINT_CMD);
  int rc = c->run(c, tx, &c->err);
  if (rc) {
    if (!c->err.status) sf_err_internal(&c->err, "command failed");
    if (storage_fault(&c->err)) *fault = c->err;
    (*failed)++;
    if (!sf_db_in_transaction(writer.db)) return -1;
    sf_db_rollback_to(writer.db, SF_DB_SAVEPOINT_CMD, &se);
    tx_rolled_back_to(SF_DB_SAVEPOINT_CMD);
    tx->nafter = nafter;
  }
  if (c->after) c->after(c, tx, rc);
  sf_db_release(writer.db, SF_DB_SAVEPOINT_CMD, &se);
  if (!rc) sf_err_clear(&c->err); /* done() gets -err.status, 0 on success */
  return 0;
}

/* The batch did not commit: every command gets why (5xx). */
static void batch_failed(sf_cmd *list, sf_tx *tx, sf_err *why, sf_err *fault) {
  sf_db_rollback(writer.db);
  tx_rolled_back();
  sf_log_error("writer commit failed", "\"detail\":\"%s\"", why->detail);
  if (storage_fault(why)) *fault = *why;
  if (why->status < 500) why->status = 503;
  for (sf_cmd *c = list; c; c = c->next_) c->err = *why;
  tx->nafter = 0;
}

/* Pipelined: the batch goes to the sync thread, which answers it. */
static void hand_to_syncer(sf_cmd *list, sf_tx *tx, int64_t head, uint64_t seq) {
  batch *b = sf_calloc(1, sizeof *b);
  *b = (batch){.list = list, .after = tx->after, .nafter = tx->nafter, .head = head, .seq = seq};
  pthread_mutex_lock(&writer.smu);
  if (writer.stail)
    writer.stail->next = b;
  else
    writer.shead = b;
  writer.stail = b;
  pthread_cond_signal(&writer.scv);
  pthread_mutex_unlock(&writer.smu);
  pthread_mutex_lock(&writer.queue.mu);
  writer.queue.unsynced++;
  pthread_mutex_unlock(&writer.queue.mu);
}

static void run_batch(sf_cmd *list, int n) {
  uint64_t t0 = sf_mono_ns();
  sf_tx tx = {.db = writer.db};
  sf_err e = {0};
  if (sf_db_begin(writer.db, &e)) {
    sf_db_rollback(writer.db);
    sf_log_error("writer cannot begin", "\"detail\":\"%s\"", e.detail);
    for (sf_cmd *c = list; c; c = c->next_) c->err = e;
    note_storage(storage_fault(&e) ? &e : NULL, 0);
    fail_all(hold_for_retry(list, 1, 0), &e);
    free(tx.after);
    return;
  }
  tx_begun();
  int failed = 0, lost = 0;
  sf_err fault = {0}; /* the last storage failure of a command or of the commit */
  for (sf_cmd *c = list; c && !lost; c = c->next_)
    if (run_command(c, &tx, &failed, &fault)) {
      lost = 1;
      e = c->err;
    }
  uint64_t seq = 0;
  if (writer.pipelined) {
    seq = ++writer.seq;
    atomic_store(&writer.visible, seq); /* before readers can see the batch */
  }
  int64_t head = 0; /* the participant's value for the commit hook */
  if (!lost && publish_batch(&tx, &e)) lost = 1;
  if (lost || sf_db_commit(writer.db, &e)) {
    batch_failed(list, &tx, &e, &fault);
  } else {
    head = tx_committed();
    sf_metrics_commit(n, failed, sf_mono_ns() - t0);
  }
  int committed = !e.status && failed < n;
  note_storage(fault.status ? &fault : NULL, committed);
  list = hold_for_retry(list, e.status != 0, committed && !fault.status);
  if (writer.pipelined) {
    hand_to_syncer(list, &tx, head, seq);
  } else { /* synchronous=FULL: durable once COMMIT returned */
    run_after(tx.after, tx.nafter);
    free(tx.after);
    queue_push(&writer.finished, list, 0);
    if (head && writer.hook) writer.hook(head, writer.hook_ud);
  }
  after_batch(&fault);
}

/* The sync thread of pipelined commits: one sync (the backend's
 * writer_sync; SQLite: an fdatasync of the WAL) covers every batch
 * committed before it started, while the writer already runs the next
 * batch. Then, in commit order: after-commit hooks, the durable
 * mark (wakes durability waiters), the commit hook, the answers. */
static void *syncer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-sync");
  for (;;) {
    pthread_mutex_lock(&writer.smu);
    while (!writer.shead && writer.sopen) pthread_cond_wait(&writer.scv, &writer.smu);
    batch *list = writer.shead;
    writer.shead = writer.stail = NULL;
    pthread_mutex_unlock(&writer.smu);
    if (!list) break;
    uint64_t t0 = sf_mono_ns();
    if (writer.ops->writer_sync(writer.db) != 0) {
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
    pthread_mutex_lock(&writer.queue.mu); /* the writer may be waiting for this sync */
    writer.queue.unsynced -= nbatches;
    if (writer.queue.head) pthread_cond_signal(&writer.queue.cv);
    pthread_mutex_unlock(&writer.queue.mu);
    uint64_t last = 0;
    int64_t head = 0;
    for (batch *b = list; b; b = b->next) {
      run_after(b->after, b->nafter);
      if (b->head) head = b->head;
      last = b->seq;
    }
    pthread_mutex_lock(&writer.dmu);
    atomic_store(&writer.durable, last);
    pthread_cond_broadcast(&writer.dcv);
    durable_waiter ready[64];
    int nready = 0;
    for (;;) {
      int keep = 0;
      for (int i = 0; i < writer.nwaiters; i++) {
        if (writer.waiters[i].seq <= last && nready < 64)
          ready[nready++] = writer.waiters[i];
        else
          writer.waiters[keep++] = writer.waiters[i];
      }
      writer.nwaiters = keep;
      if (nready < 64 || !keep) break;
      pthread_mutex_unlock(&writer.dmu);
      for (int i = 0; i < nready; i++) ready[i].fn(ready[i].ud);
      nready = 0;
      pthread_mutex_lock(&writer.dmu);
    }
    pthread_mutex_unlock(&writer.dmu);
    for (int i = 0; i < nready; i++) ready[i].fn(ready[i].ud);
    if (head && writer.hook) writer.hook(head, writer.hook_ud);
    for (batch *b = list, *next; b; b = next) {
      next = b->next;
      queue_push(&writer.finished, b->list, 0);
      free(b->after);
      free(b);
    }
  }
  return NULL;
}

uint64_t sf_writer_undurable(void) {
  uint64_t v = atomic_load(&writer.visible);
  return v > atomic_load(&writer.durable) ? v : 0;
}

int sf_writer_when_durable(uint64_t seq, void (*fn)(void *ud), void *ud) {
  pthread_mutex_lock(&writer.dmu);
  if (atomic_load(&writer.durable) >= seq) {
    pthread_mutex_unlock(&writer.dmu);
    return 0;
  }
  if (writer.nwaiters == writer.cap_waiters) {
    writer.cap_waiters = writer.cap_waiters ? writer.cap_waiters * 2 : 64;
    writer.waiters = sf_realloc(writer.waiters, (size_t)writer.cap_waiters * sizeof *writer.waiters);
  }
  writer.waiters[writer.nwaiters++] = (durable_waiter){seq, fn, ud};
  pthread_mutex_unlock(&writer.dmu);
  return 1;
}

void sf_writer_barrier(void) {
  uint64_t seq = sf_writer_undurable();
  if (!seq) return;
  pthread_mutex_lock(&writer.dmu);
  while (atomic_load(&writer.durable) < seq) pthread_cond_wait(&writer.dcv, &writer.dmu);
  pthread_mutex_unlock(&writer.dmu);
}

int sf_writer_pipelined(void) { return writer.pipelined; }

/* The writer's next batch when pipelined: it may start while the previous
 * batch is still being synced, but only with at least as many commands as
 * that batch had. A small batch costs nearly as much as a big one
 * (transaction, dirty pages, fsync), so when commands arrive slower than
 * that it waits for the sync and takes what gathered meanwhile: without
 * the wait, PATCH batches shrank from 15 to 10 commands and writes/s fell
 * by about 7% (3 interleaved runs). */
static sf_cmd *next_batch(int last, int *n, uint64_t deadline_ns) {
  cmd_queue *q = &writer.queue;
  pthread_mutex_lock(&q->mu);
  int want = last > 1 ? last : 1;
  for (;;) {
    if (!q->open && !q->head) break;
    if (q->head && (!q->unsynced || q->len >= want || !q->open)) break;
    q->want = q->head ? want : 0;
    if (queue_wait(q, deadline_ns)) break;
  }
  q->want = 0;
  sf_cmd *list = take_locked(q, writer.max_batch, n);
  pthread_mutex_unlock(&q->mu);
  return list;
}

/* While the storage fails and nothing else is written, a probe every
 * second: a write that changes nothing (the backend's writer_probe) tells
 * when the storage takes writes again, for /readyz (an instance out of
 * rotation gets no writes). */
static int probe_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  (void)c;
  return writer.ops->writer_probe(tx->db, err);
}

static void probe_done(sf_cmd *c, int rc) {
  (void)c, (void)rc;
  atomic_store(&writer.probing, 0);
}

static sf_cmd probe_cmd = {.run = probe_run, .done = probe_done};

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
    uint64_t deadline = retry.head ? retry.at_ns : 0;
    if (retry.head && atomic_load(&writer.give_up)) deadline = 1;
    int probe = !retry.head && atomic_load(&writer.faulted);
    if (probe) deadline = sf_mono_ns() + 1000000000u;
    sf_cmd *list =
        writer.pipelined ? next_batch(last, n, deadline) : queue_take(&writer.queue, writer.max_batch, n, deadline);
    if (retry.head && (!list || sf_mono_ns() >= retry.at_ns || atomic_load(&writer.give_up))) {
      retry.tail->next_ = list;
      list = retry.head;
      *n += retry.n;
      retry.head = retry.tail = NULL;
      retry.n = 0;
    }
    if (list || !queue_open(&writer.queue)) return list;
    if (probe && !atomic_load(&writer.probing)) {
      atomic_store(&writer.probing, 1);
      probe_cmd.next_ = NULL;
      *n = 1;
      return &probe_cmd;
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
  pthread_mutex_lock(&writer.smu);
  writer.sopen = 0;
  pthread_cond_broadcast(&writer.scv);
  pthread_mutex_unlock(&writer.smu);
}

/* The writer's connection, through the backend that serves db_path. */
static int open_connection(const char *db_path, sf_writer_sync sync, sf_err *err) {
  writer.ops = sf_db_backend_for(db_path, err);
  if (!writer.ops) return -1;
  int pipelined = sync == SF_WRITER_SYNC_PIPELINED && writer.ops->writer_sync != NULL;
  writer.db = writer.ops->writer_open(db_path, &pipelined, err);
  writer.pipelined = pipelined;
  return writer.db ? 0 : -1;
}

static void close_connection(void) {
  writer.ops->writer_close(writer.db);
  writer.db = NULL;
}

static void reset_state(void) {
  atomic_store(&writer.give_up, 0);
  atomic_store(&writer.faulted, 0);
  atomic_store(&writer.probing, 0);
  retry.backoff_ms = RETRY_FIRST_MS;
  writer.seq = 0;
  writer.queue.unsynced = 0;
  atomic_store(&writer.visible, 0);
  atomic_store(&writer.durable, 0);
  if (writer.tx_hooks) writer.tx_hooks->start(writer.tx_ud); /* others may have written while no writer ran */
}

int sf_writer_start(const char *db_path, int max_batch, sf_writer_sync sync, sf_err *err) {
  if (writer.running) return sf_err_internal(err, "writer already running");
  if (open_connection(db_path, sync, err)) return -1;
  writer.max_batch = max_batch > 0 ? max_batch : 1024;
  reset_state();
  queue_set_open(&writer.finished, 1);
  if (pthread_create(&writer.completer, NULL, completer_main, NULL) != 0) {
    close_connection();
    return sf_err_internal(err, "cannot start completion thread");
  }
  writer.sopen = 1;
  if (writer.pipelined && pthread_create(&writer.syncer, NULL, syncer_main, NULL) != 0) {
    queue_set_open(&writer.finished, 0);
    pthread_join(writer.completer, NULL);
    close_connection();
    return sf_err_internal(err, "cannot start sync thread");
  }
  queue_set_open(&writer.queue, 1);
  if (pthread_create(&writer.thread, NULL, writer_main, NULL) != 0) {
    queue_set_open(&writer.queue, 0);
    if (writer.pipelined) {
      syncer_close();
      pthread_join(writer.syncer, NULL);
    }
    queue_set_open(&writer.finished, 0);
    pthread_join(writer.completer, NULL);
    close_connection();
    return sf_err_internal(err, "cannot start writer thread");
  }
  writer.running = 1;
  return 0;
}

int sf_writer_submit(sf_cmd *cmd) {
  cmd->next_ = NULL;
  if (queue_push(&writer.queue, cmd, 1)) {
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
  atomic_store(&writer.give_up, 1);
  pthread_mutex_lock(&writer.queue.mu); /* a writer waiting for a retry's time */
  pthread_cond_signal(&writer.queue.cv);
  pthread_mutex_unlock(&writer.queue.mu);
}

void sf_writer_stop(void) {
  if (!writer.running) return;
  sf_writer_stop_retrying();
  queue_set_open(&writer.queue, 0); /* the writer drains what is queued, then exits */
  pthread_join(writer.thread, NULL);
  if (writer.pipelined) { /* the last batches are synced and answered */
    syncer_close();
    pthread_join(writer.syncer, NULL);
  }
  queue_set_open(&writer.finished, 0);
  pthread_join(writer.completer, NULL);
  close_connection();
  writer.running = 0;
}
