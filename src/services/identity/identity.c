#include "services/identity/identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/metrics.h"
#include "core/util.h"
#include "edge/edge.h"
#include "events/store.h"
#include "services/identity/internal.h"
#include "services/identity/password.h"

id_settings id_cfg = {900, 30 * 86400, 5, 30, ID_VERIFY_OPTIONAL, 86400, 1800, 5, "http://localhost:8080"};

/* Serialised users by id (cache-aside). Every write goes through id_save,
 * which invalidates after commit, so a reader never sees an older user than
 * one already acknowledged to a writer. Users created or changed by another
 * process (the CLI) are new rows, never cached yet. */
static struct identity_state { sf_cache *users; } identity;

/* After-commit hooks that run on every instance sharing the database
 * (store/writer.h sf_tx_after_commit_all): a user's cached JSON and the
 * edge's session answers go stale wherever they are held. */
#define HOOK_USER_CACHE "identity.user-json"
#define HOOK_SESSIONS "identity.sessions"

static void invalidate(void *ud, const char *key) {
  (void)ud;
  if (identity.users) sf_cache_invalidate(identity.users, key);
}
static void user_changed(void *ud, const char *key) { (void)ud, sf_edge_user_changed(key); }

__attribute__((constructor)) static void register_hooks(void) {
  sf_writer_broadcast_register(HOOK_USER_CACHE, invalidate, NULL);
  sf_writer_broadcast_register(HOOK_SESSIONS, user_changed, NULL);
}

void id_changed(sf_tx *tx, const char *user_id) { sf_tx_after_commit_all(tx, HOOK_SESSIONS, user_id); }

/* Only a change of role or status changes the edge's session answers (the
 * sessions themselves change through id_revoke_*): a profile edit or a failed
 * login does not send every HTTP thread back to the database. */
int id_save(sf_tx *tx, const sf_user *u, sf_err *err) {
  if (sf_user_update(tx->db, u, err)) return -1;
  sf_tx_after_commit_all(tx, HOOK_USER_CACHE, u->id);
  if (strcmp(u->role, u->loaded_role) != 0 || strcmp(u->status, u->loaded_status) != 0) id_changed(tx, u->id);
  return 0;
}

int id_revoke_session(sf_tx *tx, const char *user_id, const char *family, sf_err *err) {
  int n = sf_refresh_revoke_family(tx->db, family, err);
  if (n > 0) id_changed(tx, user_id);
  return n < 0 ? -1 : n;
}

int id_revoke_sessions(sf_tx *tx, const char *user_id, const char *keep, sf_err *err) {
  int n = sf_refresh_revoke_user(tx->db, user_id, keep, err);
  if (n > 0) id_changed(tx, user_id);
  return n < 0 ? -1 : n;
}

/* The edge's session checker (edge.h), on an HTTP thread's read connection. */
static int check_session(const char *user_id, const char *family, char *role, size_t cap, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  if (!db) return -503;
  sf_session_state s;
  int rc = sf_session_lookup(db, user_id, family, &s, err);
  if (rc == -404) {
    sf_err_clear(err);
    return sf_err_set(err, 401, "invalid-token", "Unauthorized", "the token's user does not exist");
  }
  if (rc) return rc;
  if (strcmp(s.status, "active") != 0)
    return sf_err_set(err, 401, "invalid-token", "Unauthorized", "this account is disabled");
  if (!s.live)
    return sf_err_set(err, 401, "invalid-token", "Unauthorized",
                      "this session has ended (logged out or revoked); log in again");
  snprintf(role, cap, "%s", s.role);
  return 0;
}

void id_reply_user_by_id(sf_req *req, const char *id) {
  size_t len;
  char etag[32];
  uint64_t gen = sf_cache_gen(identity.users, id);
  char *body = sf_cache_get(identity.users, id, &len, etag, sizeof etag);
  if (body) {
    sf_req_reply(req, 200, "application/json", body, len);
    sf_req_add_header(req, "ETag", etag);
    return;
  }
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_user u;
  if (!db || sf_user_by_id(db, id, &u, &err)) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_result out = {0};
  id_user_result(&out, 200, &u);
  sf_req_reply_result(req, &out);
  snprintf(etag, sizeof etag, "\"%lld\"", (long long)u.version);
  sf_cache_put(identity.users, id, gen, req->resp_body, req->resp_len, etag);
}

