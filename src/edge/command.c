#include "edge/command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/idempotency.h"
#include "store/replica.h"

typedef struct {
  sf_cmd cmd;
  sf_req *req;
  sf_cmd_exec_fn exec;
  sf_actor who;
  void *data;
  void (*free_fn)(void *);
  sf_req_committed_fn committed;
  int replayed; /* answered with the key's stored answer: exec did not run */
} req_cmd;

static int run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  req_cmd *rc = (req_cmd *)c;
  /* Another instance may have run the same Idempotency-Key meanwhile: under
   * the write lock its answer is visible here, and wins (idempotency.h). */
  int stored = sf_idem_answered(rc->req, tx, err);
  if (stored < 0) return -1;
  rc->replayed = stored;
  if (stored) return 0;
  sf_result out = {0};
  int r = rc->exec(&rc->who, tx, rc->data, &out, err);
  if (r == 0 && out.status)
    sf_req_reply_result(rc->req, &out);
  else if (r == 0 && err->status)
    sf_req_reply_problem(rc->req, err); /* committed, and answered with an error */
  sf_result_clear(&out);
  if (r < 0 && !err->status) sf_err_internal(err, "command failed");
  if (r == 0 && !rc->req->status) {
    sf_err_internal(err, "command produced no response");
    return -500;
  }
  return r;
}

/* Inside the transaction: the response is final, so the idempotency record
 * commits atomically with the command's effects. */
/* Read-your-writes with a read replica (store/replica.h), on every instance
 * sharing the database: the caller's next lists, whichever instance they
 * reach, read the primary until the replica has replayed this commit. The
 * hook runs after the commit (here, and where the others hear of it). */
#define HOOK_WROTE "replica.wrote"
static void wrote_hook(void *ud, const char *key) {
  (void)ud;
  if (strcmp(key, "*") == 0) sf_replica_note_everyone(); /* the feed was lost: who wrote is unknown */
  if (strncmp(key, "u:", 2) == 0) sf_replica_note_write(key + 2, NULL);
  if (strncmp(key, "a:", 2) == 0) sf_replica_note_write(NULL, key + 2);
}
__attribute__((constructor)) static void register_hooks(void) {
  sf_writer_broadcast_register(HOOK_WROTE, wrote_hook, NULL);
}

static void note_write(sf_tx *tx, const sf_actor *who) {
  if (sf_replica_state() == SF_REPLICA_OFF) return; /* no replica: nothing to route */
  char key[64];
  if (who->user_id && who->user_id[0])
    snprintf(key, sizeof key, "u:%s", who->user_id);
  else if (who->client_ip && who->client_ip[0])
    snprintf(key, sizeof key, "a:%s", who->client_ip);
  else
    return;
  sf_tx_after_commit_all(tx, HOOK_WROTE, key);
}

static void after(sf_cmd *c, sf_tx *tx, int r) {
  req_cmd *rc = (req_cmd *)c;
  if (r < 0) sf_req_reply_problem(rc->req, &c->err);
  sf_idem_store(rc->req, tx);
  if (r == 0 && !rc->replayed) note_write(tx, &rc->who);
}

static void done(sf_cmd *c, int r) {
  req_cmd *rc = (req_cmd *)c;
  if (r < 0 && c->err.status >= 500) sf_req_reply_problem(rc->req, &c->err);
  sf_req *req = rc->req;
  sf_req_committed_fn committed = r == 0 && !rc->replayed ? rc->committed : NULL;
  void *data = rc->data;
  void (*free_fn)(void *) = rc->free_fn;
  free(rc);
  /* Committed: a retry must now find the stored response, not "in flight". */
  sf_idem_end(req);
  int taken = committed && committed(req, data);
  if (free_fn) free_fn(data);
  if (!taken) sf_req_resume(req);
}

static void submit(sf_req *req, req_cmd *rc, void *data, void (*free_fn)(void *), sf_req_committed_fn committed) {
  if (!sf_req_is_suspended(req)) sf_req_suspend(req);
  rc->committed = committed;
  rc->cmd.run = run;
  rc->cmd.after = after;
  rc->cmd.done = done;
  rc->req = req;
  rc->data = data;
  rc->free_fn = free_fn;
  if (sf_writer_submit(&rc->cmd)) {
    sf_req_reply_problem(req, &rc->cmd.err);
    if (free_fn) free_fn(data);
    free(rc);
    sf_req_resume(req);
  }
}

void sf_req_submit(sf_req *req, sf_cmd_exec_fn fn, void *data, void (*free_fn)(void *)) {
  sf_req_submit_ex(req, fn, data, free_fn, NULL);
}

void sf_req_submit_ex(sf_req *req, sf_cmd_exec_fn fn, void *data, void (*free_fn)(void *),
                      sf_req_committed_fn committed) {
  req_cmd *rc = sf_calloc(1, sizeof *rc);
  rc->exec = fn;
  sf_req_actor(req, &rc->who);
  submit(req, rc, data, free_fn, committed);
}

void sf_req_actor(const sf_req *req, sf_actor *out) {
  const sf_principal *p = &req->principal;
  out->user_id = p->authenticated ? p->user_id : NULL;
  out->role = p->authenticated ? p->role : "";
  out->email = p->authenticated ? p->email : "";
  out->session = p->authenticated ? p->session : "";
  out->request_id = req->request_id;
  out->traceparent = req->traceparent;
  out->client_ip = req->client_ip;
}

void sf_req_reply_result(sf_req *req, sf_result *res) {
  sf_req_reply_json(req, res->status, res->body);
  res->body = NULL;
  for (int i = 0; i < res->nheaders; i++) sf_req_set_header(req, res->headers[i].name, res->headers[i].value);
}

static void durable_resume(void *ud) { sf_req_resume(ud); }

void sf_req_resume_durable(sf_req *req) {
  uint64_t seq = sf_writer_undurable();
  if (!seq || !sf_writer_when_durable(seq, durable_resume, req)) sf_req_resume(req);
}

int sf_req_durable_gate(sf_req *req) {
  if (!sf_writer_undurable()) return 0;
  sf_req_suspend(req); /* before it can be resumed from the sync thread */
  sf_req_resume_durable(req);
  return 1;
}

static int add_event(const sf_event *ev, void *ud) {
  json_array_append_new(ud, sf_ev_to_json(ev));
  return 0;
}

void sf_req_reply_stream(sf_req *req, sf_db *db, const char *stream) {
  sf_err err = {0};
  json_t *data = json_array();
  if (sf_ev_read_stream(db, stream, 0, 1000, add_event, data, &err)) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}
