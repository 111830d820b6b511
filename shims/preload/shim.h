// shim.h — shared by the malloc family and C++ new/delete of libpalloc.so.
#pragma once

#include <cstddef>

#include "barrier.h"
#include "heap.h"
#include "mi_hooks.h"
#include "mimalloc.h"
#include "runtime.h"

namespace palloc::shim {

// The fast-path test: transient mode (mimalloc, nothing else to decide).
inline bool transient() { return heap::g_mode.load(std::memory_order_relaxed) == heap::kTransient; }

// The persistent fast path for allocations: the heap is persistent, this thread is not
// running palloc's own code, and it may enter the barrier at once. Returns the record to
// leave with, or nullptr for the slow path.
// (A thread has a record only in persistent mode.)
inline barrier::Record *persistent_alloc_enter() {
  if (__builtin_expect(t_runtime_depth != 0, 0)) return nullptr;
  return barrier::try_enter();
}

// The same for an operation on an existing block p (free, realloc): routed by address
// (the arena range is empty unless the heap is persistent).
inline barrier::Record *persistent_block_enter(const void *p) {
  if (__builtin_expect(!_mi_palloc_in_arena(p), 0)) return nullptr;
  return barrier::try_enter();
}

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

// Persistent (and not-yet-decided) paths (malloc.cpp).
bool use_heap();
void *slow_malloc(size_t n);
void *slow_aligned(size_t alignment, size_t n);
void slow_free(void *p);

// The inline fast path of malloc and operator new: mimalloc directly (transient) or
// inside the barrier (persistent). nullptr when it cannot be taken or the allocation
// failed; the caller then takes its slow path.
inline void *try_fast_malloc(size_t n) {
  if (__builtin_expect(transient(), 1)) return mi_malloc(n);
  if (barrier::Record *r = persistent_alloc_enter()) {
    // mi_malloc_small skips mi_malloc's size test for the common case. (Its page
    // allocation is still a call here: the compiler inlines mi_malloc's body once, into
    // the transient path; one shared call site inlines it for both, but measured no
    // faster and costs the transient path a test.)
    void *p = __builtin_expect(n <= MI_SMALL_SIZE_MAX, 1) ? mi_malloc_small(n) : mi_malloc(n);
    barrier::leave(r);
    return p;
  }
  return nullptr;
}

// free and operator delete: the same routing by address.
inline void free_impl(void *p) {
  if (__builtin_expect(transient(), 1)) return mi_free(p);
  if (barrier::Record *r = persistent_block_enter(p)) {
    mi_free(p);
    barrier::leave(r);
    return;
  }
  slow_free(p);
}

}  // namespace palloc::shim
