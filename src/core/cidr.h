/* IP address ranges: CIDRs ("10.0.0.0/8", "fd00::/8") and single addresses,
 * and the test of an address against a list of them. Used by the webhook
 * destination guard's allow-list and the HTTP server's trusted proxies.
 * Pure functions on caller-owned values: any thread. */
#ifndef SF_CORE_CIDR_H
#define SF_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct sf_cidr {
  int family; /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  int prefix;
} sf_cidr;

/* "a.b.c.d/n", "x::y/n" or a single address (a full-length prefix): 0 and
 * *out, or -1 when text is none of these. */
int sf_cidr_parse(const char *text, sf_cidr *out);

/* An entry of a list that is not a CIDR or an address (sf_cidr_parse_list):
 * 0 when the caller takes it (e.g. a host name it keeps), -1 to refuse it. */
typedef int (*sf_cidr_other_fn)(const char *entry, void *ud);

/* A comma-separated list of CIDRs and addresses ("10.0.0.0/8, ::1"): each
 * entry trimmed of white space, empty entries skipped. An entry sf_cidr_parse
 * takes goes into out (at most cap), any other to other(entry, ud) (NULL:
 * refused). Returns how many CIDRs out holds, or -1 at the first entry
 * refused (or a CIDR beyond cap), copied into bad (bad_cap bytes, cut to
 * fit): what other kept before then is the caller's to drop. spec NULL is an
 * empty list. */
int sf_cidr_parse_list(const char *spec, sf_cidr *out, int cap, sf_cidr_other_fn other, void *ud, char *bad,
                       size_t bad_cap);

/* 1 when sa (AF_INET or AF_INET6) lies in one of the n ranges. An IPv4
 * address matches in every IPv6 form that carries it (mapped ::ffff:a.b.c.d,
 * compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d): a dual-stack socket reports
 * IPv4 peers mapped. */
int sf_cidr_match(const sf_cidr *ranges, int n, const struct sockaddr *sa);

/* The IPv4 address (host order) an IPv6 one carries (mapped, compatible,
 * NAT64): 1 and *out, or 0. :: and ::1 are not IPv4-compatible. */
int sf_cidr_embedded_v4(const unsigned char v6[16], uint32_t *out);

/* A textual IPv4 or IPv6 address into *out (sockaddr_in or sockaddr_in6,
 * port 0): 0, or -1 when text is not one. */
int sf_ip_parse(const char *text, struct sockaddr_storage *out);

#endif
