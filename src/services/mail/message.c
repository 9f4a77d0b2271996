/* The bytes of an e-mail (RFC 5322 with MIME, RFCs 2045-2047): built from
 * the stored row at each attempt, the same bytes every time. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "services/mail/internal.h"

#define QP_LINE 76     /* RFC 2045 §6.7 (5): encoded lines at most 76 characters */
#define HEADER_LINE 78 /* RFC 5322 §2.1.1: header lines SHOULD stay within 78 characters */

int mail_addr_valid(const char *addr) {
  size_t n = addr ? strlen(addr) : 0;
  const char *at = addr ? strrchr(addr, '@') : NULL;
  if (n < 3 || n > 254 || !at || at == addr || !at[1] || strchr(addr, '@') != at) return 0;
  for (const char *p = addr; *p; p++)
    if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127 || strchr("<>()[]\\,;:\"", *p)) return 0;
  return strstr(at, "..") == NULL && at[1] != '.' && addr[n - 1] != '.';
}

static void trim_into(const char *a, const char *b, char *out, size_t cap) {
  while (a < b && isspace((unsigned char)*a)) a++;
  while (b > a && isspace((unsigned char)b[-1])) b--;
  if (b > a && *a == '"' && b[-1] == '"' && b - a >= 2) a++, b--;
  snprintf(out, cap, "%.*s", (int)(b - a), a);
}

int mail_from_parse(const char *from, char *addr, size_t acap, char *name, size_t ncap) {
  const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt) {
    trim_into(from, lt, name, ncap);
    trim_into(lt + 1, gt, addr, acap);
  } else {
    name[0] = '\0';
    trim_into(from, from + strlen(from), addr, acap);
  }
  return mail_addr_valid(addr) && !strpbrk(name, "\r\n") ? 0 : -1;
}

static int plain_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 32 || (unsigned char)*s > 126) return 0;
  return 1;
}

/* The column the next byte of b goes to (header lines fold at 78). */
static int column(const sf_buf *b) {
  size_t i = b->len;
  while (i > 0 && b->data[i - 1] != '\n') i--;
  return (int)(b->len - i);
}

/* A UTF-8 text as encoded-words, each line at most 76 characters, never
 * splitting a character, folded with CRLF SP between words. */
static void encoded_words(const char *s, sf_buf *out) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    int room = HEADER_LINE - 2 - column(out) - 12; /* "=?UTF-8?B?" "?=" */
    size_t take = room > 8 ? (size_t)(room / 4) * 3 : 6;
    if (take > n - i) take = n - i;
    while (take < n - i && take > 1 && ((unsigned char)s[i + take] & 0xC0) == 0x80) take--;
    char b64[sodium_base64_ENCODED_LEN(HEADER_LINE, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)s + i, take, sodium_base64_VARIANT_ORIGINAL);
    sf_buf_printf(out, "=?UTF-8?B?%s?=", b64);
    i += take;
    if (i < n) sf_buf_puts(out, "\r\n ");
  }
}

/* Printable ASCII, folded before a space where a line would pass 78. */
static void folded_ascii(const char *s, sf_buf *out) {
  while (*s) {
    size_t word = strcspn(s + 1, " ") + 1;
    if (*s == ' ' && column(out) + (int)word > HEADER_LINE && column(out) > 1) sf_buf_puts(out, "\r\n");
    sf_buf_append(out, s, word);
    s += word;
  }
}

void mail_header_encode(const char *s, sf_buf *out) {
  if (plain_ascii(s))
    folded_ascii(s, out);
  else
    encoded_words(s, out);
}

/* A display name and address: "Name" <addr>, =?UTF-8?B?..?= <addr>, or addr. */
static void put_mailbox(const char *name, const char *addr, sf_buf *out) {
  if (!name || !*name) {
    sf_buf_puts(out, addr);
    return;
  }
  if (plain_ascii(name)) {
    sf_buf_puts(out, "\"");
    for (const char *p = name; *p; p++) {
      if (*p == '"' || *p == '\\') sf_buf_puts(out, "\\");
      sf_buf_append(out, p, 1);
    }
    sf_buf_puts(out, "\"");
  } else {
    encoded_words(name, out);
  }
  sf_buf_printf(out, "%s<%s>", column(out) + (int)strlen(addr) + 3 > HEADER_LINE ? "\r\n " : " ", addr);
}

typedef struct qp_line {
  sf_buf *out;
  int col;
} qp_line;

static void qp_put(qp_line *l, const char *s, int n) {
  if (l->col + n > QP_LINE - 1) { /* leave room for the soft break's '=' */
    sf_buf_puts(l->out, "=\r\n");
    l->col = 0;
  }
  sf_buf_append(l->out, s, (size_t)n);
  l->col += n;
}

void mail_qp_encode(const char *s, size_t n, sf_buf *out) {
  qp_line l = {.out = out};
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r' && i + 1 < n && s[i + 1] == '\n') continue; /* CRLF and LF alike end a line */
    if (c == '\n') {
      sf_buf_puts(out, "\r\n");
      l.col = 0;
      continue;
    }
    int at_eol = i + 1 == n || s[i + 1] == '\n' || s[i + 1] == '\r';
    char enc[4];
    if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol)) {
      enc[0] = (char)c;
      qp_put(&l, enc, 1);
    } else {
      snprintf(enc, sizeof enc, "=%02X", c);
      qp_put(&l, enc, 3);
    }
  }
}

static void put_date(int64_t ms, sf_buf *out) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  sf_buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_part(const char *boundary, const char *type, const char *body, sf_buf *out) {
  sf_buf_printf(out, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
                boundary, type);
  mail_qp_encode(body, strlen(body), out);
  sf_buf_puts(out, "\r\n");
}

char *mail_msg_build(const mail_msg *m, size_t *len) {
  sf_buf b;
  sf_buf_init(&b);
  /* "=_" never occurs in quoted-printable text, so the boundary cannot */
  char boundary[40];
  snprintf(boundary, sizeof boundary, "=_sf_%016llx",
           (unsigned long long)sf_fnv1a(m->message_id, strlen(m->message_id)));
  put_date(m->date_ms, &b);
  sf_buf_puts(&b, "From: ");
  put_mailbox(m->from_name, m->from_addr, &b);
  sf_buf_puts(&b, "\r\nTo: ");
  put_mailbox(m->to_name, m->to_addr, &b);
  sf_buf_puts(&b, "\r\nSubject: ");
  mail_header_encode(m->subject, &b);
  sf_buf_printf(&b,
                "\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
                "X-ServiceFlow-Kind: %s\r\n"
                "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
                m->message_id, m->kind, boundary);
  put_part(boundary, "text/plain", m->text, &b);
  put_part(boundary, "text/html", m->html, &b);
  sf_buf_printf(&b, "--%s--\r\n", boundary);
  *len = b.len;
  return sf_buf_steal(&b);
}
