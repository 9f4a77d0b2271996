/* Dispatcher: hands committed events, in position order, to subscribers.
 *
 * Durable subscribers (projections) keep a checkpoint in the checkpoints
 * table. The dispatcher thread advances them with writer commands that apply
 * a batch of events and move the checkpoint in the same transaction, so each
 * event is applied exactly once even across crashes; after a restart they
 * catch up from their checkpoint. After a commit, every subscriber with
 * something to apply advances in one writer command, each in a savepoint of
 * its own (one that fails rolls back alone and is retried after the next
 * commit; the others' checkpoints move). A subscriber that takes only some event
 * types is looked for on a reader first and advanced only when an event of
 * its types came in, so its stored checkpoint may stay behind the head
 * across events it would skip anyway. Live subscribers (notify) get events on a
 * thread of their own (sf-live) from the moment the process started, without
 * checkpoint, never waiting for the durable subscribers' pass.
 * Subscribers are registered before sf_dispatch_start and are static. */
#ifndef SF_EVENTS_DISPATCH_H
#define SF_EVENTS_DISPATCH_H

#include <stdint.h>

#include "core/err.h"
#include "events/store.h"
#include "store/writer.h"

typedef struct sf_subscriber {
  const char *name;
  /* durable: inside a writer transaction, in the dispatcher's savepoint (so
   * it takes none of its own: sf_tx_savepoint does not nest); non-zero fails
   * the batch (retried) */
  int (*apply)(sf_tx *tx, const sf_event *ev, sf_err *err);
  /* durable: clears the read model before a replay */
  int (*reset)(sf_tx *tx, sf_err *err);
  /* durable, optional: runs after each batch's applies, in the same
   * transaction (for subscribers that aggregate a batch in memory) */
  int (*flush)(sf_tx *tx, sf_err *err);
  /* durable, optional: apply only events whose type starts with this, or
   * with one of a comma-separated list of prefixes ("order.,stock.") */
  const char *types;
  /* durable, optional: on the dispatcher thread with a reader, after a
   * commit: 1 when nothing committed so far needs this subscriber (the
   * webhook fan-out with no active subscription), 0, or <0 with err. Like
   * a `types` filter that matches nothing, the dispatcher then passes those
   * events by without a writer command. */
  int (*idle)(sf_db *reader, sf_err *err);
  /* live: called on the dispatcher thread */
  void (*notify)(const sf_event *ev);
} sf_subscriber;

void sf_dispatch_register(const sf_subscriber *s);
void sf_dispatch_clear(void); /* unregister all (tests) */

/* Starts the dispatcher thread (the writer must be running). */
int sf_dispatch_start(sf_err *err);
/* Brings durable subscribers up to the head, then stops the thread. */
void sf_dispatch_stop(void);

/* Synchronously brings every durable subscriber up to the current head
 * (needs the writer; no dispatcher thread needed). */
int sf_dispatch_catch_up(sf_err *err);
/* Resets one durable subscriber's read model and checkpoint, then rebuilds it
 * from position 0. */
int sf_dispatch_replay(const char *name, sf_err *err);
/* Checkpoint of a durable subscriber (-1 if unknown). Reads the database. */
int64_t sf_dispatch_checkpoint(const char *name, sf_err *err);

#endif
