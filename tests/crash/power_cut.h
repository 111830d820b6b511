// power_cut.h — what a power cut could leave on disk.
//
// A SIGKILL loses nothing the process wrote: the page cache survives it. A power cut
// loses whatever no fsync/fdatasync had made durable yet, and may keep any part of it.
// This log records, from a traced run (see syscall_kill.h), every change the run made
// to an arena's files and which of them a later sync made durable; from it, it builds
// the files as a power cut at the end of the run could have left them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rng.h"
#include "syscall_kill.h"

namespace crash {

class FileChangeLog {
 public:
  // Records changes to these files (paths exactly as the traced child opens them).
  explicit FileChangeLog(std::vector<std::string> files) : files_(std::move(files)) {}

  // Feed every completed call of the traced run here.
  void observe(const CompletedCall &call);

  // Non-empty if the run changed a file in a way this log does not model (a write
  // through a shared mapping, a duplicated descriptor, ...): then it cannot tell what
  // is durable, and a test should fail rather than trust it.
  const std::string &unsupported() const { return unsupported_; }
  uint64_t changes() const { return changes_.size(); }
  uint64_t unsynced() const;

  enum class Keep {
    kSyncedOnly,    // every unsynced change lost: the page cache gone as a whole
    kRandomSubset,  // each unsynced 4 KiB block (truncation, extension) kept or lost at random
  };
  // Writes to `to[i]` the state of `files[i]`: a copy of `before[i]` (its state when the
  // run began) with the recorded changes that survive the power cut.
  void build(const std::vector<std::string> &before, const std::vector<std::string> &to, Keep keep,
             Rng *rng) const;

 private:
  struct Change {
    enum Kind { kWrite, kTruncate, kExtend, kPunch } kind = kWrite;
    size_t file = 0;
    uint64_t off = 0, len = 0;
    std::vector<uint8_t> data;
    bool durable = false;
  };

  void note_unsupported(const std::string &what);

  std::vector<std::string> files_;
  std::map<int, size_t> fds_;  // open descriptor -> index in files_
  std::vector<Change> changes_;
  std::string unsupported_;
};

}  // namespace crash
