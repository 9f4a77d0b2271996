/* Instances sharing one database hear of each other's commits.
 *
 * On PostgreSQL several instances may serve one database. Each batch that
 * appended events or queued a cluster-wide after-commit hook
 * (store/writer.h sf_tx_after_commit_all) sends, inside its transaction, one
 * NOTIFY on channel "sf_commit" with the instance's name, the chain head it
 * left and its hooks' (name, key) pairs; PostgreSQL delivers it at COMMIT, in
 * commit order, to every listener. The thread sf-cluster of each instance
 * listens on a connection of its own and, for another instance's batch:
 *   - runs its hooks here (a user's cached JSON dropped, a session's answer
 *     asked again, templates reloaded, the timer scheduler woken), and
 *   - passes the head to the commit hook (sf_writer_foreign_commit), so the
 *     dispatcher's live subscribers (the real-time hub, `Prefer: wait`)
 *     see the other instances' events as their own, and the lease holder's
 *     durable subscribers and saga take them up.
 * Safety nets: when idle for a second the thread reads the head itself (a
 * payload lost with nothing else to tell), and after its connection was
 * lost, once it listens again, it runs every hook with key "*" (caches are
 * emptied: what changed meanwhile is unknown) and reads the head. A payload
 * over PostgreSQL's limit (8000 bytes) carries each hook name once with key
 * "*".
 *
 * SQLite (one process) starts nothing: sf_cluster_start returns 0. */
#ifndef SF_EVENTS_CLUSTER_H
#define SF_EVENTS_CLUSTER_H

#include "core/err.h"

/* Starts listening and publishing when the backend of location supports
 * notifications; 0 (nothing started) when it does not. The writer must be
 * running (the publisher is installed into it). */
int sf_cluster_start(const char *location, sf_err *err);
void sf_cluster_stop(void);

/* Has this instance heard every commit that completed (anywhere) before
 * the call? It sends itself a ping through the feed (a NOTIFY on
 * "sf_commit", committed asynchronously: no WAL flush waited for) and waits
 * for it to come back: PostgreSQL queues notifications in commit order, so
 * by then every earlier commit's payload was handled here, its hooks run.
 * Callers at the same time share one ping. 0 yes; -1 not within
 * timeout_ms, not listening, or the ping could not be sent. 0 at once when
 * not started (one process). Any thread; blocks up to timeout_ms. The read
 * replica's cross-instance read-your-writes (store/replica.h) uses it. */
int sf_cluster_fence(int timeout_ms);

/* "off" (one process), "ok" (listening), "down" (the listening connection is
 * lost: caches may be stale until it is back). For /readyz. */
const char *sf_cluster_state(void);

#endif
