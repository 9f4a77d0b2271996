/* The NATS relay's pure parts (events/relay.h): the subject of an event
 * (stream type, event type with its dots, characters a subject may not hold,
 * empty tokens, cutting), the settings check, and "off" without nats_url. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "events/relay.h"

static const char *subject(const char *stream, const char *type) {
  static char out[256];
  sf_relay_subject("sf", stream, type, out, sizeof out);
  return out;
}

static void test_subjects(void **state) {
  (void)state;
  assert_string_equal(subject("order-ord_123", "order.placed"), "sf.order.order.placed");
  assert_string_equal(subject("stock-prd_1", "stock.adjusted"), "sf.stock.stock.adjusted");
  assert_string_equal(subject("request-r-1-2", "request.sla.breached"), "sf.request.request.sla.breached");
  /* no '-': the whole stream name is its type */
  assert_string_equal(subject("settings", "changed"), "sf.settings.changed");
  /* wildcards, spaces, control characters, dots in the stream type */
  assert_string_equal(subject("a.b*c-1", "x y>z\tw"), "sf.a_b_c.x_y_z_w");
  /* empty tokens: an empty stream type, leading, doubled and trailing dots */
  assert_string_equal(subject("-x", ".a..b."), "sf._._a._b_");
  assert_string_equal(subject("", ""), "sf._._");
  char small[8];
  assert_int_equal(sf_relay_subject("sf", "order-1", "order.placed", small, sizeof small), 7);
  assert_string_equal(small, "sf.orde");
}

static void test_configure(void **state) {
  (void)state;
  sf_config cfg;
  sf_config_defaults(&cfg);
  sf_err err = {0};
  assert_int_equal(sf_relay_configure(&cfg, &err), 0); /* nats_url empty: off */
  assert_int_equal(sf_relay_enabled(), 0);
  assert_null(sf_relay_status_json());
  assert_string_equal(sf_relay_state(), "off");
  snprintf(cfg.nats_url, sizeof cfg.nats_url, "nats://127.0.0.1:4222");
  assert_int_equal(sf_relay_configure(&cfg, &err), 0);
  assert_int_equal(sf_relay_enabled(), 1);
  const char *bad_streams[] = {"", "A.B", "A B", "A*", "A>", "A/B"};
  for (size_t i = 0; i < sizeof bad_streams / sizeof *bad_streams; i++) {
    sf_config c = cfg;
    snprintf(c.nats_stream, sizeof c.nats_stream, "%s", bad_streams[i]);
    sf_err_clear(&err);
    assert_int_not_equal(sf_relay_configure(&c, &err), 0);
    assert_int_equal(err.status, 400);
  }
  const char *bad_prefixes[] = {"", ".sf", "sf.", "a..b", "sf.*", "s f", "sf.>"};
  for (size_t i = 0; i < sizeof bad_prefixes / sizeof *bad_prefixes; i++) {
    sf_config c = cfg;
    snprintf(c.nats_subject_prefix, sizeof c.nats_subject_prefix, "%s", bad_prefixes[i]);
    sf_err_clear(&err);
    assert_int_not_equal(sf_relay_configure(&c, &err), 0);
  }
  snprintf(cfg.nats_subject_prefix, sizeof cfg.nats_subject_prefix, "acme.sf");
  assert_int_equal(sf_relay_configure(&cfg, &err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_subjects),
      cmocka_unit_test(test_configure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
