// main.cpp — lua-persist: `lua` whose whole state survives crashes and restarts.
#include <cstdlib>
#include <cstring>

#include "cli.h"

int main(int argc, char **argv) {
  const char *stage = getenv(lp::cli::kStageVariable);
  if (stage && strcmp(stage, "2") == 0) {
    unsetenv(lp::cli::kStageVariable);  // programs this one starts begin at stage 1
    return lp::cli::interpret(argc, argv);
  }
  return lp::cli::launch(argc, argv);
}
