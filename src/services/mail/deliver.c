/* Delivery of queued messages over SMTP, through the attempts table that
 * webhooks use too (events/attempts.h): each pending row has a durable timer
 * (kind "mail"); its firing is one attempt. In the timer's transaction the
 * row is read (pending only), the message built and the timer moved on by
 * smtp_timeout_ms + 60 s, a lease; once that commits the message goes out
 * through the outbound engine (destination "mail": at most mail_concurrency
 * SMTP sessions at once, no circuit breaker, one attempt per firing). The
 * outcome is a writer command (retry_storage): 250 -> sent, timer
 * cancelled; a 5xx refusal -> dead at once; anything else -> pending again
 * after a full-jitter backoff, dead after mail_max_attempts. Delivery is at
 * least once with one Message-ID: an attempt cut short by a stop or crash
 * is made again after the restart (start re-arms every pending row), and
 * the receiving side recognises it by its Message-ID.
 *
 * With no smtp_url (the dev mailbox) a due row becomes kept instead. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "events/attempts.h"
#include "events/outbound.h"
#include "events/timers.h"
#include "services/mail/internal.h"
#include "services/mail/repo.h"

#define DEST "mail"
#define MAX_BACKOFF_MS 3600000

int64_t mail_backoff_ms(int base_ms, int failed_attempts, uint32_t rnd) {
  int64_t cap = base_ms > 0 ? base_ms : 1;
  for (int i = 1; i < failed_attempts && cap < MAX_BACKOFF_MS; i++) cap *= 2;
  if (cap > MAX_BACKOFF_MS) cap = MAX_BACKOFF_MS;
  return (int64_t)(rnd % (uint64_t)(cap + 1));
}

typedef enum { RES_STALE, RES_SENT, RES_RETRY, RES_DEAD } out_result;

/* One attempt of one row (events/attempts.h). */
typedef struct outgoing {
  sf_attempt at; /* first: the table hands it back */
  char kind[64];
  char rcpt[320];
  struct curl_slist *rcpt_list;
  char *msg; /* the whole message */
  size_t msg_len;
  int attempts; /* recorded before this attempt */
  int ok, permanent;
  char error[CURL_ERROR_SIZE + 64];
  out_result result;
} outgoing;

static const sf_attempts_ops k_ops;

static struct mail_delivery {
  sf_attempts attempts; /* the rows this process has in hand */
  char url[512], user[256], password[256], mail_from[330], ca_file[512];
  long use_ssl;
  int timeout_ms, max_attempts, backoff_ms, concurrency;
  _Atomic uint64_t sent, dead, attempts_ok, attempts_failed;
} delivery = {.attempts = SF_ATTEMPTS_INIT(&k_ops)};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static unsigned long long peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void clear(sf_attempt *a) {
  outgoing *o = (outgoing *)a;
  curl_slist_free_all(o->rcpt_list);
  free(o->msg);
  o->rcpt_list = NULL;
  o->msg = NULL;
}

/* ---- the timer: one attempt of a pending row ---- */

/* The row as the timer's transaction read it, built, to be sent once that
 * commits. Under the table's lock. */
static void fill(sf_attempt *a, void *ud) {
  outgoing *o = (outgoing *)a;
  sf_stmt *st = ud;
  sf_stmt_col_copy(st, 0, o->kind, sizeof o->kind);
  sf_stmt_col_copy(st, 1, o->rcpt, sizeof o->rcpt);
  o->attempts = (int)sf_stmt_col_int(st, 7);
  char from_addr[320], from_name[256];
  mail_sender(from_addr, sizeof from_addr, from_name, sizeof from_name);
  mail_msg m = {.kind = o->kind,
                .from_addr = from_addr,
                .from_name = from_name,
                .to_addr = o->rcpt,
                .to_name = sf_stmt_col_text(st, 2),
                .subject = sf_stmt_col_text(st, 3),
                .text = sf_stmt_col_text(st, 4),
                .html = sf_stmt_col_text(st, 5),
                .message_id = sf_stmt_col_text(st, 6),
                .date_ms = sf_stmt_col_int(st, 8)};
  o->msg = mail_msg_build(&m, &o->msg_len);
}

