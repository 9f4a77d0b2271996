/* Load generator for the real-time stream (GET /api/v1/stream/ws), a WebSocket
 * client of its own (RFC 6455: masked client frames, pongs to pings) so the
 * server is measured, not a client library. Two modes:
 *
 *   stream_bench idle PORT TOKENS_FILE N TOPIC SERVER_PID HOLD_S
 *     opens N connections (tokens round-robin, source addresses 127.0.0.1-4
 *     so neither the per-address cap nor the ephemeral ports run out), each
 *     subscribed to TOPIC; reads the server's RSS (/proc/PID/status) before
 *     and at every 5,000; holds them HOLD_S seconds answering heartbeats and
 *     counts the ones still open.
 *     Prints STREAM_IDLE conns=.. open_after_hold=.. rss0_kb=.. rss_kb=.. kb_per_1000=..
 *
 *   stream_bench fanout PORT TOKENS_FILE N TOPIC STAFF_TOKEN PRODUCT RATE SECONDS
 *     N subscribers of TOPIC; a driver posts RATE stock adjustments a
 *     second to PRODUCT for SECONDS over one keep-alive connection; every
 *     event received is timed against its `at` (the time the event was
 *     appended, before its commit's fsync: the figure includes the commit).
 *     RATE 0: another process drives; listen SECONDS, then until quiet.
 *     Prints STREAM_FANOUT subs=.. events=.. received=.. expected=.. msgs_per_s=..
 *       p50_ms=.. p99_ms=.. max_ms=.. closed=..
 *
 * Exit status 1 when a connection or subscription fails. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct worker worker;

typedef struct conn {
  worker *w;
  int fd;
  int open;       /* handshake done, not closed */
  int subscribed; /* the server acknowledged the subscription */
  char *in;       /* bytes received, not yet parsed */
  size_t len, cap;
} conn;

/* A thread of the client with its share of the connections (i % WORKERS):
 * one thread could not read 200,000 messages a second without queueing. */
struct worker {
  pthread_t thread;
  int epfd;
  double *lat_ms; /* one per event received */
  size_t nlat, lat_cap;
  long closed;
  long acked; /* subscriptions acknowledged */
};

#define WORKERS 2

static struct bench_state {
  int port;
  char **tokens;
  int ntokens;
  conn *conns;
  int nconns;
  worker workers[WORKERS];
  _Atomic int stop; /* the workers return */
  _Atomic long posted;
} bench;

static double now_epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "stream_bench: %s\n", what);
  exit(1);
}

static void read_tokens(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open the tokens file");
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) continue;
    bench.tokens = realloc(bench.tokens, sizeof(char *) * (size_t)(bench.ntokens + 1));
    bench.tokens[bench.ntokens++] = strdup(line);
  }
  fclose(f);
  if (!bench.ntokens) die("no tokens");
}

static long rss_kb(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static int tcp_connect(int i) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET};
  src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % 4)); /* 127.0.0.1 .. 127.0.0.4 */
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
    close(fd);
    return -1;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)bench.port)};
  dst.sin_addr.s_addr = htonl(0x7f000001u);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One masked client frame (the mask is fixed: it only has to exist). */
static int send_frame(int fd, int opcode, const char *payload, size_t n) {
  unsigned char h[14];
  size_t hl = 0;
  static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  h[hl++] = (unsigned char)(0x80 | opcode);
  if (n < 126) {
    h[hl++] = (unsigned char)(0x80 | n);
  } else {
    h[hl++] = 0x80 | 126;
    h[hl++] = (unsigned char)(n >> 8);
    h[hl++] = (unsigned char)n;
  }
  memcpy(h + hl, mask, 4);
  hl += 4;
  char *buf = malloc(hl + n);
  memcpy(buf, h, hl);
  for (size_t i = 0; i < n; i++) buf[hl + i] = (char)(payload[i] ^ mask[i & 3]);
  int rc = write_all(fd, buf, hl + n);
  free(buf);
  return rc;
}

