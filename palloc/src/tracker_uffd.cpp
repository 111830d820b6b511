// tracker_uffd.cpp — dirty tracking with userfaultfd async write-protect (Linux >= 6.7).
//
// Ranges are registered for write-protect but never explicitly protected as a whole:
// doing so installs page-table markers for every page (a 16 GiB arena: ~150 ms and
// ~32 MiB of page tables, and every scan then walks them all). Instead a scan asks only
// for pages that are present (or swapped), privately owned (not page-cache pages of the
// file, not the shared zero page) and not write-protected. Those are exactly the pages
// written since they were last reported, and the scan re-protects them in the same call.
// Holes are never touched, so a scan costs what the populated page tables cost.
//
// A collect runs two scans. The first asks only about page-table bits (not
// write-protected, not the shared zero page, present or swapped), which the kernel
// answers without looking up each page's struct page, and re-protects what it returns.
// Asking for PAGE_IS_FILE in the same scan would make the kernel look up the struct page
// of every present page of the range (~40 ns each: over 10 ms per resident GiB at every
// commit). The first scan's answer can therefore include clean page-cache pages of the
// file mapping that were never protected (pages read since the arena was opened); the
// second scan looks only at those candidates and drops the file pages. A clean file
// page is a candidate once: the first scan has protected it, and a later write to it
// (copy-on-write: a private page) clears that again. The pages reported are the same
// as a single scan asking for all categories would report.
//
// Each first write to a protected page costs a fault (about a microsecond here). A
// program that rewrites the same memory in every interval (large buffers refilled, a
// table updated in place) would pay it for every page at every commit, so with
// keep_hot_pages_writable the tracker leaves such pages writable and reports them at
// every collect; the caller's content comparison finds those that did not change, and
// they are protected again (unprotect_hot).
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <string>

#include "io.h"
#include "tracker.h"

// Debian bookworm's headers (Linux 6.1) predate these; the values are the kernel ABI.
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

namespace palloc {
namespace {

constexpr uint64_t kPageIsWritten = 1 << 1;
constexpr uint64_t kPageIsFile = 1 << 2;
constexpr uint64_t kPageIsPresent = 1 << 3;
constexpr uint64_t kPageIsSwapped = 1 << 4;
constexpr uint64_t kPageIsPfnZero = 1 << 5;
constexpr uint64_t kScanWpMatching = 1 << 0;
constexpr uint64_t kScanCheckWpAsync = 1 << 1;

struct PageRegion {
  uint64_t start, end, categories;
};
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
#define PALLOC_PAGEMAP_SCAN _IOWR('f', 16, struct PmScanArg)

class UffdTracker final : public Tracker {
 public:
  UffdTracker(size_t page_size, int uffd, int pagemap) : page_size_(page_size), uffd_(uffd), pagemap_(pagemap) {}
  ~UffdTracker() override {
    ::close(uffd_);
    ::close(pagemap_);
  }
  const char *name() const override { return "uffd"; }

