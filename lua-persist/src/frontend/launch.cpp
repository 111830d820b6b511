// launch.cpp — stage 1 of lua-persist: its own options, the arena, --fresh, then a
// re-execution of itself with the persistent heap configured and the address space
// pinned (see shims/launch). Lua's options pass through untouched.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "cli.h"
#include "launch.h"

namespace lp::cli {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitCannot = 70;

const char kHelp[] =
    "usage: lua-persist [PERSISTENCE OPTIONS] [LUA OPTIONS] [script [args]]\n"
    "\n"
    "Lua 5.4 whose whole state survives a crash, kill -9, a reboot or a plain exit. The\n"
    "heap lives in a file (the arena) and is committed at safe points; the next run\n"
    "resumes it as of the last commit and runs the script again from its first line, with\n"
    "every global, table, closure and suspended coroutine as it was:\n"
    "    count = (count or 0) + 1; print(count)    -- counts runs\n"
    "The REPL comes back with its variables. Commits happen after every REPL statement, at\n"
    "normal exit, when the program calls require('palloc').commit(), and with\n"
    "--commit-interval at instruction boundaries. Files and sockets opened before a\n"
    "restart are closed afterwards; C modules are loaded again.\n"
    "\n"
    "persistence options:\n"
    "  --arena PATH          the arena file (logs PATH.wal0/.wal1); created if missing.\n"
    "                        Default: one per script in %s/lua-persist/\n"
    "                        (SCRIPT-NAME.HASH.arena; lua.arena without a script)\n"
    "  --fresh               start over with an empty state; the old arena is kept as\n"
    "                        PATH.bak-DATE (with its logs)\n"
    "  --durability MODE     sync (default): a commit is on disk when it returns; async:\n"
    "                        within 1 s; none: survives a crash of the program, not of the\n"
    "                        machine\n"
    "  --commit-interval MS  also commit every MS milliseconds (at the next instruction\n"
    "                        boundary; 0 = off, the default)\n"
    "  --max-size SIZE       largest size of a new arena (e.g. 64G, the default)\n"
    "  --verbose             report open, resume and commits on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Lua options (as the lua command):\n"
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l name   require library 'name' into global 'name'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables\n"
    "  -W        turn warnings on\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n"
    "\n"
    "In Lua: local palloc = require 'palloc' -- commit(), epoch(), resumed(), stats(),\n"
    "on_resume(fn).\n"
    "\n"
    "exit status: 0 on success, 1 if the Lua code failed, 64 for a usage error, 70 if the\n"
    "state cannot be resumed (the message says why: the arena is in use, or lua-persist,\n"
    "liblua or a C module changed since the commit; --fresh starts over).\n";

struct Options {
  std::string arena, durability, interval, max_size;
  bool fresh = false, verbose = false;
  std::vector<char *> lua_args;  // argv[0] and Lua's options and arguments
};

[[noreturn]] void usage_error(const std::string &message) {
  fprintf(stderr, "lua-persist: %s (see lua-persist --help)\n", message.c_str());
  exit(kExitUsage);
}

// Splits our long options from Lua's; ours may appear anywhere before the script.
Options parse(int argc, char **argv) {
  Options o;
  o.lua_args.push_back(argv[0]);
  bool script_seen = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    auto value = [&](const char *name, std::string *out) -> bool {
      const size_t len = strlen(name);
      if (strncmp(a, name, len) != 0) return false;
      if (a[len] == '=') {
        *out = a + len + 1;
        return true;
      }
      if (a[len] != '\0') return false;
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      *out = argv[++i];
      return true;
    };
    if (!script_seen && a[0] == '-' && a[1] == '-' && a[2] != '\0') {
      if (!strcmp(a, "--help")) {
        printf(kHelp, palloc::launch::data_dir().c_str());
        exit(0);
      }
      if (!strcmp(a, "--fresh")) {
        o.fresh = true;
        continue;
      }
      if (!strcmp(a, "--verbose")) {
        o.verbose = true;
        continue;
      }
      if (value("--arena", &o.arena) || value("--durability", &o.durability) ||
          value("--commit-interval", &o.interval) || value("--max-size", &o.max_size))
        continue;
      usage_error(std::string("unknown option '") + a + "'");
    }
    if (!script_seen && !strcmp(a, "-h")) {
      printf(kHelp, palloc::launch::data_dir().c_str());
      exit(0);
    }
    o.lua_args.push_back(a);
    if (script_seen) continue;
    // Track Lua's own option syntax to know where the script begins.
    if (a[0] != '-' || !strcmp(a, "-") || !strcmp(a, "--")) {
      script_seen = true;
    } else if ((a[1] == 'e' || a[1] == 'l') && a[2] == '\0' && i + 1 < argc) {
      o.lua_args.push_back(argv[++i]);
    }
  }
  o.lua_args.push_back(nullptr);
  return o;
}

