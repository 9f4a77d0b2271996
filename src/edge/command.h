/* Request commands: run a piece of a request inside the writer transaction.
 *
 * A handler (the only code that knows sf_req) validates the request and calls
 * sf_req_submit: it suspends the request (if it is not already), queues a
 * writer command, and resumes the request after COMMIT. The exec function
 * runs in the writer's savepoint with who acts (sf_actor) and fills an
 * sf_result (core/actor.h); the edge renders that into the reply and the
 * idempotency record. If the commit itself fails the reply becomes 503.
 * data is owned by the command and released with free_fn after completion. */
#ifndef SF_EDGE_COMMAND_H
#define SF_EDGE_COMMAND_H

#include "core/actor.h"
#include "core/http.h"
#include "events/store.h"
#include "store/writer.h"

/* After a successful commit of an sf_req_submit_ex command, committed(req,
 * data) runs on the completion thread before data is freed. Returning 1 takes over the
 * suspended request: the callee must later reply and sf_req_resume it (used
 * by `Prefer: wait`). Returning 0 sends the reply set by the exec function. */
typedef int (*sf_req_committed_fn)(sf_req *req, void *data);

/* The command shape domain code is written in (core/actor.h): exec runs in
 * the writer's savepoint with who acts and fills out (status, body,
 * headers); returning < 0 with err filled rolls its writes back and err
 * becomes the answer. A command that must commit and still answer with an
 * error (a failed login counted, a reused refresh token's family revoked)
 * leaves out empty, fills err and returns 0: err becomes the answer and the
 * writes stay. The edge renders the answer into the reply and the
 * idempotency record inside the transaction; exec never sees the request. */
typedef int (*sf_cmd_exec_fn)(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err);
void sf_req_submit(sf_req *req, sf_cmd_exec_fn fn, void *data, void (*free_fn)(void *));
void sf_req_submit_ex(sf_req *req, sf_cmd_exec_fn fn, void *data, void (*free_fn)(void *),
                      sf_req_committed_fn committed);

/* Who acts in req: strings point into req, valid while req is. */
void sf_req_actor(const sf_req *req, sf_actor *out);
/* Renders res into req's reply (status, JSON body, headers); takes the body. */
void sf_req_reply_result(sf_req *req, sf_result *res);

/* The HTTP reply gate of pipelined commits (sf_http_set_reply_gate): an
 * answer made from reads while a commit it may have seen is not yet on disk
 * waits (suspended, no thread blocked) until it is. Returns 1 if suspended. */
int sf_req_durable_gate(sf_req *req);
/* Resumes a suspended request whose answer was made from reads outside the
 * writer: at once, or when what those reads may have seen is on disk. */
void sf_req_resume_durable(sf_req *req);

/* Replies 200 {data: [Event...], next_cursor: null} with the first 1,000
 * events of a stream (an aggregate's history). */
void sf_req_reply_stream(sf_req *req, sf_db *db, const char *stream);

#endif
