#include "core/conns.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

/* Deadlines are checked this often: a cut comes at most this late. */
#define TICK_MS 250
/* A request begun on an idle keep-alive connection is looked for this often
 * (a getsockopt per idle connection): its head deadline starts up to this late. */
#define IDLE_CHECK_TICKS 4
#define IP_BUCKETS 4096 /* power of two */
/* The kernel stamps the last received data in jiffies (up to 4 ms): data
 * this soon after the answer was sent may still be the request's own. */
#define IDLE_DATA_MARGIN_MS 20
/* Descriptors kept for the rest of the process: SQLite (3 per connection,
 * one reader per thread plus the writer), outbound HTTP pools (webhooks,
 * payments), listening sockets, epoll and wakeup descriptors. */
#define FD_RESERVE 256

enum { PH_HEAD, PH_BODY, PH_BUSY, PH_IDLE, PH_CUT };

struct sf_conn {
  sf_conn *prev, *next;       /* every connection (the watchdog's walk) */
  sf_conn *ip_prev, *ip_next; /* connections whose address hashes alike */
  int fd, bucket;
  int body_timeout_s;
  unsigned char addr[16]; /* IPv6, or IPv4 mapped into it */
  _Atomic int phase;
  /* monotonic deadlines of the head and body phases: two fields, so the
   * watchdog starting a head deadline on an idle connection can never
   * overwrite the body deadline the daemon set meanwhile */
  _Atomic int64_t head_deadline_ms; /* written by opened and the watchdog */
  _Atomic int64_t body_deadline_ms; /* written by the daemon (head received) */
  _Atomic int64_t idle_since_ms;    /* monotonic; idle phase */
};

struct sf_conns {
  sf_conns_limits lim;
  pthread_mutex_t mu; /* the lists, count, stopping; held while cutting */
  pthread_cond_t cv;  /* wakes the watchdog to stop */
  sf_conn *all;
  sf_conn *by_ip[IP_BUCKETS];
  int count, stopping;
  pthread_t watchdog;
};

/* Process-wide counters for /metrics (a collector gets no user pointer). */
static struct {
  _Atomic uint64_t refused_capacity, refused_ip, cut_head, cut_body, cut_shutdown;
  _Atomic long open;
  _Atomic int64_t last_refusal_log_ms;
} counters;

static int64_t mono_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }
static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static unsigned long long peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* ---- canned answers (written straight to the socket by the watchdog) ---- */

static void send_problem(int fd, int status) {
  static const char k408[] = "{\"type\":\"https://serviceflow.dev/problems/request-timeout\",\"title\":\"Request "
                             "timeout\",\"status\":408,\"detail\":\"the request did not arrive in time\"}";
  static const char k503[] = "{\"type\":\"https://serviceflow.dev/problems/shutting-down\",\"title\":\"Service "
                             "unavailable\",\"status\":503,\"detail\":\"the server is shutting down\"}";
  const char *body = status == 408 ? k408 : k503;
  char msg[512];
  int n = snprintf(msg, sizeof msg,
                   "HTTP/1.1 %s\r\nContent-Type: application/problem+json\r\nConnection: close\r\n%s"
                   "Content-Length: %zu\r\n\r\n%s",
                   status == 408 ? "408 Request Timeout" : "503 Service Unavailable",
                   status == 408 ? "" : "Retry-After: 1\r\n", strlen(body), body);
  /* best effort: a full send buffer or a gone client is no reason to wait */
  ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)w;
}

/* Called with the guard locked, after the phase moved to PH_CUT. */
static void cut(sf_conn *c, int status) {
  if (status) send_problem(c->fd, status);
  shutdown(c->fd, SHUT_RDWR); /* the daemon reads the end of the stream and closes */
}

/* ---- phases ---- */

/* Moves to phase `to` unless the connection was cut. */
static int move(sf_conn *c, int to) {
  int ph = atomic_load(&c->phase);
  while (ph != PH_CUT)
    if (atomic_compare_exchange_weak(&c->phase, &ph, to)) return 1;
  return 0;
}

void sf_conns_head_received(sf_conn *c) {
  if (!c) return;
  atomic_store(&c->body_deadline_ms, mono_ms() + (int64_t)c->body_timeout_s * 1000);
  move(c, PH_BODY);
}

int sf_conns_processing(sf_conn *c) { return !c || move(c, PH_BUSY); }

