#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/conns.h"
#include "core/http.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/idempotency.h"
#include "edge/input.h"
#include "edge/migrations.h"
#include "edge/ops.h"
#include "edge/repo.h"
#include "edge/stream.h"
#include "edge/web.h"
#include "events/anchor.h"
#include "events/cluster.h"
#include "events/dispatch.h"
#include "events/lease.h"
#include "events/migrations.h"
#include "events/relay.h"
#include "events/stats.h"
#include "events/timers.h"
#include "services/identity/password.h"
#include "services/services.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/replica.h"
#include "store/writer.h"

static struct app_state {
  sf_keyring *ring;
  int open;
  char anchor_path[600];
  int64_t anchored; /* the head anchored last */
  int serving;      /* this process is the server: it keeps the anchor */
  sf_config run;    /* the server's configuration with its resolved secrets */
  sf_http_server *http;
} app;

void sf_app_db_path(const sf_config *cfg, char *out, size_t cap) {
  if (cfg->database_url[0])
    snprintf(out, cap, "%s", cfg->database_url);
  else
    snprintf(out, cap, "%s/serviceflow.db", cfg->data_dir);
}

static int mkdir_p(const char *dir, sf_err *err) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0700);
      *p = '/';
    }
  if (mkdir(tmp, 0700) && errno != EEXIST)
    return sf_err_internal(err, "cannot create data directory %s: %s", dir, strerror(errno));
  return 0;
}

/* The text of a key file, created once (0600) with 32 random bytes in
 * base64url when it does not exist. */
static int key_file_text(const char *path, char *text, size_t cap, sf_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    unsigned char raw[32];
    sf_random_bytes(raw, sizeof raw);
    sf_b64url_encode(raw, sizeof raw, text, cap);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return sf_err_internal(err, "cannot create %s: %s", path, strerror(errno));
    size_t tl = strlen(text);
    if (write(fd, text, tl) != (ssize_t)tl || fsync(fd)) {
      close(fd);
      return sf_err_internal(err, "cannot write %s", path);
    }
    close(fd);
  } else {
    if (!fgets(text, (int)cap, f)) text[0] = '\0';
    fclose(f);
    text[strcspn(text, "\r\n")] = '\0';
  }
  return 0;
}

