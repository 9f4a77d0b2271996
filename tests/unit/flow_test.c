/* The compiled workflow definition (flow/compiled.h) and the outcomes of
 * approval chains (flow/approvals.h): a chain that ends hands back the
 * action to take, and the request does not move by itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "flow/approvals.h"
#include "flow/compiled.h"
#include "flow/definition.h"
#include "flow/guard.h"
#include "store/db.h"
#include "store/writer.h"

static const char k_def[] =
    "{\"name\":\"Purchase\",\"type\":\"purchase\",\"initial\":\"draft\","
    "\"fields\":[{\"name\":\"amount\",\"type\":\"integer\",\"required\":true}],"
    "\"states\":{\"draft\":{\"on_exit\":[{\"emit\":\"purchase.left\"}]},"
    " \"review\":{\"on_enter\":[{\"assign\":{\"role\":\"approver\"}},{\"set\":{\"seen\":true}}]},"
    " \"hold\":{}, \"approved\":{\"final\":true}, \"rejected\":{\"final\":true}},"
    "\"transitions\":["
    " {\"action\":\"submit\",\"from\":\"draft\",\"to\":\"review\",\"roles\":[\"customer\",\"staff\"]},"
    " {\"action\":\"approve\",\"from\":[\"review\",\"hold\"],\"to\":\"approved\",\"by\":[\"role:admin\"],"
    "  \"guard\":\"data.amount > 0\"},"
    " {\"action\":\"reject\",\"from\":\"review\",\"to\":\"rejected\",\"by\":[\"requester\",\"assignee\"]},"
    " {\"action\":\"pause\",\"from\":\"review\",\"to\":\"hold\"},"
    " {\"action\":\"resume\",\"from\":\"hold\",\"to\":\"review\"}],"
    "\"timers\":[{\"in\":\"hold\",\"after\":\"2h\",\"action\":\"resume\"}],"
    "\"approvals\":[{\"in\":\"review\",\"on_approved\":\"approve\",\"on_rejected\":\"reject\",\"levels\":["
    " {\"name\":\"big\",\"role\":\"approver\",\"when\":\"data.amount > 1000\"},"
    " {\"name\":\"pair\",\"users\":[\"usr_a\",\"usr_b\"],\"quorum\":2}]}],"
    "\"sla\":{\"pause_in\":\"hold\",\"warn_at\":[50,80],\"targets\":["
    " {\"name\":\"resolve\",\"until\":[\"approved\",\"rejected\"],\"within\":\"3d\","
    "  \"on_breach\":[{\"notify\":{\"role\":\"admin\"}}]}]}}";

static sf_flow_def *compiled(void) {
  json_error_t je;
  json_t *src = json_loads(k_def, 0, &je);
  assert_non_null(src);
  sf_guard_vm *vm = sf_guard_vm_new(NULL);
  sf_err err = {0};
  assert_int_equal(sf_flow_validate(src, vm, &err), 0);
  sf_guard_vm_free(vm);
  sf_flow_def *d = sf_flow_compile(src, "wf_test", 3, &err);
  json_decref(src); /* the compiled definition keeps its own reference */
  assert_non_null(d);
  return d;
}

static int state(const sf_flow_def *d, const char *name) {
  int i = sf_flow_state_index(d, name);
  assert_true(i >= 0);
  return i;
}

