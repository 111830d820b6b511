// fault_isolation.h — running a piece of a test in its own process, and the mounts the
// disk-full and read-only tests need.
//
// An arena lives at a fixed address and is locked by its owner, so "reopen it in
// another process" and "this process is holding it open" both need a child. Mounts
// are made in a private mount namespace of such a child: they vanish with it, even if
// the test crashes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace crash {

// Runs `body` in a forked child. GoogleTest assertions work inside it: their messages
// are printed by the child, and the child's exit status carries whether any failed.
// The result fails if the child reported a failure, exited otherwise, or died by a
// signal (a SIGBUS, say). Call it only while this process has no arena open, unless
// the body unmaps that arena's range first (see unmap_arena_range).
::testing::AssertionResult run_isolated(const std::function<void()> &body);

// Inside an isolated child: removes an arena mapping inherited from the parent, so the
// child can open an arena (a copy) at the same address.
void unmap_arena_range(void *base, uint64_t max_size);

// Why size-limited tmpfs mounts cannot be used here ("" if they can): checked once,
// in a throwaway child.
std::string tmpfs_unavailable_reason();

// Inside an isolated child: moves it into a private mount namespace (if permitted) and
// mounts a tmpfs of `bytes` at `dir`. Returns "" or what failed.
std::string mount_tmpfs(const std::string &dir, uint64_t bytes);
// Runs body(d) with `d` on a tmpfs: `dir` itself if it is on one, else a private tmpfs
// mounted under it in an isolated child, else (no mount rights) `dir` as it is. Syncs
// cost nothing on a tmpfs, so loops that reopen an arena thousands of times stay fast.
void with_fast_dir(const std::string &dir, const std::function<void(const std::string &)> &body);

// Inside an isolated child: makes `dst` a read-only view of the directory `src`.
std::string bind_read_only(const std::string &src, const std::string &dst);

}  // namespace crash
