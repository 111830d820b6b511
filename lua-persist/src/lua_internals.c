/* lua_internals.c — see lua_internals.h. Only this file includes Lua's internal headers. */
#include "lua_internals.h"

#include "lgc.h"
#include "lobject.h"
#include "lstate.h"

void lpi_forget_c_stack(lua_State *L) {
  L->errorJmp = NULL;
  L->nCcalls = 0;
  if (L == G(L)->mainthread) incnny(L); /* the main thread is never yieldable */
  L->allowhook = 1;
  L->errfunc = 0;
  L->oldpc = 0;
  L->hookcount = L->basehookcount;
}

int lpi_is_main_thread(lua_State *L) { return L == G(L)->mainthread; }

int lpi_thread_has_stale_frames(lua_State *co) {
  return co->status == LUA_OK && co->ci != &co->base_ci;
}

/* Appends the list's live objects of one type to the array on top of the stack. Dead
 * objects (awaiting the sweep of an unfinished cycle) are skipped: referencing them would
 * resurrect freed memory. */
static void push_list(lua_State *L, GCObject *o, int type, lua_Integer *n) {
  global_State *g = G(L);
  for (; o != NULL; o = o->next) {
    if (o->tt != type || isdead(g, o) || o == obj2gco(g->mainthread)) continue;
    if (type == LUA_VUSERDATA) {
      setuvalue(L, s2v(L->top), gco2u(o));
    } else {
      setthvalue(L, s2v(L->top), gco2th(o));
    }
    L->top++;
    lua_rawseti(L, -2, ++*n);
  }
}

void lpi_push_finalizable_userdata(lua_State *L) {
  global_State *g = G(L);
  lua_Integer n = 0;
  lua_newtable(L);
  push_list(L, g->finobj, LUA_VUSERDATA, &n);
  push_list(L, g->tobefnz, LUA_VUSERDATA, &n);
}

void lpi_push_coroutines(lua_State *L) {
  global_State *g = G(L);
  lua_Integer n = 0;
  lua_newtable(L);
  push_list(L, g->allgc, LUA_VTHREAD, &n); /* threads have no finalizers: all are here */
}
