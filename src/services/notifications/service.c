/* The notifications service's descriptor (services/service.h): the
 * subscriber that makes notifications (notify.c), the inbox and preferences
 * (api.c). Listed after the services whose events it reads and after mail. */
#include "services/service.h"

#include "services/notifications/notifications.h"

/* this folder's migrations.c */
extern const sf_db_step sf_notifications_migrations[];

static const sf_subscriber *const k_subscribers[] = {&sf_notifications_subscriber, NULL};

/* every role has an inbox of its own */
static const sf_edge_grant k_permissions[] = {
    {"notifications:self", "customer approver staff admin"},
    {0},
};

static int start(const sf_config *cfg, sf_err *err) {
  (void)cfg, (void)err;
  sf_notifications_metrics();
  return 0;
}

/* this folder's topics.c: "notifications", the caller's own */
extern const sf_topic sf_notifications_topics[];

const sf_service sf_notifications_service = {
    .name = "notifications",
    .routes = sf_notifications_routes,
    .permissions = k_permissions,
    .migrations = sf_notifications_migrations,
    .subscribers = k_subscribers,
    .topics = sf_notifications_topics,
    .configure = sf_notifications_configure,
    .start = start,
    .phase = SF_SERVICE_MEMORY,
};
