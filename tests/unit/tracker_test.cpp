// tracker_test.cpp — dirty-page tracking. One suite runs against both trackers (uffd
// write-protect + PAGEMAP_SCAN, and per-page hashes): whatever the mechanism, collect()
// must report exactly the pages written since the previous collect.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>

#include "tracker.h"
#include "unit_util.h"

namespace palloc {
namespace {

class TrackerTest : public ::testing::TestWithParam<palloc_tracker_kind> {
 protected:
  void SetUp() override {
    ps_ = unit::page_size();
    if (GetParam() == PALLOC_TRACKER_UFFD && palloc_uffd_supported() == 0)
      GTEST_SKIP() << "this kernel lacks userfaultfd async write-protect / PAGEMAP_SCAN";
    Status s = make_tracker(
        GetParam(), ps_, [this](uintptr_t addr, const void *page) { return baseline(addr, page); }, &tracker_);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_STREQ(tracker_->name(), GetParam() == PALLOC_TRACKER_UFFD ? "uffd" : "hash");
  }

  void TearDown() override {
    tracker_.reset();
    for (auto &m : maps_) munmap(m.first, m.second);
  }

  // The "committed image" the hash tracker's baseline compares with: per tracked range,
  // either a copy of the bytes (a file mapping or a range tracked clean) or zeros.
  struct Image {
    uintptr_t start;
    size_t len;
    std::vector<uint8_t> bytes;  // empty: zeros
  };

  bool baseline(uintptr_t addr, const void *page) {
    for (const Image &im : images_) {
      if (addr < im.start || addr >= im.start + im.len) continue;
      if (im.bytes.empty()) {
        const auto *b = static_cast<const uint8_t *>(page);
        return std::all_of(b, b + ps_, [](uint8_t c) { return c == 0; });
      }
      return std::memcmp(page, im.bytes.data() + (addr - im.start), ps_) == 0;
    }
    return false;
  }

  // Anonymous memory like the arena's grown part (no huge pages, as the arena does).
  uint8_t *anon(size_t len, void *at = nullptr) {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED : 0);
    void *p = mmap(at, len, PROT_READ | PROT_WRITE, flags, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    if (p == MAP_FAILED) return nullptr;
    madvise(p, len, MADV_NOHUGEPAGE);
    if (!at) maps_.push_back({p, len});
    return static_cast<uint8_t *>(p);
  }

