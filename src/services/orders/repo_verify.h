/* The orders repository's whole-table reads for `serviceflow verify`
 * (repo_verify.c, for verify.c). Statements the caller steps and resets
 * (never finalizes); NULL with err when they cannot be prepared. Offline,
 * on the thread that runs verify. */
#ifndef SF_ORDERS_REPO_VERIFY_H
#define SF_ORDERS_REPO_VERIFY_H

#include "core/err.h"
#include "store/db.h"

/* The events of every "order-" stream, in order: position, stream, type,
 * data (JSON text), at. */
sf_stmt *sf_orders_repo_verify_events(sf_db *db, sf_err *err);
/* Every order with its payment (the payment columns NULL when it has
 * none): id, customer_id, status, saga_step, currency, total,
 * reservation_id (''), card_last4, refund_pending, failure_reason (''),
 * created_at, payment id, status, amount, captured, refunded, auth_ref (''),
 * currency. */
sf_stmt *sf_orders_repo_verify_orders(sf_db *db, sf_err *err);
/* Every order line: order_id, line, product_id, sku, name, unit_price,
 * quantity. */
sf_stmt *sf_orders_repo_verify_lines(sf_db *db, sf_err *err);

#endif
