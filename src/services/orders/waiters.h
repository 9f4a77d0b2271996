/* `Prefer: wait` for orders (waiters.c): the edge side of the service, kept
 * apart from internal.h so that only the files that know the HTTP request
 * (orders.c, waiters.c) see sf_req.
 *
 * A parked request is owned by the waiters until it is answered: with the
 * order's state once it settles (status), when its wait ends first
 * (unsettled_status), or when the service stops. The answer is sent and the
 * request resumed on whichever thread finds it due (saga thread, a
 * completion thread, the stopping thread). */
#ifndef SF_SERVICES_ORDERS_WAITERS_H
#define SF_SERVICES_ORDERS_WAITERS_H

#include "core/http.h"
#include "services/orders/internal.h"

/* Parks the suspended req until order_id settles or wait_s pass. Returns 0
 * (and does not take req) when wait_s <= 0 or the waiters are closed. */
int ord_wait_park(sf_req *req, const char *order_id, int wait_s, int status, int unsettled_status);
/* Answers the waiters of order_id if it is settled now (saga hook). */
void ord_wait_touched(const char *order_id);
/* Answers the waiters of order_id if there are any and it is settled now:
 * for each event of an order (the saga's `changed` hook), whichever
 * instance's saga moved it; costs a look at the list when nobody waits. */
void ord_wait_changed(const char *order_id);
/* Answers the waiters whose wait ended (saga hook). */
void ord_wait_expire(void);

void ord_wait_open(void);  /* start taking waiters */
void ord_wait_close(void); /* take no more (stopping) */
void ord_wait_flush(void); /* answer every waiter now, settled or not */

/* Replies status with the order and its ETag (any thread that owns req). */
void ord_reply(sf_req *req, int status, const order *o);

#endif
