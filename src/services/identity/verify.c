/* Identity's half of `serviceflow verify`: every user rebuilt from the events
 * of its stream "user-<id>" and compared with its users row.
 *
 * The fold mirrors the commands in identity.c, users.c and auth.c:
 *   user.registered      {email, name, role, email_verified}  the user exists, active, no MFA
 *                        (no email_verified: registered before verification
 *                        existed, counted verified as the migration did)
 *   user.email_verified  {email}              email_verified
 *   user.role_changed    {from, to}           role
 *   user.status_changed  {from, to}           status (active | disabled)
 *   user.profile_updated {name}               name
 *   user.mfa_enabled / user.mfa_disabled      mfa_enabled
 * Events carry no secrets, so the password hash, the TOTP secret and the
 * lockout counters are not rebuilt; the other user.* events (logins,
 * sessions) do not change these fields. A change event whose "from" is not
 * what the events fold to is reported too: the row the command started
 * from had already drifted. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "services/identity/identity.h"
#include "services/identity/repo.h"

typedef struct {
  int registered; /* user.registered seen */
  int row;        /* a users row was seen */
  char role[16], status[16];
  int64_t email, name; /* slots in the strings index */
  int mfa;
  int verified;
} user_fold;

typedef struct {
  sf_vindex users, strings;
  user_fold *u;
  int64_t cap;
  sf_verify_report *r;
} id_fold;

static int64_t intern(id_fold *f, const char *s) { return sf_vindex_add(&f->strings, s ? s : "", NULL); }

static void set_field(char *dst, size_t cap, const char *v) { snprintf(dst, cap, "%s", v ? v : ""); }

static void on_registered(id_fold *f, user_fold *u, const char *id, int64_t pos, json_t *d) {
  if (u->registered) {
    sf_verify_mismatch(f->r, "user %s: registered again at position %" PRId64, id, pos);
    return;
  }
  int64_t email = intern(f, sf_json_str(d, "email")), name = intern(f, sf_json_str(d, "name"));
  json_t *verified = json_object_get(d, "email_verified");
  *u = (user_fold){.registered = 1, .email = email, .name = name, .verified = !verified || json_is_true(verified)};
  set_field(u->role, sizeof u->role, sf_json_str(d, "role"));
  set_field(u->status, sizeof u->status, "active");
}

/* role_changed / status_changed: "from" must be what the fold says. */
static void on_changed(id_fold *f, char *field, size_t cap, const char *what, const char *id, int64_t pos, json_t *d) {
  const char *from = sf_json_str(d, "from");
  if (!from || strcmp(from, field) != 0)
    sf_verify_mismatch(f->r, "user %s: %s change at position %" PRId64 " from '%s', events fold to '%s'", id, what, pos,
                       from ? from : "", field);
  set_field(field, cap, sf_json_str(d, "to"));
}

static void apply(id_fold *f, const char *id, int64_t pos, const char *type, json_t *d) {
  int64_t slot = sf_vindex_add(&f->users, id, NULL);
  sf_verify_grow((void **)&f->u, &f->cap, slot, sizeof *f->u);
  user_fold *u = &f->u[slot];
  if (strcmp(type, "user.registered") == 0) {
    on_registered(f, u, id, pos, d);
    return;
  }
  if (!u->registered) {
    sf_verify_mismatch(f->r, "user %s: %s at position %" PRId64 " before user.registered", id, type, pos);
    return;
  }
  if (strcmp(type, "user.role_changed") == 0)
    on_changed(f, u->role, sizeof u->role, "role", id, pos, d);
  else if (strcmp(type, "user.status_changed") == 0)
    on_changed(f, u->status, sizeof u->status, "status", id, pos, d);
  else if (strcmp(type, "user.profile_updated") == 0)
    u->name = intern(f, sf_json_str(d, "name"));
  else if (strcmp(type, "user.email_verified") == 0)
    u->verified = 1;
  else
    u->mfa = strcmp(type, "user.mfa_enabled") == 0;
}

static int fold_events(sf_db *db, id_fold *f, sf_err *err) {
  sf_stmt *st = sf_user_verify_events(db, err);
  if (!st) return -1;
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    int64_t pos = sf_stmt_col_int(st, 0);
    const char *stream = sf_stmt_col_text(st, 1), *type = sf_stmt_col_text(st, 2);
    json_t *d = json_loads(sf_stmt_col_text(st, 3), 0, NULL);
    if (!d) {
      sf_verify_mismatch(f->r, "event at position %" PRId64 " (%s): unreadable data", pos, type);
      continue;
    }
    apply(f, stream + 5, pos, type, d);
    json_decref(d);
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

static void compare_row(id_fold *f, sf_stmt *st) {
  const char *id = sf_stmt_col_text(st, 0);
  int64_t slot = sf_vindex_find(&f->users, id);
  user_fold *u = slot >= 0 ? &f->u[slot] : NULL;
  if (!u || !u->registered) {
    sf_verify_mismatch(f->r, "user %s: state row ('%s', %s) has no user.registered event", id, sf_stmt_col_text(st, 1),
                       sf_stmt_col_text(st, 3));
    return;
  }
  u->row = 1;
  sf_verify_str(f->r, "user", id, "email", sf_stmt_col_text(st, 1), sf_vindex_key(&f->strings, u->email));
  sf_verify_str(f->r, "user", id, "name", sf_stmt_col_text(st, 2), sf_vindex_key(&f->strings, u->name));
  sf_verify_str(f->r, "user", id, "role", sf_stmt_col_text(st, 3), u->role);
  sf_verify_str(f->r, "user", id, "status", sf_stmt_col_text(st, 4), u->status);
  sf_verify_int(f->r, "user", id, "mfa_enabled", sf_stmt_col_int(st, 5) != 0, u->mfa);
  sf_verify_int(f->r, "user", id, "email_verified", sf_stmt_col_int(st, 6) != 0, u->verified);
}

static int compare_users(sf_db *db, id_fold *f, sf_err *err) {
  sf_stmt *st = sf_user_verify_rows(db, err);
  if (!st) return -1;
  int rc;
  int64_t rows = 0;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    compare_row(f, st);
    rows++;
  }
  sf_stmt_reset(st);
  if (rc < 0) return rc;
  int64_t missing = 0;
  for (int64_t i = 0; i < f->users.n; i++) {
    const user_fold *u = &f->u[i];
    if (!u->registered || u->row) continue;
    missing++;
    sf_verify_mismatch(f->r, "user %s: no state row; events say role '%s', status '%s'", sf_vindex_key(&f->users, i),
                       u->role, u->status);
  }
  f->r->checked = rows + missing;
  return 0;
}

int sf_identity_verify(sf_db *db, sf_verify_report *r, sf_err *err) {
  id_fold f = {.r = r};
  int rc = fold_events(db, &f, err);
  if (!rc) rc = compare_users(db, &f, err);
  sf_vindex_free(&f.users);
  sf_vindex_free(&f.strings);
  free(f.u);
  return rc;
}
