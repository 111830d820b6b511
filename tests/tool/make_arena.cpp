// make_arena.cpp — test fixture for the `palloc` tool: creates an arena through the C
// API, commits deterministic content, and prints the facts it produced as JSON, so the
// tests compare the tool's output with what really happened rather than with a
// hard-coded expectation.
//
//   palloc-test-make-arena --arena PATH [--commits N] [--pages K] [--max-size SIZE]
//                          [--region] [--depend] [--stale-slot] [--mode close|pending|hold]
//
// Commit c (1..N) fills pages (c-1)*K .. c*K-1 of the arena with a pattern and sets the
// named roots "counter" = c and "head" = address of its first page, and slot 7 (unnamed)
// = 0x7000 + c. --region registers a two-page region committed with the arena; --depend
// records this executable as a binary the image depends on.
//
// --stale-slot (with close) then rewrites the header slot not in use with a valid header
// of epoch 0 and a lower sequence number: what a writer that updates one slot per
// checkpoint leaves behind, so the tests can damage the newer slot of such a pair.
//
// Modes: close (default) closes the arena, which checkpoints the logs into the data file;
// pending exits with _exit(0) right after the last commit, like a killed process, so the
// commits stay in the log; hold prints the facts and then sleeps until killed, keeping
// the arena open (and locked).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "binaries.h"
#include "datafile.h"
#include "format.h"
#include "options.h"
#include "palloc.h"

namespace {

using Json = nlohmann::ordered_json;

alignas(65536) unsigned char g_region[2 * 65536];

[[noreturn]] void die(const std::string &what) {
  std::fprintf(stderr, "palloc-test-make-arena: %s: %s\n", what.c_str(), palloc_last_error());
  std::exit(1);
}

[[noreturn]] void usage(const char *msg) {
  std::fprintf(stderr,
               "palloc-test-make-arena: %s\nusage: palloc-test-make-arena --arena PATH [--commits N] [--pages K] "
               "[--max-size SIZE] [--region] [--depend] [--stale-slot] [--mode close|pending|hold]\n",
               msg);
  std::exit(64);
}

unsigned char pattern(uint64_t commit, uint64_t page, uint64_t byte) {
  return static_cast<unsigned char>((commit * 131 + page * 31 + byte * 7 + 1) & 0xff);
}

// Overwrites the header slot not in use with the arena's creation-time header.
void write_stale_slot(const std::string &path) {
  palloc::DataFile df;
  df.fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  df.path = path;
  if (!df.fd.valid() || !palloc::data_read_header(&df).ok()) die("reading the header of " + path);
  palloc::DataHeader old = df.header;
  old.seq = df.header.seq - 1;
  old.checkpoint_epoch = 0;
  old.checkpoint_unix_ns = old.create_unix_ns;
  old.state = palloc::ArenaState{};
  old.state.size = df.header.state.size;
  const std::vector<uint8_t> buf = palloc::encode_header(old);
  if (!palloc::pwrite_full(df.fd.get(), buf.data(), buf.size(), (1 - df.slot) * palloc::kHeaderSlotBytes, path).ok())
    die("writing a stale header slot");
}

}  // namespace

