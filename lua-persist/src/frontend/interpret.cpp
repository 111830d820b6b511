// interpret.cpp — stage 2 of lua-persist: the `lua` command's behaviour on the persistent
// state. The state comes from luaL_newstate (adopted by the adapter when a committed one
// exists); everything below then works as in a fresh interpreter, except that the REPL
// commits after every statement and says when it resumed.
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "cli.h"
#include "lua_persist.h"
#include "palloc.h"

extern "C" {
#include <lauxlib.h>
#include <lualib.h>
}

namespace lp::cli {
namespace {

const char *g_progname = "lua-persist";

enum ArgFlags { kHasError = 1, kHasI = 2, kHasV = 4, kHasE = 8, kHasBigE = 16 };

void print_message(const char *msg) {
  if (g_progname) fprintf(stderr, "%s: ", g_progname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    print_message(msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

// Adds a traceback to string errors; other error objects with __tostring are converted.
int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void on_sigint(int) {
  signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process
  lp_interrupt();
}

// Calls the function below its `nargs` arguments with the traceback handler; Ctrl-C
// interrupts the Lua code (with "interrupted!") instead of killing the process.
int docall(lua_State *L, int nargs, int nresults) {
  const int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, message_handler);
  lua_insert(L, base);
  signal(SIGINT, on_sigint);
  const int status = lua_pcall(L, nargs, nresults, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

void print_version() {
  fputs(LUA_COPYRIGHT " (lua-persist)\n", stdout);
  fflush(stdout);
}

// arg: script at 0, interpreter and options at negative indices, script arguments after.
void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;  // no script: the interpreter's name goes to 0
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

int run_chunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

int run_string(lua_State *L, const char *code, const char *name) {
  return run_chunk(L, luaL_loadbuffer(L, code, strlen(code), name));
}

int run_file(lua_State *L, const char *name) { return run_chunk(L, luaL_loadfile(L, name)); }

// -l name: require 'name' into global 'name'.
int require_library(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  const int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, name);
  return report(L, status);
}

int push_script_args(lua_State *L) {
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  const int n = static_cast<int>(luaL_len(L, -1));
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

int run_script(lua_State *L, char **argv) {
  const char *name = argv[0];
  if (strcmp(name, "-") == 0 && strcmp(argv[-1], "--") != 0) name = nullptr;  // stdin
  int status = luaL_loadfile(L, name);
  if (status == LUA_OK) status = docall(L, push_script_args(L), LUA_MULTRET);
  return report(L, status);
}

int collect_args(char **argv, int *first) {
  int flags = 0;
  int i = 1;
  for (; argv[i] != nullptr; i++) {
    *first = i;
    const char *a = argv[i];
    if (a[0] != '-') return flags;
    switch (a[1]) {
      case '-':
        if (a[2] != '\0') return kHasError;
        *first = i + 1;
        return flags;
      case '\0':
        return flags;
      case 'E':
        if (a[2] != '\0') return kHasError;
        flags |= kHasBigE;
        break;
      case 'W':
        if (a[2] != '\0') return kHasError;
        break;
      case 'i':
        if (a[2] != '\0') return kHasError;
        flags |= kHasI | kHasV;
        break;
      case 'v':
        if (a[2] != '\0') return kHasError;
        flags |= kHasV;
        break;
      case 'e':
      case 'l':
        if (a[1] == 'e') flags |= kHasE;
        if (a[2] == '\0') {
          i++;
          if (argv[i] == nullptr || argv[i][0] == '-') return kHasError;
        }
        break;
      default:
        return kHasError;
    }
  }
  *first = i;
  return flags;
}

bool run_args(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    const char option = argv[i][1];
    if (option == 'e' || option == 'l') {
      const char *extra = argv[i][2] ? argv[i] + 2 : argv[++i];
      const int status = option == 'e' ? run_string(L, extra, "=(command line)") : require_library(L, extra);
      if (status != LUA_OK) return false;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    }
  }
  return true;
}

int run_init(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (!init) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (!init) return LUA_OK;
  if (init[0] == '@') return run_file(L, init + 1);
  return run_string(L, init, name);
}

void print_usage(const char *bad) {
  fprintf(stderr, "%s: ", g_progname);
  if (bad[1] == 'e' || bad[1] == 'l')
    fprintf(stderr, "'%s' needs argument\n", bad);
  else
    fprintf(stderr, "unrecognized option '%s'\n", bad);
  fprintf(stderr, "usage: %s [options] [script [args]] (see %s --help)\n", g_progname, g_progname);
}

// ---- the REPL ----

const char *prompt(lua_State *L, bool first) {
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
    lua_pop(L, 1);
    return lua_pushstring(L, first ? "> " : ">> ");
  }
  const char *p = luaL_tolstring(L, -1, nullptr);
  lua_remove(L, -2);
  return p;  // stays on the stack until the line is read
}

// Reads a line (readline on a terminal). The editor's memory is this process's, not the
// state's: its history is not part of the image.
bool read_line(lua_State *L, bool first, std::string *line) {
  const char *p = prompt(L, first);
  bool ok = false;
  if (isatty(STDIN_FILENO)) {
    palloc_local_enter();
    char *text = readline(p);
    if (text) {
      *line = text;
      if (*text) add_history(text);
      free(text);
      ok = true;
    }
    palloc_local_leave();
  } else {
    fputs(p, stdout);
    fflush(stdout);
    char buf[512];
    line->clear();
    while (fgets(buf, sizeof buf, stdin)) {
      *line += buf;
      if (!line->empty() && line->back() == '\n') break;
    }
    ok = !line->empty() || !feof(stdin);
    if (!line->empty() && line->back() == '\n') line->pop_back();
  }
  lua_pop(L, 1);  // the prompt
  return ok;
}

bool incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return false;
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  const char mark[] = "<eof>";
  const size_t mlen = sizeof mark - 1;
  if (len >= mlen && strcmp(msg + len - mlen, mark) == 0) {
    lua_pop(L, 1);
    return true;
  }
  return false;
}

// Reads and compiles one statement (as `return EXPR` first, so expressions print), asking
// for more lines while the chunk is incomplete. Returns -1 at end of input.
int load_statement(lua_State *L) {
  lua_settop(L, 0);
  std::string line;
  if (!read_line(L, true, &line)) return -1;
  if (!line.empty() && line[0] == '=') line = "return " + line.substr(1);  // Lua 5.2 style
  const std::string ret = "return " + line + ";";
  int status = luaL_loadbuffer(L, ret.data(), ret.size(), "=stdin");
  if (status == LUA_OK) return LUA_OK;
  lua_pop(L, 1);
  std::string chunk = line;
  for (;;) {
    status = luaL_loadbuffer(L, chunk.data(), chunk.size(), "=stdin");
    if (!incomplete(L, status)) break;
    std::string more;
    if (!read_line(L, false, &more)) break;
    chunk += "\n" + more;
  }
  return status;
}

void print_results(lua_State *L) {
  const int n = lua_gettop(L);
  if (n == 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    print_message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

void say_resumed(lua_State *L) {
  if (!lp_resumed()) return;
  const uint64_t then = lp_resumed_commit_unix_ns();
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const double age = then ? (double(ts.tv_sec) * 1e9 + double(ts.tv_nsec) - double(then)) / 1e9 : 0;
  palloc_arena *a = palloc_heap_arena();
  fprintf(stdout, "lua-persist: resumed the state of epoch %llu, committed %.1f s ago\n",
          static_cast<unsigned long long>(a ? palloc_epoch(a) : 0), age);
  fflush(stdout);
}

void repl(lua_State *L) {
  const char *saved = g_progname;
  g_progname = nullptr;  // errors at the prompt print without the program's name
  say_resumed(L);
  int status;
  while ((status = load_statement(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      print_results(L);
    else
      report(L, status);
    lua_settop(L, 0);
    if (lp_persistent_state() == L && lp_commit(L) < 0)
      fprintf(stderr, "lua-persist: commit failed: %s\n", palloc_last_error());
  }
  lua_settop(L, 0);
  fputc('\n', stdout);
  fflush(stdout);
  g_progname = saved;
}

int protected_main(lua_State *L) {
  const int argc = static_cast<int>(lua_tointeger(L, 1));
  char **argv = static_cast<char **>(lua_touserdata(L, 2));
  int script = 0;
  const int flags = collect_args(argv, &script);
  luaL_checkversion(L);
  if (flags == kHasError) {
    print_usage(argv[script]);
    return 0;
  }
  if (flags & kHasBigE) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);  // on a resumed state: every library is already there
  create_arg_table(L, argv, argc, script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (flags & kHasV) print_version();
  if (!(flags & kHasBigE) && run_init(L) != LUA_OK) return 0;
  if (!run_args(L, argv, script)) return 0;
  if (script < argc && run_script(L, argv + script) != LUA_OK) return 0;
  if (flags & kHasI) {
    repl(L);
  } else if (script == argc && !(flags & (kHasE | kHasV))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      repl(L);
    } else {
      run_file(L, nullptr);
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

}  // namespace

int interpret(int argc, char **argv) {
  if (argv[0] && argv[0][0]) g_progname = argv[0];
  lp_set_failure_hint(kFreshHint);
  if (palloc_heap_arena() == nullptr) {
    fprintf(stderr, "%s: the persistent heap is not active (libpalloc.so did not open the arena); run lua-persist directly\n",
            g_progname);
    return 70;
  }
  lua_State *L = luaL_newstate();
  if (!L) {
    print_message("cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, protected_main);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  const int status = lua_pcall(L, 2, 1, 0);
  const bool ok = lua_toboolean(L, -1);
  report(L, status);
  lua_settop(L, 0);
  lua_close(L);  // the adapter commits the persistent state instead of closing it
  return (ok && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace lp::cli
