/* The webhooks service's descriptor (services/service.h): the delivery of service requests' webhooks
 * (webhooks.c beside it). */
#include "services/service.h"

#include "services/webhooks/repo.h"
#include "services/webhooks/webhooks.h"

/* this folder's migrations.c */
extern const sf_db_step sf_webhooks_migrations[];

static const sf_subscriber *const k_subscribers[] = {&sf_webhooks_subscriber, NULL};

/* cfg->webhook_secret: the secret the process resolved (config or key file) */
static int start(const sf_config *cfg, sf_err *err) { return sf_webhooks_start(cfg, cfg->webhook_secret, err); }

/* every delivery was (or will be) signed with webhook.key */
static int holds_keyed(sf_db *db, sf_key_file key, sf_err *err) {
  return key == SF_KEY_WEBHOOK ? sf_webhooks_repo_any_delivery(db, err) : 0;
}

const sf_service sf_webhooks_service = {
    .name = "webhooks",
    .routes = sf_webhooks_routes,
    .migrations = sf_webhooks_migrations,
    .subscribers = k_subscribers,
    .timers = sf_webhooks_timers,
    .start = start,
    .stop = sf_webhooks_stop,
    .holds_keyed = holds_keyed,
    .phase = SF_SERVICE_OUTBOUND,
};
