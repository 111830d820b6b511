// torture_run.h — what the two kill-and-check loops of palloc-torture share: the C
// workload (torture.cpp) and lua-persist (torture_lua.cpp).
#pragma once

#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "palloc.h"
#include "torture_options.h"

namespace crash {

// CLOCK_MONOTONIC in nanoseconds.
inline uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The run's directory: opts->dir, created if missing, or else a new one under $TMPDIR
// (or /tmp) named PREFIX-XXXXXX (then *own is set: the run may remove it). opts->dir
// becomes absolute. False with *error if it cannot be made.
inline bool make_run_dir(TortureOptions *opts, const char *prefix, bool *own, std::string *error) {
  if (opts->dir.empty()) {
    const char *tmp = getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    if (!mkdtemp(templ.data())) {
      *error = "mkdtemp " + templ + ": " + strerror(errno);
      return false;
    }
    opts->dir = templ;
    *own = true;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(opts->dir, ec);
    if (ec) {
      *error = "creating " + opts->dir + ": " + ec.message();
      return false;
    }
  }
  opts->dir = std::filesystem::absolute(opts->dir).string();
  return true;
}

// The start of a run: -1 to go on, or its exit status: 77 (skipped) if the uffd tracker
// was asked for and the kernel lacks it, 2 if setup(&error) fails (said on stderr).
template <class Setup>
int start_run(const TortureOptions &opts, Setup setup) {
  if (opts.tracker == PALLOC_TRACKER_UFFD && !palloc_uffd_supported()) {
    printf("SKIP: --tracker uffd needs userfaultfd async write-protect and PAGEMAP_SCAN (Linux 6.7+)\n");
    return 77;
  }
  std::string error;
  if (!setup(&error)) {
    fprintf(stderr, "palloc-torture: %s\n", error.c_str());
    return 2;
  }
  return -1;
}

// Calls round() until `kills` (which the rounds count up) reaches opts.kills, and
// progress() every opts.progress_every kills (0: about ten times a run) but not after
// the last.
template <class Round, class Progress>
void run_rounds(const TortureOptions &opts, const uint64_t &kills, Round round, Progress progress) {
  const uint64_t every = opts.progress_every ? opts.progress_every : std::max<uint64_t>(1, opts.kills / 10);
  uint64_t next_report = every;
  while (kills < opts.kills) {
    round();
    if (kills >= next_report && kills < opts.kills) {
      progress();
      next_report += every;
    }
  }
}

// The exit status of a run: 0 if nothing was lost or corrupt, else 1. A run that passed
// removes its directory if it made it (own_dir) and --keep was not given; one that
// failed says where its files are.
inline int finish_run(const TortureOptions &opts, bool own_dir, uint64_t lost, uint64_t corrupt) {
  const bool ok = lost == 0 && corrupt == 0;
  if (own_dir && ok && !opts.keep) {
    std::error_code ec;
    std::filesystem::remove_all(opts.dir, ec);
  } else if (!ok) {
    printf("  files kept in %s\n", opts.dir.c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace crash
