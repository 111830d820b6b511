// palloc-bench-tracking — what dirty tracking costs. The two trackers put the cost in
// different places: uffd charges a write-protect fault on the first write to a page
// after each commit and scans only populated page tables at commit; hash lets writes run
// at full speed and hashes every resident page at commit. Part 1 measures both against
// an untracked anonymous mapping; part 2 measures the commit-time scan against how widely
// the populated pages are spread. Prints ratios; asserts nothing.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"

using namespace bench;

namespace {

const char *kUsage =
    "usage: palloc-bench-tracking [--quick] [--dir DIR]\n"
    "\n"
    "Part 1: the cost of the first write to a page in each commit interval (one byte written\n"
    "to each of N pages, then a commit with durability none, repeated) for the uffd and hash\n"
    "trackers, against an untracked anonymous mapping; reports ns per first write and commit\n"
    "cost per page.\n"
    "Part 2: commit cost against the populated span: 1,000 pages spread over 4 MiB ... 16 GiB;\n"
    "an empty commit (pure scan) and a commit of all 1,000 pages. Needs up to 16 GiB of free\n"
    "disk (reserved with fallocate, not written); with less, the span is scaled down.\n"
    "\n"
    "  --quick    small sizes and few repetitions (a smoke run, seconds)\n"
    "  --dir DIR  where the scratch directory goes (default: the build tree, else $TMPDIR)\n"
    "  --help     this text\n";

const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));

struct Sample {
  std::vector<double> write_ns;   // per page
  std::vector<double> commit_ns;  // whole commit
};

// Writes one byte to each of n pages spread over [base, base + pages*kPage); returns ns.
double touch(uint8_t *base, uint64_t pages, uint64_t n, uint8_t value) {
  const uint64_t stride = std::max<uint64_t>(1, pages / n);
  volatile uint8_t *b = base;
  const uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) b[(i * stride % pages) * kPage] = value;
  return static_cast<double>(now_ns() - t0);
}

bool keep_going(size_t reps, uint64_t start, unsigned min_reps, unsigned max_reps, uint64_t budget) {
  return reps < max_reps && (reps < min_reps || now_ns() - start < budget);
}

}  // namespace

