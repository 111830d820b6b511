// adapter.cpp — interposes lua_newstate, luaL_newstate and lua_close.
//
// liblua5.4 is a shared library, so a definition here (in the executable's link order
// before liblua, or preloaded by `palloc run`) wins. The first state a process creates
// while its heap is persistent becomes the persistent state: a committed one is adopted
// instead of creating a new one; otherwise the new state is recorded in the arena.
// lua_close on the persistent state commits it instead of destroying it: a host that
// closes its state at exit must find it again on the next start.
#include <dlfcn.h>
#include <unistd.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "image.h"
#include "lua_persist.h"

extern "C" {
#include <lauxlib.h>
}

namespace lp {
namespace {

using NewStateFn = lua_State *(*)(lua_Alloc, void *);
using AuxNewStateFn = lua_State *(*)();
using CloseFn = void (*)(lua_State *);

lua_State *g_state = nullptr;
bool g_claimed = false;
bool g_in_real_newstate = false;  // luaL_newstate calls lua_newstate: one state, not two
bool g_resumed = false;
uint64_t g_resumed_commit_unix_ns = 0;

template <class F>
F real(const char *name) {
  void *p = dlsym(RTLD_NEXT, name);
  if (!p) {
    fprintf(stderr, "lua-persist: %s not found after the adapter: is liblua5.4 loaded?\n", name);
    abort();
  }
  return reinterpret_cast<F>(p);
}

// liblua's own lua_newstate (the next definition after this adapter's).
NewStateFn real_lua_newstate() {
  static const NewStateFn fn = real<NewStateFn>("lua_newstate");
  return fn;
}

// The Lua internals this adapter touches were compiled from the source of one liblua
// build; any other build may lay out its structures differently. *id receives the
// loaded liblua's identity.
bool liblua_is_expected(palloc_binary *id, std::string *why) {
  if (palloc_binary_identity(reinterpret_cast<const void *>(real_lua_newstate()), id) != PALLOC_OK) {
    *why = std::string("cannot identify the loaded liblua: ") + palloc_last_error();
    return false;
  }
  const std::string now = hex(id->build_id, id->build_id_len);
  if (now == LP_LIBLUA_BUILD_ID) return true;
  *why = std::string("the loaded ") + id->path + " (build-id " + now +
         ") is not the liblua5.4 build lua-persist was compiled for (build-id " LP_LIBLUA_BUILD_ID
         "); rebuild palloc (make build) after upgrading liblua5.4";
  return false;
}

const void *executable_address() {
  const void *found = nullptr;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *out) -> int {
        for (int i = 0; i < info->dlpi_phnum; i++)
          if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            *static_cast<const void **>(out) = reinterpret_cast<const void *>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
            return 1;  // the first object is the executable
          }
        return 1;
      },
      &found);
  return found;
}

// The image holds addresses inside these: the executable (host C functions), liblua
// (every library function, the empty-table node), the C library (stdio streams), this
// adapter (the palloc module, the commit hook) and libpalloc.
void depend_on_binaries() {
  palloc_arena *a = palloc_heap_arena();
  const void *probes[] = {executable_address(), reinterpret_cast<const void *>(real_lua_newstate()),
                          static_cast<const void *>(stdout), reinterpret_cast<const void *>(&lp_commit),
                          reinterpret_cast<const void *>(&palloc_heap_commit)};
  for (const void *p : probes)
    if (p && palloc_depend_on(a, p) != PALLOC_OK) fail("cannot record the binaries the state depends on", palloc_last_error());
}

// The state only persists if malloc is palloc's: another allocator preloaded ahead of
// libpalloc (a sanitizer runtime, say) would leave it outside the arena.
bool malloc_is_persistent() {
  palloc_arena *a = palloc_heap_arena();
  void *p = malloc(16);
  const auto base = reinterpret_cast<uintptr_t>(palloc_base(a)), at = reinterpret_cast<uintptr_t>(p);
  const bool inside = at >= base && at < base + palloc_max_size(a);
  free(p);
  return inside;
}

lua_State *adopt(Image *img, uint32_t interval) {
  lua_State *L = img->L;
  char why[768];
  if (!reload_modules(L, img->modules, img->module_count, why, sizeof why)) fail("cannot resume the Lua state", why);
  repair_state(L, (img->flags & kCommittedInCoroutine) != 0);
  g_state = L;
  g_resumed = true;
  g_resumed_commit_unix_ns = img->last_commit_unix_ns;
  register_module(L);
  lp_set_commit_interval(interval);
  run_resume_handlers(L);
  return L;
}

}  // namespace

const char *g_failure_hint =
    "the saved state was not changed. To start over with an empty state, move the arena away (or give `palloc run` another "
    "--arena); lua-persist does that with --fresh.";

void fail(const char *what, const char *detail) {
  fprintf(stderr, "lua-persist: %s: %s\nlua-persist: %s\n", what, detail, g_failure_hint);
  _exit(kExitCannotResume);
}

namespace {

// The persistent state if this is the process's first state and the heap is persistent
// (adopted or new), otherwise an ordinary state from `create`.
lua_State *claim(const std::function<lua_State *()> &create) {
  if (g_claimed || palloc_heap_arena() == nullptr) return create();
  g_claimed = true;
  std::string why;
  Image *img = find_image();
  palloc_binary liblua{};
  if (!malloc_is_persistent()) why = "malloc() is not palloc's in this process (another allocator is loaded first)";
  if (!why.empty() || !liblua_is_expected(&liblua, &why)) {
    if (img) fail("cannot resume the Lua state", why.c_str());
    fprintf(stderr, "lua-persist: warning: %s; this Lua state will not persist.\n", why.c_str());
    return create();
  }
  const uint32_t interval = palloc_heap_claim_commit_interval();
  if (img) return adopt(img, interval);
  lua_State *L = create();
  if (!L) return nullptr;
  depend_on_binaries();
  Image *fresh = create_image(L);
  memcpy(fresh->liblua_build_id, liblua.build_id, sizeof fresh->liblua_build_id);
  fresh->liblua_build_id_len = liblua.build_id_len;
  seal_image(fresh);
  g_state = L;
  register_module(L);
  lp_set_commit_interval(interval);
  return L;
}

}  // namespace
}  // namespace lp

using namespace lp;

LP_API lua_State *lua_newstate(lua_Alloc f, void *ud) {
  if (g_in_real_newstate) return real_lua_newstate()(f, ud);
  return claim([&] { return real_lua_newstate()(f, ud); });
}

LP_API lua_State *luaL_newstate(void) {
  static const AuxNewStateFn real_aux = real<AuxNewStateFn>("luaL_newstate");
  return claim([&] {
    g_in_real_newstate = true;
    lua_State *L = real_aux();
    g_in_real_newstate = false;
    return L;
  });
}

LP_API void lua_close(lua_State *L) {
  static const CloseFn real_close = real<CloseFn>("lua_close");
  if (L == nullptr || L != g_state) return real_close(L);
  // Keep the state for the next run: commit it as it is now, with its files still open
  // (exit flushes them), and leave it allocated.
  if (lp_commit(L) < 0) fprintf(stderr, "lua-persist: the commit at close failed: %s\n", palloc_last_error());
}

LP_API lua_State *lp_persistent_state(void) { return g_state; }
LP_API int lp_resumed(void) { return g_resumed ? 1 : 0; }
LP_API uint64_t lp_resumed_commit_unix_ns(void) { return g_resumed_commit_unix_ns; }
LP_API void lp_set_failure_hint(const char *hint) { g_failure_hint = hint; }
