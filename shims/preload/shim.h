// shim.h — shared by the malloc family and C++ new/delete of libpalloc.so.
#pragma once

#include <cstddef>

#include "barrier.h"
#include "heap.h"

namespace palloc::shim {

// The fast-path test: transient mode (mimalloc, nothing else to decide).
inline bool transient() { return heap::g_mode.load(std::memory_order_relaxed) == heap::kTransient; }

// Brackets a heap call with the commit barrier when the heap is persistent.
struct Guard {
  bool on;
  Guard() : on(heap::mode() == heap::kPersistent) {
    if (on) barrier::enter();
  }
  ~Guard() {
    if (on) barrier::leave();
  }
  Guard(const Guard &) = delete;
  Guard &operator=(const Guard &) = delete;
};

// Persistent (and not-yet-decided) paths.
bool use_heap();
void *slow_malloc(size_t n);
void *slow_aligned(size_t alignment, size_t n);
void slow_free(void *p);

}  // namespace palloc::shim
