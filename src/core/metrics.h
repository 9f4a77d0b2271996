/* Metrics in Prometheus text format. Counters are relaxed atomics in static
 * arrays indexed by route id, so recording never allocates or locks.
 * Other modules add lines through collectors called at scrape time. */
#ifndef SF_CORE_METRICS_H
#define SF_CORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"

#define SF_METRICS_UNMATCHED_ROUTE (-1)

/* One finished HTTP request. route_id may be SF_METRICS_UNMATCHED_ROUTE. */
void sf_metrics_http(int route_id, int status, uint64_t duration_ns);
/* One writer commit: batch size and time from BEGIN to COMMIT. */
void sf_metrics_commit(int batch_size, int failed_commands, uint64_t duration_ns);
void sf_metrics_sync(uint64_t duration_ns); /* one WAL fsync of pipelined commits */

/* A collector appends complete metric families (with HELP/TYPE) to out. */
typedef void (*sf_metrics_collector)(sf_buf *out);
void sf_metrics_add_collector(sf_metrics_collector fn);

/* Renders every metric. Caller frees the returned string. */
char *sf_metrics_render(void);

#endif
