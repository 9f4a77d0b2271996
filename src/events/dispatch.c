#define _GNU_SOURCE /* pthread_setname_np */
#include "events/dispatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "events/lease.h"

#define MAX_SUBS 32
#define BATCH 512

static struct dispatch_state {
  const sf_subscriber *subs[MAX_SUBS]; /* registered before start, then read only */
  int nsubs;
  /* Per subscriber with types: positions up to here are known to hold
   * nothing for it (dispatcher thread only; see catch_up_lazily). */
  int64_t scanned[MAX_SUBS];
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t head; /* newest committed position we were told of */
  int running, stopping;
  int kick; /* the lease came: a durable pass is due (under mu) */
  /* Live subscribers have a thread of their own (sf-live), so a wake-up
   * never waits behind the durable pass's writer command: handing the order
   * saga its orders from the durable thread cost 13% of Prefer: wait orders/s
   * (same-run A/B, medians of 5). */
  pthread_t live_thread;
  int live_running;
  int64_t live_pos; /* last position given to live subscribers (live thread) */
} dispatch = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void sf_dispatch_register(const sf_subscriber *s) {
  if (dispatch.nsubs < MAX_SUBS) dispatch.subs[dispatch.nsubs++] = s;
}
void sf_dispatch_clear(void) { dispatch.nsubs = 0; }

static const sf_subscriber *find(const char *name) {
  for (int i = 0; i < dispatch.nsubs; i++)
    if (strcmp(dispatch.subs[i]->name, name) == 0) return dispatch.subs[i];
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
  const char *prefix; /* keep only events whose type starts with one of these (NULL: all) */
  int seen;           /* events read, kept or not */
  int64_t last;       /* position of the last event read */
} event_list;

