/* heap_persist.c — the persistent heap's meta block: install, resume, save, validate.
 *
 * The arena starts with a meta block (PALLOC_META_SPAN bytes) that holds everything the
 * mimalloc fork keeps outside its segments and that must survive a restart: the main
 * heap and its tld (span queues), the arena descriptor and its bitmaps, the abandoned
 * lists and segment map as of the last commit, and a pool of thread metadata slots.
 * The allocator's own arena follows it. Everything here points only into the arena,
 * except the few process-local values that install repairs (pages_free_direct entries
 * point to the library's _mi_page_empty). Layout in docs/format.md. */
#include "mimalloc.h"
#include "mimalloc-internal.h"
#include "mimalloc-atomic.h"

#include <errno.h>
#include <string.h>

#include "heap_persist.h"

/* Defined by the patch series (arena.c, segment.c, segment-cache.c, init.c). */
size_t _mi_palloc_arena_desc_size(size_t size);
bool _mi_palloc_arena_install(void *desc, void *start, size_t size, bool fresh);
void _mi_palloc_abandoned_save(uintptr_t out[4]);
void _mi_palloc_abandoned_restore(const uintptr_t in[4]);
size_t _mi_palloc_segment_map_words(uintptr_t lo, uintptr_t hi);
void _mi_palloc_segment_map_save(uintptr_t lo, uintptr_t hi, uintptr_t *out);
void _mi_palloc_segment_map_restore(uintptr_t lo, uintptr_t hi, const uintptr_t *in);
const mi_heap_t *_mi_heap_main_template(void);
const mi_tld_t *_mi_tld_main_template(void);

uintptr_t _mi_palloc_lo = 0;
uintptr_t _mi_palloc_hi = 0;
__thread uintptr_t _mi_palloc_thread_id __attribute__((tls_model("initial-exec"))) = 0;

#define META_MAGIC UINT64_C(0x3150414548434c50) /* "PLCHEAP1" */
#define META_VERSION 1
#define SLOT_ALIGN 64
#define INITIAL_SLOTS 16
#define MAP_SPAN ((uintptr_t)MI_SEGMENT_SIZE * MI_INTPTR_BITS) /* bytes one map word covers */
#define MAP_LIMIT ((uintptr_t)20 << 40) /* segment-cache.c: MI_MAX_ADDRESS, the map's reach */

/* Same layout as init.c's mi_thread_data_t (checked at run time by size). */
typedef struct palloc_thread_data_s {
  mi_heap_t heap;
  mi_tld_t tld;
} palloc_thread_data_t;

typedef struct palloc_slot_s {
  uint64_t in_use; /* 1 while a thread owns it; every in-use slot is dead after a restart */
  uint8_t pad[SLOT_ALIGN - sizeof(uint64_t)];
  palloc_thread_data_t td;
} palloc_slot_t;

/* Sizes that must match between the build that wrote a heap and the one resuming it. */
typedef struct palloc_meta_layout_s {
  uint64_t heap_size, tld_size, page_size, segment_size, slot_size;
  uint64_t segment_span, intptr_size, bin_full;
} palloc_meta_layout_t;

typedef struct palloc_meta_s {
  uint64_t magic;
  uint64_t version;
  palloc_meta_layout_t layout;
  uint64_t max_size;      /* arena reservation the heap was laid out for */
  uint64_t main_tid;      /* the main heap's stable thread id (its own address) */
  uint64_t unused_saves;  /* older builds counted commits here */
  uintptr_t abandoned[4]; /* abandoned lists as of the last commit */
  uint64_t map_offset, map_words;   /* segment map words for the arena range */
  uint64_t desc_offset, desc_size;  /* mimalloc arena descriptor */
  uint64_t pool_offset, pool_slots; /* thread metadata pool */
  uint64_t pool_high;               /* slots ever used (an upper bound for scans) */
  uint64_t reserved[8];
  mi_decl_cache_align mi_heap_t heap_main;
  mi_decl_cache_align mi_tld_t tld_main;
} palloc_meta_t;

