// wal_test.cpp — the write-ahead log: records appended with log_append read back by
// log_scan with their pages, entries and states; a torn tail, garbage and mid-log damage
// are told apart; a failed append leaves nothing behind.
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "unit_util.h"
#include "wal.h"

namespace palloc {
namespace {

using unit::TempDir;

constexpr uint64_t kBase = 0x110000000000ull;

class Wal : public ::testing::Test {
 protected:
  void SetUp() override {
    ps_ = unit::page_size();
    layout_ = Layout::for_arena(ps_, kBase, 64ull << 20);
    for (size_t i = 0; i < uuid_.size(); i++) uuid_[i] = static_cast<uint8_t>(0x40 + i);
    seed_ = uuid_seed(uuid_);
    mem_ = static_cast<uint8_t *>(aligned_alloc(ps_, kMemPages * ps_));
    ASSERT_NE(mem_, nullptr);
    path_ = dir_.file("arena.wal0");
    ASSERT_TRUE(log_create(path_, header(1), &log_).ok());
  }
  void TearDown() override { free(mem_); }

  LogHeader header(uint64_t seq) const {
    LogHeader h;
    h.index = 0;
    h.uuid = uuid_;
    h.seq = seq;
    h.page_size = ps_;
    return h;
  }

  // The state a record of this epoch carries: distinct per epoch, so a scan that
  // mixed up records would be caught.
  static ArenaState state_for(uint64_t epoch) {
    ArenaState s;
    s.size = (epoch + 1) << 20;
    s.roots[1].value = epoch * 1000 + 1;
    s.roots[2].name = "epoch" + std::to_string(epoch);
    return s;
  }

  // The arena page number of the i-th page of the test memory.
  uint64_t pgno(size_t i) const { return layout_.arena_pgno(kBase + i * ps_); }

  // Appends a record for `epoch` holding the test-memory pages `idx`, each filled with
  // the pattern of (page, epoch). Returns the status; *bytes gets the record's size.
  Status append(uint64_t epoch, const std::vector<size_t> &idx, uint64_t *bytes = nullptr, LogFile *log = nullptr) {
    std::vector<PageRef> pages;
    for (size_t i : idx) {
      unit::fill_page(mem_ + i * ps_, i, epoch);
      pages.push_back({mem_ + i * ps_, pgno(i)});
    }
    uint64_t b = 0;
    Status s = log_append(log ? log : &log_, seed_, ps_, epoch, pages, encode_state(state_for(epoch)), &b);
    if (bytes) *bytes = b;
    return s;
  }

  uint64_t expected_bytes(size_t npages, uint64_t epoch) const {
    RecordHeader h;
    h.npages = static_cast<uint32_t>(npages);
    h.state_len = static_cast<uint32_t>(encode_state(state_for(epoch)).size());
    return record_bytes(h, ps_);
  }

  LogScan scan(const LogFile &log, bool verify = true) {
    LogScan s;
    Status st = log_scan(log, layout_, seed_, verify, &s);
    EXPECT_TRUE(st.ok()) << st.message();
    return s;
  }