/* The JWT key: from config, else <data_dir>/jwt.key (created once, 0600). */
static int load_jwt_key(const sf_config *cfg, unsigned char *key, size_t cap, size_t *len, sf_err *err) {
  if (cfg->jwt_secret[0]) {
    size_t n = strlen(cfg->jwt_secret);
    if (n < 32 || n > cap)
      return sf_err_set(err, 400, "config", "Bad configuration", "jwt_secret must be 32-256 characters");
    memcpy(key, cfg->jwt_secret, n);
    *len = n;
    return 0;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/jwt.key", cfg->data_dir);
  char text[128] = {0};
  if (key_file_text(path, text, sizeof text, err)) return -1;
  int n = sf_b64url_decode(text, strlen(text), key, cap);
  if (n < 32) return sf_err_internal(err, "%s is damaged (expected 32+ bytes of base64url)", path);
  *len = (size_t)n;
  return 0;
}

/* The webhook signing secret: from config, else the text of
 * <data_dir>/webhook.key (created once, 0600). Receivers use the text as it
 * stands as their HMAC key, so it is not decoded. */
static int load_webhook_secret(const sf_config *cfg, char *out, size_t cap, sf_err *err) {
  if (cfg->webhook_secret[0]) {
    if (strlen(cfg->webhook_secret) < 16)
      return sf_err_set(err, 400, "config", "Bad configuration", "webhook_secret must be 16-255 characters");
    snprintf(out, cap, "%s", cfg->webhook_secret);
    return 0;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/webhook.key", cfg->data_dir);
  if (key_file_text(path, out, cap, err)) return -1;
  if (strlen(out) < 16) return sf_err_internal(err, "%s is damaged (expected 16+ characters)", path);
  return 0;
}

/* POST /api/v1/_test/clock {advance_s}: only in serviceflow-testclock (core/clock.h). */
static const sf_json_field k_clock[] = {{"advance_s", SF_JSON_INT, 1, 0, 400LL * 86400}, {0}};

/* Instances sharing a database share the test clock: the new offset goes to
 * the others as a cluster-wide hook (store/writer.h) in a commit of its own. */
#define HOOK_TEST_CLOCK "testclock.offset"
static void test_clock_hook(void *ud, const char *key) {
  (void)ud;
  if (strcmp(key, "*") == 0) return;
  sf_clock_advance_to_ms(strtoll(key, NULL, 10));
  sf_timers_wake();
}

typedef struct {
  sf_cmd cmd;
  char offset[32];
} clock_cmd;
static int clock_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  (void)err;
  sf_tx_after_commit_all(tx, HOOK_TEST_CLOCK, ((clock_cmd *)c)->offset);
  return 0;
}
static void clock_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void h_test_clock(sf_req *req) {
  json_t *b = sf_in_body(req, k_clock);
  if (!b) return;
  int64_t off = sf_clock_advance_ms(json_integer_value(json_object_get(b, "advance_s")) * 1000);
  json_decref(b);
  clock_cmd c = {.cmd = {.run = clock_run, .done = clock_done}};
  snprintf(c.offset, sizeof c.offset, "%lld", (long long)off);
  if (sf_writer_exec(&c.cmd)) {
    sf_req_reply_problem(req, &c.cmd.err);
    return;
  }
  sf_timers_wake();
  char now[32];
  sf_time_iso8601(sf_now_ms(), now, sizeof now);
  sf_req_reply_json(req, 200, json_pack("{s:I, s:s}", "offset_ms", (json_int_t)off, "now", now));
}

/* ---- the table of services, walked once per concern ---- */

/* A descriptor naming a role the edge does not know is a bug of the build:
 * it stops at the first start, before any request. */
static void register_permissions(void) {
  sf_edge_grants_clear();
  for (size_t i = 0; i < sf_services_count; i++)
    for (const sf_edge_grant *g = sf_services[i]->permissions; g && g->permission; g++) {
      sf_err err = {0};
      if (sf_edge_grant_add(g, &err)) {
        sf_log_error("bad service descriptor", "\"service\":\"%s\",\"detail\":\"%s\"", sf_services[i]->name,
                     err.detail);
        abort();
      }
    }
}

void sf_app_routes(void) {
  sf_router_reset();
  sf_ops_routes();
  sf_stream_routes();
  sf_stream_topics_clear();
  for (size_t i = 0; i < sf_services_count; i++) {
    if (sf_services[i]->routes) sf_services[i]->routes();
    sf_stream_topics_add(sf_services[i]->topics);
  }
  if (sf_clock_is_test()) {
    sf_writer_broadcast_register(HOOK_TEST_CLOCK, test_clock_hook, NULL);
    static const sf_route test_clock = {"POST",
                                        "/api/v1/_test/clock",
                                        h_test_clock,
                                        SF_AUTH_PERMISSION,
                                        "workflows:admin",
                                        0,
                                        "ops",
                                        "Test builds only: move the clock forward (SLA and timer tests)",
                                        "{\"type\":\"object\",\"required\":[\"advance_s\"],\"properties\":{"
                                        "\"advance_s\":{\"type\":\"integer\",\"minimum\":0}}}",
                                        NULL,
                                        200,
                                        0};
    sf_router_add(&test_clock);
  }
  register_permissions();
}

/* The event store's tables first, the edge's, then each service's in table
 * order (a service's steps may refer to the tables of those before it). */
int sf_app_migrate(sf_db *db, sf_err *err) {
  sf_db_migrations *sets = sf_calloc(sf_services_count + 2, sizeof *sets);
  size_t n = 0;
  sets[n++] = (sf_db_migrations){"events", sf_ev_migrations};
  sets[n++] = (sf_db_migrations){"edge", sf_edge_migrations};
  for (size_t i = 0; i < sf_services_count; i++)
    if (sf_services[i]->migrations) sets[n++] = (sf_db_migrations){sf_services[i]->name, sf_services[i]->migrations};
  int rc = sf_db_migrate(db, sets, n, err);
  free(sets);
  return rc;
}

/* Timer kinds and subscribers, registered before the timers and the
 * dispatcher start (the event counts first, then each service's). */
static void register_background_work(void) {
  sf_timer_clear_kinds();
  sf_dispatch_clear();
  sf_dispatch_register(&sf_event_stats_subscriber);
  sf_dispatch_register(&sf_stream_subscriber); /* the real-time hub's feed */
  for (size_t i = 0; i < sf_services_count; i++) {
    const sf_service *svc = sf_services[i];
    if (svc->timers) svc->timers();
    for (const sf_subscriber *const *sub = svc->subscribers; sub && *sub; sub++) sf_dispatch_register(*sub);
  }
  if (sf_relay_enabled()) sf_dispatch_register(&sf_relay_subscriber); /* nats_url set: wakes the relay */
}

static void configure_services(const sf_config *cfg) {
  sf_stream_configure(cfg);
  for (size_t i = 0; i < sf_services_count; i++)
    if (sf_services[i]->configure) sf_services[i]->configure(cfg);
}

/* ---- damage found at open: refuse rather than serve it ---- */

static int database_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && st.st_size > 0;
}

