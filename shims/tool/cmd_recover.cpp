// cmd_recover.cpp — `palloc recover`: brings the data file up to the last commit and
// empties the logs, as opening the arena would, without mapping it. With
// --discard-damaged it also gets past damage that opening refuses, after keeping a copy
// of the logs.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "arena_files.h"
#include "progress.h"
#include "recovery.h"
#include "text.h"
#include "tool.h"

namespace palloc::tool {

namespace {

// Copies `from` to a new file `to` (never overwriting) and syncs it.
Status copy_file(const std::string &from, const std::string &to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return errno_status(errno, "opening " + from + " to copy it");
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return errno_status(errno, "creating " + to);
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t off = 0;;) {
    ssize_t n = ::pread(in.get(), buf.data(), buf.size(), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "reading " + from);
    if (n == 0) break;
    PALLOC_TRY(pwrite_full(out.get(), buf.data(), static_cast<size_t>(n), off, to));
    off += static_cast<uint64_t>(n);
  }
  PALLOC_TRY(fdatasync_checked(out.get(), to));
  return fsync_dir_of(to);
}

// ARENA.walN.damaged-<unixtime>, with a counter if that name is taken.
std::string backup_name(const std::string &log, uint64_t unix_s) {
  std::string base = log + ".damaged-" + std::to_string(unix_s);
  std::string name = base;
  for (int i = 1; ::access(name.c_str(), F_OK) == 0; i++) name = base + "-" + std::to_string(i);
  return name;
}

int fail(const Status &s) {
  std::fprintf(stderr, "palloc recover: %s\n", s.message().c_str());
  return exit_code_for(s);
}

int run(int argc, char **argv) {
  Args args;
  int code;
  if (!parse_args(kRecoverCommand, argc, argv, {{"discard-damaged", false}}, &args, &code)) return code;
  if (args.positional.size() != 1)
    return usage_error(kRecoverCommand, args.positional.empty() ? "missing ARENA" : "expected one ARENA");
  const std::string path = args.positional[0];
  const bool discard = args.has("discard-damaged");

  DataFile df;
  Status s = open_data_file(path, true, &df);  // takes the lock
  if (s.code() == PALLOC_E_CORRUPT) {
    std::fprintf(stderr,
                 "palloc recover: cannot recover: %s\n"
                 "Without a header the arena's geometry and roots are unknown: restore it from a backup.\n",
                 s.message().c_str());
    return kExitCorrupt;
  }
  if (!s.ok()) return fail(s);

  LogFile logs[2];
  bool broken[2] = {false, false};
  for (unsigned i = 0; i < 2; i++) {
    s = open_log_file(path, i, true, df.header, &logs[i]);
    if (s.code() == PALLOC_E_CORRUPT && discard) {
      broken[i] = true;
      logs[i] = placeholder_log(path, i, df.header);
    } else if (s.code() == PALLOC_E_CORRUPT) {
      std::fprintf(stderr,
                   "palloc recover: %s\n"
                   "Restore it from a backup if there is one; otherwise `palloc recover --discard-damaged %s`\n"
                   "recreates it empty (commits that only it held are lost; a copy is kept).\n",
                   s.message().c_str(), path.c_str());
      return kExitCorrupt;
    } else if (!s.ok()) {
      return fail(s);
    }
  }

  RecoveryPlan plan;
  s = plan_recovery(df, logs, true, discard, &plan);
  if (!s.ok()) return fail(s);

  if (uint64_t newer; damaged_slot_was_newer(df, &newer) && newer > plan.epoch) {
    if (!discard) {
      std::fprintf(stderr,
                   "palloc recover: header slot %d, the newer copy, is damaged (%s): it recorded epoch %llu, but the\n"
                   "intact slot and the logs only reach epoch %llu. Restore the arena from a backup, or run\n"
                   "`palloc recover --discard-damaged %s` to go back to the roots and size of epoch %llu over\n"
                   "newer pages (a program may not survive that).\n",
                   1 - df.slot, df.slot_problem.c_str(), static_cast<unsigned long long>(newer),
                   static_cast<unsigned long long>(plan.epoch), path.c_str(),
                   static_cast<unsigned long long>(plan.epoch));
      return kExitCorrupt;
    }
    plan.notes.push_back("discarded damaged header slot " + std::to_string(1 - df.slot) + " (it recorded epoch " +
                         std::to_string(newer) + ")");
  }

  std::vector<std::string> done;
  const bool losing = plan.lost_commits || broken[0] || broken[1];
  if (losing) {
    // Keep what is about to be discarded: a later, better tool (or a person) may still
    // get something out of it.
    const uint64_t now_s = now_unix_ns() / 1000000000ull;
    for (unsigned i = 0; i < 2; i++) {
      const std::string log = log_path(path, i);
      if (::access(log.c_str(), F_OK) != 0) continue;
      const std::string copy = backup_name(log, now_s);
      s = copy_file(log, copy);
      if (!s.ok()) {
        std::fprintf(stderr, "palloc recover: %s\nNothing was changed: free some space or fix the problem and retry.\n",
                     s.message().c_str());
        return kExitCannot;
      }
      std::printf("saved a copy of %s as %s\n", log.c_str(), copy.c_str());
    }
    for (const std::string &note : plan.notes) done.push_back(note);
    for (unsigned i = 0; i < 2; i++) {
      if (!broken[i]) continue;
      LogHeader lh;
      lh.index = i;
      lh.uuid = df.header.uuid;
      lh.seq = std::max(logs[0].header.seq, logs[1].header.seq) + 1;
      lh.page_size = df.header.layout.page_size;
      const bool existed = ::access(log_path(path, i).c_str(), F_OK) == 0;
      s = log_create(log_path(path, i), lh, &logs[i]);
      if (!s.ok()) return fail(s);
      done.push_back("recreated " + logs[i].path + " empty (it was " + (existed ? "unusable" : "missing") +
                     "; commits that only it held are lost)");
    }
  } else {
    for (const std::string &note : plan.notes) done.push_back(note);
  }

  if (!plan.chain.empty()) {
    std::set<uint64_t> pages;
    for (const RecordInfo &r : plan.chain)
      for (const RecordEntry &e : r.entries) pages.insert(e.pgno);
    Progress progress("palloc recover " + path, pages.size(), isatty(STDERR_FILENO) == 1);
    s = data_apply_records(&df, logs, plan.chain, [&](uint64_t n, uint64_t total) {
      progress.set_total(total);
      progress.update(n);
    });
    progress.finish();
    if (!s.ok()) return fail(s.with_context("replaying the logs (the arena is unchanged as far as opening it goes)"));
    done.push_back("replayed " + std::to_string(plan.chain.size()) + " commit(s) (epochs " +
                   std::to_string(plan.chain.front().header.epoch) + "-" +
                   std::to_string(plan.chain.back().header.epoch) + ", " + std::to_string(pages.size()) +
                   " page(s)) into the data file");
  }
  const bool repair_slot = !df.slot_problem.empty();
  const int damaged_slot = 1 - df.slot;
  if (!plan.chain.empty() || repair_slot) {
    DataHeader h = df.header;
    h.checkpoint_epoch = plan.epoch;
    h.checkpoint_unix_ns = plan.unix_ns;
    h.state = plan.state;
    // The new header goes into the slot not in use, which rewrites a damaged one.
    s = data_write_header(&df, h);
    if (!s.ok()) return fail(s);
    if (repair_slot) done.push_back("rewrote damaged header slot " + std::to_string(damaged_slot));
  }
  if (logs[0].end > kLogHeaderBytes || logs[1].end > kLogHeaderBytes) {
    const uint64_t seq = std::max(logs[0].header.seq, logs[1].header.seq) + 1;
    for (LogFile &log : logs) {
      s = log_reset(&log, seq);
      if (!s.ok()) return fail(s);
    }
    done.push_back("emptied both logs");
  }

  if (done.empty()) {
    std::printf("%s: nothing to recover: the data file holds epoch %llu and the logs are empty\n", path.c_str(),
                static_cast<unsigned long long>(plan.epoch));
    return kExitOk;
  }
  std::printf("%s: recovered to epoch %llu (%s)\n", path.c_str(), static_cast<unsigned long long>(plan.epoch),
              local_time(plan.unix_ns).c_str());
  for (const std::string &d : done) std::printf("  - %s\n", d.c_str());
  if (plan.lost_commits)
    std::printf("  commits after epoch %llu were discarded; the copies above hold them\n",
                static_cast<unsigned long long>(plan.epoch));
  return kExitOk;
}

}  // namespace

