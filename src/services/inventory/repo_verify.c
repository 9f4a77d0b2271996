/* The inventory repository's whole-table reads for `serviceflow verify`
 * (repo.h), apart from the rest: they run offline, read every row on purpose,
 * and the query-plan test exempts them by this file's name. */
#include "services/inventory/repo.h"

sf_stmt *sf_inv_repo_verify_events(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT position, stream, type, data, at FROM events"
                       " WHERE substr(stream, 1, 6) = 'stock-' OR substr(stream, 1, 12) = 'reservation-'"
                       " OR (substr(stream, 1, 6) = 'order-'"
                       "     AND type IN ('order.placed', 'order.paid', 'order.cancelled'))"
                       " ORDER BY position",
                       err);
}

sf_stmt *sf_inv_repo_verify_products(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id FROM products", err);
}

sf_stmt *sf_inv_repo_verify_stock(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT product_id, on_hand, reserved, version FROM stock", err);
}

sf_stmt *sf_inv_repo_verify_reservations(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, owner, status, expires_at, created_at FROM reservations", err);
}

sf_stmt *sf_inv_repo_verify_lines(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT reservation_id, product_id, quantity FROM reservation_lines", err);
}
