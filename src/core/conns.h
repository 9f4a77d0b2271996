/* Connection guard of the HTTP server: how many connections it holds, from
 * whom, and how long a request may take to arrive.
 *
 * - Capacity: at most max connections in all, at most per_ip from one client
 *   address. A connection over either is refused at accept time (closed at
 *   once), never parked in the listen backlog where a client would hang.
 * - Receive deadlines: a request's head must arrive within header_timeout_s
 *   of the connection opening (or of the first byte after a keep-alive
 *   pause), and its body within body_timeout_s of the head. These are totals,
 *   not gaps between bytes, so a client trickling one byte at a time is cut
 *   as surely as a silent one. An idle keep-alive connection (no request
 *   begun) is left to the server's longer idle timeout.
 * - Shutdown: sf_conns_cut_receiving closes every connection that is not
 *   processing a request, so a stalled upload cannot hold the grace period.
 *
 * A cut connection gets a short problem+json answer (408 for a deadline,
 * 503 at shutdown) when a request had begun, then shutdown(2) of its socket:
 * the HTTP daemon sees the end of the stream and closes it the usual way.
 *
 * A connection handed to another protocol (an HTTP upgrade such as
 * WebSocket) must stay in the processing phase for good: the watchdog would
 * take its frames for a slow request head.
 *
 * Threads: sf_conns_admit/opened/closed and the phase calls run on the
 * connection's HTTP daemon thread; a watchdog thread of the guard checks
 * deadlines; cut_receiving runs on any thread. A connection record lives from
 * opened to closed; closed runs before the daemon closes the socket, under
 * the guard's lock, so the watchdog never touches a reused descriptor. */
#ifndef SF_CORE_CONNS_H
#define SF_CORE_CONNS_H

#include <sys/socket.h>

typedef struct sf_conns sf_conns;
typedef struct sf_conn sf_conn;

typedef struct sf_conns_limits {
  int max;              /* connections in all; > 0 */
  int per_ip;           /* connections per client address; 0 = no cap */
  int header_timeout_s; /* request head, from open or from the first byte after idle */
  int body_timeout_s;   /* request body, from the end of the head */
  /* peers the per_ip cap does not apply to (trusted proxies: every client
   * behind one shares its address); NULL: none */
  int (*per_ip_exempt)(const struct sockaddr *addr);
} sf_conns_limits;

/* Starts the watchdog. Never NULL (aborts on out of memory). */
sf_conns *sf_conns_new(const sf_conns_limits *lim);
/* Stops the watchdog and frees the guard; every connection must be closed. */
void sf_conns_free(sf_conns *g);

/* Accept policy: 1 = take the connection, 0 = refuse (over capacity). */
int sf_conns_admit(sf_conns *g, const struct sockaddr *addr);
/* A connection was accepted; its request head is due. */
sf_conn *sf_conns_opened(sf_conns *g, int fd, const struct sockaddr *addr);
/* The daemon is about to close the connection's socket. c may be NULL. */
void sf_conns_closed(sf_conns *g, sf_conn *c);

/* The request head arrived; the body (if any) is due within body_timeout_s. */
void sf_conns_head_received(sf_conn *c);
/* The whole request arrived and will be processed: no deadline until the
 * answer is sent. Returns 0 when the connection was cut first (its request
 * must not run: nobody would see the answer). */
int sf_conns_processing(sf_conn *c);
/* The answer was sent; the connection waits for the next request. */
void sf_conns_idle(sf_conn *c);

/* Shutdown: cuts every connection not processing a request (with a 503
 * where a request had begun). Returns how many were cut. */
int sf_conns_cut_receiving(sf_conns *g);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
 * now in force (-1 if unknown). */
long sf_conns_raise_fd_limit(long *hard);
/* Connections the server may hold with fd_limit descriptors, leaving room
 * for the database, outbound HTTP and the rest of the process. */
int sf_conns_capacity(long fd_limit);

#endif
