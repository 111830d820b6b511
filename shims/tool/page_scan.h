// page_scan.h — comparing the data file's pages with its checksum table, for `check`.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_set>
#include <vector>

#include "datafile.h"

namespace palloc::tool {

struct PageScan {
  uint64_t pages_checked = 0;
  uint64_t pending = 0;  // mismatches that a newer copy in the logs will overwrite
  uint64_t damaged = 0;  // mismatches nothing will repair
  std::vector<uint64_t> first_pending;  // file page numbers, the first few of each kind
  std::vector<uint64_t> first_damaged;
};

// How many file bytes scan_pages reads (for progress), given the data-zone bytes to check.
uint64_t page_scan_bytes(uint64_t data_bytes);

// Checks every page of the region zone and the first `data_bytes` of the data zone
// against the checksum table (an entry of 0 requires a page of zeros), and that no page
// beyond them has an entry. A mismatching page in `covered` (pages the logs hold a newer
// version of) counts as pending. Reads in large chunks and skips holes. Read-only.
Status scan_pages(const DataFile &df, uint64_t data_bytes, const std::unordered_set<uint64_t> &covered,
                  const std::function<void(uint64_t bytes_done)> &progress, PageScan *out);

}  // namespace palloc::tool
