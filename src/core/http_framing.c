#include "core/http_framing.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 token characters. */
static int is_tchar(unsigned char c) { return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c)); }

static int is_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i])) return 0;
  return 1;
}

/* RFC 9110 §5.5: CR, LF and NUL make a value invalid; we refuse the other
 * controls too (HTAB aside): no header of ours carries them, and a bare CR
 * that MHD did not treat as a line end lands here. */
static int valid_value(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

static int name_is(const sf_http_field *f, const char *name) {
  return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

static int count_fields(const sf_http_field *fields, int n, const char *name, int *last) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (name_is(&fields[i], name)) k++, *last = i;
  return k;
}

static int bad(sf_err *err, const char *detail) {
  return sf_err_set(err, 400, "bad-request", "Bad request", "%s", detail);
}

static int check_fields(const sf_http_field *fields, int n, sf_err *err) {
  for (int i = 0; i < n; i++) {
    if (!is_token(fields[i].name, fields[i].name_len))
      return sf_err_set(err, 400, "bad-request", "Bad request",
                        "header field name '%.*s' is not a token (no whitespace before the colon)",
                        (int)(fields[i].name_len > 60 ? 60 : fields[i].name_len), fields[i].name);
    if (!valid_value(fields[i].value, fields[i].value_len) || strlen(fields[i].value) != fields[i].value_len)
      return sf_err_set(err, 400, "bad-request", "Bad request",
                        "header field '%.*s' has a control character in its value",
                        (int)(fields[i].name_len > 60 ? 60 : fields[i].name_len), fields[i].name);
  }
  return 0;
}

/* RFC 3986 host [":" port] as a Host value may carry it (empty is allowed). */
static int valid_host(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (!isalnum(c) && !strchr("-._~%!$&'()*+,;=:[]", c)) return 0;
  }
  return 1;
}

/* RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one. */
static int check_host(const char *version, const sf_http_field *fields, int n, sf_err *err) {
  int last = -1, k = count_fields(fields, n, "Host", &last);
  if (k > 1) return bad(err, "more than one Host header field");
  if (k == 0 && strcmp(version, "HTTP/1.0") != 0) return bad(err, "an HTTP/1.1 request needs a Host header field");
  if (k == 1 && !valid_host(fields[last].value, fields[last].value_len))
    return bad(err, "the Host header field is not a valid host[:port]");
  return 0;
}

/* One coding of a Transfer-Encoding list: 0 = end, 1 = a coding in
 * [*s, *s + *len), -1 = an empty element. Advances *p. */
static int next_coding(const char **p, const char **s, size_t *len) {
  const char *q = *p;
  while (*q == ' ' || *q == '\t') q++;
  if (!*q) return 0;
  const char *start = q;
  while (*q && *q != ',') q++;
  const char *end = q;
  while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
  *p = *q == ',' ? q + 1 : q;
  *s = start;
  *len = (size_t)(end - start);
  return end > start ? 1 : -1;
}

static int is_chunked(const char *s, size_t n) { return n == 7 && strncasecmp(s, "chunked", 7) == 0; }

/* Every coding of every Transfer-Encoding line, in order: chunked must be
 * there once and last (RFC 9112 §6.3 item 4); anything else is a coding we
 * do not decode (501, RFC 9112 §6.1). */
static int check_codings(const sf_http_field *fields, int n, sf_err *err) {
  int chunked = 0, other = 0, chunked_last = 0;
  for (int i = 0; i < n; i++) {
    if (!name_is(&fields[i], "Transfer-Encoding")) continue;
    const char *p = fields[i].value, *s;
    size_t len;
    int rc, any = 0;
    while ((rc = next_coding(&p, &s, &len)) != 0) {
      if (rc < 0) continue; /* empty list elements are allowed and ignored */
      any = 1;
      chunked_last = is_chunked(s, len);
      chunked += chunked_last;
      other += !chunked_last;
    }
    if (!any) return bad(err, "empty Transfer-Encoding");
  }
  if (other)
    return sf_err_set(err, 501, "not-implemented", "Not implemented", "the only transfer coding supported is chunked");
  if (chunked != 1 || !chunked_last) return bad(err, "chunked must be applied once, as the last transfer coding");
  return 0;
}

/* RFC 9112 §6.1-6.3: Transfer-Encoding and Content-Length decide where the
 * body ends; any doubt between them is how requests are smuggled. */
