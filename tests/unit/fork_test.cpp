// fork_test.cpp — fork() hygiene: a child's copy of an open arena is detached (it may
// read and write its private copy but never commit, grow or touch the files), and the
// parent keeps its ownership and goes on committing as if nothing happened.
#include <gtest/gtest.h>

#include "unit_util.h"

namespace {

using unit::ArenaPtr;

class Fork : public ::testing::TestWithParam<palloc_tracker_kind> {
 protected:
  void SetUp() override {
    if (GetParam() == PALLOC_TRACKER_UFFD && !palloc_uffd_supported()) GTEST_SKIP() << "no uffd tracker here";
  }
  palloc_options opts() const { return unit::test_options(unit::arena_base(4), GetParam()); }
  ArenaPtr open() {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, opts(), &st);
    EXPECT_EQ(st, PALLOC_OK) << palloc_last_error();
    return a;
  }
  uint8_t *page(palloc_arena *a, size_t i) const { return static_cast<uint8_t *>(palloc_base(a)) + i * ps_; }

  unit::TempDir dir_;
  std::string path_ = dir_.file("arena");
  size_t ps_ = unit::page_size();
};

TEST_P(Fork, ChildIsDetachedAndItsWritesNeverReachTheArena) {
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    palloc_arena *arena = a.get();
    for (size_t i = 0; i < 4; i++) unit::fill_page(page(arena, i), i, 1);
    ASSERT_EQ(palloc_commit(arena), 1);
    unit::fill_page(page(arena, 1), 1, 2);  // written but not committed before the fork

    const size_t parent_size = palloc_size(arena);
    int code = unit::run_in_child([&]() -> int {
      // The child sees the parent's memory as of the fork, committed or not.
      CHILD_CHECK(unit::page_has(page(arena, 0), 0, 1));
      CHILD_CHECK(unit::page_has(page(arena, 1), 1, 2));
      // It may write its private copy...
      for (size_t i = 0; i < 4; i++) unit::fill_page(page(arena, i), i, 9);
      unit::fill_page(page(arena, 50), 50, 9);
      CHILD_CHECK(unit::page_has(page(arena, 2), 2, 9));
      // ...grow it in memory (an allocator in the child needs to)...
      const size_t grown = palloc_size(arena) + unit::kMiB;
      CHILD_CHECK(palloc_grow(arena, grown) == PALLOC_OK);
      CHILD_CHECK(palloc_size(arena) == grown);
      static_cast<volatile char *>(palloc_base(arena))[grown - 1] = 1;
      // ...but not commit or register regions.
      CHILD_CHECK(palloc_commit(arena) == -PALLOC_E_DETACHED);
      CHILD_CHECK(std::string(palloc_last_error()).find("fork") != std::string::npos);
      CHILD_CHECK(palloc_commit(arena) == -PALLOC_E_DETACHED);  // and it stays so
      static char region[1 << 16] __attribute__((aligned(1 << 16)));
      CHILD_CHECK(palloc_region_register(arena, "r", region, ps_, nullptr) == PALLOC_E_DETACHED);
      // Closing the detached copy neither commits nor checkpoints.
      CHILD_CHECK(palloc_close(arena) == PALLOC_OK);
      return 0;
    });
    ASSERT_EQ(code, 0);

    // The parent's memory is untouched by the child and it commits normally; its
    // uncommitted change from before the fork is still pending and is included.
    EXPECT_TRUE(unit::page_has(page(arena, 2), 2, 1));
    EXPECT_EQ(page(arena, 50)[0], 0);
    EXPECT_EQ(palloc_size(arena), parent_size);  // the child's growth was its own
    unit::fill_page(page(arena, 3), 3, 2);
    ASSERT_EQ(palloc_commit(arena), 2);
    palloc_stats s;
    ASSERT_EQ(palloc_get_stats(arena, &s), PALLOC_OK);
    EXPECT_EQ(s.last_commit_pages, 2u);  // pages 1 and 3, nothing the child wrote
  }
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 2u);
  EXPECT_TRUE(unit::page_has(page(a.get(), 0), 0, 1));
  EXPECT_TRUE(unit::page_has(page(a.get(), 1), 1, 2));
  EXPECT_TRUE(unit::page_has(page(a.get(), 2), 2, 1));
  EXPECT_TRUE(unit::page_has(page(a.get(), 3), 3, 2));
  EXPECT_EQ(page(a.get(), 50)[0], 0);
}

