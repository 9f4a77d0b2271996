/* Workflow engine throughput without HTTP: durable state transitions/s
 * through the writer (group commit, synchronous=FULL) on a real SQLite file.
 *
 *   transition_bench [seconds per run = 5] [client threads = 64] [rounds = 3]
 *
 * 64 client threads each own one service request and loop: submit a
 * transition command (srq_transition as a customer's sf_actor: load the row
 * and the cached compiled definition, then the engine's state, role and Lua
 * guard checks, actions, the events, the row), wait for its commit, repeat. Rows, interleaved per round, medians:
 *   plain      the request's `touch` self-loop: 1 event + the row
 *   actions    the same with an on_exit emit and an on_enter set: 3 events
 *   pipelined  plain with --writer-sync pipelined (fsync on the sync thread)
 *   1-commit   plain with --writer-max-batch 1 (the baseline)
 * all with the default writer_sync=full unless named.
 * The HTTP figure of the same engine is bench/transition.lua in run.sh. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core/util.h"
#include "services/requests/internal.h"
#include "store/db.h"
#include "store/writer.h"

#define MAX_CLIENTS 256

#define K_DEF                                                                                                          \
  "{\"name\":\"Bench %s\",\"type\":\"%s\",\"initial\":\"open\",\"states\":{\"open\":%s,"                               \
  "\"closed\":{\"final\":true}},\"transitions\":[{\"action\":\"touch\",\"from\":\"open\",\"to\":\"open\","             \
  "\"roles\":[\"customer\"],\"guard\":\"data.amount > 0 and data.amount < 1000\"},"                                    \
  "{\"action\":\"close\",\"from\":\"open\",\"to\":\"closed\"}]}"

static struct bench_state {
  char template_path[512], path[512]; /* the set-up database, the copy a run writes */
  atomic_int stop;
  atomic_long ok, failed;
} bench;

typedef struct {
  sf_cmd cmd;
  char user[SF_ID_MAX];
  sf_actor who; /* a customer, the request's requester */
  char id[SF_ID_MAX];
} tcmd;

static int t_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  tcmd *t = (tcmd *)c;
  sf_flow_request r;
  memset(&r, 0, sizeof r);
  int rc = srq_transition(tx, &t->who, t->id, "touch", "", SF_IF_MATCH_ANY, &r, err);
  sf_flow_request_clear(&r);
  return rc;
}

static void t_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

typedef struct {
  const char *kind;
  int i;
} client_arg;

static void *client(void *arg) {
  client_arg *a = arg;
  tcmd *t = calloc(1, sizeof *t);
  snprintf(t->id, sizeof t->id, "srq_%s_%03d", a->kind, a->i);
  snprintf(t->user, sizeof t->user, "usr_bench_%03d", a->i);
  t->who = sf_actor_system;
  t->who.user_id = t->user;
  t->who.role = "customer";
  while (!atomic_load(&bench.stop)) {
    memset(&t->cmd, 0, sizeof t->cmd);
    t->cmd.run = t_run;
    t->cmd.done = t_done;
    if (sf_writer_exec(&t->cmd) == 0)
      atomic_fetch_add(&bench.ok, 1);
    else {
      if (atomic_fetch_add(&bench.failed, 1) == 0) fprintf(stderr, "transition failed: %s\n", t->cmd.err.detail);
    }
  }
  free(t);
  return NULL;
}

static int setup_db(int clients) {
  sf_err e = {0};
  sf_db *db = sf_db_open(bench.template_path, SF_DB_WRITE, &e);
  if (!db || sf_app_migrate(db, &e)) {
    fprintf(stderr, "db: %s\n", e.detail);
    return -1;
  }
  int64_t now = sf_now_ms();
  static const char *const kinds[] = {"plain", "actions"};
  for (int k = 0; k < 2; k++) {
    char def[2048];
    snprintf(def, sizeof def, K_DEF, kinds[k], kinds[k],
             k ? "{\"on_exit\":[{\"emit\":\"bench.left\"}],\"on_enter\":[{\"set\":{\"touched\":true}}]}" : "{}");
    sf_stmt *st =
        sf_db_prepare(db,
                      "INSERT INTO workflows(id, type, version, name, definition, source, created_by, created_at)"
                      " VALUES(?1, ?2, 1, ?2, ?3, ?3, 'usr_bench', ?4)",
                      &e);
    char wf[SF_ID_MAX];
    snprintf(wf, sizeof wf, "wf_%s", kinds[k]);
    sf_stmt_text(st, 1, wf);
    sf_stmt_text(st, 2, kinds[k]);
    sf_stmt_text(st, 3, def);
    sf_stmt_int(st, 4, now);
    if (sf_stmt_run(st, &e)) return fprintf(stderr, "workflow: %s\n", e.detail), -1;
    for (int i = 0; i < clients; i++) {
      char id[SF_ID_MAX], user[SF_ID_MAX];
      snprintf(id, sizeof id, "srq_%s_%03d", kinds[k], i);
      snprintf(user, sizeof user, "usr_bench_%03d", i);
      st = sf_db_prepare(
          db,
          "INSERT INTO service_requests(id, type, workflow_id, title, data, state, created_by, version,"
          " created_at, updated_at) VALUES(?1, ?2, ?3, 'bench', '{\"amount\":10}', 'open', ?4, 1, ?5, ?5)",
          &e);
      sf_stmt_text(st, 1, id);
      sf_stmt_text(st, 2, kinds[k]);
      sf_stmt_text(st, 3, wf);
      sf_stmt_text(st, 4, user);
      sf_stmt_int(st, 5, now);
      if (sf_stmt_run(st, &e)) return fprintf(stderr, "request: %s\n", e.detail), -1;
    }
  }
  sf_db_close(db);
  return 0;
}

