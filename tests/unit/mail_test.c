/* Mail: the template language (lookup, escaping, {{#if}}, checking), the
 * shipped defaults, the RFC 5322 message builder (headers, RFC 2047 words,
 * quoted-printable, the same bytes on every build), the backoff, and
 * sf_mail_queue in a real writer transaction (one row per id, kept in the
 * dev mailbox, a timer when SMTP is configured). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core/config.h"
#include "services/mail/internal.h"
#include "services/mail/mail.h"
#include "store/db.h"
#include "store/writer.h"

static char *render(const char *tpl, const char *vars_json, int html) {
  json_t *vars = vars_json ? json_loads(vars_json, 0, NULL) : NULL;
  json_t *extra = json_pack("{s:{s:s, s:s}}", "app", "name", "Shop", "url", "https://shop.example");
  mail_scope scope = {.vars = vars, .extra = extra};
  sf_buf b;
  sf_buf_init(&b);
  mail_tpl_render(tpl, &scope, html, &b);
  json_decref(vars);
  json_decref(extra);
  char *s = sf_buf_steal(&b);
  return s;
}

static void expect_render(const char *tpl, const char *vars, int html, const char *want) {
  char *got = render(tpl, vars, html);
  assert_string_equal(got, want);
  free(got);
}

static void test_render_values(void **state) {
  (void)state;
  expect_render("Hi {{name}}!", "{\"name\":\"Ann\"}", 0, "Hi Ann!");
  expect_render("{{ order.id }}/{{order.total}}", "{\"order\":{\"id\":\"o1\",\"total\":1250}}", 0, "o1/1250");
  expect_render("[{{missing}}][{{order.none}}][{{order.id.deeper}}]", "{\"order\":{\"id\":\"o1\"}}", 0, "[][][]");
  expect_render("{{a}} {{b}} {{c}} {{d}} {{e}}", "{\"a\":1.5,\"b\":true,\"c\":false,\"d\":null,\"e\":[1]}", 0,
                "1.5 yes no  ");
  expect_render("{{app.url}}/orders/{{order.id}}", "{\"order\":{\"id\":\"o9\"}}", 0, "https://shop.example/orders/o9");
  /* the caller's vars come first, then what the service adds */
  expect_render("{{app.name}}", "{\"app\":{\"name\":\"Mine\"}}", 0, "Mine");
  expect_render("no tags } { }}", NULL, 0, "no tags } { }}");
}

static void test_render_escapes_html_only(void **state) {
  (void)state;
  const char *vars = "{\"x\":\"<a href='y'>&\\\"</a>\"}";
  expect_render("<p>{{x}}</p>", vars, 1, "<p>&lt;a href=&#39;y&#39;&gt;&amp;&quot;&lt;/a&gt;</p>");
  expect_render("{{x}}", vars, 0, "<a href='y'>&\"</a>");
}

static void test_render_if(void **state) {
  (void)state;
  const char *tpl = "A{{#if r}} because {{r}}{{else}} no reason{{/if}}.";
  expect_render(tpl, "{\"r\":\"late\"}", 0, "A because late.");
  expect_render(tpl, "{\"r\":\"\"}", 0, "A no reason.");
  expect_render(tpl, "{}", 0, "A no reason.");
  expect_render("{{#if a}}1{{#if b}}2{{/if}}3{{/if}}", "{\"a\":1,\"b\":0}", 0, "13");
  expect_render("{{#if a}}1{{#if b}}2{{/if}}3{{/if}}", "{\"a\":{\"k\":1},\"b\":\"x\"}", 0, "123");
  expect_render("{{#if a}}{{missing}}{{/if}}", "{\"a\":false}", 0, "");
}

static void expect_bad(const char *tpl, const char *why_part) {
  char why[160] = "";
  assert_int_equal(mail_tpl_check(tpl, why, sizeof why), -1);
  if (!strstr(why, why_part)) fail_msg("'%s': '%s' lacks '%s'", tpl, why, why_part);
  free(render(tpl, "{}", 1)); /* renders up to the fault, no crash */
}

static void test_check(void **state) {
  (void)state;
  char why[160];
  assert_int_equal(mail_tpl_check("Hi {{name}} {{#if a.b}}x{{else}}y{{/if}}", why, sizeof why), 0);
  assert_int_equal(mail_tpl_check("", why, sizeof why), 0);
  expect_bad("Hi {{name", "unclosed {{");
  expect_bad("Hi {{}}", "needs a name");
  expect_bad("Hi {{na me}}", "a name may hold");
  expect_bad("{{#each x}}{{/each}}", "unknown block");
  expect_bad("{{#if x}}open", "without {{/if}}");
  expect_bad("{{/if}}", "{{/if}} without {{#if}}");
  expect_bad("{{else}}", "{{else}} outside");
  expect_bad("{{#if a}}1{{else}}2{{else}}3{{/if}}", "second {{else}}");
  expect_bad("{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}"
             "{{/if}}{{/if}}{{/if}}{{/if}}{{/if}}{{/if}}{{/if}}{{/if}}{{/if}}",
             "nested too deep");
}

