/* The notifications service's repository: every SQL statement of the
 * service (notifications, notification_prefs, the subscriber's read model
 * notify_*), plus two marked reads of identity's users table, which offers
 * no read function for them (a user's address, a role's active members).
 * Functions run on the connection given: the writer's tx->db inside a
 * command or the subscriber's apply, or an HTTP thread's reader. Strings are
 * copied into the caller's buffers; JSON returned is the caller's. */
#ifndef SF_SERVICES_NOTIFICATIONS_REPO_H
#define SF_SERVICES_NOTIFICATIONS_REPO_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "store/db.h"

typedef struct ntf_row {
  const char *id, *user_id, *kind, *category, *title, *body, *link, *subject_type, *subject_id;
  int64_t position, created_at;
} ntf_row;

/* 1 inserted, 0 when a row with that id exists (a replay), < 0 error. */
int ntf_repo_insert(sf_db *db, const ntf_row *r, sf_err *err);
/* The row as API JSON {id, kind, category, title, body, link, subject,
 * read, read_at, created_at} into *out: 0, 404 (none of user's), < 0. */
int ntf_repo_get(sf_db *db, const char *user, const char *id, json_t **out, sf_err *err);
/* A page, newest first, after the cursor (c_at, c_id): up to limit items
 * appended to data, next ("<created_at>:<id>" of the last) filled when
 * there are more; returns how many, or < 0. */
int ntf_repo_page(sf_db *db, const char *user, int unread, int64_t c_at, const char *c_id, int limit, json_t *data,
                  char *next, size_t cap, sf_err *err);
int64_t ntf_repo_unread(sf_db *db, const char *user, sf_err *err);
/* Marks one of user's: 1 marked, 0 already read, 404 not theirs, < 0. */
int ntf_repo_mark_read(sf_db *db, const char *user, const char *id, int64_t now_ms, sf_err *err);
/* Marks all of user's unread, their ids appended to ids: the count, or < 0. */
int64_t ntf_repo_mark_all(sf_db *db, const char *user, int64_t now_ms, json_t *ids, sf_err *err);

/* Preferences: channels[c] = {in_app, email} for every category (defaults
 * where no row); set one category. */
int ntf_repo_prefs(sf_db *db, const char *user, int (*channels)[2], sf_err *err);
int ntf_repo_prefs_set(sf_db *db, const char *user, const char *category, int in_app, int email, sf_err *err);

/* The read model. */
int64_t ntf_repo_start(sf_db *db, sf_err *err);
int ntf_repo_request_put(sf_db *db, const char *id, const char *requester, const char *title, const char *type,
                         const char *state, sf_err *err);
int ntf_repo_request_state(sf_db *db, const char *id, const char *state, sf_err *err);
int ntf_repo_request_assign(sf_db *db, const char *id, const char *user, const char *role, sf_err *err);
typedef struct ntf_request {
  char requester[SF_ID_MAX], assignee_user[SF_ID_MAX], assignee_role[16], title[256], type[48], state[48];
} ntf_request;
/* 1 found, 0 not, < 0. */
int ntf_repo_request(sf_db *db, const char *id, ntf_request *out, sf_err *err);
int ntf_repo_commenter_add(sf_db *db, const char *request, const char *user, sf_err *err);
/* Up to cap earlier commenters into users: how many, or < 0. */
int ntf_repo_commenters(sf_db *db, const char *request, char (*users)[SF_ID_MAX], int cap, sf_err *err);
int ntf_repo_order_put(sf_db *db, const char *id, const char *customer, const char *items, sf_err *err);
/* customer (cap SF_ID_MAX) and *items (a new JSON list) of an order: 1, 0 unknown, < 0. */
int ntf_repo_order(sf_db *db, const char *id, char *customer, json_t **items, sf_err *err);
/* The low mark of a product: 1 low, 0 not, < 0; set / clear it. */
int ntf_repo_stock_low(sf_db *db, const char *product, sf_err *err);
int ntf_repo_stock_mark(sf_db *db, const char *product, int low, sf_err *err);
/* Clears the read model (serviceflow replay notifications); keeps the inbox. */
int ntf_repo_reset(sf_db *db, sf_err *err);

/* identity's users (marked reads): one user's address and name if active
 * (1), 0 when not active or unknown; a role's active members, each given to
 * fn (non-zero stops). */
typedef struct ntf_user {
  char email[256], name[128];
} ntf_user;
int ntf_repo_user(sf_db *db, const char *id, ntf_user *out, sf_err *err);
int ntf_repo_role_members(sf_db *db, const char *role, int (*fn)(void *ud, const char *user), void *ud, sf_err *err);

#endif