  // Writes `bytes` to a new log file and opens it.
  LogFile reopen_as(const std::string &bytes, const std::string &name) {
    LogFile out;
    const std::string p = dir_.file(name);
    EXPECT_TRUE(unit::write_file(p, bytes.data(), bytes.size()));
    Status s = log_open(p, false, &out);
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  static constexpr size_t kMemPages = 700;
  TempDir dir_;
  size_t ps_ = 0;
  Layout layout_;
  std::array<uint8_t, 16> uuid_{};
  uint64_t seed_ = 0;
  uint8_t *mem_ = nullptr;
  std::string path_;
  LogFile log_;
};

TEST_F(Wal, CreatedLogIsEmptyAndPrivate) {
  EXPECT_EQ(unit::file_size_of(path_), kLogHeaderBytes);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  LogScan s = scan(log_);
  EXPECT_TRUE(s.records.empty());
  EXPECT_FALSE(s.torn_tail);
  EXPECT_EQ(s.valid_end, kLogHeaderBytes);

  LogFile again;
  ASSERT_TRUE(log_open(path_, false, &again).ok());
  EXPECT_EQ(again.header.seq, 1u);
  EXPECT_EQ(again.header.uuid, uuid_);
  EXPECT_EQ(again.end, kLogHeaderBytes);
}

TEST_F(Wal, AppendedRecordsScanBackWithPagesEntriesAndStates) {
  const std::vector<std::vector<size_t>> recs = {{3}, {0, 1, 2, 7, 9}, {}, {3, 4}};
  std::vector<uint64_t> offsets;
  uint64_t off = kLogHeaderBytes;
  for (size_t r = 0; r < recs.size(); r++) {
    uint64_t bytes = 0;
    ASSERT_TRUE(append(r + 1, recs[r], &bytes).ok());
    EXPECT_EQ(bytes, expected_bytes(recs[r].size(), r + 1));
    offsets.push_back(off);
    off += bytes;
    EXPECT_EQ(log_.end, off);
  }
  EXPECT_EQ(unit::file_size_of(path_), off);

  std::vector<uint64_t> progress;
  LogScan s;
  ASSERT_TRUE(log_scan(log_, layout_, seed_, true, &s, [&](uint64_t o) { progress.push_back(o); }).ok());
  ASSERT_EQ(s.records.size(), recs.size());
  EXPECT_FALSE(s.torn_tail);
  EXPECT_EQ(s.later_valid_epoch, 0u);
  EXPECT_EQ(s.valid_end, off);
  EXPECT_EQ(s.file_end, off);
  EXPECT_EQ(s.pages_checked, 1u + 5 + 0 + 2);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), off);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));

  std::vector<uint8_t> expect(ps_), got(ps_);
  for (size_t r = 0; r < recs.size(); r++) {
    const RecordInfo &rec = s.records[r];
    const uint64_t epoch = r + 1;
    EXPECT_EQ(rec.header.epoch, epoch);
    EXPECT_EQ(rec.header.log_seq, 1u);
    EXPECT_EQ(rec.log_index, 0u);
    EXPECT_EQ(rec.offset, offsets[r]);
    EXPECT_TRUE(rec.state == state_for(epoch)) << "state of epoch " << epoch;
    ASSERT_EQ(rec.entries.size(), recs[r].size());
    for (size_t e = 0; e < recs[r].size(); e++) {
      const size_t i = recs[r][e];
      unit::fill_page(expect.data(), i, epoch);
      EXPECT_EQ(rec.entries[e].pgno, pgno(i));
      EXPECT_EQ(rec.entries[e].checksum, page_checksum(expect.data(), ps_, pgno(i)));
      ASSERT_TRUE(log_read_page(log_, rec, ps_, e, got.data()).ok());
      EXPECT_EQ(got, expect) << "epoch " << epoch << " page " << i;
    }
  }
}

TEST_F(Wal, LargeRecordSpanningSeveralWriteBatches) {
  // More pages than one write call carries (256): batching must keep pages and
  // entries in step.
  std::vector<size_t> idx;
  for (size_t i = 0; i < 600; i++) idx.push_back(i);
  ASSERT_TRUE(append(1, idx).ok());
  LogScan s = scan(log_);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.pages_checked, 600u);
  std::vector<uint8_t> got(ps_);
  for (size_t e : {size_t{0}, size_t{255}, size_t{256}, size_t{511}, size_t{512}, size_t{599}}) {
    ASSERT_TRUE(log_read_page(log_, s.records[0], ps_, e, got.data()).ok());
    EXPECT_TRUE(unit::page_has(got.data(), e, 1)) << "page " << e;
  }
}

TEST_F(Wal, ALentCopyBatchIsKeptAcrossRecordsAndTheirPagesReadBack) {
  // The arena lends one batch to every record's writer so that a commit does not fault
  // in a new copy buffer each time: the writer must copy through it, leave it allocated
  // for the next record, and still log each record's own pages.
  CopyBatch batch;
  const uint8_t *first_buffer = nullptr;
  for (uint64_t epoch = 1; epoch <= 3; epoch++) {
    std::vector<PageRef> pages;
    for (size_t i = 0; i < 300; i++) {  // more than one batch of 256
      unit::fill_page(mem_ + i * ps_, i, epoch);
      pages.push_back({mem_ + i * ps_, pgno(i)});
    }
    RecordWriter w;
    w.lend_batch(&batch);
    ASSERT_TRUE(w.begin(&log_, seed_, ps_, epoch, pages.size(), encode_state(state_for(epoch)), kDurableUnknown,
                        nullptr).ok());
    ASSERT_TRUE(w.add_live(pages.data(), pages.size()).ok());
    ASSERT_TRUE(w.finish(nullptr).ok());
    ASSERT_NE(batch.buf, nullptr);
    EXPECT_EQ(batch.pages, 256u);
    if (epoch == 1) first_buffer = batch.buf.get();
    EXPECT_EQ(batch.buf.get(), first_buffer) << "the lent batch was reallocated at epoch " << epoch;
  }
  LogScan s = scan(log_);
  ASSERT_EQ(s.records.size(), 3u);
  std::vector<uint8_t> got(ps_);
  for (size_t r = 0; r < 3; r++)
    for (size_t e : {size_t{0}, size_t{255}, size_t{256}, size_t{299}}) {
      ASSERT_TRUE(log_read_page(log_, s.records[r], ps_, e, got.data()).ok());
      EXPECT_TRUE(unit::page_has(got.data(), e, r + 1)) << "record " << r << " page " << e;
    }
}

