/* lua_internals.h — the few things a resume needs that Lua's public API cannot do.
 *
 * They read and reset fields of Lua 5.4's internal structures (lua_State, the GC lists)
 * and are compiled against the internal headers of the very source package Debian's
 * liblua5.4 was built from (fetched at build time, see lua-persist/source.conf). The
 * adapter refuses to persist a state when the loaded liblua is not that build. */
#ifndef LUA_PERSIST_INTERNALS_H
#define LUA_PERSIST_INTERNALS_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clears what belongs to a C stack that no longer exists: the error-recovery point, the
 * C-call and non-yieldable counts (back to a new thread's), the hook guard, the error
 * handler. Call before lua_resetthread on a thread whose frames are stale. */
void lpi_forget_c_stack(lua_State *L);

/* 1 if the thread is the state's main thread. */
int lpi_is_main_thread(lua_State *L);

/* 1 if a coroutine is neither suspended nor finished: it was running (or resuming
 * another) when the image was committed, so its frames are stale. */
int lpi_thread_has_stale_frames(lua_State *co);

/* Pushes a new array of every full userdata that has a finalizer (the only ones that can
 * own a process resource: files, sockets). Cost: one step per object with a finalizer. */
void lpi_push_finalizable_userdata(lua_State *L);

/* Pushes a new array of every coroutine other than the main thread. Walks the whole heap:
 * only used after a commit made from inside a coroutine. */
void lpi_push_coroutines(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif
