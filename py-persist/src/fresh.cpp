// fresh.cpp — a new interpreter on the persistent heap. The RAW domain and the object-arena
// allocator are set to palloc before pre-initialisation (MEM and OBJ stay pymalloc, on
// palloc's arenas), and the pre-configuration ignores the environment, so PYTHONMALLOC or
// -X dev cannot undo it.
#include <cstring>

#include "palloc.h"
#include "py_persist.h"

namespace pp {
namespace {

void *mem_malloc(void *, size_t n) { return palloc_malloc(n ? n : 1); }
void *mem_calloc(void *, size_t count, size_t n) { return palloc_calloc(count ? count : 1, n ? n : 1); }
void *mem_realloc(void *, void *p, size_t n) { return palloc_realloc(p, n ? n : 1); }
void mem_free(void *, void *p) { palloc_free(p); }
void *arena_alloc(void *, size_t n) { return palloc_malloc(n); }
void arena_free(void *, void *p, size_t) { palloc_free(p); }

void check(PyStatus status, const char *what) {
  if (PyStatus_Exception(status)) {
    if (PyStatus_IsExit(status)) exit(status.exitcode);
    fail(std::string(what) + ": " + (status.err_msg ? status.err_msg : "failed") +
         (status.func ? std::string(" (") + status.func + ")" : ""));
  }
}

void append(PyConfig *c, PyWideStringList *list, const std::string &s) {
  wchar_t *w = Py_DecodeLocale(s.c_str(), nullptr);
  if (!w) fail("cannot decode the option " + s);
  check(PyWideStringList_Append(list, w), "option");
  PyMem_RawFree(w);
}

}  // namespace

// RAW (and through it the memory pymalloc takes for objects of more than 512 bytes) is
// palloc; MEM and OBJ stay pymalloc, whose arenas (and the frames' data-stack chunks) come
// from palloc through the object-arena allocator. pymalloc's own state (its pools, arena
// table and radix tree roots) is static data in libpython, restored with it. It is faster
// than any malloc for Python's small objects: calling palloc for every float costs ~10%.
namespace {
PyMemAllocatorEx g_pymalloc;  // MEM and OBJ as libpython set them up (pymalloc)
}

void route_allocators() {
  PyMemAllocatorEx raw = {nullptr, mem_malloc, mem_calloc, mem_realloc, mem_free};
  PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &raw);
  PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &g_pymalloc);
  PyObjectArenaAllocator arenas = {nullptr, arena_alloc, arena_free};
  PyObject_SetArenaAllocator(&arenas);
}

bool allocators_routed() {
  PyMemAllocatorEx mem;
  PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &mem);
  if (mem.malloc != mem_malloc || mem.free != mem_free) return false;
  PyMemAllocatorEx pymalloc = g_pymalloc;
  if (!pymalloc.malloc) {  // a resumed process: compare with what MEM holds
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &pymalloc);
  }
  for (PyMemAllocatorDomain d : {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ}) {
    PyMem_GetAllocator(d, &mem);
    if (mem.malloc != pymalloc.malloc || mem.free != pymalloc.free) return false;
  }
  PyObjectArenaAllocator arenas;
  PyObject_GetArenaAllocator(&arenas);
  return arenas.alloc == arena_alloc;
}

void initialize_fresh(const Args &a) {
  route_allocators();
  PyPreConfig pre;
  PyPreConfig_InitPythonConfig(&pre);
  pre.use_environment = 0;  // PYTHONMALLOC, PYTHONDEVMODE, PYTHONUTF8 are not honoured
  pre.parse_argv = 0;
  pre.isolated = a.isolated;
  pre.allocator = PYMEM_ALLOCATOR_NOT_SET;
  for (const std::string &x : a.xoptions) {
    if (x == "utf8" || x == "utf8=1") pre.utf8_mode = 1;
    if (x == "dev") fprintf(stderr, "py-persist: -X dev is not supported (its debug allocators would take the heap out of the arena); ignored\n");
  }
  if (const char *dev = getenv("PYTHONDEVMODE"); dev && *dev && !a.ignore_environment)
    fprintf(stderr, "py-persist: PYTHONDEVMODE is not supported (its debug allocators would take the heap out of the arena); ignored\n");
  check(Py_PreInitialize(&pre), "pre-initialising Python");

  PyConfig c;
  PyConfig_InitPythonConfig(&c);
  c.parse_argv = 0;
  c.isolated = a.isolated;
  c.use_environment = !a.ignore_environment;
  c.site_import = !a.no_site;
  c.user_site_directory = !a.no_user_site;
  c.safe_path = a.safe_path;
  c.write_bytecode = !a.dont_write_bytecode;
  c.optimization_level = a.optimize;
  c.bytes_warning = a.bytes_warning;
  c.verbose = a.verbose;
  c.parser_debug = a.parser_debug;
  c.buffered_stdio = !a.unbuffered;
  c.quiet = a.quiet;
  c.skip_source_first_line = a.skip_first_line;
  c.install_signal_handlers = 1;
  // sys.executable is the plain interpreter: programs that start "python" (subprocess,
  // multiprocessing) get an ordinary process, not a second owner of this arena.
  check(PyConfig_SetBytesString(&c, &c.program_name, PY_PERSIST_PYTHON_EXECUTABLE), "program name");
  check(PyConfig_SetBytesString(&c, &c.executable, PY_PERSIST_PYTHON_EXECUTABLE), "executable");
  std::vector<char *> argv;
  for (const std::string &s : a.argv) argv.push_back(const_cast<char *>(s.c_str()));
  check(PyConfig_SetBytesArgv(&c, static_cast<Py_ssize_t>(argv.size()), argv.data()), "sys.argv");
  for (const std::string &w : a.warnoptions) append(&c, &c.warnoptions, w);
  for (const std::string &x : a.xoptions)
    if (x != "dev") append(&c, &c.xoptions, x);
  check(Py_InitializeFromConfig(&c), "initialising Python");
  PyConfig_Clear(&c);
  if (!allocators_routed()) fail("Python's allocators were changed during initialisation");
}

}  // namespace pp
