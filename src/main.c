/* serviceflow: the CLI. Commands: serve, migrate, user create, verify,
 * replay, routes, openapi, seed, copy-to-postgres. Settings come from flags, SERVICEFLOW_* env and an
 * optional config file (see core/config.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "cli_copy.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/router.h"
#include "core/util.h"
#include "edge/ops.h"
#include "events/anchor.h"
#include "events/dispatch.h"
#include "events/store.h"
#include "services/catalog/catalog.h"
#include "services/identity/identity.h"
#include "services/inventory/inventory.h"
#include "services/orders/orders.h"
#include "store/db.h"

static void usage(FILE *out) {
  fputs("usage: serviceflow <command> [--key value ...]\n"
        "  serve                      run the server (default port 8080)\n"
        "  migrate                    create or upgrade the database\n"
        "  user create --email E --role R [--password P] [--name N]\n"
        "                             create a user (password also from SERVICEFLOW_PASSWORD;\n"
        "                             without either: asked for on a terminal, else generated\n"
        "                             and printed)\n"
        "  verify                     check the event log's hash chain and rebuild order,\n"
        "                             stock and user state from events (exit 1 on any difference)\n"
        "  replay NAME                rebuild a projection from position 0\n"
        "  routes                     list the registered routes\n"
        "  openapi                    print the OpenAPI document\n"
        "  seed                       create the demo users and catalog (idempotent)\n"
        "  copy-to-postgres --to postgres://... [--db FILE]\n"
        "                             copy the SQLite database (of --data-dir, or FILE) into an\n"
        "                             empty PostgreSQL database and check the copy (exit 3: not empty)\n"
        "common settings: --data-dir D --port N --bind A --config FILE (see README)\n"
        "  --init                     serve: create the database if the data directory has none\n"
        "                             (migrate and seed always may)\n",
        out);
}

/* Removes "--name value" from argv (for command-specific flags) into *val. */
static void take_flag(int *argc, char **argv, const char *name, const char **val) {
  for (int i = 0; i < *argc; i++) {
    size_t n = strlen(name);
    if (strncmp(argv[i], name, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '=')) {
      int used = 1;
      if (argv[i][n] == '=') {
        *val = argv[i] + n + 1;
      } else if (i + 1 < *argc) {
        *val = argv[i + 1];
        used = 2;
      }
      memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used) * sizeof *argv);
      *argc -= used;
      return;
    }
  }
}

/* Removes a bare "--name" (no value after it) from argv; 1 if it was there. */
static int take_switch(int *argc, char **argv, const char *name) {
  for (int i = 0; i < *argc; i++) {
    if (strcmp(argv[i], name) != 0 || (i + 1 < *argc && argv[i + 1][0] != '-')) continue;
    memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof *argv);
    (*argc)--;
    return 1;
  }
  return 0;
}

static int fail(const sf_err *err) {
  fprintf(stderr, "serviceflow: %s\n", err->detail[0] ? err->detail : err->title);
  for (int i = 0; i < err->nfields; i++) fprintf(stderr, "  %s: %s\n", err->fields[i].field, err->fields[i].message);
  return 1;
}

/* One line from the terminal with echo off; 0 on success. */
static int read_hidden(const char *prompt, char *out, size_t cap) {
  struct termios saved, quiet;
  if (tcgetattr(STDIN_FILENO, &saved)) return -1;
  quiet = saved;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  fputs(prompt, stderr);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  int ok = fgets(out, (int)cap, stdin) != NULL;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  fputc('\n', stderr);
  if (!ok) return -1;
  out[strcspn(out, "\r\n")] = '\0';
  return 0;
}

/* The new user's password when neither --password nor SERVICEFLOW_PASSWORD
 * gave one: asked twice on a terminal; otherwise (a script, a pipe) 18
 * random bytes in base64url, printed once on stderr so stdout stays the id. */
static int obtain_password(char *out, size_t cap) {
  if (isatty(STDIN_FILENO)) {
    char again[256];
    if (read_hidden("Password: ", out, cap) || read_hidden("Password again: ", again, sizeof again)) return -1;
    if (strcmp(out, again) != 0) {
      fputs("serviceflow user create: the passwords differ\n", stderr);
      return -1;
    }
    return 0;
  }
  unsigned char raw[18];
  sf_random_bytes(raw, sizeof raw);
  sf_b64url_encode(raw, sizeof raw, out, cap);
  fprintf(stderr, "serviceflow user create: generated password: %s\n", out);
  return 0;
}

