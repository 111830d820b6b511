// commit.cpp — commit points of the persistent state.
//
// A commit captures the whole heap, so it must happen where the Lua state is
// consistent: between two API calls or at a VM instruction boundary, never from a signal
// handler or another thread at an arbitrary instant. Explicit commits (palloc.commit, the
// REPL, exit) are such points by construction. Periodic ones use a hook, but a hook that
// is only there when a commit is due: a count hook left installed makes the VM trace
// every instruction (twice as slow). A POSIX timer signals the interpreter's own thread
// every interval; the handler installs a one-shot count hook (lua_sethook is safe in a
// signal handler: lua.c stops code on Ctrl-C the same way), and the hook, at the next
// instruction, puts back whatever hook the program had and commits.
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

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

uint32_t g_interval_ms = 0;
timer_t g_timer{};
bool g_timer_created = false;
volatile sig_atomic_t g_commit_due = 0;
volatile sig_atomic_t g_interrupted = 0;

// The program's own hook (debug.sethook), set aside while ours is installed.
lua_Hook g_saved_hook = nullptr;
int g_saved_mask = 0, g_saved_count = 0;
volatile sig_atomic_t g_armed = 0;

void commit_hook(lua_State *L, lua_Debug *);

// In a signal handler or on the interpreter thread: make the state stop at the next
// instruction (or call/return).
void arm(lua_State *L, int mask) {
  if (!g_armed) {
    g_saved_hook = lua_gethook(L);
    g_saved_mask = lua_gethookmask(L);
    g_saved_count = lua_gethookcount(L);
    g_armed = 1;
  }
  lua_sethook(L, commit_hook, mask, 1);
}

int timer_signal();

// On the interpreter thread, with the timer's signal blocked so that arm() never sees
// the saved hook half put back.
void disarm(lua_State *L) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, timer_signal());
  pthread_sigmask(SIG_BLOCK, &block, &old);
  lua_State *main = lp_persistent_state();
  if (g_armed) {
    lua_sethook(main, g_saved_hook, g_saved_mask, g_saved_count);
    g_armed = 0;
  }
  // A coroutine created while the hook was armed inherited it.
  if (L != main && lua_gethook(L) == commit_hook) lua_sethook(L, g_saved_hook, g_saved_mask, g_saved_count);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void commit_hook(lua_State *L, lua_Debug *) {
  disarm(L);
  if (g_interrupted) {
    g_interrupted = 0;
    luaL_error(L, "interrupted!");
  }
  if (!g_commit_due) return;
  g_commit_due = 0;
  const int64_t r = lp_commit(L);
  if (r < 0) fprintf(stderr, "lua-persist: periodic commit failed: %s\n", palloc_last_error());
}

void on_timer(int) {
  lua_State *L = lp_persistent_state();
  if (!L) return;
  g_commit_due = 1;
  arm(L, LUA_MASKCOUNT);
}

// The signal for periodic commits: a real-time signal the C library leaves free.
int timer_signal() { return SIGRTMIN + 4; }

}  // namespace
}  // namespace lp

using namespace lp;

LP_API void lp_set_commit_interval(uint32_t ms) {
  g_interval_ms = ms;
  if (ms == 0) {
    if (g_timer_created) {
      timer_delete(g_timer);
      g_timer_created = false;
    }
    return;
  }
  if (!g_timer_created) {
    struct sigaction sa{};
    sa.sa_handler = on_timer;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(timer_signal(), &sa, nullptr);
    struct sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = timer_signal();
    ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));  // the interpreter's thread
    if (timer_create(CLOCK_MONOTONIC, &ev, &g_timer) != 0) {
      perror("lua-persist: cannot create the commit timer; periodic commits are off");
      return;
    }
    g_timer_created = true;
  }
  struct itimerspec its{};
  its.it_interval.tv_sec = ms / 1000;
  its.it_interval.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  its.it_value = its.it_interval;
  timer_settime(g_timer, 0, &its, nullptr);
}

LP_API void lp_interrupt(void) {
  lua_State *L = lp_persistent_state();
  if (!L) return;
  g_interrupted = 1;
  arm(L, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT);
}

LP_API int64_t lp_commit(lua_State *L) {
  Image *img = image();
  if (!img) return -PALLOC_E_INVALID;  // callers check lp_persistent_state() first
  record_modules(L);
  if (lpi_is_main_thread(L))
    img->flags &= ~kCommittedInCoroutine;
  else
    img->flags |= kCommittedInCoroutine;
  img->commits++;
  img->last_commit_unix_ns = now_unix_ns();
  seal_image(img);
  return palloc_heap_commit();
}
