// datafile.cpp — header slots, page application and the checksum table.
#include "datafile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace palloc {

Status data_read_header(DataFile *df) {
  const uint64_t size = file_size(df->fd.get());
  DataHeader slots[2];
  Status st[2];
  for (int i = 0; i < 2; i++) {
    const uint64_t off = i * kHeaderSlotBytes;
    if (size <= off) {
      st[i] = size == 0 && i == 0 ? Status(PALLOC_E_NOT_ARENA, "the file is empty, not a palloc arena")
                                  : Status(PALLOC_E_CORRUPT, "header slot " + std::to_string(i) + " is cut off (file is truncated)");
      continue;
    }
    std::vector<uint8_t> buf(std::min(kHeaderSlotBytes, size - off));
    PALLOC_TRY(pread_full(df->fd.get(), buf.data(), buf.size(), off, df->path));
    st[i] = decode_header(buf.data(), buf.size(), &slots[i]);
  }
  int best = -1;
  for (int i = 0; i < 2; i++)
    if (st[i].ok() && (best < 0 || slots[i].seq > slots[best].seq)) best = i;
  if (best < 0) {
    // Report the most telling problem: a version mismatch or corruption over "not an arena".
    const Status &s = st[0].code() == PALLOC_E_NOT_ARENA && st[1].code() != PALLOC_E_NOT_ARENA &&
                              st[1].code() != PALLOC_E_CORRUPT
                          ? st[1]
                          : st[0];
    if (s.code() == PALLOC_E_CORRUPT)
      return {PALLOC_E_CORRUPT, df->path + ": both header copies are damaged (" + st[0].message() + "; " +
                                    st[1].message() + ")"};
    return s.with_context(df->path);
  }
  if (uint64_t expect = slots[best].layout.data_offset; size < expect)
    return {PALLOC_E_CORRUPT, df->path + ": the file is truncated (" + std::to_string(size) + " bytes, the header needs at least " +
                                  std::to_string(expect) + ")"};
  df->header = std::move(slots[best]);
  df->slot = best;
  df->slot_problem = st[1 - best].ok() ? "" : st[1 - best].message();
  return ok_status();
}

Status data_write_header(DataFile *df, DataHeader header) {
  header.seq = df->header.seq + 1;
  std::vector<uint8_t> buf = encode_header(header);
  if (buf.size() > kHeaderSlotBytes) return {PALLOC_E_INVALID, "arena state too large for a header slot"};
  // The spare slot first: until it is durable the current one still holds. Then the
  // other slot gets the same copy. Checkpoints overwrite data pages in place and then
  // empty the logs, so an older header left in the other slot would describe pages
  // that are no longer there: falling back to it after damage to the newer one would
  // silently mix two commits. With both slots equal, either one is the truth.
  const int slot = 1 - df->slot;
  PALLOC_TRY(pwrite_full(df->fd.get(), buf.data(), buf.size(), slot * kHeaderSlotBytes, df->path));
  PALLOC_TRY(fdatasync_checked(df->fd.get(), df->path));
  df->header = std::move(header);
  df->slot = slot;
  PALLOC_TRY(pwrite_full(df->fd.get(), buf.data(), buf.size(), (1 - slot) * kHeaderSlotBytes, df->path));
  PALLOC_TRY(fdatasync_checked(df->fd.get(), df->path));
  df->slot_problem.clear();
  return ok_status();
}