int main(int argc, char **argv) {
  std::string path, mode = "close";
  uint64_t commits = 3, pages_per_commit = 2, max_size = 256ull << 20;
  bool region = false, depend = false, stale_slot = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--arena") path = value();
    else if (a == "--commits") commits = std::strtoull(value(), nullptr, 10);
    else if (a == "--pages") pages_per_commit = std::strtoull(value(), nullptr, 10);
    else if (a == "--max-size") {
      if (!palloc::parse_size(value(), &max_size)) usage("bad --max-size");
    } else if (a == "--region") region = true;
    else if (a == "--depend") depend = true;
    else if (a == "--stale-slot") stale_slot = true;
    else if (a == "--mode") mode = value();
    else usage(("unknown argument " + a).c_str());
  }
  if (path.empty()) usage("--arena is required");
  if (mode != "close" && mode != "pending" && mode != "hold") usage("bad --mode");

  palloc_options opts;
  palloc_options_init(&opts);
  opts.flags |= PALLOC_CREATE | PALLOC_EXCLUSIVE;
  opts.max_size = max_size;
  palloc_arena *arena = nullptr;
  if (palloc_open(path.c_str(), &opts, &arena) != PALLOC_OK) die("creating " + path);

  const uint64_t base = reinterpret_cast<uint64_t>(palloc_base(arena));
  palloc_stats stats;
  if (palloc_get_stats(arena, &stats) != PALLOC_OK) die("stats");
  const uint64_t ps = stats.page_size;
  if (commits * pages_per_commit * ps > palloc_size(arena) &&
      palloc_grow(arena, commits * pages_per_commit * ps) != PALLOC_OK)
    die("growing");

  Json facts;
  facts["arena"] = path;
  facts["pid"] = getpid();
  facts["mode"] = mode;
  facts["base"] = base;
  facts["page_size"] = ps;
  facts["max_size"] = palloc_max_size(arena);
  // Where the data zone starts in the file follows from the format (docs/format.md).
  facts["data_offset"] = palloc::Layout::for_arena(ps, base, palloc_max_size(arena)).data_offset;

  if (region) {
    for (size_t i = 0; i < sizeof g_region; i++) g_region[i] = static_cast<unsigned char>(i * 13 + 5);
    int restored = 0;
    if (palloc_region_register(arena, "fixture-region", g_region, sizeof g_region, &restored) != PALLOC_OK)
      die("registering a region");
    facts["regions"] = Json::array({{{"name", "fixture-region"}, {"length", sizeof g_region}}});
  } else {
    facts["regions"] = Json::array();
  }
  if (depend) {
    if (palloc_depend_on(arena, reinterpret_cast<const void *>(&pattern)) != PALLOC_OK) die("depend_on");
    palloc::BinaryRecord b;
    if (!palloc::binary_containing(reinterpret_cast<const void *>(&pattern), &b).ok()) die("binary_containing");
    facts["binaries"] = Json::array({{{"path", b.path},
                                      {"build_id", palloc::hex(b.build_id.data(), b.build_id.size())},
                                      {"load_address", b.load_address}}});
  } else {
    facts["binaries"] = Json::array();
  }

  Json history = Json::array(), pages = Json::array();
  uint64_t epoch = 0;
  for (uint64_t c = 1; c <= commits; c++) {
    const uint64_t first = (c - 1) * pages_per_commit;
    for (uint64_t p = first; p < first + pages_per_commit; p++) {
      auto *page = reinterpret_cast<unsigned char *>(base + p * ps);
      for (uint64_t b = 0; b < ps; b++) page[b] = pattern(c, p, b);
      pages.push_back({{"index", p}, {"epoch", c}});
    }
    if (palloc_root_set_named(arena, "counter", c) != PALLOC_OK) die("setting root counter");
    if (palloc_root_set_named(arena, "head", base + first * ps) != PALLOC_OK) die("setting root head");
    if (palloc_root_set(arena, 7, 0x7000 + c) != PALLOC_OK) die("setting root 7");
    const int64_t e = palloc_commit(arena);
    if (e <= 0) die("commit " + std::to_string(c));
    epoch = static_cast<uint64_t>(e);
    // Named roots take the first free slots, in the order they were first set.
    history.push_back({{"epoch", epoch},
                       {"roots", Json::array({{{"slot", 0}, {"name", "counter"}, {"value", c}},
                                              {{"slot", 1}, {"name", "head"}, {"value", base + first * ps}},
                                              {{"slot", 7}, {"name", ""}, {"value", 0x7000 + c}}})}});
  }
  facts["size"] = palloc_size(arena);
  facts["epoch"] = epoch;
  facts["roots"] = history.empty() ? Json::array() : history.back()["roots"];
  facts["history"] = history;
  facts["pages"] = pages;

  if (mode == "close" && palloc_close(arena) != PALLOC_OK) die("closing");
  if (stale_slot) {
    if (mode != "close") usage("--stale-slot needs --mode close");
    write_stale_slot(path);
  }
  std::printf("%s\n", facts.dump().c_str());
  std::fflush(stdout);
  if (mode == "pending") _exit(0);  // no close: the commits stay in the log
  if (mode == "hold")
    for (;;) pause();
  return 0;
}
