// fault_injection_test.cpp — damaged files: log records cut off at every byte, flipped
// bits in the last record, in a record that later ones follow, in the data file's
// header slots and in its data pages.
//
// The commits are made in a child that ends with _exit instead of palloc_close, so
// their records are still in the log (palloc_close checkpoints and empties the logs).
// Every damage is applied to a fresh copy of those pristine files.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "fault_files.h"
#include "fault_image.h"
#include "fault_isolation.h"
#include "fault_scenario.h"
#include "format.h"
#include "rng.h"

namespace crash {
namespace {

std::string log_of(const std::string &path, const RecordSpan &r) { return path + ".wal" + std::to_string(r.log); }

// Byte offsets inside a record worth damaging: every byte of the header, the entries,
// the state blob and the trailer, and `page_samples` random bytes of the page images.
std::vector<uint64_t> damage_points(const RecordSpan &r, uint64_t page_samples, Rng &rng) {
  const uint64_t ps = page_size();
  std::vector<uint64_t> at;
  for (uint64_t i = 0; i < r.pages_at(); i++) at.push_back(i);
  for (uint64_t i = r.entries_at(ps); i < r.bytes; i++) at.push_back(i);
  for (uint64_t n = 0; n < page_samples && r.npages; n++) at.push_back(r.pages_at() + rng.below(r.npages * ps));
  return at;
}

// Four commits; the last one writes a single page, so its record is short enough to be
// cut at every one of its bytes.
Script small_last_record() {
  Script s;
  s.pages = {{0, 1, 2}, {3}, {1, 4, 5}, {6}};
  return s;
}

TEST(LogTruncation, EveryCutInsideTheLastRecordRecoversThePreviousCommit) {
  TempDir tmp;
  with_fast_dir(tmp.path(), [](const std::string &dir) {
    const std::string pristine = dir + "/pristine", work = dir + "/arena";
    const Script s = small_last_record();
    ASSERT_TRUE(commit_in_child(pristine, s, 1, s.epochs(), false));
    std::vector<RecordSpan> recs;
    ASSERT_TRUE(list_records(pristine, &recs).ok());
    ASSERT_EQ(recs.size(), s.epochs()) << "every commit should still be in the log";
    const RecordSpan last = recs.back();
    ASSERT_EQ(last.epoch, s.epochs());

    const Snapshot previous = expected_at(s, last.epoch - 1);
    const palloc_options o = script_options(s, false);
    unsigned failures = 0;
    for (uint64_t cut = last.offset; cut < last.offset + last.bytes && failures < 10; cut++) {
      copy_arena(pristine, work);
      truncate_file(log_of(work, last), cut);
      palloc_arena *a = nullptr;
      const palloc_status st = palloc_open(work.c_str(), &o, &a);
      if (st != PALLOC_OK) {
        ADD_FAILURE() << "log cut " << cut - last.offset
                      << " bytes into the last record: palloc_open: " << palloc_status_name(st) << ": "
                      << palloc_last_error();
        failures++;
        continue;
      }
      const ::testing::AssertionResult same = same_state(snapshot_of(a), previous);
      if (!same) {
        ADD_FAILURE() << "log cut " << cut - last.offset << " bytes into the last record: " << same.message();
        failures++;
      }
      EXPECT_EQ(palloc_close(a), PALLOC_OK) << palloc_last_error();
    }
    // The uncut log still holds the last commit: the cuts above really removed something.
    copy_arena(pristine, work);
    EXPECT_TRUE(open_and_expect(work, s, last.epoch));
  });
}

TEST(BitFlip, DamageInTheLastRecordRecoversThePreviousCommit) {
  TempDir tmp;
  with_fast_dir(tmp.path(), [](const std::string &dir) {
    const std::string pristine = dir + "/pristine", work = dir + "/arena";
    Script s;
    s.pages = {{0, 1}, {2, 3, 4}, {5, 1, 7}};
    ASSERT_TRUE(commit_in_child(pristine, s, 1, s.epochs(), false));
    std::vector<RecordSpan> recs;
    ASSERT_TRUE(list_records(pristine, &recs).ok());
    ASSERT_EQ(recs.size(), s.epochs());
    const RecordSpan last = recs.back();

    Rng rng(42);
    unsigned failures = 0;
    for (uint64_t at : damage_points(last, 64, rng)) {
      const unsigned bit = static_cast<unsigned>(rng.below(8));
      copy_arena(pristine, work);
      flip_bit(log_of(work, last), last.offset + at, bit);
      const ::testing::AssertionResult r = open_and_expect(work, s, last.epoch - 1);
      if (!r && ++failures <= 10)
        ADD_FAILURE() << "bit " << bit << " of byte " << at << " of the last record flipped: " << r.message();
    }
    EXPECT_EQ(failures, 0u);
  });
}

TEST(BitFlip, DamageFollowedByValidRecordsIsRefusedAndNothingIsModified) {
  TempDir dir;
  const std::string pristine = dir / "pristine", work = dir / "arena";
  Script s;
  s.pages = {{0, 1}, {2, 3}, {4}, {5, 0}, {6}};
  ASSERT_TRUE(commit_in_child(pristine, s, 1, s.epochs(), false));
  std::vector<RecordSpan> recs;
  ASSERT_TRUE(list_records(pristine, &recs).ok());
  ASSERT_EQ(recs.size(), s.epochs());
  const RecordSpan victim = recs[1];  // epoch 2: three valid commits follow it
  ASSERT_EQ(victim.log, recs.back().log);

  Rng rng(7);
  copy_arena(pristine, work);
  const std::string log = log_of(work, victim);
  const palloc_options o = script_options(s, false);
  unsigned failures = 0;
  for (uint64_t at : damage_points(victim, 64, rng)) {
    const unsigned bit = static_cast<unsigned>(rng.below(8));
    flip_bit(log, victim.offset + at, bit);
    const std::string before = arena_fingerprint(work);
    palloc_arena *a = nullptr;
    const palloc_status st = palloc_open(work.c_str(), &o, &a);
    const std::string message = palloc_last_error();
    const std::string after = arena_fingerprint(work);
    if (st == PALLOC_OK) {
      ADD_FAILURE() << "bit " << bit << " of byte " << at
                    << " of epoch 2's record flipped: palloc_open succeeded at epoch " << palloc_epoch(a)
                    << "; commits 3 to " << s.epochs() << " would be dropped";
      palloc_close(a);
      copy_arena(pristine, work);
      if (++failures >= 10) break;
      continue;
    }
    EXPECT_EQ(st, PALLOC_E_CORRUPT) << "byte " << at << ": " << message;
    EXPECT_NE(message.find(".wal" + std::to_string(victim.log)), std::string::npos)
        << "the message should name the damaged log: " << message;
    EXPECT_EQ(before, after) << "a refused open changed the arena's files (byte " << at << ")";
    flip_bit(log, victim.offset + at, bit);  // undo: the next damage starts from intact files
  }
  // Undamaged again, nothing was lost.
  EXPECT_TRUE(open_and_expect(work, s, s.epochs()));
}

TEST(BitFlip, DamagedLogHeaderIsRefusedAndNothingIsModified) {
  // A log whose header cannot be read might hold commits: dropping it silently would
  // lose them, so the open must stop and say which file is damaged.
  TempDir dir;
  const std::string pristine = dir / "pristine", work = dir / "arena";
  Script s;
  s.pages = {{0, 1}, {2}};
  ASSERT_TRUE(commit_in_child(pristine, s, 1, s.epochs(), false));
  const palloc_options o = script_options(s, false);
  Rng rng(11);
  for (unsigned log = 0; log < 2; log++)
    for (int trial = 0; trial < 12; trial++) {
      copy_arena(pristine, work);
      const std::string file = work + ".wal" + std::to_string(log);
      flip_bit(file, rng.below(56), static_cast<unsigned>(rng.below(8)));  // the checksummed part
      const std::string before = arena_fingerprint(work);
      palloc_arena *a = nullptr;
      const palloc_status st = palloc_open(work.c_str(), &o, &a);
      if (st == PALLOC_OK) {
        ADD_FAILURE() << "log " << log << " header damaged, yet palloc_open succeeded at epoch " << palloc_epoch(a);
        palloc_close(a);
        continue;
      }
      const std::string message = palloc_last_error();
      EXPECT_NE(message.find(".wal" + std::to_string(log)), std::string::npos) << message;
      EXPECT_EQ(arena_fingerprint(work), before) << message;
    }
  // A missing log is refused the same way.
  copy_arena(pristine, work);
  ASSERT_EQ(unlink((work + ".wal0").c_str()), 0);
  palloc_arena *a = nullptr;
  EXPECT_EQ(palloc_open(work.c_str(), &o, &a), PALLOC_E_CORRUPT);
  EXPECT_NE(std::string(palloc_last_error()).find(".wal0"), std::string::npos) << palloc_last_error();
}

// Two sessions, each closed cleanly, so the data file's two header slots hold two
// different checkpoints and the logs are empty.
class HeaderSlots : public ::testing::Test {
 protected:
  void SetUp() override {
    s_.pages = {{0, 1}, {2}, {0, 3}, {4, 1}};
    ASSERT_TRUE(commit_in_child(pristine_, s_, 1, 2, true));
    ASSERT_TRUE(commit_in_child(pristine_, s_, 3, 4, true));
    palloc::DataHeader h;
    ASSERT_TRUE(read_data_header(pristine_, &h, &current_).ok());
    ASSERT_EQ(h.checkpoint_epoch, 4u);
  }

