// fault_filesystem_test.cpp — a full disk and a read-only file system.
//
// The disk is made full in two ways: a size-limited tmpfs filled to the last byte
// (ENOSPC), and RLIMIT_FSIZE (EFBIG, which palloc reports as PALLOC_E_NOSPACE too; it
// also needs no mount privilege). Mounts are made in a private mount namespace of an
// isolated child, so they vanish with it.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "fault_files.h"
#include "fault_image.h"
#include "fault_isolation.h"
#include "fault_scenario.h"

namespace crash {
namespace {

enum class Limit { kTmpfs, kRlimit };

// Takes away the free space, and gives it back.
class SpaceHog {
 public:
  SpaceHog(Limit how, std::string dir, std::string log) : how_(how), dir_(std::move(dir)), log_(std::move(log)) {}
  ~SpaceHog() { release(); }

  void fill() {
    if (how_ == Limit::kRlimit) {
      // Writes past this offset fail with EFBIG; SIGXFSZ is ignored so they return it.
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {file_size(log_) + (256 << 10), RLIM_INFINITY};
      ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0) << strerror(errno);
      return;
    }
    const std::string filler = dir_ + "/filler";
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << strerror(errno);
    std::vector<char> buf(1 << 20, 'x');
    for (size_t chunk = buf.size(); chunk >= 512; chunk /= 4) {
      while (::write(fd, buf.data(), chunk) > 0) {
      }
      ASSERT_EQ(errno, ENOSPC) << "filling the disk: " << strerror(errno);
    }
    ::close(fd);
    filled_ = true;
  }

  void release() {
    if (how_ == Limit::kRlimit) {
      struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
      setrlimit(RLIMIT_FSIZE, &rl);
    } else if (filled_) {
      unlink((dir_ + "/filler").c_str());
      filled_ = false;
    }
  }

  int expected_errno() const { return how_ == Limit::kTmpfs ? ENOSPC : EFBIG; }

 private:
  Limit how_;
  std::string dir_, log_;
  bool filled_ = false;
};

struct DiskFullCase {
  Limit limit;
  palloc_tracker_kind tracker;
};

std::string case_name(const ::testing::TestParamInfo<DiskFullCase> &info) {
  return std::string(info.param.limit == Limit::kTmpfs ? "Tmpfs" : "Rlimit") +
         (info.param.tracker == PALLOC_TRACKER_UFFD ? "Uffd" : "Hash");
}

class DiskFull : public ::testing::TestWithParam<DiskFullCase> {
 protected:
  void SetUp() override {
    if (GetParam().limit == Limit::kTmpfs && !tmpfs_unavailable_reason().empty())
      GTEST_SKIP() << "cannot mount a size-limited tmpfs: " << tmpfs_unavailable_reason()
                   << " (the RLIMIT_FSIZE variant covers a full disk instead)";
    if (GetParam().tracker == PALLOC_TRACKER_UFFD && !palloc_uffd_supported())
      GTEST_SKIP() << "the uffd tracker needs Linux 6.7 or later";
  }

  // Runs `body(dir holding the arena)` in an isolated child, on a 48 MiB tmpfs or on the
  // scratch file system (for the rlimit variant).
  void in_child(const std::function<void(const std::string &)> &body) {
    const ::testing::AssertionResult child = run_isolated([&] {
      const std::string mnt = dir_ / "mnt";
      if (GetParam().limit == Limit::kTmpfs) {
        ASSERT_EQ(mount_tmpfs(mnt, 48ull << 20), "");
      } else {
        ASSERT_EQ(mkdir(mnt.c_str(), 0700), 0);
      }
      body(mnt);
      if (GetParam().limit == Limit::kTmpfs) umount2(mnt.c_str(), MNT_DETACH);
    });
    EXPECT_TRUE(child);
  }

  // Reopens a copy of the arena in yet another process (this one owns the arena and
  // has it mapped at its fixed address) and expects the given commit.
  ::testing::AssertionResult reopen_copy_elsewhere(palloc_arena *a, const std::string &path, const Script &s,
                                                   uint64_t epoch) {
    const std::string copy = dir_ / "copy";
    return run_isolated([&] {
      struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
      setrlimit(RLIMIT_FSIZE, &rl);
      copy_arena(path, copy);
      unmap_arena_range(palloc_base(a), palloc_max_size(a));
      EXPECT_TRUE(open_and_expect(copy, s, epoch));
    });
  }

