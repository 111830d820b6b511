// malloc.cpp — the malloc family exported by libpalloc.so.
//
// Transient mode (no PALLOC_ARENA): each entry point is one load of the mode and a
// tail call into mimalloc. Persistent mode: allocations go to the persistent heap inside
// the commit barrier; allocations made while the heap is being set up, and those of
// palloc's own code (RuntimeScope), go to the C library. Frees are routed by address:
// arena blocks to the heap, everything else to the C library.
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "barrier.h"
#include "heap.h"
#include "mi_hooks.h"
#include "mimalloc.h"
#include "runtime.h"
#include "shim.h"

extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
}

namespace palloc::shim {

using heap::kPersistent;
using heap::kTransient;
using heap::kUninitialized;

size_t libc_usable_size(void *p) {
  using Fn = size_t (*)(void *);
  static Fn fn = nullptr;
  if (!fn) {
    RuntimeScope runtime;
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  }
  return fn ? fn(p) : 0;
}

// The slow paths: before the mode is known, persistent mode, palloc's own code.
bool use_heap() {
  if (heap::mode() == kUninitialized) heap::init();
  return heap::mode() == kTransient || (heap::mode() == kPersistent && !in_runtime());
}

void *heap_malloc(size_t n) {
  Guard in;
  return mi_malloc(n);
}

void *slow_malloc(size_t n) { return use_heap() ? heap_malloc(n) : __libc_malloc(n); }

void *slow_calloc(size_t count, size_t n) {
  if (use_heap()) {
    Guard in;
    return mi_calloc(count, n);
  }
  return __libc_calloc(count, n);
}

void slow_free(void *p) {
  if (p == nullptr) return;
  if (_mi_palloc_in_arena(p) || heap::mode() == kTransient) {
    Guard in;
    mi_free(p);
  } else {
    __libc_free(p);
  }
}

void *slow_realloc(void *p, size_t n) {
  if (p == nullptr) return slow_malloc(n);
  const bool from_heap = _mi_palloc_in_arena(p) || heap::mode() == kTransient;
  const bool to_heap = use_heap();
  if (from_heap && to_heap) {
    Guard in;
    return mi_realloc(p, n);
  }
  if (!from_heap && !to_heap) return __libc_realloc(p, n);
  // Moving between the C library and the heap (a block allocated before the heap was
  // ready, or a heap block resized by palloc's own code).
  const size_t old = from_heap ? mi_usable_size(p) : libc_usable_size(p);
  void *q = to_heap ? heap_malloc(n) : __libc_malloc(n);
  if (q == nullptr) return nullptr;
  memcpy(q, p, old < n ? old : n);
  slow_free(p);
  return q;
}

void *slow_aligned(size_t alignment, size_t n) {
  if (use_heap()) {
    Guard in;
    return mi_malloc_aligned(n, alignment);
  }
  return __libc_memalign(alignment, n);
}

size_t slow_usable_size(const void *p) {
  if (p == nullptr) return 0;
  if (_mi_palloc_in_arena(p) || heap::mode() == kTransient) return mi_usable_size(p);
  return libc_usable_size(const_cast<void *>(p));
}

size_t page_size() {
  static size_t ps = 0;
  if (ps == 0) ps = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

}  // namespace palloc::shim

using namespace palloc;
using namespace palloc::shim;

#define PALLOC_SHIM_EXPORT extern "C" __attribute__((visibility("default")))

// A NULL result always comes with errno = ENOMEM (POSIX; mimalloc does not always set it).
static inline void *nomem(void *p) {
  if (__builtin_expect(p == nullptr, 0)) errno = ENOMEM;
  return p;
}

PALLOC_SHIM_EXPORT void *malloc(size_t n) {
  if (void *p = try_fast_malloc(n); __builtin_expect(p != nullptr, 1)) return p;
  return nomem(slow_malloc(n));
}

PALLOC_SHIM_EXPORT void free(void *p) { free_impl(p); }

PALLOC_SHIM_EXPORT void *calloc(size_t count, size_t n) {
  if (__builtin_expect(transient(), 1)) return nomem(mi_calloc(count, n));
  if (barrier::Record *r = persistent_alloc_enter()) {
    void *p = mi_calloc(count, n);
    barrier::leave(r);
    return nomem(p);
  }
  return nomem(slow_calloc(count, n));
}

PALLOC_SHIM_EXPORT void *realloc(void *p, size_t n) {
  if (__builtin_expect(transient(), 1)) return nomem(mi_realloc(p, n));
  if (t_runtime_depth == 0) {
    if (barrier::Record *r = persistent_block_enter(p)) {
      void *q = mi_realloc(p, n);
      barrier::leave(r);
      return nomem(q);
    }
  }
  return nomem(slow_realloc(p, n));
}

PALLOC_SHIM_EXPORT void *reallocarray(void *p, size_t count, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(count, n, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

PALLOC_SHIM_EXPORT size_t malloc_usable_size(void *p) {
  if (__builtin_expect(transient(), 1)) return mi_usable_size(p);
  return slow_usable_size(p);
}

static bool valid_alignment(size_t alignment) { return alignment != 0 && (alignment & (alignment - 1)) == 0; }

PALLOC_SHIM_EXPORT int posix_memalign(void **out, size_t alignment, size_t n) {
  if (!valid_alignment(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  void *p = slow_aligned(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

PALLOC_SHIM_EXPORT void *aligned_alloc(size_t alignment, size_t n) {
  if (!valid_alignment(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  void *p = slow_aligned(alignment, n);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

PALLOC_SHIM_EXPORT void *memalign(size_t alignment, size_t n) {
  // Like the C library: a non-power-of-two alignment is rounded up.
  if (alignment < sizeof(void *)) alignment = sizeof(void *);
  if (!valid_alignment(alignment)) alignment = size_t(1) << (64 - __builtin_clzll(alignment));
  void *p = slow_aligned(alignment, n);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

PALLOC_SHIM_EXPORT void *valloc(size_t n) { return memalign(page_size(), n); }

PALLOC_SHIM_EXPORT void *pvalloc(size_t n) {
  const size_t ps = page_size();
  size_t rounded;
  if (__builtin_add_overflow(n, ps - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  return memalign(ps, (rounded & ~(ps - 1)) ? (rounded & ~(ps - 1)) : ps);
}

// The same heap under palloc's own names (palloc.h).
PALLOC_SHIM_EXPORT void *palloc_malloc(size_t n) { return malloc(n); }
PALLOC_SHIM_EXPORT void *palloc_calloc(size_t count, size_t n) { return calloc(count, n); }
PALLOC_SHIM_EXPORT void *palloc_realloc(void *p, size_t n) { return realloc(p, n); }
PALLOC_SHIM_EXPORT void palloc_free(void *p) { free(p); }
PALLOC_SHIM_EXPORT void *palloc_aligned_alloc(size_t alignment, size_t n) { return aligned_alloc(alignment, n); }
PALLOC_SHIM_EXPORT size_t palloc_usable_size(const void *p) { return malloc_usable_size(const_cast<void *>(p)); }
