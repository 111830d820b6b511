// torture_options.h — the command line of palloc-torture (shared by parent and child:
// the parent passes its options on to every child it starts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "palloc.h"
#include "workload.h"

namespace crash {

struct TortureOptions {
  uint64_t kills = 1000;
  uint64_t seed = 1;
  palloc_tracker_kind tracker = PALLOC_TRACKER_AUTO;
  palloc_durability durability = PALLOC_DURABILITY_SYNC;
  std::string dir;                         // empty: a fresh temporary directory
  uint64_t pages = 2048;                   // the arena grows up to this many pages
  uint64_t checkpoint_bytes = 4ull << 20;  // log size that triggers a checkpoint
  uint64_t max_acks = 16;                  // a kill comes after 0..max_acks commits
  uint64_t full_check_every = 250;         // the parent itself reopens and compares every N kills
  uint64_t progress_every = 0;             // 0: about ten reports per run
  bool keep = false;                       // keep the directory even if everything passed
  bool child = false;                      // internal: run as the child that gets killed
  bool tracker_given = false;              // --tracker was on the command line

  // Lua mode (--lua-persist): the child is lua-persist running a Lua workload.
  std::string lua_persist;  // the lua-persist binary; empty: the C workload
  std::string lua_script;   // the workload script
};

// Parses argv. Returns -1 to go on, or an exit code (0 after --help, 2 on bad usage)
// with the text to print in *out.
int parse_torture_options(int argc, char **argv, TortureOptions *opts, std::string *out);
// The arguments that make a child with the same options.
std::vector<std::string> child_arguments(const TortureOptions &opts);

// The workload, the arena's path and its open options, as both sides must see them.
WorkloadParams workload_params(const TortureOptions &opts);
std::string arena_path(const TortureOptions &opts);
palloc_options arena_options(const TortureOptions &opts, bool create);

const char *tracker_name(palloc_tracker_kind t);
const char *durability_name(palloc_durability d);

}  // namespace crash
