/* The mail service's SQL (tables mail_templates, mail_messages:
 * migrations.c). Connections and statements follow store/db.h: the caller's
 * thread owns db; a returned statement is reset by the caller. */
#ifndef SF_SERVICES_MAIL_REPO_H
#define SF_SERVICES_MAIL_REPO_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* A message row as queued (borrowed strings). */
typedef struct mail_row {
  const char *id, *kind, *to_addr, *to_name, *user_id;
  const char *subject, *text, *html, *message_id, *status;
} mail_row;

/* ---- templates ---- */

/* The stored row of kind: columns subject, body_text, body_html (NULL when
 * reset to the default), version, updated_at. */
sf_stmt *mail_repo_template(sf_db *db, const char *kind, sf_err *err);
/* Stores an admin's text: version goes one up (1 for the first). */
int mail_repo_template_put(sf_db *db, const char *kind, const char *subject, const char *text, const char *html,
                           const char *by, int64_t now_ms, sf_err *err);
/* Back to the default: the texts become NULL, version one up. */
int mail_repo_template_reset(sf_db *db, const char *kind, const char *by, int64_t now_ms, sf_err *err);

/* ---- messages ---- */

/* 1 when inserted, 0 when a message with that id exists (kept as it is). */
int mail_repo_insert(sf_db *db, const mail_row *m, int64_t now_ms, sf_err *err);
/* Columns for sending: kind, to_addr, to_name, subject, body_text, body_html,
 * message_id, attempts, created_at; the row only while pending. */
sf_stmt *mail_repo_pending(sf_db *db, const char *id, sf_err *err);
/* id, next_at of every pending row. */
sf_stmt *mail_repo_pending_all(sf_db *db, sf_err *err);
/* Records an attempt of a pending row that had `seen` attempts: 1 when it
 * did, 0 when the row moved on meanwhile. */
int mail_repo_record(sf_db *db, const char *id, int seen, const char *status, int attempts, int64_t next_at,
                     const char *error, int64_t now_ms, sf_err *err);
/* A pending row, never to be sent (no SMTP server configured): kept. */
int mail_repo_keep(sf_db *db, const char *id, int64_t now_ms, sf_err *err);
/* dead, sent or kept -> pending, attempts 0, due now: 1, or 0 when the row
 * is pending. */
int mail_repo_resend(sf_db *db, const char *id, int64_t now_ms, sf_err *err);

/* The columns of a message for the API (MAIL_LIST_COLS): id, kind,
 * to_addr, to_name, user_id, subject, message_id, status, attempts, next_at,
 * last_error, created_at, updated_at, sent_at, body_text, body_html. */
/* One row (MAIL_LIST_COLS) by id. */
sf_stmt *mail_repo_get(sf_db *db, const char *id, sf_err *err);
/* Newest first, after the cursor (created_at, id), limit rows;
 * status NULL = all. MAIL_LIST_COLS without the bodies. */
sf_stmt *mail_repo_list(sf_db *db, const char *status, int64_t c_at, const char *c_id, int limit, sf_err *err);

#endif
