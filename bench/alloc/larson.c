/* alloc-larson: a server simulation in the style of Larson and Krishnan's benchmark.
 *
 * Each of T threads owns a pool of slots holding blocks of 16-1000 bytes. A thread
 * repeatedly frees the block in a random slot and puts a new block of random size there.
 * After a round of operations it starts a new thread, hands it its pool and exits, as a
 * server hands a connection's data to the next worker: most blocks are freed by a
 * different thread than the one that allocated them, and threads come and go while their
 * blocks live on. Reports operations (one free + one malloc) per second. */
#include "alloc_common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
  void *p;
  uint32_t size;
  uint64_t tag;
} slot_t;

typedef struct {
  long rounds_left;
  rng_t rng;
  slot_t *slots;
  uint64_t next_tag;
} pool_t;

static long n_slots = 1000, min_size = 16, max_size = 1000, ops_per_round = 200000,
            rounds = 80, threads = 2, seed = 1;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long chains_done;
static atomic_long threads_started;

static void new_block(pool_t *pl, slot_t *s) {
  s->size = (uint32_t)rng_range(&pl->rng, (size_t)min_size, (size_t)max_size);
  s->tag = mix64(pl->next_tag++);
  s->p = must_malloc(s->size);
  stamp(s->p, s->size, s->tag);
}

static void start_thread(pool_t *pl);

static void *worker(void *arg) {
  pool_t *pl = (pool_t *)arg;
  for (long i = 0; i < ops_per_round; i++) {
    slot_t *s = &pl->slots[rng_below(&pl->rng, (uint64_t)n_slots)];
    check_free(s->p, s->size, s->tag);
    new_block(pl, s);
  }
  if (--pl->rounds_left > 0) {
    start_thread(pl); /* the pool, and every block in it, moves to a new thread */
  } else {
    pthread_mutex_lock(&done_lock);
    chains_done++;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
  }
  return NULL;
}

static void start_thread(pool_t *pl) {
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, worker, pl) != 0) die("pthread_create failed");
  pthread_attr_destroy(&attr);
  atomic_fetch_add(&threads_started, 1);
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"threads", &threads, 2, 1, 1024, "threads running at once"},
    {"slots", &n_slots, 1000, 1, 10000000, "blocks in each thread's pool"},
    {"min", &min_size, 16, 1, 1 << 24, "smallest block size"},
    {"max", &max_size, 1000, 1, 1 << 24, "largest block size"},
    {"ops", &ops_per_round, 20000, 1, 1L << 40, "free+malloc pairs before a thread hands its pool on"},
    {"rounds", &rounds, 5, 1, 1000000, "threads each pool passes through"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed"},
  };
  parse_options(argc, argv, "alloc-larson",
                "Larson-style server simulation: threads free and allocate random-size\n"
                "blocks in their pools and hand the pools to new threads.",
                opts, sizeof opts / sizeof opts[0]);
  if (min_size > max_size) die("--min is larger than --max");

  /* The main thread fills every pool, so even the first round frees foreign blocks. */
  pool_t *pools = must_calloc((size_t)threads, sizeof(pool_t));
  for (long t = 0; t < threads; t++) {
    pool_t *pl = &pools[t];
    pl->rounds_left = rounds;
    pl->rng = rng_seed((uint64_t)seed * 1000003u + (uint64_t)t);
    pl->next_tag = (uint64_t)t << 48;
    pl->slots = must_malloc((size_t)n_slots * sizeof(slot_t));
    for (long i = 0; i < n_slots; i++) new_block(pl, &pl->slots[i]);
  }

  double t0 = now_sec();
  for (long t = 0; t < threads; t++) start_thread(&pools[t]);
  pthread_mutex_lock(&done_lock);
  while (chains_done < threads) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
  double elapsed = now_sec() - t0;

  for (long t = 0; t < threads; t++) {
    for (long i = 0; i < n_slots; i++)
      check_free(pools[t].slots[i].p, pools[t].slots[i].size, pools[t].slots[i].tag);
    free(pools[t].slots);
  }
  free(pools);

  double ops = (double)threads * (double)rounds * (double)ops_per_round;
  printf("alloc-larson: threads=%ld slots=%ld sizes=%ld-%ld ops=%.0f threads_started=%ld "
         "time=%.3f s throughput=%.2f Mops/s malloc=%s\n",
         threads, n_slots, min_size, max_size, ops, (long)atomic_load(&threads_started),
         elapsed, ops / elapsed / 1e6, malloc_provider());
  return 0;
}