static int fcntl_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0;
}

static void conn_append(conn *c, const char *p, size_t n) {
  if (c->len + n > c->cap) {
    c->cap = (c->len + n) * 2;
    c->in = realloc(c->in, c->cap);
  }
  memcpy(c->in + c->len, p, n);
  c->len += n;
}

/* Upgrade on a blocking socket; bytes past the 101 head stay in c->in. */
static int handshake(conn *c, int i, const char *topic) {
  c->fd = tcp_connect(i);
  if (c->fd < 0) return -1;
  char req[4608];
  int n = snprintf(req, sizeof req,
                   "GET /api/v1/stream/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                   bench.port, bench.tokens[i % bench.ntokens]);
  if (write_all(c->fd, req, (size_t)n)) return -1;
  char buf[4096];
  for (;;) {
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r <= 0) return -1;
    conn_append(c, buf, (size_t)r);
    char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (!end) continue;
    if (c->len < 12 || memcmp(c->in + 9, "101", 3) != 0) {
      fprintf(stderr, "stream_bench: handshake %d answered: %.*s\n", i, (int)(end - c->in), c->in);
      return -1;
    }
    size_t head = (size_t)(end - c->in) + 4;
    memmove(c->in, c->in + head, c->len - head);
    c->len -= head;
    break;
  }
  char sub[512];
  n = snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"topic\":\"%s\"}", topic);
  if (send_frame(c->fd, 1, sub, (size_t)n)) return -1;
  c->open = 1;
  return 0;
}

/* "2026-12-06T22:31:05.123Z" (the event's `at`) in ms since the epoch. */
static double iso_ms(const char *s) {
  struct tm tm = {0};
  int ms = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &ms) != 7)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (double)timegm(&tm) * 1e3 + ms;
}

static void on_text(conn *c, const char *p, size_t n) {
  double now = now_epoch_ms();
  char *s = strndup(p, n);
  if (strstr(s, "\"type\":\"subscribed\"") && !c->subscribed) {
    c->subscribed = 1;
    c->w->acked++;
  }
  if (strstr(s, "\"type\":\"event\"")) {
    char *at = strstr(s, "\"at\":\"");
    if (at) {
      double lat = now - iso_ms(at + 6);
      worker *w = c->w;
      if (w->nlat == w->lat_cap) {
        w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 1 << 16;
        w->lat_ms = realloc(w->lat_ms, w->lat_cap * sizeof(double));
      }
      w->lat_ms[w->nlat++] = lat;
    }
  }
  if (strstr(s, "\"type\":\"error\"")) fprintf(stderr, "stream_bench: server error: %s\n", s);
  free(s);
}

static void conn_close(conn *c) {
  if (!c->open) return;
  c->open = 0;
  c->w->closed++;
  epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
}

/* Parses the whole frames in c->in. */
static void parse_frames(conn *c) {
  size_t off = 0;
  while (c->open && c->len - off >= 2) {
    unsigned char *h = (unsigned char *)c->in + off;
    int op = h[0] & 0x0f;
    uint64_t plen = h[1] & 0x7f;
    size_t hl = 2;
    if (plen == 126) {
      if (c->len - off < 4) break;
      plen = ((uint64_t)h[2] << 8) | h[3];
      hl = 4;
    } else if (plen == 127) {
      if (c->len - off < 10) break;
      plen = 0;
      for (int k = 0; k < 8; k++) plen = (plen << 8) | h[2 + k];
      hl = 10;
    }
    if (c->len - off < hl + plen) break;
    const char *payload = c->in + off + hl;
    if (op == 1)
      on_text(c, payload, (size_t)plen);
    else if (op == 9)
      send_frame(c->fd, 10, payload, (size_t)plen);
    else if (op == 8)
      conn_close(c);
    off += hl + (size_t)plen;
  }
  memmove(c->in, c->in + off, c->len - off);
  c->len -= off;
}

