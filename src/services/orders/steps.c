/* The saga's steps, on the writer thread: a provider result applied to the
 * order it was asked for.
 *
 *   authorize -> capture -> done (order paid; stock sold)
 *   a declined authorization: release stock, order cancelled
 *   an authorization given up on whose outcome we never learnt: release
 *     stock, order cancelled, then void (by the authorize's key) -> done
 *   a failed capture: void the authorization, release stock, order cancelled
 *   refund -> done (payment refunded, in full or in part)
 *   transient provider errors: retried with backoff by a durable timer
 *
 * The rule for money (docs/commerce.md): a step whose outcome is unknown
 * (timed out, transient, not tried) is repeated with the same key until the
 * provider answers, or, for an authorization given up on, voided until the
 * provider answers; the saga is settled only on a definite answer.
 *
 * Every step appends its events as the system (no request acts). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "events/timers.h"
#include "services/orders/internal.h"

#define MAX_PAYMENT_ATTEMPTS 5 /* an authorization's attempts; the later steps retry forever */

/* Exponential backoff with jitter: between half and all of 0.2 s × 2^attempt
 * (attempts count from 1: up to 0.4 s, 0.8 s, ... capped near 51 s). The
 * jitter spreads the retries of the many orders one outage failed together
 * (their voids, captures, refunds), so they do not all hit the provider, or
 * its half-open probe, at the same moment when it comes back. */
int ord_step_retry_later(sf_tx *tx, const order *o, sf_err *err) {
  int shift = o->saga_attempts < 8 ? o->saga_attempts : 8;
  int64_t full = (int64_t)200 << shift;
  uint32_t rnd;
  sf_random_bytes(&rnd, sizeof rnd);
  int64_t delay = full / 2 + (int64_t)(rnd % (uint32_t)(full / 2 + 1));
  return sf_timer_set(tx, ORD_RETRY_KIND, o->id, tx->now_ms + delay, err);
}

static json_t *paid_event(const order *o, int64_t at_ms) {
  char day[32];
  sf_time_iso8601(at_ms, day, sizeof day);
  day[10] = '\0';
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++)
    json_array_append_new(items, json_pack("{s:s, s:I, s:I}", "product_id", o->lines[i].product_id, "quantity",
                                           (json_int_t)o->lines[i].quantity, "unit_price",
                                           (json_int_t)o->lines[i].unit_price));
  json_t *ev = json_pack("{s:I, s:s, s:s, s:o}", "total", (json_int_t)o->total, "currency", o->currency, "day", day,
                         "items", items);
  /* an order placed before direct holds sold through its reservation
   * (reservation.committed), not by this event: sf_orders_stock_moved */
  if (o->reservation_id[0]) json_object_set_new(ev, "reservation_id", json_string(o->reservation_id));
  return ev;
}

/* Orders placed before direct holds kept their stock in a reservation. */
static int release_stock(sf_tx *tx, const order *o, sf_err *err) {
  if (o->reservation_id[0]) return sf_inv_release(tx, NULL, o->reservation_id, "order_cancelled", err);
  sf_inv_line l[ORD_MAX_LINES];
  return sf_inv_unhold(tx, l, order_inv_lines(o, l), err);
}

static int sell_stock(sf_tx *tx, const order *o, sf_err *err) {
  if (o->reservation_id[0]) return sf_inv_commit(tx, NULL, o->reservation_id, err);
  sf_inv_line l[ORD_MAX_LINES];
  return sf_inv_sell(tx, l, order_inv_lines(o, l), err);
}

static json_t *stock_items(const order *o) {
  json_t *items = json_array();
  for (int i = 0; i < o->nlines; i++)
    json_array_append_new(items, json_pack("{s:s, s:I}", "product_id", o->lines[i].product_id, "quantity",
                                           (json_int_t)o->lines[i].quantity));
  return items;
}

/* Compensation end: give the stock back and cancel. next_step: "done", or
 * "void" when the money side still has to be settled. */
