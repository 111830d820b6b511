// arena_test.cpp — the arena through its C API: create/open/commit/close, what survives
// a reopen or a crash, growth, roots, regions, binary dependencies, durability modes,
// checkpoints, concurrent commits and statistics.
#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "datafile.h"
#include "api_arena.h"
#include "arena.h"
#include "palloc.h"
#include "unit_util.h"

namespace {

using unit::ArenaPtr;
using unit::kMiB;

// Polls pred until it holds or a generous deadline passes (a liveness check, not a
// timing assertion: only a hang fails it).
bool eventually(const std::function<bool()> &pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

palloc_stats stats_of(const palloc_arena *a) {
  palloc_stats s{};
  EXPECT_EQ(palloc_get_stats(a, &s), PALLOC_OK);
  return s;
}

std::string real_path(const std::string &p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// The GNU build-id of an ELF file, read from its PT_NOTE segments (an independent
// reading of what palloc records from the loaded image).
std::vector<uint8_t> elf_build_id(const std::string &path) {
  const std::string f = unit::read_file(path);
  if (f.size() < sizeof(Elf64_Ehdr)) return {};
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, f.data() + eh.e_phoff + i * eh.e_phentsize, sizeof ph);
    if (ph.p_type != PT_NOTE) continue;
    size_t off = ph.p_offset;
    const size_t end = ph.p_offset + ph.p_filesz;
    while (off + sizeof(Elf64_Nhdr) <= end) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, f.data() + off, sizeof nh);
      const size_t name = off + sizeof nh, desc = name + ((nh.n_namesz + 3) & ~3u);
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(f.data() + name, "GNU", 4) == 0)
        return std::vector<uint8_t>(f.begin() + static_cast<long>(desc), f.begin() + static_cast<long>(desc + nh.n_descsz));
      off = desc + ((nh.n_descsz + 3) & ~3u);
    }
  }
  return {};
}

// The committed state as the data file's current header slot records it.
bool read_data_header(const std::string &path, palloc::DataHeader *out) {
  palloc::DataFile df;
  df.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  df.path = path;
  if (!df.fd.valid() || !palloc::data_read_header(&df).ok()) return false;
  *out = df.header;
  return true;
}

class ArenaFixture {
 protected:
  explicit ArenaFixture(unsigned base_index) : base_(unit::arena_base(base_index)) {}

  palloc_options opts(palloc_tracker_kind t = PALLOC_TRACKER_AUTO) const { return unit::test_options(base_, t); }

  ArenaPtr open(const palloc_options &o) {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, o, &st);
    EXPECT_EQ(st, PALLOC_OK) << palloc_status_name(st) << ": " << palloc_last_error();
    return a;
  }
  ArenaPtr open() { return open(opts()); }

  uint8_t *page(palloc_arena *a, size_t i) const { return static_cast<uint8_t *>(palloc_base(a)) + i * ps_; }

  // Reopens the arena and checks it holds what checkpoint_workload committed (the same
  // sequence computes what each page must hold).
  void expect_checkpoint_workload(const palloc_options &o, size_t commits, size_t per_commit, size_t span) {
    std::vector<uint64_t> expect(span, 0);
    for (size_t c = 1, next = 0; c <= commits; c++)
      for (size_t k = 0; k < per_commit; k++, next = (next + 1) % span) expect[next] = c;
    ArenaPtr a = open(o);
    ASSERT_TRUE(a);
    EXPECT_EQ(palloc_epoch(a.get()), commits);
    for (size_t i = 0; i < span; i++) ASSERT_TRUE(unit::page_has(page(a.get(), i), i, expect[i])) << "page " << i;
  }

  unit::TempDir dir_;
  std::string path_ = dir_.file("arena");
  uint64_t base_;
  size_t ps_ = unit::page_size();
};

// Tests that depend on how dirty pages are found run with both trackers.
class ArenaByTracker : public ArenaFixture, public ::testing::TestWithParam<palloc_tracker_kind> {
 protected:
  ArenaByTracker() : ArenaFixture(1) {}
  void SetUp() override {
    if (GetParam() == PALLOC_TRACKER_UFFD && !palloc_uffd_supported()) GTEST_SKIP() << "no uffd tracker here";
  }
  palloc_options topts() const { return opts(GetParam()); }
};

class Arena : public ArenaFixture, public ::testing::Test {
 protected:
  Arena() : ArenaFixture(2) {}
};

TEST_P(ArenaByTracker, CreateCommitCloseReopen) {
  {
    ArenaPtr a = open(topts());
    ASSERT_TRUE(a);
    EXPECT_EQ(reinterpret_cast<uint64_t>(palloc_base(a.get())), base_);
    EXPECT_EQ(palloc_size(a.get()), 1 * kMiB);
    EXPECT_EQ(palloc_max_size(a.get()), 64 * kMiB);
    EXPECT_EQ(palloc_epoch(a.get()), 0u);
    EXPECT_STREQ(stats_of(a.get()).tracker, GetParam() == PALLOC_TRACKER_UFFD ? "uffd" : "hash");
    EXPECT_EQ(palloc_commit(a.get()), 1);
    EXPECT_EQ(palloc_commit(a.get()), 2);
    EXPECT_EQ(palloc_epoch(a.get()), 2u);
    EXPECT_EQ(palloc_close(a.release()), PALLOC_OK);
  }
  palloc_options o = topts();
  o.flags &= ~PALLOC_CREATE;
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 2u);
  EXPECT_EQ(palloc_commit(a.get()), 3);
}

