/* hashtable.c — a hash table of strings in a persistent heap, built with plain malloc.
 *
 * The table has chained buckets; each entry is a malloc'd struct with a malloc'd key
 * string and a malloc'd value, and a checksum over all of it. The root struct (slot 0)
 * holds the table and a *model*: the random generator's state, the operation counter,
 * the list of live ids and each id's version. Every operation is drawn from the
 * generator, so the live set after N operations is a function of the seed and N alone.
 *
 * Each run:
 *   - resumes: replays N operations from the seed into a private model and checks that
 *     the stored model, the table and every entry (key, value bytes, checksums, counts,
 *     usable sizes) match it exactly, and that palloc_heap_validate() counts at least
 *     the blocks the table holds;
 *   - or starts fresh (no root yet): builds an empty table and commits it;
 *   - then keeps inserting, updating (realloc) and deleting entries, committing with
 *     palloc_heap_commit() whenever the operation counter is a multiple of
 *     --commit-every, printing `commit epoch=E ops=N count=C digest=D` after each.
 *
 * Options:
 *   --seed S           seed of a fresh table (default 1)
 *   --commit-every K   operations between commits (default 4000; 0 = never commit)
 *   --ops N            stop after N more operations (0: just check; default: run until
 *                      killed)
 *   --end MODE         after --ops: `return` from main, `exit` (exit(0) from a helper),
 *                      or `hang` (print `final` and wait to be killed)
 *   --max-ms T         stop (as with --ops) after T milliseconds
 *   --heap-only        for background commits (`palloc run --commit-interval`), which
 *                      may catch the table between two updates: on resuming, check
 *                      only the heap (palloc_heap_validate) and start a new table
 *   --probe            print what the allocator says about this process and exit
 */
#define _GNU_SOURCE
#include "alloc_test.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROOT_MAGIC 0x6c6261746873616full /* "oashtabl" */
#define ENTRY_MAGIC 0x7972746e65687461ull

/* What the operation sequence alone determines. */
struct model {
  uint64_t rng;      /* generator state after `ops` operations */
  uint64_t ops;      /* operations done */
  uint64_t next_id;  /* ids 0..next_id-1 were inserted at some point */
  uint64_t count;    /* live entries */
  uint64_t *live;    /* the live ids, in the order the operations leave them */
  uint64_t live_cap;
  uint32_t *version; /* per id: how often its value was replaced */
  uint64_t ver_cap;
};

struct entry {
  struct entry *next;
  uint64_t magic;
  uint64_t id;
  uint32_t version;
  uint32_t klen;
  char *key;
  unsigned char *value;
  uint64_t vlen;
  uint64_t check;
};

struct root {
  uint64_t magic;
  uint64_t seed;
  uint64_t nbuckets;
  struct entry **buckets;
  uint64_t entries; /* entries in the table (must equal model.count) */
  uint64_t runs;    /* processes that worked on this table */
  uint64_t commits; /* commits made by the table's programs */
  struct model m;
  uint64_t check; /* over the fields above except m's arrays */
};

enum op { OP_INSERT, OP_DELETE, OP_UPDATE };

struct action {
  enum op op;
  uint64_t id;
  uint64_t index; /* position in live[] (delete) */
};

/* --- deterministic contents ------------------------------------------------------- */

static int small_values; /* --heap-only: values of at most 128 bytes */

static uint64_t value_len(uint64_t id, uint32_t version) {
  uint64_t h = at_mix(id * 1000003ull + version);
  if (small_values) return 1 + (h >> 20) % 128;
  uint64_t r = h % 10000;
  if (r < 8500) return 1 + (h >> 20) % 128;              /* small */
  if (r < 9800) return 129 + (h >> 20) % (8192 - 129);   /* medium */
  if (r < 9995) return 8192 + (h >> 20) % (200 << 10);   /* large */
  return (512 << 10) + (h >> 20) % (1536 << 10);         /* huge: 512 KiB .. 2 MiB */
}

static uint64_t value_key(uint64_t id, uint32_t version) { return at_mix(id ^ ((uint64_t)version << 40) ^ 0x5555); }

/* The key string of an id: "k<id>-" and a run of letters whose length depends on id. */
static size_t make_key(char *buf, size_t cap, uint64_t id) {
  int n = snprintf(buf, cap, "k%" PRIu64 "-", id);
  size_t extra = at_mix(id) % 48;
  for (size_t i = 0; i < extra && (size_t)n + 1 < cap; i++) buf[n++] = (char)('a' + (id + i) % 26);
  buf[n] = 0;
  return (size_t)n;
}

