// launch.cpp — stage 1 of py-persist: its own options (persistence, --extension), the
// arena, --fresh, then a re-execution of itself with the persistent heap configured, the
// address space pinned and the declared extension modules preloaded in a fixed order (so
// that each lands at the same address in every run). Python's options pass through.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "frontend.h"
#include "launch.h"
#include "launch_cli.h"
#include "py_persist.h"

namespace pp {
namespace {

constexpr int kExitUsage = 2;  // as python3

const char kHelpTop[] =
    "usage: py-persist [PERSISTENCE OPTIONS] [PYTHON OPTIONS] [-c cmd | -m mod | file | -] [args]\n"
    "\n"
    "Python 3.11 whose whole interpreter survives a crash, kill -9, a reboot or a plain\n"
    "exit: every module, global, class, function, closure, generator and object. The heap\n"
    "lives in a file (the arena) and is committed at safe points; the next run resumes it\n"
    "as of the last commit and runs the script again from its first line inside the\n"
    "resumed __main__:\n"
    "    count = globals().get('count', 0) + 1; print(count)    # counts runs\n"
    "The REPL comes back at its prompt with everything defined. Commits happen after every\n"
    "REPL statement, at normal exit, when the program calls palloc.commit(), and with\n"
    "--commit-interval at bytecode boundaries. Files and sockets opened before a restart\n"
    "fail with EBADF afterwards; other threads do not survive a restart.\n"
    "\n";

const char kHelpBottom[] =
    "  --extension NAME      also declare the extension module NAME (from Python's\n"
    "                        lib-dynload); give it on every run of the same arena\n"
    "\n"
    "Python options (as python3): -c cmd, -m mod, file, -, -i, -u, -q, -E, -s, -S, -I,\n"
    "-P, -B, -O, -OO, -b, -v, -d, -x, -W arg, -X opt, -V. Options that configure the\n"
    "interpreter (-E -s -S -I -P -B -O -b -W -X) take effect when the state is created; a\n"
    "resumed state keeps those it was created with.\n"
    "\n"
    "In Python: import palloc -- commit(), epoch(), resumed(), stats(), on_resume(fn).\n"
    "\n"
    "Extension modules are declared: they are loaded at start, in a fixed order, and their\n"
    "data is part of the image. Importing any other one fails with an ImportError that says\n"
    "how to declare it. Declared by default:\n";

const char kHelpExit[] =
    "\n"
    "exit status: as python3 (0, 1 for an uncaught exception, sys.exit's code), 2 for a\n"
    "usage error, 70 if the state cannot be resumed (the message says why: the arena is in\n"
    "use, or py-persist, libpython or an extension module changed since the commit;\n"
    "--fresh starts over).\n";

void print_help() {
  std::string names;
  for (const std::string &n : extensions::default_names()) {
    if (names.size() - names.rfind('\n') + n.size() > 80) names += "\n";
    names += (names.empty() || names.back() == '\n' ? "  " : " ") + n;
  }
  printf("%s%s%s%s\n%s", kHelpTop,
         palloc::launch::persist_options_help("py-persist", "SCRIPT-NAME.HASH.arena; python.arena without a script").c_str(),
         kHelpBottom, names.c_str(), kHelpExit);
  exit(0);
}

[[noreturn]] void usage_error(const std::string &message) {
  fprintf(stderr, "py-persist: %s (see py-persist --help)\n", message.c_str());
  exit(kExitUsage);
}

struct Options {
  palloc::launch::PersistOptions persist;
  std::vector<std::string> extra_extensions;
  std::vector<char *> python_args;  // argv[0] and Python's options and arguments
};

// Our long options may appear anywhere before the script, -c or -m.
Options parse(int argc, char **argv) {
  Options o;
  o.python_args.push_back(argv[0]);
  int i = 1;
  for (; i < argc; i++) {
    char *a = argv[i];
    if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
      std::string error;
      if (palloc::launch::take_persist_option(argc, argv, &i, &o.persist, &error)) {
        if (!error.empty()) usage_error(error);
        continue;
      }
      if (!strncmp(a, "--extension", 11) && (a[11] == '=' || a[11] == '\0')) {
        if (a[11] == '\0' && i + 1 >= argc) usage_error("--extension needs a module name");
        o.extra_extensions.push_back(a[11] == '=' ? a + 12 : argv[++i]);
        continue;
      }
      o.python_args.push_back(a);  // --help, --version, --: Python's
      if (!strcmp(a, "--")) break;
      continue;
    }
    if (a[0] != '-' || a[1] == '\0') break;  // the script or "-"
    o.python_args.push_back(a);
    // -c and -m end the options; -W and -X take the next argument unless attached.
    bool ends = false;
    for (const char *p = a + 1; *p; p++) {
      if (strchr("cmWX", *p)) {
        ends = *p == 'c' || *p == 'm';
        if (p[1] == '\0' && i + 1 < argc && !ends) o.python_args.push_back(argv[++i]);
        break;
      }
    }
    if (ends) {
      i++;
      break;
    }
  }
  for (; i < argc; i++) o.python_args.push_back(argv[i]);
  o.python_args.push_back(nullptr);
  return o;
}

std::string join(const std::vector<std::string> &v, char sep) {
  std::string s;
  for (const std::string &x : v) s += (s.empty() ? "" : std::string(1, sep)) + x;
  return s;
}

}  // namespace

int launch(int argc, char **argv) {
  Options o = parse(argc, argv);
  Args args;
  if (std::string error = parse_args(static_cast<int>(o.python_args.size()) - 1, o.python_args.data(), 1, &args);
      !error.empty())
    usage_error(error);
  if (args.help) print_help();
  if (args.version) {
    printf("Python %s\n", PY_PERSIST_PYTHON_VERSION);
    return 0;
  }
  std::vector<std::string> names = extensions::default_names();
  for (const std::string &n : o.extra_extensions)
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  std::vector<std::string> paths;
  for (const std::string &n : names) {
    const std::string path = extensions::path_of(n);
    if (path.empty()) usage_error("there is no extension module '" + n + "' in " PY_PERSIST_DYNLOAD_DIR);
    paths.push_back(path);
  }

  std::string arena;
  if (!o.persist.arena.empty()) {
    arena = palloc::launch::absolute(o.persist.arena);
  } else if (args.mode == Args::Mode::kScript) {
    arena = palloc::launch::default_arena("py-persist", args.target.c_str(), ".py", "python.arena");
  } else if (args.mode == Args::Mode::kModule) {
    arena = palloc::launch::default_arena("py-persist", nullptr, ".py", (args.target + ".module.arena").c_str());
  } else {
    arena = palloc::launch::default_arena("py-persist", nullptr, ".py", "python.arena");
  }

  // The extension modules come first in the preload list and the user's LD_PRELOAD is set
  // aside (stage 2 puts it back for the programs Python starts): the layout is the same in
  // every run.
  if (const char *user = getenv("LD_PRELOAD"); user && *user) setenv(kPreloadVariable, user, 1);
  const std::string preload = join(paths, ':');
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv(kExtensionsVariable, preload.c_str(), 1);
  setenv(kArenaVariable, arena.c_str(), 1);
  if (o.persist.verbose) setenv("PY_PERSIST_VERBOSE", "1", 1);
  const std::string error = palloc::launch::reexec_persistent("py-persist", o.persist, arena, kFreshHint,
                                                              kStageVariable, o.python_args.data());
  fprintf(stderr, "py-persist: %s\n", error.c_str());
  return kExitCannot;
}

}  // namespace pp
