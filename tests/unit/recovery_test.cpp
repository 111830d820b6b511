// recovery_test.cpp — plan_recovery: which records of the two logs continue the data
// file's checkpoint, and when it must refuse instead of silently dropping commits.
#include <cstring>

#include <gtest/gtest.h>

#include "recovery.h"
#include "unit_util.h"

namespace palloc {
namespace {

constexpr uint64_t kBase = 0x110000000000ull;

class Recovery : public ::testing::Test {
 protected:
  void SetUp() override {
    ps_ = unit::page_size();
    df_.path = dir_.file("arena");
    df_.header.seq = 1;
    df_.header.layout = Layout::for_arena(ps_, kBase, 64ull << 20);
    for (size_t i = 0; i < 16; i++) df_.header.uuid[i] = static_cast<uint8_t>(0x90 + i);
    df_.header.checkpoint_epoch = 0;
    df_.header.checkpoint_unix_ns = 1234;
    df_.header.state = state_for(0);
    page_.resize(ps_);
    for (unsigned i = 0; i < 2; i++) {
      LogHeader h;
      h.index = i;
      h.uuid = df_.header.uuid;
      h.seq = 1;
      h.page_size = ps_;
      ASSERT_TRUE(log_create(log_path(df_.path, i), h, &logs_[i]).ok());
    }
  }

  static ArenaState state_for(uint64_t epoch) {
    ArenaState s;
    s.size = (epoch + 1) * 4096;
    s.roots[0].value = epoch;
    return s;
  }

  // Appends a record for `epoch` (one page, arena page `epoch`) to log i, written when
  // `durable` was the newest epoch known to be on disk.
  void add(unsigned i, uint64_t epoch, uint64_t durable = kDurableUnknown) {
    unit::fill_page(page_.data(), epoch, epoch);
    const uint64_t pgno = df_.header.layout.arena_pgno(kBase + epoch * ps_);
    ASSERT_TRUE(log_append(&logs_[i], uuid_seed(df_.header.uuid), ps_, epoch, {{page_.data(), pgno}},
                           encode_state(state_for(epoch)), nullptr, durable)
                    .ok());
  }

  Status plan(RecoveryPlan *p, bool discard = false) { return plan_recovery(df_, logs_, true, discard, p); }

  static std::vector<uint64_t> epochs(const RecoveryPlan &p) {
    std::vector<uint64_t> v;
    for (const RecordInfo &r : p.chain) v.push_back(r.header.epoch);
    return v;
  }

  // Flips one byte inside the entries of the record at `offset` in log i.
  void damage(unsigned i, uint64_t offset) {
    const uint64_t at = offset + kRecordHeaderBytes + ps_ + 3;  // first entry's checksum
    uint8_t b;
    ASSERT_EQ(pread(logs_[i].fd.get(), &b, 1, static_cast<off_t>(at)), 1);
    b ^= 0x40;
    ASSERT_EQ(pwrite(logs_[i].fd.get(), &b, 1, static_cast<off_t>(at)), 1);
  }

  unit::TempDir dir_;
  size_t ps_ = 0;
  DataFile df_;
  LogFile logs_[2];
  std::vector<uint8_t> page_;
};

TEST_F(Recovery, EmptyLogsRecoverTheCheckpoint) {
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p).ok());
  EXPECT_TRUE(p.chain.empty());
  EXPECT_EQ(p.epoch, 0u);
  EXPECT_EQ(p.unix_ns, 1234u);
  EXPECT_TRUE(p.state == state_for(0));
  EXPECT_TRUE(p.notes.empty());
  EXPECT_FALSE(p.lost_commits);
}

TEST_F(Recovery, ChainRunsAcrossBothLogsInEpochOrder) {
  // Log 1 holds the older commits (it was active before a switch), log 0 the newer.
  add(1, 1);
  add(1, 2);
  add(0, 3);
  add(0, 4);
  add(0, 5);
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p).ok());
  EXPECT_EQ(epochs(p), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(p.epoch, 5u);
  EXPECT_TRUE(p.state == state_for(5));
  EXPECT_EQ(p.unix_ns, p.chain.back().header.unix_ns);
  EXPECT_EQ(p.chain[0].log_index, 1u);
  EXPECT_EQ(p.chain[2].log_index, 0u);
  EXPECT_EQ(p.scans[0].records.size(), 3u);
  EXPECT_EQ(p.scans[1].records.size(), 2u);
  EXPECT_EQ(p.scans[0].pages_checked + p.scans[1].pages_checked, 5u);  // verify_pages was on
  EXPECT_FALSE(p.lost_commits);
}

