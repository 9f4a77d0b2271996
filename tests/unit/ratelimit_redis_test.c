/* Unit tests for the rate limits shared in Redis (src/edge/ratelimit_redis.c)
 * against a real redis-server (Debian package), started here on a free
 * loopback port in a temp dir with no persistence, and killed at the end. */
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "edge/ratelimit.h"
#include "edge/ratelimit_redis.h"
#include "edge/ratelimit_slots.h"

#define S 1000000000ull
#define T0 (1000 * S)

static struct test_redis {
  char dir[64];
  int port;
  pid_t pid;
  char url[128];
} redis;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) abort();
  close(fd);
  return ntohs(a.sin_port);
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

static redisContext *admin(void) {
  return redisConnectWithTimeout("127.0.0.1", redis.port, (struct timeval){.tv_sec = 1});
}

static void redis_start(void) {
  char port[16];
  snprintf(port, sizeof port, "%d", redis.port);
  redis.pid = fork();
  if (redis.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", redis.dir, "--save", "",
           "--appendonly", "no", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) { /* up to 10 s */
    redisContext *c = admin();
    redisReply *rep = c && !c->err ? redisCommand(c, "PING") : NULL;
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    redisFree(c);
    if (ok) return;
    sleep_ms(50);
  }
  fail_msg("redis-server did not start on port %d", redis.port);
}

static void redis_stop(void) {
  if (redis.pid <= 0) return;
  kill(redis.pid, SIGKILL);
  waitpid(redis.pid, NULL, 0);
  redis.pid = 0;
}

static void admin_cmd(const char *cmd) {
  redisContext *c = admin();
  assert_non_null(c);
  redisReply *rep = redisCommand(c, cmd);
  assert_non_null(rep);
  freeReplyObject(rep);
  redisFree(c);
}

static int setup(void **state) {
  signal(SIGPIPE, SIG_IGN); /* as the server does (app.c): a write to a killed Redis is an error, not a death */
  snprintf(redis.dir, sizeof redis.dir, "/tmp/sf-redis-XXXXXX");
  if (!mkdtemp(redis.dir)) return -1;
  redis.port = free_port();
  snprintf(redis.url, sizeof redis.url, "redis://127.0.0.1:%d", redis.port);
  redis_start();
  return 0;
}

static int teardown(void **state) {
  redis_stop();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", redis.dir);
  return system(cmd) == 0 ? 0 : -1;
}

static sf_rl_redis *client(const char *prefix, const char *fail) {
  sf_rl_redis *r = NULL;
  sf_err err = {0};
  sf_rl_redis_config cfg = {redis.url, prefix, 1000, fail}; /* long: the test machine is busy */
  assert_int_equal(sf_rl_redis_new(&cfg, &r, &err), 0);
  return r;
}

static sf_rl_result redis_take(sf_rl_redis *r, sf_ratelimit *rl, const char *key) {
  sf_rl_params p;
  sf_rl_params_of(rl, &p);
  sf_rl_result out = {0};
  assert_int_equal(sf_rl_redis_take(r, &p, "t", key, &out), 0);
  return out;
}

static void assert_same(sf_rl_result a, sf_rl_result b) {
  assert_int_equal(a.allowed, b.allowed);
  assert_int_equal(a.limit, b.limit);
  assert_int_equal(a.remaining, b.remaining);
  assert_int_equal(a.reset_s, b.reset_s);
  assert_int_equal(a.retry_after_s, b.retry_after_s);
}

/* A burst taken at once answers exactly as the local limiter does at one
 * instant: the ms that pass between Redis calls round away in ceil(). */
static void matches_local(double rate, double burst, int takes, const char *key) {
  sf_ratelimit *local = sf_rl_new(rate, burst, 100);
  sf_rl_redis *r = client("sfu1:", NULL);
  for (int i = 0; i < takes; i++) {
    sf_rl_result want;
    sf_rl_take(local, key, T0, &want);
    assert_same(redis_take(r, local, key), want);
  }
  sf_rl_redis_free(r);
  sf_rl_free(local);
}

static void same_answers_as_local(void **state) {
  matches_local(1.0, 5, 8, "burst");    /* remaining 4..0, reset 1..5, then retry 1 */
  matches_local(0.4, 1, 3, "slow");     /* one per 2.5 s: retry 3, reset 3 */
  matches_local(5 / 60.0, 10, 12, "l"); /* login: 5/min, burst 10: retry 12 */
  matches_local(10, 20, 25, "fast");    /* reset ceil(0.1 * n) */
}

