// syscall_kill.cpp — a minimal ptrace tracer that counts system-call entries.
#include "syscall_kill.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace crash {

namespace {
constexpr int kNoPtrace = 90;  // the child's exit status when PTRACE_TRACEME fails
}

TracedRun run_traced(const std::function<void()> &body, uint64_t kill_at, std::vector<long> *trace,
                     const CallObserver &observe) {
  TracedRun run;
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    run.error = std::string("fork: ") + strerror(errno);
    return run;
  }
  if (pid == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(kNoPtrace);
    raise(SIGSTOP);  // the tracer sets its options while the child waits here
    body();
    _exit(0);
  }

  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
    run.error = WIFEXITED(st) && WEXITSTATUS(st) == kNoPtrace ? "PTRACE_TRACEME is not permitted"
                                                              : "the traced child did not stop";
    return run;
  }
  ptrace(PTRACE_SETOPTIONS, pid, nullptr,
         reinterpret_cast<void *>(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL));
  ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr);

  std::map<pid_t, CompletedCall> in_call;  // per thread: the call it entered
  for (;;) {
    const pid_t tid = waitpid(-1, &st, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: everything reaped
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      if (tid != pid) continue;  // a thread; the leader is reported last
      if (WIFEXITED(st)) run.exit_status = WEXITSTATUS(st);
      break;
    }
    if (!WIFSTOPPED(st)) continue;
    const int sig = WSTOPSIG(st);
    int deliver = 0;
    if (sig == (SIGTRAP | 0x80)) {
      struct __ptrace_syscall_info info;
      std::memset(&info, 0, sizeof info);
      const bool got = ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void *>(sizeof info), &info) > 0;
      if (got && info.op == PTRACE_SYSCALL_INFO_EXIT && observe) {
        if (auto it = in_call.find(tid); it != in_call.end()) {
          it->second.rval = info.exit.rval;
          observe(it->second);
          in_call.erase(it);
        }
      }
      if (got && info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        if (observe) {
          CompletedCall &c = in_call[tid];
          c.tid = tid;
          c.nr = static_cast<long>(info.entry.nr);
          for (int i = 0; i < 6; i++) c.args[i] = info.entry.args[i];
        }
        run.syscalls++;
        if (trace) trace->push_back(static_cast<long>(info.entry.nr));
        if (!run.killed && kill_at != 0 && run.syscalls == kill_at) {
          run.killed = true;
          run.killed_at = static_cast<long>(info.entry.nr);
          kill(pid, SIGKILL);  // stopped tracees die without resuming: the call never runs
          continue;
        }
      }
    } else if (sig == SIGTRAP && (st >> 16) != 0) {
      // A clone event: the new thread is traced too and starts with a SIGSTOP.
    } else if (sig != SIGSTOP) {
      deliver = sig;  // a real signal for the child
    }
    ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void *>(static_cast<long>(deliver)));
  }
  return run;
}

std::vector<uint64_t> kill_points(const std::vector<long> &trace, uint64_t stride) {
  const auto n = static_cast<int64_t>(trace.size());
  auto repeats = [&](int64_t i) {
    return i >= 2 && i < n && trace[static_cast<size_t>(i)] == trace[static_cast<size_t>(i - 2)];
  };
  std::vector<uint64_t> points;
  for (int64_t i = 0; i < n; i++) {
    bool inside = true;  // deep inside a stretch where every call repeats the one two before
    for (int64_t j = i - 4; j <= i + 4 && inside; j++) inside = repeats(j);
    if (!inside || i % static_cast<int64_t>(stride) == 0) points.push_back(static_cast<uint64_t>(i + 1));
  }
  return points;
}

}  // namespace crash
