/* threads.c — threads allocating and freeing in a persistent heap while it is committed.
 *
 * W worker threads each own an array of slots holding blocks, and pass blocks to the next
 * worker through a single-producer single-consumer ring, which frees them: every block
 * that crosses a ring is freed by a thread other than the one that allocated it. The
 * main thread commits with palloc_heap_commit() every --commit-ms milliseconds.
 *
 * The commit barrier keeps threads out of the allocator during a commit, not out of
 * the program's own data (palloc.h: the image is consistent only if no other thread
 * writes meanwhile). So the workers publish and unpublish blocks in short critical
 * sections under a reader-writer lock whose write side the main thread holds across
 * palloc_heap_commit(); allocating, filling, checking and freeing happen outside it, so
 * commits keep meeting threads inside malloc, free and realloc. A block is written
 * before it is published and unpublished before it is freed: a commit can only catch a
 * block allocated and not yet published (or unpublished and not yet freed), a leak of
 * at most a couple of blocks per thread per run, never a dangling or torn one.
 *
 * Each run:
 *   1. resume: every published block is checked (header, checksum, fill bytes, usable
 *      size, inside the arena, never published twice), palloc_heap_validate() must
 *      succeed and count at least those blocks; then all of them are freed;
 *   2. baseline: commit, then print the live block count and the arena size;
 *   3. a fixed workload (--ops per worker), checked and drained the same way, then
 *      `workload` with the live count and the arena size again;
 *   4. with --forever, workers run (and are replaced now and then) until the process is
 *      killed; with --exit-after-ms it stops them, checks, and returns normally.
 *
 * Options: --threads W (4), --ops N (100000 per worker), --commit-ms T (3), --forever,
 * --exit-after-ms T, --lenient-count (see validate_now).
 */
#define _GNU_SOURCE
#include "alloc_test.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define ROOT_MAGIC 0x73646165726874ull
#define BLOCK_MAGIC 0x6b636f6c62ull
#define MAX_WORKERS 16
#define SLOTS 1024
#define RING 256

struct block {
  uint64_t magic;
  uint64_t size; /* bytes requested, header included */
  uint64_t seq;  /* unique: worker << 48 | counter */
  uint64_t check;
  /* fill bytes follow */
};

struct ring {
  _Atomic uint64_t head; /* consumer */
  _Atomic uint64_t tail; /* producer */
  _Atomic(struct block *) buf[RING];
};

struct worker_state {
  _Atomic(struct block *) slot[SLOTS];
  uint64_t counter; /* next seq */
  uint64_t rng;
};

struct root {
  uint64_t magic;
  uint64_t workers;
  uint64_t runs;
  struct worker_state *ws[MAX_WORKERS];
  struct ring *rings[MAX_WORKERS]; /* ring i: from worker i to worker (i + 1) % workers */
};

static struct root *R;
static unsigned W;
static atomic_int stop_all;
static atomic_int stop_one[MAX_WORKERS];
static uint64_t ops_per_worker;
/* Not in the arena: a fresh lock in every run. */
static pthread_rwlock_t quiesce;

/* --- blocks ---------------------------------------------------------------------------- */

static uint64_t block_check(const struct block *b) {
  return at_hash_u64(at_hash_u64(at_hash_u64(AT_HASH_INIT, b->magic), b->size), b->seq);
}

static size_t pick_size(uint64_t *rng) {
  uint64_t r = at_next(rng);
  uint64_t k = r % 1000;
  size_t s;
  if (k < 900) s = 16 + (r >> 16) % 512;
  else if (k < 990) s = 512 + (r >> 16) % (16 << 10);
  else if (k < 999) s = (16 << 10) + (r >> 16) % (256 << 10);
  else s = (256 << 10) + (r >> 16) % (768 << 10);
  return s < sizeof(struct block) ? sizeof(struct block) : s;
}

