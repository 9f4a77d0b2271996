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
/* Holds stock for every line or none (409 naming the short items); id_out
 * receives the reservation id. The caller has checked, in the same
 * transaction, that every product exists and is for sale (orders does, when
 * it takes the price snapshot).
 * ttl_ms 0: no expiry (the caller releases or commits it, as the saga does). */
int sf_inv_reserve(sf_tx *tx, const sf_req *req, const char *owner, const sf_inv_line *lines, int n,
                   int64_t ttl_ms, char *id_out, size_t cap, sf_err *err);
/* Releases an active reservation (no-op when it is no longer active). */
int sf_inv_release(sf_tx *tx, const sf_req *req, const char *id, const char *cause, sf_err *err);
/* Turns an active reservation into a sale: on hand and reserved both drop. */
int sf_inv_commit(sf_tx *tx, const sf_req *req, const char *id, sf_err *err);
/* Registers the reservation-expiry timer kind (before sf_timers_start). */
void sf_inventory_timers(void);

/* serviceflow verify (verify.c): folds the stock-* and reservation-* streams
 * and compares the result with the stock rows (into *stock, one aggregate per
 * product) and the reservations and their lines (into *reservations). Reads
 * db only; run it inside a read transaction for one snapshot. */
int sf_inv_verify(sf_db *db, sf_verify_report *stock, sf_verify_report *reservations, sf_err *err);

#endif
