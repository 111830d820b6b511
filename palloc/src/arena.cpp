// arena.cpp — opening (creating, recovering, mapping), committing, checkpointing.
#include "arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>

#include "binaries.h"
#include "fork.h"
#include "lock.h"
#include "options.h"
#include "recovery.h"
#include "runtime.h"

namespace palloc {

namespace {

constexpr uint64_t kAddressLimit = 20ull << 40;  // mimalloc 2.0.9's segment map ends here
constexpr uint64_t kBaseAlign = 32ull << 20;     // mimalloc segment alignment

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string addr_hex(uint64_t a) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

// What occupies [lo, hi) in this process, from /proc/self/maps.
std::string mapping_at(uint64_t lo, uint64_t hi) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long a, b;
    if (sscanf(line.c_str(), "%llx-%llx", &a, &b) != 2) continue;
    if (a < hi && b > lo) return line;
  }
  return "";
}

// Reserves [base, base+len) with no access; E_ADDRESS if anything is there.
Status reserve_range(uint64_t base, uint64_t len) {
  void *p = mmap(reinterpret_cast<void *>(base), len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || reinterpret_cast<uint64_t>(p) != base) {
    int err = errno;
    if (p != MAP_FAILED) munmap(p, len);  // kernels without MAP_FIXED_NOREPLACE
    std::string what = mapping_at(base, base + len);
    if (err == EEXIST || p != MAP_FAILED || !what.empty())
      return {PALLOC_E_ADDRESS, "the arena's address range " + addr_hex(base) + "-" + addr_hex(base + len) +
                                    " is already in use in this process" + (what.empty() ? "" : " (" + what + ")") +
                                    "; an arena must be mapped at the address it was created at"};
    return errno_status(err, "reserving the arena's address range at " + addr_hex(base));
  }
  madvise(p, len, MADV_NOHUGEPAGE);  // a 2 MiB page dirtied by one byte would cost 512 pages of log
  return ok_status();
}

// Picks a free, aligned base for a new arena of max_size bytes.
Status choose_base(uint64_t max_size, uint64_t *base) {
  const uint64_t step = round_up(max_size, 1ull << 30);
  for (uint64_t b = kDefaultBase; b + max_size <= kAddressLimit; b += step) {
    if (!reserve_range(b, max_size).ok()) continue;
    munmap(reinterpret_cast<void *>(b), max_size);
    *base = b;
    return ok_status();
  }
  return {PALLOC_E_ADDRESS, "no free address range of " + std::to_string(max_size >> 20) +
                                " MiB below 20 TiB for a new arena; choose a smaller maximum size"};
}

Status create_arena(const std::string &path, const palloc_options &opts) {
  const uint64_t ps = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t max_size = round_up(opts.max_size, kBaseAlign);
  const uint64_t initial = std::min(round_up(opts.initial_size ? opts.initial_size : ps, ps), max_size);
  uint64_t base = opts.base;
  if (base == 0) {
    PALLOC_TRY(choose_base(max_size, &base));
  } else if (base % kBaseAlign != 0 || base + max_size > kAddressLimit || base < (1ull << 32)) {
    return {PALLOC_E_INVALID, "arena base " + addr_hex(base) +
                                  " must be a multiple of 32 MiB, at least 4 GiB, and base + max size must stay below 20 TiB"};
  }

  DataHeader h;
  h.seq = 1;
  h.layout = Layout::for_arena(ps, base, max_size);
  if (getrandom(h.uuid.data(), h.uuid.size(), 0) != static_cast<ssize_t>(h.uuid.size()))
    return errno_status(errno, "getting random bytes for the arena id");
  h.create_unix_ns = now_unix_ns();
  h.checkpoint_epoch = 0;
  h.checkpoint_unix_ns = h.create_unix_ns;
  h.state.size = initial;

  // Logs first, data file last (atomically renamed into place): a crash part-way leaves
  // no arena, only files the next creation overwrites.
  for (unsigned i = 0; i < 2; i++) {
    LogFile log;
    LogHeader lh;
    lh.index = i;
    lh.uuid = h.uuid;
    lh.seq = 1;
    lh.page_size = ps;
    PALLOC_TRY(log_create(log_path(path, i), lh, &log));
  }
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  DataFile df;
  Status s = data_create(tmp, h, &df);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    if (err == EEXIST && !(opts.flags & PALLOC_EXCLUSIVE)) return ok_status();  // lost a creation race: open theirs
    return errno_status(err, "creating " + path);
  }
  return fsync_dir_of(path);
}

}  // namespace

Status Arena::open(const std::string &path, const palloc_options &opts, std::unique_ptr<Arena> *out) {
  PALLOC_TRY(options_check(opts));
  std::unique_ptr<Arena> a(new Arena());
  a->path_ = path;
  a->opts_ = opts;
  PALLOC_TRY(a->open_files(path, opts));
  PALLOC_TRY(a->recover());
  if (!(opts.flags & PALLOC_NO_VERIFY_BINARIES))
    PALLOC_TRY(verify_binaries(a->committed_.binaries).with_context("resuming " + path));
  PALLOC_TRY(a->map_memory());
  a->bg_ = new std::thread([p = a.get()] { p->background_loop(); });
  *out = std::move(a);
  return ok_status();
}