static int cancel_order(sf_tx *tx, order *o, const char *reason, const char *next_step, sf_err *err) {
  if (release_stock(tx, o, err)) return -1;
  snprintf(o->status, sizeof o->status, "cancelled");
  snprintf(o->saga_step, sizeof o->saga_step, "%s", next_step);
  o->saga_attempts = 0;
  snprintf(o->failure_reason, sizeof o->failure_reason, "%s", reason);
  if (ord_repo_save(tx, o, err)) return -1;
  json_t *ev = json_pack("{s:s}", "reason", reason);
  /* the units the order held itself go back: named for stock:<product> (sf_orders_stock_moved) */
  if (!o->reservation_id[0]) json_object_set_new(ev, "items", stock_items(o));
  return order_event(tx, NULL, o, "order.cancelled", ev, err);
}

/* Another attempt of a payment step later, logged as payment.retry_scheduled. */
static int retry_payment(sf_tx *tx, order *o, const char *step, const sf_pay_op *op, sf_err *err) {
  o->saga_attempts++;
  int rc = ord_repo_save(tx, o, err);
  if (!rc)
    rc = order_event(tx, NULL, o, "payment.retry_scheduled",
                     json_pack("{s:s, s:i, s:s}", "step", step, "attempt", o->saga_attempts, "message", op->message),
                     err);
  if (!rc) rc = ord_step_retry_later(tx, o, err);
  return rc;
}

/* Another attempt later of a step that retries forever (capture, void,
 * refund, a resumed authorization): its first attempts are logged as
 * payment.retry_scheduled, the later ones not (the delay is capped near 51 s;
 * an outage of hours would fill the order's stream). */
static int retry_until_answered(sf_tx *tx, order *o, const char *step, const sf_pay_op *op, sf_err *err) {
  if (o->saga_attempts + 1 < MAX_PAYMENT_ATTEMPTS) return retry_payment(tx, o, step, op, err);
  o->saga_attempts++;
  int rc = ord_repo_save(tx, o, err);
  if (!rc) rc = ord_step_retry_later(tx, o, err);
  return rc;
}

static int captured(sf_tx *tx, order *o, sf_err *err) {
  o->captured = o->total;
  snprintf(o->pay_status, sizeof o->pay_status, "captured");
  snprintf(o->status, sizeof o->status, "paid");
  snprintf(o->saga_step, sizeof o->saga_step, "done");
  o->saga_attempts = 0;
  int rc = sell_stock(tx, o, err);
  if (!rc) rc = ord_repo_save(tx, o, err);
  if (!rc) rc = order_event(tx, NULL, o, "payment.captured", json_pack("{s:I}", "amount", (json_int_t)o->total), err);
  if (!rc) rc = order_event(tx, NULL, o, "order.paid", paid_event(o, tx->now_ms), err);
  return rc;
}

/* The capture result (also right after an authorization in the same round). */
static int apply_capture(sf_tx *tx, order *o, const sf_pay_op *op, ord_step_outcome *out, sf_err *err) {
  if (op->outcome == SF_PAY_OK) return captured(tx, o, err);
  /* A capture that timed out may have moved the money: only the provider's
   * answer to the same key says. Giving up here would void an authorization
   * that may be captured already, whose provider then declines the void ("to
   * be refunded"), and the order would be cancelled with the money taken
   * (pg.cluster's failover met it). So a capture is retried until the
   * provider answers, as void and refund are: quietly after the first
   * attempts' events. Only a decline compensates. */
  if (op->outcome == SF_PAY_TRANSIENT || op->outcome == SF_PAY_UNAVAILABLE)
    return retry_until_answered(tx, o, "capture", op, err);
  /* compensate: void the authorization, then release and cancel */
  snprintf(o->saga_step, sizeof o->saga_step, "void");
  o->saga_attempts = 0;
  snprintf(o->failure_reason, sizeof o->failure_reason, "capture_failed");
  int rc = ord_repo_save(tx, o, err);
  if (!rc)
    rc = order_event(tx, NULL, o, "payment.capture_failed",
                     json_pack("{s:s, s:s}", "outcome", sf_pay_outcome_name(op->outcome), "message", op->message), err);
  out->next = 1;
  return rc;
}

