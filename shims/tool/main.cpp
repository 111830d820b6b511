// main.cpp — the `palloc` command: dispatches to a subcommand, prints help and version.
#include <cstdio>
#include <cstring>
#include <string>

#include "format.h"
#include "tool.h"

#ifndef PALLOC_VERSION
#define PALLOC_VERSION "unknown"
#endif

namespace palloc::tool {
namespace {

const Command *const kCommands[] = {&kRunCommand, &kInfoCommand, &kCheckCommand, &kRecoverCommand, &kCreateCommand};

const Command *find_command(const std::string &name) {
  for (const Command *c : kCommands)
    if (name == c->name) return c;
  return nullptr;
}

void print_usage(FILE *out) {
  std::fprintf(out,
               "usage: palloc [--version] [--help] COMMAND [ARGS]\n"
               "\n"
               "Runs programs with a persistent heap; inspects, checks and repairs palloc arenas.\n"
               "An arena ARENA is the\n"
               "data file ARENA and its logs ARENA.wal0 and ARENA.wal1.\n"
               "\n"
               "commands:\n");
  for (const Command *c : kCommands) std::fprintf(out, "  %-9s %s\n", c->name, c->summary);
  std::fprintf(out, "  %-9s %s\n", "help", "show a command's options and exit statuses");
  std::fprintf(out, "\nRun 'palloc help COMMAND' or 'palloc COMMAND --help' for details.\n");
}

int unknown(const std::string &what) {
  std::fprintf(stderr, "palloc: %s\n", what.c_str());
  print_usage(stderr);
  return kExitUsage;
}

int help(int argc, char **argv) {
  if (argc <= 2) {
    print_usage(stdout);
    return kExitOk;
  }
  if (argc > 3) return unknown("'help' takes one command name");
  if (!std::strcmp(argv[2], "help")) {
    print_usage(stdout);
    return kExitOk;
  }
  const Command *c = find_command(argv[2]);
  if (!c) return unknown(std::string("unknown command '") + argv[2] + "'");
  print_help(*c);
  return kExitOk;
}

}  // namespace
}  // namespace palloc::tool

int main(int argc, char **argv) {
  using namespace palloc::tool;
  if (argc < 2) return unknown("no command given");
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") return help(argc, argv);
  if (first == "--version") {
    std::printf("palloc %s (arena format version %u)\n", PALLOC_VERSION, palloc::kFormatVersion);
    return kExitOk;
  }
  if (first.size() > 1 && first[0] == '-') return unknown("unknown option '" + first + "'");
  const Command *c = find_command(first);
  if (!c) return unknown("unknown command '" + first + "'");
  return c->run(argc - 1, argv + 1);
}
