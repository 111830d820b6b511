// heap.h — the allocator's mode and the persistent heap's lifecycle (libpalloc.so).
//
// The first allocation of the process (or mimalloc's own initialisation, whichever runs
// first) decides the mode from the environment: with PALLOC_ARENA set the heap is
// persistent — the arena is opened and the heap installed or resumed — otherwise it is
// transient and mimalloc runs as a plain malloc.
#pragma once

#include <atomic>
#include <cstdint>

namespace palloc::heap {

enum Mode : int {
  kUninitialized = 0,
  kInitializing = 1,  // deciding / opening: allocations go to the C library
  kTransient = 2,
  kPersistent = 3,
};

extern std::atomic<int> g_mode;

inline Mode mode() { return static_cast<Mode>(g_mode.load(std::memory_order_relaxed)); }

// Decides the mode (once; later calls return at once, recursive calls too).
void init();

// Barrier, save, commit. Returns the epoch or minus a palloc_status.
// wait: return only once the commit is as durable as the mode asks; otherwise once it is
// captured (it survives a crash of the process), the disk catching up in the background.
int64_t commit(bool wait = true);

}  // namespace palloc::heap