Status Arena::open_files(const std::string &path, const palloc_options &opts) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && (opts.flags & PALLOC_CREATE)) {
    PALLOC_TRY(create_arena(path, opts));
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  } else if (fd >= 0 && (opts.flags & PALLOC_CREATE) && (opts.flags & PALLOC_EXCLUSIVE)) {
    ::close(fd);
    return {PALLOC_E_EXISTS, path + " already exists"};
  }
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return {PALLOC_E_NOT_FOUND, path + " does not exist (pass PALLOC_CREATE to create it)"};
    return errno_status(err, "opening " + path);
  }
  fd = move_fd_high(fd);
  data_.fd.reset(fd);
  data_.path = path;
  PALLOC_TRY(lock_exclusive(fd, path));
  PALLOC_TRY(data_read_header(&data_));
  layout_ = data_.header.layout;
  seed_ = uuid_seed(data_.header.uuid);
  if (layout_.page_size != static_cast<uint64_t>(sysconf(_SC_PAGESIZE)))
    return {PALLOC_E_INVALID, path + " was created with " + std::to_string(layout_.page_size) +
                                  "-byte pages; this machine uses " + std::to_string(sysconf(_SC_PAGESIZE))};
  for (unsigned i = 0; i < 2; i++) {
    PALLOC_TRY(log_open(log_path(path, i), true, &logs_[i]));
    if (logs_[i].header.index != i) return {PALLOC_E_CORRUPT, logs_[i].path + " is not log " + std::to_string(i)};
  }
  return ok_status();
}

Status Arena::recover() {
  RecoveryPlan plan;
  PALLOC_TRY(plan_recovery(data_, logs_, true, false, &plan).with_context("recovering " + path_));
  const bool dirty_logs = logs_[0].end > kLogHeaderBytes || logs_[1].end > kLogHeaderBytes;
  if (!plan.chain.empty()) {
    PALLOC_TRY(data_apply_records(&data_, logs_, plan.chain));
    DataHeader h = data_.header;
    h.checkpoint_epoch = plan.epoch;
    h.checkpoint_unix_ns = plan.unix_ns;
    h.state = plan.state;
    PALLOC_TRY(data_write_header(&data_, h));
  }
  if (plan.chain.empty() && !data_.slot_problem.empty()) {
    // One header slot is damaged: rewrite it from the good one while we are here.
    PALLOC_TRY(data_write_header(&data_, data_.header));
  }
  if (dirty_logs) {
    const uint64_t seq = std::max(logs_[0].header.seq, logs_[1].header.seq) + 1;
    for (LogFile &log : logs_) PALLOC_TRY(log_reset(&log, seq));
  }
  epoch_ = durable_epoch_ = checkpoint_epoch_ = plan.epoch;
  last_commit_unix_ns_ = plan.unix_ns;
  committed_ = staged_ = plan.state;
  active_ = 0;
  return ok_status();
}

Status Arena::map_memory() {
  const uint64_t size = committed_.size;
  // Creation and grow() reserve the file up to a size before any commit records it, so
  // a shorter file has lost committed pages: refuse it (mapping it would SIGBUS, and
  // extending it would silently turn the lost pages into zeros).
  if (const uint64_t have = file_size(data_.fd.get()); have < layout_.data_offset + size)
    return {PALLOC_E_CORRUPT, path_ + " is truncated: " + std::to_string(have) + " bytes, but its committed image ends at byte " +
                                  std::to_string(layout_.data_offset + size)};
  PALLOC_TRY(reserve_range(layout_.base, layout_.max_size));
  mapped_ = true;
  if (size > 0) {
    void *p = mmap(base(), size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, data_.fd.get(),
                   static_cast<off_t>(layout_.data_offset));
    if (p == MAP_FAILED) return errno_status(errno, "mapping " + path_);
    madvise(p, size, MADV_NOHUGEPAGE);
  }
  void *t = mmap(nullptr, layout_.table_bytes, PROT_READ, MAP_SHARED, data_.fd.get(), static_cast<off_t>(kTableOffset));
  if (t == MAP_FAILED) return errno_status(errno, "mapping the checksum table of " + path_);
  table_map_ = static_cast<const uint8_t *>(t);
  PALLOC_TRY(make_tracker(opts_.tracker, layout_.page_size,
                          [this](uintptr_t addr, const void *page) { return page_matches_committed(addr, page); },
                          &tracker_));
  if (size > 0) PALLOC_TRY(tracker_->track(base(), size, false));
  if (!register_for_fork(this)) return {PALLOC_E_NOMEM, "at most 64 arenas can be open at once"};
  return ok_status();
}

