/* alloc_test.h — small helpers shared by the allocator test programs.
 *
 * The programs are ordinary C programs that use malloc and free; they link the `palloc`
 * library (which replaces malloc, exactly as preloading it does) for the palloc_heap_*
 * calls, and run under `palloc run` or with PALLOC_ARENA set. Everything they print on
 * stdout is one line per event, `word key=value ...`, flushed at once: test_alloc.py
 * reads it, kills the program at random moments and checks what the next run resumes. */
#ifndef PALLOC_ALLOC_TEST_H
#define PALLOC_ALLOC_TEST_H

#include <palloc.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A failed check: the driver looks for "FAIL" on stderr and exit status 2. */
static inline void at_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void at_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stdout);
  fflush(stderr);
  _Exit(2);
}

#define AT_CHECK(cond, ...)                                                       \
  do {                                                                            \
    if (!(cond)) at_fail(__VA_ARGS__);                                            \
  } while (0)

/* One event line on stdout, flushed before returning. */
static inline void at_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void at_say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

/* splitmix64: the programs' only source of randomness, so every run is reproducible from
 * the seed and the state stored in the arena. */
static inline uint64_t at_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static inline uint64_t at_next(uint64_t *state) {
  *state += 0x9e3779b97f4a7c15ull;
  uint64_t x = *state;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* FNV-1a over bytes, continued from h. */
static inline uint64_t at_hash(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = (const unsigned char *)data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
#define AT_HASH_INIT 1469598103934665603ull

static inline uint64_t at_hash_u64(uint64_t h, uint64_t v) { return at_hash(h, &v, sizeof v); }

/* Fills n bytes deterministically from a key; at_check_fill tells whether they match. */
static inline void at_fill(void *dst, size_t n, uint64_t key) {
  unsigned char *p = (unsigned char *)dst;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = at_mix(key + i);
    memcpy(p + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = at_mix(key + i);
    memcpy(p + i, &w, n - i);
  }
}

static inline int at_check_fill(const void *src, size_t n, uint64_t key) {
  const unsigned char *p = (const unsigned char *)src;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = at_mix(key + i);
    if (memcmp(p + i, &w, 8) != 0) return 0;
  }
  if (i < n) {
    uint64_t w = at_mix(key + i);
    if (memcmp(p + i, &w, n - i) != 0) return 0;
  }
  return 1;
}

static inline double at_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void at_sleep_ms(double ms) {
  struct timespec t;
  t.tv_sec = (time_t)(ms / 1000);
  t.tv_nsec = (long)((ms - (double)t.tv_sec * 1000) * 1e6);
  while (nanosleep(&t, &t) != 0) {
  }
}

/* Whether p lies inside the persistent arena (always false in transient mode). */
static inline int at_in_arena(const void *p) {
  palloc_arena *a = palloc_heap_arena();
  if (!a) return 0;
  uintptr_t b = (uintptr_t)palloc_base(a);
  return (uintptr_t)p >= b && (uintptr_t)p < b + palloc_size(a);
}

/* Parses "--name value" options: returns the value of --name or def. */
static inline const char *at_opt(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

static inline uint64_t at_opt_u64(int argc, char **argv, const char *name, uint64_t def) {
  const char *v = at_opt(argc, argv, name, NULL);
  return v ? strtoull(v, NULL, 0) : def;
}

static inline int at_flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

#endif