TEST_F(Wal, TornTailAtAnyOffsetKeepsTheCompletePrefix) {
  ASSERT_TRUE(append(1, {0, 1}).ok());
  ASSERT_TRUE(append(2, {2}).ok());
  const uint64_t third = log_.end;
  ASSERT_TRUE(append(3, {3, 4, 5}).ok());
  const uint64_t end = log_.end;
  const std::string whole = unit::read_file(path_);
  ASSERT_EQ(whole.size(), end);

  // Cut points inside the third record: in its header, at the first page, inside the
  // pages, in the entries, in the state, in the trailer, one byte short.
  const uint64_t pages_end = third + kRecordHeaderBytes + 3 * ps_;
  const std::vector<uint64_t> cuts = {third + 1, third + kRecordHeaderBytes - 1, third + kRecordHeaderBytes,
                                      third + kRecordHeaderBytes + ps_ + 100, pages_end + 8,
                                      pages_end + 3 * kRecordEntryBytes + 5, end - kRecordTrailerBytes + 3, end - 1};
  for (uint64_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    LogFile torn = reopen_as(whole.substr(0, cut), "torn");
    LogScan s = scan(torn);
    ASSERT_EQ(s.records.size(), 2u);
    EXPECT_EQ(s.records[1].header.epoch, 2u);
    EXPECT_TRUE(s.torn_tail);
    EXPECT_FALSE(s.tail_problem.empty());
    EXPECT_EQ(s.later_valid_epoch, 0u);
    EXPECT_EQ(s.valid_end, third);
    EXPECT_EQ(s.file_end, cut);
  }

  // A cut exactly at a record boundary is no damage at all.
  LogFile clean = reopen_as(whole.substr(0, third), "clean");
  LogScan s = scan(clean);
  EXPECT_EQ(s.records.size(), 2u);
  EXPECT_FALSE(s.torn_tail);
}

TEST_F(Wal, GarbageAfterTheRecordsIsATornTail) {
  ASSERT_TRUE(append(1, {0}).ok());
  ASSERT_TRUE(append(2, {1}).ok());
  const uint64_t end = log_.end;
  std::string bytes = unit::read_file(path_);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3 * 4096; i++) bytes.push_back(static_cast<char>(rng()));
  LogFile g = reopen_as(bytes, "garbage");
  LogScan s = scan(g);
  EXPECT_EQ(s.records.size(), 2u);
  EXPECT_TRUE(s.torn_tail);
  EXPECT_EQ(s.valid_end, end);
  EXPECT_EQ(s.later_valid_epoch, 0u);

  // Zeros (space allocated but never written) read the same way.
  std::string zeros = unit::read_file(path_) + std::string(8192, '\0');
  LogFile z = reopen_as(zeros, "zeros");
  s = scan(z);
  EXPECT_EQ(s.records.size(), 2u);
  EXPECT_TRUE(s.torn_tail);
  EXPECT_EQ(s.later_valid_epoch, 0u);
}

// Damages one byte of the second of four records; a scan keeps record 1 only and
// reports that a valid record (epoch 3) follows the damage.
class WalMidLogDamage : public Wal {
 protected:
  void build() {
    for (uint64_t e = 1; e <= 4; e++) {
      offsets_.push_back(log_.end);
      ASSERT_TRUE(append(e, {e, e + 10}).ok());
    }
    bytes_ = unit::read_file(path_);
  }
  LogFile damaged(uint64_t at) {
    std::string b = bytes_;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    return reopen_as(b, "damaged");
  }
  std::vector<uint64_t> offsets_;
  std::string bytes_;
};