bool Arena::page_matches_committed(uintptr_t addr, const void *page) {
  uint64_t pgno;
  if (!translate(addr, &pgno).ok()) return false;
  uint64_t expect;
  std::memcpy(&expect, table_map_ + (layout_.table_entry_offset(pgno) - kTableOffset), 8);
  if (expect == 0) {
    const auto *b = static_cast<const uint8_t *>(page);
    return b[0] == 0 && std::memcmp(b, b + 1, layout_.page_size - 1) == 0;
  }
  return page_checksum(page, layout_.page_size, pgno) == expect;
}

namespace {

// Asks one of the arena's threads to stop (its flag, set under its lock) and joins it.
void stop_and_join(std::thread *&t, std::mutex &mu, bool &stop, std::condition_variable &cv) {
  if (!t) return;
  {
    std::lock_guard<std::mutex> lk(mu);
    stop = true;
  }
  cv.notify_all();
  t->join();
  delete t;
  t = nullptr;
}

}  // namespace

Arena::~Arena() {
  // A detached child leaks the thread handles: the threads do not exist in this process.
  if (!detached_) {
    stop_and_join(writer_, mu_, writer_stop_, writer_cv_);
    stop_and_join(bg_, bg_mu_, bg_stop_, bg_cv_);
  }
  unregister_for_fork(this);
  tracker_.reset();
  if (table_map_) munmap(const_cast<uint8_t *>(table_map_), layout_.table_bytes);
  if (mapped_) munmap(base(), layout_.max_size);
  if (snap_) munmap(snap_, snap_bytes_);
}

Status Arena::close() {
  if (detached_) return ok_status();
  stop_and_join(writer_, mu_, writer_stop_, writer_cv_);  // it writes what it was handed first
  stop_and_join(bg_, bg_mu_, bg_stop_, bg_cv_);
  std::lock_guard<std::mutex> cl(ckpt_mu_);
  std::unique_lock<std::mutex> lk(mu_);
  if (!poisoned_.ok()) return ok_status();  // leave the logs for the next open's recovery
  // Fold the logs into the data file so the next open has nothing to replay.
  return checkpoint(lk);
}

Status Arena::checkpoint_if_large() {
  if (detached_) return ok_status();
  std::lock_guard<std::mutex> cl(ckpt_mu_);
  std::unique_lock<std::mutex> lk(mu_);
  if (!poisoned_.ok()) return ok_status();
  const uint64_t logged = (logs_[0].end - kLogHeaderBytes) + (logs_[1].end - kLogHeaderBytes);
  if (logged < opts_.checkpoint_bytes) return ok_status();
  return checkpoint(lk);
}

uint64_t Arena::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return staged_.size;
}

uint64_t Arena::epoch() const {
  std::lock_guard<std::mutex> lk(mu_);
  return epoch_;
}

Status Arena::translate(uintptr_t page, uint64_t *pgno) const {
  if (page >= layout_.base && page < layout_.base + layout_.max_size) {
    *pgno = layout_.arena_pgno(page);
    return ok_status();
  }
  for (const LiveRegion &r : regions_)
    if (page >= r.addr && page < r.addr + r.len) {
      *pgno = layout_.zone_pgno(r.zone_offset + (page - r.addr));
      return ok_status();
    }
  return {PALLOC_E_INVALID, "tracked page " + addr_hex(page) + " belongs to no arena range"};
}

bool Arena::address_of(uint64_t pgno, uintptr_t *addr) const {
  const uint64_t off = pgno * layout_.page_size;
  if (off >= layout_.data_offset && off - layout_.data_offset < layout_.max_size) {
    *addr = layout_.base + (off - layout_.data_offset);
    return true;
  }
  for (const LiveRegion &r : regions_) {
    const uint64_t start = kRegionZoneOffset + r.zone_offset;
    if (off >= start && off - start < r.len) {
      *addr = r.addr + (off - start);
      return true;
    }
  }
  return false;
}

Status Arena::commit(uint64_t *out_epoch) {
  uint64_t epoch = 0;
  PALLOC_TRY(commit_capture(&epoch));
  PALLOC_TRY(commit_wait(epoch));
  *out_epoch = epoch;
  return ok_status();
}

Status Arena::commit_capture(uint64_t *out_epoch) { return capture(out_epoch, nullptr, false); }

Status Arena::commit_capture_stopped(uint64_t *out_epoch, const std::function<void()> &resume, bool background) {
  bool resumed = false;
  const std::function<void()> once = [&] {
    if (!resumed) resume();
    resumed = true;
  };
  Status s = capture(out_epoch, &once, background);
  once();
  return s;
}

void Arena::wait_written() {
  std::unique_lock<std::mutex> lk(mu_);
  await_written(lk);
}

void Arena::await_written(std::unique_lock<std::mutex> &lk) {
  written_cv_.wait(lk, [this] { return !inflight_; });
}

