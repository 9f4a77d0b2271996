/* The webhooks service's descriptor (services/service.h): the delivery of service requests' webhooks
 * (webhooks.c beside it). */
#include "services/service.h"

#include "services/webhooks/repo.h"
#include "services/webhooks/webhooks.h"

/* this folder's migrations.c and topics.c */
extern const sf_topic sf_webhooks_topics[];
extern const sf_db_step sf_webhooks_migrations[];

static const sf_subscriber *const k_subscribers[] = {&sf_webhooks_subscriber, &sf_webhooks_fanout_subscriber, NULL};

static const sf_edge_grant k_permissions[] = {
    {"webhooks:admin", "admin"},
    {0},
};

static void routes(void) {
  sf_webhooks_routes();
  sf_webhooks_sub_routes();
}

/* cfg->webhook_secret: the secret the process resolved (config or key file) */
static int start(const sf_config *cfg, sf_err *err) { return sf_webhooks_start(cfg, cfg->webhook_secret, err); }

/* every workflow delivery was (or will be) signed with webhook.key; the
 * subscriptions' secrets are sealed with seal.keys */
static int holds_keyed(sf_db *db, sf_key_file key, sf_err *err) {
  if (key == SF_KEY_WEBHOOK) return sf_webhooks_repo_any_delivery(db, err);
  return key == SF_KEY_SEAL ? sf_webhooks_repo_any_subscription(db, err) : 0;
}

const sf_service sf_webhooks_service = {
    .name = "webhooks",
    .routes = routes,
    .permissions = k_permissions,
    .migrations = sf_webhooks_migrations,
    .topics = sf_webhooks_topics,
    .subscribers = k_subscribers,
    .timers = sf_webhooks_timers,
    .start = start,
    .stop = sf_webhooks_stop,
    .holds_keyed = holds_keyed,
    .phase = SF_SERVICE_OUTBOUND,
};
