/* Webhooks: the signature (RFC 4231 vectors), the backoff schedule, and the
 * subscriber that turns request.webhook_due events into delivery rows once,
 * with the trigger (on_enter / on_exit and the transition) in the body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core/json.h"
#include "events/dispatch.h"
#include "events/store.h"
#include "services/webhooks/webhooks.h"
#include "store/db.h"
#include "store/writer.h"
#include "unit_db.h"

static int setup(void **state) {
  (void)state;
  unit_db_setup("hooks", NULL, SF_WRITER_SYNC_PIPELINED);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unit_db_teardown();
  return 0;
}

static void test_signature(void **state) {
  (void)state;
  char sig[SF_WEBHOOK_SIG_LEN];
  const char *body = "what do ya want for nothing?";
  sf_webhooks_signature("Jefe", body, strlen(body), sig); /* RFC 4231, case 2 */
  assert_string_equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  char big[132];
  memset(big, 0xaa, 131); /* case 6: a key longer than the block is hashed first */
  big[131] = '\0';
  body = "Test Using Larger Than Block-Size Key - Hash Key First";
  sf_webhooks_signature(big, body, strlen(body), sig);
  assert_string_equal(sig, "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_backoff(void **state) {
  (void)state;
  const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000};
  for (int n = 1; n <= 8; n++) assert_int_equal(sf_webhooks_backoff_ms(1000, n), want[n - 1]);
  assert_int_equal(sf_webhooks_backoff_ms(1000, 12), 2048000);
  assert_int_equal(sf_webhooks_backoff_ms(1000, 13), 3600000); /* capped at 1 h */
  assert_int_equal(sf_webhooks_backoff_ms(1000, 100), 3600000);
  assert_int_equal(sf_webhooks_backoff_ms(100, 3), 400);
}

/* ---- the subscriber ---- */

typedef struct {
  sf_cmd cmd;
  int step;
} seed_cmd;

static int append(sf_tx *tx, const char *type, json_t *data, sf_err *err) {
  int rc = sf_ev_append(tx, "request-srq_1", SF_EV_ANY_VERSION, type, data, NULL, NULL, err);
  json_decref(data);
  return rc;
}

/* request.webhook_due as the engine writes it (requests.c, srq_run_actions) */
static json_t *due(const char *url, const char *state, const char *on, int closing) {
  return json_pack(
      "{s:{s:s}, s:s, s:s, s:o}", "webhook", "url", url, "state", state, "on", on, "transition",
      closing ? json_pack("{s:s, s:s, s:s, s:s}", "action", "close", "from", "open", "to", "closed", "by", "usr_1")
              : json_null());
}

static int seed_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  seed_cmd *s = (seed_cmd *)c;
  if (s->step == 0) { /* a request created in `open`, whose on_enter has a webhook */
    if (sf_db_exec(tx->db,
                   "INSERT INTO workflows VALUES('wfl_1', 't', 1, 'T', '{}', '', 'usr_1', 0);"
                   "INSERT INTO service_requests(id, type, workflow_id, title, data, state, created_by, version,"
                   " created_at, updated_at) VALUES('srq_1', 't', 'wfl_1', 'Title', '{\"a\":1}', 'closed', 'usr_1',"
                   " 2, 0, 0)",
                   err))
      return -1;
    if (append(tx, "request.created", json_pack("{s:s}", "state", "open"), err)) return -1;
    return append(tx, "request.webhook_due", due("http://h/created", "open", "on_enter", 0), err);
  }
  /* open -> closed with webhooks on both sides, and events that must not count */
  if (append(tx, "request.webhook_due", due("http://h/exit", "open", "on_exit", 1), err)) return -1;
  if (append(tx, "request.webhook_dues", due("http://h/other-type", "open", "on_exit", 1), err)) return -1;
  if (append(tx, "request.transitioned",
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "action", "close", "from", "open", "to", "closed", "comment", "",
                       "by", "usr_1"),
             err))
    return -1;
  if (append(tx, "request.webhook_due", due("ftp://h/not-http", "closed", "on_enter", 1), err)) return -1;
  return append(tx, "request.webhook_due", due("http://h/enter", "closed", "on_enter", 1), err);
}

static void seed_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void seed(int step) {
  seed_cmd s = {.cmd = {.run = seed_run, .done = seed_done}, .step = step};
  assert_int_equal(sf_writer_exec(&s.cmd), 0);
}

/* The body of the delivery to url (new reference), NULL if there is none. */
static json_t *body_for(const char *url, int *count) {
  sf_err e = {0};
  sf_db *db = sf_db_reader(&e);
  assert_non_null(db);
  sf_stmt *st = sf_db_prepare(db, "SELECT url, body, status, attempts FROM webhook_deliveries ORDER BY created_at", &e);
  assert_non_null(st);
  json_t *found = NULL;
  *count = 0;
  while (sf_stmt_step(st, &e) == 1) {
    (*count)++;
    assert_string_equal(sf_stmt_col_text(st, 2), "pending");
    assert_int_equal(sf_stmt_col_int(st, 3), 0);
    if (strcmp(sf_stmt_col_text(st, 0), url) == 0) found = json_loads(sf_stmt_col_text(st, 1), 0, NULL);
  }
  sf_stmt_reset(st);
  return found;
}