static void refills_on_redis_clock(void **state) {
  sf_ratelimit *local = sf_rl_new(10, 2, 100);
  sf_rl_redis *r = client("sfu2:", NULL);
  assert_int_equal(redis_take(r, local, "k").allowed, 1);
  assert_int_equal(redis_take(r, local, "k").allowed, 1);
  assert_int_equal(redis_take(r, local, "k").allowed, 0);
  sleep_ms(120); /* one token per 100 ms */
  sf_rl_result res = redis_take(r, local, "k");
  assert_int_equal(res.allowed, 1);
  assert_int_equal(res.remaining, 0);
  assert_int_equal(redis_take(r, local, "k").allowed, 0);
  sf_rl_redis_free(r);
  sf_rl_free(local);
}

/* Two clients (two pools: two instances) spend one budget. */
static void two_instances_share_one_budget(void **state) {
  sf_ratelimit *local = sf_rl_new(0.5, 6, 100);
  sf_rl_redis *a = client("sfu3:", NULL), *b = client("sfu3:", NULL), *other = client("sfu3b:", NULL);
  int allowed = 0;
  for (int i = 0; i < 12; i++) allowed += redis_take(i % 2 ? b : a, local, "1.2.3.4").allowed;
  assert_int_equal(allowed, 6);
  /* another prefix (another deployment on the same Redis) is another bucket */
  assert_int_equal(redis_take(other, local, "1.2.3.4").allowed, 1);
  sf_rl_redis_free(a);
  sf_rl_redis_free(b);
  sf_rl_redis_free(other);
  sf_rl_free(local);
}

/* The key lives only until the bucket is full again. */
static void keys_expire_when_full(void **state) {
  sf_ratelimit *local = sf_rl_new(1.0, 3, 100);
  sf_rl_redis *r = client("sfu4:", NULL);
  redis_take(r, local, "exp");
  redis_take(r, local, "exp");
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "PTTL sfu4:rl:t:exp");
  assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
  assert_in_range(rep->integer, 1500, 2000); /* two tokens short at 1/s */
  freeReplyObject(rep);
  redisFree(c);
  sf_rl_redis_free(r);
  sf_rl_free(local);
}

/* A Redis that forgot the script (restart, SCRIPT FLUSH) gets it again. */
static void script_reloaded_after_flush(void **state) {
  sf_ratelimit *local = sf_rl_new(1.0, 3, 100);
  sf_rl_redis *r = client("sfu5:", NULL);
  assert_int_equal(redis_take(r, local, "s").remaining, 2);
  admin_cmd("SCRIPT FLUSH");
  assert_int_equal(redis_take(r, local, "s").remaining, 1);
  sf_rl_redis_free(r);
  sf_rl_free(local);
}

static struct race {
  sf_rl_redis *r;
  sf_ratelimit *local;
  int allowed;
  pthread_mutex_t mu;
} race;

static void *race_thread(void *arg) {
  sf_rl_params p;
  sf_rl_params_of(race.local, &p);
  for (int i = 0; i < 50; i++) {
    sf_rl_result out;
    if (sf_rl_redis_take(race.r, &p, "t", "race", &out) == 0 && out.allowed) {
      pthread_mutex_lock(&race.mu);
      race.allowed++;
      pthread_mutex_unlock(&race.mu);
    }
  }
  return NULL;
}

/* Threads sharing a client's pool: the script is atomic, the burst exact. */
static void concurrent_takes_are_atomic(void **state) {
  race.local = sf_rl_new(0.01, 100, 100);
  race.r = client("sfu6:", NULL);
  pthread_mutex_init(&race.mu, NULL);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, race_thread, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  assert_int_equal(race.allowed, 100);
  sf_rl_redis_free(race.r);
  sf_rl_free(race.local);
}

static int metric(sf_rl_redis *r, const char *line_start) {
  sf_buf b;
  sf_buf_init(&b);
  sf_rl_redis_metrics(r, &b);
  const char *p = strstr(b.data, line_start);
  int v = p ? atoi(p + strlen(line_start)) : -1;
  sf_buf_free(&b);
  return v;
}

/* Redis down: fail open decides locally, fail closed refuses; the circuit
 * keeps calls off the dead server; after a restart, shared again. */