  // [first, end) of the checksummed bytes of a slot, read from its length field.
  std::pair<uint64_t, uint64_t> slot_span(int slot, uint64_t first) const {
    const uint64_t at = static_cast<uint64_t>(slot) * palloc::kHeaderSlotBytes;
    const std::vector<uint8_t> b = read_bytes(pristine_, at + 12, 4);
    uint32_t checked = 0;
    std::memcpy(&checked, b.data(), 4);
    return {at + first, at + checked + 8};
  }

  void flip_in_slot(int slot, uint64_t first, Rng &rng) {
    auto [lo, hi] = slot_span(slot, first);
    flip_bit(work_, lo + rng.below(hi - lo), static_cast<unsigned>(rng.below(8)));
  }

  TempDir dir_;
  const std::string pristine_ = dir_ / "pristine", work_ = dir_ / "arena";
  Script s_;
  int current_ = 0;
};

TEST_F(HeaderSlots, DamagedOlderSlotIsIgnored) {
  Rng rng(3);
  for (int trial = 0; trial < 24; trial++) {
    copy_arena(pristine_, work_);
    flip_in_slot(1 - current_, 0, rng);
    ASSERT_TRUE(open_and_expect(work_, s_, 4)) << "trial " << trial;
  }
}

TEST_F(HeaderSlots, DamagedCurrentSlotNeverYieldsAnOlderOrMixedState) {
  // Falling back to the other slot is only right if that slot describes the data file
  // as it is. After a checkpoint overwrote pages in place and emptied the logs, an
  // older header next to newer pages would be a silent mix of two commits.
  Rng rng(4);
  const palloc_options o = script_options(s_, false);
  for (int trial = 0; trial < 24; trial++) {
    copy_arena(pristine_, work_);
    flip_in_slot(current_, 0, rng);
    palloc_arena *a = nullptr;
    const palloc_status st = palloc_open(work_.c_str(), &o, &a);
    if (st != PALLOC_OK) {
      EXPECT_EQ(st, PALLOC_E_CORRUPT) << palloc_last_error();
      continue;
    }
    EXPECT_TRUE(same_state(snapshot_of(a), expected_at(s_, 4))) << "trial " << trial;
    EXPECT_EQ(palloc_close(a), PALLOC_OK);
  }
}

TEST_F(HeaderSlots, BothSlotsDamagedIsRefusedClearly) {
  Rng rng(5);
  const palloc_options o = script_options(s_, false);
  for (int trial = 0; trial < 24; trial++) {
    copy_arena(pristine_, work_);
    // Past magic and version: damage there reads as "not an arena" or "wrong version".
    flip_in_slot(0, 16, rng);
    flip_in_slot(1, 16, rng);
    const std::string before = arena_fingerprint(work_);
    palloc_arena *a = nullptr;
    const palloc_status st = palloc_open(work_.c_str(), &o, &a);
    EXPECT_EQ(st, PALLOC_E_CORRUPT) << "trial " << trial;
    if (st == PALLOC_OK) {
      palloc_close(a);
      continue;
    }
    const std::string message = palloc_last_error();
    EXPECT_NE(message.find(work_), std::string::npos) << "the message should name the file: " << message;
    EXPECT_EQ(arena_fingerprint(work_), before);
  }
}

TEST(DataPages, FlippedBitIsDetectableAgainstTheChecksumTable) {
  // palloc_open maps data pages lazily and does not read them; a damaged page is found
  // by comparing it with its entry in the checksum table (what `palloc check` does).
  TempDir dir;
  const std::string path = dir / "arena";
  Script s;
  s.pages = {{0, 1, 2, 3}, {2, 5}};
  ASSERT_TRUE(commit_in_child(path, s, 1, s.epochs(), true));
  const Snapshot want = expected_at(s, s.epochs());
  const uint64_t ps = page_size();

  // Every page matches its entry; pages never written have entry 0 and are zeros.
  for (uint64_t i = 0; i < s.initial_pages; i++) {
    std::vector<uint8_t> page;
    uint64_t entry = 0, off = 0;
    ASSERT_TRUE(read_data_page(path, i, &page, &entry, &off).ok());
    ASSERT_EQ(0, std::memcmp(page.data(), want.content.data() + i * ps, ps)) << "page " << i;
    if (entry == 0)
      EXPECT_TRUE(std::all_of(page.begin(), page.end(), [](uint8_t b) { return b == 0; })) << "page " << i;
    else
      EXPECT_EQ(palloc::page_checksum(page.data(), ps, off / ps), entry) << "page " << i;
  }

  Rng rng(9);
  for (uint64_t i : {uint64_t{2}, uint64_t{5}, uint64_t{9}}) {  // rewritten, written once, never written
    std::vector<uint8_t> page;
    uint64_t entry = 0, off = 0;
    ASSERT_TRUE(read_data_page(path, i, &page, &entry, &off).ok());
    const uint64_t at = rng.below(ps);
    const unsigned bit = static_cast<unsigned>(rng.below(8));
    flip_bit(path, off + at, bit);
    ASSERT_TRUE(read_data_page(path, i, &page, &entry, &off).ok());
    const bool detectable = entry == 0 ? !std::all_of(page.begin(), page.end(), [](uint8_t b) { return b == 0; })
                                       : palloc::page_checksum(page.data(), ps, off / ps) != entry;
    EXPECT_TRUE(detectable) << "bit " << bit << " of byte " << at << " of page " << i << " flipped";
    flip_bit(path, off + at, bit);
  }

  // Damage to the table itself is just as visible.
  palloc::DataHeader h;
  int slot = 0;
  ASSERT_TRUE(read_data_header(path, &h, &slot).ok());
  std::vector<uint8_t> page;
  uint64_t entry = 0, off = 0;
  ASSERT_TRUE(read_data_page(path, 1, &page, &entry, &off).ok());
  flip_bit(path, h.layout.table_entry_offset(off / ps) + 3, 5);
  ASSERT_TRUE(read_data_page(path, 1, &page, &entry, &off).ok());
  EXPECT_NE(palloc::page_checksum(page.data(), ps, off / ps), entry);
}

}  // namespace
}  // namespace crash
