// palloc_module.cpp — the `palloc` module Python code sees: commit(), epoch(), resumed(),
// stats(), on_resume(fn). It is created once with the state (a module in sys.modules, part
// of the image); its functions live in this executable, which the image depends on.
#include <cstring>

#include "palloc.h"
#include "py_persist.h"

namespace pp {
namespace {

PyObject *py_commit(PyObject *, PyObject *) {
  std::string why;
  const int64_t epoch = commit(CommitKind::kExplicit, &why);
  if (epoch < 0) {
    if (PyErr_Occurred()) return nullptr;  // the program's KeyboardInterrupt/SystemExit
    PyErr_SetString(PyExc_RuntimeError, ("palloc.commit(): " + why).c_str());
    return nullptr;
  }
  return PyLong_FromLongLong(epoch);
}

PyObject *py_epoch(PyObject *, PyObject *) {
  return PyLong_FromUnsignedLongLong(palloc_epoch(palloc_heap_arena()));
}

PyObject *py_resumed(PyObject *, PyObject *) { return PyBool_FromLong(resumed()); }

PyObject *py_stats(PyObject *, PyObject *) {
  palloc_stats st;
  if (palloc_get_stats(palloc_heap_arena(), &st) != PALLOC_OK) {
    PyErr_SetString(PyExc_RuntimeError, palloc_last_error());
    return nullptr;
  }
  PyObject *extensions = PyList_New(0);
  for (const std::string &p : extensions::declared()) {
    PyObject *s = PyUnicode_DecodeFSDefault(p.c_str());
    if (s) PyList_Append(extensions, s);
    Py_XDECREF(s);
  }
  return Py_BuildValue(
      "{s:s, s:K, s:K, s:K, s:K, s:K, s:d, s:K, s:K, s:K, s:s, s:s, s:O, s:O, s:N}", "arena", arena_path().c_str(),
      "epoch", static_cast<unsigned long long>(st.epoch), "durable_epoch",
      static_cast<unsigned long long>(st.durable_epoch), "size", static_cast<unsigned long long>(st.size),
      "max_size", static_cast<unsigned long long>(st.max_size), "last_commit_pages",
      static_cast<unsigned long long>(st.last_commit_pages), "last_commit_ms", st.last_commit_ns / 1e6, "commits",
      static_cast<unsigned long long>(st.commits), "bytes_written", static_cast<unsigned long long>(st.bytes_written),
      "log_bytes", static_cast<unsigned long long>(st.log_bytes), "tracker", st.tracker, "durability", st.durability,
      "resumed", resumed() ? Py_True : Py_False, "allocators_routed", allocators_routed() ? Py_True : Py_False,
      "extensions", extensions);
}

// Handlers are kept by where they were defined: a script that registers its handler on
// every run (it runs again from line 1 after each resume) keeps one, not one per run.
PyObject *py_on_resume(PyObject *module, PyObject *fn) {
  if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "palloc.on_resume() needs a callable");
    return nullptr;
  }
  PyObject *handlers = PyObject_GetAttrString(module, "_on_resume");
  if (!handlers) return nullptr;
  PyObject *key = nullptr;
  if (PyObject *code = PyObject_GetAttrString(fn, "__code__")) {
    PyObject *file = PyObject_GetAttrString(code, "co_filename");
    PyObject *line = PyObject_GetAttrString(code, "co_firstlineno");
    key = file && line ? PyUnicode_FromFormat("%S:%S", file, line) : nullptr;
    Py_XDECREF(file);
    Py_XDECREF(line);
    Py_DECREF(code);
  } else {
    PyErr_Clear();
    key = PyObject_Repr(fn);
  }
  const int rc = key ? PyDict_SetItem(handlers, key, fn) : -1;
  Py_XDECREF(key);
  Py_DECREF(handlers);
  if (rc < 0) return nullptr;
  Py_INCREF(fn);
  return fn;  // usable as a decorator
}

// The signal handler of --commit-interval: handler(signum, frame).
PyObject *py_periodic_commit(PyObject *, PyObject *const *, Py_ssize_t) {
  std::string why;
  if (commit(CommitKind::kPeriodic, &why) < 0) {
    if (verbose()) fprintf(stderr, "py-persist: periodic commit skipped: %s\n", why.c_str());
    if (PyErr_Occurred()) return nullptr;  // raised where the signal arrived, as a handler's exception is
  }
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"commit", py_commit, METH_NOARGS,
     "commit() -> epoch\n\nMakes the whole interpreter state durable now. After a restart the program "
     "runs again from its first line; the frames running at this commit are not resumed."},
    {"epoch", py_epoch, METH_NOARGS, "epoch() -> the last committed epoch"},
    {"resumed", py_resumed, METH_NOARGS, "resumed() -> True if this process resumed a committed state"},
    {"stats", py_stats, METH_NOARGS, "stats() -> dict of the arena's and the last commit's figures"},
    {"on_resume", py_on_resume, METH_O,
     "on_resume(fn) -> fn\n\nRuns fn() after every resume, before the program's code (reopen files, "
     "sockets). One handler per place of definition."},
    {"_periodic_commit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_periodic_commit)),
     METH_FASTCALL, "signal handler of --commit-interval"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "palloc",
                       "py-persist's persistent heap: the interpreter's whole state survives restarts.", -1,
                       kMethods, nullptr, nullptr, nullptr, nullptr};

}  // namespace

bool create_palloc_module() {
  PyObject *m = PyModule_Create(&kModule);
  if (!m) return false;
  PyObject *handlers = PyDict_New();
  bool ok = handlers && PyModule_AddObject(m, "_on_resume", handlers) == 0;
  if (!ok) Py_XDECREF(handlers);
  PyObject *modules = PyImport_GetModuleDict();  // borrowed
  ok = ok && PyDict_SetItemString(modules, "palloc", m) == 0;
  Py_DECREF(m);
  return ok;
}

}  // namespace pp