static void test_compile_states_and_transitions(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  assert_int_equal(d->nstates, 5);
  assert_int_equal(d->version, 3);
  assert_string_equal(d->states[d->initial].name, "draft");
  assert_true(d->states[state(d, "approved")].final);
  assert_false(d->states[state(d, "review")].final);
  assert_int_equal(sf_flow_state_index(d, "nowhere"), -1);
  const sf_flow_state *review = &d->states[state(d, "review")];
  assert_int_equal(review->on_enter.n, 2);
  assert_int_equal(review->on_enter.at[0].kind, SF_FLOW_ASSIGN);
  assert_string_equal(review->on_enter.at[0].role, "approver");
  assert_null(review->on_enter.at[0].user);
  assert_int_equal(review->on_enter.at[1].kind, SF_FLOW_SET);
  assert_int_equal(d->states[state(d, "draft")].on_exit.at[0].kind, SF_FLOW_EMIT);
  assert_string_equal(d->states[state(d, "draft")].on_exit.at[0].event, "purchase.left");

  int known = 0;
  const sf_flow_transition *tr = sf_flow_find_transition(d, "approve", state(d, "hold"), &known);
  assert_non_null(tr);
  assert_true(known);
  assert_int_equal(tr->to, state(d, "approved"));
  assert_true(tr->from[state(d, "review")]);
  assert_false(tr->from[state(d, "draft")]);
  assert_string_equal(tr->guard, "data.amount > 0");
  assert_string_equal(tr->by_text, "role:admin");
  assert_null(sf_flow_find_transition(d, "approve", state(d, "draft"), &known));
  assert_true(known); /* the action exists, not from draft */
  assert_null(sf_flow_find_transition(d, "fly", state(d, "draft"), &known));
  assert_false(known);
  tr = sf_flow_find_transition(d, "submit", state(d, "draft"), NULL);
  assert_int_equal(tr->roles, sf_flow_role_bit("customer") | sf_flow_role_bit("staff"));
  assert_false(tr->by_given);
  assert_string_equal(tr->by_text, SF_FLOW_BY_DEFAULT);
  sf_flow_def_unref(d);
}

static void test_compile_chains_timers_sla(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  const sf_flow_chain *ch = sf_flow_chain_of(d, state(d, "review"));
  assert_non_null(ch);
  assert_null(sf_flow_chain_of(d, state(d, "hold")));
  assert_string_equal(ch->on_approved, "approve");
  assert_string_equal(ch->on_rejected, "reject");
  assert_int_equal(ch->nlevels, 2);
  assert_string_equal(ch->levels[0].role, "approver");
  assert_string_equal(ch->levels[0].when, "data.amount > 1000");
  assert_int_equal(ch->levels[0].quorum_n, 1);
  assert_int_equal(ch->levels[1].nusers, 2);
  assert_string_equal(ch->levels[1].users[1], "usr_b");
  assert_int_equal(ch->levels[1].quorum_n, 2);
  assert_true(ch->levels[1].quorum_counted);
  json_t *q = sf_flow_quorum_json(&ch->levels[0]);
  assert_string_equal(json_string_value(q), "any");
  json_decref(q);

  assert_int_equal(d->ntimers, 1);
  assert_int_equal(d->timers[0].state, state(d, "hold"));
  assert_int_equal(d->timers[0].after_s, 7200);
  assert_string_equal(d->timers[0].action, "resume");

  assert_true(d->sla.present);
  assert_true(d->states[state(d, "hold")].paused);
  assert_false(d->states[state(d, "review")].paused);
  assert_int_equal(d->sla.nwarn, 2);
  assert_int_equal(d->sla.warn_at[1], 80);
  assert_int_equal(d->sla.ntargets, 1);
  assert_int_equal(d->sla.targets[0].within_s, 3 * 86400);
  assert_true(d->sla.targets[0].until[state(d, "rejected")]);
  assert_false(d->sla.targets[0].until[state(d, "review")]);
  assert_int_equal(d->sla.targets[0].on_breach.at[0].kind, SF_FLOW_NOTIFY);
  assert_null(d->sla.calendar);
  assert_string_equal(d->sla.calendar_name, "24x7");
  sf_flow_def_unref(d);
}

static void test_compiled_fields(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  assert_int_equal(d->nfields, 1);
  assert_string_equal(d->fields[0].name, "amount");
  assert_true(d->fields[0].required);
  json_t *ok = json_pack("{s:i}", "amount", 5), *none = json_object();
  sf_err err = {0};
  assert_int_equal(sf_flow_check_fields(d->fields, d->nfields, ok, &err), 0);
  assert_int_equal(sf_flow_check_fields(d->fields, d->nfields, none, &err), -422);
  assert_string_equal(err.fields[0].field, "data.amount");
  assert_string_equal(err.fields[0].message, "is required (an integer)");
  json_decref(ok);
  json_decref(none);
  sf_flow_def_unref(d);
}

