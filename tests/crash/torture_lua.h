// torture_lua.h — palloc-torture --lua-persist: the same kill-and-check loop around
// lua-persist running torture_workload.lua.
#pragma once

#include "torture_options.h"

namespace crash {

// Runs opts.kills rounds; returns the exit status (0 pass, 1 lost or corrupt, 2 setup
// failure, 77 unsupported tracker).
int run_lua_torture(const TortureOptions &opts);

}  // namespace crash