uint8_t *Arena::snapshot_buffer(size_t bytes) {
  if (bytes <= snap_bytes_) return snap_;
  // Grown with room to spare and by mremap, which keeps the pages already faulted in.
  const size_t ps = layout_.page_size;
  const size_t want = std::min(kSnapshotBufferMax, (bytes + bytes / 4 + ps - 1) / ps * ps);
  void *p = snap_ ? mremap(snap_, snap_bytes_, want, MREMAP_MAYMOVE)
                  : mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;  // the old buffer, if any, is still mapped
  snap_ = static_cast<uint8_t *>(p);
  snap_bytes_ = want;
  return snap_;
}

void Arena::snapshot_buffer_trim(size_t used) {
  // Keep what a steady writer needs; give back most of what one large commit left.
  if (!snap_ || used >= snap_bytes_ / 4) return;
  const size_t ps = layout_.page_size;
  const size_t keep = std::min(snap_bytes_, (2 * used + ps - 1) / ps * ps);
  if (keep == 0) {
    munmap(snap_, snap_bytes_);
    snap_ = nullptr;
  } else {
    munmap(snap_ + keep, snap_bytes_ - keep);
  }
  snap_bytes_ = keep;
}

// Collects the dirty pages and appends them as the next record. With `resume` (every
// writer is stopped until it is called), pages are first copied aside, `resume` is
// called, and the copies are checksummed and written while the program runs again, here
// or (background) by the writer thread.
Status Arena::capture(uint64_t *out_epoch, const std::function<void()> *resume, bool background) {
  if (detached_)
    return {PALLOC_E_DETACHED, "this process is a fork() child of the arena's owner; only the owner may commit"};
  std::unique_lock<std::mutex> lk(mu_);
  await_written(lk);  // records go to the log in order
  if (!poisoned_.ok()) return poisoned_;
  auto c = std::make_unique<Capture>();
  c->t0 = now_monotonic_ns();
  c->dirty.swap(pending_);
  Status s = tracker_->collect(&c->dirty);
  if (!s.ok()) {
    // Pages the scan re-armed before it failed would be missed by every later commit.
    poisoned_ = s.with_context("commit failed and dirty tracking is lost; reopen the arena");
    return poisoned_;
  }
  std::vector<uintptr_t> &dirty = c->dirty;
  std::sort(dirty.begin(), dirty.end());
  dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
  if (free_filter_) {
    // Free memory is left out; it is not written again, so a failure does not need it.
    const size_t kept = free_filter_(dirty.data(), dirty.size());
    tracker_->left_out(dirty.data() + kept, dirty.size() - kept);
    stat_last_free_ = dirty.size() - kept;
    dirty.resize(kept);
  }

  std::vector<PageRef> pages;
  pages.reserve(dirty.size());
  for (uintptr_t a : dirty) {
    if (a >= layout_.base + staged_.size && a < layout_.base + layout_.max_size) continue;  // beyond the size
    uint64_t pgno;
    if (Status t = translate(a, &pgno); !t.ok()) {
      pending_ = std::move(dirty);
      return t;
    }
    pages.push_back({reinterpret_cast<const void *>(a), pgno});
  }
  c->epoch = epoch_ + 1;
  c->state = staged_;
  uint64_t durable;
  {
    std::lock_guard<std::mutex> sl(sync_mu_);
    durable = durable_epoch_;
  }
  // Pages written but unchanged (a reference count raised and dropped again) are left
  // out: the writer compares each page's checksum with what the last commit wrote.
  s = c->writer.begin(&logs_[active_], seed_, layout_.page_size, c->epoch, pages.size(), encode_state(c->state),
                      durable, skip_unchanged_ ? &page_hash_ : nullptr);
  c->writer.lend_batch(&copy_batch_);  // add_live runs here only, under mu_
  if (s.ok() && resume) {
    // Pages beyond what the buffer may hold are written now; the rest are copied aside.
    const size_t ps = layout_.page_size;
    size_t n = std::min(pages.size(), kSnapshotBufferMax / ps);
    uint8_t *buf = n ? snapshot_buffer(n * ps) : nullptr;
    if (!buf) n = 0;  // no memory for copies: everything is written with the program stopped
    s = c->writer.add_live(pages.data() + n, pages.size() - n);
    if (s.ok()) {
      c->pgnos.resize(n);
      for (size_t i = 0; i < n; i++) {
        std::memcpy(buf + i * ps, pages[i].addr, ps);
        c->pgnos[i] = pages[i].pgno;
      }
    }
    (*resume)();
  } else if (s.ok()) {
    s = c->writer.add_live(pages.data(), pages.size());
  }
  if (!s.ok()) return commit_failed(s, *c);
  *out_epoch = c->epoch;
  if (background) {
    if (!writer_) writer_ = new std::thread([this] { writer_loop(); });
    inflight_ = std::move(c);
    writer_cv_.notify_all();
    return ok_status();
  }
  bool want_checkpoint = false;
  s = complete(*c, &want_checkpoint);
  lk.unlock();
  if (want_checkpoint) request_checkpoint();
  return s;
}

