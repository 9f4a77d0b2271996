/* Webhooks: the workflow action {webhook: {url}} and the subscriptions of
 * any URL to event-type patterns (subs.c, fanout.c), delivered, signed, with
 * retries, dead letters, a delivery log and resend.
 *
 * Workflow webhooks. The engine records the action as a request.webhook_due
 * event. The durable subscriber `webhooks` turns each such event into one
 * webhook_deliveries row, inside the dispatcher's writer transaction that
 * also moves its checkpoint (so exactly one row per event, also across
 * crashes). The row holds the JSON body, built then from the event alone:
 * the engine records in it the request as it was when the action ran (just
 * after the transition for on_enter), never re-read later:
 *
 *   {"id": "<event id>", "type": "request.webhook_due", "occurred_at": ISO,
 *    "request": {id, type, title, state, data, version, workflow: {id, version}},
 *    "trigger": {"state": "<state of the action>", "on": "on_enter"|"on_exit"|null,
 *                "transition": {action, from, to, by} | null},
 *    "webhook": {"url": ...}}
 *
 * Subscriptions. The durable subscriber `webhook_fanout` sees every event
 * and inserts one webhook_sub_deliveries row per matching active
 * subscription (unique by subscription and event). Its body is built at each
 * attempt from the event (the same bytes every time):
 *
 *   {"id": "<delivery id>", "subscription_id": "whk_…",
 *    "event": {"id", "type", "stream", "position", "data", "at"}}
 *
 * and goes to the subscription's url as it is then, signed with its secret
 * as it is then (a rotation signs the next attempt with the new one).
 *
 * Both: each row has a durable timer (events/timers.h, kind "webhook" or
 * "webhook_sub", due at once). Its firing is the attempt: in the timer's
 * transaction the row is read (pending only) and the timer moved on by
 * webhook_timeout_ms + 60 s, a lease; once that commits the POST goes out
 * through the outbound engine (events/outbound.h, destination "webhooks": at
 * most webhook_concurrency in flight, each attempt bounded by
 * webhook_timeout_ms, no circuit breaker, one attempt per firing, no
 * redirects followed, every connect checked by the destination guard,
 * guard.h):
 *
 *   Content-Type: application/json
 *   X-ServiceFlow-Event: <event id>
 *   X-ServiceFlow-Delivery: <delivery id>       (the same on every attempt)
 *   X-ServiceFlow-Event-Type: <event type>
 *   X-ServiceFlow-Timestamp: <unix seconds of this attempt>
 *   X-ServiceFlow-Attempt: <n>
 *   X-ServiceFlow-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *
 * secret: webhook.key (or webhook_secret) for workflow webhooks, the
 * subscription's own for subscriptions. Each outcome is a writer command
 * (retry_storage), submitted from the engine thread: 2xx -> delivered (a
 * workflow's: request.webhook_delivered {url, status_code, attempts,
 * event_id} on the request's stream), timer cancelled; anything else (a
 * refused destination, a redirect, a timeout, a non-2xx) -> the timer moved
 * to sf_webhooks_retry_delay_ms later (webhook_backoff_ms * 2^(attempt-1)
 * plus as much again of random jitter at most, capped at 1 h), and after
 * webhook_max_attempts -> dead (a workflow's: request.webhook_failed {url,
 * attempts, error, event_id}). A resend (POST
 * /api/v1/webhooks/deliveries/{id}/resend) starts a new attempt sequence of
 * a delivered or dead row under the same delivery id. Delivery is at least
 * once: an attempt still in flight when the process stops is not recorded;
 * sf_webhooks_start sets every pending row's timer again (due rows at once),
 * so it is sent again after the restart (and the lease sends it again should
 * its outcome never commit); receivers dedupe on X-ServiceFlow-Delivery. */
#ifndef SF_SERVICES_REQUESTS_WEBHOOKS_H
#define SF_SERVICES_REQUESTS_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "events/dispatch.h"

/* The durable subscriber (register before sf_dispatch_start). It cannot be
 * replayed: its rows are a delivery log, not a read model. */
extern const sf_subscriber sf_webhooks_subscriber;

/* The durable subscriber of subscriptions (fanout.c): every event, one
 * delivery per matching active subscription. Not replayable either. */
extern const sf_subscriber sf_webhooks_fanout_subscriber;
/* Event-type patterns: `*` matches any run of characters (dots too), the
 * rest matches itself; "*" alone matches every type. Valid: 1-100 of
 * [A-Za-z0-9._*-]. */
int sf_webhooks_pattern_match(const char *pattern, const char *type);
int sf_webhooks_pattern_valid(const char *pattern);

/* Subscriptions' routes (subs.c): /api/v1/webhooks..., webhooks:admin. */
void sf_webhooks_sub_routes(void);

/* The timer kinds "webhook" and "webhook_sub" (register with the other
 * kinds, before sf_timers_start). Their handlers run on the writer thread. */
void sf_webhooks_timers(void);

/* Starts delivering (the writer running; takes a use of the outbound
 * engine); sets the destination guard's allow-list (cfg->webhook_allow: a
 * bad one fails the start); re-arms the timers of pending rows. secret is
 * copied. */
int sf_webhooks_start(const sf_config *cfg, const char *secret, sf_err *err);
/* Cuts the attempts in flight (their rows stay pending), waits for outcomes
 * being recorded and gives the engine back. Call after sf_timers_stop and
 * before sf_writer_stop. */
void sf_webhooks_stop(void);

/* GET /api/v1/requests/{id}/webhooks (the delivery log, workflows:read). */
void sf_webhooks_routes(void);

/* "sha256=" + 64 hex digits of HMAC-SHA256(secret, body). */
#define SF_WEBHOOK_SIG_LEN 72
void sf_webhooks_signature(const char *secret, const void *body, size_t len, char out[SF_WEBHOOK_SIG_LEN]);
/* Delay after the n-th failed attempt (n >= 1): base_ms * 2^(n-1), at most 1 h. */
int64_t sf_webhooks_backoff_ms(int base_ms, int failed_attempts);
/* The delay actually waited: the backoff d above plus full jitter on top,
 * uniform in [d, 2d] (at most 1 h), so receivers that failed together are
 * not retried together, and never sooner than the documented backoff. */
int64_t sf_webhooks_retry_delay_ms(int base_ms, int failed_attempts);

#endif
