/* Guard evaluation time: the median and p99 of single evaluations of a
 * typical approval guard over a small request document, each timed alone
 * (clock_gettime around one sf_guard_eval), after a warm-up. Prints one
 * line for bench/run.sh:
 *   GUARD_RESULT median_ns=<n> p99_ns=<n> evals=<n> */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flow/guard.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  if (n < 1000) n = 1000;
  sf_guard_vm *vm = sf_guard_vm_new(NULL);
  json_t *data = json_pack("{s:i, s:s, s:s, s:{s:s, s:i}}", "amount", 1500, "currency", "EUR", "cost_center", "IT-42",
                           "requester", "department", "engineering", "level", 3);
  const char *guard = "data.amount > 1000 and data.currency == 'EUR' and data.requester.level >= 2";
  uint64_t *t = malloc((size_t)n * sizeof *t);
  int result = 0, trues = 0;
  sf_err err = {0};
  for (int i = 0; i < 10000; i++) sf_guard_eval(vm, guard, data, &result, &err);
  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    if (sf_guard_eval(vm, guard, data, &result, &err)) {
      fprintf(stderr, "guard_bench: %s\n", err.detail);
      return 1;
    }
    t[i] = now_ns() - t0;
    trues += result;
  }
  if (trues != n) {
    fprintf(stderr, "guard_bench: the guard should hold every time (%d of %d)\n", trues, n);
    return 1;
  }
  qsort(t, (size_t)n, sizeof *t, cmp);
  printf("GUARD_RESULT median_ns=%llu p99_ns=%llu evals=%d\n", (unsigned long long)t[n / 2],
         (unsigned long long)t[(size_t)n * 99 / 100], n);
  free(t);
  json_decref(data);
  sf_guard_vm_free(vm);
  return 0;
}
