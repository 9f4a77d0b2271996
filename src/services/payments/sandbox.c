/* The sandbox payment provider: plays the remote side of a payment API with
 * a ledger of its own (a separate SQLite file, as a real provider's ledger is
 * separate from ours). Operations are idempotent by key: the first result of
 * a key is stored and returned on every repeat. Its SQL is not in a
 * repository: it is the simulated provider's own ledger, not our data. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "services/payments/payments.h"
#include "store/db.h"

typedef struct {
  sf_db *db;
} sandbox;

int sf_pay_card_valid(const char *card) {
  size_t n = strlen(card);
  if (n < 12 || n > 19) return 0;
  int sum = 0;
  for (size_t i = 0; i < n; i++) {
    char c = card[n - 1 - i];
    if (!isdigit((unsigned char)c)) return 0;
    int d = c - '0';
    if (i % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 == 0;
}

const char *sf_pay_outcome_name(sf_pay_outcome o) {
  switch (o) {
    case SF_PAY_OK: return "ok";
    case SF_PAY_DECLINED: return "declined";
    case SF_PAY_INSUFFICIENT: return "insufficient_funds";
    case SF_PAY_TRANSIENT: return "transient_error";
    case SF_PAY_UNAVAILABLE: return "provider_unavailable";
  }
  return "unknown";
}

static const char *k_schema =
    "CREATE TABLE IF NOT EXISTS ops(key TEXT PRIMARY KEY, outcome INTEGER NOT NULL, ref TEXT NOT NULL,"
    " message TEXT NOT NULL, attempts INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS auths(ref TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL,"
    " captured INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0, voided INTEGER NOT NULL DEFAULT 0);"
    /* authorizations of the "capture fails" test card */
    "CREATE TABLE IF NOT EXISTS capture_declines(ref TEXT PRIMARY KEY);";

static void set(sf_pay_op *op, sf_pay_outcome o, const char *msg) {
  op->outcome = o;
  snprintf(op->message, sizeof op->message, "%s", msg);
}

/* Returns 1 when key was seen: op filled with the stored result; transient
 * results are not final, so their attempts are counted instead. */
