// palloc-bench-commit — commit latency and throughput against the number of dirty pages,
// for every durability mode and tracker, with a plain-file baseline measured in the same
// run: the same bytes appended with pwrite (+ fdatasync for sync) to a file in the same
// directory. Prints ratios; asserts nothing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"

using namespace bench;

namespace {

const char *kUsage =
    "usage: palloc-bench-commit [--quick] [--dir DIR]\n"
    "\n"
    "Commit latency (median, p90) and bandwidth against the number of dirty pages, for the\n"
    "sync, async and none durability modes and the uffd and hash trackers, on an arena\n"
    "whose whole usable size (1 GiB) is resident and committed. Each point is compared with\n"
    "appending the same bytes to a plain file in the same directory (pwrite + fdatasync for\n"
    "sync, pwrite alone for async and none). A second table gives the cost of a 1-page\n"
    "commit against the arena's resident size.\n"
    "\n"
    "  --quick    small arena, few points and repetitions (a smoke run, seconds)\n"
    "  --dir DIR  where the scratch directory goes (default: the build tree, else $TMPDIR);\n"
    "             use a real disk: fdatasync means nothing on tmpfs\n"
    "  --help     this text\n";

struct Config {
  uint64_t arena_bytes;
  std::vector<uint64_t> dirty;
  std::vector<uint64_t> residents;  // table 2
  uint64_t budget_ns;               // per point, palloc and baseline together
  unsigned min_reps, min_reps_big, max_reps;
};

const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
constexpr uint64_t kBaselineWrap = 64ull << 20;  // like the log, the baseline file is emptied now and then

struct Point {
  uint64_t pages = 0;
  unsigned reps = 0;
  double med = 0, p90 = 0, base_med = 0, base_p90 = 0;
  double sustained_mbs = 0;    // payload / (commit + the background work it caused)
  uint64_t bad_page_counts = 0;  // commits that logged a different number of pages than written
};

// The plain-file baseline: appends `len` bytes per call (fdatasync when durable).
class Baseline {
 public:
  Baseline(const std::string &path, uint64_t max_len) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) die("creating %s: %s", path.c_str(), strerror(errno));
    buf_.reset(static_cast<uint8_t *>(aligned_alloc(kPage, max_len)));
    if (!buf_) die("no memory for a %s baseline buffer", fmt_bytes(max_len).c_str());
    memset(buf_.get(), 0x5a, max_len);  // resident, like the arena's pages
  }
  ~Baseline() { ::close(fd_); }

  // Returns the wall time of the timed part in ns.
  double write(uint64_t len, bool durable) {
    if (off_ + len > kBaselineWrap && off_ > 0) {
      // Untimed, like palloc's checkpoint is untimed in the latency column.
      if (ftruncate(fd_, 0) != 0 || fdatasync(fd_) != 0) die("resetting the baseline file: %s", strerror(errno));
      off_ = 0;
    }
    const uint64_t t0 = now_ns();
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = pwrite(fd_, buf_.get() + done, len - done, static_cast<off_t>(off_ + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die("baseline pwrite: %s", strerror(errno));
      done += static_cast<uint64_t>(n);
    }
    if (durable && fdatasync(fd_) != 0) die("baseline fdatasync: %s", strerror(errno));
    const uint64_t t1 = now_ns();
    off_ += len;
    // Untimed: leave nothing dirty behind, so that writeback of the baseline's pages
    // cannot slow down the next palloc measurement (palloc's own checkpoint, which
    // syncs its log, is waited for in the same way).
    if (!durable && fdatasync(fd_) != 0) die("baseline fdatasync: %s", strerror(errno));
    return static_cast<double>(t1 - t0);
  }

 private:
  struct Free {
    void operator()(uint8_t *p) const { free(p); }
  };
  int fd_ = -1;
  uint64_t off_ = 0;
  std::unique_ptr<uint8_t, Free> buf_;
};

// An arena whose usable size is all written and committed, so every page is resident
// and privately owned: the state of a long-running program's heap.
struct Arena {
  palloc_arena *a = nullptr;
  palloc_options opts{};
  uint8_t *base = nullptr;
  uint64_t pages = 0;
  uint8_t counter = 1;

  Arena(const std::string &path, palloc_tracker_kind tracker, palloc_durability mode, uint64_t bytes) {
    opts = arena_options(tracker, mode, bytes);
    check(palloc_open(path.c_str(), &opts, &a), "palloc_open");
    check(palloc_grow(a, bytes), "palloc_grow");
    base = static_cast<uint8_t *>(palloc_base(a));
    pages = bytes / kPage;
    for (uint64_t i = 0; i < pages; i++) base[i * kPage] = counter;
    check_commit(palloc_commit(a));
    quiesce(a, opts);
  }
  ~Arena() { check(palloc_close(a), "palloc_close"); }

