// barrier.h — the commit barrier: a commit sees no thread inside the allocator.
//
// Every allocator entry point brackets its work with enter()/leave(): two stores to the
// thread's record and one load of a global, no atomic read-modify-write and no fence.
// A commit raises the global flag, forces a memory barrier on every running thread of
// the process (membarrier(2)), then waits until every record's flag is clear. Threads
// that arrive while a commit is in progress wait outside the allocator.
//
// Records are never freed: a thread that exits returns its record for reuse, and a
// record whose thread vanished without returning it just stays clear. No list ever
// points into a dead thread's storage.
#pragma once

#include <atomic>
#include <cstdint>

namespace palloc::barrier {

struct Record {
  std::atomic<uint32_t> inside{0};
  Record *all_next = nullptr;   // every record ever made
  Record *free_next = nullptr;  // records returned by exited threads
};

extern __thread Record *t_record __attribute__((tls_model("initial-exec")));
// Nonzero sends entering threads to the slow path: kPending while a commit is (about to
// be) in progress, kFence until membarrier is registered (entering threads must fence).
constexpr uint32_t kFence = 1, kPending = 2;
extern std::atomic<uint32_t> g_state;

void enter_slow();

// Sets up thread-exit handling and membarrier; once, before the first enter().
void init();

inline void enter() {
  Record *r = t_record;
  if (__builtin_expect(r == nullptr, 0)) return enter_slow();
  r->inside.store(1, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (__builtin_expect(g_state.load(std::memory_order_relaxed) != 0, 0)) enter_slow();
}

inline void leave() { t_record->inside.store(0, std::memory_order_release); }

// The malloc fast path: enters and returns the thread's record, or returns nullptr when
// the slow path must run (no record yet, or a commit is pending).
inline Record *try_enter() {
  Record *r = t_record;
  if (__builtin_expect(r == nullptr, 0)) return nullptr;
  r->inside.store(1, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (__builtin_expect(g_state.load(std::memory_order_relaxed) != 0, 0)) {
    r->inside.store(0, std::memory_order_release);
    return nullptr;
  }
  return r;
}

inline void leave(Record *r) { r->inside.store(0, std::memory_order_release); }

// Stops every other thread outside the allocator until end(). Must not be called by a
// thread that is inside the allocator. Holds the barrier's lock in between.
void begin();
void end();
// Between begin() and end(): whether no thread but the caller holds a record, that is,
// nobody else could run in the allocator once the barrier is lifted.
bool alone();

// Thread exit inside the allocator (mimalloc abandoning the thread's heap): excludes
// commits by holding the barrier's lock, without needing a record.
void exclusive_begin();
void exclusive_end();

// fork(): the child has only the forking thread.
void reset_in_child();

}  // namespace palloc::barrier
