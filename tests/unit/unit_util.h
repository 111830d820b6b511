// unit_util.h — shared helpers for the unit tests: temporary directories, arena options,
// an owning arena handle, and running a piece of a test in a forked child process.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "palloc.h"

namespace unit {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    const char *root = getenv("TMPDIR");
    std::string tmpl = std::string(root && *root ? root : "/tmp") + "/palloc-unit-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
      ADD_FAILURE() << "mkdtemp failed: " << strerror(errno);
      return;
    }
    path_ = buf.data();
  }
  ~TempDir() {
    if (path_.empty()) return;
    nftw(
        path_.c_str(),
        [](const char *p, const struct stat *, int, struct FTW *) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Distinct, valid arena bases (17 TiB + k * 64 GiB, all below 20 TiB), so an arena a
// failed test left open never blocks the next test's arena.
inline uint64_t arena_base(unsigned k) { return 0x110000000000ull + uint64_t{k} * (64ull << 30); }

constexpr uint64_t kMiB = 1ull << 20;

inline size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// Small arenas keep the tests quick: 64 MiB at most, 1 MiB at first. Every field is set
// here, so PALLOC_* variables in the environment that runs the tests change nothing.
inline palloc_options test_options(uint64_t base, palloc_tracker_kind tracker = PALLOC_TRACKER_AUTO) {
  palloc_options o;
  palloc_options_init(&o);
  o.flags = PALLOC_CREATE;
  o.durability = PALLOC_DURABILITY_SYNC;
  o.async_bound_ms = 1000;
  o.checkpoint_bytes = 64 * kMiB;
  o.base = base;
  o.max_size = 64 * kMiB;
  o.initial_size = 1 * kMiB;
  o.tracker = tracker;
  return o;
}

struct ArenaCloser {
  void operator()(palloc_arena *a) const { palloc_close(a); }
};
// Closes the arena when a test leaves early through a failed assertion.
using ArenaPtr = std::unique_ptr<palloc_arena, ArenaCloser>;

inline ArenaPtr open_arena(const std::string &path, const palloc_options &opts, palloc_status *st) {
  palloc_arena *a = nullptr;
  *st = palloc_open(path.c_str(), &opts, &a);
  return ArenaPtr(a);
}

// Longest a forked child of a test may live.
constexpr unsigned kChildSeconds = 30;

// Waits for a child; its exit code, or 128 + signal if it was killed.
inline int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline std::string read_file(const std::string &path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Waits (a few seconds at most) until every other thread of this process sleeps in a
// futex wait, i.e. holds no allocator lock. glibc's malloc makes fork() safe in a
// multi-threaded process, but the sanitizer's allocator (GCC 12) does not: a child
// forked while an arena's background thread was inside it (as it is right after the
// thread starts) can deadlock on its first allocation.
inline bool quiesce_threads() {
  const pid_t self = static_cast<pid_t>(gettid());
  for (int attempt = 0; attempt < 5000; attempt++) {
    bool all_waiting = true;
    if (DIR *d = opendir("/proc/self/task")) {
      while (struct dirent *e = readdir(d)) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
        const std::string wchan = read_file(std::string("/proc/self/task/") + e->d_name + "/wchan");
        if (wchan.find("futex") == std::string::npos) all_waiting = false;
      }
      closedir(d);
    }
    if (all_waiting) return true;
    usleep(1000);
  }
  return false;
}

// Runs fn in a forked child and returns its exit code (128 + signal if it was killed).
// GoogleTest assertions do not cross the fork, so child code reports failures with
// CHILD_CHECK, which prints the condition and makes the child exit non-zero.
inline int run_in_child(const std::function<int()> &fn) {
  quiesce_threads();
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed: " << strerror(errno);
    return -1;
  }
  if (pid == 0) {
    alarm(kChildSeconds);  // a hung child dies (SIGALRM) instead of hanging the test
    int code = fn();
    fflush(nullptr);
    _exit(code);  // no atexit handlers, no leak check of the parent's objects
  }
  return wait_for(pid);
}

#define CHILD_CHECK(cond)                                                                     \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: child check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, palloc_last_error());                                                    \
      return 1;                                                                               \
    }                                                                                         \
  } while (0)

// Kills the calling process the hard way: no close, no checkpoint, no flush.
[[noreturn]] inline void crash_now() {
  raise(SIGKILL);
  _exit(99);
}

inline bool write_file(const std::string &path, const void *data, size_t len, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::write(fd, data, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

inline uint64_t file_size_of(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A deterministic byte pattern for page p of "generation" g, never all zeros.
inline uint8_t pattern_byte(uint64_t page, uint64_t gen, size_t i) {
  return static_cast<uint8_t>((page * 131 + gen * 31 + i * 7 + 1) | 1);
}
inline void fill_page(void *page, uint64_t pgidx, uint64_t gen) {
  auto *b = static_cast<uint8_t *>(page);
  for (size_t i = 0; i < page_size(); i++) b[i] = pattern_byte(pgidx, gen, i);
}
inline bool page_has(const void *page, uint64_t pgidx, uint64_t gen) {
  auto *b = static_cast<const uint8_t *>(page);
  for (size_t i = 0; i < page_size(); i++)
    if (b[i] != pattern_byte(pgidx, gen, i)) return false;
  return true;
}

}  // namespace unit