static void pump(worker *w, int timeout_ms) {
  struct epoll_event evs[256];
  int n = epoll_wait(w->epfd, evs, 256, timeout_ms);
  for (int i = 0; i < n; i++) {
    conn *c = &bench.conns[evs[i].data.u32];
    char buf[65536];
    for (;;) {
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r > 0) {
        conn_append(c, buf, (size_t)r);
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
      parse_frames(c);
      conn_close(c);
      break;
    }
    parse_frames(c);
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  while (!atomic_load(&bench.stop)) pump(w, 50);
  return NULL;
}

static long total_acked(void) {
  long t = 0;
  for (int i = 0; i < WORKERS; i++) t += bench.workers[i].acked; /* a racy read: only watched until it settles */
  return t;
}

static size_t total_received(void) {
  size_t t = 0;
  for (int i = 0; i < WORKERS; i++) t += bench.workers[i].nlat;
  return t;
}

static void open_all(int n, const char *topic, int pid) {
  struct rlimit rl = {(rlim_t)n + 1024, (rlim_t)n + 1024};
  setrlimit(RLIMIT_NOFILE, &rl);
  bench.conns = calloc((size_t)n, sizeof(conn));
  for (int i = 0; i < WORKERS; i++) {
    bench.workers[i].epfd = epoll_create1(EPOLL_CLOEXEC);
    pthread_create(&bench.workers[i].thread, NULL, worker_main, &bench.workers[i]);
  }
  for (int i = 0; i < n; i++) {
    conn *c = &bench.conns[i];
    c->w = &bench.workers[i % WORKERS];
    if (handshake(c, i, topic)) {
      fprintf(stderr, "stream_bench: connection %d failed (%s)\n", i, strerror(errno));
      exit(1);
    }
    bench.nconns = i + 1;
    if (fcntl_nonblock(c->fd)) die("fcntl");
    /* bytes that came with the 101 are parsed by the worker when the socket is readable again; a
     * subscribe answer always comes after the handshake, so nothing is left unparsed for long */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
    if ((i + 1) % 5000 == 0 && pid > 0) printf("STREAM_RSS conns=%d rss_kb=%ld\n", i + 1, rss_kb(pid));
  }
  /* every subscription acknowledged (or 30 s) */
  for (double until = now_mono_s() + 30; total_acked() < n; usleep(100000))
    if (now_mono_s() > until) {
      fprintf(stderr, "stream_bench: only %ld of %d subscriptions acknowledged\n", total_acked(), n);
      exit(1);
    }
}

static void stop_workers(void) {
  atomic_store(&bench.stop, 1);
  for (int i = 0; i < WORKERS; i++) pthread_join(bench.workers[i].thread, NULL);
}

/* ---- fanout: the driver posts stock adjustments at a steady rate ---- */

typedef struct driver_args {
  const char *token, *product;
  int rate, seconds;
} driver_args;

/* Reads one answer (head + Content-Length body) on a blocking socket. */
static int read_answer(int fd, char *status3) {
  char buf[8192];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    memcpy(status3, buf + 9, 3);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < body) {
      r = read(fd, buf, sizeof buf);
      if (r <= 0) return -1;
      have += (size_t)r;
    }
    return 0;
  }
}

