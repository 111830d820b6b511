// barrier.cpp — registry of threads and the commit side of the barrier.
#include "barrier.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "runtime.h"

namespace palloc::barrier {

thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));
std::atomic<uint32_t> g_pending{0};
bool g_fence_on_enter = true;

namespace {

// The registry lock is held by a commit for its whole duration, so a thread cannot
// register (and slip into the allocator unseen) while one is in progress.
std::mutex registry_mu;
ThreadState *registry = nullptr;
pthread_key_t exit_key;
bool have_key = false;

int membarrier(int cmd) { return static_cast<int>(syscall(__NR_membarrier, cmd, 0, 0)); }

void unregister(ThreadState &t) {
  std::lock_guard<std::mutex> lk(registry_mu);
  if (!t.registered) return;
  if (t.prev) t.prev->next = t.next; else registry = t.next;
  if (t.next) t.next->prev = t.prev;
  t.next = t.prev = nullptr;
  t.registered = 0;
}

// Runs at thread exit. Later exit handlers (the allocator's own) may register the thread
// again; the key is set again then, and this runs once more.
void on_thread_exit(void *) { unregister(t_state); }

void register_self(ThreadState &t) {
  std::lock_guard<std::mutex> lk(registry_mu);
  if (t.registered) return;
  t.next = registry;
  t.prev = nullptr;
  if (registry) registry->prev = &t;
  registry = &t;
  t.registered = 1;
  if (have_key) pthread_setspecific(exit_key, &t);
}

}  // namespace

std::atomic<bool> g_membarrier_registered{false};

void init() {
  if (pthread_key_create(&exit_key, on_thread_exit) == 0) have_key = true;
  // Registering takes milliseconds (the kernel waits for a grace period), so it happens
  // off the start-up path; until it is done, entering threads fence themselves.
  std::thread([] {
    RuntimeScope runtime;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
      g_membarrier_registered.store(true, std::memory_order_seq_cst);
      __atomic_store_n(&g_fence_on_enter, false, __ATOMIC_SEQ_CST);
    }
  }).detach();
}

void enter_slow() {
  ThreadState &t = t_state;
  for (;;) {
    if (!t.registered) register_self(t);
    t.inside.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (g_pending.load(std::memory_order_acquire) == 0) return;
    // A commit is running: step out and wait for it.
    t.inside.store(0, std::memory_order_release);
    while (g_pending.load(std::memory_order_acquire) != 0) sched_yield();
  }
}

void begin() {
  registry_mu.lock();
  g_pending.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // After this every thread either has published inside=1 or will see g_pending: threads
  // that skip the fence on entry are made to execute one now.
  // (The expedited command cannot fail once the process is registered.)
  if (g_membarrier_registered.load(std::memory_order_seq_cst)) (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  ThreadState *self = &t_state;
  for (ThreadState *t = registry; t; t = t->next) {
    if (t == self) continue;
    unsigned spins = 0;
    while (t->inside.load(std::memory_order_acquire) != 0) {
      if (++spins > 64) sched_yield();
    }
  }
}

void end() {
  g_pending.store(0, std::memory_order_release);
  registry_mu.unlock();
}

void reset_in_child() {
  new (&registry_mu) std::mutex();
  ThreadState &t = t_state;
  registry = t.registered ? &t : nullptr;
  t.next = t.prev = nullptr;
  t.inside.store(0, std::memory_order_relaxed);
  g_pending.store(0, std::memory_order_relaxed);
}

}  // namespace palloc::barrier