// Writes the copies of a capture and finishes its record; the commit is then done.
Status Arena::complete(Capture &c, bool *want_checkpoint) {
  Status s = c.writer.add_copies(snap_, c.pgnos.data(), c.pgnos.size());
  snapshot_buffer_trim(c.pgnos.size() * layout_.page_size);
  uint64_t bytes = 0;
  if (s.ok()) s = c.writer.finish(&bytes);
  if (!s.ok()) return commit_failed(s, c);
  const std::vector<RecordEntry> &written = c.writer.entries();
  if (skip_unchanged_) {
    // Grown once, to the highest page: growing to each entry's page in turn copied the
    // table again at every higher page (tens of ms at the first commit after a resume of
    // a 4 GiB heap).
    uint64_t top = 0;
    for (const RecordEntry &e : written) top = std::max(top, e.pgno);
    if (!written.empty() && top >= page_hash_.size())
      page_hash_.resize(std::max<size_t>(top + 1, page_hash_.size() * 3 / 2), 0);
    for (const RecordEntry &e : written) page_hash_[e.pgno] = e.checksum;
    std::vector<uintptr_t> unchanged;
    unchanged.reserve(c.writer.unchanged_pages().size());
    for (uint64_t pgno : c.writer.unchanged_pages()) {
      uintptr_t addr;
      if (address_of(pgno, &addr)) unchanged.push_back(addr);
    }
    tracker_->unchanged(unchanged.data(), unchanged.size());
  }
  epoch_ = c.epoch;
  committed_ = c.state;
  last_commit_unix_ns_ = now_unix_ns();
  stat_commits_++;
  stat_pages_ += written.size();
  stat_bytes_ += bytes;
  stat_last_pages_ = written.size();
  last_capture_start_ns_ = c.t0;
  stat_last_ns_ = now_monotonic_ns() - c.t0;
  *want_checkpoint = logs_[active_].end >= opts_.checkpoint_bytes;
  return ok_status();
}

Status Arena::commit_failed(const Status &s, const Capture &c) {
  pending_.insert(pending_.end(), c.dirty.begin(), c.dirty.end());  // the next commit writes them
  return s.with_context("commit of epoch " + std::to_string(c.epoch) + " failed; epoch " + std::to_string(epoch_) +
                        " is intact");
}

void Arena::request_checkpoint() {
  std::lock_guard<std::mutex> bl(bg_mu_);
  bg_checkpoint_ = true;
  bg_cv_.notify_all();
}

// The writer thread: finishes the records that background commits hand over, in order.
void Arena::writer_loop() {
  RuntimeScope runtime;  // this thread's allocations are palloc's own, never the heap's
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    writer_cv_.wait(lk, [this] { return writer_stop_ || inflight_; });
    if (!inflight_) return;  // stopped, nothing left to write
    bool want_checkpoint = false;
    Status s = complete(*inflight_, &want_checkpoint);
    if (!s.ok()) write_error_ = s;
    inflight_.reset();
    written_cv_.notify_all();
    lk.unlock();
    if (want_checkpoint) request_checkpoint();
    if (s.ok()) sync_in_background();
    lk.lock();
  }
}

void Arena::sync_in_background() {
  if (opts_.durability != PALLOC_DURABILITY_SYNC) return;  // async: the loop syncs anyway; none: never
  std::lock_guard<std::mutex> bl(bg_mu_);
  bg_sync_ = true;
  bg_cv_.notify_all();
}

void Arena::set_free_page_filter(FreePageFilter filter) {
  std::lock_guard<std::mutex> lk(mu_);
  free_filter_ = filter;
}

uint64_t Arena::last_free_pages() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stat_last_free_;
}

void Arena::skip_unchanged_pages(bool on) {
  std::lock_guard<std::mutex> lk(mu_);
  skip_unchanged_ = on && tracker_ && std::strcmp(tracker_->name(), "uffd") == 0;  // hash compares already
  if (!skip_unchanged_) page_hash_.clear();
  // The comparison tells the tracker which pages it may protect again.
  if (tracker_) tracker_->keep_hot_pages_writable(skip_unchanged_);
}

Status Arena::commit_wait(uint64_t epoch) {
  {
    std::unique_lock<std::mutex> lk(mu_);
    await_written(lk);
    if (epoch_ < epoch) return write_error_.ok() ? Status{PALLOC_E_INVALID, "commit_wait: no such commit"} : write_error_;
  }
  if (opts_.durability == PALLOC_DURABILITY_SYNC) PALLOC_TRY(wait_durable(epoch));
  std::lock_guard<std::mutex> lk(mu_);
  if (epoch == epoch_) stat_last_ns_ = now_monotonic_ns() - last_capture_start_ns_;
  return ok_status();
}

