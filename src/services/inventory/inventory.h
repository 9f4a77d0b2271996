/* Inventory service: on-hand stock per product, staff adjustments, and
 * reservations with a TTL.
 *
 * Never oversells: every check-and-reserve runs as one command in the single
 * writer, and the stock table's CHECK(reserved <= on_hand) backs it up.
 * A reservation holds `reserved` units until it is released (by its owner,
 * staff, or the durable timer "reservation.expire" at expires_at).
 * Events: stream "stock-<product_id>" gets stock.adjusted; stream
 * "reservation-<id>" gets reservation.created / reservation.released. */
#ifndef SF_INVENTORY_H
#define SF_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/err.h"
#include "core/http.h"
#include "events/verify.h"
#include "store/writer.h"

void sf_inventory_routes(void);

/* For other services (orders), inside their writer command. */
typedef struct sf_inv_line {
  const char *product_id;
  int64_t quantity;
} sf_inv_line;
/* Reservations made through /api/v1/reservations (and by orders placed
 * before orders held stock directly): release an active one (no-op when it
 * is no longer active), or turn it into a sale (on hand and reserved drop).
 * who acts (NULL: the system). */
int sf_inv_release(sf_tx *tx, const sf_actor *who, const char *id, const char *cause, sf_err *err);
int sf_inv_commit(sf_tx *tx, const sf_actor *who, const char *id, sf_err *err);
/* Stock held by an order itself, without a reservation of its own: the
 * order's events (order.placed, order.paid, order.cancelled) are the record
 * of the hold, and `serviceflow verify` folds them into stock. Hold: every
 * line or none (409 naming the short items); the caller has checked the
 * products. Unhold gives the units back; sell takes them off on hand. */
int sf_inv_hold(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err);
int sf_inv_unhold(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err);
int sf_inv_sell(sf_tx *tx, const sf_inv_line *lines, int n, sf_err *err);
/* Registers the reservation-expiry timer kind (before sf_timers_start). */
void sf_inventory_timers(void);

/* serviceflow verify (verify.c): folds the stock-* and reservation-* streams
 * and compares the result with the stock rows (into *stock, one aggregate per
 * product) and the reservations and their lines (into *reservations). Reads
 * db only; run it inside a read transaction for one snapshot. */
int sf_inv_verify(sf_db *db, sf_verify_report *stock, sf_verify_report *reservations, sf_err *err);

#endif