  // Writes one byte to each of n pages spread evenly over the arena. Every call stores a
  // new value, so the hash tracker sees a changed page too.
  void dirty(uint64_t n) {
    counter = static_cast<uint8_t>(counter + 1 == 0 ? 1 : counter + 1);
    const uint64_t stride = std::max<uint64_t>(1, pages / n);
    for (uint64_t i = 0; i < n; i++) base[(i * stride % pages) * kPage] = counter;
  }
};

Point measure(Arena &ar, Baseline &bl, uint64_t n, const Config &cfg) {
  Point pt;
  pt.pages = n;
  const bool durable = ar.opts.durability == PALLOC_DURABILITY_SYNC;
  const unsigned min_reps = n >= 16384 ? cfg.min_reps_big : cfg.min_reps;
  std::vector<double> lat, base;
  double sustained_ns = 0;
  const uint64_t start = now_ns();
  while (pt.reps < cfg.max_reps && (pt.reps < min_reps || now_ns() - start < cfg.budget_ns)) {
    ar.dirty(n);
    const uint64_t t0 = now_ns();
    check_commit(palloc_commit(ar.a));
    const uint64_t t1 = now_ns();
    quiesce(ar.a, ar.opts);
    const uint64_t t2 = now_ns();
    palloc_stats st;
    check(palloc_get_stats(ar.a, &st), "palloc_get_stats");
    if (st.last_commit_pages != n) pt.bad_page_counts++;
    lat.push_back(static_cast<double>(t1 - t0));
    sustained_ns += static_cast<double>(t2 - t0);
    base.push_back(bl.write(n * kPage, durable));
    pt.reps++;
  }
  pt.med = median(lat);
  pt.p90 = percentile(lat, 0.9);
  pt.base_med = median(base);
  pt.base_p90 = percentile(base, 0.9);
  pt.sustained_mbs = mb_per_s(n * kPage * pt.reps, sustained_ns);
  return pt;
}

}  // namespace

