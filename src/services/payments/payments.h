/* Payments: the provider interface and the built-in sandbox provider.
 *
 * A provider runs a batch of operations (authorize, capture, void, refund)
 * and fills each one's outcome. Every operation carries an idempotency key:
 * running the same key again must return the first result and move no money
 * twice, which is what lets the order saga retry any step after a crash.
 * Providers run on the saga's outbound thread, never on an HTTP thread or the
 * writer. */
#ifndef SF_PAYMENTS_H
#define SF_PAYMENTS_H

#include <stdint.h>

#include "core/err.h"

typedef enum { SF_PAY_AUTHORIZE, SF_PAY_CAPTURE, SF_PAY_VOID, SF_PAY_REFUND } sf_pay_kind;
/* SF_PAY_TRANSIENT: tried and failed in a way worth retrying (timeout, 5xx).
 * SF_PAY_UNAVAILABLE: not tried at all because the provider is known to be
 * down (circuit breaker open); the saga fails a new order fast on it instead
 * of queueing retries, but keeps retrying steps that move money back. */
typedef enum { SF_PAY_OK, SF_PAY_DECLINED, SF_PAY_INSUFFICIENT, SF_PAY_TRANSIENT, SF_PAY_UNAVAILABLE } sf_pay_outcome;

typedef struct sf_pay_op {
  sf_pay_kind kind;
  char key[96];   /* idempotency key, e.g. "ord_…:authorize" */
  int64_t amount; /* minor units (authorize, capture, refund) */
  char currency[4];
  char card[24]; /* authorize only; never stored in clear */
  char ref[64];  /* in: the authorization (capture/void/refund); out: it (authorize) */
  /* void: the key the authorize was sent with. When ref is "" (the saga never
   * learnt the authorize's answer) it names the authorization: the provider
   * voids what that key authorized, or answers "no such authorization"
   * (declined) and refuses the key from then on, so an authorize still on its
   * way cannot authorize after that answer. Either answer is definite. */
  char auth_key[96];
  char traceparent[56]; /* W3C trace of the request behind the operation; "" = none */
  sf_pay_outcome outcome;
  char message[128];
  /* out: 1 when no request of the operation can have reached the provider
   * (refused by the open circuit, connection refused), so a transient or
   * unavailable outcome means nothing happened there; 0 = it may have
   * acted, the safe default of a provider that cannot tell. */
  int not_sent;
} sf_pay_op;

typedef struct sf_pay_provider {
  const char *name;
  void *self;
  void (*run)(void *self, sf_pay_op *ops, int n);
  void (*close)(void *self);
} sf_pay_provider;

/* The sandbox: a simulated remote provider with its own durable ledger (an
 * SQLite file of its own). A void naming the authorization by auth_key
 * follows the rule above. Test cards:
 *   4242424242424242  succeeds
 *   4000000000000002  declined
 *   4000000000009995  insufficient funds
 *   4000000000000119  transient error on the first two attempts, then succeeds
 *   4000000000000341  authorizes, but the capture is declined (the saga voids)
 * Any other Luhn-valid number succeeds. Capture/refund amounts are checked
 * against what was authorized/captured. */
sf_pay_provider *sf_pay_sandbox_open(const char *ledger_path, sf_err *err);

/* The http provider: calls an external payment API at cfg->payment_url
 * through the outbound engine (events/outbound.h, destination "payments";
 * open takes a use of the engine, close gives it back). run() submits the
 * batch's operations together (all in parallel) and blocks the calling
 * thread until the engine thread has ended each of them, with a timeout
 * per attempt, retries with exponential backoff and full jitter on transient
 * errors, and a circuit breaker (closed -> open after breaker_threshold
 * consecutive failures -> half-open probe after breaker_cooldown_ms). While
 * the circuit is open, operations return SF_PAY_UNAVAILABLE without a call.
 * The breaker state and call counts are exported on /metrics
 * (sf_payment_*{provider="http"}, and the engine's sf_outbound_*). */
struct sf_config;
sf_pay_provider *sf_pay_http_open(const struct sf_config *cfg, sf_err *err);

/* Card numbers: 12-19 digits passing the Luhn check. */
int sf_pay_card_valid(const char *card);

const char *sf_pay_outcome_name(sf_pay_outcome o);

#endif