static void driver(driver_args *a) {
  int fd = tcp_connect(0);
  if (fd < 0) die("driver: connect");
  const char *body = "{\"delta\":1,\"reason\":\"stream bench\"}";
  char req[4608];
  int n = snprintf(req, sizeof req,
                   "POST /api/v1/inventory/%s/adjustments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   a->product, a->token, strlen(body), body);
  double t0 = now_mono_s();
  long total = (long)a->rate * a->seconds;
  for (long i = 0; i < total; i++) {
    double due = t0 + (double)i / a->rate, now = now_mono_s();
    if (due > now) usleep((useconds_t)((due - now) * 1e6));
    char st[4] = {0};
    if (write_all(fd, req, (size_t)n) || read_answer(fd, st)) die("driver: request failed");
    if (st[0] != '2') {
      fprintf(stderr, "stream_bench: adjustment answered %s\n", st);
      exit(1);
    }
    atomic_fetch_add(&bench.posted, 1);
  }
  close(fd);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double *all_lat; /* every worker's latencies, sorted */
static size_t all_n;

static double pct(double p) {
  if (!all_n) return 0;
  return all_lat[(size_t)(p * (double)(all_n - 1))];
}

static int run_fanout(int n, const char *topic, const char *staff, const char *product, int rate, int seconds) {
  open_all(n, topic, 0);
  driver_args a = {staff, product, rate, seconds};
  double t0 = now_mono_s();
  if (rate > 0) {
    driver(&a);
  } else { /* another process drives: listen for the duration, then until nothing more comes for 1 s */
    usleep((useconds_t)seconds * 1000000u);
    for (size_t seen = SIZE_MAX; seen != total_received(); sleep(1)) seen = total_received();
  }
  /* what is still on its way: until every subscriber has every event, or 5 s */
  long expected = rate > 0 ? atomic_load(&bench.posted) * (long)n : (long)total_received();
  for (double until = now_mono_s() + 5; (long)total_received() < expected && now_mono_s() < until;) usleep(20000);
  double elapsed = now_mono_s() - t0;
  stop_workers();
  long closed = 0;
  for (int i = 0; i < WORKERS; i++) {
    worker *w = &bench.workers[i];
    all_lat = realloc(all_lat, (all_n + w->nlat + 1) * sizeof(double));
    memcpy(all_lat + all_n, w->lat_ms, w->nlat * sizeof(double));
    all_n += w->nlat;
    closed += w->closed;
  }
  qsort(all_lat, all_n, sizeof(double), cmp_double);
  printf("STREAM_FANOUT subs=%d events=%ld received=%zu expected=%ld msgs_per_s=%.0f p50_ms=%.1f p99_ms=%.1f "
         "max_ms=%.1f closed=%ld\n",
         n, atomic_load(&bench.posted), all_n, expected, (double)all_n / elapsed, pct(0.5), pct(0.99), pct(1.0),
         closed);
  return (long)all_n == expected && closed == 0 ? 0 : 1;
}

static int run_idle(int n, const char *topic, int pid, int hold_s) {
  long rss0 = rss_kb(pid);
  open_all(n, topic, pid);
  long rss = rss_kb(pid);
  sleep((unsigned)hold_s); /* the workers answer the heartbeats meanwhile */
  stop_workers();
  long open = 0;
  for (int i = 0; i < n; i++) open += bench.conns[i].open;
  printf("STREAM_IDLE conns=%d open_after_hold=%ld rss0_kb=%ld rss_kb=%ld kb_per_1000=%.0f\n", n, open, rss0, rss,
         (double)(rss - rss0) * 1000.0 / n);
  return open == n ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 8 && strcmp(argv[1], "idle") == 0) {
    bench.port = atoi(argv[2]);
    read_tokens(argv[3]);
    return run_idle(atoi(argv[4]), argv[5], atoi(argv[6]), atoi(argv[7]));
  }
  if (argc >= 10 && strcmp(argv[1], "fanout") == 0) {
    bench.port = atoi(argv[2]);
    read_tokens(argv[3]);
    return run_fanout(atoi(argv[4]), argv[5], argv[6], argv[7], atoi(argv[8]), atoi(argv[9]));
  }
  fprintf(stderr, "usage: stream_bench idle PORT TOKENS_FILE N TOPIC SERVER_PID HOLD_S\n"
                  "       stream_bench fanout PORT TOKENS_FILE N TOPIC STAFF_TOKEN PRODUCT RATE SECONDS\n");
  return 2;
}
