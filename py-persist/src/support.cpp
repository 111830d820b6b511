// support.cpp — loads support.py (embedded at build time) as the module _py_persist and
// calls into it.
#include "py_persist.h"
#include "support_py.h"  // kSupportSource, generated from support.py

namespace pp::support {

bool install() {
  PyObject *code = Py_CompileString(kSupportSource, "<py-persist>/support.py", Py_file_input);
  if (!code) return false;
  PyObject *module = PyImport_ExecCodeModule("_py_persist", code);
  Py_DECREF(code);
  Py_XDECREF(module);
  return module != nullptr;
}

PyObject *call(const char *name, PyObject *args) {
  PyObject *module = PyImport_ImportModule("_py_persist");
  if (!module) return nullptr;
  PyObject *fn = PyObject_GetAttrString(module, name);
  Py_DECREF(module);
  if (!fn) return nullptr;
  PyObject *result = args ? PyObject_CallObject(fn, args) : PyObject_CallNoArgs(fn);
  Py_DECREF(fn);
  return result;
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
