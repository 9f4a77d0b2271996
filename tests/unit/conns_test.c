/* Unit tests for the connection guard's admission and sizing (src/core/conns.c).
 * Deadlines and cuts need real sockets and a daemon: tests/e2e/test_connections.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/conns.h"

static struct sockaddr_in v4(const char *ip) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

#define SA(a) ((const struct sockaddr *)&(a))

static void caps_total_and_per_address(void **state) {
  (void)state;
  sf_conns_limits lim = {.max = 5, .per_ip = 2, .header_timeout_s = 60, .body_timeout_s = 60};
  sf_conns *g = sf_conns_new(&lim);
  struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v4("10.0.0.3");
  sf_conn *open[5];
  int n = 0;
  assert_true(sf_conns_admit(g, SA(a)));
  open[n++] = sf_conns_opened(g, -1, SA(a));
  open[n++] = sf_conns_opened(g, -1, SA(a));
  assert_false(sf_conns_admit(g, SA(a))); /* two from a already */
  assert_true(sf_conns_admit(g, SA(b)));
  open[n++] = sf_conns_opened(g, -1, SA(b));
  open[n++] = sf_conns_opened(g, -1, SA(b));
  open[n++] = sf_conns_opened(g, -1, SA(c));
  assert_false(sf_conns_admit(g, SA(c))); /* five in all */
  sf_conns_closed(g, open[0]);
  assert_true(sf_conns_admit(g, SA(a))); /* room for a again */
  for (int i = 1; i < n; i++) sf_conns_closed(g, open[i]);
  sf_conns_closed(g, NULL); /* a connection the guard never saw */
  sf_conns_free(g);
}

static void phases_refuse_to_run_a_cut_request(void **state) {
  (void)state;
  sf_conns_limits lim = {.max = 10, .per_ip = 0, .header_timeout_s = 60, .body_timeout_s = 60};
  sf_conns *g = sf_conns_new(&lim);
  struct sockaddr_in a = v4("10.0.0.1");
  sf_conn *busy = sf_conns_opened(g, -1, SA(a)), *slow = sf_conns_opened(g, -1, SA(a));
  sf_conns_head_received(busy);
  assert_true(sf_conns_processing(busy));
  sf_conns_head_received(slow);
  assert_int_equal(sf_conns_cut_receiving(g), 1); /* only the one still receiving */
  assert_false(sf_conns_processing(slow));
  sf_conns_idle(busy);
  assert_int_equal(sf_conns_cut_receiving(g), 1); /* idle now: cut too */
  assert_true(sf_conns_processing(NULL));
  sf_conns_closed(g, busy);
  sf_conns_closed(g, slow);
  sf_conns_free(g);
}

static void capacity_leaves_room_for_the_process(void **state) {
  (void)state;
  assert_int_equal(sf_conns_capacity(1024), 768);
  assert_int_equal(sf_conns_capacity(320), 160);
  assert_int_equal(sf_conns_capacity(65536), 65280);
  assert_int_equal(sf_conns_capacity(1), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(caps_total_and_per_address),
      cmocka_unit_test(phases_refuse_to_run_a_cut_request),
      cmocka_unit_test(capacity_leaves_room_for_the_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
