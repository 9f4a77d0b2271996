/* The notifications service's SQL (repo.h). */
#include "services/notifications/repo.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "services/notifications/rules.h"

/* ---- the inbox ---- */

int ntf_repo_insert(sf_db *db, const ntf_row *r, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO notifications(id, user_id, kind, category, title, body, link, subject_type,"
                              " subject_id, position, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                              " ON CONFLICT(id) DO NOTHING",
                              err);
  if (!st) return -500;
  const char *text[] = {r->id,   r->user_id, r->kind,         r->category,  r->title,
                        r->body, r->link,    r->subject_type, r->subject_id};
  for (int i = 0; i < 9; i++) sf_stmt_text(st, i + 1, text[i]);
  sf_stmt_int(st, 10, r->position);
  sf_stmt_int(st, 11, r->created_at);
  if (sf_stmt_run(st, err)) return -500;
  return sf_db_changes(db) ? 1 : 0;
}

#define ROW_COLUMNS "id, kind, category, title, body, link, subject_type, subject_id, read_at, created_at"

static json_t *row_json(sf_stmt *st) {
  char created[32], read[32] = "";
  sf_time_iso8601(sf_stmt_col_int(st, 9), created, sizeof created);
  int unread = sf_stmt_col_is_null(st, 8);
  if (!unread) sf_time_iso8601(sf_stmt_col_int(st, 8), read, sizeof read);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:o, s:s}", "id", sf_stmt_col_text(st, 0), "kind",
                   sf_stmt_col_text(st, 1), "category", sf_stmt_col_text(st, 2), "title", sf_stmt_col_text(st, 3),
                   "body", sf_stmt_col_text(st, 4), "link", sf_stmt_col_text(st, 5), "subject", "type",
                   sf_stmt_col_text(st, 6), "id", sf_stmt_col_text(st, 7), "read", !unread, "read_at",
                   unread ? json_null() : json_string(read), "created_at", created);
}

int ntf_repo_get(sf_db *db, const char *user, const char *id, json_t **out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " ROW_COLUMNS " FROM notifications WHERE id = ?1 AND user_id = ?2", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, user);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) *out = row_json(st);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "notification");
  return rc < 0 ? -500 : 0;
}

int ntf_repo_page(sf_db *db, const char *user, int unread, int64_t c_at, const char *c_id, int limit, json_t *data,
                  char *next, size_t cap, sf_err *err) {
  sf_stmt *st = unread
                    ? sf_db_prepare(db,
                                    "SELECT " ROW_COLUMNS " FROM notifications WHERE user_id = ?1 AND read_at IS NULL"
                                    " AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))"
                                    " ORDER BY created_at DESC, id DESC LIMIT ?4",
                                    err)
                    : sf_db_prepare(db,
                                    "SELECT " ROW_COLUMNS " FROM notifications WHERE user_id = ?1"
                                    " AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))"
                                    " ORDER BY created_at DESC, id DESC LIMIT ?4",
                                    err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user);
  sf_stmt_int(st, 2, c_at);
  sf_stmt_text(st, 3, c_id);
  sf_stmt_int(st, 4, limit + 1);
  int rc, n = 0;
  char last[96] = "";
  next[0] = '\0';
  while ((rc = sf_stmt_step(st, err)) == 1) {
    if (n == limit) { /* the one past the page: there is more */
      snprintf(next, cap, "%s", last);
      break;
    }
    json_array_append_new(data, row_json(st));
    snprintf(last, sizeof last, "%" PRId64 ":%s", sf_stmt_col_int(st, 9), sf_stmt_col_text(st, 0));
    n++;
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : n;
}

int64_t ntf_repo_unread(sf_db *db, const char *user, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user);
  int rc = sf_stmt_step(st, err);
  int64_t n = rc == 1 ? sf_stmt_col_int(st, 0) : -500;
  sf_stmt_reset(st);
  return n;
}

