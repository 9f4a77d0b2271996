/* The outbound engine (src/events/outbound.c) against a loopback HTTP
 * server run by the test: retries with backoff, the circuit breaker
 * (closed -> open -> half-open probe -> closed or open again), timeouts,
 * cancel, and stopping within a deadline. */
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/util.h"
#include "events/outbound.h"

/* ---- a loopback server: one connection at a time ---- */

static struct test_server {
  int fd, port;
  pthread_t thread;
  atomic_int stop;
  atomic_int fail_first; /* this many requests get a 503 */
  atomic_int delay_ms;   /* before answering */
  atomic_int seen;
} server;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t now_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }

static void serve_one(int c) {
  char buf[4096];
  size_t len = 0;
  buf[0] = '\0';
  while (len < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
    ssize_t r = read(c, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    buf[len] = '\0';
  }
  int nth = atomic_fetch_add(&server.seen, 1) + 1;
  int delay = atomic_load(&server.delay_ms);
  for (int waited = 0; waited < delay && !atomic_load(&server.stop); waited += 10) sleep_ms(10);
  int status = nth <= atomic_load(&server.fail_first) ? 503 : 200;
  char out[256];
  int n = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
  if (write(c, out, (size_t)n) < 0) return; /* the client gave up: fine */
}

static void *server_main(void *arg) {
  (void)arg;
  while (!atomic_load(&server.stop)) {
    struct pollfd p = {.fd = server.fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0) continue;
    int c = accept(server.fd, NULL, NULL);
    if (c < 0) continue;
    serve_one(c);
    close(c);
  }
  return NULL;
}

static int setup(void **state) {
  (void)state;
  memset(&server, 0, sizeof server);
  server.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(server.fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(server.fd, (struct sockaddr *)&a, &al);
  server.port = ntohs(a.sin_port);
  assert_int_equal(listen(server.fd, 64), 0);
  pthread_create(&server.thread, NULL, server_main, NULL);
  sf_err err = {0};
  assert_int_equal(sf_out_start(&err), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sf_out_stop(0);
  atomic_store(&server.stop, 1);
  pthread_join(server.thread, NULL);
  close(server.fd);
  return 0;
}

/* ---- requests that report their end to the test ---- */

typedef struct {
  sf_out_req req;
  char url[64];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int ended;
  sf_out_end end;
  sf_out_attempt last;
} call;

static void on_done(sf_out_req *r, sf_out_end end, const sf_out_attempt *last) {
  call *c = (call *)r;
  pthread_mutex_lock(&c->mu);
  c->end = end;
  c->last = *last;
  c->last.answer = c->last.error = NULL; /* owned by the engine */
  c->ended = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void call_init(call *c, const char *dest, int max_attempts, int backoff_ms, int timeout_ms) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d/hook", server.port);
  c->req = (sf_out_req){.dest = dest,
                        .owner = c,
                        .url = c->url,
                        .method = "POST",
                        .body = "{}",
                        .body_len = 2,
                        .timeout_ms = timeout_ms,
                        .max_attempts = max_attempts,
                        .backoff_ms = backoff_ms,
                        .done = on_done};
}

static void call_wait(call *c) {
  pthread_mutex_lock(&c->mu);
  while (!c->ended) pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
}

static sf_out_end run_one(call *c) {
  sf_out_req *r = &c->req;
  assert_int_equal(sf_out_submit(&r, 1), 0);
  call_wait(c);
  return c->end;
}

static sf_out_dest_stats stats_of(const char *dest) {
  sf_out_dest_stats s;
  assert_int_equal(sf_out_dest_stats_get(dest, &s), 0);
  return s;
}

/* ---- tests ---- */

static void retries_with_backoff(void **state) {
  (void)state;
  sf_out_dest_set("retry", &(sf_out_dest_cfg){.max_in_flight = 4});
  atomic_store(&server.fail_first, 2);
  call c;
  call_init(&c, "retry", 3, 50, 2000);
  int64_t t0 = now_ms();
  assert_int_equal(run_one(&c), SF_OUT_ANSWERED);
  assert_int_equal(c.last.number, 3);
  assert_int_equal(c.last.status, 200);
  assert_int_equal(atomic_load(&server.seen), 3);
  /* full jitter: each wait is in [0, 50 * 2^(retry-1)] */
  assert_true(now_ms() - t0 < 50 + 100 + 1000);
  sf_out_dest_stats s = stats_of("retry");
  assert_int_equal(s.attempts, 3);
  assert_int_equal(s.retries, 2);
  assert_int_equal(s.failures, 2);
  /* out of attempts: failed, the last attempt says why */
  atomic_store(&server.seen, 0);
  atomic_store(&server.fail_first, 5);
  call_init(&c, "retry", 2, 1, 2000);
  assert_int_equal(run_one(&c), SF_OUT_FAILED);
  assert_int_equal(c.last.number, 2);
  assert_int_equal(c.last.status, 503);
  assert_int_equal(atomic_load(&server.seen), 2);
}

static void breaker_opens_probes_and_closes(void **state) {
  (void)state;
  sf_out_dest_set("brk", &(sf_out_dest_cfg){.breaker_threshold = 2, .cooldown_ms = 500, .max_in_flight = 4});
  atomic_store(&server.fail_first, 1000);
  call c[3];
  for (int i = 0; i < 2; i++) {
    call_init(&c[0], "brk", 1, 1, 2000);
    assert_int_equal(run_one(&c[0]), SF_OUT_FAILED);
  }
  assert_int_equal(stats_of("brk").breaker, SF_OUT_OPEN);
  assert_int_equal(stats_of("brk").opened, 1);
  /* open: refused without a call */
  int seen = atomic_load(&server.seen);
  call_init(&c[0], "brk", 3, 1, 2000);
  assert_int_equal(run_one(&c[0]), SF_OUT_REFUSED);
  assert_int_equal(atomic_load(&server.seen), seen);
  /* cooldown over, still failing: one probe of the batch goes, it fails, open again */
  sleep_ms(600);
  sf_out_req *batch[3];
  for (int i = 0; i < 3; i++) call_init(&c[i], "brk", 1, 1, 2000), batch[i] = &c[i].req;
  assert_int_equal(sf_out_submit(batch, 3), 0);
  for (int i = 0; i < 3; i++) call_wait(&c[i]);
  assert_int_equal(c[0].end, SF_OUT_FAILED);
  assert_int_equal(c[1].end, SF_OUT_REFUSED);
  assert_int_equal(c[2].end, SF_OUT_REFUSED);
  assert_int_equal(atomic_load(&server.seen), seen + 1);
  assert_int_equal(stats_of("brk").breaker, SF_OUT_OPEN);
  assert_int_equal(stats_of("brk").opened, 2);
  /* back: the probe closes it, the next batch goes through */
  atomic_store(&server.fail_first, 0);
  sleep_ms(600);
  for (int i = 0; i < 3; i++) call_init(&c[i], "brk", 1, 1, 2000), batch[i] = &c[i].req;
  assert_int_equal(sf_out_submit(batch, 3), 0);
  for (int i = 0; i < 3; i++) call_wait(&c[i]);
  assert_int_equal(c[0].end, SF_OUT_ANSWERED);
  assert_int_equal(c[1].end, SF_OUT_REFUSED);
  assert_int_equal(stats_of("brk").breaker, SF_OUT_CLOSED);
  for (int i = 0; i < 3; i++) call_init(&c[i], "brk", 1, 1, 2000), batch[i] = &c[i].req;
  assert_int_equal(sf_out_submit(batch, 3), 0);
  for (int i = 0; i < 3; i++) {
    call_wait(&c[i]);
    assert_int_equal(c[i].end, SF_OUT_ANSWERED);
  }
}

/* A circuit that opens under waiting retries ends them at once. */
static void opening_refuses_waiting_retries(void **state) {
  (void)state;
  sf_out_dest_set("long", &(sf_out_dest_cfg){.breaker_threshold = 1, .cooldown_ms = 60000, .max_in_flight = 1});
  atomic_store(&server.fail_first, 1000);
  call c;
  call_init(&c, "long", 5, 60000, 2000);
  int64_t t0 = now_ms();
  assert_int_equal(run_one(&c), SF_OUT_REFUSED);
  assert_true(now_ms() - t0 < 2000);
  assert_int_equal(c.last.number, 1);
}

static void timeout_is_transient(void **state) {
  (void)state;
  atomic_store(&server.delay_ms, 400);
  call c;
  call_init(&c, "slow", 1, 1, 100);
  int64_t t0 = now_ms();
  assert_int_equal(run_one(&c), SF_OUT_FAILED);
  assert_true(now_ms() - t0 < 350);
  assert_true(c.last.timed_out);
  assert_int_equal(c.last.curl_code, CURLE_OPERATION_TIMEDOUT);
}

static void cancel_abandons_an_owner(void **state) {
  (void)state;
  atomic_store(&server.delay_ms, 3000);
  call c;
  call_init(&c, "cut", 1, 1, 5000);
  sf_out_req *r = &c.req;
  assert_int_equal(sf_out_submit(&r, 1), 0);
  while (atomic_load(&server.seen) == 0) sleep_ms(5);
  int64_t t0 = now_ms();
  sf_out_cancel(&c);
  assert_true(c.ended); /* done() has run when cancel returns */
  assert_int_equal(c.end, SF_OUT_ABANDONED);
  assert_true(now_ms() - t0 < 1000);
}

/* Stopping: what is in flight gets until the deadline, then is abandoned;
 * the engine refuses new requests from then on. */
static void stop_waits_until_the_deadline(void **state) {
  (void)state;
  atomic_store(&server.delay_ms, 200);
  call c;
  call_init(&c, "stop", 1, 1, 5000);
  sf_out_req *r = &c.req;
  assert_int_equal(sf_out_submit(&r, 1), 0);
  while (atomic_load(&server.seen) == 0) sleep_ms(5);
  sf_out_stop(3000); /* the answer comes within the deadline */
  assert_true(c.ended);
  assert_int_equal(c.end, SF_OUT_ANSWERED);
  assert_int_equal(sf_out_submit(&r, 1), -503);
  sf_err err = {0};
  assert_int_equal(sf_out_start(&err), 0);
  atomic_store(&server.delay_ms, 3000);
  atomic_store(&server.seen, 0);
  call_init(&c, "stop", 1, 1, 5000);
  assert_int_equal(sf_out_submit(&r, 1), 0);
  while (atomic_load(&server.seen) == 0) sleep_ms(5);
  int64_t t0 = now_ms();
  sf_out_stop(100); /* it does not: abandoned */
  assert_true(now_ms() - t0 < 1500);
  assert_true(c.ended);
  assert_int_equal(c.end, SF_OUT_ABANDONED);
  assert_int_equal(sf_out_start(&err), 0); /* for teardown */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(retries_with_backoff, setup, teardown),
      cmocka_unit_test_setup_teardown(breaker_opens_probes_and_closes, setup, teardown),
      cmocka_unit_test_setup_teardown(opening_refuses_waiting_retries, setup, teardown),
      cmocka_unit_test_setup_teardown(timeout_is_transient, setup, teardown),
      cmocka_unit_test_setup_teardown(cancel_abandons_an_owner, setup, teardown),
      cmocka_unit_test_setup_teardown(stop_waits_until_the_deadline, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