static const char *decline_reason(sf_pay_outcome outcome) {
  if (outcome == SF_PAY_TRANSIENT || outcome == SF_PAY_UNAVAILABLE) return "payment_unavailable";
  return outcome == SF_PAY_INSUFFICIENT ? "insufficient_funds" : "payment_declined";
}

static int unknown_outcome(sf_pay_outcome outcome) {
  return outcome == SF_PAY_TRANSIENT || outcome == SF_PAY_UNAVAILABLE;
}

/* Gives up on an authorization whose outcome we never learnt (a timeout may
 * have authorized at the provider): the order is cancelled at once, stock
 * back, and the saga goes on to void with the authorize's key until the
 * provider answers. Not settled meanwhile: cancelled with
 * payment.void_pending, its void retries logged as payment.retry_scheduled. */
static int cancel_then_void(sf_tx *tx, order *o, const char *reason, ord_step_outcome *out, sf_err *err) {
  char key[SF_ID_MAX + 16];
  snprintf(key, sizeof key, "%s:authorize", o->id);
  int rc = cancel_order(tx, o, reason, "void", err);
  if (!rc)
    rc = order_event(tx, NULL, o, "payment.void_pending",
                     json_pack("{s:s, s:s}", "authorize_key", key, "cause", "authorization outcome unknown"), err);
  out->next = 1;
  return rc;
}

static int authorized_ok(sf_tx *tx, order *o, const ord_saga_item *it, ord_step_outcome *out, sf_err *err) {
  const sf_pay_op *op = &it->op;
  snprintf(o->auth_ref, sizeof o->auth_ref, "%s", op->ref);
  snprintf(o->pay_status, sizeof o->pay_status, "authorized");
  snprintf(o->saga_step, sizeof o->saga_step, "capture");
  o->saga_attempts = 0;
  int rc = order_event(tx, NULL, o, "payment.authorized",
                       json_pack("{s:I, s:s}", "amount", (json_int_t)o->total, "auth_ref", op->ref), err);
  if (!rc && it->has_capture) return apply_capture(tx, o, &it->capture, out, err);
  if (!rc) {
    rc = ord_repo_save(tx, o, err);
    out->next = 1;
  }
  return rc;
}

static int apply_authorize(sf_tx *tx, order *o, const ord_saga_item *it, ord_step_outcome *out, sf_err *err) {
  const sf_pay_op *op = &it->op;
  if (op->outcome == SF_PAY_OK) return authorized_ok(tx, o, it, out, err);
  int unknown = unknown_outcome(op->outcome);
  /* Resumed after a restart or a takeover: the instance before may have
   * authorized and captured in one round and died before recording it. A
   * void cannot release a capture (the provider declines it), so the same
   * keys are asked again until the provider answers: it returns the first
   * answers, and the order ends paid or declined, never cancelled on a guess. */
  if (unknown && it->resumed) return retry_until_answered(tx, o, "authorize", op, err);
  if (op->outcome == SF_PAY_TRANSIENT && o->saga_attempts + 1 < MAX_PAYMENT_ATTEMPTS)
    return retry_payment(tx, o, "authorize", op, err);
  snprintf(o->pay_status, sizeof o->pay_status, "failed");
  int rc = order_event(tx, NULL, o, "payment.failed",
                       json_pack("{s:s, s:s, s:s}", "step", "authorize", "outcome", sf_pay_outcome_name(op->outcome),
                                 "message", op->message),
                       err);
  if (rc) return rc;
  /* An earlier attempt ended transient (it may have reached the provider),
   * or this one may have: something may be authorized. Only an attempt
   * refused before any request went out (circuit open, connection refused)
   * on the first try cancels with nothing to void: the breaker's fast fail. */
  if (unknown && (o->saga_attempts > 0 || !op->not_sent))
    return cancel_then_void(tx, o, "payment_unavailable", out, err);
  return cancel_order(tx, o, decline_reason(op->outcome), "done", err);
}

