/* The orders repository's whole-table reads for `serviceflow verify`
 * (repo_verify.h), apart from the rest: they run offline, read every row on
 * purpose, and the query-plan test exempts them by this file's name. */
#include "services/orders/repo_verify.h"

sf_stmt *sf_orders_repo_verify_events(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT position, stream, type, data, at FROM events"
                       " WHERE substr(stream, 1, 6) = 'order-' ORDER BY position",
                       err);
}

sf_stmt *sf_orders_repo_verify_orders(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT o.id, o.customer_id, o.status, o.saga_step, o.currency, o.total,"
                       " coalesce(o.reservation_id, ''), o.card_last4, o.refund_pending,"
                       " coalesce(o.failure_reason, ''), o.created_at, p.id, p.status, p.amount,"
                       " p.captured, p.refunded, coalesce(p.auth_ref, ''), p.currency"
                       " FROM orders o LEFT JOIN payments p ON p.order_id = o.id",
                       err);
}

sf_stmt *sf_orders_repo_verify_lines(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT order_id, line, product_id, sku, name, unit_price, quantity FROM order_lines", err);
}
