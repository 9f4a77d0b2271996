#include "services/mail/repo.h"

sf_stmt *mail_repo_template(sf_db *db, const char *kind, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      db, "SELECT subject, body_text, body_html, version, updated_at FROM mail_templates WHERE kind = ?", err);
  if (st) sf_stmt_text(st, 1, kind);
  return st;
}

int mail_repo_template_put(sf_db *db, const char *kind, const char *subject, const char *text, const char *html,
                           const char *by, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO mail_templates(kind, subject, body_text, body_html, version, updated_at,"
                              " updated_by) VALUES(?1, ?2, ?3, ?4, 1, ?5, ?6)"
                              " ON CONFLICT(kind) DO UPDATE SET subject = ?2, body_text = ?3, body_html = ?4,"
                              " version = mail_templates.version + 1, updated_at = ?5, updated_by = ?6",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, kind);
  sf_stmt_text(st, 2, subject);
  sf_stmt_text(st, 3, text);
  sf_stmt_text(st, 4, html);
  sf_stmt_int(st, 5, now_ms);
  sf_stmt_text(st, 6, by);
  return sf_stmt_run(st, err);
}

int mail_repo_template_reset(sf_db *db, const char *kind, const char *by, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE mail_templates SET subject = NULL, body_text = NULL, body_html = NULL,"
                              " version = version + 1, updated_at = ?2, updated_by = ?3 WHERE kind = ?1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, kind);
  sf_stmt_int(st, 2, now_ms);
  sf_stmt_text(st, 3, by);
  return sf_stmt_run(st, err);
}

int mail_repo_insert(sf_db *db, const mail_row *m, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO mail_messages(id, kind, to_addr, to_name, user_id, subject, body_text,"
                              " body_html, message_id, status, attempts, next_at, created_at, updated_at)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?11, ?11)"
                              " ON CONFLICT(id) DO NOTHING",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, m->id);
  sf_stmt_text(st, 2, m->kind);
  sf_stmt_text(st, 3, m->to_addr);
  sf_stmt_text(st, 4, m->to_name);
  sf_stmt_text(st, 5, m->user_id);
  sf_stmt_text(st, 6, m->subject);
  sf_stmt_text(st, 7, m->text);
  sf_stmt_text(st, 8, m->html);
  sf_stmt_text(st, 9, m->message_id);
  sf_stmt_text(st, 10, m->status);
  sf_stmt_int(st, 11, now_ms);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

sf_stmt *mail_repo_pending(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT kind, to_addr, to_name, subject, body_text, body_html, message_id, attempts,"
                              " created_at FROM mail_messages WHERE id = ? AND status = 'pending'",
                              err);
  if (st) sf_stmt_text(st, 1, id);
  return st;
}

sf_stmt *mail_repo_pending_all(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, next_at FROM mail_messages WHERE status = 'pending' ORDER BY next_at", err);
}

int mail_repo_record(sf_db *db, const char *id, int seen, const char *status, int attempts, int64_t next_at,
                     const char *error, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE mail_messages SET status = ?1, attempts = ?2, next_at = ?3,"
                              " last_error = coalesce(?4, last_error), updated_at = ?5,"
                              " sent_at = CASE WHEN ?1 = 'sent' THEN ?5 ELSE sent_at END"
                              " WHERE id = ?6 AND status = 'pending' AND attempts = ?7",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, status);
  sf_stmt_int(st, 2, attempts);
  sf_stmt_int(st, 3, next_at);
  sf_stmt_text(st, 4, error);
  sf_stmt_int(st, 5, now_ms);
  sf_stmt_text(st, 6, id);
  sf_stmt_int(st, 7, seen);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

int mail_repo_keep(sf_db *db, const char *id, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      db, "UPDATE mail_messages SET status = 'kept', updated_at = ?2 WHERE id = ?1 AND status = 'pending'", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_int(st, 2, now_ms);
  return sf_stmt_run(st, err);
}

int mail_repo_resend(sf_db *db, const char *id, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE mail_messages SET status = 'pending', attempts = 0, next_at = ?2, updated_at = ?2"
                              " WHERE id = ?1 AND status IN ('dead', 'sent', 'kept')",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_int(st, 2, now_ms);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

sf_stmt *mail_repo_get(sf_db *db, const char *id, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      db,
      "SELECT id, kind, to_addr, to_name, user_id, subject, message_id, status, attempts, next_at, last_error,"
      " created_at, updated_at, sent_at, body_text, body_html FROM mail_messages WHERE id = ?",
      err);
  if (st) sf_stmt_text(st, 1, id);
  return st;
}

static sf_stmt *list_all(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT id, kind, to_addr, to_name, user_id, subject, message_id, status, attempts, next_at,"
                       " last_error, created_at, updated_at, sent_at FROM mail_messages"
                       " WHERE (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3",
                       err);
}

static sf_stmt *list_status(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT id, kind, to_addr, to_name, user_id, subject, message_id, status, attempts, next_at,"
                       " last_error, created_at, updated_at, sent_at FROM mail_messages"
                       " WHERE status = ?4 AND (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3",
                       err);
}

/* by recipient, then (rarely many) filtered by status */
static sf_stmt *list_to(sf_db *db, sf_err *err) {
  return sf_db_prepare(
      db,
      "SELECT id, kind, to_addr, to_name, user_id, subject, message_id, status, attempts, next_at,"
      " last_error, created_at, updated_at, sent_at FROM mail_messages"
      " WHERE to_addr = ?5 AND (CAST(?4 AS TEXT) IS NULL OR status = ?4) AND (created_at, id) < (?1, ?2)"
      " ORDER BY created_at DESC, id DESC LIMIT ?3",
      err);
}

sf_stmt *mail_repo_list(sf_db *db, const char *status, const char *to, int64_t c_at, const char *c_id, int limit,
                        sf_err *err) {
  sf_stmt *st = to ? list_to(db, err) : status ? list_status(db, err) : list_all(db, err);
  if (!st) return NULL;
  sf_stmt_int(st, 1, c_at);
  sf_stmt_text(st, 2, c_id);
  sf_stmt_int(st, 3, limit);
  if (status) sf_stmt_text(st, 4, status);
  if (to) sf_stmt_text(st, 5, to);
  return st;
}
