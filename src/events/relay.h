/* The NATS JetStream relay: publishes every committed event, in position
 * order, to a JetStream stream (docs/nats.md).
 *
 * It follows the committed log like the other followers (events/dispatch.h)
 * but never inside a writer transaction: its live subscriber only notes the
 * newest durable position and wakes the relay's own thread (sf-relay),
 * which reads events through its reader connection and publishes them with
 * JetStream acknowledgements: a window of nats_publish_window publishes in
 * flight (1: each waits for its ack), each expecting the stream's last
 * sequence to be its predecessor's, so JetStream only ever holds an
 * in-order prefix of what was sent. Where to go on
 * is asked of JetStream, not of the database: at start and after every
 * reconnect or failed publish the thread reads the stream's last message
 * and continues after its Sf-Position header. Each message carries the
 * event id as Nats-Msg-Id, so a re-publish within the stream's duplicate
 * window is dropped by JetStream, and a foreign publisher or a second
 * relay makes the expected sequence fail: the relay resyncs instead of
 * interleaving.
 *
 * The database stays the system of record: NATS 2.9 acknowledges before its
 * fsync, and a message it loses is published again after the next resync.
 * A NATS outage never blocks the writer nor /readyz: the relay falls behind
 * (sf_relay_lag_events) and catches up.
 *
 * Threads: sf_relay_configure, sf_relay_start and sf_relay_stop on the main
 * thread; the subscriber's notify on the dispatcher's live thread; the
 * status functions from any thread. */
#ifndef SF_EVENTS_RELAY_H
#define SF_EVENTS_RELAY_H

#include <jansson.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "events/dispatch.h"

/* Takes the nats_* settings (copied); checks the stream name and subject
 * prefix (400 config error). With nats_url empty the relay is off and
 * every other function does nothing. */
int sf_relay_configure(const sf_config *cfg, sf_err *err);
int sf_relay_enabled(void);

/* The live subscriber that wakes the relay after each durable commit;
 * registered (events/dispatch.h) only when the relay is enabled. */
extern const sf_subscriber sf_relay_subscriber;

/* Starts the sf-relay thread (needs the writer and the dispatcher; a NATS
 * server that is down is not an error: the thread keeps trying). */
int sf_relay_start(sf_err *err);
/* Stops the thread and closes the connection; what was not published yet
 * is published after the next start. */
void sf_relay_stop(void);

/* The lease seam: "may this process run the relay now?", asked before
 * every batch. With SQLite one process holds the database, so the default
 * (fn NULL) always says yes; a many-instance backend (PostgreSQL) sets a
 * function that answers from its lease (docs/nats.md). fn runs on the
 * relay thread and must not block for long. */
typedef int (*sf_relay_lease_fn)(void *ud);
void sf_relay_set_lease(sf_relay_lease_fn fn, void *ud);

/* For /readyz: the relay's state ("publishing", "caught-up", "connecting",
 * "disconnected", "standby" without the lease) and positions, as a new
 * object {state, published_position, lag_events, errors}; NULL when off. */
json_t *sf_relay_status_json(void);
/* Just the state word ("off" when off). */
const char *sf_relay_state(void);

/* The subject of an event: "<prefix>.<stream type>.<event type>", the
 * stream type being the stream's text before its first '-'. Characters a
 * subject may not hold (space, control, '*', '>', and '.' inside the
 * stream type) become '_', and so does an empty token. Returns the length
 * (cut to cap - 1). Exposed for the unit test. */
size_t sf_relay_subject(const char *prefix, const char *stream, const char *type, char *out, size_t cap);

#endif
