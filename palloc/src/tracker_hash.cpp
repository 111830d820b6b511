// tracker_hash.cpp — dirty tracking by comparing page hashes (for kernels without
// userfaultfd async write-protect).
//
// /proc/self/pagemap tells which pages are privately owned (anonymous or copied on
// write): only those can differ from the committed image, so only those are hashed.
// The cost of a collect is therefore 8 bytes of pagemap per tracked page plus one XXH3
// per privately owned page: it grows with the arena, which is why uffd is preferred.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <xxhash.h>

#include "tracker.h"

namespace palloc {
namespace {

constexpr uint64_t kPmPresent = 1ull << 63;
constexpr uint64_t kPmSwapped = 1ull << 62;
constexpr uint64_t kPmFilePage = 1ull << 61;

// One committed-content hash per page (0: not yet known), in anonymous memory that the
// kernel zeroes lazily: a range costs nothing until its pages are hashed. (A zeroed
// std::vector made opening a 16 GiB arena write 32 MiB: ~60 ms instead of ~0.2 ms.)
class HashTable {
 public:
  HashTable() = default;
  HashTable(const HashTable &) = delete;
  HashTable &operator=(const HashTable &) = delete;
  HashTable(HashTable &&o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  HashTable &operator=(HashTable &&o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~HashTable() { release(); }

  Status allocate(size_t entries) {
    release();
    if (entries == 0) return ok_status();
    void *p = mmap(nullptr, entries * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return errno_status(errno, "allocating the page hash table");
    p_ = static_cast<uint64_t *>(p);
    bytes_ = entries * sizeof(uint64_t);
    return ok_status();
  }
  uint64_t &operator[](size_t i) { return p_[i]; }

 private:
  void release() {
    if (p_) munmap(p_, bytes_);
    p_ = nullptr;
    bytes_ = 0;
  }
  uint64_t *p_ = nullptr;
  size_t bytes_ = 0;
};

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
    PALLOC_TRY(r.known.allocate(r.pages));
    if (clean_now) {
      // Record the current contents of populated pages as the committed ones.
      PALLOC_TRY(scan(r, nullptr));
    }
    ranges_.push_back(std::move(r));
    return ok_status();
  }

  Status collect(std::vector<uintptr_t> *pages) override {
    for (Range &r : ranges_) PALLOC_TRY(scan(r, pages));
    return ok_status();
  }

  void left_out(const uintptr_t *pages, size_t n) override {
    for (size_t i = 0; i < n; i++) {
      for (Range &r : ranges_) {
        if (pages[i] < r.start || pages[i] - r.start >= r.pages * page_size_) continue;
        r.known[(pages[i] - r.start) / page_size_] = kNotCommitted;
        break;
      }
    }
  }

 private:
  struct Range {
    uintptr_t start = 0;
    size_t pages = 0;
    HashTable known;  // hash of the committed content; 0: not yet known
  };
  // A `known` value no hash takes: the committed content is some other content.
  static constexpr uint64_t kNotCommitted = 1;

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
        if (h <= kNotCommitted) h = kNotCommitted + 1;
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
