/* The event_stats projection: events per type with the last position seen.
 * A small CQRS read model, maintained by the dispatcher and rebuildable with
 * `serviceflow replay event_stats`. Also exports event-store metrics. */
#ifndef SF_EVENTS_STATS_H
#define SF_EVENTS_STATS_H

#include "events/dispatch.h"

extern const sf_subscriber sf_event_stats_subscriber;
void sf_event_stats_metrics(void); /* registers the /metrics collector */

#endif
