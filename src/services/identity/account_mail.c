/* Account self-service, the shared part: the single-use tokens of e-mailed
 * links and the mails that carry them (services/mail/mail.h), the budget of
 * account mails per address, and the check of a returned token.
 *
 * A token is 32 random bytes (base64url, with a prefix naming its purpose);
 * only its SHA-256 is stored, and the token itself goes into the mail alone:
 * never into an event, a log line or an answer. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "edge/edge.h"
#include "edge/ratelimit.h"
#include "events/store.h"
#include "services/identity/internal.h"
#include "services/mail/mail.h"

/* The budget of account mails per address or user (id_mail_budget); its
 * limit, and the buckets used without Redis. */
static struct account_state { sf_ratelimit *mails; } account;

int id_account_start(const sf_config *cfg, sf_err *err) {
  const char *mode = cfg->email_verification;
  if (strcmp(mode, "off") != 0 && strcmp(mode, "optional") != 0 && strcmp(mode, "required") != 0)
    return sf_err_invalid(err, "email_verification", "must be off, optional or required");
  if (cfg->account_mails_per_hour > 0 && !account.mails)
    account.mails = sf_rl_new(cfg->account_mails_per_hour / 3600.0, cfg->account_mails_per_hour, 100000);
  return 0;
}

void id_account_stop(void) {
  sf_rl_free(account.mails);
  account.mails = NULL;
}

int id_mail_budget(const char *key, sf_err *err) {
  if (!account.mails) return 0;
  /* Through the edge's limiter: shared by every instance when redis_url is
   * set. The key is hashed so that no address is written to Redis. */
  char hashed[65];
  sf_sha256_hex(key, strlen(key), hashed);
  sf_rl_result r;
  if (sf_edge_rl_take(account.mails, "mail", hashed, &r)) return sf_edge_limits_unavailable(err);
  if (r.allowed) return 0;
  sf_err_set(err, 429, "rate-limited", "Too many requests", "too many account e-mails for this address; retry in %d s",
             r.retry_after_s);
  err->retry_after = r.retry_after_s;
  return -429;
}

/* "30 minutes", "24 hours", "2 days": for the mail's {{expires_in}}. */
static void human_duration(int s, char *out, size_t cap) {
  if (s % 86400 == 0 && s >= 2 * 86400)
    snprintf(out, cap, "%d days", s / 86400);
  else if (s % 3600 == 0 && s >= 3600)
    snprintf(out, cap, "%d hour%s", s / 3600, s == 3600 ? "" : "s");
  else
    snprintf(out, cap, "%d minute%s", (s + 59) / 60, s <= 60 ? "" : "s");
}

static json_t *user_vars(const sf_user *u) { return json_pack("{s:s, s:s}", "name", u->name, "email", u->email); }

static int queue(sf_tx *tx, const sf_user *u, const char *id, const char *kind, json_t *vars, sf_err *err) {
  sf_mail m = {.id = id, .kind = kind, .to = u->email, .to_name = u->name, .user_id = u->id, .vars = vars};
  int rc = sf_mail_queue(tx, &m, err);
  json_decref(vars);
  return rc;
}

int id_mail_token(sf_tx *tx, const sf_user *u, const char *purpose, int ttl_s, const char *path, const char *kind,
                  char *expires, size_t cap, sf_err *err) {
  if (sf_acct_token_forget_user(tx->db, u->id, purpose, err) ||
      sf_acct_token_revoke_user(tx->db, u->id, purpose, err) < 0)
    return -1;
  sf_acct_token t = {0};
  sf_id_new("atk", t.id, sizeof t.id);
  snprintf(t.user_id, sizeof t.user_id, "%s", u->id);
  snprintf(t.purpose, sizeof t.purpose, "%s", purpose);
  snprintf(t.status, sizeof t.status, "active");
  t.created_at = tx->now_ms;
  t.expires_at = tx->now_ms + (int64_t)ttl_s * 1000;
  unsigned char secret[32];
  sf_random_bytes(secret, sizeof secret);
  char token[64] = "at_", hash[65], link[sizeof id_cfg.app_url + 128], in[32];
  sf_b64url_encode(secret, sizeof secret, token + 3, sizeof token - 3);
  sf_sha256_hex(token, strlen(token), hash);
  if (sf_acct_token_insert(tx->db, &t, hash, err)) return -1;
  snprintf(link, sizeof link, "%s%s?token=%s", id_cfg.app_url, path, token);
  sf_time_iso8601(t.expires_at, expires, cap);
  human_duration(ttl_s, in, sizeof in);
  /* the token's row id, not the token, names the message (its Message-ID) */
  int rc = queue(
      tx, u, t.id, kind,
      json_pack("{s:o, s:s, s:s, s:s}", "user", user_vars(u), "link", link, "expires_at", expires, "expires_in", in),
      err);
  sodium_memzero(token, sizeof token);
  sodium_memzero(link, sizeof link);
  return rc;
}

int id_mail_password_changed(sf_tx *tx, const sf_user *u, sf_err *err) {
  char id[SF_ID_MAX], at[32];
  sf_id_new("pwc", id, sizeof id);
  sf_time_iso8601(tx->now_ms, at, sizeof at);
  return queue(tx, u, id, "account.password_changed", json_pack("{s:o, s:s}", "user", user_vars(u), "changed_at", at),
               err);
}

int id_token_usable(sf_db *db, const char *hash, const char *purpose, int64_t now_ms, sf_acct_token *t, sf_err *err) {
  int rc = sf_acct_token_by_hash(db, hash, t, err);
  if (rc && rc != -404) return rc;
  if (rc == 0 && strcmp(t->purpose, purpose) == 0 && strcmp(t->status, "active") == 0 && t->expires_at > now_ms)
    return 0;
  sf_err_clear(err);
  return id_token_invalid(err);
}

int id_token_invalid(sf_err *err) {
  /* unknown, used, revoked and expired look alike: one answer */
  return sf_err_set(err, 400, "invalid-or-expired-token", "Invalid or expired link",
                    "this link is unknown, was already used, or has expired; ask for a new one");
}

int id_mark_verified(sf_tx *tx, const sf_actor *who, sf_user *u, sf_err *err) {
  if (u->email_verified) return 0;
  u->email_verified = 1;
  if (sf_acct_token_revoke_user(tx->db, u->id, ID_PURPOSE_VERIFY, err) < 0) return -1;
  return id_event(tx, who, u, "user.email_verified", json_pack("{s:s}", "email", u->email), err);
}

int id_send_verification(sf_tx *tx, const sf_actor *who, const sf_user *u, int announce, sf_err *err) {
  char expires[32];
  if (id_mail_token(tx, u, ID_PURPOSE_VERIFY, id_cfg.verify_ttl_s, "/verify-email", "account.verify_email", expires,
                    sizeof expires, err))
    return -1;
  return !announce
             ? 0
             : id_event(tx, who, u, "user.email_verification_sent", json_pack("{s:s}", "expires_at", expires), err);
}

int id_no_mail(sf_tx *tx, const sf_actor *who, const char *what, sf_err *err) {
  /* no address in it: it may be anyone's, mistyped */
  return sf_ev_emit(tx, who, "identity", "account-mail", "identity.account_mail_skipped",
                    json_pack("{s:s}", "request", what), err);
}
