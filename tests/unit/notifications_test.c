/* Notifications: the recipient rules (rules.h) as pure functions — who is
 * told of each triggering event, who is left out, the categories' defaults
 * and the template variables (money as "12.50", names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "services/notifications/rules.h"

static const ntf_context k_cx = {.actor = "usr_actor",
                                 .requester = "usr_req",
                                 .assignee_user = "usr_asg",
                                 .assignee_role = "staff",
                                 .commenters = (const char *const[]){"usr_c1", "usr_req"},
                                 .ncommenters = 2,
                                 .customer = "usr_cust"};

static int plan(const char *type, const char *data, ntf_plan *p) {
  json_t *d = json_loads(data, 0, NULL);
  assert_non_null(d);
  int rc = ntf_rules_plan(type, d, &k_cx, p);
  json_decref(d); /* the plan's strings may point into d: the tests read only the context's */
  return rc;
}

static int has_user(const ntf_plan *p, const char *user) {
  for (int i = 0; i < p->ntargets; i++)
    if (p->targets[i].user && strcmp(p->targets[i].user, user) == 0) return 1;
  return 0;
}

static void test_orders_tell_the_customer(void **state) {
  (void)state;
  ntf_plan p;
  const char *told[] = {"order.placed",  "order.paid",      "order.cancelled",
                        "order.shipped", "order.delivered", "order.refunded"};
  for (size_t i = 0; i < sizeof told / sizeof told[0]; i++) {
    assert_int_equal(plan(told[i], "{}", &p), 1);
    assert_string_equal(p.kind, told[i]);
    assert_int_equal(p.category, NTF_CAT_ORDERS);
    assert_int_equal(p.ntargets, 1);
    assert_true(has_user(&p, "usr_cust"));
  }
  assert_int_equal(plan("order.fulfilled", "{}", &p), 0);
  assert_int_equal(plan("payment.captured", "{}", &p), 0);
  assert_null(p.kind);
}

static void test_requests(void **state) {
  (void)state;
  ntf_plan p;
  /* comments: requester, assignee, earlier commenters; the actor is left out by the caller */
  assert_int_equal(plan("request.commented", "{\"body\":\"x\"}", &p), 1);
  assert_string_equal(p.kind, "request.commented");
  assert_true(p.skip_actor);
  assert_true(has_user(&p, "usr_req") && has_user(&p, "usr_asg") && has_user(&p, "usr_c1"));
  /* assignment: the new assignee (a role's members when no user) */
  assert_int_equal(plan("request.assigned", "{\"assignee\":{\"role\":\"admin\"}}", &p), 1);
  assert_true(has_user(&p, "usr_req"));
  int role = 0;
  for (int i = 0; i < p.ntargets; i++) role |= p.targets[i].role != NULL;
  assert_true(role);
  /* approvals: the level's approvers; the decision: the requester */
  assert_int_equal(plan("request.approval_requested", "{\"assignees\":{\"users\":[\"usr_a\",\"usr_b\"]}}", &p), 1);
  assert_int_equal(p.ntargets, 2);
  assert_int_equal(p.category, NTF_CAT_APPROVALS);
  assert_string_equal(p.skip_user, "usr_req"); /* a requester with the level's role approves nothing of theirs */
  assert_int_equal(plan("request.approval_decided", "{\"decision\":\"approved\"}", &p), 1);
  assert_string_equal(p.kind, "approval.decided");
  assert_int_equal(p.ntargets, 1);
  assert_true(has_user(&p, "usr_req"));
  /* the notify action: {to: requester}; on an SLA warning it is that step's kind */
  assert_int_equal(plan("request.notified", "{\"notify\":{\"to\":\"requester\"},\"on\":\"on_enter\"}", &p), 1);
  assert_string_equal(p.kind, "request.notify");
  assert_true(has_user(&p, "usr_req"));
  assert_false(p.skip_actor);
  assert_int_equal(plan("request.notified", "{\"notify\":{\"to\":\"assignee\"},\"on\":\"on_warning\"}", &p), 1);
  assert_string_equal(p.kind, "sla.warning");
  assert_true(p.sla_step);
  assert_true(has_user(&p, "usr_asg"));
  /* SLA: the assignee; a breach the requester too */
  assert_int_equal(plan("request.sla_breached", "{}", &p), 1);
  assert_true(has_user(&p, "usr_asg") && has_user(&p, "usr_req"));
  assert_int_equal(plan("request.transitioned", "{}", &p), 0);
}

static void test_categories_and_defaults(void **state) {
  (void)state;
  assert_int_equal(ntf_category_index("orders"), NTF_CAT_ORDERS);
  assert_int_equal(ntf_category_index("account"), -1);
  assert_int_equal(ntf_category_index(NULL), -1);
  assert_true(ntf_default_on(NTF_CAT_ORDERS, 1));
  assert_true(ntf_default_on(NTF_CAT_STOCK, 0));
  assert_false(ntf_default_on(NTF_CAT_STOCK, 1));
}

static void test_vars(void **state) {
  (void)state;
  json_t *d = json_loads("{\"total\":1250,\"currency\":\"EUR\",\"amount\":5,\"reason\":\"declined\"}", 0, NULL);
  ntf_vars_in in = {.type = "order.refunded",
                    .data = d,
                    .actor = "system",
                    .subject_type = "order",
                    .subject_id = "ord_1",
                    .link = "/api/v1/orders/ord_1",
                    .user_id = "usr_1",
                    .user_name = "Ada",
                    .user_email = "ada@example.com"};
  json_t *v = ntf_rules_vars(&in);
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "order"), "total")), "12.50");
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "refund"), "amount")), "0.05");
  assert_string_equal(json_string_value(json_object_get(v, "reason")), "declined");
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "recipient"), "name")), "Ada");
  json_decref(v);
  json_decref(d);
}

/* Ids: the same cause and recipient give the same id (a replay makes no
 * second row); a later event's notifications sort after an earlier one's
 * (sequential inserts into the primary key); other keys are hashes. */
static void test_ids(void **state) {
  (void)state;
  char a[64], a2[64], b[64], c[64], other[64];
  ntf_id("ev:evt_0h2k3m4n5p6q7r8s9t0v", "usr_1", a, sizeof a);
  ntf_id("ev:evt_0h2k3m4n5p6q7r8s9t0v", "usr_1", a2, sizeof a2);
  ntf_id("ev:evt_0h2k3m4n5p6q7r8s9t0v", "usr_2", c, sizeof c);
  ntf_id("ev:evt_0h2k3m4pzzzzzzzzzzzz", "usr_1", b, sizeof b);
  assert_string_equal(a, a2);
  assert_string_not_equal(a, c);
  assert_int_equal(strncmp(a, "ntf_0h2k3m4n", 12), 0);
  assert_true(strcmp(a, b) < 0 && strcmp(c, b) < 0);
  assert_true(strlen(a) < 40 && strlen(a) == 30);
  ntf_id("sla:srq_1:2:on_warning", "usr_1", other, sizeof other);
  assert_int_equal(strlen(other), 30);
  assert_int_equal(strspn(other + 4, "0123456789abcdef"), 26);
  ntf_id("ev:x", "usr_1", other, sizeof other); /* no time part: a hash */
  assert_int_equal(strspn(other + 4, "0123456789abcdef"), 26);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_orders_tell_the_customer),
      cmocka_unit_test(test_requests),
      cmocka_unit_test(test_categories_and_defaults),
      cmocka_unit_test(test_vars),
      cmocka_unit_test(test_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
