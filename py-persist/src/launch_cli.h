// launch_cli.h — stage 1 of py-persist.
#pragma once

namespace pp {
// Reads py-persist's own options, resolves the arena and the declared extension modules,
// and re-executes the program as stage 2. Returns an exit status only when it cannot.
int launch(int argc, char **argv);
}  // namespace pp
