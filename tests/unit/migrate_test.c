/* Per-owner migrations (store/migrate.h) and the service table
 * (services/list.h): a database made by the old single global list of
 * migrations, at any of its versions, migrates to exactly the schema of a
 * fresh database (the text of every entry of sqlite_master), with each
 * owner's version recorded; newer databases are refused; and the services'
 * permission declarations give every role exactly the permissions the
 * edge's fixed table gave before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"
#include "core/buf.h"
#include "edge/edge.h"
#include "legacy_schema.h"
#include "store/db.h"
#include "store/migrate.h"

static char g_dir[64];
static int g_seq;

static void new_path(char *out, size_t cap) { snprintf(out, cap, "%s/db%d.sqlite", g_dir, g_seq++); }

/* What the old runner did for versions 1..n: each step with its bump. */
static void make_legacy(const char *path, int n) {
  sqlite3 *h;
  assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h,
                                "CREATE TABLE IF NOT EXISTS schema_migrations("
                                "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  for (int v = 1; v <= n; v++) {
    char bump[128];
    snprintf(bump, sizeof bump, "INSERT INTO schema_migrations VALUES(%d, 0)", v);
    assert_int_equal(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, k_legacy_steps[v - 1], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, bump, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  }
  sqlite3_close(h);
}

static int migrate(const char *path, sf_err *e) {
  sf_db *db = sf_db_open(path, SF_DB_WRITE, e);
  assert_non_null(db);
  int rc = sf_app_migrate(db, e);
  sf_db_close(db);
  return rc;
}

/* The rows of a query, one line each, in the query's order (malloc'd). */
static char *rows(const char *path, const char *sql) {
  sqlite3 *h;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
  sf_buf b = {0};
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      const unsigned char *t = sqlite3_column_text(st, c);
      sf_buf_printf(&b, "%s%s", c ? " | " : "", t ? (const char *)t : "NULL");
    }
    sf_buf_printf(&b, "\n");
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return sf_buf_steal(&b);
}

static const char k_schema[] = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";
static const char k_versions[] = "SELECT service, version FROM schema_migrations ORDER BY service";

static char *fresh_schema(const char *what) {
  char path[128];
  new_path(path, sizeof path);
  sf_err e = {0};
  assert_int_equal(migrate(path, &e), 0);
  return rows(path, what);
}

/* From every version of the old list: the schema and the versions of a fresh database. */
static void test_legacy_versions_migrate_to_the_fresh_schema(void **state) {
  (void)state;
  char *want_schema = fresh_schema(k_schema), *want_versions = fresh_schema(k_versions);
  assert_non_null(strstr(want_schema, "CREATE TABLE events("));
  assert_non_null(strstr(want_versions, "requests | 5\n"));
  for (int n = 1; n <= LEGACY_STEPS; n++) {
    char path[128];
    new_path(path, sizeof path);
    make_legacy(path, n);
    sf_err e = {0};
    assert_int_equal(migrate(path, &e), 0);
    char *schema = rows(path, k_schema), *versions = rows(path, k_versions);
    if (strcmp(schema, want_schema) != 0) fail_msg("from version %d:\n%s\nwanted:\n%s", n, schema, want_schema);
    assert_string_equal(versions, want_versions);
    free(schema);
    free(versions);
  }
  free(want_schema);
  free(want_versions);
}

/* From version 8: the steps left fill their tables from the data there
 * (approval chains from the log), every owner ends at its newest version,
 * and a second run has nothing to do. */
