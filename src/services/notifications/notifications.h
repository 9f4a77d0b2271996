/* Notifications (issue 13): each triggering event, applied once by the
 * durable subscriber "notifications" in the dispatcher's transaction, makes
 * one in-app notification per recipient (an id derived from the event and
 * the recipient: a replay makes none twice), appends notification.created
 * to the recipient's stream "notifications-<user_id>" (the real-time hub's
 * topic "notifications"), and queues an e-mail with the same id
 * (services/mail/mail.h) when the recipient's preferences say so. Who is
 * told what: rules.h. The inbox and the preferences: api.c. */
#ifndef SF_SERVICES_NOTIFICATIONS_H
#define SF_SERVICES_NOTIFICATIONS_H

#include "core/config.h"
#include "events/dispatch.h"

extern const sf_subscriber sf_notifications_subscriber;

/* Reads low_stock_threshold; resets the cached start position. */
void sf_notifications_configure(const sf_config *cfg);
/* The inbox and preference routes (api.c). Main thread. */
void sf_notifications_routes(void);
/* Registers the metrics collector (once per process). */
void sf_notifications_metrics(void);

#endif