static void block_init(struct block *b, size_t size, uint64_t seq) {
  b->magic = BLOCK_MAGIC;
  b->size = size;
  b->seq = seq;
  b->check = block_check(b);
  /* Large blocks: fill the first and last 4 KiB only, to keep the workload fast. */
  size_t body = size - sizeof *b;
  unsigned char *p = (unsigned char *)(b + 1);
  if (body <= 8192) {
    at_fill(p, body, seq);
  } else {
    at_fill(p, 4096, seq);
    at_fill(p + body - 4096, 4096, seq ^ 1);
  }
}

static void block_verify(const struct block *b, const char *where) {
  AT_CHECK(at_in_arena(b), "%s: block %p outside the arena", where, (const void *)b);
  AT_CHECK(b->magic == BLOCK_MAGIC && b->check == block_check(b),
           "%s: block %p has a bad header (magic %#" PRIx64 ")", where, (const void *)b, b->magic);
  AT_CHECK(malloc_usable_size((void *)b) >= b->size, "%s: usable size %zu < %" PRIu64, where,
           malloc_usable_size((void *)b), b->size);
  size_t body = b->size - sizeof *b;
  const unsigned char *p = (const unsigned char *)(b + 1);
  int ok = body <= 8192 ? at_check_fill(p, body, b->seq)
                        : at_check_fill(p, 4096, b->seq) && at_check_fill(p + body - 4096, 4096, b->seq ^ 1);
  AT_CHECK(ok, "%s: block %p (seq %#" PRIx64 ", %" PRIu64 " bytes) has damaged contents", where,
           (const void *)b, b->seq, b->size);
}

static struct block *block_new(struct worker_state *ws, unsigned id) {
  size_t size = pick_size(&ws->rng);
  uint64_t how = at_next(&ws->rng) % 16;
  struct block *b;
  if (how == 0) {
    b = calloc(1, size);
    if (b) {
      const unsigned char *p = (const unsigned char *)b;
      for (size_t i = 0; i < size; i += 64) AT_CHECK(p[i] == 0, "calloc returned non-zero memory");
    }
  } else if (how == 1) {
    size_t al = (size_t)64 << (at_next(&ws->rng) % 7); /* 64 .. 4096 */
    b = aligned_alloc(al, (size + al - 1) / al * al);
    AT_CHECK(b == NULL || ((uintptr_t)b & (al - 1)) == 0, "aligned_alloc(%zu) misaligned", al);
  } else if (how == 2) {
    b = palloc_malloc(size);
  } else {
    b = malloc(size);
  }
  AT_CHECK(b != NULL, "allocating %zu bytes failed", size);
  block_init(b, size, ((uint64_t)id << 48) | ws->counter++);
  return b;
}

/* --- workers --------------------------------------------------------------------------- */

static void block_free(struct block *b, const char *where) {
  block_verify(b, where);
  b->magic = 0;
  if (b->seq & 1) palloc_free(b);
  else free(b);
}

/* Structure updates happen under `quiesce` (read side); the main thread holds its write
 * side across palloc_heap_commit(). Allocating, filling, verifying and freeing happen
 * outside it, so commits still meet threads inside malloc and free. */
static void publish(_Atomic(struct block *) *where, struct block *b) {
  pthread_rwlock_rdlock(&quiesce);
  atomic_store_explicit(where, b, memory_order_release);
  pthread_rwlock_unlock(&quiesce);
}

static struct block *unpublish(_Atomic(struct block *) *where) {
  pthread_rwlock_rdlock(&quiesce);
  struct block *b = atomic_exchange_explicit(where, NULL, memory_order_acq_rel);
  pthread_rwlock_unlock(&quiesce);
  return b;
}