  Status track(void *addr, size_t len, bool clean_now) override {
    struct uffdio_register reg = {};
    reg.range.start = reinterpret_cast<uint64_t>(addr);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) return errno_status(errno, "registering memory for write tracking");
    if (clean_now) {
      struct uffdio_writeprotect wp = {};
      wp.range = reg.range;
      wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
      if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) != 0) return errno_status(errno, "write-protecting memory");
    } else {
      // Pages already populated privately (none, for a fresh mapping) count as written.
    }
    ranges_.push_back({reg.range.start, reg.range.start + len});
    return ok_status();
  }

  Status collect(std::vector<uintptr_t> *pages) override {
    const size_t first = pages->size();
    for (const auto &r : ranges_) {
      candidates_.clear();
      PALLOC_TRY(scan(r.first, r.second, kScanWpMatching | kScanCheckWpAsync, kPageIsPfnZero,
                      kPageIsWritten | kPageIsPfnZero, kPageIsPresent | kPageIsSwapped, kPageIsWritten, &candidates_));
      if (candidates_.empty()) continue;
      // Second scan, read-only: the file pages among the candidates. Candidates closer
      // than kMergeGap pages share one call (a call costs about what looking at that
      // many pages costs); pages between them are not candidates and are ignored below.
      files_.clear();
      for (size_t i = 0; i < candidates_.size();) {
        const uint64_t start = candidates_[i].first;
        uint64_t end = candidates_[i].second;
        size_t j = i + 1;
        while (j < candidates_.size() && candidates_[j].first - end <= kMergeGap * page_size_) end = candidates_[j++].second;
        PALLOC_TRY(scan(start, end, 0, 0, kPageIsFile, 0, kPageIsFile, &files_));
        i = j;
      }
      // Report candidates minus file pages (both lists ascending).
      size_t f = 0;
      for (const auto &c : candidates_) {
        for (uint64_t p = c.first; p < c.second; p += page_size_) {
          while (f < files_.size() && files_[f].second <= p) f++;
          if (f < files_.size() && files_[f].first <= p) continue;
          pages->push_back(p);
        }
      }
    }
    if (hot_on_) unprotect_hot(*pages, first);
    return ok_status();
  }

  void keep_hot_pages_writable(bool on) override {
    hot_on_ = on;
    last_.clear();
    cooled_.clear();
  }

  void unchanged(const uintptr_t *pages, size_t n) override {
    if (hot_on_) cooled_.assign(pages, pages + n);
  }

  // Writes are what is tracked, not contents: a page left out is reported again when it
  // is next written, and until then its content is free memory nobody reads.
  void left_out(const uintptr_t *, size_t) override {}

 private:
  using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;
  static constexpr uint64_t kMergeGap = 32;
  // Hot pages are left writable only in runs of at least this many: one ioctl costs
  // about what one fault does.
  static constexpr size_t kHotRunPages = 4;

  // Leaves writable the pages this collect reported (from `first` on) that the previous
  // one reported too, except those the last commit found unchanged. A page the program
  // rewrites in every interval then costs no fault, and is reported at every collect (an
  // unprotected page reads as written, so no write is missed whatever happens between
  // the scan and the ioctl). A page that stops changing is found unchanged by the next
  // commit and protected again by the collect after it. This runs during the collect,
  // with the caller's threads stopped: run after they resume, the ioctls' TLB flushes
  // interrupt them and cost more than the faults saved (measured). A failed ioctl
  // leaves pages protected, which only costs faults.
  void unprotect_hot(const std::vector<uintptr_t> &pages, size_t first) {
    now_.assign(pages.begin() + static_cast<std::ptrdiff_t>(first), pages.end());
    std::sort(now_.begin(), now_.end());
    std::sort(cooled_.begin(), cooled_.end());
    both_.clear();
    std::set_intersection(now_.begin(), now_.end(), last_.begin(), last_.end(), std::back_inserter(both_));
    hot_.clear();
    std::set_difference(both_.begin(), both_.end(), cooled_.begin(), cooled_.end(), std::back_inserter(hot_));
    for (size_t i = 0; i < hot_.size();) {
      size_t j = i + 1;
      while (j < hot_.size() && hot_[j] == hot_[j - 1] + page_size_) j++;
      if (j - i >= kHotRunPages) {
        struct uffdio_writeprotect wp = {};
        wp.range.start = hot_[i];
        wp.range.len = (j - i) * page_size_;
        wp.mode = 0;  // writable again
        (void)ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp);
      }
      i = j;
    }
    last_.swap(now_);
    cooled_.clear();
  }

  // One PAGEMAP_SCAN over [start, end), continued until the whole range is walked;
  // appends the matching ranges to out (ascending, adjacent ones merged).
  Status scan(uint64_t start, uint64_t end, uint64_t flags, uint64_t inverted, uint64_t mask, uint64_t anyof,
              uint64_t ret, Ranges *out) {
    PageRegion vec[512];
    while (start < end) {
      PmScanArg arg = {};
      arg.size = sizeof arg;
      arg.flags = flags;
      arg.start = start;
      arg.end = end;
      arg.vec = reinterpret_cast<uint64_t>(vec);
      arg.vec_len = sizeof vec / sizeof vec[0];
      arg.category_inverted = inverted;
      arg.category_mask = mask;
      arg.category_anyof_mask = anyof;
      arg.return_mask = ret;
      long n = ioctl(pagemap_, PALLOC_PAGEMAP_SCAN, &arg);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "scanning for written pages (PAGEMAP_SCAN)");
      }
      for (long i = 0; i < n; i++) {
        if (!out->empty() && out->back().second == vec[i].start)
          out->back().second = vec[i].end;
        else
          out->push_back({vec[i].start, vec[i].end});
      }
      if (arg.walk_end <= start) break;  // no progress: cannot happen, but never spin
      start = arg.walk_end;
    }
    return ok_status();
  }

  size_t page_size_;
  int uffd_;
  int pagemap_;
  Ranges ranges_;
  Ranges candidates_, files_;  // collect's scratch lists, kept to reuse their memory
  bool hot_on_ = false;        // see keep_hot_pages_writable
  std::vector<uintptr_t> last_;    // the pages the last collect reported, ascending
  std::vector<uintptr_t> cooled_;  // of those, the ones their commit found unchanged
  std::vector<uintptr_t> now_, both_, hot_;  // unprotect_hot's scratch lists
};

}  // namespace

