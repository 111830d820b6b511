// modules.cpp — C modules across a restart.
//
// A C module's functions are stored in the state as plain addresses, and package keeps
// the module's dlopen handle in registry._CLIBS (path -> handle, plus an array of the
// handles in load order). Neither survives a restart by itself: on resume every module is
// loaded again, in the original order, so that — with address-space randomisation off and
// palloc keeping its own memory out of the way — it lands where it was. The image records
// each module's file, build-id and load address at every commit; a module that changed or
// moved refuses the resume instead of leaving dangling function pointers.
#include <dlfcn.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "image.h"
#include "lua_persist.h"

extern "C" {
#include <lauxlib.h>
}

namespace lp {
namespace {

constexpr const char *kClibs = "_CLIBS";  // loadlib.c's registry key

bool identity_of(void *handle, palloc_binary *out) {
  struct link_map *lm = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return false;
  return palloc_binary_identity(lm->l_ld, out) == PALLOC_OK;
}

// Pushes CLIBS's key for the handle at position i (nil if none).
void push_key_of(lua_State *L, int clibs, void *handle) {
  lua_pushnil(L);
  while (lua_next(L, clibs) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_touserdata(L, -1) == handle) {
      lua_pop(L, 1);
      return;  // the key is on top
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
}

}  // namespace

void record_modules(lua_State *L) {
  Image *img = image();
  if (!img) return;
  lua_checkstack(L, 6);
  if (lua_getfield(L, LUA_REGISTRYINDEX, kClibs) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;  // package not opened
  }
  const int clibs = lua_gettop(L);
  const auto n = static_cast<uint32_t>(lua_rawlen(L, clibs));
  if (n == img->module_count) {  // modules are only ever appended
    lua_pop(L, 1);
    return;
  }
  auto *records = static_cast<ModuleRecord *>(calloc(n, sizeof(ModuleRecord)));
  if (!records) {
    lua_pop(L, 1);
    return;  // keep the old records; the next commit tries again
  }
  for (uint32_t i = 0; i < n; i++) {
    lua_rawgeti(L, clibs, i + 1);
    void *handle = lua_touserdata(L, -1);
    lua_pop(L, 1);
    push_key_of(L, clibs, handle);
    if (const char *key = lua_tostring(L, -1)) snprintf(records[i].key, sizeof records[i].key, "%s", key);
    lua_pop(L, 1);
    if (!handle || !identity_of(handle, &records[i].identity))
      snprintf(records[i].identity.path, sizeof records[i].identity.path, "%s", records[i].key);
  }
  lua_pop(L, 1);
  ModuleRecord *old = img->modules;
  img->modules = records;
  img->module_count = n;
  seal_image(img);
  free(old);
}

bool reload_modules(lua_State *L, const ModuleRecord *records, uint32_t count, char *why, size_t why_len) {
  lua_checkstack(L, 6);
  if (lua_getfield(L, LUA_REGISTRYINDEX, kClibs) != LUA_TTABLE) {
    lua_pop(L, 1);
    if (count == 0) return true;
    snprintf(why, why_len, "the image lists %u C module(s) but the state has no module table", count);
    return false;
  }
  const int clibs = lua_gettop(L);
  if (lua_rawlen(L, clibs) != count) {
    snprintf(why, why_len, "the state has %zu C module(s) but the image lists %u", size_t(lua_rawlen(L, clibs)), count);
    lua_pop(L, 1);
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    const ModuleRecord &r = records[i];
    // The loader's bookkeeping is this process's business, not the image's.
    palloc_local_enter();
    void *handle = dlopen(r.key, RTLD_NOW | RTLD_LOCAL);
    const char *err = handle ? nullptr : dlerror();
    palloc_local_leave();
    if (!handle) {
      snprintf(why, why_len, "C module %s cannot be loaded again: %s", r.key, err ? err : "unknown error");
      lua_pop(L, 1);
      return false;
    }
    palloc_binary now{};
    if (!identity_of(handle, &now)) {
      snprintf(why, why_len, "C module %s: cannot read its identity", r.key);
      lua_pop(L, 1);
      return false;
    }
    const palloc_binary &was = r.identity;
    if (now.build_id_len != was.build_id_len || memcmp(now.build_id, was.build_id, now.build_id_len) != 0) {
      snprintf(why, why_len, "C module %s (%s) changed since the last commit: build-id was %s, now %s", r.key,
               now.path, hex(was.build_id, was.build_id_len).c_str(), hex(now.build_id, now.build_id_len).c_str());
      lua_pop(L, 1);
      return false;
    }
    if (now.load_address != was.load_address) {
      snprintf(why, why_len,
               "C module %s loaded at 0x%llx, but the state's functions from it are at 0x%llx "
               "(it was loaded in another order, or something else took its place)",
               r.key, static_cast<unsigned long long>(now.load_address),
               static_cast<unsigned long long>(was.load_address));
      lua_pop(L, 1);
      return false;
    }
    lua_pushlightuserdata(L, handle);
    lua_setfield(L, clibs, r.key);
    lua_pushlightuserdata(L, handle);
    lua_rawseti(L, clibs, i + 1);
  }
  lua_pop(L, 1);
  return true;
}

}  // namespace lp
