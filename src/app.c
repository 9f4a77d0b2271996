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
#include "core/http.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"
#include "edge/command.h"
#include "edge/edge.h"
#include "edge/idempotency.h"
#include "edge/input.h"
#include "edge/ops.h"
#include "events/dispatch.h"
#include "events/stats.h"
#include "events/timers.h"
#include "services/carts/carts.h"
#include "services/catalog/catalog.h"
#include "services/identity/identity.h"
#include "services/inventory/inventory.h"
#include "services/orders/orders.h"
#include "services/requests/requests.h"
#include "services/requests/webhooks.h"
#include "services/workflows/workflows.h"
#include "services/identity/password.h"
#include "store/db.h"
#include "store/writer.h"

static struct {
  sf_keyring *ring;
  int open;
} A;

void sf_app_db_path(const sf_config *cfg, char *out, size_t cap) {
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

static void h_test_clock(sf_req *req) {
  json_t *b = sf_in_body(req, k_clock);
  if (!b) return;
  int64_t off = sf_clock_advance_ms(json_integer_value(json_object_get(b, "advance_s")) * 1000);
  json_decref(b);
  sf_timers_wake();
  char now[32];
  sf_time_iso8601(sf_now_ms(), now, sizeof now);
  sf_req_reply_json(req, 200, json_pack("{s:I, s:s}", "offset_ms", (json_int_t)off, "now", now));
}

void sf_app_routes(void) {
  sf_router_reset();
  sf_ops_routes();
  sf_identity_routes();
  sf_catalog_routes();
  sf_inventory_routes();
  sf_carts_routes();
  sf_orders_routes();
  sf_workflows_routes();
  sf_requests_routes();
  sf_webhooks_routes();
  if (sf_clock_is_test()) {
    static const sf_route test_clock = {"POST", "/api/v1/_test/clock", h_test_clock, SF_AUTH_PERMISSION,
                                        "workflows:admin", 0, "ops",
                                        "Test builds only: move the clock forward (SLA and timer tests)",
                                        "{\"type\":\"object\",\"required\":[\"advance_s\"],\"properties\":{"
                                        "\"advance_s\":{\"type\":\"integer\",\"minimum\":0}}}",
                                        NULL, 200, 0};
    sf_router_add(&test_clock);
  }
}

int sf_app_open(const sf_config *cfg, sf_err *err) {
  if (mkdir_p(cfg->data_dir, err)) return -1;
  sf_requests_forget_definitions();
  char path[600];
  sf_app_db_path(cfg, path, sizeof path);
  sf_db *db = sf_db_open(path, SF_DB_WRITE, err);
  if (!db) return -1;
  int rc = sf_db_migrate(db, err);
  sf_db_close(db);
  if (rc) return -1;
  sf_db_set_path(path);

  unsigned char key[256];
  size_t key_len = 0;
  if (load_jwt_key(cfg, key, sizeof key, &key_len, err)) return -1;
  char keys_path[600];
  snprintf(keys_path, sizeof keys_path, "%s/seal.keys", cfg->data_dir);
  A.ring = sf_keyring_new();
  if (sf_keyring_load_file(A.ring, keys_path, err)) goto fail;
  if (sf_pw_init(cfg->argon2_memlimit_kib, cfg->argon2_opslimit, cfg->hash_concurrency, err)) goto fail;
  if (strcmp(cfg->writer_sync, "pipelined") != 0 && strcmp(cfg->writer_sync, "full") != 0) {
    sf_err_set(err, 400, "config", "Bad configuration", "writer_sync: '%s' is not 'pipelined' or 'full'",
               cfg->writer_sync);
    sf_pw_shutdown();
    goto fail;
  }
  if (sf_writer_start(path, cfg->writer_max_batch,
                      strcmp(cfg->writer_sync, "full") == 0 ? SF_WRITER_SYNC_FULL : SF_WRITER_SYNC_PIPELINED, err)) {
    sf_pw_shutdown();
    goto fail;
  }
  sf_app_routes();
  sf_identity_configure(cfg);
  sf_timer_clear_kinds();
  sf_inventory_timers();
  sf_orders_timers();
  sf_requests_timers();
  sf_edge_init(cfg, key, key_len, A.ring, err);
  sf_dispatch_clear();
  sf_dispatch_register(&sf_event_stats_subscriber);
  sf_dispatch_register(&sf_sales_daily_subscriber);
  sf_dispatch_register(&sf_webhooks_subscriber);
  A.open = 1;
  return 0;
fail:
  sf_keyring_free(A.ring);
  A.ring = NULL;
  return -1;
}

void sf_app_close(void) {
  if (!A.open) return;
  sf_pw_shutdown(); /* finishes queued hashes, which may submit commands */
  sf_writer_stop();
  sf_edge_shutdown();
  sf_ops_shutdown();
  sf_db_close_readers();
  sf_keyring_free(A.ring);
  A.ring = NULL;
  A.open = 0;
}

typedef struct {
  sf_cmd cmd;
} purge_cmd;

static int purge_run(sf_cmd *c, sf_tx *tx, sf_err *err) { return sf_idem_purge(tx, err); }
static void purge_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

int sf_app_serve(const sf_config *cfg, sf_err *err) {
  /* Signals are taken synchronously by this thread; every other thread
   * inherits the blocked mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (sf_app_open(cfg, err)) return -1;
  sf_ops_freeze();
  sf_event_stats_metrics();
  sf_identity_start();
  sf_catalog_start();
  sf_carts_start();
  if (sf_dispatch_start(err)) {
    sf_app_close();
    return -1;
  }
  if (sf_timers_start(err)) {
    sf_dispatch_stop();
    sf_app_close();
    return -1;
  }
  char webhook_secret[256];
  if (load_webhook_secret(cfg, webhook_secret, sizeof webhook_secret, err) ||
      sf_webhooks_start(cfg, webhook_secret, err)) {
    sodium_memzero(webhook_secret, sizeof webhook_secret);
    sf_timers_stop();
    sf_dispatch_stop();
    sf_app_close();
    return -1;
  }
  sodium_memzero(webhook_secret, sizeof webhook_secret);
  if (sf_orders_start(cfg, err)) {
    sf_webhooks_stop();
    sf_timers_stop();
    sf_dispatch_stop();
    sf_app_close();
    return -1;
  }
  sf_http_set_access_log(cfg->access_log);
  sf_http_set_reply_gate(sf_req_durable_gate);
  sf_http_server *http =
      sf_http_start(cfg->bind, cfg->port, cfg->threads, cfg->body_limit, sf_edge_dispatch, err);
  if (!http) {
    sf_orders_stop();
    sf_webhooks_stop();
    sf_timers_stop();
    sf_dispatch_stop();
    sf_app_close();
    return -1;
  }
  sf_log_info("listening", "\"bind\":\"%s\",\"port\":%d,\"data_dir\":\"%s\",\"pid\":%d", cfg->bind,
              sf_http_port(http), cfg->data_dir, (int)getpid());

  for (;;) {
    struct timespec every = {.tv_sec = 300};
    int sig = sigtimedwait(&set, NULL, &every);
    if (sig == SIGTERM || sig == SIGINT) {
      sf_log_info("shutting down", "\"signal\":%d,\"in_flight\":%ld", sig, sf_http_in_flight(http));
      break;
    }
    purge_cmd p = {.cmd = {.run = purge_run, .done = purge_done}};
    sf_writer_exec(&p.cmd);
  }
  /* Order matters: stop taking requests and let in-flight ones finish (their
   * commands still reach the writer), then drain hashing, the dispatcher,
   * webhook delivery and finally the writer, which commits whatever is
   * queued. */
  sf_writer_stop_retrying(); /* a full disk must not hold up stopping */
  sf_http_stop(http, cfg->shutdown_timeout_s * 1000);
  sf_orders_stop();
  sf_pw_shutdown();
  sf_timers_stop();
  sf_dispatch_stop();
  sf_webhooks_stop(); /* after the dispatcher: no more rows; before the writer: outcomes commit */
  sf_app_close();
  sf_identity_stop();
  sf_catalog_stop();
  sf_log_info("stopped", NULL);
  return 0;
}
