/* alloc-xmalloc: producer/consumer allocation in the style of xmalloc-test.
 *
 * Producer threads allocate blocks of random size and pass them, a batch at a time,
 * through a bounded queue to consumer threads, which check and free them. Every block is
 * freed by a thread other than the one that allocated it, which is the pattern of a
 * pipeline or a message-passing server, and is hard on allocators whose free lists are
 * per thread. Reports blocks per second. */
#include "alloc_common.h"

#include <pthread.h>

typedef struct {
  int n;
  void **p;
  uint32_t *size;
  uint64_t *tag;
} batch_t;

static long producers = 2, consumers = 2, blocks = 10000000, batch_len = 100, min_size = 8,
            max_size = 512, queue_cap = 64, seed = 1;

/* A ring of batch pointers; NULL tells a consumer to stop. */
static batch_t **queue;
static long q_head, q_count;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;

static void push(batch_t *b) {
  pthread_mutex_lock(&q_lock);
  while (q_count == queue_cap) pthread_cond_wait(&q_not_full, &q_lock);
  queue[(q_head + q_count) % queue_cap] = b;
  q_count++;
  pthread_cond_signal(&q_not_empty);
  pthread_mutex_unlock(&q_lock);
}

static batch_t *pop(void) {
  pthread_mutex_lock(&q_lock);
  while (q_count == 0) pthread_cond_wait(&q_not_empty, &q_lock);
  batch_t *b = queue[q_head];
  q_head = (q_head + 1) % queue_cap;
  q_count--;
  pthread_cond_signal(&q_not_full);
  pthread_mutex_unlock(&q_lock);
  return b;
}

static void *producer(void *arg) {
  long id = (long)arg;
  rng_t rng = rng_seed((uint64_t)seed * 7919u + (uint64_t)id);
  uint64_t next_tag = (uint64_t)id << 48;
  long mine = blocks / producers + (id < blocks % producers);
  while (mine > 0) {
    int n = (int)(mine < batch_len ? mine : batch_len);
    /* The batch and its arrays are themselves allocated here and freed by a consumer. */
    batch_t *b = must_malloc(sizeof *b);
    b->n = n;
    b->p = must_malloc((size_t)n * sizeof(void *));
    b->size = must_malloc((size_t)n * sizeof(uint32_t));
    b->tag = must_malloc((size_t)n * sizeof(uint64_t));
    for (int i = 0; i < n; i++) {
      /* Mostly small blocks: the size is the smaller of two uniform draws. */
      size_t s1 = rng_range(&rng, (size_t)min_size, (size_t)max_size);
      size_t s2 = rng_range(&rng, (size_t)min_size, (size_t)max_size);
      b->size[i] = (uint32_t)(s1 < s2 ? s1 : s2);
      b->tag[i] = mix64(next_tag++);
      b->p[i] = must_malloc(b->size[i]);
      stamp(b->p[i], b->size[i], b->tag[i]);
    }
    push(b);
    mine -= n;
  }
  return NULL;
}

static void *consumer(void *arg) {
  long n = 0;
  for (;;) {
    batch_t *b = pop();
    if (!b) {
      *(long *)arg = n;
      return NULL;
    }
    for (int i = 0; i < b->n; i++) check_free(b->p[i], b->size[i], b->tag[i]);
    n += b->n;
    free(b->p);
    free(b->size);
    free(b->tag);
    free(b);
  }
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"producers", &producers, 2, 1, 1024, "threads that allocate"},
    {"consumers", &consumers, 2, 1, 1024, "threads that free"},
    {"blocks", &blocks, 300000, 1, 1L << 40, "blocks allocated in all"},
    {"batch", &batch_len, 100, 1, 1000000, "blocks passed at a time"},
    {"queue", &queue_cap, 64, 1, 1000000, "batches in flight at most"},
    {"min", &min_size, 8, 1, 1 << 24, "smallest block size"},
    {"max", &max_size, 512, 1, 1 << 24, "largest block size"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed"},
  };
  parse_options(argc, argv, "alloc-xmalloc",
                "xmalloc-style producer/consumer test: producers malloc, consumers free,\n"
                "blocks pass between threads in batches through a bounded queue.",
                opts, sizeof opts / sizeof opts[0]);
  if (min_size > max_size) die("--min is larger than --max");

  queue = must_malloc((size_t)queue_cap * sizeof *queue);
  pthread_t *pt = must_malloc((size_t)(producers + consumers) * sizeof(pthread_t));
  long *freed = must_calloc((size_t)consumers, sizeof(long));

  double t0 = now_sec();
  for (long i = 0; i < consumers; i++)
    if (pthread_create(&pt[producers + i], NULL, consumer, &freed[i])) die("pthread_create failed");
  for (long i = 0; i < producers; i++)
    if (pthread_create(&pt[i], NULL, producer, (void *)i)) die("pthread_create failed");
  for (long i = 0; i < producers; i++) pthread_join(pt[i], NULL);
  for (long i = 0; i < consumers; i++) push(NULL);
  long total = 0;
  for (long i = 0; i < consumers; i++) {
    pthread_join(pt[producers + i], NULL);
    total += freed[i];
  }
  double elapsed = now_sec() - t0;
  if (total != blocks) die("consumers freed a different number of blocks than were made");

  free(freed);
  free(pt);
  free(queue);
  printf("alloc-xmalloc: producers=%ld consumers=%ld blocks=%ld batch=%ld sizes=%ld-%ld "
         "time=%.3f s throughput=%.2f Mblocks/s malloc=%s\n",
         producers, consumers, blocks, batch_len, min_size, max_size, elapsed,
         (double)blocks / elapsed / 1e6, malloc_provider());
  return 0;
}