static void test_subject(void **state) {
  (void)state;
  json_t *vars = json_pack("{s:s}", "t", "two\r\nlines\tand tab");
  mail_scope scope = {.vars = vars};
  char out[SF_MAIL_SUBJECT_MAX];
  mail_render_subject("  Re: {{t}}  ", &scope, out, sizeof out);
  assert_string_equal(out, "Re: two  lines and tab");
  json_decref(vars);
  /* cut at a character boundary: "é" is 2 bytes */
  vars = json_pack("{s:s}", "t", "ééééé");
  scope.vars = vars;
  char small[6];
  mail_render_subject("{{t}}", &scope, small, sizeof small);
  assert_string_equal(small, "éé");
  json_decref(vars);
}

static void test_defaults(void **state) {
  (void)state;
  int n = 0;
  for (; mail_kinds[n]; n++) {
    const char *subject, *text, *html;
    assert_int_equal(mail_tpl_default(mail_kinds[n], &subject, &text, &html), 0);
    char why[160];
    if (mail_tpl_check(subject, why, sizeof why) || mail_tpl_check(text, why, sizeof why) ||
        mail_tpl_check(html, why, sizeof why))
      fail_msg("default of %s: %s", mail_kinds[n], why);
    assert_int_equal(mail_kind_index(mail_kinds[n]), n);
    assert_non_null(strstr(html, "<html>"));
  }
  assert_int_equal(n, 17); /* the kinds mail.h lists */
  assert_true(mail_kind_index("order.unknown") < 0);
  assert_true(mail_kind_index(NULL) < 0);
}

static void test_render_text(void **state) {
  (void)state;
  json_t *vars = json_pack("{s:{s:s, s:s, s:s}}", "order", "id", "ord_7", "total", "12.50", "currency", "EUR");
  char subject[SF_MAIL_SUBJECT_MAX];
  char *text = NULL;
  sf_err err = {0};
  assert_int_equal(sf_mail_render_text("order.paid", vars, subject, &text, &err), 0);
  assert_non_null(strstr(subject, "ord_7"));
  assert_non_null(strstr(text, "12.50 EUR"));
  assert_non_null(strstr(text, "/orders/ord_7"));
  assert_null(strstr(text, "{{"));
  free(text);
  text = NULL;
  assert_true(sf_mail_render_text("nope", vars, subject, &text, &err) < 0);
  assert_int_equal(err.status, 422);
  assert_null(text);
  json_decref(vars);
  /* password reset shows the link */
  vars = json_pack("{s:s, s:s}", "link", "https://x/reset?t=abc", "expires_in", "1 hour");
  assert_int_equal(sf_mail_render_text("account.password_reset", vars, subject, &text, &err), 0);
  assert_non_null(strstr(text, "https://x/reset?t=abc"));
  assert_non_null(strstr(text, "1 hour"));
  free(text);
  json_decref(vars);
}

/* ---- the message builder ---- */

static const mail_msg k_msg = {.kind = "order.paid",
                               .from_addr = "shop@example.org",
                               .from_name = "Shop \"Best\"",
                               .to_addr = "ann@example.com",
                               .to_name = "Ann Öberg",
                               .subject =
                                   "Zahlung erhalten für Bestellung ord_1 — vielen Dank, wirklich sehr vielen Dank",
                               .text = "Hello Ann,\nline with = sign and trailing space \nend",
                               .html = "<p>Hi</p>",
                               .message_id = "<ntf_1@example.org>",
                               .date_ms = 1796000000000};

