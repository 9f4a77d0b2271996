/* The mail service's parts, for its own files and its unit test
 * (tests/unit/mail_test.c); other services use mail.h only.
 *
 *   render.c     the template language: {{name}}, {{a.b}}, {{#if x}}..{{else}}..{{/if}}
 *   defaults.c   the template shipped for each kind
 *   templates.c  the cache of the effective templates (stored or default)
 *   message.c    the RFC 5322 message built from a stored row (pure)
 *   mail.c       settings, rendering a kind, queueing, the dev mailbox
 *   deliver.c    delivery over SMTP (timers, the outbound engine)
 *   api.c        the admin routes
 *   repo.c       the SQL
 * Calls go one way (no file calls back into one that calls it): api, deliver,
 * mail, templates, defaults, each calling only those after it; render and
 * message call none of them. */
#ifndef SF_SERVICES_MAIL_INTERNAL_H
#define SF_SERVICES_MAIL_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "services/mail/mail.h"

/* ---- render.c ---- */

/* Where a template's {{names}} are looked up, in order: vars (the caller's),
 * then extra (what the service adds: app.name, app.url, to.name,
 * to.address). Either may be NULL. */
typedef struct mail_scope {
  const json_t *vars;
  const json_t *extra;
} mail_scope;

/* 0 when tpl is a well-formed template, else -1 and a sentence in why
 * ("unclosed {{ at offset 12"). Any thread. */
int mail_tpl_check(const char *tpl, char *why, size_t cap);
/* Appends tpl rendered in scope to out. html: values are HTML-escaped.
 * A missing name renders as nothing; a malformed template renders up to the
 * fault (stored and default templates are checked first). Any thread. */
void mail_tpl_render(const char *tpl, const mail_scope *scope, int html, sf_buf *out);
/* A subject line: rendered as text, CR/LF/TAB become spaces, trimmed, cut
 * at a UTF-8 boundary to fit cap (cap <= SF_MAIL_SUBJECT_MAX). */
void mail_render_subject(const char *tpl, const mail_scope *scope, char *out, size_t cap);

/* ---- defaults.c and templates.c ---- */

/* One kind's effective template. Immutable once published; held through
 * mail_tpl_get / mail_tpl_put (counted), so a reload never frees one in use. */
typedef struct mail_tpl {
  const char *kind;
  char *subject, *text, *html;
  int customized;     /* 1: an admin's stored text; 0: the default */
  int64_t version;    /* ETag: 0 for a kind never edited */
  int64_t updated_at; /* ms; 0 for a default never edited */
  int refs_;
} mail_tpl;

/* The kinds mail.h lists, in that order; NULL-terminated. */
extern const char *const mail_kinds[];
int mail_kind_index(const char *kind); /* <0 when unknown */
/* The shipped default of kind (subject, text, html), NULL when unknown. */
int mail_tpl_default(const char *kind, const char **subject, const char **text, const char **html);
/* The effective template of kind (a counted reference: mail_tpl_put it),
 * NULL when the kind is unknown. Loads the cache from a reader connection
 * when it is empty (any thread); with no database, the defaults. */
mail_tpl *mail_tpl_get(const char *kind);
void mail_tpl_put(mail_tpl *t);
/* Forgets the cache and loads it again from a reader (after a commit that
 * changed a template: sf_tx_after_commit hook). */
void mail_tpl_reload(void *ud, const char *key);
#define MAIL_HOOK_TEMPLATES "mail.templates" /* the cluster-wide hook that runs mail_tpl_reload */
void mail_tpl_cache_clear(void);             /* stop, tests */

/* ---- message.c ---- */

/* A stored message, as the builder needs it (borrowed strings). */
typedef struct mail_msg {
  const char *kind, *from_addr, *from_name, *to_addr, *to_name;
  const char *subject, *text, *html, *message_id;
  int64_t date_ms; /* the Date: header (the row's created_at: the same on every attempt) */
} mail_msg;

/* The whole RFC 5322 message (CRLF lines, Auto-Submitted: auto-generated
 * (RFC 3834: no out-of-office replies), multipart/alternative with
 * quoted-printable UTF-8 parts, RFC 2047 headers when not ASCII), malloc'd,
 * *len set. The MIME boundary derives from the Message-ID, so one message
 * builds to the same bytes on every attempt. Any thread. */
char *mail_msg_build(const mail_msg *m, size_t *len);
/* Quoted-printable (RFC 2045 §6.7) of n bytes, CRLF line breaks, appended. */
void mail_qp_encode(const char *s, size_t n, sf_buf *out);
/* A header value: as is when printable ASCII, else RFC 2047 "=?UTF-8?B?...?="
 * words, appended. */
void mail_header_encode(const char *s, sf_buf *out);
/* 1 when addr is a plain addr-spec we can put in RCPT TO and To: (local@domain,
 * printable ASCII, no spaces, quotes, angle brackets or commas, <= 254). */
int mail_addr_valid(const char *addr);
/* "Name <addr>" or "addr" of smtp_from, split; 0 or -1 when malformed. */
int mail_from_parse(const char *from, char *addr, size_t acap, char *name, size_t ncap);

/* ---- mail.c: settings, rendering, queueing, the dev mailbox ---- */

#define MAIL_TIMER_KIND "mail" /* ref: the message id; its firing is an attempt */

typedef struct mail_rendered {
  int text_only; /* in: subject and text only, html stays NULL (the in-app text) */
  char subject[SF_MAIL_SUBJECT_MAX];
  char *text, *html; /* malloc'd: mail_rendered_free */
} mail_rendered;

/* Reads app_url, app_name, smtp_url, smtp_from (every open of the database). */
void mail_configure(const sf_config *cfg);
/* 1 when no SMTP server is configured: messages are kept, never sent. */
int mail_dev_mailbox(void);
/* The sender: smtp_from, or "<app_name> <noreply@<host of app_url>>". */
void mail_sender(char *addr, size_t acap, char *name, size_t ncap);
/* t rendered with vars for recipient to (to and to_name may be NULL). */
void mail_render(const mail_tpl *t, const json_t *vars, const char *to, const char *to_name, mail_rendered *out);
void mail_rendered_free(mail_rendered *r);

/* After the commit that kept a message (sf_tx_after_commit hook, key: its
 * id): one info line (id, kind, to, subject), and the count. */
void mail_kept_hook(void *ud, const char *id);
uint64_t mail_kept_count(void);

/* ---- deliver.c: the timer, SMTP through the outbound engine ---- */
void mail_timers(void);
int mail_start(const sf_config *cfg, sf_err *err);
void mail_stop(void);
/* Delay after the n-th failed attempt (n >= 1): full jitter, rnd drawn
 * uniformly over [0, min(base_ms * 2^(n-1), 1 h)]. */
int64_t mail_backoff_ms(int base_ms, int failed_attempts, uint32_t rnd);
/* Puts a message that was dead, sent or kept back in the queue, due now
 * (its Message-ID unchanged; kept again when there is still no SMTP
 * server): 1, 0 when it is pending. Writer thread. */
int mail_resend(sf_tx *tx, const char *id, sf_err *err);

/* ---- api.c ---- */

void mail_routes(void);

#endif