void sf_identity_configure(const sf_config *cfg) {
  id_cfg.access_ttl_s = cfg->access_ttl_s;
  id_cfg.refresh_ttl_s = cfg->refresh_ttl_s;
  id_cfg.lockout_threshold = cfg->lockout_threshold;
  id_cfg.lockout_base_s = cfg->lockout_base_s;
  id_cfg.verification = strcmp(cfg->email_verification, "off") == 0        ? ID_VERIFY_OFF
                        : strcmp(cfg->email_verification, "required") == 0 ? ID_VERIFY_REQUIRED
                                                                           : ID_VERIFY_OPTIONAL;
  id_cfg.verify_ttl_s = cfg->email_verify_ttl_s;
  id_cfg.reset_ttl_s = cfg->password_reset_ttl_s;
  id_cfg.mails_per_hour = cfg->account_mails_per_hour;
  if (cfg->app_url[0])
    snprintf(id_cfg.app_url, sizeof id_cfg.app_url, "%s", cfg->app_url);
  else
    snprintf(id_cfg.app_url, sizeof id_cfg.app_url, "http://localhost:%d", cfg->port); /* as mail's {{app.url}} */
  size_t n = strlen(id_cfg.app_url);
  while (n && id_cfg.app_url[n - 1] == '/') id_cfg.app_url[--n] = '\0'; /* links add their own '/' */
}

void sf_identity_start(void) {
  if (identity.users) return;
  identity.users = sf_cache_new("users", 100000);
  sf_edge_on_session_check(check_session);
  sf_cache_register_metrics(identity.users);
}

void sf_identity_stop(void) {
  sf_cache_free(identity.users);
  identity.users = NULL;
}

int id_event(sf_tx *tx, const sf_actor *who, const sf_user *u, const char *type, json_t *data, sf_err *err) {
  char stream[64];
  snprintf(stream, sizeof stream, "user-%s", u->id);
  sf_ev_meta meta = {0};
  sf_ev_meta_of(who, &meta);
  if (!meta.actor) meta.actor = u->id;
  int rc = sf_ev_append(tx, stream, SF_EV_ANY_VERSION, type, data, &meta, NULL, err);
  json_decref(data);
  return rc;
}

int id_load(sf_tx *tx, const char *id, sf_user *u, sf_err *err) { return sf_user_by_id(tx->db, id, u, err); }

int id_sign(const sf_tx *tx, const sf_user *u, const char *typ, const char *sid, int ttl_s, char *out, size_t cap,
            sf_err *err) {
  sf_jwt_claims c = {0};
  snprintf(c.sub, sizeof c.sub, "%s", u->id);
  snprintf(c.role, sizeof c.role, "%s", u->role);
  snprintf(c.typ, sizeof c.typ, "%s", typ);
  snprintf(c.sid, sizeof c.sid, "%s", sid ? sid : "");
  sf_id_new("jti", c.jti, sizeof c.jti);
  c.iat = c.nbf = tx->now_ms / 1000;
  c.exp = c.iat + ttl_s;
  return sf_jwt_issue(sf_edge_jwt(), &c, out, cap, err);
}

int id_issue_tokens(sf_tx *tx, const sf_user *u, const char *family, json_t **out, sf_err *err) {
  sf_refresh r = {0};
  sf_id_new("rtk", r.id, sizeof r.id);
  if (family && *family)
    snprintf(r.family, sizeof r.family, "%s", family);
  else
    sf_id_new("fam", r.family, sizeof r.family);
  snprintf(r.user_id, sizeof r.user_id, "%s", u->id);
  snprintf(r.status, sizeof r.status, "active");
  r.expires_at = tx->now_ms + (int64_t)id_cfg.refresh_ttl_s * 1000;
  unsigned char secret[32];
  sf_random_bytes(secret, sizeof secret);
  char token[64] = "rt_";
  sf_b64url_encode(secret, sizeof secret, token + 3, sizeof token - 3);
  char hash[65];
  sf_sha256_hex(token, strlen(token), hash);
  if (sf_refresh_insert(tx->db, &r, hash, tx->now_ms, err)) return -1;

  char access[1024];
  if (id_sign(tx, u, "access", r.family, id_cfg.access_ttl_s, access, sizeof access, err)) return -1;
  *out = json_pack("{s:s, s:s, s:s, s:i, s:o}", "access_token", access, "refresh_token", token, "token_type", "Bearer",
                   "expires_in", id_cfg.access_ttl_s, "user", sf_user_json(u));
  return 0;
}

