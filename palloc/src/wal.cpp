// wal.cpp — appending commit records and scanning them back.
#include "wal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

namespace palloc {

namespace {
constexpr uint64_t kReserveChunk = 8 << 20;  // log space is reserved 8 MiB at a time
constexpr size_t kCopyBatchPages = 256;      // pages copied per write call
}  // namespace

std::string log_path(const std::string &arena_path, unsigned index) {
  return arena_path + ".wal" + std::to_string(index);
}

Status log_create(const std::string &path, const LogHeader &header, LogFile *out) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_status(errno, "creating log " + path);
  (void)::fchmod(fd.get(), 0600);
  std::vector<uint8_t> buf = encode_log_header(header);
  PALLOC_TRY(pwrite_full(fd.get(), buf.data(), buf.size(), 0, path));
  PALLOC_TRY(fdatasync_checked(fd.get(), path));
  out->fd = std::move(fd);
  out->path = path;
  out->header = header;
  out->end = kLogHeaderBytes;
  out->reserved_end = kLogHeaderBytes;
  return ok_status();
}

Status log_open(const std::string &path, bool writable, LogFile *out) {
  Fd fd(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return {PALLOC_E_CORRUPT, "log file " + path + " is missing (commits after the last checkpoint would be lost; restore it from a backup)"};
    return errno_status(errno, "opening log " + path);
  }
  uint8_t buf[kLogHeaderBytes];
  uint64_t size = file_size(fd.get());
  if (size < 56) return {PALLOC_E_CORRUPT, "log " + path + " is truncated (" + std::to_string(size) + " bytes)"};
  PALLOC_TRY(pread_full(fd.get(), buf, std::min<uint64_t>(size, kLogHeaderBytes), 0, path));
  Status s = decode_log_header(buf, std::min<uint64_t>(size, kLogHeaderBytes), &out->header);
  if (s.code() == PALLOC_E_NOT_ARENA)  // the arena's own log, so damage rather than a stranger
    return {PALLOC_E_CORRUPT, path + ": the log header is damaged (" + s.message() + ")"};
  PALLOC_TRY(s.with_context(path));
  out->fd = std::move(fd);
  out->path = path;
  out->end = std::max<uint64_t>(size, kLogHeaderBytes);
  out->reserved_end = out->end;
  return ok_status();
}

Status log_empty_file(const LogFile &log, uint64_t seq) {
  // New header first, then cut: a crash in between leaves old records under a new
  // generation number, which scanning rejects; a crash before leaves records that the
  // data file already holds. Either way the log stays readable.
  LogHeader header = log.header;
  header.seq = seq;
  std::vector<uint8_t> buf = encode_log_header(header);
  PALLOC_TRY(pwrite_full(log.fd.get(), buf.data(), buf.size(), 0, log.path));
  PALLOC_TRY(fdatasync_checked(log.fd.get(), log.path));
  if (::ftruncate(log.fd.get(), kLogHeaderBytes) != 0) return errno_status(errno, "truncating log " + log.path);
  return fdatasync_checked(log.fd.get(), log.path);
}

void log_mark_empty(LogFile *log, uint64_t seq) {
  log->header.seq = seq;
  log->end = kLogHeaderBytes;
  log->reserved_end = kLogHeaderBytes;
}

Status log_reset(LogFile *log, uint64_t seq) {
  PALLOC_TRY(log_empty_file(*log, seq));
  log_mark_empty(log, seq);
  return ok_status();
}

