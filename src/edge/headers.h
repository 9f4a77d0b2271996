/* The API's own HTTP headers, in one place: every request header a handler
 * or the edge reads and every response header they set, beyond the ones
 * browsers let through anyway (CORS-safelisted: Accept, Content-Language,
 * Content-Type of a form, and Cache-Control, Content-Length, Content-Type,
 * Expires, Last-Modified, Pragma in answers).
 *
 * CORS answers with exactly these lists: a preflight allows the request
 * headers, every answer to an allowed origin exposes the response headers.
 * A header missing here works with curl and fails in a browser, so add it
 * here when code starts to read or set it; tests/e2e/test_cors.py scans the
 * sources for headers that are not listed. */
#ifndef SF_EDGE_HEADERS_H
#define SF_EDGE_HEADERS_H

/* read: auth, JSON bodies, idempotency, optimistic concurrency (If-Match),
 * Prefer: wait=N, guest carts, request ids and W3C trace context, the
 * streams' resume (Last-Event-ID) and the WebSocket handshake's own (a
 * browser sets those itself and never preflights them; listed because the
 * server reads them; so are a browser's If-None-Match and Accept-Encoding,
 * which the web app's files honour: edge/web.h) */
#define SF_HEADERS_REQUEST                                                                                             \
  "Authorization, Content-Type, Idempotency-Key, If-Match, Prefer, Cart-Token, X-Request-Id, traceparent, "            \
  "Last-Event-ID, Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version, If-None-Match, Accept-Encoding"

/* set: ids and trace, versions and new resources, rate limits and retries,
 * idempotent replays, honoured preferences, 401 challenges, 405 methods,
 * the media types a 415 accepts (Accept, RFC 9110 §15.5.16)
 * (Cart-Token is listed for symmetry with the request header: an answer
 * that hands a guest its cart token may carry it there too; the WebSocket
 * handshake's answer and the event stream's X-Accel-Buffering: no; the web
 * app's files: their coding and security headers, edge/web.h) */
#define SF_HEADERS_RESPONSE                                                                                            \
  "X-Request-Id, traceparent, ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, "                     \
  "RateLimit-Reset, Idempotent-Replayed, Preference-Applied, WWW-Authenticate, Allow, Accept, Cart-Token, "            \
  "Upgrade, Sec-WebSocket-Accept, Sec-WebSocket-Version, X-Accel-Buffering, Content-Encoding, "                        \
  "X-Content-Type-Options, Content-Security-Policy, Referrer-Policy, X-Frame-Options"

#endif
