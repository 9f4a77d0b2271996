/* Unit tests for the WebSocket codec (src/core/ws.c): the handshake key,
 * the client-frame parser (masking, fragmentation, control frames, UTF-8,
 * sizes, close codes) and the server-frame writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/ws.h"

/* What the callback saw. */
typedef struct {
  int n;
  int opcode[8];
  char data[8][300];
  size_t len[8];
  int code[8];
} seen;

static int record(void *ud, const sf_ws_msg *m) {
  seen *s = ud;
  if (s->n == 8) return -1;
  s->opcode[s->n] = m->opcode;
  s->len[s->n] = m->len;
  s->code[s->n] = m->code;
  memcpy(s->data[s->n], m->data, m->len < 299 ? m->len : 299);
  s->data[s->n][m->len < 299 ? m->len : 299] = '\0';
  s->n++;
  return 0;
}

/* A masked client frame into out; returns its length. */
static size_t client_frame(uint8_t *out, int fin, int opcode, const void *payload, size_t len) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t h = 0;
  out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
  if (len <= 125) {
    out[h++] = (uint8_t)(0x80 | len);
  } else if (len <= 0xFFFF) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(len >> 8);
    out[h++] = (uint8_t)len;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 0; i < 8; i++) out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + h, mask, 4);
  h += 4;
  for (size_t i = 0; i < len; i++) out[h + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
  return h + len;
}

