// power_cut.cpp — recording a traced run's file changes and replaying the durable ones.
#include "power_cut.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "fault_files.h"

namespace crash {

namespace {

constexpr uint64_t kBlock = 4096;  // the unit a disk keeps or loses

// Reads the traced thread's memory (it is stopped in a system call).
bool read_child(int tid, uint64_t addr, void *out, size_t len) {
  struct iovec local = {out, len};
  struct iovec remote = {reinterpret_cast<void *>(addr), len};
  return process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

std::string read_child_string(int tid, uint64_t addr) {
  std::string s;
  char buf[64];
  for (;;) {
    // Byte by chunk: a chunk may cross into an unmapped page after the terminator.
    size_t n = sizeof buf;
    while (n > 0 && !read_child(tid, addr + s.size(), buf, n)) n /= 2;
    if (n == 0) return s;
    const void *nul = std::memchr(buf, 0, n);
    if (nul) return s.append(buf, static_cast<const char *>(nul) - buf);
    s.append(buf, n);
    if (s.size() > 4096) return s;
  }
}

}  // namespace

void FileChangeLog::note_unsupported(const std::string &what) {
  if (unsupported_.empty()) unsupported_ = what;
}

uint64_t FileChangeLog::unsynced() const {
  return static_cast<uint64_t>(std::count_if(changes_.begin(), changes_.end(), [](const Change &c) { return !c.durable; }));
}

void FileChangeLog::observe(const CompletedCall &c) {
  if (c.rval < 0) return;  // failed calls change nothing (short writes are handled below)
  const int fd = static_cast<int>(c.args[0]);
  auto tracked = [&]() -> const size_t * {
    auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : &it->second;
  };
  switch (c.nr) {
    case SYS_openat: {
      const std::string path = read_child_string(c.tid, c.args[1]);
      auto it = std::find(files_.begin(), files_.end(), path);
      if (it == files_.end()) {
        fds_.erase(static_cast<int>(c.rval));
        return;
      }
      fds_[static_cast<int>(c.rval)] = static_cast<size_t>(it - files_.begin());
      if (c.args[2] & O_TRUNC) changes_.push_back({Change::kTruncate, fds_[static_cast<int>(c.rval)], 0, 0, {}, false});
      return;
    }
    case SYS_close: fds_.erase(fd); return;
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_pwritev2: {
      const size_t *file = tracked();
      if (!file || c.rval == 0) return;
      Change ch;
      ch.file = *file;
      ch.off = c.args[3];
      ch.len = static_cast<uint64_t>(c.rval);
      ch.data.resize(ch.len);
      if (c.nr == SYS_pwrite64) {
        if (!read_child(c.tid, c.args[1], ch.data.data(), ch.len)) note_unsupported("cannot read a pwrite buffer");
      } else {
        if (c.nr == SYS_pwritev2 && static_cast<int64_t>(c.args[3]) == -1)
          note_unsupported("pwritev2 at the file position");
        std::vector<struct iovec> iov(c.args[2]);
        if (!read_child(c.tid, c.args[1], iov.data(), iov.size() * sizeof(struct iovec)))
          note_unsupported("cannot read a pwritev vector");
        uint64_t got = 0;
        for (const struct iovec &v : iov) {
          if (got == ch.len) break;
          const uint64_t n = std::min<uint64_t>(v.iov_len, ch.len - got);
          if (!read_child(c.tid, reinterpret_cast<uint64_t>(v.iov_base), ch.data.data() + got, n))
            note_unsupported("cannot read a pwritev buffer");
          got += n;
        }
      }
      changes_.push_back(std::move(ch));
      return;
    }
    case SYS_ftruncate:
      if (const size_t *file = tracked()) changes_.push_back({Change::kTruncate, *file, c.args[1], 0, {}, false});
      return;
    case SYS_fallocate:
      if (const size_t *file = tracked()) {
        const uint64_t mode = c.args[1], off = c.args[2], len = c.args[3];
        if (mode & FALLOC_FL_PUNCH_HOLE) {
          changes_.push_back({Change::kPunch, *file, off, len, {}, false});
        } else if (mode & ~uint64_t{FALLOC_FL_KEEP_SIZE}) {
          note_unsupported("fallocate mode " + std::to_string(mode));
        } else if (!(mode & FALLOC_FL_KEEP_SIZE)) {
          changes_.push_back({Change::kExtend, *file, off, len, {}, false});
        }  // KEEP_SIZE: space only, nothing visible
      }
      return;
    case SYS_fdatasync:
    case SYS_fsync:
      if (const size_t *file = tracked())
        for (Change &ch : changes_)
          if (ch.file == *file) ch.durable = true;
      return;
    case SYS_sync:
    case SYS_syncfs:
      for (Change &ch : changes_) ch.durable = true;
      return;
    case SYS_write:
    case SYS_writev:
    case SYS_copy_file_range:
    case SYS_sendfile:
    case SYS_dup:
    case SYS_dup2:
    case SYS_dup3:
      if (tracked()) note_unsupported("system call " + std::to_string(c.nr) + " on an arena file");
      return;
    case SYS_mmap:
      if (tracked() && (c.args[2] & PROT_WRITE) && (c.args[3] & MAP_SHARED))
        note_unsupported("a writable shared mapping of an arena file");
      return;
    default: return;
  }
}

void FileChangeLog::build(const std::vector<std::string> &before, const std::vector<std::string> &to, Keep keep,
                          Rng *rng) const {
  for (size_t i = 0; i < files_.size(); i++) {
    copy_file_sparse(before[i], to[i]);
    const int fd = ::open(to[i].c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + to[i] + ": " + strerror(errno));
    auto kept = [&](const Change &ch) { return ch.durable || (keep == Keep::kRandomSubset && rng->below(2)); };
    bool ok = true;
    for (const Change &ch : changes_) {
      if (ch.file != i) continue;
      switch (ch.kind) {
        case Change::kWrite:
          // Block by block: a disk may keep any of the blocks of a write it had not synced.
          for (uint64_t at = ch.off; at < ch.off + ch.len;) {
            const uint64_t end = std::min(ch.off + ch.len, (at / kBlock + 1) * kBlock);
            if (kept(ch))
              ok &= ::pwrite(fd, ch.data.data() + (at - ch.off), end - at, static_cast<off_t>(at)) ==
                    static_cast<ssize_t>(end - at);
            at = end;
          }
          break;
        case Change::kTruncate:
          if (kept(ch)) ok &= ::ftruncate(fd, static_cast<off_t>(ch.off)) == 0;
          break;
        case Change::kExtend:
          if (kept(ch) && file_size(to[i]) < ch.off + ch.len)
            ok &= ::ftruncate(fd, static_cast<off_t>(ch.off + ch.len)) == 0;
          break;
        case Change::kPunch:
          if (kept(ch))
            ok &= ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(ch.off),
                              static_cast<off_t>(ch.len)) == 0;
          break;
      }
    }
    ::close(fd);
    if (!ok) throw std::runtime_error("rebuilding " + to[i] + ": " + strerror(errno));
  }
}

}  // namespace crash
