#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sf_config sf_cfg;

typedef enum { T_STR, T_INT, T_I64 } opt_type;
typedef struct {
  const char *key;
  opt_type type;
  size_t off;
  size_t size;
  int64_t min, max;
} opt;

#define S(k)                                                                                                           \
  { #k, T_STR, offsetof(sf_config, k), sizeof(((sf_config *)0)->k), 0, 0 }
#define I(k, lo, hi)                                                                                                   \
  { #k, T_INT, offsetof(sf_config, k), sizeof(int), lo, hi }
#define L(k, lo, hi)                                                                                                   \
  { #k, T_I64, offsetof(sf_config, k), sizeof(int64_t), lo, hi }

static const opt k_opts[] = {
    S(bind),
    I(port, 0, 65535),
    S(data_dir),
    S(database_url),
    S(database_read_url),
    I(database_read_max_lag_ms, 100, 3600000),
    S(config_file),
    I(threads, 0, 256),
    S(log_level),
    I(access_log, 0, 1),
    S(jwt_secret),
    S(jwt_issuer),
    S(jwt_audience),
    I(access_ttl_s, 10, 86400),
    I(refresh_ttl_s, 60, 31536000),
    L(body_limit, 1024, 1 << 30),
    I(max_connections, 0, 1000000),
    I(max_connections_per_ip, 0, 1000000),
    I(header_timeout_s, 1, 3600),
    I(body_timeout_s, 1, 3600),
    I(idle_timeout_s, 1, 86400),
    I(rate_ip_rps, 0, 10000000),
    I(rate_ip_burst, 0, 10000000),
    I(rate_user_rps, 0, 10000000),
    I(rate_user_burst, 0, 10000000),
    I(rate_login_per_min, 0, 1000000),
    I(rate_login_burst, 0, 1000000),
    S(cors_origins),
    S(redis_url),
    S(redis_prefix),
    I(redis_timeout_ms, 1, 60000),
    S(redis_fail),
    I(argon2_memlimit_kib, 8192, 4194304),
    I(argon2_opslimit, 1, 20),
    I(hash_concurrency, 1, 64),
    I(lockout_threshold, 1, 1000),
    I(lockout_base_s, 1, 86400),
    S(email_verification),
    I(email_verify_ttl_s, 60, 31536000),
    I(password_reset_ttl_s, 60, 86400),
    I(account_mails_per_hour, 0, 1000000),
    I(writer_max_batch, 1, 100000),
    S(writer_sync),
    I(shutdown_timeout_s, 1, 600),
    I(drain_s, 0, 3600),
    I(lease_ttl_ms, 300, 600000),
    I(idempotency_ttl_s, 60, 31536000),
    S(payment_provider),
    S(payment_sandbox_path),
    S(payment_url),
    I(payment_timeout_ms, 50, 120000),
    I(payment_retries, 0, 10),
    I(payment_backoff_ms, 1, 60000),
    I(breaker_threshold, 1, 1000),
    I(breaker_cooldown_ms, 100, 3600000),
    S(webhook_secret),
    I(webhook_timeout_ms, 100, 120000),
    I(webhook_max_attempts, 1, 100),
    I(webhook_backoff_ms, 1, 3600000),
    I(webhook_concurrency, 1, 256),
    S(smtp_url),
    S(smtp_user),
    S(smtp_password),
    S(smtp_from),
    S(smtp_tls),
    S(smtp_ca_file),
    I(smtp_timeout_ms, 100, 600000),
    I(mail_max_attempts, 1, 100),
    I(mail_backoff_ms, 1, 3600000),
    I(mail_concurrency, 1, 256),
    S(app_url),
    S(app_name),
    I(stream_heartbeat_s, 1, 3600),
    I(stream_idle_timeout_s, 2, 86400),
    I(stream_queue_max, 4, 1000000),
    I(stream_max_per_user, 1, 100000),
    I(stream_max_topics, 1, 4096),
    I(stream_resume_max, 0, 100000000),
    I(stream_coalesce_ms, 0, 1000),
    I(stream_nice, 0, 19),
    S(webhook_allow),
    S(web_root),
    S(trusted_proxies),
    S(nats_url),
    S(nats_user),
    S(nats_password),
    S(nats_token),
    S(nats_stream),
    S(nats_subject_prefix),
    I(nats_duplicate_window_s, 1, 86400),
    I(nats_ack_timeout_ms, 100, 600000),
    I(nats_publish_window, 1, 256),
    I(init, 0, 1),
    I(new_jwt_key, 0, 1),
    I(new_webhook_key, 0, 1),
    I(integrity_budget_ms, 0, 3600000),
    I(integrity_interval_s, 0, 31536000),
    I(low_stock_threshold, 0, 1000000000),
};

void sf_config_defaults(sf_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->bind, sizeof c->bind, "0.0.0.0");
  c->port = 8080;
  snprintf(c->data_dir, sizeof c->data_dir, "./data");
  snprintf(c->log_level, sizeof c->log_level, "info");
  snprintf(c->jwt_issuer, sizeof c->jwt_issuer, "serviceflow");
  snprintf(c->jwt_audience, sizeof c->jwt_audience, "serviceflow-api");
  c->access_ttl_s = 900;
  c->refresh_ttl_s = 30 * 86400;
  c->body_limit = 1 << 20;
  c->max_connections = 0;
  c->max_connections_per_ip = 0; /* half of max_connections (app.c) */
  c->header_timeout_s = 10;
  c->body_timeout_s = 30;
  c->idle_timeout_s = 120;
  c->rate_ip_rps = 0;
  c->rate_ip_burst = 0;
  c->rate_user_rps = 0;
  c->rate_user_burst = 0;
  c->rate_login_per_min = 20;
  c->rate_login_burst = 10;
  snprintf(c->redis_prefix, sizeof c->redis_prefix, "sf:");
  c->redis_timeout_ms = 50;
  c->database_read_max_lag_ms = 2000;
  c->lease_ttl_ms = 10000;
  snprintf(c->redis_fail, sizeof c->redis_fail, "open");
  c->argon2_memlimit_kib = 65536;
  c->argon2_opslimit = 2;
  c->hash_concurrency = 2;
  c->lockout_threshold = 5;
  c->lockout_base_s = 30;
  snprintf(c->email_verification, sizeof c->email_verification, "optional");
  c->email_verify_ttl_s = 86400;
  c->password_reset_ttl_s = 1800;
  c->account_mails_per_hour = 5;
  c->writer_max_batch = 1024;
  snprintf(c->writer_sync, sizeof c->writer_sync, "full");
  snprintf(c->nats_stream, sizeof c->nats_stream, "SERVICEFLOW");
  snprintf(c->nats_subject_prefix, sizeof c->nats_subject_prefix, "sf");
  c->nats_duplicate_window_s = 120;
  c->nats_ack_timeout_ms = 5000;
  c->nats_publish_window = 64;
  c->shutdown_timeout_s = 10;
  snprintf(c->payment_provider, sizeof c->payment_provider, "sandbox");
  c->payment_timeout_ms = 2000;
  c->payment_retries = 2;
  c->payment_backoff_ms = 100;
  c->breaker_threshold = 5;
  c->breaker_cooldown_ms = 5000;
  c->idempotency_ttl_s = 86400;
  c->webhook_timeout_ms = 5000;
  c->webhook_max_attempts = 8;
  c->webhook_backoff_ms = 1000;
  c->webhook_concurrency = 16;
  snprintf(c->smtp_tls, sizeof c->smtp_tls, "starttls");
  c->smtp_timeout_ms = 30000;
  c->mail_max_attempts = 8;
  c->mail_backoff_ms = 5000;
  c->mail_concurrency = 4;
  snprintf(c->app_name, sizeof c->app_name, "Service Flow");
  c->stream_heartbeat_s = 15;
  c->stream_idle_timeout_s = 60;
  c->stream_queue_max = 1024;
  c->stream_max_per_user = 16;
  c->stream_max_topics = 64;
  c->stream_resume_max = 10000;
  c->stream_coalesce_ms = 25;
  c->stream_nice = 19;
  c->integrity_budget_ms = 5000;
  c->integrity_interval_s = 3600;
  c->low_stock_threshold = 5;
}

static const opt *find(const char *key) {
  char k[64];
  size_t n = strlen(key);
  if (n >= sizeof k) return NULL;
  for (size_t i = 0; i <= n; i++) k[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
  for (size_t i = 0; i < sizeof k_opts / sizeof k_opts[0]; i++)
    if (strcmp(k_opts[i].key, k) == 0) return &k_opts[i];
  return NULL;
}

int sf_config_set(sf_config *c, const char *key, const char *value, sf_err *err) {
  const opt *o = find(key);
  if (!o) return sf_err_set(err, 400, "config", "Bad configuration", "unknown setting '%s'", key);
  char *base = (char *)c + o->off;
  if (o->type == T_STR) {
    if (strlen(value) >= o->size)
      return sf_err_set(err, 400, "config", "Bad configuration", "%s: value too long", o->key);
    memcpy(base, value, strlen(value) + 1);
    return 0;
  }
  errno = 0;
  char *end;
  long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end || v < o->min || v > o->max)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: '%s' is not an integer in [%lld, %lld]", o->key,
                      value, (long long)o->min, (long long)o->max);
  if (o->type == T_INT)
    *(int *)base = (int)v;
  else
    *(int64_t *)base = v;
  return 0;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

static int load_file(sf_config *c, const char *path, sf_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) return sf_err_set(err, 400, "config", "Bad configuration", "cannot open config file %s", path);
  char line[1024];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = sf_err_set(err, 400, "config", "Bad configuration", "%s:%d: expected key = value", path, lineno);
      break;
    }
    *eq = '\0';
    char *v = trim(eq + 1);
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
      v[vl - 1] = '\0';
      v++;
    }
    rc = sf_config_set(c, trim(s), v, err);
  }
  fclose(f);
  return rc;
}

