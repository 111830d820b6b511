// barrier.h — the commit barrier: a commit sees no thread inside the allocator.
//
// Every allocator entry point brackets its work with enter()/leave(): two stores to a
// thread-local flag and one load of a global, no atomic read-modify-write and no fence.
// A commit raises the global flag, forces a memory barrier on every running thread of
// the process (membarrier(2)), then waits until each registered thread's flag is clear.
// Threads that arrive while a commit is in progress wait outside the allocator.
#pragma once

#include <atomic>
#include <cstdint>

namespace palloc::barrier {

struct ThreadState {
  std::atomic<uint32_t> inside{0};
  uint32_t registered = 0;
  ThreadState *next = nullptr;
  ThreadState *prev = nullptr;
};

extern thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));
extern std::atomic<uint32_t> g_pending;   // a commit is (about to be) in progress
extern bool g_fence_on_enter;             // membarrier unavailable: enter() fences itself

void enter_slow();

// Sets up membarrier; call once before the first enter() of a persistent heap.
void init();

inline void enter() {
  ThreadState &t = t_state;
  if (__builtin_expect(!t.registered, 0)) return enter_slow();
  t.inside.store(1, std::memory_order_relaxed);
  if (__builtin_expect(g_fence_on_enter, 0))
    std::atomic_thread_fence(std::memory_order_seq_cst);
  else
    std::atomic_signal_fence(std::memory_order_seq_cst);
  if (__builtin_expect(g_pending.load(std::memory_order_relaxed) != 0, 0)) enter_slow();
}

inline void leave() { t_state.inside.store(0, std::memory_order_release); }

// Brackets an allocator call.
struct Inside {
  Inside() { enter(); }
  ~Inside() { leave(); }
  Inside(const Inside &) = delete;
  Inside &operator=(const Inside &) = delete;
};

// Stops every other thread outside the allocator until end(). Must not be called by a
// thread that is inside the allocator. Holds a process-wide lock in between.
void begin();
void end();

// fork(): the child has only the forking thread.
void reset_in_child();

}  // namespace palloc::barrier
