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

PyObject *call(const char *name, PyObject *args) {
  PyObject *fn = function(name);
  if (!fn) return nullptr;
  return args ? PyObject_CallObject(fn, args) : PyObject_CallNoArgs(fn);
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