TEST_P(Fork, ParentWritesAfterTheForkAreStillTracked) {
  // After fork() the parent's pages are shared copy-on-write with the child; a parent
  // write must still be seen by its next commit (also when the child wrote the same
  // page first).
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  palloc_arena *arena = a.get();
  for (size_t i = 0; i < 8; i++) unit::fill_page(page(arena, i), i, 1);
  ASSERT_EQ(palloc_commit(arena), 1);
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  unit::quiesce_threads();
  fflush(nullptr);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(unit::kChildSeconds);
    unit::fill_page(page(arena, 5), 5, 7);  // the child's copy of page 5
    char c = 'x';
    if (::write(done[1], &c, 1) != 1) _exit(2);
    if (::read(go[0], &c, 1) != 1) _exit(3);  // stay alive while the parent commits
    _exit(unit::page_has(page(arena, 5), 5, 7) && unit::page_has(page(arena, 6), 6, 1) ? 0 : 1);
  }
  char c;
  ASSERT_EQ(::read(done[0], &c, 1), 1);
  unit::fill_page(page(arena, 5), 5, 2);
  unit::fill_page(page(arena, 6), 6, 2);
  ASSERT_EQ(palloc_commit(arena), 2);
  palloc_stats s;
  ASSERT_EQ(palloc_get_stats(arena, &s), PALLOC_OK);
  EXPECT_EQ(s.last_commit_pages, 2u);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  EXPECT_EQ(unit::wait_for(child), 0) << "the parent's writes leaked into the child";
  for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
  ASSERT_EQ(palloc_close(a.release()), PALLOC_OK);

  ArenaPtr b = open();
  ASSERT_TRUE(b);
  EXPECT_TRUE(unit::page_has(page(b.get(), 5), 5, 2));
  EXPECT_TRUE(unit::page_has(page(b.get(), 6), 6, 2));
  EXPECT_TRUE(unit::page_has(page(b.get(), 7), 7, 1));
}

TEST_P(Fork, AnExitedChildDoesNotReleaseTheParentsLock) {
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  const palloc_options o = opts();
  // A child that just exits (its copies of the files are closed on the way).
  int code = unit::run_in_child([&]() -> int { return 0; });
  ASSERT_EQ(code, 0);
  // Another process trying to open the arena is still turned away, and told who owns
  // it: this process, not the child.
  code = unit::run_in_child([&]() -> int {
    palloc_close(a.get());  // drop the inherited, detached copy (and its mapping)
    palloc_arena *other = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &other) == PALLOC_E_LOCKED);
    const std::string msg = palloc_last_error();
    CHILD_CHECK(msg.find("process " + std::to_string(getppid())) != std::string::npos);
    return 0;
  });
  EXPECT_EQ(code, 0);
  // And the parent still owns a working arena.
  page(a.get(), 0)[0] = 1;
  EXPECT_EQ(palloc_commit(a.get()), 1);
}

TEST_P(Fork, ChildCanOpenAnotherArenaOfItsOwn) {
  // Detaching concerns the inherited arenas only: the child may own a different one.
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  const std::string other = dir_.file("child-arena");
  int code = unit::run_in_child([&]() -> int {
    palloc_options o = unit::test_options(unit::arena_base(5), GetParam());
    palloc_arena *mine = nullptr;
    CHILD_CHECK(palloc_open(other.c_str(), &o, &mine) == PALLOC_OK);
    static_cast<uint8_t *>(palloc_base(mine))[0] = 5;
    CHILD_CHECK(palloc_commit(mine) == 1);
    CHILD_CHECK(palloc_close(mine) == PALLOC_OK);
    return 0;
  });
  ASSERT_EQ(code, 0);
  palloc_options o = unit::test_options(unit::arena_base(5), GetParam());
  palloc_status st;
  ArenaPtr b = unit::open_arena(other, o, &st);
  ASSERT_EQ(st, PALLOC_OK) << palloc_last_error();
  EXPECT_EQ(static_cast<uint8_t *>(palloc_base(b.get()))[0], 5);
}

std::string tracker_name(const ::testing::TestParamInfo<palloc_tracker_kind> &p) {
  return p.param == PALLOC_TRACKER_UFFD ? "uffd" : "hash";
}
INSTANTIATE_TEST_SUITE_P(Trackers, Fork, ::testing::Values(PALLOC_TRACKER_UFFD, PALLOC_TRACKER_HASH), tracker_name);

}  // namespace