static int cmd_user_create(const char *email, const char *role, const char *password, const char *name) {
  sf_err err = {0};
  if (!email || !role) {
    fputs("serviceflow user create: --email and --role are required\n", stderr);
    return 2;
  }
  char typed[256];
  if (!password) password = getenv("SERVICEFLOW_PASSWORD");
  if (!password) {
    if (obtain_password(typed, sizeof typed)) return 2;
    password = typed;
  }
  if (sf_app_open(&sf_cfg, &err)) return fail(&err);
  char id[SF_ID_MAX];
  int rc = sf_identity_create_user(email, password, role, name, id, &err);
  sf_app_close();
  if (rc) return fail(&err);
  printf("%s\n", id);
  return 0;
}

/* " ok" or ", N mismatches", for the summary line. */
static const char *verdict(const sf_verify_report *r, char *buf, size_t cap) {
  if (!r->mismatches) return " ok";
  snprintf(buf, cap, ", %" PRId64 " mismatch%s", r->mismatches, r->mismatches == 1 ? "" : "es");
  return buf;
}

static void print_mismatches(const char *what, const sf_verify_report *r) {
  for (int i = 0; i < r->ndetails; i++) fprintf(stderr, "serviceflow verify: %s\n", r->details[i]);
  if (r->mismatches > r->ndetails)
    fprintf(stderr, "serviceflow verify: ... and %" PRId64 " more %s mismatches\n", r->mismatches - r->ndetails, what);
}

/* The anchor first: its file is read before the transaction's first read,
 * so the snapshot holds every position a running server could have anchored.
 * Returns 0, or -2 after printing why the log does not reach its anchor. */
static int verify_anchor(sf_db *db, int64_t *anchored) {
  char path[600];
  sf_err err = {0};
  sf_ev_anchor_path(sf_cfg.data_dir, path, sizeof path);
  if (sf_ev_anchor_check(db, path, anchored, &err)) {
    fprintf(stderr, "serviceflow verify: FAILED: %s\n", err.detail);
    return -2;
  }
  if (*anchored < 0)
    fprintf(stderr, "serviceflow verify: note: no %s yet, so deleted newest events would go unnoticed\n", path);
  return 0;
}

/* The hash chain first (a damaged log makes any fold meaningless), then the
 * services rebuild their state from events and compare it with the state
 * rows. One read transaction: a running server's writes cannot make events
 * and rows disagree mid-check. */
static int cmd_verify(void) {
  sf_err err = {0};
  char path[600];
  sf_app_db_path(&sf_cfg, path, sizeof path);
  sf_db *db = sf_db_open(path, SF_DB_READ, &err);
  if (!db) return fail(&err);
  if (sf_db_begin_read(db, &err)) {
    sf_db_close(db);
    return fail(&err);
  }
  int64_t n = 0, anchored = -1;
  int rc = verify_anchor(db, &anchored);
  if (!rc) rc = sf_ev_verify(db, &n, &err);
  if (rc) {
    sf_db_close(db);
    if (rc != -2) fprintf(stderr, "serviceflow verify: FAILED after %" PRId64 " good events: %s\n", n, err.detail);
    return 1;
  }
  static sf_verify_report stock, reservations, orders, users; /* ~5 KiB each: off the stack */
  rc = sf_inv_verify(db, &stock, &reservations, &err);
  if (!rc) rc = sf_orders_verify(db, &orders, &err);
  if (!rc) rc = sf_identity_verify(db, &users, &err);
  sf_err ignored;
  sf_db_commit(db, &ignored); /* a read transaction: nothing to keep */
  sf_db_close(db);
  if (rc) return fail(&err);
  char b1[48], b2[48], b3[48], b4[48];
  printf("verify: %" PRId64 " events, hash chain intact; stock: %" PRId64 " products%s; reservations: %" PRId64
         "%s; orders: %" PRId64 "%s; users: %" PRId64 "%s\n",
         n, stock.checked, verdict(&stock, b1, sizeof b1), reservations.checked, verdict(&reservations, b2, sizeof b2),
         orders.checked, verdict(&orders, b3, sizeof b3), users.checked, verdict(&users, b4, sizeof b4));
  print_mismatches("stock", &stock);
  print_mismatches("reservation", &reservations);
  print_mismatches("order", &orders);
  print_mismatches("user", &users);
  return stock.mismatches || reservations.mismatches || orders.mismatches || users.mismatches ? 1 : 0;
}

static int cmd_replay(const char *name) {
  sf_err err = {0};
  if (!name) {
    fputs("serviceflow replay: name a projection (event_stats, sales_daily)\n", stderr);
    return 2;
  }
  if (sf_app_open(&sf_cfg, &err)) return fail(&err);
  int rc = sf_dispatch_replay(name, &err);
  int64_t cp = rc ? -1 : sf_dispatch_checkpoint(name, &err);
  sf_app_close();
  if (rc) return fail(&err);
  printf("ok: %s rebuilt up to position %" PRId64 "\n", name, cp);
  return 0;
}

