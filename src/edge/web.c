#include "edge/web.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Set on the main thread before serving, read-only afterwards. */
static struct web_state {
  char root[PATH_MAX]; /* as configured (or the default) */
  char real[PATH_MAX]; /* its realpath, when it existed at start */
  int ready;
} web;

/* The policy of a React SPA that talks only to its own origin (fetch, and
 * the WebSocket of /api/v1/stream; CSP3's 'self' covers ws:/wss: of the
 * same host, older browsers need the host spelled out: web_csp adds it). */
#define CSP_HEAD                                                                                                       \
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                                          \
  "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self'; manifest-src 'self'; connect-src 'self'"
#define CSP_TAIL "; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"

typedef struct {
  const char *ext, *type;
  int compressible; /* web/scripts/precompress.mjs may have made .br/.gz of it */
} web_type;

static const web_type k_types[] = {
    {"html", "text/html; charset=utf-8", 1},
    {"js", "text/javascript; charset=utf-8", 1},
    {"mjs", "text/javascript; charset=utf-8", 1},
    {"css", "text/css; charset=utf-8", 1},
    {"svg", "image/svg+xml", 1},
    {"json", "application/json", 1},
    {"webmanifest", "application/manifest+json", 1},
    {"map", "application/json", 1},
    {"txt", "text/plain; charset=utf-8", 0},
    {"png", "image/png", 0},
    {"jpg", "image/jpeg", 0},
    {"webp", "image/webp", 0},
    {"ico", "image/x-icon", 0},
    {"woff2", "font/woff2", 0},
    {"woff", "font/woff", 0},
};
static const web_type k_binary = {"", "application/octet-stream", 0};

void sf_web_init(const char *web_root) {
  if (web_root && web_root[0]) {
    snprintf(web.root, sizeof web.root, "%s", web_root);
  } else {
    char exe[PATH_MAX - 8]; /* room for "/web" */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(web.root, sizeof web.root, "%s/web", slash ? exe : ".");
  }
  struct stat st;
  web.ready = realpath(web.root, web.real) && stat(web.real, &st) == 0 && S_ISDIR(st.st_mode);
  char q[PATH_MAX + 64];
  if (web.ready)
    sf_log_info("web app served", "\"web_root\":\"%s\"", sf_log_quote(web.real, q, sizeof q));
  else
    sf_log_warn("web app not built: / answers 404 (make build builds it)", "\"web_root\":\"%s\"",
                sf_log_quote(web.root, q, sizeof q));
}

int sf_web_clean_path(const char *path, char *out, size_t cap) {
  if (path[0] != '/' || strchr(path, '\\')) return -1;
  size_t len = strlen(path + 1);
  if (len >= cap) return -1;
  memcpy(out, path + 1, len + 1);
  if (len && out[len - 1] == '/') out[--len] = '\0'; /* "/orders/" is "/orders" */
  if (!len) {
    snprintf(out, cap, "index.html");
    return 0;
  }
  for (const char *seg = out;;) {
    size_t n = strcspn(seg, "/");
    if (n == 0 || seg[0] == '.') return -1; /* "//", ".", "..", ".git", ".env" */
    if (!seg[n]) return 0;
    seg += n + 1;
  }
}

/* The q of the coding named in an Accept-Encoding element: 1000 = q=1. */
static int parse_q(const char *params, size_t len) {
  const char *q = NULL;
  for (const char *p = params; p < params + len; p++)
    if ((*p == 'q' || *p == 'Q') && p + 1 < params + len && p[1] == '=') q = p + 2;
  if (!q) return 1000;
  double v = strtod(q, NULL);
  return v <= 0 ? 0 : v >= 1 ? 1000 : (int)(v * 1000 + 0.5);
}

