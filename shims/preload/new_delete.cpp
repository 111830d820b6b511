// new_delete.cpp — C++ operator new and delete, every form, on the same heap as malloc.
#include <new>

#include "mimalloc.h"
#include "shim.h"

using namespace palloc;
using namespace palloc::shim;

namespace {

// Calls the new-handler until the allocation succeeds, as operator new must.
void *new_slow(size_t n, size_t alignment, bool nothrow) {
  if (n == 0) n = 1;
  for (;;) {
    void *p = alignment ? slow_aligned(alignment, n) : slow_malloc(n);
    if (p) return p;
    std::new_handler h = std::get_new_handler();
    if (!h) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    h();
  }
}

// The fast paths call mimalloc's plain allocators: its mi_new aborts on failure (it is
// C) where operator new must throw.
inline void *new_impl(size_t n) {
  if (void *p = try_fast_malloc(n); __builtin_expect(p != nullptr, 1)) return p;
  return new_slow(n, 0, false);
}

inline void *new_nothrow_impl(size_t n) noexcept {
  if (void *p = try_fast_malloc(n); __builtin_expect(p != nullptr, 1)) return p;
  try {
    return new_slow(n, 0, true);
  } catch (...) {
    return nullptr;
  }
}

inline void *new_aligned_impl(size_t n, std::align_val_t al) {
  if (__builtin_expect(transient(), 1)) {
    if (void *p = mi_malloc_aligned(n, static_cast<size_t>(al)); __builtin_expect(p != nullptr, 1)) return p;
  }
  return new_slow(n, static_cast<size_t>(al), false);
}

inline void *new_aligned_nothrow_impl(size_t n, std::align_val_t al) noexcept {
  if (__builtin_expect(transient(), 1)) {
    if (void *p = mi_malloc_aligned(n, static_cast<size_t>(al)); __builtin_expect(p != nullptr, 1)) return p;
  }
  try {
    return new_slow(n, static_cast<size_t>(al), true);
  } catch (...) {
    return nullptr;
  }
}

inline void delete_impl(void *p) noexcept { free_impl(p); }

}  // namespace

#pragma GCC visibility push(default)

void *operator new(size_t n) { return new_impl(n); }
void *operator new[](size_t n) { return new_impl(n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return new_nothrow_impl(n); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return new_nothrow_impl(n); }
void *operator new(size_t n, std::align_val_t al) { return new_aligned_impl(n, al); }
void *operator new[](size_t n, std::align_val_t al) { return new_aligned_impl(n, al); }
void *operator new(size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return new_aligned_nothrow_impl(n, al);
}
void *operator new[](size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return new_aligned_nothrow_impl(n, al);
}

void operator delete(void *p) noexcept { delete_impl(p); }
void operator delete[](void *p) noexcept { delete_impl(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { delete_impl(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { delete_impl(p); }
void operator delete(void *p, size_t) noexcept { delete_impl(p); }
void operator delete[](void *p, size_t) noexcept { delete_impl(p); }
void operator delete(void *p, std::align_val_t) noexcept { delete_impl(p); }
void operator delete[](void *p, std::align_val_t) noexcept { delete_impl(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { delete_impl(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { delete_impl(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { delete_impl(p); }
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { delete_impl(p); }

#pragma GCC visibility pop
