/* The event store's tables (events/migrations.c): the log, the
 * subscribers' checkpoints, the counts per event type, the durable timers.
 * Migrated first: services' steps may refer to them. */
#ifndef SF_EVENTS_MIGRATIONS_H
#define SF_EVENTS_MIGRATIONS_H

#include "store/migrate.h"

extern const sf_db_step sf_ev_migrations[];

#endif
