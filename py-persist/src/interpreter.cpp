// interpreter.cpp — stage 2 of py-persist: from the persistent heap (opened by libpalloc
// before main) to the exit status.
//
// Fresh arena: register the regions (nothing to restore), route the allocators, initialise
// Python, create the `palloc` and `_py_persist` modules and the image record.
// Committed arena: take the interpreter's pthread keys again, restore libpython's and the
// declared modules' data (register the regions), repair what belongs to the process.
// Both: run what the command line asks in __main__, commit at normal exit, and leave
// without finalizing the interpreter (its state lives on in the arena).
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "launch.h"
#include "palloc.h"
#include "py_persist.h"

extern "C" char **environ;

namespace pp {
namespace {

std::string g_arena;
bool g_resumed = false;
bool g_verbose = false;
image::Record *g_record = nullptr;

// libc-level stdio buffers of this process: outside the persistent heap, so that they do
// not become garbage in it after every restart.
char g_stdin_buffer[BUFSIZ], g_stdout_buffer[BUFSIZ];

// Takes back what stage 1 set for this stage and hands the user's own settings back to the
// programs Python starts. What it allocates is this process's, not the image's.
void restore_environment() {
  palloc_local_enter();
  if (const char *a = getenv(kArenaVariable)) g_arena = a;
  unsetenv(kArenaVariable);
  (void)extensions::declared();  // read before the variable goes
  unsetenv(kExtensionsVariable);
  if (const char *user = getenv(kPreloadVariable)) {
    setenv("LD_PRELOAD", user, 1);
    unsetenv(kPreloadVariable);
  } else {
    unsetenv("LD_PRELOAD");
  }
  g_verbose = getenv("PY_PERSIST_VERBOSE") != nullptr;
  unsetenv("PY_PERSIST_VERBOSE");
  palloc_local_leave();
}

// The interpreter only persists if the process's malloc is palloc's (libpython and the C
// library allocate with it too). Another allocator loaded ahead of libpalloc, such as a
// sanitizer runtime, would leave part of the state outside the arena.
bool malloc_is_pallocs() {
  Dl_info info;
  return dladdr(reinterpret_cast<void *>(&malloc), &info) && info.dli_fname &&
         strstr(info.dli_fname, "libpalloc.so") != nullptr;
}

void depend_on_binaries() {
  static const int in_this_executable = 0;
  for (const void *addr : {static_cast<const void *>(&in_this_executable), reinterpret_cast<const void *>(&Py_GetVersion),
                           reinterpret_cast<const void *>(&palloc_malloc), reinterpret_cast<const void *>(&fprintf)})
    if (palloc_depend_on(palloc_heap_arena(), addr) != PALLOC_OK)
      fail(std::string("cannot record a binary the image depends on: ") + palloc_last_error());
}

void start_fresh(const Args &args) {
  initialize_fresh(args);
  if (!create_palloc_module()) {
    support::print_exception();
    fail("cannot create the palloc module");
  }
  if (!support::install()) {
    support::print_exception();
    fail("cannot load py-persist's support module");
  }
  PyObject *paths = PyList_New(0);
  for (const std::string &p : extensions::declared()) {
    PyObject *s = PyUnicode_DecodeFSDefault(p.c_str());
    PyList_Append(paths, s);
    Py_XDECREF(s);
  }
  PyObject *a = Py_BuildValue("(N)", paths);
  support::call_and_report("install_import_guard", a);
  Py_XDECREF(a);
  support::call_and_report("record_watchdog");
  PyObject *os = PyImport_ImportModule("os");
  PyObject *env = os ? PyObject_GetAttrString(os, "environ") : nullptr;
  a = env ? Py_BuildValue("(N)", env) : nullptr;
  if (a) support::call_and_report("note_environment", a);
  Py_XDECREF(a);
  Py_XDECREF(os);
  PyErr_Clear();
  prepare_main(args);
  g_record = image::create();
}

}  // namespace

[[noreturn]] void refuse(const std::string &why) {
  fprintf(stderr, "py-persist: cannot resume %s: %s\n  %s\n", g_arena.c_str(), why.c_str(), kFreshHint);
  fflush(stderr);
  _exit(kExitCannot);  // no exit commit: the committed state stays as it is
}

[[noreturn]] void fail(const std::string &message) {
  fprintf(stderr, "py-persist: %s\n", message.c_str());
  fflush(stderr);
  _exit(kExitCannot);
}

const std::string &arena_path() { return g_arena; }
bool resumed() { return g_resumed; }
bool verbose() { return g_verbose; }
image::Record *record() { return g_record; }

int run(int argc, char **argv) {
  setvbuf(stdin, g_stdin_buffer, _IOFBF, sizeof g_stdin_buffer);
  setvbuf(stdout, g_stdout_buffer, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof g_stdout_buffer);
  restore_environment();
  Args args;
  if (std::string error = parse_args(argc, argv, 1, &args); !error.empty()) fail(error);
  // The script is found from the directory py-persist was started in, even when the
  // resume returns to a directory the program changed to (sys.argv keeps the path as given).
  if (args.mode == Args::Mode::kScript) args.target = palloc::launch::absolute(args.target);
  if (!palloc_heap_arena()) fail("the persistent heap is not active: start py-persist itself, not its second stage");
  if (!malloc_is_pallocs()) fail("malloc() is not palloc's in this process (another allocator is loaded first)");
  extensions::note_loaded_objects();

  image::Record *committed = image::find();
  g_resumed = committed != nullptr;
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);  // no handler may run on half-restored state
  if (committed) reserve_pthread_keys(image::pthread_keys(committed));
  const std::vector<std::string> missing = extensions::register_regions();
  depend_on_binaries();
  if (committed) {
    if (!missing.empty()) refuse("the image has no saved copy of " + missing.front() + "'s data");
    g_record = committed;
    repair(committed, args);
  } else {
    start_fresh(args);
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  start_periodic_commits();

  int status = run_main(args);

  // Normal exit: as python3, wait for the program's other (non-daemon) threads; then commit
  // and leave without finalizing.
  support::call_and_report("join_threads");
  commit_or_warn(CommitKind::kExit);
  fflush(stdout);
  fflush(stderr);
  exit(status);
}

}  // namespace pp