/* The compiled check says what the check over the JSON says. */
static void test_may_agrees_with_json(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  const json_t *trs = json_object_get(d->src, "transitions");
  static const char *const roles[] = {"customer", "staff", "approver", "admin", "nobody"};
  for (int t = 0; t < d->ntransitions; t++)
    for (int r = 0; r < 5; r++)
      for (int rel = 0; rel < 4; rel++) {
        sf_flow_actor who = {.role = roles[r], .requester = rel & 1, .assignee = (rel >> 1) & 1};
        assert_int_equal(sf_flow_transition_may(&d->transitions[t], &who),
                         sf_flow_may_take(json_array_get(trs, (size_t)t), &who));
      }
  sf_flow_def_unref(d);
}

/* ---- approvals: outcomes, with the rows faked in memory ---- */

static struct fake_rows {
  int tasks, started, ended, closed;
  char ended_status[16];
  int64_t voters, approvals;
} fake;

static int f_chain_start(sf_tx *tx, const sf_flow_request *r, int64_t chain, sf_err *err) {
  fake.started++;
  return 0;
}
static int f_chain_end(sf_tx *tx, const sf_flow_request *r, int64_t chain, const char *status, sf_err *err) {
  fake.ended++;
  snprintf(fake.ended_status, sizeof fake.ended_status, "%s", status);
  return 0;
}
static int f_insert_task(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *name,
                         const char *user, const char *role, const char *from, const char *decision,
                         const char *comment, sf_err *err) {
  fake.tasks++;
  return 0;
}
static int f_decide_task(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, int64_t seq,
                         const char *decision, const char *by, const char *comment, sf_err *err) {
  if (strcmp(decision, "approved") == 0) fake.approvals++;
  return 0;
}
static int f_close_pending(sf_tx *tx, const sf_flow_request *r, int64_t chain, int64_t level, const char *decision,
                           sf_err *err) {
  fake.closed++;
  return 0;
}
static int f_active_level(sf_db *db, const sf_flow_request *r, int64_t *chain, int64_t *level, sf_err *err) {
  return 0;
}
static int64_t f_voters(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err) {
  return fake.voters;
}
static int64_t f_approvals(sf_db *db, const sf_flow_request *r, int64_t chain, int64_t level, sf_err *err) {
  return fake.approvals;
}

static const sf_flow_approval_store k_fake_rows = {f_chain_start,   f_chain_end,    f_insert_task, f_decide_task,
                                                   f_close_pending, f_active_level, f_voters,      f_approvals};

static char test_dir[64], test_db[128];

static int setup(void **st) {
  (void)st;
  snprintf(test_dir, sizeof test_dir, "/tmp/sf-flow-XXXXXX");
  assert_non_null(mkdtemp(test_dir));
  snprintf(test_db, sizeof test_db, "%s/t.db", test_dir);
  sf_err e = {0};
  sf_db *db = sf_db_open(test_db, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_app_migrate(db, &e), 0);
  sf_db_close(db);
  assert_int_equal(sf_writer_start(test_db, 1024, SF_WRITER_SYNC_PIPELINED, &e), 0);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  sf_writer_stop();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", test_dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

typedef struct {
  sf_cmd cmd;
  sf_flow_request r;
  sf_flow_vote vote;
  int step; /* 0: enter review, 1: vote */
  sf_flow_outcome out;
} approval_cmd;

static int approval_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  approval_cmd *a = (approval_cmd *)c;
  sf_actor who = sf_actor_system;
  who.user_id = "usr_a";
  who.role = "approver";
  sf_flow_ctx cx = {.tx = tx, .who = &who, .approvals = &k_fake_rows};
  if (a->step == 0) return sf_flow_approvals_enter(&cx, &a->r, &a->out, err);
  return sf_flow_approvals_vote(&cx, &a->r, &a->vote, &a->out, err);
}

static void approval_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void run_approval(approval_cmd *a, sf_flow_def *d, double amount, int step) {
  memset(a, 0, sizeof *a);
  a->cmd = (sf_cmd){.run = approval_run, .done = approval_done};
  snprintf(a->r.id, sizeof a->r.id, "srq_flow_%d", step);
  snprintf(a->r.state, sizeof a->r.state, "review");
  snprintf(a->r.created_by, sizeof a->r.created_by, "usr_requester");
  a->r.version = 4;
  a->r.data = json_pack("{s:f}", "amount", amount);
  a->r.def = sf_flow_def_ref(d);
  a->step = step;
}

