/* Helpers shared by the allocator benchmarks (header only): a deterministic PRNG,
 * stamping blocks with a pattern and checking it before they are freed, a small
 * command-line parser with --help and --quick, and timing.
 *
 * The benchmarks call plain malloc/free/realloc/calloc so that any allocator can be put
 * under them with LD_PRELOAD. A block that comes back with a different pattern than was
 * written into it means the allocator handed out overlapping memory or lost data: the
 * program says so on stderr and exits with status 2. */
#ifndef ALLOC_COMMON_H
#define ALLOC_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- random numbers: splitmix64 (small, fast, deterministic for a given seed) ---- */

typedef struct { uint64_t s; } rng_t;

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline rng_t rng_seed(uint64_t seed) {
  rng_t r = { mix64(seed + 0x9e3779b97f4a7c15ULL) };
  return r;
}

static inline uint64_t rng_next(rng_t *r) {
  r->s += 0x9e3779b97f4a7c15ULL;
  return mix64(r->s);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* ---- failing loudly ---- */

static const char *bench_name = "alloc-bench";

__attribute__((noreturn)) static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", bench_name, what);
  exit(1);
}

__attribute__((noreturn)) static inline void corrupt(const char *what, const void *p, size_t n) {
  fprintf(stderr, "%s: CORRUPTION: %s (block %p, %zu bytes)\n", bench_name, what, p, n);
  exit(2);
}

/* A block of n bytes must be aligned for any object that fits in it. */
static inline void check_align(const void *p, size_t n) {
  uintptr_t a = n >= 16 ? 16 : n >= 8 ? 8 : 1;
  if ((uintptr_t)p % a != 0) {
    fprintf(stderr, "%s: CORRUPTION: misaligned block (%#lx, %zu bytes)\n", bench_name,
            (unsigned long)(uintptr_t)p, n);
    exit(2);
  }
}

static inline void *must_malloc(size_t n) {
  void *p = malloc(n);
  if (!p) die("malloc returned NULL");
  check_align(p, n);
  return p;
}

static inline void *must_calloc(size_t count, size_t n) {
  void *p = calloc(count, n);
  if (!p) die("calloc returned NULL");
  check_align(p, count * n);
  return p;
}

static inline void *must_realloc(void *q, size_t n) {
  void *p = realloc(q, n);
  if (!p) die("realloc returned NULL");
  check_align(p, n);
  return p;
}

/* ---- stamping blocks ----
 * A block of n >= 16 bytes gets the 64-bit tag in its first 8 bytes, ~tag in its last 8,
 * and one byte derived from the tag in every 64-byte line of its first 4 KiB and in every
 * 4 KiB page after that (so the block is touched as a program that uses it would touch
 * it, without the benchmark being all memory traffic). Blocks under 16 bytes are filled
 * with the tag's bytes. */

static inline unsigned char line_byte(uint64_t tag, size_t i) {
  return (unsigned char)((tag >> 8) ^ (i >> 6) ^ 0x5a);
}

static inline size_t stamp_step(size_t i) {
  return i < 4096 ? 64 : 4096;
}

static inline void stamp(void *p, size_t n, uint64_t tag) {
  unsigned char *b = (unsigned char *)p;
  if (n < 16) {
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(tag >> (8 * (i & 7)));
    return;
  }
  uint64_t inv = ~tag;
  memcpy(b, &tag, 8);
  for (size_t i = 64; i < n - 8; i += stamp_step(i)) b[i] = line_byte(tag, i);
  memcpy(b + n - 8, &inv, 8);
}

/* Does the part of a stamp(p, n, tag) that lies below `limit` bytes still hold? (After a
 * realloc to a smaller size only that prefix survives.) */
static inline int stamp_ok_prefix(const void *p, size_t n, size_t limit, uint64_t tag) {
  const unsigned char *b = (const unsigned char *)p;
  if (limit > n) limit = n;
  if (n < 16) {
    for (size_t i = 0; i < limit; i++)
      if (b[i] != (unsigned char)(tag >> (8 * (i & 7)))) return 0;
    return 1;
  }
  for (size_t i = 0; i < 8 && i < limit; i++)
    if (b[i] != (unsigned char)(tag >> (8 * i))) return 0;
  for (size_t i = 64; i < n - 8 && i < limit; i += stamp_step(i))
    if (b[i] != line_byte(tag, i)) return 0;
  if (limit == n) {
    uint64_t inv;
    memcpy(&inv, b + n - 8, 8);
    if (inv != ~tag) return 0;
  }
  return 1;
}

static inline int stamp_ok(const void *p, size_t n, uint64_t tag) {
  return stamp_ok_prefix(p, n, n, tag);
}

/* Check the stamp, then free. */
static inline void check_free(void *p, size_t n, uint64_t tag) {
  if (!stamp_ok(p, n, tag)) corrupt("pattern changed before free", p, n);
  free(p);
}

/* ---- timing ---- */

static inline double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The shared object whose malloc this program calls (shows that LD_PRELOAD took). */
static inline const char *malloc_provider(void) {
  Dl_info info;
  void *(*fn)(size_t) = malloc;
  void *addr;
  memcpy(&addr, &fn, sizeof addr);
  if (dladdr(addr, &info) && info.dli_fname) {
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
  }
  return "?";
}

/* ---- command line ----
 * Options are "--name N" or "--name=N" with an optional k/m/g suffix (x1000); --quick
 * applies each option's quick value (options given explicitly override it); --help prints
 * the description and the options with their defaults. */

typedef struct {
  const char *name;
  long *value;    /* holds the default on entry */
  long quick;     /* value under --quick */
  long min, max;
  const char *help;
} opt_t;

static inline int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || errno) return 0;
  long mult = 1;
  if (*end == 'k' || *end == 'K') mult = 1000, end++;
  else if (*end == 'm' || *end == 'M') mult = 1000000, end++;
  else if (*end == 'g' || *end == 'G') mult = 1000000000, end++;
  if (*end) return 0;
  *out = v * mult;
  return 1;
}

static inline void parse_options(int argc, char **argv, const char *name, const char *about,
                          opt_t *opts, size_t nopts) {
  bench_name = name;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: %s [--quick] [OPTION N]...\n\n%s\n\noptions (default; under --quick):\n",
             name, about);
      for (size_t k = 0; k < nopts; k++)
        printf("  --%-14s %s (%ld; %ld)\n", opts[k].name, opts[k].help, *opts[k].value,
               opts[k].quick);
      printf("  --%-14s %s\n  --%-14s %s\n", "quick", "small sizes: well under a second",
             "help", "this text");
      printf("\nPrints one line of results; exits 2 if a block's contents were damaged.\n");
      exit(0);
    }
    if (!strcmp(argv[i], "--quick"))
      for (size_t k = 0; k < nopts; k++) *opts[k].value = opts[k].quick;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--quick")) continue;
    if (strncmp(a, "--", 2) != 0) goto bad;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    size_t k = 0;
    while (k < nopts && !(strlen(opts[k].name) == len && !strncmp(opts[k].name, a + 2, len))) k++;
    if (k == nopts) goto bad;
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    long v;
    if (!val || !parse_long(val, &v) || v < opts[k].min || v > opts[k].max) {
      fprintf(stderr, "%s: --%s wants a number from %ld to %ld\n", name, opts[k].name,
              opts[k].min, opts[k].max);
      exit(1);
    }
    *opts[k].value = v;
    continue;
  bad:
    fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", name, a);
    exit(1);
  }
}

#endif
