// args.cpp — see args.h. Follows python3's rules: single-letter options may be combined
// (-iu), options taking a value accept it attached (-cCMD) or as the next argument, and
// the first of -c, -m, a script or - ends the options.
#include "args.h"

#include <cstring>

namespace pp {

std::string parse_args(int argc, char **argv, int first, Args *out) {
  Args &a = *out;
  int i = first;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || !strcmp(arg, "-")) break;
    if (!strcmp(arg, "--")) {
      i++;
      break;
    }
    if (!strcmp(arg, "--help")) {
      a.help = true;
      continue;
    }
    if (!strcmp(arg, "--version")) {
      a.version = true;
      continue;
    }
    if (arg[1] == '-') return std::string("unknown option ") + arg;
    for (const char *p = arg + 1; *p; p++) {
      const char c = *p;
      if (strchr("cmWX", c)) {  // takes a value: the rest of this argument or the next one
        std::string value;
        if (p[1]) {
          value = p + 1;
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          return std::string("argument expected for the -") + c + " option";
        }
        if (c == 'W') a.warnoptions.push_back(value);
        if (c == 'X') a.xoptions.push_back(value);
        if (c == 'c' || c == 'm') {
          a.mode = c == 'c' ? Args::Mode::kCommand : Args::Mode::kModule;
          a.target = value;
          a.argv.push_back(c == 'c' ? "-c" : "-m");
          for (int j = i + 1; j < argc; j++) a.argv.push_back(argv[j]);
          return "";
        }
        break;
      }
      switch (c) {
        case 'i': a.inspect = true; break;
        case 'u': a.unbuffered = true; break;
        case 'q': a.quiet = true; break;
        case 'I': a.isolated = a.ignore_environment = a.no_user_site = a.safe_path = true; break;
        case 'E': a.ignore_environment = true; break;
        case 'S': a.no_site = true; break;
        case 's': a.no_user_site = true; break;
        case 'B': a.dont_write_bytecode = true; break;
        case 'x': a.skip_first_line = true; break;
        case 'P': a.safe_path = true; break;
        case 'O': a.optimize++; break;
        case 'b': a.bytes_warning++; break;
        case 'v': a.verbose++; break;
        case 'd': a.parser_debug++; break;
        case 'V': a.version = true; break;
        case 'h':
        case '?': a.help = true; break;
        default: return std::string("unknown option -") + c;
      }
    }
  }
  if (i < argc) {
    a.mode = strcmp(argv[i], "-") == 0 ? Args::Mode::kStdin : Args::Mode::kScript;
    a.target = argv[i];
    for (int j = i; j < argc; j++) a.argv.push_back(argv[j]);
  } else {
    a.argv.push_back("");
  }
  return "";
}

}  // namespace pp
