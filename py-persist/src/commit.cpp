// commit.cpp — committing the whole interpreter: the checks that make a moment safe, the
// flush that keeps output from appearing twice, the record of process-bound facts, and
// the periodic commits of --commit-interval.
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "cpython_internals.h"
#include "palloc.h"
#include "py_persist.h"

namespace pp {
namespace {

int other_threads() {
  int n = 0;
  for (PyThreadState *t = PyInterpreterState_ThreadHead(PyInterpreterState_Main()); t; t = PyThreadState_Next(t))
    n++;
  return n - 1;
}

// True while importlib holds a module lock (an import is under way on this thread).
bool importing() {
  PyObject *bootstrap = PyDict_GetItemString(PyImport_GetModuleDict(), "_frozen_importlib");  // borrowed
  PyObject *locks = bootstrap ? PyObject_GetAttrString(bootstrap, "_module_locks") : nullptr;
  bool yes = false;
  PyObject *key, *ref;
  Py_ssize_t pos = 0;
  while (locks && PyDict_Check(locks) && PyDict_Next(locks, &pos, &key, &ref))
    if (PyWeakref_Check(ref) && PyWeakref_GetObject(ref) != Py_None) yes = true;
  Py_XDECREF(locks);
  PyErr_Clear();
  return yes;
}

// Output buffered in sys.stdout/sys.stderr would be printed again after a restart. The
// rest of a commit runs no Python code, so no signal handler, trace function or
// asynchronous exception can enter it; but a stream may be the program's own Python
// object, whose flush() runs bytecode. That runs with the commit already marked under
// way (a timer signal there cannot start another one), and a KeyboardInterrupt or
// SystemExit it raises is not lost: the commit is abandoned and that exception is left
// set for the caller to raise. Other errors of a flush are ignored, as at interpreter
// exit. Whatever exception was pending before (a commit from a handler) stays pending.
enum class Flush { kDone, kStreamBusy, kInterrupted };
Flush flush_python_streams() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  Flush result = Flush::kDone;
  for (const char *name : {"stdout", "stderr"}) {
    PyObject *stream = PySys_GetObject(name);  // borrowed
    if (!stream || stream == Py_None) continue;
    PyObject *r = PyObject_CallMethod(stream, "flush", nullptr);
    Py_XDECREF(r);
    if (r) continue;
    // A write interrupted by the timer's signal holds the buffer's lock: an image taken
    // now would keep it locked for good ("reentrant call inside <_io.BufferedWriter>").
    if (PyErr_ExceptionMatches(PyExc_RuntimeError)) result = Flush::kStreamBusy;
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
      Py_XDECREF(type);
      Py_XDECREF(value);
      Py_XDECREF(tb);
      return Flush::kInterrupted;  // the program's exception stays set
    }
    PyErr_Clear();
  }
  PyErr_Restore(type, value, tb);
  return result;
}

const char *kind_name(CommitKind kind) {
  switch (kind) {
    case CommitKind::kStatement: return "statement";
    case CommitKind::kExplicit: return "palloc.commit()";
    case CommitKind::kPeriodic: return "periodic";
    case CommitKind::kExit: return "exit";
  }
  return "";
}

}  // namespace

// Returns -1 with *why set when refused or failed; a KeyboardInterrupt or SystemExit from
// the program's own stream code is then left set (see flush_python_streams).
int64_t commit(CommitKind kind, std::string *why) {
  if (const int n = other_threads(); n > 0) {
    *why = std::to_string(n) + " other thread" + (n == 1 ? " is" : "s are") +
           " running; only a single-threaded interpreter can be committed (join them first)";
    return -1;
  }
  if (std::vector<std::string> mods = extensions::unexpected_modules(); !mods.empty()) {
    *why = "the extension module " + mods.front() +
           " was loaded outside the declared set; the image could not be resumed with it. Declare it with "
           "--extension from the arena's first run on";
    return -1;
  }
  if (kind != CommitKind::kStatement && kind != CommitKind::kExit && importing()) {
    *why = "a module is being imported; commit after the import";
    return -1;
  }
  // A timer signal arriving while this commit runs must not start another one.
  static bool committing = false;
  if (committing) {
    *why = "a commit is already under way";
    return -1;
  }
  committing = true;
  switch (flush_python_streams()) {
    case Flush::kDone: break;
    case Flush::kStreamBusy:
      committing = false;
      *why = "sys.stdout or sys.stderr is in the middle of a write (a signal interrupted it); commit after it";
      return -1;
    case Flush::kInterrupted:
      committing = false;
      *why = std::string("interrupted by ") + reinterpret_cast<PyTypeObject *>(PyErr_Occurred())->tp_name +
             " while flushing sys.stdout/sys.stderr; the exception is raised";
      return -1;
  }
  fflush(stdout);
  fflush(stderr);
  const auto t0 = std::chrono::steady_clock::now();
  image::capture(record(), !ppi_stack_is_empty(PyThreadState_Get()));
  // Periodic commits do not wait for the disk (it catches up in the background); the
  // others return durable, as --durability asks.
  const int64_t epoch = kind == CommitKind::kPeriodic ? palloc_heap_commit_background() : palloc_heap_commit();
  committing = false;
  if (epoch < 0) {
    *why = std::string("the commit failed: ") + palloc_last_error();
    return -1;
  }
  if (verbose()) {
    palloc_stats st;
    palloc_get_stats(palloc_heap_arena(), &st);
    fprintf(stderr, "py-persist: committed epoch %lld (%s, %llu pages, %.2f ms)\n", static_cast<long long>(epoch),
            kind_name(kind), static_cast<unsigned long long>(st.last_commit_pages),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return epoch;
}

void commit_or_warn(CommitKind kind) {
  std::string why;
  if (commit(kind, &why) < 0)
    fprintf(stderr, "py-persist: not committed%s: %s\n", kind == CommitKind::kExit ? " at exit" : "", why.c_str());
  PyErr_Clear();  // no frame to raise it in
}

void start_periodic_commits() {
  const uint32_t ms = palloc_heap_claim_commit_interval();
  if (ms == 0) return;
  // The timer's signal trips Python's C handler; palloc._periodic_commit then runs as a
  // Python signal handler at the next bytecode boundary of the main thread (or when a
  // blocking call returns EINTR), where the heap is consistent.
  const int signo = SIGRTMIN + 4;
  PyObject *signal = PyImport_ImportModule("signal");
  PyObject *palloc = PyImport_ImportModule("palloc");
  PyObject *handler = palloc ? PyObject_GetAttrString(palloc, "_periodic_commit") : nullptr;
  PyObject *r = (signal && handler) ? PyObject_CallMethod(signal, "signal", "iO", signo, handler) : nullptr;
  Py_XDECREF(r);
  Py_XDECREF(handler);
  Py_XDECREF(palloc);
  Py_XDECREF(signal);
  if (!r) {
    support::print_exception();
    fail("cannot install the periodic commit handler");
  }
  sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = signo;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) fail(std::string("timer_create: ") + strerror(errno));
  itimerspec spec{};
  spec.it_interval.tv_sec = ms / 1000;
  spec.it_interval.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
  spec.it_value = spec.it_interval;
  if (timer_settime(timer, 0, &spec, nullptr) != 0) fail(std::string("timer_settime: ") + strerror(errno));
}

}  // namespace pp
