/* freepages.c — commits leave out the pages of freed memory, and what they leave out
 * never comes back as content a program relies on.
 *
 * A commit skips the dirty pages that lie in a free span of a segment: a block written
 * and freed between two commits costs nothing to commit. The risk is a page left out
 * whose stale committed content reappears later, e.g. through calloc over memory whose
 * content did not change (the hash tracker compares contents). This program builds that
 * case on purpose:
 *
 * First run (fresh heap):
 *   1. `keep` (1 MiB, filled from a key) stays live throughout; the root points to it.
 *   2. `big` (BIG bytes) is filled with 0xAB and committed: the image holds 0xAB.
 *   3. `big` is zeroed and freed, then committed: `freed pages=N` (the driver checks
 *      that the free span was left out: N is far below BIG's pages).
 *   4. calloc(BIG) reuses the same span (`reused same=1`): its memset writes zeros over
 *      zeros; committed (`calloc pages=N`), then `ready`, and the driver kills us.
 * Second run (resumed): `keep` matches its key, the calloc'd block is all zeros (not the
 * 0xAB of step 2), the heap validates; prints `resumed ok=1` and exits. */
#define _GNU_SOURCE
#include "alloc_test.h"

#include <unistd.h>

#define BIG ((size_t)8 << 20)
#define KEEP ((size_t)1 << 20)
#define KEEP_KEY 0x6b656570ull
#define ROOT_MAGIC 0x7365676170656572ull

struct root {
  uint64_t magic;
  unsigned char *keep;
  unsigned char *zeroed; /* the calloc'd block */
};

/* The compiler may drop stores to memory that is freed or never read again; these must
 * reach memory. */
static void fill(unsigned char *p, int byte, size_t n) {
  memset(p, byte, n);
  __asm__ volatile("" : : "r"(p) : "memory");
}

static uint64_t commit_pages(const char *what) {
  int64_t e = palloc_heap_commit();
  AT_CHECK(e > 0, "%s: palloc_heap_commit failed: %s", what, palloc_last_error());
  palloc_stats st;
  AT_CHECK(palloc_get_stats(palloc_heap_arena(), &st) == PALLOC_OK, "palloc_get_stats: %s", palloc_last_error());
  return st.last_commit_pages;
}

static void first_run(void) {
  struct root *r = malloc(sizeof *r);
  AT_CHECK(r != NULL, "malloc failed");
  r->magic = ROOT_MAGIC;
  r->keep = malloc(KEEP);
  AT_CHECK(r->keep != NULL, "malloc(keep) failed");
  at_fill(r->keep, KEEP, KEEP_KEY);
  r->zeroed = NULL;
  AT_CHECK(palloc_root_set(palloc_heap_arena(), 0, (uint64_t)(uintptr_t)r) == PALLOC_OK, "root_set: %s",
           palloc_last_error());

  unsigned char *big = malloc(BIG);
  AT_CHECK(big != NULL, "malloc(big) failed");
  fill(big, 0xAB, BIG);
  at_say("written pages=%" PRIu64, commit_pages("commit of the written block"));

  fill(big, 0, BIG);
  free(big);
  at_say("freed pages=%" PRIu64 " big_pages=%zu", commit_pages("commit after the free"),
         BIG / (size_t)sysconf(_SC_PAGESIZE));

  r->zeroed = calloc(1, BIG);
  AT_CHECK(r->zeroed != NULL, "calloc(big) failed");
  at_say("reused same=%d", r->zeroed == big);
  at_say("calloc pages=%" PRIu64, commit_pages("commit of the calloc'd block"));
  at_say("ready");
  for (;;) pause();
}

static void resumed_run(struct root *r) {
  AT_CHECK(r->magic == ROOT_MAGIC, "the root's magic is %#" PRIx64, r->magic);
  AT_CHECK(at_check_fill(r->keep, KEEP, KEEP_KEY), "the live block's content changed");
  AT_CHECK(r->zeroed != NULL, "the calloc'd block was not committed");
  for (size_t i = 0; i < BIG; i++)
    AT_CHECK(r->zeroed[i] == 0, "the calloc'd block has byte %#x at offset %zu after the restart", r->zeroed[i], i);
  AT_CHECK(palloc_heap_validate() >= 3, "palloc_heap_validate: %s", palloc_last_error());
  free(r->zeroed);
  free(r->keep);
  free(r);
  AT_CHECK(palloc_root_set(palloc_heap_arena(), 0, 0) == PALLOC_OK, "root_set: %s", palloc_last_error());
  at_say("resumed ok=1");
}

int main(void) {
  AT_CHECK(palloc_heap_arena() != NULL, "not a persistent heap (run under `palloc run`)");
  struct root *r = (struct root *)(uintptr_t)palloc_root_get(palloc_heap_arena(), 0);
  if (palloc_heap_resumed() && r != NULL)
    resumed_run(r);
  else
    first_run();
  return 0;
}
