// bench_common.cpp — see bench_common.h.
#include "bench_common.h"

#include "launch.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#ifndef PALLOC_BENCH_DEFAULT_DIR
#define PALLOC_BENCH_DEFAULT_DIR ""
#endif

namespace bench {

namespace {

// Cleanup registry, readable from a signal handler: fixed buffers, no allocation there.
constexpr int kMaxFiles = 64;
constexpr int kPathMax = 1024;
char g_dir[kPathMax];
char g_files[kMaxFiles][kPathMax];
volatile sig_atomic_t g_nfiles = 0;

void remove_registered() {
  for (int i = 0; i < g_nfiles; i++) unlink(g_files[i]);
}

void on_signal(int sig) {
  remove_registered();
  if (g_dir[0]) rmdir(g_dir);
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string vfmt(const char *f, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(nullptr, 0, f, ap2);
  va_end(ap2);
  std::string s(static_cast<size_t>(std::max(n, 0)), '\0');
  vsnprintf(s.data(), s.size() + 1, f, ap);
  return s;
}

std::string read_first_line_matching(const char *file, const char *prefix) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

}  // namespace

Args parse_args(int argc, char **argv, const char *usage) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") {
      fputs(usage, stdout);
      exit(0);
    } else if (s == "--quick") {
      a.quick = true;
    } else if (s == "--dir" && i + 1 < argc) {
      a.dir = argv[++i];
    } else if (s.rfind("--dir=", 0) == 0) {
      a.dir = s.substr(6);
    } else {
      fprintf(stderr, "%s: unknown argument '%s'\n\n", argv[0], argv[i]);
      fputs(usage, stderr);
      exit(2);
    }
  }
  return a;
}

Scratch::Scratch(const std::string &parent) {
  std::vector<std::string> candidates;
  if (!parent.empty()) {
    candidates.push_back(parent);  // an explicit --dir is the only choice
  } else {
    if (*PALLOC_BENCH_DEFAULT_DIR) candidates.push_back(PALLOC_BENCH_DEFAULT_DIR);
    if (const char *t = getenv("TMPDIR"); t && *t) candidates.push_back(t);
    candidates.push_back("/tmp");
  }
  for (const std::string &c : candidates) {
    if (!palloc::launch::make_dirs(c)) continue;
    std::string tmpl = c + "/palloc-bench-XXXXXX";
    if (tmpl.size() >= kPathMax - 64) continue;
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) continue;
    path_ = buf.data();
    break;
  }
  if (path_.empty())
    die("cannot create a scratch directory under %s: %s", parent.empty() ? "the build tree, $TMPDIR or /tmp" : parent.c_str(),
        strerror(errno));
  snprintf(g_dir, sizeof g_dir, "%s", path_.c_str());
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  sigaction(SIGPIPE, &sa, nullptr);  // `prog | head` must not leave gigabytes behind either
}

Scratch::~Scratch() {
  remove_files();
  rmdir(path_.c_str());
  g_dir[0] = '\0';
}

std::string Scratch::add_file(const std::string &name, bool arena) {
  const std::string p = path_ + "/" + name;
  auto reg = [](const std::string &f) {
    for (int i = 0; i < g_nfiles; i++)
      if (f == g_files[i]) return;
    if (g_nfiles >= kMaxFiles) die("too many scratch files");
    snprintf(g_files[g_nfiles], kPathMax, "%s", f.c_str());
    g_nfiles = g_nfiles + 1;
  };
  reg(p);
  if (arena) {
    reg(p + ".wal0");
    reg(p + ".wal1");
  }
  return p;
}

void Scratch::remove_files() { remove_registered(); }

void Scratch::remove_arena(const std::string &path) {
  for (const char *suffix : {"", ".wal0", ".wal1"}) unlink((path + suffix).c_str());
}