TEST_P(ArenaByTracker, ContentAndRootsSurviveCloseAndReopen) {
  const std::vector<size_t> pages = {0, 1, 100, 255};
  {
    ArenaPtr a = open(topts());
    ASSERT_TRUE(a);
    for (size_t i : pages) unit::fill_page(page(a.get(), i), i, 1);
    ASSERT_EQ(palloc_root_set(a.get(), 3, 0xabcdef), PALLOC_OK);
    ASSERT_EQ(palloc_root_set(a.get(), PALLOC_ROOT_SLOTS - 1, reinterpret_cast<uint64_t>(page(a.get(), 100))),
              PALLOC_OK);
    ASSERT_EQ(palloc_root_set_named(a.get(), "alpha", 11), PALLOC_OK);
    ASSERT_EQ(palloc_root_set_named(a.get(), "beta", 22), PALLOC_OK);
    ASSERT_EQ(palloc_root_set_named(a.get(), "alpha", 12), PALLOC_OK);  // update, not a new slot
    ASSERT_GT(palloc_commit(a.get()), 0);
  }
  ArenaPtr a = open(topts());
  ASSERT_TRUE(a);
  for (size_t i = 0; i < 256; i++) {
    if (std::find(pages.begin(), pages.end(), i) != pages.end())
      EXPECT_TRUE(unit::page_has(page(a.get(), i), i, 1)) << "page " << i;
    else
      EXPECT_TRUE(std::all_of(page(a.get(), i), page(a.get(), i) + ps_, [](uint8_t c) { return c == 0; }))
          << "page " << i << " was never written and must read as zeros";
  }
  EXPECT_EQ(palloc_root_get(a.get(), 3), 0xabcdefu);
  EXPECT_EQ(palloc_root_get(a.get(), PALLOC_ROOT_SLOTS - 1), reinterpret_cast<uint64_t>(page(a.get(), 100)));
  EXPECT_EQ(palloc_root_get(a.get(), 4), 0u);
  uint64_t v = 0;
  ASSERT_EQ(palloc_root_get_named(a.get(), "alpha", &v), PALLOC_OK);
  EXPECT_EQ(v, 12u);
  ASSERT_EQ(palloc_root_get_named(a.get(), "beta", &v), PALLOC_OK);
  EXPECT_EQ(v, 22u);
  EXPECT_EQ(palloc_root_get_named(a.get(), "gamma", &v), PALLOC_E_NOT_FOUND);
}

TEST_P(ArenaByTracker, UncommittedChangesAreDroppedByReopen) {
  {
    ArenaPtr a = open(topts());
    ASSERT_TRUE(a);
    for (size_t i : {0, 5}) unit::fill_page(page(a.get(), i), i, 1);
    palloc_root_set(a.get(), 0, 100);
    ASSERT_EQ(palloc_commit(a.get()), 1);
    // After the commit: change a committed page, write a fresh one, change a root.
    unit::fill_page(page(a.get(), 5), 5, 2);
    unit::fill_page(page(a.get(), 9), 9, 2);
    palloc_root_set(a.get(), 0, 200);
    palloc_root_set_named(a.get(), "late", 1);
  }  // closed without a commit
  ArenaPtr a = open(topts());
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 1u);
  EXPECT_TRUE(unit::page_has(page(a.get(), 0), 0, 1));
  EXPECT_TRUE(unit::page_has(page(a.get(), 5), 5, 1));
  EXPECT_EQ(page(a.get(), 9)[0], 0);
  EXPECT_EQ(palloc_root_get(a.get(), 0), 100u);
  uint64_t v;
  EXPECT_EQ(palloc_root_get_named(a.get(), "late", &v), PALLOC_E_NOT_FOUND);
}

TEST_P(ArenaByTracker, ACrashRecoversTheLastCommitFromTheLog) {
  const palloc_options o = topts();
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    for (size_t i = 0; i < 8; i++) unit::fill_page(page(a, i), i, 1);
    CHILD_CHECK(palloc_commit(a) == 1);
    CHILD_CHECK(palloc_grow(a, 4 * kMiB) == PALLOC_OK);
    for (size_t i = 4; i < 8; i++) unit::fill_page(page(a, i), i, 2);
    unit::fill_page(page(a, 1000), 1000, 2);  // in the grown part
    palloc_root_set(a, 1, 2);
    CHILD_CHECK(palloc_commit(a) == 2);
    unit::fill_page(page(a, 0), 0, 3);  // never committed
    palloc_root_set(a, 1, 3);
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  ArenaPtr a = open(topts());
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 2u);
  EXPECT_EQ(palloc_size(a.get()), 4 * kMiB);
  for (size_t i = 0; i < 8; i++) EXPECT_TRUE(unit::page_has(page(a.get(), i), i, i < 4 ? 1 : 2)) << "page " << i;
  EXPECT_TRUE(unit::page_has(page(a.get(), 1000), 1000, 2));
  EXPECT_EQ(palloc_root_get(a.get(), 1), 2u);
  // Recovery folded the log into the data file.
  EXPECT_EQ(stats_of(a.get()).checkpoint_epoch, 2u);
  // And the arena goes on from there.
  unit::fill_page(page(a.get(), 0), 0, 4);
  EXPECT_EQ(palloc_commit(a.get()), 3);
}

TEST_P(ArenaByTracker, RepeatedWritesToOnePageAcrossCommitsAndReopens) {
  // Each round rewrites the same pages: after a reopen they are file-backed again and
  // the tracker must still see the first write to each.
  for (uint64_t gen = 1; gen <= 3; gen++) {
    ArenaPtr a = open(topts());
    ASSERT_TRUE(a);
    for (size_t i : {2, 3}) {
      if (gen > 1) {
        EXPECT_TRUE(unit::page_has(page(a.get(), i), i, gen - 1)) << "gen " << gen;
      }
      unit::fill_page(page(a.get(), i), i, gen);
    }
    ASSERT_EQ(palloc_commit(a.get()), static_cast<int64_t>(gen));
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 2u);
  }
}

std::string tracker_name(const ::testing::TestParamInfo<palloc_tracker_kind> &p) {
  return p.param == PALLOC_TRACKER_UFFD ? "uffd" : "hash";
}
INSTANTIATE_TEST_SUITE_P(Trackers, ArenaByTracker, ::testing::Values(PALLOC_TRACKER_UFFD, PALLOC_TRACKER_HASH),
                         tracker_name);