static void test_intermediate_version_keeps_data(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof path);
  make_legacy(path, 8);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
  /* data the later steps fill from: an approval chain started before step 10 */
  assert_int_equal(sqlite3_exec(h,
                                "INSERT INTO events(position, stream, version, type, id, data, meta, at, hash)"
                                " VALUES(1, 'request-srq_1', 1, 'request.approval_started', 'evt_1',"
                                " '{\"chain\":1,\"state\":\"review\"}', '{}', 5, 'h')",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(h);
  sf_err e = {0};
  sf_db *db = sf_db_open(path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_app_migrate(db, &e), 0);
  char *v = rows(path, k_versions);
  assert_string_equal(v, "carts | 1\ncatalog | 1\nedge | 3\nevents | 3\nidentity | 4\ninventory | 1\nmail | 3\n"
                         "notifications | 1\n"
                         "orders | 2\nrequests | 5\nwebhooks | 3\nworkflows | 1\n");
  free(v);
  char *chains = rows(path, "SELECT request_id, chain, state, status FROM request_chains");
  assert_string_equal(chains, "srq_1 | 1 | review | pending\n");
  free(chains);
  int total = sf_db_schema_version(db);
  assert_int_equal(total,
                   28); /* 18, the etag column, identity's account tokens, mail's three steps, notifications, webhook
              subscriptions, the users' search indexes, requests' notes and SLA status, the events' leases */
  assert_int_equal(sf_app_migrate(db, &e), 0); /* again: nothing to do */
  assert_int_equal(sf_db_schema_version(db), total);
  sf_db_close(db);
}

static void test_newer_databases_are_refused(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof path);
  make_legacy(path, LEGACY_STEPS);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "INSERT INTO schema_migrations VALUES(99, 0)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  sf_err e = {0};
  assert_int_not_equal(migrate(path, &e), 0);
  assert_non_null(strstr(e.detail, "newer than this binary"));

  new_path(path, sizeof path);
  assert_int_equal(migrate(path, &e), 0);
  assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(h, "UPDATE schema_migrations SET version = 9 WHERE service = 'carts'", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  sf_err e2 = {0};
  assert_int_not_equal(migrate(path, &e2), 0);
  assert_non_null(strstr(e2.detail, "carts"));
}

/* A failing step keeps nothing of itself and leaves the version where it was. */
static void test_failed_step_rolls_back(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof path);
  sf_err e = {0};
  sf_db *db = sf_db_open(path, SF_DB_WRITE, &e);
  assert_non_null(db);
  static const sf_db_step steps[] = {
      {"CREATE TABLE hello_a(x INTEGER);"},
      {"CREATE TABLE hello_b(x INTEGER); CREATE TABLE hello_a(y INTEGER);"},
      {0},
  };
  const sf_db_migrations set = {"hello", steps};
  assert_int_not_equal(sf_db_migrate(db, &set, 1, &e), 0);
  sf_db_close(db);
  char *v = rows(path, "SELECT service, version FROM schema_migrations");
  assert_string_equal(v, "hello | 1\n");
  free(v);
  char *t = rows(path, "SELECT name FROM sqlite_master WHERE name LIKE 'hello%' ORDER BY name");
  assert_string_equal(t, "hello_a\n");
  free(t);
}

/* The role table the edge had before services declared their permissions. */
static const struct {
  const char *role, *permissions;
} k_old_roles[] = {
    {"customer", "users:self"},
    {"approver", "users:self workflows:read"},
    {"staff", "users:self users:read catalog:write inventory:write orders:read orders:write workflows:read"},
    {"admin", "users:self users:read users:admin catalog:write inventory:write orders:read orders:write "
              "workflows:read workflows:admin"},
};
static const char *const k_all_permissions[] = {"users:self",      "users:read",  "users:admin",  "catalog:write",
                                                "inventory:write", "orders:read", "orders:write", "workflows:read",
                                                "workflows:admin", NULL};

static void test_permissions_as_before(void **state) {
  (void)state;
  sf_app_routes();
  for (size_t r = 0; r < sizeof k_old_roles / sizeof k_old_roles[0]; r++) {
    assert_true(sf_edge_valid_role(k_old_roles[r].role));
    for (int p = 0; k_all_permissions[p]; p++) {
      char padded[512];
      snprintf(padded, sizeof padded, " %s ", k_old_roles[r].permissions);
      char word[64];
      snprintf(word, sizeof word, " %s ", k_all_permissions[p]);
      int want = strstr(padded, word) != NULL;
      if (sf_edge_role_allows(k_old_roles[r].role, k_all_permissions[p]) != want)
        fail_msg("%s / %s: want %d", k_old_roles[r].role, k_all_permissions[p], want);
    }
  }
  assert_false(sf_edge_valid_role("root"));
  assert_true(sf_edge_permission_universal("users:self"));
  assert_string_equal(sf_edge_permission_roles("workflows:read"), "approver, staff, admin");
  sf_err e = {0};
  const sf_edge_grant bad = {"hello:read", "staff wizard"};
  assert_int_not_equal(sf_edge_grant_add(&bad, &e), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/sf-migrate-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_legacy_versions_migrate_to_the_fresh_schema),
      cmocka_unit_test(test_intermediate_version_keeps_data),
      cmocka_unit_test(test_newer_databases_are_refused),
      cmocka_unit_test(test_failed_step_rolls_back),
      cmocka_unit_test(test_permissions_as_before),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