int ntf_repo_mark_read(sf_db *db, const char *user, const char *id, int64_t now_ms, sf_err *err) {
  sf_stmt *st = sf_db_prepare(
      db, "UPDATE notifications SET read_at = ?3 WHERE id = ?1 AND user_id = ?2 AND read_at IS NULL", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, user);
  sf_stmt_int(st, 3, now_ms);
  if (sf_stmt_run(st, err)) return -500;
  if (sf_db_changes(db)) return 1;
  json_t *row = NULL;
  int rc = ntf_repo_get(db, user, id, &row, err); /* 404 when it is not theirs */
  json_decref(row);
  return rc;
}

int64_t ntf_repo_mark_all(sf_db *db, const char *user, int64_t now_ms, json_t *ids, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL"
                              " RETURNING id",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user);
  sf_stmt_int(st, 2, now_ms);
  int rc;
  int64_t n = 0;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    json_array_append_new(ids, json_string(sf_stmt_col_text(st, 0)));
    n++;
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : n;
}

/* ---- preferences ---- */

int ntf_repo_prefs(sf_db *db, const char *user, int (*channels)[2], sf_err *err) {
  for (int c = 0; c < NTF_NCATS; c++)
    for (int e = 0; e < 2; e++) channels[c][e] = ntf_default_on((ntf_category)c, e);
  sf_stmt *st = sf_db_prepare(db, "SELECT category, in_app, email FROM notification_prefs WHERE user_id = ?1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user);
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    int c = ntf_category_index(sf_stmt_col_text(st, 0));
    if (c < 0) continue;
    channels[c][0] = (int)sf_stmt_col_int(st, 1);
    channels[c][1] = (int)sf_stmt_col_int(st, 2);
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : 0;
}

int ntf_repo_prefs_set(sf_db *db, const char *user, const char *category, int in_app, int email, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO notification_prefs(user_id, category, in_app, email) VALUES(?1, ?2, ?3, ?4)"
                              " ON CONFLICT(user_id, category) DO UPDATE SET in_app = excluded.in_app,"
                              " email = excluded.email",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user);
  sf_stmt_text(st, 2, category);
  sf_stmt_int(st, 3, in_app);
  sf_stmt_int(st, 4, email);
  return sf_stmt_run(st, err) ? -500 : 0;
}

/* ---- the read model ---- */

int64_t ntf_repo_start(sf_db *db, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT position FROM notify_start WHERE id = 1", err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  int64_t at = rc == 1 ? sf_stmt_col_int(st, 0) : rc == 0 ? 0 : -500;
  sf_stmt_reset(st);
  return at;
}

static int run_texts(sf_db *db, const char *sql, const char *const *texts, int n, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, sql, err);
  if (!st) return -500;
  for (int i = 0; i < n; i++) sf_stmt_text(st, i + 1, texts[i] ? texts[i] : "");
  return sf_stmt_run(st, err) ? -500 : 0;
}

int ntf_repo_request_put(sf_db *db, const char *id, const char *requester, const char *title, const char *type,
                         const char *state, sf_err *err) {
  const char *t[] = {id, requester, title, type, state};
  return run_texts(db,
                   "INSERT INTO notify_requests(id, requester, title, type, state) VALUES(?1, ?2, ?3, ?4, ?5)"
                   " ON CONFLICT(id) DO UPDATE SET requester = excluded.requester, title = excluded.title,"
                   " type = excluded.type, state = excluded.state",
                   t, 5, err);
}

int ntf_repo_request_state(sf_db *db, const char *id, const char *state, sf_err *err) {
  const char *t[] = {id, state};
  return run_texts(db, "UPDATE notify_requests SET state = ?2 WHERE id = ?1", t, 2, err);
}

int ntf_repo_request_assign(sf_db *db, const char *id, const char *user, const char *role, sf_err *err) {
  const char *t[] = {id, user, role};
  return run_texts(db, "UPDATE notify_requests SET assignee_user = ?2, assignee_role = ?3 WHERE id = ?1", t, 3, err);
}

