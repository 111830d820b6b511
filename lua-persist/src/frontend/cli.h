// cli.h — the lua-persist command: a launcher that sets up the persistent heap and
// re-executes itself, and a `lua`-compatible interpreter that runs on it.
#pragma once

namespace lp::cli {

constexpr const char *kStageVariable = "LUA_PERSIST_STAGE";  // "2" in the re-executed process

// What every refusal to resume ends with, from libpalloc (PALLOC_HINT) or the adapter.
constexpr const char *kFreshHint =
    "the saved state was not changed. Run lua-persist with --fresh to start over (the old arena is kept as a backup).";

// Stage 1: options of lua-persist itself, the arena, --fresh; re-executes with the heap set
// up. Returns an exit status only when it cannot start stage 2.
int launch(int argc, char **argv);

// Stage 2: what `lua` does (options -e -l -i -v -E -W -, script and arguments, the REPL),
// on the persistent state. argv holds only Lua's options.
int interpret(int argc, char **argv);

}  // namespace lp::cli
