// barrier.cpp — thread records and the commit side of the barrier.
#include "barrier.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <new>
#include <thread>

#include "runtime.h"

namespace palloc::barrier {

__thread Record *t_record __attribute__((tls_model("initial-exec"))) = nullptr;
std::atomic<uint32_t> g_state{kFence};

namespace {

// Held by a commit for its whole duration, by exiting threads while mimalloc abandons
// their heaps, and briefly to attach or return a record.
std::mutex mu;
Record *all_records = nullptr;
Record *free_records = nullptr;
unsigned attached = 0;  // records held by live threads
pthread_key_t exit_key;
bool have_key = false;
std::atomic<bool> membarrier_registered{false};

int membarrier(int cmd) { return static_cast<int>(syscall(__NR_membarrier, cmd, 0, 0)); }

// Thread exit: return the record. Later exit handlers may attach a new one (the key is
// set again then, and this runs once more).
void on_thread_exit(void *value) {
  Record *r = static_cast<Record *>(value);
  std::lock_guard<std::mutex> lk(mu);
  if (t_record == r) t_record = nullptr;
  r->inside.store(0, std::memory_order_relaxed);
  r->free_next = free_records;
  free_records = r;
  attached--;
}

Record *attach() {
  std::lock_guard<std::mutex> lk(mu);
  Record *r = free_records;
  if (r) {
    free_records = r->free_next;
  } else {
    RuntimeScope runtime;  // the record is palloc's own memory, not the heap's
    r = new Record();
    r->all_next = all_records;
    all_records = r;
  }
  r->free_next = nullptr;
  attached++;
  t_record = r;
  if (have_key) pthread_setspecific(exit_key, r);
  return r;
}

}  // namespace

void init() {
  if (pthread_key_create(&exit_key, on_thread_exit) == 0) have_key = true;
  // Registering takes milliseconds (the kernel waits for a grace period), so it happens
  // off the start-up path; until it is done, entering threads fence themselves.
  std::thread([] {
    RuntimeScope runtime;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
      membarrier_registered.store(true, std::memory_order_seq_cst);
      g_state.fetch_and(~kFence, std::memory_order_seq_cst);
    }
  }).detach();
}

void enter_slow() {
  Record *r = t_record ? t_record : attach();
  for (;;) {
    r->inside.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if ((g_state.load(std::memory_order_acquire) & kPending) == 0) return;
    // A commit is running: step out and wait for it. Commits take milliseconds: sleep
    // in the kernel (a futex) rather than spin, so the commit has the CPUs.
    r->inside.store(0, std::memory_order_release);
    for (uint32_t v; ((v = g_state.load(std::memory_order_acquire)) & kPending) != 0;) g_state.wait(v);
  }
}

void begin() {
  mu.lock();
  g_state.fetch_or(kPending, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // After this every thread either has published inside=1 or will see kPending: threads
  // that skip the fence on entry are made to execute one now. (The expedited command
  // cannot fail once the process is registered.)
  // With no other thread holding a record there is nobody to fence or wait for (a thread
  // without one must attach first, which waits for mu): a single-threaded program's
  // commit skips the inter-processor interrupts.
  Record *self = t_record;
  if (alone()) return;
  if (membarrier_registered.load(std::memory_order_seq_cst)) (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  for (Record *r = all_records; r; r = r->all_next) {
    if (r == self) continue;
    unsigned spins = 0;
    while (r->inside.load(std::memory_order_acquire) != 0) {
      if (++spins > 64) sched_yield();
    }
  }
}

bool alone() { return attached == (t_record ? 1u : 0u); }

void end() {
  g_state.fetch_and(~kPending, std::memory_order_seq_cst);
  g_state.notify_all();
  mu.unlock();
}

void exclusive_begin() { mu.lock(); }
void exclusive_end() { mu.unlock(); }

void reset_in_child() {
  new (&mu) std::mutex();
  g_state.fetch_and(~kPending, std::memory_order_relaxed);
  if (t_record) t_record->inside.store(0, std::memory_order_relaxed);
  attached = t_record ? 1 : 0;  // the only thread left
}

}  // namespace palloc::barrier
