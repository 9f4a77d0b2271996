/* Approval chains (approvals.h): levels opened, skipped, decided; a chain's
 * end is returned as an outcome for the caller to act on. */
#include "flow/approvals.h"

#include <string.h>

#include "flow/steps.h"

const sf_flow_chain *sf_flow_chain_of(const sf_flow_def *d, int state) {
  return state >= 0 && state < d->nstates && d->states[state].chain >= 0 ? &d->chains[d->states[state].chain] : NULL;
}

static const sf_flow_chain *chain_here(const sf_flow_request *r) {
  return sf_flow_chain_of(r->def, sf_flow_state_index(r->def, r->state));
}

json_t *sf_flow_quorum_json(const sf_flow_level *l) {
  return l->quorum ? json_incref((json_t *)l->quorum) : json_string("any");
}

int64_t sf_flow_level_needed(const sf_flow_approval_store *st, sf_db *db, const sf_flow_request *r,
                             const sf_flow_level *l, int64_t chain, int64_t level, sf_err *err) {
  if (!l->quorum_all && !l->quorum_counted) return l->quorum_n;
  int64_t voters = st->voters(db, r, chain, level, err); /* the requester has no row */
  if (l->quorum_all || voters < 0) return voters;
  return l->quorum_n < voters ? l->quorum_n : voters;
}

/* The chain's end: its row, request.approval_completed, and the action the
 * caller takes. */
static int finish(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_chain *ch, int64_t chain, int approved,
                  sf_flow_outcome *out, sf_err *err) {
  int rc = cx->approvals->chain_end(cx->tx, r, chain, approved ? "approved" : "rejected", err);
  if (!rc)
    rc = sf_flow_event(
        cx, r, "request.approval_completed",
        json_pack("{s:I, s:s}", "chain", (json_int_t)chain, "outcome", approved ? "approved" : "rejected"), err);
  if (rc) return rc;
  out->take = approved ? ch->on_approved : ch->on_rejected;
  out->why = approved ? "approval chain approved" : "approval chain rejected";
  return 0;
}

static int level_skipped(const sf_flow_ctx *cx, const sf_flow_request *r, int64_t chain, int64_t i, const char *name,
                         const char *reason, sf_err *err) {
  return sf_flow_event(cx, r, "request.approval_level_skipped",
                       json_pack("{s:I, s:I, s:s, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)i, "name",
                                 name, "reason", reason),
                       err);
}

/* Inserts the level's tasks: *n how many (the requester gets none). */
static int level_tasks(const sf_flow_ctx *cx, const sf_flow_request *r, const sf_flow_level *l, int64_t chain,
                       int64_t i, int *n, sf_err *err) {
  int rc = 0;
  *n = 0;
  if (l->role)
    rc = cx->approvals->insert_task(cx->tx, r, chain, i, l->name, NULL, l->role, NULL, NULL, NULL, err), ++*n;
  for (int j = 0; j < l->nusers; j++) {
    if (rc || strcmp(l->users[j], r->created_by) == 0) continue; /* nobody approves their own request */
    rc = cx->approvals->insert_task(cx->tx, r, chain, i, l->name, l->users[j], NULL, NULL, NULL, NULL, err);
    ++*n;
  }
  return rc;
}

/* Opens the first level from `from` whose `when` holds (recording the
 * skipped ones), or finishes the chain approved when none is left. */
static int open_level(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_chain *ch, int64_t chain, int64_t from,
                      sf_flow_outcome *out, sf_err *err) {
  for (int64_t i = from; i < ch->nlevels; i++) {
    const sf_flow_level *l = &ch->levels[i];
    sf_err gerr = {0};
    int holds = sf_flow_holds(l->when, r, &gerr);
    if (holds < 0 && gerr.status == 500) return sf_err_internal(err, "%s", gerr.detail);
    int rc = 0, n = 0;
    if (holds != 1) {
      if ((rc = level_skipped(cx, r, chain, i, l->name, holds < 0 ? gerr.detail : "its condition does not hold", err)))
        return rc;
      continue;
    }
    rc = level_tasks(cx, r, l, chain, i, &n, err);
    if (!rc && !n) {
      if ((rc = level_skipped(cx, r, chain, i, l->name, "the requester is its only approver", err))) return rc;
      continue;
    }
    if (!rc)
      rc = sf_flow_event(
          cx, r, "request.approval_requested",
          json_pack("{s:I, s:I, s:s, s:o, s:o}", "chain", (json_int_t)chain, "level", (json_int_t)i, "name", l->name,
                    "quorum", sf_flow_quorum_json(l), "assignees",
                    l->role ? json_pack("{s:s}", "role", l->role) : json_pack("{s:O}", "users", l->users_json)),
          err);
    return rc;
  }
  return finish(cx, r, ch, chain, 1, out, err);
}

