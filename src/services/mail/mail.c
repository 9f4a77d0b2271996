/* Queueing a message (mail.h) and the texts of in-app notifications. The
 * settings come from configure (every open of the database), so a message
 * queued by a CLI command is stored the way the server would store it. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "events/timers.h"
#include "services/mail/internal.h"
#include "services/mail/repo.h"

#define ID_MAX 64 /* fits an after-commit hook's key */

static struct mail_state {
  pthread_mutex_t mu; /* app below (read by any thread, set by configure) */
  json_t *app;        /* {"name", "url"}: never changed once set, shared by renders (jansson counts atomically) */
  int dev_mailbox;    /* no smtp_url: messages are kept, never sent */
  char host[256];     /* the right part of Message-IDs */
  char from_addr[320], from_name[256];
  _Atomic uint64_t kept; /* messages kept in the dev mailbox by this process */
} mail = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The host of a URL ("http://shop.example:8080/x" -> "shop.example"). */
static void url_host(const char *url, char *out, size_t cap) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t n = strcspn(p, ":/?#");
  snprintf(out, cap, "%.*s", (int)n, p);
}

void mail_configure(const sf_config *cfg) {
  char url[600], addr[320], name[256];
  if (cfg->app_url[0])
    snprintf(url, sizeof url, "%s", cfg->app_url);
  else
    snprintf(url, sizeof url, "http://localhost:%d", cfg->port);
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/') url[--n] = '\0'; /* links append "/orders/..." */
  json_t *app = json_pack("{s:s, s:s}", "name", cfg->app_name, "url", url);
  pthread_mutex_lock(&mail.mu);
  json_decref(mail.app);
  mail.app = app;
  mail.dev_mailbox = cfg->smtp_url[0] == '\0';
  if (cfg->smtp_from[0] && mail_from_parse(cfg->smtp_from, addr, sizeof addr, name, sizeof name) == 0) {
    snprintf(mail.host, sizeof mail.host, "%s", strrchr(addr, '@') + 1);
  } else {
    if (cfg->smtp_from[0]) sf_log_warn("smtp_from is not an address", "\"using\":\"noreply@<app_url host>\"");
    url_host(url, mail.host, sizeof mail.host);
    if (!mail.host[0]) snprintf(mail.host, sizeof mail.host, "serviceflow.local");
    snprintf(addr, sizeof addr, "noreply@%s", mail.host);
    name[0] = '\0';
  }
  snprintf(mail.from_addr, sizeof mail.from_addr, "%s", addr);
  snprintf(mail.from_name, sizeof mail.from_name, "%s", name[0] ? name : cfg->app_name);
  pthread_mutex_unlock(&mail.mu);
}

void mail_sender(char *addr, size_t acap, char *name, size_t ncap) {
  pthread_mutex_lock(&mail.mu);
  snprintf(addr, acap, "%s", mail.from_addr);
  snprintf(name, ncap, "%s", mail.from_name);
  pthread_mutex_unlock(&mail.mu);
}

int mail_dev_mailbox(void) {
  pthread_mutex_lock(&mail.mu);
  int dev = mail.dev_mailbox;
  pthread_mutex_unlock(&mail.mu);
  return dev;
}

/* What every template sees besides the caller's vars: app.* and to.*
 * (new reference). */
static json_t *extra_scope(const char *to, const char *to_name) {
  pthread_mutex_lock(&mail.mu);
  json_t *app = json_incref(mail.app);
  pthread_mutex_unlock(&mail.mu);
  if (!app) app = json_pack("{s:s, s:s}", "name", "Service Flow", "url", "http://localhost"); /* not configured */
  return json_pack("{s:o, s:{s:s, s:s}}", "app", app, "to", "address", to ? to : "", "name", to_name ? to_name : "");
}

void mail_render(const mail_tpl *t, const json_t *vars, const char *to, const char *to_name, mail_rendered *out) {
  json_t *extra = extra_scope(to, to_name);
  mail_scope scope = {.vars = vars, .extra = extra};
  mail_render_subject(t->subject, &scope, out->subject, sizeof out->subject);
  sf_buf b;
  sf_buf_init(&b);
  mail_tpl_render(t->text, &scope, 0, &b);
  out->text = sf_buf_steal(&b);
  if (!out->text_only) {
    mail_tpl_render(t->html, &scope, 1, &b);
    out->html = sf_buf_steal(&b);
  } else {
    sf_buf_free(&b);
  }
  json_decref(extra);
}

