/* The requests service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/requests/requests.h"

/* this folder's migrations.c */
extern const sf_db_step sf_requests_migrations[];

/* a reopened database may hold other definitions than the cached ones */
static void configure(const sf_config *cfg) { sf_requests_forget_definitions(); }

/* this folder's topics.c */
extern const sf_topic sf_requests_topics[];

const sf_service sf_requests_service = {
    .name = "requests",
    .routes = sf_requests_routes,
    .migrations = sf_requests_migrations,
    .timers = sf_requests_timers,
    .configure = configure,
    .topics = sf_requests_topics,
};