Status RecordWriter::begin(LogFile *log, uint64_t seed, uint64_t page_size, uint64_t epoch, size_t max_pages,
                           std::vector<uint8_t> state, uint64_t durable_epoch,
                           const std::vector<uint64_t> *unchanged) {
  log_ = log;
  seed_ = seed;
  page_size_ = page_size;
  epoch_ = epoch;
  durable_ = durable_epoch;
  state_ = std::move(state);
  unchanged_ = unchanged;
  start_ = log->end;
  off_ = start_ + kRecordHeaderBytes;  // the pages go right after the header
  entries_.clear();
  entries_.reserve(max_pages);
  unchanged_pgnos_.clear();
  RecordHeader h;
  h.npages = static_cast<uint32_t>(max_pages);
  h.state_len = static_cast<uint32_t>(state_.size());
  const uint64_t most = record_bytes(h, page_size);
  if (start_ + most > log->reserved_end) {
    uint64_t want = (start_ + most + kReserveChunk - 1) / kReserveChunk * kReserveChunk;
    PALLOC_TRY(reserve_space(log->fd.get(), log->reserved_end, want - log->reserved_end, true, log->path));
    log->reserved_end = want;
  }
  open_ = true;
  return ok_status();
}

void RecordWriter::take(const uint8_t *copy, uint64_t pgno) {
  const uint64_t sum = page_checksum(copy, page_size_, pgno);
  if (unchanged_ && pgno < unchanged_->size() && (*unchanged_)[pgno] == sum) {
    unchanged_pgnos_.push_back(pgno);
    return;
  }
  entries_.push_back({pgno, sum});
  iov_.push_back({const_cast<uint8_t *>(copy), page_size_});
}

// Both add_ calls flush after at most kCopyBatchPages pages: one pwritev takes them all.
static_assert(kCopyBatchPages <= IOV_MAX);

Status RecordWriter::flush() {
  if (iov_.empty()) return ok_status();
  Status s = pwritev_full(log_->fd.get(), iov_.data(), static_cast<int>(iov_.size()), off_, log_->path);
  if (!s.ok()) return fail(s);
  off_ += iov_.size() * page_size_;
  iov_.clear();
  return ok_status();
}

Status RecordWriter::add_live(const PageRef *pages, size_t n) {
  CopyBatch &b = *batch_;
  if (b.pages < std::min(n, kCopyBatchPages)) {
    b.pages = std::min(n, kCopyBatchPages);
    b.buf.reset(new (std::nothrow) uint8_t[b.pages * page_size_]);
    if (!b.buf) {
      b.pages = 0;
      return fail({PALLOC_E_NOMEM, "no memory for the commit's copy buffer"});
    }
  }
  for (size_t i = 0; i < n; i += kCopyBatchPages) {
    const size_t m = std::min(kCopyBatchPages, n - i);
    for (size_t j = 0; j < m; j++) {
      uint8_t *dst = b.buf.get() + j * page_size_;
      std::memcpy(dst, pages[i + j].addr, page_size_);
      take(dst, pages[i + j].pgno);
    }
    PALLOC_TRY(flush());
  }
  return ok_status();
}

Status RecordWriter::add_copies(const uint8_t *copies, const uint64_t *pgnos, size_t n) {
  for (size_t i = 0; i < n; i += kCopyBatchPages) {
    const size_t m = std::min(kCopyBatchPages, n - i);
    for (size_t j = 0; j < m; j++) take(copies + (i + j) * page_size_, pgnos[i + j]);
    PALLOC_TRY(flush());
  }
  return ok_status();
}

Status RecordWriter::finish(uint64_t *bytes_written) {
  RecordHeader h;
  h.epoch = epoch_;
  h.durable_epoch = durable_;
  h.log_seq = log_->header.seq;
  h.unix_ns = now_unix_ns();
  h.npages = static_cast<uint32_t>(entries_.size());
  h.state_len = static_cast<uint32_t>(state_.size());
  const uint64_t total = record_bytes(h, page_size_);
  uint8_t header[kRecordHeaderBytes];
  encode_record_header(h, seed_, header);
  RecordHasher hasher(seed_);
  hasher.update(header, sizeof header);
  hasher.update(entries_.data(), entries_.size() * kRecordEntryBytes);
  hasher.update(state_.data(), state_.size());
  uint8_t trailer[kRecordTrailerBytes];
  encode_record_trailer(epoch_, 0, trailer);
  hasher.update(trailer, 16);
  encode_record_trailer(epoch_, hasher.digest(), trailer);
  struct iovec tail[3] = {{entries_.data(), entries_.size() * kRecordEntryBytes},
                          {state_.data(), state_.size()},
                          {trailer, sizeof trailer}};
  Status s = pwritev_full(log_->fd.get(), tail, 3, off_, log_->path);
  if (s.ok()) s = pwrite_full(log_->fd.get(), header, sizeof header, start_, log_->path);
  if (!s.ok()) return fail(s);
  log_->end = start_ + total;
  open_ = false;
  if (bytes_written) *bytes_written = total;
  return ok_status();
}

