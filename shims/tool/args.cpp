// args.cpp — option parsing shared by every command.
#include <cstdio>
#include <cstring>

#include "tool.h"

namespace palloc::tool {

namespace {

// The "usage:" line is the first line of a command's help text.
std::string usage_line(const Command &cmd) {
  const char *nl = std::strchr(cmd.help, '\n');
  return nl ? std::string(cmd.help, nl) : std::string(cmd.help);
}

}  // namespace

int usage_error(const Command &cmd, const std::string &message) {
  std::fprintf(stderr, "palloc %s: %s\n%s\nRun 'palloc help %s' for details.\n", cmd.name, message.c_str(),
               usage_line(cmd).c_str(), cmd.name);
  return kExitUsage;
}

void print_help(const Command &cmd) { std::fputs(cmd.help, stdout); }

bool parse_args(const Command &cmd, int argc, char **argv, std::initializer_list<OptionSpec> specs, Args *out,
                int *exit_code) {
  *out = Args{};
  auto fail = [&](const std::string &msg) {
    *exit_code = usage_error(cmd, msg);
    return false;
  };
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      out->positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      print_help(cmd);
      *exit_code = kExitOk;
      return false;
    }
    const OptionSpec *spec = nullptr;
    std::string value;
    bool inline_value = false;
    if (arg[1] == '-') {
      std::string name = arg.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        inline_value = true;
      }
      for (const OptionSpec &s : specs)
        if (name == s.name) spec = &s;
      if (!spec) return fail("unknown option '--" + name + "'");
    } else {
      if (arg.size() != 2) return fail("unknown option '" + arg + "' (long options take two dashes)");
      for (const OptionSpec &s : specs)
        if (s.short_name && arg[1] == s.short_name) spec = &s;
      if (!spec) return fail("unknown option '" + arg + "'");
    }
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) return fail("option '--" + std::string(spec->name) + "' needs a value");
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      return fail("option '--" + std::string(spec->name) + "' takes no value");
    }
    out->options[spec->name] = value;
  }
  return true;
}

}  // namespace palloc::tool
