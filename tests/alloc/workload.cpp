// workload.cpp — every allocation entry point of libpalloc, checked.
//
// malloc, free, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
// valloc, pvalloc, malloc_usable_size, strdup (the C library allocating through palloc),
// the palloc_* calls, and C++ new/delete in every form: scalar and array, sized,
// aligned, nothrow. Two threads free each other's blocks. Exits 0 when every check
// holds; run transient (no PALLOC_ARENA) under valgrind, or persistent under `palloc run`.
//
//   workload [--rounds N]   N rounds of the random mix (default 3)
//   workload --expect-transient | --expect-persistent   also check the mode
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <palloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <new>
#include <vector>

namespace {

int failures = 0;

// Counts a failed check; the first 12 are described on stderr.
#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      if (failures < 12) {                                      \
        fprintf(stderr, "FAIL: %s:%d: ", __FILE__, __LINE__);   \
        fprintf(stderr, __VA_ARGS__);                           \
        fputc('\n', stderr);                                    \
      }                                                         \
      failures++;                                               \
    }                                                           \
  } while (0)

uint64_t rng_state = 12345;
uint64_t next() {
  rng_state += 0x9e3779b97f4a7c15ull;
  uint64_t x = rng_state;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Sizes the compiler cannot see, and a sink it must write: keeps calls from being elided.
volatile size_t huge_size = SIZE_MAX / 2;
void *volatile sink;

bool aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

void fill(void *p, size_t n, unsigned char v) { memset(p, v, n); }

bool all_bytes(const void *p, size_t n, unsigned char v) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    if (c[i] != v) return false;
  return true;
}

// Every block the mix holds: pointer, size, fill byte, and how to free it.
enum class Kind { Malloc, New, NewArray, NewAligned, NewArrayAligned };
struct Held {
  void *p;
  size_t n;
  unsigned char v;
  Kind kind;
  size_t align;
};

void release(const Held &h) {
  CHECK(all_bytes(h.p, h.n, h.v), "block %p (%zu bytes) damaged before free", h.p, h.n);
  switch (h.kind) {
  case Kind::Malloc: free(h.p); break;
  case Kind::New: ::operator delete(h.p, h.n); break;  // sized delete
  case Kind::NewArray: ::operator delete[](h.p); break;
  case Kind::NewAligned: ::operator delete(h.p, h.n, std::align_val_t(h.align)); break;
  case Kind::NewArrayAligned: ::operator delete[](h.p, std::align_val_t(h.align)); break;
  }
}

size_t pick_size() {
  uint64_t r = next();
  switch (r % 20) {
  case 0: return 0;
  case 1: return (r >> 8) % (1 << 20) + (64 << 10);  // large
  case 2: return (r >> 8) % (16 << 10);
  default: return (r >> 8) % 512;
  }
}

Held allocate_one() {
  size_t n = pick_size();
  unsigned char v = static_cast<unsigned char>(next());
  Held h{nullptr, n, v, Kind::Malloc, 0};
  size_t a = size_t(16) << (next() % 9);  // 16 .. 4096
  switch (next() % 14) {
  case 0: h.p = malloc(n); break;
  case 1:
    h.p = calloc(1, n ? n : 1);
    if (h.p) CHECK(all_bytes(h.p, n, 0), "calloc(%zu) not zeroed", n);
    break;
  case 2: {
    void *p = nullptr;
    CHECK(posix_memalign(&p, a, n) == 0, "posix_memalign(%zu, %zu) failed", a, n);
    h.p = p;
    h.align = a;
    break;
  }
  case 3: h.p = aligned_alloc(a, (n + a - 1) / a * a); h.align = a; break;
  case 4: h.p = memalign(a, n); h.align = a; break;
  case 5: h.p = valloc(n); h.align = (size_t)sysconf(_SC_PAGESIZE); break;
  case 6: h.p = palloc_malloc(n); break;
  case 7: h.p = palloc_calloc(n ? n : 1, 1); if (h.p) CHECK(all_bytes(h.p, n, 0), "palloc_calloc not zeroed"); break;
  case 8: h.p = palloc_aligned_alloc(a, (n + a - 1) / a * a); h.align = a; break;
  case 9: h.p = ::operator new(n); h.kind = Kind::New; break;
  case 10: h.p = ::operator new[](n); h.kind = Kind::NewArray; break;
  case 11: h.p = ::operator new(n, std::align_val_t(a)); h.kind = Kind::NewAligned; h.align = a; break;
  case 12: h.p = ::operator new[](n, std::align_val_t(a)); h.kind = Kind::NewArrayAligned; h.align = a; break;
  default: h.p = ::operator new(n, std::nothrow); h.kind = Kind::New; break;
  }
  CHECK(h.p != nullptr, "allocation of %zu bytes failed", n);
  if (!h.p) {
    h.p = malloc(1);
    h.n = 0;
    h.kind = Kind::Malloc;
  }
  if (h.align) CHECK(aligned(h.p, h.align), "%p not aligned to %zu", h.p, h.align);
  CHECK(aligned(h.p, 8) || n < 8, "%p not 8-byte aligned", h.p);
  CHECK(malloc_usable_size(h.p) >= h.n, "usable size %zu < %zu", malloc_usable_size(h.p), h.n);
  CHECK(palloc_usable_size(h.p) == malloc_usable_size(h.p), "palloc_usable_size differs");
  fill(h.p, h.n, h.v);
  return h;
}