static int apply_void(sf_tx *tx, order *o, const sf_pay_op *op, sf_err *err) {
  if (op->outcome != SF_PAY_OK && op->outcome != SF_PAY_DECLINED) return retry_until_answered(tx, o, "void", op, err);
  /* declined = nothing left to void (the authorization lapsed, or its key
   * authorized nothing: the provider closes the key, payments.h) */
  snprintf(o->pay_status, sizeof o->pay_status, "voided");
  int rc =
      order_event(tx, NULL, o, "payment.voided",
                  json_pack("{s:s, s:s}", "outcome", sf_pay_outcome_name(op->outcome), "message", op->message), err);
  if (rc) return rc;
  if (strcmp(o->status, "cancelled") != 0) return cancel_order(tx, o, "capture_failed", "done", err);
  /* cancelled already (cancel_then_void): the money side is settled now */
  snprintf(o->saga_step, sizeof o->saga_step, "done");
  o->saga_attempts = 0;
  return ord_repo_save(tx, o, err);
}

static int refunded(sf_tx *tx, order *o, sf_err *err) {
  o->refunded += o->refund_pending;
  int full = o->refunded >= o->captured;
  snprintf(o->pay_status, sizeof o->pay_status, full ? "refunded" : "partially_refunded");
  if (full) snprintf(o->status, sizeof o->status, "refunded");
  int64_t amount = o->refund_pending;
  o->refund_pending = 0;
  snprintf(o->saga_step, sizeof o->saga_step, "done");
  o->saga_attempts = 0;
  int rc = ord_repo_save(tx, o, err);
  if (!rc)
    rc = order_event(tx, NULL, o, "payment.refunded",
                     json_pack("{s:I, s:I, s:b}", "amount", (json_int_t)amount, "refunded_total",
                               (json_int_t)o->refunded, "full", full),
                     err);
  if (!rc && full)
    rc = order_event(tx, NULL, o, "order.refunded", json_pack("{s:I}", "amount", (json_int_t)o->refunded), err);
  return rc;
}

static int apply_refund(sf_tx *tx, order *o, const sf_pay_op *op, sf_err *err) {
  if (op->outcome == SF_PAY_OK) return refunded(tx, o, err);
  if (op->outcome == SF_PAY_TRANSIENT || op->outcome == SF_PAY_UNAVAILABLE)
    return retry_until_answered(tx, o, "refund", op, err);
  int64_t amount = o->refund_pending;
  o->refund_pending = 0;
  snprintf(o->saga_step, sizeof o->saga_step, "done");
  o->saga_attempts = 0;
  int rc = ord_repo_save(tx, o, err);
  if (!rc)
    rc = order_event(tx, NULL, o, "payment.refund_failed",
                     json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "message", op->message), err);
  return rc;
}

static int apply_step(sf_tx *tx, order *o, const ord_saga_item *it, ord_step_outcome *out, sf_err *err) {
  if (strcmp(o->saga_step, "authorize") == 0) return apply_authorize(tx, o, it, out, err);
  if (strcmp(o->saga_step, "capture") == 0) return apply_capture(tx, o, &it->op, out, err);
  if (strcmp(o->saga_step, "void") == 0) return apply_void(tx, o, &it->op, err);
  if (strcmp(o->saga_step, "refund") == 0) return apply_refund(tx, o, &it->op, err);
  return 0;
}

int ord_step_apply(sf_tx *tx, const ord_saga_item *it, ord_step_outcome *out, sf_err *err) {
  *out = (ord_step_outcome){0};
  order *cur = sf_calloc(1, sizeof *cur);
  int rc = ord_repo_load(tx->db, it->o.id, cur, 1, err);
  if (rc || strcmp(cur->saga_step, it->o.saga_step) != 0 || cur->version != it->o.version) {
    /* gone or changed meanwhile (say, shipped while a refund was running):
     * this result is stale. A step still open runs again at once; its
     * provider call repeats under the same key and returns the same answer. */
    if (!rc && strcmp(cur->saga_step, "done") != 0) out->next = 1;
    order_clear(cur);
    free(cur);
    return rc == -404 ? 0 : rc;
  }
  rc = apply_step(tx, cur, it, out, err);
  if (!rc) out->touched = 1;
  if (rc) out->next = 0;
  order_clear(cur);
  free(cur);
  return rc;
}