static void test_chain_outcomes(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  approval_cmd a;

  /* small amount: "big" is skipped, "pair" opens with two tasks; nothing to take yet */
  memset(&fake, 0, sizeof fake);
  run_approval(&a, d, 10, 0);
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
  assert_int_equal(fake.started, 1);
  assert_int_equal(fake.tasks, 2);
  assert_null(a.out.take);
  assert_string_equal(a.r.state, "review");
  sf_flow_request_clear(&a.r);

  /* the first of two votes: quorum 2 not met */
  fake.voters = 2;
  fake.approvals = 0;
  run_approval(&a, d, 10, 1);
  a.vote = (sf_flow_vote){.chain = 4, .level = 1, .seq = 0, .approve = 1, .comment = ""};
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
  assert_null(a.out.take);
  assert_int_equal(a.r.version, 5); /* the vote is a step of its own */
  sf_flow_request_clear(&a.r);

  /* the second: the last level approved, the chain completes; the outcome
   * names on_approved and the request is still where it was */
  run_approval(&a, d, 10, 1);
  a.vote = (sf_flow_vote){.chain = 4, .level = 1, .seq = 1, .approve = 1, .comment = ""};
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
  assert_non_null(a.out.take);
  assert_string_equal(a.out.take, "approve");
  assert_string_equal(a.out.why, "approval chain approved");
  assert_string_equal(fake.ended_status, "approved");
  assert_string_equal(a.r.state, "review");
  sf_flow_request_clear(&a.r);

  /* a rejection ends the chain at once */
  run_approval(&a, d, 10, 1);
  a.vote = (sf_flow_vote){.chain = 4, .level = 1, .seq = 0, .approve = 0, .comment = "no"};
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
  assert_string_equal(a.out.take, "reject");
  assert_string_equal(fake.ended_status, "rejected");
  sf_flow_request_clear(&a.r);
  sf_flow_def_unref(d);
}

/* A chain none of whose levels applies completes on entry. */
static void test_chain_without_levels_completes(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  approval_cmd a;
  memset(&fake, 0, sizeof fake);
  run_approval(&a, d, 10, 0);
  snprintf(a.r.created_by, sizeof a.r.created_by, "usr_a"); /* usr_a and ... */
  sf_flow_def_unref(a.r.def);
  /* ... a definition whose pair is usr_a alone: the requester gets no task */
  json_t *src = json_loads(k_def, 0, NULL);
  json_t *users = json_object_get(
      json_array_get(json_object_get(json_array_get(json_object_get(src, "approvals"), 0), "levels"), 1), "users");
  json_array_remove(users, 1);
  json_object_del(json_array_get(json_object_get(json_array_get(json_object_get(src, "approvals"), 0), "levels"), 1),
                  "quorum");
  sf_err err = {0};
  sf_flow_def *solo = sf_flow_compile(src, "wf_solo", 1, &err);
  json_decref(src);
  assert_non_null(solo);
  a.r.def = solo;
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
  assert_int_equal(fake.tasks, 0);
  assert_string_equal(a.out.take, "approve");
  assert_string_equal(a.r.state, "review");
  sf_flow_request_clear(&a.r);
  sf_flow_def_unref(d);
}

static void test_cache(void **st) {
  (void)st;
  sf_flow_def *d = compiled();
  assert_null(sf_flow_defs_get("wf_test"));
  sf_flow_defs_put(d);
  const sf_flow_def *got = sf_flow_defs_get("wf_test");
  assert_ptr_equal(got, d);
  sf_flow_def_unref(got);
  sf_flow_defs_forget();
  assert_null(sf_flow_defs_get("wf_test"));
  assert_int_equal(d->states[d->initial].chain, -1); /* still ours to read */
  sf_flow_def_unref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compile_states_and_transitions),
      cmocka_unit_test(test_compile_chains_timers_sla),
      cmocka_unit_test(test_may_agrees_with_json),
      cmocka_unit_test(test_compiled_fields),
      cmocka_unit_test(test_cache),
      cmocka_unit_test_setup_teardown(test_chain_outcomes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chain_without_levels_completes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