int sf_web_pick_encoding(const char *ae, int available) {
  int q_br = -1, q_gzip = -1, q_any = -1; /* -1: not named */
  for (const char *p = ae; p && *p;) {
    p += strspn(p, " \t,");
    size_t n = strcspn(p, ","), name = strcspn(p, " \t;,");
    int q = parse_q(p + name, n - name);
    if (name == 2 && strncasecmp(p, "br", 2) == 0) q_br = q;
    if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) || (name == 6 && strncasecmp(p, "x-gzip", 6) == 0)) q_gzip = q;
    if (name == 1 && *p == '*') q_any = q;
    p += n;
  }
  if (q_br < 0) q_br = q_any;
  if (q_gzip < 0) q_gzip = q_any;
  if (!(available & SF_WEB_BR)) q_br = 0;
  if (!(available & SF_WEB_GZIP)) q_gzip = 0;
  if (q_br > 0 && q_br >= q_gzip) return SF_WEB_BR;
  return q_gzip > 0 ? SF_WEB_GZIP : 0;
}

static const web_type *type_of(const char *rel) {
  const char *slash = strrchr(rel, '/'), *dot = strrchr(slash ? slash : rel, '.');
  if (!dot) return NULL;
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
    if (strcasecmp(dot + 1, k_types[i].ext) == 0) return &k_types[i];
  return &k_binary;
}

/* Opens root/rel[suffix] when it is a regular file whose real path is under
 * root (a symlink may point anywhere inside, nowhere outside). */
static int open_under(const char *root, const char *rel, const char *suffix, struct stat *st) {
  char path[PATH_MAX], real[PATH_MAX];
  size_t rl = strlen(root);
  if ((size_t)snprintf(path, sizeof path, "%s/%s%s", root, rel, suffix) >= sizeof path) return -1;
  if (!realpath(path, real) || strncmp(real, root, rl) != 0 || real[rl] != '/') return -1;
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The coding's variant of rel the client takes, best first; *enc the coding
 * sent (0: the plain file, not opened here). */
static int open_variant(const char *root, const char *rel, const char *accept, struct stat *st, int *enc) {
  int avail = SF_WEB_BR | SF_WEB_GZIP;
  while ((*enc = sf_web_pick_encoding(accept, avail))) {
    int fd = open_under(root, rel, *enc == SF_WEB_BR ? ".br" : ".gz", st);
    if (fd >= 0) return fd;
    avail &= ~*enc;
  }
  return -1;
}

/* If-None-Match: is etag among its entity tags (weak comparison, RFC 9110 13.1.2)? */
static int etag_matches(const char *inm, const char *etag) {
  size_t n = strlen(etag);
  for (const char *p = inm; p && *p;) {
    p += strspn(p, " \t,");
    if (*p == '*') return 1;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t')) return 1;
    p += strcspn(p, ",");
  }
  return 0;
}

/* The CSP with the WebSocket origins of the Host the browser used, when it
 * is a plain host[:port] (anything else would let a client write into the
 * header; 'self' alone covers current browsers). */
static const char *web_csp(sf_req *req) {
  const char *host = sf_req_header(req, "Host");
  size_t n = host ? strlen(host) : 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)host[i]) && !strchr(".-:[]", host[i])) n = 0;
  if (!n || n > 255) return CSP_HEAD CSP_TAIL;
  return sf_arena_printf(&req->arena, "%s ws://%s wss://%s%s", CSP_HEAD, host, host, CSP_TAIL);
}

static void add_headers(sf_req *req, const char *rel, const web_type *t, const struct stat *st, const char *etag) {
  sf_req_add_header(req, "Cache-Control",
                    strncmp(rel, "assets/", 7) == 0 ? "public, max-age=31536000, immutable" : "no-cache");
  sf_req_add_header(req, "ETag", etag);
  char date[64];
  struct tm tm;
  time_t mt = st->st_mtime;
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&mt, &tm));
  sf_req_add_header(req, "Last-Modified", date);
  if (t->compressible) sf_req_add_header(req, "Vary", "Accept-Encoding");
  sf_req_add_header(req, "X-Content-Type-Options", "nosniff");
  if (strncmp(t->type, "text/html", 9) != 0) return;
  sf_req_add_header(req, "Content-Security-Policy", web_csp(req));
  sf_req_add_header(req, "Referrer-Policy", "same-origin");
  sf_req_add_header(req, "X-Frame-Options", "DENY");
}

