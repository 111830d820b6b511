// bench_common.h — shared plumbing of the arena benchmarks: command line, scratch
// directory (with cleanup on Ctrl-C), machine description, timing, statistics, tables.
//
// Results go to stdout; progress goes to stderr, so `prog > results.txt` keeps only the
// tables while the terminal still shows that a long run is alive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "palloc.h"

namespace bench {

struct Args {
  bool quick = false;
  std::string dir;  // parent of the scratch directory
};

// Parses --help, --quick and --dir DIR. Prints `usage` and exits for --help (status 0)
// and for anything unknown (status 2).
Args parse_args(int argc, char **argv, const char *usage);

// A private scratch directory (mkdtemp) under args.dir, or under the default location
// (the build tree, else $TMPDIR, else /tmp). Files created in it must be registered
// with add_file() *before* they are created, so that a SIGINT/SIGTERM removes them too
// (a half-finished open benchmark may leave 16 GiB behind otherwise).
class Scratch {
 public:
  explicit Scratch(const std::string &parent);
  ~Scratch();
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;

  const std::string &path() const { return path_; }
  // Registers `name` (and, for arenas, name.wal0/.wal1) for cleanup; returns the path.
  std::string add_file(const std::string &name, bool arena = false);
  // Removes the registered files now (the directory stays).
  void remove_files();
  // Removes one arena's files (data file and both logs).
  static void remove_arena(const std::string &path);

 private:
  std::string path_;
};

// The file system holding `path`: its type name, whether it is memory-backed, free bytes.
struct FsInfo {
  std::string type;
  bool memory_backed = false;
  uint64_t free_bytes = 0;
};
FsInfo fs_info(const std::string &path);

// Prints the machine, kernel, the scratch directory and its file system (with a warning
// when fdatasync cannot mean anything there).
void print_environment(const char *title, const Scratch &dir, const Args &args);

uint64_t now_ns();
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Aborts the run with palloc's message when a call failed.
void check(palloc_status s, const char *what);
int64_t check_commit(int64_t epoch);

double median(std::vector<double> v);
double percentile(std::vector<double> v, double p);  // nearest rank, p in [0, 1]

// "12.3 us", "4.56 ms", "1.23 s".
std::string fmt_ns(double ns);
std::string fmt_bytes(uint64_t bytes);  // "4 KiB", "1 GiB"
std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt_ratio(double r);  // "1.57x", "0.004x", "254x"
double mb_per_s(uint64_t bytes, double ns);  // decimal MB/s

// A plain text table: first column left-aligned, the others right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Process-wide resident anonymous memory (RssAnon of /proc/self/status), in bytes.
uint64_t rss_anon_bytes();

// Waits until the arena's background work is done: for ASYNC the last commit is synced
// (palloc_sync), and a checkpoint the last commit triggered has finished (the logs are
// back below checkpoint_bytes). Keeps one measurement from paying for the previous one.
void quiesce(palloc_arena *arena, const palloc_options &opts);

// Default options for a benchmark arena: creation, the given tracker and durability,
// and the binaries check off (the benchmarks do not resume other programs' images).
palloc_options arena_options(palloc_tracker_kind tracker, palloc_durability durability, uint64_t max_size);

const char *tracker_name(palloc_tracker_kind t);
const char *durability_name(palloc_durability d);

}  // namespace bench