static void redis_down_then_back(void **state) {
  sf_ratelimit *local = sf_rl_new(1.0, 2, 100);
  sf_rl_redis *open = client("sfu7:", "open"), *closed = client("sfu7:", "closed");
  sf_rl_result out;
  assert_int_equal(sf_rl_shared_take(open, local, "t", "d", T0, &out), 0);
  assert_int_equal(sf_rl_redis_check(open), 1);
  redis_stop();
  uint64_t t0 = sf_mono_ns();
  for (int i = 0; i < 20; i++) assert_int_equal(sf_rl_shared_take(open, local, "t", "d", T0, &out), 0);
  assert_true(sf_mono_ns() - t0 < S / 2); /* no call waited on the dead server */
  assert_int_equal(metric(open, "\nsf_ratelimit_redis_errors_total "), 1);
  assert_int_equal(metric(open, "\nsf_ratelimit_redis_unavailable_total{outcome=\"local\"} "), 20);
  assert_int_equal(metric(open, "\nsf_ratelimit_redis_up "), 0);
  assert_int_equal(sf_rl_redis_check(open), 0);
  /* the local limiter decided: burst 2, then refusals */
  sf_rl_take(local, "x", T0, &out);
  assert_int_equal(sf_rl_shared_take(closed, local, "t", "d", T0, &out), -1);
  assert_int_equal(sf_rl_shared_take(closed, local, "t", "d", T0, &out), -1);
  assert_int_equal(metric(closed, "\nsf_ratelimit_redis_unavailable_total{outcome=\"refused\"} "), 2);

  redis_start();
  int back = 0;
  for (int i = 0; i < 60 && !back; i++) { /* the circuit lets a probe through within 2 s */
    back = sf_rl_shared_take(closed, local, "t", "back", T0, &out) == 0;
    if (!back) sleep_ms(50);
  }
  assert_true(back);
  assert_int_equal(out.allowed, 1);
  assert_int_equal(metric(closed, "\nsf_ratelimit_redis_up "), 1);
  sf_rl_redis_free(open);
  sf_rl_redis_free(closed);
  sf_rl_free(local);
}

/* A Redis restarted between two calls cut the pooled connection: the call
 * is made again on a new one, nothing fails. */
static void quick_restart_costs_nothing(void **state) {
  sf_ratelimit *local = sf_rl_new(1.0, 3, 100);
  sf_rl_redis *r = client("sfu9:", "closed");
  assert_int_equal(redis_take(r, local, "q").remaining, 2);
  redis_stop();
  redis_start();
  assert_int_equal(redis_take(r, local, "q").remaining, 2); /* a new Redis: the bucket started full again */
  assert_int_equal(metric(r, "\nsf_ratelimit_redis_errors_total "), 0);
  sf_rl_redis_free(r);
  sf_rl_free(local);
}

static void password_and_database(void **state) {
  admin_cmd("CONFIG SET requirepass s3cret");
  sf_ratelimit *local = sf_rl_new(1.0, 2, 100);
  sf_rl_params p;
  sf_rl_params_of(local, &p);
  char url[160];
  sf_err err = {0};
  sf_rl_redis *r = NULL;
  snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/3", redis.port);
  sf_rl_redis_config cfg = {url, "sfu8:", 1000, "closed"};
  assert_int_equal(sf_rl_redis_new(&cfg, &r, &err), 0);
  sf_rl_result out;
  assert_int_equal(sf_rl_redis_take(r, &p, "t", "pw", &out), 0);
  assert_int_equal(out.remaining, 1);
  sf_rl_redis_free(r);
  /* wrong password: Redis cannot answer */
  snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", redis.port);
  assert_int_equal(sf_rl_redis_new(&cfg, &r, &err), 0);
  assert_int_equal(sf_rl_redis_take(r, &p, "t", "pw", &out), -1);
  sf_rl_redis_free(r);
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "AUTH s3cret");
  freeReplyObject(rep);
  rep = redisCommand(c, "SELECT 3");
  freeReplyObject(rep);
  rep = redisCommand(c, "EXISTS sfu8:rl:t:pw");
  assert_int_equal(rep->integer, 1); /* in database 3 */
  freeReplyObject(rep);
  rep = redisCommand(c, "CONFIG SET requirepass %s", "");
  freeReplyObject(rep);
  redisFree(c);
  sf_rl_free(local);
}

static void bad_configuration(void **state) {
  const char *bad[] = {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:1/x", "redis://[::1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sf_rl_redis *r = NULL;
    sf_err err = {0};
    sf_rl_redis_config cfg = {bad[i], "sf:", 50, NULL};
    assert_true(sf_rl_redis_new(&cfg, &r, &err) < 0);
    assert_null(r);
  }
  sf_rl_redis *r = NULL;
  sf_err err = {0};
  sf_rl_redis_config cfg = {"redis://localhost", "sf:", 50, "sometimes"};
  assert_true(sf_rl_redis_new(&cfg, &r, &err) < 0);
  cfg.fail = "closed";
  assert_int_equal(sf_rl_redis_new(&cfg, &r, &err), 0);
  assert_int_equal(sf_rl_redis_fail_closed(r), 1);
  sf_rl_redis_free(r);
}