/* Finds --config in argv, else SERVICEFLOW_CONFIG. */
static const char *config_path(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
    if (strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  }
  return getenv("SERVICEFLOW_CONFIG");
}

int sf_config_load(sf_config *c, int argc, char **argv, sf_err *err) {
  const char *file = config_path(argc, argv);
  if (file && *file) {
    snprintf(c->config_file, sizeof c->config_file, "%s", file);
    if (load_file(c, file, err)) return -1;
  }
  for (size_t i = 0; i < sizeof k_opts / sizeof k_opts[0]; i++) {
    char name[96] = "SERVICEFLOW_";
    for (size_t j = 0; k_opts[i].key[j]; j++)
      name[12 + j] = (char)toupper((unsigned char)k_opts[i].key[j]), name[13 + j] = '\0';
    const char *v = getenv(name);
    if (v && strcmp(k_opts[i].key, "config_file") != 0 && sf_config_set(c, k_opts[i].key, v, err)) return -1;
  }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0) continue;
    a += 2;
    char key[64];
    const char *val;
    const char *eq = strchr(a, '=');
    if (eq) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
      val = eq + 1;
    } else {
      snprintf(key, sizeof key, "%s", a);
      if (i + 1 >= argc) return sf_err_set(err, 400, "config", "Bad configuration", "--%s needs a value", key);
      val = argv[++i];
    }
    if (strcmp(key, "config") == 0) continue;
    if (sf_config_set(c, key, val, err)) return -1;
  }
  return 0;
}
