// support.cpp — loads support.py (embedded at build time) as the module _py_persist and
// calls into it.
#include <map>
#include <string>
#include <string_view>

#include "palloc.h"
#include "py_persist.h"
#include "support_py.h"  // kSupportSource, generated from support.py

namespace pp::support {

bool install() {
  PyObject *code = Py_CompileString(kSupportSource, "<py-persist support>", Py_file_input);
  if (!code) return false;
  PyObject *module = PyImport_ExecCodeModule("_py_persist", code);
  Py_DECREF(code);
  Py_XDECREF(module);
  return module != nullptr;
}

// The module's functions, looked up once per process: a lookup by name on every commit
// would itself dirty pages the commit then has to write.
PyObject *function(const char *name) {
  // Strong references, kept for the process; the map itself is process-local memory.
  static std::map<std::string, PyObject *, std::less<>> cache;
  if (auto it = cache.find(std::string_view(name)); it != cache.end()) return it->second;
  PyObject *module = PyImport_ImportModule("_py_persist");
  if (!module) return nullptr;
  PyObject *fn = PyObject_GetAttrString(module, name);
  Py_DECREF(module);
  if (fn) {
    palloc_local_enter();
    cache.emplace(name, fn);
    palloc_local_leave();
  }
  return fn;
}

namespace {

// Suspends the main thread's trace and profile functions (sys.settrace, sys.setprofile,
// or C-level ones such as cProfile's) for its lifetime: py-persist's own Python code is
// not the program's, and a debugger, profiler or coverage tool must not see it. The
// functions persist with the image, so after a resume they are set before any of it runs.
class Untraced {
 public:
  Untraced() : tstate_(PyThreadState_Get()) {
    trace_ = tstate_->c_tracefunc;
    profile_ = tstate_->c_profilefunc;
    if (!trace_ && !profile_) return;
    trace_obj_ = Py_XNewRef(tstate_->c_traceobj);
    profile_obj_ = Py_XNewRef(tstate_->c_profileobj);
    set(nullptr, nullptr, nullptr, nullptr);
  }
  ~Untraced() {
    if (!trace_ && !profile_) return;
    set(trace_, trace_obj_, profile_, profile_obj_);
    Py_XDECREF(trace_obj_);
    Py_XDECREF(profile_obj_);
  }
  Untraced(const Untraced &) = delete;
  Untraced &operator=(const Untraced &) = delete;

 private:
  // The pending exception (a failed call's) is kept: setting a hook may run audit hooks.
  static void set(Py_tracefunc trace, PyObject *trace_obj, Py_tracefunc profile, PyObject *profile_obj) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyEval_SetTrace(trace, trace_obj);
    PyEval_SetProfile(profile, profile_obj);
    PyErr_Restore(type, value, tb);
  }

  PyThreadState *tstate_;
  Py_tracefunc trace_ = nullptr, profile_ = nullptr;
  PyObject *trace_obj_ = nullptr, *profile_obj_ = nullptr;
};

}  // namespace

PyObject *call(const char *name, PyObject *args) {
  Untraced untraced;
  PyObject *fn = function(name);
  if (!fn) return nullptr;
  return args ? PyObject_CallObject(fn, args) : PyObject_CallNoArgs(fn);
}

void run_resume_hooks() {
  // From here, not from support.py: the handlers are the program's code and run under its
  // trace and profile functions, with no frame of py-persist's around them.
  PyObject *palloc = PyDict_GetItemString(PyImport_GetModuleDict(), "palloc");  // borrowed
  PyObject *handlers = palloc ? PyObject_GetAttrString(palloc, "_on_resume") : nullptr;
  PyObject *items = handlers && PyDict_Check(handlers) ? PyDict_Items(handlers) : nullptr;
  Py_XDECREF(handlers);
  PyErr_Clear();
  for (Py_ssize_t i = 0; items && i < PyList_GET_SIZE(items); i++) {
    PyObject *key = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 0);
    PyObject *r = PyObject_CallNoArgs(PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 1));
    if (r) {
      Py_DECREF(r);
      continue;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PySys_FormatStderr("py-persist: the on_resume handler %S failed:\n", key);
    PyErr_Restore(type, value, tb);
    print_exception();
  }
  Py_XDECREF(items);
}

bool call_and_report(const char *name, PyObject *args) {
  PyObject *r = call(name, args);
  if (!r) {
    fprintf(stderr, "py-persist: internal step %s failed:\n", name);
    print_exception();
    return false;
  }
  Py_DECREF(r);
  return true;
}

void print_exception() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  PyObject *none = Py_None;
  PySys_SetObject("last_type", type ? type : none);
  PySys_SetObject("last_value", value ? value : none);
  PySys_SetObject("last_traceback", tb ? tb : none);
  PyObject *hook = PySys_GetObject("excepthook");  // borrowed
  bool shown = false;
  if (hook && hook != Py_None) {
    PyObject *r = PyObject_CallFunctionObjArgs(hook, type, value ? value : none, tb ? tb : none, nullptr);
    shown = r != nullptr;
    Py_XDECREF(r);
    PyErr_Clear();
  }
  if (!shown) PyErr_Display(type, value ? value : none, tb ? tb : none);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

}  // namespace pp::support
