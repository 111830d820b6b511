// fault_isolation.cpp — isolated children, private mount namespaces.
#include "fault_isolation.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "fault_files.h"

namespace crash {

::testing::AssertionResult run_isolated(const std::function<void()> &body) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork: " << strerror(errno);
  if (pid == 0) {
    try {
      body();
    } catch (const std::exception &e) {
      ADD_FAILURE() << "exception: " << e.what();
    }
    fflush(stdout);
    fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ::testing::AssertionSuccess();
  if (WIFEXITED(status))
    return ::testing::AssertionFailure() << "the isolated child failed (exit status " << WEXITSTATUS(status)
                                         << "; its failures are printed above)";
  return ::testing::AssertionFailure() << "the isolated child was killed by signal " << WTERMSIG(status) << " ("
                                       << strsignal(WTERMSIG(status)) << ")";
}

void unmap_arena_range(void *base, uint64_t max_size) { munmap(base, max_size); }

std::string mount_tmpfs(const std::string &dir, uint64_t bytes) {
  // A private namespace keeps the mount out of everyone else's sight and ends it with
  // this process. Without one (no CAP_SYS_ADMIN in a user namespace), try a plain mount.
  if (unshare(CLONE_NEWNS) == 0) {
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return std::string("making mounts private: ") + strerror(errno);
  }
  mkdir(dir.c_str(), 0700);
  const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
    return "mount -t tmpfs -o " + opts + " " + dir + ": " + strerror(errno);
  return "";
}

void with_fast_dir(const std::string &dir, const std::function<void(const std::string &)> &body) {
  struct statfs fs;
  if ((statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC) || !tmpfs_unavailable_reason().empty()) {
    body(dir);
    return;
  }
  const ::testing::AssertionResult child = run_isolated([&] {
    const std::string fast = dir + "/tmpfs";
    ASSERT_EQ(mount_tmpfs(fast, 256ull << 20), "");
    body(fast);
    umount2(fast.c_str(), MNT_DETACH);
  });
  EXPECT_TRUE(child);
}

std::string bind_read_only(const std::string &src, const std::string &dst) {
  mkdir(dst.c_str(), 0700);
  if (mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return "bind mount " + src + " on " + dst + ": " + strerror(errno);
  if (mount(nullptr, dst.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
    return "remounting " + dst + " read-only: " + strerror(errno);
  return "";
}

std::string tmpfs_unavailable_reason() {
  static const std::string reason = [] {
    TempDir dir;
    int fds[2];
    if (pipe(fds) != 0) return std::string("pipe: ") + strerror(errno);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return std::string("fork: ") + strerror(errno);
    if (pid == 0) {
      close(fds[0]);
      std::string why = mount_tmpfs(dir / "mnt", 1 << 20);
      if (why.empty()) why = bind_read_only(dir / "mnt", dir / "ro");
      if (!why.empty() && write(fds[1], why.data(), why.size()) < 0) _exit(2);
      // Outside a private namespace the mounts must not outlive the probe.
      umount2((dir / "ro").c_str(), MNT_DETACH);
      umount2((dir / "mnt").c_str(), MNT_DETACH);
      _exit(0);
    }
    close(fds[1]);
    std::string why;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) why.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return why;
  }();
  return reason;
}

}  // namespace crash