/* Calls of the script (EVALSHA, and EVAL after a NOSCRIPT) since the last
 * CONFIG RESETSTAT. */
static int script_calls(void) {
  redisContext *c = admin();
  assert_non_null(c);
  redisReply *rep = redisCommand(c, "INFO commandstats");
  assert_non_null(rep);
  int calls = 0;
  static const char *const names[] = {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="};
  for (int i = 0; i < 2; i++) {
    const char *p = strstr(rep->str, names[i]);
    if (p) calls += atoi(p + strlen(names[i]));
  }
  freeReplyObject(rep);
  redisFree(c);
  return calls;
}

/* A request's buckets in one script call: the same answers as taking them
 * one by one in process, stopping at the first refused (a later bucket is
 * left alone), an unlimited bucket allowing without Redis. */
static void several_buckets_in_one_call(void **state) {
  sf_ratelimit *ip = sf_rl_new(1.0, 2, 100), *free_rl = sf_rl_new(0, 0, 100), *user = sf_rl_new(1.0, 5, 100);
  sf_ratelimit *ip_local = sf_rl_new(1.0, 2, 100), *user_local = sf_rl_new(1.0, 5, 100);
  sf_rl_redis *r = client("sfu10:", "closed");
  sf_rl_want w[3] = {{ip, "ip", "10.0.0.1"}, {free_rl, "free", "x"}, {user, "user", "usr_1"}};
  sf_rl_result out[3], want;
  int taken = 0;
  admin_cmd("CONFIG RESETSTAT");
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sf_rl_shared_take_all(r, w, 3, T0, out, &taken), 0);
    assert_int_equal(taken, 3);
    sf_rl_take(ip_local, "a", T0, &want);
    assert_same(out[0], want);
    assert_int_equal(out[1].allowed, 1);
    sf_rl_take(user_local, "a", T0, &want);
    assert_same(out[2], want);
  }
  /* the per-IP bucket is empty: refused, the user's bucket untouched */
  assert_int_equal(sf_rl_shared_take_all(r, w, 3, T0, out, &taken), 0);
  assert_int_equal(taken, 1);
  sf_rl_take(ip_local, "a", T0, &want);
  assert_same(out[0], want);
  assert_int_equal(out[0].allowed, 0);
  assert_int_equal(script_calls(), 3); /* one round trip each */
  sf_rl_take(user_local, "a", T0, &want);
  sf_rl_result alone;
  assert_int_equal(sf_rl_shared_take(r, user, "user", "usr_1", T0, &alone), 0);
  assert_same(alone, want); /* the third take of the user's bucket */
  sf_rl_redis_free(r);
  sf_rl_free(ip), sf_rl_free(free_rl), sf_rl_free(user), sf_rl_free(ip_local), sf_rl_free(user_local);
}

/* ---- concurrency slots (edge/ratelimit_slots.c) ---- */

static long long zcard(const char *key) {
  redisContext *c = admin();
  assert_non_null(c);
  redisReply *rep = redisCommand(c, "ZCARD %s", key);
  assert_non_null(rep);
  long long n = rep->integer;
  freeReplyObject(rep);
  redisFree(c);
  return n;
}

/* Two instances' clients count the holders of one key together; a release
 * frees a place for either. */
static void slots_shared_by_instances(void **state) {
  sf_rl_slots_init();
  sf_rl_redis *a = client("sfu11:", NULL), *b = client("sfu11:", NULL);
  int count = -1;
  assert_int_equal(sf_rl_slots_take(a, "stream", "usr_1", "a:1", 2, 60000, &count), 1);
  assert_int_equal(count, 1);
  assert_int_equal(sf_rl_slots_take(b, "stream", "usr_1", "b:1", 2, 60000, &count), 1);
  assert_int_equal(count, 2);
  assert_int_equal(sf_rl_slots_take(a, "stream", "usr_1", "a:2", 2, 60000, &count), 0);
  assert_int_equal(count, 2);
  assert_int_equal(sf_rl_slots_take(b, "stream", "usr_2", "b:2", 2, 60000, NULL), 1); /* another key */
  assert_int_equal(sf_rl_slots_release(a, "stream", "usr_1", "a:1"), 0);
  assert_int_equal(sf_rl_slots_take(b, "stream", "usr_1", "b:3", 2, 60000, NULL), 1);
  assert_int_equal(zcard("sfu11:slots:stream:usr_1"), 2);
  sf_rl_redis_free(a);
  sf_rl_redis_free(b);
}