static uint64_t key_hash(const char *k, size_t n) { return at_hash(AT_HASH_INIT, k, n); }

static uint64_t entry_check(const struct entry *e) {
  uint64_t h = at_hash_u64(AT_HASH_INIT ^ e->magic, e->id);
  h = at_hash_u64(h, e->version);
  h = at_hash_u64(h, e->klen);
  h = at_hash_u64(h, e->vlen);
  h = at_hash(h, e->key, e->klen);
  h = at_hash(h, e->value, e->vlen < 256 ? e->vlen : 256);
  return h;
}

static uint64_t root_check(const struct root *r) {
  uint64_t h = AT_HASH_INIT;
  h = at_hash_u64(h, r->magic);
  h = at_hash_u64(h, r->seed);
  h = at_hash_u64(h, r->nbuckets);
  h = at_hash_u64(h, (uint64_t)(uintptr_t)r->buckets);
  h = at_hash_u64(h, r->entries);
  h = at_hash_u64(h, r->runs);
  h = at_hash_u64(h, r->commits);
  h = at_hash_u64(h, r->m.rng);
  h = at_hash_u64(h, r->m.ops);
  h = at_hash_u64(h, r->m.next_id);
  h = at_hash_u64(h, r->m.count);
  h = at_hash_u64(h, (uint64_t)(uintptr_t)r->m.live);
  h = at_hash_u64(h, r->m.live_cap);
  h = at_hash_u64(h, (uint64_t)(uintptr_t)r->m.version);
  h = at_hash_u64(h, r->m.ver_cap);
  return h;
}

/* A digest of the model: the live ids in order and their versions. */
static uint64_t model_digest(const struct model *m) {
  uint64_t h = at_hash_u64(AT_HASH_INIT, m->ops);
  h = at_hash_u64(h, m->next_id);
  for (uint64_t i = 0; i < m->count; i++) {
    h = at_hash_u64(h, m->live[i]);
    h = at_hash_u64(h, m->version[m->live[i]]);
  }
  return h;
}

/* --- the model: one operation --------------------------------------------------------- */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  AT_CHECK(q != NULL, "realloc(%zu) failed: %s", n, strerror(errno));
  return q;
}

/* Draws the next operation and applies it to the model (not to the table). */
static struct action model_step(struct model *m) {
  struct action a;
  uint64_t r = at_next(&m->rng) % 100;
  int ins, del;
  if (m->count < 1000) ins = 70, del = 15;
  else if (m->count > 6000) ins = 30, del = 55;
  else ins = 45, del = 40;
  if (m->count == 0 || r < (uint64_t)ins) a.op = OP_INSERT;
  else if (r < (uint64_t)(ins + del)) a.op = OP_DELETE;
  else a.op = OP_UPDATE;
  if (a.op == OP_INSERT) {
    a.id = m->next_id++;
    if (m->count == m->live_cap) {
      m->live_cap = m->live_cap ? m->live_cap * 2 : 64;
      m->live = xrealloc(m->live, m->live_cap * sizeof *m->live);
    }
    if (a.id >= m->ver_cap) {
      uint64_t cap = m->ver_cap ? m->ver_cap * 2 : 256;
      m->version = xrealloc(m->version, cap * sizeof *m->version);
      memset(m->version + m->ver_cap, 0, (cap - m->ver_cap) * sizeof *m->version);
      m->ver_cap = cap;
    }
    a.index = m->count;
    m->live[m->count++] = a.id;
  } else {
    a.index = at_next(&m->rng) % m->count;
    a.id = m->live[a.index];
    if (a.op == OP_DELETE) {
      m->live[a.index] = m->live[--m->count];
    } else {
      m->version[a.id]++;
    }
  }
  m->ops++;
  return a;
}

/* --- the table ------------------------------------------------------------------------ */

static struct entry **bucket_of(struct root *r, const char *key, size_t klen) {
  return &r->buckets[key_hash(key, klen) & (r->nbuckets - 1)];
}

static void fill_value(struct entry *e) {
  at_fill(e->value, e->vlen, value_key(e->id, e->version));
}