static int cmd_seed(void) {
  static const struct {
    const char *email, *role, *password, *name;
  } demo[] = {
      {"admin@serviceflow.local", "admin", "admin-password-1", "Demo Admin"},
      {"staff@serviceflow.local", "staff", "staff-password-1", "Demo Staff"},
      {"approver@serviceflow.local", "approver", "approver-password-1", "Demo Approver"},
      {"customer@serviceflow.local", "customer", "customer-password-1", "Demo Customer"},
  };
  sf_err err = {0};
  if (sf_app_open(&sf_cfg, &err)) return fail(&err);
  for (size_t i = 0; i < sizeof demo / sizeof demo[0]; i++) {
    char id[SF_ID_MAX];
    sf_err_clear(&err);
    int rc = sf_identity_create_user(demo[i].email, demo[i].password, demo[i].role, demo[i].name, id, &err);
    if (rc == -409)
      printf("seed: %s exists\n", demo[i].email);
    else if (rc) {
      sf_app_close();
      return fail(&err);
    } else
      printf("seed: created %-8s %s / %s\n", demo[i].role, demo[i].email, demo[i].password);
  }
  sf_err_clear(&err);
  int n = sf_catalog_seed_demo(&err);
  if (n < 0) {
    sf_app_close();
    return fail(&err);
  }
  printf(n ? "seed: created %d demo products with stock\n" : "seed: catalog not empty, no demo products added\n", n);
  puts("seed: the demo passwords above are public: use this data set on your own machine only");
  sf_err_clear(&err);
  int rc = sf_dispatch_catch_up(&err);
  sf_app_close();
  return rc ? fail(&err) : 0;
}

static int cmd_routes(void) {
  sf_err err = {0};
  /* routes are static: register them without opening storage */
  sf_app_routes();
  (void)err;
  for (int i = 0; i < sf_router_count(); i++) {
    const sf_route *r = sf_router_get(i);
    printf("%s %s\n", r->method, r->pattern);
  }
  return 0;
}

/* Prints the OpenAPI document (the one GET /api/v1/openapi.json serves) for
 * linters and client generators. */
static int cmd_openapi(void) {
  sf_app_routes();
  json_t *doc = sf_openapi_build();
  size_t len;
  char *text = sf_json_dump(doc, &len);
  fwrite(text, 1, len, stdout);
  putchar('\n');
  free(text);
  json_decref(doc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  /* Everything we create (the database and its WAL, key files, the data
   * directory) is the owner's alone. */
  umask(077);
  const char *cmd = argv[1];
  const char *sub = NULL, *email = NULL, *role = NULL, *password = NULL, *name = NULL, *to = NULL, *db_file = NULL;
  int n = argc - 2;
  char **rest = argv + 2;
  int init = take_switch(&n, rest, "--init");
  if ((strcmp(cmd, "user") == 0 || strcmp(cmd, "replay") == 0) && n > 0 && rest[0][0] != '-') {
    sub = rest[0];
    rest++, n--;
  }
  if (strcmp(cmd, "user") == 0) {
    take_flag(&n, rest, "--email", &email);
    take_flag(&n, rest, "--role", &role);
    take_flag(&n, rest, "--password", &password);
    take_flag(&n, rest, "--name", &name);
  }
  if (strcmp(cmd, "copy-to-postgres") == 0) {
    take_flag(&n, rest, "--to", &to);
    take_flag(&n, rest, "--db", &db_file);
  }
  sf_config_defaults(&sf_cfg);
  sf_err err = {0};
  if (sf_config_load(&sf_cfg, n, rest, &err)) return fail(&err);
  sf_log_set_level(sf_log_level_from_string(sf_cfg.log_level));
  /* migrate and seed exist to set a data directory up; every other command
   * needs the database to be there already (see sf_app_open). */
  if (init || strcmp(cmd, "migrate") == 0 || strcmp(cmd, "seed") == 0) sf_cfg.init = 1;

  if (strcmp(cmd, "serve") == 0) return sf_app_serve(&sf_cfg, &err) ? fail(&err) : 0;
  if (strcmp(cmd, "migrate") == 0) {
    if (sf_app_open(&sf_cfg, &err)) return fail(&err);
    sf_app_close();
    printf("ok: database ready in %s\n", sf_cfg.data_dir);
    return 0;
  }
  if (strcmp(cmd, "user") == 0 && sub && strcmp(sub, "create") == 0)
    return cmd_user_create(email, role, password, name);
  if (strcmp(cmd, "verify") == 0) return cmd_verify();
  if (strcmp(cmd, "replay") == 0) return cmd_replay(sub);
  if (strcmp(cmd, "routes") == 0) return cmd_routes();
  if (strcmp(cmd, "openapi") == 0) return cmd_openapi();
  if (strcmp(cmd, "seed") == 0) return cmd_seed();
  if (strcmp(cmd, "copy-to-postgres") == 0) return sf_cli_copy_to_postgres(&sf_cfg, db_file, to);
  usage(stderr);
  return 2;
}
