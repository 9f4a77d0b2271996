#include "services/webhooks/guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cidr.h"

#define MAX_CIDRS 64
#define MAX_HOSTS 32
#define HOST_MAX 256

/* Written by sf_webhooks_guard_configure at start, read only afterwards. */
static struct guard_state {
  sf_cidr cidrs[MAX_CIDRS];
  int ncidrs;
  char hosts[MAX_HOSTS][HOST_MAX];
  int nhosts;
} guard;

/* ---- the classifier ---- */

static const char *classify_v4(uint32_t a) {
  if ((a >> 24) == 0) return "unspecified";
  if ((a >> 24) == 10 || (a & 0xFFF00000u) == 0xAC100000u || (a & 0xFFFF0000u) == 0xC0A80000u) return "private";
  if ((a & 0xFFC00000u) == 0x64400000u) return "shared (CGNAT)";
  if ((a >> 24) == 127) return "loopback";
  if ((a & 0xFFFF0000u) == 0xA9FE0000u) return "link-local";
  if ((a >> 28) == 0xE) return "multicast";
  if ((a >> 28) == 0xF) return "reserved";
  return NULL;
}

static int zeros(const unsigned char *b, int n) {
  for (int i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static const char *classify_v6(const unsigned char *b) {
  uint32_t v4;
  if (zeros(b, 16)) return "unspecified";
  if (zeros(b, 15) && b[15] == 1) return "loopback";
  if (sf_cidr_embedded_v4(b, &v4)) return classify_v4(v4);
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local";
  if ((b[0] & 0xfe) == 0xfc) return "unique local (ULA)";
  if (b[0] == 0xff) return "multicast";
  return NULL;
}

const char *sf_webhooks_guard_classify(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return classify_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
  if (sa->sa_family == AF_INET6) return classify_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
  return "not an IP address";
}

/* ---- the allow-list ---- */

static int cidr_allows(const struct sockaddr *sa) { return sf_cidr_match(guard.cidrs, guard.ncidrs, sa); }

/* An entry of the allow-list that is not a CIDR or an address
 * (sf_cidr_other_fn): a host name, kept in the guard_state ud. */
static int take_host(const char *e, void *ud) {
  struct guard_state *next = ud;
  if (next->nhosts == MAX_HOSTS || strchr(e, '/') || strlen(e) >= HOST_MAX) return -1;
  for (const char *p = e; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') return -1;
  snprintf(next->hosts[next->nhosts++], HOST_MAX, "%s", e);
  return 0;
}

int sf_webhooks_guard_configure(const char *spec, sf_err *err) {
  static struct guard_state next;
  memset(&next, 0, sizeof next);
  char bad[HOST_MAX];
  next.ncidrs = sf_cidr_parse_list(spec, next.cidrs, MAX_CIDRS, take_host, &next, bad, sizeof bad);
  if (next.ncidrs < 0)
    return sf_err_set(err, 400, "config", "Bad configuration",
                      "webhook_allow: '%s' is not a CIDR, an address or a host name (or the list is too long)", bad);
  guard = next;
  return 0;
}

int sf_webhooks_guard_host_allowed(const char *host) {
  for (int i = 0; i < guard.nhosts; i++)
    if (strcasecmp(guard.hosts[i], host) == 0) return 1;
  return 0;
}

const char *sf_webhooks_guard_refuses(const struct sockaddr *sa) {
  const char *why = sf_webhooks_guard_classify(sa);
  return why && !cidr_allows(sa) ? why : NULL;
}

/* ---- subscribe time ---- */

/* The URL's scheme and host (brackets of an IPv6 literal taken off).
 * 0, or -1 for a URL that is not absolute http(s) with a host. */
static int url_host(const char *url, char *host, size_t cap) {
  CURLU *u = curl_url();
  char *scheme = NULL, *h = NULL;
  int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
           (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
           curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h[0];
  if (ok) {
    size_t n = strlen(h);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']')
      snprintf(host, cap, "%.*s", (int)(n - 2), h + 1);
    else
      snprintf(host, cap, "%s", h);
    char *zone = strchr(host, '%'); /* fe80::1%eth0 */
    if (zone) *zone = '\0';
  }
  curl_free(scheme);
  curl_free(h);
  curl_url_cleanup(u);
  return ok ? 0 : -1;
}

int sf_webhooks_guard_check_url(const char *url, sf_err *err) {
  char host[HOST_MAX];
  if (strlen(url) > 2048 || url_host(url, host, sizeof host))
    return sf_err_invalid(err, "url", "must be an absolute http or https URL with a host");
  if (sf_webhooks_guard_host_allowed(host)) return 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) != 0) return 0; /* does not resolve now: connect time decides */
  int rc = 0;
  for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
    const char *why = sf_webhooks_guard_refuses(ai->ai_addr);
    if (!why) continue;
    char ip[INET6_ADDRSTRLEN] = "";
    const void *a = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    inet_ntop(ai->ai_family, a, ip, sizeof ip);
    rc = sf_err_invalid(err, "url", "reaches %s, a %s address (allow it with the setting webhook_allow)", ip, why);
  }
  freeaddrinfo(res);
  return rc;
}

/* ---- connect time ---- */

/* Engine thread: curl is about to connect to address. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
  sf_webhooks_guard_ctx *ctx = clientp;
  const char *why =
      purpose == CURLSOCKTYPE_IPCXN && !ctx->host_allowed ? sf_webhooks_guard_refuses(&address->addr) : NULL;
  if (why) {
    char ip[INET6_ADDRSTRLEN] = "?";
    const void *a = address->family == AF_INET ? (const void *)&((struct sockaddr_in *)&address->addr)->sin_addr
                                               : (const void *)&((struct sockaddr_in6 *)&address->addr)->sin6_addr;
    inet_ntop(address->family, a, ip, sizeof ip);
    snprintf(ctx->why, sizeof ctx->why, "destination refused: %s is a %s address", ip, why);
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

void sf_webhooks_guard_arm(CURL *easy, sf_webhooks_guard_ctx *ctx, const char *url) {
  char host[HOST_MAX];
  ctx->host_allowed = url_host(url, host, sizeof host) == 0 && sf_webhooks_guard_host_allowed(host);
  ctx->why[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, ctx);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer (not 2xx: a failed attempt) */
  /* no proxy from the environment: the guard must see the receiver's address */
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
}