Status data_create(const std::string &tmp_path, const DataHeader &header, DataFile *out) {
  Fd fd(::open(tmp_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_status(errno, "creating " + tmp_path);
  (void)::fchmod(fd.get(), 0600);
  const Layout &l = header.layout;
  // Reserve the headers, the table entries from the region zone's first page through the
  // table's own pages, then the initial arena with its entries.
  const uint64_t first_arena_entry = l.table_entry_offset(l.arena_pgno(l.base)) / l.page_size * l.page_size;
  PALLOC_TRY(reserve_space(fd.get(), 0, 2 * kHeaderSlotBytes, false, tmp_path));
  PALLOC_TRY(reserve_space(fd.get(), kTableOffset, first_arena_entry - kTableOffset, false, tmp_path));
  PALLOC_TRY(data_reserve_arena(fd.get(), l, 0, header.state.size, tmp_path));
  if (file_size(fd.get()) < l.data_offset && ::ftruncate(fd.get(), static_cast<off_t>(l.data_offset)) != 0)
    return errno_status(errno, "sizing " + tmp_path);
  std::vector<uint8_t> buf = encode_header(header);
  for (int slot = 0; slot < 2; slot++)
    PALLOC_TRY(pwrite_full(fd.get(), buf.data(), buf.size(), slot * kHeaderSlotBytes, tmp_path));
  PALLOC_TRY(fdatasync_checked(fd.get(), tmp_path));
  out->fd = std::move(fd);
  out->path = tmp_path;
  out->header = header;
  out->slot = 0;
  return ok_status();
}

Status data_reserve_arena(int fd, const Layout &l, uint64_t from, uint64_t to, const std::string &path) {
  if (to <= from) return ok_status();
  PALLOC_TRY(reserve_space(fd, l.data_offset + from, to - from, false, path));
  const uint64_t ps = l.page_size;
  const uint64_t t_lo = l.table_entry_offset(l.arena_pgno(l.base + from)) / ps * ps;
  const uint64_t t_hi = (l.table_entry_offset(l.arena_pgno(l.base + to)) + ps - 1) / ps * ps;
  return reserve_space(fd, t_lo, t_hi - t_lo, false, path);
}

Status data_apply_records(DataFile *df, LogFile *logs, const std::vector<RecordInfo> &records,
                          const std::function<void(uint64_t, uint64_t)> &progress) {
  const Layout &l = df->header.layout;
  const uint64_t ps = l.page_size;
  // The newest version of each page: (record index, entry index).
  std::map<uint64_t, std::pair<size_t, size_t>> newest;
  for (size_t r = 0; r < records.size(); r++)
    for (size_t e = 0; e < records[r].entries.size(); e++) newest[records[r].entries[e].pgno] = {r, e};

  // Copy in runs: pages consecutive in the data file whose newest versions are
  // consecutive entries of one record are consecutive in its log too, so a run is one
  // read and one write (a commit of adjacent pages copies at disk speed).
  constexpr size_t kMaxRun = 256;
  std::vector<uint8_t> buf(kMaxRun * ps);
  uint64_t done = 0;
  for (auto it = newest.begin(); it != newest.end();) {
    const uint64_t first_pgno = it->first;
    const auto [r, first_entry] = it->second;
    size_t run = 1;
    for (auto next = std::next(it); next != newest.end() && run < kMaxRun; ++next, ++run)
      if (next->first != first_pgno + run || next->second.first != r || next->second.second != first_entry + run) break;
    const RecordInfo &rec = records[r];
    const LogFile &log = logs[rec.log_index];
    PALLOC_TRY(pread_full(log.fd.get(), buf.data(), run * ps, rec.offset + kRecordHeaderBytes + first_entry * ps, log.path));
    for (size_t i = 0; i < run; i++)
      if (page_checksum(buf.data() + i * ps, ps, first_pgno + i) != rec.entries[first_entry + i].checksum)
        return {PALLOC_E_CORRUPT, log.path + ": page " + std::to_string(first_pgno + i) + " of epoch " +
                                      std::to_string(rec.header.epoch) + " changed on disk since it was verified"};
    PALLOC_TRY(pwrite_full(df->fd.get(), buf.data(), run * ps, first_pgno * ps, df->path));
    std::advance(it, static_cast<long>(run));
    const uint64_t before = done;
    done += run;
    if (progress && done / 4096 != before / 4096) progress(done, newest.size());
  }

  // Checksum table: read-modify-write one table page at a time.
  std::vector<uint8_t> tpage(ps);
  uint64_t cur_table_off = UINT64_MAX;
  auto flush = [&]() -> Status {
    if (cur_table_off == UINT64_MAX) return ok_status();
    return pwrite_full(df->fd.get(), tpage.data(), ps, cur_table_off, df->path);
  };
  for (const auto &[pgno, where] : newest) {
    const uint64_t entry_off = l.table_entry_offset(pgno);
    const uint64_t table_page_off = entry_off / ps * ps;
    if (table_page_off != cur_table_off) {
      PALLOC_TRY(flush());
      cur_table_off = table_page_off;
      std::fill(tpage.begin(), tpage.end(), 0);
      if (file_size(df->fd.get()) > table_page_off) {
        ssize_t n = ::pread(df->fd.get(), tpage.data(), ps, static_cast<off_t>(table_page_off));
        if (n < 0) return errno_status(errno, "reading the checksum table of " + df->path);
      }
    }
    const uint64_t sum = records[where.first].entries[where.second].checksum;
    std::memcpy(tpage.data() + (entry_off - table_page_off), &sum, 8);
  }
  PALLOC_TRY(flush());
  if (progress) progress(newest.size(), newest.size());
  return fdatasync_checked(df->fd.get(), df->path);
}

Status data_table_entry(const DataFile &df, uint64_t pgno, uint64_t *out) {
  *out = 0;
  const uint64_t off = df.header.layout.table_entry_offset(pgno);
  ssize_t n = ::pread(df.fd.get(), out, 8, static_cast<off_t>(off));
  if (n < 0) return errno_status(errno, "reading the checksum table of " + df.path);
  return ok_status();
}

}  // namespace palloc