// With skip_unchanged_pages (what the persistent heap turns on), a page written but left
// as the last commit wrote it is not logged again; one changed and changed back between
// two commits is (the comparison is with the last commit, not with the page's past).
TEST_F(Arena, UnchangedWrittenPagesAreSkippedButChangesBackAreNot) {
  if (!palloc_uffd_supported()) GTEST_SKIP() << "no uffd tracker here";
  {
    ArenaPtr a = open(opts(PALLOC_TRACKER_UFFD));
    ASSERT_TRUE(a);
    a->impl->skip_unchanged_pages(true);
    for (size_t i = 0; i < 4; i++) unit::fill_page(page(a.get(), i), i, 1);
    ASSERT_EQ(palloc_commit(a.get()), 1);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 4u);
    for (size_t i = 0; i < 4; i++) unit::fill_page(page(a.get(), i), i, 1);  // same bytes again
    ASSERT_EQ(palloc_commit(a.get()), 2);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 0u);
    unit::fill_page(page(a.get(), 2), 2, 2);
    ASSERT_EQ(palloc_commit(a.get()), 3);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 1u);
    unit::fill_page(page(a.get(), 2), 2, 1);  // back to what epoch 1 had: still a change
    ASSERT_EQ(palloc_commit(a.get()), 4);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 1u);
    EXPECT_EQ(palloc_close(a.release()), PALLOC_OK);
  }
  ArenaPtr a = open(opts(PALLOC_TRACKER_UFFD));
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 4u);
  for (size_t i = 0; i < 4; i++) EXPECT_TRUE(unit::page_has(page(a.get(), i), i, 1)) << "page " << i;
}

// commit_capture_stopped (the persistent heap's commits): the record holds the pages as
// they were when `resume` was called, however they change while the copies are written
// (by the caller, or by the writer thread in the background); `resume` runs once; records
// stay in order and checkpoints wait for a record still being written.
TEST_P(ArenaByTracker, CopiedCommitsHoldThePagesAsTheyWereAtResume) {
  palloc_options o = topts();
  o.checkpoint_bytes = 1 * kMiB;  // checkpoints run while records are being written
  const size_t span = 96;
  const uint64_t rounds = 24;
  {
    ArenaPtr a = open(o);
    ASSERT_TRUE(a);
    for (uint64_t r = 1; r <= rounds; r++) {
      for (size_t i = 0; i < span; i++) unit::fill_page(page(a.get(), i), i, r);
      unsigned resumed = 0;
      uint64_t epoch = 0;
      const bool background = r % 2 == 0;
      palloc::Status s = a->impl->commit_capture_stopped(
          &epoch,
          [&] {
            resumed++;
            // The program runs again: these writes belong to the next commit, if any.
            for (size_t i = 0; i < span; i += 3) unit::fill_page(page(a.get(), i), i, 1000 + r);
          },
          background);
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_EQ(resumed, 1u);
      EXPECT_EQ(epoch, r);
      ASSERT_TRUE(a->impl->commit_wait(epoch).ok());
      EXPECT_EQ(palloc_epoch(a.get()), r);
    }
    // Close writes no commit: what survives is the last record, the pages as of round 24.
    EXPECT_EQ(palloc_close(a.release()), PALLOC_OK);
  }
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), rounds);
  EXPECT_GT(stats_of(a.get()).checkpoint_epoch, 0u);
  for (size_t i = 0; i < span; i++) ASSERT_TRUE(unit::page_has(page(a.get(), i), i, rounds)) << "page " << i;
}

// A background record that has not been waited for is still written, in order, before
// the arena closes, and before a later commit's record.
TEST_P(ArenaByTracker, BackgroundRecordsAreWrittenBeforeLaterCommitsAndClose) {
  {
    ArenaPtr a = open(topts());
    ASSERT_TRUE(a);
    uint64_t epoch = 0;
    for (size_t i = 0; i < 8; i++) unit::fill_page(page(a.get(), i), i, 1);
    ASSERT_TRUE(a->impl->commit_capture_stopped(&epoch, [] {}, true).ok());
    ASSERT_EQ(epoch, 1u);
    unit::fill_page(page(a.get(), 3), 3, 2);
    ASSERT_EQ(palloc_commit(a.get()), 2);  // waits for epoch 1's record first
    for (size_t i = 8; i < 16; i++) unit::fill_page(page(a.get(), i), i, 3);
    ASSERT_TRUE(a->impl->commit_capture_stopped(&epoch, [] {}, true).ok());
    ASSERT_EQ(epoch, 3u);
    EXPECT_EQ(palloc_close(a.release()), PALLOC_OK);  // writes epoch 3 before it stops
  }
  ArenaPtr a = open(topts());
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 3u);
  for (size_t i = 0; i < 16; i++)
    EXPECT_TRUE(unit::page_has(page(a.get(), i), i, i == 3 ? 2 : i < 8 ? 1 : 3)) << "page " << i;
}

// A copied commit whose record cannot be written (the log may not grow) lets the program
// go on all the same (resume runs), keeps the previous epoch, and the next commit writes
// the pages it could not.
TEST_F(Arena, CopiedCommitThatFailsResumesAndTheNextOneWritesItsPages) {
  palloc_options o = opts();
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    for (size_t i = 0; i < 4; i++) unit::fill_page(page(a, i), i, 1);
    CHILD_CHECK(palloc_commit(a) == 1);
    // The log cannot grow: reserving space for the record fails.
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {static_cast<rlim_t>(unit::file_size_of(path_ + ".wal0")), RLIM_INFINITY};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    for (size_t i = 0; i < 200; i++) unit::fill_page(page(a, i), i, 2);
    // In the background the failure is reported to whoever waits for the epoch...
    unsigned resumed = 0;
    uint64_t epoch = 0;
    CHILD_CHECK(a->impl->commit_capture_stopped(&epoch, [&] { resumed++; }, true).ok());
    CHILD_CHECK(resumed == 1 && epoch == 2);
    CHILD_CHECK(!a->impl->commit_wait(epoch).ok());
    CHILD_CHECK(palloc_epoch(a) == 1);
    // ...and here to the caller.
    CHILD_CHECK(!a->impl->commit_capture_stopped(&epoch, [&] { resumed++; }, false).ok());
    CHILD_CHECK(resumed == 2);
    CHILD_CHECK(palloc_epoch(a) == 1);
    lim.rlim_cur = RLIM_INFINITY;
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHILD_CHECK(palloc_commit(a) == 2);  // no page was written since: the failed set goes in
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), 2u);
  for (size_t i = 0; i < 200; i++) ASSERT_TRUE(unit::page_has(page(a.get(), i), i, 2)) << "page " << i;
}

