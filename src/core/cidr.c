#include "core/cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t v4_at(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int zeros(const unsigned char *b, int n) {
  for (int i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

int sf_cidr_embedded_v4(const unsigned char v6[16], uint32_t *out) {
  static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
  int mapped = zeros(v6, 10) && v6[10] == 0xff && v6[11] == 0xff;
  int compat = zeros(v6, 12) && v4_at(v6 + 12) > 1;
  if (!mapped && !compat && memcmp(v6, nat64, 12) != 0) return 0;
  *out = v4_at(v6 + 12);
  return 1;
}

int sf_cidr_parse(const char *text, sf_cidr *out) {
  char ip[64];
  const char *slash = strchr(text, '/');
  size_t n = slash ? (size_t)(slash - text) : strlen(text);
  if (n == 0 || n >= sizeof ip) return -1;
  memcpy(ip, text, n);
  ip[n] = '\0';
  memset(out, 0, sizeof *out);
  out->family = inet_pton(AF_INET, ip, out->addr) == 1    ? AF_INET
                : inet_pton(AF_INET6, ip, out->addr) == 1 ? AF_INET6
                                                          : 0;
  if (!out->family) return -1;
  int max = out->family == AF_INET ? 32 : 128;
  char *end = NULL;
  long p = slash ? strtol(slash + 1, &end, 10) : max;
  if (slash && (!slash[1] || *end || p < 0 || p > max)) return -1;
  out->prefix = (int)p;
  return 0;
}

/* One entry of a list, trimmed in place: 0 taken (a CIDR into *n), -1 refused. */
static int list_entry(char *tok, sf_cidr *out, int cap, int *n, sf_cidr_other_fn other, void *ud) {
  sf_cidr c;
  if (sf_cidr_parse(tok, &c) == 0) {
    if (*n == cap) return -1;
    out[(*n)++] = c;
    return 0;
  }
  return other ? other(tok, ud) : -1;
}

int sf_cidr_parse_list(const char *spec, sf_cidr *out, int cap, sf_cidr_other_fn other, void *ud, char *bad,
                       size_t bad_cap) {
  char *copy = strdup(spec ? spec : ""), *save = NULL;
  if (!copy) abort();
  int n = 0, rc = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*tok)) tok++;
    for (char *e = tok + strlen(tok); e > tok && isspace((unsigned char)e[-1]);) *--e = '\0';
    if (!*tok) continue;
    rc = list_entry(tok, out, cap, &n, other, ud);
    if (rc && bad && bad_cap) snprintf(bad, bad_cap, "%s", tok);
  }
  free(copy);
  return rc ? -1 : n;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits) {
  int whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)whole) != 0) return 0;
  if (!rest) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

int sf_cidr_match(const sf_cidr *ranges, int n, const struct sockaddr *sa) {
  unsigned char v4[4], v6[16];
  int has4 = 0, has6 = 0;
  if (sa->sa_family == AF_INET) {
    memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    has4 = 1;
  } else if (sa->sa_family == AF_INET6) {
    memcpy(v6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
    has6 = 1;
    uint32_t e;
    if (sf_cidr_embedded_v4(v6, &e)) {
      uint32_t be = htonl(e);
      memcpy(v4, &be, 4);
      has4 = 1;
    }
  }
  for (int i = 0; i < n; i++) {
    const sf_cidr *c = &ranges[i];
    if ((c->family == AF_INET && has4 && prefix_match(v4, c->addr, c->prefix)) ||
        (c->family == AF_INET6 && has6 && prefix_match(v6, c->addr, c->prefix)))
      return 1;
  }
  return 0;
}

int sf_ip_parse(const char *text, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *a4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    return 0;
  }
  return -1;
}