Status Arena::wait_durable(uint64_t epoch) {
  std::unique_lock<std::mutex> sl(sync_mu_);
  while (durable_epoch_ < epoch) {
    if (syncing_) {
      sync_cv_.wait(sl);  // another thread's fdatasync may cover this epoch too
      continue;
    }
    syncing_ = true;
    sl.unlock();
    uint64_t target;
    int fd, other_fd = -1;
    std::string what, other_what;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!poisoned_.ok()) {
        sl.lock();
        syncing_ = false;
        sync_cv_.notify_all();
        return poisoned_;
      }
      target = epoch_;
      fd = logs_[active_].fd.get();
      what = logs_[active_].path;
      // A log being folded into the data file may hold epochs up to target that are
      // not on disk yet: it is synced too (a no-op once the checkpoint has synced it).
      if (logs_[1 - active_].end != kLogHeaderBytes) {
        other_fd = logs_[1 - active_].fd.get();
        other_what = logs_[1 - active_].path;
      }
    }
    Status s = other_fd >= 0 ? fdatasync_checked(other_fd, other_what) : ok_status();
    if (s.ok()) s = fdatasync_checked(fd, what);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lk(mu_);
      // After a failed fdatasync the kernel may have dropped the dirty pages: the log's
      // contents are unknown, so no later commit may be acknowledged on top of it.
      poisoned_ = s.with_context("the log could not be synced; commits not yet on disk may be lost; reopen the arena");
    }
    sl.lock();
    syncing_ = false;
    if (s.ok()) durable_epoch_ = std::max(durable_epoch_, target);
    sync_cv_.notify_all();
    if (!s.ok()) return s;
  }
  return ok_status();
}

Status Arena::sync() {
  uint64_t e;
  {
    std::unique_lock<std::mutex> lk(mu_);
    await_written(lk);  // what was committed includes it
    e = epoch_;
  }
  return wait_durable(e);
}

// Switches to the other log, copies the old one into the data file, then empties it.
// Called with mu_ held (lk); releases it for everything that waits for the disk, so
// commits go on meanwhile (into the other log). If an earlier checkpoint failed
// part-way, its log is still full: that one is finished first. Returns with lk held.
Status Arena::checkpoint(std::unique_lock<std::mutex> &lk) {
  await_written(lk);  // its record is half in the active log
  for (int round = 0; round < 2; round++) {
    // After a failed sync the switched-out log may not be on disk: never fold it in.
    if (!poisoned_.ok()) return poisoned_;
    unsigned old;
    const bool unfinished = logs_[1 - active_].end != kLogHeaderBytes;
    if (unfinished) {
      old = 1 - active_;  // its records were synced when it was switched out
      lk.unlock();
    } else {
      if (logs_[active_].end == kLogHeaderBytes) return ok_status();
      old = active_;
      const uint64_t last = epoch_;
      active_ = 1 - old;
      lk.unlock();
      // Its records must be on disk before any of them reaches the data file
      // (wait_durable syncs the log being folded in as well as the active one).
      if (Status s = wait_durable(last); !s.ok()) {
        lk.lock();
        return s.with_context("checkpoint");
      }
    }

    uint64_t ckpt_epoch = 0;
    Status s = [&]() -> Status {
      LogScan scan;
      PALLOC_TRY(log_scan(logs_[old], layout_, seed_, false, &scan));
      if (scan.torn_tail || scan.records.empty())
        return {PALLOC_E_CORRUPT, logs_[old].path + " does not read back as written (" + scan.tail_problem + ")"};
      const RecordInfo &last = scan.records.back();
      DataHeader h = data_.header;
      h.checkpoint_epoch = ckpt_epoch = last.header.epoch;
      h.checkpoint_unix_ns = last.header.unix_ns;
      h.state = last.state;
      std::vector<RecordInfo> recs;
      for (RecordInfo &r : scan.records)
        if (r.header.epoch > data_.header.checkpoint_epoch) recs.push_back(std::move(r));
      PALLOC_TRY(data_apply_records(&data_, logs_, recs));
      PALLOC_TRY(data_write_header(&data_, h));
      // Commits never touch the log being folded in, and only this thread changes it:
      // its file is emptied without mu_; stats() and wait_durable read its fields under mu_.
      const uint64_t seq = std::max(logs_[0].header.seq, logs_[1].header.seq) + 1;
      PALLOC_TRY(log_empty_file(logs_[old], seq));
      std::lock_guard<std::mutex> relock(mu_);
      log_mark_empty(&logs_[old], seq);
      return ok_status();
    }();

    lk.lock();
    if (!s.ok()) {
      // The data file may hold part of the copy, but its header still names the previous
      // checkpoint and the old log is intact: the next checkpoint, or recovery, redoes it.
      return s.with_context("checkpoint");
    }
    checkpoint_epoch_ = ckpt_epoch;
    stat_checkpoints_++;
    if (!unfinished) break;  // after finishing an old one, go round once more for the active log
  }
  return ok_status();
}

