// torture_lua.cpp — palloc-torture --lua-persist: SIGKILLs lua-persist running
// torture_workload.lua at random moments and checks every resumed Lua state.
//
// Each round starts `lua-persist --arena DIR/lua.arena --durability D SCRIPT SEED`. The
// script keeps its whole state in Lua globals and prints a line for each event:
//   resumed STEP RECOMPUTED STORED   at start: the digest of the table it found, and the
//                                    digest stored with it
//   pre STEP DIGEST                  step STEP is applied; palloc.commit() comes next
//   ack STEP EPOCH LOG_BYTES         palloc.commit() returned
// The parent needs no model of the workload: a step's digest is the one printed at its
// `pre`. A start must resume the last acknowledged step, or the next one if its `pre` was
// seen (that commit may be durable before its ack is written); the table must hash to
// the digest stored with it, and that must be the one printed before the commit. A step
// run again after a kill must come out with the same digest as the first time, which
// also checks what the digest cannot see (a persisted closure, metatable, coroutine).
#include "torture_lua.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "palloc.h"
#include "rng.h"
#include "torture_run.h"

extern char **environ;

namespace fs = std::filesystem;

namespace crash {
namespace {

constexpr uint64_t kWatchdogNs = 60ull * 1000 * 1000 * 1000;  // a child that says nothing this long hangs
constexpr unsigned kKeptFailures = 3;                         // arenas kept for post-mortems
constexpr size_t kTranscriptLines = 200;                      // the children's last lines, kept with them
constexpr size_t kMaxStderr = 16384;                          // stderr kept per child

// Where a kill landed, told by the last line the child wrote before it.
enum LuaPhase : unsigned {
  kLuaStart,   // no line yet: exec, the launcher, resuming the heap, the digest walk
  kLuaStep,    // after `resumed` or `ack`: applying and digesting the next step
  kLuaCommit,  // after `pre`: inside palloc.commit(), or before its ack was written
  kLuaPhaseCount
};
const char *const kLuaPhaseNames[kLuaPhaseCount] = {"start", "step", "commit"};

struct LuaChild {
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  bool out_eof = false, err_eof = false;
  std::string out_pending, err_pending, err_text;
  bool resumed = false;
  bool refused = false;         // its state was found wrong: kill it at once
  uint64_t step = 0;            // the step it resumed or last acknowledged
  std::optional<uint64_t> pre;  // a step it announced and has not acknowledged
  uint64_t acks = 0;
  uint64_t last_log = 0;
  LuaPhase phase = kLuaStart;
  uint64_t start_ns = 0, last_line_ns = 0, pre_ns = 0, ack_ns = 0;
  bool eof() const { return out_eof && err_eof; }
};

bool parse_dec(const std::string &s, uint64_t *out) {
  if (s.empty() || s.size() > 20) return false;
  char *end = nullptr;
  errno = 0;
  *out = strtoull(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

bool parse_digest(const std::string &s, uint64_t *out) {
  if (s.size() != 16) return false;
  char *end = nullptr;
  errno = 0;
  *out = strtoull(s.c_str(), &end, 16);
  return errno == 0 && *end == '\0';
}

std::string hex(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::vector<std::string> split(const std::string &line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    const size_t j = line.find(' ', i);
    if (j == std::string::npos) {
      out.push_back(line.substr(i));
      break;
    }
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

class LuaTorture {
 public:
  explicit LuaTorture(const TortureOptions &o) : o_(o), rng_(o.seed * 0x2545f4914f6cdd1dull + 11) {}
  int run();

 private:
  bool setup(std::string *error);
  void spawn(LuaChild *c);
  void round();
  void final_check();
  void pump(LuaChild &c, uint64_t timeout_ns);
  void line(LuaChild &c, const std::string &text);
  void on_resumed(LuaChild &c, uint64_t step, uint64_t recomputed, uint64_t stored);
  void on_pre(LuaChild &c, uint64_t step, uint64_t digest);
  void on_ack(LuaChild &c, uint64_t step, uint64_t epoch, uint64_t log_bytes);
  void stop(LuaChild &c, int *wstatus);
  void failure(LuaChild *c, const std::string &what);
  void reset_arena();
  void note(pid_t pid, const std::string &text);
  void progress(bool final);
  uint64_t pick_delay_ns(uint64_t max_ns);
  static void average(uint64_t *avg, uint64_t sample) { *avg = *avg ? (*avg * 7 + sample) / 8 : sample; }

  TortureOptions o_;
  Rng rng_;
  std::string arena_;
  std::vector<std::string> env_;
  bool own_dir_ = false;
  uint64_t start_ns_ = 0;
  bool reset_pending_ = false;

  // What the arena must hold: the last acknowledged step, or `pending_` (announced by a
  // `pre`, not acknowledged); the digest each step had at its `pre`.
  uint64_t acked_ = 0;
  std::optional<uint64_t> pending_;
  std::unordered_map<uint64_t, uint64_t> digests_;
  std::deque<std::string> transcript_;

  // Timings that size the kill delays (moving averages).
  uint64_t startup_ns_ = 0, step_ns_ = 0, commit_ns_ = 0;

  // Results.
  uint64_t kills_ = 0, lost_ = 0, corrupt_ = 0;
  uint64_t acks_ = 0, max_step_ = 0, max_epoch_ = 0, next_recovered_ = 0, reruns_matched_ = 0;
  uint64_t resumes_checked_ = 0, log_switches_ = 0, max_log_bytes_ = 0, stray_lines_ = 0, failures_kept_ = 0;
  uint64_t phase_kills_[kLuaPhaseCount] = {};
  std::string trackers_seen_;
};

bool LuaTorture::setup(std::string *error) {
  std::error_code ec;
  o_.lua_persist = fs::absolute(o_.lua_persist, ec).string();
  o_.lua_script = fs::absolute(o_.lua_script, ec).string();
  if (access(o_.lua_persist.c_str(), X_OK) != 0) {
    *error = "--lua-persist " + o_.lua_persist + ": " + strerror(errno);
    return false;
  }
  if (access(o_.lua_script.c_str(), R_OK) != 0) {
    *error = "--lua-script " + o_.lua_script + ": " + strerror(errno);
    return false;
  }
  if (!make_run_dir(&o_, "palloc-torture-lua", &own_dir_, error)) return false;
  arena_ = o_.dir + "/lua.arena";
  reset_arena();  // a run always starts from a fresh arena

  // The children's environment: ours, without what would change how they run (a
  // PALLOC_TRACKER of ours is passed on unless --tracker replaces it).
  std::vector<std::string> dropped = {
      "PALLOC_CHECKPOINT_BYTES=", "PALLOC_ARENA=", "LUA_PERSIST_STAGE=", "LUA_INIT=", "LUA_INIT_5_4="};
  if (o_.tracker_given) dropped.push_back("PALLOC_TRACKER=");
  for (char **e = environ; *e; e++) {
    bool keep = true;
    for (const std::string &d : dropped) keep = keep && strncmp(*e, d.c_str(), d.size()) != 0;
    if (keep) env_.push_back(*e);
  }
  if (o_.tracker_given) env_.push_back(std::string("PALLOC_TRACKER=") + tracker_name(o_.tracker));
  env_.push_back("PALLOC_CHECKPOINT_BYTES=" + std::to_string(o_.checkpoint_bytes));
  signal(SIGPIPE, SIG_IGN);
  return true;
}

void LuaTorture::spawn(LuaChild *c) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    fprintf(stderr, "palloc-torture: pipe: %s\n", strerror(errno));
    exit(2);
  }
  std::vector<std::string> args = {
      o_.lua_persist,         "--arena", arena_, "--durability", durability_name(o_.durability), o_.lua_script,
      std::to_string(o_.seed)};
  std::vector<char *> argv, envp;
  for (std::string &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string &e : env_) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "palloc-torture: fork: %s\n", strerror(errno));
    exit(2);
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(122);
    const int null_fd = open("/dev/null", O_RDONLY);
    // dup2 clears close-on-exec on the copies: stdin, stdout and stderr survive exec.
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(120);
    execve(argv[0], argv.data(), envp.data());
    dprintf(2, "palloc-torture: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(121);
  }
  close(out[1]);
  close(err[1]);
  c->pid = pid;
  c->out_fd = out[0];
  c->err_fd = err[0];
  c->start_ns = c->last_line_ns = now_ns();
}

void LuaTorture::note(pid_t pid, const std::string &text) {
  transcript_.push_back("[" + std::to_string(pid) + "] " + text);
  if (transcript_.size() > kTranscriptLines) transcript_.pop_front();
}

void LuaTorture::pump(LuaChild &c, uint64_t timeout_ns) {
  struct pollfd pfd[2];
  int n = 0;
  if (!c.out_eof) pfd[n++] = {c.out_fd, POLLIN, 0};
  if (!c.err_eof) pfd[n++] = {c.err_fd, POLLIN, 0};
  if (n == 0) return;
  struct timespec ts = {static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  if (ppoll(pfd, n, &ts, nullptr) <= 0) return;
  for (int i = 0; i < n; i++) {
    if (!pfd[i].revents) continue;
    const bool is_out = pfd[i].fd == c.out_fd;
    char buf[65536];
    const ssize_t got = read(pfd[i].fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    std::string &pending = is_out ? c.out_pending : c.err_pending;
    if (got <= 0) {
      (is_out ? c.out_eof : c.err_eof) = true;
      if (!pending.empty()) note(c.pid, std::string(is_out ? "" : "stderr: ") + pending + "  <- no newline");
      if (!is_out && !pending.empty() && c.err_text.size() < kMaxStderr) c.err_text += pending + "\n";
      pending.clear();
      continue;
    }
    pending.append(buf, static_cast<size_t>(got));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      const std::string text = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (is_out) {
        line(c, text);
      } else {
        note(c.pid, "stderr: " + text);
        if (c.err_text.size() < kMaxStderr) c.err_text += text + "\n";
      }
    }
  }
}

void LuaTorture::line(LuaChild &c, const std::string &text) {
  note(c.pid, text);
  c.last_line_ns = now_ns();
  if (c.refused) return;  // one failure per child: what follows would only echo it
  const std::vector<std::string> t = split(text);
  uint64_t a = 0, b = 0, d = 0;
  if (t.empty()) {
    stray_lines_++;
  } else if (t[0] == "problem") {
    failure(&c, "child " + std::to_string(c.pid) + " found, walking the table it resumed: " + text.substr(8));
    c.refused = true;
  } else if (t[0] == "info") {
    for (size_t i = 1; i + 1 < t.size(); i += 2)
      if (t[i] == "tracker" && trackers_seen_.find(t[i + 1]) == std::string::npos)
        trackers_seen_ += (trackers_seen_.empty() ? "" : "+") + t[i + 1];
  } else if (t[0] == "resumed" && t.size() == 4 && parse_dec(t[1], &a) && parse_digest(t[2], &b) &&
             parse_digest(t[3], &d)) {
    on_resumed(c, a, b, d);
  } else if (t[0] == "pre" && t.size() == 3 && parse_dec(t[1], &a) && parse_digest(t[2], &b)) {
    on_pre(c, a, b);
  } else if (t[0] == "ack" && t.size() == 4 && parse_dec(t[1], &a) && parse_dec(t[2], &b) && parse_dec(t[3], &d)) {
    on_ack(c, a, b, d);
  } else {
    stray_lines_++;
  }
}

void LuaTorture::on_resumed(LuaChild &c, uint64_t step, uint64_t recomputed, uint64_t stored) {
  const std::string who = "child " + std::to_string(c.pid);
  if (c.resumed) {
    failure(&c, who + " printed a second 'resumed' line (step " + std::to_string(step) + ")");
    c.refused = true;
    return;
  }
  c.resumed = true;
  c.step = step;
  c.phase = kLuaStep;
  c.ack_ns = now_ns();
  average(&startup_ns_, c.ack_ns - c.start_ns);

  // Which step it had to come back with.
  if (step == acked_) {
  } else if (pending_ && step == *pending_) {  // durable before its ack was written: allowed
    next_recovered_++;
    acked_ = step;
  } else if (step < acked_) {
    lost_++;
    fprintf(stderr, "LOST after %" PRIu64 " kills: %s resumed step %" PRIu64 " but step %" PRIu64 " was acknowledged\n",
            kills_, who.c_str(), step, acked_);
    acked_ = step;  // go on from what survived
  } else {
    failure(&c, who + " resumed step " + std::to_string(step) + ", but step " + std::to_string(acked_) +
                    " was the last acknowledged" +
                    (pending_ ? " and step " + std::to_string(*pending_) + " the last announced" : std::string()));
    c.refused = true;
    return;
  }
  pending_.reset();

  if (recomputed != stored) {
    failure(&c, who + " resumed step " + std::to_string(step) + " with a table whose digest is " + hex(recomputed) +
                    ", but the digest stored with it is " + hex(stored));
    c.refused = true;
    return;
  }
  const auto it = digests_.find(step);
  if (it == digests_.end()) {
    if (step != 0) {
      failure(&c, who + " resumed step " + std::to_string(step) + ", which no child ever announced");
      c.refused = true;
      return;
    }
    digests_[0] = stored;  // the initial state
  } else if (it->second != stored) {
    failure(&c, who + " resumed step " + std::to_string(step) + " with digest " + hex(stored) +
                    ", but the digest printed before committing it was " + hex(it->second));
    c.refused = true;
    return;
  }
  resumes_checked_++;
}

void LuaTorture::on_pre(LuaChild &c, uint64_t step, uint64_t digest) {
  const std::string who = "child " + std::to_string(c.pid);
  if (!c.resumed || c.pre || step != c.step + 1) {
    failure(&c, who + " announced step " + std::to_string(step) + " out of order (it was at step " +
                    std::to_string(c.step) + (c.pre ? ", step " + std::to_string(*c.pre) + " unacknowledged" : "") +
                    ")");
    c.refused = true;
    return;
  }
  const auto it = digests_.find(step);
  if (it != digests_.end()) {
    if (it->second != digest) {
      failure(&c, who + " computed digest " + hex(digest) + " for step " + std::to_string(step) +
                      ", which came out as " + hex(it->second) +
                      " when it ran before: the resumed state (a table, or a persisted closure, metatable or "
                      "coroutine) is not the one that was committed");
      c.refused = true;
      return;
    }
    reruns_matched_++;
  }
  digests_[step] = digest;
  c.pre = step;
  c.pre_ns = now_ns();
  c.phase = kLuaCommit;
  pending_ = step;
}

void LuaTorture::on_ack(LuaChild &c, uint64_t step, uint64_t epoch, uint64_t log_bytes) {
  if (!c.pre || *c.pre != step) {
    failure(&c, "child " + std::to_string(c.pid) + " acknowledged step " + std::to_string(step) +
                    (c.pre ? " but announced step " + std::to_string(*c.pre) : " without announcing it"));
    c.refused = true;
    return;
  }
  const uint64_t t = now_ns();
  average(&step_ns_, t - c.ack_ns);
  average(&commit_ns_, t - c.pre_ns);
  c.ack_ns = t;
  c.pre.reset();
  c.step = step;
  c.phase = kLuaStep;
  if (c.acks > 0 && log_bytes < c.last_log) log_switches_++;  // the log was checkpointed and started over
  c.last_log = log_bytes;
  c.acks++;
  pending_.reset();
  acked_ = step;
  acks_++;
  max_step_ = std::max(max_step_, step);
  max_epoch_ = std::max(max_epoch_, epoch);
  max_log_bytes_ = std::max(max_log_bytes_, log_bytes);
}

void LuaTorture::failure(LuaChild *c, const std::string &what) {
  corrupt_++;
  fprintf(stderr, "CORRUPT after %" PRIu64 " kills (acknowledged step %" PRIu64 "): %s\n", kills_, acked_,
          what.c_str());
  if (c && !c->err_text.empty()) fprintf(stderr, "  its stderr:\n%s", c->err_text.c_str());
  reset_pending_ = true;
}

// Moves a failed arena aside (the first few, with the children's last lines) or removes
// it, and starts over from step 0.
void LuaTorture::reset_arena() {
  std::error_code ec;
  fs::path keep;
  if (reset_pending_ && failures_kept_ < kKeptFailures) {
    keep = fs::path(o_.dir) / ("failure-" + std::to_string(++failures_kept_));
    fs::create_directories(keep, ec);
    std::ofstream f(keep / "transcript.txt");
    for (const std::string &s : transcript_) f << s << "\n";
    fprintf(stderr, "  the arena and the children's last lines are kept in %s\n", keep.c_str());
  }
  for (const auto &e : fs::directory_iterator(o_.dir, ec)) {
    if (e.path().filename().string().rfind("lua.arena", 0) != 0) continue;
    if (!keep.empty())
      fs::rename(e.path(), keep / e.path().filename(), ec);
    else
      fs::remove(e.path(), ec);
  }
  acked_ = 0;
  pending_.reset();
  digests_.clear();
  reset_pending_ = false;
}

// 10% at once, otherwise log-uniform between 1 us and max_ns.
uint64_t LuaTorture::pick_delay_ns(uint64_t max_ns) {
  if (rng_.below(10) == 0) return 0;
  const double lo = std::log(1000.0), hi = std::log(static_cast<double>(std::max<uint64_t>(max_ns, 2000)));
  return static_cast<uint64_t>(std::exp(lo + (hi - lo) * rng_.unit()));
}

// SIGKILLs the child, reaps it and reads what it wrote before it died.
void LuaTorture::stop(LuaChild &c, int *wstatus) {
  kill(c.pid, SIGKILL);
  while (waitpid(c.pid, wstatus, 0) < 0 && errno == EINTR) {
  }
  const uint64_t limit = now_ns() + 10ull * 1000 * 1000 * 1000;  // nothing else may hold the pipes
  while (!c.eof() && now_ns() < limit) pump(c, 100000000);
  close(c.out_fd);
  close(c.err_fd);
}

void LuaTorture::round() {
  LuaChild c;
  spawn(&c);
  // One kill in eight lands anywhere in the start (launcher, recovery, resume, digest
  // walk). The others wait for some acks, then kill either inside the next step's work
  // (a delay up to a step's length after an ack) or inside its commit (a delay up to a
  // few commit lengths after its `pre`).
  const bool early = rng_.below(8) == 0;
  const uint64_t want_acks = rng_.below(4) == 0 ? rng_.below(o_.max_acks * 4 + 1) : rng_.below(o_.max_acks + 1);
  const bool at_commit = rng_.below(2) == 0;

  auto hung = [&] { return now_ns() - c.last_line_ns > kWatchdogNs; };
  auto waiting = [&](bool done) { return !done && !c.eof() && !c.refused && !hung(); };
  uint64_t deadline;
  if (early) {
    const uint64_t span = startup_ns_ ? startup_ns_ + startup_ns_ / 4 : 300000000;
    deadline = c.start_ns + (rng_.below(10) == 0 ? 0 : static_cast<uint64_t>(rng_.unit() * static_cast<double>(span)));
  } else {
    while (waiting(c.resumed && c.acks >= want_acks)) pump(c, 1000000);
    if (at_commit) {
      while (waiting(c.pre.has_value())) pump(c, 1000000);
      deadline = now_ns() + pick_delay_ns(std::max<uint64_t>(2 * commit_ns_, 1000000));
    } else {
      deadline = now_ns() + pick_delay_ns(std::max<uint64_t>(step_ns_, 1000000));
    }
  }
  if (hung() && !c.eof() && !c.refused)
    failure(&c, "child " + std::to_string(c.pid) + " wrote nothing for 60 s (phase " + kLuaPhaseNames[c.phase] + ")");
  // The delay: sleep in poll (still taking lines), spin the last few microseconds.
  while (!c.eof() && !c.refused) {
    const uint64_t t = now_ns();
    if (t >= deadline) break;
    pump(c, deadline - t > 60000 ? deadline - t - 50000 : 0);
  }

  const bool alive = !c.eof();
  int wstatus = 0;
  stop(c, &wstatus);
  if (alive && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) {
    kills_++;
    phase_kills_[c.phase]++;
  } else if (!c.refused) {
    failure(&c, "child " + std::to_string(c.pid) + " ended on its own (" +
                    (WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                        : std::string("signal ") + strsignal(WTERMSIG(wstatus))) +
                    ") in phase " + kLuaPhaseNames[c.phase]);
  }
  if (reset_pending_) reset_arena();
}

// After the last kill: one more start, checked like the others, then stopped.
void LuaTorture::final_check() {
  LuaChild c;
  spawn(&c);
  while (!c.resumed && !c.eof() && !c.refused && now_ns() - c.last_line_ns <= kWatchdogNs) pump(c, 1000000);
  const bool alive = !c.eof();
  int wstatus = 0;
  stop(c, &wstatus);
  if (!c.resumed && !c.refused)
    failure(&c, "the final start (child " + std::to_string(c.pid) + ") did not resume: " +
                    (alive                ? std::string("it wrote nothing for 60 s")
                     : WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                          : std::string("signal ") + strsignal(WTERMSIG(wstatus))));
  if (reset_pending_) reset_arena();
}

void LuaTorture::progress(bool final) {
  const double secs = static_cast<double>(now_ns() - start_ns_) / 1e9;
  if (final) {
    printf("kills: %" PRIu64 " lost: %" PRIu64 " corrupt: %" PRIu64 "\n", kills_, lost_, corrupt_);
    printf("  lua-persist, tracker %s, durability %s, seed %" PRIu64 ", checkpoint at %" PRIu64 " bytes, %.1f s\n",
           trackers_seen_.empty() ? tracker_name(o_.tracker) : trackers_seen_.c_str(), durability_name(o_.durability),
           o_.seed, o_.checkpoint_bytes, secs);
  } else {
    printf("[%7.1fs] kills: %" PRIu64 " lost: %" PRIu64 " corrupt: %" PRIu64 " step: %" PRIu64 "\n", secs, kills_,
           lost_, corrupt_, acked_);
  }
  printf("  kills landed in:");
  for (unsigned p = 0; p < kLuaPhaseCount; p++) printf(" %s %" PRIu64, kLuaPhaseNames[p], phase_kills_[p]);
  printf("\n  steps acknowledged %" PRIu64 ", highest step %" PRIu64 ", highest epoch %" PRIu64
         ", resumes checked %" PRIu64 ", unacknowledged step resumed %" PRIu64
         " times, steps re-run with the same digest %" PRIu64 ", log cut back by a checkpoint %" PRIu64
         " times, largest log %" PRIu64 " KiB",
         acks_, max_step_, max_epoch_, resumes_checked_, next_recovered_, reruns_matched_, log_switches_,
         max_log_bytes_ >> 10);
  if (stray_lines_) printf(", %" PRIu64 " other lines", stray_lines_);
  printf("\n");
  if (final && (startup_ns_ || step_ns_))
    printf("  start to 'resumed' %.0f ms, step %.1f ms, commit %.1f ms (moving averages)\n", startup_ns_ / 1e6,
           step_ns_ / 1e6, commit_ns_ / 1e6);
  fflush(stdout);
}

int LuaTorture::run() {
  if (int rc = start_run(o_, [this](std::string *error) { return setup(error); }); rc >= 0) return rc;
  printf("palloc-torture: %" PRIu64 " kills of %s %s in %s (tracker %s, durability %s, seed %" PRIu64 ")\n", o_.kills,
         o_.lua_persist.c_str(), o_.lua_script.c_str(), o_.dir.c_str(), tracker_name(o_.tracker),
         durability_name(o_.durability), o_.seed);
  fflush(stdout);
  start_ns_ = now_ns();
  run_rounds(o_, kills_, [this] { round(); }, [this] { progress(false); });
  final_check();
  progress(true);
  return finish_run(o_, own_dir_, lost_, corrupt_);
}

}  // namespace

int run_lua_torture(const TortureOptions &opts) { return LuaTorture(opts).run(); }

}  // namespace crash
