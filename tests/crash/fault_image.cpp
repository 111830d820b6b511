// fault_image.cpp — read-only recovery view and record listing, over the library's
// internal format and log-scanning code.
#include "fault_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "datafile.h"
#include "recovery.h"
#include "wal.h"

namespace crash {

using palloc::Status;

namespace {

Status open_read_only(const std::string &path, palloc::DataFile *df, palloc::LogFile logs[2]) {
  palloc::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return palloc::errno_status(errno, "opening " + path);
  df->fd = std::move(fd);
  df->path = path;
  PALLOC_TRY(palloc::data_read_header(df));
  if (logs)
    for (unsigned i = 0; i < 2; i++) PALLOC_TRY(palloc::log_open(palloc::log_path(path, i), false, &logs[i]));
  return palloc::ok_status();
}

}  // namespace

Status read_committed_image(const std::string &path, CommittedImage *out) {
  palloc::DataFile df;
  palloc::LogFile logs[2];
  PALLOC_TRY(open_read_only(path, &df, logs));
  palloc::RecoveryPlan plan;
  PALLOC_TRY(palloc::plan_recovery(df, logs, true, false, &plan));
  const palloc::Layout &l = df.header.layout;
  CommittedImage img;
  img.epoch = plan.epoch;
  img.state = plan.state;
  img.content.assign(plan.state.size, 0);
  // The checkpoint: the data zone of the data file (pages past its end are zeros).
  for (uint64_t off = 0; off < img.content.size();) {
    ssize_t n = ::pread(df.fd.get(), img.content.data() + off, img.content.size() - off,
                        static_cast<off_t>(l.data_offset + off));
    if (n < 0) return palloc::errno_status(errno, "reading " + path);
    if (n == 0) break;
    off += static_cast<uint64_t>(n);
  }
  // Then every record after it, oldest first, so the newest version of a page wins.
  const uint64_t first = l.arena_pgno(l.base);
  for (const palloc::RecordInfo &rec : plan.chain)
    for (size_t i = 0; i < rec.entries.size(); i++) {
      const uint64_t pgno = rec.entries[i].pgno;
      if (pgno < first || (pgno - first) * l.page_size >= img.content.size()) continue;  // region zone, or cut off
      PALLOC_TRY(palloc::log_read_page(logs[rec.log_index], rec, l.page_size, i,
                                       img.content.data() + (pgno - first) * l.page_size));
    }
  *out = std::move(img);
  return palloc::ok_status();
}

Status list_records(const std::string &path, std::vector<RecordSpan> *out) {
  palloc::DataFile df;
  palloc::LogFile logs[2];
  PALLOC_TRY(open_read_only(path, &df, logs));
  const palloc::Layout &l = df.header.layout;
  std::vector<RecordSpan> spans;
  for (unsigned i = 0; i < 2; i++) {
    palloc::LogScan scan;
    PALLOC_TRY(palloc::log_scan(logs[i], l, palloc::uuid_seed(df.header.uuid), true, &scan));
    for (const palloc::RecordInfo &r : scan.records) {
      RecordSpan s;
      s.log = i;
      s.offset = r.offset;
      s.bytes = palloc::record_bytes(r.header, l.page_size);
      s.epoch = r.header.epoch;
      s.npages = r.header.npages;
      s.state_len = r.header.state_len;
      spans.push_back(s);
    }
  }
  std::sort(spans.begin(), spans.end(), [](const RecordSpan &a, const RecordSpan &b) { return a.epoch < b.epoch; });
  *out = std::move(spans);
  return palloc::ok_status();
}

Status read_data_header(const std::string &path, palloc::DataHeader *header, int *slot) {
  palloc::DataFile df;
  PALLOC_TRY(open_read_only(path, &df, nullptr));
  *header = df.header;
  *slot = df.slot;
  return palloc::ok_status();
}

Status read_data_page(const std::string &path, uint64_t i, std::vector<uint8_t> *page, uint64_t *table_entry,
                      uint64_t *file_offset) {
  palloc::DataFile df;
  PALLOC_TRY(open_read_only(path, &df, nullptr));
  const palloc::Layout &l = df.header.layout;
  const uint64_t pgno = l.arena_pgno(l.base + i * l.page_size);
  page->assign(l.page_size, 0);
  if (::pread(df.fd.get(), page->data(), l.page_size, static_cast<off_t>(pgno * l.page_size)) < 0)
    return palloc::errno_status(errno, "reading " + path);
  *file_offset = pgno * l.page_size;
  return palloc::data_table_entry(df, pgno, table_entry);
}

}  // namespace crash