// The script's path, if any, by Lua's option rules.
const char *script_of(const std::vector<char *> &args) {
  for (size_t i = 1; i + 1 < args.size(); i++) {
    const char *a = args[i];
    if (!strcmp(a, "--")) return i + 2 < args.size() ? args[i + 1] : nullptr;
    if (!strcmp(a, "-")) return nullptr;
    if (a[0] != '-') return a;
    if ((a[1] == 'e' || a[1] == 'l') && a[2] == '\0') i++;
  }
  return nullptr;
}

std::string default_arena(const char *script) {
  const std::string dir = palloc::launch::data_dir() + "/lua-persist/";
  if (!script) return dir + "lua.arena";
  const std::string abs = palloc::launch::absolute(script);
  char real[PATH_MAX];
  const std::string key = realpath(abs.c_str(), real) ? std::string(real) : abs;
  std::string base = key.substr(key.rfind('/') + 1);
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".lua") == 0) base.resize(base.size() - 4);
  char hash[17];
  snprintf(hash, sizeof hash, "%08llx", static_cast<unsigned long long>(XXH3_64bits(key.data(), key.size()) & 0xffffffffu));
  return dir + base + "." + hash + ".arena";
}

// --fresh: moves the arena and its logs aside (never deletes), unless a process owns it.
void start_over(const std::string &arena) {
  if (access(arena.c_str(), F_OK) != 0) return;
  const int fd = open(arena.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    fprintf(stderr, "lua-persist: --fresh: %s is in use by another process; stop it first\n", arena.c_str());
    exit(kExitCannot);
  }
  char stamp[32];
  const time_t now = time(nullptr);
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
  std::string backup = arena + ".bak-" + stamp;
  for (int n = 2; access(backup.c_str(), F_OK) == 0; n++) backup = arena + ".bak-" + stamp + "-" + std::to_string(n);
  for (const char *suffix : {"", ".wal0", ".wal1"}) {
    const std::string from = arena + suffix, to = backup + suffix;
    if (access(from.c_str(), F_OK) == 0 && rename(from.c_str(), to.c_str()) != 0) {
      fprintf(stderr, "lua-persist: --fresh: cannot move %s to %s: %s\n", from.c_str(), to.c_str(), strerror(errno));
      exit(kExitCannot);
    }
  }
  if (fd >= 0) close(fd);
  fprintf(stderr, "lua-persist: starting over; the previous state is kept in %s\n", backup.c_str());
}

}  // namespace

int launch(int argc, char **argv) {
  Options o = parse(argc, argv);
  if (!o.durability.empty() && o.durability != "sync" && o.durability != "async" && o.durability != "none")
    usage_error("--durability '" + o.durability + "' is not one of sync, async, none");
  if (!o.max_size.empty()) {  // digits and an optional k/m/g/t suffix; libpalloc checks the rest
    char *end = nullptr;
    strtoull(o.max_size.c_str(), &end, 10);
    if (end == o.max_size.c_str() || (*end && (strchr("kKmMgGtT", *end) == nullptr || end[1] != '\0')))
      usage_error("--max-size '" + o.max_size + "' is not a size (e.g. 64G)");
  }
  if (!o.interval.empty()) {
    char *end = nullptr;
    const unsigned long n = strtoul(o.interval.c_str(), &end, 10);
    if (*end != '\0' || n > 86400000ul) usage_error("--commit-interval '" + o.interval + "' is not a number of milliseconds");
  }
  std::string arena = o.arena.empty() ? default_arena(script_of(o.lua_args)) : palloc::launch::absolute(o.arena);
  const std::string dir = arena.substr(0, arena.rfind('/'));
  if (!dir.empty() && !palloc::launch::make_dirs(dir)) {
    fprintf(stderr, "lua-persist: cannot create the directory %s for the arena: %s\n", dir.c_str(), strerror(errno));
    return kExitCannot;
  }
  if (o.fresh) start_over(arena);

  setenv("PALLOC_ARENA", arena.c_str(), 1);
  if (!o.durability.empty()) setenv("PALLOC_DURABILITY", o.durability.c_str(), 1);
  if (!o.max_size.empty()) setenv("PALLOC_MAX_SIZE", o.max_size.c_str(), 1);
  setenv("PALLOC_COMMIT_INTERVAL_MS", o.interval.empty() ? "0" : o.interval.c_str(), 1);
  if (o.verbose) setenv("PALLOC_VERBOSE", "1", 1);
  setenv("PALLOC_HINT", kFreshHint, 1);
  setenv(kStageVariable, "2", 1);
  if (std::string error; !palloc::launch::pin_address_space(&error)) {
    fprintf(stderr, "lua-persist: %s\n", error.c_str());
    return kExitCannot;
  }
  // Through the real path, so that the process keeps its name (ps shows lua-persist).
  char self[PATH_MAX];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) self[len] = '\0';
  execv(len > 0 ? self : "/proc/self/exe", o.lua_args.data());
  fprintf(stderr, "lua-persist: cannot re-execute itself: %s\n", strerror(errno));
  return kExitCannot;
}

}  // namespace lp::cli
