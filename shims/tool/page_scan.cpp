// page_scan.cpp — the data file's page checksums.
#include "page_scan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace palloc::tool {

namespace {

constexpr uint64_t kChunkBytes = 8 << 20;  // large reads: a scan should run at disk speed
constexpr size_t kExamples = 8;

// Reads [off, off+len), zero-filling whatever lies beyond the end of the file (a sparse
// data file is shorter than its arena until pages are written).
Status read_or_zero(int fd, uint8_t *buf, size_t len, uint64_t off, const std::string &what) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "reading " + what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  std::memset(buf + got, 0, len - got);
  return ok_status();
}

// True if [off, off+len) holds no data (a hole or past the end), so it reads as zeros.
bool is_hole(int fd, uint64_t off, uint64_t len) {
  off_t d = ::lseek(fd, static_cast<off_t>(off), SEEK_DATA);
  if (d < 0) return errno == ENXIO;  // no data at or after off
  return static_cast<uint64_t>(d) >= off + len;
}

bool all_zero(const uint8_t *p, size_t n) { return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0); }

class Scanner {
 public:
  Scanner(const DataFile &df, const std::unordered_set<uint64_t> &covered, PageScan *out)
      : df_(df), l_(df.header.layout), covered_(covered), out_(out) {}

  void mismatch(uint64_t pgno) {
    if (covered_.count(pgno)) {
      if (out_->first_pending.size() < kExamples) out_->first_pending.push_back(pgno);
      out_->pending++;
    } else {
      if (out_->first_damaged.size() < kExamples) out_->first_damaged.push_back(pgno);
      out_->damaged++;
    }
  }

  // Pages [first, first + count) against their table entries.
  Status range(uint64_t first, uint64_t count, const std::function<void(uint64_t)> &advance) {
    const uint64_t ps = l_.page_size;
    const uint64_t chunk_pages = std::max<uint64_t>(1, kChunkBytes / ps);
    std::vector<uint8_t> data(chunk_pages * ps);
    std::vector<uint64_t> sums(chunk_pages);
    for (uint64_t pg = first; pg < first + count; pg += chunk_pages) {
      const uint64_t n = std::min(chunk_pages, first + count - pg);
      PALLOC_TRY(read_or_zero(df_.fd.get(), reinterpret_cast<uint8_t *>(sums.data()), n * 8,
                              l_.table_entry_offset(pg), df_.path + " (checksum table)"));
      const bool no_entries = std::all_of(sums.begin(), sums.begin() + n, [](uint64_t s) { return s == 0; });
      if (!(no_entries && is_hole(df_.fd.get(), pg * ps, n * ps))) {
        PALLOC_TRY(read_or_zero(df_.fd.get(), data.data(), n * ps, pg * ps, df_.path));
        for (uint64_t i = 0; i < n; i++) {
          const uint8_t *page = data.data() + i * ps;
          const bool ok = sums[i] == 0 ? all_zero(page, ps) : page_checksum(page, ps, pg + i) == sums[i];
          if (!ok) mismatch(pg + i);
        }
      }
      out_->pages_checked += n;
      advance(n * ps);
    }
    return ok_status();
  }

  // Table entries of pages [first, end), which lie past the file's end and read as zeros:
  // only the table's non-hole parts can hold entries, so only those are read.
  Status table_tail(uint64_t first, uint64_t end) {
    const uint64_t ps = l_.page_size;
    const uint64_t lo = l_.table_entry_offset(first), hi = l_.table_entry_offset(end);
    std::vector<uint8_t> zeros(ps, 0);
    std::vector<uint64_t> sums(kChunkBytes / 8);
    for (uint64_t pos = lo; pos < hi;) {
      off_t d = ::lseek(df_.fd.get(), static_cast<off_t>(pos), SEEK_DATA);
      if (d < 0 && errno == ENXIO) break;
      if (d < 0) return errno_status(errno, "examining the checksum table of " + df_.path);
      uint64_t start = std::max<uint64_t>(pos, static_cast<uint64_t>(d));
      start = lo + (start - lo) / 8 * 8;
      if (start >= hi) break;
      off_t h = ::lseek(df_.fd.get(), static_cast<off_t>(start), SEEK_HOLE);
      uint64_t stop = h < 0 ? hi : std::min<uint64_t>(hi, (static_cast<uint64_t>(h) + 7 - lo) / 8 * 8 + lo);
      for (uint64_t at = start; at < stop; at += kChunkBytes) {
        const uint64_t len = std::min<uint64_t>(kChunkBytes, stop - at);
        PALLOC_TRY(read_or_zero(df_.fd.get(), reinterpret_cast<uint8_t *>(sums.data()), len, at,
                                df_.path + " (checksum table)"));
        for (uint64_t i = 0; i < len / 8; i++) {
          if (sums[i] == 0) continue;
          const uint64_t pgno = first + (at - lo) / 8 + i;
          if (page_checksum(zeros.data(), ps, pgno) != sums[i]) mismatch(pgno);
        }
      }
      pos = std::max(stop, start + 8);
    }
    return ok_status();
  }

 private:
  const DataFile &df_;
  const Layout &l_;
  const std::unordered_set<uint64_t> &covered_;
  PageScan *out_;
};

}  // namespace

uint64_t page_scan_bytes(uint64_t data_bytes) { return kRegionZoneBytes + data_bytes; }

Status scan_pages(const DataFile &df, uint64_t data_bytes, const std::unordered_set<uint64_t> &covered,
                  const std::function<void(uint64_t)> &progress, PageScan *out) {
  *out = PageScan{};
  const Layout &l = df.header.layout;
  const uint64_t ps = l.page_size;
  uint64_t done = 0;
  auto advance = [&](uint64_t bytes) {
    done += bytes;
    if (progress) progress(done);
  };
  // Sequential reads: let the kernel read ahead generously.
  (void)::posix_fadvise(df.fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  Scanner scan(df, covered, out);
  PALLOC_TRY(scan.range(kRegionZoneOffset / ps, kRegionZoneBytes / ps, advance));
  const uint64_t data_first = l.data_offset / ps;
  const uint64_t data_pages = std::min(data_bytes, l.max_size) / ps;
  PALLOC_TRY(scan.range(data_first, data_pages, advance));
  return scan.table_tail(data_first + data_pages, data_first + l.max_size / ps);
}

}  // namespace palloc::tool