int main(int argc, char **argv) {
  const Args args = parse_args(argc, argv, kUsage);
  Config cfg;
  if (args.quick) {
    cfg = {16ull << 20, {1, 16, 256, 1024}, {1ull << 20, 16ull << 20}, 30'000'000, 3, 2, 40};
  } else {
    cfg = {1ull << 30,
           {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536},
           {1ull << 20, 16ull << 20, 128ull << 20, 1ull << 30},
           1'500'000'000,
           7, 5, 400};
  }
  Scratch dir(args.dir);
  print_environment("palloc-bench-commit: commit latency and bandwidth vs dirty pages", dir, args);

  std::vector<palloc_tracker_kind> trackers;
  if (palloc_uffd_supported()) trackers.push_back(PALLOC_TRACKER_UFFD);
  trackers.push_back(PALLOC_TRACKER_HASH);
  const palloc_durability modes[] = {PALLOC_DURABILITY_SYNC, PALLOC_DURABILITY_ASYNC, PALLOC_DURABILITY_NONE};

  const std::string arena_path = dir.add_file("commit.arena", true);
  const std::string base_path = dir.add_file("baseline.dat");
  Baseline bl(base_path, cfg.dirty.back() * kPage);

  printf("Arena: %s usable, all of it written and committed before measuring, so %s is resident\n"
         "and privately owned (the hash tracker hashes all of it at every commit; the uffd tracker\n"
         "walks its page tables). Dirty pages are spread evenly over the arena, one byte written\n"
         "to each. Latency is palloc_commit's wall time; the background checkpoint a commit\n"
         "triggers is waited for before the next measurement and counted only in 'sustained'.\n"
         "Baseline: the same payload appended to a plain file with pwrite (+ fdatasync for sync;\n"
         "for async and none an untimed fdatasync follows, so no baseline data is left dirty).\n"
         "MB/s are payload bytes (pages x %llu) per second. ratio = palloc / baseline latency.\n\n",
         fmt_bytes(cfg.arena_bytes).c_str(), fmt_bytes(cfg.arena_bytes).c_str(),
         static_cast<unsigned long long>(kPage));

  // Results for the summary, keyed by tracker and mode.
  std::map<std::pair<int, int>, std::vector<Point>> results;
  for (palloc_tracker_kind tr : trackers) {
    for (palloc_durability mode : modes) {
      progress("%s/%s: preparing a %s arena (write + commit all of it)", tracker_name(tr), durability_name(mode),
               fmt_bytes(cfg.arena_bytes).c_str());
      const uint64_t t0 = now_ns();
      Scratch::remove_arena(arena_path);
      Arena ar(arena_path, tr, mode, cfg.arena_bytes);
      progress("%s/%s: prepared in %s; resident anonymous memory %s", tracker_name(tr), durability_name(mode),
               fmt_ns(static_cast<double>(now_ns() - t0)).c_str(), fmt_bytes(rss_anon_bytes()).c_str());
      Table t({"dirty pages", "payload", "reps", "median", "p90", "MB/s", "base median", "base p90", "base MB/s",
               "ratio", "bw vs base", "sustained MB/s"});
      std::vector<Point> pts;
      for (uint64_t n : cfg.dirty) {
        if (n > ar.pages) continue;
        progress("%s/%s: %llu dirty pages", tracker_name(tr), durability_name(mode), static_cast<unsigned long long>(n));
        Point p = measure(ar, bl, n, cfg);
        if (p.bad_page_counts)
          printf("NOTE: %s/%s, %llu dirty pages: %llu of %u commits logged a different number of pages\n",
                 tracker_name(tr), durability_name(mode), static_cast<unsigned long long>(n),
                 static_cast<unsigned long long>(p.bad_page_counts), p.reps);
        const uint64_t bytes = n * kPage;
        t.add({std::to_string(n), fmt_bytes(bytes), std::to_string(p.reps), fmt_ns(p.med), fmt_ns(p.p90),
               fmt("%.1f", mb_per_s(bytes, p.med)), fmt_ns(p.base_med), fmt_ns(p.base_p90),
               fmt("%.1f", mb_per_s(bytes, p.base_med)), fmt_ratio(p.med / p.base_med),
               fmt("%.0f%%", 100.0 * p.base_med / p.med), fmt("%.1f", p.sustained_mbs)});
        pts.push_back(p);
      }
      printf("-- tracker %s, durability %s (resident %s; baseline: pwrite%s) --\n", tracker_name(tr),
             durability_name(mode), fmt_bytes(cfg.arena_bytes).c_str(),
             mode == PALLOC_DURABILITY_SYNC ? " + fdatasync" : " only");
      t.print();
      printf("\n");
      results[{tr, mode}] = pts;
    }
  }

  // Table 2: what a 1-page commit costs, against the resident size (durability none, so
  // only CPU work and a page-cache write remain).
  printf("-- 1-page commit (durability none) vs resident arena size --\n");
  printf("Shows the part of the commit cost that grows with the heap: the uffd tracker's page-table\n"
         "walk, the hash tracker's pagemap read and hashing of every resident page.\n");
  Table t2({"resident", "tracker", "reps", "0-page median", "1-page median", "1-page p90", "per resident GiB"});
  std::map<int, std::vector<std::pair<uint64_t, double>>> one_page;
  for (palloc_tracker_kind tr : trackers) {
    for (uint64_t res : cfg.residents) {
      progress("resident %s, %s: preparing", fmt_bytes(res).c_str(), tracker_name(tr));
      Scratch::remove_arena(arena_path);
      Arena ar(arena_path, tr, PALLOC_DURABILITY_NONE, res);
      std::vector<double> empty, one;
      const uint64_t start = now_ns();
      while (one.size() < cfg.max_reps && (one.size() < cfg.min_reps || now_ns() - start < cfg.budget_ns / 2)) {
        uint64_t t0 = now_ns();
        check_commit(palloc_commit(ar.a));
        uint64_t t1 = now_ns();
        empty.push_back(static_cast<double>(t1 - t0));
        ar.dirty(1);
        t0 = now_ns();
        check_commit(palloc_commit(ar.a));
        t1 = now_ns();
        one.push_back(static_cast<double>(t1 - t0));
        quiesce(ar.a, ar.opts);
      }
      const double m = median(one);
      one_page[tr].push_back({res, m});
      t2.add({fmt_bytes(res), tracker_name(tr), std::to_string(one.size()), fmt_ns(median(empty)), fmt_ns(m),
              fmt_ns(percentile(one, 0.9)), fmt_ns(m / (static_cast<double>(res) / (1ull << 30)))});
    }
  }
  t2.print();
  printf("\n");

  // Summary against the targets (a reading, not an assertion).
  printf("-- summary against the targets --\n");
  Table s({"target", "tracker", "mode", "measured", "verdict"});
  for (palloc_tracker_kind tr : trackers) {
    const auto &pts = results[{tr, PALLOC_DURABILITY_NONE}];
    if (!pts.empty() && pts.front().pages == 1)
      s.add({"1-page commit, none, < 50 us (resident " + fmt_bytes(cfg.arena_bytes) + ")", tracker_name(tr), "none",
             fmt_ns(pts.front().med), pts.front().med < 50e3 ? "met" : "not met"});
    for (const auto &[res, m] : one_page[tr])
      if (res <= (16ull << 20))
        s.add({"1-page commit, none, < 50 us (resident " + fmt_bytes(res) + ")", tracker_name(tr), "none", fmt_ns(m),
               m < 50e3 ? "met" : "not met"});
  }
  for (palloc_tracker_kind tr : trackers)
    for (palloc_durability mode : modes) {
      const auto &pts = results[{tr, mode}];
      if (pts.empty()) continue;
      const Point &p = pts.back();
      const double pct = 100.0 * p.base_med / p.med;
      s.add({"largest commit (" + fmt_bytes(p.pages * kPage) + ") >= 50% of baseline bandwidth", tracker_name(tr),
             durability_name(mode), fmt("%.0f%%", pct), pct >= 50 ? "met" : "not met"});
    }
  s.print();
  return 0;
}