TEST_F(Arena, RootArgumentsAreChecked) {
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_root_set(a.get(), PALLOC_ROOT_SLOTS, 1), PALLOC_E_INVALID);
  EXPECT_EQ(palloc_root_get(a.get(), PALLOC_ROOT_SLOTS), 0u);
  EXPECT_EQ(palloc_root_set_named(a.get(), "", 1), PALLOC_E_INVALID);
  EXPECT_EQ(palloc_root_set_named(a.get(), std::string(PALLOC_ROOT_NAME_MAX + 1, 'n').c_str(), 1), PALLOC_E_INVALID);
  EXPECT_EQ(palloc_root_set_named(a.get(), std::string(PALLOC_ROOT_NAME_MAX, 'n').c_str(), 1), PALLOC_OK);
  // Named roots take free slots; numbered roots that are set are not free.
  for (unsigned i = 0; i < PALLOC_ROOT_SLOTS; i++)
    if (palloc_root_get(a.get(), i) == 0) palloc_root_set(a.get(), i, 1000 + i);
  EXPECT_EQ(palloc_root_set_named(a.get(), "nomore", 1), PALLOC_E_NOMEM);
}

TEST_F(Arena, GrowUpToTheMaximumAndNoFurther) {
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    ASSERT_EQ(palloc_grow(a.get(), 8 * kMiB + 1), PALLOC_OK);
    EXPECT_EQ(palloc_size(a.get()), 8 * kMiB + ps_);  // rounded up to whole pages
    page(a.get(), 0)[8 * kMiB] = 0x77;                 // the last byte is usable
    ASSERT_EQ(palloc_grow(a.get(), 64 * kMiB), PALLOC_OK);
    EXPECT_EQ(palloc_size(a.get()), 64 * kMiB);
    page(a.get(), 0)[64 * kMiB - 1] = 0x66;
    EXPECT_EQ(palloc_grow(a.get(), 64 * kMiB + 1), PALLOC_E_NOMEM);
    EXPECT_NE(std::string(palloc_last_error()).find("maximum"), std::string::npos) << palloc_last_error();
    EXPECT_EQ(palloc_grow(a.get(), 1ull << 40), PALLOC_E_NOMEM);
    EXPECT_EQ(palloc_size(a.get()), 64 * kMiB);
    EXPECT_EQ(palloc_grow(a.get(), 2 * kMiB), PALLOC_OK);  // shrinking is a no-op
    EXPECT_EQ(palloc_size(a.get()), 64 * kMiB);
  }  // not committed: the growth is not durable
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    EXPECT_EQ(palloc_size(a.get()), 1 * kMiB);
    ASSERT_EQ(palloc_grow(a.get(), 6 * kMiB), PALLOC_OK);
    page(a.get(), 0)[6 * kMiB - 1] = 0x55;
    ASSERT_GT(palloc_commit(a.get()), 0);
  }
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_size(a.get()), 6 * kMiB);
  EXPECT_EQ(page(a.get(), 0)[6 * kMiB - 1], 0x55);
}

TEST_F(Arena, NewFilesAreReadableOnlyByTheOwner) {
  const mode_t old = umask(0);  // even a permissive umask must not widen them
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
  }
  umask(old);
  for (const std::string &p : {path_, path_ + ".wal0", path_ + ".wal1"}) {
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
  }
  // Nothing else was left in the directory (no temporary file of the creation).
  size_t entries = 0;
  for ([[maybe_unused]] const auto &e : std::filesystem::directory_iterator(dir_.path())) entries++;
  EXPECT_EQ(entries, 3u);
}

// Memory outside the arena (a library's static data, say) registered as a region.
alignas(65536) unsigned char g_region[4 * 65536];

TEST_F(Arena, RegionIsRestoredInAFreshProcess) {
  const size_t len = 4 * ps_;
  const palloc_options o = opts();
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    int restored = -1;
    CHILD_CHECK(palloc_region_register(a, "globals", g_region, len, &restored) == PALLOC_OK);
    CHILD_CHECK(restored == 0);
    for (size_t i = 0; i < 4; i++) unit::fill_page(g_region + i * ps_, i, 1);
    CHILD_CHECK(palloc_commit(a) == 1);
    unit::fill_page(g_region + 2 * ps_, 2, 2);  // one page changes
    CHILD_CHECK(palloc_commit(a) == 2);
    unit::fill_page(g_region + 3 * ps_, 3, 3);  // never committed
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  ASSERT_EQ(g_region[0], 0) << "this process never wrote the region";

  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    // A different length means the binary changed: refused, with the sizes named.
    int restored = -1;
    EXPECT_EQ(palloc_region_register(a.get(), "globals", g_region, len - ps_, &restored), PALLOC_E_INVALID);
    EXPECT_NE(std::string(palloc_last_error()).find(std::to_string(len)), std::string::npos) << palloc_last_error();
    ASSERT_EQ(palloc_region_register(a.get(), "globals", g_region, len, &restored), PALLOC_OK);
    EXPECT_EQ(restored, 1);
    for (size_t i = 0; i < 4; i++) EXPECT_TRUE(unit::page_has(g_region + i * ps_, i, i == 2 ? 2 : 1)) << "page " << i;
    EXPECT_EQ(palloc_region_register(a.get(), "globals", g_region, len, &restored), PALLOC_E_EXISTS);

    // Changes after the restore are tracked and committed like arena pages.
    unit::fill_page(g_region + 0 * ps_, 0, 4);
    ASSERT_EQ(palloc_commit(a.get()), 3);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 1u);
  }
  std::memset(g_region, 0, sizeof g_region);
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  int restored = -1;
  ASSERT_EQ(palloc_region_register(a.get(), "globals", g_region, len, &restored), PALLOC_OK);
  EXPECT_EQ(restored, 1);
  EXPECT_TRUE(unit::page_has(g_region, 0, 4));
  EXPECT_TRUE(unit::page_has(g_region + 2 * ps_, 2, 2));
  EXPECT_TRUE(unit::page_has(g_region + 3 * ps_, 3, 1));
}