static void table_resize(struct root *r, uint64_t nb) {
  struct entry **nbk = calloc(nb, sizeof *nbk);
  AT_CHECK(nbk != NULL, "calloc of %" PRIu64 " buckets failed", nb);
  for (uint64_t i = 0; i < r->nbuckets; i++) {
    struct entry *e = r->buckets[i];
    while (e) {
      struct entry *next = e->next;
      struct entry **b = &nbk[key_hash(e->key, e->klen) & (nb - 1)];
      e->next = *b;
      *b = e;
      e = next;
    }
  }
  free(r->buckets);
  r->buckets = nbk;
  r->nbuckets = nb;
}

static struct entry *table_find(struct root *r, uint64_t id, struct entry ***where) {
  char key[96];
  size_t klen = make_key(key, sizeof key, id);
  struct entry **pp = bucket_of(r, key, klen);
  while (*pp) {
    if ((*pp)->id == id) {
      if (where) *where = pp;
      return *pp;
    }
    pp = &(*pp)->next;
  }
  return NULL;
}

static void table_apply(struct root *r, struct action a) {
  if (a.op == OP_INSERT) {
    if (r->entries + 1 > 2 * r->nbuckets) table_resize(r, r->nbuckets * 2);
    /* Entries come from several entry points: malloc, calloc and aligned allocation. */
    struct entry *e;
    switch (a.id % 4) {
    case 0: e = calloc(1, sizeof *e); break;
    case 1: e = aligned_alloc(64, sizeof *e); break;
    case 2: {
      void *p = NULL;
      e = posix_memalign(&p, 128, sizeof *e) == 0 ? p : NULL;
      break;
    }
    default: e = malloc(sizeof *e); break;
    }
    AT_CHECK(e != NULL, "allocating an entry failed");
    char key[96];
    e->magic = ENTRY_MAGIC;
    e->id = a.id;
    e->version = 0;
    e->klen = (uint32_t)make_key(key, sizeof key, a.id);
    e->key = strdup(key);
    AT_CHECK(e->key != NULL, "strdup failed");
    e->vlen = value_len(a.id, 0);
    e->value = malloc(e->vlen);
    AT_CHECK(e->value != NULL, "malloc(%" PRIu64 ") failed", e->vlen);
    fill_value(e);
    e->check = entry_check(e);
    struct entry **b = bucket_of(r, e->key, e->klen);
    e->next = *b;
    *b = e;
    r->entries++;
  } else if (a.op == OP_DELETE) {
    struct entry **where;
    struct entry *e = table_find(r, a.id, &where);
    AT_CHECK(e != NULL, "deleting id %" PRIu64 ": not in the table", a.id);
    *where = e->next;
    free(e->key);
    free(e->value);
    e->magic = 0;
    free(e);
    r->entries--;
    if (r->nbuckets > 64 && r->entries * 8 < r->nbuckets) table_resize(r, r->nbuckets / 2);
  } else {
    struct entry *e = table_find(r, a.id, NULL);
    AT_CHECK(e != NULL, "updating id %" PRIu64 ": not in the table", a.id);
    e->version++;
    e->vlen = value_len(a.id, e->version);
    e->value = xrealloc(e->value, e->vlen);
    fill_value(e);
    e->check = entry_check(e);
  }
}

static void seal(struct root *r) { r->check = root_check(r); }

/* --- verification --------------------------------------------------------------------- */

