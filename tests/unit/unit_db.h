/* The database setup the unit tests of the writer and what runs on it share
 * (store, lease, anchor, attempts, webhooks; writer_faults the setup only):
 * a migrated SQLite file in a temp dir of its own, the readers pointed at it
 * and the real writer running on it. The writer and the readers' path are
 * process-wide, so there is one unit_db a test process; a failed step fails
 * the test through cmocka's asserts. Include after <cmocka.h>. */
#ifndef SF_TESTS_UNIT_DB_H
#define SF_TESTS_UNIT_DB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "app.h"
#include "store/db.h"
#include "store/writer.h"

static struct unit_db {
  char dir[64];   /* /tmp/sf-<name>-XXXXXX */
  char path[128]; /* <dir>/t.db */
} unit_db;

/* Makes /tmp/sf-<name>-XXXXXX/t.db, migrates it, runs extra_sql on it (the
 * test's own tables; NULL: none), points the readers at it and starts the
 * writer (queue of 1024) in sync mode. */
static inline void unit_db_setup(const char *name, const char *extra_sql, sf_writer_sync sync) {
  snprintf(unit_db.dir, sizeof unit_db.dir, "/tmp/sf-%s-XXXXXX", name);
  assert_non_null(mkdtemp(unit_db.dir));
  snprintf(unit_db.path, sizeof unit_db.path, "%s/t.db", unit_db.dir);
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_app_migrate(db, &e), 0);
  if (extra_sql) assert_int_equal(sf_db_exec(db, extra_sql, &e), 0);
  sf_db_close(db);
  sf_db_set_path(unit_db.path);
  assert_int_equal(sf_writer_start(unit_db.path, 1024, sync, &e), 0);
}

/* Stops the writer, closes the readers and removes the dir. The test stops
 * what runs on the writer (dispatcher, lease) before. */
static inline void unit_db_teardown(void) {
  sf_writer_stop();
  sf_db_close_readers();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", unit_db.dir);
  assert_int_equal(system(cmd), 0);
}

#endif
