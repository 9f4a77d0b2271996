#include "core/ws.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const char k_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- handshake ---- */

static int base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* The key is 16 random bytes in base64: 22 characters and "==". */
static int valid_key(const char *key) {
  if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=') return 0;
  for (int i = 0; i < 22; i++)
    if (!base64_char(key[i])) return 0;
  /* the last character carries 2 bits of the 16th byte and 4 zero bits */
  return strchr("AQgw", key[21]) != NULL;
}

int sf_ws_accept_key(const char *key, char out[29]) {
  out[0] = '\0';
  if (!valid_key(key)) return -1;
  char text[24 + sizeof k_guid];
  memcpy(text, key, 24);
  memcpy(text + 24, k_guid, sizeof k_guid);
  unsigned char sha[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text, 24 + sizeof k_guid - 1, sha, &n, EVP_sha1(), NULL) != 1 || n != 20) return -1;
  EVP_EncodeBlock((unsigned char *)out, sha, 20); /* 28 characters and a NUL */
  return 0;
}

/* ---- UTF-8, one byte at a time (RFC 3629's table of well-formed sequences) ---- */

/* Returns 0 when b may follow; the state says what the next bytes must be. */
static int utf8_step(sf_ws_parser *p, uint8_t b) {
  if (p->utf8_need) {
    if (b < p->utf8_lo || b > p->utf8_hi) return -1;
    p->utf8_need--;
    p->utf8_lo = 0x80, p->utf8_hi = 0xBF;
    return 0;
  }
  if (b < 0x80) return 0;
  p->utf8_lo = 0x80, p->utf8_hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF)
    p->utf8_need = 1;
  else if (b == 0xE0)
    p->utf8_need = 2, p->utf8_lo = 0xA0; /* no overlong forms */
  else if (b == 0xED)
    p->utf8_need = 2, p->utf8_hi = 0x9F; /* no surrogates */
  else if (b >= 0xE1 && b <= 0xEF)
    p->utf8_need = 2;
  else if (b == 0xF0)
    p->utf8_need = 3, p->utf8_lo = 0x90;
  else if (b >= 0xF1 && b <= 0xF3)
    p->utf8_need = 3;
  else if (b == 0xF4)
    p->utf8_need = 3, p->utf8_hi = 0x8F; /* nothing past U+10FFFF */
  else
    return -1;
  return 0;
}

static int utf8_run(sf_ws_parser *p, const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (utf8_step(p, s[i])) return -1;
  return 0;
}

int sf_ws_utf8_valid(const uint8_t *s, size_t n) {
  sf_ws_parser p = {0};
  return utf8_run(&p, s, n) == 0 && p.utf8_need == 0;
}

/* ---- the parser ---- */

void sf_ws_parser_init(sf_ws_parser *p, size_t max_message) {
  memset(p, 0, sizeof *p);
  p->max_message = max_message;
  p->head_need = 2;
}

void sf_ws_parser_free(sf_ws_parser *p) {
  free(p->msg);
  p->msg = NULL;
  p->msg_len = p->msg_cap = 0;
}

static int fail(sf_ws_parser *p, int code) { return p->error = code; }

static int is_control(int op) { return op & 0x8; }

/* The first two bytes are in: how long the rest of the header is. */
static int head_start(sf_ws_parser *p) {
  uint8_t b0 = p->head[0], b1 = p->head[1];
  p->fin = (b0 & 0x80) != 0;
  p->opcode = b0 & 0x0F;
  if (b0 & 0x70) return fail(p, SF_WS_PROTOCOL_ERROR);    /* no extension was negotiated */
  if (!(b1 & 0x80)) return fail(p, SF_WS_PROTOCOL_ERROR); /* client frames are masked (5.1) */
  int op = p->opcode;
  if (op != SF_WS_CONT && op != SF_WS_TEXT && op != SF_WS_BINARY && op != SF_WS_CLOSE && op != SF_WS_PING &&
      op != SF_WS_PONG)
    return fail(p, SF_WS_PROTOCOL_ERROR);
  int len7 = b1 & 0x7F;
  if (is_control(op) && (!p->fin || len7 > 125)) return fail(p, SF_WS_PROTOCOL_ERROR);
  p->head_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
  p->len = (uint64_t)len7;
  return 0;
}

