// torture.cpp — palloc-torture: SIGKILLs a committing process at random moments and
// checks every recovery against a model of what was acknowledged.
//
// Each round starts a child (fork + exec of this binary with --child) that recovers
// the arena, reports the recovered epoch and a digest of the whole state, waits for the
// parent's go-ahead, then commits deterministic epochs and acknowledges each one. The
// parent kills it after a random number of acks plus a random delay (microseconds to
// milliseconds, so kills land inside commits, checkpoints and recoveries alike). The
// next child's report is checked against the model: its epoch must be the last acked
// one or the next (that commit may have reached the log before its ack was written),
// and its digest must equal the model's at that epoch. Every so often, and at the end,
// the parent reopens the arena itself and compares every byte.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "protocol.h"
#include "rng.h"
#include "torture_child.h"
#include "torture_lua.h"
#include "torture_options.h"
#include "torture_run.h"
#include "workload.h"

namespace fs = std::filesystem;

namespace crash {
namespace {

constexpr uint64_t kWatchdogNs = 60ull * 1000 * 1000 * 1000;  // a child that says nothing this long hangs
constexpr unsigned kKeptFailures = 3;                         // arena copies kept for post-mortems

struct Child {
  pid_t pid = -1;
  int msg_fd = -1;  // read end of the child's messages
  int go_fd = -1;   // write end of the go-ahead pipe
  std::string pending;
  bool eof = false;
  bool opened = false;
  bool refused = false;  // the parent found the recovered state wrong: kill at once
  uint64_t acks = 0;
};

class Torture {
 public:
  explicit Torture(const TortureOptions &o)
      : o_(o), params_(workload_params(o)), model_(params_), rng_(o.seed * 0x2545f4914f6cdd1dull + 7) {}

  int run();

 private:
  bool setup(std::string *error);
  bool spawn(Child *c, std::string *error);
  void round();
  void pump(Child &c, uint64_t timeout_ns);
  void handle(Child &c, const Message &m, const std::string &text);
  bool settle(uint64_t recovered, const std::string &who);
  void full_check();
  void failure(const std::string &what);
  void reset_arena();
  void progress(bool final);
  uint64_t pick_delay_ns(uint64_t max_ns);

  TortureOptions o_;
  WorkloadParams params_;
  Model model_;
  Rng rng_;
  std::string self_;
  bool own_dir_ = false;
  SharedStatus *status_ = nullptr;
  int status_fd_ = -1;
  uint64_t start_ns_ = 0;
  bool reset_pending_ = false;
  bool diagnose_ = false;    // compare the files in detail after this round
  bool diagnosing_ = false;  // failures found now are details of one already counted

  // Results.
  uint64_t kills_ = 0, lost_ = 0, corrupt_ = 0;
  uint64_t acks_ = 0, next_recovered_ = 0, checkpoints_ = 0, full_checks_ = 0;
  uint64_t max_log_bytes_ = 0, max_epoch_ = 0, failures_kept_ = 0;
  uint64_t phase_kills_[kPhaseCount] = {};
  bool saw_uffd_ = false, saw_hash_ = false;
};

bool Torture::setup(std::string *error) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    *error = std::string("readlink /proc/self/exe: ") + strerror(errno);
    return false;
  }
  self_.assign(buf, static_cast<size_t>(n));

  if (!make_run_dir(&o_, "palloc-torture", &own_dir_, error)) return false;
  reset_arena();  // a run always starts from a fresh arena

  status_fd_ = memfd_create("palloc-torture-status", MFD_CLOEXEC);
  if (status_fd_ < 0 || ftruncate(status_fd_, sizeof(SharedStatus)) != 0) {
    *error = std::string("memfd for the status page: ") + strerror(errno);
    return false;
  }
  void *p = mmap(nullptr, sizeof(SharedStatus), PROT_READ | PROT_WRITE, MAP_SHARED, status_fd_, 0);
  if (p == MAP_FAILED) {
    *error = std::string("mapping the status page: ") + strerror(errno);
    return false;
  }
  status_ = static_cast<SharedStatus *>(p);
  signal(SIGPIPE, SIG_IGN);  // a go-ahead written to a child that just died must not kill us
  return true;
}