// A region inside a binary's data is only valid with that binary: registering it
// records the binary's identity, which open then verifies.
alignas(65536) unsigned char g_region_in_exe[65536];

TEST_F(Arena, RegionInABinaryRecordsThatBinary) {
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    ASSERT_EQ(palloc_region_register(a.get(), "exe-data", g_region_in_exe, ps_, nullptr), PALLOC_OK);
    ASSERT_EQ(palloc_commit(a.get()), 1);
  }
  palloc::DataFile df;
  df.path = path_;
  df.fd.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(df.fd.valid());
  ASSERT_TRUE(palloc::data_read_header(&df).ok());
  char exe[PATH_MAX];
  ASSERT_NE(realpath("/proc/self/exe", exe), nullptr);
  const auto &bins = df.header.state.binaries;
  auto it = std::find_if(bins.begin(), bins.end(), [&](const palloc::BinaryRecord &b) { return b.path == exe; });
  ASSERT_NE(it, bins.end()) << "the test executable is not recorded";
  EXPECT_FALSE(it->build_id.empty());
}

TEST_F(Arena, RegionsAtOtherAddressesAndArgumentChecks) {
  const size_t len = 3 * ps_;
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    auto *r = static_cast<uint8_t *>(m);
    EXPECT_EQ(palloc_region_register(a.get(), "misaligned", r + 1, ps_, nullptr), PALLOC_E_INVALID);
    EXPECT_EQ(palloc_region_register(a.get(), "oddlength", r, ps_ + 1, nullptr), PALLOC_E_INVALID);
    EXPECT_EQ(palloc_region_register(a.get(), "", r, ps_, nullptr), PALLOC_E_INVALID);
    unit::fill_page(r, 0, 7);  // content before registration is saved by the first commit
    int restored = -1;
    ASSERT_EQ(palloc_region_register(a.get(), "heapcopy", r, len, &restored), PALLOC_OK);
    EXPECT_EQ(restored, 0);
    unit::fill_page(r + ps_, 1, 7);
    ASSERT_GT(palloc_commit(a.get()), 0);
    EXPECT_EQ(stats_of(a.get()).last_commit_pages, 3u);  // the whole region, once
    ASSERT_EQ(palloc_close(a.release()), PALLOC_OK);
    munmap(m, len);
  }
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  // The region may live elsewhere now: it is found by name.
  void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto *r = static_cast<uint8_t *>(m);
  int restored = -1;
  ASSERT_EQ(palloc_region_register(a.get(), "heapcopy", r, len, &restored), PALLOC_OK);
  EXPECT_EQ(restored, 1);
  EXPECT_TRUE(unit::page_has(r, 0, 7));
  EXPECT_TRUE(unit::page_has(r + ps_, 1, 7));
  EXPECT_EQ(r[2 * ps_], 0);
  ASSERT_EQ(palloc_close(a.release()), PALLOC_OK);
  munmap(m, len);
}

// depend_on with a shared library that the test process itself never loads: every
// load happens in a forked child.
class DependOn : public Arena {
 protected:
  void SetUp() override {
    lib_ = dir_.file("libdep.so");
    ASSERT_TRUE(copy(PALLOC_UNIT_DEP_A, lib_));
    lib_ = real_path(lib_);
    ASSERT_EQ(dlopen(lib_.c_str(), RTLD_NOW | RTLD_NOLOAD), nullptr) << "must not be loaded in the parent";
  }
  static bool copy(const std::string &from, const std::string &to) {
    const std::string bytes = unit::read_file(from);
    const std::string tmp = to + ".new";
    return !bytes.empty() && unit::write_file(tmp, bytes.data(), bytes.size(), 0755) &&
           rename(tmp.c_str(), to.c_str()) == 0;
  }
  std::string lib_;
};

