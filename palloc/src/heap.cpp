// heap.cpp — the persistent heap: mode decision, arena, growth, commit, exit commit.
#include "heap.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <algorithm>
#include <cerrno>

#include "api_arena.h"
#include "barrier.h"
#include "heap_persist.h"
#include "io.h"
#include "mi_hooks.h"
#include "options.h"
#include "runtime.h"
#include "status.h"

extern "C" {
#include "palloc.h"
void palloc_shim_strip_environment(void);  // shims/preload/environ.cpp
}

namespace palloc::heap {

std::atomic<int> g_mode{kUninitialized};

namespace {

constexpr int kExitCannotOpen = 70;  // EX_SOFTWARE: the persistent heap cannot be used

palloc_arena *g_arena = nullptr;
uintptr_t g_base = 0;
std::atomic<uint64_t> g_backed{0};  // bytes of the arena currently backed (its size)
std::mutex g_grow_mu;
// One commit at a time, taken before the barrier: a commit still writing its copies
// must not be waited for by another that has already stopped the threads.
std::mutex g_commit_mu;
bool g_resumed = false;
bool g_verbose = false;
bool g_verbose_commits = false;  // PALLOC_VERBOSE=2: a line per commit as well
uint32_t g_interval_ms = 0;
std::atomic<bool> g_interval_claimed{false};  // an interpreter adapter commits at its own safe points
const char *g_path = "";  // not a std::string: the heap opens before static constructors run

std::atomic<int> g_init_state{0};  // 0 not started, 1 running, 2 done
std::atomic<pthread_t> g_init_thread{};

palloc_status report_not_persistent() {
  set_last_error({PALLOC_E_INVALID, "the heap is not persistent (PALLOC_ARENA is not set)"});
  return PALLOC_E_INVALID;
}

// PALLOC_HINT lets a launcher say what its user can do (lua-persist: "--fresh").
[[noreturn]] void fail(const std::string &what) {
  const char *hint = getenv("PALLOC_HINT");
  fprintf(stderr, "palloc: cannot use the persistent heap at %s: %s\n", g_path, what.c_str());
  if (hint && *hint)
    fprintf(stderr, "palloc: the program was not started; %s\n", hint);
  else
    fprintf(stderr,
            "palloc: the program was not started; fix the problem above, or unset PALLOC_ARENA to run "
            "without persistence.\n");
  _exit(kExitCannotOpen);
}

bool env_flag(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

uint32_t env_interval() {
  const char *v = getenv("PALLOC_COMMIT_INTERVAL_MS");
  if (!v || !*v) return 0;
  char *end = nullptr;
  unsigned long n = strtoul(v, &end, 10);
  if (*end != '\0' || n > 86400000ul)
    fail(std::string("PALLOC_COMMIT_INTERVAL_MS='") + v + "' is not a number of milliseconds (0 = off)");
  return static_cast<uint32_t>(n);
}

void exit_commit() {
  if (mode() != kPersistent) return;
  int64_t r = commit();
  RuntimeScope runtime;
  if (r < 0 && -r != PALLOC_E_DETACHED) {
    fprintf(stderr, "palloc: the commit at exit failed: %s\n", palloc_last_error());
    return;
  }
  // A large log would make the next start replay it: fold it in now.
  if (r > 0) {
    Status s = g_arena->impl->checkpoint_if_large();
    if (!s.ok()) fprintf(stderr, "palloc: the checkpoint at exit failed: %s\n", s.message().c_str());
  }
}

void interval_loop() {
  RuntimeScope runtime;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_interval_ms));
    if (g_interval_claimed.load(std::memory_order_acquire)) return;
    int64_t r = commit();
    if (r < 0) {
      if (-r == PALLOC_E_DETACHED) return;
      fprintf(stderr, "palloc: periodic commit failed: %s\n", palloc_last_error());
    }
  }
}

void fork_prepare() {
  if (mode() == kPersistent) barrier::begin();
}
void fork_parent() {
  if (mode() == kPersistent) barrier::end();
}
void fork_child() {
  if (mode() == kPersistent) barrier::reset_in_child();
}

// The C library's own heap stays in its brk area: no per-thread mmap arenas and no mmap
// chunks, so palloc's internal allocations never move where the kernel places later
// mappings. Shared objects a resumed interpreter loads again (Lua C modules) then land at
// the addresses they had before the restart.
void keep_libc_heap_out_of_mmap_area() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