/* Does type start with one of types' comma-separated prefixes? */
static int type_matches(const char *types, const char *type) {
  for (const char *p = types; *p;) {
    size_t n = strcspn(p, ",");
    if (strncmp(type, p, n) == 0) return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

static int collect(const sf_event *ev, void *ud) {
  event_list *l = ud;
  l->seen++;
  l->last = ev->position;
  if (l->prefix && !type_matches(l->prefix, ev->type)) return 0;
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

/* One subscriber's share of an advance. */
typedef struct {
  const sf_subscriber *sub;
  int64_t skip_to; /* events up to here are known not to match the subscriber's types */
  int applied;     /* events read in this pass (a full BATCH: there may be more) */
  int failed;      /* this pass was rolled back (its own refusal, not the storage's) */
  sf_err err;
} advance_item;

/* Advances several subscribers in one writer command, each in its own
 * savepoint: one that fails rolls back alone, the others' applies and
 * checkpoints commit together. */
typedef struct {
  sf_cmd cmd;
  advance_item *items;
  int n;
  int reset; /* replay (n == 1): reset the read model and start from 0 */
} advance_cmd;

static int advance_one(sf_tx *tx, advance_item *it, int reset, sf_err *err) {
  const sf_subscriber *sub = it->sub;
  if (reset) {
    if (sub->reset && sub->reset(tx, err)) return -1;
    if (set_checkpoint(tx->db, sub->name, 0, err)) return -1;
  }
  int64_t cp = checkpoint_tx(tx->db, sub->name, err);
  if (cp < 0) return -1;
  if (it->skip_to > cp) cp = it->skip_to;
  event_list l = {.prefix = sub->types};
  int rc = sf_ev_read_all(tx->db, cp, BATCH, collect, &l, err);
  for (int i = 0; rc == 0 && i < l.n; i++) rc = sub->apply(tx, &l.items[i].ev, err);
  if (rc == 0 && sub->flush) rc = sub->flush(tx, err);
  if (rc == 0 && l.seen) cp = l.last; /* the whole batch, filtered-out events included */
  it->applied = l.seen;
  list_free(&l);
  return rc ? rc : set_checkpoint(tx->db, sub->name, cp, err);
}

static int advance_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  advance_cmd *a = (advance_cmd *)c;
  for (int i = 0; i < a->n; i++) { /* from the inputs on every attempt (retry_storage) */
    a->items[i].applied = 0;
    a->items[i].failed = 0;
  }
  if (a->n == 1) return advance_one(tx, &a->items[0], a->reset, err); /* the command's savepoint is enough */
  for (int i = 0; i < a->n; i++) {
    advance_item *it = &a->items[i];
    sf_tx_mark mark;
    sf_err_clear(&it->err);
    if (sf_tx_savepoint(tx, &mark, err)) return -1;
    if (advance_one(tx, it, 0, &it->err) == 0) {
      if (sf_tx_release(tx, err)) return -1;
      continue;
    }
    if (sf_writer_retryable(&it->err)) { /* the storage's fault: the writer runs it all again */
      *err = it->err;
      return -1;
    }
    if (sf_tx_rollback(tx, &mark, err)) return -1;
    it->failed = 1;
  }
  return 0;
}

static void advance_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

/* Runs passes until every item has seen everything: the items of a pass
 * share one writer command; an item that read a full batch takes part in
 * the next pass. keep: the live dispatcher's advances are run again by the
 * writer until they commit after a storage failure (a full disk), so it does
 * not sit idle until the next commit; at start and in the CLI a failure is
 * reported instead. Returns -1 with err of the first failing subscriber
 * (the dispatcher logs it); the others have advanced. */
static int advance_all(advance_item *items, int n, int reset, int keep, sf_err *err) {
  int failed = 0;
  while (n > 0) {
    advance_cmd a = {.cmd = {.run = advance_run, .done = advance_done, .retry_storage = keep},
                     .items = items,
                     .n = n,
                     .reset = reset};
    int rc = sf_writer_exec(&a.cmd);
    if (rc) {
      if (!failed) *err = a.cmd.err;
      return rc;
    }
    int more = 0;
    for (int i = 0; i < n; i++) {
      if (items[i].failed) {
        if (!failed++) *err = items[i].err;
      } else if (items[i].applied >= BATCH) {
        items[more] = items[i];
        items[more++].skip_to = 0;
      }
    }
    n = more;
    reset = 0;
  }
  return failed ? -1 : 0;
}

/* The dispatcher thread's catch-up. A subscriber that takes only some event
 * types (sales_daily, webhooks) would otherwise cost a writer command's work
 * after every commit just to read events it skips: the thread first looks on
 * a reader for the next event of its types, and goes to the writer only when
 * there is one, starting just before it. Positions known to hold nothing
 * for it are kept in memory (dispatch.scanned); its stored checkpoint moves
 * when it applies something, and a restart re-reads the skipped span
 * harmlessly. Every subscriber with something to do advances in the same
 * writer command. */
static int64_t next_match_one(sf_db *db, const char *prefix, size_t len, int64_t after, int64_t upto, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT position FROM events WHERE position > ?1 AND position <= ?2"
                              " AND substr(type, 1, ?3) = ?4 ORDER BY position LIMIT 1",
                              err);
  if (!st) return -1;
  sf_stmt_int(st, 1, after);
  sf_stmt_int(st, 2, upto);
  sf_stmt_int(st, 3, (int64_t)len);
  sf_stmt_textn(st, 4, prefix, (int)len);
  int rc = sf_stmt_step(st, err);
  int64_t pos = rc == 1 ? sf_stmt_col_int(st, 0) : rc;
  sf_stmt_reset(st);
  return pos;
}

/* The first position in (after, upto] of one of types' comma-separated
 * prefixes (0: none): one look per prefix, the earliest wins. */
static int64_t next_match(sf_db *db, const char *types, int64_t after, int64_t upto, sf_err *err) {
  int64_t best = 0;
  for (const char *p = types; *p;) {
    size_t n = strcspn(p, ",");
    int64_t at = n ? next_match_one(db, p, n, after, best ? best - 1 : upto, err) : 0;
    if (at < 0) return -1;
    if (at > 0) best = at;
    p += n + (p[n] == ',');
  }
  return best;
}

/* Fills *it if subscriber i has something to apply up to head; 1 if so. */
static int due_lazily(sf_db *db, int i, int64_t head, advance_item *it, sf_err *err) {
  const sf_subscriber *s = dispatch.subs[i];
  *it = (advance_item){.sub = s};
  if (s->idle && db) { /* up to scanned[i] it was idle: nothing there is owed to it */
    int idle = s->idle(db, err);
    if (idle < 0) return -1;
    if (idle)
      dispatch.scanned[i] = head;
    else
      it->skip_to = dispatch.scanned[i], dispatch.scanned[i] = 0;
    return !idle;
  }
  if (!s->types || !db) return 1;
  int64_t from = dispatch.scanned[i];
  if (!from && (from = checkpoint_tx(db, s->name, err)) < 0) return -1;
  int64_t at = from < head ? next_match(db, s->types, from, head, err) : 0;
  if (at < 0) return -1;
  if (at == 0) {
    if (head > from) dispatch.scanned[i] = head;
    return 0;
  }
  dispatch.scanned[i] = 0;
  it->skip_to = at - 1;
  return 1;
}

static int catch_up_lazily(int64_t head, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  advance_item items[MAX_SUBS];
  int n = 0;
  for (int i = 0; i < dispatch.nsubs; i++) {
    if (!dispatch.subs[i]->apply) continue;
    int due = due_lazily(db, i, head, &items[n], err);
    if (due < 0) return -1;
    n += due;
  }
  return advance_all(items, n, 0, 1, err);
}

int sf_dispatch_catch_up(sf_err *err) {
  advance_item items[MAX_SUBS];
  int n = 0;
  for (int i = 0; i < dispatch.nsubs; i++)
    if (dispatch.subs[i]->apply) items[n++] = (advance_item){.sub = dispatch.subs[i]};
  return advance_all(items, n, 0, 0, err);
}

int sf_dispatch_replay(const char *name, sf_err *err) {
  const sf_subscriber *s = find(name);
  if (!s || !s->apply) return sf_err_not_found(err, "projection");
  for (int i = 0; i < dispatch.nsubs; i++)
    if (dispatch.subs[i] == s) dispatch.scanned[i] = 0;
  advance_item it = {.sub = s};
  return advance_all(&it, 1, 1, 0, err);
}

/* ---- the thread ---- */

/* Live subscribers see only events known to be durable (up to the head the
 * commit hook reported): a later batch may be visible but not yet synced. */
static int notify_live(const sf_event *ev, void *ud) {
  if (ev->position > *(const int64_t *)ud) return 1;
  for (int i = 0; i < dispatch.nsubs; i++)
    if (dispatch.subs[i]->notify) dispatch.subs[i]->notify(ev);
  dispatch.live_pos = ev->position;
  return 0;
}

static void on_commit(int64_t head, void *ud) {
  (void)ud;
  pthread_mutex_lock(&dispatch.mu);
  if (head > dispatch.head) dispatch.head = head;
  pthread_cond_broadcast(&dispatch.cv);
  pthread_mutex_unlock(&dispatch.mu);
}

/* Waits until the head moves past *seen (or stopping, or *kick is set, which
 * it clears); returns the head and sets *stopping. */
static int64_t wait_for_head(int64_t seen, int *kick, int *stopping) {
  pthread_mutex_lock(&dispatch.mu);
  while (dispatch.head == seen && !dispatch.stopping && !(kick && *kick)) pthread_cond_wait(&dispatch.cv, &dispatch.mu);
  if (kick) *kick = 0;
  int64_t head = dispatch.head;
  *stopping = dispatch.stopping;
  pthread_mutex_unlock(&dispatch.mu);
  return head;
}

/* The lease came: the durable subscribers may be behind (another holder
 * stopped, or this instance skipped passes while it stood by). */
static void lease_changed(int held) {
  if (!held) return;
  pthread_mutex_lock(&dispatch.mu);
  dispatch.kick = 1;
  pthread_cond_broadcast(&dispatch.cv);
  pthread_mutex_unlock(&dispatch.mu);
}

static void *live_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-live");
  int64_t seen = -1;
  for (int stopping = 0; !stopping;) {
    int64_t head = wait_for_head(seen, NULL, &stopping);
    sf_err err = {0};
    sf_db *db = sf_db_reader(&err);
    while (db && dispatch.live_pos < head) {
      int64_t before = dispatch.live_pos;
      if (sf_ev_read_all(db, dispatch.live_pos, BATCH, notify_live, &head, &err) || dispatch.live_pos == before) break;
    }
    seen = head;
  }
  return NULL;
}