/* A holder not refreshed expires (an instance that died); a refreshed one
 * stays; a refresh adds a holder Redis lost. */
static void slots_expire_unless_refreshed(void **state) {
  sf_rl_slots_init();
  sf_rl_redis *r = client("sfu12:", NULL);
  assert_int_equal(sf_rl_slots_take(r, "stream", "u", "live", 2, 600, NULL), 1);
  assert_int_equal(sf_rl_slots_take(r, "stream", "u", "dead", 2, 600, NULL), 1);
  assert_int_equal(sf_rl_slots_take(r, "stream", "u", "new", 2, 600, NULL), 0);
  sleep_ms(300);
  sf_rl_slot live = {"u", "live"};
  assert_int_equal(sf_rl_slots_refresh(r, "stream", &live, 1, 600), 0);
  sleep_ms(450); /* "dead" expired 750 ms after its take; "live" lives 600 ms after its refresh */
  assert_int_equal(sf_rl_slots_take(r, "stream", "u", "new", 2, 600, NULL), 1);
  assert_int_equal(sf_rl_slots_take(r, "stream", "u", "newer", 2, 600, NULL), 0);
  admin_cmd("DEL sfu12:slots:stream:u"); /* Redis restarted empty */
  sf_rl_slot many[300];
  char members[300][16];
  for (int i = 0; i < 300; i++) { /* more than one call's batch */
    snprintf(members[i], sizeof members[i], "m%d", i);
    many[i] = (sf_rl_slot){i % 2 ? "u" : "v", members[i]};
  }
  assert_int_equal(sf_rl_slots_refresh(r, "stream", many, 300, 60000), 0);
  assert_int_equal(zcard("sfu12:slots:stream:u"), 150);
  assert_int_equal(zcard("sfu12:slots:stream:v"), 150);
  sf_rl_redis_free(r);
}

typedef struct slot_racer {
  sf_rl_redis *r;
  int n, won;
} slot_racer;

static void *race_slots(void *arg) {
  slot_racer *s = arg;
  char member[32];
  snprintf(member, sizeof member, "racer:%d", s->n);
  s->won = sf_rl_slots_take(s->r, "stream", "race", member, 5, 60000, NULL);
  return NULL;
}

/* Many instances taking the last places at once: exactly max win. */
static void slots_taken_atomically(void **state) {
  sf_rl_slots_init();
  enum { N = 16 };
  slot_racer racers[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    racers[i] = (slot_racer){client("sfu13:", NULL), i, -1};
    pthread_create(&th[i], NULL, race_slots, &racers[i]);
  }
  int won = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_true(racers[i].won == 0 || racers[i].won == 1);
    won += racers[i].won;
    sf_rl_redis_free(racers[i].r);
  }
  assert_int_equal(won, 5);
}

/* Redis does not answer: -1, and the caller's fail open/closed decides. */
static void slots_without_redis(void **state) {
  sf_rl_slots_init();
  for (int closed = 0; closed < 2; closed++) {
    sf_rl_redis *r = NULL;
    sf_err err = {0};
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port()); /* nobody there */
    sf_rl_redis_config cfg = {url, "sfu14:", 200, closed ? "closed" : "open"};
    assert_int_equal(sf_rl_redis_new(&cfg, &r, &err), 0);
    assert_int_equal(sf_rl_slots_take(r, "stream", "u", "m", 2, 1000, NULL), -1);
    assert_int_equal(sf_rl_redis_unavailable(r), closed);
    assert_int_equal(sf_rl_slots_release(r, "stream", "u", "m"), -1);
    sf_rl_redis_free(r);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bad_configuration),
      cmocka_unit_test(same_answers_as_local),
      cmocka_unit_test(refills_on_redis_clock),
      cmocka_unit_test(two_instances_share_one_budget),
      cmocka_unit_test(keys_expire_when_full),
      cmocka_unit_test(script_reloaded_after_flush),
      cmocka_unit_test(concurrent_takes_are_atomic),
      cmocka_unit_test(quick_restart_costs_nothing),
      cmocka_unit_test(password_and_database),
      cmocka_unit_test(redis_down_then_back),
      cmocka_unit_test(several_buckets_in_one_call),
      cmocka_unit_test(slots_shared_by_instances),
      cmocka_unit_test(slots_expire_unless_refreshed),
      cmocka_unit_test(slots_taken_atomically),
      cmocka_unit_test(slots_without_redis),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
