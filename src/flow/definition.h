/* Workflow definitions: parsing (YAML or JSON, the same structure) and
 * validation (storage and versions: services/workflows).
 *
 *   name: Purchase request          # required
 *   type: purchase                  # request type served, [a-z0-9_-]{1,40}
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
 * refused. 400 with the line and column on a syntax error. */
json_t *sf_yaml_parse(const char *text, size_t len, sf_err *err);

/* Checks a parsed definition. 0 when valid; otherwise 422 with one
 * {field, message} per problem, the field naming the place
 * ("states.review", "transitions[2].to", "transitions[0].guard"). Guards are
 * compiled in vm (not run). */
int sf_flow_validate(const json_t *def, sf_guard_vm *vm, sf_err *err);

/* "90s", "30m", "48h", "5d" -> seconds; -1 when malformed or beyond 366 days. */
long long sf_flow_duration_s(const char *s);

#endif