void mail_rendered_free(mail_rendered *r) {
  free(r->text);
  free(r->html);
  r->text = r->html = NULL;
}

int sf_mail_render_text(const char *kind, const json_t *vars, char *subject, char **text, sf_err *err) {
  mail_tpl *t = mail_tpl_get(kind);
  if (!t) return sf_err_invalid(err, "kind", "is not a mail kind");
  mail_rendered r = {.text_only = 1}; /* the in-app text has no use for the html */
  mail_render(t, vars, NULL, NULL, &r);
  mail_tpl_put(t);
  snprintf(subject, SF_MAIL_SUBJECT_MAX, "%s", r.subject);
  *text = r.text;
  return 0;
}

void mail_kept_hook(void *ud, const char *id) {
  (void)ud;
  atomic_fetch_add_explicit(&mail.kept, 1, memory_order_relaxed);
  if (!sf_log_enabled(SF_LOG_INFO)) return; /* the read is for the line only (benchmarks log warn) */
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? mail_repo_get(db, id, &err) : NULL;
  if (st && sf_stmt_step(st, &err) == 1) {
    char to[400], subject[600];
    sf_log_info("mail kept in the dev mailbox", "\"id\":\"%s\",\"kind\":\"%s\",\"to\":\"%s\",\"subject\":\"%s\"", id,
                sf_stmt_col_text(st, 1), sf_log_quote(sf_stmt_col_text(st, 2), to, sizeof to),
                sf_log_quote(sf_stmt_col_text(st, 5), subject, sizeof subject));
  }
  if (st) sf_stmt_reset(st);
}

uint64_t mail_kept_count(void) { return atomic_load_explicit(&mail.kept, memory_order_relaxed); }

/* ids become Message-IDs (<id@host>) and timer references */
static int id_valid(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n >= ID_MAX || id[0] == '.' || id[n - 1] == '.' || strstr(id, "..")) return 0;
  for (; *id; id++)
    if (!isalnum((unsigned char)*id) && !strchr("._-:", *id)) return 0;
  return 1;
}

/* "<id@host>": the id as a dot-atom (RFC 5322 §3.6.4), ':' written '='. */
static void message_id_of(const char *id, char *out, size_t cap) {
  pthread_mutex_lock(&mail.mu);
  snprintf(out, cap, "<%s@%s>", id, mail.host);
  pthread_mutex_unlock(&mail.mu);
  for (char *p = out; *p && *p != '@'; p++)
    if (*p == ':') *p = '=';
}

static int check(const sf_mail *m, sf_err *err) {
  if (!id_valid(m->id)) return sf_err_invalid(err, "id", "must be 1-63 letters, digits, '_', '-', ':' or inner dots");
  if (mail_kind_index(m->kind) < 0) return sf_err_invalid(err, "kind", "is not a mail kind");
  if (!mail_addr_valid(m->to)) return sf_err_invalid(err, "to", "is not an e-mail address");
  if (m->to_name && (strpbrk(m->to_name, "\r\n") || strlen(m->to_name) > 200))
    return sf_err_invalid(err, "to_name", "must be one line of at most 200 bytes");
  return 0;
}

int sf_mail_queue(sf_tx *tx, const sf_mail *m, sf_err *err) {
  if (check(m, err)) return -422;
  mail_tpl *t = mail_tpl_get(m->kind);
  mail_rendered r = {0};
  mail_render(t, m->vars, m->to, m->to_name, &r);
  mail_tpl_put(t);
  char message_id[ID_MAX + 280];
  message_id_of(m->id, message_id, sizeof message_id);
  int dev = mail_dev_mailbox();
  mail_row row = {.id = m->id,
                  .kind = m->kind,
                  .to_addr = m->to,
                  .to_name = m->to_name && *m->to_name ? m->to_name : NULL,
                  .user_id = m->user_id && *m->user_id ? m->user_id : NULL,
                  .subject = r.subject,
                  .text = r.text,
                  .html = r.html,
                  .message_id = message_id,
                  .status = dev ? "kept" : "pending"};
  int rc = mail_repo_insert(tx->db, &row, tx->now_ms, err);
  mail_rendered_free(&r);
  if (rc <= 0) return rc; /* there already: the first one stands */
  if (dev) {
    sf_tx_after_commit(tx, mail_kept_hook, NULL, m->id);
    return 0;
  }
  return sf_timer_set(tx, MAIL_TIMER_KIND, m->id, tx->now_ms, err); /* the first attempt, due now */
}
