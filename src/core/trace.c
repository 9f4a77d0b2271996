#include "core/trace.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static int lower_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static int all_zero(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != '0') return 0;
  return 1;
}

int sf_trace_valid(const char *s) {
  size_t n = s ? strnlen(s, 512) : 0;
  if (n < SF_TRACEPARENT_LEN || !lower_hex(s, 2) || memcmp(s, "ff", 2) == 0) return 0;
  /* version 00 is exactly this long; a later one may append fields after a dash */
  if (memcmp(s, "00", 2) == 0 ? n != SF_TRACEPARENT_LEN : n > SF_TRACEPARENT_LEN && s[SF_TRACEPARENT_LEN] != '-')
    return 0;
  return s[2] == '-' && s[35] == '-' && s[52] == '-' && lower_hex(s + 3, 32) && !all_zero(s + 3, 32) &&
         lower_hex(s + 36, 16) && !all_zero(s + 36, 16) && lower_hex(s + 53, 2);
}

void sf_trace_child(const char *parent, char *out) {
  char trace[33], span[17];
  uint8_t rnd[16];
  int sampled = 1;
  if (sf_trace_valid(parent)) {
    memcpy(trace, parent + 3, 32);
    trace[32] = '\0';
    /* only the flag we know (sampled) is carried on; the others must be 0 */
    char lo = parent[54];
    sampled = (lo >= '0' && lo <= '9' ? lo - '0' : lo - 'a' + 10) & 1;
  } else {
    do {
      sf_random_bytes(rnd, 16);
      sf_hex_encode(rnd, 16, trace);
    } while (all_zero(trace, 32));
  }
  do {
    sf_random_bytes(rnd, 8);
    sf_hex_encode(rnd, 8, span);
  } while (all_zero(span, 16));
  snprintf(out, SF_TRACEPARENT_LEN + 1, "00-%s-%s-%s", trace, span, sampled ? "01" : "00");
}

void sf_trace_id(const char *traceparent, char out[33]) {
  out[0] = '\0';
  if (!sf_trace_valid(traceparent)) return;
  memcpy(out, traceparent + 3, 32);
  out[32] = '\0';
}
