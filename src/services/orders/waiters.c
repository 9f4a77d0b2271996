/* `Prefer: wait=N` (RFC 7240): requests suspended until their order
 * settles or the wait ends. This is edge-level work (it holds suspended
 * HTTP requests), fed by the saga's hooks: ord_wait_touched when an order's
 * saga state changed, ord_wait_expire on every saga pass. */
#include "services/orders/waiters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/command.h"
#include "services/orders/internal.h"

typedef struct waiter {
  sf_req *req;
  char order_id[SF_ID_MAX];
  int64_t deadline_ms;
  int status;           /* HTTP status of the reply once the order is settled */
  int unsettled_status; /* ... and when the wait ends first */
  struct waiter *next;
} waiter;

static struct waiters_state {
  pthread_mutex_t mu;
  int open; /* taking new waiters (between ord_wait_open and ord_wait_close) */
  waiter *list;
} waiters = {.mu = PTHREAD_MUTEX_INITIALIZER};

void ord_reply(sf_req *req, int status, const order *o) {
  sf_result res = {0};
  order_result(&res, status, o);
  sf_req_reply_result(req, &res);
  sf_result_clear(&res);
}

/* Replies to a waiting request with the order's current state and resumes it. */
static void answer(waiter *w) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  order *o = sf_calloc(1, sizeof *o);
  if (!db || ord_repo_load(db, w->order_id, o, 1, &err)) {
    sf_req_reply_problem(w->req, &err);
  } else {
    ord_reply(w->req, order_settled(o) ? w->status : w->unsettled_status, o);
    sf_req_set_header(w->req, "Preference-Applied", "wait");
  }
  order_clear(o);
  free(o);
  sf_req_resume_durable(w->req);
  free(w);
}

/* Takes (under the lock) the waiters of order_id, or all expired ones when
 * order_id is NULL, or every waiter when flush is set. */
static waiter *take_waiters(const char *order_id, int64_t now, int flush) {
  waiter *out = NULL;
  pthread_mutex_lock(&waiters.mu);
  for (waiter **pp = &waiters.list; *pp;) {
    waiter *w = *pp;
    int take = flush || (order_id ? strcmp(w->order_id, order_id) == 0 : w->deadline_ms <= now);
    if (take) {
      *pp = w->next;
      w->next = out;
      out = w;
    } else {
      pp = &w->next;
    }
  }
  pthread_mutex_unlock(&waiters.mu);
  return out;
}

static void answer_all(waiter *w) {
  while (w) {
    waiter *n = w->next;
    answer(w);
    w = n;
  }
}

static int settled_now(const char *order_id) {
  sf_err err = {0};
  return ord_repo_settled(sf_db_reader(&err), order_id);
}

void ord_wait_touched(const char *order_id) {
  if (settled_now(order_id)) answer_all(take_waiters(order_id, 0, 0));
}

void ord_wait_changed(const char *order_id) {
  int any = 0;
  pthread_mutex_lock(&waiters.mu);
  for (waiter *w = waiters.list; w && !any; w = w->next) any = strcmp(w->order_id, order_id) == 0;
  pthread_mutex_unlock(&waiters.mu);
  if (any) ord_wait_touched(order_id);
}

void ord_wait_expire(void) { answer_all(take_waiters(NULL, sf_now_ms(), 0)); }

int ord_wait_park(sf_req *req, const char *order_id, int wait_s, int status, int unsettled_status) {
  if (wait_s <= 0) return 0;
  waiter *w = sf_calloc(1, sizeof *w);
  w->req = req;
  w->status = status;
  w->unsettled_status = unsettled_status;
  w->deadline_ms = sf_now_ms() + (int64_t)wait_s * 1000;
  snprintf(w->order_id, sizeof w->order_id, "%s", order_id);
  pthread_mutex_lock(&waiters.mu);
  if (!waiters.open) {
    pthread_mutex_unlock(&waiters.mu);
    free(w);
    return 0;
  }
  w->next = waiters.list;
  waiters.list = w;
  pthread_mutex_unlock(&waiters.mu);
  /* it may have settled before we were registered: answer now if we are still parked */
  ord_wait_touched(order_id);
  return 1;
}

void ord_wait_open(void) {
  pthread_mutex_lock(&waiters.mu);
  waiters.open = 1;
  pthread_mutex_unlock(&waiters.mu);
}

void ord_wait_close(void) {
  pthread_mutex_lock(&waiters.mu);
  waiters.open = 0;
  pthread_mutex_unlock(&waiters.mu);
}

void ord_wait_flush(void) { answer_all(take_waiters(NULL, 0, 1)); }
