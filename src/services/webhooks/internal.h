/* Between the files of the webhooks service (not for other services):
 * webhooks.c delivers (timers, the outbound engine, outcomes), subs.c holds
 * the subscriptions' routes and commands, fanout.c turns every event into
 * the deliveries of the subscriptions that match it. */
#ifndef SF_WEBHOOKS_INTERNAL_H
#define SF_WEBHOOKS_INTERNAL_H

#include <stdint.h>

#include "core/err.h"
#include "store/writer.h"

#define WH_TIMER_REQUEST "webhook" /* ref: a workflow delivery's id (whd_) */
#define WH_TIMER_SUB "webhook_sub" /* ref: a subscription delivery's id (whs_) */
#define WH_SUB_PREFIX "whs"        /* ids of subscription deliveries */
/* The event a subscription delivery's recorded attempt appends to the
 * subscription's stream (webhook-<id>); never fanned out to subscriptions
 * (each would feed itself). */
#define WH_ATTEMPT_EVENT "webhook.delivery_attempted"
#define WH_SECRET_PREFIX "whsec_" /* a subscription's secret: this + 48 hex digits */
#define WH_SECRET_LEN 54

/* Writer thread, in the command that changes the subscriptions: stamps the
 * change, so the fan-out (fanout.c) builds its matcher again for the events
 * it applies after it (in this transaction too; a rolled-back change rolls
 * its stamp back with it). 0 or <0 with err. */
int wh_fanout_invalidate(sf_tx *tx, sf_err *err);

/* Writer thread, in a command: delivery id (whs_ or whd_) starts a new
 * attempt sequence now (attempts 0, due at once), unless it is pending.
 * 1 done, 0 pending (409), -404 unknown, <0 with err. */
int wh_resend(sf_tx *tx, const char *id, sf_err *err);

/* The delivery routes of subscriptions (GET .../deliveries, resend):
 * subs.c registers them beside its own. */
void wh_sub_routes(void);

/* A fresh secret (WH_SECRET_LEN characters and a NUL). */
void wh_new_secret(char out[WH_SECRET_LEN + 1]);

#endif