static int seen(sandbox *s, sf_pay_op *op, int *attempts, sf_err *err) {
  sf_stmt *st = sf_db_prepare(s->db, "SELECT outcome, ref, message, attempts FROM ops WHERE key = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, op->key);
  int rc = sf_stmt_step(st, err), found = 0;
  *attempts = 0;
  if (rc == 1) {
    sf_pay_outcome o = (sf_pay_outcome)sf_stmt_col_int(st, 0);
    *attempts = (int)sf_stmt_col_int(st, 3);
    if (o != SF_PAY_TRANSIENT) {
      op->outcome = o;
      if (op->kind == SF_PAY_AUTHORIZE) sf_stmt_col_copy(st, 1, op->ref, sizeof op->ref);
      sf_stmt_col_copy(st, 2, op->message, sizeof op->message);
      found = 1;
    }
  }
  sf_stmt_reset(st);
  return rc < 0 ? -1 : found;
}

static int record(sandbox *s, const sf_pay_op *op, int attempts, sf_err *err) {
  sf_stmt *st = sf_db_prepare(s->db,
                              "INSERT INTO ops(key, outcome, ref, message, attempts) VALUES(?, ?, ?, ?, ?)"
                              " ON CONFLICT(key) DO UPDATE SET outcome = excluded.outcome, ref = excluded.ref,"
                              " message = excluded.message, attempts = excluded.attempts",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, op->key);
  sf_stmt_int(st, 2, op->outcome);
  sf_stmt_text(st, 3, op->ref);
  sf_stmt_text(st, 4, op->message);
  sf_stmt_int(st, 5, attempts);
  return sf_stmt_run(st, err);
}

typedef struct {
  int64_t amount, captured, refunded;
  int voided;
} auth;

static int load_auth(sandbox *s, const char *ref, auth *a, sf_err *err) {
  sf_stmt *st = sf_db_prepare(s->db, "SELECT amount, captured, refunded, voided FROM auths WHERE ref = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, ref);
  int rc = sf_stmt_step(st, err);
  if (rc == 1)
    *a = (auth){sf_stmt_col_int(st, 0), sf_stmt_col_int(st, 1), sf_stmt_col_int(st, 2), (int)sf_stmt_col_int(st, 3)};
  sf_stmt_reset(st);
  return rc < 0 ? -1 : rc; /* 1 found, 0 not */
}

static int capture_declined(sandbox *s, const char *ref, sf_err *err) {
  sf_stmt *st = sf_db_prepare(s->db, "SELECT 1 FROM capture_declines WHERE ref = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, ref);
  int rc = sf_stmt_step(st, err);
  sf_stmt_reset(st);
  return rc;
}

static int exec_auth_update(sandbox *s, const char *sql, int64_t v, const char *ref, sf_err *err) {
  sf_stmt *st = sf_db_prepare(s->db, sql, err);
  if (!st) return -1;
  sf_stmt_int(st, 1, v);
  sf_stmt_text(st, 2, ref);
  return sf_stmt_run(st, err);
}

/* A void that names its authorization by the authorize's key (payments.h):
 * ref gets what that key authorized, or "" after the key is closed (recorded
 * as declined, so an authorize with it later is refused, not authorized). */
static int ref_by_key(sandbox *s, const sf_pay_op *op, char *ref, size_t cap, sf_err *err) {
  sf_pay_op authorize = {.kind = SF_PAY_AUTHORIZE};
  snprintf(authorize.key, sizeof authorize.key, "%s", op->auth_key);
  int attempts;
  int r = seen(s, &authorize, &attempts, err);
  if (r < 0) return -1;
  ref[0] = '\0';
  if (r) {
    if (authorize.outcome == SF_PAY_OK) snprintf(ref, cap, "%s", authorize.ref);
    return 0;
  }
  set(&authorize, SF_PAY_DECLINED, "voided before it was authorized");
  return record(s, &authorize, attempts, err);
}

/* Voids ref (found: whether the ledger has it). */
static int void_auth(sandbox *s, sf_pay_op *op, const char *ref, const auth *a, int found, sf_err *err) {
  if (!found)
    set(op, SF_PAY_DECLINED, "no such authorization");
  else if (a->captured > a->refunded)
    set(op, SF_PAY_DECLINED, "captured funds must be refunded, not voided");
  else if (exec_auth_update(s, "UPDATE auths SET voided = ? WHERE ref = ?", 1, ref, err))
    return -1;
  else
    set(op, SF_PAY_OK, "voided");
  return 0;
}

static int one(sandbox *s, sf_pay_op *op, sf_err *err) {
  int attempts;
  int r = seen(s, op, &attempts, err);
  if (r) return r < 0 ? -1 : 0;
  attempts++;
  auth a = {0};
  switch (op->kind) {
    case SF_PAY_AUTHORIZE:
      if (strcmp(op->card, "4000000000000002") == 0)
        set(op, SF_PAY_DECLINED, "card declined");
      else if (strcmp(op->card, "4000000000009995") == 0)
        set(op, SF_PAY_INSUFFICIENT, "insufficient funds");
      else if (strcmp(op->card, "4000000000000119") == 0 && attempts <= 2)
        set(op, SF_PAY_TRANSIENT, "processing error, try again");
      else if (!sf_pay_card_valid(op->card))
        set(op, SF_PAY_DECLINED, "invalid card number");
      else if (op->amount <= 0)
        set(op, SF_PAY_DECLINED, "invalid amount");
      else {
        sf_id_new("auth", op->ref, sizeof op->ref);
        sf_stmt *st = sf_db_prepare(s->db, "INSERT INTO auths(ref, amount, currency) VALUES(?, ?, ?)", err);
        if (!st) return -1;
        sf_stmt_text(st, 1, op->ref);
        sf_stmt_int(st, 2, op->amount);
        sf_stmt_text(st, 3, op->currency);
        if (sf_stmt_run(st, err)) return -1;
        if (strcmp(op->card, "4000000000000341") == 0) {
          if (!(st = sf_db_prepare(s->db, "INSERT INTO capture_declines(ref) VALUES(?)", err))) return -1;
          sf_stmt_text(st, 1, op->ref);
          if (sf_stmt_run(st, err)) return -1;
        }
        set(op, SF_PAY_OK, "authorized");
      }
      break;
    case SF_PAY_CAPTURE:
      if ((r = load_auth(s, op->ref, &a, err)) < 0) return -1;
      if (!r || a.voided)
        set(op, SF_PAY_DECLINED, "no such authorization");
      else if ((r = capture_declined(s, op->ref, err)) != 0) {
        if (r < 0) return -1;
        set(op, SF_PAY_DECLINED, "capture declined by the issuer");
      } else if (a.captured + op->amount > a.amount)
        set(op, SF_PAY_DECLINED, "amount exceeds the authorization");
      else {
        if (exec_auth_update(s, "UPDATE auths SET captured = captured + ? WHERE ref = ?", op->amount, op->ref, err))
          return -1;
        set(op, SF_PAY_OK, "captured");
      }
      break;
    case SF_PAY_VOID: {
      char ref[sizeof op->ref];
      snprintf(ref, sizeof ref, "%s", op->ref);
      if (!ref[0] && op->auth_key[0] && ref_by_key(s, op, ref, sizeof ref, err)) return -1;
      if ((r = load_auth(s, ref, &a, err)) < 0 || void_auth(s, op, ref, &a, r, err)) return -1;
      break;
    }
    case SF_PAY_REFUND:
      if ((r = load_auth(s, op->ref, &a, err)) < 0) return -1;
      if (!r)
        set(op, SF_PAY_DECLINED, "no such authorization");
      else if (op->amount <= 0 || a.refunded + op->amount > a.captured)
        set(op, SF_PAY_DECLINED, "amount exceeds what was captured and not refunded");
      else {
        if (exec_auth_update(s, "UPDATE auths SET refunded = refunded + ? WHERE ref = ?", op->amount, op->ref, err))
          return -1;
        set(op, SF_PAY_OK, "refunded");
      }
      break;
  }
  return record(s, op, attempts, err);
}

/* One ledger transaction per batch; if the ledger fails, every operation of
 * the batch reports a transient error (nothing was recorded). */
static void run(void *self, sf_pay_op *ops, int n) {
  sandbox *s = self;
  sf_err err = {0};
  int ok = sf_db_exec(s->db, "BEGIN IMMEDIATE", &err) == 0;
  for (int i = 0; ok && i < n; i++) ok = one(s, &ops[i], &err) == 0;
  if (ok) ok = sf_db_exec(s->db, "COMMIT", &err) == 0;
  if (!ok) {
    sf_err ignored = {0};
    sf_db_exec(s->db, "ROLLBACK", &ignored);
    for (int i = 0; i < n; i++) set(&ops[i], SF_PAY_TRANSIENT, "sandbox ledger unavailable");
  }
}

static void close_sandbox(void *self) {
  sandbox *s = self;
  sf_db_close(s->db);
  free(s);
}

sf_pay_provider *sf_pay_sandbox_open(const char *ledger_path, sf_err *err) {
  sf_db *db = sf_db_open(ledger_path, SF_DB_WRITE, err);
  if (!db) return NULL;
  if (sf_db_exec(db, k_schema, err)) {
    sf_db_close(db);
    return NULL;
  }
  sandbox *s = sf_calloc(1, sizeof *s);
  s->db = db;
  sf_pay_provider *p = sf_calloc(1, sizeof *p);
  *p = (sf_pay_provider){.name = "sandbox", .self = s, .run = run, .close = close_sandbox};
  return p;
}
