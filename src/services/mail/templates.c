/* The effective templates (stored or default), cached in memory: a message
 * is rendered on the writer thread for every queued mail and on any thread
 * for in-app texts, so neither reads the table each time. The cache is a
 * set of counted, immutable templates: a reload (after a commit that
 * changed one) publishes a new set while renders in progress keep theirs. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "services/mail/internal.h"
#include "services/mail/repo.h"

#define MAX_KINDS 32

static struct mail_cache {
  pthread_mutex_t mu;
  mail_tpl *set[MAX_KINDS]; /* all NULL: not loaded */
  int loaded;
  uint64_t gen; /* loads begun: only the latest one publishes (reloads may overlap) */
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int nkinds(void) {
  int n = 0;
  while (mail_kinds[n] && n < MAX_KINDS) n++;
  return n;
}

static void tpl_free(mail_tpl *t) {
  if (!t) return;
  free(t->subject);
  free(t->text);
  free(t->html);
  free(t);
}

static mail_tpl *tpl_new(const char *kind, const char *subject, const char *text, const char *html) {
  mail_tpl *t = sf_calloc(1, sizeof *t);
  t->kind = kind;
  t->subject = sf_strdup(subject);
  t->text = sf_strdup(text);
  t->html = sf_strdup(html);
  t->refs_ = 1;
  return t;
}

/* kind as stored in db, or its default when never edited or reset. */
static mail_tpl *load_one(sf_db *db, const char *kind, sf_err *err) {
  const char *subject, *text, *html;
  mail_tpl_default(kind, &subject, &text, &html);
  if (!db) return tpl_new(kind, subject, text, html);
  sf_stmt *st = mail_repo_template(db, kind, err);
  if (!st) return NULL;
  int rc = sf_stmt_step(st, err);
  mail_tpl *t = NULL;
  if (rc == 1 && !sf_stmt_col_is_null(st, 0)) {
    t = tpl_new(kind, sf_stmt_col_text(st, 0), sf_stmt_col_text(st, 1), sf_stmt_col_text(st, 2));
    t->customized = 1;
  } else if (rc >= 0) {
    t = tpl_new(kind, subject, text, html);
  }
  if (t && rc == 1) {
    t->version = sf_stmt_col_int(st, 3);
    t->updated_at = sf_stmt_col_int(st, 4);
  }
  sf_stmt_reset(st);
  return t;
}

/* A whole set from db (NULL: the defaults); 0, or -1 with nothing in set. */
static int load_set(sf_db *db, mail_tpl **set, sf_err *err) {
  int n = nkinds();
  for (int i = 0; i < n; i++)
    if (!(set[i] = load_one(db, mail_kinds[i], err))) {
      while (i-- > 0) tpl_free(set[i]);
      return -1;
    }
  return 0;
}

static uint64_t begin_load(void) {
  pthread_mutex_lock(&cache.mu);
  uint64_t gen = ++cache.gen;
  pthread_mutex_unlock(&cache.mu);
  return gen;
}

/* Publishes set (taking it) in place of the cached one, unless a load that
 * began after gen's did (its set is newer): then set is dropped. */
static void publish(mail_tpl **set, uint64_t gen) {
  mail_tpl *old[MAX_KINDS];
  int n = nkinds();
  pthread_mutex_lock(&cache.mu);
  int latest = gen == cache.gen;
  for (int i = 0; i < n; i++) {
    old[i] = latest ? cache.set[i] : set[i];
    if (latest) cache.set[i] = set[i];
  }
  if (latest) cache.loaded = 1;
  pthread_mutex_unlock(&cache.mu);
  for (int i = 0; i < n; i++) mail_tpl_put(old[i]);
}

/* From this thread's reader; 0 when loaded. */
static int load_from_reader(mail_tpl **set) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  if (db && load_set(db, set, &err) == 0) return 0;
  sf_log_warn("mail templates not loaded", "\"detail\":\"%s\"", err.detail);
  return -1;
}

mail_tpl *mail_tpl_get(const char *kind) {
  int i = mail_kind_index(kind);
  if (i < 0) return NULL;
  pthread_mutex_lock(&cache.mu);
  int loaded = cache.loaded;
  pthread_mutex_unlock(&cache.mu);
  if (!loaded) {
    mail_tpl *set[MAX_KINDS];
    uint64_t gen = begin_load();
    if (load_from_reader(set) == 0)
      publish(set, gen);
    else
      return load_one(NULL, mail_kinds[i], NULL); /* the default, counted once, uncached */
  }
  pthread_mutex_lock(&cache.mu);
  mail_tpl *t = cache.set[i];
  if (t) t->refs_++;
  pthread_mutex_unlock(&cache.mu);
  return t ? t : load_one(NULL, mail_kinds[i], NULL);
}

void mail_tpl_put(mail_tpl *t) {
  if (!t) return;
  pthread_mutex_lock(&cache.mu);
  int last = --t->refs_ == 0;
  pthread_mutex_unlock(&cache.mu);
  if (last) tpl_free(t);
}

/* Another instance sharing the database may edit a template: each reloads
 * (store/writer.h sf_tx_after_commit_all). */
__attribute__((constructor)) static void register_hooks(void) {
  sf_writer_broadcast_register(MAIL_HOOK_TEMPLATES, mail_tpl_reload, NULL);
}

void mail_tpl_reload(void *ud, const char *key) {
  (void)ud, (void)key;
  mail_tpl *set[MAX_KINDS];
  uint64_t gen = begin_load();
  if (load_from_reader(set) == 0) {
    publish(set, gen);
    return;
  }
  mail_tpl_cache_clear(); /* loaded again at the next use */
}

void mail_tpl_cache_clear(void) {
  mail_tpl *old[MAX_KINDS] = {0};
  int n = nkinds();
  pthread_mutex_lock(&cache.mu);
  for (int i = 0; i < n; i++) {
    old[i] = cache.set[i];
    cache.set[i] = NULL;
  }
  cache.loaded = 0;
  cache.gen++;
  pthread_mutex_unlock(&cache.mu);
  for (int i = 0; i < n; i++) mail_tpl_put(old[i]);
}