TEST_F(WalMidLogDamage, DamageCoveredByTheRecordChecksumIsFoundWithoutPageChecks) {
  build();
  const uint64_t rec2 = offsets_[1];
  const uint64_t after_pages = rec2 + kRecordHeaderBytes + 2 * ps_;
  // Header, entries (page checksums), state, trailer.
  for (uint64_t at : {rec2 + 8, after_pages + 3, after_pages + 2 * kRecordEntryBytes + 10, offsets_[2] - 1}) {
    SCOPED_TRACE("damage at " + std::to_string(at));
    LogFile d = damaged(at);
    LogScan s = scan(d, false);
    ASSERT_EQ(s.records.size(), 1u);
    EXPECT_TRUE(s.torn_tail);
    EXPECT_EQ(s.valid_end, rec2);
    EXPECT_EQ(s.later_valid_epoch, 4u);  // records 3 and 4 survive the damage
  }
}

TEST_F(WalMidLogDamage, DamagedPageIsFoundOnlyWhenPagesAreVerified) {
  build();
  LogFile d = damaged(offsets_[1] + kRecordHeaderBytes + ps_ + 123);  // second page of record 2
  LogScan quick = scan(d, false);
  EXPECT_EQ(quick.records.size(), 4u);
  EXPECT_FALSE(quick.torn_tail);
  LogScan full = scan(d, true);
  ASSERT_EQ(full.records.size(), 1u);
  EXPECT_TRUE(full.torn_tail);
  EXPECT_NE(full.tail_problem.find("page"), std::string::npos) << full.tail_problem;
  EXPECT_EQ(full.later_valid_epoch, 4u);
}

TEST_F(WalMidLogDamage, DamageInTheLastRecordIsOnlyATornTail) {
  build();
  LogFile d = damaged(offsets_[3] + 20);
  LogScan s = scan(d);
  EXPECT_EQ(s.records.size(), 3u);
  EXPECT_TRUE(s.torn_tail);
  EXPECT_EQ(s.later_valid_epoch, 0u);
}

TEST_F(Wal, RecordsOfAnOlderGenerationAreNotReplayed) {
  // The state log_reset leaves if it crashes between writing the new header and
  // cutting the file: old records under a new generation number.
  ASSERT_TRUE(append(1, {0}).ok());
  ASSERT_TRUE(append(2, {1}).ok());
  std::vector<uint8_t> h = encode_log_header(header(2));
  std::string bytes = unit::read_file(path_);
  std::memcpy(bytes.data(), h.data(), h.size());
  LogFile l = reopen_as(bytes, "newgen");
  EXPECT_EQ(l.header.seq, 2u);
  LogScan s = scan(l);
  EXPECT_TRUE(s.records.empty());
  EXPECT_TRUE(s.torn_tail);
  EXPECT_NE(s.tail_problem.find("generation"), std::string::npos) << s.tail_problem;
  EXPECT_EQ(s.later_valid_epoch, 0u);
}

TEST_F(Wal, RecordNamingAPageOutsideTheArenaIsRejected) {
  unit::fill_page(mem_, 0, 1);
  const uint64_t bad = layout_.arena_pgno(kBase + layout_.max_size);  // one past the end
  ASSERT_TRUE(log_append(&log_, seed_, ps_, 1, {{mem_, bad}}, encode_state(state_for(1)), nullptr).ok());
  LogScan s = scan(log_);
  EXPECT_TRUE(s.records.empty());
  EXPECT_TRUE(s.torn_tail);
  EXPECT_NE(s.tail_problem.find("outside"), std::string::npos) << s.tail_problem;
}

TEST_F(Wal, RecordsOfAnotherArenaDoNotScan) {
  ASSERT_TRUE(append(1, {0}).ok());
  LogScan s;
  ASSERT_TRUE(log_scan(log_, layout_, seed_ + 1, true, &s).ok());
  EXPECT_TRUE(s.records.empty());
  EXPECT_TRUE(s.torn_tail);
}

TEST_F(Wal, ResetEmptiesTheLogUnderANewGeneration) {
  ASSERT_TRUE(append(1, {0, 1}).ok());
  ASSERT_TRUE(log_reset(&log_, 5).ok());
  EXPECT_EQ(log_.end, kLogHeaderBytes);
  EXPECT_EQ(unit::file_size_of(path_), kLogHeaderBytes);
  LogFile again;
  ASSERT_TRUE(log_open(path_, true, &again).ok());
  EXPECT_EQ(again.header.seq, 5u);
  EXPECT_TRUE(scan(again).records.empty());
  // Appending after a reset writes records of the new generation.
  ASSERT_TRUE(append(2, {2}, nullptr, &again).ok());
  LogScan s = scan(again);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].header.log_seq, 5u);
}