static void work_one(unsigned id) {
  struct worker_state *ws = R->ws[id];
  struct ring *out = R->rings[id];
  struct ring *in = R->rings[(id + W - 1) % W];
  uint64_t r = at_next(&ws->rng) % 100;
  if (r < 40) { /* allocate into a slot, freeing what was there */
    unsigned s = (unsigned)(at_next(&ws->rng) % SLOTS);
    struct block *old = unpublish(&ws->slot[s]);
    if (old) block_free(old, "own slot");
    struct block *b = block_new(ws, id);
    publish(&ws->slot[s], b);
  } else if (r < 65) { /* pass a block to the next worker */
    unsigned s = (unsigned)(at_next(&ws->rng) % SLOTS);
    pthread_rwlock_rdlock(&quiesce);
    uint64_t tail = atomic_load_explicit(&out->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&out->head, memory_order_acquire);
    struct block *b = NULL;
    if (tail - head < RING) b = atomic_exchange_explicit(&ws->slot[s], NULL, memory_order_acq_rel);
    if (b) {
      atomic_store_explicit(&out->buf[tail % RING], b, memory_order_release);
      atomic_store_explicit(&out->tail, tail + 1, memory_order_release);
    }
    pthread_rwlock_unlock(&quiesce);
  } else if (r < 90) { /* free a block another worker allocated */
    pthread_rwlock_rdlock(&quiesce);
    uint64_t head = atomic_load_explicit(&in->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&in->tail, memory_order_acquire);
    struct block *b = NULL;
    if (head != tail) {
      b = atomic_load_explicit(&in->buf[head % RING], memory_order_acquire);
      atomic_store_explicit(&in->buf[head % RING], NULL, memory_order_relaxed);
      atomic_store_explicit(&in->head, head + 1, memory_order_release);
    }
    pthread_rwlock_unlock(&quiesce);
    if (b) block_free(b, "ring");
  } else { /* resize a block with realloc */
    unsigned s = (unsigned)(at_next(&ws->rng) % SLOTS);
    struct block *b = unpublish(&ws->slot[s]);
    if (!b) return;
    block_verify(b, "realloc");
    size_t size = pick_size(&ws->rng);
    size_t keep = size < b->size ? size : b->size;
    uint64_t seq = b->seq;
    struct block *nb = (at_next(&ws->rng) & 1) ? realloc(b, size) : palloc_realloc(b, size);
    AT_CHECK(nb != NULL, "realloc to %zu failed", size);
    /* The kept prefix survived the move; rewrite the header and fill for the new size. */
    if (keep > sizeof *nb + 64) {
      const unsigned char *p = (const unsigned char *)(nb + 1);
      AT_CHECK(at_check_fill(p, 64, seq), "realloc lost the block's contents");
    }
    block_init(nb, size, ((uint64_t)id << 48) | ws->counter++);
    publish(&ws->slot[s], nb);
  }
}

static void *worker_main(void *arg) {
  unsigned id = (unsigned)(uintptr_t)arg;
  for (uint64_t n = 0; !atomic_load(&stop_all) && !atomic_load(&stop_one[id]); n++) {
    if (ops_per_worker && n >= ops_per_worker) break;
    work_one(id);
  }
  return NULL;
}

/* --- checking and draining ------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Verifies every published block; returns how many there are (and their usable bytes). */
static uint64_t check_all(uint64_t *usable) {
  uint64_t n = 0, cap = (uint64_t)W * (SLOTS + RING);
  uintptr_t *all = malloc(cap * sizeof *all);
  AT_CHECK(all != NULL, "malloc failed");
  *usable = 0;
  for (unsigned i = 0; i < W; i++) {
    struct worker_state *ws = R->ws[i];
    AT_CHECK(at_in_arena(ws) && at_in_arena(R->rings[i]), "worker %u state outside the arena", i);
    for (unsigned s = 0; s < SLOTS; s++) {
      struct block *b = atomic_load(&ws->slot[s]);
      if (!b) continue;
      block_verify(b, "slot");
      all[n++] = (uintptr_t)b;
      *usable += malloc_usable_size(b);
    }
    struct ring *rg = R->rings[i];
    uint64_t head = atomic_load(&rg->head), tail = atomic_load(&rg->tail);
    AT_CHECK(head <= tail && tail - head <= RING, "ring %u: head %" PRIu64 ", tail %" PRIu64, i, head,
             tail);
    for (uint64_t k = head; k < tail; k++) {
      struct block *b = atomic_load(&rg->buf[k % RING]);
      AT_CHECK(b != NULL, "ring %u: empty published entry", i);
      block_verify(b, "ring");
      all[n++] = (uintptr_t)b;
      *usable += malloc_usable_size(b);
    }
  }
  qsort(all, n, sizeof *all, cmp_ptr);
  for (uint64_t k = 1; k < n; k++) AT_CHECK(all[k] != all[k - 1], "block %#lx published twice", (unsigned long)all[k]);
  free(all);
  return n;
}

