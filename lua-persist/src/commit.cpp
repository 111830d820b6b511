// commit.cpp — commit points of the persistent state.
//
// A commit captures the whole heap, so it must happen where the Lua state is
// consistent: between two API calls or at a VM instruction boundary, never from a signal
// handler or another thread. Explicit commits (palloc.commit, the REPL, exit) are such
// points by construction; periodic ones run from a count hook, which Lua calls between
// instructions. The hook reads a coarse clock every kHookInstructions instructions.
#include <csignal>
#include <cstdio>
#include <ctime>

#include "image.h"
#include "lua_internals.h"
#include "lua_persist.h"

extern "C" {
#include <lauxlib.h>
}

namespace lp {
namespace {

constexpr int kHookInstructions = 1000;

uint32_t g_interval_ms = 0;
uint64_t g_last_commit_ns = 0;  // CLOCK_MONOTONIC_COARSE
volatile sig_atomic_t g_interrupted = 0;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void commit_hook(lua_State *L, lua_Debug *) {
  if (g_interrupted) {
    g_interrupted = 0;
    install_commit_hook(L);  // back to the periodic schedule (or none)
    luaL_error(L, "interrupted!");
  }
  if (g_interval_ms == 0) return;
  const uint64_t now = monotonic_ns();
  const uint64_t interval = uint64_t(g_interval_ms) * 1000000ull;
  if (now - g_last_commit_ns < interval) return;
  // Commits belong on the main thread (a resume then needs no heap walk); a coroutine
  // that runs for long commits itself once a whole extra interval has passed.
  if (!lpi_is_main_thread(L) && now - g_last_commit_ns < 2 * interval) return;
  const int64_t r = lp_commit(L);
  if (r < 0) fprintf(stderr, "lua-persist: periodic commit failed: %s\n", palloc_last_error());
}

}  // namespace

void install_commit_hook(lua_State *L) {
  lua_State *main = lp_persistent_state();
  if (!main) return;
  if (g_interval_ms > 0)
    lua_sethook(L, commit_hook, LUA_MASKCOUNT, kHookInstructions);
  else if (lua_gethook(L) == commit_hook)
    lua_sethook(L, nullptr, 0, 0);
}

}  // namespace lp

using namespace lp;

LP_API void lp_set_commit_interval(uint32_t ms) {
  g_interval_ms = ms;
  g_last_commit_ns = monotonic_ns();
  if (lua_State *L = lp_persistent_state()) install_commit_hook(L);
}

LP_API void lp_interrupt(void) {
  lua_State *L = lp_persistent_state();
  if (!L) return;
  g_interrupted = 1;
  lua_sethook(L, commit_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);  // lua_sethook is signal-safe
}

LP_API int64_t lp_commit(lua_State *L) {
  Image *img = image();
  if (!img) {
    palloc_heap_commit();  // sets the error: transient heap
    return -PALLOC_E_INVALID;
  }
  record_modules(L);
  if (lpi_is_main_thread(L))
    img->flags &= ~kCommittedInCoroutine;
  else
    img->flags |= kCommittedInCoroutine;
  img->commits++;
  img->last_commit_unix_ns = now_unix_ns();
  seal_image(img);
  const int64_t epoch = palloc_heap_commit();
  g_last_commit_ns = monotonic_ns();
  return epoch;
}
