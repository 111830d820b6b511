// watchdog.cpp — faulthandler.dump_traceback_later() across a restart.
//
// The watchdog is a thread that holds the lock `running` until it ends. After a restart
// the image still says a watchdog runs and the lock is still held, but the thread is
// gone: the program's next cancel_dump_traceback_later() or dump_traceback_later() (which
// cancels first) would wait for ever for it to end (regrtest arms one around each test,
// pytest with faulthandler_timeout too).
//
// faulthandler keeps its state in a static struct of libpython, which exports no symbol
// for it. support.py records the arguments of every dump_traceback_later() call; with
// them the struct is found in libpython's data (its field values are known), and the
// lock is released as the thread's own exit would have. support.py then cancels the
// watchdog and arms it again with the recorded arguments.
#include <semaphore.h>

#include <cstring>

#include "py_persist.h"

namespace pp::watchdog {
namespace {

// CPython 3.11, Modules/faulthandler.c (x86-64):
//   static struct { PyObject *file; int fd; PY_TIMEOUT_T timeout_us; int repeat;
//     PyInterpreterState *interp; int exit; char *header; size_t header_len;
//     PyThread_type_lock cancel_event; PyThread_type_lock running; } thread;
struct FaulthandlerThread {
  PyObject *file;
  int fd;
  long long timeout_us;
  int repeat;
  PyInterpreterState *interp;
  int exit;
  char *header;
  size_t header_len;
  PyThread_type_lock cancel_event;
  PyThread_type_lock running;
};
static_assert(sizeof(FaulthandlerThread) == 80, "the layout of CPython 3.11 on x86-64");

// What support.py recorded: (timeout, repeat, file, fd, exit) or None.
bool recorded(PyObject **file, int *fd, int *repeat, int *exit) {
  PyObject *module = PyImport_ImportModule("_py_persist");
  PyObject *w = module ? PyObject_GetAttrString(module, "_watchdog") : nullptr;
  Py_XDECREF(module);
  bool armed = false;
  if (w && PyTuple_Check(w) && PyTuple_GET_SIZE(w) >= 5) {
    PyObject *f = PyTuple_GET_ITEM(w, 2);
    *file = f == Py_None ? nullptr : f;  // a descriptor number: faulthandler keeps no file
    *fd = static_cast<int>(PyLong_AsLong(PyTuple_GET_ITEM(w, 3)));
    *repeat = PyObject_IsTrue(PyTuple_GET_ITEM(w, 1));
    *exit = PyObject_IsTrue(PyTuple_GET_ITEM(w, 4));
    armed = !PyErr_Occurred();
  }
  Py_XDECREF(w);  // the file stays referenced by the record in the image
  PyErr_Clear();
  return armed;
}

void forget_record() {
  PyObject *module = PyImport_ImportModule("_py_persist");
  if (module && PyObject_SetAttrString(module, "_watchdog", Py_None) < 0) PyErr_Clear();
  Py_XDECREF(module);
  PyErr_Clear();
}

}  // namespace

void end_vanished_thread() {
  PyObject *file;
  int fd, repeat, exit;
  if (!recorded(&file, &fd, &repeat, &exit)) return;  // none was armed at the commit
  uintptr_t start = 0, end = 0;
  extensions::libpython_data(&start, &end);
  PyInterpreterState *interp = PyInterpreterState_Main();
  FaulthandlerThread *found = nullptr;
  int matches = 0;
  for (uintptr_t a = start; a + sizeof(FaulthandlerThread) <= end; a += alignof(FaulthandlerThread)) {
    FaulthandlerThread t;
    std::memcpy(&t, reinterpret_cast<const void *>(a), sizeof t);
    if (t.file == file && t.fd == fd && t.interp == interp && t.repeat == repeat && t.exit == exit &&
        t.timeout_us > 0 && t.cancel_event && t.running && (t.header == nullptr) == (t.header_len == 0)) {
      found = reinterpret_cast<FaulthandlerThread *>(a);
      matches++;
    }
  }
  if (matches != 1) {
    forget_record();  // support.py must not cancel: that would wait for ever
    fprintf(stderr,
            "py-persist: faulthandler.dump_traceback_later() was armed at the commit, but its state was %s in "
            "libpython; it is not armed again, and cancelling it would hang\n",
            matches == 0 ? "not found" : "found more than once");
    return;
  }
  // On Linux a PyThread lock is a POSIX semaphore: 0 while the watchdog ran. A watchdog
  // that had already fired (without repeat) ended on its own before the commit.
  int value = -1;
  if (sem_getvalue(static_cast<sem_t *>(found->running), &value) != 0 || value != 0) {
    forget_record();
    return;
  }
  PyThread_release_lock(found->running);  // what the thread does last
}

}  // namespace pp::watchdog