static int keep_due(sf_tx *tx, const char *id, sf_err *err) {
  if (mail_repo_keep(tx->db, id, tx->now_ms, err)) return -500;
  if (sf_db_changes(tx->db)) sf_tx_after_commit(tx, mail_kept_hook, NULL, id);
  return 0;
}

/* Writer thread, in the timer's savepoint. */
static int on_due(sf_tx *tx, const char *id, sf_err *err) {
  if (mail_dev_mailbox()) return keep_due(tx, id, err);
  sf_stmt *st = mail_repo_pending(tx->db, id, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  if (rc == 1) rc = sf_attempts_stage(&delivery.attempts, tx, MAIL_TIMER_KIND, id, fill, st, err);
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0; /* 0 also when it was sent or dead meanwhile */
}

void mail_timers(void) { sf_timer_register(MAIL_TIMER_KIND, on_due); }

int mail_resend(sf_tx *tx, const char *id, sf_err *err) {
  int rc = mail_repo_resend(tx->db, id, tx->now_ms, err);
  if (rc <= 0) return rc;
  rc = sf_timer_set(tx, MAIL_TIMER_KIND, id, tx->now_ms, err);
  return rc ? rc : 1;
}

/* ---- one attempt through the outbound engine ---- */

/* Engine thread, before the attempt: the SMTP envelope and session. */
static void setup(sf_out_req *r, CURL *easy, struct curl_slist **headers, int attempt) {
  (void)headers, (void)attempt;
  outgoing *o = (outgoing *)r;
  curl_easy_setopt(easy, CURLOPT_MAIL_FROM, delivery.mail_from);
  curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, o->rcpt_list);
  curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(easy, CURLOPT_USE_SSL, delivery.use_ssl);
  if (delivery.ca_file[0]) curl_easy_setopt(easy, CURLOPT_CAINFO, delivery.ca_file);
  if (delivery.user[0]) {
    curl_easy_setopt(easy, CURLOPT_USERNAME, delivery.user);
    curl_easy_setopt(easy, CURLOPT_PASSWORD, delivery.password);
  }
}

/* The server's answer is definite, whatever it was, when it finished the
 * dialogue or refused for good (5xx); the rest is worth another attempt. */
static sf_out_verdict judge(sf_out_req *r, const sf_out_attempt *a) {
  (void)r;
  return a->curl_code == 0 || (a->status >= 500 && a->status < 600) ? SF_OUT_DEFINITE : SF_OUT_TRANSIENT;
}

/* After the staging commit: the message as one SMTP session. */
static void prepare(sf_attempt *a) {
  outgoing *o = (outgoing *)a;
  char rcpt[340];
  snprintf(rcpt, sizeof rcpt, "<%s>", o->rcpt);
  curl_slist_free_all(o->rcpt_list);
  if (!(o->rcpt_list = curl_slist_append(NULL, rcpt))) sf_oom();
  a->req = (sf_out_req){.dest = DEST,
                        .url = delivery.url,
                        .protocols = "smtp,smtps",
                        .body = o->msg,
                        .body_len = o->msg_len,
                        .timeout_ms = delivery.timeout_ms,
                        .setup = setup,
                        .judge = judge};
}

/* Engine thread: what the server said. */
static void outcome(sf_attempt *a, sf_out_end end, const sf_out_attempt *at) {
  outgoing *o = (outgoing *)a;
  o->ok = end == SF_OUT_ANSWERED && at->curl_code == 0;
  /* a refusal for good, but not a failed login: that is the server's settings, fixed in time */
  o->permanent = !o->ok && at->status >= 500 && at->status < 600 && at->curl_code != CURLE_LOGIN_DENIED;
  char words[CURL_ERROR_SIZE];
  sf_attempts_clean_message(words, sizeof words, at->error && *at->error ? at->error : "refused");
  if (o->ok)
    o->error[0] = '\0';
  else if (at->timed_out)
    snprintf(o->error, sizeof o->error, "no answer within %d ms", delivery.timeout_ms);
  else if (at->status)
    snprintf(o->error, sizeof o->error, "SMTP %ld: %s", at->status, words);
  else
    snprintf(o->error, sizeof o->error, "%s", words);
}