static uint64_t verify(struct root *r) {
  AT_CHECK(r->magic == ROOT_MAGIC, "root magic %#" PRIx64, r->magic);
  AT_CHECK(r->check == root_check(r), "root checksum mismatch");
  AT_CHECK(r->entries == r->m.count, "table holds %" PRIu64 " entries, model %" PRIu64, r->entries,
           r->m.count);
  AT_CHECK(r->nbuckets && (r->nbuckets & (r->nbuckets - 1)) == 0, "bucket count %" PRIu64,
           r->nbuckets);

  /* Replay the operations from the seed into a private model. */
  struct model fresh = {.rng = r->seed};
  while (fresh.ops < r->m.ops) model_step(&fresh);
  AT_CHECK(fresh.rng == r->m.rng, "generator state differs from the replay after %" PRIu64 " ops",
           r->m.ops);
  AT_CHECK(fresh.next_id == r->m.next_id, "next_id %" PRIu64 ", replay %" PRIu64, r->m.next_id,
           fresh.next_id);
  AT_CHECK(fresh.count == r->m.count, "live count %" PRIu64 ", replay %" PRIu64, r->m.count,
           fresh.count);
  AT_CHECK(fresh.count == 0 || memcmp(fresh.live, r->m.live, fresh.count * sizeof *fresh.live) == 0,
           "live ids differ from the replay");
  AT_CHECK(r->m.ver_cap >= fresh.next_id, "version table too small");
  AT_CHECK(fresh.next_id == 0 ||
               memcmp(fresh.version, r->m.version, fresh.next_id * sizeof *fresh.version) == 0,
           "versions differ from the replay");

  /* Every entry: in the right bucket, checksummed, a live id with the right version. */
  unsigned char *seen = calloc(fresh.next_id + 1, 1);
  AT_CHECK(seen != NULL, "calloc failed");
  for (uint64_t i = 0; i < fresh.count; i++) seen[fresh.live[i]] = 1;
  uint64_t found = 0, blocks = 4; /* root, buckets, live, version */
  AT_CHECK(at_in_arena(r) && at_in_arena(r->buckets), "root or buckets outside the arena");
  AT_CHECK(malloc_usable_size(r->buckets) >= r->nbuckets * sizeof *r->buckets &&
               palloc_usable_size(r->m.live) >= r->m.live_cap * sizeof *r->m.live &&
               malloc_usable_size(r->m.version) >= r->m.ver_cap * sizeof *r->m.version,
           "usable size of a table array smaller than its capacity");
  for (uint64_t b = 0; b < r->nbuckets; b++) {
    for (struct entry *e = r->buckets[b]; e; e = e->next) {
      AT_CHECK(at_in_arena(e), "entry %p outside the arena", (void *)e);
      AT_CHECK(e->magic == ENTRY_MAGIC, "entry %p: magic %#" PRIx64, (void *)e, e->magic);
      AT_CHECK(e->id < fresh.next_id && seen[e->id] == 1,
               "entry id %" PRIu64 " is not live (or appears twice)", e->id);
      seen[e->id] = 2;
      AT_CHECK(e->version == fresh.version[e->id], "id %" PRIu64 ": version %u, model %u", e->id,
               e->version, fresh.version[e->id]);
      char key[96];
      size_t klen = make_key(key, sizeof key, e->id);
      AT_CHECK(e->klen == klen && at_in_arena(e->key) && memcmp(e->key, key, klen + 1) == 0,
               "id %" PRIu64 ": key differs", e->id);
      AT_CHECK((key_hash(key, klen) & (r->nbuckets - 1)) == b, "id %" PRIu64 " in the wrong bucket",
               e->id);
      AT_CHECK(e->vlen == value_len(e->id, e->version), "id %" PRIu64 ": value length", e->id);
      AT_CHECK(at_in_arena(e->value) && at_check_fill(e->value, e->vlen, value_key(e->id, e->version)),
               "id %" PRIu64 " version %u: value bytes differ", e->id, e->version);
      AT_CHECK(e->check == entry_check(e), "id %" PRIu64 ": checksum", e->id);
      AT_CHECK(malloc_usable_size(e) >= sizeof *e && malloc_usable_size(e->key) > klen &&
                   malloc_usable_size(e->value) >= e->vlen,
               "id %" PRIu64 ": usable size smaller than requested", e->id);
      AT_CHECK(e->id % 4 != 1 || ((uintptr_t)e & 63) == 0, "aligned entry not aligned");
      AT_CHECK(e->id % 4 != 2 || ((uintptr_t)e & 127) == 0, "aligned entry not aligned");
      found++;
      blocks += 3;
    }
  }
  AT_CHECK(found == fresh.count, "table has %" PRIu64 " entries, model %" PRIu64, found, fresh.count);
  free(seen);
  free(fresh.live);
  free(fresh.version);
  return blocks;
}

/* --- main ----------------------------------------------------------------------------- */

static void finish_with_exit(void) { exit(0); }

/* Commits and acknowledges: the line is printed only after the commit returned. */
static void commit_and_say(struct root *r) {
  r->commits++;
  seal(r);
  int64_t e = palloc_heap_commit();
  AT_CHECK(e > 0, "palloc_heap_commit() = %" PRId64 ": %s", e, palloc_last_error());
  at_say("commit epoch=%" PRId64 " ops=%" PRIu64 " count=%" PRIu64 " digest=%016" PRIx64, e,
         r->m.ops, r->m.count, model_digest(&r->m));
}

