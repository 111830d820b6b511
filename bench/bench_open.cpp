// palloc-bench-open — how long resuming an arena takes against its size. The design
// promises that opening a 100 GiB arena costs about as much as opening a 1 MiB one
// (the image is mapped lazily); this measures it for 1 MiB, 1 GiB and 16 GiB and prints
// each size's open time as a ratio of the 1 MiB case. Asserts nothing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bench_common.h"

using namespace bench;

namespace {

const char *kUsage =
    "usage: palloc-bench-open [--quick] [--dir DIR]\n"
    "\n"
    "Open (resume) time against arena size: 1 MiB, 1 GiB and 16 GiB usable. Each arena is\n"
    "created, grown, a sample of its pages written and committed, and closed; then it is\n"
    "opened repeatedly, with its files in the page cache (warm) and evicted from it (cold),\n"
    "timing palloc_open, the first reads of a few pages, a first 1-page commit and\n"
    "palloc_close separately. Needs about 16 GiB of free disk (space is reserved with\n"
    "fallocate, not written); with less, the largest size is scaled down, with a message.\n"
    "Files are removed afterwards.\n"
    "\n"
    "  --quick    1 MiB and 64 MiB only, few repetitions (a smoke run, seconds)\n"
    "  --dir DIR  where the scratch directory goes (default: the build tree, else $TMPDIR);\n"
    "             use a real disk\n"
    "  --help     this text\n";

const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
constexpr uint64_t kSamplePages = 1024;  // written before the arena is closed
constexpr uint64_t kReadPages = 16;      // read right after opening

struct Row {
  uint64_t size = 0;
  palloc_tracker_kind tracker{};
  std::vector<double> open_warm, open_cold, read_cold, commit, close;
};

// Page i of the sample holds this value in its first 8 bytes (checked after each open).
uint64_t sample_value(uint64_t i) { return 0x9e3779b97f4a7c15ull * (i + 1); }

uint64_t sample_page(uint64_t i, uint64_t pages) {
  const uint64_t n = std::min(kSamplePages, pages);
  return i * (pages / n);
}

void create_arena(const std::string &path, uint64_t size) {
  palloc_options o = arena_options(PALLOC_TRACKER_AUTO, PALLOC_DURABILITY_SYNC, size);
  palloc_arena *a = nullptr;
  check(palloc_open(path.c_str(), &o, &a), "palloc_open (create)");
  check(palloc_grow(a, size), "palloc_grow");
  auto *base = static_cast<uint8_t *>(palloc_base(a));
  const uint64_t pages = size / kPage;
  for (uint64_t i = 0; i < std::min(kSamplePages, pages); i++) {
    const uint64_t v = sample_value(i);
    memcpy(base + sample_page(i, pages) * kPage, &v, 8);
  }
  check_commit(palloc_commit(a));
  check(palloc_close(a), "palloc_close");
}

// Drops the arena's clean pages from the page cache (everything is synced at close).
void evict(const std::string &path) {
  for (const char *suffix : {"", ".wal0", ".wal1"}) {
    int fd = ::open((path + suffix).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)fdatasync(fd);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// One resume: open, read a few sample pages, commit one changed page, close.
void one_run(const std::string &path, uint64_t size, palloc_tracker_kind tracker, bool cold, Row *row, unsigned run) {
  if (cold) evict(path);
  palloc_options o = arena_options(tracker, PALLOC_DURABILITY_NONE, size);
  o.flags &= ~PALLOC_CREATE;
  palloc_arena *a = nullptr;
  const uint64_t t0 = now_ns();
  check(palloc_open(path.c_str(), &o, &a), "palloc_open");
  const uint64_t t1 = now_ns();
  auto *base = static_cast<volatile uint8_t *>(palloc_base(a));
  const uint64_t pages = palloc_size(a) / kPage;
  const uint64_t nsample = std::min(kSamplePages, pages);
  uint64_t bad = 0;
  for (uint64_t k = 0; k < kReadPages; k++) {
    // Different pages each run, so a warm run does not find them already mapped.
    const uint64_t i = (k * (nsample / kReadPages) + run) % nsample;
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--) v = (v << 8) | base[sample_page(i, pages) * kPage + static_cast<uint64_t>(b)];
    bad += v != sample_value(i);
  }
  const uint64_t t2 = now_ns();
  if (bad) die("%llu sample pages read back wrong after open", static_cast<unsigned long long>(bad));
  // A first commit after the open: the hash tracker reads the whole range's pagemap here.
  const uint64_t p = sample_page(nsample - 1, pages) * kPage + 8;
  base[p] = static_cast<uint8_t>(base[p] + 1);
  const uint64_t t3 = now_ns();
  check_commit(palloc_commit(a));
  const uint64_t t4 = now_ns();
  check(palloc_close(a), "palloc_close");
  const uint64_t t5 = now_ns();
  (cold ? row->open_cold : row->open_warm).push_back(static_cast<double>(t1 - t0));
  if (cold) row->read_cold.push_back(static_cast<double>(t2 - t1));
  if (!cold) {
    row->commit.push_back(static_cast<double>(t4 - t3));
    row->close.push_back(static_cast<double>(t5 - t4));
  }
}

}  // namespace

int main(int argc, char **argv) {
  const Args args = parse_args(argc, argv, kUsage);
  std::vector<uint64_t> sizes = args.quick ? std::vector<uint64_t>{1ull << 20, 64ull << 20}
                                           : std::vector<uint64_t>{1ull << 20, 1ull << 30, 16ull << 30};
  const unsigned runs = args.quick ? 3 : 15;
  Scratch dir(args.dir);
  print_environment("palloc-bench-open: resume time vs arena size", dir, args);

  // Space: the data file reserves the usable size plus 8 bytes of checksum table per
  // page; the logs hold the sample commits. Keep 1 GiB spare for everyone else.
  const uint64_t free_bytes = fs_info(dir.path()).free_bytes;
  auto need = [](uint64_t s) { return s + s / 512 + (256ull << 20) + (1ull << 30); };
  for (uint64_t &s : sizes) {
    if (need(s) <= free_bytes) continue;
    uint64_t scaled = s;
    while (scaled > (2ull << 20) && need(scaled) > free_bytes) scaled /= 2;
    printf("NOTE: only %s free in %s: the %s arena needs about %s; measuring %s instead.\n",
           fmt_bytes(free_bytes).c_str(), dir.path().c_str(), fmt_bytes(s).c_str(), fmt_bytes(need(s)).c_str(),
           fmt_bytes(scaled).c_str());
    s = scaled;
  }
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  std::vector<palloc_tracker_kind> trackers;
  if (palloc_uffd_supported()) trackers.push_back(PALLOC_TRACKER_UFFD);
  trackers.push_back(PALLOC_TRACKER_HASH);

  printf("Each arena: created, grown to its size (disk reserved with fallocate), %llu sample pages\n"
         "spread over it written and committed, closed. Then %u resumes per tracker and cache state:\n"
         "  open      palloc_open (lock, header, recovery of empty logs, mapping, tracker setup)\n"
         "  reads     first read of %llu sample pages right after the open (page faults on the file)\n"
         "  commit    first commit after the open, 1 page changed, durability none\n"
         "  close     palloc_close (checkpoints that commit into the data file)\n"
         "warm: the files are in the page cache; cold: evicted with posix_fadvise(DONTNEED) first.\n\n",
         static_cast<unsigned long long>(kSamplePages), runs, static_cast<unsigned long long>(kReadPages));

  const std::string path = dir.add_file("open.arena", true);
  std::vector<Row> rows;
  for (uint64_t size : sizes) {
    progress("%s: creating (grow, write %llu pages, commit, close)", fmt_bytes(size).c_str(),
             static_cast<unsigned long long>(std::min(kSamplePages, size / kPage)));
    Scratch::remove_arena(path);
    const uint64_t t0 = now_ns();
    create_arena(path, size);
    progress("%s: created in %s", fmt_bytes(size).c_str(), fmt_ns(static_cast<double>(now_ns() - t0)).c_str());
    for (palloc_tracker_kind tr : trackers) {
      Row row;
      row.size = size;
      row.tracker = tr;
      progress("%s, %s: %u warm and %u cold resumes", fmt_bytes(size).c_str(), tracker_name(tr), runs, runs);
      one_run(path, size, tr, false, &row, 0);  // not counted: brings the files into the cache
      row = Row{size, tr, {}, {}, {}, {}, {}};
      for (unsigned r = 0; r < runs; r++) {
        one_run(path, size, tr, false, &row, 2 * r + 1);
        one_run(path, size, tr, true, &row, 2 * r + 2);
      }
      rows.push_back(std::move(row));
    }
    Scratch::remove_arena(path);
  }

  std::map<int, std::pair<double, double>> ref;  // tracker -> 1 MiB open medians (warm, cold)
  for (const Row &r : rows)
    if (r.size == sizes.front()) ref[r.tracker] = {median(r.open_warm), median(r.open_cold)};
  printf("-- resume time vs arena size (median of %u; p90 in parentheses) --\n", runs);
  Table t({"usable size", "tracker", "open warm", "open cold", "reads cold", "first commit", "close",
           "warm vs " + fmt_bytes(sizes.front()), "cold vs " + fmt_bytes(sizes.front())});
  for (const Row &r : rows) {
    const double ow = median(r.open_warm), oc = median(r.open_cold);
    t.add({fmt_bytes(r.size), tracker_name(r.tracker), fmt_ns(ow) + " (" + fmt_ns(percentile(r.open_warm, 0.9)) + ")",
           fmt_ns(oc) + " (" + fmt_ns(percentile(r.open_cold, 0.9)) + ")", fmt_ns(median(r.read_cold)),
           fmt_ns(median(r.commit)), fmt_ns(median(r.close)), fmt_ratio(ow / ref[r.tracker].first),
           fmt_ratio(oc / ref[r.tracker].second)});
  }
  t.print();
  printf("\n-- summary against the target (open of the largest size <= 2x the %s open) --\n",
         fmt_bytes(sizes.front()).c_str());
  Table s({"tracker", "cache", "largest", "ratio", "verdict"});
  for (const Row &r : rows) {
    if (r.size != sizes.back()) continue;
    const double w = median(r.open_warm) / ref[r.tracker].first, c = median(r.open_cold) / ref[r.tracker].second;
    s.add({tracker_name(r.tracker), "warm", fmt_bytes(r.size), fmt_ratio(w), w <= 2 ? "met" : "not met"});
    s.add({tracker_name(r.tracker), "cold", fmt_bytes(r.size), fmt_ratio(c), c <= 2 ? "met" : "not met"});
  }
  s.print();
  return 0;
}
