// fault_scenario.h — scripted commits for the fault-injection tests: each epoch rewrites
// a chosen set of pages with a pattern derived from (epoch, page) and sets a few roots,
// so a test knows the exact content of every epoch without reading it back from the
// process that committed it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "palloc.h"

namespace crash {

struct Script {
  uint64_t seed = 1;
  uint64_t initial_pages = 16;
  uint64_t max_bytes = 64ull << 20;
  palloc_tracker_kind tracker = PALLOC_TRACKER_AUTO;
  palloc_durability durability = PALLOC_DURABILITY_SYNC;
  uint64_t checkpoint_bytes = 1ull << 40;    // default: no background checkpoint
  std::vector<std::vector<uint64_t>> pages;  // pages[e - 1]: the pages epoch e rewrites
  std::vector<uint64_t> grow_to;             // grow_to[e - 1]: pages the arena grows to first (0: none)
  uint64_t epochs() const { return pages.size(); }
};

// What a test compares: the content, the numbered roots the script uses (slots 8-15)
// and the named root "epoch".
struct Snapshot {
  uint64_t epoch = 0;
  std::vector<uint8_t> content;
  std::array<uint64_t, 8> roots{};
  uint64_t named = 0;
};

uint64_t page_size();
palloc_options script_options(const Script &s, bool create);

// Writes epoch e's changes into an open arena (which holds epoch e - 1).
void write_epoch(const Script &s, uint64_t epoch, palloc_arena *a);
// Fills one page with the script's pattern for (epoch, page).
void fill_pattern(const Script &s, uint64_t epoch, uint64_t page, uint8_t *dst);
Snapshot expected_at(const Script &s, uint64_t epoch);
Snapshot snapshot_of(const palloc_arena *a);
::testing::AssertionResult same_state(const Snapshot &got, const Snapshot &want);

// Opens (creating if need be) the arena at `path` in a child process, commits epochs
// from..to and then either closes it (checkpointing everything into the data file) or
// ends with _exit, leaving the records in the log as a crash would.
::testing::AssertionResult commit_in_child(const std::string &path, const Script &s, uint64_t from, uint64_t to,
                                           bool close);

// Opens the arena in this process, expects epoch `epoch` with exactly the script's
// content, and closes it again.
::testing::AssertionResult open_and_expect(const std::string &path, const Script &s, uint64_t epoch);

}  // namespace crash
