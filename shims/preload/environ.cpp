// environ.cpp — exec hygiene: programs a persistent process starts do not inherit it.
//
// A child that inherited LD_PRELOAD=libpalloc.so and PALLOC_ARENA would try to open the
// same arena (and fail: it is locked), or worse, a different program would resume this
// one's heap. Once the persistent heap is open, the variables are removed from the
// environment in place (no allocation: this runs while the heap is being set up).
#include <dlfcn.h>

#include <cstring>

extern "C" {
extern char **environ;
void palloc_shim_strip_environment(void);
}

namespace {

bool is_palloc_library(const char *entry, size_t len) {
  const char *base = entry;
  for (size_t i = 0; i < len; i++)
    if (entry[i] == '/') base = entry + i + 1;
  const size_t blen = len - static_cast<size_t>(base - entry);
  // libpalloc.so and its interpreter adapters (libpalloc-lua.so, ...)
  return (blen >= 12 && strncmp(base, "libpalloc.so", 12) == 0) || (blen >= 10 && strncmp(base, "libpalloc-", 10) == 0);
}

// Rewrites "LD_PRELOAD=a:b c" without the palloc entries; returns false if none remain.
bool strip_preload(char *var) {
  char *value = var + strlen("LD_PRELOAD=");
  char *out = value;
  const char *p = value;
  while (*p) {
    while (*p == ':' || *p == ' ') p++;
    const char *start = p;
    while (*p && *p != ':' && *p != ' ') p++;
    const size_t len = static_cast<size_t>(p - start);
    if (len == 0 || is_palloc_library(start, len)) continue;
    if (out != value) *out++ = ':';
    memmove(out, start, len);
    out += len;
  }
  *out = '\0';
  return out != value;
}

}  // namespace

void palloc_shim_strip_environment(void) {
  if (!environ) return;
  char **w = environ;
  for (char **r = environ; *r; ++r) {
    char *v = *r;
    if (strncmp(v, "PALLOC_", 7) == 0) continue;
    if (strncmp(v, "LD_PRELOAD=", 11) == 0 && !strip_preload(v)) continue;
    *w++ = v;
  }
  *w = nullptr;
}
