// cmd_run.cpp — `palloc run`: start a program with a persistent heap.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "launch.h"
#include "options.h"
#include "tool.h"

namespace palloc::tool {
namespace {

int run_main(int argc, char **argv);

const char kHelp[] =
    "usage: palloc run [OPTIONS] [--] COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND with its whole heap in a persistent arena: every malloc of the program\n"
    "lives in ARENA, the heap is committed when the program exits normally (and\n"
    "periodically with --commit-interval, or when it calls palloc_heap_commit()), and the\n"
    "next run resumes it as of its last commit — after a crash, kill -9 or reboot too.\n"
    "\n"
    "COMMAND is started with libpalloc.so preloaded, address-space randomisation turned off\n"
    "for it and its stack limit pinned, so that the program and its libraries load at the\n"
    "same addresses every run (an image that points into them stays valid). Programs that\n"
    "COMMAND itself starts run normally: they inherit neither the preload nor the arena.\n"
    "\n"
    "A program that links liblua5.4 dynamically gets its first Lua state persisted whole:\n"
    "the next run's luaL_newstate/lua_newstate returns it as of the last commit\n"
    "(libpalloc-lua.so, preloaded along with libpalloc.so; see lua-persist --help).\n"
    "\n"
    "options:\n"
    "  --arena PATH           the arena (data file PATH, logs PATH.wal0/.wal1); created if\n"
    "                         missing. Default: $PALLOC_ARENA, else\n"
    "                         ${XDG_DATA_HOME:-~/.local/share}/palloc/COMMAND.arena\n"
    "  --durability MODE      sync (default): a commit is on disk when it returns;\n"
    "                         async: on disk within PALLOC_ASYNC_MS (1 s); none: at the\n"
    "                         next checkpoint (survives a crash of the program, not of the\n"
    "                         machine)\n"
    "  --commit-interval MS   also commit every MS milliseconds from a background thread\n"
    "                         (0 = only at exit and when the program asks; the default).\n"
    "                         A periodic commit is consistent for the allocator but may\n"
    "                         catch the program between two related updates\n"
    "  --tracker KIND         dirty-page tracking: auto (default), uffd or hash\n"
    "  --max-size SIZE        largest size of a new arena (e.g. 64G; default 64G)\n"
    "  --library PATH         the libpalloc.so to preload (default: ../lib/libpalloc.so\n"
    "                         next to this program, or $PALLOC_LIBRARY)\n"
    "  --verbose              report open, resume and growth on stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "The same settings as environment variables (for LD_PRELOAD=libpalloc.so without\n"
    "this command): PALLOC_ARENA, PALLOC_DURABILITY, PALLOC_COMMIT_INTERVAL_MS,\n"
    "PALLOC_TRACKER, PALLOC_MAX_SIZE, PALLOC_VERBOSE=1 (=2: also a line per commit).\n"
    "\n"
    "exit status: COMMAND's; 70 if the persistent heap cannot be used (the reason is\n"
    "printed: the arena is in use by another process, damaged, or made by another build);\n"
    "126/127 if COMMAND cannot be run; 64 for a usage error.\n";

std::string default_arena(const std::string &command) {
  std::string base = command.substr(command.rfind('/') == std::string::npos ? 0 : command.rfind('/') + 1);
  return launch::data_dir() + "/" + base + ".arena";
}

int fail(const std::string &message, int code) {
  fprintf(stderr, "palloc run: %s\n", message.c_str());
  return code;
}

int run_main(int argc, char **argv) {
  std::string arena, durability, interval, tracker, max_size, library;
  bool verbose = false;
  int i = 1;
  auto value = [&](const char *name, std::string *out) -> bool {
    const size_t len = strlen(name);
    if (strncmp(argv[i], name, len) != 0) return false;
    if (argv[i][len] == '=') {
      *out = argv[i] + len + 1;
      return true;
    }
    if (argv[i][len] != '\0') return false;
    if (i + 1 >= argc) {
      fprintf(stderr, "palloc run: %s needs a value\n", name);
      exit(kExitUsage);
    }
    *out = argv[++i];
    return true;
  };
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (a[0] != '-') break;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(kHelp, stdout);
      return kExitOk;
    }
    if (!strcmp(a, "--verbose")) {
      verbose = true;
      continue;
    }
    if (value("--arena", &arena) || value("--durability", &durability) || value("--commit-interval", &interval) ||
        value("--tracker", &tracker) || value("--max-size", &max_size) || value("--library", &library))
      continue;
    return fail(std::string("unknown option '") + a + "' (see palloc run --help)", kExitUsage);
  }
  if (i >= argc) return fail("no command given (usage: palloc run [OPTIONS] [--] COMMAND [ARGS...])", kExitUsage);