void sf_conns_idle(sf_conn *c) {
  if (!c) return;
  atomic_store(&c->idle_since_ms, mono_ms());
  move(c, PH_IDLE);
}

/* ---- client addresses ---- */

static void addr_key(const struct sockaddr *sa, unsigned char key[16]) {
  memset(key, 0, 16);
  if (sa && sa->sa_family == AF_INET) {
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6) {
    memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  }
}

static int bucket_of(const unsigned char key[16]) { return (int)(sf_fnv1a(key, 16) & (IP_BUCKETS - 1)); }

/* Connections from key, counted up to `enough` (the chain is bounded by the cap). */
static int same_ip(const sf_conns *g, const unsigned char key[16], int enough) {
  int n = 0;
  for (const sf_conn *c = g->by_ip[bucket_of(key)]; c && n < enough; c = c->ip_next) n += memcmp(c->addr, key, 16) == 0;
  return n;
}

/* ---- admission ---- */

static void log_refusal(const char *why, const sf_conns *g) {
  int64_t now = mono_ms(), last = atomic_load(&counters.last_refusal_log_ms);
  /* a flood of refusals must not become a flood of log lines: one per 10 s */
  if (now - last < 10000 || !atomic_compare_exchange_strong(&counters.last_refusal_log_ms, &last, now)) return;
  sf_log_warn("connection refused", "\"reason\":\"%s\",\"max_connections\":%d,\"max_connections_per_ip\":%d", why,
              g->lim.max, g->lim.per_ip);
}

int sf_conns_admit(sf_conns *g, const struct sockaddr *addr) {
  unsigned char key[16];
  addr_key(addr, key);
  pthread_mutex_lock(&g->mu);
  int full = g->count >= g->lim.max;
  int crowded = !full && g->lim.per_ip > 0 && !(g->lim.per_ip_exempt && addr && g->lim.per_ip_exempt(addr)) &&
                same_ip(g, key, g->lim.per_ip) >= g->lim.per_ip;
  pthread_mutex_unlock(&g->mu);
  if (full) bump(&counters.refused_capacity), log_refusal("capacity", g);
  if (crowded) bump(&counters.refused_ip), log_refusal("per_ip", g);
  return !full && !crowded;
}

sf_conn *sf_conns_opened(sf_conns *g, int fd, const struct sockaddr *addr) {
  sf_conn *c = sf_calloc(1, sizeof *c);
  c->fd = fd;
  addr_key(addr, c->addr);
  c->bucket = bucket_of(c->addr);
  c->body_timeout_s = g->lim.body_timeout_s;
  atomic_store(&c->head_deadline_ms, mono_ms() + (int64_t)g->lim.header_timeout_s * 1000);
  atomic_store(&c->phase, PH_HEAD);
  pthread_mutex_lock(&g->mu);
  c->next = g->all;
  if (g->all) g->all->prev = c;
  g->all = c;
  c->ip_next = g->by_ip[c->bucket];
  if (c->ip_next) c->ip_next->ip_prev = c;
  g->by_ip[c->bucket] = c;
  g->count++;
  pthread_mutex_unlock(&g->mu);
  atomic_fetch_add(&counters.open, 1);
  return c;
}

void sf_conns_closed(sf_conns *g, sf_conn *c) {
  if (!c) return;
  pthread_mutex_lock(&g->mu);
  if (c->prev)
    c->prev->next = c->next;
  else
    g->all = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->ip_prev)
    c->ip_prev->ip_next = c->ip_next;
  else
    g->by_ip[c->bucket] = c->ip_next;
  if (c->ip_next) c->ip_next->ip_prev = c->ip_prev;
  g->count--;
  pthread_mutex_unlock(&g->mu);
  atomic_fetch_sub(&counters.open, 1);
  free(c);
}

/* ---- the watchdog ---- */

/* Has a byte arrived since the connection went idle (a request begun)? The
 * daemon has read it already; the kernel still knows when it came. */
static int data_since_idle(const sf_conn *c, int64_t now) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  int64_t data_at = now - (int64_t)ti.tcpi_last_data_recv;
  return data_at > atomic_load(&c->idle_since_ms) + IDLE_DATA_MARGIN_MS;
}

