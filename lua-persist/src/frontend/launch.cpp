// launch.cpp — stage 1 of lua-persist: its own options, the arena, --fresh, then a
// re-execution of itself with the persistent heap configured and the address space
// pinned (see shims/launch). Lua's options pass through untouched.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli.h"
#include "frontend.h"
#include "launch.h"

namespace lp::cli {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitCannot = 70;

const char kHelpTop[] =
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
    "\n";

const char kHelpBottom[] =
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

void print_help() {
  printf("%s%s%s", kHelpTop,
         palloc::launch::persist_options_help("lua-persist", "SCRIPT-NAME.HASH.arena; lua.arena without a script").c_str(),
         kHelpBottom);
  exit(0);
}

struct Options {
  palloc::launch::PersistOptions persist;
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
    if (!script_seen && a[0] == '-' && a[1] == '-' && a[2] != '\0') {
      if (!strcmp(a, "--help")) print_help();
      std::string error;
      if (palloc::launch::take_persist_option(argc, argv, &i, &o.persist, &error)) {
        if (!error.empty()) usage_error(error);
        continue;
      }
      usage_error(std::string("unknown option '") + a + "'");
    }
    if (!script_seen && !strcmp(a, "-h")) print_help();
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

}  // namespace

int launch(int argc, char **argv) {
  Options o = parse(argc, argv);
  const std::string arena =
      o.persist.arena.empty()
          ? palloc::launch::default_arena("lua-persist", script_of(o.lua_args), ".lua", "lua.arena")
          : palloc::launch::absolute(o.persist.arena);
  const std::string error =
      palloc::launch::reexec_persistent("lua-persist", o.persist, arena, kFreshHint, kStageVariable, o.lua_args.data());
  fprintf(stderr, "lua-persist: %s\n", error.c_str());
  return kExitCannot;
}

}  // namespace lp::cli
