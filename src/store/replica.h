/* The read replica (database_read_url): reads that may be slightly stale
 * go to a PostgreSQL streaming standby while it keeps up with the primary.
 *
 * Which reads: those of a request that opened a stale-read scope
 * (sf_replica_scope_begin; the edge opens one around the handler of a list
 * route, edge/edge.c), made through sf_db_reader() (store/db.c asks
 * sf_replica_scoped_reader first). Everything else reads the primary: a
 * single resource (its ETag feeds If-Match), the writer, sessions and
 * tokens, idempotency, the real-time streams and their catch-up, background
 * work. docs/scale-out.md has the consistency model.
 *
 * The lag guard: a prober thread, every 500 ms, reads the primary's WAL
 * flush position and keeps (time, position) samples; then the standby's
 * replay position. The replica holds every commit that returned before the
 * newest sample at or below its replay position: that sample's time is the
 * replica's horizon and now minus it the lag (at most one probe interval
 * over the real lag; a replica that is idle and caught up has a lag of
 * about 0, however old its last transaction). A scope reads the replica
 * only while it is reachable, its lag is at most max_lag_ms, and the
 * caller's own last write (sf_replica_note_write) is behind the horizon:
 * read-your-writes for the client that wrote.
 *
 * Across instances the note of a write made through another instance
 * arrives through the commit feed (events/cluster.h), some milliseconds
 * after that instance answered: a client can ask here before. So a scope
 * that would read the replica first asks the fence (sf_replica_set_fence):
 * has this instance heard every commit that completed before now? Then the
 * caller's notes are all in and the check above holds for writes made
 * anywhere; when that is not known in time (the feed slow or down), the
 * scope reads the primary.
 *
 * A scope's reads must not fill a process-wide cache (core/cache.h, the
 * mail templates): a stale value would outlive the scope. The caches of
 * today are filled by single-resource GETs and commit hooks, never by a
 * list.
 *
 * Threads: start/stop on the main thread; the scope and the readers on the
 * HTTP threads (a connection per thread, as sf_db_reader); the notes on
 * the writer's threads (after-commit hooks) and on sf-cluster (the other
 * instances' commits); the state, lag and metrics from any. */
#ifndef SF_STORE_REPLICA_H
#define SF_STORE_REPLICA_H

#include "store/db.h"

enum { SF_REPLICA_OFF = 0, SF_REPLICA_OK = 1, SF_REPLICA_LAGGING = 2, SF_REPLICA_DOWN = 3 };

/* Starts the prober (read_url empty: nothing, reads stay on the primary).
 * primary is the database location (store/db.h); read_url must be a
 * PostgreSQL location too (400 "config" otherwise). Adds the metrics
 * sf_read_replica_lag_seconds, sf_read_replica_up,
 * sf_read_replica_reads_total{target}, sf_read_replica_fallbacks_total,
 * sf_read_replica_probe_errors_total and sf_read_replica_unfenced_total. */
int sf_replica_start(const char *primary, const char *read_url, int max_lag_ms, sf_err *err);
/* Stops the prober and closes every replica connection (after HTTP). */
void sf_replica_stop(void);

/* SF_REPLICA_OFF when not configured, else the last probe's verdict. */
int sf_replica_state(void);
const char *sf_replica_state_name(int state); /* "off", "ok", "lagging", "down" */

/* A stale-read scope on this thread for a caller known by user_id, or by
 * client_ip when anonymous (both NULL: nobody in particular): decides once
 * where its reads go. Scopes do not nest. */
void sf_replica_scope_begin(const char *user_id, const char *client_ip);
/* Ends the scope; 1 when its reads went to the replica. */
int sf_replica_scope_end(void);
/* A read on the replica failed (lost, refused, cancelled by a recovery
 * conflict): scopes read the primary until the next probe finds it well. */
void sf_replica_read_failed(void);
/* Inside a scope that goes to the replica: this thread's replica
 * connection (opened lazily; a failed open marks the replica down and the
 * scope falls back to the primary). NULL otherwise: read the primary. */
sf_db *sf_replica_scoped_reader(void);

/* A write of this caller (as for the scope) committed now: its scopes read
 * the primary until the replica's horizon passes this moment. Callers are
 * hashed into a fixed table: two that share a slot both read the primary
 * meanwhile (never the other way round). */
void sf_replica_note_write(const char *user_id, const char *client_ip);

/* What was written is unknown (the commit feed was lost and is back, or
 * has just started: events/cluster.c runs every hook with key "*"): every
 * caller's scopes read the primary until the replica's horizon passes
 * this moment. */
void sf_replica_note_everyone(void);

/* The fence of cross-instance read-your-writes (above): 0 once this
 * instance has heard (and noted) every commit that completed before the
 * call, <0 when that is not known within timeout_ms. Installed by
 * events/cluster.c while it listens, NULL after (and with one process,
 * which hears its own commits before answering: no fence). Runs on the
 * HTTP thread of the scope, which it may block up to timeout_ms. */
typedef int (*sf_replica_fence_fn)(int timeout_ms);
void sf_replica_set_fence(sf_replica_fence_fn fn);

#endif
