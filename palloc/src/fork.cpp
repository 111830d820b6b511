// fork.cpp — the pthread_atfork child handler that detaches every open arena.
#include "fork.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "arena.h"

namespace palloc {
namespace {

// A fixed table of atomics: the child handler may take no lock.
constexpr int kMaxArenas = 64;
std::atomic<Arena *> g_arenas[kMaxArenas];

void detach_all_in_child() {
  for (auto &slot : g_arenas)
    if (Arena *a = slot.load()) a->detach_after_fork();
}

}  // namespace

bool register_for_fork(Arena *arena) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, detach_all_in_child); });
  for (auto &slot : g_arenas) {
    Arena *expected = nullptr;
    if (slot.compare_exchange_strong(expected, arena)) return true;
  }
  return false;
}

void unregister_for_fork(Arena *arena) {
  for (auto &slot : g_arenas) {
    Arena *expected = arena;
    if (slot.compare_exchange_strong(expected, nullptr)) return;
  }
}

}  // namespace palloc
