// protocol.h — how a torture child talks to its parent.
//
// Messages go over a pipe; each is one write() of less than PIPE_BUF bytes, so a
// SIGKILL can never leave half a message behind. The parent answers OPENED with one
// byte on a second pipe ("go on") once it has checked the recovered state, so a child
// that recovered the wrong state is killed before it can build on it.
//
// Separately, the child keeps a few counters in a shared page (a memfd the parent
// created): where it is (so the parent can tell where each kill landed) and how many
// checkpoints it has seen complete.
#pragma once

#include <atomic>
#include <cstdint>

namespace crash {

enum MessageType : uint32_t {
  kMsgOpened = 1,    // a = recovered epoch, b = size, c = state digest, d = kOpened* flags
  kMsgAck = 2,       // a = epoch that palloc_commit just returned
  kMsgError = 3,     // text follows: what failed
  kMsgReopened = 4,  // like kMsgOpened, after palloc_close and palloc_open in the same child
};

constexpr uint64_t kOpenedUffd = 1;      // the arena uses the uffd tracker
constexpr uint64_t kOpenedRestored = 2;  // palloc_region_register restored the region

struct Message {
  uint32_t type = 0;
  uint32_t text_len = 0;  // bytes of text after this header
  uint64_t a = 0, b = 0, c = 0, d = 0;
};

constexpr uint32_t kMaxMessageText = 3072;  // header + text stay below PIPE_BUF (4096)

// Where the child is; the parent reads it right after the kill.
enum Phase : uint32_t {
  kPhaseStarting = 0,  // before palloc_open (exec, dynamic loading, argument parsing)
  kPhaseOpening,       // inside palloc_open: recovery, mapping
  kPhaseVerifying,     // digesting the recovered state, waiting for the parent
  kPhaseMutating,      // writing the next epoch's changes into the arena
  kPhaseCommitting,    // inside palloc_commit
  kPhaseAcking,        // palloc_commit returned; the ack is not written yet
  kPhaseClosing,       // inside palloc_close (which checkpoints), before reopening
  kPhaseReopening,     // inside palloc_open again, in the same child
  kPhaseCount
};

inline const char *phase_name(uint32_t p) {
  static const char *const names[] = {"start", "open", "verify", "mutate", "commit", "ack", "close", "reopen"};
  return p < kPhaseCount ? names[p] : "?";
}

struct SharedStatus {
  std::atomic<uint32_t> phase;
  std::atomic<uint64_t> checkpoints;  // completed by this child (palloc_stats.checkpoints)
  std::atomic<uint64_t> log_bytes;    // log size after the last commit
};

// File descriptor numbers the child finds its ends at (set up between fork and exec).
constexpr int kChildMsgFd = 100;
constexpr int kChildGoFd = 101;
constexpr int kChildStatusFd = 102;

}  // namespace crash