TEST_F(Recovery, RecordsAtOrBelowTheCheckpointAreSkipped) {
  // A checkpoint copied epochs 1-3 into the data file but crashed before emptying log 0.
  add(0, 1);
  add(0, 2);
  add(0, 3);
  add(1, 4);
  add(1, 5);
  df_.header.checkpoint_epoch = 3;
  df_.header.state = state_for(3);
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p).ok());
  EXPECT_EQ(epochs(p), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(p.epoch, 5u);
  EXPECT_TRUE(p.state == state_for(5));

  // Everything already checkpointed: nothing to replay, the checkpoint's state stands.
  df_.header.checkpoint_epoch = 5;
  df_.header.state = state_for(5);
  RecoveryPlan q;
  ASSERT_TRUE(plan(&q).ok());
  EXPECT_TRUE(q.chain.empty());
  EXPECT_EQ(q.epoch, 5u);
}

TEST_F(Recovery, AGapBetweenTheLogsIsRefused) {
  add(0, 1);
  add(0, 2);
  add(1, 4);  // commit 3 is missing
  add(1, 5);
  RecoveryPlan p;
  Status s = plan(&p);
  EXPECT_EQ(s.code(), PALLOC_E_CORRUPT);
  EXPECT_NE(s.message().find("commit 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("commit 4"), std::string::npos) << s.message();
}

TEST_F(Recovery, AGapAfterTheCheckpointIsRefused) {
  add(0, 5);  // the data file holds epoch 3: epoch 4 is missing
  df_.header.checkpoint_epoch = 3;
  RecoveryPlan p;
  EXPECT_EQ(plan(&p).code(), PALLOC_E_CORRUPT);
}

TEST_F(Recovery, DiscardDamagedStopsAtTheGap) {
  add(0, 1);
  add(0, 2);
  add(1, 4);
  add(1, 5);
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p, true).ok());
  EXPECT_EQ(epochs(p), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(p.epoch, 2u);
  EXPECT_TRUE(p.state == state_for(2));
  EXPECT_TRUE(p.lost_commits);
  EXPECT_FALSE(p.notes.empty());
}

TEST_F(Recovery, MidLogDamageIsRefusedUnlessDiscarded) {
  add(0, 1);
  const uint64_t second = logs_[0].end;
  add(0, 2);
  add(0, 3);
  damage(0, second);
  RecoveryPlan p;
  Status s = plan(&p);
  EXPECT_EQ(s.code(), PALLOC_E_CORRUPT);
  EXPECT_NE(s.message().find(logs_[0].path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("epoch 3"), std::string::npos) << s.message();

  RecoveryPlan d;
  ASSERT_TRUE(plan(&d, true).ok());
  EXPECT_EQ(epochs(d), (std::vector<uint64_t>{1}));
  EXPECT_EQ(d.epoch, 1u);
  EXPECT_TRUE(d.lost_commits);
  EXPECT_FALSE(d.notes.empty());
}

TEST_F(Recovery, DamageInOneLogHidesTheOtherLogsLaterCommitsToo) {
  // Log 1 (older) is damaged at epoch 2; log 0 holds 3 and 4. Replaying 1 then 3 would
  // skip 2, so recovery must refuse, or with discard_damaged stop at 1.
  add(1, 1);
  const uint64_t second = logs_[1].end;
  add(1, 2);
  add(0, 3);
  add(0, 4);
  damage(1, second);  // damaged last record of log 1: looks like a torn tail in that log
  RecoveryPlan p;
  EXPECT_EQ(plan(&p).code(), PALLOC_E_CORRUPT);
  RecoveryPlan d;
  ASSERT_TRUE(plan(&d, true).ok());
  EXPECT_EQ(d.epoch, 1u);
  EXPECT_TRUE(d.lost_commits);
}

TEST_F(Recovery, ATornTailIsOnlyANote) {
  add(0, 1);
  add(0, 2);
  const uint64_t end = logs_[0].end;
  add(0, 3);
  ASSERT_EQ(ftruncate(logs_[0].fd.get(), static_cast<off_t>(end + 100)), 0);  // commit 3 was never acknowledged
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p).ok());
  EXPECT_EQ(p.epoch, 2u);
  EXPECT_FALSE(p.lost_commits);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find(logs_[0].path), std::string::npos) << p.notes[0];
}