static void test_message_headers(void **state) {
  (void)state;
  size_t len, len2;
  char *m = mail_msg_build(&k_msg, &len);
  char *again = mail_msg_build(&k_msg, &len2);
  assert_int_equal(len, len2);
  assert_memory_equal(m, again, len); /* the same bytes on every attempt */
  free(again);
  assert_int_equal(strlen(m), len);
  assert_non_null(strstr(m, "Message-ID: <ntf_1@example.org>\r\n"));
  assert_non_null(strstr(m, "MIME-Version: 1.0\r\n"));
  assert_non_null(strstr(m, "X-ServiceFlow-Kind: order.paid\r\n"));
  assert_non_null(strstr(m, "Auto-Submitted: auto-generated\r\n"));
  assert_non_null(strstr(m, "From: \"Shop \\\"Best\\\"\" <shop@example.org>\r\n"));
  assert_non_null(strstr(m, "To: =?UTF-8?B?"));
  assert_non_null(strstr(m, " <ann@example.com>\r\n"));
  assert_non_null(strstr(m, "Subject: =?UTF-8?B?"));
  assert_non_null(strstr(m, "Date: Mon, 30 Nov 2026 00:53:20 +0000"));
  assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary=\"=_sf_"));
  assert_non_null(strstr(m, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"));
  assert_non_null(strstr(m, "Content-Type: text/html; charset=utf-8"));
  /* every line ends CRLF and is at most 78 characters; no encoded-word over 75 */
  int lines = 0;
  for (const char *p = m; *p; lines++) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    assert_true(nl > p && nl[-1] == '\r');
    assert_true(nl - p - 1 <= 78);
    p = nl + 1;
  }
  assert_true(lines > 15);
  for (const char *w = strstr(m, "=?UTF-8?B?"); w; w = strstr(w + 1, "=?UTF-8?B?"))
    assert_true(strstr(w, "?=") - w + 2 <= 75);
  /* the body: '=' and the space before a line end are encoded */
  assert_non_null(strstr(m, "line with =3D sign and trailing space=20\r\nend"));
  const char *close = strstr(m, "--=_sf_");
  assert_non_null(close);
  assert_non_null(strstr(m, "--\r\n")); /* the closing boundary */
  free(m);
}

static void test_quoted_printable(void **state) {
  (void)state;
  char line[300];
  memset(line, 'a', 200);
  line[200] = '\0';
  sf_buf b;
  sf_buf_init(&b);
  mail_qp_encode(line, strlen(line), &b);
  /* soft breaks keep lines at 76 */
  int count = 0;
  for (char *p = b.data; *p;) {
    char *nl = strstr(p, "\r\n");
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    assert_true(n <= 76);
    count += (int)n - (nl && nl[-1] == '=' ? 1 : 0);
    p = nl ? nl + 2 : p + n;
  }
  assert_int_equal(count, 200);
  sf_buf_free(&b);
  sf_buf_init(&b);
  mail_qp_encode("é\r\nx\t\n", 7, &b);
  assert_string_equal(b.data, "=C3=A9\r\nx=09\r\n");
  sf_buf_free(&b);
  sf_buf_init(&b);
  mail_header_encode("plain ascii", &b);
  assert_string_equal(b.data, "plain ascii");
  sf_buf_free(&b);
}

static void test_addresses(void **state) {
  (void)state;
  assert_true(mail_addr_valid("a@b.c"));
  assert_true(mail_addr_valid("first.last+tag@sub.example.com"));
  assert_false(mail_addr_valid("no-at"));
  assert_false(mail_addr_valid("@b.c"));
  assert_false(mail_addr_valid("a@"));
  assert_false(mail_addr_valid("a@@b.c"));
  assert_false(mail_addr_valid("a b@c.d"));
  assert_false(mail_addr_valid("a@b.c\r\nRCPT TO:<x@y>"));
  assert_false(mail_addr_valid("<a@b.c>"));
  assert_false(mail_addr_valid("a@b..c"));
  char addr[320], name[256];
  assert_int_equal(mail_from_parse("Shop Team <shop@example.org>", addr, sizeof addr, name, sizeof name), 0);
  assert_string_equal(addr, "shop@example.org");
  assert_string_equal(name, "Shop Team");
  assert_int_equal(mail_from_parse(" \"Q\" <q@x.y> ", addr, sizeof addr, name, sizeof name), 0);
  assert_string_equal(name, "Q");
  assert_int_equal(mail_from_parse("bare@x.y", addr, sizeof addr, name, sizeof name), 0);
  assert_string_equal(name, "");
  assert_int_equal(mail_from_parse("nobody", addr, sizeof addr, name, sizeof name), -1);
}

static void test_backoff(void **state) {
  (void)state;
  assert_int_equal(mail_backoff_ms(100, 1, 0), 0);
  assert_int_equal(mail_backoff_ms(100, 1, 100), 100);
  assert_int_equal(mail_backoff_ms(100, 1, 101), 0); /* rnd mod (cap + 1) */
  assert_int_equal(mail_backoff_ms(100, 3, 400), 400);
  assert_true(mail_backoff_ms(100, 3, 401) <= 400);
  assert_int_equal(mail_backoff_ms(1000, 40, 3600000), 3600000); /* capped at 1 h */
  assert_true(mail_backoff_ms(1000, 40, UINT32_MAX) <= 3600000);
}

