/* Unit tests for the http payment provider (src/services/payments/http.c)
 * against a scripted loopback HTTP server: the request format, how answers
 * map to outcomes, retries, and the circuit breaker inside one batch (what
 * the e2e tests cannot pin down, because the saga decides what shares a
 * batch). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/util.h"
#include "services/payments/payments.h"

/* ---- a scripted HTTP server: one request per connection, one at a time ---- */

#define MAX_SEEN 256

typedef struct fake fake;
/* Fills the answer body, returns the HTTP status. nth: 1 for the first request with this key. */
typedef int (*fake_handler)(fake *f, const char *path, const char *key, const char *body, int nth, char *out,
                            size_t cap);

struct fake {
  int fd, port;
  pthread_t thread;
  atomic_int stop;
  fake_handler handler;
  int delay_ms;
  pthread_mutex_t mu;
  int nseen;
  struct {
    char path[32], key[96], body[256];
  } seen[MAX_SEEN];
};

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t now_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }

static int requests(fake *f) {
  pthread_mutex_lock(&f->mu);
  int n = f->nseen;
  pthread_mutex_unlock(&f->mu);
  return n;
}

static void serve_one(fake *f, int c) {
  char buf[4096] = "";
  size_t len = 0;
  char *end = NULL;
  while (len < sizeof buf - 1 && !(end = strstr(buf, "\r\n\r\n"))) {
    ssize_t r = read(c, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    buf[len] = '\0';
  }
  if (!end) return;
  size_t want = 0;
  char key[96] = "", path[32] = "";
  sscanf(buf, "POST %31s", path);
  for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "Content-Length:", 15) == 0) want = strtoul(line + 17, NULL, 10);
    if (strncasecmp(line + 2, "Idempotency-Key: ", 17) == 0) sscanf(line + 19, "%95[^\r]", key);
  }
  char *body = end + 4;
  while ((size_t)(buf + len - body) < want && len < sizeof buf - 1) {
    ssize_t r = read(c, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    buf[len] = '\0';
  }
  pthread_mutex_lock(&f->mu);
  int nth = 1;
  for (int i = 0; i < f->nseen; i++) nth += strcmp(f->seen[i].key, key) == 0;
  if (f->nseen < MAX_SEEN) {
    snprintf(f->seen[f->nseen].path, sizeof f->seen[0].path, "%s", path);
    snprintf(f->seen[f->nseen].key, sizeof f->seen[0].key, "%s", key);
    snprintf(f->seen[f->nseen].body, sizeof f->seen[0].body, "%s", body);
  }
  f->nseen++;
  pthread_mutex_unlock(&f->mu);
  char answer[512] = "";
  int status = f->handler(f, path, key, body, nth, answer, sizeof answer);
  if (f->delay_ms) sleep_ms(f->delay_ms);
  char out[1024];
  int n = snprintf(out, sizeof out,
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   status, strlen(answer), answer);
  if (write(c, out, (size_t)n) < 0) return; /* the client gave up: fine */
}

static void *fake_main(void *arg) {
  fake *f = arg;
  while (!atomic_load(&f->stop)) {
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0) continue;
    int c = accept(f->fd, NULL, NULL);
    if (c < 0) continue;
    serve_one(f, c);
    close(c);
  }
  return NULL;
}

static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  *port = ntohs(a.sin_port);
  return fd;
}

static fake *fake_start(fake_handler h) {
  fake *f = calloc(1, sizeof *f);
  f->handler = h;
  pthread_mutex_init(&f->mu, NULL);
  f->fd = listen_loopback(&f->port);
  assert_int_equal(listen(f->fd, 128), 0);
  pthread_create(&f->thread, NULL, fake_main, f);
  return f;
}