void open_persistent(const char *path) {
  RuntimeScope runtime;
  keep_libc_heap_out_of_mmap_area();
  use_high_fds();
  const auto t0 = std::chrono::steady_clock::now();
  g_path = path;  // the environment string itself (kept when the variable is removed)
  g_verbose = env_flag("PALLOC_VERBOSE");
  g_verbose_commits = g_verbose && strcmp(getenv("PALLOC_VERBOSE"), "2") == 0;
  g_interval_ms = env_interval();
  palloc_options opts;
  palloc_options_init(&opts);
  opts.flags |= PALLOC_CREATE;
  palloc_arena *arena = nullptr;
  if (palloc_open(path, &opts, &arena) != PALLOC_OK) fail(palloc_last_error());
  const uintptr_t base = reinterpret_cast<uintptr_t>(palloc_base(arena));
  const size_t max_size = palloc_max_size(arena);
  const size_t initial = palloc_meta_initial_size(max_size);
  if (max_size < 2 * PALLOC_META_SPAN)
    fail("its maximum size (" + std::to_string(max_size >> 20) +
         " MiB) is too small for a heap; create it with PALLOC_MAX_SIZE of at least 64M");
  if (palloc_size(arena) < initial && palloc_grow(arena, initial) != PALLOC_OK) fail(palloc_last_error());
  const char *detail = nullptr;
  const palloc_meta_check kind = palloc_meta_classify(reinterpret_cast<void *>(base), &detail);
  if (kind == PALLOC_META_FOREIGN)
    fail("the arena holds data written through the arena API, not a heap; use another path for the heap");
  if (kind == PALLOC_META_VERSION) fail(std::string(detail) + "; run the program with the palloc build that created it");
  arena->impl->skip_unchanged_pages(true);  // commits run under the barrier
  arena->impl->set_free_page_filter(palloc_meta_partition_free_pages);
  g_arena = arena;
  g_base = base;
  g_backed.store(palloc_size(arena));
  _mi_palloc_lo = base;
  _mi_palloc_hi = base + max_size;
  const bool fresh = kind == PALLOC_META_EMPTY;
  if (palloc_meta_install(reinterpret_cast<void *>(base), max_size, fresh ? 1 : 0, &detail) != 0)
    fail(std::string("the heap cannot be installed: ") + detail);
  g_resumed = !fresh;
  barrier::init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  atexit(exit_commit);
  palloc_shim_strip_environment();
  if (g_interval_ms > 0) std::thread(interval_loop).detach();
  if (g_verbose) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "palloc: %s heap at %s (epoch %llu, %.2f ms, %zu dead thread(s) abandoned)\n",
            fresh ? "created a new" : "resumed the", path, static_cast<unsigned long long>(palloc_epoch(arena)), ms,
            palloc_meta_dead_threads());
  }
}

}  // namespace

void init() {
  if (g_init_state.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (!g_init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    if (pthread_equal(g_init_thread.load(), pthread_self())) return;  // re-entered while deciding
    while (g_init_state.load(std::memory_order_acquire) != 2) sched_yield();
    return;
  }
  g_init_thread.store(pthread_self());
  const char *path = getenv("PALLOC_ARENA");
  if (path == nullptr || *path == '\0') {
    g_mode.store(kTransient, std::memory_order_release);
  } else {
    g_mode.store(kInitializing, std::memory_order_release);
    open_persistent(path);
    g_mode.store(kPersistent, std::memory_order_release);
  }
  g_init_state.store(2, std::memory_order_release);
}

int64_t commit(bool wait) {
  RuntimeScope runtime;
  if (mode() != kPersistent) {
    return -static_cast<int64_t>(report_not_persistent());
  }
  std::lock_guard<std::mutex> one_commit(g_commit_mu);
  g_arena->impl->wait_written();  // the previous record first, with the threads running
  const auto t0 = std::chrono::steady_clock::now();
  barrier::begin();
  const auto t1 = std::chrono::steady_clock::now();
  palloc_meta_save();
  uint64_t epoch = 0;
  std::chrono::steady_clock::time_point t2;
  const auto release = [&] {
    barrier::end();
    t2 = std::chrono::steady_clock::now();
  };
  Status s;
  if (wait && barrier::alone()) {
    // Nobody would run meanwhile: copying the pages aside first would only cost.
    s = g_arena->impl->commit_capture(&epoch);
    release();
  } else {
    // The threads go on once the dirty pages are copied; the copies are written
    // meanwhile, by the writer thread if the caller does not wait.
    s = g_arena->impl->commit_capture_stopped(&epoch, release, !wait);
  }
  if (g_verbose_commits && s.ok()) {
    using ms = std::chrono::duration<double, std::milli>;
    const auto free_pages = static_cast<unsigned long long>(g_arena->impl->last_free_pages());
    if (wait) {
      palloc_stats st;
      palloc_get_stats(g_arena, &st);
      fprintf(stderr,
              "palloc: commit of epoch %llu: %llu pages (%llu free ones left out), threads stopped %.2f ms "
              "(waiting for them %.2f ms), written in %.2f ms\n",
              static_cast<unsigned long long>(epoch), static_cast<unsigned long long>(st.last_commit_pages),
              free_pages, ms(t2 - t0).count(), ms(t1 - t0).count(),
              ms(std::chrono::steady_clock::now() - t0).count());
    } else {
      fprintf(stderr,
              "palloc: commit of epoch %llu: %llu free pages left out, threads stopped %.2f ms (waiting for them "
              "%.2f ms), the record is written in the background\n",
              static_cast<unsigned long long>(epoch), free_pages, ms(t2 - t0).count(), ms(t1 - t0).count());
    }
  }
  // Without waiting, the writer thread asks for the sync once the record is written.
  if (s.ok() && wait) s = g_arena->impl->commit_wait(epoch);
  if (!s.ok()) {
    set_last_error(s);
    return -static_cast<int64_t>(s.code());
  }
  return static_cast<int64_t>(epoch);
}

}  // namespace palloc::heap