int ntf_repo_request(sf_db *db, const char *id, ntf_request *out, sf_err *err) {
  memset(out, 0, sizeof *out);
  sf_stmt *st = sf_db_prepare(
      db, "SELECT requester, title, assignee_user, assignee_role, type, state FROM notify_requests WHERE id = ?1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, out->requester, sizeof out->requester);
    sf_stmt_col_copy(st, 1, out->title, sizeof out->title);
    sf_stmt_col_copy(st, 2, out->assignee_user, sizeof out->assignee_user);
    sf_stmt_col_copy(st, 3, out->assignee_role, sizeof out->assignee_role);
    sf_stmt_col_copy(st, 4, out->type, sizeof out->type);
    sf_stmt_col_copy(st, 5, out->state, sizeof out->state);
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : rc;
}

int ntf_repo_commenter_add(sf_db *db, const char *request, const char *user, sf_err *err) {
  const char *t[] = {request, user};
  return run_texts(db, "INSERT INTO notify_commenters(request_id, user_id) VALUES(?1, ?2) ON CONFLICT DO NOTHING", t, 2,
                   err);
}

int ntf_repo_commenters(sf_db *db, const char *request, char (*users)[SF_ID_MAX], int cap, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT user_id FROM notify_commenters WHERE request_id = ?1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, request);
  int rc, n = 0;
  while ((rc = sf_stmt_step(st, err)) == 1 && n < cap) sf_stmt_col_copy(st, 0, users[n++], SF_ID_MAX);
  sf_stmt_reset(st);
  return rc < 0 ? -500 : n;
}

int ntf_repo_order_put(sf_db *db, const char *id, const char *customer, const char *items, sf_err *err) {
  const char *t[] = {id, customer, items};
  return run_texts(db, "INSERT INTO notify_orders(id, customer_id, items) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING", t,
                   3, err);
}

int ntf_repo_order(sf_db *db, const char *id, char *customer, json_t **items, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT customer_id, items FROM notify_orders WHERE id = ?1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, customer, SF_ID_MAX);
    *items = json_loads(sf_stmt_col_text(st, 1), 0, NULL);
    if (!*items) *items = json_array();
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : rc;
}

int ntf_repo_stock_low(sf_db *db, const char *product, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT 1 FROM notify_stock_low WHERE product_id = ?1", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, product);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc < 0 ? -500 : rc;
}

int ntf_repo_stock_mark(sf_db *db, const char *product, int low, sf_err *err) {
  const char *t[] = {product};
  return low ? run_texts(db, "INSERT INTO notify_stock_low(product_id) VALUES(?1) ON CONFLICT DO NOTHING", t, 1, err)
             : run_texts(db, "DELETE FROM notify_stock_low WHERE product_id = ?1", t, 1, err);
}

int ntf_repo_reset(sf_db *db, sf_err *err) {
  return sf_db_exec(db,
                    "DELETE FROM notify_requests; DELETE FROM notify_commenters; DELETE FROM notify_orders;"
                    " DELETE FROM notify_stock_low;",
                    err)
             ? -500
             : 0;
}

/* ---- identity's users: marked reads (identity offers no read function
 * for an address or a role's members) ---- */

int ntf_repo_user(sf_db *db, const char *id, ntf_user *out, sf_err *err) {
  /* reads the identity service's users table */
  sf_stmt *st = sf_db_prepare(db, "SELECT email, name FROM users WHERE id = ?1 AND status = 'active'", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, out->email, sizeof out->email);
    sf_stmt_col_copy(st, 1, out->name, sizeof out->name);
  }
  sf_stmt_reset(st);
  return rc < 0 ? -500 : rc;
}

int ntf_repo_role_members(sf_db *db, const char *role, int (*fn)(void *ud, const char *user), void *ud, sf_err *err) {
  /* reads the identity service's users table (index users_role_status, made by this service's migration) */
  sf_stmt *st = sf_db_prepare(db, "SELECT id FROM users WHERE role = ?1 AND status = 'active'", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, role);
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1)
    if (fn(ud, sf_stmt_col_text(st, 0))) break;
  sf_stmt_reset(st);
  return rc < 0 ? -500 : 0;
}
