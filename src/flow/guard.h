/* Workflow guards: small Lua 5.4 expressions over a request's data, run in a
 * sandbox.
 *
 * A guard is an expression (`data.amount > 1000`) or a chunk that returns a
 * value (`if data.vip then return true end return data.amount < 50`); the
 * result's truth (anything but nil and false) decides. The sandbox has only
 * the base functions that cannot reach outside (no load, dofile, loadfile,
 * require, print, collectgarbage, getmetatable/setmetatable, raw access) and
 * the string (without dump), math, table and utf8 libraries, read-only.
 * Chunks are text only. Each evaluation gets a fresh global table, so one
 * guard cannot leave anything behind for the next, runs under an
 * instruction budget, and the whole VM under a memory cap: a guard that
 * loops or allocates without bound fails with a clear error and the VM goes
 * on serving other guards.
 *
 * A VM belongs to one thread at a time; compiled guards are cached in it. */
#ifndef SF_FLOW_GUARD_H
#define SF_FLOW_GUARD_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

typedef struct sf_guard_limits {
  long instructions; /* per evaluation; 0 = 1,000,000 */
  size_t memory;     /* bytes for the whole VM; 0 = 8 MiB */
} sf_guard_limits;

typedef struct sf_guard_vm sf_guard_vm;

sf_guard_vm *sf_guard_vm_new(const sf_guard_limits *limits);
void sf_guard_vm_free(sf_guard_vm *vm);

/* Compiles src (no run): 0, or 422 naming the problem ("guard: [string
 * \"guard\"]:1: unexpected symbol near ...") in err. */
int sf_guard_check(sf_guard_vm *vm, const char *src, sf_err *err);

/* Runs src with `data` bound to a Lua view of the JSON object (NULL: an
 * empty table). *result: 1 or 0. Errors (syntax, runtime, budget, memory)
 * return 422 with the reason in err. */
int sf_guard_eval(sf_guard_vm *vm, const char *src, const json_t *data, int *result, sf_err *err);

#endif