int sf_flow_approvals_enter(const sf_flow_ctx *cx, sf_flow_request *r, sf_flow_outcome *out, sf_err *err) {
  const sf_flow_chain *ch = chain_here(r);
  if (!ch) return 0;
  int64_t chain = r->version;
  int rc = cx->approvals->chain_start(cx->tx, r, chain, err);
  if (!rc)
    rc = sf_flow_event(cx, r, "request.approval_started",
                       json_pack("{s:I, s:s}", "chain", (json_int_t)chain, "state", r->state), err);
  return rc ? rc : open_level(cx, r, ch, chain, 0, out, err);
}

int sf_flow_approvals_leave(const sf_flow_ctx *cx, sf_flow_request *r, sf_err *err) {
  if (!chain_here(r)) return 0;
  int64_t chain, level;
  int rc = cx->approvals->active_level(cx->tx->db, r, &chain, &level, err);
  if (rc <= 0) return rc;
  rc = cx->approvals->close_pending(cx->tx, r, chain, -1, "cancelled", err);
  if (!rc) rc = cx->approvals->chain_end(cx->tx, r, chain, "cancelled", err);
  if (!rc)
    rc = sf_flow_event(
        cx, r, "request.approval_cancelled",
        json_pack("{s:I, s:I, s:s}", "chain", (json_int_t)chain, "level", (json_int_t)level, "state", r->state), err);
  return rc;
}

/* The caller's row at the level: a new one through their role, or theirs. */
static int record(const sf_flow_ctx *cx, const sf_flow_request *r, const sf_flow_vote *v, const char *name,
                  const char *decision, sf_err *err) {
  const char *me = cx->who->user_id;
  if (v->via_role)
    return cx->approvals->insert_task(cx->tx, r, v->chain, v->level, name, me, cx->who->role, NULL, decision,
                                      v->comment, err);
  return cx->approvals->decide_task(cx->tx, r, v->chain, v->level, v->seq, decision, me, v->comment, err);
}

/* After an approval: the level's quorum met closes it and opens the next. */
static int count_level(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_chain *ch, const sf_flow_vote *v,
                       sf_flow_outcome *out, sf_err *err) {
  const sf_flow_level *l = &ch->levels[v->level];
  int64_t need = sf_flow_level_needed(cx->approvals, cx->tx->db, r, l, v->chain, v->level, err);
  int64_t got = cx->approvals->approvals(cx->tx->db, r, v->chain, v->level, err);
  if (need < 0 || got < 0) return -500;
  if (got < need) return 0;
  int rc = cx->approvals->close_pending(cx->tx, r, v->chain, v->level, "closed", err);
  if (!rc)
    rc = sf_flow_event(cx, r, "request.approval_level_approved",
                       json_pack("{s:I, s:I, s:s, s:I}", "chain", (json_int_t)v->chain, "level", (json_int_t)v->level,
                                 "name", l->name, "approvals", (json_int_t)got),
                       err);
  return rc ? rc : open_level(cx, r, ch, v->chain, v->level + 1, out, err);
}

int sf_flow_approvals_vote(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_vote *v, sf_flow_outcome *out,
                           sf_err *err) {
  const sf_flow_chain *ch = chain_here(r);
  if (!ch || v->level < 0 || v->level >= ch->nlevels) return sf_err_internal(err, "no such approval level");
  const char *name = ch->levels[v->level].name;
  const char *decision = v->approve ? "approved" : "rejected";
  int rc = record(cx, r, v, name, decision, err);
  if (!rc)
    rc = sf_flow_event(cx, r, "request.approval_decided",
                       json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "chain", (json_int_t)v->chain, "level",
                                 (json_int_t)v->level, "name", name, "decision", decision, "by", cx->who->user_id,
                                 "comment", v->comment),
                       err);
  r->version++;
  if (rc) return rc;
  if (v->approve) return count_level(cx, r, ch, v, out, err);
  rc = cx->approvals->close_pending(cx->tx, r, v->chain, -1, "closed", err);
  return rc ? rc : finish(cx, r, ch, v->chain, 0, out, err);
}

int sf_flow_approvals_delegate(const sf_flow_ctx *cx, sf_flow_request *r, const sf_flow_vote *v, const char *to,
                               sf_err *err) {
  const sf_flow_chain *ch = chain_here(r);
  if (!ch || v->level < 0 || v->level >= ch->nlevels) return sf_err_internal(err, "no such approval level");
  const char *name = ch->levels[v->level].name, *me = cx->who->user_id;
  int rc = record(cx, r, v, name, "delegated", err);
  if (!rc) rc = cx->approvals->insert_task(cx->tx, r, v->chain, v->level, name, to, NULL, me, NULL, NULL, err);
  if (!rc)
    rc = sf_flow_event(cx, r, "request.approval_delegated",
                       json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "chain", (json_int_t)v->chain, "level",
                                 (json_int_t)v->level, "name", name, "from", me, "to", to, "comment", v->comment),
                       err);
  r->version++;
  return rc;
}
