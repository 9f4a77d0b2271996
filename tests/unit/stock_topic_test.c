/* The stock:<product> topic's keys and derived changes (inventory/topics.c,
 * with the orders' sf_orders_stock_moved) as pure functions of an event:
 * which events reach which products, what each subscriber gets (the change
 * of on_hand/reserved/available, never the event's other data), events
 * written before they named their items map to nothing, an order that held
 * through a reservation leaves its stock to the reservation's events, and
 * the answer is the same every time (catch-up gives what live gave). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "edge/stream.h"

extern const sf_topic sf_inventory_topics[];

static sf_event event(const char *stream, const char *type, const char *data) {
  return (sf_event){.position = 42, .stream = stream, .type = type, .id = "evt_1", .data = data, .at = 1};
}

static int keys_of(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX]) {
  return sf_inventory_topics[0].keys(ev, keys, SF_TOPIC_MAX_KEYS);
}

/* The derived change for key: its type and delta, checked whole. */
static void assert_change(const sf_event *ev, const char *key, const char *type, json_int_t q, json_int_t on_hand,
                          json_int_t reserved) {
  const char *t = NULL;
  json_t *d = NULL;
  assert_int_equal(sf_inventory_topics[0].derive(ev, key, &t, &d), 1);
  assert_string_equal(t, type);
  json_t *want = json_pack("{s:s, s:I, s:{s:I, s:I, s:I}}", "product_id", key + 6, "quantity", q, "delta", "on_hand",
                           on_hand, "reserved", reserved, "available", on_hand - reserved);
  assert_true(json_equal(d, want));
  /* the same again: a catch-up read makes what live delivery made */
  json_t *again = NULL;
  assert_int_equal(sf_inventory_topics[0].derive(ev, key, &t, &again), 1);
  assert_true(json_equal(d, again));
  json_decref(want);
  json_decref(d);
  json_decref(again);
}

static void test_adjustments_go_as_they_are(void **state) {
  (void)state;
  sf_event ev = event("stock-prd_a", "stock.adjusted", "{\"product_id\":\"prd_a\",\"delta\":3,\"reason\":\"count\"}");
  char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
  assert_int_equal(keys_of(&ev, keys), 1);
  assert_string_equal(keys[0], "stock:prd_a");
  const char *t = NULL;
  json_t *d = NULL;
  assert_int_equal(sf_inventory_topics[0].derive(&ev, keys[0], &t, &d), 0);
  assert_null(d);
}

static void test_order_hold_sale_release(void **state) {
  (void)state;
  char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
  sf_event placed = event("order-ord_1", "order.placed",
                          "{\"customer_id\":\"usr_x\",\"total\":4900,\"card_last4\":\"4242\",\"reservation_id\":\"\","
                          "\"items\":[{\"product_id\":\"prd_a\",\"quantity\":2,\"name\":\"A\",\"unit_price\":700},"
                          "{\"product_id\":\"prd_b\",\"quantity\":5,\"name\":\"B\",\"unit_price\":700}]}");
  assert_int_equal(keys_of(&placed, keys), 2);
  assert_string_equal(keys[0], "stock:prd_a");
  assert_string_equal(keys[1], "stock:prd_b");
  assert_change(&placed, "stock:prd_a", "stock.held", 2, 0, 2);
  assert_change(&placed, "stock:prd_b", "stock.held", 5, 0, 5);
  /* a product on two lines is one key with their sum */
  sf_event paid = event("order-ord_1", "order.paid",
                        "{\"total\":2100,\"items\":[{\"product_id\":\"prd_a\",\"quantity\":2},"
                        "{\"product_id\":\"prd_a\",\"quantity\":1}]}");
  assert_int_equal(keys_of(&paid, keys), 1);
  assert_change(&paid, "stock:prd_a", "stock.sold", 3, -3, -3);
  sf_event cancelled = event("order-ord_1", "order.cancelled",
                             "{\"reason\":\"payment_declined\",\"items\":[{\"product_id\":\"prd_a\",\"quantity\":2}]}");
  assert_int_equal(keys_of(&cancelled, keys), 1);
  assert_change(&cancelled, "stock:prd_a", "stock.released", 2, 0, -2);
  /* a key the event does not name gets nothing */
  const char *t;
  json_t *d = NULL;
  assert_int_equal(sf_inventory_topics[0].derive(&cancelled, "stock:prd_z", &t, &d), -1);
  assert_null(d);
}

static void test_what_maps_to_nothing(void **state) {
  (void)state;
  char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
  sf_event evs[] = {
      /* written before cancellations and reservation ends named their items */
      event("order-ord_1", "order.cancelled", "{\"reason\":\"payment_declined\"}"),
      event("reservation-rsv_1", "reservation.released", "{\"cause\":\"expired\"}"),
      event("reservation-rsv_1", "reservation.committed", "{}"),
      /* an order that held through a reservation: the reservation's events move it */
      event("order-ord_2", "order.placed",
            "{\"reservation_id\":\"rsv_1\",\"items\":[{\"product_id\":\"prd_a\",\"quantity\":1}]}"),
      event("order-ord_2", "order.paid",
            "{\"reservation_id\":\"rsv_1\",\"items\":[{\"product_id\":\"prd_a\",\"quantity\":1}]}"),
      /* not a move of stock */
      event("order-ord_2", "payment.captured", "{\"amount\":700}"),
      event("order-ord_2", "order.shipped", "{\"items\":[{\"product_id\":\"prd_a\",\"quantity\":1}]}"),
      event("user-usr_1", "user.registered", "{}"),
  };
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) assert_int_equal(keys_of(&evs[i], keys), 0);
}

static void test_reservations(void **state) {
  (void)state;
  char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
  const char *items = "\"items\":[{\"product_id\":\"prd_a\",\"quantity\":4}]";
  char created[160], released[160], committed[160];
  snprintf(created, sizeof created, "{\"owner\":\"usr_owner\",\"status\":\"active\",%s}", items);
  snprintf(released, sizeof released, "{\"cause\":\"expired\",%s}", items);
  snprintf(committed, sizeof committed, "{%s}", items);
  sf_event c = event("reservation-rsv_1", "reservation.created", created);
  sf_event r = event("reservation-rsv_1", "reservation.released", released);
  sf_event k = event("reservation-rsv_1", "reservation.committed", committed);
  assert_int_equal(keys_of(&c, keys), 1);
  assert_string_equal(keys[0], "stock:prd_a");
  assert_change(&c, "stock:prd_a", "stock.held", 4, 0, 4); /* the owner is not in it: asserted whole */
  assert_int_equal(keys_of(&r, keys), 1);
  assert_change(&r, "stock:prd_a", "stock.released", 4, 0, -4);
  assert_int_equal(keys_of(&k, keys), 1);
  assert_change(&k, "stock:prd_a", "stock.sold", 4, -4, -4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adjustments_go_as_they_are),
      cmocka_unit_test(test_order_hold_sale_release),
      cmocka_unit_test(test_what_maps_to_nothing),
      cmocka_unit_test(test_reservations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
