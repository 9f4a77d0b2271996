/* Attempts in hand: the part that e-mail and webhook delivery share of
 * sending a durable outbound row (a queued mail, a webhook delivery) once
 * per firing of its durable timer (events/timers.h) through the outbound
 * engine (events/outbound.h), at least once and never twice at a time.
 *
 * The life of one attempt, in one table per service (sf_attempts):
 *  1. The row's timer fires (writer thread, in the timer's savepoint): the
 *     service reads the row and calls sf_attempts_stage, which, unless this
 *     row's previous attempt is still out, fills an entry (the service's
 *     fill()) and moves the timer on by a lease (the attempt's timeout plus
 *     slack), so that a crash before the outcome is recorded sends it again.
 *  2. After that transaction commits, the entry goes to the outbound engine
 *     (prepare() fills its request; one attempt, no engine retries).
 *  3. The engine's answer (outcome() on the engine thread) becomes a writer
 *     command: record() writes the outcome and sets or cancels the timer;
 *     recorded() (completion thread) counts and logs; then the entry is
 *     freed.
 * An entry is in the table at most once per id: a lease that fires while
 * the attempt is out stages nothing. One that fires while the outcome is
 * being recorded looks again in 100 ms (that command may already have set
 * a short retry's timer), rather than after a whole lease.
 *
 * The service embeds sf_attempt first in its own struct (of ops->size
 * bytes, zeroed when made) and casts back. Thread-safe. */
#ifndef SF_EVENTS_ATTEMPTS_H
#define SF_EVENTS_ATTEMPTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "events/outbound.h"
#include "store/db.h"
#include "store/writer.h"

#define SF_ATTEMPT_ID_MAX 64
#define SF_ATTEMPTS_BUCKETS 256

typedef enum { SF_ATTEMPT_STAGED = 1, SF_ATTEMPT_SENDING, SF_ATTEMPT_RECORDING } sf_attempt_state;

typedef struct sf_attempt {
  sf_out_req req; /* first: the engine hands it back */
  sf_cmd cmd;     /* the outcome's writer command */
  sf_attempt_state state;
  char id[SF_ATTEMPT_ID_MAX];
  char timer_kind[32]; /* the timer that staged it: record() sets or cancels it */
  struct sf_attempt *next;
} sf_attempt;

typedef struct sf_attempts_ops {
  size_t size; /* of the service's struct that begins with sf_attempt */
  /* Frees what the service's part holds (not the entry): before a restage
   * (a transaction that staged it rolled back) and before it is freed. Under
   * the table's lock; must not block. */
  void (*clear)(sf_attempt *a);
  /* After the staging commit: fills a->req (dest, url, body, setup, judge,
   * timeout; owner and done are the table's). */
  void (*prepare)(sf_attempt *a);
  /* Engine thread: notes the answer (the end is ANSWERED, FAILED or
   * REFUSED; an abandoned attempt is dropped unrecorded). */
  void (*outcome)(sf_attempt *a, sf_out_end end, const sf_out_attempt *at);
  /* Writer thread: records the outcome, sets or cancels the timer. */
  int (*record)(sf_attempt *a, sf_tx *tx, sf_err *err);
  /* Completion thread, after record's transaction (rc 0) or its failure. */
  void (*recorded)(sf_attempt *a, int rc, const sf_err *err);
} sf_attempts_ops;

typedef struct sf_attempts {
  const sf_attempts_ops *ops;
  int64_t lease_ms; /* the timer after a staging: the attempt's timeout plus SF_ATTEMPTS_SLACK_MS */
  pthread_mutex_t mu;
  pthread_cond_t cv; /* an entry left the engine or the writer (stop waits) */
  sf_attempt *table[SF_ATTEMPTS_BUCKETS];
  int sending, recording;
  atomic_int running;
} sf_attempts;

#define SF_ATTEMPTS_INIT(ops_)                                                                                         \
  { .ops = (ops_), .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER }

/* Writer thread, in the timer's transaction, after the service has read the
 * row as pending: stages it (fill(a, ud) under the table's lock: copy what
 * the attempt needs) unless its attempt is still out, and moves the timer
 * kind/id on by the lease (or 100 ms while an outcome is being recorded).
 * Not running (a CLI process): the timer moves on by the lease slack alone. */
int sf_attempts_stage(sf_attempts *t, sf_tx *tx, const char *kind, const char *id,
                      void (*fill)(sf_attempt *a, void *ud), void *ud, sf_err *err);

/* Whether entries go out (set between start and stop). */
int sf_attempts_running(sf_attempts *t);
/* Attempts with the engine now (for a gauge). */
int sf_attempts_in_flight(sf_attempts *t);

/* What a lease adds to an attempt's timeout, and how long a process that
 * does not send (a CLI run) leaves a fired timer before it fires again. */
#define SF_ATTEMPTS_SLACK_MS 60000

/* Start sending; an attempt's lease is timeout_ms + SF_ATTEMPTS_SLACK_MS. */
void sf_attempts_start(sf_attempts *t, int timeout_ms);
/* Stop: attempts in flight end unrecorded (their rows stay pending and are
 * sent again after a restart); waits for outcomes being recorded; frees
 * what is staged. */
void sf_attempts_stop(sf_attempts *t);

/* Writer thread, at start: sets the timer kind of every row st lists
 * (columns: id, next_at), due ones now: rows left pending by the last run
 * (an attempt cut short by a crash or a stop). Resets st (NULL: -500).
 * Returns how many, or < 0 with err filled. */
int sf_attempts_rearm(sf_tx *tx, sf_stmt *st, const char *kind, sf_err *err);

/* curl's error text for rows and JSON log lines: printable ASCII, no quotes
 * or backslashes. */
void sf_attempts_clean_message(char *dst, size_t cap, const char *src);

#endif
