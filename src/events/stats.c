#include "events/stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"

/* A batch is counted in memory (apply) and written once per type (flush);
 * both run on the writer thread inside the same transaction. */
#define MAX_TYPES 64
static struct stats_batch {
  struct {
    char type[64];
    int64_t count, last;
  } types[MAX_TYPES];
  int ntypes;
} batch;

static int flush(sf_tx *tx, sf_err *err) {
  int rc = 0;
  for (int i = 0; i < batch.ntypes && rc == 0; i++) {
    sf_stmt *st = sf_db_prepare(tx->db,
                                "INSERT INTO event_type_stats(type, count, last_position) VALUES(?1, ?2, ?3)"
                                " ON CONFLICT(type) DO UPDATE SET count = event_type_stats.count + ?2,"
                                " last_position = excluded.last_position",
                                err);
    if (!st) {
      rc = -1;
      break;
    }
    sf_stmt_text(st, 1, batch.types[i].type);
    sf_stmt_int(st, 2, batch.types[i].count);
    sf_stmt_int(st, 3, batch.types[i].last);
    rc = sf_stmt_run(st, err);
  }
  batch.ntypes = 0;
  return rc;
}

static int apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  for (int i = 0; i < batch.ntypes; i++)
    if (strcmp(batch.types[i].type, ev->type) == 0) {
      batch.types[i].count++;
      batch.types[i].last = ev->position;
      return 0;
    }
  if (batch.ntypes == MAX_TYPES && flush(tx, err)) return -1;
  snprintf(batch.types[batch.ntypes].type, sizeof batch.types[0].type, "%s", ev->type);
  batch.types[batch.ntypes].count = 1;
  batch.types[batch.ntypes].last = ev->position;
  batch.ntypes++;
  return 0;
}

static int reset(sf_tx *tx, sf_err *err) {
  batch.ntypes = 0;
  return sf_db_exec(tx->db, "DELETE FROM event_type_stats", err);
}

const sf_subscriber sf_event_stats_subscriber = {.name = "event_stats", .apply = apply, .reset = reset, .flush = flush};

/* One metric with a sample per row of st (label value, number), which it
 * resets; st NULL (its prepare failed): nothing. */
static void put_rows(sf_buf *b, sf_stmt *st, const char *metric, const char *label, const char *type,
                     const char *help) {
  if (!st) return;
  sf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
  sf_err err = {0};
  while (sf_stmt_step(st, &err) == 1)
    sf_buf_printf(b, "%s{%s=\"%s\"} %" PRId64 "\n", metric, label, sf_stmt_col_text(st, 0), sf_stmt_col_int(st, 1));
  sf_stmt_reset(st);
}

static void collect(sf_buf *b) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  if (!db) return;
  int64_t head = sf_ev_head(db, &err);
  sf_buf_printf(b,
                "# HELP sf_events_head_position Position of the newest committed event.\n"
                "# TYPE sf_events_head_position gauge\nsf_events_head_position %" PRId64 "\n",
                head);
  sf_stmt *st = sf_db_prepare(db, "SELECT name, position FROM checkpoints ORDER BY name", &err);
  put_rows(b, st, "sf_subscriber_checkpoint", "name", "gauge", "Last event position applied by a projection.");
  st = sf_db_prepare(db, "SELECT type, count FROM event_type_stats ORDER BY type", &err);
  put_rows(b, st, "sf_events_appended_total", "type", "counter",
           "Events in the store by type (event_stats projection).");
}

void sf_event_stats_metrics(void) { sf_metrics_add_collector(collect); }
