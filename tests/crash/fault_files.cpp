// fault_files.cpp — scratch directories, sparse copies, bit flips, fingerprints.
#include "fault_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace crash {

namespace {

[[noreturn]] void die(const std::string &what) { throw std::runtime_error(what + ": " + strerror(errno)); }

struct AutoFd {
  int fd;
  explicit AutoFd(int f) : fd(f) {}
  ~AutoFd() {
    if (fd >= 0) ::close(fd);
  }
};

bool usable_dir(const char *dir, uint64_t min_free = 0) {
  struct stat st;
  struct statvfs vfs;
  if (!dir || !*dir || ::stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir, W_OK) != 0) return false;
  return min_free == 0 || (::statvfs(dir, &vfs) == 0 && uint64_t{vfs.f_bavail} * vfs.f_frsize >= min_free);
}

}  // namespace

TempDir::TempDir() {
  const char *base = getenv("PALLOC_TEST_DIR");
  // /dev/shm makes reopen loops fast, but containers often give it only 64 MiB: a few
  // tests running side by side need more than that.
  if (!usable_dir(base)) base = usable_dir("/dev/shm", 1ull << 30) ? "/dev/shm" : nullptr;
  if (!usable_dir(base)) base = getenv("TMPDIR");
  if (!usable_dir(base)) base = "/tmp";
  std::string templ = std::string(base) + "/palloc-fault-XXXXXX";
  if (!mkdtemp(templ.data())) die("mkdtemp " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> arena_files(const std::string &path) { return {path, path + ".wal0", path + ".wal1"}; }

void copy_file_sparse(const std::string &from, const std::string &to) {
  AutoFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) die("open " + from);
  AutoFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.fd < 0) die("create " + to);
  struct stat st;
  if (::fstat(in.fd, &st) != 0) die("stat " + from);
  std::vector<char> buf(1 << 20);
  off_t pos = 0;
  while (pos < st.st_size) {
    off_t data = ::lseek(in.fd, pos, SEEK_DATA);
    if (data < 0) break;  // only a hole is left
    off_t hole = ::lseek(in.fd, data, SEEK_HOLE);
    if (hole < 0) hole = st.st_size;
    for (off_t off = data; off < hole;) {
      const size_t want = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(buf.size()), hole - off));
      ssize_t n = ::pread(in.fd, buf.data(), want, off);
      if (n <= 0) die("read " + from);
      if (::pwrite(out.fd, buf.data(), static_cast<size_t>(n), off) != n) die("write " + to);
      off += n;
    }
    pos = hole;
  }
  if (::ftruncate(out.fd, st.st_size) != 0) die("truncate " + to);
}

void copy_arena(const std::string &from, const std::string &to) {
  const auto src = arena_files(from), dst = arena_files(to);
  for (size_t i = 0; i < src.size(); i++) copy_file_sparse(src[i], dst[i]);
}

void flip_bit(const std::string &file, uint64_t offset, unsigned bit) {
  AutoFd fd(::open(file.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.fd < 0) die("open " + file);
  uint8_t b;
  if (::pread(fd.fd, &b, 1, static_cast<off_t>(offset)) != 1) die("read " + file);
  b ^= static_cast<uint8_t>(1u << (bit & 7));
  if (::pwrite(fd.fd, &b, 1, static_cast<off_t>(offset)) != 1) die("write " + file);
}

void truncate_file(const std::string &file, uint64_t size) {
  if (::truncate(file.c_str(), static_cast<off_t>(size)) != 0) die("truncate " + file);
}

uint64_t file_size(const std::string &file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) die("stat " + file);
  return static_cast<uint64_t>(st.st_size);
}

std::vector<uint8_t> read_bytes(const std::string &file, uint64_t offset, uint64_t len) {
  AutoFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) die("open " + file);
  std::vector<uint8_t> buf(len);
  ssize_t n = ::pread(fd.fd, buf.data(), len, static_cast<off_t>(offset));
  if (n < 0) die("read " + file);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::string arena_fingerprint(const std::string &path) {
  std::string out;
  std::vector<char> buf(1 << 20);
  for (const std::string &f : arena_files(path)) {
    AutoFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) {
      out += f + ": missing; ";
      continue;
    }
    struct stat st;
    if (::fstat(fd.fd, &st) != 0) die("stat " + f);
    // Hash the data extents with their offsets: holes read as zeros and cost nothing.
    XXH3_state_t *s = XXH3_createState();
    XXH3_64bits_reset(s);
    for (off_t pos = 0; pos < st.st_size;) {
      off_t data = ::lseek(fd.fd, pos, SEEK_DATA);
      if (data < 0) break;
      off_t hole = ::lseek(fd.fd, data, SEEK_HOLE);
      if (hole < 0) hole = st.st_size;
      for (off_t off = data; off < hole;) {
        ssize_t n = ::pread(fd.fd, buf.data(),
                            static_cast<size_t>(std::min<off_t>(static_cast<off_t>(buf.size()), hole - off)), off);
        if (n <= 0) die("read " + f);
        // Zero runs hash the same whether they are holes or allocated zeros.
        for (ssize_t i = 0; i < n; i += 4096) {
          const size_t len = static_cast<size_t>(std::min<ssize_t>(4096, n - i));
          bool zero = true;
          for (size_t j = 0; j < len && zero; j++) zero = buf[static_cast<size_t>(i) + j] == 0;
          if (zero) continue;
          const uint64_t at = static_cast<uint64_t>(off + i);
          XXH3_64bits_update(s, &at, sizeof at);
          XXH3_64bits_update(s, buf.data() + i, len);
        }
        off += n;
      }
      pos = hole;
    }
    out += f + ": " + std::to_string(st.st_size) + " bytes, " + std::to_string(XXH3_64bits_digest(s)) + "; ";
    XXH3_freeState(s);
  }
  return out;
}

}  // namespace crash