int main(int argc, char **argv) {
  const Args args = parse_args(argc, argv, kUsage);
  const uint64_t arena_bytes = args.quick ? 16ull << 20 : 256ull << 20;
  const std::vector<uint64_t> counts = args.quick ? std::vector<uint64_t>{256, 4096}
                                                  : std::vector<uint64_t>{1024, 16384, 65536};
  std::vector<uint64_t> spans = args.quick ? std::vector<uint64_t>{4ull << 20, 64ull << 20, 256ull << 20}
                                           : std::vector<uint64_t>{4ull << 20, 64ull << 20, 1ull << 30, 16ull << 30};
  const unsigned min_reps = args.quick ? 3 : 7, max_reps = args.quick ? 10 : 200;
  const uint64_t budget = args.quick ? 20'000'000 : 1'500'000'000;
  constexpr uint64_t kSpread = 1000;

  Scratch dir(args.dir);
  print_environment("palloc-bench-tracking: dirty-tracking cost", dir, args);
  std::vector<palloc_tracker_kind> trackers;
  if (palloc_uffd_supported()) trackers.push_back(PALLOC_TRACKER_UFFD);
  trackers.push_back(PALLOC_TRACKER_HASH);
  const std::string path = dir.add_file("tracking.arena", true);
  const uint64_t pages = arena_bytes / kPage;

  // ---- Part 1: first write per commit interval ----
  printf("Part 1: %s arena, all of it written and committed first (resident). Each round writes one\n"
         "byte to each of N pages spread over it, then commits (durability none). 'write/page' is the\n"
         "time of the write loop divided by N; 'commit/page' the commit's time divided by N.\n"
         "Baselines, same loop on an untracked anonymous mapping of the same size: 'anon populated'\n"
         "(pages already present: no fault) and 'anon first touch' (fresh pages: a fault and a\n"
         "zeroed page each).\n\n",
         fmt_bytes(arena_bytes).c_str());
  Table t1({"N pages", "memory", "rounds", "write/page", "vs anon populated", "vs anon first touch", "commit/page",
            "commit total", "write+commit/page"});
  for (uint64_t n : counts) {
    if (n > pages) continue;
    // Baselines.
    progress("N=%llu: anonymous baselines", static_cast<unsigned long long>(n));
    auto *anon = static_cast<uint8_t *>(
        mmap(nullptr, arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (anon == MAP_FAILED) die("mmap: %s", strerror(errno));
    madvise(anon, arena_bytes, MADV_NOHUGEPAGE);  // like the arena: 4 KiB pages
    std::vector<double> pop, first;
    uint64_t start = now_ns();
    uint8_t v = 1;
    while (keep_going(first.size(), start, min_reps, max_reps, budget / 4)) {
      madvise(anon, arena_bytes, MADV_DONTNEED);  // back to no pages at all
      first.push_back(touch(anon, pages, n, v++) / static_cast<double>(n));
      pop.push_back(touch(anon, pages, n, v++) / static_cast<double>(n));
    }
    munmap(anon, arena_bytes);
    const double pop_med = median(pop), first_med = median(first);
    t1.add({std::to_string(n), "anon populated", std::to_string(pop.size()), fmt_ns(pop_med), "1.00x",
            fmt_ratio(pop_med / first_med), "-", "-", "-"});
    t1.add({std::to_string(n), "anon first touch", std::to_string(first.size()), fmt_ns(first_med),
            fmt_ratio(first_med / pop_med), "1.00x", "-", "-", "-"});

    for (palloc_tracker_kind tr : trackers) {
      progress("N=%llu: %s tracker", static_cast<unsigned long long>(n), tracker_name(tr));
      Scratch::remove_arena(path);
      palloc_options o = arena_options(tr, PALLOC_DURABILITY_NONE, arena_bytes);
      palloc_arena *a = nullptr;
      check(palloc_open(path.c_str(), &o, &a), "palloc_open");
      check(palloc_grow(a, arena_bytes), "palloc_grow");
      auto *base = static_cast<uint8_t *>(palloc_base(a));
      touch(base, pages, pages, 1);
      check_commit(palloc_commit(a));
      quiesce(a, o);
      Sample s;
      start = now_ns();
      v = 2;
      while (keep_going(s.commit_ns.size(), start, min_reps, max_reps, budget)) {
        s.write_ns.push_back(touch(base, pages, n, v++) / static_cast<double>(n));
        if (v == 0) v = 1;
        const uint64_t t0 = now_ns();
        check_commit(palloc_commit(a));
        s.commit_ns.push_back(static_cast<double>(now_ns() - t0));
        palloc_stats st;
        check(palloc_get_stats(a, &st), "palloc_get_stats");
        if (st.last_commit_pages != n)
          printf("NOTE: %s: a commit after writing %llu pages logged %llu\n", tracker_name(tr),
                 static_cast<unsigned long long>(n), static_cast<unsigned long long>(st.last_commit_pages));
        quiesce(a, o);
      }
      check(palloc_close(a), "palloc_close");
      const double w = median(s.write_ns), c = median(s.commit_ns);
      t1.add({std::to_string(n), std::string(tracker_name(tr)) + " arena", std::to_string(s.commit_ns.size()),
              fmt_ns(w), fmt_ratio(w / pop_med), fmt_ratio(w / first_med),
              fmt_ns(c / static_cast<double>(n)), fmt_ns(c), fmt_ns(w + c / static_cast<double>(n))});
    }
  }
  Scratch::remove_arena(path);
  printf("-- part 1: first write per commit interval (medians) --\n");
  t1.print();
  printf("\n");

  // ---- Part 2: scan cost vs populated span ----
  const uint64_t free_bytes = fs_info(dir.path()).free_bytes;
  auto need = [](uint64_t s) { return s + s / 512 + (256ull << 20) + (1ull << 30); };
  for (uint64_t &s : spans) {
    if (need(s) <= free_bytes) continue;
    uint64_t scaled = s;
    while (scaled > (8ull << 20) && need(scaled) > free_bytes) scaled /= 2;
    printf("NOTE: only %s free in %s: a %s span needs about %s; measuring %s instead.\n",
           fmt_bytes(free_bytes).c_str(), dir.path().c_str(), fmt_bytes(s).c_str(), fmt_bytes(need(s)).c_str(),
           fmt_bytes(scaled).c_str());
    s = scaled;
  }
  spans.erase(std::unique(spans.begin(), spans.end()), spans.end());

  printf("Part 2: an arena grown to the span, %llu pages spread evenly over it written and committed.\n"
         "'empty commit' commits with nothing written (the tracker's scan alone); '1000-page commit'\n"
         "rewrites all %llu pages first (write time excluded). Durability none.\n\n",
         static_cast<unsigned long long>(kSpread), static_cast<unsigned long long>(kSpread));
  Table t2({"span", "tracker", "reps", "empty commit", "p90", "vs densest", "1000-page commit", "p90", "vs densest"});
  for (palloc_tracker_kind tr : trackers) {
    double ref_empty = 0, ref_full = 0;
    for (uint64_t span : spans) {
      progress("span %s: %s tracker", fmt_bytes(span).c_str(), tracker_name(tr));
      Scratch::remove_arena(path);
      palloc_options o = arena_options(tr, PALLOC_DURABILITY_NONE, span);
      palloc_arena *a = nullptr;
      check(palloc_open(path.c_str(), &o, &a), "palloc_open");
      check(palloc_grow(a, span), "palloc_grow");
      auto *base = static_cast<uint8_t *>(palloc_base(a));
      const uint64_t span_pages = span / kPage;
      uint8_t v = 1;
      touch(base, span_pages, kSpread, v++);
      check_commit(palloc_commit(a));
      quiesce(a, o);
      std::vector<double> empty, full;
      const uint64_t start = now_ns();
      while (keep_going(full.size(), start, min_reps, max_reps, budget / 2)) {
        uint64_t t0 = now_ns();
        check_commit(palloc_commit(a));
        empty.push_back(static_cast<double>(now_ns() - t0));
        touch(base, span_pages, kSpread, v++);
        if (v == 0) v = 1;
        t0 = now_ns();
        check_commit(palloc_commit(a));
        full.push_back(static_cast<double>(now_ns() - t0));
        palloc_stats st;
        check(palloc_get_stats(a, &st), "palloc_get_stats");
        if (st.last_commit_pages != kSpread)
          printf("NOTE: %s, span %s: a commit after writing %llu pages logged %llu\n", tracker_name(tr),
                 fmt_bytes(span).c_str(), static_cast<unsigned long long>(kSpread),
                 static_cast<unsigned long long>(st.last_commit_pages));
        quiesce(a, o);
      }
      check(palloc_close(a), "palloc_close");
      Scratch::remove_arena(path);
      const double e = median(empty), f = median(full);
      if (ref_empty == 0) {
        ref_empty = e;
        ref_full = f;
      }
      t2.add({fmt_bytes(span), tracker_name(tr), std::to_string(full.size()), fmt_ns(e), fmt_ns(percentile(empty, 0.9)),
              fmt_ratio(e / ref_empty), fmt_ns(f), fmt_ns(percentile(full, 0.9)), fmt_ratio(f / ref_full)});
    }
  }
  printf("-- part 2: commit cost vs populated span, %llu pages (medians) --\n", static_cast<unsigned long long>(kSpread));
  t2.print();
  return 0;
}