/* A missing database is created only when asked (init = 1: `migrate`,
 * `seed`, `serve --init`): a misspelled --data-dir must not come up as an
 * empty service that says it is ready. */
static int no_database(const sf_config *cfg, sf_err *err) {
  if (cfg->database_url[0]) /* the URL may hold a password: not repeated */
    sf_err_set(err, 400, "config", "No database", "the database of database_url has no schema (is it the right one?)");
  else
    sf_err_set(err, 400, "config", "No database", "no database in %s (is --data-dir right?)", cfg->data_dir);
  sf_err_field_add(err, "fix", "create it with `serviceflow migrate`, or start with --init");
  return -400;
}

static int damaged(const char *path, const char *what, sf_err *err) {
  char why[256];
  snprintf(why, sizeof why, "%.199s", what);
  sf_err_clear(err);
  sf_err_set(err, 500, "database-damaged", "Database damaged", "%s is damaged: %s", path, why);
  sf_err_field_add(err, "fix", "restore it from a backup (or salvage with `sqlite3 FILE .recover`)");
  return -500;
}

/* SQLite's quick_check within the budget: damage found at start stops the
 * start (a damaged b-tree returns wrong rows or fails writes later); a check
 * cut short by the budget is logged and the start goes on. */
static int check_integrity(sf_db *db, const char *path, int budget_ms, sf_err *err) {
  if (budget_ms <= 0) return 0;
  char report[200];
  uint64_t t0 = sf_mono_ns();
  int rc = sf_db_check(db, budget_ms, report, sizeof report, err);
  long long ms = (long long)((sf_mono_ns() - t0) / 1000000);
  if (rc == SF_DB_CHECK_DAMAGED) return damaged(path, report, err);
  if (rc == SF_DB_CHECK_INCOMPLETE)
    sf_log_warn("integrity check cut short", "\"budget_ms\":%d,\"hint\":\"raise integrity_budget_ms\"", budget_ms);
  else if (rc == SF_DB_CHECK_OK)
    sf_log(SF_LOG_DEBUG, "integrity checked", "\"ms\":%lld", ms);
  return rc < 0 ? rc : 0;
}

/* Does the database hold data made with key? Each owner answers for its
 * own tables: the edge for its stored Idempotency-Key answers (their
 * fingerprints and bodies are sealed), each service through its
 * descriptor. Asked only when the key file is missing, so a normal start
 * pays nothing. 1 yes, 0 no, <0 with err. */
static int holds_keyed(sf_db *db, sf_key_file key, sf_err *err) {
  int rc = key == SF_KEY_SEAL ? sf_edge_repo_idem_any(db, err) : 0;
  for (size_t i = 0; rc == 0 && i < sf_services_count; i++)
    if (sf_services[i]->holds_keyed) rc = sf_services[i]->holds_keyed(db, key, err);
  return rc;
}