FsInfo fs_info(const std::string &path) {
  FsInfo fi;
  struct statfs sf;
  if (statfs(path.c_str(), &sf) != 0) {
    fi.type = "unknown";
    return fi;
  }
  fi.free_bytes = static_cast<uint64_t>(sf.f_bavail) * static_cast<uint64_t>(sf.f_bsize);
  switch (static_cast<unsigned long>(sf.f_type)) {
    case EXT4_SUPER_MAGIC: fi.type = "ext2/3/4"; break;
    case XFS_SUPER_MAGIC: fi.type = "xfs"; break;
    case BTRFS_SUPER_MAGIC: fi.type = "btrfs"; break;
    case TMPFS_MAGIC: fi.type = "tmpfs"; fi.memory_backed = true; break;
    case RAMFS_MAGIC: fi.type = "ramfs"; fi.memory_backed = true; break;
    case OVERLAYFS_SUPER_MAGIC: fi.type = "overlayfs"; break;
    case NFS_SUPER_MAGIC: fi.type = "nfs"; break;
    case 0x2fc12fc1: fi.type = "zfs"; break;
    case 0x65735546: fi.type = "fuse"; break;
    default: fi.type = fmt("0x%lx", static_cast<unsigned long>(sf.f_type)); break;
  }
  // ext2/3/4 share a magic number; /proc/mounts tells them apart.
  if (fi.type == "ext2/3/4") {
    std::ifstream mounts("/proc/mounts");
    std::string dev, mnt, type, best_type;
    size_t best_len = 0;
    std::string line;
    char real[PATH_MAX];
    std::string rp = realpath(path.c_str(), real) ? real : path;
    while (mounts >> dev >> mnt >> type) {
      std::getline(mounts, line);
      if (rp.rfind(mnt, 0) == 0 && mnt.size() >= best_len &&
          (rp.size() == mnt.size() || mnt == "/" || rp[mnt.size()] == '/')) {
        best_len = mnt.size();
        best_type = type;
      }
    }
    if (!best_type.empty()) fi.type = best_type;
  }
  return fi;
}

void print_environment(const char *title, const Scratch &dir, const Args &args) {
  struct utsname u;
  uname(&u);
  std::string cpu = read_first_line_matching("/proc/cpuinfo", "model name");
  if (auto p = cpu.find(':'); p != std::string::npos) cpu = cpu.substr(p + 2);
  std::string mem = read_first_line_matching("/proc/meminfo", "MemTotal:");
  unsigned long long mem_kb = 0;
  sscanf(mem.c_str(), "MemTotal: %llu", &mem_kb);
  const FsInfo fi = fs_info(dir.path());
  printf("== %s%s ==\n", title, args.quick ? " (--quick)" : "");
  printf("machine : %s, %u CPUs, %.1f GiB RAM; %s %s %s\n", cpu.empty() ? "unknown CPU" : cpu.c_str(),
         std::thread::hardware_concurrency(), mem_kb / 1048576.0, u.sysname, u.release, u.machine);
  printf("scratch : %s (%s, %s free)\n", dir.path().c_str(), fi.type.c_str(), fmt_bytes(fi.free_bytes).c_str());
  printf("uffd    : %s\n", palloc_uffd_supported() ? "supported" : "NOT supported by this kernel (uffd rows skipped)");
  if (fi.memory_backed)
    printf("WARNING : %s is memory-backed (%s): fdatasync costs nothing there, so sync numbers and the\n"
           "          baseline mean nothing. Pass --dir on a real disk.\n",
           dir.path().c_str(), fi.type.c_str());
  printf("\n");
  fflush(stdout);
}

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void progress(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  std::string s = vfmt(f, ap);
  va_end(ap);
  fprintf(stderr, "  .. %s\n", s.c_str());
}

void die(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  std::string s = vfmt(f, ap);
  va_end(ap);
  fflush(stdout);
  fprintf(stderr, "error: %s\n", s.c_str());
  remove_registered();
  if (g_dir[0]) rmdir(g_dir);
  exit(1);
}

void check(palloc_status s, const char *what) {
  if (s != PALLOC_OK) die("%s: %s (%s)", what, palloc_last_error(), palloc_status_name(s));
}

int64_t check_commit(int64_t epoch) {
  if (epoch <= 0) die("palloc_commit: %s", palloc_last_error());
  return epoch;
}

double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}

