// io.h — small wrappers over file system calls that retry on EINTR and turn failures
// into Status values naming the file and the operation.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "status.h"

namespace palloc {

Status pread_full(int fd, void *buf, size_t len, uint64_t off, const std::string &what);
Status pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const std::string &what);
// Writes all of iov[0..iovcnt) at off (the iovec array is consumed).
Status pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off, const std::string &what);
Status fdatasync_checked(int fd, const std::string &what);
Status fsync_dir_of(const std::string &path);
// Reserves [off, off+len) on disk (ENOSPC now rather than SIGBUS later).
Status reserve_space(int fd, uint64_t off, uint64_t len, bool keep_size, const std::string &what);
uint64_t file_size(int fd);
uint64_t now_unix_ns();
uint64_t now_monotonic_ns();

// Moves fd to a number >= kHighFd (closing the original) when the limit allows and
// high descriptors were asked for, so that the persistent heap's own descriptors never
// take the low numbers a resumed program used for its files and sockets before the
// restart. Returns the descriptor to use.
constexpr int kHighFd = 900;
int move_fd_high(int fd);
// The persistent heap asks for high descriptors before it opens its arena.
void use_high_fds();

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  // Long-lived descriptors are moved to high numbers (see move_fd_high).
  explicit Fd(int fd) : fd_(move_fd_high(fd)) {}
  ~Fd() { reset(); }
  Fd(Fd &&o) noexcept : fd_(o.release()) {}
  Fd &operator=(Fd &&o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace palloc