static palloc_meta_t *meta = NULL;
static size_t dead_threads = 0;
static _Atomic(uintptr_t) pool_lock = MI_ATOMIC_VAR_INIT(0);

static palloc_meta_layout_t current_layout(void) {
  palloc_meta_layout_t l;
  memset(&l, 0, sizeof(l));
  l.heap_size = sizeof(mi_heap_t);
  l.tld_size = sizeof(mi_tld_t);
  l.page_size = sizeof(mi_page_t);
  l.segment_size = sizeof(mi_segment_t);
  l.slot_size = sizeof(palloc_slot_t);
  l.segment_span = MI_SEGMENT_SIZE;
  l.intptr_size = MI_INTPTR_SIZE;
  l.bin_full = MI_BIN_FULL;
  return l;
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static uintptr_t map_lo(uintptr_t base) { return base / MAP_SPAN * MAP_SPAN; }
static uintptr_t map_hi(uintptr_t base, size_t max_size) { return align_up(base + max_size, MAP_SPAN); }

static size_t fixed_size(size_t max_size, uintptr_t base, size_t *map_off, size_t *desc_off, size_t *pool_off) {
  size_t off = align_up(sizeof(palloc_meta_t), SLOT_ALIGN);
  *map_off = off;
  off += align_up(_mi_palloc_segment_map_words(map_lo(base), map_hi(base, max_size)) * sizeof(uintptr_t), SLOT_ALIGN);
  *desc_off = off;
  off += align_up(_mi_palloc_arena_desc_size(max_size - PALLOC_META_SPAN), SLOT_ALIGN);
  *pool_off = off;
  return off;
}

size_t palloc_meta_initial_size(size_t max_size) {
  size_t m, d, p;
  /* The base only shifts the map by less than one word. */
  size_t n = fixed_size(max_size, 0, &m, &d, &p) + sizeof(uintptr_t);
  return n + INITIAL_SLOTS * sizeof(palloc_slot_t);
}

palloc_meta_check palloc_meta_classify(const void *base, const char **detail) {
  const palloc_meta_t *m = (const palloc_meta_t *)base;
  *detail = NULL;
  if (m->magic == 0) {
    static const uint8_t zero[sizeof(palloc_meta_t)];
    return memcmp(m, zero, sizeof(zero)) == 0 ? PALLOC_META_EMPTY : PALLOC_META_FOREIGN;
  }
  if (m->magic != META_MAGIC) return PALLOC_META_FOREIGN;
  if (m->version != META_VERSION) {
    *detail = "the heap was written by a different palloc heap format version";
    return PALLOC_META_VERSION;
  }
  palloc_meta_layout_t l = current_layout();
  if (memcmp(&m->layout, &l, sizeof(l)) != 0) {
    *detail = "the heap was written by a build of the allocator with different data structure sizes";
    return PALLOC_META_VERSION;
  }
  return PALLOC_META_VALID;
}

static palloc_slot_t *pool(void) { return (palloc_slot_t *)((uint8_t *)meta + meta->pool_offset); }

/* Pages of an empty bin point at the library's static empty page, whose address moves
 * between runs: point every entry that is not an arena page at this run's. */
static void repair_direct_pages(mi_heap_t *heap) {
  for (size_t i = 0; i < MI_PAGES_DIRECT; i++) {
    if (!_mi_palloc_in_arena(heap->pages_free_direct[i])) {
      heap->pages_free_direct[i] = (mi_page_t *)&_mi_page_empty;
    }
  }
}

static void repair_tld_heaps(mi_tld_t *tld) {
  for (mi_heap_t *h = tld->heaps; h != NULL; h = h->next) repair_direct_pages(h);
}

/* A thread that was alive at the last commit no longer exists: abandon its segments
 * exactly as its exit would have, so that live threads can adopt them. */
static void abandon_dead_thread(palloc_slot_t *slot) {
  mi_tld_t *tld = &slot->td.tld;
  repair_tld_heaps(tld);
  mi_heap_t *backing = tld->heap_backing;
  mi_heap_t *h = tld->heaps;
  while (h != NULL) {
    mi_heap_t *next = h->next;
    if (h != backing) _mi_heap_collect_abandon(h);
    h = next;
  }
  if (backing != NULL) _mi_heap_collect_abandon(backing);
  memset(&slot->td, 0, sizeof(slot->td));
  slot->in_use = 0;
  dead_threads++;
}

static void init_main_heap(void) {
  mi_heap_t *heap = &meta->heap_main;
  mi_tld_t *tld = &meta->tld_main;
  _mi_memcpy_aligned(heap, _mi_heap_main_template(), sizeof(*heap));
  _mi_memcpy_aligned(tld, _mi_tld_main_template(), sizeof(*tld));
  heap->tld = tld;
  heap->thread_id = 0;
  heap->cookie = 0; /* mi_heap_main_init draws cookie and keys */
  tld->heap_backing = heap;
  tld->heaps = heap;
  tld->segments.stats = &tld->stats;
  tld->segments.os = &tld->os;
  tld->os.stats = &tld->stats;
}

int palloc_meta_install(void *base, size_t max_size, int fresh, const char **detail) {
  *detail = NULL;
  if (((uintptr_t)base % MI_SEGMENT_ALIGN) != 0) {
    *detail = "the arena base is not aligned to the allocator's 32 MiB segments";
    return EINVAL;
  }
  if (max_size < 2 * PALLOC_META_SPAN) {
    *detail = "the arena's maximum size is too small for a heap (at least 64 MiB)";
    return EINVAL;
  }
  if ((uintptr_t)base + max_size > MAP_LIMIT) {
    *detail = "the arena reaches beyond the 20 TiB the allocator's segment map covers";
    return EINVAL;
  }
  meta = (palloc_meta_t *)base;
  uint8_t *const arena_start = (uint8_t *)base + PALLOC_META_SPAN;
  const size_t arena_size = max_size - PALLOC_META_SPAN;
  const uintptr_t lo = map_lo((uintptr_t)base), hi = map_hi((uintptr_t)base, max_size);
  size_t map_off, desc_off, pool_off;
  const size_t fixed = fixed_size(max_size, (uintptr_t)base, &map_off, &desc_off, &pool_off);

  if (fresh) {
    memset(meta, 0, fixed);
    meta->magic = META_MAGIC;
    meta->version = META_VERSION;
    meta->layout = current_layout();
    meta->max_size = max_size;
    meta->main_tid = (uint64_t)(uintptr_t)&meta->heap_main;
    meta->map_offset = map_off;
    meta->map_words = _mi_palloc_segment_map_words(lo, hi);
    meta->desc_offset = desc_off;
    meta->desc_size = _mi_palloc_arena_desc_size(arena_size);
    meta->pool_offset = pool_off;
    meta->pool_slots = (PALLOC_META_SPAN - pool_off) / sizeof(palloc_slot_t);
    init_main_heap();
  }
  else if (meta->max_size != max_size || meta->map_offset != map_off || meta->desc_offset != desc_off ||
           meta->pool_offset != pool_off || meta->main_tid != (uint64_t)(uintptr_t)&meta->heap_main) {
    *detail = "the heap's meta block does not match the arena's size or address";
    return EINVAL;
  }

  if (!_mi_palloc_arena_install((uint8_t *)meta + desc_off, arena_start, arena_size, fresh != 0)) {
    *detail = fresh ? "another allocator arena was registered before the persistent one"
                    : "the heap's arena descriptor does not describe this arena";
    return EINVAL;
  }
  /* From here on this thread owns the persistent main heap. */
  _mi_heap_main_ptr = &meta->heap_main;
  _mi_palloc_thread_id = (uintptr_t)meta->main_tid;
  if (fresh) return 0;

  _mi_palloc_abandoned_restore(meta->abandoned);
  _mi_palloc_segment_map_restore(lo, hi, (const uintptr_t *)((uint8_t *)meta + map_off));
  repair_tld_heaps(&meta->tld_main);
  _mi_random_init(&meta->heap_main.random); /* a fresh stream; cookie and keys stay */
  palloc_slot_t *slots = pool();
  for (uint64_t i = 0; i < meta->pool_high; i++) {
    if (slots[i].in_use) abandon_dead_thread(&slots[i]);
  }
  return 0;
}

size_t palloc_meta_dead_threads(void) { return dead_threads; }

/* ---- thread metadata pool (called by the patched mi_thread_data_alloc/free) ---- */

static void pool_lock_acquire(void) {
  uintptr_t expected = 0;
  while (!mi_atomic_cas_weak_acq_rel(&pool_lock, &expected, 1)) {
    expected = 0;
    mi_atomic_yield();
  }
}

static void pool_lock_release(void) { mi_atomic_store_release(&pool_lock, 0); }

void *_mi_palloc_thread_data_alloc(size_t size) {
  if (meta == NULL || size != sizeof(palloc_thread_data_t)) return NULL;
  void *result = NULL;
  pool_lock_acquire();
  palloc_slot_t *slots = pool();
  for (uint64_t i = 0; i < meta->pool_slots; i++) {
    if (slots[i].in_use) continue;
    if (i >= meta->pool_high && !_mi_palloc_arena_commit(&slots[i], sizeof(slots[i]))) break;
    memset(&slots[i].td, 0, sizeof(slots[i].td));
    slots[i].in_use = 1;
    if (i >= meta->pool_high) meta->pool_high = i + 1;
    result = &slots[i].td;
    break;
  }
  pool_lock_release();
  return result;
}

bool _mi_palloc_thread_data_free(void *p) {
  if (meta == NULL) return false;
  palloc_slot_t *slots = pool();
  if ((uint8_t *)p < (uint8_t *)slots || (uint8_t *)p >= (uint8_t *)(slots + meta->pool_slots)) return false;
  palloc_slot_t *slot = (palloc_slot_t *)((uint8_t *)p - offsetof(palloc_slot_t, td));
  pool_lock_acquire();
  slot->in_use = 0;
  pool_lock_release();
  return true;
}

/* ---- commit support ---- */

static void drain_tld(mi_tld_t *tld) {
  for (mi_heap_t *h = tld->heaps; h != NULL; h = h->next) _mi_heap_delayed_free_all(h);
}

#define MAP_SCRATCH_WORDS 4096

static void store_changed(uintptr_t *dst, const uintptr_t *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (dst[i] != src[i]) dst[i] = src[i];
}

void palloc_meta_save(void) {
  if (meta == NULL) return;
  drain_tld(&meta->tld_main);
  palloc_slot_t *slots = pool();
  for (uint64_t i = 0; i < meta->pool_high; i++) {
    if (slots[i].in_use && slots[i].td.tld.heaps != NULL) drain_tld(&slots[i].td.tld);
  }
  /* Saved through a scratch copy and stored only where they changed: a page written
   * with the same bytes is still a dirty page that every commit would log. */
  uintptr_t abandoned[4];
  _mi_palloc_abandoned_save(abandoned);
  store_changed(meta->abandoned, abandoned, 4);
  uintptr_t *saved_map = (uintptr_t *)((uint8_t *)meta + meta->map_offset);
  const uintptr_t lo = map_lo((uintptr_t)meta), hi = map_hi((uintptr_t)meta, meta->max_size);
  if (meta->map_words <= MAP_SCRATCH_WORDS) { /* up to 8 TiB of arena */
    uintptr_t map[MAP_SCRATCH_WORDS];
    _mi_palloc_segment_map_save(lo, hi, map);
    store_changed(saved_map, map, meta->map_words);
  } else {
    _mi_palloc_segment_map_save(lo, hi, saved_map);
  }
}

#define MAX_FREE_SPANS (MI_SLICES_PER_SEGMENT / 2 + 1) /* free spans never touch */

/* Whether the segment map saved at this barrier has a segment starting at seg. */
static bool segment_is_live(uintptr_t seg) {
  const uintptr_t lo = map_lo((uintptr_t)meta);
  if (seg < lo || seg >= map_hi((uintptr_t)meta, meta->max_size)) return false;
  const uintptr_t *saved_map = (const uintptr_t *)((const uint8_t *)meta + meta->map_offset);
  const uintptr_t index = (seg - lo) / MI_SEGMENT_SIZE;
  if (index / MI_INTPTR_BITS >= meta->map_words) return false;
  return (saved_map[index / MI_INTPTR_BITS] >> (index % MI_INTPTR_BITS)) & 1;
}

/* The free spans of the normal segment at seg, as [start, end) address pairs in ascending
 * order; returns how many (0 for anything but a live, consistent normal segment). */
static size_t segment_free_spans(uintptr_t seg, uintptr_t spans[][2]) {
  if (!segment_is_live(seg)) return 0;
  const mi_segment_t *segment = (const mi_segment_t *)seg;
  if (segment->cookie != _mi_ptr_cookie(segment) || segment->kind != MI_SEGMENT_NORMAL ||
      segment->slice_entries > MI_SLICES_PER_SEGMENT)
    return 0;
  const mi_slice_t *slice = segment->slices, *end = segment->slices + segment->slice_entries;
  size_t n = 0;
  while (slice < end) {
    const size_t count = slice->slice_count;
    if (count == 0 || count > (size_t)(end - slice)) return 0; /* not a span start: trust nothing */
    if (slice->xblock_size == 0) {
      if (n == MAX_FREE_SPANS) return 0;
      const uintptr_t start = seg + (size_t)(slice - segment->slices) * MI_SEGMENT_SLICE_SIZE;
      spans[n][0] = start;
      spans[n][1] = start + count * MI_SEGMENT_SLICE_SIZE;
      n++;
    }
    slice += count;
  }
  return n;
}

size_t palloc_meta_partition_free_pages(uintptr_t *pages, size_t n) {
  if (meta == NULL) return n;
  uintptr_t spans[MAX_FREE_SPANS][2];
  uintptr_t seg = 1; /* no segment starts at an odd address */
  size_t nspans = 0, next = 0, kept = 0;
  for (size_t i = 0; i < n; i++) {
    const uintptr_t p = pages[i];
    const uintptr_t p_seg = p & ~((uintptr_t)MI_SEGMENT_SIZE - 1);
    if (p_seg != seg) {
      seg = p_seg;
      nspans = segment_free_spans(seg, spans);
      next = 0;
    }
    while (next < nspans && spans[next][1] <= p) next++;
    const bool is_free = next < nspans && spans[next][0] <= p;
    if (!is_free) {
      const uintptr_t t = pages[kept];
      pages[kept++] = p;
      pages[i] = t;
    }
  }
  return kept;
}

/* ---- validation ---- */

static int64_t count_list(const mi_page_t *page, mi_block_t *b, uint8_t *start, size_t bsize, size_t limit,
                          const char **detail) {
  int64_t n = 0;
  while (b != NULL) {
    uint8_t *p = (uint8_t *)b;
    if (p < start || p >= start + (size_t)page->capacity * bsize || (size_t)(p - start) % bsize != 0) {
      *detail = "a free list entry points outside its page or between blocks";
      return -1;
    }
    if ((size_t)++n > limit) {
      *detail = "a free list is longer than its page (a cycle)";
      return -1;
    }
    b = mi_block_next(page, b);
  }
  return n;
}

/* One page: its owner (NULL for an abandoned page), block lists and counts. Returns the
 * blocks in use (not counting those freed by other threads and not yet collected). */
static int64_t validate_page(mi_page_t *page, const mi_heap_t *owner, const char **detail) {
  if (!_mi_palloc_in_arena(page)) {
    *detail = "a heap page lies outside the arena";
    return -1;
  }
  mi_segment_t *segment = _mi_page_segment(page);
  if (segment->cookie != _mi_ptr_cookie(segment)) {
    *detail = "a segment's cookie does not match (corrupted segment header)";
    return -1;
  }
  if (mi_page_heap(page) != owner) {
    *detail = owner ? "a page in a heap's queue names another heap as its owner"
                    : "a page of an abandoned segment still names an owning heap";
    return -1;
  }
  if (owner && segment->kind != MI_SEGMENT_HUGE && mi_atomic_load_relaxed(&segment->thread_id) != owner->thread_id) {
    *detail = "a segment of a heap's page is owned by another thread";
    return -1;
  }
  if (page->used > page->reserved || page->capacity > page->reserved) {
    *detail = "a page counts more blocks than it has room for";
    return -1;
  }
  size_t psize;
  uint8_t *start = _mi_page_start(segment, page, &psize);
  const size_t bsize = mi_page_block_size(page);
  int64_t nfree = count_list(page, page->free, start, bsize, page->capacity, detail);
  if (nfree < 0) return -1;
  int64_t nlocal = count_list(page, page->local_free, start, bsize, page->capacity, detail);
  if (nlocal < 0) return -1;
  int64_t nthread = count_list(page, mi_page_thread_free(page), start, bsize, page->capacity, detail);
  if (nthread < 0) return -1;
  if (nfree + nlocal + (int64_t)page->used != (int64_t)page->capacity) {
    *detail = "a page's free lists and use count do not add up to its capacity";
    return -1;
  }
  return (int64_t)page->used - nthread;
}

static int64_t validate_heap(mi_heap_t *heap, const char **detail) {
  int64_t live = 0;
  for (size_t bin = 0; bin <= MI_BIN_FULL; bin++) {
    for (mi_page_t *page = heap->pages[bin].first; page != NULL; page = page->next) {
      int64_t n = validate_page(page, heap, detail);
      if (n < 0) return -1;
      live += n;
    }
  }
  return live;
}

/* Segments no thread owns (their threads ended; blocks in them are still live). */
static int64_t validate_abandoned(const char **detail) {
  uintptr_t lists[4];
  _mi_palloc_abandoned_save(lists);
  mi_segment_t *heads[2] = {(mi_segment_t *)(lists[0] & ~(uintptr_t)MI_SEGMENT_MASK), (mi_segment_t *)lists[1]};
  int64_t live = 0;
  size_t seen = 0;
  for (int l = 0; l < 2; l++) {
    for (mi_segment_t *seg = heads[l]; seg != NULL; seg = mi_atomic_load_ptr_relaxed(mi_segment_t, &seg->abandoned_next)) {
      if (!_mi_palloc_in_arena(seg) || ++seen > (meta->max_size / MI_SEGMENT_SIZE) + 1) {
        *detail = "the abandoned segment list leaves the arena or loops";
        return -1;
      }
      if (mi_atomic_load_relaxed(&seg->thread_id) != 0) {
        *detail = "a segment on the abandoned list has an owner";
        return -1;
      }
      const mi_slice_t *end = &seg->slices[seg->slice_entries];
      for (mi_slice_t *slice = &seg->slices[0]; slice < end; slice += slice->slice_count) {
        if (slice->slice_count == 0) {
          *detail = "an abandoned segment's slice table is damaged";
          return -1;
        }
        if (slice->xblock_size == 0) continue; /* a free span */
        int64_t n = validate_page((mi_page_t *)slice, NULL, detail);
        if (n < 0) return -1;
        live += n;
      }
    }
  }
  return live;
}

static int64_t validate_tld(mi_tld_t *tld, const char **detail) {
  int64_t live = 0;
  for (mi_heap_t *h = tld->heaps; h != NULL; h = h->next) {
    int64_t n = validate_heap(h, detail);
    if (n < 0) return -1;
    live += n;
  }
  return live;
}

int64_t palloc_meta_validate(const char **detail) {
  *detail = NULL;
  if (meta == NULL) {
    *detail = "there is no persistent heap in this process";
    return -1;
  }
  int64_t live = validate_tld(&meta->tld_main, detail);
  if (live < 0) return -1;
  const int64_t abandoned = validate_abandoned(detail);
  if (abandoned < 0) return -1;
  live += abandoned;
  palloc_slot_t *slots = pool();
  for (uint64_t i = 0; i < meta->pool_high; i++) {
    if (!slots[i].in_use || slots[i].td.tld.heaps == NULL) continue;
    int64_t n = validate_tld(&slots[i].td.tld, detail);
    if (n < 0) return -1;
    live += n;
  }
  return live;
}
