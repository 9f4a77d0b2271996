/* Request framing and request-target rules of the HTTP server: the parts of
 * RFC 9112 / RFC 9110 that libmicrohttpd 0.9.75 leaves to the application.
 *
 * MHD takes the first Content-Length and the first Transfer-Encoding it
 * finds, decodes only a body whose Transfer-Encoding is exactly "chunked",
 * waits forever for the end of a body of any other coding, keeps a space
 * before the colon as part of the field name, asks for no Host, and cuts the
 * URL at a decoded %00. These functions decide what it does not; they are
 * pure (no MHD, no I/O) and run on an HTTP thread with the request's fields
 * once its header is complete, before any of the body is read.
 * Malformed Content-Length values, bad chunk sizes, bad versions and
 * oversized headers are refused by MHD itself (see http_mhd_errors.c). */
#ifndef SF_CORE_HTTP_FRAMING_H
#define SF_CORE_HTTP_FRAMING_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

/* A header field line as MHD received it (name and value point into MHD's
 * buffer, valid while the request is). */
typedef struct sf_http_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} sf_http_field;

/* 0 when the request is framed so that its body (if any) can be delimited
 * without doubt and its header is well formed; otherwise -400, -501 for a
 * transfer coding we do not implement, or -417 for an Expect other than
 * 100-continue, with err filled. The caller answers
 * and closes the connection: the rest of the stream cannot be trusted.
 * version is "HTTP/1.1", "HTTP/1.0", ... as sent. */
int sf_http_check_framing(const char *method, const char *version, const sf_http_field *fields, int nfields,
                          sf_err *err);

/* The path of a request target (the raw, still percent-encoded text of the
 * request line): origin-form "/p?q" or absolute-form "http://host/p?q"
 * (RFC 9112 §3.2.1-3.2.2) give the decoded path without the query, copied
 * into a; asterisk-form "*" gives "*" (OPTIONS only). -400 with err filled for any other
 * form, an invalid percent escape, or a path that decodes to a NUL or
 * another control character. */
int sf_http_target_path(const char *method, const char *target, sf_arena *a, const char **path, sf_err *err);

/* Unescape callback for MHD (MHD_OPTION_UNESCAPE_CALLBACK), used on query
 * keys and values: decodes %XX in place, except %00, which stays as the
 * three characters (MHD hands values on as C strings, so a decoded NUL
 * would silently cut them). Invalid escapes stay as they are. Returns the
 * new length. */
size_t sf_http_unescape(char *s);

#endif
