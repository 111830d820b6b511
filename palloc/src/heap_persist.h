/* heap_persist.h — the persistent heap's meta block, seen from palloc's C++ side.
 *
 * heap_persist.c knows mimalloc's internals; heap.cpp knows the arena. This is the small
 * C interface between them. All addresses are inside the arena. */
#ifndef PALLOC_HEAP_PERSIST_H
#define PALLOC_HEAP_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The meta block occupies the first PALLOC_META_SPAN bytes of the arena (one mimalloc
 * arena block, so the allocator's own arena starts aligned right after it). */
#define PALLOC_META_SPAN ((size_t)32 << 20)

typedef enum palloc_meta_check {
  PALLOC_META_EMPTY = 0,    /* all zero: a fresh arena */
  PALLOC_META_VALID = 1,    /* a heap written by this build */
  PALLOC_META_FOREIGN = 2,  /* not a heap (an arena used through the plain arena API) */
  PALLOC_META_VERSION = 3,  /* a heap of another format version or another allocator layout */
} palloc_meta_check;

/* Bytes at the start of the meta block that must be backed before install. */
size_t palloc_meta_initial_size(size_t max_size);

/* Classifies the meta block at base (which must be readable for palloc_meta_initial_size
 * bytes). On VERSION, *detail describes the difference. */
palloc_meta_check palloc_meta_classify(const void *base, const char **detail);

/* Installs a fresh heap (fresh != 0) or resumes the one the last commit left, making it
 * the process's main heap and the calling thread its owner. Returns 0 or an errno-style
 * code with *detail set. Runs before mimalloc's first allocation. */
int palloc_meta_install(void *base, size_t max_size, int fresh, const char **detail);

/* Dead threads found at install (their segments were abandoned for adoption). */
size_t palloc_meta_dead_threads(void);

/* At a commit barrier (no thread inside the allocator): drains every heap's delayed
 * frees and copies the allocator's process globals (abandoned lists, segment map) into
 * the meta block. */
void palloc_meta_save(void);

/* At a commit barrier, after palloc_meta_save: moves the pages of pages[0..n) (ascending
 * page addresses) that lie in a free span of a segment (memory that holds no block and
 * that the allocator never reads before handing it out again) to the end, keeping the
 * others in order at the front; returns how many are kept. */
size_t palloc_meta_partition_free_pages(uintptr_t *pages, size_t n);

/* Walks every page of every live heap and of every abandoned segment and checks its
 * structure; returns the number of blocks in use, or -1 (with *detail) at the first
 * inconsistency. Barrier held. */
int64_t palloc_meta_validate(const char **detail);

#ifdef __cplusplus
}
#endif

#endif
