// arena.h — an open arena: its files, its mapping, its tracker, commit and checkpoint.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "datafile.h"
#include "format.h"
#include "tracker.h"
#include "wal.h"

namespace palloc {

// The most commit_capture_stopped copies aside to write after the program resumes; the
// buffer stays mapped between commits (a steady writer reuses it) and shrinks when a
// commit needs less than half of it.
constexpr size_t kSnapshotBufferMax = size_t{256} << 20;

// Moves the page addresses of pages[0..n) (ascending) whose content does not matter to
// the end, keeping the others in order at the front; returns how many are kept.
using FreePageFilter = size_t (*)(uintptr_t *pages, size_t n);

class Arena {
 public:
  static Status open(const std::string &path, const palloc_options &opts, std::unique_ptr<Arena> *out);
  ~Arena();
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;

  // Checkpoints (unless detached) and releases everything.
  Status close();
  Status commit(uint64_t *epoch);
  // commit() in two steps: capture writes the record (the memory may change again as
  // soon as it returns); wait makes it durable as the durability mode asks.
  Status commit_capture(uint64_t *epoch);
  // commit_capture for a caller that keeps every writer stopped until `resume` is called
  // (the persistent heap's barrier). The dirty pages are copied into a buffer kept for
  // that (up to kSnapshotBufferMax; the rest are written before `resume`), `resume` is
  // called, and the copies are checksummed and written while the program runs: by this
  // thread, or with `background` by the arena's writer thread, so that this one returns
  // at once (*epoch is then the epoch the record will have; commit_wait waits for it and
  // reports a failure). `resume` is called exactly once, also when the commit fails.
  Status commit_capture_stopped(uint64_t *epoch, const std::function<void()> &resume, bool background);
  // Returns once no background record is being written (a caller about to stop the
  // threads for a commit calls it first, so they are not stopped while it waits).
  void wait_written();
  Status commit_wait(uint64_t epoch);
  // Instead of commit_wait: in sync mode, the background thread makes the last capture
  // durable soon (a commit_wait or sync later still waits for it).
  void sync_in_background();
  // Leave out of commits the pages reported written whose content equals what the last
  // commit wrote of them (uffd tracking reports writes, not changes). Only for callers
  // that commit with no other thread writing (the persistent heap's barrier): a page
  // changed and changed back during a capture could otherwise be skipped later.
  void skip_unchanged_pages(bool on);
  // Leave out of commits the dirty pages `filter` finds free: memory whose content nobody
  // reads (the persistent heap's free spans). The filter reads the allocator's own data,
  // so, as for skip_unchanged_pages, only for callers that commit with no thread running.
  void set_free_page_filter(FreePageFilter filter);
  // Dirty pages the last commit left out as free.
  uint64_t last_free_pages() const;
  Status sync();
  // Folds the logs into the data file now if they hold more than the checkpoint
  // threshold, so the next open has little to replay. The persistent heap calls it at
  // exit: resuming then costs the same however much the last run wrote.
  Status checkpoint_if_large();
  Status grow(uint64_t new_size);

  Status root_set(unsigned slot, uint64_t value);
  uint64_t root_get(unsigned slot) const;
  Status root_set_named(const std::string &name, uint64_t value);
  Status root_get_named(const std::string &name, uint64_t *value) const;
  Status region_register(const std::string &name, void *addr, uint64_t len, int *restored);
  Status depend_on(const void *addr);
  void stats(palloc_stats *out) const;

  void *base() const { return reinterpret_cast<void *>(layout_.base); }
  uint64_t size() const;
  uint64_t max_size() const { return layout_.max_size; }
  uint64_t epoch() const;

  // Called in a fork() child: the copy may never commit and owns no files.
  void detach_after_fork();

 private:
  struct LiveRegion {
    std::string name;
    uintptr_t addr = 0;
    uint64_t len = 0;
    uint64_t zone_offset = 0;
  };

