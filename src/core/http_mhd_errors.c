/* libmicrohttpd's own error answers, as problem+json.
 *
 * MHD refuses some requests before the application sees them, each with a
 * fixed HTML page: a malformed request line (400), an unsupported version
 * (505), a URI or header over its buffer (414, 431), a malformed or
 * oversized Content-Length or chunk size (400, 413). No MHD option replaces
 * those pages (none up to 1.0 either), but MHD queues them through its
 * exported MHD_queue_response, which the Debian build calls through the PLT
 * (`readelf -r libmicrohttpd.so.12` lists a JUMP_SLOT for it), so the
 * definition below takes MHD's own calls. http.c queues every answer of
 * ours through sf_http_mhd_queue, which goes straight to MHD's function;
 * any other call of an error status without a Content-Type is one of MHD's
 * error pages and is answered instead with a problem+json document of the
 * same status (the connection closes, as MHD intends). tests/e2e/test_http_conformance.py fails if the interposition
 * is ever lost (a static MHD, a build with -Bsymbolic). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h> /* before microhttpd.h */
#include <microhttpd.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/http_mhd.h"
#include "core/json.h"
#include "core/util.h"

typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static struct mhd_queue {
  queue_fn real; /* libmicrohttpd's own MHD_queue_response */
  pthread_once_t once;
} mhd = {.once = PTHREAD_ONCE_INIT};

static void resolve(void) {
  mhd.real = (queue_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
  if (!mhd.real) {
    fprintf(stderr, "serviceflow: MHD_queue_response not found in libmicrohttpd\n");
    abort();
  }
}

enum MHD_Result sf_http_mhd_queue(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r) {
  pthread_once(&mhd.once, resolve);
  return mhd.real(c, status, r);
}

static void describe(unsigned int status, sf_err *e) {
  switch (status) {
    case 413:
      sf_err_set(e, 413, "payload-too-large", "Content too large",
                 "the Content-Length or a chunk size is larger than the server accepts");
      break;
    case 414: sf_err_set(e, 414, "uri-too-long", "URI too long", "the request target is too long"); break;
    case 431:
      sf_err_set(e, 431, "header-too-large", "Request header fields too large",
                 "the request header is larger than the server accepts");
      break;
    case 505:
      sf_err_set(e, 505, "http-version-not-supported", "HTTP version not supported",
                 "this server speaks HTTP/1.0 and HTTP/1.1");
      break;
    case 400:
      sf_err_set(e, 400, "bad-request", "Bad request",
                 "the request line, the Content-Length or the chunked body is malformed");
      break;
    default: sf_err_set(e, (int)status, "error", "Error", "the request cannot be processed");
  }
}

static struct MHD_Response *problem_response(unsigned int status) {
  sf_err e = {0};
  describe(status, &e);
  json_t *p = sf_json_problem(&e, NULL);
  size_t len;
  char *body = sf_json_dump(p, &len);
  json_decref(p);
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
  if (!r) {
    free(body);
    return NULL;
  }
  char rid[40];
  sf_id_new("req", rid, sizeof rid);
  MHD_add_response_header(r, "Content-Type", "application/problem+json");
  MHD_add_response_header(r, "Connection", "close");
  MHD_add_response_header(r, "X-Request-Id", rid);
  return r;
}

/* MHD's error pages carry no Content-Type; anything else (a response some
 * later code of ours queues without going through http.c) passes as it is. */
enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r) {
  if (status < 400 || MHD_get_response_header(r, "Content-Type")) return sf_http_mhd_queue(c, status, r);
  struct MHD_Response *mine = problem_response(status);
  if (!mine) return sf_http_mhd_queue(c, status, r);
  enum MHD_Result ret = sf_http_mhd_queue(c, status, mine);
  MHD_destroy_response(mine);
  return ret;
}