static int missing(const char *dir, const char *name, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  return access(path, F_OK) != 0 && errno == ENOENT;
}

/* A key file that is gone while the database holds data made with it was
 * lost (or --data-dir points at the wrong place): making a new one would
 * silently lose the sealed values, sign everyone out or break every webhook
 * receiver's check. */
typedef struct {
  const char *file;
  sf_key_file key;
  const char *what, *fix, *or_else;
  int replaced; /* set in the configuration instead, or a new one asked for */
} key_need;

static int require_key_files(sf_db *db, const sf_config *cfg, sf_err *err) {
  const key_need needs[] = {
      {"seal.keys", SF_KEY_SEAL,
       "the database holds values sealed with it (TOTP secrets, card numbers,"
       " idempotency records)",
       "restore seal.keys from a backup: a new key cannot open them", NULL, 0},
      {"jwt.key", SF_KEY_JWT, "the database has users whose sessions are signed with it",
       "restore jwt.key from a backup, or set jwt_secret to the key in use",
       "start once with --new-jwt-key 1 to make a new key (signs every user out)",
       cfg->jwt_secret[0] || cfg->new_jwt_key},
      {"webhook.key", SF_KEY_WEBHOOK, "webhooks were sent signed with it (their receivers check that secret)",
       "restore webhook.key from a backup, or set webhook_secret to the secret in use",
       "start once with --new-webhook-key 1 (then give receivers the new webhook.key)",
       cfg->webhook_secret[0] || cfg->new_webhook_key},
  };
  for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
    const key_need *k = &needs[i];
    char path[600];
    int rc;
    if (k->replaced || !missing(cfg->data_dir, k->file, path, sizeof path) || !(rc = holds_keyed(db, k->key, err)))
      continue;
    if (rc < 0) return rc;
    sf_err_set(err, 400, "config", "Key file missing", "%s is missing but %s", path, k->what);
    sf_err_field_add(err, "fix", "%s", k->fix);
    if (k->or_else) sf_err_field_add(err, "or", "%s", k->or_else);
    return -400;
  }
  return 0;
}

/* The event log must reach its anchor (events/anchor.h). Only the server
 * moves the anchor (anchor_head): a CLI command beside a running server
 * would see that server's commits before they are durable. */
static int check_anchor(sf_db *db, const sf_config *cfg, sf_err *err) {
  sf_ev_anchor_path(cfg->data_dir, app.anchor_path, sizeof app.anchor_path);
  int64_t anchored;
  if (sf_ev_anchor_check(db, app.anchor_path, &anchored, err)) {
    sf_err_field_add(err, "fix", "run `serviceflow verify`; restore the database from a backup");
    sf_err_field_add(err, "or", "if an older backup was restored on purpose, delete events.head");
    return -1;
  }
  return 0;
}

/* Opens the file, checks it and brings its schema up to date. */
static int prepare_database(const sf_config *cfg, const char *path, sf_err *err) {
  int server = strstr(path, "://") != NULL; /* a database server (database_url): no file */
  int fresh = !server && !database_exists(path);
  if (fresh && !cfg->init) return no_database(cfg, err);
  if (mkdir_p(cfg->data_dir, err)) return -1;
  sf_db *db = sf_db_open(path, SF_DB_WRITE, err);
  int rc = db ? 0 : -1;
  if (!rc && server && sf_db_schema_version(db) <= 0) { /* an empty database */
    fresh = 1;
    if (!cfg->init) rc = no_database(cfg, err);
  }
  if (!rc && !fresh) rc = check_integrity(db, path, cfg->integrity_budget_ms, err);
  if (!rc) rc = sf_app_migrate(db, err);
  if (!rc) rc = require_key_files(db, cfg, err);
  if (!rc) rc = check_anchor(db, cfg, err);
  sf_db_close(db);
  if (rc && sf_db_damaged() && strcmp(err->code, "database-damaged") != 0) /* met outside the check */
    return damaged(path, err->detail, err);
  return rc ? -1 : 0;
}