TEST_F(DependOn, RecordsTheBinaryAndRefusesToResumeWithoutIt) {
  const palloc_options o = opts();
  // Child: load the library, record it, commit; a reopen in the same process works.
  int code = unit::run_in_child([&]() -> int {
    void *h = dlopen(lib_.c_str(), RTLD_NOW);
    CHILD_CHECK(h != nullptr);
    void *sym = dlsym(h, "palloc_unit_dep_variant");
    CHILD_CHECK(sym != nullptr);
    Dl_info info;
    CHILD_CHECK(dladdr(sym, &info) != 0);
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    CHILD_CHECK(palloc_depend_on(a, sym) == PALLOC_OK);
    CHILD_CHECK(palloc_commit(a) == 1);
    CHILD_CHECK(palloc_close(a) == PALLOC_OK);
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);  // same binary, same address
    CHILD_CHECK(palloc_close(a) == PALLOC_OK);
    palloc::DataHeader h2;
    CHILD_CHECK(read_data_header(path_, &h2));
    CHILD_CHECK(h2.state.binaries.size() == 1);
    CHILD_CHECK(h2.state.binaries[0].path == lib_);
    CHILD_CHECK(h2.state.binaries[0].load_address == reinterpret_cast<uint64_t>(info.dli_fbase));
    CHILD_CHECK(!h2.state.binaries[0].build_id.empty());
    CHILD_CHECK(h2.state.binaries[0].build_id == elf_build_id(lib_));
    return 0;
  });
  ASSERT_EQ(code, 0);

  // This process never loaded it.
  palloc_status st;
  ArenaPtr a = unit::open_arena(path_, o, &st);
  EXPECT_EQ(st, PALLOC_E_BINARY);
  const std::string msg = palloc_last_error();
  EXPECT_NE(msg.find(lib_), std::string::npos) << msg;
  EXPECT_NE(msg.find("not loaded"), std::string::npos) << msg;
  a.reset();

  // Unless verification is waived.
  palloc_options nv = o;
  nv.flags |= PALLOC_NO_VERIFY_BINARIES;
  a = unit::open_arena(path_, nv, &st);
  EXPECT_EQ(st, PALLOC_OK) << palloc_last_error();
  a.reset();

  // Loaded at another address: block the recorded one first.
  palloc::DataHeader h;
  ASSERT_TRUE(read_data_header(path_, &h));
  ASSERT_EQ(h.state.binaries.size(), 1u);
  const uint64_t recorded = h.state.binaries[0].load_address;
  code = unit::run_in_child([&]() -> int {
    // One page at the recorded address: taken by us, or (EEXIST) already by something
    // else; either way the library cannot start there.
    void *block = mmap(reinterpret_cast<void *>(recorded), ps_, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHILD_CHECK(block != MAP_FAILED || errno == EEXIST);
    void *lh = dlopen(lib_.c_str(), RTLD_NOW);
    CHILD_CHECK(lh != nullptr);
    Dl_info info;
    CHILD_CHECK(dladdr(dlsym(lh, "palloc_unit_dep_variant"), &info) != 0);
    CHILD_CHECK(reinterpret_cast<uint64_t>(info.dli_fbase) != recorded);
    palloc_arena *ar = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &ar) == PALLOC_E_BINARY);
    const std::string m = palloc_last_error();
    CHILD_CHECK(m.find(lib_) != std::string::npos);
    CHILD_CHECK(m.find("is loaded at") != std::string::npos);
    return 0;
  });
  EXPECT_EQ(code, 0);

  // A rebuilt library (other build-id) at the same path.
  ASSERT_TRUE(copy(PALLOC_UNIT_DEP_B, lib_));
  ASSERT_NE(elf_build_id(PALLOC_UNIT_DEP_A), elf_build_id(PALLOC_UNIT_DEP_B));
  code = unit::run_in_child([&]() -> int {
    void *lh = dlopen(lib_.c_str(), RTLD_NOW);
    CHILD_CHECK(lh != nullptr);
    auto variant = reinterpret_cast<const char *(*)()>(dlsym(lh, "palloc_unit_dep_variant"));
    CHILD_CHECK(variant && std::string(variant()) == "b");
    palloc_arena *ar = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &ar) == PALLOC_E_BINARY);
    const std::string m = palloc_last_error();
    CHILD_CHECK(m.find(lib_) != std::string::npos);
    CHILD_CHECK(m.find("changed") != std::string::npos);
    const std::vector<uint8_t> old_id = elf_build_id(PALLOC_UNIT_DEP_A);
    CHILD_CHECK(m.find(palloc::hex(old_id.data(), old_id.size())) != std::string::npos);
    palloc_options nv2 = o;
    nv2.flags |= PALLOC_NO_VERIFY_BINARIES;
    CHILD_CHECK(palloc_open(path_.c_str(), &nv2, &ar) == PALLOC_OK);
    CHILD_CHECK(palloc_close(ar) == PALLOC_OK);
    return 0;
  });
  EXPECT_EQ(code, 0);
}

void marker_function() {}

TEST_F(Arena, DependOnTheExecutableItself) {
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    ASSERT_EQ(palloc_depend_on(a.get(), reinterpret_cast<const void *>(&marker_function)), PALLOC_OK);
    ASSERT_EQ(palloc_depend_on(a.get(), reinterpret_cast<const void *>(&marker_function)), PALLOC_OK);  // once
    int stack_var = 0;
    EXPECT_EQ(palloc_depend_on(a.get(), &stack_var), PALLOC_E_NOT_FOUND);  // in no binary
    ASSERT_GT(palloc_commit(a.get()), 0);
  }
  palloc::DataHeader h;
  ASSERT_TRUE(read_data_header(path_, &h));
  ASSERT_EQ(h.state.binaries.size(), 1u);
  EXPECT_EQ(h.state.binaries[0].path, real_path("/proc/self/exe"));
  EXPECT_EQ(h.state.binaries[0].build_id, elf_build_id("/proc/self/exe"));
  ArenaPtr a = open();  // the same executable at the same address: accepted
  EXPECT_TRUE(a);
}

TEST_F(Arena, SyncModeCommitsAreDurableOnReturn) {
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  page(a.get(), 0)[0] = 1;
  const int64_t e = palloc_commit(a.get());
  ASSERT_GT(e, 0);
  EXPECT_EQ(stats_of(a.get()).durable_epoch, static_cast<uint64_t>(e));
  EXPECT_STREQ(stats_of(a.get()).durability, "sync");
}

TEST_F(Arena, AsyncModeBecomesDurableWithoutBeingAsked) {
  palloc_options o = opts();
  o.durability = PALLOC_DURABILITY_ASYNC;
  o.async_bound_ms = 20;
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  EXPECT_STREQ(stats_of(a.get()).durability, "async");
  int64_t e = 0;
  for (int i = 0; i < 5; i++) {
    page(a.get(), i)[0] = static_cast<uint8_t>(i + 1);
    e = palloc_commit(a.get());
    ASSERT_GT(e, 0);
  }
  // The background thread syncs within the bound; only a hang would fail this.
  EXPECT_TRUE(eventually([&] { return stats_of(a.get()).durable_epoch >= static_cast<uint64_t>(e); }));
  page(a.get(), 9)[0] = 9;
  e = palloc_commit(a.get());
  ASSERT_EQ(palloc_sync(a.get()), PALLOC_OK);
  EXPECT_GE(stats_of(a.get()).durable_epoch, static_cast<uint64_t>(e));
}