static long long io_wchar(void) {
  FILE *f = fopen("/proc/self/io", "r");
  long long v = -1;
  char line[128];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "wchar: %lld", &v) == 1) break;
  if (f) fclose(f);
  return v;
}

/* One timed run: transitions committed per second. */
static double run(const char *kind, int max_batch, sf_writer_sync sync, int clients, int seconds) {
  /* every run starts from a copy of the same small database: a run on the
   * file the runs before it grew would be slower for that alone */
  char cmd[3000];
  snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' && cp '%s' '%s'", bench.path, bench.path, bench.path,
           bench.template_path, bench.path);
  if (system(cmd) != 0) {
    fprintf(stderr, "cannot copy the database\n");
    exit(1);
  }
  sf_err e = {0};
  if (sf_writer_start(bench.path, max_batch, sync, &e)) {
    fprintf(stderr, "writer: %s\n", e.detail);
    exit(1);
  }
  atomic_store(&bench.stop, 0);
  atomic_store(&bench.ok, 0);
  pthread_t th[MAX_CLIENTS];
  client_arg args[MAX_CLIENTS];
  uint64_t t0 = sf_mono_ns();
  long long w0 = io_wchar();
  for (int i = 0; i < clients; i++) {
    args[i] = (client_arg){kind, i};
    pthread_create(&th[i], NULL, client, &args[i]);
  }
  sleep((unsigned)seconds);
  atomic_store(&bench.stop, 1);
  long ok = atomic_load(&bench.ok);
  double secs = (double)(sf_mono_ns() - t0) / 1e9;
  for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
  sf_writer_stop();
  if (getenv("TBENCH_VERBOSE"))
    fprintf(stderr, "  %s batch<=%d %s: %ld transitions, %.0f bytes written each\n", kind, max_batch,
            sync == SF_WRITER_SYNC_FULL ? "full" : "pipelined", ok, ok ? (double)(io_wchar() - w0) / ok : 0.0);
  return ok / secs;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 5, clients = argc > 2 ? atoi(argv[2]) : 64,
      rounds = argc > 3 ? atoi(argv[3]) : 3;
  if (seconds < 1 || clients < 1 || clients > MAX_CLIENTS || rounds < 1 || rounds > 9) {
    fprintf(stderr, "usage: transition_bench [seconds 1..] [clients 1..%d] [rounds 1..9]\n", MAX_CLIENTS);
    return 2;
  }
  char dir[] = "/tmp/sf-tbench-XXXXXX";
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  snprintf(bench.template_path, sizeof bench.template_path, "%s/template.db", dir);
  snprintf(bench.path, sizeof bench.path, "%s/bench.db", dir);
  if (setup_db(clients)) return 1;
  double plain[9], actions[9], piped[9], single[9];
  for (int r = 0; r < rounds; r++) {
    plain[r] = run("plain", 1024, SF_WRITER_SYNC_FULL, clients, seconds);
    actions[r] = run("actions", 1024, SF_WRITER_SYNC_FULL, clients, seconds);
    piped[r] = run("plain", 1024, SF_WRITER_SYNC_PIPELINED, clients, seconds);
    single[r] = run("plain", 1, SF_WRITER_SYNC_FULL, clients, seconds);
    fprintf(stderr, "round %d: plain %.0f/s, actions %.0f/s, pipelined %.0f/s, 1-commit %.0f/s\n", r + 1, plain[r],
            actions[r], piped[r], single[r]);
  }
  qsort(plain, (size_t)rounds, sizeof plain[0], cmp_d);
  qsort(actions, (size_t)rounds, sizeof actions[0], cmp_d);
  qsort(piped, (size_t)rounds, sizeof piped[0], cmp_d);
  qsort(single, (size_t)rounds, sizeof single[0], cmp_d);
  double p = plain[rounds / 2], a = actions[rounds / 2], f = piped[rounds / 2], s = single[rounds / 2];
  printf("engine only (no HTTP): %d clients, %d s runs, medians of %d rounds; failed %ld\n", clients, seconds, rounds,
         atomic_load(&bench.failed));
  printf("%-52s %12s %8s\n", "transitions (every one fsynced before its answer)", "per second", "ratio");
  printf("%-52s %12.0f %8.2f\n", "1 commit per transition (baseline)", s, 1.0);
  printf("%-52s %12.0f %8.2f\n", "group commit, self-loop (1 event + row)", p, p / s);
  printf("%-52s %12.0f %8.2f\n", "group commit, emit + set (3 events)", a, a / s);
  printf("%-52s %12.0f %8.2f\n", "group commit, self-loop, writer_sync=pipelined", f, f / s);
  printf("TRANSITION_ENGINE plain=%.0f actions=%.0f pipelined=%.0f single=%.0f failed=%ld\n", p, a, f, s,
         atomic_load(&bench.failed));
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 && atomic_load(&bench.failed) == 0 ? 0 : 1;
}
