// frontend.h — what the interpreter front ends (lua-persist, py-persist) share: their
// persistence options, the per-script default arena, --fresh, and the re-execution of
// the front end with the persistent heap configured.
#pragma once

#include <string>

namespace palloc::launch {

// The options every front end takes besides its interpreter's own.
struct PersistOptions {
  std::string arena, durability, interval, max_size;
  bool fresh = false, verbose = false;
};

// The help text for those options; %s is replaced by `subdir` under data_dir().
std::string persist_options_help(const char *subdir, const char *script_example);

// If argv[*i] is one of the persistence options (`--name VALUE` or `--name=VALUE`),
// consumes it and returns true. Returns false for anything else. A missing value or a bad
// one fills *error and returns true.
bool take_persist_option(int argc, char **argv, int *i, PersistOptions *o, std::string *error);

// One arena per script under data_dir()/subdir: NAME.HASH.arena (NAME without `ext`),
// or `no_script` for the interactive interpreter.
std::string default_arena(const char *subdir, const char *script, const char *ext, const char *no_script);

// --fresh: moves the arena and its logs to ARENA.bak-DATE (never deletes them), unless a
// process owns the arena. Prints where the old state went. False with *error set.
bool start_over(const char *program, const std::string &arena, std::string *error);

// Everything between parsing and the interpreter: validates the options, resolves the
// arena (creating its directory, honouring --fresh), exports the PALLOC_* variables (with
// `hint` appended to refusals), sets `stage_variable`=2, pins the address space and
// re-executes this program with `args`. Returns only on failure, with the message.
std::string reexec_persistent(const char *program, const PersistOptions &o, const std::string &arena,
                              const char *hint, const char *stage_variable, char *const *args);

}  // namespace palloc::launch
