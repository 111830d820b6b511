// resume.cpp — makes an adopted state safe for the new process.
//
// The image comes back exactly as committed; what belonged to the old process is
// repaired or fenced here, before any Lua code of the new process runs:
//  * the main thread's frames (and those of coroutines that were running) refer to a C
//    stack that is gone: they are discarded, as lua_resetthread does, after the fields
//    that point into that stack are cleared;
//  * files opened with io.open/io.popen/io.tmpfile hold FILE objects whose descriptors
//    were the old process's: they become closed files (Lua's own "attempt to use a
//    closed file"), so they can never write to whatever now has the same number;
//    io.stdin/stdout/stderr are this process's standard streams again;
//  * luasocket's sockets likewise become closed sockets.
#include <cstdio>
#include <cstring>

#include "image.h"
#include "lua_internals.h"
#include "lua_persist.h"

extern "C" {
#include <lauxlib.h>
#include <lualib.h>
}

namespace lp {
namespace {

constexpr const char *kResumeHandlers = "palloc.on_resume";  // registry key: array of {key, function}

bool is_std_stream(FILE *f) { return f == stdin || f == stdout || f == stderr; }

// luasocket's classes all start with the socket descriptor (t_socket, an int).
bool is_socket_class(const char *name) {
  static const char *const prefixes[] = {"tcp{", "udp{", "unix{", "unixudp{", "unixtcp{", "serial{"};
  for (const char *p : prefixes)
    if (strncmp(name, p, strlen(p)) == 0) return true;
  return false;
}

// Closes the process resources held by finalizable userdata (the stack: the array).
void fence_process_resources(lua_State *L) {
  lua_checkstack(L, 8);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_FILEHANDLE);  // io's metatable (nil without io)
  const int file_mt = lua_gettop(L);
  lpi_push_finalizable_userdata(L);
  const int objects = lua_gettop(L);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, objects));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, objects, i);
    if (!lua_getmetatable(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_rawequal(L, -1, file_mt)) {
      auto *stream = static_cast<luaL_Stream *>(lua_touserdata(L, -2));
      if (stream->closef != nullptr && !is_std_stream(stream->f)) stream->closef = nullptr;  // a closed file
    } else if (lua_getfield(L, -1, "__name") == LUA_TSTRING && is_socket_class(lua_tostring(L, -1)) &&
               lua_rawlen(L, -3) >= sizeof(int)) {
      *static_cast<int *>(lua_touserdata(L, -3)) = -1;  // SOCKET_INVALID: a closed socket
    }
    lua_settop(L, objects);
  }
  lua_settop(L, file_mt - 1);
}

void reset_thread(lua_State *co) {
  lpi_forget_c_stack(co);
  lua_resetthread(co);
}

}  // namespace

void repair_state(lua_State *L, bool committed_in_coroutine) {
  lpi_forget_c_stack(L);
  fence_process_resources(L);
  if (committed_in_coroutine) {
    lua_checkstack(L, 4);
    lpi_push_coroutines(L);
    const int threads = lua_gettop(L);
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, threads));
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, threads, i);
      lua_State *co = lua_tothread(L, -1);
      if (co && lpi_thread_has_stale_frames(co)) reset_thread(co);  // it reads as dead from now on
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  // Discard the main thread's frames last: closing its to-be-closed variables runs Lua
  // code, which must only see repaired state.
  if (lua_resetthread(L) != LUA_OK) {
    fprintf(stderr, "lua-persist: closing the interrupted run's to-be-closed variables failed: %s\n",
            lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
  }
  lua_settop(L, 0);
}

void register_module(lua_State *L) {
  lua_checkstack(L, 3);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_palloc);
  lua_setfield(L, -2, "palloc");
  lua_pop(L, 1);
}

// The script runs again from its first line on every start, so it registers its handlers
// again each time: a handler is identified by where it is defined (source and line; a C
// function by its address), and registering it again replaces it instead of adding one.
void add_resume_handler(lua_State *L, int fn_index) {
  fn_index = lua_absindex(L, fn_index);
  lua_checkstack(L, 6);
  lua_Debug ar;
  lua_pushvalue(L, fn_index);
  lua_getinfo(L, ">S", &ar);
  if (lua_iscfunction(L, fn_index))
    lua_pushfstring(L, "C:%p", reinterpret_cast<void *>(lua_tocfunction(L, fn_index)));
  else
    lua_pushfstring(L, "%s:%d", ar.source ? ar.source : "?", ar.linedefined);
  const int key = lua_gettop(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, kResumeHandlers);  // array of {key, fn}
  const int handlers = lua_gettop(L);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, handlers));
  lua_Integer slot = n + 1;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, handlers, i);
    lua_rawgeti(L, -1, 1);
    const bool same = lua_rawequal(L, -1, key);
    lua_pop(L, 2);
    if (same) {
      slot = i;
      break;
    }
  }
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, key);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, fn_index);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, handlers, slot);
  lua_settop(L, key - 1);
}

void run_resume_handlers(lua_State *L) {
  lua_checkstack(L, 4);
  if (lua_getfield(L, LUA_REGISTRYINDEX, kResumeHandlers) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  const int handlers = lua_gettop(L);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, handlers));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, handlers, i);
    lua_rawgeti(L, -1, 2);
    lua_remove(L, -2);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      fprintf(stderr, "lua-persist: an on_resume handler failed: %s\n",
              lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object is not a string)");
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

}  // namespace lp