int main(int argc, char **argv) {
  int stack_marker = 0;
  if (at_flag(argc, argv, "--probe")) {
    void *p = malloc(100);
    at_say("probe pid=%d arena=%d resumed=%d uffd=%d in_arena=%d", (int)getpid(),
           palloc_heap_arena() != NULL, palloc_heap_resumed(), palloc_uffd_supported(), at_in_arena(p));
    free(p);
    return 0;
  }
  uint64_t seed = at_opt_u64(argc, argv, "--seed", 1);
  uint64_t commit_every = at_opt_u64(argc, argv, "--commit-every", 4000);
  uint64_t max_ops = at_opt_u64(argc, argv, "--ops", UINT64_MAX); /* default: until killed */
  double max_ms = (double)at_opt_u64(argc, argv, "--max-ms", 0);
  const char *end = at_opt(argc, argv, "--end", "return");
  int heap_only = at_flag(argc, argv, "--heap-only");
  small_values = heap_only;

  palloc_arena *arena = palloc_heap_arena();
  AT_CHECK(arena != NULL, "not a persistent process (run it under `palloc run` or with PALLOC_ARENA)");
  void *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  at_say("start pid=%d resumed=%d main=%p stack=%p mmap=%p", (int)getpid(), palloc_heap_resumed(),
         (void *)(uintptr_t)main, (void *)&stack_marker, anon);

  struct root *r = (struct root *)(uintptr_t)palloc_root_get(arena, 0);
  if (r && heap_only) {
    /* Background commits may catch the table half-updated: check the heap only, and
     * start a new (small) table, leaving the old one behind. */
    int64_t live = palloc_heap_validate();
    AT_CHECK(live >= 0, "palloc_heap_validate() = %" PRId64 " after resuming", live);
    at_say("resume-heap live=%" PRId64 " epoch=%" PRIu64, live, palloc_epoch(arena));
    r = NULL;
  }
  int resumed_table = r != NULL;
  if (r) {
    AT_CHECK(palloc_heap_resumed() == 1, "root 0 is set but palloc_heap_resumed() says %d",
             palloc_heap_resumed());
    AT_CHECK(at_in_arena(r), "root %p outside the arena", (void *)r);
    uint64_t blocks = verify(r);
    int64_t live = palloc_heap_validate();
    AT_CHECK(live >= 0, "palloc_heap_validate() = %" PRId64 " after resuming", live);
    AT_CHECK((uint64_t)live >= blocks, "palloc_heap_validate() counts %" PRId64
             " live blocks but the table alone holds %" PRIu64, live, blocks);
    at_say("resume ops=%" PRIu64 " count=%" PRIu64 " digest=%016" PRIx64 " epoch=%" PRIu64
           " runs=%" PRIu64 " live=%" PRId64 " blocks=%" PRIu64,
           r->m.ops, r->m.count, model_digest(&r->m), palloc_epoch(arena), r->runs, live, blocks);
  } else {
    r = calloc(1, sizeof *r);
    AT_CHECK(r != NULL && at_in_arena(r), "calloc of the root failed or is outside the arena");
    r->magic = ROOT_MAGIC;
    r->seed = seed;
    r->m.rng = seed;
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    r->m.live_cap = 64;
    r->m.live = malloc(r->m.live_cap * sizeof *r->m.live);
    r->m.ver_cap = 256;
    r->m.version = calloc(r->m.ver_cap, sizeof *r->m.version);
    AT_CHECK(r->buckets && r->m.live && r->m.version, "allocation failed");
    seal(r);
    AT_CHECK(palloc_root_set(arena, 0, (uint64_t)(uintptr_t)r) == PALLOC_OK, "root_set: %s",
             palloc_last_error());
    at_say("fresh seed=%" PRIu64, seed);
  }
  r->runs++;
  seal(r);
  if (!resumed_table) commit_and_say(r); /* the empty table exists from now on */

  double t0 = at_now_ms();
  uint64_t done = 0;
  for (;;) {
    if (done >= max_ops) break;
    if (max_ms > 0 && (done & 255) == 0 && at_now_ms() - t0 >= max_ms) break;
    struct action a = model_step(&r->m);
    table_apply(r, a);
    seal(r);
    done++;
    if (commit_every && r->m.ops % commit_every == 0) commit_and_say(r);
  }
  int64_t live = palloc_heap_validate();
  AT_CHECK(live >= 0, "palloc_heap_validate() = %" PRId64, live);
  at_say("final ops=%" PRIu64 " count=%" PRIu64 " digest=%016" PRIx64 " live=%" PRId64, r->m.ops,
         r->m.count, model_digest(&r->m), live);
  if (strcmp(end, "hang") == 0) {
    for (;;) pause();
  }
  if (strcmp(end, "exit") == 0) finish_with_exit();
  return 0;
}
