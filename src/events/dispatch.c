#define _GNU_SOURCE /* pthread_setname_np */
#include "events/dispatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define MAX_SUBS 32
#define BATCH 512

static const sf_subscriber *g_subs[MAX_SUBS];
static int g_nsubs;

static struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t head; /* newest committed position we were told of */
  int running, stopping;
  int64_t live_pos; /* last position given to live subscribers */
} D = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void sf_dispatch_register(const sf_subscriber *s) {
  if (g_nsubs < MAX_SUBS) g_subs[g_nsubs++] = s;
}
void sf_dispatch_clear(void) { g_nsubs = 0; }

static const sf_subscriber *find(const char *name) {
  for (int i = 0; i < g_nsubs; i++)
    if (strcmp(g_subs[i]->name, name) == 0) return g_subs[i];
  return NULL;
}

static int64_t checkpoint_tx(sf_db *db, const char *name, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT position FROM checkpoints WHERE name = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, name);
  int rc = sf_stmt_step(st, err);
  int64_t v = rc == 1 ? sf_stmt_col_int(st, 0) : rc == 0 ? 0 : -1;
  sf_stmt_reset(st);
  return v;
}

static int set_checkpoint(sf_db *db, const char *name, int64_t pos, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO checkpoints(name, position) VALUES(?, ?)"
                              " ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, name);
  sf_stmt_int(st, 2, pos);
  return sf_stmt_run(st, err);
}

int64_t sf_dispatch_checkpoint(const char *name, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  return db ? checkpoint_tx(db, name, err) : -1;
}

/* ---- advancing one durable subscriber: a writer command ---- */

typedef struct {
  sf_event ev;
  char *strings; /* one allocation holding every string of ev */
} owned_event;

typedef struct {
  owned_event *items;
  int n, cap;
  const char *prefix; /* keep only events whose type starts with it (NULL: all) */
  int seen;           /* events read, kept or not */
  int64_t last;       /* position of the last event read */
} event_list;

static int collect(const sf_event *ev, void *ud) {
  event_list *l = ud;
  l->seen++;
  l->last = ev->position;
  if (l->prefix && strncmp(ev->type, l->prefix, strlen(l->prefix)) != 0) return 0;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->items = sf_realloc(l->items, (size_t)l->cap * sizeof *l->items);
  }
  const char *src[7] = {ev->stream, ev->type, ev->id, ev->data, ev->meta, ev->hash, ""};
  size_t len[7], total = 0;
  for (int i = 0; i < 6; i++) total += (len[i] = strlen(src[i])) + 1;
  owned_event *o = &l->items[l->n++];
  o->strings = sf_malloc(total);
  o->ev = *ev;
  const char **dst[6] = {&o->ev.stream, &o->ev.type, &o->ev.id, &o->ev.data, &o->ev.meta, &o->ev.hash};
  char *p = o->strings;
  for (int i = 0; i < 6; i++) {
    memcpy(p, src[i], len[i] + 1);
    *dst[i] = p;
    p += len[i] + 1;
  }
  return 0;
}

static void list_free(event_list *l) {
  for (int i = 0; i < l->n; i++) free(l->items[i].strings);
  free(l->items);
}

typedef struct {
  sf_cmd cmd;
  const sf_subscriber *sub;
  int applied;      /* events applied in this batch */
  int64_t position; /* checkpoint after the batch */
  int reset;        /* replay: reset the read model and start from 0 */
  int64_t skip_to;  /* events up to here are known not to match the subscriber's types */
} advance_cmd;

static int advance_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  advance_cmd *a = (advance_cmd *)c;
  if (a->reset) {
    if (a->sub->reset && a->sub->reset(tx, err)) return -1;
    if (set_checkpoint(tx->db, a->sub->name, 0, err)) return -1;
  }
  int64_t cp = checkpoint_tx(tx->db, a->sub->name, err);
  if (cp < 0) return -1;
  if (a->skip_to > cp) cp = a->skip_to;
  event_list l = {.prefix = a->sub->types};
  int rc = sf_ev_read_all(tx->db, cp, BATCH, collect, &l, err);
  for (int i = 0; rc == 0 && i < l.n; i++) rc = a->sub->apply(tx, &l.items[i].ev, err);
  if (rc == 0 && a->sub->flush) rc = a->sub->flush(tx, err);
  if (rc == 0 && l.seen) cp = l.last; /* the whole batch, filtered-out events included */
  a->applied = l.seen;
  list_free(&l);
  if (rc) return rc;
  a->position = cp;
  return set_checkpoint(tx->db, a->sub->name, cp, err);
}

static void advance_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

/* Runs batches until the subscriber has seen everything. keep: the live
 * dispatcher's advances are run again by the writer until they commit
 * after a storage failure (a full disk), so it does not sit idle until the
 * next commit; at start and in the CLI a failure is reported instead. */
static int advance_from(const sf_subscriber *s, int reset, int64_t skip_to, int keep, sf_err *err) {
  for (;;) {
    advance_cmd a = {.cmd = {.run = advance_run, .done = advance_done, .retry_storage = keep},
                     .sub = s,
                     .reset = reset,
                     .skip_to = skip_to};
    int rc = sf_writer_exec(&a.cmd);
    if (rc) {
      *err = a.cmd.err;
      return rc;
    }
    reset = 0;
    skip_to = 0;
    if (a.applied < BATCH) return 0;
  }
}

