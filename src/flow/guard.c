/* The guard sandbox (see guard.h). */
#include "flow/guard.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_INSTRUCTIONS 1000000L
#define DEFAULT_MEMORY ((size_t)8 << 20)
#define MAX_CACHED 512
#define MAX_DEPTH 32

struct sf_guard_vm {
  lua_State *L;
  size_t used, limit;
  long budget;
  int cached;
};

/* Registry keys (their addresses are unique). */
static const char k_cache = 0, k_env_mt = 0, k_safe = 0;

/* Every allocation is counted; past the limit Lua gets NULL and raises a
 * memory error, which the evaluation reports. */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sf_guard_vm *vm = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    vm->used -= old;
    return NULL;
  }
  if (nsize > old && vm->used + (nsize - old) > vm->limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (!p) return NULL;
  vm->used = vm->used - old + nsize;
  return p;
}

static void l_budget(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "instruction budget exceeded");
}

static int l_read_only(lua_State *L) { return luaL_error(L, "the standard libraries are read-only"); }

/* A read-only view of the table at the top of the stack (replaced by it). */
static void read_only_proxy(lua_State *L) {
  lua_newtable(L); /* proxy */
  lua_newtable(L); /* its metatable */
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_read_only);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_remove(L, -2);
}

/* Builds the table every guard's globals read through. */
static void build_safe_globals(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math}, {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  /* string.dump makes binary chunks; strings' methods reach the real table */
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);

  lua_newtable(L); /* safe */
  static const char *const base_ok[] = {"assert", "error",    "ipairs",   "next", "pairs",    "rawequal", "rawlen",
                                        "select", "tonumber", "tostring", "type", "_VERSION", NULL};
  for (int i = 0; base_ok[i]; i++) {
    lua_getglobal(L, base_ok[i]);
    lua_setfield(L, -2, base_ok[i]);
  }
  static const char *const libs_ok[] = {LUA_STRLIBNAME, LUA_MATHLIBNAME, LUA_TABLIBNAME, LUA_UTF8LIBNAME, NULL};
  for (int i = 0; libs_ok[i]; i++) {
    lua_getglobal(L, libs_ok[i]);
    read_only_proxy(L);
    lua_setfield(L, -2, libs_ok[i]);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &k_safe);

  /* each evaluation's globals: a fresh table reading through `safe` */
  lua_newtable(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &k_safe);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &k_env_mt);

  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &k_cache);
}

sf_guard_vm *sf_guard_vm_new(const sf_guard_limits *limits) {
  sf_guard_vm *vm = calloc(1, sizeof *vm);
  if (!vm) return NULL;
  vm->limit = limits && limits->memory ? limits->memory : DEFAULT_MEMORY;
  vm->budget = limits && limits->instructions > 0 ? limits->instructions : DEFAULT_INSTRUCTIONS;
  vm->L = lua_newstate(l_alloc, vm);
  if (!vm->L) {
    free(vm);
    return NULL;
  }
  lua_gc(vm->L, LUA_GCGEN, 0, 0);
  build_safe_globals(vm->L);
  return vm;
}

void sf_guard_vm_free(sf_guard_vm *vm) {
  if (!vm) return;
  lua_close(vm->L);
  free(vm);
}

static int fail(sf_err *err, const char *what, const char *msg) {
  return sf_err_set(err, 422, "guard", "Guard failed", "guard %s: %s", what, msg ? msg : "unknown error");
}

/* Pushes the compiled guard (cached by its source). An expression becomes
 * `return <expression>`; a chunk that says `return` itself is taken as is. */
static int compiled(sf_guard_vm *vm, const char *src, sf_err *err) {
  lua_State *L = vm->L;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &k_cache);
  if (lua_getfield(L, -1, src) == LUA_TFUNCTION) {
    lua_remove(L, -2);
    return 0;
  }
  lua_pop(L, 1);
  size_t n = strlen(src);
  int as_is = strstr(src, "return") != NULL;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (!as_is) luaL_addstring(&b, "return ");
  luaL_addlstring(&b, src, n);
  luaL_pushresult(&b);
  size_t len;
  const char *code = lua_tolstring(L, -1, &len);
  int rc = luaL_loadbufferx(L, code, len, "=guard", "t");
  lua_remove(L, -2); /* the code string */
  if (rc != LUA_OK) {
    fail(err, rc == LUA_ERRMEM ? "too large" : "does not compile", lua_tostring(L, -1));
    lua_pop(L, 2);
    return -1;
  }
  if (++vm->cached > MAX_CACHED) { /* many distinct guards: start over */
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &k_cache);
    lua_replace(L, -3); /* [cache, fn] */
    vm->cached = 1;
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, src);
  lua_remove(L, -2);
  return 0;
}

int sf_guard_check(sf_guard_vm *vm, const char *src, sf_err *err) {
  if (!src || !*src) return fail(err, "is empty", "give an expression");
  lua_settop(vm->L, 0);
  int rc = compiled(vm, src, err);
  lua_settop(vm->L, 0);
  return rc;
}

/* Pushes a Lua view of a JSON value (null: nil). */
static int push_json(lua_State *L, const json_t *v, int depth) {
  if (depth > MAX_DEPTH || !lua_checkstack(L, 4)) return -1;
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      lua_createtable(L, 0, (int)json_object_size(v));
      const char *k;
      const json_t *x;
      json_object_foreach((json_t *)v, k, x) {
        if (push_json(L, x, depth + 1)) return -1;
        lua_setfield(L, -2, k);
      }
      break;
    }
    case JSON_ARRAY: {
      lua_createtable(L, (int)json_array_size(v), 0);
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (push_json(L, json_array_get(v, i), depth + 1)) return -1;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushnil(L); break;
  }
  return 0;
}

static int build_data(lua_State *L) {
  const json_t *data = lua_touserdata(L, 1);
  if (!data)
    lua_newtable(L);
  else if (push_json(L, data, 0))
    return luaL_error(L, "data nested too deeply");
  return 1;
}

int sf_guard_eval(sf_guard_vm *vm, const char *src, const json_t *data, int *result, sf_err *err) {
  lua_State *L = vm->L;
  *result = 0;
  if (!src || !*src) return fail(err, "is empty", "give an expression");
  lua_settop(L, 0);
  if (compiled(vm, src, err)) return -1;
  /* fresh globals for this run, with `data` (built protected: a huge
   * document meets the memory cap as an error, not an abort) */
  lua_newtable(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &k_env_mt);
  lua_setmetatable(L, -2);
  lua_pushcfunction(L, build_data);
  lua_pushlightuserdata(L, (void *)data);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fail(err, "cannot see its data", lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return -1;
  }
  lua_setfield(L, -2, "data");
  lua_setupvalue(L, 1, 1); /* the chunk's _ENV */
  lua_sethook(L, l_budget, LUA_MASKCOUNT, (int)(vm->budget > 0x7fffffff ? 0x7fffffff : vm->budget));
  int rc = lua_pcall(L, 0, 1, 0);
  lua_sethook(L, NULL, 0, 0);
  if (rc != LUA_OK) {
    fail(err, "failed", rc == LUA_ERRMEM ? "memory limit exceeded" : lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0); /* whatever it built goes now */
    return -1;
  }
  *result = lua_toboolean(L, -1);
  lua_settop(L, 0);
  return 0;
}
