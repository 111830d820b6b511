// api.cpp — the C API of palloc.h over palloc::Arena.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "api_arena.h"
#include "arena.h"
#include "binaries.h"
#include "runtime.h"
#include "options.h"

using palloc::Arena;
using palloc::Status;


namespace {

palloc_status report(const Status &s) {
  if (!s.ok()) palloc::set_last_error(s);
  return s.code();
}

palloc_status null_arena() { return report({PALLOC_E_INVALID, "arena is NULL"}); }
palloc_status null_argument(const char *fn) { return report({PALLOC_E_INVALID, std::string(fn) + ": an argument is NULL"}); }

}  // namespace

extern "C" {

palloc_status palloc_open(const char *path, const palloc_options *opts, palloc_arena **out) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!path || !out) return report({PALLOC_E_INVALID, "palloc_open: path and out are required"});
  *out = nullptr;
  palloc_options defaults;
  if (!opts) {
    palloc_options_init(&defaults);
    opts = &defaults;
  }
  std::unique_ptr<Arena> impl;
  Status s = Arena::open(path, *opts, &impl);
  if (!s.ok()) return report(s);
  *out = new palloc_arena{std::move(impl)};
  return PALLOC_OK;
}

palloc_status palloc_close(palloc_arena *a) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return PALLOC_OK;
  Status s = a->impl->close();
  delete a;
  return report(s);
}

int64_t palloc_commit(palloc_arena *a) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return -static_cast<int64_t>(null_arena());
  uint64_t epoch = 0;
  Status s = a->impl->commit(&epoch);
  if (!s.ok()) return -static_cast<int64_t>(report(s));
  return static_cast<int64_t>(epoch);
}

palloc_status palloc_sync(palloc_arena *a) {
  palloc::RuntimeScope runtime;
  return a ? report(a->impl->sync()) : null_arena();
}
void *palloc_base(const palloc_arena *a) { return a ? a->impl->base() : nullptr; }
size_t palloc_size(const palloc_arena *a) { return a ? a->impl->size() : 0; }
size_t palloc_max_size(const palloc_arena *a) { return a ? a->impl->max_size() : 0; }
uint64_t palloc_epoch(const palloc_arena *a) { return a ? a->impl->epoch() : 0; }
palloc_status palloc_grow(palloc_arena *a, size_t n) {
  palloc::RuntimeScope runtime;
  return a ? report(a->impl->grow(n)) : null_arena();
}

palloc_status palloc_root_set(palloc_arena *a, unsigned slot, uint64_t v) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  return a ? report(a->impl->root_set(slot, v)) : null_arena();
}
uint64_t palloc_root_get(const palloc_arena *a, unsigned slot) { return a ? a->impl->root_get(slot) : 0; }
palloc_status palloc_root_set_named(palloc_arena *a, const char *name, uint64_t v) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return null_arena();
  if (!name) return null_argument("palloc_root_set_named");
  return report(a->impl->root_set_named(name, v));
}
palloc_status palloc_root_get_named(const palloc_arena *a, const char *name, uint64_t *v) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return null_arena();
  if (!name || !v) return null_argument("palloc_root_get_named");
  return report(a->impl->root_get_named(name, v));
}

palloc_status palloc_region_register(palloc_arena *a, const char *name, void *addr, size_t len, int *restored) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return null_arena();
  if (!name) return null_argument("palloc_region_register");
  return report(a->impl->region_register(name, addr, len, restored));
}

palloc_status palloc_binary_identity(const void *addr, palloc_binary *out) {
  palloc::RuntimeScope runtime;
  if (!addr || !out) return null_argument("palloc_binary_identity");
  palloc::BinaryRecord b;
  Status s = palloc::binary_containing(addr, &b);
  if (!s.ok()) return report(s);
  *out = palloc_binary{};
  snprintf(out->path, sizeof out->path, "%s", b.path.c_str());
  out->build_id_len = static_cast<uint32_t>(std::min(b.build_id.size(), sizeof out->build_id));
  std::memcpy(out->build_id, b.build_id.data(), out->build_id_len);
  out->load_address = b.load_address;
  return PALLOC_OK;
}

palloc_status palloc_depend_on(palloc_arena *a, const void *addr) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  return a ? report(a->impl->depend_on(addr)) : null_arena();
}

palloc_status palloc_get_stats(const palloc_arena *a, palloc_stats *out) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  if (!a) return null_arena();
  if (!out) return null_argument("palloc_get_stats");
  a->impl->stats(out);
  return PALLOC_OK;
}

const char *palloc_last_error(void) { return palloc::last_error(); }

const char *palloc_status_name(palloc_status s) {
  palloc::RuntimeScope runtime;  // palloc's own allocations stay out of the heap
  switch (s) {
    case PALLOC_OK: return "PALLOC_OK";
    case PALLOC_E_INVALID: return "PALLOC_E_INVALID";
    case PALLOC_E_IO: return "PALLOC_E_IO";
    case PALLOC_E_NOT_ARENA: return "PALLOC_E_NOT_ARENA";
    case PALLOC_E_CORRUPT: return "PALLOC_E_CORRUPT";
    case PALLOC_E_VERSION: return "PALLOC_E_VERSION";
    case PALLOC_E_LOCKED: return "PALLOC_E_LOCKED";
    case PALLOC_E_ADDRESS: return "PALLOC_E_ADDRESS";
    case PALLOC_E_NOSPACE: return "PALLOC_E_NOSPACE";
    case PALLOC_E_PERMISSION: return "PALLOC_E_PERMISSION";
    case PALLOC_E_NOT_FOUND: return "PALLOC_E_NOT_FOUND";
    case PALLOC_E_EXISTS: return "PALLOC_E_EXISTS";
    case PALLOC_E_BINARY: return "PALLOC_E_BINARY";
    case PALLOC_E_DETACHED: return "PALLOC_E_DETACHED";
    case PALLOC_E_NOMEM: return "PALLOC_E_NOMEM";
    case PALLOC_E_UNSUPPORTED: return "PALLOC_E_UNSUPPORTED";
  }
  return "PALLOC_E_UNKNOWN";
}

}  // extern "C"
