// cmd_check.cpp — `palloc check`: verifies every checksum of an arena, read-only.
//
// Order: header slots, then both logs (every record and every logged page, through
// plan_recovery), then every page of the data file against its checksum table. A data
// page that fails its checksum while the logs hold a newer version is only waiting for
// replay (an interrupted checkpoint); one that no log covers has lost its contents.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "arena_files.h"
#include "lock.h"
#include "page_scan.h"
#include "progress.h"
#include "recovery.h"
#include "text.h"
#include "tool.h"

namespace palloc::tool {

namespace {

using Json = nlohmann::ordered_json;

enum class Severity { kRepairable, kCorrupt, kError };

const char *severity_name(Severity s) {
  switch (s) {
    case Severity::kRepairable: return "repairable";
    case Severity::kCorrupt: return "corrupt";
    case Severity::kError: return "error";
  }
  return "?";
}

struct Problem {
  Severity severity;
  std::string kind;     // stable identifier for scripts
  std::string message;  // what is wrong
  std::string action;   // what to do about it
};

struct Report {
  std::string arena;
  std::vector<Problem> problems;
  std::vector<std::string> notes;
  std::optional<uint64_t> checkpoint_epoch, last_valid_epoch;
  long holder = 0;
  uint64_t log_records = 0, log_pages = 0, pending_records = 0;
  bool pages_scanned = false;
  PageScan pages;