std::string fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  std::string s = vfmt(f, ap);
  va_end(ap);
  return s;
}

std::string fmt_ns(double ns) {
  if (ns < 1e3) return fmt("%.0f ns", ns);
  if (ns < 1e4) return fmt("%.2f us", ns / 1e3);
  if (ns < 1e6) return fmt("%.1f us", ns / 1e3);
  if (ns < 1e7) return fmt("%.2f ms", ns / 1e6);
  if (ns < 1e9) return fmt("%.1f ms", ns / 1e6);
  return fmt("%.2f s", ns / 1e9);
}

std::string fmt_bytes(uint64_t b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (v == std::floor(v)) return fmt("%.0f %s", v, units[u]);
  return fmt("%.1f %s", v, units[u]);
}

std::string fmt_ratio(double r) {
  if (r >= 100) return fmt("%.0fx", r);
  if (r >= 0.095) return fmt("%.2fx", r);
  return fmt("%.3fx", r);
}

double mb_per_s(uint64_t bytes, double ns) { return ns > 0 ? static_cast<double>(bytes) / ns * 1e3 : 0; }

void Table::print() const {
  std::vector<size_t> w(header_.size(), 0);
  auto widen = [&](const std::vector<std::string> &r) {
    for (size_t i = 0; i < r.size() && i < w.size(); i++) w[i] = std::max(w[i], r[i].size());
  };
  widen(header_);
  for (const auto &r : rows_) widen(r);
  auto line = [&](const std::vector<std::string> &r) {
    std::string out;
    for (size_t i = 0; i < w.size(); i++) {
      const std::string c = i < r.size() ? r[i] : "";
      const std::string pad(w[i] - c.size(), ' ');
      if (i) out += "  ";
      out += i == 0 ? c + pad : pad + c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    printf("%s\n", out.c_str());
  };
  line(header_);
  size_t total = 0;
  for (size_t x : w) total += x;
  printf("%s\n", std::string(total + 2 * (w.size() - 1), '-').c_str());
  for (const auto &r : rows_) line(r);
  fflush(stdout);
}

uint64_t rss_anon_bytes() {
  std::string l = read_first_line_matching("/proc/self/status", "RssAnon:");
  unsigned long long kb = 0;
  sscanf(l.c_str(), "RssAnon: %llu", &kb);
  return kb * 1024;
}

void quiesce(palloc_arena *arena, const palloc_options &opts) {
  if (opts.durability == PALLOC_DURABILITY_ASYNC) check(palloc_sync(arena), "palloc_sync");
  // The log that receives commits starts a background checkpoint once it reaches
  // checkpoint_bytes; the other log is then an empty header (4 KiB). When the
  // checkpoint has finished both logs are near-empty again.
  const uint64_t deadline = now_ns() + 300ull * 1000000000ull;
  for (;;) {
    palloc_stats st;
    check(palloc_get_stats(arena, &st), "palloc_get_stats");
    if (st.log_bytes < opts.checkpoint_bytes + 4096) return;
    if (now_ns() > deadline) {
      progress("warning: background checkpoint still running after 300 s (log %s); measuring anyway",
               fmt_bytes(st.log_bytes).c_str());
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

palloc_options arena_options(palloc_tracker_kind tracker, palloc_durability durability, uint64_t max_size) {
  palloc_options o;
  palloc_options_init(&o);
  o.flags |= PALLOC_CREATE | PALLOC_NO_VERIFY_BINARIES;  // keeps palloc_options_init's error flag
  o.tracker = tracker;
  o.durability = durability;
  o.max_size = max_size;
  o.initial_size = 0;
  return o;
}

const char *tracker_name(palloc_tracker_kind t) {
  switch (t) {
    case PALLOC_TRACKER_UFFD: return "uffd";
    case PALLOC_TRACKER_HASH: return "hash";
    default: return "auto";
  }
}

const char *durability_name(palloc_durability d) {
  switch (d) {
    case PALLOC_DURABILITY_SYNC: return "sync";
    case PALLOC_DURABILITY_ASYNC: return "async";
    default: return "none";
  }
}

}  // namespace bench
