/* W3C Trace Context (traceparent, version 00).
 *
 *   traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>
 *
 * A caller's traceparent is accepted when it parses by the W3C rules
 * (lowercase hex, neither id all zeros, version not ff, version 00 exactly 55
 * characters, a later version parsed by its first 55); anything else is
 * ignored and a new trace is started. Every hop we make (answering a request,
 * calling the payment provider, posting a webhook) keeps the trace id, gets a
 * span id of its own and carries the sampled flag on. Pure functions, any
 * thread. */
#ifndef SF_CORE_TRACE_H
#define SF_CORE_TRACE_H

#define SF_TRACEPARENT_LEN 55 /* plus NUL: 56 */

/* 1 when s is a traceparent we accept. */
int sf_trace_valid(const char *s);
/* out = the same trace with a new span id, or a new trace when parent is NULL
 * or invalid. out has room for SF_TRACEPARENT_LEN + 1. */
void sf_trace_child(const char *parent, char *out);
/* The 32-hex trace id of a valid traceparent into out[33]; "" otherwise. */
void sf_trace_id(const char *traceparent, char out[33]);

#endif