  // A private mapping of a file whose pages hold the pattern of (page, generation 0),
  // like the arena's committed image.
  uint8_t *file_mapping(size_t pages, std::vector<uint8_t> *content) {
    content->resize(pages * ps_);
    for (size_t i = 0; i < pages; i++) unit::fill_page(content->data() + i * ps_, i, 0);
    const std::string path = dir_.file("image" + std::to_string(maps_.size()));
    EXPECT_TRUE(unit::write_file(path, content->data(), content->size()));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    void *p = mmap(nullptr, pages * ps_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    EXPECT_NE(p, MAP_FAILED);
    if (p == MAP_FAILED) return nullptr;
    madvise(p, pages * ps_, MADV_NOHUGEPAGE);
    maps_.push_back({p, pages * ps_});
    return static_cast<uint8_t *>(p);
  }

  void track(uint8_t *p, size_t len, bool clean_now, std::vector<uint8_t> image = {}) {
    images_.push_back({reinterpret_cast<uintptr_t>(p), len, std::move(image)});
    Status s = tracker_->track(p, len, clean_now);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  std::vector<uintptr_t> collect() {
    std::vector<uintptr_t> v;
    Status s = tracker_->collect(&v);
    EXPECT_TRUE(s.ok()) << s.message();
    return v;
  }

  std::vector<uintptr_t> pages_of(const uint8_t *base, std::vector<size_t> idx) const {
    std::vector<uintptr_t> v;
    for (size_t i : idx) v.push_back(reinterpret_cast<uintptr_t>(base) + i * ps_);
    return v;
  }

  // Changes a page's content (a byte always gets a new value, so a hash notices too).
  void touch(uint8_t *base, size_t i) {
    volatile uint8_t *b = base + i * ps_ + (counter_++ % ps_);
    *b = static_cast<uint8_t>(*b + 1);
  }

  unit::TempDir dir_;
  size_t ps_ = 0;
  std::unique_ptr<Tracker> tracker_;
  std::vector<Image> images_;
  std::vector<std::pair<void *, size_t>> maps_;
  uint64_t counter_ = 0;
};

TEST_P(TrackerTest, FreshMappingsHaveNoDirtyPages) {
  std::vector<uint8_t> content;
  uint8_t *f = file_mapping(32, &content);
  uint8_t *a = anon(32 * ps_);
  track(f, 32 * ps_, false, content);
  track(a, 32 * ps_, false);
  EXPECT_TRUE(collect().empty());
}

TEST_P(TrackerTest, AWriteIsReportedOnceThenReArmed) {
  uint8_t *a = anon(64 * ps_);
  track(a, 64 * ps_, false);
  touch(a, 5);
  EXPECT_EQ(collect(), pages_of(a, {5}));
  EXPECT_TRUE(collect().empty()) << "a page must not be reported again without a new write";
  touch(a, 5);
  EXPECT_EQ(collect(), pages_of(a, {5})) << "tracking must be re-armed after a collect";
  touch(a, 9);
  touch(a, 1);
  touch(a, 9);
  EXPECT_EQ(collect(), pages_of(a, {1, 9}));  // ascending, each page once
  EXPECT_TRUE(collect().empty());
}

// A commit leaves a free page out; when that memory is used again with the very bytes it
// held (calloc's zeros over zeros), the page must still reach the next commit, or the
// image would keep the content from before.
TEST_P(TrackerTest, APageLeftOutIsReportedWhenWrittenAgainWithItsOwnBytes) {
  uint8_t *a = anon(16 * ps_);
  track(a, 16 * ps_, false);
  touch(a, 3);
  touch(a, 7);
  ASSERT_EQ(collect(), pages_of(a, {3, 7}));
  const uintptr_t left = reinterpret_cast<uintptr_t>(a) + 3 * ps_;
  tracker_->left_out(&left, 1);
  std::vector<uint8_t> same(a + 3 * ps_, a + 4 * ps_);
  std::memcpy(a + 3 * ps_, same.data(), ps_);  // a write that changes nothing
  EXPECT_EQ(collect(), pages_of(a, {3})) << "page 3 was left out and written again; page 7 was committed";
  EXPECT_TRUE(collect().empty()) << "once committed, a page is reported only when written again";
}

// keep_hot_pages_writable: the uffd tracker leaves runs of pages reported by two collects
// in a row writable and reports them at every collect, until a commit finds them
// unchanged (unchanged(), then the next collect protects them); the hash tracker needs no
// such thing and reports only changes. Either way every write is reported.
TEST_P(TrackerTest, HotPagesAreReportedUntilFoundUnchangedAndEveryWriteIsReported) {
  const bool uffd = GetParam() == PALLOC_TRACKER_UFFD;
  const std::vector<uintptr_t> none;
  uint8_t *a = anon(32 * ps_);
  track(a, 32 * ps_, false);
  tracker_->keep_hot_pages_writable(true);
  const std::vector<size_t> run = {4, 5, 6, 7, 8, 9, 10, 11};
  std::vector<size_t> run_and_single = run;
  run_and_single.push_back(20);
  for (int round = 0; round < 2; round++) {
    for (size_t i : run_and_single) touch(a, i);
    ASSERT_EQ(collect(), pages_of(a, run_and_single)) << "round " << round;
    tracker_->unchanged(none.data(), 0);  // committed, every page changed
  }
  // Reported twice in a row: the run is now writable (uffd); page 20 alone is not.
  EXPECT_EQ(collect(), uffd ? pages_of(a, run) : none);
  tracker_->unchanged(none.data(), 0);
  touch(a, 7);
  touch(a, 20);
  EXPECT_EQ(collect(), uffd ? pages_of(a, run_and_single) : pages_of(a, {7, 20}));
  // The commit finds all of the run but page 7 unchanged...
  std::vector<uintptr_t> cooled = pages_of(a, run);
  cooled.erase(cooled.begin() + 3);
  tracker_->unchanged(cooled.data(), cooled.size());
  // ...so this collect (which still sees the run writable) protects them, and page 7
  // alone is too short a run to stay writable.
  EXPECT_EQ(collect(), uffd ? pages_of(a, run) : none);
  tracker_->unchanged(none.data(), 0);
  EXPECT_TRUE(collect().empty());
  touch(a, 6);
  EXPECT_EQ(collect(), pages_of(a, {6}));
  EXPECT_TRUE(collect().empty());
}

TEST_P(TrackerTest, WritesToAPrivateFileMappingAreReportedReadsAreNot) {
  std::vector<uint8_t> content;
  uint8_t *f = file_mapping(40, &content);
  track(f, 40 * ps_, false, content);
  uint64_t sum = 0;
  for (size_t i = 0; i < 40 * ps_; i += 512) sum += f[i];
  EXPECT_NE(sum, 0u);
  EXPECT_TRUE(collect().empty()) << "reading file pages maps the page cache: nothing was written";
  touch(f, 0);
  touch(f, 39);
  touch(f, 17);
  EXPECT_EQ(collect(), pages_of(f, {0, 17, 39}));
  for (size_t i = 0; i < 40 * ps_; i += 512) sum += f[i];
  EXPECT_TRUE(collect().empty());
  touch(f, 17);
  EXPECT_EQ(collect(), pages_of(f, {17}));
}

TEST_P(TrackerTest, ReadOnlyAccessToAnonymousMemoryIsNotReported) {
  uint8_t *a = anon(128 * ps_);
  track(a, 128 * ps_, false);
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < 128; i++) sink = static_cast<uint8_t>(sink + a[i * ps_ + 7]);  // maps the zero page
  (void)sink;
  EXPECT_TRUE(collect().empty());
  touch(a, 64);
  EXPECT_EQ(collect(), pages_of(a, {64}));
}

TEST_P(TrackerTest, KernelWritesThroughSyscallsAreReported) {
  uint8_t *a = anon(16 * ps_);
  track(a, 16 * ps_, false);
  ASSERT_TRUE(collect().empty());

  // read(2) from a file straight into two tracked pages (and across their boundary).
  std::vector<uint8_t> data(2 * ps_, 0x5c);
  const std::string path = dir_.file("input");
  ASSERT_TRUE(unit::write_file(path, data.data(), data.size()));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::read(fd, a + 3 * ps_ + 100, 2 * ps_ - 200), static_cast<ssize_t>(2 * ps_ - 200))
      << "a syscall writing into a tracked page must not fail (EFAULT)";
  ::close(fd);
  EXPECT_EQ(a[3 * ps_ + 100], 0x5c);
  EXPECT_EQ(collect(), pages_of(a, {3, 4}));

