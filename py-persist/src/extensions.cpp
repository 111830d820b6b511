// extensions.cpp — the declared extension modules and the interpreter's persistent
// regions. libpython's writable data (after RELRO) holds the runtime's static state:
// _PyRuntime, the interned strings, static types, the small ints. Each declared module's
// writable data holds its static types and globals. All of it is committed with the heap
// and restored at resume, which requires every one of these binaries to be the same build
// at the same address (libpalloc records and checks them).
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "palloc.h"
#include "py_persist.h"

namespace pp::extensions {
namespace {

// Modules from python3.11's lib-dynload that keep no state outside their own data and the
// Python heap. Left out: _ctypes (libffi closures in mmap'd memory), _ssl and _hashlib
// (OpenSSL's own state), _sqlite3, _dbm, readline, _curses (libraries with global state),
// mmap (mappings outside the heap), _multiprocessing and _posixshmem (OS objects), and the
// test modules.
constexpr const char *kDefault[] = {
    "_asyncio",   "_bz2",       "_codecs_cn",      "_codecs_hk", "_codecs_iso2022", "_codecs_jp",
    "_codecs_kr", "_codecs_tw", "_contextvars",    "_decimal",   "_json",           "_lsprof",
    "_lzma",      "_multibytecodec", "_queue",     "_typing",    "_uuid",           "_zoneinfo",
    "audioop",    "resource",   "termios"};

std::set<std::string> g_loaded_at_start;
unsigned long long g_adds_at_start = 0;  // the loader's count of objects ever added

unsigned long long loader_adds() {
  unsigned long long adds = 0;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) -> int {
        *static_cast<unsigned long long *>(data) = info->dlpi_adds;
        return 1;  // every entry carries the same counter
      },
      &adds);
  return adds;
}

struct Segment {
  std::string path;
  uintptr_t start = 0, end = 0;  // page-aligned writable range after RELRO
};

// The writable, non-RELRO part of every loaded object.
std::vector<Segment> writable_segments() {
  std::vector<Segment> out;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) -> int {
        auto *segs = static_cast<std::vector<Segment> *>(data);
        const long page = sysconf(_SC_PAGESIZE);
        uintptr_t relro_end = 0;
        for (int i = 0; i < info->dlpi_phnum; i++)
          if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO)
            relro_end = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr + info->dlpi_phdr[i].p_memsz;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
          uintptr_t start = std::max<uintptr_t>(info->dlpi_addr + ph.p_vaddr, relro_end);
          uintptr_t end = info->dlpi_addr + ph.p_vaddr + ph.p_memsz;
          start = (start + page - 1) & ~uintptr_t(page - 1);
          end = (end + page - 1) & ~uintptr_t(page - 1);
          if (end > start) segs->push_back({info->dlpi_name ? info->dlpi_name : "", start, end});
        }
        return 0;
      },
      &out);
  return out;
}

std::string base_name(const std::string &path) { return path.substr(path.rfind('/') + 1); }

bool is_libpython(const Segment &s) { return base_name(s.path).rfind("libpython3.11.so", 0) == 0; }

// "_json" for ".../_json.cpython-311-x86_64-linux-gnu.so".
std::string module_name(const std::string &path) {
  const std::string base = base_name(path);
  return base.substr(0, base.find('.'));
}

}  // namespace

std::vector<std::string> default_names() { return {std::begin(kDefault), std::end(kDefault)}; }

std::string path_of(const std::string &name) {
  if (name.empty() || name.find('/') != std::string::npos) return "";
  const std::string path = std::string(PY_PERSIST_DYNLOAD_DIR "/") + name + PY_PERSIST_EXT_SUFFIX;
  return access(path.c_str(), R_OK) == 0 ? path : "";
}

const std::vector<std::string> &declared() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> v;
    const char *env = getenv(kExtensionsVariable);
    for (const char *p = env ? env : ""; *p;) {
      const char *e = strchrnul(p, ':');
      if (e > p) v.emplace_back(p, e);
      p = *e ? e + 1 : e;
    }
    return v;
  }();
  return paths;
}

std::vector<std::string> register_regions() {
  palloc_arena *arena = palloc_heap_arena();
  std::vector<std::string> missing;
  for (const Segment &s : writable_segments()) {
    std::string name;
    if (is_libpython(s)) {
      name = "libpython3.11";
    } else if (std::find(declared().begin(), declared().end(), s.path) != declared().end()) {
      name = "ext:" + module_name(s.path);
    } else {
      continue;
    }
    int restored = 0;
    if (palloc_region_register(arena, name.c_str(), reinterpret_cast<void *>(s.start), s.end - s.start, &restored) !=
        PALLOC_OK)
      refuse(std::string("cannot register the data of ") + s.path + ": " + palloc_last_error());
    if (!restored) missing.push_back(name);
  }
  return missing;
}

bool libpython_data(uintptr_t *start, uintptr_t *end) {
  for (const Segment &s : writable_segments())
    if (is_libpython(s)) {
      *start = s.start;
      *end = s.end;
      return true;
    }
  return false;
}

void note_loaded_objects() {
  g_adds_at_start = loader_adds();
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *) -> int {
        g_loaded_at_start.insert(info->dlpi_name ? info->dlpi_name : "");
        return 0;
      },
      nullptr);
}

std::vector<std::string> unexpected_modules() {
  std::vector<std::string> found;
  // Called before every commit: without a new object loaded, nothing is built (anything
  // allocated here would be written by the commit).
  if (loader_adds() == g_adds_at_start) return found;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) -> int {
        const std::string path = info->dlpi_name ? info->dlpi_name : "";
        // The C library loads helpers on its own (NSS, gconv, libgcc_s); those keep their
        // state in the C library and are loaded again as needed. A Python extension module
        // is what the image cannot survive.
        if (!g_loaded_at_start.count(path) && path.find("python3") != std::string::npos)
          static_cast<std::vector<std::string> *>(data)->push_back(path);
        return 0;
      },
      &found);
  return found;
}

}  // namespace pp::extensions