int sf_app_open(const sf_config *cfg, sf_err *err) {
  char path[600];
  sf_app_db_path(cfg, path, sizeof path);
  if (prepare_database(cfg, path, err)) return -1;
  sf_db_set_path(path);

  unsigned char key[256];
  size_t key_len = 0;
  if (load_jwt_key(cfg, key, sizeof key, &key_len, err)) return -1;
  char keys_path[600];
  snprintf(keys_path, sizeof keys_path, "%s/seal.keys", cfg->data_dir);
  app.ring = sf_keyring_new();
  if (sf_keyring_load_file(app.ring, keys_path, err)) goto fail;
  if (sf_edge_check_config(cfg, err)) goto fail;
  if (sf_pw_init(cfg->argon2_memlimit_kib, cfg->argon2_opslimit, cfg->hash_concurrency, err)) goto fail;
  if (strcmp(cfg->writer_sync, "pipelined") != 0 && strcmp(cfg->writer_sync, "full") != 0) {
    sf_err_set(err, 400, "config", "Bad configuration", "writer_sync: '%s' is not 'pipelined' or 'full'",
               cfg->writer_sync);
    sf_pw_shutdown();
    goto fail;
  }
  if (sf_relay_configure(cfg, err)) {
    sf_pw_shutdown();
    goto fail;
  }
  if (sf_writer_start(path, cfg->writer_max_batch,
                      strcmp(cfg->writer_sync, "full") == 0 ? SF_WRITER_SYNC_FULL : SF_WRITER_SYNC_PIPELINED, err)) {
    sf_pw_shutdown();
    goto fail;
  }
  sf_app_routes();
  configure_services(cfg);
  sf_edge_init(cfg, key, key_len, app.ring, err);
  register_background_work();
  app.open = 1;
  return 0;
fail:
  sf_keyring_free(app.ring);
  app.ring = NULL;
  return -1;
}

/* Anchors the durable head of the log (events/anchor.h); *position is it. */
static int anchor_head(int64_t *position) {
  static int failing; /* main thread only: warn once per failure spell */
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  if (db && sf_ev_anchor_update(db, app.anchor_path, position, &err) == 0) return failing = 0;
  if (!failing++) sf_log_warn("cannot anchor the event log", "\"detail\":\"%s\"", err.detail);
  return -1;
}

void sf_app_close(void) {
  if (!app.open) return;
  sf_pw_shutdown(); /* finishes queued hashes, which may submit commands */
  sf_writer_stop();
  if (app.serving) anchor_head(&app.anchored); /* the exact head: the writer committed all */
  app.serving = 0;
  sf_edge_shutdown();
  sf_ops_shutdown();
  sf_db_close_readers();
  sf_keyring_free(app.ring);
  app.ring = NULL;
  app.open = 0;
}

typedef struct {
  sf_cmd cmd;
} purge_cmd;

static int purge_run(sf_cmd *c, sf_tx *tx, sf_err *err) { return sf_idem_purge(tx, err); }
static void purge_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

/* Connections are sized from the descriptors the process may open: the soft
 * limit is raised to the hard one first (a 1024 soft limit used to stop
 * accepting at ~1000 connections, with new clients left hanging). */
