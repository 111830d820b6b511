// wal.h — the write-ahead log: two files (ARENA.wal0, ARENA.wal1), each a header
// followed by commit records. Commits append to the active log; a checkpoint switches to
// the other log, copies the old one into the data file, then empties it.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "format.h"
#include "io.h"

namespace palloc {

std::string log_path(const std::string &arena_path, unsigned index);

struct LogFile {
  Fd fd;
  std::string path;
  LogHeader header;
  uint64_t end = kLogHeaderBytes;      // where the next record goes
  uint64_t reserved_end = 0;           // disk space reserved up to here
};

// Creates (truncating) a log file, mode 0600, with a fresh header; syncs it.
Status log_create(const std::string &path, const LogHeader &header, LogFile *out);
// Opens an existing log and reads its header.
Status log_open(const std::string &path, bool writable, LogFile *out);
// Empties a log (keeps its header, with a new generation `seq`); syncs it.
Status log_reset(LogFile *log, uint64_t seq);
// log_reset in two steps, for a caller that updates the LogFile under its own lock: the
// file's I/O, then the fields.
Status log_empty_file(const LogFile &log, uint64_t seq);
void log_mark_empty(LogFile *log, uint64_t seq);

// One page of a commit: its address in memory and its page number in the data file.
struct PageRef {
  const void *addr;
  uint64_t pgno;
};

// add_live's copy buffer. A caller that writes records again and again keeps one and
// lends it to each writer: a buffer allocated per record is fresh memory every time, and
// faulting it in cost more than the copies themselves on commits of a hundred pages.
struct CopyBatch {
  std::unique_ptr<uint8_t[]> buf;
  size_t pages = 0;
};

// Writes one commit record at log->end in steps, so that a caller can copy pages while
// the program is stopped and checksum and write them after it runs again. Space for the
// most pages announced is reserved first (a full disk fails there, before any write);
// the pages follow; the header, which carries the count of pages actually kept, goes
// last with the entries and the trailer. If the writer is dropped unfinished, or a step
// fails, the log is cut back to where it was and nothing is appended.
class RecordWriter {
 public:
  // durable_epoch: the newest epoch known to be on disk now (see RecordHeader).
  // unchanged: if given, a page whose checksum equals unchanged[pgno] (what the last
  // commit wrote of it) is left out: a page written back to its old content.
  Status begin(LogFile *log, uint64_t seed, uint64_t page_size, uint64_t epoch, size_t max_pages,
               std::vector<uint8_t> state, uint64_t durable_epoch, const std::vector<uint64_t> *unchanged);
  // Pages in memory that may change meanwhile: each is copied before it is checksummed,
  // so a concurrent writer cannot produce a record that fails its own checksums.
  Status add_live(const PageRef *pages, size_t n);
  // add_live copies into `batch` (kept by the caller) instead of a buffer of its own.
  void lend_batch(CopyBatch *batch) { batch_ = batch; }
  // Copies nobody writes to: copies[i * page_size] holds page pgnos[i].
  Status add_copies(const uint8_t *copies, const uint64_t *pgnos, size_t n);
  // Writes the header, entries, state and trailer; the record is then complete.
  Status finish(uint64_t *bytes_written);
  // The entries of the pages kept so far (page number and checksum).
  const std::vector<RecordEntry> &entries() const { return entries_; }
  // The page numbers left out so far because their content was unchanged.
  const std::vector<uint64_t> &unchanged_pages() const { return unchanged_pgnos_; }
  ~RecordWriter();

 private:
  // Checksums page_size bytes at `copy`, leaves it out if unchanged, else queues it.
  void take(const uint8_t *copy, uint64_t pgno);
  Status flush();  // writes the queued pages
  Status fail(const Status &s);

  LogFile *log_ = nullptr;
  uint64_t seed_ = 0, page_size_ = 0, epoch_ = 0, durable_ = 0;
  uint64_t start_ = 0, off_ = 0;
  std::vector<uint8_t> state_;
  const std::vector<uint64_t> *unchanged_ = nullptr;
  std::vector<RecordEntry> entries_;
  std::vector<uint64_t> unchanged_pgnos_;
  std::vector<struct iovec> iov_;
  CopyBatch own_batch_;
  CopyBatch *batch_ = &own_batch_;  // add_live's copies
  bool open_ = false;
};

// A whole record in one call (RecordWriter: begin, add_live, finish). written: if given,
// receives the entries of the pages actually appended.
Status log_append(LogFile *log, uint64_t seed, uint64_t page_size, uint64_t epoch,
                  const std::vector<PageRef> &pages, const std::vector<uint8_t> &state,
                  uint64_t *bytes_written, uint64_t durable_epoch = kDurableUnknown,
                  const std::vector<uint64_t> *unchanged = nullptr, std::vector<RecordEntry> *written = nullptr);

// A record found by scanning a log.
struct RecordInfo {
  unsigned log_index = 0;
  uint64_t offset = 0;
  RecordHeader header;
  std::vector<RecordEntry> entries;
  ArenaState state;
};

struct LogScan {
  std::vector<RecordInfo> records;  // the valid prefix, in log order
  uint64_t valid_end = kLogHeaderBytes;
  uint64_t file_end = 0;
  bool torn_tail = false;           // bytes after the valid prefix that form no valid record
  std::string tail_problem;         // why the first invalid record was rejected
  uint64_t later_valid_epoch = 0;   // highest epoch of the valid records beyond the damage (0: none)
  uint64_t later_durable_epoch = 0; // the highest durable mark among those records
  uint64_t pages_checked = 0;
};

// Reads every record of a log. With verify_pages, every page's checksum is checked
// (a record with a bad page is invalid). `progress` is called with bytes scanned.
Status log_scan(const LogFile &log, const Layout &layout, uint64_t seed, bool verify_pages,
                LogScan *out, const std::function<void(uint64_t)> &progress = {});

// Reads one page of a record (index i of its entries) into buf.
Status log_read_page(const LogFile &log, const RecordInfo &rec, uint64_t page_size, size_t i, void *buf);

}  // namespace palloc
