/* Attempts in hand (attempts.h): the table of one service's attempts, the
 * staging in the timer's transaction, the hand-off to the outbound engine
 * after it commits, and the outcome's writer command. */
#include "events/attempts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "events/timers.h"

#define RECORDING_RECHECK_MS 100 /* a timer that found the last attempt's outcome being recorded */

static sf_attempt **slot_of(sf_attempts *t, const char *id) {
  return &t->table[sf_fnv1a(id, strlen(id)) % SF_ATTEMPTS_BUCKETS];
}

/* Under t->mu. */
static sf_attempt *find_locked(sf_attempts *t, const char *id) {
  for (sf_attempt *a = *slot_of(t, id); a; a = a->next)
    if (strcmp(a->id, id) == 0) return a;
  return NULL;
}

/* Under t->mu. */
static void remove_locked(sf_attempts *t, sf_attempt *a) {
  for (sf_attempt **p = slot_of(t, a->id); *p; p = &(*p)->next)
    if (*p == a) {
      *p = a->next;
      break;
    }
  t->ops->clear(a);
  free(a);
}

/* Any thread: the attempt leaves this process's hands (its row stays as it is). */
static void drop(sf_attempts *t, sf_attempt *a, int *count) {
  pthread_mutex_lock(&t->mu);
  if (count) (*count)--;
  remove_locked(t, a);
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

/* ---- the outcome: a writer command ---- */

static sf_attempt *of_cmd(sf_cmd *c) { return (sf_attempt *)((char *)c - offsetof(sf_attempt, cmd)); }

static int record_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  sf_attempt *a = of_cmd(c);
  return ((sf_attempts *)a->req.owner)->ops->record(a, tx, err);
}

static void record_done(sf_cmd *c, int rc) {
  sf_attempt *a = of_cmd(c);
  sf_attempts *t = (sf_attempts *)a->req.owner;
  t->ops->recorded(a, rc, &c->err);
  drop(t, a, &t->recording);
}

/* Engine thread: the answer becomes a writer command. */
static void answered(sf_out_req *r, sf_out_end end, const sf_out_attempt *at) {
  sf_attempt *a = (sf_attempt *)r;
  sf_attempts *t = (sf_attempts *)r->owner;
  if (end == SF_OUT_ABANDONED) { /* stopping: not recorded, the row stays pending and is sent again */
    drop(t, a, &t->sending);
    return;
  }
  t->ops->outcome(a, end, at);
  a->cmd = (sf_cmd){.run = record_run, .done = record_done, .retry_storage = 1};
  pthread_mutex_lock(&t->mu);
  a->state = SF_ATTEMPT_RECORDING;
  t->sending--;
  t->recording++;
  pthread_mutex_unlock(&t->mu);
  if (sf_writer_submit(&a->cmd)) drop(t, a, &t->recording); /* shutting down: the row stays pending */
}

/* ---- staging, and the hand-off after the commit ---- */

/* After the staging commit (durable): hand the staged attempt to the engine. */
static void send_hook(void *ud, const char *id) {
  sf_attempts *t = ud;
  pthread_mutex_lock(&t->mu);
  sf_attempt *a = find_locked(t, id);
  int go = a && a->state == SF_ATTEMPT_STAGED && atomic_load(&t->running);
  if (go) {
    a->state = SF_ATTEMPT_SENDING;
    t->sending++;
  }
  pthread_mutex_unlock(&t->mu);
  if (!go) return;
  t->ops->prepare(a);
  a->req.owner = t;
  a->req.done = answered;
  a->req.max_attempts = 1; /* the next attempt is the durable timer's */
  sf_out_req *r = &a->req;
  if (sf_out_submit(&r, 1)) drop(t, a, &t->sending); /* stopping: the lease sends it after the restart */
}

