/* Orders and the order saga.
 *
 * POST /orders runs one writer command: price snapshot from the catalog,
 * stock reservation (inventory), the order and its payment row, event
 * order.placed. The saga then moves the order on, driven by its state row:
 *
 *   authorize -> capture -> done (order paid; reservation committed)
 *   a declined authorization: release stock, order cancelled
 *   a failed capture: void the authorization, release stock, order cancelled
 *   transient provider errors: retried with backoff by a durable timer
 *
 * Provider calls run on the saga thread (never an HTTP thread or the writer),
 * in batches, each with an idempotency key derived from the order, so a
 * step repeated after a crash cannot move money twice. The results come back
 * as one writer command per batch, which applies each result only if the
 * order is still at the step it was read at. After a restart every order
 * whose saga is not done is picked up again. Every step appends events to
 * the order's stream "order-<id>" (order.*, payment.*).
 *
 * The service's files, one job each, and the threads that run them are
 * listed in internal.h. */
#ifndef SF_ORDERS_H
#define SF_ORDERS_H

#include "core/config.h"
#include "core/err.h"
#include "events/dispatch.h"
#include "events/verify.h"
#include "store/db.h"

void sf_orders_routes(void);
void sf_orders_timers(void); /* before sf_timers_start */
/* Opens the payment provider and starts the saga thread (after the writer);
 * resumes every unfinished saga. */
int sf_orders_start(const sf_config *cfg, sf_err *err);
/* Stops taking new saga work, answers waiting requests, joins the thread. */
void sf_orders_stop(void);

/* Read model: units and revenue per product per day from order.paid events. */
extern const sf_subscriber sf_sales_daily_subscriber;
/* The saga's wake-up (saga.c): a live subscriber that queues the order of
 * each order.placed / order.refund_requested once its commit is durable
 * (the orders' state rows, not a checkpoint, are the record: sf_orders_start
 * resumes from them). Register it with the others, before sf_dispatch_start. */
extern const sf_subscriber sf_orders_saga_subscriber;

/* The stock an order event moved by itself, for the stock:<product> topic
 * (inventory/topics.c): order.placed holds, order.paid sells,
 * order.cancelled releases (cancellations written since they name their
 * items; older ones give 0). An order placed before direct holds moved its
 * stock through its reservation's events and gives 0. Returns the move with
 * *items a new reference ([{product_id, quantity}], the caller decrefs), or
 * 0 with *items NULL. Reads ev only: any thread (sf-live, catch-up). */
enum { SF_ORD_STOCK_HELD = 1, SF_ORD_STOCK_SOLD, SF_ORD_STOCK_RELEASED };
int sf_orders_stock_moved(const sf_event *ev, json_t **items);

/* serviceflow verify (verify.c): folds every "order-<id>" stream and compares
 * status, saga step, totals, payment (status, captured, refunded, auth_ref)
 * and lines with the orders, payments and order_lines rows, one aggregate per
 * order. Reads db only; run it inside a read transaction for one snapshot. */
int sf_orders_verify(sf_db *db, sf_verify_report *r, sf_err *err);

#endif
