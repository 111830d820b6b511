// tool.h — what the `palloc` command's parts share: exit codes, the command table,
// option parsing and usage errors.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace palloc::tool {

// Exit statuses. 64 is EX_USAGE from sysexits.h, so scripts can tell a typo from a
// damaged arena.
enum Exit : int {
  kExitOk = 0,
  kExitRepairable = 1,  // check: problems that `palloc recover` (or the next open) fixes
  kExitCorrupt = 2,     // damage that loses data or needs a decision
  kExitCannot = 3,      // could not do the job: missing file, not an arena, I/O error, in use
  kExitUsage = 64,
};

struct Command {
  const char *name;
  const char *summary;  // one line for `palloc --help`
  const char *help;     // full text for `palloc help CMD` / `palloc CMD --help`
  int (*run)(int argc, char **argv);  // argv[0] is the command's name
};

extern const Command kInfoCommand;
extern const Command kCheckCommand;
extern const Command kRecoverCommand;
extern const Command kCreateCommand;
extern const Command kRunCommand;

// Prints "palloc CMD: message" and the command's usage line to stderr; returns 64.
int usage_error(const Command &cmd, const std::string &message);

struct OptionSpec {
  const char *name;  // long name without dashes
  bool takes_value;
  char short_name = 0;
};

// The command line of one command: --name, --name=value, --name value, -x, and "--" to
// end the options. --help / -h are always accepted.
struct Args {
  std::map<std::string, std::string> options;  // flags map to ""
  std::vector<std::string> positional;
  bool help = false;

  bool has(const std::string &name) const { return options.count(name) != 0; }
  const std::string *value(const std::string &name) const {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  }
};

// Parses argv[1..argc). On a usage error prints it (usage_error) and returns false with
// *exit_code = 64; on --help prints the help and returns false with *exit_code = 0.
bool parse_args(const Command &cmd, int argc, char **argv, std::initializer_list<OptionSpec> specs, Args *out,
                int *exit_code);

// Prints a command's full help to stdout.
void print_help(const Command &cmd);

}  // namespace palloc::tool
