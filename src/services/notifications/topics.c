/* The notifications service's real-time topic (edge/stream.h):
 * "notifications", the caller's own inbox as it changes: the events of
 * stream notifications-<user_id> (notification.created, notification.read).
 * Nobody can ask for another user's: the topic takes no argument.
 * The service's descriptor lists it: .topics = sf_notifications_topics. */
#include <stdio.h>
#include <string.h>

#include "services/service.h"

static int notifications_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max,
                                 sf_err *err) {
  if (arg[0]) return sf_err_invalid(err, "topic", "notifications takes no argument (it is always your own)");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "notifications:%s", who->user_id);
  return 1;
}

static int notifications_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  if (max < 1 || strncmp(ev->stream, "notifications-", 14) != 0) return 0;
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "notifications:%s", ev->stream + 14);
  return 1;
}

const sf_topic sf_notifications_topics[] = {
    {"notifications", NULL, notifications_resolve, notifications_keys},
    {0},
};