static void drain_all(void) {
  for (unsigned i = 0; i < W; i++) {
    struct worker_state *ws = R->ws[i];
    for (unsigned s = 0; s < SLOTS; s++) {
      struct block *b = atomic_exchange(&ws->slot[s], NULL);
      if (b) block_free(b, "drain");
    }
    struct ring *rg = R->rings[i];
    uint64_t head = atomic_load(&rg->head), tail = atomic_load(&rg->tail);
    for (; head < tail; head++) {
      struct block *b = atomic_exchange(&rg->buf[head % RING], NULL);
      atomic_store(&rg->head, head + 1);
      block_free(b, "drain ring");
    }
  }
}

static int64_t commit_now(void) {
  pthread_rwlock_wrlock(&quiesce);
  int64_t e = palloc_heap_commit();
  pthread_rwlock_unlock(&quiesce);
  AT_CHECK(e > 0, "palloc_heap_commit() = %" PRId64 ": %s", e, palloc_last_error());
  return e;
}

/* palloc_heap_validate() walks every block of the heap: it must succeed and count at
 * least the blocks the program holds (also those allocated by threads that have ended).
 * --lenient-count reports a short count on stderr instead of failing. */
static int lenient_count;

static int64_t validate_now(const char *when, uint64_t at_least) {
  int64_t live = palloc_heap_validate();
  AT_CHECK(live >= 0, "%s: palloc_heap_validate() = %" PRId64 ": %s", when, live, palloc_last_error());
  if ((uint64_t)live < at_least && lenient_count)
    fprintf(stderr, "note: %s: palloc_heap_validate() = %" PRId64 " < %" PRIu64 " blocks held\n", when,
            live, at_least);
  else
    AT_CHECK((uint64_t)live >= at_least, "%s: palloc_heap_validate() = %" PRId64 " < %" PRIu64
             " blocks the program holds", when, live, at_least);
  return live;
}

/* Runs the workers while committing; until they finish (ops) or are stopped. */
static uint64_t run_workers(double commit_ms, double max_ms, int replace) {
  pthread_t t[MAX_WORKERS];
  int joined[MAX_WORKERS] = {0};
  for (unsigned i = 0; i < W; i++) {
    atomic_store(&stop_one[i], 0);
    AT_CHECK(pthread_create(&t[i], NULL, worker_main, (void *)(uintptr_t)i) == 0, "pthread_create");
  }
  uint64_t commits = 0;
  double t0 = at_now_ms();
  uint64_t rng = (uint64_t)getpid();
  for (;;) {
    at_sleep_ms(commit_ms);
    int64_t e = commit_now();
    commits++;
    if (commits % 20 == 0) at_say("commit epoch=%" PRId64, e);
    if (max_ms > 0 && at_now_ms() - t0 >= max_ms) break;
    if (ops_per_worker) {
      /* Finished when every worker has joined. */
      int running = 0;
      for (unsigned i = 0; i < W; i++) {
        if (joined[i]) continue;
        if (pthread_tryjoin_np(t[i], NULL) == 0) joined[i] = 1;
        else running = 1;
      }
      if (!running) return commits;
      continue;
    }
    if (replace && commits % 8 == 0) { /* a worker ends and a new thread takes its place */
      unsigned i = (unsigned)(at_next(&rng) % W);
      atomic_store(&stop_one[i], 1);
      pthread_join(t[i], NULL);
      atomic_store(&stop_one[i], 0);
      AT_CHECK(pthread_create(&t[i], NULL, worker_main, (void *)(uintptr_t)i) == 0, "pthread_create");
    }
  }
  atomic_store(&stop_all, 1);
  for (unsigned i = 0; i < W; i++) pthread_join(t[i], NULL);
  atomic_store(&stop_all, 0);
  return commits;
}