static void size_connections(const sf_config *cfg) {
  long hard = -1, soft = sf_conns_raise_fd_limit(&hard);
  int cap = sf_conns_capacity(soft > 0 ? soft : 1024);
  /* unset: what the descriptors allow, up to 100,000 (each connection also
   * costs memory: MHD's buffer pool, the kernel's socket buffers) */
  int max = cfg->max_connections > 0 ? cfg->max_connections : cap < 100000 ? cap : 100000;
  if (max > cap) max = cap;
  if (cfg->max_connections > cap)
    sf_log_warn("max_connections lowered to fit the fd limit", "\"asked\":%d,\"max_connections\":%d",
                cfg->max_connections, max);
  /* unset: one address may take half of the server, so a single client
   * cannot fill it, while a load test from one machine still gets far;
   * behind a proxy (every client shares its address) set it to max_connections */
  int per_ip = cfg->max_connections_per_ip > 0 ? cfg->max_connections_per_ip : max / 2 > 16 ? max / 2 : 16;
  sf_http_conn_opts o = {max, per_ip, cfg->header_timeout_s, cfg->body_timeout_s, cfg->idle_timeout_s};
  sf_http_set_connections(&o);
  sf_log_info("connection limits",
              "\"fd_limit\":%ld,\"fd_limit_hard\":%ld,\"max_connections\":%d,\"max_connections_per_ip\":%d,"
              "\"header_timeout_s\":%d,\"body_timeout_s\":%d,\"idle_timeout_s\":%d",
              soft, hard, max, o.max_per_ip, o.header_timeout_s, o.body_timeout_s, o.idle_timeout_s);
}

/* The main thread's periodic work while serving, off the request and
 * writer paths: anchor the log's head (each second, when it moved), purge
 * old idempotency records (every 5 minutes), re-check the file's integrity
 * (every integrity_interval_s; the result is what /readyz reports). */
typedef struct {
  uint64_t last_purge_ns, last_check_ns;
} chores;

static void recheck_integrity(const sf_config *cfg) {
  sf_err err = {0};
  char report[200];
  sf_db *db = sf_db_reader(&err);
  int rc = db ? sf_db_check(db, cfg->integrity_budget_ms, report, sizeof report, &err) : -1;
  if (rc == SF_DB_CHECK_DAMAGED)
    sf_log_error("database damaged: /readyz reports it", "\"problems\":\"%s\"", report);
  else if (rc < 0)
    sf_log_warn("integrity check failed to run", "\"detail\":\"%s\"", err.detail);
}

static void do_chores(const sf_config *cfg, chores *ch) {
  uint64_t now = sf_mono_ns(), sec = 1000000000ull;
  if (!ch->last_purge_ns) ch->last_purge_ns = ch->last_check_ns = now;
  anchor_head(&app.anchored);
  if (now - ch->last_purge_ns >= 300 * sec) {
    ch->last_purge_ns = now;
    purge_cmd p = {.cmd = {.run = purge_run, .done = purge_done}};
    sf_writer_exec(&p.cmd);
  }
  if (cfg->integrity_interval_s > 0 && cfg->integrity_budget_ms > 0 &&
      now - ch->last_check_ns >= (uint64_t)cfg->integrity_interval_s * sec) {
    ch->last_check_ns = now;
    recheck_integrity(cfg);
  }
}

/* ---- the running server: its parts start in order and stop in reverse ---- */

typedef struct {
  const char *name;
  int (*start)(const sf_config *cfg, sf_err *err); /* NULL: nothing to start */
  void (*stop)(void);                              /* NULL: nothing to stop */
} server_part;

/* The webhook signing secret, resolved into the server's configuration once
 * the data directory is known to be right (after storage opened). */
static int secrets_start(const sf_config *cfg, sf_err *err) {
  char secret[sizeof app.run.webhook_secret];
  int rc = load_webhook_secret(cfg, secret, sizeof secret, err); /* cfg is app.run: not in place */
  if (!rc) memcpy(app.run.webhook_secret, secret, sizeof secret);
  sodium_memzero(secret, sizeof secret);
  return rc;
}
static void secrets_stop(void) { sodium_memzero(app.run.webhook_secret, sizeof app.run.webhook_secret); }

static int metrics_start(const sf_config *cfg, sf_err *err) {
  sf_ops_freeze();
  sf_event_stats_metrics();
  return 0;
}

/* database_read_url: the read replica's prober (no-op when empty). */
static int replica_start(const sf_config *cfg, sf_err *err) {
  char path[600];
  sf_app_db_path(cfg, path, sizeof path);
  return sf_replica_start(path, cfg->database_read_url, cfg->database_read_max_lag_ms, err);
}