static void fake_stop(fake *f) {
  atomic_store(&f->stop, 1);
  pthread_join(f->thread, NULL);
  close(f->fd);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

/* ---- handlers ---- */

static int reply(char *out, size_t cap, int status, const char *body) {
  snprintf(out, cap, "%s", body);
  return status;
}

static int h_cards(fake *f, const char *path, const char *key, const char *body, int nth, char *out, size_t cap) {
  if (strstr(key, "declined")) return reply(out, cap, 402, "{\"status\":\"declined\"}");
  if (strstr(key, "nofunds")) return reply(out, cap, 402, "{\"status\":\"insufficient_funds\"}");
  if (strstr(key, "notfound"))
    return reply(out, cap, 404, "{\"status\":\"not_found\",\"message\":\"no card \\\"4242424242424242\\\"\"}");
  if (strstr(key, "ratelimited")) return reply(out, cap, 429, "{\"status\":\"slow down\"}");
  if (strstr(key, "garbage")) return reply(out, cap, 200, "<html>oops</html>");
  if (strstr(key, "noref")) return reply(out, cap, 201, "{\"status\":\"ok\"}");
  snprintf(out, cap, "{\"status\":\"ok\",\"authorization\":\"auth_%s\"}", key);
  return 201;
}

static int h_flaky2(fake *f, const char *path, const char *key, const char *body, int nth, char *out, size_t cap) {
  if (nth <= 2) return reply(out, cap, 503, "{\"status\":\"error\"}");
  return reply(out, cap, 200, "{\"status\":\"ok\",\"authorization\":\"auth_1\"}");
}

static int h_down(fake *f, const char *path, const char *key, const char *body, int nth, char *out, size_t cap) {
  return reply(out, cap, 503, "{\"status\":\"error\"}");
}

static int h_ok(fake *f, const char *path, const char *key, const char *body, int nth, char *out, size_t cap) {
  return reply(out, cap, 200, "{\"status\":\"ok\",\"authorization\":\"auth_1\"}");
}

/* ---- helpers ---- */

static sf_pay_provider *open_at(int port, int retries, int backoff_ms, int threshold, int cooldown_ms, int timeout_ms) {
  sf_config c;
  sf_config_defaults(&c);
  snprintf(c.payment_provider, sizeof c.payment_provider, "http");
  snprintf(c.payment_url, sizeof c.payment_url, "http://127.0.0.1:%d/", port);
  c.payment_retries = retries;
  c.payment_backoff_ms = backoff_ms;
  c.breaker_threshold = threshold;
  c.breaker_cooldown_ms = cooldown_ms;
  c.payment_timeout_ms = timeout_ms;
  sf_err err = {0};
  sf_pay_provider *p = sf_pay_http_open(&c, &err);
  assert_non_null(p);
  return p;
}

static void close_provider(sf_pay_provider *p) {
  p->close(p->self);
  free(p);
}

static sf_pay_op op_of(sf_pay_kind kind, const char *key) {
  sf_pay_op op;
  memset(&op, 0, sizeof op);
  op.kind = kind;
  op.amount = 1250;
  snprintf(op.currency, sizeof op.currency, "EUR");
  snprintf(op.key, sizeof op.key, "%s", key);
  if (kind == SF_PAY_AUTHORIZE)
    snprintf(op.card, sizeof op.card, "4242424242424242");
  else
    snprintf(op.ref, sizeof op.ref, "auth_1");
  return op;
}

static int breaker_state(void) {
  char *m = sf_metrics_render();
  const char *p = strstr(m, "sf_payment_breaker_state{provider=\"http\"} ");
  int v = p ? atoi(p + strlen("sf_payment_breaker_state{provider=\"http\"} ")) : -1;
  free(m);
  return v;
}

/* ---- tests ---- */

static void open_checks_the_url(void **state) {
  sf_config c;
  sf_config_defaults(&c);
  sf_err err = {0};
  assert_null(sf_pay_http_open(&c, &err));
  assert_int_equal(err.status, 422);
  assert_string_equal(err.fields[0].field, "payment_url");
  snprintf(c.payment_url, sizeof c.payment_url, "ftp://127.0.0.1/");
  sf_err_clear(&err);
  assert_null(sf_pay_http_open(&c, &err));
  assert_string_equal(err.fields[0].field, "payment_url");
}

static void request_format(void **state) {
  fake *f = fake_start(h_ok);
  sf_pay_provider *p = open_at(f->port, 0, 1, 100, 1000, 2000);
  sf_pay_op ops[5] = {op_of(SF_PAY_AUTHORIZE, "k-auth"), op_of(SF_PAY_CAPTURE, "k-cap"), op_of(SF_PAY_VOID, "k-void"),
                      op_of(SF_PAY_REFUND, "k-ref"), op_of(SF_PAY_VOID, "k-void-by-key")};
  ops[3].amount = 500;
  snprintf(ops[2].auth_key, sizeof ops[2].auth_key, "ord_1:authorize");
  ops[4].ref[0] = '\0'; /* the authorize's answer never came: named by its key */
  snprintf(ops[4].auth_key, sizeof ops[4].auth_key, "ord_2:authorize");
  p->run(p->self, ops, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(ops[i].outcome, SF_PAY_OK);
  assert_int_equal(requests(f), 5);
  for (int i = 0; i < 5; i++) {
    const char *path = f->seen[i].path, *key = f->seen[i].key, *body = f->seen[i].body;
    assert_non_null(strstr(body, "\"currency\":\"EUR\""));
    if (strcmp(key, "k-auth") == 0) {
      assert_string_equal(path, "/v1/authorize"); /* the trailing slash of the base URL is dropped */
      assert_non_null(strstr(body, "\"amount\":1250"));
      assert_non_null(strstr(body, "\"card_number\":\"4242424242424242\""));
      assert_null(strstr(body, "authorization"));
    } else if (strcmp(key, "k-cap") == 0) {
      assert_string_equal(path, "/v1/capture");
      assert_non_null(strstr(body, "\"amount\":1250"));
      assert_non_null(strstr(body, "\"authorization\":\"auth_1\""));
      assert_null(strstr(body, "card_number"));
    } else if (strcmp(key, "k-void") == 0) {
      assert_string_equal(path, "/v1/void");
      assert_null(strstr(body, "amount"));
      assert_non_null(strstr(body, "\"authorization\":\"auth_1\""));
      assert_non_null(strstr(body, "\"authorize_key\":\"ord_1:authorize\""));
    } else if (strcmp(key, "k-void-by-key") == 0) {
      assert_string_equal(path, "/v1/void");
      assert_null(strstr(body, "\"authorization\""));
      assert_non_null(strstr(body, "\"authorize_key\":\"ord_2:authorize\""));
    } else {
      assert_string_equal(key, "k-ref");
      assert_string_equal(path, "/v1/refund");
      assert_non_null(strstr(body, "\"amount\":500"));
    }
  }
  assert_string_equal(ops[0].ref, "auth_1");
  close_provider(p);
  fake_stop(f);
}

static void answers_map_to_outcomes(void **state) {
  fake *f = fake_start(h_cards);
  sf_pay_provider *p = open_at(f->port, 0, 1, 100, 1000, 2000);
  sf_pay_op ops[8] = {op_of(SF_PAY_AUTHORIZE, "ok"),          op_of(SF_PAY_AUTHORIZE, "declined"),
                      op_of(SF_PAY_AUTHORIZE, "nofunds"),     op_of(SF_PAY_CAPTURE, "notfound"),
                      op_of(SF_PAY_AUTHORIZE, "ratelimited"), op_of(SF_PAY_AUTHORIZE, "garbage"),
                      op_of(SF_PAY_AUTHORIZE, "noref"),       op_of(SF_PAY_AUTHORIZE, "badcard")};
  snprintf(ops[7].card, sizeof ops[7].card, "4242-4242");
  p->run(p->self, ops, 8);
  assert_int_equal(ops[0].outcome, SF_PAY_OK);
  assert_string_equal(ops[0].ref, "auth_ok");
  assert_int_equal(ops[1].outcome, SF_PAY_DECLINED);
  assert_int_equal(ops[2].outcome, SF_PAY_INSUFFICIENT);
  assert_int_equal(ops[3].outcome, SF_PAY_DECLINED);
  /* the provider's message is kept, minus quotes and anything card-like */
  assert_null(strstr(ops[3].message, "4242424242424242"));
  assert_non_null(strstr(ops[3].message, "no card"));
  assert_int_equal(ops[4].outcome, SF_PAY_TRANSIENT);
  assert_non_null(strstr(ops[4].message, "HTTP 429"));
  assert_int_equal(ops[5].outcome, SF_PAY_TRANSIENT);
  assert_int_equal(ops[6].outcome, SF_PAY_TRANSIENT);
  assert_int_equal(ops[7].outcome, SF_PAY_DECLINED); /* not sent: not a card number */
  assert_int_equal(requests(f), 7);
  close_provider(p);
  fake_stop(f);
}

static void transient_errors_are_retried(void **state) {
  fake *f = fake_start(h_flaky2);
  sf_pay_provider *p = open_at(f->port, 2, 1, 100, 1000, 2000);
  sf_pay_op ops[2] = {op_of(SF_PAY_AUTHORIZE, "a"), op_of(SF_PAY_CAPTURE, "b")};
  p->run(p->self, ops, 2);
  assert_int_equal(ops[0].outcome, SF_PAY_OK);
  assert_int_equal(ops[1].outcome, SF_PAY_OK);
  assert_int_equal(requests(f), 6);
  close_provider(p);
  /* one retry fewer than needed: transient, saying how often it tried */
  p = open_at(f->port, 1, 1, 100, 1000, 2000);
  sf_pay_op op = op_of(SF_PAY_AUTHORIZE, "c");
  p->run(p->self, &op, 1);
  assert_int_equal(op.outcome, SF_PAY_TRANSIENT);
  assert_non_null(strstr(op.message, "HTTP 503"));
  assert_non_null(strstr(op.message, "after 2 attempts"));
  close_provider(p);
  fake_stop(f);
}

static void timeouts_and_refusals_are_transient(void **state) {
  fake *f = fake_start(h_ok);
  f->delay_ms = 400;
  sf_pay_provider *p = open_at(f->port, 0, 1, 100, 1000, 100);
  sf_pay_op op = op_of(SF_PAY_AUTHORIZE, "slow");
  int64_t t0 = now_ms();
  p->run(p->self, &op, 1);
  assert_true(now_ms() - t0 < 350);
  assert_int_equal(op.outcome, SF_PAY_TRANSIENT);
  assert_non_null(strstr(op.message, "no answer within 100 ms"));
  assert_int_equal(op.not_sent, 0); /* the request went out: the provider may have acted */
  close_provider(p);
  fake_stop(f);
  int port, fd = listen_loopback(&port); /* bound, never listening: refused */
  p = open_at(port, 1, 1, 100, 1000, 1000);
  op = op_of(SF_PAY_AUTHORIZE, "refused");
  p->run(p->self, &op, 1);
  assert_int_equal(op.outcome, SF_PAY_TRANSIENT);
  assert_non_null(strstr(op.message, "after 2 attempts"));
  assert_int_equal(op.not_sent, 1); /* no connection, no request */
  close_provider(p);
  close(fd);
}

/* The circuit opens while retries of the batch are pending: they end at
 * once, not when their (long) backoff is over. */
static void opening_ends_pending_retries(void **state) {
  fake *f = fake_start(h_down);
  sf_pay_provider *p = open_at(f->port, 5, 60000, 3, 60000, 2000);
  sf_pay_op ops[4] = {op_of(SF_PAY_AUTHORIZE, "a"), op_of(SF_PAY_AUTHORIZE, "b"), op_of(SF_PAY_AUTHORIZE, "c"),
                      op_of(SF_PAY_AUTHORIZE, "d")};
  int64_t t0 = now_ms();
  p->run(p->self, ops, 4);
  assert_true(now_ms() - t0 < 2000);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(ops[i].outcome, SF_PAY_UNAVAILABLE);
    assert_string_equal(ops[i].message, "payment provider unavailable (circuit open)");
  }
  assert_int_equal(breaker_state(), 1);
  int seen = requests(f);
  p->run(p->self, ops, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(ops[i].outcome, SF_PAY_UNAVAILABLE);
  assert_int_equal(requests(f), seen); /* open: nothing sent */
  close_provider(p);
  fake_stop(f);
}

static void half_open_sends_one_probe(void **state) {
  fake *f = fake_start(h_down);
  sf_pay_provider *p = open_at(f->port, 0, 1, 1, 100, 2000);
  sf_pay_op ops[3] = {op_of(SF_PAY_AUTHORIZE, "a"), op_of(SF_PAY_AUTHORIZE, "b"), op_of(SF_PAY_AUTHORIZE, "c")};
  p->run(p->self, ops, 1);
  assert_int_equal(ops[0].outcome, SF_PAY_TRANSIENT);
  assert_int_equal(breaker_state(), 1);
  /* cooldown over, provider still down: one probe, it fails, open again */
  sleep_ms(150);
  int seen = requests(f);
  p->run(p->self, ops, 3);
  assert_int_equal(requests(f), seen + 1);
  assert_int_equal(ops[0].outcome, SF_PAY_TRANSIENT);
  assert_int_equal(ops[1].outcome, SF_PAY_UNAVAILABLE);
  assert_int_equal(ops[2].outcome, SF_PAY_UNAVAILABLE);
  assert_int_equal(breaker_state(), 1);
  /* provider back: one probe succeeds and closes the circuit; the rest of
   * that batch was refused, the next batch goes through */
  f->handler = h_ok;
  sleep_ms(150);
  seen = requests(f);
  p->run(p->self, ops, 3);
  assert_int_equal(requests(f), seen + 1);
  assert_int_equal(ops[0].outcome, SF_PAY_OK);
  assert_int_equal(ops[1].outcome, SF_PAY_UNAVAILABLE);
  assert_int_equal(ops[2].outcome, SF_PAY_UNAVAILABLE);
  assert_int_equal(breaker_state(), 0);
  p->run(p->self, ops, 3);
  for (int i = 0; i < 3; i++) assert_int_equal(ops[i].outcome, SF_PAY_OK);
  close_provider(p);
  fake_stop(f);
}

/* Definite answers (even declines) reset the count of consecutive failures. */
static void definite_answers_reset_the_count(void **state) {
  fake *f = fake_start(h_cards);
  sf_pay_provider *p = open_at(f->port, 0, 1, 2, 60000, 2000);
  sf_pay_op rl = op_of(SF_PAY_AUTHORIZE, "ratelimited"), dec = op_of(SF_PAY_AUTHORIZE, "declined");
  for (int i = 0; i < 5; i++) {
    p->run(p->self, &rl, 1);
    assert_int_equal(rl.outcome, SF_PAY_TRANSIENT);
    p->run(p->self, &dec, 1);
    assert_int_equal(dec.outcome, SF_PAY_DECLINED);
  }
  assert_int_equal(breaker_state(), 0);
  p->run(p->self, &rl, 1);
  p->run(p->self, &rl, 1);
  assert_int_equal(breaker_state(), 1);
  close_provider(p);
  fake_stop(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(open_checks_the_url),
      cmocka_unit_test(request_format),
      cmocka_unit_test(answers_map_to_outcomes),
      cmocka_unit_test(transient_errors_are_retried),
      cmocka_unit_test(timeouts_and_refusals_are_transient),
      cmocka_unit_test(opening_ends_pending_retries),
      cmocka_unit_test(half_open_sends_one_probe),
      cmocka_unit_test(definite_answers_reset_the_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