bool Torture::spawn(Child *c, std::string *error) {
  int msg[2], go[2];
  if (pipe2(msg, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  status_->phase = kPhaseStarting;
  status_->checkpoints = 0;
  status_->log_bytes = 0;

  std::vector<std::string> args = child_arguments(o_);
  std::vector<char *> argv;
  argv.push_back(self_.data());
  for (std::string &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid == 0) {
    // dup2 clears close-on-exec on the copies: exactly these three survive exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(msg[1], kChildMsgFd) < 0 || dup2(go[0], kChildGoFd) < 0 || dup2(status_fd_, kChildStatusFd) < 0)
      _exit(120);
    execv(self_.c_str(), argv.data());
    _exit(121);
  }
  close(msg[1]);
  close(go[0]);
  c->pid = pid;
  c->msg_fd = msg[0];
  c->go_fd = go[1];
  return true;
}

void Torture::pump(Child &c, uint64_t timeout_ns) {
  if (c.eof) return;
  struct pollfd pfd = {c.msg_fd, POLLIN, 0};
  struct timespec ts = {static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  int r = ppoll(&pfd, 1, &ts, nullptr);
  if (r <= 0) return;
  char buf[65536];
  ssize_t n = read(c.msg_fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    c.eof = true;
    return;
  }
  c.pending.append(buf, static_cast<size_t>(n));
  while (c.pending.size() >= sizeof(Message)) {
    Message m;
    std::memcpy(&m, c.pending.data(), sizeof m);
    if (c.pending.size() < sizeof m + m.text_len) break;
    std::string text = c.pending.substr(sizeof m, m.text_len);
    c.pending.erase(0, sizeof m + m.text_len);
    handle(c, m, text);
  }
}

void Torture::handle(Child &c, const Message &m, const std::string &text) {
  if (c.refused) return;  // one failure per child: what follows it would only echo it
  switch (m.type) {
    case kMsgOpened:
    case kMsgReopened: {
      const bool reopen = m.type == kMsgReopened;
      const std::string who = "child " + std::to_string(c.pid) + (reopen ? " (reopening after palloc_close)" : "");
      c.opened = true;
      (m.d & kOpenedUffd ? saw_uffd_ : saw_hash_) = true;
      if (reopen && m.a != model_.epoch()) {
        // Nothing was killed in between: the epoch it committed last must come back.
        failure(who + " got epoch " + std::to_string(m.a) + " back, but epoch " + std::to_string(model_.epoch()) +
                " was the last it committed");
        c.refused = true;
        return;
      }
      if (!settle(m.a, who)) {
        c.refused = true;
        return;
      }
      std::string problem;
      if (bool(m.d & kOpenedRestored) != (model_.epoch() > 0))
        problem = std::string("palloc_region_register ") + (m.d & kOpenedRestored ? "restored" : "did not restore") +
                  " the region; every commit since the first includes it";
      else if (m.b != model_.size() || m.c != model_.digest())
        problem = "size " + std::to_string(m.b) + " and state digest " + std::to_string(m.c) + ", the model has size " +
                  std::to_string(model_.size()) + " and digest " + std::to_string(model_.digest()) +
                  " (content, roots or region differ)";
      if (!problem.empty()) {
        failure(who + " recovered epoch " + std::to_string(m.a) + " with " + problem);
        c.refused = true;
        diagnose_ = true;  // once it is dead, the files hold what it recovered (or later commits): compare
        return;
      }
      if (!reopen) {
        char go = 1;
        (void)!write(c.go_fd, &go, 1);
      }
      return;
    }
    case kMsgAck: {
      std::string error;
      if (m.a != model_.epoch() + 1) {
        failure("child acknowledged epoch " + std::to_string(m.a) + " but the model is at " +
                std::to_string(model_.epoch()));
        c.refused = true;
        return;
      }
      if (!model_.advance_to(m.a, &error)) {
        failure("model: " + error);
        c.refused = true;
        return;
      }
      c.acks++;
      acks_++;
      max_epoch_ = std::max(max_epoch_, m.a);
      return;
    }
    case kMsgError:
      failure("child " + std::to_string(c.pid) + ": " + text);
      c.refused = true;
      return;
    default: failure("child sent an unknown message type " + std::to_string(m.type)); c.refused = true;
  }
}

// Reconciles the model with the epoch a recovery produced.
bool Torture::settle(uint64_t recovered, const std::string &who) {
  const uint64_t acked = model_.epoch();
  std::string error;
  if (recovered == acked) return true;
  if (recovered == acked + 1) {  // durable before its ack was sent: allowed
    next_recovered_++;
    if (model_.advance_to(recovered, &error)) return true;
    failure("model: " + error);
    return false;
  }
  if (recovered < acked) {
    lost_++;
    fprintf(stderr,
            "LOST after %" PRIu64 " kills: %s recovered epoch %" PRIu64 " but epoch %" PRIu64 " was acknowledged\n",
            kills_, who.c_str(), recovered, acked);
    if (model_.rebuild_at(recovered, &error)) return true;  // go on from what survived
    failure("model: " + error);
    return false;
  }
  failure(who + " recovered epoch " + std::to_string(recovered) + " but only epoch " + std::to_string(acked) +
          " was acknowledged: an epoch beyond the next one cannot have been committed");
  return false;
}

void Torture::failure(const std::string &what) {
  if (diagnosing_) {
    fprintf(stderr, "  detail: %s\n", what.c_str());
    return;
  }
  corrupt_++;
  fprintf(stderr, "CORRUPT after %" PRIu64 " kills (model epoch %" PRIu64 "): %s\n", kills_, model_.epoch(),
          what.c_str());
  reset_pending_ = true;
}

// Opens the arena in this process and compares every byte, the size, the roots and
// the region.
void Torture::full_check() {
  const palloc_options opts = arena_options(o_, false);
  palloc_arena *a = nullptr;
  palloc_status s = palloc_open(arena_path(o_).c_str(), &opts, &a);
  if (s == PALLOC_E_NOT_FOUND && model_.epoch() == 0) return;  // killed before it was ever created
  if (s != PALLOC_OK) {
    failure(std::string("full check: palloc_open failed: ") + palloc_status_name(s) + ": " + palloc_last_error());
    return;
  }
  full_checks_++;
  const uint64_t region_bytes = kRegionPages * params_.page_size;
  void *region = mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (settle(palloc_epoch(a), "full check")) {
    std::string problems;
    const uint64_t size = palloc_size(a);
    if (size != model_.size())
      problems += " size " + std::to_string(size) + " (model " + std::to_string(model_.size()) + ");";
    const auto roots = arena_roots(a);
    for (unsigned i = 0; i < roots.size(); i++)
      if (roots[i] != model_.roots()[i])
        problems += " root " + std::to_string(i) + " = " + std::to_string(roots[i]) + " (model " +
                    std::to_string(model_.roots()[i]) + ");";
    int restored = 0;
    if (region == MAP_FAILED) {
      problems += " cannot map memory for the region;";
    } else if (palloc_status rs = palloc_region_register(a, "torture", region, region_bytes, &restored);
               rs != PALLOC_OK) {
      problems += std::string(" palloc_region_register: ") + palloc_status_name(rs) + ": " + palloc_last_error() + ";";
    } else if (bool(restored) != (model_.epoch() > 0)) {
      problems += restored ? " the region was restored at epoch 0;" : " the region was not restored;";
    } else if (std::memcmp(region, model_.region_data(), region_bytes) != 0) {
      problems += " the region differs;";
    }
    const auto *mem = static_cast<const uint8_t *>(palloc_base(a));
    unsigned bad_pages = 0;
    for (uint64_t off = 0; off < std::min(size, model_.size()); off += params_.page_size) {
      if (std::memcmp(mem + off, model_.data() + off, params_.page_size) == 0) continue;
      if (++bad_pages <= 8) {
        uint64_t i = 0;
        while (mem[off + i] == model_.data()[off + i]) i++;
        problems +=
            " page " + std::to_string(off / params_.page_size) + " differs from byte " + std::to_string(i) + ";";
      }
    }
    if (bad_pages > 8) problems += " ... " + std::to_string(bad_pages) + " pages differ in all;";
    if (!problems.empty()) failure("full check at epoch " + std::to_string(model_.epoch()) + ":" + problems);
  }
  s = palloc_close(a);
  if (region != MAP_FAILED) munmap(region, region_bytes);
  if (s != PALLOC_OK)
    failure(std::string("full check: palloc_close failed: ") + palloc_status_name(s) + ": " + palloc_last_error());
}

void Torture::reset_arena() {
  std::error_code ec;
  if (reset_pending_ && failures_kept_ < kKeptFailures) {
    const fs::path keep = fs::path(o_.dir) / ("failure-" + std::to_string(++failures_kept_));
    fs::create_directories(keep, ec);
    for (const auto &e : fs::directory_iterator(o_.dir, ec))
      if (e.path().filename().string().rfind("arena", 0) == 0) fs::copy_file(e.path(), keep / e.path().filename(), ec);
    fprintf(stderr, "  the arena's files are kept in %s\n", keep.c_str());
  }
  for (const auto &e : fs::directory_iterator(o_.dir, ec))
    if (e.path().filename().string().rfind("arena", 0) == 0) fs::remove(e.path(), ec);
  model_.reset();
  reset_pending_ = false;
}

// 10% at once, otherwise log-uniform between 1 us and max_ns.
uint64_t Torture::pick_delay_ns(uint64_t max_ns) {
  if (rng_.below(10) == 0) return 0;
  const double lo = std::log(1000.0), hi = std::log(static_cast<double>(max_ns));
  return static_cast<uint64_t>(std::exp(lo + (hi - lo) * rng_.unit()));
}

void Torture::round() {
  Child c;
  std::string error;
  if (!spawn(&c, &error)) {
    fprintf(stderr, "palloc-torture: %s\n", error.c_str());
    exit(2);
  }
  // One kill in eight targets recovery: it waits for the child to enter palloc_open.
  // The others wait for the recovered state to check out and for some commits.
  const bool early = rng_.below(8) == 0;
  const uint64_t want_acks = rng_.below(4) == 0 ? rng_.below(o_.max_acks * 4 + 1) : rng_.below(o_.max_acks + 1);
  const uint64_t delay = pick_delay_ns(early ? 3000000 : 5000000);

  const uint64_t watchdog = now_ns() + kWatchdogNs;
  auto waiting = [&](bool done) { return !done && !c.eof && !c.refused && now_ns() < watchdog; };
  if (early) {
    while (waiting(status_->phase.load() >= kPhaseOpening)) pump(c, 20000);
  } else {
    while (waiting(c.opened && c.acks >= want_acks)) pump(c, 1000000);
  }
  if (!c.eof && !c.refused && now_ns() >= watchdog)
    failure("child " + std::to_string(c.pid) + " made no progress for 60 s (phase " +
            phase_name(status_->phase.load()) + ")");
  // The delay: sleep in poll (still taking messages), spin the last few microseconds.
  for (const uint64_t end = now_ns() + delay; !c.eof && !c.refused;) {
    const uint64_t t = now_ns();
    if (t >= end) break;
    pump(c, end - t > 60000 ? end - t - 50000 : 0);
  }

  bool killed = false;
  if (!c.eof) killed = kill(c.pid, SIGKILL) == 0;
  int wstatus = 0;
  while (waitpid(c.pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const uint32_t phase = status_->phase.load();
  while (!c.eof) pump(c, 1000000000);  // the acks (or the error) it wrote before dying
  close(c.msg_fd);
  close(c.go_fd);
  if (killed && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) {
    kills_++;
    phase_kills_[std::min<uint32_t>(phase, kPhaseCount - 1)]++;
  } else if (!c.refused) {
    failure("child " + std::to_string(c.pid) + " ended on its own (" +
            (WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                : std::string("signal ") + strsignal(WTERMSIG(wstatus))) +
            ") in phase " + phase_name(phase));
  }
  if (diagnose_) {
    diagnosing_ = true;
    full_check();
    diagnosing_ = diagnose_ = false;
  }
  checkpoints_ += status_->checkpoints.load();
  max_log_bytes_ = std::max<uint64_t>(max_log_bytes_, status_->log_bytes.load());

  if (reset_pending_) {
    reset_arena();
  } else if (o_.full_check_every && kills_ % o_.full_check_every == 0 && killed) {
    full_check();
    if (reset_pending_) reset_arena();
  }
}

void Torture::progress(bool final) {
  const double secs = static_cast<double>(now_ns() - start_ns_) / 1e9;
  if (final) {
    printf("kills: %" PRIu64 " lost: %" PRIu64 " corrupt: %" PRIu64 "\n", kills_, lost_, corrupt_);
    printf("  tracker %s, durability %s, seed %" PRIu64 ", %" PRIu64 " pages, checkpoint at %" PRIu64
           " bytes, %.1f s\n",
           saw_uffd_ && saw_hash_ ? "uffd+hash"
           : saw_uffd_            ? "uffd"
           : saw_hash_            ? "hash"
                                  : tracker_name(o_.tracker),
           durability_name(o_.durability), o_.seed, o_.pages, o_.checkpoint_bytes, secs);
  } else {
    printf("[%7.1fs] kills: %" PRIu64 " lost: %" PRIu64 " corrupt: %" PRIu64 " epoch: %" PRIu64 "\n", secs, kills_,
           lost_, corrupt_, model_.epoch());
  }
  printf("  kills landed in:");
  for (unsigned p = 0; p < kPhaseCount; p++) printf(" %s %" PRIu64, phase_name(p), phase_kills_[p]);
  printf("\n  commits acknowledged %" PRIu64 ", highest epoch %" PRIu64 ", unacknowledged commit recovered %" PRIu64
         " times, checkpoints seen %" PRIu64 ", largest log %" PRIu64 " KiB, full checks %" PRIu64 "\n",
         acks_, max_epoch_, next_recovered_, checkpoints_, max_log_bytes_ >> 10, full_checks_);
  fflush(stdout);
}

int Torture::run() {
  if (int rc = start_run(o_, [this](std::string *error) { return setup(error); }); rc >= 0) return rc;
  printf("palloc-torture: %" PRIu64 " kills in %s (tracker %s, durability %s, seed %" PRIu64 ")\n", o_.kills,
         o_.dir.c_str(), tracker_name(o_.tracker), durability_name(o_.durability), o_.seed);
  fflush(stdout);
  start_ns_ = now_ns();
  run_rounds(o_, kills_, [this] { round(); }, [this] { progress(false); });
  full_check();  // the last recovery, compared byte for byte
  progress(true);
  return finish_run(o_, own_dir_, lost_, corrupt_);
}

}  // namespace
}  // namespace crash

int main(int argc, char **argv) {
  crash::TortureOptions opts;
  std::string text;
  if (int rc = crash::parse_torture_options(argc, argv, &opts, &text); rc >= 0) {
    fputs(text.c_str(), rc == 0 ? stdout : stderr);
    return rc;
  }
  if (opts.child) crash::run_child(opts);
  if (!opts.lua_persist.empty()) return crash::run_lua_torture(opts);
  return crash::Torture(opts).run();
}