using namespace palloc;

// ---- hooks called by the mimalloc fork (mi_hooks.h) ----

extern "C" void _mi_palloc_process_init(void) { heap::init(); }

extern "C" bool _mi_palloc_arena_commit(void *start, size_t size) {
  const uint64_t end = reinterpret_cast<uintptr_t>(start) + size - heap::g_base;
  if (end <= heap::g_backed.load(std::memory_order_acquire)) return true;
  RuntimeScope runtime;
  std::lock_guard<std::mutex> lk(heap::g_grow_mu);
  const uint64_t backed = heap::g_backed.load(std::memory_order_relaxed);
  if (end <= backed) return true;
  // Grow by at least an eighth (fewer, larger reservations), in 2 MiB steps.
  const uint64_t max = palloc_max_size(heap::g_arena);
  uint64_t want = std::max(end, backed + backed / 8);
  want = std::min<uint64_t>((want + (2u << 20) - 1) & ~uint64_t((2u << 20) - 1), max);
  if (want < end) return false;
  if (palloc_grow(heap::g_arena, want) != PALLOC_OK) {
    if (heap::g_verbose) fprintf(stderr, "palloc: the heap cannot grow: %s\n", palloc_last_error());
    errno = ENOMEM;
    return false;
  }
  heap::g_backed.store(want, std::memory_order_release);
  return true;
}

extern "C" bool _mi_palloc_arena_decommit(void *start, size_t size) {
  // Only the backed part holds pages; beyond it is reserved address space.
  const uintptr_t s = reinterpret_cast<uintptr_t>(start);
  const uint64_t backed_end = heap::g_base + heap::g_backed.load(std::memory_order_acquire);
  if (s >= backed_end) return true;
  const size_t n = std::min<uint64_t>(size, backed_end - s);
  return madvise(start, n, MADV_DONTNEED) == 0;
}

// Thread exit: mimalloc abandons the thread's heap. Rare, so it simply excludes commits.
extern "C" void _mi_palloc_enter(void) {
  if (heap::mode() == heap::kPersistent) barrier::exclusive_begin();
}

extern "C" void _mi_palloc_leave(void) {
  if (heap::mode() == heap::kPersistent) barrier::exclusive_end();
}

// ---- public API (palloc.h) ----

extern "C" {

palloc_arena *palloc_heap_arena(void) {
  heap::init();
  return heap::mode() == heap::kPersistent ? heap::g_arena : nullptr;
}

int palloc_heap_resumed(void) {
  heap::init();
  return heap::g_resumed ? 1 : 0;
}

int64_t palloc_heap_commit(void) {
  heap::init();
  return heap::commit();
}

int64_t palloc_heap_commit_background(void) {
  heap::init();
  return heap::commit(false);
}

uint32_t palloc_heap_claim_commit_interval(void) {
  heap::init();
  heap::g_interval_claimed.store(true, std::memory_order_release);
  return heap::mode() == heap::kPersistent ? heap::g_interval_ms : 0;
}

void palloc_local_enter(void) { ++t_runtime_depth; }
void palloc_local_leave(void) {
  if (t_runtime_depth > 0) --t_runtime_depth;
}

int64_t palloc_heap_validate(void) {
  heap::init();
  RuntimeScope runtime;
  if (heap::mode() != heap::kPersistent) {
    heap::report_not_persistent();
    return -1;
  }
  barrier::begin();
  const char *detail = nullptr;
  const int64_t n = palloc_meta_validate(&detail);
  barrier::end();
  if (n < 0) set_last_error({PALLOC_E_CORRUPT, std::string("heap validation failed: ") + detail});
  return n;
}

}  // extern "C"
