// io.cpp — EINTR-safe, Status-returning file I/O.
#include "io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

namespace palloc {

namespace {
std::atomic<bool> g_high_fds{false};
}

void use_high_fds() { g_high_fds.store(true, std::memory_order_relaxed); }

int move_fd_high(int fd) {
  if (fd < 0 || fd >= kHighFd || !g_high_fds.load(std::memory_order_relaxed)) return fd;
  const int flags = fcntl(fd, F_GETFD);
  const int high = fcntl(fd, (flags >= 0 && (flags & FD_CLOEXEC)) ? F_DUPFD_CLOEXEC : F_DUPFD, kHighFd);
  if (high < 0) return fd;  // a low RLIMIT_NOFILE: keep the number we have
  ::close(fd);
  return high;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status pread_full(int fd, void *buf, size_t len, uint64_t off, const std::string &what) {
  auto *p = static_cast<uint8_t *>(buf);
  while (len > 0) {
    ssize_t n = ::pread(fd, p, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "reading " + what);
    if (n == 0) return {PALLOC_E_CORRUPT, "reading " + what + ": unexpected end of file"};
    p += n;
    off += static_cast<uint64_t>(n);
    len -= static_cast<size_t>(n);
  }
  return ok_status();
}

Status pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const std::string &what) {
  struct iovec iov = {const_cast<void *>(buf), len};
  return pwritev_full(fd, &iov, 1, off, what);
}

Status pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off, const std::string &what) {
  while (iovcnt > 0) {
    ssize_t n = ::pwritev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "writing " + what);
    off += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<uint8_t *>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return ok_status();
}

Status fdatasync_checked(int fd, const std::string &what) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno_status(errno, "syncing " + what);
  }
  return ok_status();
}

Status fsync_dir_of(const std::string &path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash ? slash : 1);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status(errno, "opening directory " + dir);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno_status(errno, "syncing directory " + dir);
  return ok_status();
}

Status reserve_space(int fd, uint64_t off, uint64_t len, bool keep_size, const std::string &what) {
  if (len == 0) return ok_status();
  int mode = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
  while (::fallocate(fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP) {
      // File systems without fallocate: extend the size; space is then not reserved.
      if (keep_size) return ok_status();
      if (file_size(fd) < off + len && ::ftruncate(fd, static_cast<off_t>(off + len)) != 0)
        return errno_status(errno, "extending " + what);
      return ok_status();
    }
    return errno_status(errno, "reserving disk space for " + what);
  }
  return ok_status();
}

uint64_t file_size(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
uint64_t now_unix_ns() { return clock_ns(CLOCK_REALTIME); }
uint64_t now_monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

}  // namespace palloc
