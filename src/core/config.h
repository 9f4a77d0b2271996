/* Process configuration: the one global. Sources in increasing precedence:
 * built-in defaults < config file (`key = value` lines) < environment
 * (SERVICEFLOW_<KEY>) < command-line flags (--key value / --key=value).
 * Keys use underscores in files and env, dashes or underscores in flags. */
#ifndef SF_CORE_CONFIG_H
#define SF_CORE_CONFIG_H

#include <stdint.h>

#include "core/err.h"

typedef struct sf_config {
  char bind[64];
  int port;
  char data_dir[512];
  /* The database (store/db.h location): empty = <data_dir>/serviceflow.db
   * (SQLite); postgres://... or postgresql://... = that PostgreSQL database
   * (libpq URI; the key files stay in data_dir) */
  char database_url[512];
  /* A PostgreSQL streaming standby of database_url for reads that may be
   * slightly stale (lists; store/replica.h); empty = every read on the primary */
  char database_read_url[512];
  int database_read_max_lag_ms; /* replica further behind: those reads go to the primary */
  char config_file[512];
  int threads; /* HTTP threads; 0 = cores - 1 (at least 1) */
  char log_level[16];
  int access_log; /* 1 = log every request */

  char jwt_secret[256]; /* empty = generated and kept in <data_dir>/jwt.secret */
  char jwt_issuer[128];
  char jwt_audience[128];
  int access_ttl_s;
  int refresh_ttl_s;

  int64_t body_limit;         /* bytes; larger bodies get 413 */
  int max_connections;        /* client connections in all; 0 = sized from the fd limit */
  int max_connections_per_ip; /* per client address; 0 = half of max_connections */
  int header_timeout_s;       /* a request head must arrive within this (total, not per byte) */
  int body_timeout_s;         /* ... and its body within this after the head */
  int idle_timeout_s;         /* keep-alive connection with no request begun */
  int rate_ip_rps;            /* token bucket per client IP; 0 disables */
  int rate_ip_burst;
  int rate_user_rps; /* per authenticated user; 0 disables */
  int rate_user_burst;
  int rate_login_per_min; /* per IP, on /auth/login and /auth/register */
  int rate_login_burst;
  char cors_origins[1024]; /* comma-separated; "*" = any; empty = CORS off */
  /* rate limits shared by the instances (edge/ratelimit_redis.h) */
  char redis_url[512];   /* redis://[[user]:password@]host[:port][/db]; empty = limits per instance */
  char redis_prefix[64]; /* before every key */
  int redis_timeout_ms;  /* connect and each command */
  char redis_fail[16];   /* Redis unavailable: "open" = per-instance limits, "closed" = 503 */

  int argon2_memlimit_kib;
  int argon2_opslimit;
  int hash_concurrency;  /* max concurrent argon2 computations */
  int lockout_threshold; /* failed logins before the account is locked */
  int lockout_base_s;    /* first lock period; doubles per further failure */

  char email_verification[16]; /* "off", "optional" (default) or "required" (no tokens until verified) */
  int email_verify_ttl_s;      /* life of an e-mail verification link */
  int password_reset_ttl_s;    /* life of a password reset link */
  int account_mails_per_hour;  /* reset and verification mails per address (or user) per hour; 0 = no limit */

  int writer_max_batch;
  char writer_sync[16]; /* "full" (default) or "pipelined" */
  int shutdown_timeout_s;
  int lease_ttl_ms; /* instances sharing a database: the background lease's time to live (events/lease.h) */
  int drain_s;      /* on SIGTERM: seconds of serving with /readyz failing before the stop (0: stop at once) */
  int idempotency_ttl_s;

  int init;                 /* 1 = create the database when the data directory has none */
  int new_jwt_key;          /* 1 = create a new jwt.key although users exist (signs everyone out) */
  int new_webhook_key;      /* 1 = create a new webhook.key although webhooks were sent with the old one */
  int integrity_budget_ms;  /* time for the integrity check at start; 0 = skip it */
  int integrity_interval_s; /* re-check while serving (for /readyz); 0 = never */
  int low_stock_threshold;  /* staff are told once when a product's available stock falls below it; 0 = never */

  char payment_provider[16]; /* "sandbox" (built in) or "http" */
  /* the sandbox's ledger (a SQLite file); empty: data_dir/sandbox-payments.db. Instances on one
   * host share one sandbox by naming the same file */
  char payment_sandbox_path[512];
  char payment_url[512];   /* http provider: base URL of the payment API */
  int payment_timeout_ms;  /* http provider: per attempt, connect + response */
  int payment_retries;     /* http provider: extra attempts on a transient error */
  int payment_backoff_ms;  /* http provider: first retry delay; doubles, full jitter */
  int breaker_threshold;   /* consecutive failures that open the circuit */
  int breaker_cooldown_ms; /* open time before a half-open probe */

  char webhook_secret[256]; /* HMAC key of webhook signatures; empty = <data_dir>/webhook.key */
  int webhook_timeout_ms;   /* per delivery attempt, connect + answer */
  int webhook_max_attempts; /* attempts before a delivery is dead */
  int webhook_backoff_ms;   /* delay after the first failed attempt; doubles, capped at 1 h */
  int webhook_concurrency;  /* deliveries in flight at once */

  /* e-mail (services/mail) */
  char smtp_url[512];      /* smtp://host:25 or smtps://host:465; empty = dev mailbox (kept, never sent) */
  char smtp_user[256];     /* AUTH user; empty = no AUTH */
  char smtp_password[256]; /* AUTH password */
  char smtp_from[320];     /* envelope and From: "Name <addr>" or addr; empty = noreply@<app_url host> */
  char smtp_tls[16];       /* none | starttls (try, the default) | required (STARTTLS or smtps, else fail) */
  char smtp_ca_file[512];  /* PEM CAs that verify the SMTP server's certificate; empty = the system's */
  int smtp_timeout_ms;     /* per SMTP attempt, connect + whole dialogue */
  int mail_max_attempts;   /* attempts before a message is dead */
  int mail_backoff_ms;     /* base of the full-jitter delay after a failed attempt; doubles, capped at 1 h */
  int mail_concurrency;    /* SMTP sessions in flight at once */
  char app_url[512];       /* base URL in links; empty = http://localhost:<port> */
  char app_name[128];      /* the product name in mail */
  /* real-time streams (edge/stream.h) */
  int stream_heartbeat_s;    /* WebSocket ping / SSE comment this often */
  int stream_idle_timeout_s; /* a WebSocket silent this long (no pong, no frame) is closed */
  int stream_queue_max;      /* messages queued per connection before it is cut as too slow */
  int stream_max_per_user;   /* open streams per user; more get 429 */
  int stream_max_topics;     /* topics per connection */
  int stream_resume_max;     /* a resume further behind than this many events gets a reset */
  int stream_coalesce_ms;    /* a WebSocket is written at most this often: messages meanwhile share a write */
  int stream_nice;          /* sf-stream runs this many nice levels below the process (SCHED_BATCH): the writer first */
  char webhook_allow[1024]; /* destinations allowed although private/loopback: hosts and CIDRs, comma-separated */
  char trusted_proxies[1024]; /* CIDRs/addresses whose X-Forwarded-For is believed (core/http.h); empty = none */
  char web_root[512];         /* the built web app (edge/web.h); empty = the `web` directory beside the executable */
  /* the NATS JetStream relay (events/relay.h); nats_url empty = no relay */
  char nats_url[1024];           /* nats://[user[:password]@|token@]host:port[,nats://...] */
  char nats_user[256];           /* when not in the URL */
  char nats_password[256];       /* when not in the URL */
  char nats_token[256];          /* when not in the URL */
  char nats_stream[128];         /* the JetStream stream (created when missing) */
  char nats_subject_prefix[128]; /* subjects are <prefix>.<stream type>.<event type> */
  int nats_duplicate_window_s;   /* the stream's dedupe window by Nats-Msg-Id (when the relay creates it) */
  int nats_publish_window;       /* publishes in flight at once (1: each waits for its ack) */
  int nats_ack_timeout_ms;       /* a publish not acknowledged by then is retried after a resync */
} sf_config;

extern sf_config sf_cfg;

void sf_config_defaults(sf_config *c);
/* Applies file (if set by flag/env), env, then flags. argv is not modified;
 * non-flag arguments are ignored. Unknown flags are errors. */
int sf_config_load(sf_config *c, int argc, char **argv, sf_err *err);
/* Sets one key from a string; used by all three sources. */
int sf_config_set(sf_config *c, const char *key, const char *value, sf_err *err);

#endif