static void check(sf_conns *g, sf_conn *c, int64_t now, int idle_too) {
  int ph = atomic_load(&c->phase);
  if (ph == PH_IDLE) {
    if (!idle_too || !data_since_idle(c, now)) return;
    atomic_store(&c->head_deadline_ms, now + (int64_t)g->lim.header_timeout_s * 1000);
    atomic_compare_exchange_strong(&c->phase, &ph, PH_HEAD); /* lost to the daemon: it moved on */
    return;
  }
  if (ph != PH_HEAD && ph != PH_BODY) return;
  if (now < atomic_load(ph == PH_HEAD ? &c->head_deadline_ms : &c->body_deadline_ms)) return;
  if (!atomic_compare_exchange_strong(&c->phase, &ph, PH_CUT)) return;
  bump(ph == PH_HEAD ? &counters.cut_head : &counters.cut_body);
  cut(c, 408);
}

static void *watchdog_main(void *arg) {
  sf_conns *g = arg;
  pthread_mutex_lock(&g->mu);
  for (unsigned tick = 0; !g->stopping; tick++) {
    struct timespec until = sf_deadline_ms(TICK_MS);
    pthread_cond_timedwait(&g->cv, &g->mu, &until);
    int64_t now = mono_ms();
    int idle_too = tick % IDLE_CHECK_TICKS == 0;
    for (sf_conn *c = g->all; c && !g->stopping; c = c->next) check(g, c, now, idle_too);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

int sf_conns_cut_receiving(sf_conns *g) {
  int n = 0;
  pthread_mutex_lock(&g->mu);
  for (sf_conn *c = g->all; c; c = c->next) {
    int ph = atomic_load(&c->phase);
    while (ph != PH_BUSY && ph != PH_CUT && !atomic_compare_exchange_weak(&c->phase, &ph, PH_CUT)) {}
    if (ph == PH_BUSY || ph == PH_CUT) continue;
    cut(c, ph == PH_IDLE ? 0 : 503);
    bump(&counters.cut_shutdown);
    n++;
  }
  pthread_mutex_unlock(&g->mu);
  return n;
}

/* ---- setup ---- */

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_http_connections Open client connections.\n# TYPE sf_http_connections gauge\n"
                "sf_http_connections %ld\n"
                "# HELP sf_http_connections_refused_total Connections closed at accept (max_connections or"
                " max_connections_per_ip reached).\n# TYPE sf_http_connections_refused_total counter\n"
                "sf_http_connections_refused_total{reason=\"capacity\"} %llu\n"
                "sf_http_connections_refused_total{reason=\"per_ip\"} %llu\n"
                "# HELP sf_http_connections_cut_total Connections closed by the server while a request was due"
                " (header/body timeout) or at shutdown.\n# TYPE sf_http_connections_cut_total counter\n"
                "sf_http_connections_cut_total{reason=\"header_timeout\"} %llu\n"
                "sf_http_connections_cut_total{reason=\"body_timeout\"} %llu\n"
                "sf_http_connections_cut_total{reason=\"shutdown\"} %llu\n",
                atomic_load(&counters.open), peek(&counters.refused_capacity), peek(&counters.refused_ip),
                peek(&counters.cut_head), peek(&counters.cut_body), peek(&counters.cut_shutdown));
}

static pthread_once_t collector_once = PTHREAD_ONCE_INIT;
static void add_collector(void) { sf_metrics_add_collector(collect); }

sf_conns *sf_conns_new(const sf_conns_limits *lim) {
  pthread_once(&collector_once, add_collector);
  sf_conns *g = sf_calloc(1, sizeof *g);
  g->lim = *lim;
  if (g->lim.max < 1) g->lim.max = 1;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  if (pthread_create(&g->watchdog, NULL, watchdog_main, g) != 0) sf_oom();
  return g;
}

void sf_conns_free(sf_conns *g) {
  if (!g) return;
  pthread_mutex_lock(&g->mu);
  g->stopping = 1;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  pthread_join(g->watchdog, NULL);
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

long sf_conns_raise_fd_limit(long *hard) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl.rlim_cur = rl.rlim_max;
  }
  /* an unlimited hard limit is reported as the kernel's own ceiling */
  long cap = 1L << 20;
  *hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)cap ? cap : (long)rl.rlim_max;
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)cap ? cap : (long)rl.rlim_cur;
}

int sf_conns_capacity(long fd_limit) {
  long reserve = fd_limit / 2 < FD_RESERVE ? fd_limit / 2 : FD_RESERVE;
  long n = fd_limit - reserve;
  return n < 1 ? 1 : n > 1000000 ? 1000000 : (int)n;
}
