/* The order's lifecycle after payment, on the writer thread: staff moves
 * it on (paid -> fulfilled -> shipped -> delivered), and refunds, which the
 * saga carries out with the provider (step "refund"). Both honour If-Match. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/orders/internal.h"

static const struct {
  const char *from, *to, *event;
} k_moves[] = {{"paid", "fulfilled", "order.fulfilled"},
               {"fulfilled", "shipped", "order.shipped"},
               {"shipped", "delivered", "order.delivered"}};

/* The event of the move from -> to, or NULL when there is no such move. */
static const char *move_event(const char *from, const char *to) {
  for (size_t i = 0; i < sizeof k_moves / sizeof k_moves[0]; i++)
    if (strcmp(k_moves[i].to, to) == 0 && strcmp(k_moves[i].from, from) == 0) return k_moves[i].event;
  return NULL;
}

static int move(const sf_actor *who, sf_tx *tx, order *o, const char *to, sf_result *out, sf_err *err) {
  const char *event = move_event(o->status, to);
  if (!event)
    return sf_err_set(err, 409, "invalid-transition", "Invalid transition", "an order that is %s cannot become %s",
                      o->status, to);
  snprintf(o->status, sizeof o->status, "%s", to);
  int rc = ord_repo_save(tx, o, err);
  if (!rc) rc = order_event(tx, who, o, event, NULL, err);
  if (!rc) order_result(out, 200, o);
  return rc;
}

int ord_transition(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  ord_change_input *in = data;
  order *o = sf_calloc(1, sizeof *o);
  int rc = ord_repo_load(tx->db, in->id, o, 1, err);
  if (!rc) rc = sf_precondition(in->if_match, o->version, err);
  if (!rc) rc = move(who, tx, o, in->to, out, err);
  order_clear(o);
  free(o);
  return rc;
}

/* The refund asked for: 409 unless the order is paid with money left to
 * refund, 422 for more than is left. */
static int refund_amount(const order *o, int64_t asked, int64_t *amount, sf_err *err) {
  if (!order_settled(o) || o->captured == 0 || strcmp(o->status, "refunded") == 0)
    return sf_err_set(err, 409, "invalid-transition", "Invalid transition",
                      "only a paid order with money left to refund can be refunded (status %s)", o->status);
  int64_t left = o->captured - o->refunded;
  *amount = asked ? asked : left;
  if (*amount > left) return sf_err_invalid(err, "amount", "at most %" PRId64 " is left to refund", left);
  return 0;
}

int ord_refund(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  ord_change_input *in = data;
  order *o = sf_calloc(1, sizeof *o);
  int64_t amount = 0;
  int rc = ord_repo_load(tx->db, in->id, o, 1, err);
  if (!rc) rc = sf_precondition(in->if_match, o->version, err);
  if (!rc) rc = refund_amount(o, in->amount, &amount, err);
  if (!rc) {
    o->refund_pending = amount;
    snprintf(o->saga_step, sizeof o->saga_step, "refund");
    o->saga_attempts = 0;
    rc = ord_repo_save(tx, o, err);
  }
  if (!rc)
    rc = order_event(tx, who, o, "order.refund_requested", json_pack("{s:I}", "amount", (json_int_t)amount), err);
  if (!rc) /* order.refund_requested wakes the saga once committed (sf_orders_saga_subscriber) */
    order_result(out, 202, o);
  order_clear(o);
  free(o);
  return rc;
}
