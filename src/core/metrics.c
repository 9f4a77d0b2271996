#include "core/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/router.h"

#define NBUCKETS 14
static const double k_lat_bounds[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0};
#define NCLASSES 5 /* 1xx..5xx */

typedef struct {
  _Atomic uint64_t by_class[NCLASSES];
  _Atomic uint64_t buckets[NBUCKETS];
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
} route_stats;

#define NBATCH 12 /* 1,2,4,...,1024 */
#define MAX_COLLECTORS 32

/* Process-wide counters, updated with relaxed atomics from any thread. */
static struct metrics_state {
  route_stats routes[SF_ROUTE_MAX + 1]; /* last slot: unmatched */
  _Atomic uint64_t batch_buckets[NBATCH];
  _Atomic uint64_t batch_sum, commits, failed_cmds, commit_ns, syncs, sync_ns;
  sf_metrics_collector collectors[MAX_COLLECTORS];
  _Atomic int ncollectors;
} metrics;

void sf_metrics_http(int route_id, int status, uint64_t duration_ns) {
  route_stats *s = &metrics.routes[route_id < 0 || route_id >= SF_ROUTE_MAX ? SF_ROUTE_MAX : route_id];
  int cls = status / 100 - 1;
  if (cls < 0 || cls >= NCLASSES) cls = NCLASSES - 1;
  atomic_fetch_add_explicit(&s->by_class[cls], 1, memory_order_relaxed);
  double secs = (double)duration_ns / 1e9;
  for (int i = 0; i < NBUCKETS; i++)
    if (secs <= k_lat_bounds[i]) {
      atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
      break;
    }
  atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->sum_ns, duration_ns, memory_order_relaxed);
}

void sf_metrics_commit(int batch_size, int failed_commands, uint64_t duration_ns) {
  for (int i = 0; i < NBATCH; i++)
    if (batch_size <= (1 << i) || i == NBATCH - 1) {
      atomic_fetch_add_explicit(&metrics.batch_buckets[i], 1, memory_order_relaxed);
      break;
    }
  atomic_fetch_add_explicit(&metrics.batch_sum, (uint64_t)batch_size, memory_order_relaxed);
  atomic_fetch_add_explicit(&metrics.commits, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&metrics.failed_cmds, (uint64_t)failed_commands, memory_order_relaxed);
  atomic_fetch_add_explicit(&metrics.commit_ns, duration_ns, memory_order_relaxed);
}

void sf_metrics_sync(uint64_t duration_ns) {
  atomic_fetch_add_explicit(&metrics.syncs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&metrics.sync_ns, duration_ns, memory_order_relaxed);
}

void sf_metrics_add_collector(sf_metrics_collector fn) {
  int i = atomic_fetch_add(&metrics.ncollectors, 1);
  if (i < MAX_COLLECTORS) metrics.collectors[i] = fn;
}

static void route_label(int id, char *out, size_t cap) {
  const sf_route *r = sf_router_get(id);
  if (r)
    snprintf(out, cap, "method=\"%s\",route=\"%s\"", r->method, r->pattern);
  else
    snprintf(out, cap, "method=\"\",route=\"unmatched\"");
}

static void render_http(sf_buf *b) {
  int n = sf_router_count();
  char label[300];
  sf_buf_puts(b, "# HELP sf_http_requests_total HTTP requests by route and status class.\n"
                 "# TYPE sf_http_requests_total counter\n");
  for (int id = -1; id < n; id++) {
    route_stats *s = &metrics.routes[id < 0 ? SF_ROUTE_MAX : id];
    route_label(id, label, sizeof label);
    for (int c = 0; c < NCLASSES; c++) {
      uint64_t v = atomic_load_explicit(&s->by_class[c], memory_order_relaxed);
      if (v) sf_buf_printf(b, "sf_http_requests_total{%s,status=\"%dxx\"} %lu\n", label, c + 1, v);
    }
  }
  sf_buf_puts(b, "# HELP sf_http_request_duration_seconds HTTP request latency by route.\n"
                 "# TYPE sf_http_request_duration_seconds histogram\n");
  for (int id = -1; id < n; id++) {
    route_stats *s = &metrics.routes[id < 0 ? SF_ROUTE_MAX : id];
    uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
    if (!count) continue;
    route_label(id, label, sizeof label);
    uint64_t cum = 0;
    for (int i = 0; i < NBUCKETS; i++) {
      cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
      sf_buf_printf(b, "sf_http_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n", label, k_lat_bounds[i], cum);
    }
    sf_buf_printf(b, "sf_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n", label, count);
    sf_buf_printf(b, "sf_http_request_duration_seconds_sum{%s} %.6f\n", label,
                  (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) / 1e9);
    sf_buf_printf(b, "sf_http_request_duration_seconds_count{%s} %lu\n", label, count);
  }
}

static void render_writer(sf_buf *b) {
  sf_buf_puts(b, "# HELP sf_writer_batch_size Commands per group commit.\n"
                 "# TYPE sf_writer_batch_size histogram\n");
  uint64_t cum = 0;
  for (int i = 0; i < NBATCH; i++) {
    cum += atomic_load_explicit(&metrics.batch_buckets[i], memory_order_relaxed);
    if (i < NBATCH - 1) sf_buf_printf(b, "sf_writer_batch_size_bucket{le=\"%d\"} %lu\n", 1 << i, cum);
  }
  uint64_t commits = atomic_load_explicit(&metrics.commits, memory_order_relaxed);
  sf_buf_printf(b, "sf_writer_batch_size_bucket{le=\"+Inf\"} %lu\n", commits);
  sf_buf_printf(b, "sf_writer_batch_size_sum %lu\n", atomic_load(&metrics.batch_sum));
  sf_buf_printf(b, "sf_writer_batch_size_count %lu\n", commits);
  sf_buf_printf(b,
                "# HELP sf_writer_commits_total Transactions committed by the writer.\n"
                "# TYPE sf_writer_commits_total counter\nsf_writer_commits_total %lu\n"
                "# HELP sf_writer_failed_commands_total Commands rolled back to their savepoint.\n"
                "# TYPE sf_writer_failed_commands_total counter\n"
                "sf_writer_failed_commands_total %lu\n"
                "# HELP sf_writer_commit_seconds_total Time spent in writer transactions.\n"
                "# TYPE sf_writer_commit_seconds_total counter\nsf_writer_commit_seconds_total %.6f\n",
                commits, atomic_load(&metrics.failed_cmds), (double)atomic_load(&metrics.commit_ns) / 1e9);
  sf_buf_printf(b,
                "# HELP sf_writer_syncs_total WAL fsyncs of pipelined commits (each covers one or more commits).\n"
                "# TYPE sf_writer_syncs_total counter\nsf_writer_syncs_total %lu\n"
                "# HELP sf_writer_sync_seconds_total Time spent in those fsyncs.\n"
                "# TYPE sf_writer_sync_seconds_total counter\nsf_writer_sync_seconds_total %.6f\n",
                atomic_load(&metrics.syncs), (double)atomic_load(&metrics.sync_ns) / 1e9);
}

char *sf_metrics_render(void) {
  sf_buf b;
  sf_buf_init(&b);
  render_http(&b);
  render_writer(&b);
  int n = atomic_load(&metrics.ncollectors);
  for (int i = 0; i < n && i < MAX_COLLECTORS; i++) metrics.collectors[i](&b);
  return sf_buf_steal(&b);
}
