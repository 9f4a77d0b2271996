/* `serviceflow copy-to-postgres` (cli_copy.h). */
#include "cli_copy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/json.h"
#include "events/anchor.h"
#include "events/store.h"
#include "events/verify.h"
#include "services/identity/identity.h"
#include "services/inventory/inventory.h"
#include "services/orders/orders.h"
#ifdef SF_WITH_POSTGRES
#include "store/pg/copy.h"
#endif

#ifdef SF_WITH_POSTGRES
/* The anchor file of the data dir the copy reads ("" for --db FILE). */
static struct copy_cli_state { char anchor[600]; } copy_cli;

/* The data dir's anchor (events/anchor.h) held against the copy of its
 * log of n events: at or below n the copy must hold the same event there
 * (a problem otherwise); past n the server wrote on after the snapshot, and
 * a server with this data dir will refuse the copy until it is taken again
 * after a clean stop: a warning. */
static void check_anchor(sf_db *db, int64_t n, json_t *report, json_t *problems) {
  int64_t pos = -1, anchored = -1;
  char hash[65];
  sf_err err = {0};
  if (!copy_cli.anchor[0] || sf_ev_anchor_read(copy_cli.anchor, &pos, hash, &err) != 0) return;
  json_object_set_new(report, "anchored_position", json_integer(pos));
  char text[900];
  if (pos > n) {
    snprintf(text, sizeof text,
             "the data dir's anchor (%s) is at position %" PRId64 ", past this copy: a server with this data dir "
             "refuses it; stop the server and copy again to move over",
             copy_cli.anchor, pos);
    json_object_set_new(report, "warning", json_string(text));
  } else if (sf_ev_anchor_check(db, copy_cli.anchor, &anchored, &err)) {
    snprintf(text, sizeof text, "anchor: %s", err.detail);
    json_array_append_new(problems, json_string(text));
  }
}

static void add_mismatches(json_t *problems, const char *what, const sf_verify_report *r) {
  for (int i = 0; i < r->ndetails; i++) {
    char text[300];
    snprintf(text, sizeof text, "%s: %s", what, r->details[i]);
    json_array_append_new(problems, json_string(text));
  }
  if (r->mismatches > r->ndetails) {
    char text[120];
    snprintf(text, sizeof text, "%s: ... and %" PRId64 " more", what, r->mismatches - r->ndetails);
    json_array_append_new(problems, json_string(text));
  }
}

/* What `serviceflow verify` checks, on the copy inside its transaction:
 * the hash chain from position 1 (the event store's own walk), then stock,
 * reservations, orders and users folded again from the events. */
static int verify_copy(sf_db *db, json_t *report, json_t *problems, sf_err *err) {
  int64_t n = 0;
  sf_err chain = {0};
  if (sf_ev_verify(db, &n, &chain)) {
    char text[320];
    snprintf(text, sizeof text, "hash chain: broken after %" PRId64 " good events: %s", n, chain.detail);
    json_array_append_new(problems, json_string(text));
    return 1;
  }
  json_object_set_new(report, "events_verified", json_integer(n));
  check_anchor(db, n, report, problems);
  static sf_verify_report stock, reservations, orders, users; /* ~5 KiB each: off the stack */
  if (sf_inv_verify(db, &stock, &reservations, err) || sf_orders_verify(db, &orders, err) ||
      sf_identity_verify(db, &users, err))
    return -1;
  add_mismatches(problems, "stock", &stock);
  add_mismatches(problems, "reservations", &reservations);
  add_mismatches(problems, "orders", &orders);
  add_mismatches(problems, "users", &users);
  json_object_set_new(report, "state_verified",
                      json_pack("{sI sI sI sI}", "stock", (json_int_t)stock.checked, "reservations",
                                (json_int_t)reservations.checked, "orders", (json_int_t)orders.checked, "users",
                                (json_int_t)users.checked));
  return stock.mismatches || reservations.mismatches || orders.mismatches || users.mismatches ? 1 : 0;
}

int sf_cli_copy_to_postgres(const sf_config *cfg, const char *db_file, const char *to) {
  if (!to || (strncmp(to, "postgres://", 11) != 0 && strncmp(to, "postgresql://", 13) != 0)) {
    fputs("serviceflow copy-to-postgres: --to postgres://user@host/db is required\n", stderr);
    return 2;
  }
  char path[600];
  copy_cli.anchor[0] = '\0';
  if (db_file)
    snprintf(path, sizeof path, "%s", db_file);
  else if (cfg->database_url[0] && !strstr(cfg->database_url, "://"))
    snprintf(path, sizeof path, "%s", cfg->database_url);
  else {
    snprintf(path, sizeof path, "%s/serviceflow.db", cfg->data_dir);
    sf_ev_anchor_path(cfg->data_dir, copy_cli.anchor, sizeof copy_cli.anchor);
  }
  sf_pg_copy_hooks hooks = {.migrate = sf_app_migrate, .verify = verify_copy};
  json_t *report = NULL;
  int rc = sf_pg_copy(path, to, &hooks, &report);
  char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
  puts(text);
  free(text);
  const char *warning = json_string_value(json_object_get(report, "warning"));
  if (warning) fprintf(stderr, "serviceflow copy-to-postgres: warning: %s\n", warning);
  if (rc) {
    json_t *problems = json_object_get(report, "problems");
    fprintf(stderr, "serviceflow copy-to-postgres: %s\n", json_string_value(json_object_get(report, "error")));
    for (size_t i = 0; i < json_array_size(problems); i++)
      fprintf(stderr, "  %s\n", json_string_value(json_array_get(problems, i)));
  }
  json_decref(report);
  return rc;
}
#else
int sf_cli_copy_to_postgres(const sf_config *cfg, const char *db_file, const char *to) {
  (void)cfg, (void)db_file, (void)to;
  fputs("serviceflow copy-to-postgres: this build has no PostgreSQL backend (libpq-dev was missing)\n", stderr);
  return 1;
}
#endif