int open_wp_async_uffd() {
  int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) return -1;
  struct uffdio_api api = {};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

std::unique_ptr<Tracker> make_uffd_tracker(size_t page_size, int uffd, int pagemap_fd) {
  return std::make_unique<UffdTracker>(page_size, uffd, pagemap_fd);
}

// Probes the kernel once: userfaultfd with async WP, and PAGEMAP_SCAN on pagemap.
static bool probe_uffd() {
  int uffd = open_wp_async_uffd();
  if (uffd < 0) return false;
  ::close(uffd);
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return false;
  static char page[1] __attribute__((aligned(4096)));
  PmScanArg arg = {};
  arg.size = sizeof arg;
  arg.start = reinterpret_cast<uint64_t>(page) & ~uint64_t{4095};
  arg.end = arg.start + 4096;
  arg.category_mask = kPageIsWritten;
  arg.return_mask = kPageIsWritten;
  long n = ioctl(pm, PALLOC_PAGEMAP_SCAN, &arg);
  ::close(pm);
  return n >= 0;
}

bool uffd_tracker_supported() {
  // PALLOC_DISABLE_UFFD=1 behaves as a kernel without the feature would (to exercise
  // the fallback on kernels that have it).
  static const bool ok = [] {
    const char *off = getenv("PALLOC_DISABLE_UFFD");
    return !(off && *off && strcmp(off, "0") != 0) && probe_uffd();
  }();
  return ok;
}

Status make_tracker(palloc_tracker_kind kind, size_t page_size, BaselineFn baseline, std::unique_ptr<Tracker> *out) {
  const bool uffd_ok = uffd_tracker_supported();
  if (kind == PALLOC_TRACKER_AUTO && !uffd_ok) {
    // The fallback makes every commit cost grow with the arena: say so, once.
    static std::once_flag told;
    std::call_once(told, [] {
      fprintf(stderr,
              "palloc: this kernel lacks userfaultfd async write-protect with PAGEMAP_SCAN (Linux 6.7+); "
              "using the hash tracker, whose commits cost time in proportion to the arena's resident size. "
              "Set PALLOC_TRACKER=hash to choose it explicitly and silence this notice.\n");
    });
  }
  if (kind == PALLOC_TRACKER_AUTO) kind = uffd_ok ? PALLOC_TRACKER_UFFD : PALLOC_TRACKER_HASH;
  int pm = move_fd_high(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (pm < 0) return errno_status(errno, "opening /proc/self/pagemap (is /proc mounted?)");
  if (kind == PALLOC_TRACKER_UFFD) {
    int uffd = uffd_ok ? move_fd_high(open_wp_async_uffd()) : -1;
    if (uffd < 0) {
      ::close(pm);
      return {PALLOC_E_UNSUPPORTED,
              "the uffd tracker needs userfaultfd async write-protect and PAGEMAP_SCAN (Linux 6.7 or later); "
              "this kernel lacks them: use PALLOC_TRACKER=hash"};
    }
    *out = make_uffd_tracker(page_size, uffd, pm);
  } else {
    *out = make_hash_tracker(page_size, pm, std::move(baseline));
  }
  return ok_status();
}

}  // namespace palloc

extern "C" int palloc_uffd_supported(void) { return palloc::uffd_tracker_supported() ? 1 : 0; }