/* ---- recording an outcome ---- */

/* Writer thread. */
static int record(sf_attempt *a, sf_tx *tx, sf_err *err) {
  outgoing *o = (outgoing *)a;
  int attempts = o->attempts + 1;
  o->result = o->ok ? RES_SENT : o->permanent || attempts >= delivery.max_attempts ? RES_DEAD : RES_RETRY;
  static const char *const k_status[] = {"", "sent", "pending", "dead"};
  uint32_t rnd;
  sf_random_bytes(&rnd, sizeof rnd);
  int64_t next_at =
      o->result == RES_RETRY ? tx->now_ms + mail_backoff_ms(delivery.backoff_ms, attempts, rnd) : tx->now_ms;
  int rc = mail_repo_record(tx->db, a->id, o->attempts, k_status[o->result], attempts, next_at, o->ok ? NULL : o->error,
                            tx->now_ms, err);
  if (rc < 0) return rc;
  if (rc == 0) {
    o->result = RES_STALE; /* recorded already (resent meanwhile, or another process) */
    return 0;
  }
  return o->result == RES_RETRY ? sf_timer_set(tx, MAIL_TIMER_KIND, a->id, next_at, err)
                                : sf_timer_cancel(tx, MAIL_TIMER_KIND, a->id, err);
}

/* Completion thread: count and log. */
static void recorded(sf_attempt *a, int rc, const sf_err *err) {
  outgoing *o = (outgoing *)a;
  if (rc == 0) {
    bump(o->ok ? &delivery.attempts_ok : &delivery.attempts_failed);
    if (o->result == RES_SENT) bump(&delivery.sent);
    if (o->result == RES_DEAD) {
      bump(&delivery.dead);
      sf_log_warn("mail dead", "\"id\":\"%s\",\"kind\":\"%s\",\"attempts\":%d,\"error\":\"%s\"", a->id, o->kind,
                  o->attempts + 1, o->error);
    }
  } else {
    sf_log_error("mail outcome not recorded", "\"id\":\"%s\",\"detail\":\"%s\"", a->id, err->detail);
  }
}

static const sf_attempts_ops k_ops = {.size = sizeof(outgoing),
                                      .clear = clear,
                                      .prepare = prepare,
                                      .outcome = outcome,
                                      .record = record,
                                      .recorded = recorded};

/* ---- start and stop ---- */

static void collect(sf_buf *b) {
  int in_flight = sf_attempts_in_flight(&delivery.attempts);
  sf_buf_printf(b,
                "# HELP sf_mail_messages_total E-mails by final outcome (kept = the dev mailbox, no SMTP server).\n"
                "# TYPE sf_mail_messages_total counter\n"
                "sf_mail_messages_total{outcome=\"sent\"} %llu\n"
                "sf_mail_messages_total{outcome=\"dead\"} %llu\n"
                "sf_mail_messages_total{outcome=\"kept\"} %llu\n"
                "# HELP sf_mail_attempts_total SMTP attempts with a recorded outcome (ok = accepted).\n"
                "# TYPE sf_mail_attempts_total counter\n"
                "sf_mail_attempts_total{result=\"ok\"} %llu\n"
                "sf_mail_attempts_total{result=\"failed\"} %llu\n"
                "# HELP sf_mail_in_flight SMTP sessions in flight.\n# TYPE sf_mail_in_flight gauge\n"
                "sf_mail_in_flight %d\n",
                peek(&delivery.sent), peek(&delivery.dead), (unsigned long long)mail_kept_count(),
                peek(&delivery.attempts_ok), peek(&delivery.attempts_failed), in_flight);
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static void metrics_init(void) { sf_metrics_add_collector(collect); }

/* Rows left pending by the last run get their timer again: due ones now. */
typedef struct {
  sf_cmd cmd;
  int armed;
} rearm_cmd;

static int rearm_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  rearm_cmd *a = (rearm_cmd *)c;
  int n = sf_attempts_rearm(tx, mail_repo_pending_all(tx->db, err), MAIL_TIMER_KIND, err);
  a->armed = n < 0 ? 0 : n;
  return n < 0 ? n : 0;
}

