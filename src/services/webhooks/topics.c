/* The webhooks service's real-time topic (edge/stream.h):
 * "webhook_deliveries:<subscription id>", a subscription's delivery log as
 * it changes: the WH_ATTEMPT_EVENT events of stream webhook-<id>, one per
 * recorded attempt (delivered, failed and pending again, dead), carrying the
 * delivery's fields as GET /api/v1/webhooks/{id}/deliveries then shows
 * them. Authorization is that GET's: webhooks:admin (403 without it, from
 * the topic's permission), 404 for a subscription that does not exist.
 * A delivery row is made (pending) by the fan-out in the dispatcher's
 * transaction without an event of its own; its first attempt is due at
 * once, and that attempt's event is the first a subscriber sees of it. */
#include <stdio.h>
#include <string.h>

#include "services/service.h"
#include "services/webhooks/internal.h"
#include "services/webhooks/repo.h"

static int deliveries_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max,
                              sf_err *err) {
  (void)who;
  (void)max;
  sf_db *db = sf_db_reader(err);
  sf_webhooks_sub s = {0};
  int rc = db ? sf_webhooks_repo_sub_load(db, arg, &s, err) : -1;
  sf_webhooks_sub_clear(&s);
  if (rc < 0) return -1;
  if (rc == 0) return sf_err_not_found(err, "webhook subscription");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "webhook_deliveries:%s", arg);
  return 1;
}

static int deliveries_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  if (max < 1 || strncmp(ev->stream, "webhook-", 8) != 0 || strcmp(ev->type, WH_ATTEMPT_EVENT) != 0) return 0;
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "webhook_deliveries:%s", ev->stream + 8);
  return 1;
}

const sf_topic sf_webhooks_topics[] = {
    {"webhook_deliveries", "webhooks:admin", deliveries_resolve, deliveries_keys},
    {0},
};