const Command kRecoverCommand = {
    "recover", "replay an arena's logs into its data file (what opening it does)",
    "usage: palloc recover [--discard-damaged] ARENA\n"
    "\n"
    "Takes the arena's lock, works out the last commit (verifying every logged page),\n"
    "copies the commits waiting in the logs into the data file, rewrites a damaged\n"
    "header slot from the intact one, and empties the logs. Opening the arena does the\n"
    "same; this does it without running the program. Data pages that are damaged with\n"
    "no copy in the logs cannot be repaired (see `palloc check`).\n"
    "\n"
    "If a log is damaged in the middle (a valid commit follows the damage) or a log is\n"
    "missing or unreadable, recovery stops rather than silently drop commits.\n"
    "\n"
    "options:\n"
    "  --discard-damaged  accept the loss: restore the last commit before the damage,\n"
    "                     recreate an unusable log empty. First copies each log to\n"
    "                     ARENA.walN.damaged-<unixtime> and says so.\n"
    "  -h, --help\n"
    "\n"
    "exit status: 0 recovered (or nothing to do), 2 refused: damage that needs\n"
    "--discard-damaged, or that no recovery can repair, 3 could not recover (no such\n"
    "file, not an arena, in use by another process, I/O error), 64 usage error.\n",
    run};

}  // namespace palloc::tool