int id_create(sf_tx *tx, const sf_actor *who, const char *email, const char *name, const char *role,
              const char *password_hash, int email_verified, sf_user *u, sf_err *err) {
  memset(u, 0, sizeof *u);
  u->email_verified = email_verified;
  sf_id_new("usr", u->id, sizeof u->id);
  snprintf(u->email, sizeof u->email, "%s", email);
  snprintf(u->name, sizeof u->name, "%s", name ? name : "");
  snprintf(u->role, sizeof u->role, "%s", role);
  snprintf(u->status, sizeof u->status, "active");
  snprintf(u->password_hash, sizeof u->password_hash, "%s", password_hash);
  u->version = 1;
  u->created_at = u->updated_at = tx->now_ms;
  if (sf_user_insert(tx->db, u, err)) return -1;
  id_changed(tx, u->id); /* a forged token's "no such user" answer may be cached */
  return id_event(tx, who, u, "user.registered",
                  json_pack("{s:s, s:s, s:s, s:b}", "email", u->email, "name", u->name, "role", u->role,
                            "email_verified", u->email_verified),
                  err);
}

int id_normalize_email(const char *in, char *out, size_t cap, sf_err *err) {
  size_t n = strlen(in);
  if (n < 3 || n > 254 || n >= cap) return sf_err_invalid(err, "email", "must be 3-254 characters");
  const char *at = strchr(in, '@');
  if (!at || at == in || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' || in[n - 1] == '.')
    return sf_err_invalid(err, "email", "is not a valid email address");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>' || ch == ',' || ch == ';' || ch == '"')
      return sf_err_invalid(err, "email", "is not a valid email address");
    out[i] = (char)tolower(ch);
  }
  out[n] = '\0';
  return 0;
}

void id_user_result(sf_result *out, int status, const sf_user *u) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%lld\"", (long long)u->version);
  sf_result_json(out, status, sf_user_json(u));
  sf_result_header(out, "ETag", etag);
}

/* ---- CLI ---- */

typedef struct {
  sf_cmd cmd;
  const char *email, *role, *name, *hash;
  char id[SF_ID_MAX];
} create_cmd;

static int create_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  create_cmd *cc = (create_cmd *)c;
  sf_user u;
  if (id_create(tx, NULL, cc->email, cc->name, cc->role, cc->hash, 1, &u, err)) return -1;
  snprintf(cc->id, sizeof cc->id, "%s", u.id);
  return 0;
}

static void create_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

int sf_identity_create_user(const char *email, const char *password, const char *role, const char *name, char *id_out,
                            sf_err *err) {
  char norm[256];
  if (id_normalize_email(email, norm, sizeof norm, err)) return -1;
  if (!sf_edge_valid_role(role)) return sf_err_invalid(err, "role", "must be one of customer, staff, approver, admin");
  size_t pl = strlen(password);
  if (pl < 8 || pl > 128) return sf_err_invalid(err, "password", "must be 8-128 characters");
  char hash[SF_PW_HASH_MAX];
  if (sf_pw_hash(password, hash, err)) return -1;
  create_cmd cc = {.cmd = {.run = create_run, .done = create_done},
                   .email = norm,
                   .role = role,
                   .name = name ? name : "",
                   .hash = hash};
  int rc = sf_writer_exec(&cc.cmd);
  if (rc) {
    *err = cc.cmd.err;
    return rc;
  }
  snprintf(id_out, SF_ID_MAX, "%s", cc.id);
  return 0;
}
