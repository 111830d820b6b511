/* alloc-realloc: buffers grown with realloc.
 *
 * Many buffers grow at once, interleaved, so that the one being grown usually has a
 * neighbour in the way: half are "vectors" grown by a small increment (8-64 bytes) on
 * every append, as naive code and many string builders do; half are "strings" whose
 * capacity doubles when full, as most dynamic arrays do. Every byte appended is written
 * with a value derived from its buffer and position and the whole buffer is checked at
 * the end, so a realloc that loses or mixes up data fails. Reports reallocs per second. */
#include "alloc_common.h"

typedef struct {
  unsigned char *p;
  size_t len, cap, target;
  int doubling;
} buf_t;

static long n_bufs = 1000, rounds = 3, max_vector = 16384, max_string = 1 << 20, seed = 1;
static long reallocs;

static inline unsigned char byte_at(size_t id, size_t pos) {
  return (unsigned char)(id * 131 + pos * 7 + (pos >> 9));
}

static void append(buf_t *b, size_t id, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->doubling ? (b->cap ? b->cap * 2 : 16) : b->len + n;
    while (cap < b->len + n) cap *= 2;
    /* The last byte written must survive the move. */
    if (b->len && b->p[b->len - 1] != byte_at(id, b->len - 1)) corrupt("buffer changed", b->p, b->len);
    b->p = must_realloc(b->p, cap);
    if (b->len && b->p[b->len - 1] != byte_at(id, b->len - 1)) corrupt("realloc lost data", b->p, b->len);
    b->cap = cap;
    reallocs++;
  }
  for (size_t i = 0; i < n; i++) b->p[b->len + i] = byte_at(id, b->len + i);
  b->len += n;
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"buffers", &n_bufs, 200, 2, 1L << 30, "buffers growing at once"},
    {"rounds", &rounds, 1, 1, 1L << 30, "times all buffers are grown and freed"},
    {"max-vector", &max_vector, 16384, 64, 1L << 30, "largest final size of a vector"},
    {"max-string", &max_string, 262144, 64, 1L << 34, "largest final size of a string"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed"},
  };
  parse_options(argc, argv, "alloc-realloc",
                "realloc growth: vectors grown by small increments and strings grown by\n"
                "doubling, interleaved, checked at the end.",
                opts, sizeof opts / sizeof opts[0]);
  rng_t rng = rng_seed((uint64_t)seed);
  buf_t *bufs = must_calloc((size_t)n_bufs, sizeof(buf_t));
  size_t bytes = 0;
  double t0 = now_sec();
  for (long r = 0; r < rounds; r++) {
    for (long i = 0; i < n_bufs; i++) {
      buf_t *b = &bufs[i];
      b->doubling = (int)(i & 1);
      /* Final sizes spread over orders of magnitude: the size drawn is the smallest of
         three uniform draws. */
      size_t max = (size_t)(b->doubling ? max_string : max_vector), t = max;
      for (int k = 0; k < 3; k++) {
        size_t d = rng_range(&rng, 64, max);
        if (d < t) t = d;
      }
      b->target = t;
    }
    size_t active = (size_t)n_bufs;
    while (active > 0) {
      active = 0;
      for (long i = 0; i < n_bufs; i++) {
        buf_t *b = &bufs[i];
        if (b->len >= b->target) continue;
        size_t n = rng_range(&rng, 8, 64);
        if (n > b->target - b->len) n = b->target - b->len;
        append(b, (size_t)i, n);
        active++;
      }
    }
    for (long i = 0; i < n_bufs; i++) {
      buf_t *b = &bufs[i];
      for (size_t k = 0; k < b->len; k++)
        if (b->p[k] != byte_at((size_t)i, k)) corrupt("buffer contents changed", b->p, b->len);
      bytes += b->len;
      free(b->p);
      memset(b, 0, sizeof *b);
    }
  }
  double elapsed = now_sec() - t0;
  free(bufs);
  printf("alloc-realloc: buffers=%ld rounds=%ld bytes=%zu reallocs=%ld time=%.3f s "
         "throughput=%.2f Mreallocs/s malloc=%s\n",
         n_bufs, rounds, bytes, reallocs, elapsed, (double)reallocs / elapsed / 1e6,
         malloc_provider());
  return 0;
}
