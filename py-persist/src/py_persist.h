// py_persist.h — the pieces of py-persist's second stage (the interpreter on the
// persistent heap) and how they call each other. Stage 1 (launch.cpp) only parses options
// and re-executes the program; see main.cpp.
#pragma once

#include <Python.h>

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"

namespace pp {

constexpr int kExitCannot = 70;  // the state cannot be resumed, or the set-up failed
constexpr const char *kFreshHint =
    "the saved state was not changed. Run py-persist with --fresh to start over (the old arena is kept as a backup).";
constexpr const char *kStageVariable = "PY_PERSIST_STAGE";          // "2" in the re-executed process
constexpr const char *kArenaVariable = "PY_PERSIST_ARENA";          // the arena, for messages
constexpr const char *kExtensionsVariable = "PY_PERSIST_EXTENSIONS";  // declared modules, ':'-separated paths
constexpr const char *kPreloadVariable = "PY_PERSIST_LD_PRELOAD";   // the user's LD_PRELOAD, if any

// Prints "py-persist: cannot resume ARENA: why" and the --fresh hint, then exits 70.
[[noreturn]] void refuse(const std::string &why);
// Prints "py-persist: message" and exits 70 (set-up failures that are not about the image).
[[noreturn]] void fail(const std::string &message);
// The arena's path (for messages) and whether this process resumed a committed state.
const std::string &arena_path();
bool resumed();
bool verbose();

// ---- extensions.cpp: the declared extension modules ----
namespace extensions {
// Default set: the lib-dynload modules whose whole state is their own writable data and the
// Python heap. Stage 1 adds --extension NAMEs and loads them all (LD_PRELOAD) in this order.
std::vector<std::string> default_names();
// NAME -> its path in Python's lib-dynload directory ("" if there is none).
std::string path_of(const std::string &name);
// Stage 2: the declared paths (from the environment stage 1 set).
const std::vector<std::string> &declared();
// Registers libpython's writable data and each declared module's as persistent regions
// (restoring them when the image holds them) and records the binaries the image depends
// on. Returns the names of regions the image should have held but did not.
std::vector<std::string> register_regions();
// The part of libpython's writable data that is a persistent region.
bool libpython_data(uintptr_t *start, uintptr_t *end);
// Remembers which shared objects are loaded now (at start).
void note_loaded_objects();
// Python extension modules loaded since the start (outside the declared set).
std::vector<std::string> unexpected_modules();
}  // namespace extensions

// ---- image.cpp: py-persist's record in the heap (root "py-persist") ----
namespace image {
struct Record;
// The committed record, or nullptr on a fresh arena. Refuses a damaged or foreign one.
Record *find();
// Creates the record and its root (fresh start).
Record *create();
// Fills in the process-bound facts a resume needs (open fds, locale, cwd, pthread keys).
void capture(Record *r, bool frames_live);
// What a resume reads back.
bool frames_live(const Record *r);
unsigned pthread_keys(const Record *r);
std::vector<int> fds(const Record *r);
const char *locale(const Record *r);
// The directory to return to: the program's own chdir, or "" if it never changed it.
std::string program_cwd(const Record *r);
uint64_t last_commit_unix_ns();
}  // namespace image

// ---- interpreter.cpp ----
// Stage 2: everything from the arena to the exit status.
int run(int argc, char **argv);
// The state's record (set by run before any commit).
image::Record *record();

// ---- fresh.cpp: a new interpreter on the persistent heap ----
void initialize_fresh(const Args &args);
// Points every allocation domain and the object-arena allocator at palloc.
void route_allocators();
// True if they still are (checked after initialisation, reported by palloc.stats()).
bool allocators_routed();

// ---- resume.cpp ----
// Reserves the pthread keys the image's interpreter holds (before its data is restored).
void reserve_pthread_keys(unsigned below);
// Process-bound repairs after the heap and the interpreter's static data are back.
void repair(image::Record *r, const Args &args);

// ---- commit.cpp ----
enum class CommitKind { kStatement, kExplicit, kPeriodic, kExit };
// Commits the whole interpreter. Returns the epoch, or -1 with *why set when this is not a
// moment at which the state may be committed (other threads, an import under way, an
// undeclared extension module) or the commit failed.
int64_t commit(CommitKind kind, std::string *why);
// For commits made with no Python frame to raise in (a REPL statement, the exit): a
// refusal or failure is printed, and an exception from the program's flush dropped.
void commit_or_warn(CommitKind kind);
// With --commit-interval: a timer whose signal runs palloc's handler at the next bytecode
// boundary.
void start_periodic_commits();

// ---- palloc_module.cpp ----
// Creates the `palloc` module and puts it in sys.modules (fresh start).
bool create_palloc_module();

// ---- support.cpp: the Python half (support.py, module _py_persist) ----
namespace support {
// Runs support.py as module _py_persist (fresh start).
bool install();
// Calls _py_persist.NAME(*args); returns a new reference or nullptr with the exception set.
// The program's trace and profile functions are suspended meanwhile.
PyObject *call(const char *name, PyObject *args = nullptr);
// Calls the palloc.on_resume handlers in the order they were registered; a failing one is
// reported and the others still run.
void run_resume_hooks();
// Prints the pending exception as the interpreter would (sys.excepthook, sys.last_*) and
// clears it. Unlike PyErr_Print it never ends the process on SystemExit: that would
// finalize the persistent interpreter.
void print_exception();
// Calls it and prints (and clears) any exception; true if it succeeded.
bool call_and_report(const char *name, PyObject *args = nullptr);
}  // namespace support

// ---- watchdog.cpp: faulthandler.dump_traceback_later() across a restart ----
namespace watchdog {
// On resume, before support.py's repairs: if the image says a watchdog was armed, makes
// faulthandler's state say its thread has ended (the thread is gone), so that support.py
// can cancel and re-arm it. If the state cannot be found, says so and drops the record
// (support.py then leaves the watchdog alone rather than hang cancelling it).
void end_vanished_thread();
}  // namespace watchdog

// ---- line_editor.cpp ----
// Reads one line at the interactive prompt (readline on a terminal, with this process's own
// history). Returns false at end of input; *interrupted on Ctrl-C.
bool read_line(const std::string &prompt, std::string *line, bool *interrupted);

// ---- run_main.cpp: what the command line asks to run ----
// Runs the script, -c command, -m module or stdin, then the REPL if asked. Returns the exit
// status.
int run_main(const Args &args);
// sys.argv and sys.path[0] for this run (before any of the program's code runs).
void prepare_main(const Args &args);

}  // namespace pp