  void add(Severity s, std::string kind, std::string message, std::string action) {
    problems.push_back({s, std::move(kind), std::move(message), std::move(action)});
  }
  bool has(Severity s) const {
    return std::any_of(problems.begin(), problems.end(), [s](const Problem &p) { return p.severity == s; });
  }
  int exit_code() const {
    if (has(Severity::kError)) return kExitCannot;
    if (has(Severity::kCorrupt)) return kExitCorrupt;
    if (has(Severity::kRepairable)) return kExitRepairable;
    return kExitOk;
  }
  const char *verdict() const {
    switch (exit_code()) {
      case kExitOk: return "healthy";
      case kExitRepairable: return "repairable";
      case kExitCorrupt: return "corrupt";
      default: return "error";
    }
  }
};

std::string quote_cmd(const std::string &cmd) { return "`" + cmd + "`"; }

// "arena address 0x...", "region 'name' + 0x..." or a file offset, for a file page.
std::string describe_page(const DataHeader &h, const ArenaState &state, uint64_t pgno) {
  const Layout &l = h.layout;
  const uint64_t off = pgno * l.page_size;
  const std::string at = " (file offset " + std::to_string(off) + ")";
  if (off >= l.data_offset) return "page " + std::to_string(pgno) + ", arena address " + hex_addr(l.base + off - l.data_offset) + at;
  const uint64_t zone = off - kRegionZoneOffset;
  for (const RegionRecord &r : state.regions)
    if (zone >= r.zone_offset && zone < r.zone_offset + r.length)
      return "page " + std::to_string(pgno) + ", region '" + r.name + "' + " + hex_addr(zone - r.zone_offset) + at;
  return "page " + std::to_string(pgno) + ", region zone" + at;
}

std::string page_list(const DataHeader &h, const ArenaState &state, const std::vector<uint64_t> &pgnos,
                      uint64_t total) {
  std::string s;
  for (uint64_t p : pgnos) s += "\n      " + describe_page(h, state, p);
  if (total > pgnos.size()) s += "\n      ... and " + std::to_string(total - pgnos.size()) + " more";
  return s;
}

Report check_arena(const std::string &path, bool show_progress) {
  Report r;
  r.arena = path;
  const std::string recover_cmd = quote_cmd("palloc recover " + path);
  const std::string discard_cmd = quote_cmd("palloc recover --discard-damaged " + path);

  DataFile df;
  Status s = open_data_file(path, false, &df);
  if (s.code() == PALLOC_E_CORRUPT) {
    r.add(Severity::kCorrupt, "headers", s.message(),
          "palloc cannot rebuild the arena's geometry and roots without a header: restore the arena from a backup");
    return r;
  }
  if (!s.ok()) {
    r.add(Severity::kError, "unreadable", s.message(), "");
    return r;
  }
  const DataHeader &h = df.header;
  r.checkpoint_epoch = h.checkpoint_epoch;
  r.holder = lock_holder(df.fd.get());
  if (r.holder > 0) {
    const std::string name = process_name(r.holder);
    r.notes.push_back("the arena is in use by pid " + std::to_string(r.holder) + (name.empty() ? "" : " (" + name + ")") +
                      "; a commit or checkpoint running during the check can show up as a problem: check again after "
                      "it has closed the arena");
  }
  if (!df.slot_problem.empty())
    r.add(Severity::kRepairable, "header_slot",
          "header slot " + std::to_string(1 - df.slot) + " is damaged (" + df.slot_problem + "); slot " +
              std::to_string(df.slot) + " is intact",
          "run " + recover_cmd + " to rewrite it from the intact copy (the next checkpoint also does)");

  LogFile logs[2];
  for (unsigned i = 0; i < 2; i++) {
    s = open_log_file(path, i, false, h, &logs[i]);
    if (s.code() == PALLOC_E_CORRUPT) {
      r.add(Severity::kCorrupt, "log_header", s.message(),
            "restore " + log_path(path, i) + " from a backup if there is one; otherwise " + discard_cmd +
                " recreates it (commits that only it held are lost; a copy is kept)");
      logs[i] = placeholder_log(path, i, h);
    } else if (!s.ok()) {
      r.add(Severity::kError, "unreadable", s.message(), "");
      return r;
    }
  }

  // Progress covers the log scan and the page scan, by bytes read.
  const uint64_t ps = h.layout.page_size;
  const uint64_t log_bytes = file_size(logs[0].fd.get()) + file_size(logs[1].fd.get());
  const uint64_t file_end = file_size(df.fd.get());
  const uint64_t file_data = file_end > h.layout.data_offset ? file_end - h.layout.data_offset : 0;
  Progress progress("palloc check " + path, log_bytes + page_scan_bytes(std::max(file_data, h.state.size)),
                    show_progress);

  RecoveryPlan plan;
  s = plan_recovery(df, logs, true, false, &plan, [&](uint64_t done) { progress.update(done); });
  const bool refused = s.code() == PALLOC_E_CORRUPT;
  if (refused) {
    // What `recover --discard-damaged` would restore: the last commit before the damage.
    const std::string why = s.message();
    s = plan_recovery(df, logs, true, true, &plan);
    if (s.ok())
      r.add(Severity::kCorrupt, "log_damaged", why,
            "restore the logs from a backup if there is one; otherwise " + discard_cmd + " restores epoch " +
                std::to_string(plan.epoch) + ", the last commit before the damage, and keeps a copy of the logs");
  }
  if (!s.ok()) {
    r.add(Severity::kError, "unreadable", s.message(), "");
    return r;
  }
  r.last_valid_epoch = plan.epoch;
  if (uint64_t newer; damaged_slot_was_newer(df, &newer) && newer > plan.epoch) {
    // Not a torn write that the logs still cover: the good slot is older than what was
    // committed and the logs no longer bridge the gap.
    for (Problem &p : r.problems)
      if (p.kind == "header_slot") {
        p.severity = Severity::kCorrupt;
        p.kind = "header_newer_slot";
        p.message = "header slot " + std::to_string(1 - df.slot) + ", the newer copy, is damaged (" +
                    df.slot_problem + "): it recorded epoch " + std::to_string(newer) +
                    ", but the intact slot and the logs only reach epoch " + std::to_string(plan.epoch);
        p.action = "restore the arena from a backup; " + discard_cmd + " makes it open again with the roots and "
                   "size of epoch " + std::to_string(plan.epoch) + " over newer pages, which a program may not "
                   "survive";
      }
  }

  std::unordered_set<uint64_t> covered;  // pages the logs hold a newer version of
  uint64_t stale = 0;
  for (unsigned i = 0; i < 2; i++) {
    const LogScan &scan = plan.scans[i];
    r.log_records += scan.records.size();
    r.log_pages += scan.pages_checked;
    if (scan.torn_tail && scan.later_valid_epoch == 0)
      r.add(Severity::kRepairable, "torn_tail",
            logs[i].path + " ends with an incomplete record at offset " + std::to_string(scan.valid_end) + " (" +
                scan.tail_problem + ")",
            "nothing was lost: a commit cut short (never acknowledged) is dropped by the next open or by " + recover_cmd);
    for (const RecordInfo &rec : scan.records) {
      if (rec.header.epoch <= h.checkpoint_epoch) {
        stale++;
        continue;
      }
      for (const RecordEntry &e : rec.entries) covered.insert(e.pgno);
    }
  }
  if (!refused && !plan.chain.empty()) {
    r.pending_records = plan.chain.size();
    r.add(Severity::kRepairable, "pending_records",
          std::to_string(plan.chain.size()) + " commit(s) (epochs " + std::to_string(plan.chain.front().header.epoch) +
              "-" + std::to_string(plan.chain.back().header.epoch) +
              ") are in the logs but not yet in the data file",
          "nothing is lost: the next open replays them, or run " + recover_cmd + " to do it now");
  }
  if (stale > 0)
    r.add(Severity::kRepairable, "stale_records",
          std::to_string(stale) + " record(s) in the logs are already in the data file (a checkpoint stopped before "
                                  "emptying its log)",
          "nothing is lost: the next open or " + recover_cmd + " empties the logs");

  // Creation and grow() extend the file before a commit records a size, so a shorter
  // file lost its tail (opening the arena refuses it, even where the lost pages were
  // zeros and so fail no checksum).
  if (const uint64_t image_end = h.layout.data_offset + plan.state.size; file_end < image_end)
    r.add(Severity::kCorrupt, "truncated",
          path + " is truncated: " + std::to_string(file_end) + " bytes, but its committed image ends at byte " +
              std::to_string(image_end),
          "restore the arena from a backup; what was past the end is lost");

  // The data zone as far as any commit or the file reaches.
  const uint64_t data_bytes = (std::max({h.state.size, plan.state.size, file_data}) + ps - 1) / ps * ps;
  progress.set_total(log_bytes + page_scan_bytes(data_bytes));
  s = scan_pages(df, data_bytes, covered, [&](uint64_t done) { progress.update(log_bytes + done); }, &r.pages);
  progress.finish();
  if (!s.ok()) {
    r.add(Severity::kError, "unreadable", s.message(), "");
    return r;
  }
  r.pages_scanned = true;
  if (r.pages.pending > 0)
    r.add(Severity::kRepairable, "pages_pending_replay",
          std::to_string(r.pages.pending) +
              " page(s) of the data file fail their checksum, but the logs hold newer copies (an interrupted "
              "checkpoint):" + page_list(h, plan.state, r.pages.first_pending, r.pages.pending),
          "run " + recover_cmd + " (or open the arena) to rewrite them from the logs");
  if (r.pages.damaged > 0)
    r.add(Severity::kCorrupt, "corrupt_pages",
          std::to_string(r.pages.damaged) +
              " page(s) of the data file fail their checksum and no log holds a newer copy:" +
              page_list(h, plan.state, r.pages.first_damaged, r.pages.damaged),
          "their contents are lost and `palloc recover` cannot rebuild them: restore the arena from a backup (the "
          "rest of the arena still opens, but a program reading these pages sees damaged data)");
  return r;
}

Json to_json(const Report &r) {
  Json j;
  j["arena"] = r.arena;
  j["verdict"] = r.verdict();
  j["exit_code"] = r.exit_code();
  j["checkpoint_epoch"] = r.checkpoint_epoch ? Json(*r.checkpoint_epoch) : Json(nullptr);
  j["last_valid_epoch"] = r.last_valid_epoch ? Json(*r.last_valid_epoch) : Json(nullptr);
  j["lock_pid"] = r.holder > 0 ? Json(r.holder) : Json(nullptr);
  j["problems"] = Json::array();
  for (const Problem &p : r.problems)
    j["problems"].push_back(
        {{"severity", severity_name(p.severity)}, {"kind", p.kind}, {"message", p.message}, {"action", p.action}});
  j["notes"] = r.notes;
  j["log_records"] = r.log_records;
  j["log_pages_checked"] = r.log_pages;
  j["pending_records"] = r.pending_records;
  j["pages_checked"] = r.pages.pages_checked;
  j["pages_pending_replay"] = r.pages.pending;
  j["corrupt_pages"] = r.pages.damaged;
  return j;
}

void print_human(const Report &r) {
  const std::string epoch = r.last_valid_epoch ? std::to_string(*r.last_valid_epoch) : "unknown";
  const size_t n = r.problems.size();
  switch (r.exit_code()) {
    case kExitOk:
      std::printf("%s: healthy at epoch %s (2 header slots, %llu log records with %llu pages, %llu file pages checked)\n",
                  r.arena.c_str(), epoch.c_str(), static_cast<unsigned long long>(r.log_records),
                  static_cast<unsigned long long>(r.log_pages), static_cast<unsigned long long>(r.pages.pages_checked));
      break;
    case kExitRepairable:
      std::printf("%s: repairable, nothing lost: recovery restores epoch %s (%zu problem%s)\n", r.arena.c_str(),
                  epoch.c_str(), n, n == 1 ? "" : "s");
      break;
    default:
      std::printf("%s: CORRUPT: last valid epoch %s (%zu problem%s)\n", r.arena.c_str(), epoch.c_str(), n,
                  n == 1 ? "" : "s");
      break;
  }
  for (const Problem &p : r.problems)
    std::printf("  - [%s] %s\n    what to do: %s\n", severity_name(p.severity), p.message.c_str(), p.action.c_str());
  for (const std::string &note : r.notes) std::printf("  note: %s\n", note.c_str());
}

int run(int argc, char **argv) {
  Args args;
  int code;
  if (!parse_args(kCheckCommand, argc, argv, {{"quiet", false, 'q'}, {"json", false}, {"progress", false}}, &args,
                  &code))
    return code;
  if (args.positional.size() != 1)
    return usage_error(kCheckCommand, args.positional.empty() ? "missing ARENA" : "expected one ARENA");
  if (args.has("quiet") && args.has("json")) return usage_error(kCheckCommand, "--quiet and --json exclude each other");
  const bool show_progress = args.has("progress") || (!args.has("quiet") && isatty(STDERR_FILENO));
  Report r = check_arena(args.positional[0], show_progress);
  if (r.exit_code() == kExitCannot) {
    for (const Problem &p : r.problems)
      if (p.severity == Severity::kError) std::fprintf(stderr, "palloc check: could not check: %s\n", p.message.c_str());
  }
  if (args.has("json"))
    std::printf("%s\n", to_json(r).dump(2).c_str());
  else if (!args.has("quiet") && r.exit_code() != kExitCannot)
    print_human(r);
  return r.exit_code();
}

}  // namespace

const Command kCheckCommand = {
    "check", "verify every checksum of an arena (read-only)",
    "usage: palloc check [--quiet] [--json] [--progress] ARENA\n"
    "\n"
    "Verifies both header slots, every record and every logged page of both logs, and\n"
    "every page of the data file (region zone and data zone) against its checksum\n"
    "table. Prints a one-line verdict, then each problem with what to do about it.\n"
    "Never writes to the arena. It does not take the lock; while another process uses\n"
    "the arena, a commit or checkpoint in progress may show up as a problem.\n"
    "\n"
    "options:\n"
    "  -q, --quiet   print nothing; only the exit status tells\n"
    "  --json        print one JSON object (fields: arena, verdict, exit_code,\n"
    "                checkpoint_epoch, last_valid_epoch, lock_pid,\n"
    "                problems[severity,kind,message,action], notes, log_records,\n"
    "                log_pages_checked, pending_records, pages_checked,\n"
    "                pages_pending_replay, corrupt_pages)\n"
    "  --progress    report progress on stderr even when it is not a terminal\n"
    "                (on a terminal it is shown anyway, at most once a second)\n"
    "  -h, --help\n"
    "\n"
    "exit status:\n"
    "  0   healthy\n"
    "  1   repairable without loss: an incomplete record at the end of a log, commits\n"
    "      waiting in the logs, one damaged header slot, data pages whose newer copy\n"
    "      is in the logs. `palloc recover ARENA` (or the next open) fixes them.\n"
    "  2   corrupt: a data page damaged with no copy in the logs, damage in the middle\n"
    "      of a log that recovery refuses to skip, both header slots damaged, a log\n"
    "      missing or damaged, the data file truncated\n"
    "  3   could not check: no such file, not an arena, unsupported version, I/O error\n"
    "  64  usage error\n",
    run};

}  // namespace palloc::tool
