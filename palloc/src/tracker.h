// tracker.h — dirty-page tracking: which pages of the tracked ranges were written since
// the last collect(). Two implementations: userfaultfd async write-protect with
// PAGEMAP_SCAN (cost grows with the pages written and the populated page-table span),
// and per-page XXH3 hashes (cost grows with the resident, privately written memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "palloc.h"
#include "status.h"

namespace palloc {

// For the hash tracker: does this page's current content equal the committed content?
// Asked once per page, the first time the tracker sees the page privately written.
using BaselineFn = std::function<bool(uintptr_t page_addr, const void *page)>;

class Tracker {
 public:
  virtual ~Tracker() = default;
  virtual const char *name() const = 0;
  // Starts tracking [addr, addr + len) (page-aligned; the memory must be mapped).
  // clean_now: the range's current contents count as committed (pages already
  // populated, e.g. a restored region); otherwise only writes after this call count
  // for pages never populated, and populated ones are judged by the baseline.
  virtual Status track(void *addr, size_t len, bool clean_now) = 0;
  // Appends the page addresses written since the last collect, in ascending order per
  // range, and re-arms tracking for them.
  virtual Status collect(std::vector<uintptr_t> *pages) = 0;
  // The commit after the last collect left these reported pages out (free memory whose
  // content nobody reads): their current content is not the committed one. A tracker
  // that compares contents must report them again until a commit writes them.
  virtual void left_out(const uintptr_t *pages, size_t n) = 0;
  // For a caller that reports each commit's outcome (unchanged()): a tracker whose first
  // write to a page after a collect costs a fault may leave pages reported by two
  // collects in a row writable, reporting them at every collect instead, until a commit
  // finds them unchanged (they are protected again at the collect after that commit).
  // Off by default.
  virtual void keep_hot_pages_writable(bool) {}
  // The last collect's pages are committed; these of them had the content committed
  // before (no change). Not called when that commit failed.
  virtual void unchanged(const uintptr_t *, size_t) {}
};

// Creates the tracker of the given kind (AUTO picks uffd when supported).
Status make_tracker(palloc_tracker_kind kind, size_t page_size, BaselineFn baseline,
                    std::unique_ptr<Tracker> *out);

std::unique_ptr<Tracker> make_uffd_tracker(size_t page_size, int uffd, int pagemap_fd);
std::unique_ptr<Tracker> make_hash_tracker(size_t page_size, int pagemap_fd, BaselineFn baseline);
// Opens a userfaultfd with async write-protect; -1 with errno set if unsupported.
int open_wp_async_uffd();
// True if this kernel supports the uffd tracker (probed once).
bool uffd_tracker_supported();

}  // namespace palloc
