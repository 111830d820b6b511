// lua_persist.h — the Lua adapter (libpalloc-lua.so): one Lua state that lives in the
// persistent heap and is adopted again after a restart.
//
// The first state a process creates with lua_newstate/luaL_newstate while its heap is
// persistent is *the* persistent state. On the next start the same call returns it, as
// of the last commit, repaired for the new process (stale frames discarded, files and
// sockets of the old process closed, C modules loaded again). A host program needs no
// change: luaL_openlibs on an adopted state finds every library already loaded, and the
// host's script runs again from its first line with its globals in place.
#pragma once

#include <lua.h>

#include <cstdint>

#define LP_API extern "C" __attribute__((visibility("default")))

// Commits the persistent state (L is the calling thread). Returns the new epoch, or a
// negative palloc_status with palloc_last_error() set; -PALLOC_E_INVALID (and no
// message) if this process has no persistent state.
LP_API int64_t lp_commit(lua_State *L);
// The persistent state of this process, or NULL.
LP_API lua_State *lp_persistent_state(void);
// 1 if this process adopted a committed state.
LP_API int lp_resumed(void);
// Wall time (CLOCK_REALTIME ns) of the commit this process resumed, 0 if none.
LP_API uint64_t lp_resumed_commit_unix_ns(void);
// Asks the running Lua code of the persistent state to stop with an "interrupted!" error
// at its next instruction (async-signal-safe: for a SIGINT handler).
LP_API void lp_interrupt(void);
// The interval of periodic commits (ms, 0 = none), taken over from palloc at state
// creation. A timer signal (SIGRTMIN+4) to the interpreter's thread arms a one-shot
// hook; the commit happens at the next instruction boundary.
LP_API void lp_set_commit_interval(uint32_t ms);
// What lp's failure messages tell the user to do (a front end's own option, say).
LP_API void lp_set_failure_hint(const char *hint);
// luaopen_palloc: the `palloc` Lua module (also in package.preload of the state).
LP_API int luaopen_palloc(lua_State *L);

namespace lp {

constexpr int kExitCannotResume = 70;  // as libpalloc's: the persistent heap cannot be used

// Prints "lua-persist: MESSAGE" plus what the user can do, and ends the process.
[[noreturn]] void fail(const char *what, const char *detail);

// modules.cpp: the C modules (package's CLIBS) and their identities in the image.
struct ModuleRecord;
// Loads every C module of the state again, in the order they were first loaded, and
// checks each is the same file at the same address as recorded at the last commit.
// On failure returns false with a message in *why.
bool reload_modules(lua_State *L, const ModuleRecord *records, uint32_t count, char *why, size_t why_len);
// Refreshes the image's module records if CLIBS changed since the last call.
void record_modules(lua_State *L);

// resume.cpp: makes an adopted state safe for this process, then runs on_resume handlers.
void repair_state(lua_State *L, bool committed_in_coroutine);
void run_resume_handlers(lua_State *L);
// palloc.on_resume(fn): adds the function at fn_index to the handlers.
void add_resume_handler(lua_State *L, int fn_index);
// Registers `palloc` in package.preload (kept in the image).
void register_module(lua_State *L);

}  // namespace lp