  TempDir dir_;
};

TEST_P(DiskFull, CommitFailsWithNoSpaceThenSucceedsOnceSpaceIsFreed) {
  in_child([&](const std::string &mnt) {
    const std::string path = mnt + "/arena";
    Script s;
    s.tracker = GetParam().tracker;
    s.initial_pages = (12ull << 20) / page_size();  // epoch 2's record outgrows the 8 MiB of log reserved so far
    s.pages.push_back({0, 1, 2, 3, 4, 5, 6, 7});
    s.pages.emplace_back();
    for (uint64_t p = 0; p < s.initial_pages; p++) s.pages.back().push_back(p);

    const palloc_options o = script_options(s, true);
    palloc_arena *a = nullptr;
    ASSERT_EQ(palloc_open(path.c_str(), &o, &a), PALLOC_OK) << palloc_last_error();
    write_epoch(s, 1, a);
    ASSERT_EQ(palloc_commit(a), 1) << palloc_last_error();

    SpaceHog hog(GetParam().limit, mnt, path + ".wal0");
    ASSERT_NO_FATAL_FAILURE(hog.fill());
    const uint64_t log_before = file_size(path + ".wal0");
    write_epoch(s, 2, a);
    ASSERT_EQ(palloc_commit(a), -int64_t{PALLOC_E_NOSPACE}) << palloc_last_error();
    const std::string message = palloc_last_error();
    EXPECT_NE(message.find(strerror(hog.expected_errno())), std::string::npos) << message;
    EXPECT_EQ(palloc_epoch(a), 1u);
    EXPECT_EQ(file_size(path + ".wal0"), log_before) << "the failed record must be cut off the log";

    // The previous commit is intact: read-only, and through a real open in another process.
    CommittedImage img;
    ASSERT_TRUE(read_committed_image(path, &img).ok());
    EXPECT_EQ(img.epoch, 1u);
    EXPECT_TRUE(img.content == expected_at(s, 1).content);
    EXPECT_TRUE(reopen_copy_elsewhere(a, path, s, 1));

    // Space comes back; the change that failed to commit is still there to commit.
    hog.release();
    ASSERT_EQ(palloc_commit(a), 2) << palloc_last_error();
    ASSERT_TRUE(read_committed_image(path, &img).ok());
    EXPECT_EQ(img.epoch, 2u);
    EXPECT_TRUE(img.content == expected_at(s, 2).content);
    ASSERT_EQ(palloc_close(a), PALLOC_OK) << palloc_last_error();
    EXPECT_TRUE(open_and_expect(path, s, 2));
  });
}

TEST_P(DiskFull, GrowFailsWithNoSpaceInsteadOfFaultingLater) {
  in_child([&](const std::string &mnt) {
    const std::string path = mnt + "/arena";
    Script s;
    s.tracker = GetParam().tracker;
    s.initial_pages = 256;
    const uint64_t grown = s.initial_pages + (16ull << 20) / page_size();
    s.pages = {{0, 1, 255}, {0, 256, grown - 1}};
    s.grow_to = {0, grown};

    const palloc_options o = script_options(s, true);
    palloc_arena *a = nullptr;
    ASSERT_EQ(palloc_open(path.c_str(), &o, &a), PALLOC_OK) << palloc_last_error();
    write_epoch(s, 1, a);
    ASSERT_EQ(palloc_commit(a), 1) << palloc_last_error();

    SpaceHog hog(GetParam().limit, mnt, path + ".wal0");
    ASSERT_NO_FATAL_FAILURE(hog.fill());
    const size_t size_before = palloc_size(a);
    ASSERT_EQ(palloc_grow(a, grown * page_size()), PALLOC_E_NOSPACE) << palloc_last_error();
    const std::string message = palloc_last_error();
    EXPECT_NE(message.find(strerror(hog.expected_errno())), std::string::npos) << message;
    EXPECT_EQ(palloc_size(a), size_before) << "a failed grow must not change the size";

    hog.release();
    write_epoch(s, 2, a);  // grows (now with space) and writes into the new pages
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(palloc_commit(a), 2) << palloc_last_error();
    ASSERT_EQ(palloc_close(a), PALLOC_OK) << palloc_last_error();
    EXPECT_TRUE(open_and_expect(path, s, 2));
  });
}

// Recovery and checkpoints write only into space reserved when the pages were first
// committed (or the arena grew), so a full disk must not keep an arena from opening or
// closing. (Tmpfs only: RLIMIT_FSIZE limits offsets, and every data page lies beyond
// the limit, reserved or not.)
class FullTmpfs : public DiskFull {};

TEST_P(FullTmpfs, RecoveryAndCheckpointsNeedNoNewSpace) {
  in_child([&](const std::string &mnt) {
    const std::string path = mnt + "/arena";
    Script s;
    s.tracker = GetParam().tracker;
    // Enough pages that the checksum-table entries of the last ones start a table page
    // of their own: that page must have been reserved at creation too.
    s.initial_pages = 1024;
    s.pages = {{0, 1}, {2, 1023}, {1024, 1100}, {1, 1199}};
    s.grow_to = {0, 0, 1200, 0};
    // Crash-like end: the records stay in the log for the next open to apply.
    ASSERT_TRUE(commit_in_child(path, s, 1, 3, false));

    SpaceHog hog(GetParam().limit, mnt, path + ".wal0");
    ASSERT_NO_FATAL_FAILURE(hog.fill());
    const palloc_options o = script_options(s, false);
    palloc_arena *a = nullptr;
    ASSERT_EQ(palloc_open(path.c_str(), &o, &a), PALLOC_OK) << palloc_last_error();
    EXPECT_TRUE(same_state(snapshot_of(a), expected_at(s, 3)));
    // The log's reserved space went with the recovery; a commit may or may not find
    // room. Whichever it is, closing (a checkpoint) must work and keep what committed.
    write_epoch(s, 4, a);
    const int64_t got = palloc_commit(a);
    EXPECT_TRUE(got == 4 || got == -int64_t{PALLOC_E_NOSPACE}) << got << ": " << palloc_last_error();
    EXPECT_EQ(palloc_close(a), PALLOC_OK) << palloc_last_error();
    EXPECT_TRUE(open_and_expect(path, s, got == 4 ? 4 : 3));
  });
}

INSTANTIATE_TEST_SUITE_P(Limits, DiskFull,
                         ::testing::Values(DiskFullCase{Limit::kTmpfs, PALLOC_TRACKER_UFFD},
                                           DiskFullCase{Limit::kTmpfs, PALLOC_TRACKER_HASH},
                                           DiskFullCase{Limit::kRlimit, PALLOC_TRACKER_UFFD},
                                           DiskFullCase{Limit::kRlimit, PALLOC_TRACKER_HASH}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Limits, FullTmpfs,
                         ::testing::Values(DiskFullCase{Limit::kTmpfs, PALLOC_TRACKER_UFFD},
                                           DiskFullCase{Limit::kTmpfs, PALLOC_TRACKER_HASH}),
                         case_name);

TEST(ReadOnlyFileSystem, OpenFailsWithPermissionAndNothingIsLost) {
  if (const std::string why = tmpfs_unavailable_reason(); !why.empty())
    GTEST_SKIP() << "cannot mount a tmpfs with a read-only view of it: " << why;
  TempDir dir;
  const ::testing::AssertionResult child = run_isolated([&] {
    const std::string mnt = dir / "mnt", ro = dir / "ro";
    ASSERT_EQ(mount_tmpfs(mnt, 64ull << 20), "");
    Script s;
    s.pages = {{0, 1}, {2}, {1, 3}};
    // Commits left in the log, as after a crash: the next open has recovery to do.
    ASSERT_TRUE(commit_in_child(mnt + "/arena", s, 1, s.epochs(), false));
    ASSERT_EQ(bind_read_only(mnt, ro), "");

    const palloc_options o = script_options(s, false);
    const std::string before = arena_fingerprint(mnt + "/arena");
    palloc_arena *a = nullptr;
    EXPECT_EQ(palloc_open((ro + "/arena").c_str(), &o, &a), PALLOC_E_PERMISSION);
    std::string message = palloc_last_error();
    EXPECT_NE(message.find(strerror(EROFS)), std::string::npos) << message;
    EXPECT_EQ(arena_fingerprint(mnt + "/arena"), before);

    // Creating an arena there fails the same way.
    const palloc_options create = script_options(s, true);
    EXPECT_EQ(palloc_open((ro + "/new").c_str(), &create, &a), PALLOC_E_PERMISSION);
    message = palloc_last_error();
    EXPECT_NE(message.find(strerror(EROFS)), std::string::npos) << message;

    // Writable again: every commit is there.
    EXPECT_TRUE(open_and_expect(mnt + "/arena", s, s.epochs()));
    // And a cleanly closed arena is refused just the same.
    EXPECT_EQ(palloc_open((ro + "/arena").c_str(), &o, &a), PALLOC_E_PERMISSION);
    umount2(ro.c_str(), MNT_DETACH);
    umount2(mnt.c_str(), MNT_DETACH);
  });
  EXPECT_TRUE(child);
}

}  // namespace
}  // namespace crash