  // Validate before starting anything, with the library's own parsers.
  if (!durability.empty()) {
    palloc_durability d;
    if (Status s = parse_durability(durability.c_str(), &d); !s.ok()) return fail(s.message(), kExitUsage);
  }
  if (!tracker.empty()) {
    palloc_tracker_kind k;
    if (Status s = parse_tracker(tracker.c_str(), &k); !s.ok()) return fail(s.message(), kExitUsage);
  }
  if (!max_size.empty()) {
    uint64_t n;
    if (!parse_size(max_size.c_str(), &n)) return fail("--max-size '" + max_size + "' is not a size", kExitUsage);
  }
  if (!interval.empty()) {
    char *end = nullptr;
    unsigned long n = strtoul(interval.c_str(), &end, 10);
    if (interval.empty() || *end != '\0' || n > 86400000ul)
      return fail("--commit-interval '" + interval + "' is not a number of milliseconds", kExitUsage);
  }

  library = library.empty() ? launch::library_path("libpalloc.so", "PALLOC_LIBRARY") : launch::absolute(library);
  if (access(library.c_str(), R_OK) != 0)
    return fail("cannot find the palloc library at " + library + " (" + strerror(errno) +
                    "); build it (make build) or pass --library PATH",
                kExitCannot);

  if (arena.empty()) {
    const char *env = getenv("PALLOC_ARENA");
    arena = (env && *env) ? env : default_arena(argv[i]);
  }
  arena = launch::absolute(arena);
  const std::string dir = arena.substr(0, arena.rfind('/'));
  if (!dir.empty() && !launch::make_dirs(dir))
    return fail("cannot create the directory " + dir + " for the arena: " + strerror(errno), kExitCannot);

  // The environment of the program (the library removes it again for programs the
  // persistent process starts).
  // The interpreter adapters come along: they only act in programs that create a Lua
  // state (liblua5.4 linked dynamically), whose state they make persistent.
  std::string preload = library;
  const std::string lua_adapter = library.substr(0, library.rfind('/') + 1) + "libpalloc-lua.so";
  if (access(lua_adapter.c_str(), R_OK) == 0) preload += ":" + lua_adapter;
  if (const char *old = getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("PALLOC_ARENA", arena.c_str(), 1);
  if (!durability.empty()) setenv("PALLOC_DURABILITY", durability.c_str(), 1);
  if (!interval.empty()) setenv("PALLOC_COMMIT_INTERVAL_MS", interval.c_str(), 1);
  if (!tracker.empty()) setenv("PALLOC_TRACKER", tracker.c_str(), 1);
  if (!max_size.empty()) setenv("PALLOC_MAX_SIZE", max_size.c_str(), 1);
  if (verbose) setenv("PALLOC_VERBOSE", "1", 1);

  // Same addresses every run, so an image that points into the binaries stays valid.
  if (std::string error; !launch::pin_address_space(&error)) return fail(error, kExitCannot);
  if (verbose) fprintf(stderr, "palloc run: arena %s, library %s\n", arena.c_str(), library.c_str());

  execvp(argv[i], argv + i);
  const int err = errno;
  return fail(std::string("cannot run ") + argv[i] + ": " + strerror(err), err == ENOENT ? 127 : 126);
}

}  // namespace

const Command kRunCommand = {"run", "run a program with its heap in a persistent arena", kHelp, run_main};

}  // namespace palloc::tool