static int dispatcher_start(const sf_config *cfg, sf_err *err) { return sf_dispatch_start(err); }
static int timers_start(const sf_config *cfg, sf_err *err) { return sf_timers_start(err); }
static int relay_lease(void *ud) { return (void)ud, sf_lease_held(); }
static int relay_start(const sf_config *cfg, sf_err *err) {
  sf_relay_set_lease(relay_lease, NULL); /* one relay among the instances: the lease holder's */
  return sf_relay_start(err);
}
/* Only where several processes can share the database (PostgreSQL); the
 * instance's name is its host and port: unique among the instances, the
 * same after a restart (it takes its row back at once). */
static int lease_start(const sf_config *cfg, sf_err *err) {
  char location[1024], host[256] = "host", instance[300];
  sf_app_db_path(cfg, location, sizeof location);
  if (!sf_db_shared(location)) return 0;
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  snprintf(instance, sizeof instance, "%s:%d", host, cfg->port);
  return sf_lease_start(cfg->lease_ttl_ms, cfg->port ? instance : NULL, err); /* port 0: any, so not a name */
}
static int cluster_start(const sf_config *cfg, sf_err *err) {
  char location[1024];
  sf_app_db_path(cfg, location, sizeof location);
  return sf_cluster_start(location, err);
}
static int stream_start(const sf_config *cfg, sf_err *err) { return sf_stream_start(err); }

static int http_start(const sf_config *cfg, sf_err *err) {
  sf_http_set_access_log(cfg->access_log);
  sf_http_set_reply_gate(sf_req_durable_gate);
  if (sf_http_trust_proxies(cfg->trusted_proxies, err)) return -1;
  sf_web_init(cfg->web_root);
  app.http = sf_http_start(cfg->bind, cfg->port, cfg->threads, cfg->body_limit, sf_edge_dispatch, err);
  if (!app.http) return -1;
  sf_log_info("listening", "\"bind\":\"%s\",\"port\":%d,\"data_dir\":\"%s\",\"pid\":%d", cfg->bind,
              sf_http_port(app.http), cfg->data_dir, (int)getpid());
  return 0;
}

/* Stop taking requests and let in-flight ones finish (their commands still
 * reach the writer). */
static void http_stop(void) {
  sf_writer_stop_retrying(); /* a full disk must not hold up stopping */
  sf_http_stop(app.http, app.run.shutdown_timeout_s * 1000);
  app.http = NULL;
}

static size_t add_services(server_part *parts, size_t n, sf_service_phase phase) {
  for (size_t i = 0; i < sf_services_count; i++)
    if (sf_services[i]->phase == phase)
      parts[n++] = (server_part){sf_services[i]->name, sf_services[i]->start, sf_services[i]->stop};
  return n;
}

#define PROCESS_PARTS 12 /* besides the services: storage ... http, stream */

/* The order (services/service.h): stopping in reverse drains HTTP, the
 * services that make commands, hashing (queued hashes submit commands), the
 * timers, the dispatcher, webhook delivery (after the dispatcher: no more
 * rows; before the writer: outcomes commit), then the writer, which commits
 * whatever is queued, and last the caches its commit hooks touch. */
static size_t plan_parts(server_part *parts) {
  size_t n = add_services(parts, 0, SF_SERVICE_MEMORY);
  parts[n++] = (server_part){"storage", sf_app_open, sf_app_close};
  parts[n++] = (server_part){"secrets", secrets_start, secrets_stop};
  parts[n++] = (server_part){"metrics", metrics_start, NULL};
  /* stopped after HTTP: no request reads the replica any more */
  parts[n++] = (server_part){"read-replica", replica_start, sf_replica_stop};
  n = add_services(parts, n, SF_SERVICE_OUTBOUND);
  /* which instance sharing the database runs the background work below */
  parts[n++] = (server_part){"lease", lease_start, sf_lease_stop};
  parts[n++] = (server_part){"dispatcher", dispatcher_start, sf_dispatch_stop};
  /* after the dispatcher (it hands it the others' commits), stopped before it */
  parts[n++] = (server_part){"cluster", cluster_start, sf_cluster_stop};
  /* after the dispatcher (it wakes the relay), stopped before it; no-op without nats_url */
  parts[n++] = (server_part){"relay", relay_start, sf_relay_stop};
  parts[n++] = (server_part){"timers", timers_start, sf_timers_stop};
  /* started with storage (CLI commands hash too); drained here */
  parts[n++] = (server_part){"hashing", NULL, sf_pw_shutdown};
  n = add_services(parts, n, SF_SERVICE_ACTIVE);
  parts[n++] = (server_part){"http", http_start, http_stop};
  /* after HTTP, so it stops first: every stream ends (a parked SSE answer
   * would hold sf_http_stop) before the server stops */
  parts[n++] = (server_part){"stream", stream_start, sf_stream_stop};
  return n;
}