static void accept_key_of_the_rfc(void **state) {
  (void)state;
  char out[29];
  assert_int_equal(sf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0); /* RFC 6455 section 1.3 */
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_int_equal(sf_ws_accept_key("short", out), -1);
  assert_int_equal(sf_ws_accept_key(NULL, out), -1);
  assert_int_equal(sf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=!", out), -1);
}

static void masked_text_in_any_split(void **state) {
  (void)state;
  uint8_t f[64];
  size_t n = client_frame(f, 1, SF_WS_TEXT, "Hello", 5);
  for (size_t split = 0; split <= n; split++) {
    sf_ws_parser p;
    sf_ws_parser_init(&p, 1024);
    seen s = {0};
    assert_int_equal(sf_ws_feed(&p, f, split, record, &s), 0);
    assert_int_equal(sf_ws_feed(&p, f + split, n - split, record, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.opcode[0], SF_WS_TEXT);
    assert_string_equal(s.data[0], "Hello");
    sf_ws_parser_free(&p);
  }
}

static void unmasked_frame_is_a_protocol_error(void **state) {
  (void)state;
  uint8_t f[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  sf_ws_parser p;
  sf_ws_parser_init(&p, 1024);
  seen s = {0};
  assert_int_equal(sf_ws_feed(&p, f, sizeof f, record, &s), SF_WS_PROTOCOL_ERROR);
  assert_int_equal(s.n, 0);
  assert_int_equal(sf_ws_feed(&p, f, 1, record, &s), SF_WS_PROTOCOL_ERROR); /* stays broken */
  sf_ws_parser_free(&p);
}

static void fragments_with_a_ping_between(void **state) {
  (void)state;
  uint8_t buf[256];
  size_t n = client_frame(buf, 0, SF_WS_TEXT, "Hel", 3);
  n += client_frame(buf + n, 1, SF_WS_PING, "p", 1);
  n += client_frame(buf + n, 0, SF_WS_CONT, "lo ", 3);
  n += client_frame(buf + n, 1, SF_WS_CONT, "there", 5);
  sf_ws_parser p;
  sf_ws_parser_init(&p, 1024);
  seen s = {0};
  for (size_t i = 0; i < n; i++) assert_int_equal(sf_ws_feed(&p, buf + i, 1, record, &s), 0); /* byte by byte */
  assert_int_equal(s.n, 2);
  assert_int_equal(s.opcode[0], SF_WS_PING);
  assert_string_equal(s.data[0], "p");
  assert_int_equal(s.opcode[1], SF_WS_TEXT);
  assert_string_equal(s.data[1], "Hello there");
  sf_ws_parser_free(&p);
}

static int feed_one(const uint8_t *f, size_t n, size_t max, seen *s) {
  sf_ws_parser p;
  sf_ws_parser_init(&p, max);
  int rc = sf_ws_feed(&p, f, n, record, s);
  sf_ws_parser_free(&p);
  return rc;
}

static void bad_sequences_and_bits(void **state) {
  (void)state;
  uint8_t f[300];
  seen s = {0};
  size_t n = client_frame(f, 1, SF_WS_CONT, "x", 1); /* continuation of nothing */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  n = client_frame(f, 0, SF_WS_TEXT, "a", 1);
  n += client_frame(f + n, 1, SF_WS_TEXT, "b", 1); /* a new message inside a fragmented one */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  n = client_frame(f, 1, SF_WS_TEXT, "a", 1);
  f[0] |= 0x40; /* RSV1 without an extension */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  n = client_frame(f, 1, 0x3, "a", 1); /* reserved opcode */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  n = client_frame(f, 0, SF_WS_PING, "a", 1); /* fragmented control frame */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  char big[200];
  memset(big, 'a', sizeof big);
  n = client_frame(f, 1, SF_WS_PING, big, 126); /* control frame over 125 bytes */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  assert_int_equal(s.n, 0);
}

static void utf8_checked_across_fragments(void **state) {
  (void)state;
  uint8_t f[64];
  seen s = {0};
  /* "é" = C3 A9 split over two fragments: valid */
  size_t n = client_frame(f, 0, SF_WS_TEXT, "\xC3", 1);
  n += client_frame(f + n, 1, SF_WS_CONT, "\xA9", 1);
  assert_int_equal(feed_one(f, n, 1024, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.data[0], "\xC3\xA9");
  /* a message that ends inside a character */
  n = client_frame(f, 1, SF_WS_TEXT, "\xC3", 1);
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_INVALID_DATA);
  /* invalid at once, before the message ends: a surrogate, an overlong form, 0xFF */
  n = client_frame(f, 0, SF_WS_TEXT, "\xED\xA0\x80", 3);
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_INVALID_DATA);
  n = client_frame(f, 0, SF_WS_TEXT, "\xC0\xAF", 2);
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_INVALID_DATA);
  n = client_frame(f, 0, SF_WS_TEXT, "\xFF", 1);
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_INVALID_DATA);
  /* binary is not checked */
  n = client_frame(f, 1, SF_WS_BINARY, "\xFF", 1);
  assert_int_equal(feed_one(f, n, 1024, &s), 0);
  assert_true(sf_ws_utf8_valid((const uint8_t *)"\xF0\x9F\x98\x80", 4));
  assert_false(sf_ws_utf8_valid((const uint8_t *)"\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
}

static void message_size_limit(void **state) {
  (void)state;
  static uint8_t f[70000];
  static char big[66000];
  memset(big, 'a', sizeof big);
  seen s = {0};
  size_t n = client_frame(f, 1, SF_WS_TEXT, big, 100);
  assert_int_equal(feed_one(f, n, 100, &s), 0);
  n = client_frame(f, 1, SF_WS_TEXT, big, 101);
  assert_int_equal(feed_one(f, n, 100, &s), SF_WS_TOO_BIG);
  /* in fragments: the sum counts */
  n = client_frame(f, 0, SF_WS_TEXT, big, 60);
  n += client_frame(f + n, 1, SF_WS_CONT, big, 60);
  assert_int_equal(feed_one(f, n, 100, &s), SF_WS_TOO_BIG);
  /* 16- and 64-bit lengths */
  n = client_frame(f, 1, SF_WS_BINARY, big, 300);
  assert_int_equal(feed_one(f, n, 1 << 20, &s), 0);
  n = client_frame(f, 1, SF_WS_BINARY, big, sizeof big);
  s.n = 0;
  assert_int_equal(feed_one(f, n, 1 << 20, &s), 0);
  assert_int_equal(s.len[0], sizeof big);
}

static void close_frames(void **state) {
  (void)state;
  uint8_t f[64], pl[125];
  seen s = {0};
  size_t pn = sf_ws_close_payload(pl, 1000, "bye");
  size_t n = client_frame(f, 1, SF_WS_CLOSE, pl, pn);
  assert_int_equal(feed_one(f, n, 1024, &s), 0);
  assert_int_equal(s.opcode[0], SF_WS_CLOSE);
  assert_int_equal(s.code[0], 1000);
  assert_string_equal(s.data[0], "bye");
  n = client_frame(f, 1, SF_WS_CLOSE, "", 0); /* no code */
  assert_int_equal(feed_one(f, n, 1024, &s), 0);
  assert_int_equal(s.code[1], SF_WS_NO_STATUS);
  n = client_frame(f, 1, SF_WS_CLOSE, "\x03", 1); /* one byte */
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  pn = sf_ws_close_payload(pl, 1005, NULL); /* may not be sent */
  n = client_frame(f, 1, SF_WS_CLOSE, pl, pn);
  assert_int_equal(feed_one(f, n, 1024, &s), SF_WS_PROTOCOL_ERROR);
  pn = sf_ws_close_payload(pl, 4008, NULL);
  n = client_frame(f, 1, SF_WS_CLOSE, pl, pn);
  assert_int_equal(feed_one(f, n, 1024, &s), 0);
}

static void server_frames(void **state) {
  (void)state;
  uint8_t h[10];
  assert_int_equal(sf_ws_frame_head(h, SF_WS_TEXT, 5), 2);
  assert_int_equal(h[0], 0x81);
  assert_int_equal(h[1], 5);
  assert_int_equal(sf_ws_frame_head(h, SF_WS_TEXT, 126), 4);
  assert_int_equal(h[1], 126);
  assert_int_equal(h[2] << 8 | h[3], 126);
  assert_int_equal(sf_ws_frame_head(h, SF_WS_BINARY, 70000), 10);
  assert_int_equal(h[1], 127);
  assert_int_equal(h[7] << 16 | h[8] << 8 | h[9], 70000);
  size_t n;
  uint8_t *f = sf_ws_frame(SF_WS_PING, "ab", 2, &n);
  assert_int_equal(n, 4);
  assert_int_equal(f[0], 0x89);
  assert_memory_equal(f + 2, "ab", 2);
  free(f);
  uint8_t pl[125];
  char reason[200];
  memset(reason, 'r', sizeof reason - 1);
  reason[sizeof reason - 1] = '\0';
  assert_int_equal(sf_ws_close_payload(pl, 4008, reason), 125);
  assert_int_equal(pl[0] << 8 | pl[1], 4008);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accept_key_of_the_rfc),
      cmocka_unit_test(masked_text_in_any_split),
      cmocka_unit_test(unmasked_frame_is_a_protocol_error),
      cmocka_unit_test(fragments_with_a_ping_between),
      cmocka_unit_test(bad_sequences_and_bits),
      cmocka_unit_test(utf8_checked_across_fragments),
      cmocka_unit_test(message_size_limit),
      cmocka_unit_test(close_frames),
      cmocka_unit_test(server_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