  // And from a pipe into a page that was already reported and re-armed.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(::write(p[1], "kernel", 6), 6);
  ASSERT_EQ(::read(p[0], a + 4 * ps_ + 10, 6), 6);
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(std::memcmp(a + 4 * ps_ + 10, "kernel", 6), 0);
  EXPECT_EQ(collect(), pages_of(a, {4}));
}

TEST_P(TrackerTest, AGrownAnonymousRangeIsTrackedWithTheFileMapping) {
  // The arena's shape: a file mapping for the committed size, then anonymous memory
  // mapped right after it when the arena grows.
  std::vector<uint8_t> content;
  const size_t file_pages = 16, grown_pages = 48;
  uint8_t *res = anon((file_pages + grown_pages) * ps_);  // reserve the whole span
  ASSERT_NE(res, nullptr);
  const std::string path = dir_.file("grow-image");
  content.resize(file_pages * ps_);
  for (size_t i = 0; i < file_pages; i++) unit::fill_page(content.data() + i * ps_, i, 0);
  ASSERT_TRUE(unit::write_file(path, content.data(), content.size()));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_NE(mmap(res, file_pages * ps_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0), MAP_FAILED);
  ::close(fd);
  track(res, file_pages * ps_, false, content);
  touch(res, 2);
  EXPECT_EQ(collect(), pages_of(res, {2}));

  uint8_t *grown = anon(grown_pages * ps_, res + file_pages * ps_);
  ASSERT_EQ(grown, res + file_pages * ps_);
  track(grown, grown_pages * ps_, false);
  EXPECT_TRUE(collect().empty());
  touch(res, 15);               // last file page
  touch(res, file_pages);       // first grown page
  touch(res, file_pages + 47);  // last grown page
  EXPECT_EQ(collect(), pages_of(res, {15, file_pages, file_pages + 47}));
  EXPECT_TRUE(collect().empty());
}

TEST_P(TrackerTest, ARangeTrackedCleanNowReportsOnlyLaterWrites) {
  // A restored region: its pages are already written when tracking starts and that
  // content counts as committed.
  uint8_t *a = anon(32 * ps_);
  for (size_t i = 0; i < 16; i++) unit::fill_page(a + i * ps_, i, 3);
  std::vector<uint8_t> image(a, a + 32 * ps_);
  track(a, 32 * ps_, true, image);
  EXPECT_TRUE(collect().empty()) << "content present at track time must not be reported";
  touch(a, 4);
  touch(a, 20);  // a page that was not populated when tracking started
  EXPECT_EQ(collect(), pages_of(a, {4, 20}));
  EXPECT_TRUE(collect().empty());
}

TEST_P(TrackerTest, ManyPagesSpreadOverALargeSparseRange) {
  const size_t pages = (1ull << 30) / ps_;  // 1 GiB, almost all of it never touched
  uint8_t *a = anon(pages * ps_);
  ASSERT_NE(a, nullptr);
  track(a, pages * ps_, false);
  std::vector<size_t> idx;
  for (size_t i = 0; i < pages; i += 1021) idx.push_back(i);
  for (size_t i = 100000; i < 100040; i++) idx.push_back(i);  // a run of adjacent pages
  idx.push_back(pages - 1);
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  for (size_t i : idx) touch(a, i);
  std::vector<uintptr_t> got = collect();
  EXPECT_EQ(got.size(), idx.size());
  EXPECT_EQ(got, pages_of(a, idx));
  EXPECT_TRUE(collect().empty());
  // A second round over a subset: only those come back.
  std::vector<size_t> again(idx.begin(), idx.begin() + 10);
  for (size_t i : again) touch(a, i);
  EXPECT_EQ(collect(), pages_of(a, again));
}

TEST_P(TrackerTest, SeveralRangesAreEachReportedInOrder) {
  uint8_t *x = anon(8 * ps_);
  uint8_t *y = anon(8 * ps_);
  track(x, 8 * ps_, false);
  track(y, 8 * ps_, false);
  touch(y, 6);
  touch(x, 7);
  touch(y, 0);
  touch(x, 1);
  std::vector<uintptr_t> got = collect();
  std::vector<uintptr_t> xs = pages_of(x, {1, 7}), ys = pages_of(y, {0, 6});
  ASSERT_EQ(got.size(), 4u);
  // Ranges come in the order they were tracked; pages ascend within each.
  std::vector<uintptr_t> expect = xs;
  expect.insert(expect.end(), ys.begin(), ys.end());
  EXPECT_EQ(got, expect);
}

TEST_P(TrackerTest, UntrackedMemoryIsNeverReported) {
  uint8_t *tracked = anon(4 * ps_);
  uint8_t *other = anon(4 * ps_);
  track(tracked, 4 * ps_, false);
  touch(other, 0);
  touch(other, 3);
  EXPECT_TRUE(collect().empty());
}

std::string kind_name(const ::testing::TestParamInfo<palloc_tracker_kind> &info) {
  return info.param == PALLOC_TRACKER_UFFD ? "uffd" : "hash";
}

INSTANTIATE_TEST_SUITE_P(Trackers, TrackerTest, ::testing::Values(PALLOC_TRACKER_UFFD, PALLOC_TRACKER_HASH),
                         kind_name);

TEST(TrackerFactory, AutoPicksUffdWhenSupported) {
  std::unique_ptr<Tracker> t;
  ASSERT_TRUE(make_tracker(PALLOC_TRACKER_AUTO, unit::page_size(), {}, &t).ok());
  EXPECT_STREQ(t->name(), palloc_uffd_supported() ? "uffd" : "hash");
  if (!palloc_uffd_supported()) {
    std::unique_ptr<Tracker> u;
    EXPECT_EQ(make_tracker(PALLOC_TRACKER_UFFD, unit::page_size(), {}, &u).code(), PALLOC_E_UNSUPPORTED);
  }
}

}  // namespace
}  // namespace palloc