TEST_F(Arena, NoneModeIsDurableAfterSync) {
  palloc_options o = opts();
  o.durability = PALLOC_DURABILITY_NONE;
  {
    ArenaPtr a = open(o);
    ASSERT_TRUE(a);
    page(a.get(), 3)[5] = 0x33;
    const int64_t e = palloc_commit(a.get());
    ASSERT_GT(e, 0);
    ASSERT_EQ(palloc_sync(a.get()), PALLOC_OK);
    EXPECT_EQ(stats_of(a.get()).durable_epoch, static_cast<uint64_t>(e));
  }
  // Survives a process crash at once, without a sync.
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    page(a, 3)[5] = 0x44;
    CHILD_CHECK(palloc_commit(a) == 2);
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  EXPECT_EQ(page(a.get(), 3)[5], 0x44);
}

// Writes `per_commit` pages per commit, cycling over `span` pages, for `commits` commits.
// Page i ends up holding the pattern of the last generation that wrote it.
void checkpoint_workload(palloc_arena *a, size_t commits, size_t per_commit, size_t span,
                         std::vector<uint64_t> *last_gen) {
  const size_t ps = unit::page_size();
  last_gen->assign(span, 0);
  size_t next = 0;
  for (size_t c = 1; c <= commits; c++) {
    for (size_t k = 0; k < per_commit; k++, next = (next + 1) % span) {
      unit::fill_page(static_cast<uint8_t *>(palloc_base(a)) + next * ps, next, c);
      (*last_gen)[next] = c;
    }
    if (palloc_commit(a) <= 0) return;
  }
}

TEST_F(Arena, CheckpointsKeepTheLogsSmall) {
  palloc_options o = opts();
  o.checkpoint_bytes = 1 * kMiB;
  const size_t commits = 40, per_commit = 32, span = 200;
  std::vector<uint64_t> last_gen;
  {
    ArenaPtr a = open(o);
    ASSERT_TRUE(a);
    checkpoint_workload(a.get(), commits, per_commit, span, &last_gen);
    ASSERT_EQ(palloc_epoch(a.get()), commits);
    EXPECT_TRUE(eventually([&] { return stats_of(a.get()).checkpoints > 0; }));
    palloc_stats s = stats_of(a.get());
    EXPECT_GT(s.checkpoint_epoch, 0u);
    EXPECT_LE(s.checkpoint_epoch, commits);
    // Without checkpoints the logs would hold every record written; a finished
    // checkpoint emptied a log that had reached checkpoint_bytes (header included).
    EXPECT_LE(s.log_bytes + 1 * kMiB, s.bytes_written + 3 * palloc::kLogHeaderBytes);
    EXPECT_LE(unit::file_size_of(path_ + ".wal0") + unit::file_size_of(path_ + ".wal1") + 1 * kMiB,
              s.bytes_written + 3 * palloc::kLogHeaderBytes);
  }
  ArenaPtr a = open(o);
  ASSERT_TRUE(a);
  for (size_t i = 0; i < span; i++) ASSERT_TRUE(unit::page_has(page(a.get(), i), i, last_gen[i])) << "page " << i;
}

TEST_F(Arena, CrashAfterCheckpointsRecoversFromDataFileAndLog) {
  palloc_options o = opts();
  o.checkpoint_bytes = 1 * kMiB;
  const size_t commits = 30, per_commit = 24, span = 150;
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    std::vector<uint64_t> gen;
    checkpoint_workload(a, commits, per_commit, span, &gen);
    CHILD_CHECK(palloc_epoch(a) == commits);
    CHILD_CHECK(eventually([&] {
      palloc_stats s;
      palloc_get_stats(a, &s);
      return s.checkpoints > 0;
    }));
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  expect_checkpoint_workload(o, commits, per_commit, span);
}

// A checkpoint that fails part-way (here: EFBIG for every data-file write) leaves its log
// full; commits go on in the other log, and the next checkpoint finishes the old one
// before switching again, so the logs do not grow without bound.
TEST_F(Arena, FailedCheckpointIsFinishedByTheNextOne) {
  palloc_options o = opts();
  o.checkpoint_bytes = 1 * kMiB;
  const size_t commits = 30, per_commit = 24, span = 150;
  const std::string wal0 = path_ + ".wal0", wal1 = path_ + ".wal1";
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    // The data zone starts above 65 MiB: with a 32 MiB file-size limit every checkpoint
    // write fails, while log appends (a few MiB) still fit.
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {32 * kMiB, RLIM_INFINITY};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::vector<uint64_t> gen;
    checkpoint_workload(a, commits, per_commit, span, &gen);
    CHILD_CHECK(palloc_epoch(a) == commits);
    // A checkpoint switched logs and failed: both logs hold records, none finished.
    CHILD_CHECK(eventually([&] {
      return unit::file_size_of(wal0) > palloc::kLogHeaderBytes && unit::file_size_of(wal1) > palloc::kLogHeaderBytes;
    }));
    palloc_stats st;
    palloc_get_stats(a, &st);
    CHILD_CHECK(st.checkpoints == 0);
    lim.rlim_cur = RLIM_INFINITY;
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    // Close checkpoints: the unfinished log first, then the active one.
    CHILD_CHECK(palloc_close(a) == PALLOC_OK);
    CHILD_CHECK(unit::file_size_of(wal0) == palloc::kLogHeaderBytes);
    CHILD_CHECK(unit::file_size_of(wal1) == palloc::kLogHeaderBytes);
    return 0;
  });
  ASSERT_EQ(code, 0);
  expect_checkpoint_workload(o, commits, per_commit, span);
}

