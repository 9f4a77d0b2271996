/* The webhook destination guard (SSRF): a webhook may not reach this
 * machine or the private network it sits in, unless the configuration's
 * allow-list (setting `webhook_allow`) says so.
 *
 * Refused: IPv4 0/8 (unspecified, "this network"), 10/8, 100.64/10 (CGNAT),
 * 127/8, 169.254/16 (link-local), 172.16/12, 192.168/16, 224/4 (multicast),
 * 240/4 and 255.255.255.255; IPv6 ::, ::1, fe80::/10 (link-local), fec0::/10
 * (old site-local), fc00::/7 (ULA), ff00::/8 (multicast), and the IPv4
 * addresses above in IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
 * (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) form.
 *
 * The allow-list is comma-separated: CIDRs ("10.1.0.0/16", "fd00::/8"),
 * single addresses ("127.0.0.1") and host names ("hooks.internal", compared
 * with a URL's host without case): an allowed host may resolve anywhere.
 *
 * Checked twice: when a subscription is made or changed (a literal address,
 * or what the name resolves to now: 422), and at every connect, on the
 * address curl is about to connect to (CURLOPT_OPENSOCKETFUNCTION), so a
 * name that resolves elsewhere later (DNS rebinding) is caught too.
 *
 * The allow-list is set once at start (sf_webhooks_guard_configure), then
 * read only: every function is safe on any thread. */
#ifndef SF_WEBHOOKS_GUARD_H
#define SF_WEBHOOKS_GUARD_H

#include <curl/curl.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/err.h"

/* Why an address is refused ("loopback", "private", ...), or NULL when it
 * is a public address. Ignores the allow-list. sa: AF_INET or AF_INET6. */
const char *sf_webhooks_guard_classify(const struct sockaddr *sa);

/* Parses spec (the setting) and makes it the allow-list. 0, or 400 with err
 * naming the bad entry (the previous list stays). */
int sf_webhooks_guard_configure(const char *spec, sf_err *err);
/* 1 when host (a URL's host, without brackets) is allow-listed by name. */
int sf_webhooks_guard_host_allowed(const char *host);
/* NULL when sa may be connected to (public, or allow-listed), else why not. */
const char *sf_webhooks_guard_refuses(const struct sockaddr *sa);

/* Subscribe time: url must be absolute http(s) with a host; a literal
 * address is checked, a name is resolved (getaddrinfo: blocks this
 * thread) and every address checked; a name that does not resolve now
 * passes (connect time checks it). 0, or 422 with the field "url". */
int sf_webhooks_guard_check_url(const char *url, sf_err *err);

/* Connect time: set on an easy handle (setup() of the outbound request).
 * host_allowed: the URL's host is allow-listed by name. why (cap bytes)
 * receives the reason when a connect is refused, else stays as it is. */
typedef struct sf_webhooks_guard_ctx {
  int host_allowed;
  char why[96];
} sf_webhooks_guard_ctx;
void sf_webhooks_guard_arm(CURL *easy, sf_webhooks_guard_ctx *ctx, const char *url);

#endif
