/* Workflow definitions: parsing (YAML or JSON, the same structure) and
 * validation (storage and versions: services/workflows).
 *
 *   name: Purchase request          # required
 *   type: purchase                  # request type served, [a-z][a-z0-9_-]{0,39}
 *   description: Buy something      # optional, up to 1000 characters
 *   fields:                         # optional: the request's data, for forms
 *     - {name: amount, type: number, required: true, label: Amount, min: 0}
 *   unknown_fields: reject          # optional: data keys that are not fields
 *                                   #   (accept, the default, keeps them)
 *   initial: draft                  # a state
 *   states:                         # at least one final; every state
 *     draft: {}                     #   reachable from initial; a state that
 *     submitted:                    #   is not final has a way out
 *       on_enter: [{assign: {role: approver}}]
 *       on_exit:  [{emit: purchase.left_review}]
 *     approved: {final: true}
 *   transitions:
 *     - action: submit              # [a-z][a-z0-9_]{0,39}; one per state
 *       from: draft                 # a state or a list of states
 *       to: submitted
 *       roles: [customer, staff]    # optional; customer/staff/approver/admin
 *       by: [requester, role:staff] # optional; see sf_flow_may_take
 *       guard: data.amount > 0      # optional Lua guard (flow/guard.h)
 *   timers:
 *     - in: submitted               # while the request is in this state
 *       after: 48h                  # <n>s|m|h|d
 *       action: expire              # a transition out of that state
 *   approvals:                      # at most one chain per state
 *     - in: submitted               # a state that is not final
 *       on_approved: approve        # actions of transitions out of `in`,
 *       on_rejected: reject         #   taken by the system at the end
 *       levels:                     # 1 to 10, in order
 *         - name: manager
 *           role: approver          # any member of a role, or
 *         - name: finance
 *           users: [usr_1, usr_2]   #   named users (1 to 20)
 *           quorum: all             # any (default) | all (users only) | n
 *           when: data.amount > 1000  # optional Lua guard: skipped if false
 *
 * Actions (on_enter / on_exit): {emit: "<event.type>"}, {set: {<field>:
 * <value>}}, {assign: {role: <role>} | {user: "<usr_id>"}}, {notify:
 * {role: <role>} | {user: "<usr_id>"}, message: "..."}, {webhook: {url:
 * "http(s)://..."}}. */
#ifndef SF_FLOW_DEFINITION_H
#define SF_FLOW_DEFINITION_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "flow/guard.h"

/* YAML (or JSON, which is YAML) text to a JSON tree: mappings become
 * objects, sequences arrays; plain scalars are typed as YAML 1.2's core
 * schema does (null, true/false, integers, floats), quoted ones stay
 * strings. Anchors and aliases, duplicate keys and non-scalar keys are
 * refused. 400 with the line and column on a syntax error (in the detail, and
 * as the line of one errors[] entry "definition"). */
json_t *sf_yaml_parse(const char *text, size_t len, sf_err *err);

/* (lines.c) Where each place of a definition is written in text (YAML or
 * JSON): {"transitions[2].to": 14, ...}, the line (1-based) of each key and
 * list item, named as validation names places. NULL when text does not
 * parse. The caller owns the result. */
json_t *sf_yaml_lines(const char *text, size_t len);
/* (lines.c) Sets the line of each field entry of err from text: the line of
 * its place, or of the nearest enclosing place written (a missing key's
 * error goes to the mapping that lacks it); left 0 when none is. */
void sf_flow_err_lines(sf_err *err, const char *text, size_t len);

/* Checks a parsed definition. 0 when valid; otherwise 422 with one
 * {field, message} per problem, the field naming the place
 * ("states.review", "transitions[2].to", "transitions[0].guard"). Guards are
 * compiled in vm (not run). */
int sf_flow_validate(const json_t *def, sf_guard_vm *vm, sf_err *err);

/* "90s", "30m", "48h", "5d" -> seconds; -1 when malformed or beyond 366 days. */
long long sf_flow_duration_s(const char *s);

/* s is 1 to max characters: a lowercase letter, then lowercase letters,
 * digits or characters of extra ("_", "_-", "_."). */
int sf_flow_is_name(const char *s, size_t max, const char *extra);
/* customer, staff, approver or admin */
int sf_flow_is_role(const char *r);

/* ---- who may take a transition (rules.c) ---- */

/* The caller as a transition sees them; the request service fills it. */
typedef struct sf_flow_actor {
  const char *role; /* customer | staff | approver | admin */
  int requester;    /* opened the request */
  int assignee;     /* the request's assignee user, or a member of its assignee role */
} sf_flow_actor;

/* A transition's `by` when it has none: the requester, the assignee, and
 * staff and admins in their role. Nobody else - an approver or a delegate
 * with a vote on the request, a customer who can see it - moves it. */
#define SF_FLOW_BY_DEFAULT "requester, assignee, role:staff, role:admin"

typedef enum { SF_FLOW_MAY = 0, SF_FLOW_NOT_ROLE, SF_FLOW_NOT_BY } sf_flow_may;

/* May a person take tr (a transition of a validated definition)? Their role
 * must be in `roles` (any role when absent) and they must be one of `by`:
 * `requester`, `assignee`, or `role:<role>` (anyone acting in that role);
 * SF_FLOW_BY_DEFAULT when absent. Transitions taken by the system (timers,
 * approval chains) do not ask. */
sf_flow_may sf_flow_may_take(const json_t *tr, const sf_flow_actor *who);
/* Validation of a transition's `by` at `where` (fields added to err). */
void sf_flow_check_by(const json_t *by, const char *where, sf_err *err);
/* (fields.c) Validation of the optional `description`, `fields` and
 * `unknown_fields` of a definition (flow/fields.h has the format). */
void sf_flow_check_catalog(const json_t *def, sf_err *err);
/* (fields.c) The data of a new request against the definition's `fields`
 * (none: any object) and `unknown_fields`, data left as it is: 0, or 422
 * naming data.<field> for a missing required field, a value of another type
 * or outside the field's rules, or a key that is not a field. */
int sf_flow_check_data(const json_t *def, const json_t *data, sf_err *err);

#endif
