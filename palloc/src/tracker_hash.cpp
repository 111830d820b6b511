// tracker_hash.cpp — dirty tracking by comparing page hashes (for kernels without
// userfaultfd async write-protect).
//
// /proc/self/pagemap tells which pages are privately owned (anonymous or copied on
// write): only those can differ from the committed image, so only those are hashed.
// The cost of a collect is therefore 8 bytes of pagemap per tracked page plus one XXH3
// per privately owned page: it grows with the arena, which is why uffd is preferred.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include <xxhash.h>

#include "tracker.h"

namespace palloc {
namespace {

constexpr uint64_t kPmPresent = 1ull << 63;
constexpr uint64_t kPmSwapped = 1ull << 62;
constexpr uint64_t kPmFilePage = 1ull << 61;

class HashTracker final : public Tracker {
 public:
  HashTracker(size_t page_size, int pagemap, BaselineFn baseline)
      : page_size_(page_size), pagemap_(pagemap), baseline_(std::move(baseline)) {}
  ~HashTracker() override { ::close(pagemap_); }
  const char *name() const override { return "hash"; }

  Status track(void *addr, size_t len, bool clean_now) override {
    Range r;
    r.start = reinterpret_cast<uintptr_t>(addr);
    r.pages = len / page_size_;
    r.known.assign(r.pages, 0);
    if (clean_now) {
      // Record the current contents of populated pages as the committed ones.
      std::vector<uintptr_t> ignored;
      PALLOC_TRY(scan(r, nullptr));
    }
    ranges_.push_back(std::move(r));
    return ok_status();
  }

  Status collect(std::vector<uintptr_t> *pages) override {
    for (Range &r : ranges_) PALLOC_TRY(scan(r, pages));
    return ok_status();
  }

 private:
  struct Range {
    uintptr_t start = 0;
    size_t pages = 0;
    std::vector<uint64_t> known;  // hash of the committed content; 0: not yet known
  };

  // Hashes the privately owned pages of r. With out == nullptr, records hashes as the
  // baseline without reporting anything.
  Status scan(Range &r, std::vector<uintptr_t> *out) {
    constexpr size_t kChunk = 4096;
    uint64_t entries[kChunk];
    for (size_t first = 0; first < r.pages; first += kChunk) {
      size_t n = std::min(kChunk, r.pages - first);
      uint64_t off = (r.start / page_size_ + first) * 8;
      ssize_t got;
      do {
        got = ::pread(pagemap_, entries, n * 8, static_cast<off_t>(off));
      } while (got < 0 && errno == EINTR);
      if (got != static_cast<ssize_t>(n * 8)) return errno_status(errno ? errno : EIO, "reading /proc/self/pagemap");
      for (size_t i = 0; i < n; i++) {
        uint64_t e = entries[i];
        if (!(e & (kPmPresent | kPmSwapped)) || (e & kPmFilePage)) continue;  // cannot differ
        const size_t idx = first + i;
        const uintptr_t addr = r.start + idx * page_size_;
        uint64_t h = XXH3_64bits(reinterpret_cast<const void *>(addr), page_size_);
        if (h == 0) h = 1;
        bool dirty;
        if (r.known[idx] != 0)
          dirty = r.known[idx] != h;
        else
          dirty = out != nullptr && !(baseline_ && baseline_(addr, reinterpret_cast<const void *>(addr)));
        r.known[idx] = h;
        if (dirty && out) out->push_back(addr);
      }
    }
    return ok_status();
  }

  size_t page_size_;
  int pagemap_;
  BaselineFn baseline_;
  std::vector<Range> ranges_;
};

}  // namespace

std::unique_ptr<Tracker> make_hash_tracker(size_t page_size, int pagemap_fd, BaselineFn baseline) {
  return std::make_unique<HashTracker>(page_size, pagemap_fd, std::move(baseline));
}

}  // namespace palloc