static int advance(const sf_subscriber *s, int reset, sf_err *err) { return advance_from(s, reset, 0, 0, err); }

/* The dispatcher thread's catch-up. A subscriber that takes only some event
 * types (sales_daily, webhooks) would otherwise cost a writer command after
 * every commit just to read events it skips: the thread first looks on a
 * reader for the next event of its types, and goes to the writer only when
 * there is one, starting just before it. Positions known to hold nothing
 * for it are kept in memory (g_scanned); its stored checkpoint moves when it
 * applies something, and a restart re-reads the skipped span harmlessly. */
static int64_t g_scanned[MAX_SUBS];

static int64_t next_match(sf_db *db, const char *prefix, int64_t after, int64_t upto, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT position FROM events WHERE position > ?1 AND position <= ?2"
                              " AND substr(type, 1, ?3) = ?4 ORDER BY position LIMIT 1",
                              err);
  if (!st) return -1;
  sf_stmt_int(st, 1, after);
  sf_stmt_int(st, 2, upto);
  sf_stmt_int(st, 3, (int64_t)strlen(prefix));
  sf_stmt_text(st, 4, prefix);
  int rc = sf_stmt_step(st, err);
  int64_t pos = rc == 1 ? sf_stmt_col_int(st, 0) : rc;
  sf_stmt_reset(st);
  return pos;
}

static int catch_up_lazily(int64_t head, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  for (int i = 0; i < g_nsubs; i++) {
    const sf_subscriber *s = g_subs[i];
    if (!s->apply) continue;
    if (!s->types || !db) {
      if (advance_from(s, 0, 0, 1, err)) return -1;
      continue;
    }
    int64_t from = g_scanned[i];
    if (!from && (from = checkpoint_tx(db, s->name, err)) < 0) return -1;
    int64_t at = from < head ? next_match(db, s->types, from, head, err) : 0;
    if (at < 0) return -1;
    if (at == 0) {
      if (head > from) g_scanned[i] = head;
      continue;
    }
    g_scanned[i] = 0;
    if (advance_from(s, 0, at - 1, 1, err)) return -1;
  }
  return 0;
}

int sf_dispatch_catch_up(sf_err *err) {
  for (int i = 0; i < g_nsubs; i++)
    if (g_subs[i]->apply && advance(g_subs[i], 0, err)) return -1;
  return 0;
}

int sf_dispatch_replay(const char *name, sf_err *err) {
  const sf_subscriber *s = find(name);
  if (!s || !s->apply) return sf_err_not_found(err, "projection");
  for (int i = 0; i < g_nsubs; i++)
    if (g_subs[i] == s) g_scanned[i] = 0;
  return advance(s, 1, err);
}

/* ---- the thread ---- */

/* Live subscribers see only events known to be durable (up to the head the
 * commit hook reported): a later batch may be visible but not yet synced. */
static int notify_live(const sf_event *ev, void *ud) {
  if (ev->position > *(const int64_t *)ud) return 1;
  for (int i = 0; i < g_nsubs; i++)
    if (g_subs[i]->notify) g_subs[i]->notify(ev);
  D.live_pos = ev->position;
  return 0;
}

static void on_commit(int64_t head, void *ud) {
  (void)ud;
  pthread_mutex_lock(&D.mu);
  if (head > D.head) D.head = head;
  pthread_cond_signal(&D.cv);
  pthread_mutex_unlock(&D.mu);
}

static void *dispatch_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-dispatch");
  int64_t seen = -1;
  for (;;) {
    pthread_mutex_lock(&D.mu);
    while (D.head == seen && !D.stopping) pthread_cond_wait(&D.cv, &D.mu);
    int64_t head = D.head;
    int stopping = D.stopping;
    pthread_mutex_unlock(&D.mu);
    sf_err err = {0};
    if (catch_up_lazily(head, &err)) sf_log_error("projection failed", "\"detail\":\"%s\"", err.detail);
    sf_db *db = sf_db_reader(&err);
    if (db) {
      while (D.live_pos < head) {
        int64_t before = D.live_pos;
        if (sf_ev_read_all(db, D.live_pos, BATCH, notify_live, &head, &err) || D.live_pos == before) break;
      }
    }
    seen = head;
    if (stopping) break;
  }
  return NULL;
}

int sf_dispatch_start(sf_err *err) {
  sf_db *db = sf_db_reader(err);
  if (!db) return -1;
  int64_t head = sf_ev_head(db, err);
  if (head < 0) return -1;
  D.head = head;
  D.live_pos = head;
  D.stopping = 0;
  sf_writer_on_commit(on_commit, NULL);
  if (pthread_create(&D.thread, NULL, dispatch_main, NULL) != 0) return sf_err_internal(err, "cannot start dispatcher");
  D.running = 1;
  return 0;
}

void sf_dispatch_stop(void) {
  if (!D.running) return;
  pthread_mutex_lock(&D.mu);
  D.stopping = 1;
  pthread_cond_signal(&D.cv);
  pthread_mutex_unlock(&D.mu);
  pthread_join(D.thread, NULL);
  sf_writer_on_commit(NULL, NULL);
  D.running = 0;
}