void Arena::background_loop() {
  RuntimeScope runtime;  // this thread's allocations are palloc's own, never the heap's
  const bool async = opts_.durability == PALLOC_DURABILITY_ASYNC;
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(1, opts_.async_bound_ms / 2));
  std::unique_lock<std::mutex> bl(bg_mu_);
  while (!bg_stop_) {
    if (async)
      bg_cv_.wait_for(bl, period);
    else
      bg_cv_.wait(bl, [this] { return bg_stop_ || bg_checkpoint_ || bg_sync_; });
    if (bg_stop_) break;
    const bool ckpt = bg_checkpoint_, want_sync = bg_sync_;
    bg_checkpoint_ = bg_sync_ = false;
    bl.unlock();
    if (async || want_sync) (void)wait_durable(epoch());
    if (ckpt) {
      std::lock_guard<std::mutex> cl(ckpt_mu_);
      std::unique_lock<std::mutex> lk(mu_);
      (void)checkpoint(lk);
    }
    bl.lock();
  }
}

Status Arena::grow(uint64_t new_size) {
  new_size = round_up(new_size, layout_.page_size);
  std::lock_guard<std::mutex> lk(mu_);
  const uint64_t old = staged_.size;
  if (new_size <= old) return ok_status();
  if (new_size > layout_.max_size)
    return {PALLOC_E_NOMEM, "the arena cannot grow to " + std::to_string(new_size) + " bytes: its maximum is " +
                                std::to_string(layout_.max_size) + " (set when it was created)"};
  if (detached_) {
    // A fork() child's copy is private and never committed: it grows in memory only.
    void *at = reinterpret_cast<void *>(layout_.base + old);
    void *p = mmap(at, new_size - old, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) return errno_status(errno, "mapping new arena memory in a fork() child");
    staged_.size = new_size;
    return ok_status();
  }
  PALLOC_TRY(data_reserve_arena(data_.fd.get(), layout_, old, new_size, path_));
  // Fresh anonymous memory: zeros, like the file's new extent, and cheaper to touch.
  void *at = reinterpret_cast<void *>(layout_.base + old);
  void *p = mmap(at, new_size - old, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return errno_status(errno, "mapping new arena memory");
  madvise(p, new_size - old, MADV_NOHUGEPAGE);
  PALLOC_TRY(tracker_->track(p, new_size - old, false));
  staged_.size = new_size;
  return ok_status();
}

Status Arena::root_set(unsigned slot, uint64_t value) {
  if (slot >= PALLOC_ROOT_SLOTS)
    return {PALLOC_E_INVALID, "root slot " + std::to_string(slot) + " out of range (0-" +
                                  std::to_string(PALLOC_ROOT_SLOTS - 1) + ")"};
  std::lock_guard<std::mutex> lk(mu_);
  staged_.roots[slot].value = value;
  return ok_status();
}

uint64_t Arena::root_get(unsigned slot) const {
  if (slot >= PALLOC_ROOT_SLOTS) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  return staged_.roots[slot].value;
}

Status Arena::root_set_named(const std::string &name, uint64_t value) {
  if (name.empty() || name.size() > PALLOC_ROOT_NAME_MAX)
    return {PALLOC_E_INVALID, "root names are 1 to " + std::to_string(PALLOC_ROOT_NAME_MAX) + " characters"};
  std::lock_guard<std::mutex> lk(mu_);
  Root *free_slot = nullptr;
  for (Root &r : staged_.roots) {
    if (r.name == name) {
      r.value = value;
      return ok_status();
    }
    if (!free_slot && r.name.empty() && r.value == 0) free_slot = &r;
  }
  if (!free_slot) return {PALLOC_E_NOMEM, "all " + std::to_string(PALLOC_ROOT_SLOTS) + " root slots are in use"};
  free_slot->name = name;
  free_slot->value = value;
  return ok_status();
}

Status Arena::root_get_named(const std::string &name, uint64_t *value) const {
  std::lock_guard<std::mutex> lk(mu_);
  for (const Root &r : staged_.roots)
    if (!name.empty() && r.name == name) {
      *value = r.value;
      return ok_status();
    }
  return {PALLOC_E_NOT_FOUND, "no root named '" + name + "'"};
}

Status Arena::region_register(const std::string &name, void *addr, uint64_t len, int *restored) {
  const uint64_t ps = layout_.page_size;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  if (name.empty() || name.size() > kRegionNameMax)
    return {PALLOC_E_INVALID, "region names are 1 to " + std::to_string(kRegionNameMax) + " characters"};
  if (a % ps || len % ps || len == 0) return {PALLOC_E_INVALID, "region " + name + " must be page-aligned and non-empty"};
  if (detached_) return {PALLOC_E_DETACHED, "a fork() child cannot register regions"};
  // A region inside a loaded binary (its writable data) is only valid with that very
  // binary at that very address: record its identity so open can verify it.
  BinaryRecord owner;
  const bool in_binary = binary_containing(addr, &owner).ok();
  std::lock_guard<std::mutex> lk(mu_);
  for (const LiveRegion &r : regions_)
    if (r.name == name) return {PALLOC_E_EXISTS, "region " + name + " is already registered"};
  if (regions_.size() >= kMaxRegions) return {PALLOC_E_NOMEM, "at most 64 regions"};
  if (restored) *restored = 0;
  LiveRegion live{name, a, len, 0};
  auto it = std::find_if(staged_.regions.begin(), staged_.regions.end(),
                         [&](const RegionRecord &r) { return r.name == name; });
  if (it != staged_.regions.end()) {
    if (it->length != len)
      return {PALLOC_E_INVALID, "region " + name + " was " + std::to_string(it->length) + " bytes when committed, now " +
                                    std::to_string(len) + "; the binary it belongs to probably changed"};
    live.zone_offset = it->zone_offset;
    const bool committed = std::any_of(committed_.regions.begin(), committed_.regions.end(),
                                       [&](const RegionRecord &r) { return r.name == name; });
    if (committed) {
      PALLOC_TRY(pread_full(data_.fd.get(), addr, len, kRegionZoneOffset + it->zone_offset, path_ + " (region " + name + ")"));
      if (restored) *restored = 1;
    }
    PALLOC_TRY(tracker_->track(addr, len, true));
  } else {
    if (staged_.region_zone_used + len > kRegionZoneBytes)
      return {PALLOC_E_NOMEM, "regions may hold at most 64 MiB in all"};
    live.zone_offset = staged_.region_zone_used;
    PALLOC_TRY(reserve_space(data_.fd.get(), kRegionZoneOffset + live.zone_offset, len, false, path_));
    PALLOC_TRY(tracker_->track(addr, len, true));
    staged_.regions.push_back({name, live.zone_offset, len});
    staged_.region_zone_used += len;
    for (uint64_t off = 0; off < len; off += ps) pending_.push_back(a + off);  // first commit saves it whole
  }
  regions_.push_back(live);
  if (in_binary) PALLOC_TRY(add_binary(owner));
  return ok_status();
}

// Records a binary the image depends on (replacing an older identity for the same path).
Status Arena::add_binary(const BinaryRecord &b) {
  for (BinaryRecord &have : staged_.binaries)
    if (have.path == b.path) {
      have = b;
      return ok_status();
    }
  if (staged_.binaries.size() >= kMaxBinaries) return {PALLOC_E_NOMEM, "at most 128 binaries"};
  staged_.binaries.push_back(b);
  return ok_status();
}

Status Arena::depend_on(const void *addr) {
  BinaryRecord b;
  PALLOC_TRY(binary_containing(addr, &b));
  std::lock_guard<std::mutex> lk(mu_);
  return add_binary(b);
}

void Arena::stats(palloc_stats *out) const {
  std::lock_guard<std::mutex> lk(mu_);
  *out = {};
  out->epoch = epoch_;
  {
    std::lock_guard<std::mutex> sl(sync_mu_);
    out->durable_epoch = durable_epoch_;
  }
  out->size = staged_.size;
  out->max_size = layout_.max_size;
  out->page_size = layout_.page_size;
  out->last_commit_pages = stat_last_pages_;
  out->last_commit_ns = stat_last_ns_;
  out->last_commit_unix_ns = last_commit_unix_ns_;
  out->commits = stat_commits_;
  out->pages_written = stat_pages_;
  out->bytes_written = stat_bytes_;
  out->log_bytes = logs_[0].end + logs_[1].end;
  out->checkpoints = stat_checkpoints_;
  out->checkpoint_epoch = checkpoint_epoch_;
  out->tracker = tracker_ ? tracker_->name() : "none";
  out->durability = durability_name(opts_.durability);
}

void Arena::detach_after_fork() {
  // Runs in the child right after fork(): no locks may be taken (another thread of the
  // parent may have held them). Closing the child's copies of the descriptors leaves the
  // parent's flock in place and makes sure this copy can never write the files.
  detached_ = true;
  ::close(data_.fd.release());
  for (LogFile &log : logs_) ::close(log.fd.release());
  // The parent's threads that held these locks or waited on these condition variables
  // at the fork do not exist here. Give the copy fresh ones (reusing the storage ends
  // the old objects' lifetime): destroying a condition variable with phantom waiters
  // blocks forever, so palloc_close in the child would hang.
  new (&mu_) std::mutex();
  new (&sync_mu_) std::mutex();
  new (&bg_mu_) std::mutex();
  new (&sync_cv_) std::condition_variable();
  new (&bg_cv_) std::condition_variable();
  new (&written_cv_) std::condition_variable();
  new (&writer_cv_) std::condition_variable();
  // A record the parent's writer thread had still to write is never written here (and
  // its memory is left alone: nothing may be freed in this handler).
  (void)inflight_.release();
}

}  // namespace palloc