Status RecordWriter::fail(const Status &s) {
  if (open_) {
    // Cut the partial record off so a later record cannot follow garbage.
    (void)::ftruncate(log_->fd.get(), static_cast<off_t>(start_));
    log_->reserved_end = start_;
    open_ = false;
  }
  return s;
}

RecordWriter::~RecordWriter() { (void)fail(ok_status()); }

Status log_append(LogFile *log, uint64_t seed, uint64_t page_size, uint64_t epoch,
                  const std::vector<PageRef> &pages, const std::vector<uint8_t> &state,
                  uint64_t *bytes_written, uint64_t durable_epoch, const std::vector<uint64_t> *unchanged,
                  std::vector<RecordEntry> *written) {
  RecordWriter w;
  PALLOC_TRY(w.begin(log, seed, page_size, epoch, pages.size(), state, durable_epoch, unchanged));
  PALLOC_TRY(w.add_live(pages.data(), pages.size()));
  PALLOC_TRY(w.finish(bytes_written));
  if (written) *written = w.entries();
  return ok_status();
}

namespace {

// Tries to read a complete, valid record at `off`. Returns CORRUPT with a reason if not.
Status read_record(const LogFile &log, const Layout &layout, uint64_t seed, uint64_t off, uint64_t file_end,
                   bool verify_pages, RecordInfo *out, uint64_t *pages_checked) {
  const uint64_t ps = layout.page_size;
  if (off + kRecordHeaderBytes > file_end) return {PALLOC_E_CORRUPT, "record header is cut off"};
  uint8_t hb[kRecordHeaderBytes];
  PALLOC_TRY(pread_full(log.fd.get(), hb, sizeof hb, off, log.path));
  RecordHeader h;
  PALLOC_TRY(decode_record_header(hb, seed, &h));
  if (h.log_seq != log.header.seq) return {PALLOC_E_CORRUPT, "record belongs to an older generation of the log"};
  const uint64_t total = record_bytes(h, ps);
  if (off + total > file_end) return {PALLOC_E_CORRUPT, "record for epoch " + std::to_string(h.epoch) + " is cut off"};

  const uint64_t tail_off = off + kRecordHeaderBytes + uint64_t{h.npages} * ps;
  const uint64_t tail_len = uint64_t{h.npages} * kRecordEntryBytes + h.state_len + kRecordTrailerBytes;
  std::vector<uint8_t> tail(tail_len);
  PALLOC_TRY(pread_full(log.fd.get(), tail.data(), tail_len, tail_off, log.path));
  RecordHasher hasher(seed);
  hasher.update(hb, sizeof hb);
  hasher.update(tail.data(), tail_len - 8);
  const uint8_t *trailer = tail.data() + tail_len - kRecordTrailerBytes;
  uint64_t magic, epoch, sum;
  std::memcpy(&magic, trailer, 8);
  std::memcpy(&epoch, trailer + 8, 8);
  std::memcpy(&sum, trailer + 16, 8);
  if (magic != kTrailerMagic || epoch != h.epoch)
    return {PALLOC_E_CORRUPT, "record for epoch " + std::to_string(h.epoch) + " has no valid trailer"};
  if (sum != hasher.digest())
    return {PALLOC_E_CORRUPT, "record for epoch " + std::to_string(h.epoch) + " fails its checksum"};

  RecordInfo rec;
  rec.log_index = log.header.index;
  rec.offset = off;
  rec.header = h;
  rec.entries.resize(h.npages);
  if (h.npages)  // a commit with no dirty pages has no entries (and data() may be null)
    std::memcpy(rec.entries.data(), tail.data(), uint64_t{h.npages} * kRecordEntryBytes);
  for (const RecordEntry &e : rec.entries)
    if (!layout.pgno_valid(e.pgno))
      return {PALLOC_E_CORRUPT, "record for epoch " + std::to_string(h.epoch) + " names page " +
                                    std::to_string(e.pgno) + ", outside the arena"};
  PALLOC_TRY(decode_state(tail.data() + uint64_t{h.npages} * kRecordEntryBytes, h.state_len, &rec.state)
                 .with_context("record for epoch " + std::to_string(h.epoch)));

  if (verify_pages) {
    std::vector<uint8_t> page(ps);
    for (size_t i = 0; i < rec.entries.size(); i++) {
      PALLOC_TRY(pread_full(log.fd.get(), page.data(), ps, off + kRecordHeaderBytes + i * ps, log.path));
      if (page_checksum(page.data(), ps, rec.entries[i].pgno) != rec.entries[i].checksum)
        return {PALLOC_E_CORRUPT, "record for epoch " + std::to_string(h.epoch) + ": page " +
                                      std::to_string(rec.entries[i].pgno) + " fails its checksum"};
      ++*pages_checked;
    }
  }
  *out = std::move(rec);
  return ok_status();
}

// Finds the first valid record starting at or after pos (searching for its magic).
bool find_record_from(const LogFile &log, const Layout &layout, uint64_t seed, uint64_t pos, uint64_t end,
                      RecordInfo *out) {
  std::vector<uint8_t> buf(1 << 20);
  while (pos + kRecordHeaderBytes <= end) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    if (n < 4 || !pread_full(log.fd.get(), buf.data(), n, pos, log.path).ok()) return false;
    for (size_t i = 0; i + 4 <= n; i++) {
      uint32_t m;
      std::memcpy(&m, buf.data() + i, 4);
      if (m != kRecordMagic) continue;
      uint64_t checked = 0;
      if (read_record(log, layout, seed, pos + i, end, false, out, &checked).ok()) return true;
    }
    pos += n - 3;
  }
  return false;
}

}  // namespace

