/* The template language of mail: {{name}} and {{a.b}} insert a value,
 * {{#if name}}...{{else}}...{{/if}} keeps a part when the value is truthy
 * (present, not null/false/""/0/empty). One parser serves rendering and
 * checking, so a template that checks renders the way it was checked. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "services/mail/internal.h"

#define MAX_DEPTH 8    /* nested {{#if}}: templates are short texts */
#define MAX_NAME 128   /* a dotted name */
#define MAX_SEGMENTS 8 /* a.b.c... */

typedef enum { TAG_VAR, TAG_IF, TAG_ELSE, TAG_END, TAG_EOF } tag_kind;

typedef struct parse {
  const mail_scope *scope;
  int html;
  sf_buf *out; /* NULL: checking */
  const char *start;
  char *why;
  size_t why_cap;
  int failed;
} parse;

static int fail(parse *p, const char *at, const char *what) {
  if (!p->failed && p->why) snprintf(p->why, p->why_cap, "%s at offset %ld", what, (long)(at - p->start));
  p->failed = 1;
  return -1;
}

static int name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-'; }

/* The tag opening at s ("{{"): its kind and name; *end past "}}". */
static int read_tag(parse *p, const char *s, tag_kind *kind, const char **name, size_t *len, const char **end) {
  const char *close = strstr(s + 2, "}}");
  if (!close) return fail(p, s, "unclosed {{");
  const char *a = s + 2, *b = close;
  while (a < b && isspace((unsigned char)*a)) a++;
  while (b > a && isspace((unsigned char)b[-1])) b--;
  *end = close + 2;
  *kind = TAG_VAR;
  if (b - a == 4 && strncmp(a, "else", 4) == 0) {
    *kind = TAG_ELSE;
    return 0;
  }
  if (b - a == 3 && strncmp(a, "/if", 3) == 0) {
    *kind = TAG_END;
    return 0;
  }
  if (*a == '#' || *a == '/') {
    if (strncmp(a, "#if", 3) != 0 || a + 3 >= b || !isspace((unsigned char)a[3]))
      return fail(p, s, "unknown block (only {{#if name}}, {{else}}, {{/if}})");
    *kind = TAG_IF;
    for (a += 3; a < b && isspace((unsigned char)*a); a++) {}
  }
  if (a == b || b - a > MAX_NAME) return fail(p, s, "a tag needs a name");
  for (const char *c = a; c < b; c++)
    if (!name_char(*c)) return fail(p, s, "a name may hold letters, digits, '_', '-' and '.'");
  *name = a;
  *len = (size_t)(b - a);
  return 0;
}

static const json_t *lookup_in(const json_t *root, const char *name, size_t len) {
  const json_t *v = root;
  const char *p = name, *end = name + len;
  for (int seg = 0; v && p < end && seg < MAX_SEGMENTS; seg++) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
    v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
    p += n + (dot ? 1 : 0);
    if (!dot) return v;
  }
  return NULL;
}

static const json_t *lookup(const parse *p, const char *name, size_t len) {
  const json_t *v = lookup_in(p->scope ? p->scope->vars : NULL, name, len);
  return v ? v : lookup_in(p->scope ? p->scope->extra : NULL, name, len);
}

static int truthy(const json_t *v) {
  switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_TRUE: return 1;
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    default: return 0;
  }
}

static void put_text(sf_buf *out, const char *s, size_t n, int html) {
  if (!html) {
    sf_buf_append(out, s, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
      case '&': sf_buf_puts(out, "&amp;"); break;
      case '<': sf_buf_puts(out, "&lt;"); break;
      case '>': sf_buf_puts(out, "&gt;"); break;
      case '"': sf_buf_puts(out, "&quot;"); break;
      case '\'': sf_buf_puts(out, "&#39;"); break;
      default: sf_buf_append(out, &s[i], 1);
    }
  }
}

static void put_value(parse *p, const json_t *v) {
  char num[64];
  switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING: put_text(p->out, json_string_value(v), json_string_length(v), p->html); return;
    case JSON_INTEGER: snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(num, sizeof num, "%.15g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(num, sizeof num, "yes"); break;
    case JSON_FALSE: snprintf(num, sizeof num, "no"); break;
    default: return; /* null, missing, objects and arrays: nothing */
  }
  sf_buf_puts(p->out, num);
}

/* Renders (when emit) from s up to the end or to an {{else}} / {{/if}} of
 * this level: returns where that tag starts (or the end), its kind in *stop,
 * or NULL after a fault. */
static const char *render_seq(parse *p, const char *s, int emit, int depth, tag_kind *stop) {
  for (;;) {
    const char *open = strstr(s, "{{");
    if (!open) {
      if (emit && p->out) sf_buf_puts(p->out, s);
      *stop = TAG_EOF;
      return s + strlen(s);
    }
    if (emit && p->out) sf_buf_append(p->out, s, (size_t)(open - s));
    tag_kind kind;
    const char *name = NULL, *end;
    size_t len = 0;
    if (read_tag(p, open, &kind, &name, &len, &end)) return NULL;
    if (kind == TAG_ELSE || kind == TAG_END) {
      *stop = kind;
      return open;
    }
    if (kind == TAG_VAR) {
      if (emit && p->out) put_value(p, lookup(p, name, len));
      s = end;
      continue;
    }
    if (depth >= MAX_DEPTH) {
      fail(p, open, "{{#if}} nested too deep");
      return NULL;
    }
    int yes = truthy(lookup(p, name, len));
    tag_kind k;
    const char *q = render_seq(p, end, emit && yes, depth + 1, &k);
    if (q && k == TAG_ELSE) q = render_seq(p, strstr(q, "}}") + 2, emit && !yes, depth + 1, &k);
    if (!q) return NULL;
    if (k != TAG_END) {
      fail(p, open, k == TAG_ELSE ? "a second {{else}}" : "{{#if}} without {{/if}}");
      return NULL;
    }
    s = strstr(q, "}}") + 2;
  }
}

int mail_tpl_check(const char *tpl, char *why, size_t cap) {
  parse p = {.start = tpl, .why = why, .why_cap = cap};
  tag_kind stop;
  const char *end = render_seq(&p, tpl, 0, 0, &stop);
  if (end && stop != TAG_EOF)
    return fail(&p, end, stop == TAG_ELSE ? "{{else}} outside {{#if}}" : "{{/if}} without {{#if}}");
  return end ? 0 : -1;
}

void mail_tpl_render(const char *tpl, const mail_scope *scope, int html, sf_buf *out) {
  parse p = {.scope = scope, .html = html, .out = out, .start = tpl};
  tag_kind stop;
  render_seq(&p, tpl, 1, 0, &stop);
}

/* The longest prefix of s[0..n) that does not end inside a UTF-8 character. */
static size_t utf8_whole(const char *s, size_t n) {
  size_t i = n;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
  if (i == 0) return n;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return n - (i - 1) >= need ? n : i - 1;
}

void mail_render_subject(const char *tpl, const mail_scope *scope, char *out, size_t cap) {
  sf_buf b;
  sf_buf_init(&b);
  mail_tpl_render(tpl, scope, 0, &b);
  const char *s = b.data ? b.data : "";
  while (*s && isspace((unsigned char)*s)) s++;
  size_t n = 0;
  for (; *s && n + 1 < cap; s++) out[n++] = (*s == '\r' || *s == '\n' || *s == '\t') ? ' ' : *s;
  if (*s) n = utf8_whole(out, n);
  while (n > 0 && out[n - 1] == ' ') n--;
  out[n] = '\0';
  sf_buf_free(&b);
}
