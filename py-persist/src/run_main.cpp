// run_main.cpp — what the command line asks for, run in the (fresh or resumed) __main__:
// a script from its first line, a -c command, a -m module, stdin, and the interactive
// prompt, which commits after every statement. Exceptions are reported the way python3
// reports them, except that SystemExit never finalizes the interpreter: its state lives on.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "palloc.h"
#include "py_persist.h"

namespace pp {
namespace {

constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports python3's

bool g_system_exit = false;  // the code raised SystemExit: no interactive prompt after it

PyObject *main_dict() { return PyModule_GetDict(PyImport_AddModule("__main__")); }  // borrowed

// The exit status for the pending exception, which it reports and clears.
int handle_exception() {
  if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
    g_system_exit = true;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *code = value ? PyObject_GetAttrString(value, "code") : nullptr;
    PyErr_Clear();
    int status = 0;
    if (code && code != Py_None) {
      if (PyLong_Check(code)) {
        status = static_cast<int>(PyLong_AsLong(code));
      } else {  // sys.exit("message")
        PyObject *err = PySys_GetObject("stderr");
        if (err && err != Py_None && PyFile_WriteObject(code, err, Py_PRINT_RAW) == 0)
          PyFile_WriteString("\n", err);
        PyErr_Clear();
        status = 1;
      }
    }
    Py_XDECREF(code);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return status;
  }
  const bool interrupted = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
  support::print_exception();
  return interrupted ? kExitInterrupted : 1;
}

// Runs compiled code in __main__; -1 when it completed, else the exit status it ended with.
int exec_code(PyObject *code) {
  if (!code) return handle_exception();
  PyObject *result = PyEval_EvalCode(code, main_dict(), main_dict());
  Py_DECREF(code);
  if (!result) return handle_exception();
  Py_DECREF(result);
  return -1;
}

int run_source(const std::string &source, const char *filename) {
  PyCompilerFlags flags = _PyCompilerFlags_INIT;
  return exec_code(Py_CompileStringExFlags(source.c_str(), filename, Py_file_input, &flags, -1));
}

int run_script(const Args &a) {
  std::ifstream in(a.target, std::ios::binary);
  if (!in) {
    fprintf(stderr, "py-persist: can't open file '%s': [Errno %d] %s\n", a.target.c_str(), errno, strerror(errno));
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string source = ss.str();
  if (a.skip_first_line) source.erase(0, source.find('\n'));
  PyObject *file = PyUnicode_DecodeFSDefault(a.target.c_str());
  if (file) PyDict_SetItemString(main_dict(), "__file__", file);
  Py_XDECREF(file);
  PyDict_SetItemString(main_dict(), "__cached__", Py_None);
  return run_source(source, a.target.c_str());
}

int run_stdin() {
  std::stringstream ss;
  ss << std::cin.rdbuf();
  return run_source(ss.str(), "<stdin>");
}

int run_module(const Args &a) {
  PyObject *runpy = PyImport_ImportModule("runpy");
  PyObject *r = runpy ? PyObject_CallMethod(runpy, "_run_module_as_main", "si", a.target.c_str(), 1) : nullptr;
  Py_XDECREF(runpy);
  if (!r) return handle_exception();
  Py_DECREF(r);
  return -1;
}

std::string ps(const char *name, const char *fallback) {
  PyObject *p = PySys_GetObject(name);  // borrowed
  if (!p) {
    PyObject *s = PyUnicode_FromString(fallback);
    PySys_SetObject(name, s);
    Py_XDECREF(s);
    return fallback;
  }
  PyObject *s = PyObject_Str(p);
  const char *c = s ? PyUnicode_AsUTF8(s) : nullptr;
  std::string out = c ? c : fallback;
  Py_XDECREF(s);
  PyErr_Clear();
  return out;
}

void banner(const Args &a) {
  if (a.quiet) return;
  if (resumed()) {
    const double ago = (static_cast<double>(time(nullptr)) * 1e9 - static_cast<double>(image::last_commit_unix_ns())) / 1e9;
    fprintf(stderr, "py-persist: resumed the session of epoch %llu, committed %.0f s ago (%s)\n",
            static_cast<unsigned long long>(palloc_epoch(palloc_heap_arena())), ago < 0 ? 0 : ago,
            arena_path().c_str());
  } else {
    fprintf(stderr, "Python %s on %s\npy-persist: a new persistent session in %s\n", Py_GetVersion(), Py_GetPlatform(),
            arena_path().c_str());
  }
}

// The interactive prompt. Returns an exit status when the code asks to exit, -1 at EOF.
int repl(const Args &a) {
  banner(a);
  std::string source;
  for (;;) {
    const std::string prompt = source.empty() ? ps("ps1", ">>> ") : ps("ps2", "... ");
    std::string line;
    bool interrupted = false;
    const bool got = read_line(prompt, &line, &interrupted);
    if (interrupted) {
      fputs("KeyboardInterrupt\n", stderr);
      source.clear();
      continue;
    }
    if (!got) {
      if (isatty(STDIN_FILENO)) fputc('\n', stdout);
      return -1;
    }
    // Lines are joined without a final newline, as python3's own console does: with it,
    // codeop would take "def f():\n    x = 1\n" for a complete statement.
    source += (source.empty() ? "" : "\n") + line;
    PyObject *args = Py_BuildValue("(s)", source.c_str());
    PyObject *code = args ? support::call("repl_compile", args) : nullptr;
    Py_XDECREF(args);
    if (!code) {  // a syntax error
      source.clear();
      handle_exception();
      continue;
    }
    if (code == Py_None) {  // incomplete: read more
      Py_DECREF(code);
      continue;
    }
    source.clear();
    PyObject *result = PyEval_EvalCode(code, main_dict(), main_dict());
    Py_DECREF(code);
    if (!result) {
      if (PyErr_ExceptionMatches(PyExc_SystemExit)) return handle_exception();
      handle_exception();
    }
    Py_XDECREF(result);
    commit_or_warn(CommitKind::kStatement);
  }
}

}  // namespace

void prepare_main(const Args &a) {
  PyObject *argv = PyList_New(0);
  for (const std::string &s : a.argv) {
    PyObject *item = PyUnicode_DecodeFSDefault(s.c_str());
    if (item) PyList_Append(argv, item);
    Py_XDECREF(item);
  }
  PySys_SetObject("argv", argv);
  Py_XDECREF(argv);
  // sys.path[0] as python3 computes it: the script's directory, or "" (the current one).
  std::string path0;
  if (a.mode == Args::Mode::kScript) {
    char real[PATH_MAX];
    const std::string resolved = realpath(a.target.c_str(), real) ? real : a.target;
    path0 = resolved.substr(0, resolved.rfind('/') == std::string::npos ? 0 : resolved.rfind('/'));
  } else if (a.mode == Args::Mode::kModule) {
    char cwd[PATH_MAX];
    path0 = getcwd(cwd, sizeof cwd) ? cwd : "";
  }
  PyObject *sys_path = PySys_GetObject("path");  // borrowed
  if (a.safe_path || !sys_path || !PyList_Check(sys_path)) return;
  PyObject *entry = PyUnicode_DecodeFSDefault(path0.c_str());
  // The previous run's entry is replaced, not stacked: a resumed state keeps sys.path.
  PyObject *marker = PySys_GetObject("_py_persist_path0");
  if (marker && PyList_Size(sys_path) > 0 && PyObject_RichCompareBool(PyList_GetItem(sys_path, 0), marker, Py_EQ) == 1)
    PyList_SetItem(sys_path, 0, (Py_INCREF(entry), entry));
  else
    PyList_Insert(sys_path, 0, entry);
  PySys_SetObject("_py_persist_path0", entry);
  Py_XDECREF(entry);
  PyErr_Clear();
}

int run_main(const Args &a) {
  int status = -1;
  bool interactive = a.inspect;
  switch (a.mode) {
    case Args::Mode::kScript: status = run_script(a); break;
    case Args::Mode::kCommand: status = run_source(a.target, "<string>"); break;
    case Args::Mode::kModule: status = run_module(a); break;
    case Args::Mode::kStdin: status = run_stdin(); break;
    case Args::Mode::kRepl:
      // As python3: stdin that is not a terminal is the program, unless -i asks for the
      // prompt (which then reads its statements from it).
      if (isatty(STDIN_FILENO) || a.inspect)
        interactive = true;
      else
        status = run_stdin();
      break;
  }
  // python3 -i enters the prompt after the code, also after an exception, not after exit().
  if (interactive && !g_system_exit) status = repl(a);
  return status < 0 ? 0 : status;
}

}  // namespace pp
