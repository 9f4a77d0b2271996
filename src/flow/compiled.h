/* A workflow definition compiled once into C structs: what the engine,
 * approvals and SLA read at run time instead of walking the JSON.
 *
 * sf_flow_compile takes a definition that passed sf_flow_validate (a stored
 * workflow version) and builds states, transitions, approval chains, timers
 * and the SLA with their names resolved to indices. Strings point into the
 * source JSON, which the compiled definition keeps a reference to (the
 * source stays only for the API's output and for the request's data check);
 * the SLA calendar is built here too.
 *
 * A compiled definition is immutable and reference counted (atomic): one is
 * shared read-only by every thread; sf_flow_def_ref / sf_flow_def_unref.
 * The cache below keeps one per pinned workflow version (workflow versions
 * never change). */
#ifndef SF_FLOW_COMPILED_H
#define SF_FLOW_COMPILED_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "flow/calendar.h"
#include "flow/definition.h"
#include "flow/fields.h"

typedef enum { SF_FLOW_EMIT, SF_FLOW_SET, SF_FLOW_ASSIGN, SF_FLOW_NOTIFY, SF_FLOW_WEBHOOK } sf_flow_action_kind;

typedef struct sf_flow_action {
  sf_flow_action_kind kind;
  const char *event;       /* emit: the event type */
  const char *role, *user; /* assign: one of them, the other NULL */
  const json_t *arg;       /* the argument as written: what the action's event records */
} sf_flow_action;

typedef struct sf_flow_actions {
  sf_flow_action *at;
  int n;
} sf_flow_actions;

typedef struct sf_flow_state {
  const char *name;
  int final;
  int paused; /* in sla.pause_in: the SLA clocks stand */
  sf_flow_actions on_enter, on_exit;
  int chain; /* index in chains, -1: no approval chain */
} sf_flow_state;

/* Role bits (customer, staff, approver, admin), for `roles` and `by` (rules.c). */
unsigned sf_flow_role_bit(const char *role);

typedef struct sf_flow_transition {
  const char *action;
  uint8_t *from; /* per state: 1 when the transition leaves it */
  int to;
  int roles_given;   /* `roles` written (else any role) */
  unsigned roles;    /* role bits of `roles` */
  int by_given;      /* `by` written (else SF_FLOW_BY_DEFAULT) */
  int by_requester;  /* `by` names requester */
  int by_assignee;   /* `by` names assignee */
  unsigned by_roles; /* role bits of `by`'s role:<role> entries */
  const char *guard; /* Lua guard, NULL: none */
  char *by_text;     /* `by` for a message: "requester, role:staff" */
} sf_flow_transition;

typedef struct sf_flow_level {
  const char *name;
  const char *role;   /* any member of a role, or */
  const char **users; /* named users */
  int nusers;         /* 0 with a role */
  const json_t *users_json;
  int quorum_all;       /* all (users only) */
  int64_t quorum_n;     /* n approvals; 1 for any */
  int quorum_counted;   /* n given with named users: bounded by who can still vote */
  const json_t *quorum; /* as written, NULL: "any" */
  const char *when;     /* NULL: always */
} sf_flow_level;

typedef struct sf_flow_chain {
  int state;
  const char *on_approved, *on_rejected;
  sf_flow_level *levels;
  int nlevels;
} sf_flow_chain;

typedef struct sf_flow_timer {
  int state;
  const char *after; /* as written ("48h") */
  int64_t after_s;
  const char *action;
} sf_flow_timer;

#define SF_FLOW_MAX_WARN 8

typedef struct sf_flow_target {
  const char *name;
  const char *within; /* as written */
  int64_t within_s;
  const char *when;
  uint8_t *until; /* per state: entering it meets the target */
  sf_flow_actions on_warning, on_breach;
} sf_flow_target;

typedef struct sf_flow_sla {
  int present;
  sf_flow_target *targets;
  int ntargets;
  json_int_t warn_at[SF_FLOW_MAX_WARN];
  int nwarn;
  sf_calendar *calendar;     /* NULL: 24x7 */
  const char *calendar_name; /* its timezone, "UTC", or "24x7" without a calendar */
} sf_flow_sla;

typedef struct sf_flow_def {
  json_t *src; /* the definition as stored (a reference) */
  char workflow_id[SF_ID_MAX];
  int64_t version;
  int initial;
  sf_flow_state *states;
  int nstates;
  sf_flow_transition *transitions;
  int ntransitions;
  sf_flow_chain *chains;
  int nchains;
  sf_flow_timer *timers;
  int ntimers;
  sf_flow_sla sla;
  sf_flow_field *fields; /* `fields` (fields.h), for forms and the data check */
  int nfields;
  int reject_unknown; /* unknown_fields: reject */
  int refs;           /* atomic */
} sf_flow_def;

/* Compiles def (validated; a reference is taken) of workflow id at version:
 * NULL with a 500 in err when it does not hold together (a stored definition
 * that no longer validates). */
sf_flow_def *sf_flow_compile(json_t *def, const char *workflow_id, int64_t version, sf_err *err);
const sf_flow_def *sf_flow_def_ref(const sf_flow_def *d);
void sf_flow_def_unref(const sf_flow_def *d); /* NULL: nothing */

/* The index of state `name`, -1 when the workflow has none. */
int sf_flow_state_index(const sf_flow_def *d, const char *name);
/* The transition `action` leaving state (an index), or NULL; *known tells
 * whether the action exists at all (may be NULL). */
const sf_flow_transition *sf_flow_find_transition(const sf_flow_def *d, const char *action, int state, int *known);
/* (rules.c) May who take tr? Their role must be in `roles` (any role when absent)
 * and they must be one of `by` (SF_FLOW_BY_DEFAULT when absent): the rule
 * sf_flow_may_take states, on the compiled transition. */
sf_flow_may sf_flow_transition_may(const sf_flow_transition *tr, const sf_flow_actor *who);
/* Fills the `roles` and `by` part of x from a transition's JSON (what
 * sf_flow_may_take compiles on the fly). */
void sf_flow_transition_who(const json_t *tr, sf_flow_transition *x);

/* The data of a new request of d made ready (sf_flow_fields_apply on its
 * fields and unknown_fields): defaults filled in, 0 or 422 naming every
 * data.<field> that does not fit. */
int sf_flow_prepare_data(const sf_flow_def *d, json_t *data, sf_err *err);

/* ---- the cache of compiled pinned versions (any thread; a mutex) ---- */

/* A reference to the cached definition of workflow_id, or NULL. */
const sf_flow_def *sf_flow_defs_get(const char *workflow_id);
/* Keeps a reference to d (the oldest entry leaves when the cache is full). */
void sf_flow_defs_put(const sf_flow_def *d);
/* Drops every cached definition (a database was opened: workflow ids are
 * only unique within one). */
void sf_flow_defs_forget(void);

#endif
