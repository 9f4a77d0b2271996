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

#include "core/err.h"
#include "store/writer.h"

void sf_inventory_routes(void);
/* Registers the reservation-expiry timer kind (before sf_timers_start). */
void sf_inventory_timers(void);

#endif