static void stop_parts(const server_part *parts, size_t started) {
  while (started-- > 0)
    if (parts[started].stop) parts[started].stop();
}

/* Starts every part in order; on a failure stops the started ones. */
static int start_parts(const server_part *parts, size_t n, sf_err *err) {
  for (size_t i = 0; i < n; i++)
    if (parts[i].start && parts[i].start(&app.run, err)) {
      sf_log(SF_LOG_DEBUG, "start failed", "\"part\":\"%s\"", parts[i].name);
      stop_parts(parts, i);
      return -1;
    }
  return 0;
}

/* SIGTERM behind a load balancer: /readyz fails from now on, so the balancer
 * stops sending new requests, while this process still serves for drain_s
 * seconds (the balancer's probe interval times its failure count, plus the
 * longest request) and closes each connection after its reply, so pooled
 * connections move to the other instances. A second SIGTERM or a SIGINT
 * ends the wait. */
static void drain(const sigset_t *set, const sf_config *cfg, chores *ch) {
  sf_http_drain(app.http);
  sf_ops_set_draining();
  sf_log_info("draining", "\"seconds\":%d", cfg->drain_s);
  int64_t until = (int64_t)(sf_mono_ns() / 1000000) + (int64_t)cfg->drain_s * 1000;
  for (int64_t left; (left = until - (int64_t)(sf_mono_ns() / 1000000)) > 0;) {
    struct timespec tick = {.tv_sec = left >= 1000 ? 1 : 0, .tv_nsec = left >= 1000 ? 0 : left * 1000000};
    int sig = sigtimedwait(set, NULL, &tick);
    if (sig == SIGTERM || sig == SIGINT) return;
    do_chores(cfg, ch);
  }
}

/* Until SIGTERM or SIGINT: the chores, once a second. */
static void serve_until_signal(const sigset_t *set, const sf_config *cfg) {
  chores ch = {0};
  for (;;) {
    struct timespec tick = {.tv_sec = 1};
    int sig = sigtimedwait(set, NULL, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      if (sig == SIGTERM && cfg->drain_s > 0) drain(set, cfg, &ch);
      sf_log_info("shutting down", "\"signal\":%d,\"in_flight\":%ld", sig, sf_http_in_flight(app.http));
      return;
    }
    do_chores(cfg, &ch);
  }
}

int sf_app_serve(const sf_config *cfg, sf_err *err) {
  /* Signals are taken synchronously by this thread; every other thread
   * inherits the blocked mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  size_connections(cfg);
  app.run = *cfg;
  server_part *parts = sf_calloc(sf_services_count + PROCESS_PARTS, sizeof *parts);
  size_t n = plan_parts(parts);
  int rc = start_parts(parts, n, err);
  secrets_stop(); /* the webhook engine keeps its own copy */
  if (rc) {
    free(parts);
    return -1;
  }

  app.serving = 1;
  anchor_head(&app.anchored);
  sf_log_info("events anchored", "\"position\":%lld,\"file\":\"%s\"", (long long)app.anchored, app.anchor_path);
  serve_until_signal(&set, cfg);
  stop_parts(parts, n);
  free(parts);
  sf_log_info("events anchored", "\"position\":%lld,\"file\":\"%s\"", (long long)app.anchored, app.anchor_path);
  sf_log_info("stopped", NULL);
  return 0;
}