/* Sends root/rel, open as fd (stat st), or its precompressed variant. */
static void send_file(sf_req *req, const char *root, const char *rel, int fd, struct stat *st) {
  const web_type *t = type_of(rel);
  if (!t) t = &k_binary;
  int enc = 0;
  struct stat vst;
  int vfd = t->compressible ? open_variant(root, rel, sf_req_header(req, "Accept-Encoding"), &vst, &enc) : -1;
  if (vfd >= 0) {
    close(fd);
    fd = vfd;
    *st = vst;
  }
  const char *coding = enc == SF_WEB_BR ? "br" : enc == SF_WEB_GZIP ? "gzip" : "identity";
  char etag[96];
  snprintf(etag, sizeof etag, "\"%llx-%llx-%s\"", (unsigned long long)st->st_size,
           (unsigned long long)st->st_mtim.tv_sec * 1000000000ull + (unsigned long long)st->st_mtim.tv_nsec, coding);
  if (etag_matches(sf_req_header(req, "If-None-Match"), etag)) {
    close(fd);
    sf_req_reply(req, 304, NULL, NULL, 0);
  } else {
    sf_req_reply_file(req, 200, t->type, fd, (uint64_t)st->st_size);
    if (enc) sf_req_add_header(req, "Content-Encoding", coding);
  }
  add_headers(req, rel, t, st, etag);
}

static int not_found(sf_req *req) {
  sf_err err = {0};
  sf_err_set(&err, 404, "not-found", "Not found", "no route for %s", req->path);
  sf_req_reply_problem(req, &err);
  return 1;
}

static int not_built(sf_req *req) {
  sf_err err = {0};
  sf_err_set(&err, 404, "web-not-built", "Web app not built",
             "the web app is not built: no directory %.300s. Build it with `make build` (it runs "
             "scripts/build-web.sh: npm ci and npm run build in web/, Node.js 18 or later), or point web_root "
             "(--web-root, SERVICEFLOW_WEB_ROOT) at a built app",
             web.root);
  sf_req_reply_problem(req, &err);
  return 1;
}

/* Is the path one of the API's (its unknown paths answer as the API does)? */
static int api_path(const char *path) { return strncmp(path, "/api", 4) == 0 && (!path[4] || path[4] == '/'); }

/* A slash or backslash sent encoded would name another file than the
 * client's path segments say: refused, as the decoded path cannot show it. */
static int encoded_separator(const char *target) {
  for (const char *p = target; *p && *p != '?'; p++)
    if (p[0] == '%' && p[1] && p[2] &&
        ((p[1] == '2' && (p[2] == 'f' || p[2] == 'F')) || (p[1] == '5' && (p[2] == 'c' || p[2] == 'C'))))
      return 1;
  return 0;
}

/* A browser's navigation asks for text/html; fetch() and API clients do not. */
static int wants_html(sf_req *req) {
  const char *accept = sf_req_header(req, "Accept");
  return accept && strstr(accept, "text/html");
}

int sf_web_serve(sf_req *req) {
  if ((strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) || api_path(req->path)) return 0;
  char found[PATH_MAX];
  const char *root = web.real;
  if (!web.ready) { /* built after the server started? */
    struct stat st;
    if (!realpath(web.root, found) || stat(found, &st) != 0 || !S_ISDIR(st.st_mode)) return not_built(req);
    root = found;
  }
  char rel[1024];
  if (encoded_separator(sf_req_target(req)) || sf_web_clean_path(req->path, rel, sizeof rel)) return not_found(req);
  struct stat st;
  int fd = open_under(root, rel, "", &st);
  if (fd < 0) {
    if (type_of(rel) || !wants_html(req)) return not_found(req);
    snprintf(rel, sizeof rel, "index.html"); /* an app route: the app's router shows it */
    if ((fd = open_under(root, rel, "", &st)) < 0) return not_found(req);
  }
  send_file(req, root, rel, fd, &st);
  return 1;
}
