// main.cpp — py-persist: python3 whose whole interpreter survives crashes and restarts.
// Stage 1 (launch.cpp) reads the persistence options and re-executes this program with the
// persistent heap configured; stage 2 (interpreter.cpp) runs Python on it.
#include <cstdlib>
#include <cstring>

#include "launch_cli.h"
#include "py_persist.h"

int main(int argc, char **argv) {
  const char *stage = getenv(pp::kStageVariable);
  if (stage && strcmp(stage, "2") == 0) {
    unsetenv(pp::kStageVariable);  // programs this one starts begin at stage 1
    return pp::run(argc, argv);
  }
  return pp::launch(argc, argv);
}