Status log_scan(const LogFile &log, const Layout &layout, uint64_t seed, bool verify_pages, LogScan *out,
                const std::function<void(uint64_t)> &progress) {
  LogScan scan;
  scan.file_end = file_size(log.fd.get());
  uint64_t off = kLogHeaderBytes;
  while (off < scan.file_end) {
    RecordInfo rec;
    Status s = read_record(log, layout, seed, off, scan.file_end, verify_pages, &rec, &scan.pages_checked);
    if (s.code() == PALLOC_E_IO) return s;
    if (!s.ok()) {
      scan.torn_tail = true;
      scan.tail_problem = s.message();
      break;
    }
    off += record_bytes(rec.header, layout.page_size);
    scan.records.push_back(std::move(rec));
    if (progress) progress(off);
  }
  scan.valid_end = off;
  if (scan.torn_tail) {
    // Damage, or just a torn tail? Look for valid records after it: if there are any,
    // the log was damaged in the middle (or a power loss reordered un-synced writes;
    // their durable marks tell which, in recovery). Note the highest epoch and mark.
    uint64_t pos = off + 1;
    RecordInfo rec;
    while (find_record_from(log, layout, seed, pos, scan.file_end, &rec)) {
      scan.later_valid_epoch = std::max(scan.later_valid_epoch, rec.header.epoch);
      scan.later_durable_epoch = std::max(scan.later_durable_epoch, rec.header.durable_epoch);
      pos = rec.offset + record_bytes(rec.header, layout.page_size);
    }
  }
  *out = std::move(scan);
  return ok_status();
}

Status log_read_page(const LogFile &log, const RecordInfo &rec, uint64_t page_size, size_t i, void *buf) {
  return pread_full(log.fd.get(), buf, page_size, rec.offset + kRecordHeaderBytes + i * page_size, log.path);
}

}  // namespace palloc