TEST_F(Recovery, ALogOfAnotherArenaIsRefused) {
  LogHeader h = logs_[1].header;
  h.uuid[0] ^= 1;
  ASSERT_TRUE(log_create(logs_[1].path, h, &logs_[1]).ok());
  RecoveryPlan p;
  Status s = plan(&p);
  EXPECT_EQ(s.code(), PALLOC_E_CORRUPT);
  EXPECT_NE(s.message().find(logs_[1].path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("different arena"), std::string::npos) << s.message();
}

TEST_F(Recovery, ALogWithAnotherPageSizeIsRefused) {
  LogHeader h = logs_[0].header;
  h.page_size = ps_ * 2;
  ASSERT_TRUE(log_create(logs_[0].path, h, &logs_[0]).ok());
  RecoveryPlan p;
  EXPECT_EQ(plan(&p).code(), PALLOC_E_CORRUPT);
}

TEST_F(Recovery, ProgressCoversBothLogs) {
  add(0, 1);
  add(1, 2);
  uint64_t last = 0;
  RecoveryPlan p;
  ASSERT_TRUE(plan_recovery(df_, logs_, false, false, &p, [&](uint64_t done) { last = done; }).ok());
  // The last report counts all of log 0 and the valid part of log 1.
  EXPECT_EQ(last, logs_[0].end + logs_[1].end);
}

}  // namespace
}  // namespace palloc

namespace palloc {
namespace {

// A power loss can leave an un-synced record torn while a later un-synced one reached
// the disk whole. If no record after the damage was written when anything past the
// recovered commit was durable, nothing acknowledged as durable is lost: recover.
TEST_F(Recovery, DamageFollowedOnlyByNeverDurableRecordsIsATornTail) {
  add(0, 1, 0);
  add(0, 2, 1);
  add(0, 3, 1);  // 3 and 4 were written before 2 was known durable (async, or
  add(0, 4, 1);  // concurrent commits sharing one fdatasync)
  LogScan before;
  ASSERT_TRUE(log_scan(logs_[0], df_.header.layout, uuid_seed(df_.header.uuid), false, &before).ok());
  damage(0, before.records[2].offset);  // record 3 torn; 4 whole
  RecoveryPlan p;
  ASSERT_TRUE(plan(&p).ok());
  EXPECT_EQ(epochs(p), (std::vector<uint64_t>{1, 2}));
  EXPECT_FALSE(p.lost_commits);
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes[0].find("never known to be on disk"), std::string::npos) << p.notes[0];
}

// The same damage when a later record shows the damaged commit had been durable: refuse.
TEST_F(Recovery, DamageToACommitKnownDurableIsRefused) {
  add(0, 1, 0);
  add(0, 2, 1);
  add(0, 3, 2);
  add(0, 4, 3);  // written after commit 3 was on disk
  LogScan before;
  ASSERT_TRUE(log_scan(logs_[0], df_.header.layout, uuid_seed(df_.header.uuid), false, &before).ok());
  damage(0, before.records[2].offset);
  RecoveryPlan p;
  Status st = plan(&p);
  EXPECT_EQ(st.code(), PALLOC_E_CORRUPT);
  EXPECT_NE(st.message().find("follows the damage"), std::string::npos) << st.message();
  ASSERT_TRUE(plan(&p, true).ok());  // --discard-damaged
  EXPECT_EQ(epochs(p), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(p.lost_commits);
}

}  // namespace
}  // namespace palloc