  Arena() = default;
  Status open_files(const std::string &path, const palloc_options &opts);
  Status recover();
  Status map_memory();
  Status translate(uintptr_t page, uint64_t *pgno) const;
  bool address_of(uint64_t pgno, uintptr_t *addr) const;  // translate's inverse
  Status wait_durable(uint64_t epoch);
  Status checkpoint(std::unique_lock<std::mutex> &lk);
  void background_loop();
  bool page_matches_committed(uintptr_t addr, const void *page);
  Status add_binary(const BinaryRecord &b);  // mu_ held
  // A record being written: its pages beyond the buffer are in the log, the others are
  // copied aside in snap_ (pgnos).
  struct Capture {
    RecordWriter writer;
    std::vector<uint64_t> pgnos;
    ArenaState state;
    uint64_t epoch = 0;
    std::vector<uintptr_t> dirty;  // what the next commit must write if this one fails
    uint64_t t0 = 0;
  };
  Status capture(uint64_t *epoch, const std::function<void()> *resume, bool background);
  Status complete(Capture &c, bool *want_checkpoint);  // mu_ held
  // A capture that could not be written: its pages go to the next commit.
  Status commit_failed(const Status &s, const Capture &c);  // mu_ held
  void await_written(std::unique_lock<std::mutex> &lk);       // wait_written, lock held
  void writer_loop();
  void request_checkpoint();
  uint8_t *snapshot_buffer(size_t bytes);    // mu_ held
  void snapshot_buffer_trim(size_t used);    // mu_ held

  std::string path_;
  palloc_options opts_{};
  Layout layout_;
  uint64_t seed_ = 0;
  DataFile data_;
  LogFile logs_[2];
  std::unique_ptr<Tracker> tracker_;
  const uint8_t *table_map_ = nullptr;  // read-only view of the checksum table (hash tracker)
  bool mapped_ = false;

  // Commit state; mu_ guards it.
  mutable std::mutex mu_;
  unsigned active_ = 0;                // log receiving commits
  uint64_t epoch_ = 0;                 // last committed epoch
  uint64_t last_commit_unix_ns_ = 0;
  ArenaState committed_;               // state as of epoch_
  ArenaState staged_;                  // state the next commit records
  std::vector<LiveRegion> regions_;
  std::vector<uintptr_t> pending_;     // dirty pages a failed commit must still write
  bool skip_unchanged_ = false;        // see skip_unchanged_pages
  FreePageFilter free_filter_ = nullptr;  // see set_free_page_filter
  std::vector<uint64_t> page_hash_;    // by file page: checksum of the content last logged (0: unknown)
  CopyBatch copy_batch_;               // lent to each capture's writer (mu_)
  uint8_t *snap_ = nullptr;            // commit_capture_stopped's copies (anonymous mapping)
  size_t snap_bytes_ = 0;
  std::unique_ptr<Capture> inflight_;  // handed to the writer thread, not yet written
  std::condition_variable written_cv_; // inflight_ became empty (with mu_)
  std::condition_variable writer_cv_;  // work for the writer thread (with mu_)
  bool writer_stop_ = false;
  Status write_error_;                 // why the last background record failed
  std::thread *writer_ = nullptr;
  Status poisoned_;                    // a failed sync: no further commit is safe
  uint64_t stat_commits_ = 0, stat_pages_ = 0, stat_bytes_ = 0, stat_last_pages_ = 0, stat_last_ns_ = 0;
  uint64_t stat_last_free_ = 0;
  uint64_t stat_checkpoints_ = 0;
  uint64_t checkpoint_epoch_ = 0;
  uint64_t last_capture_start_ns_ = 0;

  // Durability (group commit); sync_mu_ is taken after mu_, never before.
  mutable std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  uint64_t durable_epoch_ = 0;
  bool syncing_ = false;

  // One checkpoint at a time (the background thread's or checkpoint_if_large); taken
  // before mu_.
  std::mutex ckpt_mu_;

  // Background thread: async syncs and checkpoints.
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;
  bool bg_checkpoint_ = false;
  bool bg_sync_ = false;
  std::thread *bg_ = nullptr;

  std::atomic<bool> detached_{false};
};

}  // namespace palloc