TEST_F(Wal, FailedAppendIsCutBackAndTheNextAppendSucceeds) {
  // A file size limit makes the write fail part-way through a record (after its space
  // was reserved). Limits and SIGXFSZ belong to the process, so do it in a child.
  ASSERT_TRUE(append(1, {0}).ok());  // reserves the first chunk of log space
  const uint64_t start = log_.end;
  int code = unit::run_in_child([&]() -> int {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    const rlim_t old = rl.rlim_cur;
    rl.rlim_cur = start + kRecordHeaderBytes + 2 * ps_;  // room for two of the ten pages
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    Status s = append(2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    CHILD_CHECK(!s.ok());
    CHILD_CHECK(s.code() == PALLOC_E_NOSPACE);  // EFBIG
    CHILD_CHECK(log_.end == start);
    CHILD_CHECK(unit::file_size_of(path_) == start);
    rl.rlim_cur = old;
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    CHILD_CHECK(append(2, {1, 2}).ok());
    return 0;
  });
  ASSERT_EQ(code, 0);
  LogFile after;
  ASSERT_TRUE(log_open(path_, false, &after).ok());
  LogScan s = scan(after);
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_FALSE(s.torn_tail);
  EXPECT_EQ(s.records[1].header.epoch, 2u);
  EXPECT_EQ(s.records[1].entries.size(), 2u);
  EXPECT_EQ(s.records[1].offset, start);
}

TEST_F(Wal, PagesWrittenDuringAnAppendStillProduceValidRecords) {
  // log_append copies each page before checksumming it, so a concurrent writer can
  // change what is logged but never make a record fail its own checksums.
  std::atomic<bool> stop{false};
  const size_t n = 64;
  for (size_t i = 0; i < n; i++) unit::fill_page(mem_ + i * ps_, i, 0);
  std::thread writer([&] {
    uint64_t v = 0;
    while (!stop.load(std::memory_order_relaxed))
      for (size_t i = 0; i < n; i++, v++)
        std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t *>(mem_ + i * ps_ + (v % 512) * 8))
            .store(v, std::memory_order_relaxed);
  });
  std::vector<PageRef> pages;
  for (size_t i = 0; i < n; i++) pages.push_back({mem_ + i * ps_, pgno(i)});
  for (uint64_t e = 1; e <= 20; e++)
    ASSERT_TRUE(log_append(&log_, seed_, ps_, e, pages, encode_state(state_for(e)), nullptr).ok());
  stop = true;
  writer.join();
  LogScan s = scan(log_, true);
  EXPECT_EQ(s.records.size(), 20u);
  EXPECT_FALSE(s.torn_tail) << s.tail_problem;
  EXPECT_EQ(s.pages_checked, 20 * n);
}

