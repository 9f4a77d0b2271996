#define _GNU_SOURCE /* pthread_setname_np */
#include "store/writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

/* A FIFO of commands linked through their next_ field. Closing it refuses
 * new pushes (when asked to) and lets the consumer drain it and stop. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sf_cmd *head, *tail;
  int open;
} cmd_queue;

#define QUEUE_INIT {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

/* Appends the list starting at first. Returns -1 (nothing appended) if the
 * queue is closed and only_if_open is set. */
static int queue_push(cmd_queue *q, sf_cmd *first, int only_if_open) {
  sf_cmd *last = first;
  while (last->next_) last = last->next_;
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
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

/* Waits for commands and takes up to max of them (*n set); NULL once the
 * queue is closed and empty. */
static sf_cmd *queue_take(cmd_queue *q, int max, int *n) {
  pthread_mutex_lock(&q->mu);
  while (!q->head && q->open) pthread_cond_wait(&q->cv, &q->mu);
  sf_cmd *list = q->head, *last = q->head;
  *n = 0;
  if (list) {
    *n = 1;
    while (last->next_ && *n < max) last = last->next_, (*n)++;
    q->head = last->next_;
    if (!q->head) q->tail = NULL;
    last->next_ = NULL;
  }
  pthread_mutex_unlock(&q->mu);
  return list;
}

static void queue_set_open(cmd_queue *q, int open) {
  pthread_mutex_lock(&q->mu);
  q->open = open;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

static struct {
  cmd_queue queue;    /* submitted commands, consumed by the writer */
  cmd_queue finished; /* committed or failed batches, answered by the completer */
  pthread_t thread, completer;
  int running;
  int max_batch;
  sf_db *db;
  sf_writer_commit_hook hook;
  void *hook_ud;
} W = {.queue = QUEUE_INIT, .finished = QUEUE_INIT};

/* done() callbacks run on their own thread, so the writer starts the next
 * transaction while the suspended requests are being woken. */
static void *completer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-complete");
  int n;
  sf_cmd *list;
  while ((list = queue_take(&W.finished, 1 << 30, &n)))
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

int sf_tx_rollback(sf_tx *tx, const sf_tx_mark *m, sf_err *err) {
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

static void fail_all(sf_cmd *list, const sf_err *why) {
  for (sf_cmd *c = list; c; c = c->next_) c->err = *why;
  queue_push(&W.finished, list, 0);
}

static void run_batch(sf_cmd *list, int n) {
  uint64_t t0 = sf_mono_ns();
  sf_tx tx = {.db = W.db};
  sf_err e = {0};
  if (run_cached(W.db, "BEGIN IMMEDIATE", &e) || load_head(&tx, &e)) {
    sf_err ignored;
    sf_db_exec(W.db, "ROLLBACK", &ignored);
    sf_log_error("writer cannot begin", "\"detail\":\"%s\"", e.detail);
    fail_all(list, &e);
    free(tx.after);
    return;
  }
  int64_t start_head = tx.head_position;
  int failed = 0;
  for (sf_cmd *c = list; c; c = c->next_) {
    int64_t pos = tx.head_position;
    int nafter = tx.nafter;
    char hash[65];
    memcpy(hash, tx.head_hash, sizeof hash);
    tx.now_ms = sf_now_ms();
    sf_err_clear(&c->err);
    sf_err se = {0};
    if (run_cached(W.db, "SAVEPOINT cmd", &se)) {
      c->err = se;
      failed++;
      continue;
    }
    int rc = c->run(c, &tx, &c->err);
    if (rc) {
      if (!c->err.status) sf_err_internal(&c->err, "command failed");
      run_cached(W.db, "ROLLBACK TO cmd", &se);
      tx.head_position = pos;
      memcpy(tx.head_hash, hash, sizeof hash);
      tx.nafter = nafter;
      failed++;
    }
    if (c->after) c->after(c, &tx, rc);
    run_cached(W.db, "RELEASE cmd", &se);
    if (!rc) sf_err_clear(&c->err); /* done() gets -err.status, 0 on success */
  }
  if (run_cached(W.db, "COMMIT", &e)) {
    sf_err ignored;
    sf_db_exec(W.db, "ROLLBACK", &ignored);
    sf_log_error("writer commit failed", "\"detail\":\"%s\"", e.detail);
    if (e.status < 500) e.status = 503;
    fail_all(list, &e);
    free(tx.after);
    return;
  }
  for (int i = 0; i < tx.nafter; i++) tx.after[i].fn(tx.after[i].ud, tx.after[i].key);
  free(tx.after);
  sf_metrics_commit(n, failed, sf_mono_ns() - t0);
  queue_push(&W.finished, list, 0);
  if (tx.head_position != start_head && W.hook) W.hook(tx.head_position, W.hook_ud);
}

static void *writer_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-writer");
  int n;
  sf_cmd *list;
  while ((list = queue_take(&W.queue, W.max_batch, &n))) run_batch(list, n);
  return NULL;
}

int sf_writer_start(const char *db_path, int max_batch, sf_err *err) {
  if (W.running) return sf_err_internal(err, "writer already running");
  W.db = sf_db_open(db_path, SF_DB_WRITE, err);
  if (!W.db) return -1;
  W.max_batch = max_batch > 0 ? max_batch : 1024;
  queue_set_open(&W.finished, 1);
  if (pthread_create(&W.completer, NULL, completer_main, NULL) != 0) {
    sf_db_close(W.db);
    W.db = NULL;
    return sf_err_internal(err, "cannot start completion thread");
  }
  queue_set_open(&W.queue, 1);
  if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
    queue_set_open(&W.queue, 0);
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
  sync_cmd s = {.base = {.run = sync_run, .after = sync_after, .done = sync_done}, .inner = cmd};
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

void sf_writer_stop(void) {
  if (!W.running) return;
  queue_set_open(&W.queue, 0); /* the writer drains what is queued, then exits */
  pthread_join(W.thread, NULL);
  queue_set_open(&W.finished, 0);
  pthread_join(W.completer, NULL);
  sf_err e;
  sf_db_exec(W.db, "PRAGMA wal_checkpoint(TRUNCATE)", &e);
  sf_db_close(W.db);
  W.db = NULL;
  W.running = 0;
}
