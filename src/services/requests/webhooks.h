/* Webhooks of service requests: the workflow action {webhook: {url}}
 * delivered, signed, with retries and dead letters.
 *
 * The engine records the action as a request.webhook_due event. The durable
 * subscriber `webhooks` turns each such event into one webhook_deliveries
 * row, inside the dispatcher's writer transaction that also moves its
 * checkpoint (so exactly one row per event, also across crashes). The row
 * holds the JSON body, built then from the event alone: the engine records
 * in it the request as it was when the action ran (just after the
 * transition for on_enter), never re-read later:
 *
 *   {"id": "<event id>", "type": "request.webhook_due", "occurred_at": ISO,
 *    "request": {id, type, title, state, data, version, workflow: {id, version}},
 *    "trigger": {"state": "<state of the action>", "on": "on_enter"|"on_exit"|null,
 *                "transition": {action, from, to, by} | null},
 *    "webhook": {"url": ...}}
 *
 * The delivery thread (sf-webhooks) POSTs due rows with curl multi, up to
 * webhook_concurrency at once, each attempt bounded by webhook_timeout_ms:
 *
 *   Content-Type: application/json
 *   X-ServiceFlow-Event: <event id>             (the same on every attempt)
 *   X-ServiceFlow-Attempt: <n>
 *   X-ServiceFlow-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *
 * Each outcome is a writer command: 2xx -> delivered and
 * request.webhook_delivered {url, status_code, attempts, event_id} on the
 * request's stream; anything else -> retried after webhook_backoff_ms *
 * 2^(attempt-1) (capped at 1 h), and after webhook_max_attempts -> dead and
 * request.webhook_failed {url, attempts, error, event_id}. Delivery is at
 * least once: an attempt still in flight when the process stops is not
 * recorded, so it is sent again after the restart; receivers dedupe on
 * X-ServiceFlow-Event. */
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

/* Starts the delivery thread with the writer running; secret is copied. */
int sf_webhooks_start(const sf_config *cfg, const char *secret, sf_err *err);
/* Aborts the attempts in flight (they stay pending), waits for outcomes
 * being recorded and stops the thread. Call before sf_writer_stop. */
void sf_webhooks_stop(void);

/* GET /api/v1/requests/{id}/webhooks (the delivery log, workflows:read). */
void sf_webhooks_routes(void);

/* "sha256=" + 64 hex digits of HMAC-SHA256(secret, body). */
#define SF_WEBHOOK_SIG_LEN 72
void sf_webhooks_signature(const char *secret, const void *body, size_t len, char out[SF_WEBHOOK_SIG_LEN]);
/* Delay after the n-th failed attempt (n >= 1): base_ms * 2^(n-1), at most 1 h. */
int64_t sf_webhooks_backoff_ms(int base_ms, int failed_attempts);

#endif
