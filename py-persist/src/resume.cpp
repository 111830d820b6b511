// resume.cpp — what a restarted process must repair after the heap and the interpreter's
// static data are back (shared/notes/cpython-3.11-resume.md, section 2). The order
// matters: pthread keys before the data is restored (done by reserve_pthread_keys, called
// first), then frames, file descriptors, locale and directory, then PyOS_AfterFork_Child
// (GIL, runtime locks, other threads' states, at-fork hooks), then the GIL-state key and
// faulthandler's watchdog thread, and last the Python-level repairs and the program's
// on_resume handlers.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstring>

#include "cpython_internals.h"
#include "palloc.h"
#include "py_persist.h"

extern char **environ;

namespace pp {
namespace {

// Descriptors the old process had open are taken by O_PATH descriptors of "/": the stale
// objects that still hold those numbers get EBADF from read, write, send, seek and the
// like, and nothing new the program opens can get one of the numbers until that object
// closes it.
void fence_descriptors(const std::vector<int> &fds) {
  for (int fd : fds) {
    if (fcntl(fd, F_GETFD) != -1) continue;  // this process already uses it
    const int path_fd = open("/", O_PATH | O_CLOEXEC);
    if (path_fd < 0) return;
    if (path_fd != fd) {
      if (dup3(path_fd, fd, O_CLOEXEC) < 0 && verbose())
        fprintf(stderr, "py-persist: cannot fence descriptor %d: %s\n", fd, strerror(errno));
      close(path_fd);
    }
  }
}

PyObject *environment_dict() {
  PyObject *d = PyDict_New();
  for (char **e = environ; d && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e) continue;
    PyObject *k = PyUnicode_DecodeFSDefaultAndSize(*e, eq - *e);
    PyObject *v = PyUnicode_DecodeFSDefault(eq + 1);
    if (k && v) PyDict_SetItem(d, k, v);
    Py_XDECREF(k);
    Py_XDECREF(v);
    PyErr_Clear();
  }
  return d;
}

// random's module-level generator (random._inst) is reseeded by its at-fork hook, which
// PyOS_AfterFork_Child runs; a resumed program must continue the sequence it had. The
// generator's state is the C part of the object (_random.Random): kept aside and put back.
class RandomState {
 public:
  RandomState() {
    PyObject *random = PyDict_GetItemString(PyImport_GetModuleDict(), "random");  // borrowed
    inst_ = random ? PyObject_GetAttrString(random, "_inst") : nullptr;
    PyErr_Clear();
    if (!inst_) return;
    PyObject *mro = Py_TYPE(inst_)->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
      auto *t = reinterpret_cast<PyTypeObject *>(PyTuple_GET_ITEM(mro, i));
      if (strcmp(t->tp_name, "_random.Random") == 0)
        state_.assign(reinterpret_cast<char *>(inst_) + sizeof(PyObject), reinterpret_cast<char *>(inst_) + t->tp_basicsize);
    }
  }
  ~RandomState() {
    if (inst_ && !state_.empty()) memcpy(reinterpret_cast<char *>(inst_) + sizeof(PyObject), state_.data(), state_.size());
    Py_XDECREF(inst_);
  }

 private:
  PyObject *inst_ = nullptr;
  std::vector<char> state_;
};

}  // namespace

void reserve_pthread_keys(unsigned below) {
  // glibc hands out the lowest free key: take every one up to the committing process's
  // highest, so that the interpreter's keys (the GIL state's, tracemalloc's) are taken
  // again under their old numbers and nothing else can get them.
  for (unsigned guard = 0; guard < 2048; guard++) {
    pthread_key_t k;
    if (pthread_key_create(&k, nullptr) != 0) return;
    if (k + 1 >= below) {
      if (k >= below) pthread_key_delete(k);
      return;
    }
  }
}

void repair(image::Record *r, const Args &args) {
  PyThreadState *tstate = ppi_current_tstate();
  if (!tstate || !ppi_runtime_initialized()) refuse("the image holds no running interpreter");
  if (image::frames_live(r)) ppi_discard_frames(tstate);
  fence_descriptors(image::fds(r));
  if (!setlocale(LC_ALL, image::locale(r)) && verbose())
    fprintf(stderr, "py-persist: the locale %s is not available any more\n", image::locale(r));
  if (std::string dir = image::program_cwd(r); !dir.empty() && chdir(dir.c_str()) != 0)
    fprintf(stderr, "py-persist: cannot return to the directory %s: %s\n", dir.c_str(), strerror(errno));
  {
    RandomState keep;
    PyOS_AfterFork_Child();
  }
  if (PyThread_tss_set(ppi_autotss_key(), tstate) != 0) refuse("cannot restore the interpreter's thread-state key");
  watchdog::end_vanished_thread();
  prepare_main(args);
  PyObject *env = environment_dict();
  PyObject *call_args = Py_BuildValue("(N)", env);
  support::call_and_report("resume", call_args);
  Py_XDECREF(call_args);
  support::run_resume_hooks();
}

}  // namespace pp
