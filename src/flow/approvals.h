/* Approval chains: a state of a workflow may carry one chain of sequential
 * levels (compiled.h: sf_flow_chain). Entering the state starts the chain
 * (chain id = the request version of that entry); each level is decided by
 * a role (any member) or named users, with a quorum (any, all, n); a level
 * whose `when` guard does not hold is skipped; one rejection ends the chain;
 * an approver may hand their vote to another user; nobody decides on their
 * own request. Leaving the state by other means cancels what is pending.
 *
 * When a chain ends (its last level approved, or a rejection) these
 * functions do not move the request: they return an outcome naming the
 * chain's on_approved / on_rejected action, and the caller (the engine on
 * entering a state, the request service after a decision) takes it as the
 * system (sf_flow_auto_transition). They call nothing of the engine.
 *
 * Every step is an event on the request's stream; the rows (one task per
 * assignee, plus one per vote cast through a role; each chain's status) go
 * through cx->approvals in the same transaction. Writer thread only. */
#ifndef SF_FLOW_APPROVALS_H
#define SF_FLOW_APPROVALS_H

#include "flow/request.h"

/* The chain of state (an index), or NULL. */
const sf_flow_chain *sf_flow_chain_of(const sf_flow_def *d, int state);

/* Starts the chain of r's current state, if it has one: opens its first
 * level that applies, or completes it at once (outcome: take on_approved). */
int sf_flow_approvals_enter(const sf_flow_ctx *cx, sf_flow_request *r, sf_flow_outcome *out, sf_err *err);
/* Cancels what is pending in the chain of the state r is leaving. */
int sf_flow_approvals_leave(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err);

/* A vote at the active level, by cx->who (found by the caller: seq of their
 * task row, or via_role when they vote through a role row). */
typedef struct sf_flow_vote {
  int64_t chain, level, seq;
  int via_role;
  int approve;         /* 1 approve, 0 reject */
  const char *comment; /* "" when none */
} sf_flow_vote;

/* Records the vote; a rejection completes the chain (outcome: on_rejected);
 * an approval that meets the level's quorum opens the next level, or
 * completes the chain (outcome: on_approved). Bumps r's version. */
int sf_flow_approvals_vote(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_vote *v, sf_flow_outcome *out,
                           sf_err *err);
/* Hands cx->who's vote at the active level to user `to` (checked by the
 * caller). Bumps r's version. */
int sf_flow_approvals_delegate(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_vote *v, const char *to,
                               sf_err *err);

/* Approvals the level needs: any 1, n n, all every assignee still counting
 * (pending or approved; a delegated row is replaced by its delegate's);
 * < 0 on a database error. Any thread (db: the writer's or a reader). */
int64_t sf_flow_level_needed(const sf_flow_approval_store *st, sf_db *db, const sf_flow_request *r,
                             const sf_flow_level *l, int64_t chain, int64_t level, sf_err *err);
/* A level's quorum as written ("any" when absent); a new reference. */
json_t *sf_flow_quorum_json(const sf_flow_level *l);

#endif