/* The whole header is in: checks the frame against the message in progress. */
static int head_done(sf_ws_parser *p) {
  const uint8_t *h = p->head + 2;
  int ext = p->head_need - 6;
  if (ext == 2) p->len = (uint64_t)h[0] << 8 | h[1];
  if (ext == 8) {
    p->len = 0;
    for (int i = 0; i < 8; i++) p->len = p->len << 8 | h[i];
    if (p->len >> 63) return fail(p, SF_WS_PROTOCOL_ERROR);
  }
  memcpy(p->mask, p->head + 2 + ext, 4);
  p->got = 0;
  if (is_control(p->opcode)) return 0;
  if (p->opcode == SF_WS_CONT && !p->msg_opcode) return fail(p, SF_WS_PROTOCOL_ERROR);
  if (p->opcode != SF_WS_CONT && p->msg_opcode) return fail(p, SF_WS_PROTOCOL_ERROR);
  if (p->opcode != SF_WS_CONT) {
    p->msg_opcode = p->opcode;
    p->msg_len = 0;
    p->utf8_need = 0;
  }
  if (p->len > p->max_message || p->msg_len + p->len > p->max_message) return fail(p, SF_WS_TOO_BIG);
  if (p->msg_len + p->len + 1 > p->msg_cap) {
    size_t cap = p->msg_cap ? p->msg_cap : 256;
    while (cap < p->msg_len + p->len + 1) cap *= 2;
    if (cap > p->max_message + 1) cap = p->max_message + 1;
    p->msg = sf_realloc(p->msg, cap);
    p->msg_cap = cap;
  }
  return 0;
}

static int close_code_valid(int c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static int deliver_control(sf_ws_parser *p, sf_ws_on_msg fn, void *ud) {
  sf_ws_msg m = {.opcode = p->opcode, .data = p->ctl, .len = (size_t)p->len, .code = 0};
  if (p->opcode == SF_WS_CLOSE) {
    if (p->len == 1) return fail(p, SF_WS_PROTOCOL_ERROR);
    m.code = SF_WS_NO_STATUS;
    if (p->len >= 2) {
      m.code = p->ctl[0] << 8 | p->ctl[1];
      if (!close_code_valid(m.code)) return fail(p, SF_WS_PROTOCOL_ERROR);
      m.data = p->ctl + 2;
      m.len = (size_t)p->len - 2;
      if (!sf_ws_utf8_valid(m.data, m.len)) return fail(p, SF_WS_INVALID_DATA);
    }
  }
  return fn(ud, &m);
}

static int deliver_message(sf_ws_parser *p, sf_ws_on_msg fn, void *ud) {
  if (p->msg_opcode == SF_WS_TEXT && p->utf8_need) return fail(p, SF_WS_INVALID_DATA);
  p->msg[p->msg_len] = '\0'; /* text can be read as a C string */
  sf_ws_msg m = {.opcode = p->msg_opcode, .data = p->msg, .len = p->msg_len};
  p->msg_opcode = 0;
  int rc = fn(ud, &m);
  p->msg_len = 0;
  return rc;
}

/* Unmasks up to n payload bytes of the current frame into place. */
static size_t take_payload(sf_ws_parser *p, const uint8_t *buf, size_t n) {
  uint64_t left = p->len - p->got;
  if (n > left) n = (size_t)left;
  uint8_t *dst = is_control(p->opcode) ? p->ctl + p->got : p->msg + p->msg_len;
  for (size_t i = 0; i < n; i++) dst[i] = buf[i] ^ p->mask[(p->got + i) & 3];
  if (!is_control(p->opcode)) p->msg_len += n;
  p->got += n;
  return n;
}

/* The current frame's payload is complete. */
static int frame_done(sf_ws_parser *p, sf_ws_on_msg fn, void *ud) {
  p->head_len = 0;
  p->head_need = 2;
  if (is_control(p->opcode)) return deliver_control(p, fn, ud);
  return p->fin ? deliver_message(p, fn, ud) : 0;
}

int sf_ws_feed(sf_ws_parser *p, const uint8_t *buf, size_t len, sf_ws_on_msg fn, void *ud) {
  size_t i = 0;
  while (!p->error) {
    if (p->head_len < p->head_need) {
      if (i == len) return 0;
      p->head[p->head_len++] = buf[i++];
      if (p->head_len == 2 && head_start(p)) break;
      if (p->head_len == p->head_need && head_done(p)) break;
      if (p->head_len < p->head_need || p->len > 0) continue;
    } else {
      if (i == len) return 0;
      size_t before = p->msg_len;
      size_t n = take_payload(p, buf + i, len - i);
      if (p->msg_opcode == SF_WS_TEXT && !is_control(p->opcode) && utf8_run(p, p->msg + before, n)) {
        fail(p, SF_WS_INVALID_DATA);
        break;
      }
      i += n;
      if (p->got < p->len) return 0;
    }
    int rc = frame_done(p, fn, ud);
    if (rc) return rc;
  }
  return p->error;
}

/* ---- the writer ---- */

size_t sf_ws_frame_head(uint8_t out[10], int opcode, size_t len) {
  out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
  if (len <= 125) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  return 10;
}

uint8_t *sf_ws_frame(int opcode, const void *payload, size_t len, size_t *out_len) {
  uint8_t head[10];
  size_t h = sf_ws_frame_head(head, opcode, len);
  uint8_t *f = sf_malloc(h + len);
  memcpy(f, head, h);
  if (len) memcpy(f + h, payload, len);
  *out_len = h + len;
  return f;
}

size_t sf_ws_close_payload(uint8_t out[125], int code, const char *reason) {
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  size_t n = reason ? strlen(reason) : 0;
  if (n > 123) {
    n = 123;
    while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--; /* not inside a character */
  }
  if (n) memcpy(out + 2, reason, n);
  return 2 + n;
}