static void expect_trigger(const char *url, const char *state, const char *on, int with_transition) {
  int n;
  json_t *b = body_for(url, &n);
  assert_non_null(b);
  assert_string_equal(sf_json_str(b, "type"), "request.webhook_due");
  assert_string_equal(sf_json_str(json_object_get(b, "webhook"), "url"), url);
  json_t *r = json_object_get(b, "request");
  assert_string_equal(sf_json_str(r, "id"), "srq_1");
  assert_string_equal(sf_json_str(r, "state"), "closed");
  assert_int_equal(sf_json_int(json_object_get(r, "data"), "a", 0), 1);
  assert_int_equal(sf_json_int(json_object_get(r, "workflow"), "version", 0), 1);
  json_t *t = json_object_get(b, "trigger");
  assert_string_equal(sf_json_str(t, "state"), state);
  assert_string_equal(sf_json_str(t, "on"), on);
  json_t *tr = json_object_get(t, "transition");
  if (with_transition) {
    assert_string_equal(sf_json_str(tr, "action"), "close");
    assert_string_equal(sf_json_str(tr, "by"), "usr_1");
  } else {
    assert_true(json_is_null(tr));
  }
  json_decref(b);
}

static void test_subscriber_queues_each_event_once(void **state) {
  (void)state;
  sf_dispatch_clear();
  sf_dispatch_register(&sf_webhooks_subscriber);
  sf_err e = {0};
  seed(0);
  assert_int_equal(sf_dispatch_catch_up(&e), 0);
  usleep(3000); /* commands apart in time, as two requests' are in metadata */
  seed(1);
  assert_int_equal(sf_dispatch_catch_up(&e), 0);
  assert_int_equal(sf_dispatch_catch_up(&e), 0); /* nothing new: nothing queued twice */
  int n;
  assert_null(body_for("none", &n));
  assert_int_equal(n, 3); /* created, exit, enter; not the other type, not ftp */
  expect_trigger("http://h/created", "open", "on_enter", 0);
  expect_trigger("http://h/exit", "open", "on_exit", 1);
  expect_trigger("http://h/enter", "closed", "on_enter", 1);
  /* a delivery log, not a read model */
  assert_int_equal(sf_dispatch_replay("webhooks", &e), -409);
  assert_null(body_for("none", &n));
  assert_int_equal(n, 3);
  sf_dispatch_clear();
}

/* ---- the fan-out of subscriptions ---- */

typedef struct {
  sf_cmd cmd;
  const char *sql; /* run first, if any */
  const char *types[4];
} fan_cmd;

static int fan_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  fan_cmd *f = (fan_cmd *)c;
  if (f->sql && sf_db_exec(tx->db, f->sql, err)) return -1;
  json_t *empty = json_object(); /* sf_ev_append borrows it */
  int rc = 0;
  for (int i = 0; i < 4 && f->types[i] && !rc; i++)
    rc = sf_ev_append(tx, "order-ord_1", SF_EV_ANY_VERSION, f->types[i], empty, NULL, NULL, err) ? -1 : 0;
  json_decref(empty);
  return rc;
}

static void fan(const char *sql, const char *t0, const char *t1) {
  fan_cmd f = {.cmd = {.run = fan_run, .done = seed_done}, .sql = sql, .types = {t0, t1}};
  assert_int_equal(sf_writer_exec(&f.cmd), 0);
  sf_err e = {0};
  assert_int_equal(sf_dispatch_catch_up(&e), 0);
}

static int64_t count(const char *sql) {
  sf_err e = {0};
  sf_db *db = sf_db_reader(&e);
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  int64_t n = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  return n;
}

#define SUB_DELIVERIES "SELECT count(*) FROM webhook_sub_deliveries WHERE subscription_id = 'whk_1'"

static void test_fanout_matches_each_event_once_after_the_subscription(void **state) {
  (void)state;
  sf_dispatch_clear();
  sf_dispatch_register(&sf_webhooks_fanout_subscriber);
  fan(NULL, "order.placed", NULL); /* no subscription yet */
  /* the subscription and events in one transaction: the later ones match */
  fan("INSERT INTO webhook_subscriptions VALUES('whk_1', 'http://h/', '[\"order.*\", \"stock.adjusted\"]', '', 1,"
      " 'v1.x', (SELECT max(position) FROM events), 1, 0, 0);"
      "INSERT INTO webhook_sub_state(id, stamp) VALUES(1, 7) ON CONFLICT(id) DO UPDATE SET stamp = 7",
      "order.paid", "product.created");
  assert_int_equal(count(SUB_DELIVERIES), 1);
  fan(NULL, "stock.adjusted", "order.shipped");
  assert_int_equal(count(SUB_DELIVERIES), 3);
  sf_err e = {0};
  assert_int_equal(sf_dispatch_catch_up(&e), 0); /* nothing twice */
  assert_int_equal(count(SUB_DELIVERIES), 3);
  assert_int_equal(count("SELECT count(*) FROM webhook_sub_deliveries WHERE event_type = 'order.placed'"), 0);
  /* inactive, stamped in the same transaction: nothing more */
  fan("UPDATE webhook_subscriptions SET active = 0 WHERE id = 'whk_1'; UPDATE webhook_sub_state SET stamp = 8",
      "order.paid", NULL);
  assert_int_equal(count(SUB_DELIVERIES), 3);
  /* a timer per delivery, due at once */
  assert_int_equal(count("SELECT count(*) FROM timers WHERE kind = 'webhook_sub'"), 3);
  assert_int_equal(sf_dispatch_replay("webhook_fanout", &e), -409);
  sf_dispatch_clear();
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signature),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_subscriber_queues_each_event_once),
      cmocka_unit_test(test_fanout_matches_each_event_once_after_the_subscription),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
