/* alloc-cache-scratch: passive false sharing, in the style of Hoard's cache-scratch.
 *
 * The main thread allocates one small object per thread, back to back, and gives one to
 * each thread. Each thread frees the object it was given, then repeatedly allocates a
 * small object, writes to it many times, checks it and frees it. An allocator that hands
 * a thread the memory another thread's object sits next to (the freed neighbour in the
 * same cache line) makes the threads' writes fight over one cache line; a good allocator
 * gives each thread memory of its own. Reports the elapsed time. */
#include "alloc_common.h"

#include <pthread.h>

static long threads = 2, iterations = 1000, obj_size = 8, writes = 60000, seed = 1;

typedef struct {
  long id;
  unsigned char *given; /* allocated by the main thread */
  uint64_t given_tag;
} arg_t;

static void *worker(void *argp) {
  arg_t *a = (arg_t *)argp;
  check_free(a->given, (size_t)obj_size, a->given_tag);
  for (long it = 0; it < iterations; it++) {
    volatile unsigned char *p = must_malloc((size_t)obj_size);
    unsigned char start = (unsigned char)(a->id * 31 + it);
    for (long j = 0; j < obj_size; j++) p[j] = start;
    for (long w = 0; w < writes; w++)
      for (long j = 0; j < obj_size; j++) p[j]++;
    unsigned char want = (unsigned char)(start + (unsigned char)writes);
    for (long j = 0; j < obj_size; j++)
      if (p[j] != want) corrupt("object changed while its thread wrote it", (void *)p, (size_t)obj_size);
    free((void *)p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"threads", &threads, 2, 1, 1024, "threads"},
    {"iterations", &iterations, 100, 1, 1L << 40, "objects each thread allocates and frees"},
    {"size", &obj_size, 8, 1, 1 << 20, "object size in bytes"},
    {"writes", &writes, 50000, 1, 1L << 40, "times each byte of an object is written"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed (for the given objects' patterns)"},
  };
  parse_options(argc, argv, "alloc-cache-scratch",
                "cache-scratch false-sharing test: each thread frees an object the main thread\n"
                "allocated next to the others', then allocates, writes and frees small objects.",
                opts, sizeof opts / sizeof opts[0]);

  arg_t *args = must_calloc((size_t)threads, sizeof(arg_t));
  pthread_t *pt = must_malloc((size_t)threads * sizeof(pthread_t));
  for (long t = 0; t < threads; t++) {
    args[t].id = t;
    args[t].given_tag = mix64((uint64_t)seed * 131 + (uint64_t)t);
    args[t].given = must_malloc((size_t)obj_size);
    stamp(args[t].given, (size_t)obj_size, args[t].given_tag);
  }
  double t0 = now_sec();
  for (long t = 0; t < threads; t++)
    if (pthread_create(&pt[t], NULL, worker, &args[t])) die("pthread_create failed");
  for (long t = 0; t < threads; t++) pthread_join(pt[t], NULL);
  double elapsed = now_sec() - t0;
  free(pt);
  free(args);
  printf("alloc-cache-scratch: threads=%ld iterations=%ld size=%ld writes=%ld time=%.3f s "
         "malloc=%s\n",
         threads, iterations, obj_size, writes, elapsed, malloc_provider());
  return 0;
}
