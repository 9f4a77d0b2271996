/* The background lease: which of the instances sharing one database runs the
 * background work.
 *
 * Several instances may serve one PostgreSQL database. Each serves reads and
 * writes, but the work that follows commits — the durable subscribers
 * (projections, notifications), the order saga's provider calls, the durable
 * timers (SLA, expiry, retries, mail and webhook delivery) and the NATS relay
 * — runs on one instance at a time: the holder of the row "background" in
 * the leases table. Correctness does not rest on the lease (each of those
 * steps commits under the database's write lock, reads its own checkpoint or
 * timer row in that transaction, and provider calls carry idempotency keys),
 * so two holders for a moment cost duplicate work, not duplicate effects; the
 * lease keeps the others from doing that work in parallel and gives it to
 * another instance when the holder dies.
 *
 * The holder renews every ttl/3 with a writer command that reads the row
 * under the write lock: it takes the row when it is free, expired or its own.
 * Expiry is on the instances' wall clocks (keep them within a second: NTP);
 * this process gives the lease up locally at 4/5 of the ttl after a renewal it
 * could not repeat (the writer failing, the database gone), before another
 * instance may take it. A stopping holder gives the row up at once.
 *
 * On SQLite one process owns the database: the server does not start the
 * lease there, and sf_lease_held() is 1 (as in tests and CLI commands). */
#ifndef SF_EVENTS_LEASE_H
#define SF_EVENTS_LEASE_H

#include "core/err.h"

/* Takes or renews the lease once (a writer command; the writer must run),
 * then starts the renewing thread sf-lease. ttl_ms >= 300. instance: this
 * process's name among those sharing the database, stable across its
 * restarts (a process restarted after a crash takes its own row back at
 * once instead of waiting for it to expire) and different from every other
 * instance's (e.g. "<host>:<port>"); NULL: host, pid and a random part. */
int sf_lease_start(int ttl_ms, const char *instance, sf_err *err);
/* Stops renewing and gives the lease up (a writer command: before the
 * writer stops). */
void sf_lease_stop(void);

/* 1 while this process holds the lease, and when no lease is in play (not
 * started: tests and CLI commands do their own work). Any thread; cheap. */
int sf_lease_held(void);
/* This process's name in the leases table and in its cluster messages. */
const char *sf_lease_instance(void);

/* fn(held) on the sf-lease thread (or sf_lease_start's/stop's caller) each
 * time the lease is taken (1) or lost (0), after sf_lease_held() says so.
 * Any time; at most 8; not removed but by sf_lease_clear_callbacks. */
typedef void (*sf_lease_change_fn)(int held);
void sf_lease_on_change(sf_lease_change_fn fn);
void sf_lease_clear_callbacks(void); /* tests */

#endif