TEST_F(Wal, PagesEqualToWhatWasLastLoggedAreLeftOutOfTheRecord) {
  // The first record logs 8 pages; `unchanged` remembers their checksums by page number.
  std::vector<size_t> idx = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<PageRef> pages;
  for (size_t i : idx) {
    unit::fill_page(mem_ + i * ps_, i, 1);
    pages.push_back({mem_ + i * ps_, pgno(i)});
  }
  std::vector<uint64_t> unchanged;
  std::vector<RecordEntry> written;
  auto remember = [&] {  // what the arena does once a record is written
    for (const RecordEntry &e : written) {
      if (e.pgno >= unchanged.size()) unchanged.resize(e.pgno + 1, 0);
      unchanged[e.pgno] = e.checksum;
    }
  };
  uint64_t bytes = 0;
  ASSERT_TRUE(log_append(&log_, seed_, ps_, 1, pages, encode_state(state_for(1)), &bytes, kDurableUnknown,
                         &unchanged, &written).ok());
  ASSERT_EQ(written.size(), 8u);
  EXPECT_EQ(bytes, expected_bytes(8, 1));
  remember();
  // All 8 are reported again; pages 2 and 5 really changed, page 6 changed and was
  // written back to its logged content.
  unit::fill_page(mem_ + 2 * ps_, 2, 2);
  unit::fill_page(mem_ + 5 * ps_, 5, 2);
  mem_[6 * ps_] ^= 0xff;
  mem_[6 * ps_] ^= 0xff;
  const uint64_t start = log_.end;
  ASSERT_TRUE(log_append(&log_, seed_, ps_, 2, pages, encode_state(state_for(2)), &bytes, kDurableUnknown,
                         &unchanged, &written).ok());
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].pgno, pgno(2));
  EXPECT_EQ(written[1].pgno, pgno(5));
  EXPECT_EQ(bytes, expected_bytes(2, 2));
  EXPECT_EQ(log_.end, start + bytes);
  remember();

  LogScan s = scan(log_, true);
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_FALSE(s.torn_tail) << s.tail_problem;
  ASSERT_EQ(s.records[1].entries.size(), 2u);
  std::vector<uint8_t> buf(ps_);
  for (size_t k = 0; k < 2; k++) {
    ASSERT_TRUE(log_read_page(log_, s.records[1], ps_, k, buf.data()).ok());
    const size_t i = k == 0 ? 2 : 5;
    EXPECT_EQ(std::memcmp(buf.data(), mem_ + i * ps_, ps_), 0) << "page " << i;
  }
  // A record whose pages are all unchanged still carries its state.
  ASSERT_TRUE(log_append(&log_, seed_, ps_, 3, pages, encode_state(state_for(3)), &bytes, kDurableUnknown,
                         &unchanged, &written).ok());
  EXPECT_EQ(written.size(), 0u);
  s = scan(log_, true);
  ASSERT_EQ(s.records.size(), 3u);
  EXPECT_EQ(s.records[2].state.roots[1].value, state_for(3).roots[1].value);
}

TEST_F(Wal, ARecordBuiltInStepsReadsBackAndAnUnfinishedOneLeavesNothing) {
  // Pages 0-3 are written from live memory, 4-7 from copies taken earlier: the copies,
  // not the memory as it is now, are what the record holds.
  for (size_t i = 0; i < 8; i++) unit::fill_page(mem_ + i * ps_, i, 1);
  std::vector<uint8_t> copies(4 * ps_);
  std::vector<uint64_t> pgnos;
  for (size_t i = 4; i < 8; i++) {
    std::memcpy(copies.data() + (i - 4) * ps_, mem_ + i * ps_, ps_);
    pgnos.push_back(pgno(i));
    unit::fill_page(mem_ + i * ps_, i, 9);  // changed after the copy
  }
  std::vector<PageRef> live;
  for (size_t i = 0; i < 4; i++) live.push_back({mem_ + i * ps_, pgno(i)});
  uint64_t bytes = 0;
  {
    RecordWriter w;
    ASSERT_TRUE(w.begin(&log_, seed_, ps_, 1, 8, encode_state(state_for(1)), kDurableUnknown, nullptr).ok());
    ASSERT_TRUE(w.add_live(live.data(), live.size()).ok());
    ASSERT_TRUE(w.add_copies(copies.data(), pgnos.data(), pgnos.size()).ok());
    ASSERT_TRUE(w.finish(&bytes).ok());
    EXPECT_EQ(w.entries().size(), 8u);
  }
  EXPECT_EQ(bytes, expected_bytes(8, 1));
  const uint64_t end = log_.end;
  {
    RecordWriter w;  // dropped after writing pages: the log is cut back
    ASSERT_TRUE(w.begin(&log_, seed_, ps_, 2, 4, encode_state(state_for(2)), kDurableUnknown, nullptr).ok());
    ASSERT_TRUE(w.add_live(live.data(), live.size()).ok());
  }
  EXPECT_EQ(log_.end, end);
  EXPECT_EQ(unit::file_size_of(path_), end);
  LogScan sc = scan(log_, true);
  ASSERT_EQ(sc.records.size(), 1u);
  EXPECT_FALSE(sc.torn_tail) << sc.tail_problem;
  std::vector<uint8_t> buf(ps_);
  for (size_t k = 0; k < 8; k++) {
    ASSERT_TRUE(log_read_page(log_, sc.records[0], ps_, k, buf.data()).ok());
    const size_t i = k;  // entries are in the order the pages were added
    EXPECT_EQ(sc.records[0].entries[k].pgno, pgno(i));
    EXPECT_TRUE(unit::page_has(buf.data(), i, 1)) << "page " << i;
  }
}

}  // namespace
}  // namespace palloc