static void *dispatch_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-dispatch");
  int64_t seen = -1;
  for (int stopping = 0; !stopping;) {
    int64_t head = wait_for_head(seen, &dispatch.kick, &stopping);
    sf_err err = {0};
    /* the lease holder advances them (events/lease.h); the others' passes
     * would find the work done under the write lock, at the writer's cost */
    if (sf_lease_held() && catch_up_lazily(head, &err))
      sf_log_error("projection failed", "\"detail\":\"%s\"", err.detail);
    seen = head;
  }
  return NULL;
}

static int has_live(void) {
  for (int i = 0; i < dispatch.nsubs; i++)
    if (dispatch.subs[i]->notify) return 1;
  return 0;
}

int sf_dispatch_start(sf_err *err) {
  sf_db *db = sf_db_reader(err);
  if (!db) return -1;
  int64_t head = sf_ev_head(db, err);
  if (head < 0) return -1;
  dispatch.head = head;
  dispatch.live_pos = head;
  dispatch.stopping = 0;
  dispatch.kick = 0;
  static int lease_watched;
  if (!lease_watched) {
    sf_lease_on_change(lease_changed);
    lease_watched = 1;
  }
  sf_writer_on_commit(on_commit, NULL);
  if (pthread_create(&dispatch.thread, NULL, dispatch_main, NULL) != 0)
    return sf_err_internal(err, "cannot start dispatcher");
  dispatch.running = 1;
  if (!has_live()) return 0;
  if (pthread_create(&dispatch.live_thread, NULL, live_main, NULL) != 0) {
    sf_dispatch_stop();
    return sf_err_internal(err, "cannot start the live dispatcher");
  }
  dispatch.live_running = 1;
  return 0;
}

void sf_dispatch_stop(void) {
  if (!dispatch.running) return;
  pthread_mutex_lock(&dispatch.mu);
  dispatch.stopping = 1;
  pthread_cond_broadcast(&dispatch.cv);
  pthread_mutex_unlock(&dispatch.mu);
  pthread_join(dispatch.thread, NULL);
  if (dispatch.live_running) pthread_join(dispatch.live_thread, NULL);
  dispatch.live_running = 0;
  sf_writer_on_commit(NULL, NULL);
  dispatch.running = 0;
}
