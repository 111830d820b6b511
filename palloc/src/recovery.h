// recovery.h — working out the last commit from the data file and the logs: the
// checkpoint plus every complete, checksum-valid record that continues it without a gap.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "datafile.h"
#include "wal.h"

namespace palloc {

struct RecoveryPlan {
  std::vector<RecordInfo> chain;  // records to replay, in epoch order
  uint64_t epoch = 0;             // the recovered commit
  uint64_t unix_ns = 0;           // when it was made
  ArenaState state;               // its roots, size, regions and binaries
  LogScan scans[2];
  std::vector<std::string> notes; // findings: a torn tail, discarded damage
  bool lost_commits = false;      // discard_damaged dropped commits that had been made
};

// Scans both logs (verifying every page when verify_pages) and plans the replay.
// Refuses with PALLOC_E_CORRUPT when damage would make it skip commits that a later
// valid record shows were made (unless discard_damaged: then it stops at the damage);
// a torn tail (nothing valid after it) is only a note.
Status plan_recovery(const DataFile &df, LogFile logs[2], bool verify_pages, bool discard_damaged,
                     RecoveryPlan *plan, const std::function<void(uint64_t)> &progress = {});

}  // namespace palloc
