// image.cpp — py-persist's record in the heap, found through the named root "py-persist".
//
// Everything else the interpreter needs is in the heap and in the restored static data of
// libpython; the record holds the facts about the committing *process* that a resume must
// re-establish: which file descriptors were open (to fence them), the locale, the working
// directory, how many pthread keys were taken. Versioned and checksummed (docs/format.md,
// "The Python image record"); rewritten before every commit.
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <xxhash.h>

#include <clocale>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "palloc.h"
#include "py_persist.h"

namespace pp::image {

constexpr const char *kRootName = "py-persist";
constexpr uint64_t kMagic = 0x3130535245505950ull;  // "PYPERS01"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxFds = 1024;
constexpr int kPallocFdFloor = 900;  // libpalloc keeps its own descriptors at or above this

enum Flags : uint32_t {
  kFramesLive = 1u << 0,  // the commit was made inside a Python call (palloc.commit(), a timer)
};

struct Record {
  uint64_t magic;
  uint32_t version;
  uint32_t size;               // sizeof(Record)
  uint64_t created_unix_ns;
  uint64_t commits;            // commits of this state, all processes
  uint64_t last_commit_unix_ns;
  uint32_t flags;
  uint32_t pthread_keys;       // keys below this number may be held by the interpreter
  uint32_t fd_count;
  int32_t fds[kMaxFds];        // descriptors open at the commit (3 .. kPallocFdFloor-1)
  char locale[512];            // setlocale(LC_ALL, NULL)
  char start_cwd[PATH_MAX];    // the committing process's directory when it started
  char cwd[PATH_MAX];          // and at the commit
  uint64_t checksum;           // XXH3-64 of everything above
};

namespace {

char g_start_cwd[PATH_MAX];  // this process's, taken before Python runs

uint64_t now_unix_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t checksum(const Record *r) { return XXH3_64bits(r, offsetof(Record, checksum)); }

void copy_string(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

// The lowest pthread key number nobody holds.
unsigned next_free_pthread_key() {
  pthread_key_t k;
  if (pthread_key_create(&k, nullptr) != 0) return PTHREAD_KEYS_MAX;
  pthread_key_delete(k);
  return static_cast<unsigned>(k);
}

}  // namespace

Record *find() {
  if (!getcwd(g_start_cwd, sizeof g_start_cwd)) g_start_cwd[0] = '\0';
  uint64_t value = 0;
  if (palloc_root_get_named(palloc_heap_arena(), kRootName, &value) != PALLOC_OK || value == 0) return nullptr;
  auto *r = reinterpret_cast<Record *>(value);
  if (r->magic != kMagic)
    refuse("the root \"py-persist\" does not point at a py-persist record (is this the arena of another program?)");
  if (r->version != kVersion || r->size != sizeof(Record))
    refuse("the image record has version " + std::to_string(r->version) + " (" + std::to_string(r->size) +
           " bytes); this py-persist reads version " + std::to_string(kVersion));
  if (r->checksum != checksum(r)) refuse("the image record fails its checksum");
  return r;
}

Record *create() {
  auto *r = static_cast<Record *>(palloc_malloc(sizeof(Record)));
  if (!r) fail("out of memory creating the image record");
  memset(r, 0, sizeof *r);
  r->magic = kMagic;
  r->version = kVersion;
  r->size = sizeof(Record);
  r->created_unix_ns = now_unix_ns();
  r->checksum = checksum(r);
  if (palloc_root_set_named(palloc_heap_arena(), kRootName, reinterpret_cast<uint64_t>(r)) != PALLOC_OK)
    fail(std::string("cannot set the root \"py-persist\": ") + palloc_last_error());
  return r;
}

void capture(Record *r, bool live) {
  r->flags = live ? (r->flags | kFramesLive) : (r->flags & ~kFramesLive);
  r->pthread_keys = next_free_pthread_key();
  r->fd_count = 0;
  if (DIR *d = opendir("/proc/self/fd")) {
    const int own = dirfd(d);
    while (dirent *e = readdir(d)) {
      const int fd = atoi(e->d_name);
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd <= 2 || fd == own || fd >= kPallocFdFloor) continue;
      if (r->fd_count < kMaxFds) r->fds[r->fd_count++] = fd;
    }
    closedir(d);
  }
  copy_string(r->locale, sizeof r->locale, setlocale(LC_ALL, nullptr));
  copy_string(r->start_cwd, sizeof r->start_cwd, g_start_cwd);
  if (!getcwd(r->cwd, sizeof r->cwd)) copy_string(r->cwd, sizeof r->cwd, g_start_cwd);
  r->commits++;
  r->last_commit_unix_ns = now_unix_ns();
  r->checksum = checksum(r);
}

bool frames_live(const Record *r) { return r->flags & kFramesLive; }
unsigned pthread_keys(const Record *r) { return r->pthread_keys; }
std::vector<int> fds(const Record *r) { return {r->fds, r->fds + r->fd_count}; }
const char *locale(const Record *r) { return r->locale; }
std::string program_cwd(const Record *r) { return strcmp(r->cwd, r->start_cwd) != 0 ? r->cwd : ""; }
uint64_t last_commit_unix_ns() { return record() ? record()->last_commit_unix_ns : 0; }

}  // namespace pp::image
