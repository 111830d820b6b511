// runtime.h — marks code that runs on behalf of palloc itself.
//
// When palloc is the process's malloc (libpalloc.so), allocations made by palloc's own
// code — the arena's buffers, its background thread, the commit path — must not land in
// the persistent heap: they would be captured by commits they are part of and leak into
// the next run. The malloc entry points send a thread's allocations to the C library
// while it is inside a RuntimeScope. In the static core (tools, tests) it is a counter
// nobody reads.
#pragma once

namespace palloc {

// Nesting depth of RuntimeScope on this thread (initial-exec, plain __thread: no allocation and no wrapper call on access).
extern __thread unsigned t_runtime_depth __attribute__((tls_model("initial-exec")));

class RuntimeScope {
 public:
  RuntimeScope() { ++t_runtime_depth; }
  ~RuntimeScope() { --t_runtime_depth; }
  RuntimeScope(const RuntimeScope &) = delete;
  RuntimeScope &operator=(const RuntimeScope &) = delete;
};

inline bool in_runtime() { return t_runtime_depth != 0; }

}  // namespace palloc
