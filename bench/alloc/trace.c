/* alloc-trace: a mixed-size allocation trace.
 *
 * A deterministic pseudo-random trace of malloc, calloc, realloc and free over a table of
 * slots (the live set is bounded by the number of slots and a cap on live bytes). Sizes
 * follow the shape seen in real programs: most requests are under 128 bytes, some are a
 * few hundred bytes to 16 KiB, few are up to 64 KiB and a rare one is a large buffer of
 * 64 KiB to 8 MiB. Lifetimes are skewed: most operations hit a small set of "hot" slots
 * (short-lived objects), the rest hit any slot (long-lived ones). Each block is stamped;
 * calloc'd memory is checked for zeros and realloc'd memory for the surviving prefix.
 * Reports operations per second. */
#include "alloc_common.h"

typedef struct {
  void *p;
  size_t size;
  uint64_t tag;
} slot_t;

static long n_ops = 3000000, n_slots = 50000, max_live_mib = 256, seed = 1;

static size_t draw_size(rng_t *r) {
  uint64_t x = rng_below(r, 100000);
  if (x < 60000) return rng_range(r, 1, 128);
  if (x < 85000) return rng_range(r, 129, 1024);
  if (x < 97000) return rng_range(r, 1025, 16384);
  if (x < 99950) return rng_range(r, 16385, 65536);
  /* 64 KiB - 8 MiB, log-uniform */
  int shift = (int)rng_range(r, 16, 22);
  return ((size_t)1 << shift) + rng_below(r, (uint64_t)1 << shift);
}

/* Is the block all zeros? Checks all of the first 4 KiB and one word per page after. */
static int zeroed(const unsigned char *p, size_t n) {
  uint64_t w;
  for (size_t i = 0; i + 8 <= n; i += i < 4096 ? 8 : 4096) {
    memcpy(&w, p + i, 8);
    if (w) return 0;
  }
  for (size_t i = n >= 8 ? n - 8 : 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"ops", &n_ops, 400000, 1, 1L << 40, "operations in the trace"},
    {"slots", &n_slots, 20000, 16, 1L << 30, "most blocks live at once"},
    {"max-live-mib", &max_live_mib, 256, 1, 1L << 20, "cap on live bytes (MiB)"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed (the same seed gives the same trace)"},
  };
  parse_options(argc, argv, "alloc-trace",
                "A mixed-size malloc/calloc/realloc/free trace with a realistic size\n"
                "distribution (including rare 64 KiB-8 MiB blocks) and a bounded live set.",
                opts, sizeof opts / sizeof opts[0]);
  rng_t rng = rng_seed((uint64_t)seed);
  slot_t *slots = must_calloc((size_t)n_slots, sizeof(slot_t));
  size_t hot = (size_t)n_slots / 16, live = 0, max_live = (size_t)max_live_mib << 20;
  long counts[4] = {0, 0, 0, 0}; /* malloc, calloc, realloc, free */
  uint64_t next_tag = 1;

  double t0 = now_sec();
  for (long op = 0; op < n_ops; op++) {
    size_t i = rng_below(&rng, 10) < 8 ? rng_below(&rng, hot) : rng_below(&rng, (uint64_t)n_slots);
    slot_t *s = &slots[i];
    if (!s->p) {
      size_t n = draw_size(&rng);
      if (live + n > max_live) n = rng_range(&rng, 1, 128);
      s->tag = mix64(next_tag++);
      s->size = n;
      if (rng_below(&rng, 4) == 0) {
        s->p = must_calloc(1, n);
        if (!zeroed(s->p, n)) corrupt("calloc memory is not zeroed", s->p, n);
        counts[1]++;
      } else {
        s->p = must_malloc(n);
        counts[0]++;
      }
      stamp(s->p, n, s->tag);
      live += n;
    } else if (rng_below(&rng, 3) == 0) {
      /* realloc: usually grows by half, sometimes to an unrelated size */
      size_t n = rng_below(&rng, 10) < 7 ? s->size + s->size / 2 + rng_range(&rng, 1, 16) : draw_size(&rng);
      if (live - s->size + n > max_live) n = s->size > 1 ? s->size / 2 : 1;
      if (!stamp_ok(s->p, s->size, s->tag)) corrupt("pattern changed before realloc", s->p, s->size);
      void *p = must_realloc(s->p, n);
      if (!stamp_ok_prefix(p, s->size, n, s->tag)) corrupt("realloc lost data", p, n);
      live = live - s->size + n;
      s->p = p;
      s->size = n;
      s->tag = mix64(next_tag++);
      stamp(p, n, s->tag);
      counts[2]++;
    } else {
      check_free(s->p, s->size, s->tag);
      live -= s->size;
      s->p = NULL;
      counts[3]++;
    }
  }
  for (long i = 0; i < n_slots; i++)
    if (slots[i].p) check_free(slots[i].p, slots[i].size, slots[i].tag);
  double elapsed = now_sec() - t0;
  free(slots);
  printf("alloc-trace: ops=%ld slots=%ld mallocs=%ld callocs=%ld reallocs=%ld frees=%ld time=%.3f s "
         "throughput=%.2f Mops/s malloc=%s\n",
         n_ops, n_slots, counts[0], counts[1], counts[2], counts[3], elapsed,
         (double)n_ops / elapsed / 1e6, malloc_provider());
  return 0;
}
