// palloc_module.cpp — the `palloc` Lua module: commit and inspect the persistent state.
//
//   local palloc = require "palloc"
//   palloc.commit()        --> epoch: the state as of now survives a crash or restart
//   palloc.epoch()         --> the last committed epoch
//   palloc.resumed()       --> true if this run resumed a committed state
//   palloc.stats()         --> table of counters (see docs)
//   palloc.on_resume(fn)   -- fn() runs once after each resume, before the program starts
//                             again: the place to reopen files and sockets. Registering a
//                             function defined at the same place again replaces it.
#include <cstdio>

#include "image.h"
#include "lua_persist.h"

extern "C" {
#include <lauxlib.h>
}

namespace lp {
namespace {

palloc_arena *arena_or_error(lua_State *L) {
  palloc_arena *a = palloc_heap_arena();
  if (!a || !image()) luaL_error(L, "palloc: this Lua state is not persistent (run it with lua-persist or palloc run)");
  return a;
}

int l_commit(lua_State *L) {
  arena_or_error(L);
  const int64_t epoch = lp_commit(L);
  if (epoch < 0) return luaL_error(L, "palloc.commit: %s", palloc_last_error());
  lua_pushinteger(L, epoch);
  return 1;
}

int l_epoch(lua_State *L) {
  lua_pushinteger(L, static_cast<lua_Integer>(palloc_epoch(arena_or_error(L))));
  return 1;
}

int l_resumed(lua_State *L) {
  lua_pushboolean(L, lp_resumed());
  return 1;
}

void set_int(lua_State *L, const char *name, uint64_t v) {
  lua_pushinteger(L, static_cast<lua_Integer>(v));
  lua_setfield(L, -2, name);
}

int l_stats(lua_State *L) {
  palloc_arena *a = arena_or_error(L);
  palloc_stats st{};
  if (palloc_get_stats(a, &st) != PALLOC_OK) return luaL_error(L, "palloc.stats: %s", palloc_last_error());
  const Image *img = image();
  lua_createtable(L, 0, 20);
  set_int(L, "epoch", st.epoch);
  set_int(L, "durable_epoch", st.durable_epoch);
  set_int(L, "arena_bytes", st.size);
  set_int(L, "arena_max_bytes", st.max_size);
  set_int(L, "lua_bytes", static_cast<uint64_t>(lua_gc(L, LUA_GCCOUNT, 0)) * 1024u + lua_gc(L, LUA_GCCOUNTB, 0));
  set_int(L, "commits", st.commits);
  set_int(L, "state_commits", img->commits);
  set_int(L, "last_commit_pages", st.last_commit_pages);
  set_int(L, "last_commit_ns", st.last_commit_ns);
  set_int(L, "last_commit_unix_ns", st.last_commit_unix_ns);
  set_int(L, "pages_written", st.pages_written);
  set_int(L, "bytes_written", st.bytes_written);
  set_int(L, "log_bytes", st.log_bytes);
  set_int(L, "created_unix_ns", img->created_unix_ns);
  set_int(L, "resumed_commit_unix_ns", lp_resumed_commit_unix_ns());
  set_int(L, "c_modules", img->module_count);
  lua_pushstring(L, st.tracker);
  lua_setfield(L, -2, "tracker");
  lua_pushstring(L, st.durability);
  lua_setfield(L, -2, "durability");
  lua_pushboolean(L, lp_resumed());
  lua_setfield(L, -2, "resumed");
  return 1;
}

int l_on_resume(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  add_resume_handler(L, 1);
  return 0;
}

const luaL_Reg kFunctions[] = {
    {"commit", l_commit}, {"epoch", l_epoch},         {"resumed", l_resumed},
    {"stats", l_stats},   {"on_resume", l_on_resume}, {nullptr, nullptr},
};

}  // namespace
}  // namespace lp

LP_API int luaopen_palloc(lua_State *L) {
  luaL_newlib(L, lp::kFunctions);
  return 1;
}
