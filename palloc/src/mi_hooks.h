/* mi_hooks.h — the seam between the mimalloc fork and palloc.
 *
 * The patch series in palloc/mimalloc/patches includes this header from
 * mimalloc-internal.h. Everything declared here is defined by palloc (heap_persist.c,
 * heap.cpp); the patched mimalloc calls it at the few points where a persistent heap
 * must behave differently from a transient one. In transient mode (no arena) every hook
 * is a cheap no-op and mimalloc behaves as stock 2.0.9. */
#ifndef PALLOC_MI_HOOKS_H
#define PALLOC_MI_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The persistent arena's address range [lo, hi); both 0 in transient mode. */
extern uintptr_t _mi_palloc_lo;
extern uintptr_t _mi_palloc_hi;

static inline bool _mi_palloc_in_arena(const void *p) {
  return (uintptr_t)p - _mi_palloc_lo < _mi_palloc_hi - _mi_palloc_lo;
}

/* Thread id override: nonzero on the thread that adopted the persistent main heap.
 * Its value is the main heap's address, which no thread control block can ever have,
 * so the main heap's segments stay "local" to whichever thread resumes them. */
extern __thread uintptr_t _mi_palloc_thread_id __attribute__((tls_model("initial-exec")));

/* Decides transient or persistent mode and, when persistent, opens the arena and
 * installs (or resumes) the heap. Runs once, before mimalloc's first allocation. */
void _mi_palloc_process_init(void);

/* Arena memory: commit grows the arena's backed size; decommit drops pages. */
bool _mi_palloc_arena_commit(void *start, size_t size);
bool _mi_palloc_arena_decommit(void *start, size_t size);

/* Thread metadata (a heap and its tld) for non-main threads: from the arena's pool in
 * persistent mode. alloc returns NULL in transient mode; free returns false when p is
 * not a pool slot. */
void *_mi_palloc_thread_data_alloc(size_t size);
bool _mi_palloc_thread_data_free(void *p);

/* Commit barrier: a thread inside the allocator outside the malloc entry points
 * (thread exit) announces itself. */
void _mi_palloc_enter(void);
void _mi_palloc_leave(void);

#ifdef __cplusplus
}
#endif

#endif
