// torture_options.cpp — command-line parsing for palloc-torture.
#include "torture_options.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace crash {

namespace {

const char kUsage[] =
    "usage: palloc-torture [options]\n"
    "\n"
    "Kills a process that commits to a palloc arena with SIGKILL at random moments,\n"
    "recovers the arena and checks that it holds the last acknowledged commit (or the\n"
    "one after it, whose ack may not have been sent yet) with exactly the right content.\n"
    "\n"
    "  --kills N              kills to perform (default 1000)\n"
    "  --seed S               seed for the workload and the kill schedule (default 1)\n"
    "  --tracker T            auto | uffd | hash (default auto)\n"
    "  --durability D         sync | async | none (default sync)\n"
    "  --dir DIR              directory for the arena (default: a new temporary one,\n"
    "                         removed afterwards unless something failed); files\n"
    "                         named arena* in it are replaced\n"
    "  --pages N              the arena grows up to N pages (default 2048)\n"
    "  --checkpoint-bytes B   log size that triggers a checkpoint, at least 1m\n"
    "                         (k/m/g suffixes; default 4m; small values put kills\n"
    "                         into checkpoints)\n"
    "  --max-acks N           each child is killed after 0..N commits (default 16)\n"
    "  --full-check-every N   the parent reopens the arena itself and compares every\n"
    "                         byte every N kills (default 250; 0: only at the end)\n"
    "  --progress N           print progress every N kills (default: about 10 reports)\n"
    "  --keep                 keep the directory even when everything passed\n"
    "  --help                 this text\n"
    "\n"
    "Lua mode: the child is lua-persist running a Lua workload whose whole state is a\n"
    "table of thousands of entries in Lua globals; it prints the digest of each step\n"
    "before committing it, and the next start must find that step's table exactly.\n"
    "  --lua-persist PATH     the lua-persist binary: run in Lua mode (the arena is\n"
    "                         DIR/lua.arena; --kills, --seed, --tracker, --durability,\n"
    "                         --checkpoint-bytes, --max-acks, --dir, --progress and\n"
    "                         --keep apply)\n"
    "  --lua-script PATH      the workload (default: " PALLOC_TORTURE_LUA_SCRIPT
    ")\n"
    "\n"
    "Prints 'kills: N lost: L corrupt: C' and exits 1 if L or C is not 0.\n"
    "lost: the recovered commit is older than the last acknowledged one.\n"
    "corrupt: wrong content or roots, an open that failed, or a child that failed.\n";

bool parse_u64(const char *text, uint64_t *out) {
  if (!text || !*text) return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text) return false;
  unsigned shift = 0;
  switch (*end) {
    case 'k':
    case 'K':
      shift = 10;
      end++;
      break;
    case 'm':
    case 'M':
      shift = 20;
      end++;
      break;
    case 'g':
    case 'G':
      shift = 30;
      end++;
      break;
    default: break;
  }
  if (*end != '\0') return false;
  *out = static_cast<uint64_t>(v) << shift;
  return true;
}

}  // namespace

const char *tracker_name(palloc_tracker_kind t) {
  switch (t) {
    case PALLOC_TRACKER_AUTO: return "auto";
    case PALLOC_TRACKER_UFFD: return "uffd";
    case PALLOC_TRACKER_HASH: return "hash";
  }
  return "?";
}

const char *durability_name(palloc_durability d) {
  switch (d) {
    case PALLOC_DURABILITY_SYNC: return "sync";
    case PALLOC_DURABILITY_ASYNC: return "async";
    case PALLOC_DURABILITY_NONE: return "none";
  }
  return "?";
}

int parse_torture_options(int argc, char **argv, TortureOptions *o, std::string *out) {
  auto bad = [out](const std::string &msg) {
    *out = "palloc-torture: " + msg + "\n(see --help)\n";
    return 2;
  };
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *out = kUsage;
      return 0;
    }
    if (arg == "--child") {
      o->child = true;
      continue;
    }
    if (arg == "--keep") {
      o->keep = true;
      continue;
    }
    if (i + 1 >= argc) return bad("missing value for " + arg);
    const char *v = argv[++i];
    uint64_t n = 0;
    if (arg == "--tracker") o->tracker_given = true;
    if (arg == "--kills" && parse_u64(v, &n))
      o->kills = n;
    else if (arg == "--seed" && parse_u64(v, &n))
      o->seed = n;
    else if (arg == "--pages" && parse_u64(v, &n) && n >= 16)
      o->pages = n;
    else if (arg == "--checkpoint-bytes" && parse_u64(v, &n) && n >= (1u << 20))
      o->checkpoint_bytes = n;
    else if (arg == "--max-acks" && parse_u64(v, &n))
      o->max_acks = n;
    else if (arg == "--full-check-every" && parse_u64(v, &n))
      o->full_check_every = n;
    else if (arg == "--progress" && parse_u64(v, &n))
      o->progress_every = n;
    else if (arg == "--dir")
      o->dir = v;
    else if (arg == "--lua-persist" && *v)
      o->lua_persist = v;
    else if (arg == "--lua-script" && *v)
      o->lua_script = v;
    else if (arg == "--tracker" && !strcmp(v, "auto"))
      o->tracker = PALLOC_TRACKER_AUTO;
    else if (arg == "--tracker" && !strcmp(v, "uffd"))
      o->tracker = PALLOC_TRACKER_UFFD;
    else if (arg == "--tracker" && !strcmp(v, "hash"))
      o->tracker = PALLOC_TRACKER_HASH;
    else if (arg == "--durability" && !strcmp(v, "sync"))
      o->durability = PALLOC_DURABILITY_SYNC;
    else if (arg == "--durability" && !strcmp(v, "async"))
      o->durability = PALLOC_DURABILITY_ASYNC;
    else if (arg == "--durability" && !strcmp(v, "none"))
      o->durability = PALLOC_DURABILITY_NONE;
    else
      return bad("bad option or value: " + arg + " " + v);
  }
  if (o->lua_script.empty()) o->lua_script = PALLOC_TORTURE_LUA_SCRIPT;
  return -1;
}

WorkloadParams workload_params(const TortureOptions &o) {
  WorkloadParams p;
  p.seed = o.seed;
  p.page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  p.max_pages = o.pages;
  p.initial_pages = std::max<uint64_t>(16, o.pages / 8);
  return p;
}

std::string arena_path(const TortureOptions &o) { return o.dir + "/arena"; }

palloc_options arena_options(const TortureOptions &o, bool create) {
  const WorkloadParams p = workload_params(o);
  palloc_options opts;
  palloc_options_init(&opts);
  opts.flags = create ? PALLOC_CREATE : 0;
  opts.tracker = o.tracker;
  opts.durability = o.durability;
  opts.initial_size = p.initial_pages * p.page_size;
  opts.max_size = p.max_pages * p.page_size;
  opts.checkpoint_bytes = o.checkpoint_bytes;
  return opts;
}

std::vector<std::string> child_arguments(const TortureOptions &o) {
  return {"--child",
          "--seed",
          std::to_string(o.seed),
          "--tracker",
          tracker_name(o.tracker),
          "--durability",
          durability_name(o.durability),
          "--dir",
          o.dir,
          "--pages",
          std::to_string(o.pages),
          "--checkpoint-bytes",
          std::to_string(o.checkpoint_bytes)};
}

}  // namespace crash