static int check_body_framing(const char *version, const sf_http_field *fields, int n, sf_err *err) {
  int te_last = -1, cl_last = -1;
  int te = count_fields(fields, n, "Transfer-Encoding", &te_last);
  int cl = count_fields(fields, n, "Content-Length", &cl_last);
  if (cl > 1) return bad(err, "more than one Content-Length header field");
  if (te == 0) return 0;
  if (strcmp(version, "HTTP/1.0") == 0) return bad(err, "Transfer-Encoding in an HTTP/1.0 request");
  if (cl) return bad(err, "both Transfer-Encoding and Content-Length");
  if (check_codings(fields, n, err)) return -err->status;
  /* MHD decodes the body only when its one Transfer-Encoding line is
   * exactly "chunked"; with anything else it would wait for the end of the
   * stream, so a form it does not read is refused here. */
  if (te != 1 || !is_chunked(fields[te_last].value, fields[te_last].value_len))
    return bad(err, "write the transfer coding as one 'Transfer-Encoding: chunked' line");
  return 0;
}

/* RFC 9110 §10.1.1: 100-continue is the only expectation there is. */
static int check_expect(const sf_http_field *fields, int n, sf_err *err) {
  for (int i = 0; i < n; i++)
    if (name_is(&fields[i], "Expect") &&
        !(fields[i].value_len == 12 && strncasecmp(fields[i].value, "100-continue", 12) == 0))
      return sf_err_set(err, 417, "expectation-failed", "Expectation failed",
                        "the only expectation supported is 100-continue");
  return 0;
}

int sf_http_check_framing(const char *method, const char *version, const sf_http_field *fields, int nfields,
                          sf_err *err) {
  if (!is_token(method, strlen(method))) return bad(err, "the request method is not a token");
  if (check_fields(fields, nfields, err)) return -err->status;
  if (check_host(version, fields, nfields, err)) return -err->status;
  if (check_body_framing(version, fields, nfields, err)) return -err->status;
  return check_expect(fields, nfields, err);
}

/* ---- request target ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Skips "http://authority" or "https://authority" of an absolute-form
 * target; NULL if t is not one. The Host field is ignored then (RFC 9112
 * §3.2.2): one server answers for every name it is reached by. */
static const char *skip_authority(const char *t) {
  size_t n = strncasecmp(t, "http://", 7) == 0 ? 7 : strncasecmp(t, "https://", 8) == 0 ? 8 : 0;
  if (!n) return NULL;
  t += n;
  while (*t && *t != '/' && *t != '?' && *t != '#') t++;
  return t;
}

/* Decodes [p, end) into out (room for end - p + 1); -1 on an invalid
 * escape or a decoded control character. */
static int decode_path(const char *p, const char *end, char *out) {
  size_t k = 0;
  for (; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '%') {
      int hi, lo;
      if (end - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0) return -1;
      c = (unsigned char)(hi * 16 + lo);
      p += 2;
    }
    if (c < 0x20 || c == 0x7f) return -1;
    out[k++] = (char)c;
  }
  out[k] = '\0';
  return 0;
}

int sf_http_target_path(const char *method, const char *target, sf_arena *a, const char **path, sf_err *err) {
  for (const char *q = target; *q; q++)
    if ((unsigned char)*q <= 0x20 || *q == 0x7f)
      return bad(err, "the request target holds a space or a control character");
  if (strcmp(target, "*") == 0) {
    *path = "*";
    return strcmp(method, "OPTIONS") == 0 ? 0 : bad(err, "the request target * is for OPTIONS only");
  }
  const char *p = target[0] == '/' ? target : skip_authority(target);
  if (!p) return bad(err, "the request target must be a path (/...) or an absolute http(s) URI");
  const char *end = p + strcspn(p, "?#");
  char *out = sf_arena_alloc(a, (size_t)(end - p) + 2);
  if (p == end) { /* "http://host" or "http://host?q": the path is "/" */
    *path = "/";
    return 0;
  }
  if (*p != '/' || decode_path(p, end, out))
    return bad(err, "the request path holds an invalid percent escape or an encoded control character");
  *path = out;
  return 0;
}

size_t sf_http_unescape(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    int hi, lo;
    if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo)) {
      *w++ = (char)(hi * 16 + lo);
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}