void mix(int rounds) {
  std::vector<Held> held;
  held.reserve(4096);
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < 3000; i++) {
      uint64_t r = next() % 10;
      if (r < 5 || held.empty()) {
        held.push_back(allocate_one());
      } else if (r < 8) {
        size_t k = next() % held.size();
        release(held[k]);
        held[k] = held.back();
        held.pop_back();
      } else {  // realloc a malloc-family block (not aligned ones: realloc keeps only 16)
        size_t k = next() % held.size();
        Held &h = held[k];
        if (h.kind != Kind::Malloc || h.align > 16) continue;
        size_t n = pick_size();
        size_t keep = n < h.n ? n : h.n;
        void *q = next() % 2 ? realloc(h.p, n ? n : 1) : palloc_realloc(h.p, n ? n : 1);
        CHECK(q != nullptr, "realloc to %zu failed", n);
        if (!q) continue;
        CHECK(all_bytes(q, keep, h.v), "realloc %zu -> %zu lost contents", h.n, n);
        h.p = q;
        h.n = n;
        h.align = 0;
        fill(q, n, h.v);
        CHECK(malloc_usable_size(q) >= n, "usable size after realloc");
      }
    }
  }
  for (const Held &h : held) release(h);
}

void edge_cases() {
  // malloc(0), free(NULL), realloc(NULL), realloc to 0-ish, calloc overflow.
  void *p = malloc(0);
  CHECK(p != nullptr, "malloc(0) returned NULL");
  free(p);
  free(nullptr);
  palloc_free(nullptr);
  p = realloc(nullptr, 100);
  CHECK(p != nullptr, "realloc(NULL, 100)");
  fill(p, 100, 3);
  p = realloc(p, 1);
  CHECK(p && all_bytes(p, 1, 3), "realloc shrink");
  free(p);
  errno = 0;
  p = calloc(huge_size, 4);
  CHECK(p == nullptr && errno == ENOMEM, "calloc overflow: %p errno %d", p, errno);
  errno = 0;
  p = malloc(huge_size * 2 - 4096);
  CHECK(p == nullptr && errno == ENOMEM, "malloc(huge): %p errno %d", p, errno);
  p = reallocarray(nullptr, 10, 10);
  CHECK(p != nullptr, "reallocarray(NULL, 10, 10)");
  fill(p, 100, 9);
  errno = 0;
  // Through a pointer: a failed reallocarray leaves p valid, which the compiler's
  // use-after-free warning does not know.
  void *(*volatile realloc_array)(void *, size_t, size_t) = reallocarray;
  void *q = realloc_array(p, huge_size, 3);
  CHECK(q == nullptr && errno == ENOMEM, "reallocarray overflow: %p errno %d", q, errno);
  CHECK(all_bytes(p, 100, 9), "a failed reallocarray changed the block");
  free(p);

  // posix_memalign: bad alignments are EINVAL, big ones work.
  void *m = reinterpret_cast<void *>(1);
  CHECK(posix_memalign(&m, 24, 8) == EINVAL, "posix_memalign(24) not EINVAL");
  CHECK(posix_memalign(&m, 4, 8) == EINVAL, "posix_memalign(4) not EINVAL");
  for (size_t a = 8; a <= (size_t(4) << 20); a <<= 1) {
    CHECK(posix_memalign(&m, a, 100) == 0 && aligned(m, a), "posix_memalign(%zu)", a);
    fill(m, 100, 1);
    free(m);
  }
  long page = sysconf(_SC_PAGESIZE);
  p = pvalloc(1);
  CHECK(p && aligned(p, (size_t)page) && malloc_usable_size(p) >= (size_t)page, "pvalloc(1)");
  fill(p, (size_t)page, 4);
  free(p);
  p = valloc(10);
  CHECK(p && aligned(p, (size_t)page), "valloc");
  free(p);
  p = memalign(64, 10);
  CHECK(p && aligned(p, 64), "memalign");
  free(p);

  // The C library allocating through palloc.
  char *s = strdup("a string from the C library");
  CHECK(s && malloc_usable_size(s) >= 28, "strdup");
  free(s);
  char *line = nullptr;
  size_t cap = 0;
  FILE *f = fmemopen(const_cast<char *>("one line\n"), 9, "r");
  CHECK(f && getline(&line, &cap, f) == 9 && strcmp(line, "one line\n") == 0, "getline");
  if (f) fclose(f);
  free(line);

  // C++: every form of new and delete.
  struct alignas(256) Wide {
    unsigned char b[300];
  };
  Wide *w = new Wide;
  CHECK(aligned(w, 256), "new of an alignas(256) type: %p", (void *)w);
  fill(w, sizeof *w, 5);
  delete w;
  Wide *wa = new Wide[7];
  CHECK(aligned(wa, 256), "new[] of an alignas(256) type");
  fill(wa, 7 * sizeof *wa, 6);
  delete[] wa;
  int *i = new int(7);
  delete i;
  std::vector<std::vector<int>> vv(50);
  for (size_t k = 0; k < vv.size(); k++) vv[k].resize(k * 10, (int)k);
  for (size_t k = 0; k < vv.size(); k++)
    for (int x : vv[k]) CHECK(x == (int)k, "vector contents");
  // Failing operator new must throw std::bad_alloc (not abort): each form is tried in a
  // child, so that an abort is reported as a failure instead of ending the workload.
  for (int form = 0; form < 4; form++) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      try {
        switch (form) {
        case 0: sink = ::operator new(huge_size); break;
        case 1: sink = ::operator new[](huge_size); break;
        case 2: sink = ::operator new(huge_size, std::align_val_t(64)); break;
        default: sink = ::operator new[](huge_size, std::align_val_t(4096)); break;
        }
      } catch (const std::bad_alloc &) {
        _exit(0);
      }
      _exit(3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    static const char *const names[] = {"new", "new[]", "new(align 64)", "new[](align 4096)"};
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "operator %s(huge) %s", names[form],
          WIFSIGNALED(st) ? (WTERMSIG(st) == SIGABRT ? "aborted instead of throwing std::bad_alloc"
                                                      : "crashed")
                          : "did not throw std::bad_alloc");
  }
  sink = ::operator new(huge_size, std::nothrow);
  CHECK(sink == nullptr, "nothrow new(huge) not NULL");
  void *al = ::operator new(1000, std::align_val_t(4096), std::nothrow);
  CHECK(al && aligned(al, 4096), "nothrow aligned new");
  ::operator delete(al, std::align_val_t(4096));
}

