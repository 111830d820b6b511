// syscall_kill.h — killing a process at an exact point: as one of its threads enters
// its k-th system call. Every change a process makes to its files happens in a system
// call, so trying every k puts a crash between every two file operations of a run —
// including windows a few instructions wide that random timing would almost never hit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace crash {

struct TracedRun {
  bool killed = false;    // the kill came (false: the body finished first)
  uint64_t syscalls = 0;  // system calls entered by all threads, up to the kill or the end
  long killed_at = -1;    // number of the system call that was about to run
  int exit_status = -1;   // when not killed: the child's exit status
  std::string error;      // tracing itself failed (e.g. ptrace not permitted)
};

// A completed system call of the traced child, as seen when it returns.
struct CompletedCall {
  int tid = 0;
  long nr = 0;
  uint64_t args[6] = {};
  int64_t rval = 0;  // the result, or minus an errno
};
using CallObserver = std::function<void(const CompletedCall &)>;

// Runs `body` in a child traced with ptrace (threads included) and SIGKILLs it when any
// thread enters its `kill_at`-th system call counted from the start of `body` (1-based;
// 0: never). The system call does not run. Without a kill the child exits 0 after body.
// With `trace`, the numbers of all system calls entered are appended to it; `observe`
// is called for every system call that returns (while its thread is stopped, so the
// child's memory can still be read).
TracedRun run_traced(const std::function<void()> &body, uint64_t kill_at, std::vector<long> *trace = nullptr,
                     const CallObserver &observe = {});

// Which of the system calls of a reference trace to kill at: every one where the
// pattern of calls changes, and every `stride`-th one inside stretches that repeat a
// pattern of one or two calls (a loop copying pages one pread/pwrite pair at a time).
std::vector<uint64_t> kill_points(const std::vector<long> &trace, uint64_t stride);

}  // namespace crash