int sf_attempts_stage(sf_attempts *t, sf_tx *tx, const char *kind, const char *id,
                      void (*fill)(sf_attempt *a, void *ud), void *ud, sf_err *err) {
  if (!atomic_load(&t->running)) /* not sending here (a CLI run): the server's start re-arms it */
    return sf_timer_set(tx, kind, id, tx->now_ms + SF_ATTEMPTS_SLACK_MS, err);
  if (strlen(id) >= SF_ATTEMPT_ID_MAX) return sf_err_internal(err, "attempt id too long: %s", id);
  pthread_mutex_lock(&t->mu);
  sf_attempt *a = find_locked(t, id);
  int busy = a && a->state != SF_ATTEMPT_STAGED; /* this row's attempt is still out */
  /* Its outcome is being recorded: that command may already have set this
   * retry's timer (a short backoff fires before the command's done() lets
   * go of the row). Look again shortly rather than after a whole lease. */
  int recording = busy && a->state == SF_ATTEMPT_RECORDING;
  if (!busy) {
    if (!a) {
      a = sf_calloc(1, t->ops->size);
      snprintf(a->id, sizeof a->id, "%s", id);
      sf_attempt **slot = slot_of(t, id);
      a->next = *slot;
      *slot = a;
    } else {
      t->ops->clear(a); /* staged before by a transaction that rolled back */
    }
    a->state = SF_ATTEMPT_STAGED;
    snprintf(a->timer_kind, sizeof a->timer_kind, "%s", kind);
    fill(a, ud);
  }
  pthread_mutex_unlock(&t->mu);
  if (!busy) sf_tx_after_commit(tx, send_hook, t, id);
  return sf_timer_set(tx, kind, id, tx->now_ms + (recording ? RECORDING_RECHECK_MS : t->lease_ms), err);
}

/* ---- start and stop ---- */

int sf_attempts_running(sf_attempts *t) { return atomic_load(&t->running); }

int sf_attempts_in_flight(sf_attempts *t) {
  pthread_mutex_lock(&t->mu);
  int n = t->sending;
  pthread_mutex_unlock(&t->mu);
  return n;
}

void sf_attempts_start(sf_attempts *t, int timeout_ms) {
  t->lease_ms = (int64_t)timeout_ms + SF_ATTEMPTS_SLACK_MS;
  atomic_store(&t->running, 1);
}

void sf_attempts_stop(sf_attempts *t) {
  if (!atomic_exchange(&t->running, 0)) return;
  sf_out_cancel(t); /* attempts in flight end unrecorded: sent again after the restart */
  pthread_mutex_lock(&t->mu);
  while (t->sending > 0 || t->recording > 0) pthread_cond_wait(&t->cv, &t->mu);
  for (int i = 0; i < SF_ATTEMPTS_BUCKETS; i++) /* staged by transactions that never committed */
    for (sf_attempt *a = t->table[i], *next; a; a = next) {
      next = a->next;
      t->ops->clear(a);
      free(a);
    }
  memset(t->table, 0, sizeof t->table);
  pthread_mutex_unlock(&t->mu);
}

int sf_attempts_rearm(sf_tx *tx, sf_stmt *st, const char *kind, sf_err *err) {
  if (!st) return -500;
  struct {
    char id[SF_ATTEMPT_ID_MAX];
    int64_t at;
  } *rows = NULL;
  int n = 0, cap = 0, rc;
  while ((rc = sf_stmt_step(st, err)) == 1) { /* read them all first: setting timers writes */
    if (n == cap) rows = sf_realloc(rows, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *rows);
    sf_stmt_col_copy(st, 0, rows[n].id, sizeof rows[n].id);
    rows[n++].at = sf_stmt_col_int(st, 1);
  }
  sf_stmt_reset(st);
  for (int i = 0; rc == 0 && i < n; i++)
    rc = sf_timer_set(tx, kind, rows[i].id, rows[i].at > tx->now_ms ? rows[i].at : tx->now_ms, err);
  free(rows);
  return rc < 0 ? rc : n;
}

void sf_attempts_clean_message(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
  for (char *p = dst; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = ' ';
}