// Two threads: each allocates, hands half its blocks to the other, frees what it gets.
struct Exchange {
  std::atomic<void *> box[2][256];
};
Exchange ex;

void *exchanger(void *arg) {
  int me = (int)(intptr_t)arg, other = 1 - me;
  uint64_t r = 99 + (uint64_t)me;
  for (int i = 0; i < 20000; i++) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    unsigned k = (unsigned)(r >> 33) % 256;
    void *mine = malloc(16 + (r >> 40) % 2000);
    memset(mine, me, 16);
    void *old = ex.box[me][k].exchange(mine);  // give
    free(old);                                 // (freed by its allocator, or by us)
    void *got = ex.box[other][k].exchange(nullptr);  // take
    if (got) {
      CHECK(all_bytes(got, 16, (unsigned char)other), "cross-thread block damaged");
      free(got);
    }
  }
  return nullptr;
}

void threads() {
  pthread_t t[2];
  for (int k = 0; k < 2; k++) pthread_create(&t[k], nullptr, exchanger, (void *)(intptr_t)k);
  for (int k = 0; k < 2; k++) pthread_join(t[k], nullptr);
  for (auto &side : ex.box)
    for (auto &b : side) free(b.exchange(nullptr));
}

}  // namespace

int main(int argc, char **argv) {
  int rounds = 3;
  bool expect_transient = false, expect_persistent = false;
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--rounds") && k + 1 < argc) rounds = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--expect-transient")) expect_transient = true;
    else if (!strcmp(argv[k], "--expect-persistent")) expect_persistent = true;
  }
  // This program is only a test of palloc if malloc is palloc's.
  Dl_info info{};
  CHECK(dladdr(reinterpret_cast<void *>(&malloc), &info) && info.dli_fname &&
            strstr(info.dli_fname, "libpalloc"),
        "malloc is not libpalloc's (it comes from %s)", info.dli_fname ? info.dli_fname : "?");
  if (expect_transient) {
    CHECK(palloc_heap_arena() == nullptr, "an arena in transient mode");
    CHECK(palloc_heap_resumed() == 0, "resumed in transient mode");
    CHECK(palloc_heap_commit() < 0, "palloc_heap_commit() succeeded in transient mode");
  }
  if (expect_persistent) CHECK(palloc_heap_arena() != nullptr, "no arena in persistent mode");

  edge_cases();
  mix(rounds);
  threads();
  if (palloc_heap_arena()) {
    int64_t e = palloc_heap_commit();
    CHECK(e > 0, "palloc_heap_commit() = %lld", (long long)e);
  }
  int64_t live = palloc_heap_validate();
  if (palloc_heap_arena()) CHECK(live >= 0, "palloc_heap_validate() = %lld", (long long)live);
  // In a fork child too (transient or detached persistent).
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    failures = 0;
    mix(1);
    _exit(failures ? 1 : 0);
  }
  int st = 0;
  CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
        "the fork child's mix failed (%#x)", st);
  printf("workload %s failures=%d resumed=%d live=%lld\n", failures ? "FAILED" : "ok", failures,
         palloc_heap_resumed(), (long long)live);
  return failures ? 1 : 0;
}