static void rearm_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static long use_ssl_of(const char *tls) {
  if (strcmp(tls, "none") == 0) return CURLUSESSL_NONE;
  if (strcmp(tls, "required") == 0) return CURLUSESSL_ALL;
  return CURLUSESSL_TRY;
}

static void read_settings(const sf_config *cfg) {
  char addr[320], name[256];
  mail_sender(addr, sizeof addr, name, sizeof name);
  snprintf(delivery.mail_from, sizeof delivery.mail_from, "<%s>", addr);
  snprintf(delivery.url, sizeof delivery.url, "%s", cfg->smtp_url);
  snprintf(delivery.user, sizeof delivery.user, "%s", cfg->smtp_user);
  snprintf(delivery.password, sizeof delivery.password, "%s", cfg->smtp_password);
  snprintf(delivery.ca_file, sizeof delivery.ca_file, "%s", cfg->smtp_ca_file);
  delivery.use_ssl = use_ssl_of(cfg->smtp_tls);
  delivery.timeout_ms = cfg->smtp_timeout_ms > 0 ? cfg->smtp_timeout_ms : 30000;
  delivery.max_attempts = cfg->mail_max_attempts > 0 ? cfg->mail_max_attempts : 1;
  delivery.backoff_ms = cfg->mail_backoff_ms > 0 ? cfg->mail_backoff_ms : 1;
  delivery.concurrency = cfg->mail_concurrency > 0 ? cfg->mail_concurrency : 1;
}

int mail_start(const sf_config *cfg, sf_err *err) {
  if (sf_attempts_running(&delivery.attempts)) return sf_err_internal(err, "mail delivery is already running");
  if (strcmp(cfg->smtp_tls, "none") && strcmp(cfg->smtp_tls, "starttls") && strcmp(cfg->smtp_tls, "required"))
    return sf_err_set(err, 400, "config", "Bad configuration", "smtp_tls must be none, starttls or required");
  if (cfg->smtp_url[0] && strncmp(cfg->smtp_url, "smtp://", 7) && strncmp(cfg->smtp_url, "smtps://", 8))
    return sf_err_set(err, 400, "config", "Bad configuration", "smtp_url must start with smtp:// or smtps://");
  if (sf_out_start(err)) return -1;
  pthread_once(&metrics_once, metrics_init);
  read_settings(cfg);
  sf_out_dest_set(DEST, &(sf_out_dest_cfg){.max_in_flight = delivery.concurrency});
  mail_tpl_reload(NULL, NULL);
  sf_attempts_start(&delivery.attempts, delivery.timeout_ms);
  rearm_cmd a = {.cmd = {.run = rearm_run, .done = rearm_done, .retry_storage = 1}};
  if (sf_writer_exec(&a.cmd)) sf_log_error("mail rows not re-armed", "\"detail\":\"%s\"", a.cmd.err.detail);
  if (cfg->smtp_url[0])
    sf_log_info("mail delivery ready", "\"smtp_url\":\"%s\",\"tls\":\"%s\",\"max_attempts\":%d,\"pending\":%d",
                delivery.url, cfg->smtp_tls, delivery.max_attempts, a.armed);
  else
    sf_log_info("mail kept in the dev mailbox (no smtp_url)",
                "\"read\":\"GET /api/v1/mail/messages?status=kept\",\"pending\":%d", a.armed);
  return 0;
}

void mail_stop(void) {
  if (!sf_attempts_running(&delivery.attempts)) return;
  sf_attempts_stop(&delivery.attempts);
  sf_out_stop(0);
  memset(delivery.password, 0, sizeof delivery.password);
  mail_tpl_cache_clear();
}
