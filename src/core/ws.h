/* WebSocket (RFC 6455) as pure functions: the handshake's accept key, an
 * incremental parser of client frames and the writer of server frames. No
 * I/O and no threads: the caller owns the socket (edge/stream.c does).
 *
 * The parser takes bytes as they arrive, in any split, and calls back once
 * per complete message (text or binary, reassembled from its fragments) and
 * once per control frame (ping, pong, close). It enforces what a server must
 * (section 5): every client frame masked, reserved bits and opcodes unused,
 * control frames unfragmented and at most 125 bytes, continuation only
 * inside a fragmented message, text valid UTF-8 (checked as it arrives, also
 * across fragments), messages at most max_message bytes. A violation ends
 * parsing with the close code the peer is to get (1002, 1007, 1009).
 *
 * Memory: the parser owns the buffer of the message being reassembled
 * (grown as needed, at most max_message + 1 bytes) and frees it in
 * sf_ws_parser_free. Data handed to the callback is borrowed for the call. */
#ifndef SF_CORE_WS_H
#define SF_CORE_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
  SF_WS_CONT = 0x0,
  SF_WS_TEXT = 0x1,
  SF_WS_BINARY = 0x2,
  SF_WS_CLOSE = 0x8,
  SF_WS_PING = 0x9,
  SF_WS_PONG = 0xA,
};

/* Close codes (section 7.4.1) and the application's own (4000-4999). */
enum {
  SF_WS_NORMAL = 1000,
  SF_WS_GOING_AWAY = 1001,
  SF_WS_PROTOCOL_ERROR = 1002,
  SF_WS_NO_STATUS = 1005, /* a close frame without a code (never sent) */
  SF_WS_INVALID_DATA = 1007,
  SF_WS_POLICY = 1008,
  SF_WS_TOO_BIG = 1009,
  SF_WS_INTERNAL = 1011,
};

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key: base64 of the
 * SHA-1 of key + the RFC's GUID. out gets 28 characters and a NUL. Returns
 * 0, or -1 when key is not the base64 of 16 bytes (the handshake is then a
 * 400). */
int sf_ws_accept_key(const char *key, char out[29]);

/* One complete message or control frame. For SF_WS_CLOSE, code is the
 * peer's status (SF_WS_NO_STATUS when it sent none) and data/len its reason. */
typedef struct sf_ws_msg {
  int opcode; /* SF_WS_TEXT, _BINARY, _PING, _PONG, _CLOSE */
  const uint8_t *data;
  size_t len;
  int code;
} sf_ws_msg;

/* Returns 0 to go on, non-zero to stop parsing (sf_ws_feed returns it). */
typedef int (*sf_ws_on_msg)(void *ud, const sf_ws_msg *m);

typedef struct sf_ws_parser {
  size_t max_message; /* bytes of one (reassembled) message */
  /* the frame being read */
  uint8_t head[14];
  int head_len, head_need;
  int opcode, fin;
  uint64_t len, got;
  uint8_t mask[4];
  /* the message being reassembled (opcode 0: none) */
  int msg_opcode;
  uint8_t *msg;
  size_t msg_len, msg_cap;
  uint8_t utf8_need, utf8_lo, utf8_hi; /* incremental UTF-8 check of a text message */
  /* the control frame being read (interleaved with fragments) */
  uint8_t ctl[125];
  int error; /* the close code once the stream is broken; later feeds return it */
} sf_ws_parser;

void sf_ws_parser_init(sf_ws_parser *p, size_t max_message);
void sf_ws_parser_free(sf_ws_parser *p);

/* Parses len bytes. Returns 0 when all were taken (a partial frame is kept
 * for the next call), the callback's non-zero value when it stopped, or a
 * close code >= 1000 for a protocol violation (then every later call
 * returns it too). */
int sf_ws_feed(sf_ws_parser *p, const uint8_t *buf, size_t len, sf_ws_on_msg fn, void *ud);

/* 1 when s (n bytes) is complete, valid UTF-8. */
int sf_ws_utf8_valid(const uint8_t *s, size_t n);

/* Server frames are unmasked and unfragmented (FIN set). Writes the header
 * of a frame carrying len bytes into out; returns its length (2, 4 or 10). */
size_t sf_ws_frame_head(uint8_t out[10], int opcode, size_t len);
/* A whole frame, malloc'd (the caller frees); *out_len its size. */
uint8_t *sf_ws_frame(int opcode, const void *payload, size_t len, size_t *out_len);
/* The payload of a close frame: the code and as much of reason as fits in
 * 125 bytes (cut on a character boundary). Returns its length. */
size_t sf_ws_close_payload(uint8_t out[125], int code, const char *reason);

#endif
