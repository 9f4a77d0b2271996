/* Idempotency-Key middleware for unsafe methods.
 *
 * sf_idem_begin (HTTP thread, before the handler) claims the key in an
 * in-process in-flight set and looks for a stored response: a replay, a
 * 422 for a different request under the same key, or a 409 while the first
 * request still runs. The response of a request that went through the writer
 * (status, body, content type and its Location header, as rendered from the
 * command's result) is stored by sf_idem_store inside the same transaction
 * as its effects, so an acknowledged request is always replayable. Other
 * response headers (ETag) are not kept: the table has no column for them. Stored bodies are sealed
 * (AES-256-GCM) because they can hold tokens. sf_idem_end releases the claim
 * when the request is finished.
 *
 * Several instances on one database: the in-flight set is per process, so a
 * retry the balancer sends to another instance while the first still runs
 * passes sf_idem_begin. sf_idem_answered looks again inside the writer
 * transaction, under the write lock every instance's writer takes (the
 * PostgreSQL backend: one advisory lock per transaction), before the
 * command's effects: the first to commit stores the answer, the other finds
 * it and answers with it instead of running. One indexed read per command of
 * a request with a key, nothing without one.
 *
 * Scope: a stored response is only ever replayed to a caller presenting the
 * same credentials as the caller who made the request, so a replay passes
 * the route's own authorization as the original did. The scope is the
 * signed-in user, plus a hash of each credential header the request carries
 * (sf_idem_credential_header: a guest cart's Cart-Token), or, when the
 * request carries no credential at all, the client's IP address. Callers
 * with no credential behind one address (NAT, a proxy) share a scope: their
 * keys must be unguessable (random UUIDs), as the Idempotency-Key draft
 * asks. */
#ifndef SF_EDGE_IDEMPOTENCY_H
#define SF_EDGE_IDEMPOTENCY_H

#include "core/http.h"
#include "core/seal.h"
#include "store/writer.h"

void sf_idem_init(const sf_keyring *ring, int ttl_s);
void sf_idem_shutdown(void);
/* Registers a request header that carries a credential (like Cart-Token):
 * requests with different values never share stored responses. Startup
 * only (before serving); a name registered twice counts once; at most 8. */
void sf_idem_credential_header(const char *name);

/* 1 = req was answered (replay or error), 0 = continue to the handler. */
int sf_idem_begin(sf_req *req);
/* Writer thread, in the command's savepoint before it runs (edge/command.c):
 * 1 = req was answered with the answer stored meanwhile for its key (a
 * replay, or 422 for a different request): the command must not run; 0 =
 * none (or req has no key): run it; <0 with err when it cannot be read. */
int sf_idem_answered(sf_req *req, sf_tx *tx, sf_err *err);
/* Writer thread, after the command in the same savepoint: stores req's
 * final answer (not 5xx) unless sf_idem_answered replayed one. */
void sf_idem_store(sf_req *req, sf_tx *tx);
void sf_idem_end(sf_req *req);

/* Deletes records older than the TTL (a writer command body). */
int sf_idem_purge(sf_tx *tx, sf_err *err);

#endif
