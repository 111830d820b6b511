// args.h — python3's command line (the options py-persist supports), parsed the same way
// by both stages.
#pragma once

#include <string>
#include <vector>

namespace pp {

struct Args {
  enum class Mode { kRepl, kScript, kCommand, kModule, kStdin } mode = Mode::kRepl;
  std::string target;             // script path, command text or module name
  std::vector<std::string> argv;  // sys.argv
  bool inspect = false;           // -i
  bool unbuffered = false;        // -u
  bool quiet = false;             // -q
  bool isolated = false;          // -I
  bool ignore_environment = false;  // -E
  bool no_site = false;           // -S
  bool no_user_site = false;      // -s
  bool dont_write_bytecode = false;  // -B
  bool skip_first_line = false;   // -x
  bool safe_path = false;         // -P
  int optimize = 0;               // -O, -OO
  int bytes_warning = 0;          // -b, -bb
  int verbose = 0;                // -v
  int parser_debug = 0;           // -d
  bool version = false;           // -V, --version
  bool help = false;              // -h, -?, --help
  std::vector<std::string> warnoptions;  // -W
  std::vector<std::string> xoptions;     // -X
};

// Parses python3's options from argv[first..argc). Returns "" or a usage error message.
std::string parse_args(int argc, char **argv, int first, Args *out);

}  // namespace pp