TEST_F(Arena, ConcurrentCommitsFromSeveralThreads) {
  const unsigned threads = 4, rounds = 25;
  std::vector<std::vector<int64_t>> epochs(threads);
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; t++)
      ts.emplace_back([&, t] {
        for (unsigned r = 1; r <= rounds; r++) {
          unit::fill_page(page(a.get(), t), t, r);  // each thread owns one page
          epochs[t].push_back(palloc_commit(a.get()));
        }
      });
    for (auto &th : ts) th.join();
    std::set<int64_t> all;
    for (unsigned t = 0; t < threads; t++) {
      ASSERT_EQ(epochs[t].size(), rounds);
      for (unsigned r = 0; r < rounds; r++) {
        ASSERT_GT(epochs[t][r], 0) << "thread " << t << " round " << r;
        if (r > 0) {
          EXPECT_GT(epochs[t][r], epochs[t][r - 1]);
        }
        all.insert(epochs[t][r]);
      }
    }
    EXPECT_EQ(all.size(), threads * rounds) << "every commit gets its own epoch";
    EXPECT_EQ(*all.rbegin(), static_cast<int64_t>(threads * rounds));
    palloc_stats s = stats_of(a.get());
    EXPECT_EQ(s.commits, threads * rounds);
    EXPECT_EQ(s.durable_epoch, s.epoch);
  }
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  EXPECT_EQ(palloc_epoch(a.get()), threads * rounds);
  for (unsigned t = 0; t < threads; t++) EXPECT_TRUE(unit::page_has(page(a.get(), t), t, rounds)) << "page " << t;
}

TEST_F(Arena, StatisticsAddUp) {
  palloc_arena *raw = nullptr;
  {
    ArenaPtr a = open();
    ASSERT_TRUE(a);
    raw = a.get();
    palloc_stats s = stats_of(raw);
    EXPECT_EQ(s.epoch, 0u);
    EXPECT_EQ(s.durable_epoch, 0u);
    EXPECT_EQ(s.size, 1 * kMiB);
    EXPECT_EQ(s.max_size, 64 * kMiB);
    EXPECT_EQ(s.page_size, ps_);
    EXPECT_EQ(s.commits, 0u);
    EXPECT_EQ(s.pages_written, 0u);
    EXPECT_EQ(s.log_bytes, 2 * palloc::kLogHeaderBytes);
    EXPECT_EQ(s.checkpoints, 0u);
    EXPECT_STREQ(s.tracker, palloc_uffd_supported() ? "uffd" : "hash");

    // The state a commit records, for computing record sizes.
    palloc::ArenaState state;
    state.size = 1 * kMiB;
    auto record = [&](uint32_t npages) {
      palloc::RecordHeader h;
      h.npages = npages;
      h.state_len = static_cast<uint32_t>(palloc::encode_state(state).size());
      return palloc::record_bytes(h, ps_);
    };

    const uint64_t t0 = palloc::now_unix_ns();
    for (size_t i : {0, 7, 8}) page(raw, i)[1] = 1;
    ASSERT_EQ(palloc_commit(raw), 1);
    const uint64_t t1 = palloc::now_unix_ns();
    s = stats_of(raw);
    EXPECT_EQ(s.epoch, 1u);
    EXPECT_EQ(s.durable_epoch, 1u);
    EXPECT_EQ(s.commits, 1u);
    EXPECT_EQ(s.last_commit_pages, 3u);
    EXPECT_EQ(s.pages_written, 3u);
    EXPECT_EQ(s.bytes_written, record(3));
    EXPECT_EQ(s.log_bytes, 2 * palloc::kLogHeaderBytes + s.bytes_written);
    EXPECT_GE(s.last_commit_unix_ns, t0);
    EXPECT_LE(s.last_commit_unix_ns, t1);

    state.roots[0].value = 5;
    palloc_root_set(raw, 0, 5);
    for (size_t i = 10; i < 15; i++) page(raw, i)[2] = 2;
    const uint64_t before = s.bytes_written;
    ASSERT_EQ(palloc_commit(raw), 2);
    s = stats_of(raw);
    EXPECT_EQ(s.commits, 2u);
    EXPECT_EQ(s.last_commit_pages, 5u);
    EXPECT_EQ(s.pages_written, 8u);
    EXPECT_EQ(s.bytes_written, before + record(5));

    ASSERT_EQ(palloc_commit(raw), 3);  // nothing changed: an empty record
    s = stats_of(raw);
    EXPECT_EQ(s.last_commit_pages, 0u);
    EXPECT_EQ(s.pages_written, 8u);
  }
  ArenaPtr a = open();
  ASSERT_TRUE(a);
  palloc_stats s = stats_of(a.get());
  EXPECT_EQ(s.epoch, 3u);
  EXPECT_EQ(s.commits, 0u);  // counters are per process
  EXPECT_EQ(s.checkpoint_epoch, 3u);  // close folded the log into the data file
  EXPECT_EQ(s.log_bytes, 2 * palloc::kLogHeaderBytes);
}

TEST_F(Arena, NullArgumentsAreRejected) {
  palloc_arena *a = nullptr;
  EXPECT_EQ(palloc_open(nullptr, nullptr, &a), PALLOC_E_INVALID);
  EXPECT_EQ(palloc_open(path_.c_str(), nullptr, nullptr), PALLOC_E_INVALID);
  EXPECT_EQ(palloc_commit(nullptr), -PALLOC_E_INVALID);
  EXPECT_EQ(palloc_close(nullptr), PALLOC_OK);
  palloc_stats s;
  EXPECT_EQ(palloc_get_stats(nullptr, &s), PALLOC_E_INVALID);
  EXPECT_STREQ(palloc_status_name(PALLOC_E_LOCKED), "PALLOC_E_LOCKED");
}

}  // namespace