int main(int argc, char **argv) {
  W = (unsigned)at_opt_u64(argc, argv, "--threads", 4);
  uint64_t ops = at_opt_u64(argc, argv, "--ops", 100000);
  double commit_ms = (double)at_opt_u64(argc, argv, "--commit-ms", 3);
  int forever = at_flag(argc, argv, "--forever");
  double exit_after = (double)at_opt_u64(argc, argv, "--exit-after-ms", 0);
  lenient_count = at_flag(argc, argv, "--lenient-count");
  AT_CHECK(W >= 2 && W <= MAX_WORKERS, "--threads must be 2..%d", MAX_WORKERS);

  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&quiesce, &ra);

  palloc_arena *arena = palloc_heap_arena();
  AT_CHECK(arena != NULL, "not a persistent process (run it under `palloc run`)");
  at_say("start pid=%d resumed=%d", (int)getpid(), palloc_heap_resumed());

  R = (struct root *)(uintptr_t)palloc_root_get(arena, 0);
  if (R) {
    AT_CHECK(at_in_arena(R) && R->magic == ROOT_MAGIC, "root damaged");
    AT_CHECK(R->workers == W, "the arena was made with %" PRIu64 " workers, not %u", R->workers, W);
    uint64_t usable;
    uint64_t n = check_all(&usable);
    int64_t live = validate_now("after resuming", n);
    at_say("resume blocks=%" PRIu64 " usable=%" PRIu64 " live=%" PRId64 " runs=%" PRIu64
           " epoch=%" PRIu64, n, usable, live, R->runs, palloc_epoch(arena));
    drain_all();
  } else {
    R = calloc(1, sizeof *R);
    AT_CHECK(R != NULL, "calloc failed");
    R->magic = ROOT_MAGIC;
    R->workers = W;
    for (unsigned i = 0; i < W; i++) {
      R->ws[i] = calloc(1, sizeof *R->ws[i]);
      R->rings[i] = calloc(1, sizeof *R->rings[i]);
      AT_CHECK(R->ws[i] && R->rings[i], "calloc failed");
      R->ws[i]->rng = at_mix(i + 1);
    }
    AT_CHECK(palloc_root_set(arena, 0, (uint64_t)(uintptr_t)R) == PALLOC_OK, "root_set");
    at_say("fresh workers=%u", W);
  }
  R->runs++;
  for (unsigned i = 0; i < W; i++) R->ws[i]->rng ^= at_mix(R->runs); /* a new sequence each run */
  commit_now();
  int64_t base_live = validate_now("baseline", 0);
  at_say("baseline live=%" PRId64 " size=%zu", base_live, palloc_size(arena));

  /* The fixed workload. */
  ops_per_worker = ops;
  uint64_t commits = run_workers(commit_ms, 0, 0);
  uint64_t usable;
  uint64_t n = check_all(&usable);
  validate_now("after the workload", n);
  drain_all();
  commit_now();
  int64_t live = validate_now("after draining", 0);
  at_say("workload live=%" PRId64 " size=%zu held=%" PRIu64 " usable=%" PRIu64 " commits=%" PRIu64,
         live, palloc_size(arena), n, usable, commits);

  if (!forever && exit_after <= 0) return 0;
  ops_per_worker = 0;
  commits = run_workers(commit_ms, exit_after, 1);
  n = check_all(&usable);
  live = validate_now("at the end", n);
  at_say("end blocks=%" PRIu64 " live=%" PRId64 " commits=%" PRIu64, n, live, commits);
  return 0;
}