/* ---- sf_mail_queue in a writer transaction ---- */

static char g_dir[64], g_path[128];

typedef struct queue_cmd {
  sf_cmd cmd;
  sf_mail m;
} queue_cmd;

static int queue_run(sf_cmd *c, sf_tx *tx, sf_err *err) { return sf_mail_queue(tx, &((queue_cmd *)c)->m, err); }
static void queue_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static int queue(const char *id, const char *kind, const char *to, json_t *vars, sf_err *err) {
  queue_cmd q = {.cmd = {.run = queue_run, .done = queue_done},
                 .m = {.id = id, .kind = kind, .to = to, .to_name = "Ann", .vars = vars}};
  int rc = sf_writer_exec(&q.cmd);
  *err = q.cmd.err;
  return rc;
}

static int64_t count_sql(const char *sql) {
  sf_err e = {0};
  sf_db *db = sf_db_open(g_path, SF_DB_READ, &e);
  assert_non_null(db);
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  int64_t n = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  sf_db_close(db);
  return n;
}

static void test_queue(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/sf-mail-XXXXXX");
  assert_non_null(mkdtemp(g_dir));
  snprintf(g_path, sizeof g_path, "%s/t.db", g_dir);
  sf_err e = {0};
  sf_db *db = sf_db_open(g_path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_app_migrate(db, &e), 0);
  sf_db_close(db);
  sf_db_set_path(g_path);
  assert_int_equal(sf_writer_start(g_path, 64, SF_WRITER_SYNC_FULL, &e), 0);

  sf_config cfg;
  sf_config_defaults(&cfg);
  snprintf(cfg.app_url, sizeof cfg.app_url, "https://shop.example/");
  mail_configure(&cfg); /* no smtp_url: the dev mailbox */
  json_t *vars = json_pack("{s:{s:s}}", "order", "id", "ord_1");
  assert_int_equal(queue("m1", "order.paid", "ann@example.com", vars, &e), 0);
  assert_int_equal(queue("m1", "order.shipped", "other@example.com", vars, &e), 0); /* the first one stands */
  assert_int_equal(count_sql("SELECT count(*) FROM mail_messages WHERE id = 'm1' AND status = 'kept'"
                             " AND kind = 'order.paid' AND message_id = '<m1@shop.example>'"
                             " AND body_text LIKE '%https://shop.example/orders/ord_1%'"),
                   1);
  assert_int_equal(count_sql("SELECT count(*) FROM timers WHERE kind = 'mail'"), 0);
  /* refusals change nothing */
  assert_true(queue("m2", "order.nope", "ann@example.com", vars, &e) < 0);
  assert_int_equal(e.status, 422);
  assert_true(queue("m2", "order.paid", "not an address", vars, &e) < 0);
  assert_true(queue("bad id!", "order.paid", "ann@example.com", vars, &e) < 0);
  assert_true(queue(".dot", "order.paid", "ann@example.com", vars, &e) < 0);
  assert_int_equal(count_sql("SELECT count(*) FROM mail_messages"), 1);

  /* with SMTP configured: pending, and its first attempt is a timer due now */
  snprintf(cfg.smtp_url, sizeof cfg.smtp_url, "smtp://127.0.0.1:1");
  snprintf(cfg.smtp_from, sizeof cfg.smtp_from, "Shop <noreply@mail.example>");
  mail_configure(&cfg);
  assert_int_equal(queue("m3", "order.paid", "ann@example.com", vars, &e), 0);
  assert_int_equal(queue("ntf_1:usr_2", "order.paid", "ann@example.com", vars, &e), 0);
  assert_int_equal(count_sql("SELECT count(*) FROM mail_messages WHERE id = 'ntf_1:usr_2'"
                             " AND message_id = '<ntf_1=usr_2@mail.example>'"),
                   1);
  assert_int_equal(count_sql("SELECT count(*) FROM mail_messages WHERE id = 'm3' AND status = 'pending'"
                             " AND message_id = '<m3@mail.example>'"),
                   1);
  assert_int_equal(count_sql("SELECT count(*) FROM timers WHERE kind = 'mail' AND ref = 'm3'"), 1);
  json_decref(vars);
  sf_writer_stop();
  mail_tpl_cache_clear();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_values),    cmocka_unit_test(test_render_escapes_html_only),
      cmocka_unit_test(test_render_if),        cmocka_unit_test(test_check),
      cmocka_unit_test(test_subject),          cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_render_text),      cmocka_unit_test(test_message_headers),
      cmocka_unit_test(test_quoted_printable), cmocka_unit_test(test_addresses),
      cmocka_unit_test(test_backoff),          cmocka_unit_test(test_queue),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
