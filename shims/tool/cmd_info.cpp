// cmd_info.cpp — `palloc info`: what an arena is and holds, without touching it.
//
// Reads the header and scans the logs read-only, and never takes the lock, so it works
// while the owner runs (it then shows the commits made up to the moment of the scan).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "arena_files.h"
#include "lock.h"
#include "recovery.h"
#include "text.h"
#include "tool.h"

namespace palloc::tool {

namespace {

using Json = nlohmann::ordered_json;

struct LogInfo {
  std::string path;
  std::string problem;  // why it could not be read (empty: fine)
  uint64_t bytes = 0;
  size_t records = 0;
  bool torn_tail = false;
};

// Everything `info` shows, gathered before printing in either form.
struct Info {
  std::string path;
  DataFile df;
  long holder = 0;
  LogInfo logs[2];
  bool plan_ok = false;
  std::string plan_error;  // why recovery would refuse (the state shown is then the last valid one)
  RecoveryPlan plan;
  uint64_t pending_pages = 0;
};

Status gather(const std::string &path, Info *info) {
  info->path = path;
  PALLOC_TRY(open_data_file(path, false, &info->df));
  const DataHeader &h = info->df.header;
  info->holder = lock_holder(info->df.fd.get());
  LogFile logs[2];
  for (unsigned i = 0; i < 2; i++) {
    LogInfo &li = info->logs[i];
    li.path = log_path(path, i);
    Status s = open_log_file(path, i, false, h, &logs[i]);
    if (s.code() == PALLOC_E_IO || s.code() == PALLOC_E_PERMISSION) return s;
    if (!s.ok()) {
      li.problem = s.message();
      logs[i] = placeholder_log(path, i, h);
    } else {
      li.bytes = file_size(logs[i].fd.get());
    }
  }
  // Page contents are not verified: info must stay cheap on a large arena (check does it).
  Status s = plan_recovery(info->df, logs, false, false, &info->plan);
  if (s.code() == PALLOC_E_CORRUPT) {
    info->plan_error = s.message();
    s = plan_recovery(info->df, logs, false, true, &info->plan);
  } else {
    info->plan_ok = s.ok();
  }
  PALLOC_TRY(s);
  for (const LogInfo &li : info->logs)
    if (!li.problem.empty() && info->plan_ok) {
      info->plan_ok = false;  // planned from the other log alone
      info->plan_error = li.problem;
    }
  for (unsigned i = 0; i < 2; i++) {
    info->logs[i].records = info->plan.scans[i].records.size();
    info->logs[i].torn_tail = info->plan.scans[i].torn_tail;
  }
  std::set<uint64_t> pages;
  for (const RecordInfo &r : info->plan.chain)
    for (const RecordEntry &e : r.entries) pages.insert(e.pgno);
  info->pending_pages = pages.size();
  return ok_status();
}

Json to_json(const Info &in) {
  const DataHeader &h = in.df.header;
  const ArenaState &st = in.plan.state;
  Json j;
  j["arena"] = in.path;
  j["format_version"] = kFormatVersion;
  j["uuid"] = uuid_string(h.uuid);
  j["page_size"] = h.layout.page_size;
  j["base"] = h.layout.base;
  j["max_size"] = h.layout.max_size;
  j["size"] = st.size;
  j["created_unix_ns"] = h.create_unix_ns;
  j["created"] = iso_time(h.create_unix_ns);
  j["checkpoint_epoch"] = h.checkpoint_epoch;
  j["checkpoint_unix_ns"] = h.checkpoint_unix_ns;
  j["checkpoint_time"] = iso_time(h.checkpoint_unix_ns);
  j["epoch"] = in.plan.epoch;
  j["epoch_unix_ns"] = in.plan.unix_ns;
  j["epoch_time"] = iso_time(in.plan.unix_ns);
  j["recovery_error"] = in.plan_ok ? Json(nullptr) : Json(in.plan_error);
  j["recovery_notes"] = in.plan.notes;
  j["pending_records"] = in.plan.chain.size();
  j["pending_pages"] = in.pending_pages;
  j["roots"] = Json::array();
  for (unsigned i = 0; i < st.roots.size(); i++)
    if (st.roots[i].value != 0 || !st.roots[i].name.empty())
      j["roots"].push_back({{"slot", i}, {"name", st.roots[i].name}, {"value", st.roots[i].value}});
  j["regions"] = Json::array();
  for (const RegionRecord &r : st.regions)
    j["regions"].push_back({{"name", r.name}, {"length", r.length}, {"zone_offset", r.zone_offset}});
  j["binaries"] = Json::array();
  for (const BinaryRecord &b : st.binaries)
    j["binaries"].push_back({{"path", b.path},
                             {"build_id", hex(b.build_id.data(), b.build_id.size())},
                             {"load_address", b.load_address}});
  j["logs"] = Json::array();
  for (unsigned i = 0; i < 2; i++) {
    const LogInfo &l = in.logs[i];
    j["logs"].push_back({{"index", i},
                         {"path", l.path},
                         {"bytes", l.bytes},
                         {"records", l.records},
                         {"torn_tail", l.torn_tail},
                         {"problem", l.problem.empty() ? Json(nullptr) : Json(l.problem)}});
  }
  j["header_slot"] = in.df.slot;
  j["header_problem"] = in.df.slot_problem.empty() ? Json(nullptr) : Json(in.df.slot_problem);
  if (in.holder > 0) {
    j["lock_pid"] = in.holder;
    j["lock_process"] = process_name(in.holder);
  } else {
    j["lock_pid"] = nullptr;
    j["lock_process"] = nullptr;
  }
  return j;
}

std::string epoch_text(uint64_t epoch, uint64_t unix_ns) {
  return std::to_string(epoch) + (unix_ns ? "  (" + local_time(unix_ns) + ")" : "");
}

std::string plural(uint64_t n, const char *one, const char *many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

void print_human(const Info &in) {
  const DataHeader &h = in.df.header;
  const ArenaState &st = in.plan.state;
  KeyValues kv;
  kv.add("arena", in.path);
  kv.add("format version", std::to_string(kFormatVersion));
  kv.add("uuid", uuid_string(h.uuid));
  kv.add("page size", std::to_string(h.layout.page_size));
  kv.add("base", hex_addr(h.layout.base));
  kv.add("max size", human_bytes(h.layout.max_size) + "  (" + std::to_string(h.layout.max_size) + " bytes)");
  kv.add("usable size", human_bytes(st.size) + "  (" + std::to_string(st.size) + " bytes)");
  kv.add("created", local_time(h.create_unix_ns));
  kv.add("checkpoint epoch", epoch_text(h.checkpoint_epoch, h.checkpoint_unix_ns));
  if (in.plan_ok)
    kv.add("latest epoch", epoch_text(in.plan.epoch, in.plan.unix_ns));
  else
    kv.add("latest epoch", "unknown: the logs are damaged (last valid: " + std::to_string(in.plan.epoch) + ")");
  if (in.plan.chain.empty())
    kv.add("pending replay", "none");
  else
    kv.add("pending replay", plural(in.plan.chain.size(), "commit", "commits") + ", " +
                                 plural(in.pending_pages, "page", "pages") + " (replayed at the next open)");
  if (in.holder > 0) {
    std::string name = process_name(in.holder);
    kv.add("in use by", "pid " + std::to_string(in.holder) + (name.empty() ? "" : " (" + name + ")"));
  } else {
    kv.add("in use by", "nobody");
  }
  if (!in.df.slot_problem.empty())
    kv.add("header", "using slot " + std::to_string(in.df.slot) + "; the other slot is damaged (" +
                         in.df.slot_problem + ")");
  kv.print(stdout);

  std::printf("logs:\n");
  std::vector<std::vector<std::string>> rows;
  for (const LogInfo &l : in.logs) {
    if (!l.problem.empty()) {
      rows.push_back({l.path, "-", "unreadable: " + l.problem});
      continue;
    }
    std::string what = l.records == 0 ? "no records" : plural(l.records, "record", "records");
    if (l.torn_tail) what += ", incomplete record at the end";
    rows.push_back({l.path, human_bytes(l.bytes), what});
  }
  print_columns(stdout, rows, "  ");

  rows.clear();
  for (unsigned i = 0; i < st.roots.size(); i++)
    if (st.roots[i].value != 0 || !st.roots[i].name.empty())
      rows.push_back({std::to_string(i), st.roots[i].name.empty() ? "-" : st.roots[i].name,
                      hex_addr(st.roots[i].value)});
  if (rows.empty()) {
    std::printf("roots: none\n");
  } else {
    std::printf("roots:\n");
    rows.insert(rows.begin(), {"slot", "name", "value"});
    print_columns(stdout, rows, "  ");
  }

  if (st.regions.empty()) {
    std::printf("regions: none\n");
  } else {
    std::printf("regions:\n");
    rows = {{"name", "length", "zone offset"}};
    for (const RegionRecord &r : st.regions) rows.push_back({r.name, human_bytes(r.length), hex_addr(r.zone_offset)});
    print_columns(stdout, rows, "  ");
  }

  if (st.binaries.empty()) {
    std::printf("binaries: none\n");
  } else {
    std::printf("binaries the image depends on:\n");
    rows = {{"load address", "build-id", "path"}};
    for (const BinaryRecord &b : st.binaries)
      rows.push_back({hex_addr(b.load_address), b.build_id.empty() ? "-" : hex(b.build_id.data(), b.build_id.size()),
                      b.path});
    print_columns(stdout, rows, "  ");
  }

  if (!in.plan_ok)
    std::printf("warning: %s\n         (the state above is the last valid commit; run `palloc check %s`)\n",
                in.plan_error.c_str(), in.path.c_str());
  for (const std::string &note : in.plan.notes) std::printf("note: %s\n", note.c_str());
}

int run(int argc, char **argv) {
  Args args;
  int code;
  if (!parse_args(kInfoCommand, argc, argv, {{"json", false}}, &args, &code)) return code;
  if (args.positional.size() != 1)
    return usage_error(kInfoCommand, args.positional.empty() ? "missing ARENA" : "expected one ARENA");
  Info info;
  Status s = gather(args.positional[0], &info);
  if (!s.ok()) {
    std::fprintf(stderr, "palloc info: %s\n", s.message().c_str());
    return exit_code_for(s);
  }
  if (args.has("json"))
    std::printf("%s\n", to_json(info).dump(2).c_str());
  else
    print_human(info);
  return kExitOk;
}

}  // namespace

const Command kInfoCommand = {
    "info", "show what an arena holds (read-only; works while it is in use)",
    "usage: palloc info [--json] ARENA\n"
    "\n"
    "Shows an arena's identity and geometry (format version, uuid, page size, base\n"
    "address, maximum and usable size, creation time), its checkpoint epoch and the\n"
    "latest commit that recovery would restore, the records waiting in its logs, its\n"
    "roots, regions and the binaries its image depends on, the sizes of its logs and\n"
    "the process that has it open, if any.\n"
    "\n"
    "It never writes to the arena and does not take its lock, so it can run while\n"
    "another process uses the arena. Log pages are not verified; use `palloc check`.\n"
    "\n"
    "options:\n"
    "  --json   print one JSON object instead (fields: arena, format_version, uuid,\n"
    "           page_size, base, max_size, size, created_unix_ns, created,\n"
    "           checkpoint_epoch, checkpoint_unix_ns, checkpoint_time, epoch,\n"
    "           epoch_unix_ns, epoch_time, recovery_error, recovery_notes,\n"
    "           pending_records, pending_pages, roots[slot,name,value],\n"
    "           regions[name,length,zone_offset], binaries[path,build_id,load_address],\n"
    "           logs[index,path,bytes,records,torn_tail,problem], header_slot,\n"
    "           header_problem, lock_pid, lock_process); numbers are plain integers.\n"
    "           When recovery_error is set, epoch and the state shown are those of\n"
    "           the last commit before the damage.\n"
    "  -h, --help\n"
    "\n"
    "exit status: 0 shown, 2 the arena is damaged beyond reading, 3 could not read it\n"
    "(missing, not an arena, I/O error), 64 usage error.\n",
    run};

}  // namespace palloc::tool
