// cmd_create.cpp — `palloc create`: makes a new, empty arena through the C API.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "arena_files.h"
#include "lock.h"
#include "options.h"
#include "palloc.h"
#include "text.h"
#include "tool.h"

namespace palloc::tool {

namespace {

bool parse_address(const std::string &text, uint64_t *out) {
  if (text.empty() || text[0] == '-') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 0);  // 0x... or decimal
  if (errno || *end != '\0') return false;
  *out = v;
  return true;
}

// Removes an existing arena for --force-new, but only if it is an arena (a mistyped
// path must not cost someone a file) and nobody has it open.
Status remove_existing(const std::string &path) {
  DataFile df;
  Status s = open_data_file(path, true, &df);  // locks it: fails if in use
  if (s.code() == PALLOC_E_NOT_FOUND) return ok_status();
  if (s.code() == PALLOC_E_NOT_ARENA)
    return {PALLOC_E_NOT_ARENA, s.message() + "; --force-new only replaces an existing arena, so it was left alone"};
  // A damaged arena (both headers bad) may be replaced: that is what --force-new is for.
  if (!s.ok() && s.code() != PALLOC_E_CORRUPT && s.code() != PALLOC_E_VERSION) return s;
  for (const std::string &f : {log_path(path, 0), log_path(path, 1), path})
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) return errno_status(errno, "removing " + f);
  std::printf("removed the existing arena %s%s\n", path.c_str(),
              s.ok() ? (" (it was at epoch " + std::to_string(df.header.checkpoint_epoch) + " or later)").c_str() : "");
  return ok_status();
}

int run(int argc, char **argv) {
  Args args;
  int code;
  if (!parse_args(kCreateCommand, argc, argv,
                  {{"max-size", true}, {"initial-size", true}, {"base", true}, {"force-new", false}}, &args, &code))
    return code;
  if (args.positional.size() != 1)
    return usage_error(kCreateCommand, args.positional.empty() ? "missing ARENA" : "expected one ARENA");
  const std::string path = args.positional[0];

  palloc_options opts;
  palloc_options_init(&opts);
  opts.flags |= PALLOC_CREATE | PALLOC_EXCLUSIVE;
  for (const char *name : {"max-size", "initial-size"}) {
    const std::string *v = args.value(name);
    if (!v) continue;
    uint64_t n;
    if (!parse_size(v->c_str(), &n) || n == 0)
      return usage_error(kCreateCommand, "cannot read --" + std::string(name) + " '" + *v +
                                             "' as a size (examples: 512m, 4g, 1t)");
    (name[0] == 'm' ? opts.max_size : opts.initial_size) = n;
  }
  if (const std::string *v = args.value("base"); v && !parse_address(*v, &opts.base))
    return usage_error(kCreateCommand, "cannot read --base '" + *v + "' as an address (example: 0x110000000000)");

  if (args.has("force-new")) {
    Status s = remove_existing(path);
    if (!s.ok()) {
      std::fprintf(stderr, "palloc create: %s\n", s.message().c_str());
      return kExitCannot;
    }
  }

  palloc_arena *arena = nullptr;
  palloc_status st = palloc_open(path.c_str(), &opts, &arena);
  if (st != PALLOC_OK) {
    std::fprintf(stderr, "palloc create: %s\n", palloc_last_error());
    if (st == PALLOC_E_EXISTS)
      std::fprintf(stderr, "`palloc info %s` shows it; --force-new replaces it (its contents are lost).\n",
                   path.c_str());
    return st == PALLOC_E_INVALID ? kExitUsage : kExitCannot;
  }
  KeyValues kv;
  kv.add("base", hex_addr(reinterpret_cast<uint64_t>(palloc_base(arena))));
  kv.add("size", human_bytes(palloc_size(arena)) + "  (" + std::to_string(palloc_size(arena)) + " bytes, usable now)");
  kv.add("max size", human_bytes(palloc_max_size(arena)) + "  (" + std::to_string(palloc_max_size(arena)) + " bytes)");
  palloc_stats stats;
  if (palloc_get_stats(arena, &stats) == PALLOC_OK) kv.add("page size", std::to_string(stats.page_size));
  if (palloc_close(arena) != PALLOC_OK) {
    std::fprintf(stderr, "palloc create: closing the new arena: %s\n", palloc_last_error());
    return kExitCannot;
  }
  std::printf("created %s\n", path.c_str());
  kv.print(stdout, "  ");
  return kExitOk;
}

}  // namespace

const Command kCreateCommand = {
    "create", "create a new, empty arena",
    "usage: palloc create [--max-size SIZE] [--initial-size SIZE] [--base ADDR] [--force-new] ARENA\n"
    "\n"
    "Creates the arena ARENA (its data file, and its logs ARENA.wal0 and ARENA.wal1),\n"
    "prints its base address and sizes, and closes it. Fails if ARENA exists.\n"
    "PALLOC_* environment variables (see palloc.h) supply defaults.\n"
    "\n"
    "options:\n"
    "  --max-size SIZE      most the arena may ever grow to (default 64g, at most 2t);\n"
    "                       it is reserved as address space, not disk space\n"
    "  --initial-size SIZE  bytes usable at first (default 16m)\n"
    "  --base ADDR          fixed address (a multiple of 32 MiB, e.g. 0x110000000000;\n"
    "                       default: the first free range from 17 TiB up)\n"
    "  --force-new          replace an existing arena at ARENA (refused if it is in use\n"
    "                       or is not an arena); its contents are lost\n"
    "  -h, --help\n"
    "\n"
    "SIZE takes the suffixes k, m, g, t (powers of 1024).\n"
    "\n"
    "exit status: 0 created, 3 could not create (exists, in use, no room at the address,\n"
    "I/O error), 64 usage error or invalid sizes.\n",
    run};

}  // namespace palloc::tool
